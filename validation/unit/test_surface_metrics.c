/* test_surface_metrics.c — Chamfer (both conventions) against the independent
 * scipy reference (validation/reference/chamfer_reference.py) and against
 * concentric spheres whose Chamfer is known; surface sampling and radius
 * thinning; normal angles and consistency; PSNR; mask IoU.
 * Runs from the repository root (the reference script is found from there). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phive/errors.h"
#include "phive/mesh.h"
#include "phive/rng.h"
#include "phive/sampling.h"
#include "phive/surface_metrics.h"

#include "test_util.h"

#define REFERENCE_SCRIPT "validation/reference/chamfer_reference.py"

static float *uniform_cloud(size_t n, uint64_t seed, float scale, float shift)
{
    rng_t rng;
    rng_seed(&rng, seed, 0);
    float *p = malloc(sizeof(float) * 3 * n);
    for (size_t i = 0; i < 3 * n; ++i) p[i] = (float)(rng_uniform(&rng) * scale) + shift;
    return p;
}

static int relative_close(double a, double b, double tolerance)
{
    return fabs(a - b) <= tolerance * fmax(fabs(a), fabs(b));
}

/* ---- the scipy reference -------------------------------------------------- */

typedef struct {
    double x_to_y, y_to_x, chamfer, accuracy, completeness, overall, n_accuracy, n_completeness;
} reference_figures;

/* Runs the reference script on x and y; fails the test if it cannot. */
static reference_figures run_reference(const float *x, size_t n_x, const float *y, size_t n_y, double max_dist)
{
    char dir[64], px[96], py[96], out[96];
    assert_int_equal(tu_make_scratch(dir, sizeof dir, "chamfer"), 0);
    tu_path_in(dir, "x.bin", px, sizeof px);
    tu_path_in(dir, "y.bin", py, sizeof py);
    tu_path_in(dir, "out.txt", out, sizeof out);
    tu_write_file(px, x, n_x * 3 * sizeof(float));
    tu_write_file(py, y, n_y * 3 * sizeof(float));
    assert_int_equal(tu_run_python("%s %s %s --max-dist %.17g > %s", REFERENCE_SCRIPT, px, py, max_dist, out), 0);
    reference_figures r;
    double *slots[] = {&r.x_to_y, &r.y_to_x, &r.chamfer, &r.accuracy, &r.completeness, &r.overall, &r.n_accuracy,
                       &r.n_completeness};
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char name[64];
    for (size_t i = 0; i < sizeof slots / sizeof *slots; ++i)
        assert_int_equal(fscanf(f, "%63s %lf", name, slots[i]), 2);
    fclose(f);
    tu_remove_tree(dir);
    return r;
}

static void compare_with_reference(const float *x, size_t n_x, const float *y, size_t n_y, double max_dist)
{
    chamfer_pytorch3d_result p;
    chamfer_dtu_result d;
    assert_int_equal(chamfer_pytorch3d(x, n_x, y, n_y, &p), 0);
    assert_int_equal(chamfer_dtu(x, n_x, NULL, y, n_y, NULL, max_dist, &d), 0);
    reference_figures r = run_reference(x, n_x, y, n_y, max_dist);
    const double tolerance = 1e-6;
    assert_true(relative_close(p.x_to_y, r.x_to_y, tolerance));
    assert_true(relative_close(p.y_to_x, r.y_to_x, tolerance));
    assert_true(relative_close(p.chamfer, r.chamfer, tolerance));
    assert_true(relative_close(d.accuracy, r.accuracy, tolerance));
    assert_true(relative_close(d.completeness, r.completeness, tolerance));
    assert_true(relative_close(d.overall, r.overall, tolerance));
    assert_true((double)d.n_accuracy == r.n_accuracy);
    assert_true((double)d.n_completeness == r.n_completeness);
}

