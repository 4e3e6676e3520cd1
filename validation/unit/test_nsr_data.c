/* test_nsr_data.c — the NeuS/IDR data set loader, camera decomposition and
 * rays (src/nsr/dataset.c, kernels/nsr_rays.h).
 *
 * - Synthetic scenes built here from known K (with skew), R, t and a
 *   scale_mat: the decomposition must return them; numpy writes the cameras
 *   file (world_mat <f8 in C order, scale_mat <f4 in Fortran order); images
 *   and masks in several PNG layouts (gray, RGBA, 16-bit).
 * - validation/reference/nsr_data_reference.py decomposes the same cameras
 *   with scipy.linalg.rq (cv2's conventions), makes NeuS's rays and reads the
 *   PNGs with scikit-image; phive's cameras, rays and targets must agree.
 * - Geometry: the ray through the projection of a point passes through it.
 * - The real DTU scan 65 in ../shared/data (cameras of both normalisations,
 *   a few decoded views at downscale 1 and 4, known answers of its README).
 * - Bad input: every error names the file and the problem.
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
#include <time.h>
#include <unistd.h>

#include "nsr_rays.h"
#include "phive/array_io.h"
#include "phive/errors.h"
#include "phive/image.h"
#include "phive/nsr_data.h"
#include "phive/rng.h"

#include "test_util.h"

#define REFERENCE "validation/reference/nsr_data_reference.py"
#define DTU "../shared/data/dtu_scan65"

typedef tu_scratch fixture;

static int setup(void **state) { return tu_scratch_setup(state, "nsrdata"); }
static int teardown(void **state) { return tu_scratch_teardown(state); }

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- synthetic scenes --------------------------------------------------------------------- */

#define SYN_VIEWS 8
#define SYN_W 64
#define SYN_H 48

typedef struct {
    double K[SYN_VIEWS][9], R[SYN_VIEWS][9], t[SYN_VIEWS][3], C[SYN_VIEWS][3];
    double P[SYN_VIEWS][12];      /* K [R | t]: the normalised frame's projection */
    double world[SYN_VIEWS][16];  /* λ P scale_mat⁻¹ (λ < 0 for one view) */
    double scale[16];             /* exactly representable in float32 */
} syn_truth;

static void cross3(const double a[3], const double b[3], double c[3])
{
    c[0] = a[1] * b[2] - a[2] * b[1], c[1] = a[2] * b[0] - a[0] * b[2], c[2] = a[0] * b[1] - a[1] * b[0];
}

static void normalize3(double v[3])
{
    double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (int a = 0; a < 3; ++a) v[a] /= n;
}

static void make_truth(syn_truth *T, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed, 0);
    const double s = 2.5, shift[3] = {0.75, -1.25, 3.5};
    memset(T->scale, 0, sizeof T->scale);
    for (int a = 0; a < 3; ++a) T->scale[5 * a] = s, T->scale[4 * a + 3] = shift[a];
    T->scale[15] = 1;
    for (int i = 0; i < SYN_VIEWS; ++i) {
        double fx = 80 + 30 * rng_uniform(&rng), fy = fx * (0.9 + 0.2 * rng_uniform(&rng));
        double K[9] = {fx, 6 * rng_uniform(&rng) - 3, SYN_W / 2.0 + 6 * rng_uniform(&rng) - 3,
                       0, fy, SYN_H / 2.0 + 6 * rng_uniform(&rng) - 3, 0, 0, 1};
        double C[3] = {rng_normal(&rng), rng_normal(&rng), rng_normal(&rng)}, up[3], x[3], y[3], z[3];
        normalize3(C);
        double dist = 3 + rng_uniform(&rng);
        for (int a = 0; a < 3; ++a) C[a] *= dist, z[a] = -C[a], up[a] = rng_normal(&rng);
        normalize3(z);
        cross3(up, z, x);
        normalize3(x);
        cross3(z, x, y);
        memcpy(T->K[i], K, sizeof K);
        memcpy(T->C[i], C, sizeof C);
        for (int a = 0; a < 3; ++a) T->R[i][a] = x[a], T->R[i][3 + a] = y[a], T->R[i][6 + a] = z[a];
        for (int r = 0; r < 3; ++r)
            T->t[i][r] = -(T->R[i][3 * r] * C[0] + T->R[i][3 * r + 1] * C[1] + T->R[i][3 * r + 2] * C[2]);
        for (int r = 0; r < 3; ++r)
            for (int c = 0; c < 4; ++c) {
                double v = 0;
                for (int q = 0; q < 3; ++q) v += K[3 * r + q] * (c < 3 ? T->R[i][3 * q + c] : T->t[i][q]);
                T->P[i][4 * r + c] = v;
            }
        /* world = λ [P; 0 0 0 1] · scale⁻¹, scale⁻¹ = [I/s, −shift/s; 0, 1] */
        double lambda = (i == 5 ? -1 : 1) * (0.5 + 1.5 * rng_uniform(&rng));
        for (int r = 0; r < 4; ++r) {
            double row[4];
            for (int c = 0; c < 4; ++c) row[c] = r < 3 ? lambda * T->P[i][4 * r + c] : (c == 3);
            for (int c = 0; c < 3; ++c) T->world[i][4 * r + c] = row[c] / s;
            T->world[i][4 * r + 3] = row[3] - (row[0] * shift[0] + row[1] * shift[1] + row[2] * shift[2]) / s;
        }
    }
}

/* The synthetic samples: colour c of pixel (x, y) of view i, and its mask value. */
static unsigned syn_rgb(int i, int x, int y, int c) { return (unsigned)(x * 37 + y * 11 + c * 71 + i * 13) & 255u; }
static unsigned syn_mask(int i, int x, int y) { return (unsigned)((x / 3 + y / 2 + i) % 4) * 85u; }

