/* nsr_data.h — NeuS/IDR multi-view data sets: loading, cameras, rays (nsr module).
 *
 * Layout (Totoro97/NeuS models/dataset.py):
 *   <dir>/image/NAME.png the views' colour images, in sorted file-name order
 *   <dir>/mask/NAME.png  their object masks, as many, in sorted order
 *   <dir>/<cameras>      npz with world_mat_i (world → pixel projection, 4×4 or
 *                        3×4) and scale_mat_i (normalised unit-sphere frame →
 *                        world, 4×4) for i = 0 … n−1; default cameras_sphere.npz,
 *                        IDR's cameras.npz (scale_mat_i stored fortran_order)
 *                        reads the same way.
 * Image i (sorted) is view i and uses world_mat_i and scale_mat_i; other
 * members (camera_mat_i, *_inv_i) are ignored.  "Sorted" is byte order of
 * the names (Python's sorted(glob("*.png"))): names starting with '.' are
 * skipped, the suffix ".png" is case-sensitive.
 *
 * Pixel values follow NeuS, which reads with cv2.imread and divides by 256:
 *   colour = sample / 256 (white is 255/256), in R, G, B order (NeuS keeps
 *            OpenCV's B, G, R; the order does not matter to training);
 *            gray images give R = G = B, alpha is dropped;
 *   mask   = sample / 256 of the channel NeuS uses, mask[..., 0] of
 *            OpenCV's B, G, R, i.e. the blue channel of an RGB(A) mask, the
 *            gray channel of a gray one (it matters: DTU scan 65's mask 24
 *            differs between its channels at 76 pixels);
 *   16-bit samples are reduced to 8 bits by dropping the low byte first
 *   (libpng's strip_16, which cv2.imread's PNG reader asks for by default).
 * Samples are stored as 8-bit (the data sets are 8-bit), 4 bytes a pixel
 * with the mask: 376 MB for DTU's 49 views of 1600 × 1200, against 1.5 GB
 * as NeuS's float arrays.
 *
 * Cameras.  P = (world_mat_i · scale_mat_i)[:3, :4] (in double; NeuS
 * multiplies in float32) maps the normalised frame to pixels.  P is
 * decomposed as P ∝ K [R | t] with K upper triangular, positive diagonal,
 * K[2][2] = 1 (skew kept) and R a rotation, as NeuS's load_K_Rt_from_P does
 * with cv2.decomposeProjectionMatrix; the pose (camera to world) is
 * [Rᵀ | centre], centre = −Rᵀ t.  P is homogeneous: when det P[:, :3] < 0 it
 * is negated first.  (cv2 would then return K with negative fx, fy and R
 * rotated 180° about the optical axis; K·R, hence every ray, is the same.)
 *
 * Downscale.  With an integer factor l ≥ 1 the images are (W / l) × (H / l)
 * (floor: the last W mod l columns and H mod l rows are dropped), each pixel
 * the l × l box average of the full-resolution samples, rounded half up to
 * 8 bits (cv2.resize with INTER_AREA also box-averages at integer factors;
 * its rounding of exact halves may differ).  NeuS puts pixel centres at
 * integer coordinates, so downscaled pixel (i, j) is the box whose centre
 * is the full-resolution point (l·i + (l−1)/2, l·j + (l−1)/2), and K
 * becomes S·K with
 *   S = [[1/l, 0, −(l−1)/(2l)], [0, 1/l, −(l−1)/(2l)], [0, 0, 1]]
 * (fx, fy, skew divided by l; cx' = (cx − (l−1)/2)/l, likewise cy): the ray
 * of a downscaled pixel is the ray through the centre of its box.  (NeuS's
 * gen_rays_at(resolution_level) instead spaces W // l samples evenly over
 * [0, W − 1], a slightly different grid.)  At l = 1 the pixel (x, y) ray is
 * NeuS's exactly.
 *
 * Held-out views: for novel-view PSNR, view i is a test view when
 * i % every == 0 (every = 7: views 0, 7, …, 42 of DTU's 49, "one of each 7
 * images" of HIVE §F); the others are training views.
 *
 * Rays are those of kernels/nsr_rays.h: origin the camera centre, direction
 * normalize(R_c2w · K⁻¹[x, y, 1]), near/far = −(o·d) ∓ 1 (unit sphere).
 *
 * Errors (err_set, -1) name the file and the problem: a missing directory or
 * file, no images, image / mask / camera counts that disagree, images of
 * different sizes, a mask whose size is not its image's, a missing or
 * malformed world_mat_i or scale_mat_i, non-finite entries, a singular P, a
 * truncated or corrupt npz or PNG, a downscale larger than the images.
 */
#ifndef PHIVE_NSR_DATA_H
#define PHIVE_NSR_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "phive/real.h"
#include "phive/rng.h"

#define NSR_CAMERAS_DEFAULT "cameras_sphere.npz"
#define NSR_TEST_EVERY 7       /* HIVE's novel-view split: one view in 7 held out */
#define NSR_CAMERA_REALS 17    /* packed camera of kernels/nsr_rays.h (NSR_CAM_SIZE) */

/* One camera in the normalised (unit-sphere) frame, at some resolution.
 * Matrices are row-major. */
typedef struct {
    double K[9];      /* [[fx, skew, cx], [0, fy, cy], [0, 0, 1]] */
    double R[9];      /* world → camera rotation */
    double t[3];      /* world → camera translation: x_cam = R x + t */
    double centre[3]; /* camera centre, −Rᵀ t */
    double c2w[12];   /* camera → world pose [Rᵀ | centre] (NeuS pose_all[i][:3]) */
    double P[12];     /* K [R | t]: normalised frame → pixels (homogeneous) */
} nsr_camera;