static void test_chamfer_matches_scipy_reference(void **state)
{
    (void)state;
    /* Two overlapping boxes of different sizes and densities; the cut at 0.3
     * drops part of the distances in each direction. */
    float *x = uniform_cloud(3000, 1, 1.0f, 0.0f);
    float *y = uniform_cloud(2000, 2, 1.6f, 0.2f);
    compare_with_reference(x, 3000, y, 2000, 0.3);
    compare_with_reference(x, 3000, y, 2000, INFINITY);
    chamfer_dtu_result d;
    assert_int_equal(chamfer_dtu(x, 3000, NULL, y, 2000, NULL, 0.3, &d), 0);
    assert_true(d.n_accuracy < 3000 && d.n_completeness < 2000 && d.n_completeness > 0);
    free(x);
    free(y);
}

/* Points r1·u and r2·u for the same unit directions u: each point's nearest
 * neighbour in the other cloud is along its own direction, at |r1 − r2|. */
static void test_concentric_spheres_analytic(void **state)
{
    (void)state;
    const size_t n = 5000;
    rng_t rng;
    rng_seed(&rng, 3, 0);
    float *inner = malloc(sizeof(float) * 3 * n), *outer = malloc(sizeof(float) * 3 * n);
    for (size_t i = 0; i < n; ++i) {
        double u[3] = {rng_normal(&rng), rng_normal(&rng), rng_normal(&rng)};
        double norm = sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
        for (int d = 0; d < 3; ++d) {
            inner[3 * i + d] = (float)(u[d] / norm);
            outer[3 * i + d] = 2.0f * inner[3 * i + d]; /* exact: radius 2, gap |float(u)| ≈ 1 */
        }
    }
    chamfer_pytorch3d_result p;
    chamfer_dtu_result d;
    assert_int_equal(chamfer_pytorch3d(inner, n, outer, n, &p), 0);
    assert_int_equal(chamfer_dtu(inner, n, NULL, outer, n, NULL, 20.0, &d), 0);
    assert_true(relative_close(p.x_to_y, 1.0, 1e-6) && relative_close(p.y_to_x, 1.0, 1e-6));
    assert_true(relative_close(p.chamfer, 2.0, 1e-6));
    assert_true(relative_close(d.accuracy, 1.0, 1e-6) && relative_close(d.completeness, 1.0, 1e-6));
    assert_true(relative_close(d.overall, 1.0, 1e-6));
    compare_with_reference(inner, n, outer, n, 20.0);
    /* every distance is ≈ 1: a cut at 0.5 leaves nothing to average */
    assert_int_equal(chamfer_dtu(inner, n, NULL, outer, n, NULL, 0.5, &d), 0);
    assert_true(isnan(d.accuracy) && isnan(d.completeness) && isnan(d.overall));
    assert_true(d.n_accuracy == 0 && d.n_completeness == 0);
    free(inner);
    free(outer);
}

static void test_dtu_query_masks(void **state)
{
    (void)state;
    const size_t n_pred = 1500, n_gt = 1200;
    float *pred = uniform_cloud(n_pred, 4, 1.0f, 0.0f), *gt = uniform_cloud(n_gt, 5, 1.0f, 0.1f);
    uint8_t *pred_query = malloc(n_pred), *gt_query = malloc(n_gt);
    for (size_t i = 0; i < n_pred; ++i) pred_query[i] = pred[3 * i] < 0.5f;     /* "inside ObsMask" */
    for (size_t i = 0; i < n_gt; ++i) gt_query[i] = gt[3 * i + 2] > 0.4f;        /* "above the plane" */
    chamfer_dtu_result d;
    assert_int_equal(chamfer_dtu(pred, n_pred, pred_query, gt, n_gt, gt_query, 0.08, &d), 0);
    /* the same from the per-point distances, selected by hand */
    double *dist2 = malloc(sizeof(double) * n_pred);
    assert_int_equal(nn_dist2(gt, n_gt, pred, n_pred, dist2), 0);
    double sum = 0;
    size_t count = 0;
    for (size_t i = 0; i < n_pred; ++i)
        if (pred_query[i] && sqrt(dist2[i]) < 0.08) sum += sqrt(dist2[i]), ++count;
    assert_int_equal(d.n_accuracy, count);
    assert_true(count > 100 && relative_close(d.accuracy, sum / count, 1e-12));
    assert_int_equal(nn_dist2(pred, n_pred, gt, n_gt, dist2), 0);
    sum = 0, count = 0;
    for (size_t i = 0; i < n_gt; ++i)
        if (gt_query[i] && sqrt(dist2[i]) < 0.08) sum += sqrt(dist2[i]), ++count;
    assert_int_equal(d.n_completeness, count);
    assert_true(count > 100 && relative_close(d.completeness, sum / count, 1e-12));
    free(pred), free(gt), free(pred_query), free(gt_query), free(dist2);
}

