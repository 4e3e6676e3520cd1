/* grad_neus.c — NeuS model and renderer against central finite differences (real = double).
 *
 * 1. MLP extensions: skip connection and weight normalisation (Softplus β = 3
 *    and NeuS's 100, ReLU), L = Σ c ⊙ y: every parameter and input.
 * 2. The input gradient G = ∂y_k/∂u against differences of y_k, and the double
 *    backward of L = Σ c ⊙ y + Σ a ⊙ G: every parameter and input.
 * 3. Positional encoding: the vjp (backward) and jvp against differences.
 * 4. The per-ray render (kernels/nsr_render.h) of one ray: L = Σ C̄·C + W̄·W +
 *    Σ w̄·w w.r.t. every f_i, g_i, c_i and s, cos annealing ratios 0, 0.3, 1,
 *    with and without background.
 * 5. A batch of rays through the per-ray functions and the loss terms (L1
 *    colour with masks, mask BCE, Eikonal), w.r.t. every per-sample input.
 * 6. The whole pipeline on a small network (skip, weight norm, PE): the batch
 *    loss of neus_forward at fixed samples w.r.t. every parameter (including
 *    the variance), for the analytic and the FD SDF gradient, in chunks; and
 *    with the NeRF++ background network and outside samples.
 * 7. The SDF gradient at NeuS's default sizes: analytic against a fine central
 *    difference, and the tetrahedral FD at several ε against the analytic one
 *    (figures printed for the report).
 * Errors are relative to the entry, floored at 1e-3 of the largest gradient
 * (as grad_mlp.c); each test prints its worst and asserts ≤ 1e-5 (1e-6 where
 * the op is simple).
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

#include "mlp.h"
#include "nsr_render.h"
#include "nsr_rays.h"
#include "nsr_volume.h"
#include "phive/mlp.h"
#include "phive/neus.h"

_Static_assert(sizeof(real) == sizeof(double), "grad_neus is built with real = double");

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

static double uniform(rng_t *rng, double lo, double hi) { return lo + (hi - lo) * rng_uniform(rng); }

/* ---- 1, 2: MLP with skip and weight norm ------------------------------------------------------ */

#define ROWS 5
#define N_IN 6
#define N_OUT 3
#define WIDTH 9

typedef struct {
    mlp net;
    param_set p;
    mlp_buffers b;
    real x[ROWS * N_IN], c[ROWS * N_OUT], a[ROWS * N_IN], G[ROWS * N_IN];
    int second; /* loss includes Σ a·G */
    int output;
} mlp_fixture;

static void mlp_setup(mlp_fixture *f, double beta, int skip, int weight_norm, int second, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed, 0);
    memset(f, 0, sizeof *f);
    params_init(&f->p);
    mlp_shape s = {.n_in = N_IN, .width = WIDTH, .hidden_layers = 3, .n_out = N_OUT, .beta = beta, .skip = skip,
                   .weight_norm = weight_norm};
    assert_int_equal(mlp_declare_ex(&f->net, &f->p, "m", &s), 0);
    assert_int_equal(params_allocate(&f->p), 0);
    for (size_t i = 0; i < f->p.count; ++i) f->p.values[i] = 0.6 * rng_normal(&rng);
    if (weight_norm) /* gains of either sign and away from 0 */
        for (int l = 0; l < f->net.n_layers; ++l) {
            real *g = params_values(&f->p, f->net.gain[l]);
            for (int o = 0; o < mlp_layer_out(&f->net, l); ++o) g[o] = (rng_uniform(&rng) < 0.5 ? -1 : 1) * uniform(&rng, 0.5, 2);
        }
    for (int i = 0; i < ROWS * N_IN; ++i) f->x[i] = 2 * rng_uniform(&rng) - 1;
    for (int i = 0; i < ROWS * N_OUT; ++i) f->c[i] = rng_normal(&rng);
    for (int i = 0; i < ROWS * N_IN; ++i) f->a[i] = rng_normal(&rng);
    f->second = second;
    f->output = 1;
    assert_int_equal(mlp_buffers_alloc_ex(&f->b, &f->net, ROWS, second), 0);
}

static void mlp_teardown(mlp_fixture *f)
{
    mlp_buffers_free(&f->b, &f->net);
    params_free(&f->p);
}

static double mlp_loss(mlp_fixture *f)
{
    memcpy(f->b.act[0], f->x, sizeof f->x);
    mlp_forward(&f->net, &f->p, &f->b, ROWS);
    double sum = 0;
    for (int i = 0; i < ROWS * N_OUT; ++i) sum += f->c[i] * f->b.act[f->net.n_layers][i];
    if (f->second) {
        mlp_input_gradient(&f->net, &f->p, &f->b, ROWS, f->output, f->G);
        for (int i = 0; i < ROWS * N_IN; ++i) sum += f->a[i] * f->G[i];
    }
    return sum;
}

static double mlp_check(double beta, int skip, int weight_norm, int second, uint64_t seed)
{
    mlp_fixture f;
    mlp_setup(&f, beta, skip, weight_norm, second, seed);
    real grad_in[ROWS * N_IN];
    params_zero_grads(&f.p);
    mlp_loss(&f);
    if (second) mlp_backward_second(&f.net, &f.p, &f.b, ROWS, f.output, f.c, f.a, grad_in);
    else mlp_backward(&f.net, &f.p, &f.b, ROWS, f.c, grad_in);
    real *first = malloc(f.p.count * sizeof(real));
    memcpy(first, f.p.grads, f.p.count * sizeof(real));
    /* backward accumulates: a second pass doubles the parameter gradient */
    mlp_loss(&f);
    if (second) mlp_backward_second(&f.net, &f.p, &f.b, ROWS, f.output, f.c, f.a, NULL);
    else mlp_backward(&f.net, &f.p, &f.b, ROWS, f.c, NULL);
    for (size_t i = 0; i < f.p.count; ++i) assert_true(fabs(f.p.grads[i] - 2 * first[i]) <= 1e-12 * (1 + fabs(first[i])));

    /* the second-order loss is larger (Σ a·G): roundoff, not truncation, limits a smaller h */
    const double h = beta > 10 && !second ? 1e-7 : 1e-6;
    const double scale = fmax(largest(first, f.p.count), largest(grad_in, ROWS * N_IN));
    double worst = 0;
    for (size_t i = 0; i < f.p.count; ++i) {
        real saved = f.p.values[i];
        f.p.values[i] = saved + h;
        double up = mlp_loss(&f);
        f.p.values[i] = saved - h;
        double down = mlp_loss(&f);
        f.p.values[i] = saved;
        worst = fmax(worst, relative_error(first[i], (up - down) / (2 * h), scale));
    }
    for (int i = 0; i < ROWS * N_IN; ++i) {
        real saved = f.x[i];
        f.x[i] = saved + h;
        double up = mlp_loss(&f);
        f.x[i] = saved - h;
        double down = mlp_loss(&f);
        f.x[i] = saved;
        worst = fmax(worst, relative_error(grad_in[i], (up - down) / (2 * h), scale));
    }
    free(first);
    mlp_teardown(&f);
    return worst;
}

