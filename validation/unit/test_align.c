/* test_align.c — Umeyama / Procrustes (exact, noisy, weighted, mirrored,
 * degenerate) and rigid ICP (point-to-point, point-to-plane, partial overlap),
 * with comparisons against numpy/scipy and Open3D
 * (validation/reference/align_reference.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phive/align.h"
#include "phive/errors.h"
#include "phive/rng.h"

#include "test_util.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static void random_rotation(rng_t *rng, double max_angle, double R[9])
{
    double axis[3] = {rng_normal(rng), rng_normal(rng), rng_normal(rng)};
    double len = sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
    double angle = max_angle * (0.5 + 0.5 * rng_uniform(rng)), c = cos(angle), s = sin(angle);
    double x = axis[0] / len, y = axis[1] / len, z = axis[2] / len;
    const double r[9] = {c + x * x * (1 - c),     x * y * (1 - c) - z * s, x * z * (1 - c) + y * s,
                         y * x * (1 - c) + z * s, c + y * y * (1 - c),     y * z * (1 - c) - x * s,
                         z * x * (1 - c) - y * s, z * y * (1 - c) + x * s, c + z * z * (1 - c)};
    memcpy(R, r, sizeof r);
}

static void random_transform(rng_t *rng, double max_angle, double max_shift, double scale, align_transform *T)
{
    random_rotation(rng, max_angle, T->R);
    for (int a = 0; a < 3; ++a) T->t[a] = max_shift * (2 * rng_uniform(rng) - 1);
    T->s = scale;
}

/* n points in an anisotropic box, away from any symmetry. */
static float *random_cloud(rng_t *rng, size_t n)
{
    float *p = malloc(n * 3 * sizeof(float));
    assert_non_null(p);
    const double half[3] = {1.0, 0.6, 0.35};
    for (size_t i = 0; i < 3 * n; ++i) p[i] = (float)(half[i % 3] * (2 * rng_uniform(rng) - 1) + 0.3);
    return p;
}

static double rotation_angle_between(const double a[9], const double b[9])
{
    double trace = 0; /* trace(aᵀ b) */
    for (int k = 0; k < 9; ++k) trace += a[k] * b[k];
    return acos(fmax(-1.0, fmin(1.0, (trace - 1) / 2)));
}

static void assert_transform_near(const align_transform *a, const align_transform *b, double tol)
{
    for (int k = 0; k < 9; ++k)
        if (fabs(a->R[k] - b->R[k]) > tol) fail_msg("R[%d]: %.9g vs %.9g", k, a->R[k], b->R[k]);
    for (int k = 0; k < 3; ++k)
        if (fabs(a->t[k] - b->t[k]) > tol) fail_msg("t[%d]: %.9g vs %.9g", k, a->t[k], b->t[k]);
    if (fabs(a->s - b->s) > tol) fail_msg("s: %.9g vs %.9g", a->s, b->s);
}

static double det3(const double m[9])
{
    return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}

static void inverse(const align_transform *T, align_transform *out)
{
    /* x = Rᵀ(y − t)/s */
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) out->R[3 * r + c] = T->R[3 * c + r];
    out->s = 1 / T->s;
    for (int r = 0; r < 3; ++r)
        out->t[r] = -(out->R[3 * r] * T->t[0] + out->R[3 * r + 1] * T->t[1] + out->R[3 * r + 2] * T->t[2]) / T->s;
}

/* ---- reference runs --------------------------------------------------------------------- */

typedef struct {
    char dir[64];
    char path[8][96];
    int n;
} temp_files;

static void temp_open(temp_files *t)
{
    assert_int_equal(tu_make_scratch(t->dir, sizeof t->dir, "align"), 0);
    t->n = 0;
}

/* Write a raw array into the temporary directory; returns its path. */
static const char *temp_write(temp_files *t, const char *name, const void *data, size_t bytes)
{
    assert_true(t->n < 8);
    char *path = t->path[t->n++], dir[sizeof t->dir];
    memcpy(dir, t->dir, sizeof dir); /* a separate buffer: snprintf's source may not alias its target's object */
    tu_path_in(dir, name, path, sizeof t->path[0]);
    tu_write_file(path, data, bytes);
    return path;
}

