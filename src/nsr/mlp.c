/* mlp.c — MLP forward/backward on linalg_gemm (see mlp.h). */
#include "phive/mlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "phive/errors.h"
#include "phive/linalg.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#include <strings.h>

#define INV_SQRT2 0.70710678118654752440
#define PAR_THREADS mlp_elementwise_threads()

int mlp_elementwise_threads(void)
{
#ifdef _OPENMP
    const char *policy = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    if ((policy && strcasecmp(policy, "passive") == 0) || (spin && *spin && strtod(spin, NULL) <= 10000))
        return omp_get_max_threads();
#endif
    return 1;
}

int mlp_declare_ex(mlp *net, param_set *p, const char *prefix, const mlp_shape *s)
{
    if (s->hidden_layers < 0 || s->hidden_layers + 1 > MLP_MAX_LAYERS || s->n_in < 1 || s->n_out < 1 || s->width < 1)
        return err_set("%s: unsupported MLP shape (%d hidden layers of %d)", prefix, s->hidden_layers, s->width);
    if (s->skip < 0 || s->skip > s->hidden_layers)
        return err_set("%s: skip layer %d outside 1..%d (hidden layers)", prefix, s->skip, s->hidden_layers);
    if (s->skip > 0 && s->width <= s->n_in)
        return err_set("%s: a skip connection needs width %d > inputs %d", prefix, s->width, s->n_in);
    if (s->beta < 0) return err_set("%s: Softplus beta %g < 0", prefix, s->beta);
    memset(net, 0, sizeof *net);
    net->n_layers = s->hidden_layers + 1;
    net->beta = s->beta;
    net->skip = s->skip;
    net->weight_norm = s->weight_norm != 0;
    net->dims[0] = s->n_in;
    for (int i = 1; i < net->n_layers; ++i) net->dims[i] = s->width;
    net->dims[net->n_layers] = s->n_out;
    for (int i = 0; i < net->n_layers; ++i) {
        char name[PARAM_NAME_MAX];
        size_t n_out = (size_t)mlp_layer_out(net, i);
        size_t wshape[2] = {n_out, (size_t)net->dims[i]}, bshape[1] = {n_out};
        snprintf(name, sizeof name, "%s.w%d", prefix, i);
        if ((net->weight[i] = params_declare(p, name, 2, wshape, s->lr_group)) < 0) return -1;
        if (net->weight_norm) {
            snprintf(name, sizeof name, "%s.g%d", prefix, i);
            if ((net->gain[i] = params_declare(p, name, 1, bshape, s->lr_group)) < 0) return -1;
        }
        snprintf(name, sizeof name, "%s.b%d", prefix, i);
        if ((net->bias[i] = params_declare(p, name, 1, bshape, s->lr_group)) < 0) return -1;
    }
    return 0;
}

int mlp_declare(mlp *net, param_set *p, const char *prefix, int n_in, int width, int hidden_layers, int n_out,
                double beta, int lr_group)
{
    mlp_shape s = {.n_in = n_in, .width = width, .hidden_layers = hidden_layers, .n_out = n_out, .beta = beta,
                   .lr_group = lr_group};
    return mlp_declare_ex(net, p, prefix, &s);
}

int mlp_layer_out(const mlp *net, int l)
{
    return net->dims[l + 1] - (net->skip > 0 && l + 1 == net->skip ? net->dims[0] : 0);
}

/* g = ‖v‖ per row, so that the effective weights equal v at the start. */
static void init_gains(const mlp *net, param_set *p)
{
    if (!net->weight_norm) return;
    for (int i = 0; i < net->n_layers; ++i) {
        int n_out = mlp_layer_out(net, i), n_in = net->dims[i];
        const real *v = params_values(p, net->weight[i]);
        real *g = params_values(p, net->gain[i]);
        for (int o = 0; o < n_out; ++o) {
            double sum = 0;
            for (int k = 0; k < n_in; ++k) sum += (double)v[(size_t)o * n_in + k] * v[(size_t)o * n_in + k];
            g[o] = (real)sqrt(sum);
        }
    }
}

