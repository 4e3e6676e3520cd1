/* raster.h — differentiable soft rasterizer (raster module).
 *
 * Renders a triangle mesh through a pinhole camera the way PyTorch3D's
 * MeshRasterizer + SoftPhongShader / SoftSilhouetteShader do (SoftRas, Liu et
 * al. 2019), and differentiates the result with respect to the vertex
 * positions, the per-vertex colours and the texture.
 *
 * Conventions
 *   Camera: OpenCV pinhole.  Camera space x right, y down, z forward;
 *     p_cam = R·p_world + t.  Pixel coordinates u = fx·x/z + cx,
 *     v = fy·y/z + cy; pixel (i, j) covers [i, i+1) × [j, j+1) with its centre
 *     at (i + 0.5, j + 0.5) (PyTorch3D's screen-space convention), so a
 *     downscale by s divides fx, fy, cx, cy, width and height by s exactly.
 *   Distances: the signed squared distance of a pixel centre to a face's
 *     nearest edge, negative inside, measured in PyTorch3D NDC units
 *     (pixel length × 2 / min(width, height) of the uncropped image), so sigma, gamma and
 *     blur_radius carry over from PyTorch3D (ϕ-SfT: σ = γ = 1e-4).
 *   Fragments: per pixel the K faces of smallest depth among those that
 *     contain the pixel centre or lie within blur_radius (squared NDC) of it
 *     (PyTorch3D's RasterizationSettings; 0 by default, as there)
 *     and whose vertices are all in front of the near plane; depth z of a
 *     fragment is interpolated with the perspective-correct barycentrics,
 *     clipped to be ≥ 0 and renormalised (PyTorch3D's clip_barycentric_coords,
 *     which it enables whenever blur_radius > 0); fragments with z > zfar are
 *     dropped.  Faces whose screen-space area is (nearly) zero never produce
 *     fragments.  Back faces (the camera centre behind the plane of the face
 *     with normal (x1−x0)×(x2−x0); clockwise on screen) are skipped with
 *     cull_backfaces.
 *   Colour of a fragment: albedo from the texture (UVs interpolated with the
 *     fragment's barycentrics; bilinear, texel centres at u·(W−1), (1−v)·(H−1),
 *     coordinates clamped to the border: grid_sample with align_corners and
 *     border padding on a texture flipped upside down, as PyTorch3D's
 *     TexturesUV) or from vertex colours (interpolated); then shaded:
 *       AMBIENT: albedo · ambient
 *       PHONG:   albedo · (ambient + diffuse·max(n·l, 0)) + specular·max(r·v, 0)^shininess
 *                (PyTorch3D's phong_shading: n the interpolated vertex normal,
 *                normalised; l towards the light; v towards the camera centre;
 *                r = 2(n·l)n − l; the specular term vanishes where n·l ≤ 0).
 *     Vertex normals are PyTorch3D's: sums of the faces' unnormalised cross
 *     products (x1−x0)×(x2−x0), normalised.
 *   Soft blending (PyTorch3D softmax_rgb_blend), per pixel over its fragments k:
 *       D_k = sigmoid(−dist_k / sigma)
 *       zi_k = (blend_zfar − z_k) / (blend_zfar − blend_znear)
 *       m = max(max_k zi_k, 1e-10);  w_k = D_k·exp((zi_k − m)/gamma)
 *       δ = max(exp((1e-10 − m)/gamma), 1e-10)
 *       rgb = (Σ w_k c_k + δ·background) / (Σ w_k + δ)
 *     A pixel without fragments is the background colour.
 *   Soft silhouette alpha = 1 − Π_j (1 − D_j), by default over every face j
 *     that contains the pixel centre or lies within silhouette_radius of it
 *     and passes the fragment rules above except blur_radius (SoftRas's
 *     definition: RASTER_SILHOUETTE_ALL_FACES), or over the K fragments only
 *     (PyTorch3D's SoftSilhouetteShader: RASTER_SILHOUETTE_K_NEAREST).
 *     Why the default: with a blur band, faces of the band compete with the
 *     face that contains the pixel for the K depth slots, and near every
 *     interior edge a neighbour that is a little nearer wins.  The K-nearest
 *     silhouette then shows seams (D < ½ inside the mesh), and rgb with
 *     K = 1 becomes a mosaic of clipped neighbours (on ϕ-SfT's template at
 *     1080p with σ = 1e-4, nearly every pixel).  So rgb takes its fragments
 *     with blur_radius = 0 by default and the silhouette reaches out on its
 *     own radius, which gives the geometric gradient outside the mesh.
 *   Hard outputs (forward only) come from the nearest face that contains
 *     the pixel centre, whether or not it is among the K fragments (with
 *     K = 1 a nearer face of the blur band can take the fragment slot): the
 *     hard silhouette is 1 where there is one; depth is its z (0 elsewhere);
 *     normal is its interpolated unit vertex normal in camera space (0
 *     elsewhere).
 *
 * Images are row-major, y = 0 the top row, channels interleaved.  Backward
 * functions accumulate (+=) into the gradient buffers they are given; a NULL
 * buffer is skipped.  All functions return 0 or −1 with err_set().
 */