static void test_mlp_skip_weight_norm(void **state)
{
    (void)state;
    double a = mlp_check(3.0, 2, 1, 0, 11), b = mlp_check(100.0, 2, 1, 0, 12), c = mlp_check(0.0, 3, 0, 0, 13);
    double d = mlp_check(3.0, 0, 1, 0, 14), e = mlp_check(3.0, 1, 0, 0, 15);
    printf("mlp skip+wn beta=3 %.3g, skip+wn beta=100 %.3g, relu skip %.3g, wn only %.3g, skip at 1 %.3g\n", a, b, c,
           d, e);
    assert_true(fmax(fmax(a, b), fmax(c, fmax(d, e))) < 1e-6);
}

/* G = ∂y_k/∂u against central differences of y_k. */
static double input_gradient_check(double beta, int skip, int weight_norm, uint64_t seed)
{
    mlp_fixture f;
    mlp_setup(&f, beta, skip, weight_norm, 1, seed);
    mlp_loss(&f);
    real G[ROWS * N_IN];
    memcpy(G, f.G, sizeof G);
    const double h = 1e-6;
    double worst = 0, scale = largest(G, ROWS * N_IN);
    for (int i = 0; i < ROWS * N_IN; ++i) {
        real saved = f.x[i];
        int row = i / N_IN;
        f.x[i] = saved + h;
        memcpy(f.b.act[0], f.x, sizeof f.x);
        mlp_forward(&f.net, &f.p, &f.b, ROWS);
        double up = f.b.act[f.net.n_layers][row * N_OUT + f.output];
        f.x[i] = saved - h;
        memcpy(f.b.act[0], f.x, sizeof f.x);
        mlp_forward(&f.net, &f.p, &f.b, ROWS);
        double down = f.b.act[f.net.n_layers][row * N_OUT + f.output];
        f.x[i] = saved;
        worst = fmax(worst, relative_error(G[i], (up - down) / (2 * h), scale));
    }
    mlp_teardown(&f);
    return worst;
}

static void test_mlp_input_gradient(void **state)
{
    (void)state;
    double a = input_gradient_check(3.0, 2, 1, 21), b = input_gradient_check(100.0, 2, 1, 22);
    double c = input_gradient_check(0.0, 3, 0, 23), d = input_gradient_check(3.0, 3, 1, 24);
    printf("input gradient: skip+wn beta=3 %.3g, beta=100 %.3g, relu %.3g, skip at the last hidden %.3g\n", a, b, c, d);
    assert_true(fmax(fmax(a, b), fmax(c, d)) < 1e-6);
}

static void test_mlp_double_backward(void **state)
{
    (void)state;
    double a = mlp_check(3.0, 2, 1, 1, 31), b = mlp_check(100.0, 2, 1, 1, 32), c = mlp_check(2.0, 0, 0, 1, 33);
    double d = mlp_check(5.0, 3, 0, 1, 34);
    printf("double backward: skip+wn beta=3 %.3g, skip+wn beta=100 %.3g, plain %.3g, skip at the last hidden %.3g\n", a,
           b, c, d);
    assert_true(fmax(fmax(a, b), fmax(c, d)) < 1e-5);
}

/* ---- 3: positional encoding ------------------------------------------------------------------ */

/* Points (D = 3) and NeRF++'s inverted-sphere coordinates (D = 4). */
static void check_positional_encoding(int D)
{
    enum { N = 4, F = 4, MAXW = 4 * (1 + 2 * F) };
    nsr_encoding e;
    assert_int_equal(nsr_encoding_positional(&e, D, F), 0);
    const int W = nsr_encoding_n_out(&e);
    assert_int_equal(W, D * (1 + 2 * F));
    rng_t rng;
    rng_seed(&rng, 41, 0);
    real x[N * 4], out[N * MAXW], c[N * MAXW], gx[N * 4], dx[N * 4], jv[N * MAXW], up[N * MAXW], down[N * MAXW];
    for (int i = 0; i < N * D; ++i) x[i] = uniform(&rng, -1.2, 1.2), dx[i] = rng_normal(&rng);
    for (int i = 0; i < N * W; ++i) c[i] = rng_normal(&rng);
    e.ops->forward(&e, NULL, x, N, out);
    /* layout [x, sin(2^k x), cos(2^k x)]: row 1, sin(4 x_1) and cos(8 x_2) */
    assert_true(fabs(out[W + D * 5 + 1] - sin(4 * x[D + 1])) < 1e-15 && fabs(out[W + D * 8 + 2] - cos(8 * x[D + 2])) < 1e-15);
    e.ops->backward(&e, NULL, x, out, N, c, gx, 0);
    e.ops->jvp(&e, NULL, x, out, N, dx, jv);
    const double h = 1e-6;
    double worst_vjp = 0, worst_jvp = 0, scale = largest(gx, N * D);
    for (int i = 0; i < N * D; ++i) {
        real saved = x[i];
        x[i] = saved + h;
        e.ops->forward(&e, NULL, x, N, up);
        x[i] = saved - h;
        e.ops->forward(&e, NULL, x, N, down);
        x[i] = saved;
        double num = 0;
        for (int j = 0; j < N * W; ++j) num += c[j] * (up[j] - down[j]) / (2 * h);
        worst_vjp = fmax(worst_vjp, relative_error(gx[i], num, scale));
    }
    real xp[N * 4], xm[N * 4];
    for (int i = 0; i < N * D; ++i) xp[i] = x[i] + h * dx[i], xm[i] = x[i] - h * dx[i];
    e.ops->forward(&e, NULL, xp, N, up);
    e.ops->forward(&e, NULL, xm, N, down);
    scale = largest(jv, N * W);
    for (int j = 0; j < N * W; ++j) worst_jvp = fmax(worst_jvp, relative_error(jv[j], (up[j] - down[j]) / (2 * h), scale));
    printf("positional encoding (%d-D, 4 frequencies): vjp %.3g, jvp %.3g\n", D, worst_vjp, worst_jvp);
    assert_true(worst_vjp < 1e-6 && worst_jvp < 1e-6);
}

static void test_positional_encoding(void **state)
{
    (void)state;
    check_positional_encoding(3);
    check_positional_encoding(4);
}

/* ---- 4, 5: the per-ray render ---------------------------------------------------------------- */

#define MAXS 24

typedef struct {
    int n_rays, n;
    real f[4][MAXS], g[4][MAXS * 3], c[4][MAXS * 3], dist[4][MAXS], d[4][3];
    real s, r, bg[3];
    int use_bg;
    /* single-ray loss: upstream */
    real gC[3], gW, gw[MAXS];
    /* batch loss: targets */
    real target[4][3], mask[4];
    int batch;
} ray_case;