static void test_chamfer_thread_invariance_and_errors(void **state)
{
    (void)state;
    float *x = uniform_cloud(20000, 6, 1.0f, 0.0f), *y = uniform_cloud(15000, 7, 1.0f, 0.0f);
    chamfer_pytorch3d_result a, b;
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(chamfer_pytorch3d(x, 20000, y, 15000, &a), 0);
    omp_set_num_threads(threads > 1 ? threads : 2);
    assert_int_equal(chamfer_pytorch3d(x, 20000, y, 15000, &b), 0);
    omp_set_num_threads(threads);
    assert_true(a.chamfer == b.chamfer && a.x_to_y == b.x_to_y);
    /* a cloud against itself */
    assert_int_equal(chamfer_pytorch3d(x, 20000, x, 20000, &a), 0);
    assert_true(a.chamfer == 0);
    chamfer_dtu_result d;
    assert_int_equal(chamfer_pytorch3d(x, 0, y, 15000, &a), -1);
    assert_non_null(strstr(err_message(), "x is empty"));
    x[7] = NAN;
    assert_int_equal(chamfer_dtu(x, 20000, NULL, y, 15000, NULL, 1.0, &d), -1);
    assert_non_null(strstr(err_message(), "point 2"));
    assert_int_equal(chamfer_dtu(y, 15000, NULL, y, 15000, NULL, 0.0, &d), -1);
    free(x), free(y);
}

/* ---- sampling --------------------------------------------------------------- */

/* Face 0: area 1 at z = 0; face 1: area 3 at z = 1; face 2: zero area. */
static void three_faces(mesh *m)
{
    static float positions[] = {0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 3, 0, 1, 0, 2, 1, 5, 5, 5, 6, 6, 6};
    static uint32_t faces[] = {0, 1, 2, 3, 4, 5, 6, 7, 6};
    mesh_init(m);
    m->n_vertices = 8;
    m->n_faces = 3;
    m->positions = positions;
    m->faces = faces;
}

static void test_sampling_area_weighted(void **state)
{
    (void)state;
    mesh m;
    three_faces(&m);
    const size_t n = 200000;
    float *points = malloc(sizeof(float) * 3 * n), *bary = malloc(sizeof(float) * 3 * n);
    uint32_t *face = malloc(sizeof(uint32_t) * n);
    assert_int_equal(mesh_sample_surface(&m, n, 42, points, face, bary), 0);
    size_t on_big = 0;
    double mean_small[2] = {0, 0};
    for (size_t i = 0; i < n; ++i) {
        assert_true(face[i] < 2); /* never the zero-area face */
        on_big += face[i] == 1;
        const float *w = bary + 3 * i;
        assert_true(w[0] >= 0 && w[1] >= 0 && w[2] >= 0 && fabs(w[0] + w[1] + w[2] - 1) < 1e-6);
        for (int d = 0; d < 3; ++d) {
            double x = 0;
            for (int k = 0; k < 3; ++k) x += w[k] * m.positions[3 * m.faces[3 * face[i] + k] + d];
            assert_true(fabs(x - points[3 * i + d]) < 1e-5);
        }
        assert_true(points[3 * i + 2] == (float)face[i]);
        if (face[i] == 0) mean_small[0] += points[3 * i], mean_small[1] += points[3 * i + 1];
    }
    double fraction = (double)on_big / n; /* expected 3/4, σ ≈ 0.001 */
    assert_true(fabs(fraction - 0.75) < 0.005);
    size_t n_small = n - on_big; /* uniform on the triangle: mean = centroid (2/3, 1/3) */
    assert_true(fabs(mean_small[0] / n_small - 2.0 / 3.0) < 0.01);
    assert_true(fabs(mean_small[1] / n_small - 1.0 / 3.0) < 0.01);
    free(points), free(bary), free(face);
}