void mlp_init_geometric(const mlp *net, param_set *p, rng_t *rng, double radius, int n_xyz)
{
    for (int i = 0; i < net->n_layers; ++i) {
        int n_out = mlp_layer_out(net, i), n_in = net->dims[i];
        real *w = params_values(p, net->weight[i]), *b = params_values(p, net->bias[i]);
        int last = i == net->n_layers - 1;
        double mean = last ? sqrt(M_PI) / sqrt((double)n_in) : 0.0;
        double std = last ? 1e-4 : sqrt(2.0) / sqrt((double)n_out);
        /* columns whose weights start at zero: the encoding terms of the input (first layer,
         * and the input's copy at the end of the skip layer's input) */
        int zero_from = n_in, zero_to = n_in;
        if (!last && i == 0) zero_from = n_xyz;
        if (!last && i > 0 && i == net->skip) zero_from = n_in - net->dims[0] + n_xyz;
        for (int o = 0; o < n_out; ++o) {
            for (int k = 0; k < n_in; ++k) {
                double value = mean + std * rng_normal(rng);
                w[(size_t)o * n_in + k] = (real)(k >= zero_from && k < zero_to ? 0.0 : value);
            }
            b[o] = (real)(last ? -radius : 0.0);
        }
    }
    init_gains(net, p);
}

void mlp_init_uniform(const mlp *net, param_set *p, rng_t *rng)
{
    for (int i = 0; i < net->n_layers; ++i) {
        int n_out = mlp_layer_out(net, i), n_in = net->dims[i];
        real *w = params_values(p, net->weight[i]), *b = params_values(p, net->bias[i]);
        double bound = 1.0 / sqrt((double)n_in);
        for (size_t j = 0; j < (size_t)n_out * n_in; ++j) w[j] = (real)(bound * (2.0 * rng_uniform(rng) - 1.0));
        for (int o = 0; o < n_out; ++o) b[o] = (real)(bound * (2.0 * rng_uniform(rng) - 1.0));
    }
    init_gains(net, p);
}

static int widest(const mlp *net)
{
    int w = 0;
    for (int i = 0; i <= net->n_layers; ++i) w = net->dims[i] > w ? net->dims[i] : w;
    return w;
}

int mlp_buffers_alloc_ex(mlp_buffers *b, const mlp *net, int capacity, int second_order)
{
    memset(b, 0, sizeof *b);
    b->capacity = capacity;
    b->second_order = second_order;
    size_t rows = (size_t)(capacity > 0 ? capacity : 1);
    for (int i = 0; i <= net->n_layers; ++i)
        if (!(b->act[i] = malloc(rows * net->dims[i] * sizeof(real))))
            return err_set("out of memory for MLP activations");
    for (int i = 0; i < net->n_layers; ++i)
        if (!(b->pre[i] = malloc(rows * mlp_layer_out(net, i) * sizeof(real))) ||
            (i + 1 < net->n_layers && !(b->dact[i] = malloc(rows * mlp_layer_out(net, i) * sizeof(real)))))
            return err_set("out of memory for MLP activations");
    size_t scratch = rows * widest(net) * sizeof(real);
    if (!(b->grad_a = malloc(scratch)) || !(b->grad_b = malloc(scratch)))
        return err_set("out of memory for MLP gradients");
    if (net->skip > 0 || second_order) {
        if (!(b->grad_c = malloc(scratch)) || !(b->skip_grad = malloc(rows * net->dims[0] * sizeof(real))))
            return err_set("out of memory for MLP gradients");
    }
    for (int i = 0; net->weight_norm && i < net->n_layers; ++i) {
        size_t n = (size_t)mlp_layer_out(net, i) * net->dims[i] * sizeof(real);
        if (!(b->weff[i] = malloc(n)) || !(b->wgrad[i] = malloc(n)))
            return err_set("out of memory for MLP weights");
    }
    for (int i = 0; second_order && i + 1 < net->n_layers; ++i)
        if (!(b->adj[i] = malloc(rows * mlp_layer_out(net, i) * sizeof(real))))
            return err_set("out of memory for MLP second-order buffers");
    return 0;
}

int mlp_buffers_alloc(mlp_buffers *b, const mlp *net, int capacity) { return mlp_buffers_alloc_ex(b, net, capacity, 0); }

