/* grad_raster_reference.c — the soft rasterizer against an independent reference (real = double).
 *
 * Each test builds a small random scene (random triangles or a jittered grid
 * mesh in front of a random camera: raster_camera_look_at, or
 * raster_camera_pinhole with a pose set in R and t), runs raster_forward and
 * raster_backward (random upstream gradients, accumulated into random initial
 * contents) and, for some scenes, the Gaussian blur, writes inputs and
 * outputs to an HDF5 file (layout: the docstring of the reference) and runs
 * validation/reference/softras_reference.py on it.  The reference
 * brute-forces the fragment selection (it must agree at every pixel),
 * recomputes bary/dist/z, shading and blending differentiably, and compares
 * every output and gradient to 1e-5 relative.
 *
 * Scenes are screened so that the comparison is well posed: no pixel centre
 * lies within 1e-6 px of a candidate face's edge line, no blur-band distance
 * is within 1e-9 of blur_radius, no two of a pixel's K + 1 nearest candidate
 * depths are within 1e-9, no vertex depth is within 1e-7 of znear and no
 * fragment depth within 1e-9 of zfar.  A scene that fails the screen is drawn
 * again with the next seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/h5io.h"
#include "phive/raster.h"
#include "phive/rng.h"

#include "test_util.h"

_Static_assert(sizeof(real) == sizeof(double), "grad_raster_reference is built with real = double");

typedef enum { MESH_TRIANGLES, MESH_GRID } mesh_kind;
typedef enum { CAMERA_LOOK_AT, CAMERA_PINHOLE_POSE } camera_kind;
typedef enum { ALBEDO_WHITE, ALBEDO_VERTEX_COLORS, ALBEDO_TEXTURE } albedo_kind;

typedef struct {
    const char *name;
    uint64_t seed;
    int width, height, K;
    mesh_kind mesh;
    int n_triangles;        /* MESH_TRIANGLES */
    int grid_x, grid_y;     /* MESH_GRID: vertices per row and column */
    int flipped;            /* MESH_GRID: faces turned away from the camera */
    camera_kind camera;
    double sigma, gamma;
    int hard;               /* blur_radius 0 instead of raster_blur_radius_for(sigma) */
    int cull;
    raster_silhouette silhouette;
    raster_shading shading;
    raster_light_kind light;
    albedo_kind albedo;
    double znear, zfar;     /* 0: the camera's defaults */
    double depth_min, depth_max; /* of the triangles' centres */
    double blend_znear, blend_zfar; /* 0: the defaults */
    int no_grad_rgb, no_grad_alpha;
    double blur_sigma;      /* > 0: also check the Gaussian blur with this sigma */
    int blur_width, blur_height, blur_channels;
} scene_spec;

typedef struct {
    raster_camera cam;
    raster_settings set;
    int n_vertices, n_faces, n_uvs, tex_w, tex_h;
    real *positions, *colors, *uvs, *texture;
    int32_t *faces, *face_uvs;
    uint64_t seed;
} scene;

static double uniform(rng_t *rng, double lo, double hi) { return lo + (hi - lo) * rng_uniform(rng); }

static void random_rotation(rng_t *rng, double max_angle, double R[9])
{
    double axis[3] = {rng_normal(rng), rng_normal(rng), rng_normal(rng)};
    double len = sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
    double angle = max_angle * uniform(rng, 0.5, 1.0), c = cos(angle), s = sin(angle);
    double x = axis[0] / len, y = axis[1] / len, z = axis[2] / len;
    const double r[9] = {c + x * x * (1 - c),     x * y * (1 - c) - z * s, x * z * (1 - c) + y * s,
                         y * x * (1 - c) + z * s, c + y * y * (1 - c),     y * z * (1 - c) - x * s,
                         z * x * (1 - c) - y * s, z * y * (1 - c) + x * s, c + z * z * (1 - c)};
    memcpy(R, r, sizeof r);
}

/* Camera point from pixel (u, v) at depth z, then to world: p = Rᵀ(p_cam − t). */
static void unproject(const raster_camera *cam, double u, double v, double z, real out[3])
{
    const double pc[3] = {(u - cam->cx) * z / cam->fx - cam->t[0], (v - cam->cy) * z / cam->fy - cam->t[1],
                          z - cam->t[2]};
    for (int a = 0; a < 3; ++a)
        out[a] = (real)(cam->R[a] * pc[0] + cam->R[3 + a] * pc[1] + cam->R[6 + a] * pc[2]);
}

static void project(const raster_camera *cam, const real p[3], double *u, double *v, double *z)
{
    double pc[3];
    for (int a = 0; a < 3; ++a)
        pc[a] = cam->R[3 * a] * p[0] + cam->R[3 * a + 1] * p[1] + cam->R[3 * a + 2] * p[2] + cam->t[a];
    *u = cam->fx * pc[0] / pc[2] + cam->cx;
    *v = cam->fy * pc[1] / pc[2] + cam->cy;
    *z = pc[2];
}