static void temp_close(temp_files *t) { tu_remove_tree(t->dir); }

static int run_reference(const char *args)
{
    return tu_run_python("validation/reference/align_reference.py %s", args);
}

static void pack_result(const align_transform *T, double rmse, double fitness, double out[15])
{
    memcpy(out, T->R, 9 * sizeof(double));
    memcpy(out + 9, T->t, 3 * sizeof(double));
    out[12] = T->s, out[13] = rmse, out[14] = fitness;
}

/* numpy's closed form and scipy's Kabsch on the same data must give phive's answer. */
static void check_procrustes_reference(const float *src, const float *dst, const double *w, size_t n, int with_scale,
                                       const align_transform *ours)
{
    temp_files t;
    temp_open(&t);
    double packed[15];
    pack_result(ours, 0, 0, packed);
    const char *ps = temp_write(&t, "src.f32", src, n * 3 * sizeof(float));
    const char *pd = temp_write(&t, "dst.f32", dst, n * 3 * sizeof(float));
    const char *pw = w ? temp_write(&t, "w.f64", w, n * sizeof(double)) : "-";
    const char *po = temp_write(&t, "ours.f64", packed, sizeof packed);
    char args[512];
    snprintf(args, sizeof args, "procrustes %s %s %s %d %s", ps, pd, pw, with_scale, po);
    int status = run_reference(args);
    temp_close(&t);
    assert_int_equal(status, 0);
}

/* ---- Umeyama ---------------------------------------------------------------------------- */

static void test_umeyama_exact(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 11, 0);
    const size_t n = 300;
    float *src = random_cloud(&rng, n), *dst = malloc(n * 3 * sizeof(float));
    assert_non_null(dst);
    for (int with_scale = 0; with_scale < 2; ++with_scale)
        for (int trial = 0; trial < 5; ++trial) {
            align_transform truth, est;
            random_transform(&rng, M_PI, 3.0, with_scale ? 0.3 + 2 * rng_uniform(&rng) : 1.0, &truth);
            align_apply(&truth, src, n, dst);
            assert_int_equal(align_umeyama(src, dst, NULL, n, with_scale, &est), 0);
            assert_transform_near(&est, &truth, 2e-6);
            assert_true(fabs(det3(est.R) - 1) < 1e-12);
        }
    free(src);
    free(dst);
}

/* Weights: zero-weight outliers are ignored exactly; the closed form matches numpy. */
static void test_umeyama_weighted(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 12, 0);
    const size_t n = 200, outliers = 40;
    float *src = random_cloud(&rng, n), *dst = malloc(n * 3 * sizeof(float));
    double *w = malloc(n * sizeof(double));
    assert_true(dst && w);
    align_transform truth, est;
    random_transform(&rng, 2.0, 1.0, 1.4, &truth);
    align_apply(&truth, src, n, dst);
    for (size_t i = 0; i < n; ++i) {
        w[i] = i < outliers ? 0 : 0.5 + rng_uniform(&rng);
        if (i < outliers)
            for (int a = 0; a < 3; ++a) dst[3 * i + a] += (float)(5 * rng_normal(&rng));
    }
    assert_int_equal(align_umeyama(src, dst, w, n, 1, &est), 0);
    assert_transform_near(&est, &truth, 2e-6);
    /* with every weight positive the outliers pull the answer away; numpy agrees */
    for (size_t i = 0; i < outliers; ++i) w[i] = 0.1;
    assert_int_equal(align_umeyama(src, dst, w, n, 1, &est), 0);
    assert_true(rotation_angle_between(est.R, truth.R) > 1e-3);
    check_procrustes_reference(src, dst, w, n, 1, &est);
    free(src);
    free(dst);
    free(w);
}