#ifndef PHIVE_RASTER_H
#define PHIVE_RASTER_H

#include <stddef.h>
#include <stdint.h>

#include "phive/real.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- cameras ---------------------------------------------------------------- */

typedef struct {
    int width, height;        /* pixels */
    double fx, fy, cx, cy;    /* pixels */
    double R[9];              /* world → camera rotation, row-major */
    double t[3];              /* world → camera translation */
    double znear, zfar;       /* clipping: faces with a vertex at z ≤ znear are dropped */
    int ndc_pixels;           /* pixels per 2 NDC units: min(width, height) of the uncropped image
                                 (0: of this one) */
} raster_camera;

#define RASTER_DEFAULT_ZNEAR 1e-3
#define RASTER_DEFAULT_ZFAR 1e3
#define RASTER_DEFAULT_FOV_DEG 60.0

/* OpenCV intrinsics with the identity pose (world = camera frame, as the
 * ϕ-SfT real sequences' Kinect colour-camera frame). */
int raster_camera_pinhole(raster_camera *cam, double fx, double fy, double cx, double cy, int width, int height);
/* A camera at `eye` looking at `target`, image up along `up` (which must not
 * be parallel to the view direction), vertical field of view fov_y_deg;
 * square pixels, principal point at the image centre. */
int raster_camera_look_at(raster_camera *cam, const double eye[3], const double target[3], const double up[3],
                          double fov_y_deg, int width, int height);
/* A ϕ-SfT camera.json: {fx, fy, cx, cy, width, height} (real data, identity
 * pose) or {camera_pos, object_pos, width, height} (synthetic data: look-at
 * with up = +y and RASTER_DEFAULT_FOV_DEG, optional "fov" in degrees). */
int raster_camera_read_json(const char *path, raster_camera *cam);
/* Divide the image size and intrinsics by factor (≥ 1; width and height must
 * be divisible by it). */
int raster_camera_downscale(raster_camera *cam, int factor);
/* Keep the window [x0, x0 + width) × [y0, y0 + height) of the image: the principal point moves,
 * and NDC distances (sigma, the radii) keep the full image's scale, so a crop renders exactly
 * the pixels of the full image it covers. */
int raster_camera_crop(raster_camera *cam, int x0, int y0, int width, int height);
/* Project a world point: pixel coordinates and camera depth z. */
void raster_camera_project(const raster_camera *cam, const double p[3], double *u, double *v, double *z);

/* ---- settings ----------------------------------------------------------------- */

typedef enum { RASTER_SHADE_AMBIENT = 0, RASTER_SHADE_PHONG = 1 } raster_shading;
typedef enum { RASTER_LIGHT_POINT = 0, RASTER_LIGHT_DIRECTIONAL = 1 } raster_light_kind;
typedef enum { RASTER_SILHOUETTE_ALL_FACES = 0, RASTER_SILHOUETTE_K_NEAREST = 1 } raster_silhouette;

typedef struct {
    int faces_per_pixel;      /* K ≥ 1 (at most RASTER_MAX_K) */
    double sigma, gamma;      /* > 0 */
    double blur_radius;       /* squared NDC: reach of the K fragments (rgb) */
    double silhouette_radius; /* squared NDC: reach of the all-faces silhouette */
    int cull_backfaces;
    raster_silhouette silhouette;
    double blend_znear, blend_zfar; /* depth range of the blending weights */
    double background[3];
    raster_shading shading;
    raster_light_kind light;
    double light_position[3]; /* world; POINT */
    double light_direction[3];/* world, towards the light; DIRECTIONAL */
    double ambient[3], diffuse[3], specular[3];
    double shininess;
} raster_settings;

#define RASTER_MAX_K 8

/* ϕ-SfT's real-data settings: K = 1, σ = γ = 1e-4, blur_radius = 0,
 * the all-faces silhouette with silhouette_radius = log(1/1e-4 − 1)·σ
 * (where the face probability falls below 1e-4), no culling, blend depth range [1, 100] (PyTorch3D's defaults), black
 * background, AMBIENT with ambient 1; the Phong light defaults to
 * PyTorch3D's PointLights (ambient 0.5, diffuse 0.3, specular 0.2 at
 * (0, 1, 0), shininess 64) once shading is set to PHONG. */