void mlp_buffers_free(mlp_buffers *b, const mlp *net)
{
    for (int i = 0; i <= net->n_layers; ++i) free(b->act[i]);
    for (int i = 0; i < net->n_layers; ++i) {
        free(b->pre[i]);
        free(b->dact[i]);
        free(b->weff[i]);
        free(b->wgrad[i]);
        free(b->adj[i]);
    }
    free(b->grad_a);
    free(b->grad_b);
    free(b->grad_c);
    free(b->skip_grad);
    memset(b, 0, sizeof *b);
}

/* ---- weights ------------------------------------------------------------------------------- */

static const real *layer_weight(const mlp *net, const param_set *p, const mlp_buffers *b, int l)
{
    return net->weight_norm ? b->weff[l] : params_values(p, net->weight[l]);
}

/* Where dL/dW of layer l accumulates: the parameter gradient, or the scratch of weight norm. */
static real *layer_weight_grad(const mlp *net, param_set *p, mlp_buffers *b, int l)
{
    return net->weight_norm ? b->wgrad[l] : params_grads(p, net->weight[l]);
}

static void weight_norm_forward(const mlp *net, const param_set *p, mlp_buffers *b)
{
    for (int l = 0; l < net->n_layers; ++l) {
        int n_out = mlp_layer_out(net, l), n_in = net->dims[l];
        const real *v = params_values(p, net->weight[l]), *g = params_values(p, net->gain[l]);
        real *w = b->weff[l];
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && ((long)n_out * n_in > 65536))
        for (int o = 0; o < n_out; ++o) {
            const real *vr = v + (size_t)o * n_in;
            double sum = 0;
            for (int k = 0; k < n_in; ++k) sum += (double)vr[k] * vr[k];
            double norm = sqrt(sum);
            real scale = norm > 0 ? (real)(g[o] / norm) : (real)0;
            for (int k = 0; k < n_in; ++k) w[(size_t)o * n_in + k] = scale * vr[k];
        }
    }
}

static void weight_norm_zero(const mlp *net, mlp_buffers *b)
{
    if (!net->weight_norm) return;
    for (int l = 0; l < net->n_layers; ++l)
        memset(b->wgrad[l], 0, (size_t)mlp_layer_out(net, l) * net->dims[l] * sizeof(real));
}

/* dL/dW (b->wgrad) → dL/dg, dL/dv (accumulated into p->grads). */
static void weight_norm_backward(const mlp *net, param_set *p, mlp_buffers *b)
{
    if (!net->weight_norm) return;
    for (int l = 0; l < net->n_layers; ++l) {
        int n_out = mlp_layer_out(net, l), n_in = net->dims[l];
        const real *v = params_values(p, net->weight[l]), *g = params_values(p, net->gain[l]);
        real *dv = params_grads(p, net->weight[l]), *dg = params_grads(p, net->gain[l]);
        const real *dw = b->wgrad[l];
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && ((long)n_out * n_in > 65536))
        for (int o = 0; o < n_out; ++o) {
            const real *vr = v + (size_t)o * n_in, *dwr = dw + (size_t)o * n_in;
            double sum = 0, dot = 0;
            for (int k = 0; k < n_in; ++k) {
                sum += (double)vr[k] * vr[k];
                dot += (double)dwr[k] * vr[k];
            }
            double norm = sqrt(sum);
            if (!(norm > 0)) continue;
            dot /= norm; /* dL/dW · v̂ */
            dg[o] += (real)dot;
            double scale = g[o] / norm;
            for (int k = 0; k < n_in; ++k)
                dv[(size_t)o * n_in + k] += (real)(scale * (dwr[k] - dot * vr[k] / norm));
        }
    }
}

/* ---- activations --------------------------------------------------------------------------- */

#define BLOCK 8192L /* elements per thread task */