static void make_ray(ray_case *rc, int k, rng_t *rng)
{
    double d[3] = {rng_normal(rng), rng_normal(rng), rng_normal(rng)}, len = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    for (int c = 0; c < 3; ++c) rc->d[k][c] = d[c] / len;
    double t0 = uniform(rng, 0.3, 0.7); /* a surface crossing in the middle of the ray */
    double t = 0;
    for (int i = 0; i < rc->n; ++i) {
        rc->dist[k][i] = uniform(rng, 0.03, 0.12);
        double mid = t + rc->dist[k][i] / 2;
        t += rc->dist[k][i];
        rc->f[k][i] = (t0 - mid / (rc->n * 0.075)) * uniform(rng, 0.8, 1.2) + 0.02 * rng_normal(rng);
        /* gradients: mostly against the ray, some along it, away from the ReLU kinks at cos 0 and 1 */
        for (int c = 0; c < 3; ++c) rc->g[k][3 * i + c] = 0.4 * rng_normal(rng) - uniform(rng, 0.2, 1.0) * rc->d[k][c];
        real cos = 0;
        for (int c = 0; c < 3; ++c) cos += rc->g[k][3 * i + c] * rc->d[k][c];
        if (fabs(cos) < 0.02 || fabs(cos - 1) < 0.02)
            for (int c = 0; c < 3; ++c) rc->g[k][3 * i + c] -= 0.1 * rc->d[k][c];
        for (int c = 0; c < 3; ++c) rc->c[k][3 * i + c] = uniform(rng, 0.05, 0.95);
    }
}

static double ray_loss(const ray_case *rc, real *grad_f, real *grad_g, real *grad_c, real *grad_s)
{
    double loss = 0, s_acc = 0;
    const real *bg = rc->use_bg ? rc->bg : NULL;
    for (int k = 0; k < rc->n_rays; ++k) {
        real alpha[MAXS], trans[MAXS], w[MAXS], grad_alpha[MAXS], C[3], W;
        neus_ray_forward(rc->n, rc->f[k], rc->g[k], rc->c[k], rc->dist[k], rc->d[k], rc->s, rc->r, bg, alpha, trans, w, C,
                         &W);
        real gC[3], gW = rc->gW;
        const real *gw = rc->batch ? NULL : rc->gw;
        if (!rc->batch) {
            for (int c = 0; c < 3; ++c) loss += rc->gC[c] * C[c], gC[c] = rc->gC[c];
            loss += rc->gW * W;
            for (int i = 0; i < rc->n; ++i) loss += rc->gw[i] * w[i];
        } else {
            /* L1 colour over masked rays, mask BCE (weight 0.1), Eikonal (weight 0.1) */
            double M = 0;
            for (int j = 0; j < rc->n_rays; ++j) M += rc->mask[j];
            for (int c = 0; c < 3; ++c) {
                double e = C[c] - rc->target[k][c];
                loss += fabs(e) * rc->mask[k] / (M + 1e-5);
                gC[c] = (real)((e > 0 ? 1 : -1) * rc->mask[k] / (M + 1e-5));
            }
            real dW;
            loss += 0.1 * neus_mask_bce(W, rc->mask[k], &dW) / rc->n_rays;
            gW = 0.1 * dW / rc->n_rays;
            for (int i = 0; i < rc->n; ++i) {
                real dg[3];
                loss += 0.1 * neus_eikonal(rc->g[k] + 3 * i, dg) / (rc->n * rc->n_rays);
                for (int c = 0; c < 3 && grad_g; ++c) grad_g[(k * MAXS + i) * 3 + c] += 0.1 * dg[c] / (rc->n * rc->n_rays);
            }
        }
        if (grad_f)
            s_acc += neus_ray_backward(rc->n, rc->f[k], rc->g[k], rc->c[k], rc->dist[k], rc->d[k], rc->s, rc->r, bg,
                                       alpha, trans, w, gC, gW, gw, grad_alpha, grad_f + k * MAXS, grad_g + k * MAXS * 3,
                                       grad_c + k * MAXS * 3);
    }
    if (grad_s) *grad_s = s_acc;
    return loss;
}

static double ray_check(ray_case *rc)
{
    static real gf[4 * MAXS], gg[4 * MAXS * 3], gc[4 * MAXS * 3];
    memset(gf, 0, sizeof gf), memset(gg, 0, sizeof gg), memset(gc, 0, sizeof gc);
    real gs;
    ray_loss(rc, gf, gg, gc, &gs);
    double scale = fmax(fmax(largest(gf, 4 * MAXS), largest(gg, 4 * MAXS * 3)), fmax(largest(gc, 4 * MAXS * 3), fabs(gs)));
    const double h = 1e-6;
    double worst = 0;
#define PERTURB(lvalue, analytic)                                                                                      \
    do {                                                                                                               \
        real saved = (lvalue);                                                                                         \
        (lvalue) = saved + h;                                                                                          \
        double up = ray_loss(rc, NULL, NULL, NULL, NULL);                                                              \
        (lvalue) = saved - h;                                                                                          \
        double down = ray_loss(rc, NULL, NULL, NULL, NULL);                                                            \
        (lvalue) = saved;                                                                                              \
        worst = fmax(worst, relative_error((analytic), (up - down) / (2 * h), scale));                                \
    } while (0)
    for (int k = 0; k < rc->n_rays; ++k)
        for (int i = 0; i < rc->n; ++i) {
            PERTURB(rc->f[k][i], gf[k * MAXS + i]);
            for (int c = 0; c < 3; ++c) {
                PERTURB(rc->g[k][3 * i + c], gg[(k * MAXS + i) * 3 + c]);
                PERTURB(rc->c[k][3 * i + c], gc[(k * MAXS + i) * 3 + c]);
            }
        }
    PERTURB(rc->s, gs);
#undef PERTURB
    return worst;
}

static void test_ray_single(void **state)
{
    (void)state;
    const double ratios[3] = {0.0, 0.3, 1.0};
    double worst = 0;
    for (int t = 0; t < 6; ++t) {
        rng_t rng;
        rng_seed(&rng, 51 + t, 0);
        ray_case rc;
        memset(&rc, 0, sizeof rc);
        rc.n_rays = 1;
        rc.n = 16;
        rc.s = uniform(&rng, 5, 60);
        rc.r = ratios[t % 3];
        rc.use_bg = t >= 3;
        for (int c = 0; c < 3; ++c) rc.bg[c] = uniform(&rng, 0, 1), rc.gC[c] = rng_normal(&rng);
        rc.gW = rng_normal(&rng);
        for (int i = 0; i < rc.n; ++i) rc.gw[i] = rng_normal(&rng);
        make_ray(&rc, 0, &rng);
        double e = ray_check(&rc);
        printf("single ray (s = %.1f, r = %.1f, bg %d): worst %.3g\n", rc.s, rc.r, rc.use_bg, e);
        worst = fmax(worst, e);
    }
    assert_true(worst < 1e-5);
}

static void test_ray_batch_losses(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 61, 0);
    ray_case rc;
    memset(&rc, 0, sizeof rc);
    rc.n_rays = 4;
    rc.n = 20;
    rc.s = 30;
    rc.r = 0.6;
    rc.use_bg = 1;
    rc.batch = 1;
    for (int c = 0; c < 3; ++c) rc.bg[c] = 1;
    for (int k = 0; k < rc.n_rays; ++k) {
        make_ray(&rc, k, &rng);
        for (int c = 0; c < 3; ++c) rc.target[k][c] = uniform(&rng, 0, 1);
        rc.mask[k] = k != 2;
    }
    double worst = ray_check(&rc);
    printf("batch of 4 rays with L1 + mask BCE + Eikonal: worst %.3g\n", worst);
    assert_true(worst < 1e-5);
}