/* View i's image and mask, in a layout that depends on i (RGB, gray, RGBA 16-bit, RGB 16-bit;
 * masks RGB, gray, gray+alpha, RGBA).  A colour mask has different channels, so the channel
 * NeuS uses (blue) is the one checked.  w × h pixels. */
static void write_syn_pngs(const char *dir, int i, int w, int h)
{
    static const int img_ch[4] = {3, 1, 4, 3}, img_depth[4] = {8, 8, 16, 16}, mask_ch[4] = {3, 1, 2, 4};
    image im;
    image_init(&im);
    int kind = i % 4;
    assert_int_equal(image_alloc(&im, w, h, img_ch[kind], img_depth[kind]), 0);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < im.channels; ++c) {
                size_t k = ((size_t)y * (size_t)w + (size_t)x) * (size_t)im.channels + (size_t)c;
                unsigned v = c == 3 ? 200u : syn_rgb(i, x, y, c);
                if (im.u8) im.u8[k] = (uint8_t)v;
                else im.u16[k] = (uint16_t)(v * 256u + (unsigned)((x * 7 + c) & 255)); /* low byte is dropped */
            }
    char path[256];
    snprintf(path, sizeof path, "%s/image/%06d.png", dir, i);
    assert_int_equal(image_write_png(path, &im), 0);
    assert_int_equal(image_alloc(&im, w, h, mask_ch[kind], 8), 0);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < im.channels; ++c) {
                unsigned m = syn_mask(i, x, y);
                unsigned v = im.channels == 2             ? (c == 0 ? m : 255u)
                             : c == 2 || im.channels == 1 ? m
                             : c == 0                     ? 255u - m
                                                          : 17u;
                im.u8[((size_t)y * (size_t)w + (size_t)x) * (size_t)im.channels + (size_t)c] = (uint8_t)v;
            }
    snprintf(path, sizeof path, "%s/mask/%03d.png", dir, i);
    assert_int_equal(image_write_png(path, &im), 0);
    image_free(&im);
}

static void make_dirs(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/image", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/mask", dir);
    assert_int_equal(mkdir(path, 0700), 0);
}

/* A synthetic scene in dir: PNGs here, cameras.npz through numpy (Fortran-order scale_mat). */
static void write_syn_scene(const char *dir, const syn_truth *T)
{
    make_dirs(dir);
    for (int i = 0; i < SYN_VIEWS; ++i) write_syn_pngs(dir, i, SYN_W, SYN_H);
    double mats[2 * SYN_VIEWS * 16];
    for (int i = 0; i < SYN_VIEWS; ++i) {
        memcpy(mats + 16 * i, T->world[i], 16 * sizeof(double));
        memcpy(mats + 16 * (SYN_VIEWS + i), T->scale, 16 * sizeof(double));
    }
    char mats_path[256], npz[256];
    snprintf(mats_path, sizeof mats_path, "%s/mats.f64", dir);
    snprintf(npz, sizeof npz, "%s/cameras.npz", dir);
    tu_write_file(mats_path, mats, sizeof mats);
    assert_int_equal(tu_run_python("%s make-npz %s %s %d", REFERENCE, npz, mats_path, SYN_VIEWS), 0);
    unlink(mats_path);
}

/* ---- reference runs ----------------------------------------------------------------------- */

typedef struct {
    double *rows; /* 16 per ray */
    size_t n, cap;
} ray_table;

static void table_add(ray_table *t, int index, int level, const nsr_rays *r, size_t stride)
{
    for (size_t k = 0; k < r->count; k += stride) {
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 1024;
            t->rows = realloc(t->rows, t->cap * 16 * sizeof(double));
            assert_non_null(t->rows);
        }
        double *row = t->rows + 16 * t->n++;
        row[0] = index, row[1] = level, row[2] = r->pixel[2 * k], row[3] = r->pixel[2 * k + 1];
        for (int a = 0; a < 3; ++a) row[4 + a] = r->origin[3 * k + a], row[7 + a] = r->direction[3 * k + a];
        row[10] = r->near[k], row[11] = r->far[k];
        for (int a = 0; a < 3; ++a) row[12 + a] = r->rgb[3 * k + a];
        row[15] = r->mask[k];
    }
}

/* The reference script on ds's cameras and the rays in t. */
static void check_reference(const char *scratch, const char *dir, const char *cameras, const nsr_dataset *ds,
                            const ray_table *t)
{
    size_t n = 16 + 22 * (size_t)ds->n_views;
    double *cams = malloc(n * sizeof(double));
    assert_non_null(cams);
    memcpy(cams, ds->scale_mat0, 16 * sizeof(double));
    for (int v = 0; v < ds->n_views; ++v) {
        double *row = cams + 16 + 22 * v;
        row[0] = ds->views[v].index;
        memcpy(row + 1, ds->views[v].cam.K, 9 * sizeof(double));
        memcpy(row + 10, ds->views[v].cam.c2w, 12 * sizeof(double));
    }
    char cams_path[256], rays_path[256];
    snprintf(cams_path, sizeof cams_path, "%s/cams.f64", scratch);
    snprintf(rays_path, sizeof rays_path, "%s/rays.f64", scratch);
    tu_write_file(cams_path, cams, n * sizeof(double));
    tu_write_file(rays_path, t->rows, t->n * 16 * sizeof(double));
    free(cams);
    int status = tu_run_python("%s check %s %s %d %s %s", REFERENCE, dir, cameras, ds->downscale, cams_path, rays_path);
    unlink(cams_path), unlink(rays_path);
    assert_int_equal(status, 0);
}

/* ---- geometry ----------------------------------------------------------------------------- */

/* Points X in the unit ball, projected by P (full resolution, normalised frame) to the data
 * set's grid: the ray of that (non-integer) pixel must pass within tol of X, between near and far. */