/* Twice the signed screen area of face f; > 0 is clockwise on screen (a back face). */
static double screen_area(const scene *sc, int f)
{
    double u[3], v[3], z;
    for (int k = 0; k < 3; ++k) project(&sc->cam, sc->positions + 3 * sc->faces[3 * f + k], &u[k], &v[k], &z);
    return (u[1] - u[0]) * (v[2] - v[0]) - (v[1] - v[0]) * (u[2] - u[0]);
}

static void make_camera(const scene_spec *sp, rng_t *rng, raster_camera *cam)
{
    if (sp->camera == CAMERA_LOOK_AT) {
        const double target[3] = {uniform(rng, -0.3, 0.3), uniform(rng, -0.3, 0.3), uniform(rng, -0.3, 0.3)};
        double dir[3] = {uniform(rng, -0.5, 0.5), uniform(rng, -0.4, 0.4), -1.0};
        double len = sqrt(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]), dist = uniform(rng, 3.0, 3.6);
        const double eye[3] = {target[0] + dist * dir[0] / len, target[1] + dist * dir[1] / len,
                               target[2] + dist * dir[2] / len};
        const double up[3] = {uniform(rng, -0.3, 0.3), 1.0, uniform(rng, -0.3, 0.3)};
        assert_int_equal(raster_camera_look_at(cam, eye, target, up, uniform(rng, 50, 65), sp->width, sp->height), 0);
    } else {
        double f = uniform(rng, 0.85, 1.1) * sp->width;
        assert_int_equal(raster_camera_pinhole(cam, f, f * uniform(rng, 0.95, 1.05), 0.5 * sp->width + uniform(rng, -2, 2),
                                               0.5 * sp->height + uniform(rng, -2, 2), sp->width, sp->height),
                         0);
        random_rotation(rng, 0.5, cam->R);
        /* the world origin lands near the optical axis, 3.2 in front */
        const double t[3] = {uniform(rng, -0.2, 0.2), uniform(rng, -0.2, 0.2), uniform(rng, 3.0, 3.4)};
        memcpy(cam->t, t, sizeof t);
    }
    if (sp->znear > 0)
        cam->znear = sp->znear;
    if (sp->zfar > 0)
        cam->zfar = sp->zfar;
}

static void alloc_mesh(scene *sc, int n_vertices, int n_faces)
{
    sc->n_vertices = n_vertices;
    sc->n_faces = n_faces;
    sc->positions = calloc((size_t)n_vertices * 3, sizeof(real));
    sc->colors = calloc((size_t)n_vertices * 3, sizeof(real));
    sc->faces = calloc((size_t)n_faces * 3, sizeof(int32_t));
    assert_true(sc->positions && sc->colors && sc->faces);
}

/* Triangles around random pixels, their corners spread around a circle, at random depths and orientations. */
static void make_triangles(const scene_spec *sp, rng_t *rng, scene *sc)
{
    alloc_mesh(sc, 3 * sp->n_triangles, sp->n_triangles);
    const double side = fmin(sp->width, sp->height);
    for (int f = 0; f < sp->n_triangles; ++f) {
        double u = uniform(rng, 0.05, 0.95) * sp->width, v = uniform(rng, 0.05, 0.95) * sp->height;
        double z = uniform(rng, sp->depth_min, sp->depth_max), turn = uniform(rng, 0, 2 * M_PI);
        for (int k = 0; k < 3; ++k) {
            double angle = turn + 2 * M_PI * k / 3 + uniform(rng, -0.45, 0.45), r = side * uniform(rng, 0.18, 0.42);
            unproject(&sc->cam, u + r * cos(angle), v + r * sin(angle), z + uniform(rng, -0.45, 0.45),
                      sc->positions + 3 * (3 * f + k));
        }
        int swap = rng_uniform(rng) < 0.5;
        sc->faces[3 * f] = 3 * f, sc->faces[3 * f + 1] = 3 * f + (swap ? 2 : 1), sc->faces[3 * f + 2] = 3 * f + (swap ? 1 : 2);
    }
}

/* A jittered height field over (a little more than) the image, every face turned towards the
 * camera except `flipped` random ones. */