/* ---- 6: the whole pipeline at fixed samples ------------------------------------------------- */

typedef struct {
    neus_model m;
    param_set p;
    neus_render_options o;
    neus_workspace ws;
    neus_ray_batch rays;
    real origin[5 * 3], direction[5 * 3], near[5], far[5], rgb[5 * 3], mask[5];
} pipe_fixture;

/* nerf: with a small NeRF++ background (4 outside samples) instead of the constant background colour;
 * encoding NSR_ENCODING_VOLUMES: HIVE's feature volumes (3 of 2..8, 2 channels) as the SDF input and
 * the normal smoothness term (with the 6-tap FD gradient); NSR_ENCODING_HASH: a hash grid of 3
 * levels (4..12, 64-row tables, so two levels hash) */
static void pipe_setup(pipe_fixture *f, neus_gradient_mode mode, uint64_t seed, int nerf, int encoding)
{
    memset(f, 0, sizeof *f);
    neus_model_config c;
    neus_model_config_default(&c);
    c.sdf_hidden_layers = 3, c.sdf_width = 20, c.sdf_skip = 2, c.sdf_features = 4, c.pe_xyz = 2;
    c.color_hidden_layers = 2, c.color_width = 8, c.pe_dir = 1;
    c.background = nerf, c.bg_layers = 3, c.bg_width = 24, c.bg_skip = 2, c.pe_bg = 2, c.pe_bg_dir = 1;
    c.encoding = encoding;
    c.volumes = (nsr_volume_config){.n_volumes = 3, .res_min = 2, .res_max = 8, .channels = 2, .pe_freqs = 1,
                                    .init_std = 0.05};
    c.hash = (nsr_hash_config){.levels = 3, .features = 2, .log2_table = 6, .res_min = 4, .res_max = 12, .pe_freqs = 1,
                               .init_scale = 0.05};
    params_init(&f->p);
    assert_int_equal(neus_model_declare(&f->m, &f->p, &c, 0), 0);
    assert_int_equal(params_allocate(&f->p), 0);
    rng_t rng;
    rng_seed(&rng, seed, 0);
    neus_model_init(&f->m, &f->p, &rng);
    /* move away from the symmetric init: the PE weights and biases become non-zero (not the variance) */
    const param_tensor *v = &f->p.tensors[f->m.variance];
    for (size_t i = 0; i < f->p.count; ++i)
        if (i != v->offset) f->p.values[i] += 0.05 * rng_normal(&rng);
    neus_render_options_default(&f->o);
    f->o.n_samples = 8, f->o.n_importance = 8, f->o.up_sample_steps = 2, f->o.perturb = 0;
    f->o.cos_anneal_ratio = 0.5, f->o.gradient = mode, f->o.chunk_rays = 2, f->o.background = 1;
    f->o.fd_eps = 1e-2;
    for (int c2 = 0; c2 < 3; ++c2) f->o.background_rgb[c2] = 0.3 + 0.2 * c2;
    if (nerf) f->o.background = 0, f->o.n_outside = 4;
    if (encoding != NSR_ENCODING_POSITIONAL) f->o.fd_eps = 0.05;
    if (encoding == NSR_ENCODING_VOLUMES) f->o.normal_weight = 0.01;
    const int n = 5;
    for (int b = 0; b < n; ++b) {
        /* from distance ~2.5 towards points near the centre; ray 4 misses the unit sphere's core */
        double target[3] = {uniform(&rng, -0.2, 0.2), uniform(&rng, -0.2, 0.2), uniform(&rng, -0.2, 0.2)};
        if (b == 4) target[0] += 0.9;
        double eye[3] = {rng_normal(&rng), rng_normal(&rng), rng_normal(&rng)};
        double len = sqrt(eye[0] * eye[0] + eye[1] * eye[1] + eye[2] * eye[2]), d[3], dl = 0;
        for (int k = 0; k < 3; ++k) eye[k] *= 2.5 / len, d[k] = target[k] - eye[k], dl += d[k] * d[k];
        for (int k = 0; k < 3; ++k) f->origin[3 * b + k] = eye[k], f->direction[3 * b + k] = d[k] / sqrt(dl);
        nsr_ray_near_far(f->origin + 3 * b, f->direction + 3 * b, &f->near[b], &f->far[b]);
        for (int k = 0; k < 3; ++k) f->rgb[3 * b + k] = uniform(&rng, 0, 1);
        f->mask[b] = b % 3 != 1 ? 0.9 : 0.1;
    }
    f->rays = (neus_ray_batch){.n = n, .origin = f->origin, .direction = f->direction, .near = f->near,
                               .far = f->far, .rgb = f->rgb, .mask = f->mask};
    assert_int_equal(neus_workspace_alloc(&f->ws, &f->m, &f->o, n), 0);
    assert_int_equal(neus_sample(&f->m, &f->p, &f->o, &f->rays, NULL, 0, &f->ws), 0);
}

static void pipe_teardown(pipe_fixture *f)
{
    neus_workspace_free(&f->ws, &f->m);
    params_free(&f->p);
    neus_model_free(&f->m);
}

static double pipe_loss(pipe_fixture *f, int backward)
{
    neus_loss loss;
    assert_int_equal(neus_forward(&f->m, &f->p, &f->o, &f->rays, NULL, backward, &f->ws, &loss), 0);
    return loss.total;
}

static double pipe_check(neus_gradient_mode mode, uint64_t seed, int nerf, int encoding, double *loss_out)
{
    pipe_fixture f;
    pipe_setup(&f, mode, seed, nerf, encoding);
    params_zero_grads(&f.p);
    double loss = pipe_loss(&f, 1);
    *loss_out = loss;
    real *analytic = malloc(f.p.count * sizeof(real));
    memcpy(analytic, f.p.grads, f.p.count * sizeof(real));
    const double h = 1e-6, scale = largest(analytic, f.p.count);
    double worst = 0;
    size_t worst_at = 0;
    for (size_t i = 0; i < f.p.count; ++i) {
        real saved = f.p.values[i];
        f.p.values[i] = saved + h;
        double up = pipe_loss(&f, 0);
        f.p.values[i] = saved - h;
        double down = pipe_loss(&f, 0);
        f.p.values[i] = saved;
        double e = relative_error(analytic[i], (up - down) / (2 * h), scale);
        if (e > worst) worst = e, worst_at = i;
    }
    const param_tensor *t = NULL;
    for (int k = 0; k < f.p.n_tensors; ++k)
        if (worst_at >= f.p.tensors[k].offset && worst_at < f.p.tensors[k].offset + f.p.tensors[k].count) t = &f.p.tensors[k];
    printf("  %zu parameters, worst at %s[%zu]\n", f.p.count, t ? t->name : "?", t ? worst_at - t->offset : 0);
    if (encoding == NSR_ENCODING_VOLUMES) { /* the normal smoothness term is in the loss */
        neus_loss terms;
        assert_int_equal(neus_forward(&f.m, &f.p, &f.o, &f.rays, NULL, 0, &f.ws, &terms), 0);
        printf("  normal smoothness term %.4g (weight %g), Laplacian of sample 0: %.4g\n", terms.normal, f.o.normal_weight,
               (double)f.ws.laplacian[0]);
        assert_true(terms.normal > 1e-3);
    }
    if (nerf) { /* the background is in the loss: its networks have gradients */
        double bg_norm = 0;
        for (int k = 0; k < f.p.n_tensors; ++k)
            if (!strncmp(f.p.tensors[k].name, "bg", 2))
                for (size_t i = 0; i < f.p.tensors[k].count; ++i) bg_norm += fabs(analytic[f.p.tensors[k].offset + i]);
        printf("  background networks: Σ|dL/dθ| = %.3g\n", bg_norm);
        assert_true(bg_norm > 1e-3 * scale);
    }
    free(analytic);
    pipe_teardown(&f);
    return worst;
}

