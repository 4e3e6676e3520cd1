/* mlp.c — MLP forward/backward on linalg_gemm (see mlp.h). */
#include "phive/mlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "phive/errors.h"
#include "phive/linalg.h"

int mlp_declare(mlp *net, param_set *p, const char *prefix, int n_in, int width, int hidden_layers, int n_out,
                double beta, int lr_group)
{
    if (hidden_layers < 0 || hidden_layers + 1 > MLP_MAX_LAYERS || n_in < 1 || n_out < 1 || width < 1)
        return err_set("%s: unsupported MLP shape (%d hidden layers of %d)", prefix, hidden_layers, width);
    memset(net, 0, sizeof *net);
    net->n_layers = hidden_layers + 1;
    net->beta = beta;
    net->dims[0] = n_in;
    for (int i = 1; i < net->n_layers; ++i) net->dims[i] = width;
    net->dims[net->n_layers] = n_out;
    for (int i = 0; i < net->n_layers; ++i) {
        char name[PARAM_NAME_MAX];
        size_t wshape[2] = {(size_t)net->dims[i + 1], (size_t)net->dims[i]}, bshape[1] = {(size_t)net->dims[i + 1]};
        snprintf(name, sizeof name, "%s.w%d", prefix, i);
        if ((net->weight[i] = params_declare(p, name, 2, wshape, lr_group)) < 0) return -1;
        snprintf(name, sizeof name, "%s.b%d", prefix, i);
        if ((net->bias[i] = params_declare(p, name, 1, bshape, lr_group)) < 0) return -1;
    }
    return 0;
}

void mlp_init_geometric(const mlp *net, param_set *p, rng_t *rng, double radius, int n_xyz)
{
    for (int i = 0; i < net->n_layers; ++i) {
        int n_out = net->dims[i + 1], n_in = net->dims[i];
        real *w = params_values(p, net->weight[i]), *b = params_values(p, net->bias[i]);
        int last = i == net->n_layers - 1;
        double mean = last ? sqrt(M_PI) / sqrt((double)n_in) : 0.0;
        double std = last ? 1e-4 : sqrt(2.0) / sqrt((double)n_out);
        for (int o = 0; o < n_out; ++o) {
            for (int k = 0; k < n_in; ++k) {
                double value = mean + std * rng_normal(rng);
                /* the first layer sees only xyz at the start, so the init is a sphere */
                w[(size_t)o * n_in + k] = (real)(i == 0 && k >= n_xyz ? 0.0 : value);
            }
            b[o] = (real)(last ? -radius : 0.0);
        }
    }
}

static int widest(const mlp *net)
{
    int w = 0;
    for (int i = 0; i <= net->n_layers; ++i) w = net->dims[i] > w ? net->dims[i] : w;
    return w;
}

int mlp_buffers_alloc(mlp_buffers *b, const mlp *net, int capacity)
{
    memset(b, 0, sizeof *b);
    b->capacity = capacity;
    for (int i = 0; i <= net->n_layers; ++i)
        if (!(b->act[i] = malloc((size_t)capacity * net->dims[i] * sizeof(real))))
            return err_set("out of memory for MLP activations");
    for (int i = 0; i < net->n_layers; ++i)
        if (!(b->pre[i] = malloc((size_t)capacity * net->dims[i + 1] * sizeof(real))))
            return err_set("out of memory for MLP activations");
    size_t scratch = (size_t)capacity * widest(net) * sizeof(real);
    if (!(b->grad_a = malloc(scratch)) || !(b->grad_b = malloc(scratch)))
        return err_set("out of memory for MLP gradients");
    return 0;
}

void mlp_buffers_free(mlp_buffers *b, const mlp *net)
{
    for (int i = 0; i <= net->n_layers; ++i) free(b->act[i]);
    for (int i = 0; i < net->n_layers; ++i) free(b->pre[i]);
    free(b->grad_a);
    free(b->grad_b);
    memset(b, 0, sizeof *b);
}

static void activation_forward(const real *pre, real *out, long n, real beta)
{
#pragma omp parallel for schedule(static) if (n > 16384)
    for (long j = 0; j < n; ++j) out[j] = beta > 0 ? softplus_forward(pre[j], beta) : relu_forward(pre[j]);
}

void mlp_forward(const mlp *net, const param_set *p, mlp_buffers *b, int rows)
{
    for (int i = 0; i < net->n_layers; ++i) {
        int n_in = net->dims[i], n_out = net->dims[i + 1];
        const real *w = params_values(p, net->weight[i]), *bias = params_values(p, net->bias[i]);
        real *pre = b->pre[i];
        for (int r = 0; r < rows; ++r) memcpy(pre + (size_t)r * n_out, bias, (size_t)n_out * sizeof(real));
        linalg_gemm(0, 1, rows, n_out, n_in, 1, b->act[i], n_in, w, n_in, 1, pre, n_out);
        long n = (long)rows * n_out;
        if (i == net->n_layers - 1) memcpy(b->act[i + 1], pre, (size_t)n * sizeof(real));
        else activation_forward(pre, b->act[i + 1], n, (real)net->beta);
    }
}

void mlp_backward(const mlp *net, param_set *p, mlp_buffers *b, int rows, const real *grad_out, real *grad_in)
{
    /* g holds dL/d(pre-activation) of layer i while walking down the layers */
    real *g = b->grad_a, *g_below = b->grad_b;
    int last = net->n_layers - 1;
    memcpy(g, grad_out, (size_t)rows * net->dims[net->n_layers] * sizeof(real));
    for (int i = last; i >= 0; --i) {
        int n_in = net->dims[i], n_out = net->dims[i + 1];
        const real *w = params_values(p, net->weight[i]);
        real *dw = params_grads(p, net->weight[i]), *db = params_grads(p, net->bias[i]);
        linalg_gemm(1, 0, n_out, n_in, rows, 1, g, n_out, b->act[i], n_in, 1, dw, n_in);
        for (int r = 0; r < rows; ++r)
            for (int o = 0; o < n_out; ++o) db[o] += g[(size_t)r * n_out + o];
        if (i == 0 && !grad_in) break;
        real *target = i == 0 ? grad_in : g_below;
        linalg_gemm(0, 0, rows, n_in, n_out, 1, g, n_out, w, n_in, 0, target, n_in);
        if (i == 0) break;
        const real *pre = b->pre[i - 1];
        long n = (long)rows * n_in;
        real beta = (real)net->beta;
#pragma omp parallel for schedule(static) if (n > 16384)
        for (long j = 0; j < n; ++j) target[j] *= beta > 0 ? softplus_grad(pre[j], beta) : relu_grad(pre[j]);
        real *swap = g;
        g = g_below;
        g_below = swap;
    }
}