void raster_settings_default(raster_settings *s);
/* Where a face's probability D falls below 1e-4: log(1/1e-4 − 1)·sigma. */
double raster_blur_radius_for(double sigma);
int raster_settings_check(const raster_settings *s);

/* ---- mesh ---------------------------------------------------------------------- */

/* What to render.  Colours come from a texture (uvs, face_uvs, texture all
 * set) or from vertex colours, or are white when neither is given. */
typedef struct {
    int n_vertices, n_faces;
    const real *positions;      /* n_vertices × 3, world */
    const int32_t *faces;       /* n_faces × 3 */
    const real *vertex_colors;  /* n_vertices × 3 in [0, 1], or NULL */
    int n_uvs;
    const real *uvs;            /* n_uvs × 2, or NULL */
    const int32_t *face_uvs;    /* n_faces × 3 indices into uvs, or NULL */
    int tex_width, tex_height;
    const real *texture;        /* tex_height × tex_width × 3 in [0, 1], row 0 the top, or NULL */
} raster_mesh;

/* Indices in range, finite positions, colour sources consistent. */
int raster_mesh_check(const raster_mesh *m);

/* ---- forward and backward -------------------------------------------------------- */

/* A rendered frame and what backward needs of it.  Sized by raster_frame_alloc;
 * raster_forward fills it. */
typedef struct {
    int width, height, K;
    int32_t *face;        /* H × W × K face index, −1 for none (sorted by depth) */
    real *zbuf;           /* H × W × K */
    real *dist;           /* H × W × K signed squared NDC distance */
    real *bary;           /* H × W × K × 3 clipped perspective-correct barycentrics */
    real *rgb;            /* H × W × 3 */
    real *alpha;          /* H × W soft silhouette */
    uint8_t *silhouette;  /* H × W hard silhouette, 0/1 */
    real *depth;          /* H × W */
    real *normal;         /* H × W × 3 */
    /* internal: tile bins and per-mesh scratch (screen vertices, normals), and
     * the CUDA path's device buffers */
    void *work;
    void *device;
} raster_frame;

int raster_frame_alloc(raster_frame *f, int width, int height, int K);
void raster_frame_free(raster_frame *f);

/* threads: OpenMP threads to use (≤ 0: the OpenMP default). */
int raster_forward(const raster_camera *cam, const raster_settings *s, const raster_mesh *m, raster_frame *f,
                   int threads);

/* Gradients that raster_backward accumulates into (NULL: not wanted). */
typedef struct {
    real *positions;      /* n_vertices × 3 */
    real *vertex_colors;  /* n_vertices × 3 */
    real *texture;        /* tex_height × tex_width × 3 */
} raster_grads;

/* Backpropagate dL/drgb (H × W × 3) and dL/dalpha (H × W), either may be
 * NULL, through the frame raster_forward produced with the same inputs. */
int raster_backward(const raster_camera *cam, const raster_settings *s, const raster_mesh *m, const raster_frame *f,
                    const real *grad_rgb, const real *grad_alpha, raster_grads *g, int threads);

/* ---- Gaussian blur ------------------------------------------------------------------ */

/* Separable Gaussian blur of a width × height × channels image with standard
 * deviation sigma_px pixels: taps at −r..r, r = ⌈3σ⌉, weights exp(−i²/2σ²)
 * normalised to sum 1, zero padding outside the image (a conv2d with padding
 * r).  Because the kernel is symmetric and the padding zero, the blur is
 * self-adjoint: backward is the same blur of the gradient, accumulated. */
int raster_blur_forward(const real *in, real *out, int width, int height, int channels, double sigma_px);
int raster_blur_backward(const real *grad_out, real *grad_in, int width, int height, int channels, double sigma_px);

/* ---- CUDA ------------------------------------------------------------------------------ */

#ifdef PHIVE_CUDA
/* raster_forward and raster_backward on the current CUDA device, with the
 * same per-pixel code (kernels/raster.cu): inputs and outputs in host
 * memory, device buffers cached in the frame (freed by raster_frame_free).
 * Face lists per tile are built in face order, so fragments, images and
 * gradients match the CPU's up to float rounding and the order of the
 * gradient sums. */
int raster_forward_cuda(const raster_camera *cam, const raster_settings *s, const raster_mesh *m, raster_frame *f);
int raster_backward_cuda(const raster_camera *cam, const raster_settings *s, const raster_mesh *m, const raster_frame *f,
                         const real *grad_rgb, const real *grad_alpha, raster_grads *g);
void raster_cuda_release(void *device_buffers);
#endif

#ifdef __cplusplus
}
#endif

#endif