static void test_umeyama_noise(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 13, 0);
    const size_t n = 500;
    float *src = random_cloud(&rng, n), *dst = malloc(n * 3 * sizeof(float));
    assert_non_null(dst);
    align_transform truth, est;
    random_transform(&rng, 1.0, 2.0, 0.8, &truth);
    align_apply(&truth, src, n, dst);
    for (size_t i = 0; i < 3 * n; ++i) dst[i] += (float)(0.01 * rng_normal(&rng));
    assert_int_equal(align_umeyama(src, dst, NULL, n, 1, &est), 0);
    assert_true(rotation_angle_between(est.R, truth.R) < 0.01);
    assert_true(fabs(est.s / truth.s - 1) < 0.01);
    for (int a = 0; a < 3; ++a) assert_true(fabs(est.t[a] - truth.t[a]) < 0.01);
    check_procrustes_reference(src, dst, NULL, n, 1, &est);
    assert_int_equal(align_umeyama(src, dst, NULL, n, 0, &est), 0);
    check_procrustes_reference(src, dst, NULL, n, 0, &est);
    free(src);
    free(dst);
}

/* A mirrored copy: the best orthogonal map is a reflection; a rotation is returned. */
static void test_umeyama_reflection(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 14, 0);
    const size_t n = 100;
    float *src = random_cloud(&rng, n), *dst = malloc(n * 3 * sizeof(float));
    assert_non_null(dst);
    for (size_t i = 0; i < n; ++i) dst[3 * i] = -src[3 * i], dst[3 * i + 1] = src[3 * i + 1], dst[3 * i + 2] = src[3 * i + 2];
    align_transform est;
    for (int with_scale = 0; with_scale < 2; ++with_scale) {
        assert_int_equal(align_umeyama(src, dst, NULL, n, with_scale, &est), 0);
        assert_true(fabs(det3(est.R) - 1) < 1e-12);
        if (with_scale) assert_true(est.s > 0 && est.s < 1); /* a rotation fits a mirror image only partly */
        check_procrustes_reference(src, dst, NULL, n, with_scale, &est);
    }
    free(src);
    free(dst);
}

static void test_umeyama_errors(void **state)
{
    (void)state;
    const float line[12] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3};
    const float tri_src[9] = {0, 0, 0, 1, 0, 0, 0, 1, 0}, tri_dst[9] = {1, 1, 1, 1, 2, 1, 0, 1, 1};
    align_transform est;
    assert_int_equal(align_umeyama(line, line, NULL, 4, 0, &est), -1);
    assert_non_null(strstr(err_message(), "degenerate"));
    /* three points span a plane: enough, and exact (90° about z plus a shift) */
    assert_int_equal(align_umeyama(tri_src, tri_dst, NULL, 3, 0, &est), 0);
    float moved[9];
    align_apply(&est, tri_src, 3, moved);
    for (int k = 0; k < 9; ++k) assert_true(fabs(moved[k] - tri_dst[k]) < 1e-6);
    const double zero[3] = {0, 0, 0}, negative[3] = {1, -1, 1};
    assert_int_equal(align_umeyama(tri_src, tri_dst, zero, 3, 0, &est), -1);
    assert_non_null(strstr(err_message(), "weight"));
    assert_int_equal(align_umeyama(tri_src, tri_dst, negative, 3, 0, &est), -1);
    float bad[9];
    memcpy(bad, tri_src, sizeof bad);
    bad[4] = NAN;
    assert_int_equal(align_umeyama(bad, tri_dst, NULL, 3, 0, &est), -1);
    assert_int_equal(align_umeyama(tri_src, tri_dst, NULL, 0, 0, &est), -1);
}

static void test_transform_helpers(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 15, 0);
    align_transform a, b, ab, inv, id;
    random_transform(&rng, 2.0, 1.0, 1.3, &a);
    random_transform(&rng, 2.0, 1.0, 0.7, &b);
    align_compose(&a, &b, &ab);
    const float p[3] = {0.3f, -0.2f, 0.9f};
    float pb[3], pab1[3], pab2[3];
    align_apply(&b, p, 1, pb);
    align_apply(&a, pb, 1, pab1);
    align_apply(&ab, p, 1, pab2);
    for (int k = 0; k < 3; ++k) assert_true(fabs(pab1[k] - pab2[k]) < 1e-6);
    inverse(&a, &inv);
    align_compose(&a, &inv, &ab);
    align_identity(&id);
    assert_transform_near(&ab, &id, 1e-12);
}

/* ---- ICP -------------------------------------------------------------------------------- */