static void make_grid(const scene_spec *sp, rng_t *rng, scene *sc)
{
    const int nx = sp->grid_x, ny = sp->grid_y;
    alloc_mesh(sc, nx * ny, 2 * (nx - 1) * (ny - 1));
    double z0 = uniform(rng, 2.8, 3.4), tilt_u = uniform(rng, -0.6, 0.6), tilt_v = uniform(rng, -0.6, 0.6);
    for (int j = 0; j < ny; ++j)
        for (int i = 0; i < nx; ++i) {
            double s = (i + uniform(rng, -0.25, 0.25)) / (nx - 1), t = (j + uniform(rng, -0.25, 0.25)) / (ny - 1);
            if (i == 0 || i == nx - 1)
                s = (double)i / (nx - 1);
            if (j == 0 || j == ny - 1)
                t = (double)j / (ny - 1);
            double u = (-0.08 + 1.16 * s) * sp->width, v = (-0.08 + 1.16 * t) * sp->height;
            double z = z0 + tilt_u * (s - 0.5) + tilt_v * (t - 0.5) + uniform(rng, -0.2, 0.2);
            unproject(&sc->cam, u, v, z, sc->positions + 3 * (j * nx + i));
        }
    int f = 0;
    for (int j = 0; j + 1 < ny; ++j)
        for (int i = 0; i + 1 < nx; ++i) {
            int a = j * nx + i, b = a + 1, c = a + nx, d = c + 1;
            int tri[2][3];
            if (rng_uniform(rng) < 0.5) {
                int t0[3] = {a, b, d}, t1[3] = {a, d, c};
                memcpy(tri[0], t0, sizeof t0), memcpy(tri[1], t1, sizeof t1);
            } else {
                int t0[3] = {a, b, c}, t1[3] = {b, d, c};
                memcpy(tri[0], t0, sizeof t0), memcpy(tri[1], t1, sizeof t1);
            }
            for (int k = 0; k < 2; ++k, ++f)
                for (int m = 0; m < 3; ++m) sc->faces[3 * f + m] = tri[k][m];
        }
    for (f = 0; f < sc->n_faces; ++f)
        if (screen_area(sc, f) > 0) { /* make it a front face */
            int32_t tmp = sc->faces[3 * f + 1];
            sc->faces[3 * f + 1] = sc->faces[3 * f + 2], sc->faces[3 * f + 2] = tmp;
        }
    for (int n = 0; n < sp->flipped; ++n) {
        f = (int)(rng_uniform(rng) * sc->n_faces);
        int32_t tmp = sc->faces[3 * f + 1];
        sc->faces[3 * f + 1] = sc->faces[3 * f + 2], sc->faces[3 * f + 2] = tmp;
    }
}

static void make_albedo(const scene_spec *sp, rng_t *rng, scene *sc)
{
    for (int i = 0; i < 3 * sc->n_vertices; ++i) sc->colors[i] = (real)uniform(rng, 0.05, 0.95);
    if (sp->albedo != ALBEDO_TEXTURE)
        return;
    sc->tex_w = 5 + (int)(rng_uniform(rng) * 6), sc->tex_h = 4 + (int)(rng_uniform(rng) * 5);
    sc->texture = malloc((size_t)sc->tex_w * sc->tex_h * 3 * sizeof(real));
    assert_non_null(sc->texture);
    for (int i = 0; i < sc->tex_w * sc->tex_h * 3; ++i) sc->texture[i] = (real)rng_uniform(rng);
    sc->face_uvs = malloc((size_t)sc->n_faces * 3 * sizeof(int32_t));
    assert_non_null(sc->face_uvs);
    if (sp->mesh == MESH_GRID) { /* one uv per vertex, following the grid, jittered */
        sc->n_uvs = sc->n_vertices;
        sc->uvs = malloc((size_t)sc->n_uvs * 2 * sizeof(real));
        assert_non_null(sc->uvs);
        for (int j = 0; j < sp->grid_y; ++j)
            for (int i = 0; i < sp->grid_x; ++i) {
                real *uv = sc->uvs + 2 * (j * sp->grid_x + i);
                uv[0] = (real)(0.05 + 0.9 * (i + uniform(rng, -0.2, 0.2)) / (sp->grid_x - 1));
                uv[1] = (real)(0.95 - 0.9 * (j + uniform(rng, -0.2, 0.2)) / (sp->grid_y - 1));
                uv[0] = (real)fmin(0.97, fmax(0.03, uv[0])), uv[1] = (real)fmin(0.97, fmax(0.03, uv[1]));
            }
        memcpy(sc->face_uvs, sc->faces, (size_t)sc->n_faces * 3 * sizeof(int32_t));
    } else { /* three random uvs per face, in the interior of the texture */
        sc->n_uvs = 3 * sc->n_faces;
        sc->uvs = malloc((size_t)sc->n_uvs * 2 * sizeof(real));
        assert_non_null(sc->uvs);
        for (int i = 0; i < 2 * sc->n_uvs; ++i) sc->uvs[i] = (real)uniform(rng, 0.04, 0.96);
        for (int i = 0; i < 3 * sc->n_faces; ++i) sc->face_uvs[i] = i;
    }
}