static void test_pipeline_analytic(void **state)
{
    (void)state;
    double loss, worst = pipe_check(NEUS_GRADIENT_ANALYTIC, 71, 0, 0, &loss);
    printf("whole loss (analytic SDF gradient, loss %.4f): worst relative error %.3g\n", loss, worst);
    assert_true(worst < 1e-5);
}

static void test_pipeline_fd(void **state)
{
    (void)state;
    double loss, worst = pipe_check(NEUS_GRADIENT_FD, 72, 0, 0, &loss);
    printf("whole loss (tetrahedral FD SDF gradient, loss %.4f): worst relative error %.3g\n", loss, worst);
    assert_true(worst < 1e-5);
}

static void test_pipeline_background(void **state)
{
    (void)state;
    double loss, worst = pipe_check(NEUS_GRADIENT_ANALYTIC, 73, 1, 0, &loss);
    printf("whole loss with the NeRF++ background (loss %.4f): worst relative error %.3g\n", loss, worst);
    assert_true(worst < 1e-5);
}

static void test_pipeline_volumes_fd6(void **state)
{
    (void)state;
    double loss, worst = pipe_check(NEUS_GRADIENT_FD6, 74, 0, NSR_ENCODING_VOLUMES, &loss);
    printf("whole loss with feature volumes, 6-tap FD and normal smoothness (loss %.4f): worst relative error %.3g\n",
           loss, worst);
    assert_true(worst < 1e-5);
}

static void test_pipeline_hash_fd(void **state)
{
    (void)state;
    double loss, worst = pipe_check(NEUS_GRADIENT_FD, 75, 0, NSR_ENCODING_HASH, &loss);
    printf("whole loss with a hash grid and the tetrahedral FD gradient (loss %.4f): worst relative error %.3g\n", loss,
           worst);
    assert_true(worst < 1e-5);
}

/* The volume encoding alone: dL/dx and dL/dV of L = Σ c ⊙ out against differences (points inside
 * the box and outside it, where the clamp holds), and the TV term's gradient. */
/* Σ c·out of an encoding at x (N rows). */
static double encoding_dot(const nsr_encoding *e, const param_set *p, const real *x, int N, const real *c, real *out)
{
    e->ops->forward(e, p, x, N, out);
    double dot = 0;
    for (int j = 0; j < N * nsr_encoding_n_out(e); ++j) dot += c[j] * out[j];
    return dot;
}

/* Central differences of Σ c·out against the encoding's backward: worst relative errors of dL/dx
 * and dL/dθ (every table entry). */
static void check_encoding_backward(const nsr_encoding *e, param_set *p, real *x, int N, const real *c, real *out,
                                    double *worst_x, double *worst_v)
{
    real gx[64 * 3];
    assert_true(N <= 64);
    e->ops->forward(e, p, x, N, out);
    params_zero_grads(p);
    e->ops->backward(e, p, x, out, N, c, gx, 1);
    const double h = 1e-6, sx = largest(gx, N * 3), sv = largest(p->grads, p->count);
    *worst_x = *worst_v = 0;
    for (int i = 0; i < N * 3; ++i) {
        real saved = x[i];
        x[i] = saved + h;
        double up = encoding_dot(e, p, x, N, c, out);
        x[i] = saved - h;
        double down = encoding_dot(e, p, x, N, c, out);
        x[i] = saved;
        *worst_x = fmax(*worst_x, relative_error(gx[i], (up - down) / (2 * h), sx));
    }
    for (size_t i = 0; i < p->count; ++i) {
        real saved = p->values[i];
        p->values[i] = saved + h;
        double up = encoding_dot(e, p, x, N, c, out);
        p->values[i] = saved - h;
        double down = encoding_dot(e, p, x, N, c, out);
        p->values[i] = saved;
        *worst_v = fmax(*worst_v, relative_error(p->grads[i], (up - down) / (2 * h), sv));
    }
}

/* The TV term's gradient (weight 0.7) against central differences of step h over every stride-th
 * value: the worst relative error; *tv the term. */
static double check_tv_gradient(const nsr_encoding *e, param_set *p, double h, size_t stride, double *tv)
{
    params_zero_grads(p);
    *tv = nsr_volume_tv(e, p, 0.7, 1);
    double worst = 0, scale = largest(p->grads, p->count);
    for (size_t i = 0; i < p->count; i += stride) {
        real saved = p->values[i];
        p->values[i] = saved + h;
        double up = nsr_volume_tv(e, p, 0.7, 0);
        p->values[i] = saved - h;
        double down = nsr_volume_tv(e, p, 0.7, 0);
        p->values[i] = saved;
        worst = fmax(worst, relative_error(p->grads[i], 0.7 * (up - down) / (2 * h), scale));
    }
    return worst;
}