static void test_sampling_deterministic(void **state)
{
    (void)state;
    mesh m;
    three_faces(&m);
    const size_t n = 50000;
    float *a = malloc(sizeof(float) * 3 * n), *b = malloc(sizeof(float) * 3 * n);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(mesh_sample_surface(&m, n, 7, a, NULL, NULL), 0);
    omp_set_num_threads(threads > 1 ? threads : 2);
    assert_int_equal(mesh_sample_surface(&m, n, 7, b, NULL, NULL), 0);
    omp_set_num_threads(threads);
    assert_memory_equal(a, b, sizeof(float) * 3 * n);
    assert_int_equal(mesh_sample_surface(&m, n, 8, b, NULL, NULL), 0);
    assert_true(memcmp(a, b, sizeof(float) * 3 * n) != 0);
    free(a), free(b);
}

static void test_sampling_errors(void **state)
{
    (void)state;
    mesh m;
    three_faces(&m);
    float p[3];
    uint32_t bad_faces[] = {0, 1, 9};
    m.faces = bad_faces;
    m.n_faces = 1;
    assert_int_equal(mesh_sample_surface(&m, 1, 0, p, NULL, NULL), -1);
    assert_non_null(strstr(err_message(), "vertex 9"));
    uint32_t flat[] = {6, 7, 6};
    m.faces = flat;
    assert_int_equal(mesh_sample_surface(&m, 1, 0, p, NULL, NULL), -1);
    assert_non_null(strstr(err_message(), "total area"));
    m.n_faces = 0;
    assert_int_equal(mesh_sample_surface(&m, 1, 0, p, NULL, NULL), -1);
}

static void test_permutation(void **state)
{
    (void)state;
    const size_t n = 1000;
    uint32_t *a = malloc(sizeof(uint32_t) * n), *b = malloc(sizeof(uint32_t) * n);
    uint8_t *seen = calloc(n, 1);
    assert_int_equal(sampling_permutation(n, 5, a), 0);
    for (size_t i = 0; i < n; ++i) assert_true(a[i] < n && !seen[a[i]]), seen[a[i]] = 1;
    assert_int_equal(sampling_permutation(n, 5, b), 0);
    assert_memory_equal(a, b, sizeof(uint32_t) * n);
    assert_int_equal(sampling_permutation(n, 6, b), 0);
    assert_true(memcmp(a, b, sizeof(uint32_t) * n) != 0);
    free(a), free(b), free(seen);
}

/* ---- thinning --------------------------------------------------------------- */

static double distance(const float *a, const float *b)
{
    double dx = (double)a[0] - b[0], dy = (double)a[1] - b[1], dz = (double)a[2] - b[2];
    return sqrt(dx * dx + dy * dy + dz * dz);
}

static void test_thinning_matches_brute_force_greedy(void **state)
{
    (void)state;
    const size_t n = 6000;
    const double radius = 0.05;
    float *pts = uniform_cloud(n, 8, 1.0f, -0.5f);
    for (size_t i = 0; i < 300; ++i) memcpy(pts + 3 * (n - 1 - i), pts + 3 * i, sizeof(float) * 3); /* duplicates */
    uint32_t *order = malloc(sizeof(uint32_t) * n), *kept_list = malloc(sizeof(uint32_t) * n);
    uint8_t *keep = malloc(n);
    size_t n_kept = 0;
    assert_int_equal(points_thin_radius(pts, n, radius, 11, keep, &n_kept), 0);
    assert_int_equal(sampling_permutation(n, 11, order), 0);
    /* the greedy definition, quadratically */
    size_t expected = 0;
    for (size_t k = 0; k < n; ++k) {
        size_t i = order[k];
        int near = 0;
        for (size_t j = 0; j < expected && !near; ++j) near = distance(pts + 3 * i, pts + 3 * kept_list[j]) <= radius;
        if (!near) kept_list[expected++] = (uint32_t)i;
        assert_int_equal(keep[i], !near);
    }
    assert_int_equal(n_kept, expected);
    assert_true(n_kept > 100 && n_kept < n / 2);
    free(pts), free(order), free(kept_list), free(keep);
}