static void make_settings(const scene_spec *sp, rng_t *rng, scene *sc)
{
    raster_settings *s = &sc->set;
    raster_settings_default(s);
    s->faces_per_pixel = sp->K;
    s->sigma = sp->sigma, s->gamma = sp->gamma;
    /* "hard": rgb from faces that contain the pixel (the default), the silhouette still reaching out */
    s->blur_radius = sp->hard ? 0.0 : raster_blur_radius_for(sp->sigma);
    s->silhouette_radius = raster_blur_radius_for(sp->sigma);
    s->cull_backfaces = sp->cull;
    s->silhouette = sp->silhouette;
    if (sp->blend_zfar > 0)
        s->blend_znear = sp->blend_znear, s->blend_zfar = sp->blend_zfar;
    for (int a = 0; a < 3; ++a) s->background[a] = uniform(rng, 0.2, 0.8);
    s->shading = sp->shading;
    s->light = sp->light;
    /* a light on the camera's side of the scene: lit front faces, some specular highlights */
    const double centre[3] = {-(sc->cam.R[0] * sc->cam.t[0] + sc->cam.R[3] * sc->cam.t[1] + sc->cam.R[6] * sc->cam.t[2]),
                              -(sc->cam.R[1] * sc->cam.t[0] + sc->cam.R[4] * sc->cam.t[1] + sc->cam.R[7] * sc->cam.t[2]),
                              -(sc->cam.R[2] * sc->cam.t[0] + sc->cam.R[5] * sc->cam.t[1] + sc->cam.R[8] * sc->cam.t[2])};
    for (int a = 0; a < 3; ++a) {
        s->light_position[a] = centre[a] + uniform(rng, -1.5, 1.5);
        s->light_direction[a] = -sc->cam.R[6 + a] + uniform(rng, -0.4, 0.4); /* towards the camera, roughly */
        s->ambient[a] = uniform(rng, 0.3, 0.5);
        s->diffuse[a] = uniform(rng, 0.3, 0.6);
        s->specular[a] = uniform(rng, 0.2, 0.4);
    }
    s->shininess = sp->light == RASTER_LIGHT_POINT ? 16 : 64;
    assert_int_equal(raster_settings_check(s), 0);
}

static void free_scene(scene *sc)
{
    free(sc->positions), free(sc->colors), free(sc->faces);
    free(sc->uvs), free(sc->face_uvs), free(sc->texture);
    memset(sc, 0, sizeof *sc);
}

static void make_scene(const scene_spec *sp, uint64_t seed, scene *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->seed = seed;
    rng_t rng;
    rng_seed(&rng, seed, 0);
    make_camera(sp, &rng, &sc->cam);
    if (sp->mesh == MESH_TRIANGLES)
        make_triangles(sp, &rng, sc);
    else
        make_grid(sp, &rng, sc);
    make_albedo(sp, &rng, sc);
    make_settings(sp, &rng, sc);
}

static raster_mesh mesh_of(const scene_spec *sp, const scene *sc)
{
    raster_mesh m = {.n_vertices = sc->n_vertices, .n_faces = sc->n_faces, .positions = sc->positions, .faces = sc->faces};
    if (sp->albedo == ALBEDO_VERTEX_COLORS)
        m.vertex_colors = sc->colors;
    if (sp->albedo == ALBEDO_TEXTURE) {
        m.n_uvs = sc->n_uvs, m.uvs = sc->uvs, m.face_uvs = sc->face_uvs;
        m.tex_width = sc->tex_w, m.tex_height = sc->tex_h, m.texture = sc->texture;
    }
    return m;
}

/* ---- the screen for near-ties ------------------------------------------------------------ */