/* Decompose a 3×4 projection (row-major) as described above.  Fails (no
 * file named: callers add context) when an entry is not finite or P[:, :3]
 * is singular. */
int nsr_camera_from_projection(const double P[12], nsr_camera *cam);
/* The camera of the image downscaled by `factor` ≥ 1 (K and P become S·K, S·P). */
int nsr_camera_downscale(const nsr_camera *in, int factor, nsr_camera *out);
/* The packed form of kernels/nsr_rays.h: fx, fy, cx, cy, skew, rot[9], centre[3]. */
void nsr_camera_pack(const nsr_camera *cam, real out[NSR_CAMERA_REALS]);

/* Whether view `index` is held out for testing (index % every == 0); never when every <= 0. */
int nsr_view_is_test(int index, int every);

typedef enum { NSR_SPLIT_ALL = 0, NSR_SPLIT_TRAIN = 1, NSR_SPLIT_TEST = 2 } nsr_split;

/* The indices of `split` among views 0 … n−1 (held out every `every`, <= 0
 * means NSR_TEST_EVERY) into out (room for n); returns how many. */
int nsr_split_views(int n, int every, nsr_split split, int *out);

/* Layouts: NeuS/IDR (image/, mask/, a cameras npz) or Strecha's (the EPFL benchmark: *.png
 * images with <image>.camera beside each, no masks: every mask value 255; the normalised frame is
 * the world box `region` inscribed in the unit sphere, scale_mat = [h·I c; 0 1], c its centre and
 * h its half diagonal).  A .camera file holds K (3 rows), radial distortion (3 zeros), R (3 rows,
 * camera → world), the centre t and the image size: P_world = K [Rᵀ | −Rᵀ t]. */
typedef enum { NSR_FORMAT_NEUS = 0, NSR_FORMAT_STRECHA = 1 } nsr_format;

typedef struct {
    nsr_format format;
    const double *region; /* Strecha: world box min x, y, z, max x, y, z */
    const char *cameras; /* npz file name inside the directory; NULL: NSR_CAMERAS_DEFAULT */
    int downscale;       /* l ≥ 1; 0 means 1 */
    const int *views;    /* load only these view indices (any order, no repeats); NULL: by split */
    int n_views;
    nsr_split split;     /* with views == NULL: all, training or test views */
    int test_every;      /* held-out period for split; 0: NSR_TEST_EVERY */
    int cameras_only;    /* 1: check the files and read the cameras, decode no image */
} nsr_dataset_options;

typedef struct {
    int index;      /* view number: image `index` in sorted order, world_mat_<index> */
    nsr_camera cam; /* at the data set's downscale */
    uint8_t *rgb;   /* height × width × 3 samples (R, G, B), row-major; NULL if cameras_only */
    uint8_t *mask;  /* height × width samples; NULL if cameras_only */
} nsr_view;

typedef struct {
    char *dir;                     /* the data directory, as given */
    char *cameras_path;            /* <dir>/<cameras> */
    int n_total;                   /* views in the data set (images = masks = cameras) */
    int n_views;                   /* views loaded, in the order asked for */
    nsr_view *views;
    int downscale;                 /* l */
    int full_width, full_height;   /* the files' image size */
    int width, height;             /* the stored size: full / l */
    double scale_mat0[16];         /* scale_mat_0: x_world = scale_mat0 · [x, 1] (NeuS's mesh export) */
} nsr_dataset;

/* Load the data set in `dir` (opt may be NULL: every view, full size).  All
 * images' and masks' sizes and all cameras are checked whatever views are
 * asked for; only the asked views' images are decoded (in parallel).  On
 * failure ds is left zeroed. */
int nsr_dataset_load(const char *dir, const nsr_dataset_options *opt, nsr_dataset *ds);
void nsr_dataset_free(nsr_dataset *ds);
/* The position in ds->views of view `index`, or -1 when it was not loaded. */
int nsr_dataset_find_view(const nsr_dataset *ds, int index);

/* A batch of rays, structure of arrays; zero-initialise, then the ray
 * functions grow it as needed; free with nsr_rays_free. */
typedef struct {
    size_t count, capacity;
    real *origin;      /* count × 3 */
    real *direction;   /* count × 3, unit */
    real *near, *far;  /* count */
    real *rgb;         /* count × 3 targets in [0, 1) (sample / 256) */
    real *mask;        /* count */
    int32_t *pixel;    /* count × 2: x, y on the grid the rays were made for */
} nsr_rays;

void nsr_rays_free(nsr_rays *r);

/* Every ray of loaded view ds->views[v], at `level` ≥ 1 times the data
 * set's downscale: (width / level) × (height / level) rays in row-major
 * order, with the pixel convention above applied once more (ray of pixel
 * (i, j) = ray through the centre of its level × level box).  Targets are
 * the plain (unrounded) mean of the box's stored samples / 256; NaN when the
 * view's images were not loaded (cameras_only). */
int nsr_view_rays(const nsr_dataset *ds, int v, int level, nsr_rays *out);

/* `count` rays of view ds->views[v] at uniformly random pixels of the
 * stored grid: ray k uses rng_uniform2_at(rng, stream, first + k), so a
 * batch split across ranks by `first` is the batch one rank would draw
 * (stream: e.g. the iteration; 2^63 belongs to rng_uniform).  Needs the
 * view's images (not cameras_only). */
int nsr_random_rays(const nsr_dataset *ds, int v, const rng_t *rng, uint64_t stream, uint64_t first, size_t count,
                    nsr_rays *out);

#endif