static void test_thinning_radius_is_inclusive_and_errors(void **state)
{
    (void)state;
    /* spacing exactly equal to the radius: a neighbour at distance r is dropped */
    float pts[] = {0, 0, 0, 0.25f, 0, 0, 0.5f, 0, 0, 0.75f, 0, 0};
    uint8_t keep[4];
    size_t n_kept;
    assert_int_equal(points_thin_radius_ordered(pts, 4, NULL, 0.25, keep, &n_kept), 0);
    assert_int_equal(n_kept, 2);
    assert_true(keep[0] && !keep[1] && keep[2] && !keep[3]);
    assert_int_equal(points_thin_radius_ordered(pts, 4, NULL, 0.2499, keep, &n_kept), 0);
    assert_int_equal(n_kept, 4);
    uint32_t repeated[] = {0, 1, 1, 3};
    assert_int_equal(points_thin_radius_ordered(pts, 4, repeated, 0.25, keep, &n_kept), -1);
    assert_non_null(strstr(err_message(), "permutation"));
    assert_int_equal(points_thin_radius(pts, 4, 0.0, 1, keep, &n_kept), -1);
    assert_int_equal(points_thin_radius(pts, 4, 1e-9, 1, keep, &n_kept), -1);
    assert_non_null(strstr(err_message(), "too small"));
}

/* ---- normals and images ------------------------------------------------------- */

static void test_normal_angles(void **state)
{
    (void)state;
    float a[] = {1, 0, 0, 0, 0, 3, 1, 1, 0, 0, 1, 0};
    float b[] = {0, 2, 0, 0, 0, 1, -1, -1, 0, 0, 1, 1e-4f};
    double mean;
    assert_int_equal(normal_angle_mean_deg(a, b, 3, &mean), 0);
    assert_true(fabs(mean - (90.0 + 0.0 + 180.0) / 3) < 1e-9);
    /* small angles stay accurate (acos would lose them) */
    assert_int_equal(normal_angle_mean_deg(a + 9, b + 9, 1, &mean), 0);
    assert_true(relative_close(mean, atan(1e-4f) * 180 / M_PI, 1e-9));
    float zero[] = {0, 0, 0};
    assert_int_equal(normal_angle_mean_deg(a, zero, 1, &mean), -1);
    assert_non_null(strstr(err_message(), "normal 0"));
}

static void test_normal_consistency(void **state)
{
    (void)state;
    const size_t n = 500;
    float *x = uniform_cloud(n, 9, 1.0f, 0.0f), *normals = malloc(sizeof(float) * 3 * n);
    float *flipped = malloc(sizeof(float) * 3 * n), *perpendicular = malloc(sizeof(float) * 3 * n);
    for (size_t i = 0; i < n; ++i) {
        float v[3] = {0, 0, 1}, w[3] = {1, 0, 0};
        if (i % 2) v[0] = 1; /* different normals per point */
        for (int d = 0; d < 3; ++d) normals[3 * i + d] = v[d], flipped[3 * i + d] = -2 * v[d];
        memcpy(perpendicular + 3 * i, w, sizeof w);
        perpendicular[3 * i + 1] = (i % 2) ? 0.0f : 0.5f;
        if (i % 2) perpendicular[3 * i] = 1, perpendicular[3 * i + 2] = -1;
    }
    normal_consistency_result r;
    assert_int_equal(normal_consistency(x, normals, n, x, flipped, n, &r), 0);
    assert_true(fabs(r.x_to_y - 1) < 1e-12 && fabs(r.y_to_x - 1) < 1e-12 && fabs(r.mean - 1) < 1e-12);
    assert_int_equal(normal_consistency(x, normals, n, x, perpendicular, n, &r), 0);
    assert_true(fabs(r.mean) < 1e-12);
    /* one direction only half consistent: y = x's first half with the same normals */
    float *half_perp = malloc(sizeof(float) * 3 * n);
    memcpy(half_perp, normals, sizeof(float) * 3 * n);
    memcpy(half_perp, perpendicular, sizeof(float) * 3 * (n / 2));
    assert_int_equal(normal_consistency(x, normals, n, x, half_perp, n, &r), 0);
    assert_true(fabs(r.mean - 0.5) < 1e-12);
    normals[5] = 0, normals[4] = 0, normals[3] = 0;
    assert_int_equal(normal_consistency(x, normals, n, x, flipped, n, &r), -1);
    free(x), free(normals), free(flipped), free(perpendicular), free(half_perp);
}