/* A curved heightfield z = f(x, y) without symmetries: constrains all 6 DOF. */
static double height(double x, double y, double *fx, double *fy)
{
    *fx = 0.6 * cos(2 * x) * cos(3 * y) + 0.4 * x;
    *fy = -0.9 * sin(2 * x) * sin(3 * y) + 0.1;
    return 0.3 * sin(2 * x) * cos(3 * y) + 0.2 * x * x + 0.1 * y;
}

/* n points of the surface at random (x, y) in [-1, 1]², with unit normals. */
static void sample_surface(rng_t *rng, size_t n, float *points, float *normals)
{
    for (size_t i = 0; i < n; ++i) {
        double x = 2 * rng_uniform(rng) - 1, y = 2 * rng_uniform(rng) - 1, fx, fy;
        double z = height(x, y, &fx, &fy), len = sqrt(fx * fx + fy * fy + 1);
        points[3 * i] = (float)x, points[3 * i + 1] = (float)y, points[3 * i + 2] = (float)z;
        if (normals) normals[3 * i] = (float)(-fx / len), normals[3 * i + 1] = (float)(-fy / len), normals[3 * i + 2] = (float)(1 / len);
    }
}

static void check_icp_reference(const char *method, const float *src, size_t ns, const float *tgt, const float *nrm,
                                size_t nt, double max_dist, int max_iter, const icp_result *r)
{
    temp_files t;
    temp_open(&t);
    double packed[15], init[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    pack_result(&r->transform, r->rmse, r->fitness, packed);
    const char *ps = temp_write(&t, "src.f32", src, ns * 3 * sizeof(float));
    const char *pt = temp_write(&t, "tgt.f32", tgt, nt * 3 * sizeof(float));
    const char *pn = nrm ? temp_write(&t, "nrm.f32", nrm, nt * 3 * sizeof(float)) : "-";
    const char *pi = temp_write(&t, "init.f64", init, sizeof init);
    const char *po = temp_write(&t, "ours.f64", packed, sizeof packed);
    char args[768];
    snprintf(args, sizeof args, "icp %s %s %s %s %s %.17g %d %s", method, ps, pt, pn, pi, max_dist, max_iter, po);
    int status = run_reference(args);
    temp_close(&t);
    assert_int_equal(status, 0);
}

/* Source = a subset of the target moved by a small rigid perturbation, plus far
 * outliers: point-to-point ICP undoes the perturbation exactly, ignores the
 * outliers (fitness < 1), and matches Open3D. */
static void test_icp_point_to_point(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 21, 0);
    const size_t nt = 6000, ns = 1500, outliers = 60;
    float *tgt = malloc(nt * 3 * sizeof(float)), *src = malloc((ns + outliers) * 3 * sizeof(float));
    assert_true(tgt && src);
    sample_surface(&rng, nt, tgt, NULL);
    align_transform perturb, back;
    random_transform(&rng, 6 * M_PI / 180, 0.05, 1.0, &perturb);
    inverse(&perturb, &back);
    for (size_t i = 0; i < ns; ++i) memcpy(src + 3 * i, tgt + 3 * (i * 4), 3 * sizeof(float));
    align_apply(&back, src, ns, src);
    for (size_t i = ns; i < ns + outliers; ++i)
        for (int a = 0; a < 3; ++a) src[3 * i + a] = (float)(3 + rng_uniform(&rng));
    icp_options o;
    icp_options_init(&o);
    o.max_iterations = 100;
    o.relative_rmse = o.relative_fitness = 1e-10;
    o.max_correspondence_distance = 0.5;
    icp_result r;
    assert_int_equal(icp_align(src, ns + outliers, tgt, NULL, nt, NULL, &o, &r), 0);
    assert_true(r.converged && r.iterations < 100);
    assert_transform_near(&r.transform, &perturb, 1e-5);
    assert_true(r.rmse < 1e-6);
    assert_true(fabs(r.fitness - (double)ns / (double)(ns + outliers)) < 1e-12);
    assert_int_equal(r.correspondences, ns);
    check_icp_reference("point", src, ns + outliers, tgt, NULL, nt, o.max_correspondence_distance, o.max_iterations, &r);
    /* starting from the answer, nothing moves */
    icp_result again;
    assert_int_equal(icp_align(src, ns + outliers, tgt, NULL, nt, &r.transform, &o, &again), 0);
    assert_transform_near(&again.transform, &r.transform, 1e-7);
    free(tgt);
    free(src);
}