static void check_rays_through_points(const nsr_view *view, int downscale, const double P[12], rng_t *rng, double tol)
{
    real cam[NSR_CAMERA_REALS];
    nsr_camera_pack(&view->cam, cam);
    for (int trial = 0; trial < 200; ++trial) {
        double X[3];
        do
            for (int a = 0; a < 3; ++a) X[a] = 2 * rng_uniform(rng) - 1;
        while (X[0] * X[0] + X[1] * X[1] + X[2] * X[2] > 1);
        double uvw[3];
        for (int r = 0; r < 3; ++r) uvw[r] = P[4 * r] * X[0] + P[4 * r + 1] * X[1] + P[4 * r + 2] * X[2] + P[4 * r + 3];
        double l = downscale, u = (uvw[0] / uvw[2] - 0.5 * (l - 1)) / l, v = (uvw[1] / uvw[2] - 0.5 * (l - 1)) / l;
        real o[3], d[3], near, far;
        nsr_ray_generate(cam, (real)u, (real)v, o, d, &near, &far);
        double along = 0, dist2 = 0;
        for (int a = 0; a < 3; ++a) along += (X[a] - o[a]) * d[a];
        for (int a = 0; a < 3; ++a) {
            double e = X[a] - o[a] - along * d[a];
            dist2 += e * e;
        }
        if (!(sqrt(dist2) < tol)) fail_msg("view %d: ray misses X by %.3g (tol %.1g)", view->index, sqrt(dist2), tol);
        if (!(along > near - tol && along < far + tol))
            fail_msg("view %d: X at t = %.6f outside [near %.6f, far %.6f]", view->index, along, (double)near,
                     (double)far);
    }
}

/* ---- tests: splits ------------------------------------------------------------------------ */

static void test_split(void **state)
{
    (void)state;
    int views[49];
    int n_test = nsr_split_views(49, 7, NSR_SPLIT_TEST, views);
    assert_int_equal(n_test, 7);
    for (int k = 0; k < 7; ++k) assert_int_equal(views[k], 7 * k);
    int n_train = nsr_split_views(49, 0, NSR_SPLIT_TRAIN, views);
    assert_int_equal(n_train, 42);
    for (int k = 0; k < n_train; ++k) {
        assert_false(nsr_view_is_test(views[k], NSR_TEST_EVERY));
        assert_true(views[k] % 7 != 0);
    }
    assert_int_equal(nsr_split_views(49, 7, NSR_SPLIT_ALL, views), 49);
    assert_true(nsr_view_is_test(0, 7) && nsr_view_is_test(42, 7) && !nsr_view_is_test(43, 7));
    assert_false(nsr_view_is_test(0, 0));
    assert_int_equal(nsr_split_views(64, 7, NSR_SPLIT_TEST, views), 10); /* 0 … 63 */
}

/* ---- tests: decomposition ----------------------------------------------------------------- */

static double max_rel_diff(const double *a, const double *b, int n)
{
    double scale = 0, diff = 0;
    for (int k = 0; k < n; ++k) scale = fmax(scale, fabs(b[k])), diff = fmax(diff, fabs(a[k] - b[k]));
    return diff / fmax(scale, 1e-300);
}

/* Known K (skew), R, t, both signs of P and any positive scale: the decomposition returns them. */
static void test_decompose_known(void **state)
{
    (void)state;
    syn_truth T;
    make_truth(&T, 3);
    for (int i = 0; i < SYN_VIEWS; ++i)
        for (int sign = -1; sign <= 1; sign += 2) {
            double P[12];
            for (int k = 0; k < 12; ++k) P[k] = sign * (1e3 + 500.0 * i) * T.P[i][k];
            nsr_camera cam;
            assert_int_equal(nsr_camera_from_projection(P, &cam), 0);
            assert_true(max_rel_diff(cam.K, T.K[i], 9) < 1e-12);
            assert_true(max_rel_diff(cam.R, T.R[i], 9) < 1e-12);
            assert_true(max_rel_diff(cam.centre, T.C[i], 3) < 1e-12);
            assert_true(max_rel_diff(cam.t, T.t[i], 3) < 1e-12);
            assert_true(max_rel_diff(cam.P, T.P[i], 12) < 1e-12);
            for (int r = 0; r < 3; ++r) {
                assert_true(fabs(cam.c2w[4 * r + 3] - cam.centre[r]) == 0);
                for (int c = 0; c < 3; ++c) assert_true(cam.c2w[4 * r + c] == cam.R[3 * c + r]);
            }
        }
    /* a singular P and a non-finite one */
    double P[12];
    memcpy(P, T.P[0], sizeof P);
    for (int c = 0; c < 4; ++c) P[8 + c] = P[c] + 2 * P[4 + c];
    nsr_camera cam;
    assert_int_equal(nsr_camera_from_projection(P, &cam), -1);
    assert_error_contains("singular");
    memcpy(P, T.P[0], sizeof P);
    P[6] = NAN;
    assert_int_equal(nsr_camera_from_projection(P, &cam), -1);
    assert_error_mentions("(1, 2)", "not finite");
    /* downscale: the box centre of pixel (i, j) is the full-resolution (l i + (l−1)/2, l j + (l−1)/2) */
    nsr_camera full, small;
    assert_int_equal(nsr_camera_from_projection(T.P[2], &full), 0);
    assert_int_equal(nsr_camera_downscale(&full, 4, &small), 0);
    real a[NSR_CAMERA_REALS], b[NSR_CAMERA_REALS], da[3], db[3];
    nsr_camera_pack(&full, a);
    nsr_camera_pack(&small, b);
    nsr_ray_direction(b, 5, 7, db);
    nsr_ray_direction(a, 4 * 5 + 1.5f, 4 * 7 + 1.5f, da);
    for (int k = 0; k < 3; ++k) assert_true(fabs(da[k] - db[k]) < 1e-6);
    for (int r = 0; r < 3; ++r) /* the downscaled P is K' [R | t] */
        for (int c = 0; c < 4; ++c) {
            double v = 0;
            for (int q = 0; q < 3; ++q) v += small.K[3 * r + q] * (c < 3 ? small.R[3 * q + c] : small.t[q]);
            assert_true(fabs(small.P[4 * r + c] - v) < 1e-9 * fabs(full.P[0]));
        }
    assert_int_equal(nsr_camera_downscale(&full, 0, &small), -1);
}