static double seg_dist2(double px, double py, double ax, double ay, double bx, double by)
{
    double ex = bx - ax, ey = by - ay, t = ((px - ax) * ex + (py - ay) * ey) / (ex * ex + ey * ey);
    t = fmin(1.0, fmax(0.0, t));
    double dx = ax + t * ex - px, dy = ay + t * ey - py;
    return dx * dx + dy * dy;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 1 when the scene has no near-tie (see the top of the file); *coverage: the fraction of pixels
 * with a candidate fragment.  Otherwise 0 with the reason in why. */
static int scene_is_well_posed(const scene *sc, double *coverage, char *why, size_t why_size)
{
    const raster_camera *cam = &sc->cam;
    const raster_settings *s = &sc->set;
    const int W = cam->width, H = cam->height, nf = sc->n_faces;
    const double scale2 = pow(2.0 / fmin(W, H), 2), blur_px = sqrt(s->blur_radius / scale2);
    double *cand = malloc((size_t)W * H * nf * sizeof(double));
    int *count = calloc((size_t)W * H, sizeof(int));
    double *hard = malloc((size_t)W * H * 2 * sizeof(double)); /* the two nearest inside depths */
    assert_true(cand && count && hard);
    for (int p = 0; p < 2 * W * H; ++p) hard[p] = INFINITY;
    int ok = 1;
    for (int f = 0; f < nf && ok; ++f) {
        double u[3], v[3], z[3];
        int behind = 0;
        for (int k = 0; k < 3; ++k) {
            project(cam, sc->positions + 3 * sc->faces[3 * f + k], &u[k], &v[k], &z[k]);
            if (fabs(z[k] - cam->znear) < 1e-7) {
                snprintf(why, why_size, "face %d: vertex depth %.12g at znear", f, z[k]);
                ok = 0;
            }
            behind |= z[k] <= cam->znear;
        }
        double area = (u[1] - u[0]) * (v[2] - v[0]) - (v[1] - v[0]) * (u[2] - u[0]);
        if (behind)
            continue;
        if (fabs(area) < 1.0) {
            snprintf(why, why_size, "face %d: screen area %.3g px²", f, area / 2);
            ok = 0;
            break;
        }
        if (s->cull_backfaces && area > 0)
            continue;
        double len[3];
        for (int k = 0; k < 3; ++k) len[k] = hypot(u[(k + 2) % 3] - u[(k + 1) % 3], v[(k + 2) % 3] - v[(k + 1) % 3]);
        int i0 = (int)fmax(0, floor(fmin(u[0], fmin(u[1], u[2])) - blur_px - 1));
        int i1 = (int)fmin(W - 1, ceil(fmax(u[0], fmax(u[1], u[2])) + blur_px + 1));
        int j0 = (int)fmax(0, floor(fmin(v[0], fmin(v[1], v[2])) - blur_px - 1));
        int j1 = (int)fmin(H - 1, ceil(fmax(v[0], fmax(v[1], v[2])) + blur_px + 1));
        for (int j = j0; j <= j1 && ok; ++j)
            for (int i = i0; i <= i1 && ok; ++i) {
                double px = i + 0.5, py = j + 0.5, b[3];
                for (int k = 0; k < 3; ++k) {
                    int k1 = (k + 1) % 3, k2 = (k + 2) % 3;
                    double e = (u[k1] - px) * (v[k2] - py) - (v[k1] - py) * (u[k2] - px);
                    b[k] = e / area;
                    if (fabs(e) / len[k] < 1e-6) {
                        snprintf(why, why_size, "pixel (%d, %d) on an edge line of face %d", i, j, f);
                        ok = 0;
                    }
                }
                int inside = b[0] > 0 && b[1] > 0 && b[2] > 0;
                double d = fmin(seg_dist2(px, py, u[0], v[0], u[1], v[1]),
                                fmin(seg_dist2(px, py, u[1], v[1], u[2], v[2]), seg_dist2(px, py, u[2], v[2], u[0], v[0]))) *
                           scale2;
                if (!inside && (fabs(d - s->blur_radius) < 1e-9 || fabs(d - s->silhouette_radius) < 1e-9)) {
                    snprintf(why, why_size, "pixel (%d, %d) at the blur or silhouette radius of face %d", i, j, f);
                    ok = 0;
                }
                if (!inside && d >= s->blur_radius)
                    continue;
                double w[3] = {b[0] * z[1] * z[2], z[0] * b[1] * z[2], z[0] * z[1] * b[2]}, c[3], sum = 0;
                for (int k = 0; k < 3; ++k) sum += w[k];
                double csum = 0;
                for (int k = 0; k < 3; ++k) c[k] = fmax(w[k] / sum, 0.0), csum += c[k];
                double zf = (c[0] * z[0] + c[1] * z[1] + c[2] * z[2]) / csum;
                if (fabs(zf - cam->zfar) < 1e-9) {
                    snprintf(why, why_size, "pixel (%d, %d): face %d at zfar", i, j, f);
                    ok = 0;
                }
                if (zf > cam->zfar)
                    continue;
                int p = j * W + i;
                cand[(size_t)p * nf + count[p]++] = zf;
                if (inside && zf < hard[2 * p + 1]) {
                    hard[2 * p + 1] = zf;
                    if (zf < hard[2 * p])
                        hard[2 * p + 1] = hard[2 * p], hard[2 * p] = zf;
                }
            }
    }
    int covered = 0;
    for (int p = 0; p < W * H && ok; ++p) {
        double *zs = cand + (size_t)p * nf;
        covered += count[p] > 0;
        qsort(zs, (size_t)count[p], sizeof(double), cmp_double);
        if (hard[2 * p + 1] - hard[2 * p] < 1e-9) {
            snprintf(why, why_size, "pixel (%d, %d): faces containing it at depths %.12g and %.12g", p % W, p / W,
                     hard[2 * p], hard[2 * p + 1]);
            ok = 0;
        }
        for (int k = 0; k + 1 < count[p] && k < s->faces_per_pixel; ++k)
            if (zs[k + 1] - zs[k] < 1e-9) {
                snprintf(why, why_size, "pixel (%d, %d): candidate depths %.12g and %.12g", p % W, p / W, zs[k], zs[k + 1]);
                ok = 0;
            }
    }
    *coverage = (double)covered / (W * H);
    free(cand), free(count), free(hard);
    return ok;
}

/* ---- the HDF5 file ------------------------------------------------------------------------ */

static void put(hid_t file, const char *path, const real *data, int ndim, size_t d0, size_t d1, size_t d2, size_t d3)
{
    const size_t dims[4] = {d0, d1, d2, d3};
    if (h5_write_f64(file, path, data, ndim, dims) != 0)
        fail_msg("%s", err_message());
}

static void put_i32(hid_t file, const char *path, const int32_t *data, int ndim, size_t d0, size_t d1, size_t d2)
{
    const size_t n = d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1);
    double *d = malloc(n * sizeof(double));
    assert_non_null(d);
    for (size_t i = 0; i < n; ++i) d[i] = data[i];
    put(file, path, d, ndim, d0, d1, d2, 0);
    free(d);
}

static void put3(hid_t file, const char *path, const double v[3]) { put(file, path, v, 1, 3, 0, 0, 0); }