/* Element-wise loops are compiled for AVX-512, AVX2 and the baseline and picked at run time
 * (the build's -O2 for generic x86-64 would otherwise leave them scalar). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(PHIVE_REAL_DOUBLE)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

/* out = scale·σ(pre), d = σ'(pre) over n contiguous values (one thread). */
VECTOR_CLONES static void activate(const real *restrict pre, real *restrict out, real *restrict d, long n, real beta,
                                   real scale)
{
    if (beta > 0) {
#pragma omp simd
        for (long j = 0; j < n; ++j) out[j] = scale * softplus_fused(pre[j], beta, &d[j]);
    } else {
#pragma omp simd
        for (long j = 0; j < n; ++j) {
#ifdef PHIVE_REAL_DOUBLE
            out[j] = pre[j] > 0 ? scale * pre[j] : 0.0;
            d[j] = pre[j] > 0 ? 1.0 : 0.0;
#else
            unsigned positive = 0u - (unsigned)((int)float_bits(pre[j]) > 0);
            out[j] = scale * select_float(positive, pre[j], 0.0f);
            d[j] = select_float(positive, 1.0f, 0.0f);
#endif
        }
    }
}

/* dst = scale·a ⊙ b */
VECTOR_CLONES static void scaled_product(real *restrict dst, const real *a, const real *restrict b, long n, real scale)
{
#pragma omp simd
    for (long j = 0; j < n; ++j) dst[j] = scale * a[j] * b[j];
}

/* dst += src */
VECTOR_CLONES static void add_to(real *restrict dst, const real *restrict src, long n)
{
#pragma omp simd
    for (long j = 0; j < n; ++j) dst[j] += src[j];
}

/* One row of the upward sweep of mlp_backward_second: r ← r̄ ⊙ r ⊙ β(1 − σ') (β = 0: ReLU, 0)
 * and q̄ = scale·r̄ ⊙ σ'. */
VECTOR_CLONES static void upward_row(real *restrict r, const real *restrict rb, const real *restrict d, real *restrict q,
                                     long n, real beta, real scale)
{
    if (beta > 0) {
#pragma omp simd
        for (long j = 0; j < n; ++j) r[j] = rb[j] * r[j] * beta * (1 - d[j]);
    } else {
        memset(r, 0, (size_t)n * sizeof(real));
    }
#pragma omp simd
    for (long j = 0; j < n; ++j) q[j] = scale * rb[j] * d[j];
}

static void activation_forward(const real *pre, real *out, real *d, long n, real beta)
{
    long blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (blocks > 8))
    for (long k = 0; k < blocks; ++k) {
        long j0 = k * BLOCK, len = n - j0 < BLOCK ? n - j0 : BLOCK;
        activate(pre + j0, out + j0, d + j0, len, beta, 1);
    }
}

static void column_sums(const real *g, int rows, int cols, real *sums)
{
    for (int r = 0; r < rows; ++r)
        for (int o = 0; o < cols; ++o) sums[o] += g[(size_t)r * cols + o];
}

/* ---- forward ------------------------------------------------------------------------------- */

void mlp_forward_cols(const mlp *net, const param_set *p, mlp_buffers *b, int rows, int out_cols)
{
    if (net->weight_norm) weight_norm_forward(net, p, b);
    const int last = net->n_layers - 1, n_in0 = net->dims[0];
    const real beta = (real)net->beta;
    for (int i = 0; i <= last; ++i) {
        int n_in = net->dims[i], n_out = mlp_layer_out(net, i);
        int cols = i == last && out_cols > 0 && out_cols < n_out ? out_cols : n_out;
        const real *w = layer_weight(net, p, b, i), *bias = params_values(p, net->bias[i]);
        real *pre = b->pre[i];
        for (int r = 0; r < rows; ++r) memcpy(pre + (size_t)r * n_out, bias, (size_t)cols * sizeof(real));
        linalg_gemm(0, 1, rows, cols, n_in, 1, b->act[i], n_in, w, n_in, 1, pre, n_out);
        if (i == last) {
            if (cols == n_out)
                memcpy(b->act[i + 1], pre, (size_t)rows * n_out * sizeof(real));
            else
                for (int r = 0; r < rows; ++r)
                    memcpy(b->act[i + 1] + (size_t)r * n_out, pre + (size_t)r * n_out, (size_t)cols * sizeof(real));
        } else if (i + 1 != net->skip) {
            activation_forward(pre, b->act[i + 1], b->dact[i], (long)rows * n_out, beta);
        } else {
            /* the skip layer's input: [σ(z), u] / √2 */
            int width = net->dims[i + 1];
            real *out = b->act[i + 1];
            const real *u = b->act[0], s = (real)INV_SQRT2;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && ((long)rows * width > 65536))
            for (int r = 0; r < rows; ++r) {
                real *row = out + (size_t)r * width;
                activate(pre + (size_t)r * n_out, row, b->dact[i] + (size_t)r * n_out, n_out, beta, s);
                for (int k = 0; k < n_in0; ++k) row[n_out + k] = s * u[(size_t)r * n_in0 + k];
            }
        }
    }
}