static void test_volume_encoding(void **state)
{
    (void)state;
    enum { N = 6 };
    nsr_volume_config vc = {.n_volumes = 3, .res_min = 2, .res_max = 9, .channels = 3, .pe_freqs = 2, .init_std = 0.3};
    param_set p;
    params_init(&p);
    nsr_encoding e;
    assert_int_equal(nsr_encoding_volumes(&e, &p, &vc, 1), 0);
    assert_int_equal(params_allocate(&p), 0);
    assert_int_equal(nsr_volume_resolution(&e, 1), 4); /* round(2·(9/2)^½) = 4 */
    rng_t rng;
    rng_seed(&rng, 77, 0);
    nsr_encoding_init(&e, &p, &rng);
    const int W = nsr_encoding_n_out(&e);
    assert_int_equal(W, 15 + 3 * 3);
    real x[N * 3], c[N * 24], out[N * 24];
    for (int i = 0; i < N * 3; ++i) x[i] = uniform(&rng, -0.97, 0.97);
    x[3 * 5] = 1.3; /* outside the box: clamped along x */
    for (int i = 0; i < N * W; ++i) c[i] = rng_normal(&rng);
    double worst_x, worst_v;
    check_encoding_backward(&e, &p, x, N, c, out, &worst_x, &worst_v);
    /* a vertex of the grid reads its value exactly */
    real corner[3] = {-1, 1, -1}, o[24];
    e.ops->forward(&e, &p, corner, 1, o);
    const int r2 = nsr_volume_resolution(&e, 2);
    const real *V2 = params_values(&p, nsr_volume_tensor(&e, 2));
    assert_true(fabs(o[15 + 6] - V2[((size_t)0 * r2 + (r2 - 1)) * r2 * 3]) < 1e-15);
    /* TV */
    double tv, worst_tv = check_tv_gradient(&e, &p, 1e-6, 1, &tv);
    printf("feature volumes (3 of 2, 4, 9; %zu values): dL/dx %.3g, dL/dV %.3g; TV %.4f, dTV/dV %.3g\n", p.count, worst_x,
           worst_v, tv, worst_tv);
    assert_true(worst_x < 1e-6 && worst_v < 1e-6 && worst_tv < 1e-6 && tv > 0);
    params_free(&p);
    nsr_encoding_free(&e);

    /* TV of a 4-channel volume whose x-rows span several vectorised spans (34 vertices a side) */
    nsr_volume_config wide = {.n_volumes = 1, .res_min = 34, .res_max = 34, .channels = 4, .init_std = 0.3};
    params_init(&p);
    assert_int_equal(nsr_encoding_volumes(&e, &p, &wide, 1), 0);
    assert_int_equal(params_allocate(&p), 0);
    nsr_encoding_init(&e, &p, &rng);
    worst_tv = check_tv_gradient(&e, &p, 1e-4, 61, &tv);
    printf("feature volume 34^3 x 4: TV %.4f, dTV/dV %.3g (every 61st value)\n", tv, worst_tv);
    /* a mean over 33³ voxels: each value moves it by ~1e-5 of the step, so the differences carry
     * ~1e-5 of rounding; a wrong span edge would be off by O(1) */
    assert_true(worst_tv < 5e-5 && tv > 0);
    params_free(&p);
    nsr_encoding_free(&e);

    /* a fine grid (65³: 64 cells, scattered by z-slabs in parallel) against one plain sweep over
     * the points, which also fall outside the box */
    enum { F = 6000, FC = 2 };
    nsr_volume_config fine = {.n_volumes = 1, .res_min = 65, .res_max = 65, .channels = FC, .init_std = 0.3};
    params_init(&p);
    assert_int_equal(nsr_encoding_volumes(&e, &p, &fine, 1), 0);
    assert_int_equal(params_allocate(&p), 0);
    nsr_encoding_init(&e, &p, &rng);
    const int FW = nsr_encoding_n_out(&e);
    real *fx = malloc(sizeof(real) * 3 * F), *fg = malloc(sizeof(real) * F * FW), *fo = malloc(sizeof(real) * F * FW);
    real *want = calloc(p.count, sizeof(real));
    assert_true(fx && fg && fo && want);
    for (int i = 0; i < 3 * F; ++i) fx[i] = uniform(&rng, -1.05, 1.05);
    for (int i = 0; i < F * FW; ++i) fg[i] = rng_normal(&rng);
    e.ops->forward(&e, &p, fx, F, fo);
    params_zero_grads(&p);
    e.ops->backward(&e, &p, fx, fo, F, fg, NULL, 1);
    const volume_grid grid = {.r = 65, .table = 65L * 65 * 65};
    for (int i = 0; i < F; ++i)
        for (int c = 0; c < 8; ++c) {
            int base[3];
            real t[3], dt[3], w;
            volume_cell(fx + 3 * i, grid.r, base, t, dt);
            real *v = want + volume_corner(&grid, base, t, c, &w) * FC;
            for (int k = 0; k < FC; ++k) v[k] += w * fg[(size_t)i * FW + FW - FC + k];
        }
    double worst_scatter = 0, scatter_scale = largest(want, p.count);
    for (size_t i = 0; i < p.count; ++i) worst_scatter = fmax(worst_scatter, relative_error(p.grads[i], want[i], scatter_scale));
    printf("feature volume 65^3 x 2, %d points: slab-parallel scatter against one sweep %.3g\n", F, worst_scatter);
    assert_true(worst_scatter < 1e-12);
    free(fx), free(fg), free(fo), free(want);
    params_free(&p);
    nsr_encoding_free(&e);
}

/* Distance from the sphere |p| = R to the box [lo, hi]³-wise (0 when the surface meets the box). */
static double sphere_box_distance(const double lo[3], const double hi[3], double R)
{
    double near = 0, far = 0;
    for (int a = 0; a < 3; ++a) {
        double c = lo[a] > 0 ? lo[a] : (hi[a] < 0 ? -hi[a] : 0), f = fmax(fabs(lo[a]), fabs(hi[a]));
        near += c * c, far += f * f;
    }
    near = sqrt(near), far = sqrt(far);
    return near > R ? near - R : (far < R ? R - far : 0);
}

/* A sparse 16³ volume (bricks of 4³, a 4³ index) after a dense 4³ one, around the sphere of radius
 * 0.3: the bricks marked from a 64³ SDF grid with band 0.2 include every brick within band − 2 cell
 * diagonals of the sphere and none beyond band + a cell diagonal + a vertex-step diagonal; with
 * sparse_init_std = 0 activation leaves the function unchanged; a vertex of an active brick reads row slot·64 + local,
 * one of an inactive brick the shared last row; Adam's moments move with their rows; then dL/dx,
 * dL/dθ and the TV gradient against differences. */