static void attr_f(hid_t file, const char *obj, const char *name, double value)
{
    if (h5_attr_write_f64(file, obj, name, value) != 0)
        fail_msg("%s", err_message());
}

static void attr_i(hid_t file, const char *obj, const char *name, int64_t value)
{
    if (h5_attr_write_i64(file, obj, name, value) != 0)
        fail_msg("%s", err_message());
}

static real *random_array(rng_t *rng, size_t n)
{
    real *a = malloc(n * sizeof(real));
    assert_non_null(a);
    for (size_t i = 0; i < n; ++i) a[i] = (real)rng_normal(rng);
    return a;
}

static real *copy_array(const real *a, size_t n)
{
    real *b = malloc(n * sizeof(real));
    assert_non_null(b);
    memcpy(b, a, n * sizeof(real));
    return b;
}

/* ---- one scene end to end ------------------------------------------------------------------- */

static void run_scene(const scene_spec *sp)
{
    scene sc;
    char why[256] = "";
    double coverage = 0;
    int tries = 0;
    for (;; ++tries) {
        assert_true(tries < 20);
        make_scene(sp, sp->seed + (uint64_t)tries, &sc);
        if (scene_is_well_posed(&sc, &coverage, why, sizeof why))
            break;
        printf("softras reference input %s: seed %llu redrawn: %s\n", sp->name, (unsigned long long)sc.seed, why);
        free_scene(&sc);
    }
    const raster_mesh mesh = mesh_of(sp, &sc);
    assert_int_equal(raster_mesh_check(&mesh), 0);
    const int W = sp->width, H = sp->height, K = sp->K;
    const size_t n_pix = (size_t)W * H;

    raster_frame frame;
    assert_int_equal(raster_frame_alloc(&frame, W, H, K), 0);
    if (raster_forward(&sc.cam, &sc.set, &mesh, &frame, 2) != 0)
        fail_msg("raster_forward: %s", err_message());
    size_t with_fragment = 0;
    for (size_t p = 0; p < n_pix; ++p) with_fragment += frame.face[p * K] >= 0;
    printf("softras reference input %s: %d faces, seed %llu, %.0f%% of the pixels with a fragment\n", sp->name, sc.n_faces,
           (unsigned long long)sc.seed, 100.0 * with_fragment / n_pix);
    assert_true(with_fragment >= n_pix / 2); /* most pixels covered by faces and blur bands */

    rng_t rng;
    rng_seed(&rng, sc.seed, 1);
    real *grad_rgb = sp->no_grad_rgb ? NULL : random_array(&rng, n_pix * 3);
    real *grad_alpha = sp->no_grad_alpha ? NULL : random_array(&rng, n_pix);
    const size_t n_pos = (size_t)sc.n_vertices * 3, n_tex = (size_t)sc.tex_w * sc.tex_h * 3;
    raster_grads g = {.positions = random_array(&rng, n_pos)};
    if (mesh.vertex_colors)
        g.vertex_colors = random_array(&rng, n_pos);
    if (mesh.texture)
        g.texture = random_array(&rng, n_tex);
    real *pos_before = copy_array(g.positions, n_pos);
    real *col_before = g.vertex_colors ? copy_array(g.vertex_colors, n_pos) : NULL;
    real *tex_before = g.texture ? copy_array(g.texture, n_tex) : NULL;
    if (raster_backward(&sc.cam, &sc.set, &mesh, &frame, grad_rgb, grad_alpha, &g, 2) != 0)
        fail_msg("raster_backward: %s", err_message());

    char dir[64], path[128];
    assert_int_equal(tu_make_scratch(dir, sizeof dir, "softras"), 0);
    snprintf(path, sizeof path, "%s/%s.h5", dir, sp->name);
    h5_writer w;
    if (h5w_create(&w, path) != 0)
        fail_msg("%s", err_message());
    hid_t f = w.file;
    if (h5_attr_write_str(f, ".", "name", sp->name) != 0)
        fail_msg("%s", err_message());
    attr_i(f, ".", "seed", (int64_t)sc.seed);
    /* camera */
    attr_i(f, "camera", "width", W), attr_i(f, "camera", "height", H);
    attr_f(f, "camera", "fx", sc.cam.fx), attr_f(f, "camera", "fy", sc.cam.fy);
    attr_f(f, "camera", "cx", sc.cam.cx), attr_f(f, "camera", "cy", sc.cam.cy);
    attr_f(f, "camera", "znear", sc.cam.znear), attr_f(f, "camera", "zfar", sc.cam.zfar);
    put(f, "camera/R", sc.cam.R, 2, 3, 3, 0, 0);
    put3(f, "camera/t", sc.cam.t);
    /* settings */
    const raster_settings *s = &sc.set;
    attr_i(f, "settings", "K", K), attr_i(f, "settings", "cull_backfaces", s->cull_backfaces);
    attr_i(f, "settings", "shading", s->shading), attr_i(f, "settings", "light", s->light);
    attr_i(f, "settings", "silhouette", s->silhouette);
    attr_f(f, "settings", "sigma", s->sigma), attr_f(f, "settings", "gamma", s->gamma);
    attr_f(f, "settings", "blur_radius", s->blur_radius), attr_f(f, "settings", "shininess", s->shininess);
    attr_f(f, "settings", "silhouette_radius", s->silhouette_radius);
    attr_f(f, "settings", "blend_znear", s->blend_znear), attr_f(f, "settings", "blend_zfar", s->blend_zfar);
    put3(f, "settings/background", s->background);
    put3(f, "settings/light_position", s->light_position);
    put3(f, "settings/light_direction", s->light_direction);
    put3(f, "settings/ambient", s->ambient), put3(f, "settings/diffuse", s->diffuse);
    put3(f, "settings/specular", s->specular);
    /* mesh */
    put(f, "mesh/positions", sc.positions, 2, (size_t)sc.n_vertices, 3, 0, 0);
    put_i32(f, "mesh/faces", sc.faces, 2, (size_t)sc.n_faces, 3, 0);
    if (mesh.vertex_colors)
        put(f, "mesh/vertex_colors", sc.colors, 2, (size_t)sc.n_vertices, 3, 0, 0);
    if (mesh.texture) {
        put(f, "mesh/uvs", sc.uvs, 2, (size_t)sc.n_uvs, 2, 0, 0);
        put_i32(f, "mesh/face_uvs", sc.face_uvs, 2, (size_t)sc.n_faces, 3, 0);
        put(f, "mesh/texture", sc.texture, 3, (size_t)sc.tex_h, (size_t)sc.tex_w, 3, 0);
    }
    /* forward */
    put_i32(f, "forward/face", frame.face, 3, H, W, K);
    put(f, "forward/zbuf", frame.zbuf, 3, H, W, K, 0);
    put(f, "forward/dist", frame.dist, 3, H, W, K, 0);
    put(f, "forward/bary", frame.bary, 4, H, W, K, 3);
    put(f, "forward/rgb", frame.rgb, 3, H, W, 3, 0);
    put(f, "forward/alpha", frame.alpha, 2, H, W, 0, 0);
    real *sil = malloc(n_pix * sizeof(real));
    assert_non_null(sil);
    for (size_t p = 0; p < n_pix; ++p) sil[p] = frame.silhouette[p];
    put(f, "forward/silhouette", sil, 2, H, W, 0, 0);
    free(sil);
    put(f, "forward/depth", frame.depth, 2, H, W, 0, 0);
    put(f, "forward/normal", frame.normal, 3, H, W, 3, 0);
    /* upstream and gradients */
    if (grad_rgb)
        put(f, "upstream/grad_rgb", grad_rgb, 3, H, W, 3, 0);
    if (grad_alpha)
        put(f, "upstream/grad_alpha", grad_alpha, 2, H, W, 0, 0);
    put(f, "grads/positions", g.positions, 2, (size_t)sc.n_vertices, 3, 0, 0);
    put(f, "grads/positions_before", pos_before, 2, (size_t)sc.n_vertices, 3, 0, 0);
    if (g.vertex_colors) {
        put(f, "grads/vertex_colors", g.vertex_colors, 2, (size_t)sc.n_vertices, 3, 0, 0);
        put(f, "grads/vertex_colors_before", col_before, 2, (size_t)sc.n_vertices, 3, 0, 0);
    }
    if (g.texture) {
        put(f, "grads/texture", g.texture, 3, (size_t)sc.tex_h, (size_t)sc.tex_w, 3, 0);
        put(f, "grads/texture_before", tex_before, 3, (size_t)sc.tex_h, (size_t)sc.tex_w, 3, 0);
    }
    /* the Gaussian blur */
    if (sp->blur_sigma > 0) {
        const int bw = sp->blur_width, bh = sp->blur_height, bc = sp->blur_channels;
        const size_t n = (size_t)bw * bh * bc;
        real *in = random_array(&rng, n), *out = random_array(&rng, n), *gout = random_array(&rng, n);
        real *gin = random_array(&rng, n), *gin_before = copy_array(gin, n);
        assert_int_equal(raster_blur_forward(in, out, bw, bh, bc, sp->blur_sigma), 0);
        assert_int_equal(raster_blur_backward(gout, gin, bw, bh, bc, sp->blur_sigma), 0);
        attr_f(f, "blur", "sigma", sp->blur_sigma);
        put(f, "blur/input", in, 3, bh, bw, bc, 0);
        put(f, "blur/output", out, 3, bh, bw, bc, 0);
        put(f, "blur/grad_out", gout, 3, bh, bw, bc, 0);
        put(f, "blur/grad_in_before", gin_before, 3, bh, bw, bc, 0);
        put(f, "blur/grad_in", gin, 3, bh, bw, bc, 0);
        free(in), free(out), free(gout), free(gin), free(gin_before);
    }
    if (h5w_commit(&w) != 0)
        fail_msg("%s", err_message());

    fflush(stdout);
    int status = tu_run_python("validation/reference/softras_reference.py %s", path);
    fflush(stdout);
    tu_remove_tree(dir);
    free(grad_rgb), free(grad_alpha), free(g.positions), free(g.vertex_colors), free(g.texture);
    free(pos_before), free(col_before), free(tex_before);
    raster_frame_free(&frame);
    free_scene(&sc);
    assert_int_equal(status, 0);
}