/* ---- tests: synthetic scene --------------------------------------------------------------- */

static void test_synthetic_scene(void **state)
{
    fixture *fx = *state;
    syn_truth T;
    make_truth(&T, 7);
    char dir[128];
    tu_scratch_path(fx, "scene", dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_syn_scene(dir, &T);

    nsr_dataset ds;
    nsr_dataset_options opt = {.cameras = "cameras.npz"};
    if (nsr_dataset_load(dir, &opt, &ds) != 0) fail_msg("%s", err_message());
    assert_int_equal(ds.n_total, SYN_VIEWS);
    assert_int_equal(ds.n_views, SYN_VIEWS);
    assert_int_equal(ds.width, SYN_W);
    assert_int_equal(ds.height, SYN_H);
    for (int k = 0; k < 16; ++k) assert_true(ds.scale_mat0[k] == T.scale[k]); /* Fortran order honoured */
    for (int v = 0; v < ds.n_views; ++v) {
        const nsr_view *view = &ds.views[v];
        int i = view->index;
        assert_int_equal(i, v);
        if (max_rel_diff(view->cam.K, T.K[i], 9) > 1e-12 || max_rel_diff(view->cam.R, T.R[i], 9) > 1e-12 ||
            max_rel_diff(view->cam.centre, T.C[i], 3) > 1e-12)
            fail_msg("view %d: decomposition differs from the truth (K %.2e, R %.2e, centre %.2e)", i,
                     max_rel_diff(view->cam.K, T.K[i], 9), max_rel_diff(view->cam.R, T.R[i], 9),
                     max_rel_diff(view->cam.centre, T.C[i], 3));
        /* the samples as written: sample / 256, the blue channel of a colour mask */
        for (int y = 0; y < SYN_H; y += 5)
            for (int x = 0; x < SYN_W; x += 3) {
                size_t p = (size_t)y * SYN_W + (size_t)x;
                for (int c = 0; c < 3; ++c)
                    assert_int_equal(view->rgb[3 * p + c], syn_rgb(i, x, y, i % 4 == 1 ? 0 : c));
                assert_int_equal(view->mask[p], syn_mask(i, x, y));
            }
    }

    rng_t rng;
    rng_seed(&rng, 5, 0);
    ray_table table = {0};
    nsr_rays rays = {0};
    for (int v = 0; v < ds.n_views; ++v) {
        assert_int_equal(nsr_random_rays(&ds, v, &rng, 0, 0, 64, &rays), 0);
        table_add(&table, ds.views[v].index, 1, &rays, 1);
        assert_int_equal(nsr_view_rays(&ds, v, v % 2 ? 1 : 3, &rays), 0);
        table_add(&table, ds.views[v].index, v % 2 ? 1 : 3, &rays, 5);
        check_rays_through_points(&ds.views[v], 1, T.P[ds.views[v].index], &rng, 1e-5);
    }
    check_reference(fx->dir, dir, "cameras.npz", &ds, &table);
    nsr_dataset_free(&ds);

    /* downscale 3: 64 × 48 → 21 × 16 (the last column dropped); a subset of views */
    table.n = 0;
    static const int subset[3] = {6, 1, 2};
    nsr_dataset_options opt3 = {.cameras = "cameras.npz", .downscale = 3, .views = subset, .n_views = 3};
    if (nsr_dataset_load(dir, &opt3, &ds) != 0) fail_msg("%s", err_message());
    assert_int_equal(ds.width, 21);
    assert_int_equal(ds.height, 16);
    assert_int_equal(ds.n_views, 3);
    assert_int_equal(ds.views[0].index, 6);
    assert_int_equal(nsr_dataset_find_view(&ds, 2), 2);
    assert_int_equal(nsr_dataset_find_view(&ds, 0), -1);
    for (int v = 0; v < ds.n_views; ++v) {
        nsr_camera full, expect;
        assert_int_equal(nsr_camera_from_projection(T.P[ds.views[v].index], &full), 0);
        assert_int_equal(nsr_camera_downscale(&full, 3, &expect), 0);
        assert_true(max_rel_diff(ds.views[v].cam.K, expect.K, 9) < 1e-12);
        assert_int_equal(nsr_random_rays(&ds, v, &rng, 1, 0, 100, &rays), 0);
        table_add(&table, ds.views[v].index, 1, &rays, 1);
        assert_int_equal(nsr_view_rays(&ds, v, 2, &rays), 0);
        assert_int_equal(rays.count, 10 * 8);
        table_add(&table, ds.views[v].index, 2, &rays, 1);
        check_rays_through_points(&ds.views[v], 3, T.P[ds.views[v].index], &rng, 1e-5);
    }
    check_reference(fx->dir, dir, "cameras.npz", &ds, &table);
    nsr_dataset_free(&ds);

    /* the training split */
    nsr_dataset_options train = {
        .cameras = "cameras.npz", .split = NSR_SPLIT_TRAIN, .test_every = 3, .cameras_only = 1};
    assert_int_equal(nsr_dataset_load(dir, &train, &ds), 0);
    assert_int_equal(ds.n_views, 5); /* 1 2 4 5 7 */
    assert_int_equal(ds.views[2].index, 4);
    assert_null(ds.views[0].rgb);
    assert_int_equal(nsr_random_rays(&ds, 0, &rng, 0, 0, 4, &rays), -1);
    assert_error_contains("cameras_only");
    assert_int_equal(nsr_view_rays(&ds, 0, 4, &rays), 0);
    assert_true(isnan(rays.rgb[0]) && isnan(rays.mask[0]));
    assert_int_equal(nsr_view_rays(&ds, 5, 1, &rays), -1);
    assert_error_contains("out of range");
    nsr_dataset_free(&ds);
    nsr_rays_free(&rays);
    free(table.rows);
}

/* Strecha's .camera text of view i of T: K, no distortion, the camera → world rotation Rᵀ, the
 * world centre (scale · C + shift), the image size; `tweak` 1 distortion, 2 a NaN, 3 one number
 * short, 4 the wrong size. */
static void write_strecha_camera(const char *path, const syn_truth *T, int i, int tweak)
{
    const double *K = T->K[i], *R = T->R[i], *C = T->C[i], s = T->scale[0];
    char text[2048];
    int n = 0;
    for (int r = 0; r < 3; ++r) n += snprintf(text + n, sizeof text - n, "%.17g %.17g %.17g\n", K[3 * r], K[3 * r + 1], K[3 * r + 2]);
    n += snprintf(text + n, sizeof text - n, tweak == 1 ? "0.01 0 0\n" : "0 0 0\n");
    for (int r = 0; r < 3; ++r) n += snprintf(text + n, sizeof text - n, "%.17g %.17g %.17g\n", R[r], R[3 + r], R[6 + r]);
    n += snprintf(text + n, sizeof text - n, tweak == 2 ? "nan " : "%.17g ", s * C[0] + T->scale[3]);
    n += snprintf(text + n, sizeof text - n, "%.17g %.17g\n", s * C[1] + T->scale[7], s * C[2] + T->scale[11]);
    if (tweak != 3) snprintf(text + n, sizeof text - n, "%d %d\n", SYN_W + (tweak == 4), SYN_H);
    tu_write_text(path, text);
}

/* The EPFL benchmark's layout (Strecha's *.png + <image>.camera, no masks) gives the cameras of
 * the NeuS layout when its region is the box whose inscribing sphere is the scale_mat's; bad
 * camera files and a missing region are named errors. */
static void test_strecha_layout(void **state)
{
    fixture *fx = *state;
    syn_truth T;
    make_truth(&T, 11);
    char dir[128], images[160], path[256];
    tu_scratch_path(fx, "epfl", dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    make_dirs(dir);
    for (int i = 0; i < SYN_VIEWS; ++i) write_syn_pngs(dir, i, SYN_W, SYN_H);
    snprintf(images, sizeof images, "%s/image", dir);
    for (int i = 0; i < SYN_VIEWS; ++i) {
        snprintf(path, sizeof path, "%s/%06d.png.camera", images, i);
        write_strecha_camera(path, &T, i, 0);
    }
    const double s = T.scale[0], h = s / sqrt(3.0);
    double region[6];
    for (int a = 0; a < 3; ++a) region[a] = T.scale[4 * a + 3] - h, region[3 + a] = T.scale[4 * a + 3] + h;
    nsr_dataset ds;
    nsr_dataset_options opt = {.format = NSR_FORMAT_STRECHA, .region = region};
    if (nsr_dataset_load(images, &opt, &ds) != 0) fail_msg("%s", err_message());
    assert_int_equal(ds.n_views, SYN_VIEWS);
    assert_true(max_rel_diff(ds.scale_mat0, T.scale, 16) < 1e-14);
    double worst = 0;
    for (int v = 0; v < ds.n_views; ++v) {
        const nsr_view *view = &ds.views[v];
        const int i = view->index;
        worst = fmax(worst, fmax(max_rel_diff(view->cam.K, T.K[i], 9),
                                 fmax(max_rel_diff(view->cam.R, T.R[i], 9), max_rel_diff(view->cam.centre, T.C[i], 3))));
        for (int p = 0; p < SYN_W * SYN_H; p += 97) {
            assert_int_equal(view->mask[p], 255);
            assert_int_equal(view->rgb[3 * p], syn_rgb(i, p % SYN_W, p / SYN_W, 0));
        }
    }
    printf("Strecha layout: %d views, K, R and centre within %.2g of the NeuS-layout truth\n", ds.n_views, worst);
    assert_true(worst < 1e-12);
    nsr_dataset_free(&ds);

    static const char *const expected[] = {"radial distortion", "number 22 is not finite", "expected 26 numbers",
                                           "the camera is for 65 x 48 images"};
    snprintf(path, sizeof path, "%s/%06d.png.camera", images, 3);
    for (int tweak = 1; tweak <= 4; ++tweak) {
        write_strecha_camera(path, &T, 3, tweak);
        assert_int_equal(nsr_dataset_load(images, &opt, &ds), -1);
        assert_error_contains(expected[tweak - 1]);
        assert_error_contains("000003.png.camera");
    }
    unlink(path);
    assert_int_equal(nsr_dataset_load(images, &opt, &ds), -1);
    assert_error_contains("000003.png.camera");
    nsr_dataset_options no_region = {.format = NSR_FORMAT_STRECHA};
    assert_int_equal(nsr_dataset_load(images, &no_region, &ds), -1);
    assert_error_contains("region");
}

/* Random rays: reproducible, independent of how a batch is split by `first`, uniform over pixels. */
static void test_random_rays(void **state)
{
    fixture *fx = *state;
    syn_truth T;
    make_truth(&T, 9);
    char dir[128];
    tu_scratch_path(fx, "scene", dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_syn_scene(dir, &T);
    nsr_dataset ds;
    nsr_dataset_options opt = {.cameras = "cameras.npz", .downscale = 3, .views = (const int[]){4}, .n_views = 1};
    if (nsr_dataset_load(dir, &opt, &ds) != 0) fail_msg("%s", err_message());
    rng_t rng;
    rng_seed(&rng, 123, 0);
    nsr_rays all = {0}, part = {0}, other = {0};
    const size_t n = 20000;
    assert_int_equal(nsr_random_rays(&ds, 0, &rng, 17, 0, n, &all), 0);
    assert_int_equal(nsr_random_rays(&ds, 0, &rng, 17, 1000, 50, &part), 0);
    assert_int_equal(memcmp(part.pixel, all.pixel + 2 * 1000, 50 * 2 * sizeof(int32_t)), 0);
    assert_int_equal(memcmp(part.direction, all.direction + 3 * 1000, 50 * 3 * sizeof(real)), 0);
    assert_int_equal(memcmp(part.rgb, all.rgb + 3 * 1000, 50 * 3 * sizeof(real)), 0);
    assert_int_equal(nsr_random_rays(&ds, 0, &rng, 18, 1000, 50, &other), 0);
    assert_int_not_equal(memcmp(part.pixel, other.pixel, 50 * 2 * sizeof(int32_t)), 0);
    int hits[21 * 16] = {0};
    for (size_t k = 0; k < n; ++k) {
        int x = all.pixel[2 * k], y = all.pixel[2 * k + 1];
        assert_true(x >= 0 && x < 21 && y >= 0 && y < 16);
        hits[y * 21 + x]++;
        size_t p = (size_t)y * 21 + (size_t)x;
        for (int c = 0; c < 3; ++c) assert_true(all.rgb[3 * k + c] == (real)ds.views[0].rgb[3 * p + c] / 256);
        assert_true(all.mask[k] == (real)ds.views[0].mask[p] / 256);
        double len = 0;
        for (int a = 0; a < 3; ++a) len += all.direction[3 * k + a] * all.direction[3 * k + a];
        assert_true(fabs(len - 1) < 1e-6);
        assert_true(all.far[k] - all.near[k] > 2 - 1e-5 && all.far[k] - all.near[k] < 2 + 1e-5);
    }
    /* 20000 draws over 336 pixels: about 60 each; a missed or doubled pixel shows */
    for (int p = 0; p < 21 * 16; ++p)
        if (hits[p] < 25 || hits[p] > 110) fail_msg("pixel %d drawn %d times of %zu", p, hits[p], n);
    nsr_rays_free(&all), nsr_rays_free(&part), nsr_rays_free(&other);
    nsr_dataset_free(&ds);
}

/* ---- tests: DTU scan 65 ------------------------------------------------------------------- */

static void read_P(const char *cameras, int i, double P[12])
{
    char path[256], name[32];
    snprintf(path, sizeof path, "%s/%s", DTU, cameras);
    ndarray w, s;
    ndarray_init(&w), ndarray_init(&s);
    snprintf(name, sizeof name, "world_mat_%d", i);
    assert_int_equal(npz_read(path, name, &w), 0);
    snprintf(name, sizeof name, "scale_mat_%d", i);
    assert_int_equal(npz_read(path, name, &s), 0);
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 4; ++c) {
            double v = 0;
            for (int q = 0; q < 4; ++q) v += w.data[4 * r + q] * s.data[4 * q + c];
            P[4 * r + c] = v;
        }
    ndarray_free(&w), ndarray_free(&s);
}

/* All 49 cameras of both normalisations against scipy, and the README's known answers. */
static void test_dtu_cameras(void **state)
{
    fixture *fx = *state;
    nsr_dataset ds;
    nsr_dataset_options opt = {.cameras_only = 1};
    double t0 = seconds_now();
    if (nsr_dataset_load(DTU, &opt, &ds) != 0) fail_msg("%s", err_message());
    printf("dtu_scan65 cameras only: %.3f s\n", seconds_now() - t0);
    assert_int_equal(ds.n_total, 49);
    assert_int_equal(ds.full_width, 1600);
    assert_int_equal(ds.full_height, 1200);
    /* data/README.md: view 0 and 24 (fx fy cx cy, centre), scale_mat_0 */
    const nsr_camera *c0 = &ds.views[0].cam, *c24 = &ds.views[24].cam;
    const double k0[4] = {2892.330, 2883.175, 823.205, 619.071}, k24[4] = {2892.331, 2883.176, 823.204, 619.070};
    const double got0[4] = {c0->K[0], c0->K[4], c0->K[2], c0->K[5]};
    const double got24[4] = {c24->K[0], c24->K[4], c24->K[2], c24->K[5]};
    for (int k = 0; k < 4; ++k) assert_true(fabs(got0[k] - k0[k]) < 1e-3 && fabs(got24[k] - k24[k]) < 1e-3);
    /* the README's skews (≈ 0, 0.001) are rounding-level: the float32 product world_mat · scale_mat
     * alone moves view 24's from 0.00038 to 0.00044; the reference checks the exact value */
    assert_true(fabs(c0->K[1]) < 2e-3 && fabs(c24->K[1]) < 2e-3);
    const double centre0[3] = {1.33003, 0.16293, -3.74336}, centre24[3] = {3.43452, 0.76650, -2.20436};
    for (int a = 0; a < 3; ++a)
        assert_true(fabs(c0->centre[a] - centre0[a]) < 1e-5 && fabs(c24->centre[a] - centre24[a]) < 1e-5);
    assert_true(fabs(ds.scale_mat0[0] - 164.6044) < 1e-4 && fabs(ds.scale_mat0[3] + 28.0948) < 1e-4 &&
                fabs(ds.scale_mat0[7] + 27.9793) < 1e-4 && fabs(ds.scale_mat0[11] - 640.4341) < 1e-4);

    rng_t rng;
    rng_seed(&rng, 65, 0);
    ray_table table = {0};
    nsr_rays rays = {0};
    static const int probe[3] = {0, 24, 48};
    for (int k = 0; k < 3; ++k) {
        assert_int_equal(nsr_view_rays(&ds, probe[k], 16, &rays), 0);
        assert_int_equal(rays.count, 100 * 75);
        table_add(&table, probe[k], 16, &rays, 7);
        assert_int_equal(nsr_view_rays(&ds, probe[k], 1, &rays), 0); /* NeuS's own integer grid */
        table_add(&table, probe[k], 1, &rays, 9973);
        double P[12];
        read_P("cameras_sphere.npz", probe[k], P);
        check_rays_through_points(&ds.views[probe[k]], 1, P, &rng, 1e-5);
    }
    check_reference(fx->dir, DTU, "cameras_sphere.npz", &ds, &table);
    nsr_dataset_free(&ds);

    /* IDR's cameras.npz: scale_mat_i stored in Fortran order */
    table.n = 0;
    nsr_dataset_options idr = {.cameras = "cameras.npz", .cameras_only = 1, .downscale = 2};
    if (nsr_dataset_load(DTU, &idr, &ds) != 0) fail_msg("%s", err_message());
    for (int k = 0; k < 3; ++k) {
        assert_int_equal(nsr_view_rays(&ds, probe[k], 8, &rays), 0);
        table_add(&table, probe[k], 8, &rays, 11);
        double P[12];
        read_P("cameras.npz", probe[k], P);
        check_rays_through_points(&ds.views[probe[k]], 2, P, &rng, 1e-5);
    }
    check_reference(fx->dir, DTU, "cameras.npz", &ds, &table);
    nsr_dataset_free(&ds);
    nsr_rays_free(&rays);
    free(table.rows);
}

/* A few decoded views at downscale 1 and 4: targets and rays against scikit-image and scipy. */
static void test_dtu_images(void **state)
{
    fixture *fx = *state;
    rng_t rng;
    rng_seed(&rng, 66, 0);
    ray_table table = {0};
    nsr_rays rays = {0};
    nsr_dataset ds;
    for (int pass = 0; pass < 2; ++pass) {
        static const int views1[2] = {0, 24}, views4[2] = {48, 7};
        int l = pass ? 4 : 1;
        nsr_dataset_options opt = {.downscale = l, .views = pass ? views4 : views1, .n_views = 2};
        double t0 = seconds_now();
        if (nsr_dataset_load(DTU, &opt, &ds) != 0) fail_msg("%s", err_message());
        printf("dtu_scan65, 2 views at downscale %d: %.3f s\n", l, seconds_now() - t0);
        assert_int_equal(ds.width, 1600 / l);
        assert_int_equal(ds.height, 1200 / l);
        table.n = 0;
        size_t inside = 0;
        for (int v = 0; v < 2; ++v) {
            assert_int_equal(nsr_random_rays(&ds, v, &rng, (uint64_t)v, 0, 1500, &rays), 0);
            table_add(&table, ds.views[v].index, 1, &rays, 1);
            for (size_t k = 0; k < rays.count; ++k) inside += rays.mask[k] > 0.5;
            assert_int_equal(nsr_view_rays(&ds, v, 5, &rays), 0);
            table_add(&table, ds.views[v].index, 5, &rays, 13);
        }
        assert_true(inside > 30 && inside < 2900); /* the object covers part of each view */
        check_reference(fx->dir, DTU, "cameras_sphere.npz", &ds, &table);
        nsr_dataset_free(&ds);
    }
    nsr_rays_free(&rays);
    free(table.rows);
}

/* ---- tests: bad input --------------------------------------------------------------------- */

#define BAD_VIEWS 4

/* A small valid scene written without Python: 8 × 6 PNGs, cameras_sphere.npz in C order. */
static void write_small_scene(const char *dir, int skip_world, int extra_camera, double bad_value, int singular)
{
    syn_truth T;
    make_truth(&T, 21);
    make_dirs(dir);
    for (int i = 0; i < BAD_VIEWS; ++i) write_syn_pngs(dir, i, 8, 6);
    int n = BAD_VIEWS + (extra_camera ? 1 : 0);
    ndarray mats[2 * (BAD_VIEWS + 1)];
    npz_entry entries[2 * (BAD_VIEWS + 1)];
    char names[2 * (BAD_VIEWS + 1)][32];
    int m = 0;
    for (int i = 0; i < n; ++i)
        for (int kind = 0; kind < 2; ++kind) {
            if (kind == 0 && i == skip_world) continue;
            ndarray *a = &mats[m];
            ndarray_init(a);
            assert_int_equal(ndarray_alloc(a, 2, (size_t[]){4, 4}), 0);
            memcpy(a->data, kind ? T.scale : T.world[i % BAD_VIEWS], 16 * sizeof(double));
            if (kind == 0 && i == 1 && bad_value != 0) a->data[6] = bad_value;
            if (kind == 0 && i == 1 && singular)
                for (int c = 0; c < 4; ++c) a->data[8 + c] = a->data[c];
            snprintf(names[m], sizeof names[m], "%s_%d", kind ? "scale_mat" : "world_mat", i);
            entries[m] = (npz_entry){names[m], a, NDARRAY_F32};
            m++;
        }
    char path[256];
    snprintf(path, sizeof path, "%s/cameras_sphere.npz", dir);
    assert_int_equal(npz_write(path, entries, (size_t)m, 0), 0);
    for (int k = 0; k < m; ++k) ndarray_free(&mats[k]);
}

static void expect_load_error(const char *dir, const nsr_dataset_options *opt, const char *what1, const char *what2)
{
    nsr_dataset ds;
    memset(&ds, 0x5a, sizeof ds);
    err_clear();
    assert_int_equal(nsr_dataset_load(dir, opt, &ds), -1);
    assert_null(ds.views);
    assert_null(ds.dir);
    assert_int_equal(ds.n_views, 0);
    assert_error_mentions(what1, what2);
}

static void scene_path(const fixture *fx, const char *tag, char *dir, size_t size)
{
    tu_scratch_path(fx, tag, dir, size);
    assert_int_equal(mkdir(dir, 0700), 0);
}

static void test_bad_files(void **state)
{
    fixture *fx = *state;
    char dir[128], path[256];

    expect_load_error("/nonexistent/phive_scene", NULL, "/nonexistent/phive_scene", "No such file");

    scene_path(fx, "ok", dir, sizeof dir);
    write_small_scene(dir, -1, 0, 0, 0);
    nsr_dataset ds;
    if (nsr_dataset_load(dir, NULL, &ds) != 0) fail_msg("the valid small scene: %s", err_message());
    nsr_dataset_free(&ds);
    nsr_dataset_options big = {.downscale = 7};
    expect_load_error(dir, &big, dir, "downscale 7");
    nsr_dataset_options neg = {.downscale = -2};
    expect_load_error(dir, &neg, dir, "downscale -2");
    nsr_dataset_options range = {.views = (const int[]){1, 4}, .n_views = 2};
    expect_load_error(dir, &range, dir, "view 4");
    nsr_dataset_options twice = {.views = (const int[]){1, 1}, .n_views = 2};
    expect_load_error(dir, &twice, dir, "twice");
    nsr_dataset_options other = {.cameras = "cameras_large.npz"};
    snprintf(path, sizeof path, "%s/cameras_large.npz", dir);
    expect_load_error(dir, &other, path, "cannot open");

    /* no mask directory */
    scene_path(fx, "nomask", dir, sizeof dir);
    write_small_scene(dir, -1, 0, 0, 0);
    for (int i = 0; i < BAD_VIEWS; ++i) {
        snprintf(path, sizeof path, "%s/mask/%03d.png", dir, i);
        assert_int_equal(unlink(path), 0);
    }
    snprintf(path, sizeof path, "%s/mask", dir);
    assert_int_equal(rmdir(path), 0);
    expect_load_error(dir, NULL, path, "cannot open directory");

    /* one mask fewer; one image more */
    scene_path(fx, "fewer", dir, sizeof dir);
    write_small_scene(dir, -1, 0, 0, 0);
    snprintf(path, sizeof path, "%s/mask/%03d.png", dir, 2);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof path, "%s/mask", dir);
    expect_load_error(dir, NULL, path, "3 masks");
    scene_path(fx, "more", dir, sizeof dir);
    write_small_scene(dir, -1, 0, 0, 0);
    write_syn_pngs(dir, BAD_VIEWS, 8, 6); /* image and mask 4: five images, four cameras */
    snprintf(path, sizeof path, "%s/cameras_sphere.npz", dir);
    expect_load_error(dir, NULL, path, "world_mat_4");

    /* an image of another size; a mask whose size is not its image's */
    scene_path(fx, "size", dir, sizeof dir);
    write_small_scene(dir, -1, 0, 0, 0);
    image im;
    image_init(&im);
    assert_int_equal(image_alloc(&im, 9, 6, 3, 8), 0);
    snprintf(path, sizeof path, "%s/image/%06d.png", dir, 2);
    assert_int_equal(image_write_png(path, &im), 0);
    expect_load_error(dir, NULL, path, "9 x 6");
    scene_path(fx, "masksize", dir, sizeof dir);
    write_small_scene(dir, -1, 0, 0, 0);
    snprintf(path, sizeof path, "%s/mask/%03d.png", dir, 3);
    assert_int_equal(image_write_png(path, &im), 0);
    expect_load_error(dir, NULL, path, "mask is 9 x 6");
    image_free(&im);

    /* a truncated PNG (header intact, so only decoding finds it) and a file that is no PNG */
    scene_path(fx, "badpng", dir, sizeof dir);
    write_small_scene(dir, -1, 0, 0, 0);
    snprintf(path, sizeof path, "%s/image/%06d.png", dir, 1);
    size_t size;
    char *bytes = tu_read_file(path, &size);
    tu_write_file(path, bytes, size / 2);
    free(bytes);
    expect_load_error(dir, NULL, path, "");
    nsr_dataset_options cams_only = {.cameras_only = 1};
    assert_int_equal(nsr_dataset_load(dir, &cams_only, &ds), 0); /* no decoding, no error */
    nsr_dataset_free(&ds);
    tu_write_text(path, "not a png at all, but long enough");
    expect_load_error(dir, NULL, path, "not a PNG");
}

static void test_bad_cameras(void **state)
{
    fixture *fx = *state;
    char dir[128], path[256];

    scene_path(fx, "noworld", dir, sizeof dir);
    write_small_scene(dir, 2, 0, 0, 0);
    snprintf(path, sizeof path, "%s/cameras_sphere.npz", dir);
    expect_load_error(dir, NULL, path, "no world_mat_2");

    scene_path(fx, "extra", dir, sizeof dir);
    write_small_scene(dir, -1, 1, 0, 0);
    snprintf(path, sizeof path, "%s/cameras_sphere.npz", dir);
    expect_load_error(dir, NULL, path, "5 cameras");

    scene_path(fx, "nan", dir, sizeof dir);
    write_small_scene(dir, -1, 0, NAN, 0);
    snprintf(path, sizeof path, "%s/cameras_sphere.npz", dir);
    expect_load_error(dir, NULL, path, "world_mat_1 entry (1, 2) is not finite");
    scene_path(fx, "inf", dir, sizeof dir);
    write_small_scene(dir, -1, 0, INFINITY, 0);
    snprintf(path, sizeof path, "%s/cameras_sphere.npz", dir);
    expect_load_error(dir, NULL, path, "not finite");

    scene_path(fx, "singular", dir, sizeof dir);
    write_small_scene(dir, -1, 0, 0, 1);
    snprintf(path, sizeof path, "%s/cameras_sphere.npz", dir);
    expect_load_error(dir, NULL, path, "singular");
    assert_error_contains("view 1");

    scene_path(fx, "truncated", dir, sizeof dir);
    write_small_scene(dir, -1, 0, 0, 0);
    snprintf(path, sizeof path, "%s/cameras_sphere.npz", dir);
    size_t size;
    char *bytes = tu_read_file(path, &size);
    tu_write_file(path, bytes, size * 2 / 3);
    free(bytes);
    expect_load_error(dir, NULL, path, ".npz");

    unlink(path);
    expect_load_error(dir, NULL, path, "cannot open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_decompose_known),
        cmocka_unit_test_setup_teardown(test_synthetic_scene, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_rays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtu_cameras, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtu_images, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_cameras, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strecha_layout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