void mlp_forward(const mlp *net, const param_set *p, mlp_buffers *b, int rows) { mlp_forward_cols(net, p, b, rows, 0); }

/* ---- backward ------------------------------------------------------------------------------ */

/* t = dL/d(act[i]) (rows × dims[i], i ≥ 1) → g_below = dL/d(pre[i − 1]); at the skip layer the
 * input part goes to b->skip_grad (when want_skip), the rest is unscaled by √2 first. */
static void through_activation(const mlp *net, mlp_buffers *b, int rows, int i, real *t, real *g_below, int want_skip)
{
    const real *d = b->dact[i - 1];
    int n_below = mlp_layer_out(net, i - 1), width = net->dims[i], n_in0 = net->dims[0];
    if (i != net->skip) {
        long n = (long)rows * width;
        long blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (blocks > 8))
        for (long k = 0; k < blocks; ++k) {
            long j0 = k * BLOCK;
            scaled_product(g_below + j0, t + j0, d + j0, n - j0 < BLOCK ? n - j0 : BLOCK, 1);
        }
        return;
    }
    const real s = (real)INV_SQRT2;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && ((long)rows * width > 65536))
    for (int r = 0; r < rows; ++r) {
        const real *row = t + (size_t)r * width, *dr = d + (size_t)r * n_below;
        real *dst = g_below + (size_t)r * n_below;
        scaled_product(dst, row, dr, n_below, s);
        if (want_skip)
            for (int k = 0; k < n_in0; ++k) b->skip_grad[(size_t)r * n_in0 + k] = s * row[n_below + k];
    }
}

/* The ordinary backward from dL/dy; with `inject`, b->adj[l] is added to dL/dz_l of every hidden layer. */
static void backward_core(const mlp *net, param_set *p, mlp_buffers *b, int rows, const real *grad_out, int inject,
                          real *grad_in)
{
    real *g = b->grad_a, *g_below = b->grad_b;
    const int last = net->n_layers - 1;
    int have_skip_grad = 0;
    memcpy(g, grad_out, (size_t)rows * net->dims[net->n_layers] * sizeof(real));
    for (int i = last; i >= 0; --i) {
        int n_in = net->dims[i], n_out = mlp_layer_out(net, i);
        if (inject && i < last) {
            long n = (long)rows * n_out;
            const real *extra = b->adj[i];
            long blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (blocks > 8))
            for (long k = 0; k < blocks; ++k) {
                long j0 = k * BLOCK;
                add_to(g + j0, extra + j0, n - j0 < BLOCK ? n - j0 : BLOCK);
            }
        }
        const real *w = layer_weight(net, p, b, i);
        real *dw = layer_weight_grad(net, p, b, i), *db = params_grads(p, net->bias[i]);
        linalg_gemm(1, 0, n_out, n_in, rows, 1, g, n_out, b->act[i], n_in, 1, dw, n_in);
        column_sums(g, rows, n_out, db);
        if (i == 0) {
            if (grad_in) {
                linalg_gemm(0, 0, rows, n_in, n_out, 1, g, n_out, w, n_in, 0, grad_in, n_in);
                if (have_skip_grad)
                    for (long j = 0; j < (long)rows * n_in; ++j) grad_in[j] += b->skip_grad[j];
            }
            break;
        }
        real *target = i == net->skip ? b->grad_c : g_below;
        linalg_gemm(0, 0, rows, n_in, n_out, 1, g, n_out, w, n_in, 0, target, n_in);
        through_activation(net, b, rows, i, target, g_below, grad_in != NULL);
        have_skip_grad |= i == net->skip;
        real *swap = g;
        g = g_below;
        g_below = swap;
    }
}