/* Source = different samples of the same surface, moved: point-to-plane ICP
 * recovers the motion up to the sampling's resolution and matches Open3D. */
static void test_icp_point_to_plane(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 22, 0);
    const size_t nt = 20000, ns = 2000;
    float *tgt = malloc(nt * 3 * sizeof(float)), *nrm = malloc(nt * 3 * sizeof(float));
    float *src = malloc(ns * 3 * sizeof(float));
    assert_true(tgt && nrm && src);
    sample_surface(&rng, nt, tgt, nrm);
    sample_surface(&rng, ns, src, NULL);
    align_transform perturb, back;
    random_transform(&rng, 5 * M_PI / 180, 0.04, 1.0, &perturb);
    inverse(&perturb, &back);
    align_apply(&back, src, ns, src);
    icp_options o;
    icp_options_init(&o);
    o.method = ICP_POINT_TO_PLANE;
    o.max_iterations = 100;
    o.relative_rmse = o.relative_fitness = 1e-10;
    o.max_correspondence_distance = 0.3;
    icp_result r;
    assert_int_equal(icp_align(src, ns, tgt, nrm, nt, NULL, &o, &r), 0);
    assert_true(r.converged);
    assert_true(rotation_angle_between(r.transform.R, perturb.R) < 0.2 * M_PI / 180);
    for (int a = 0; a < 3; ++a) assert_true(fabs(r.transform.t[a] - perturb.t[a]) < 5e-3);
    assert_true(r.rmse < 0.02);
    check_icp_reference("plane", src, ns, tgt, nrm, nt, o.max_correspondence_distance, o.max_iterations, &r);
    /* point-to-point on the same data: also close, also as Open3D */
    o.method = ICP_POINT_TO_POINT;
    assert_int_equal(icp_align(src, ns, tgt, NULL, nt, NULL, &o, &r), 0);
    assert_true(rotation_angle_between(r.transform.R, perturb.R) < 0.5 * M_PI / 180);
    check_icp_reference("point", src, ns, tgt, NULL, nt, o.max_correspondence_distance, o.max_iterations, &r);
    free(tgt);
    free(nrm);
    free(src);
}

static void test_icp_errors(void **state)
{
    (void)state;
    const float pts[12] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    icp_options o;
    icp_options_init(&o);
    icp_result r;
    o.method = ICP_POINT_TO_PLANE;
    assert_int_equal(icp_align(pts, 4, pts, NULL, 4, NULL, &o, &r), -1);
    assert_non_null(strstr(err_message(), "normals"));
    icp_options_init(&o);
    assert_int_equal(icp_align(pts, 0, pts, NULL, 4, NULL, &o, &r), -1);
    o.max_correspondence_distance = 1e-3;
    const float far[3] = {10, 10, 10};
    assert_int_equal(icp_align(far, 1, pts, NULL, 4, NULL, &o, &r), -1);
    assert_non_null(strstr(err_message(), "no correspondence"));
    icp_options_init(&o);
    align_transform scaled;
    align_identity(&scaled);
    scaled.s = 2;
    assert_int_equal(icp_align(pts, 4, pts, NULL, 4, &scaled, &o, &r), -1);
    assert_non_null(strstr(err_message(), "rigid"));
    o.max_iterations = 0; /* no update: just the measurement of the initial transform */
    assert_int_equal(icp_align(pts, 4, pts, NULL, 4, NULL, &o, &r), 0);
    assert_true(r.rmse == 0 && r.fitness == 1 && r.iterations == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_umeyama_exact),      cmocka_unit_test(test_umeyama_weighted),
        cmocka_unit_test(test_umeyama_noise),      cmocka_unit_test(test_umeyama_reflection),
        cmocka_unit_test(test_umeyama_errors),     cmocka_unit_test(test_transform_helpers),
        cmocka_unit_test(test_icp_point_to_point), cmocka_unit_test(test_icp_point_to_plane),
        cmocka_unit_test(test_icp_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
