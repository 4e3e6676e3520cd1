/* grad_mlp.c — the MLP's backward against central finite differences (real = double).
 *
 * Loss L = Σ c ⊙ MLP(x) with random c; every weight, bias and input
 * gradient is compared with (L(θ+h) − L(θ−h)) / 2h.  Softplus with a gentle
 * and with NeuS's sharp β, and ReLU away from its kink.
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

#include "phive/mlp.h"

#define ROWS 6
#define N_IN 5
#define N_OUT 2

typedef struct {
    mlp net;
    param_set p;
    mlp_buffers b;
    real x[ROWS * N_IN], c[ROWS * N_OUT];
} fixture;

static void setup_fixture(fixture *f, double beta, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed, 0);
    params_init(&f->p);
    assert_int_equal(mlp_declare(&f->net, &f->p, "m", N_IN, 7, 2, N_OUT, beta, 0), 0);
    assert_int_equal(params_allocate(&f->p), 0);
    for (size_t i = 0; i < f->p.count; ++i) f->p.values[i] = 0.6 * rng_normal(&rng);
    for (int i = 0; i < ROWS * N_IN; ++i) f->x[i] = 2 * rng_uniform(&rng) - 1;
    for (int i = 0; i < ROWS * N_OUT; ++i) f->c[i] = rng_normal(&rng);
    assert_int_equal(mlp_buffers_alloc(&f->b, &f->net, ROWS), 0);
}

static double loss(fixture *f)
{
    memcpy(f->b.act[0], f->x, sizeof f->x);
    mlp_forward(&f->net, &f->p, &f->b, ROWS);
    double sum = 0;
    for (int i = 0; i < ROWS * N_OUT; ++i) sum += f->c[i] * f->b.act[f->net.n_layers][i];
    return sum;
}

/* Relative to the entry, floored at 1e-3 of the largest gradient: the finite difference
 * of an O(1) loss carries ~1e-10 of round-off, which only matters for near-zero entries. */
static double relative_error(double analytic, double numeric, double scale)
{
    return fabs(analytic - numeric) / fmax(1e-3 * scale, fmax(fabs(analytic), fabs(numeric)));
}

static double largest(const real *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; ++i) m = fmax(m, fabs(v[i]));
    return m;
}

static double check_gradients(double beta, uint64_t seed)
{
    fixture f;
    setup_fixture(&f, beta, seed);
    real grad_in[ROWS * N_IN];
    params_zero_grads(&f.p);
    loss(&f);
    mlp_backward(&f.net, &f.p, &f.b, ROWS, f.c, grad_in);
    /* backward accumulates: a second pass must double the parameter gradient */
    real *first = malloc(f.p.count * sizeof(real));
    memcpy(first, f.p.grads, f.p.count * sizeof(real));
    loss(&f);
    mlp_backward(&f.net, &f.p, &f.b, ROWS, f.c, NULL);
    for (size_t i = 0; i < f.p.count; ++i) assert_true(fabs(f.p.grads[i] - 2 * first[i]) <= 1e-12 * (1 + fabs(first[i])));

    const double h = beta > 10 ? 1e-7 : 1e-6;
    const double scale = fmax(largest(first, f.p.count), largest(grad_in, ROWS * N_IN));
    double worst = 0;
    for (size_t i = 0; i < f.p.count; ++i) {
        real saved = f.p.values[i];
        f.p.values[i] = saved + h;
        double up = loss(&f);
        f.p.values[i] = saved - h;
        double down = loss(&f);
        f.p.values[i] = saved;
        worst = fmax(worst, relative_error(first[i], (up - down) / (2 * h), scale));
    }
    for (int i = 0; i < ROWS * N_IN; ++i) {
        real saved = f.x[i];
        f.x[i] = saved + h;
        double up = loss(&f);
        f.x[i] = saved - h;
        double down = loss(&f);
        f.x[i] = saved;
        worst = fmax(worst, relative_error(grad_in[i], (up - down) / (2 * h), scale));
    }
    free(first);
    mlp_buffers_free(&f.b, &f.net);
    params_free(&f.p);
    return worst;
}

static void test_softplus_gentle(void **state)
{
    (void)state;
    double worst = check_gradients(3.0, 1);
    printf("softplus beta=3: worst relative error %.3g\n", worst);
    assert_true(worst < 1e-6);
}

static void test_softplus_neus(void **state)
{
    (void)state;
    double worst = check_gradients(100.0, 2);
    printf("softplus beta=100: worst relative error %.3g\n", worst);
    assert_true(worst < 1e-6);
}

static void test_relu(void **state)
{
    (void)state;
    double worst = check_gradients(0.0, 3);
    printf("relu: worst relative error %.3g\n", worst);
    assert_true(worst < 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softplus_gentle),
        cmocka_unit_test(test_softplus_neus),
        cmocka_unit_test(test_relu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
