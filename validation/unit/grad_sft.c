/* grad_sft.c — ∂L/∂Φ of the ϕ-SfT objective (sft.h) against central finite differences of the
 * whole pipeline: Φ → simulator rollout → soft rasterizer → blurred silhouettes → L1 losses.
 * Data: the real sequence R1 beside the repository, downscaled 8× (240 × 135), its first 3
 * frames, the flattened template with frame-0 colours.  Φ starts from ϕ-SfT's initial
 * material with a wind and random corrective velocities, so every parameter moves the cloth;
 * solves are direct (LU) so the rollout is smooth in Φ.  Checked: density, every stretching
 * and bending entry, the wind, a random corrective direction, and the "Only F" offsets.  Each
 * check prints the worst relative error over its entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "phive/rng.h"

#include "petsc_fixture.h"
#include "sft_fixture.h"
#include "test_util.h"

#define TOL 2e-4

/* The tests need the R1 sequence beside the repository; without it they are skipped. */
static int have_r1(void) { return access("../shared/data/phisft_r1/camera.json", R_OK) == 0; }

static const char *const common_ini =
    "[data]\nroot = ../shared/data/phisft_r1\ndownscale = 8\nframes = 3\n"
    "[sim]\npetsc = -ksp_type preonly -pc_type lu\n";

static double loss_at(sft_fixture *fx)
{
    sft_step r;
    assert_int_equal(sft_problem_evaluate(&fx->problem, &fx->ctx, fx->problem.F, 0, &r), 0);
    return r.loss;
}

/* Directional derivative along d (NULL: the unit vector of entry `index`) and its central difference. */
static void check_direction(sft_fixture *fx, const real *grads, size_t index, const real *d, double eps,
                            double *analytic_out, double *numeric_out)
{
    param_set *p = &fx->problem.params;
    double analytic = 0;
    for (size_t i = 0; i < p->count; ++i) analytic += (double)grads[i] * (d ? d[i] : i == index);
    for (size_t i = 0; i < p->count; ++i) p->values[i] += eps * (d ? d[i] : i == index);
    double plus = loss_at(fx);
    for (size_t i = 0; i < p->count; ++i) p->values[i] -= 2 * eps * (d ? d[i] : i == index);
    double minus = loss_at(fx);
    for (size_t i = 0; i < p->count; ++i) p->values[i] += eps * (d ? d[i] : i == index);
    *analytic_out = analytic;
    *numeric_out = (plus - minus) / (2 * eps);
}

static double relative_error(sft_fixture *fx, const real *g, const real *d, double eps)
{
    double a, n;
    check_direction(fx, g, 0, d, eps, &a, &n);
    return fabs(a - n) / fmax(fabs(a), 1e-12);
}

/* The gradient at the current Φ (a copy: evaluations overwrite params.grads). */
static real *gradient(sft_fixture *fx)
{
    sft_step r;
    assert_int_equal(sft_problem_evaluate(&fx->problem, &fx->ctx, fx->problem.F, 1, &r), 0);
    real *g = malloc(fx->problem.params.count * sizeof *g);
    assert_non_null(g);
    memcpy(g, fx->problem.params.grads, fx->problem.params.count * sizeof *g);
    printf("  L = %.6f (RGB %.6f, silhouette %.6f)\n", r.loss, r.rgb, r.sil);
    return g;
}

static void check_tensor(sft_fixture *fx, const real *g, int kind, double eps_scale)
{
    const param_tensor *t = &fx->problem.params.tensors[fx->problem.tensor[kind]];
    double worst = 0, largest = 0;
    for (size_t i = 0; i < t->count; ++i) {
        double v = fx->problem.params.values[t->offset + i], a, n;
        check_direction(fx, g, t->offset + i, NULL, eps_scale * fmax(fabs(v), 1e-2), &a, &n);
        worst = fmax(worst, fabs(a - n));
        largest = fmax(largest, fabs(a));
    }
    worst /= fmax(largest, 1e-300);
    printf("  %-12s %2zu entries: max |analytic - numeric| / max |analytic| = %.2e\n", t->name, t->count, worst);
    assert_true(worst < TOL);
}

/* A random direction over one tensor, scaled by `scale`. */
static real *random_direction(const sft_fixture *fx, int kind, double scale, rng_t *rng)
{
    const param_set *p = &fx->problem.params;
    const param_tensor *t = &p->tensors[fx->problem.tensor[kind]];
    real *d = calloc(p->count, sizeof *d);
    assert_non_null(d);
    for (size_t i = 0; i < t->count; ++i) d[t->offset + i] = (real)(scale * (2 * rng_uniform(rng) - 1));
    return d;
}

static void test_physics(void **state)
{
    (void)state;
    if (!have_r1()) skip();
    sft_fixture fx;
    assert_int_equal(sft_fixture_open(&fx, common_ini, 2), 0);
    sft_problem *s = &fx.problem;
    rng_t rng;
    rng_seed(&rng, 7, 0);
    real *wind = params_values(&s->params, s->tensor[T_WIND]);
    wind[0] = 0.4, wind[1] = -0.2, wind[2] = -0.6;
    const param_tensor *c = &s->params.tensors[s->tensor[T_CORRECTIVES]];
    for (size_t i = 0; i < c->count; ++i) s->params.values[c->offset + i] = (real)(0.05 * (2 * rng_uniform(&rng) - 1));
    real *g = gradient(&fx);
    check_tensor(&fx, g, T_DENSITY, 1e-5);
    check_tensor(&fx, g, T_STRETCHING, 1e-5);
    check_tensor(&fx, g, T_BENDING, 1e-5);
    check_tensor(&fx, g, T_WIND, 1e-5);
    real *d = random_direction(&fx, T_CORRECTIVES, 1.0, &rng);
    double err = relative_error(&fx, g, d, 1e-6);
    printf("  correctives  random direction: relative error %.2e\n", err);
    assert_true(err < TOL);
    free(d);
    free(g);
    sft_fixture_close(&fx);
}

static void test_offsets(void **state)
{
    (void)state;
    if (!have_r1()) skip();
    sft_fixture fx;
    char ini[1024];
    snprintf(ini, sizeof ini, "%s[model]\ndeformation = offsets\n", common_ini);
    assert_int_equal(sft_fixture_open(&fx, ini, 2), 0);
    rng_t rng;
    rng_seed(&rng, 11, 0);
    /* a smooth displaced start (a bulge along the view axis and a drift), free of self-overlaps that
     * would make K = 1 colours jump under the differences */
    sft_problem *s = &fx.problem;
    real *off = params_values(&s->params, s->tensor[T_OFFSETS]);
    for (int f = 0; f < s->F; ++f)
        for (int i = 0; i < s->n; ++i) {
            const double *x = s->tpl.x0 + 3 * i;
            off[3 * ((size_t)f * s->n + i) + 0] = (real)(0.004 * f);
            off[3 * ((size_t)f * s->n + i) + 2] = (real)(0.005 * f * sin(4 * x[0]) * cos(3 * x[1]));
        }
    real *g = gradient(&fx);
    real *d = random_direction(&fx, T_OFFSETS, 1e-3, &rng);
    double err = relative_error(&fx, g, d, 1e-6);
    printf("  offsets      random direction: relative error %.2e\n", err);
    assert_true(err < TOL);
    free(d), free(g);
    sft_fixture_close(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_physics),
        cmocka_unit_test(test_offsets),
    };
    return cmocka_run_group_tests(tests, petsc_fixture_setup, petsc_fixture_teardown);
}
