/* test_core.c — rng, params, metrics, Adam and schedules, checkpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <unistd.h>

#include "phive/ckpt.h"
#include "phive/errors.h"
#include "phive/h5io.h"
#include "phive/linalg.h"
#include "phive/metrics.h"
#include "phive/opt.h"
#include "phive/params.h"
#include "phive/rng.h"
#include "rng.h"
#include "test_util.h"

/* Known-answer vectors of Philox4x32-10 from the Random123 distribution. */
static void test_philox_known_answers(void **state)
{
    (void)state;
    static const uint32_t counters[3][4] = {{0, 0, 0, 0},
                                            {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                                            {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
    static const uint32_t keys[3][2] = {{0, 0}, {0xffffffff, 0xffffffff}, {0xa4093822, 0x299f31d0}};
    static const uint32_t expected[3][4] = {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
                                            {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                                            {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
    for (int v = 0; v < 3; ++v) {
        uint32_t out[4];
        philox4x32(counters[v], keys[v], out);
        for (int i = 0; i < 4; ++i) assert_int_equal(out[i], expected[v][i]);
    }
}

static void test_rng_statistics_and_reproducibility(void **state)
{
    (void)state;
    rng_t a, b, c;
    rng_seed(&a, 42, 0);
    rng_seed(&b, 42, 0);
    rng_seed(&c, 43, 0);
    assert_true(a.key != c.key);
    double sum = 0, sum_sq = 0, normal_sq = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
        double u = rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
        assert_true(u == rng_uniform(&b));
        sum += u;
        sum_sq += u * u;
        double z = rng_normal(&a);
        rng_normal(&b);
        normal_sq += z * z;
    }
    assert_true(fabs(sum / n - 0.5) < 0.005);
    assert_true(fabs(sum_sq / n - 1.0 / 3.0) < 0.005);
    assert_true(fabs(normal_sq / n - 1.0) < 0.02);
    /* the stateless draw is a pure function of (key, stream, index) */
    double u1[2], u2[2];
    rng_uniform2_at(&a, 7, 123, u1);
    rng_uniform2_at(&c, 7, 123, u2);
    assert_true(u1[0] != u2[0]);
    rng_uniform2_at(&b, 7, 123, u2);
    assert_true(u1[0] == u2[0] && u1[1] == u2[1]);
}

static void test_params_layout(void **state)
{
    (void)state;
    param_set p;
    params_init(&p);
    size_t s1[2] = {3, 4}, s2[1] = {5};
    assert_int_equal(params_declare(&p, "a", 2, s1, 0), 0);
    assert_int_equal(params_declare(&p, "b", 1, s2, 1), 1);
    assert_int_equal(params_declare(&p, "a", 1, s2, 0), -1);
    assert_non_null(strstr(err_message(), "declared twice"));
    assert_int_equal(params_allocate(&p), 0);
    assert_int_equal(p.count, 17);
    assert_ptr_equal(params_values(&p, 1), p.values + 12);
    assert_int_equal(params_find(&p, "b"), 1);
    assert_int_equal(params_declare(&p, "c", 1, s2, 0), -1); /* after allocation */
    params_free(&p);
}

static void test_metrics(void **state)
{
    (void)state;
    metrics m;
    metrics_init(&m);
    for (int i = 0; i < 1000; ++i) assert_int_equal(metrics_append(&m, "loss", i), 0);
    assert_int_equal(metrics_set(&m, "final", 2.5), 0);
    assert_int_equal(metrics_find(&m, "loss")->n, 1000);
    assert_true(metrics_find(&m, "loss")->values[999] == 999);
    assert_true(metrics_find(&m, "final")->values[0] == 2.5);
    assert_null(metrics_find(&m, "missing"));
    metrics_free(&m);
}

static void test_schedules(void **state)
{
    (void)state;
    lr_schedule cosine = {SCHEDULE_WARMUP_COSINE, 1e-3, 100, 1100, 0.05};
    assert_true(fabs(schedule_lr(&cosine, 0)) < 1e-15);
    assert_true(fabs(schedule_lr(&cosine, 50) - 5e-4) < 1e-15);
    assert_true(fabs(schedule_lr(&cosine, 100) - 1e-3) < 1e-15);
    assert_true(fabs(schedule_lr(&cosine, 600) - 1e-3 * (0.5 * 0.95 + 0.05)) < 1e-12);
    assert_true(fabs(schedule_lr(&cosine, 1100) - 5e-5) < 1e-15);
    lr_schedule decay = {SCHEDULE_EXP_DECAY, 1e-2, 0, 1000, 0.01};
    assert_true(fabs(schedule_lr(&decay, 500) - 1e-3) < 1e-12);
    assert_true(fabs(schedule_lr(&decay, 1000) - 1e-4) < 1e-12);
    lr_schedule constant = {SCHEDULE_CONSTANT, 3e-4, 0, 10, 0};
    assert_true(schedule_lr(&constant, 7) == 3e-4);
    schedule_kind kind;
    assert_int_equal(schedule_kind_parse("cosine", &kind), 0);
    assert_int_equal(kind, SCHEDULE_WARMUP_COSINE);
    assert_int_equal(schedule_kind_parse("linear", &kind), -1);
}

/* Adam against PyTorch's update written out in double; group 1 has no schedule and stays frozen. */
static void test_adam_matches_reference(void **state)
{
    (void)state;
    param_set p;
    params_init(&p);
    size_t two[1] = {2}, one[1] = {1};
    params_declare(&p, "w", 1, two, 0);
    params_declare(&p, "frozen", 1, one, 1);
    params_allocate(&p);
    p.values[0] = 1.0f, p.values[1] = -2.0f, p.values[2] = 0.5f;
    adam opt;
    assert_int_equal(adam_init(&opt, &p, 0.9, 0.999, 1e-8), 0);
    lr_schedule s = {SCHEDULE_CONSTANT, 0.1, 0, 10, 1};
    adam_set_group(&opt, 0, s);
    double x[2] = {1.0, -2.0}, m[2] = {0}, v[2] = {0};
    for (int t = 1; t <= 5; ++t) {
        for (int i = 0; i < 2; ++i) {
            double g = 2 * x[i] + 0.3 * t; /* any gradient sequence */
            p.grads[i] = (real)g;
            m[i] = 0.9 * m[i] + 0.1 * g;
            v[i] = 0.999 * v[i] + 0.001 * g * g;
            double mhat = m[i] / (1 - pow(0.9, t)), denom = sqrt(v[i]) / sqrt(1 - pow(0.999, t)) + 1e-8;
            x[i] -= 0.1 * mhat / denom;
        }
        p.grads[2] = 1.0f;
        assert_int_equal(adam_step(&opt, &p), 0);
        for (int i = 0; i < 2; ++i) assert_true(fabs(p.values[i] - x[i]) < 1e-5);
    }
    assert_true(p.values[2] == 0.5f);
    assert_int_equal(opt.step, 5);
    adam_free(&opt);
    params_free(&p);
}

/* linalg_gemm against a plain triple loop, for every transpose, with C accumulated (beta 0.5),
 * on one call and split over 2 and 3 threads (row blocks of uneven size: m = 131). */
static void test_gemm_split(void **state)
{
    (void)state;
    enum { M = 131, N = 67, K = 300 }; /* M·N·K above the split threshold */
    rng_t rng;
    rng_seed(&rng, 12, 0);
    real *a = malloc(sizeof(real) * M * K), *b = malloc(sizeof(real) * K * N), *c0 = malloc(sizeof(real) * M * N);
    real *c = malloc(sizeof(real) * M * N);
    double *want = malloc(sizeof(double) * M * N);
    assert_true(a && b && c0 && c && want);
    for (int i = 0; i < M * K; ++i) a[i] = (real)rng_normal(&rng);
    for (int i = 0; i < K * N; ++i) b[i] = (real)rng_normal(&rng);
    for (int i = 0; i < M * N; ++i) c0[i] = (real)rng_normal(&rng);
    const int saved = omp_get_max_threads();
    for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
            const int lda = ta ? M : K, ldb = tb ? K : N; /* A stored K×M when transposed, B N×K */
            for (int i = 0; i < M; ++i)
                for (int j = 0; j < N; ++j) {
                    double sum = 0;
                    for (int l = 0; l < K; ++l)
                        sum += (double)(ta ? a[l * lda + i] : a[i * lda + l]) * (tb ? b[j * ldb + l] : b[l * ldb + j]);
                    want[i * N + j] = 2 * sum + 0.5 * c0[i * N + j];
                }
            for (int threads = 1; threads <= 3; ++threads) {
                omp_set_num_threads(threads);
                memcpy(c, c0, sizeof(real) * M * N);
                linalg_gemm(ta, tb, M, N, K, 2, a, lda, b, ldb, (real)0.5, c, N);
                double worst = 0;
                for (int i = 0; i < M * N; ++i) worst = fmax(worst, fabs(c[i] - want[i]) / (1 + fabs(want[i])));
                assert_true(worst < 1e-4);
            }
        }
    omp_set_num_threads(saved);
    free(a), free(b), free(c0), free(c), free(want);
}

static void test_checkpoint_round_trip(void **state)
{
    (void)state;
    char dir[64], path[128];
    assert_int_equal(tu_make_scratch(dir, sizeof dir, "ckpt"), 0);
    tu_path_in(dir, "ckpt.h5", path, sizeof path);
    param_set p, q;
    params_init(&p);
    params_init(&q);
    size_t shape[2] = {3, 2};
    params_declare(&p, "net.w0", 2, shape, 0);
    params_declare(&q, "net.w0", 2, shape, 0);
    params_allocate(&p);
    params_allocate(&q);
    adam a, b;
    adam_init(&a, &p, 0.9, 0.999, 1e-8);
    adam_init(&b, &q, 0.9, 0.999, 1e-8);
    for (int i = 0; i < 6; ++i) p.values[i] = (real)(i * 0.25), a.m[i] = (real)i, a.v[i] = (real)(2 * i);
    a.step = 17;
    rng_t r1, r2;
    rng_seed(&r1, 5, 1);
    rng_uniform(&r1);
    rng_seed(&r2, 0, 0);
    metrics m1, m2;
    metrics_init(&m1);
    metrics_init(&m2);
    metrics_append(&m1, "loss", 0.5);
    metrics_append(&m1, "loss", 0.25);
    train_state saved = {&p, &a, &r1, 17, &m1, 0xabcdef, NULL, 0};
    assert_int_equal(ckpt_save(path, &saved), 0);
    train_state loaded = {&q, &b, &r2, 0, &m2, 0xabcdef, NULL, 0};
    assert_int_equal(ckpt_load(path, &loaded), 0);
    assert_memory_equal(p.values, q.values, 6 * sizeof(real));
    assert_memory_equal(a.m, b.m, 6 * sizeof(real));
    assert_memory_equal(a.v, b.v, 6 * sizeof(real));
    assert_int_equal(b.step, 17);
    assert_int_equal(loaded.iteration, 17);
    assert_true(r1.key == r2.key && r1.position == r2.position);
    assert_int_equal(metrics_find(&m2, "loss")->n, 2);
    loaded.config_hash = 0x1234;
    assert_int_equal(ckpt_load(path, &loaded), -1);
    assert_non_null(strstr(err_message(), "another config"));
    /* a shape change is a size mismatch, not a silent partial read */
    param_set wrong;
    params_init(&wrong);
    size_t other[2] = {2, 2};
    params_declare(&wrong, "net.w0", 2, other, 0);
    params_allocate(&wrong);
    train_state mismatch = {&wrong, NULL, NULL, 0, NULL, 0xabcdef, NULL, 0};
    assert_int_equal(ckpt_load(path, &mismatch), -1);
    assert_non_null(strstr(err_message(), "expected 4"));
    params_free(&wrong);
    metrics_free(&m1);
    metrics_free(&m2);
    adam_free(&a);
    adam_free(&b);
    params_free(&p);
    params_free(&q);
    tu_remove_tree(dir);
}

int main(void)
{
    h5io_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers), cmocka_unit_test(test_rng_statistics_and_reproducibility),
        cmocka_unit_test(test_params_layout),        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_schedules),            cmocka_unit_test(test_adam_matches_reference),
        cmocka_unit_test(test_checkpoint_round_trip), cmocka_unit_test(test_gemm_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