static void test_sparse_volume(void **state)
{
    (void)state;
    enum { N = 40, G = 64 };
    nsr_volume_config vc = {.n_volumes = 1, .res_min = 4, .res_max = 4, .channels = 2, .pe_freqs = 0, .init_std = 0.02,
                            .n_sparse = 1, .sparse_res = {16}, .index_res = 4, .sparse_init_std = 0};
    param_set p;
    params_init(&p);
    nsr_encoding e;
    assert_int_equal(nsr_encoding_volumes(&e, &p, &vc, 1), 0);
    assert_int_equal(params_allocate(&p), 0);
    const int W = nsr_encoding_n_out(&e), sparse_t = nsr_volume_tensor(&e, 1);
    assert_int_equal(W, 3 + 2 * 2);
    assert_int_equal((int)p.tensors[sparse_t].shape[0], 1);
    rng_t rng;
    rng_seed(&rng, 79, 0);
    for (size_t i = 0; i < p.count; ++i) p.values[i] = (real)rng_normal(&rng);
    adam opt;
    assert_int_equal(adam_init(&opt, &p, 0.9, 0.999, 1e-8), 0);
    for (size_t i = 0; i < p.count; ++i) opt.m[i] = (real)(i + 1), opt.v[i] = (real)(2 * i + 1);
    const real dense0 = p.values[0], shared[2] = {params_values(&p, sparse_t)[0], params_values(&p, sparse_t)[1]};
    real x[N * 3], c[N * 7], before[N * 7], after[N * 7];
    for (int i = 0; i < N * 3; ++i) x[i] = uniform(&rng, -0.75, 0.75);
    for (int i = 0; i < N * W; ++i) c[i] = rng_normal(&rng);
    e.ops->forward(&e, &p, x, N, before);
    for (int i = 0; i < N; ++i) assert_true(fabs(before[i * W + 5] - shared[0]) < 1e-12 && fabs(before[i * W + 6] - shared[1]) < 1e-12);

    /* marks from the sphere's SDF */
    float *grid = malloc(sizeof(float) * G * G * G);
    assert_non_null(grid);
    const double h = 2.0 / (G - 1), band = 0.2, R = 0.3, step = 2.0 / 15;
    for (int k = 0; k < G; ++k)
        for (int j = 0; j < G; ++j)
            for (int i = 0; i < G; ++i)
                grid[(k * G + j) * G + i] = (float)(sqrt(pow(-1 + h * i, 2) + pow(-1 + h * j, 2) + pow(-1 + h * k, 2)) - R);
    real mark[64] = {0};
    nsr_sparse_mark(&e, 0, grid, G, 0, G / 2, band, mark); /* two slabs, as two ranks would */
    nsr_sparse_mark(&e, 0, grid + (size_t)G * G * (G / 2), G, G / 2, G - 1, band, mark);
    free(grid);
    long ids[64], n = 0;
    int missing = 0, stray = 0;
    for (long b = 0; b < 64; ++b) {
        const long at[3] = {b % 4, b / 4 % 4, b / 16};
        double lo[3], hi[3];
        for (int a = 0; a < 3; ++a) lo[a] = -1 + step * 4 * at[a], hi[a] = lo[a] + 3 * step;
        const double d = sphere_box_distance(lo, hi, R);
        missing += mark[b] == 0 && d <= band - 2 * sqrt(3) * h;
        stray += mark[b] != 0 && d > band + sqrt(3) * (h + step);
        if (mark[b] != 0) ids[n++] = b;
    }
    printf("sparse marks: %ld of 64 bricks, %d missing, %d stray\n", n, missing, stray);
    assert_true(n > 0 && n < 64 && !missing && !stray);
    assert_int_equal(nsr_sparse_activate(&e, &p, &opt, 0, ids, n, &rng), 0);
    assert_int_equal(nsr_sparse_activate(&e, &p, &opt, 0, ids, n, &rng), -1); /* once */
    nsr_sparse_info info;
    assert_int_equal(nsr_sparse_info_of(&e, 0, &info), 0);
    assert_true(info.active == n && info.rows == (size_t)(64 * n + 1) && info.brick_side == 4);
    const real *S = params_values(&p, sparse_t);
    const size_t last = 64 * (size_t)n;
    const real *m = opt.m + p.tensors[sparse_t].offset;
    assert_true(p.values[0] == dense0 && opt.m[0] == 1 && S[2 * last] == shared[0] && S[2 * last + 1] == shared[1]);
    assert_true(m[0] == 0 && m[2 * last - 1] == 0 && m[2 * last] == (real)(p.tensors[sparse_t].offset + 1));
    e.ops->forward(&e, &p, x, N, after);
    double jump = 0;
    for (int i = 0; i < N * W; ++i) jump = fmax(jump, fabs(after[i] - before[i]));

    /* addressing: vertex (9, 6, 9) in brick (2, 1, 2) = 38 (the sphere crosses it), local (1, 2, 1) */
    for (size_t i = 0; i < 2 * last; ++i) params_values(&p, sparse_t)[i] = (real)rng_normal(&rng);
    long slot = -1;
    for (long a = 0; a < n; ++a)
        if (ids[a] == 38) slot = a;
    real vertex[3] = {-1 + step * 9, -1 + step * 6, -1 + step * 9}, o[7];
    e.ops->forward(&e, &p, vertex, 1, o);
    const size_t row = slot >= 0 ? (size_t)slot * 64 + (1 * 4 + 2) * 4 + 1 : last;
    double vertex_err = fmax(fabs(o[5] - S[2 * row]), fabs(o[6] - S[2 * row + 1]));
    real origin[3] = {-1, -1, -1}; /* brick 0: far from the sphere, inactive */
    e.ops->forward(&e, &p, origin, 1, o);
    assert_true(mark[0] == 0 && o[5] == S[2 * last] && o[6] == S[2 * last + 1]);

    double worst_x, worst_v;
    check_encoding_backward(&e, &p, x, N, c, after, &worst_x, &worst_v);
    /* the mean over ~2000 voxels: a larger step keeps rounding below the tolerance */
    double tv, worst_tv = check_tv_gradient(&e, &p, 1e-4, 1, &tv);
    printf("sparse volume 16^3 (%ld of 64 bricks, %zu rows): activation changes the output by %.2g; vertex %.2g; dL/dx "
           "%.3g, dL/dθ %.3g; TV %.4f, dTV/dθ %.3g\n", n, info.rows, jump, vertex_err, worst_x, worst_v, tv, worst_tv);
    assert_true(slot >= 0 && jump == 0 && vertex_err < 1e-12);
    assert_true(worst_x < 1e-6 && worst_v < 1e-6 && worst_tv < 1e-6 && tv > 0);
    adam_free(&opt);
    params_free(&p);
    nsr_encoding_free(&e);
}

/* Instant-NGP's hash grid with a 32-row table: level 0 (3³ = 27 vertices) is dense, levels 1 and 2
 * (6³, 12³) hash, so rows collide and their gradients sum.  A vertex of a hashed level reads the
 * row of Instant-NGP's spatial hash, written out here independently. */
static void test_hash_encoding(void **state)
{
    (void)state;
    enum { N = 12 };
    nsr_hash_config hc = {.levels = 3, .features = 2, .log2_table = 5, .res_min = 3, .res_max = 12, .pe_freqs = 1,
                          .init_scale = 0.5};
    param_set p;
    params_init(&p);
    nsr_encoding e;
    assert_int_equal(nsr_encoding_hash(&e, &p, &hc, 1), 0);
    assert_int_equal(params_allocate(&p), 0);
    assert_int_equal(nsr_volume_resolution(&e, 0), 3);
    assert_int_equal(nsr_volume_resolution(&e, 1), 6); /* ⌊3·(12/3)^½⌋ */
    assert_int_equal(nsr_volume_resolution(&e, 2), 12);
    assert_int_equal((int)p.tensors[nsr_volume_tensor(&e, 0)].shape[0], 27);
    assert_int_equal((int)p.tensors[nsr_volume_tensor(&e, 2)].shape[0], 32);
    rng_t rng;
    rng_seed(&rng, 78, 0);
    nsr_encoding_init(&e, &p, &rng);
    const int W = nsr_encoding_n_out(&e);
    assert_int_equal(W, 9 + 3 * 2);
    real x[N * 3], c[N * 15], out[N * 15];
    for (int i = 0; i < N * 3; ++i) x[i] = uniform(&rng, -0.97, 0.97);
    for (int i = 0; i < N * W; ++i) c[i] = rng_normal(&rng);
    double worst_x, worst_v;
    check_encoding_backward(&e, &p, x, N, c, out, &worst_x, &worst_v);
    /* vertex (i, j, k) = (7, 2, 9) of level 2 (r = 12): x = −1 + 2i/11 */
    const uint32_t i = 7, j = 2, k = 9, row = (i ^ (j * 2654435761u) ^ (k * 805459861u)) % 32u;
    real vertex[3] = {-1 + 2.0 * i / 11, -1 + 2.0 * j / 11, -1 + 2.0 * k / 11}, o[15];
    e.ops->forward(&e, &p, vertex, 1, o);
    const real *H2 = params_values(&p, nsr_volume_tensor(&e, 2));
    double vertex_err = fmax(fabs(o[9 + 4] - H2[2 * row]), fabs(o[9 + 5] - H2[2 * row + 1]));
    printf("hash grid (3 levels of 3, 6, 12; 32-row tables; %zu values): dL/dx %.3g, dL/dθ %.3g; hashed vertex %.2g\n",
           p.count, worst_x, worst_v, vertex_err);
    assert_true(worst_x < 1e-5 && worst_v < 1e-5 && vertex_err < 1e-12); /* double FD of sums: ~1e-6 */
    assert_true(nsr_volume_tv(&e, &p, 1, 0) == 0); /* no TV on hash tables */
    params_free(&p);
    nsr_encoding_free(&e);
}

