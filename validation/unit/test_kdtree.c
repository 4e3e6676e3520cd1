/* test_kdtree.c — the k-d tree against brute force: random clouds, duplicates,
 * degenerate (planar, collinear, single-location) inputs, tiny trees, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/kdtree.h"
#include "phive/rng.h"

/* Same expression as the tree, so distances must match bit for bit. */
static double brute_nearest(const float *pts, size_t n, const float q[3], size_t *index)
{
    double best = INFINITY;
    for (size_t i = 0; i < n; ++i) {
        double dx = (double)q[0] - pts[3 * i], dy = (double)q[1] - pts[3 * i + 1], dz = (double)q[2] - pts[3 * i + 2];
        double d2 = dx * dx + dy * dy + dz * dz;
        if (d2 < best) best = d2, *index = i;
    }
    return best;
}

static float *uniform_cloud(size_t n, uint64_t seed, float scale)
{
    rng_t rng;
    rng_seed(&rng, seed, 0);
    float *p = malloc(sizeof(float) * 3 * n);
    for (size_t i = 0; i < 3 * n; ++i) p[i] = (float)((rng_uniform(&rng) - 0.5) * scale);
    return p;
}

/* Every query's distance equals brute force exactly, and the returned index
 * is a point at that distance (ties may pick another duplicate). */
static void check_against_brute_force(const float *pts, size_t n, const float *queries, size_t n_queries)
{
    kdtree *t = kdtree_build(pts, n);
    assert_non_null(t);
    uint32_t *index = malloc(sizeof(uint32_t) * n_queries);
    double *dist2 = malloc(sizeof(double) * n_queries);
    kdtree_nearest_batch(t, queries, n_queries, index, dist2);
    for (size_t i = 0; i < n_queries; ++i) {
        const float *q = queries + 3 * i;
        size_t expected_index = 0;
        double expected = brute_nearest(pts, n, q, &expected_index);
        assert_true(dist2[i] == expected);
        assert_true(index[i] < n);
        size_t got_index = 0;
        assert_true(brute_nearest(pts + 3 * (size_t)index[i], 1, q, &got_index) == expected);
        double single;
        assert_int_equal(kdtree_nearest(t, q, &single), index[i]);
        assert_true(single == expected);
    }
    free(index);
    free(dist2);
    kdtree_free(t);
}

static void test_random_clouds(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 2, 5, 12, 13, 100, 1000, 5000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; ++s) {
        float *pts = uniform_cloud(sizes[s], 10 + s, 2.0f);
        float *queries = uniform_cloud(400, 100 + s, 3.0f); /* some outside the cloud's box */
        check_against_brute_force(pts, sizes[s], queries, 400);
        check_against_brute_force(pts, sizes[s], pts, sizes[s]); /* self queries: distance 0 */
        free(pts);
        free(queries);
    }
}

static void test_clustered_and_far_queries(void **state)
{
    (void)state;
    /* Dense clusters far apart stress the pruning bound; far queries cross many cells. */
    const size_t n = 4000;
    float *pts = uniform_cloud(n, 3, 0.01f);
    for (size_t i = 0; i < n; ++i) pts[3 * i] += (float)(i % 4) * 100.0f;
    float *queries = uniform_cloud(500, 4, 1000.0f);
    check_against_brute_force(pts, n, queries, 500);
    free(pts);
    free(queries);
}

static void test_duplicates(void **state)
{
    (void)state;
    /* 3000 points at only 37 distinct locations. */
    const size_t n = 3000;
    float *base = uniform_cloud(37, 5, 1.0f);
    float *pts = malloc(sizeof(float) * 3 * n);
    for (size_t i = 0; i < n; ++i) memcpy(pts + 3 * i, base + 3 * (i * 7 % 37), sizeof(float) * 3);
    float *queries = uniform_cloud(300, 6, 1.5f);
    check_against_brute_force(pts, n, queries, 300);
    check_against_brute_force(pts, n, pts, n);
    /* all points identical */
    for (size_t i = 0; i < n; ++i) memcpy(pts + 3 * i, base, sizeof(float) * 3);
    check_against_brute_force(pts, n, queries, 300);
    free(base);
    free(pts);
    free(queries);
}

static void test_degenerate_plane_and_line(void **state)
{
    (void)state;
    const size_t n = 2000;
    float *pts = uniform_cloud(n, 7, 1.0f);
    float *queries = uniform_cloud(300, 8, 1.5f);
    for (size_t i = 0; i < n; ++i) pts[3 * i + 2] = 0.25f; /* plane z = 0.25 */
    check_against_brute_force(pts, n, queries, 300);
    for (size_t i = 0; i < n; ++i) pts[3 * i + 1] = -0.5f; /* line y = -0.5, z = 0.25 */
    check_against_brute_force(pts, n, queries, 300);
    /* a grid: massive ties in every coordinate */
    for (size_t i = 0; i < n; ++i) {
        pts[3 * i] = (float)(i % 10);
        pts[3 * i + 1] = (float)(i / 10 % 10);
        pts[3 * i + 2] = (float)(i / 100);
    }
    for (size_t i = 0; i < 300 * 3; ++i) queries[i] = queries[i] * 20.0f + 5.0f;
    check_against_brute_force(pts, n, queries, 300);
    free(pts);
    free(queries);
}

static void test_thread_count_invariance(void **state)
{
    (void)state;
    const size_t n = 100000;
    float *pts = uniform_cloud(n, 9, 1.0f);
    float *queries = uniform_cloud(20000, 11, 1.0f);
    uint32_t *i1 = malloc(sizeof(uint32_t) * 20000), *i2 = malloc(sizeof(uint32_t) * 20000);
    double *d1 = malloc(sizeof(double) * 20000), *d2 = malloc(sizeof(double) * 20000);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    kdtree *t1 = kdtree_build(pts, n);
    kdtree_nearest_batch(t1, queries, 20000, i1, d1);
    omp_set_num_threads(threads > 1 ? threads : 2);
    kdtree *t2 = kdtree_build(pts, n);
    kdtree_nearest_batch(t2, queries, 20000, i2, d2);
    omp_set_num_threads(threads);
    assert_memory_equal(i1, i2, sizeof(uint32_t) * 20000);
    assert_memory_equal(d1, d2, sizeof(double) * 20000);
    /* spot-check correctness of the large tree */
    for (size_t i = 0; i < 20000; i += 997) {
        size_t expected_index;
        assert_true(brute_nearest(pts, n, queries + 3 * i, &expected_index) == d1[i]);
    }
    kdtree_free(t1);
    kdtree_free(t2);
    free(pts), free(queries), free(i1), free(i2), free(d1), free(d2);
}

static void test_errors(void **state)
{
    (void)state;
    float p[6] = {0, 0, 0, 1, NAN, 0};
    err_clear();
    assert_null(kdtree_build(p, 0));
    assert_non_null(strstr(err_message(), "no points"));
    assert_null(kdtree_build(p, 2));
    assert_non_null(strstr(err_message(), "point 1"));
    kdtree *t = kdtree_build(p, 1);
    assert_non_null(t);
    float bad_query[3] = {0, INFINITY, 0};
    double d2 = 0;
    assert_true(kdtree_nearest(t, bad_query, &d2) == SIZE_MAX);
    assert_true(isnan(d2));
    uint32_t index;
    kdtree_nearest_batch(t, bad_query, 1, &index, NULL);
    assert_int_equal(index, UINT32_MAX);
    kdtree_free(t);
    kdtree_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_clouds),
        cmocka_unit_test(test_clustered_and_far_queries),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_degenerate_plane_and_line),
        cmocka_unit_test(test_thread_count_invariance),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