static void test_psnr(void **state)
{
    (void)state;
    enum { PIXELS = 100, CHANNELS = 3 };
    float a[PIXELS * CHANNELS], b[PIXELS * CHANNELS];
    uint8_t mask[PIXELS];
    for (int p = 0; p < PIXELS; ++p) {
        mask[p] = p < 50;
        for (int c = 0; c < CHANNELS; ++c)
            a[p * CHANNELS + c] = 0.5f, b[p * CHANNELS + c] = p < 50 ? 0.6f : 0.5f + 0.2f * c;
    }
    double psnr;
    assert_int_equal(image_psnr(a, b, PIXELS, CHANNELS, mask, 1.0, &psnr), 0); /* MSE 0.01 → 20 dB */
    assert_true(fabs(psnr - 20.0) < 1e-5);
    assert_int_equal(image_psnr(a, b, 50, CHANNELS, NULL, 255.0, &psnr), 0);
    assert_true(fabs(psnr - (20.0 + 20 * log10(255.0))) < 1e-5);
    /* unmasked: MSE = (50·0.01 + 50·(0 + 0.04 + 0.16)/3) / 100 */
    double mse = (50 * 0.01 + 50 * 0.2 / 3) / 100;
    assert_int_equal(image_psnr(a, b, PIXELS, CHANNELS, NULL, 1.0, &psnr), 0);
    assert_true(fabs(psnr - 10 * log10(1 / mse)) < 1e-5);
    assert_int_equal(image_psnr(a, a, PIXELS, CHANNELS, NULL, 1.0, &psnr), 0);
    assert_true(isinf(psnr) && psnr > 0);
    memset(mask, 0, sizeof mask);
    assert_int_equal(image_psnr(a, b, PIXELS, CHANNELS, mask, 1.0, &psnr), -1);
    assert_non_null(strstr(err_message(), "no pixel"));
}

static void test_mask_iou(void **state)
{
    (void)state;
    uint8_t a[] = {1, 1, 1, 0, 0, 0, 255, 0}, b[] = {0, 1, 1, 1, 0, 0, 7, 0}, empty[8] = {0};
    double iou;
    assert_int_equal(mask_iou(a, b, 8, &iou), 0);
    assert_true(fabs(iou - 3.0 / 5.0) < 1e-15);
    assert_int_equal(mask_iou(empty, empty, 8, &iou), 0);
    assert_true(iou == 1.0);
    assert_int_equal(mask_iou(a, empty, 8, &iou), 0);
    assert_true(iou == 0.0);
    assert_int_equal(mask_iou(a, b, 0, &iou), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chamfer_matches_scipy_reference),
        cmocka_unit_test(test_concentric_spheres_analytic),
        cmocka_unit_test(test_dtu_query_masks),
        cmocka_unit_test(test_chamfer_thread_invariance_and_errors),
        cmocka_unit_test(test_sampling_area_weighted),
        cmocka_unit_test(test_sampling_deterministic),
        cmocka_unit_test(test_sampling_errors),
        cmocka_unit_test(test_permutation),
        cmocka_unit_test(test_thinning_matches_brute_force_greedy),
        cmocka_unit_test(test_thinning_radius_is_inclusive_and_errors),
        cmocka_unit_test(test_normal_angles),
        cmocka_unit_test(test_normal_consistency),
        cmocka_unit_test(test_psnr),
        cmocka_unit_test(test_mask_iou),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