/* ---- 7: accuracy of the SDF gradient at default sizes ---------------------------------------- */

static void test_sdf_gradient_accuracy(void **state)
{
    (void)state;
    enum { P = 64 };
    neus_model_config c;
    neus_model_config_default(&c);
    neus_model m;
    param_set p;
    params_init(&p);
    assert_int_equal(neus_model_declare(&m, &p, &c, 0), 0);
    assert_int_equal(params_allocate(&p), 0);
    rng_t rng;
    rng_seed(&rng, 81, 0);
    neus_model_init(&m, &p, &rng);
    mlp_buffers b;
    assert_int_equal(mlp_buffers_alloc_ex(&b, &m.sdf, 6 * P, 1), 0);
    real *x = malloc(6 * P * 3 * sizeof(real)), *G = malloc(P * m.n_enc_xyz * sizeof(real)), g[P * 3];
    for (int pass = 0; pass < 2; ++pass) {
        if (pass == 1) /* a "trained-like" network: noise on every weight, PE terms included */
            for (int l = 0; l < m.sdf.n_layers; ++l) {
                real *v = params_values(&p, m.sdf.weight[l]);
                size_t n = p.tensors[m.sdf.weight[l]].count;
                double sd = 0.5 / sqrt((double)m.sdf.dims[l]);
                for (size_t i = 0; i < n; ++i) v[i] += sd * rng_normal(&rng);
            }
        for (int i = 0; i < P * 3; ++i) x[i] = uniform(&rng, -0.8, 0.8);
        /* analytic */
        m.enc_xyz.ops->forward(&m.enc_xyz, &p, x, P, b.act[0]);
        mlp_forward(&m.sdf, &p, &b, P);
        mlp_input_gradient(&m.sdf, &p, &b, P, 0, G);
        m.enc_xyz.ops->backward(&m.enc_xyz, &p, x, b.act[0], P, G, g, 0);
        /* fine central differences, 6 taps at h = 1e-6 */
        real *xs = malloc(6 * P * 3 * sizeof(real));
        const double h = 1e-6;
        for (int i = 0; i < P; ++i)
            for (int k = 0; k < 6; ++k)
                for (int c2 = 0; c2 < 3; ++c2) xs[3 * (k * P + i) + c2] = x[3 * i + c2] + (c2 == k / 2 ? (k % 2 ? -h : h) : 0);
        m.enc_xyz.ops->forward(&m.enc_xyz, &p, xs, 6 * P, b.act[0]);
        mlp_forward(&m.sdf, &p, &b, 6 * P);
        double worst_fine = 0;
        for (int i = 0; i < P; ++i) {
            double num[3], err = 0, norm = 0;
            for (int c2 = 0; c2 < 3; ++c2) {
                num[c2] = (b.act[m.sdf.n_layers][(size_t)((2 * c2) * P + i) * m.sdf_out] -
                           b.act[m.sdf.n_layers][(size_t)((2 * c2 + 1) * P + i) * m.sdf_out]) / (2 * h);
                err += (num[c2] - g[3 * i + c2]) * (num[c2] - g[3 * i + c2]);
                norm += g[3 * i + c2] * g[3 * i + c2];
            }
            worst_fine = fmax(worst_fine, sqrt(err / norm));
        }
        printf("%s network: analytic vs 6-tap central FD (h 1e-6): worst |Δg|/|g| %.2e\n",
               pass ? "perturbed" : "geometric-init", worst_fine);
        assert_true(worst_fine < 1e-6);
        const double eps_list[4] = {1e-2, 1e-3, 1e-4, 1e-5};
        for (int e = 0; e < 4; ++e) {
            for (int i = 0; i < P; ++i)
                for (int k = 0; k < 4; ++k)
                    for (int c2 = 0; c2 < 3; ++c2) xs[3 * (k * P + i) + c2] = x[3 * i + c2] + eps_list[e] * neus_tap(k, c2);
            m.enc_xyz.ops->forward(&m.enc_xyz, &p, xs, 4 * P, b.act[0]);
            mlp_forward(&m.sdf, &p, &b, 4 * P);
            double worst = 0, mean = 0;
            for (int i = 0; i < P; ++i) {
                double err = 0, norm = 0;
                for (int c2 = 0; c2 < 3; ++c2) {
                    double fd = 0;
                    for (int k = 0; k < 4; ++k) fd += neus_tap(k, c2) * b.act[m.sdf.n_layers][(size_t)(k * P + i) * m.sdf_out];
                    fd /= 4 * eps_list[e];
                    err += (fd - g[3 * i + c2]) * (fd - g[3 * i + c2]);
                    norm += g[3 * i + c2] * g[3 * i + c2];
                }
                worst = fmax(worst, sqrt(err / norm));
                mean += sqrt(err / norm) / P;
            }
            printf("  tetrahedral FD eps %.0e vs analytic (double): mean %.2e, worst %.2e\n", eps_list[e], mean, worst);
        }
        free(xs);
    }
    free(x), free(G);
    mlp_buffers_free(&b, &m.sdf);
    params_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_skip_weight_norm),  cmocka_unit_test(test_mlp_input_gradient),
        cmocka_unit_test(test_mlp_double_backward),   cmocka_unit_test(test_positional_encoding),
        cmocka_unit_test(test_ray_single),            cmocka_unit_test(test_ray_batch_losses),
        cmocka_unit_test(test_pipeline_analytic),     cmocka_unit_test(test_pipeline_fd),
        cmocka_unit_test(test_pipeline_background),   cmocka_unit_test(test_pipeline_volumes_fd6),
        cmocka_unit_test(test_pipeline_hash_fd),
        cmocka_unit_test(test_volume_encoding),       cmocka_unit_test(test_hash_encoding),
        cmocka_unit_test(test_sparse_volume),
        cmocka_unit_test(test_sdf_gradient_accuracy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