void mlp_backward(const mlp *net, param_set *p, mlp_buffers *b, int rows, const real *grad_out, real *grad_in)
{
    weight_norm_zero(net, b);
    backward_core(net, p, b, rows, grad_out, 0, grad_in);
    weight_norm_backward(net, p, b);
}

/* ---- input gradient and its backward ------------------------------------------------------- */

void mlp_input_gradient(const mlp *net, const param_set *p, mlp_buffers *b, int rows, int output, real *grad_in)
{
    const int last = net->n_layers - 1, n_in0 = net->dims[0];
    /* q = dy_k/d(act[last]) = row k of the last W, for every row */
    const real *wk = layer_weight(net, p, b, last) + (size_t)output * net->dims[last];
    real *q = last == 0 ? grad_in : b->grad_a;
    for (int r = 0; r < rows; ++r) memcpy(q + (size_t)r * net->dims[last], wk, (size_t)net->dims[last] * sizeof(real));
    for (int l = last; l >= 1; --l) {
        /* q = dy_k/d(act[l]) → r_{l−1} = dy_k/dz_{l−1} (kept in adj), then q = r_{l−1}·W_{l−1} */
        real *r = b->adj[l - 1];
        through_activation(net, b, rows, l, q, r, 1);
        int n_below = mlp_layer_out(net, l - 1), width = net->dims[l - 1];
        real *dst = l - 1 == 0 ? grad_in : (q == b->grad_a ? b->grad_b : b->grad_a);
        linalg_gemm(0, 0, rows, width, n_below, 1, r, n_below, layer_weight(net, p, b, l - 1), width, 0, dst, width);
        q = dst;
    }
    if (net->skip > 0)
        for (long j = 0; j < (long)rows * n_in0; ++j) grad_in[j] += b->skip_grad[j];
}

void mlp_backward_second(const mlp *net, param_set *p, mlp_buffers *b, int rows, int output, const real *grad_out,
                         const real *grad_g, real *grad_in)
{
    weight_norm_zero(net, b);
    const int last = net->n_layers - 1, n_in0 = net->dims[0];
    const real beta = (real)net->beta, s = (real)INV_SQRT2;
    /* upward: q̄_l = the tangent of act[l] in the direction Ḡ */
    real *qb = b->grad_a, *rb = b->grad_b;
    memcpy(qb, grad_g, (size_t)rows * n_in0 * sizeof(real));
    for (int l = 0; l < last; ++l) {
        int n_in = net->dims[l], n_out = mlp_layer_out(net, l), width = net->dims[l + 1];
        real *r = b->adj[l];
        linalg_gemm(1, 0, n_out, n_in, rows, 1, r, n_out, qb, n_in, 1, layer_weight_grad(net, p, b, l), n_in);
        linalg_gemm(0, 1, rows, n_out, n_in, 1, qb, n_in, layer_weight(net, p, b, l), n_in, 0, rb, n_out);
        const real *dact = b->dact[l];
        int at_skip = l + 1 == net->skip;
        real scale = at_skip ? s : (real)1;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && ((long)rows * width > 65536))
        for (int i = 0; i < rows; ++i) {
            const real *di = dact + (size_t)i * n_out, *rbi = rb + (size_t)i * n_out;
            real *ri = r + (size_t)i * n_out, *qi = qb + (size_t)i * width;
            /* the injection into dL/dz_l: r̄ ⊙ r ⊙ σ''/σ', σ''/σ' = β(1 − σ') (Softplus), 0 (ReLU) */
            upward_row(ri, rbi, di, qi, n_out, beta, scale);
            if (at_skip)
                for (int k = 0; k < n_in0; ++k) qi[n_out + k] = s * grad_g[(size_t)i * n_in0 + k];
        }
    }
    /* r_last = e_k: dL/dW_last[k] += Σ_rows q̄_last */
    column_sums(qb, rows, net->dims[last], layer_weight_grad(net, p, b, last) + (size_t)output * net->dims[last]);
    backward_core(net, p, b, rows, grad_out, 1, grad_in);
    weight_norm_backward(net, p, b);
}