/* ---- the scenes ----------------------------------------------------------------------------- */

static const scene_spec SCENES[] = {
    {.name = "triangles_k1_ambient_texture", .seed = 101, .width = 64, .height = 48, .K = 1,
     .mesh = MESH_TRIANGLES, .n_triangles = 16, .depth_min = 2.4, .depth_max = 4.0, .camera = CAMERA_LOOK_AT,
     .sigma = 1e-4, .gamma = 1e-4, .shading = RASTER_SHADE_AMBIENT, .albedo = ALBEDO_TEXTURE,
     .blur_sigma = 1.3, .blur_width = 23, .blur_height = 17, .blur_channels = 3},
    {.name = "triangles_k3_phong_point_cull_ksil", .seed = 202, .width = 50, .height = 37, .K = 3,
     .mesh = MESH_TRIANGLES, .n_triangles = 24, .depth_min = 2.4, .depth_max = 4.0,
     .camera = CAMERA_PINHOLE_POSE, .sigma = 1e-3, .gamma = 1e-2, .cull = 1,
     .silhouette = RASTER_SILHOUETTE_K_NEAREST, .shading = RASTER_SHADE_PHONG,
     .light = RASTER_LIGHT_POINT, .albedo = ALBEDO_VERTEX_COLORS,
     .blur_sigma = 0.8, .blur_width = 50, .blur_height = 37, .blur_channels = 1},
    {.name = "grid_k3_phong_directional_texture", .seed = 303, .width = 64, .height = 48, .K = 3,
     .mesh = MESH_GRID, .grid_x = 6, .grid_y = 5, .camera = CAMERA_LOOK_AT, .sigma = 3e-4, .gamma = 1e-3,
     .shading = RASTER_SHADE_PHONG, .light = RASTER_LIGHT_DIRECTIONAL, .albedo = ALBEDO_TEXTURE,
     .blend_znear = 0.5, .blend_zfar = 20},
    {.name = "grid_k1_ambient_colors_cull_ksil", .seed = 404, .width = 50, .height = 37, .K = 1,
     .mesh = MESH_GRID, .grid_x = 5, .grid_y = 4, .flipped = 3, .camera = CAMERA_PINHOLE_POSE,
     .sigma = 1e-4, .gamma = 1e-4, .cull = 1, .silhouette = RASTER_SILHOUETTE_K_NEAREST,
     .shading = RASTER_SHADE_AMBIENT, .albedo = ALBEDO_VERTEX_COLORS},
    {.name = "triangles_k3_near_far_directional_no_grad_alpha", .seed = 505, .width = 64, .height = 48, .K = 3,
     .mesh = MESH_TRIANGLES, .n_triangles = 30, .depth_min = 1.6, .depth_max = 4.4, .znear = 2.0, .zfar = 3.8,
     .camera = CAMERA_PINHOLE_POSE, .sigma = 1e-3, .gamma = 1e-3, .shading = RASTER_SHADE_PHONG,
     .light = RASTER_LIGHT_DIRECTIONAL, .albedo = ALBEDO_VERTEX_COLORS, .no_grad_alpha = 1},
    {.name = "triangles_k2_hard_white_alpha_only", .seed = 606, .width = 50, .height = 37, .K = 2,
     .mesh = MESH_TRIANGLES, .n_triangles = 12, .depth_min = 2.4, .depth_max = 4.0, .camera = CAMERA_LOOK_AT,
     .sigma = 1e-4, .gamma = 1e-4, .hard = 1, .shading = RASTER_SHADE_AMBIENT, .albedo = ALBEDO_WHITE,
     .no_grad_rgb = 1},
};

#define SCENE_TEST(i)                                                                                                  \
    static void test_scene_##i(void **state)                                                                           \
    {                                                                                                                  \
        (void)state;                                                                                                   \
        run_scene(&SCENES[i]);                                                                                         \
    }
SCENE_TEST(0)
SCENE_TEST(1)
SCENE_TEST(2)
SCENE_TEST(3)
SCENE_TEST(4)
SCENE_TEST(5)

/* The reference checks itself first: its automatic differentiation against central differences,
 * a fronto-parallel triangle's silhouette against its projected area, culling, the blur kernel. */
static void test_reference_selftest(void **state)
{
    (void)state;
    fflush(stdout);
    assert_int_equal(tu_run_python("validation/reference/softras_reference.py --selftest"), 0);
}

int main(void)
{
    h5io_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_selftest),
        cmocka_unit_test(test_scene_0), cmocka_unit_test(test_scene_1), cmocka_unit_test(test_scene_2),
        cmocka_unit_test(test_scene_3), cmocka_unit_test(test_scene_4), cmocka_unit_test(test_scene_5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
