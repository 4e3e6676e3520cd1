/* volume_encoding.c — HIVE's hierarchical dense feature volumes as an nsr_encoding (see neus.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "nsr_volume.h"
#include "phive/errors.h"
#include "phive/neus.h"

#define PAR_THREADS mlp_elementwise_threads()

typedef struct {
    nsr_volume_config cfg;
    int res[NSR_MAX_VOLUMES], tensor[NSR_MAX_VOLUMES];
    int n_pe; /* width of the leading PE(x) */
} volume_state;

void nsr_volume_config_default(nsr_volume_config *c)
{
    *c = (nsr_volume_config){.n_volumes = 8, .res_min = 2, .res_max = 256, .channels = 4, .pe_freqs = 6,
                             .init_std = 0.02};
}

static const volume_state *state_of(const nsr_encoding *e) { return (const volume_state *)e->state; }

static int vol_n_out(const nsr_encoding *e)
{
    const volume_state *s = state_of(e);
    return s->n_pe + s->cfg.n_volumes * s->cfg.channels;
}

static void vol_forward(const nsr_encoding *e, const param_set *p, const real *x, int rows, real *out)
{
    const volume_state *s = state_of(e);
    const int width = vol_n_out(e), C = s->cfg.channels, M = s->cfg.n_volumes;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (rows > 1024))
    for (int r = 0; r < rows; ++r) {
        const real *xr = x + 3 * (size_t)r;
        real *o = out + (size_t)r * width;
        positional_encoding(xr, 3, s->cfg.pe_freqs, o);
        for (int m = 0; m < M; ++m) volume_lookup(params_values(p, s->tensor[m]), s->res[m], C, xr, o + s->n_pe + m * C);
    }
}

/* dL/dV_m += Σ_rows w_corner · dL/d(out_m): rows in order within a thread; threads add atomically. */
static void scatter_volume(const volume_state *s, param_set *p, int m, const real *x, int rows, const real *grad_out,
                           int width)
{
    const int C = s->cfg.channels, r = s->res[m];
    real *G = params_grads(p, s->tensor[m]);
    const int threads = PAR_THREADS;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && (rows > 4096))
    for (int i = 0; i < rows; ++i) {
        int base[3];
        real t[3], dt[3];
        volume_cell(x + 3 * (size_t)i, r, base, t, dt);
        const real *g = grad_out + (size_t)i * width + s->n_pe + m * C;
        for (int c = 0; c < 8; ++c) {
            real w;
            real *v = G + volume_corner(base, t, r, c, &w) * C;
            for (int k = 0; k < C; ++k) {
                if (threads > 1) {
#pragma omp atomic
                    v[k] += w * g[k];
                } else {
                    v[k] += w * g[k];
                }
            }
        }
    }
}

static void vol_backward(const nsr_encoding *e, param_set *p, const real *x, const real *out, int rows,
                         const real *grad_out, real *grad_x, int accumulate_params)
{
    const volume_state *s = state_of(e);
    const int width = vol_n_out(e), C = s->cfg.channels, M = s->cfg.n_volumes;
    if (grad_x) {
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (rows > 1024))
        for (int r = 0; r < rows; ++r) {
            const real *g = grad_out + (size_t)r * width;
            real *gx = grad_x + 3 * (size_t)r;
            positional_encoding_vjp(out + (size_t)r * width, 3, s->cfg.pe_freqs, g, gx);
            for (int m = 0; m < M; ++m)
                volume_lookup_grad_x(params_values(p, s->tensor[m]), s->res[m], C, x + 3 * (size_t)r, g + s->n_pe + m * C,
                                     gx);
        }
    }
    if (accumulate_params)
        for (int m = 0; m < M; ++m) scatter_volume(s, p, m, x, rows, grad_out, width);
}

static const nsr_encoding_ops volume_ops = {
    .name = "volumes", .n_out = vol_n_out, .forward = vol_forward, .backward = vol_backward, .jvp = NULL,
    .has_params = 1,
};

int nsr_encoding_volumes(nsr_encoding *e, param_set *p, const nsr_volume_config *c, int first_group)
{
    memset(e, 0, sizeof *e);
    if (c->n_volumes < 1 || c->n_volumes > NSR_MAX_VOLUMES)
        return err_set("feature volumes: %d volumes outside 1..%d", c->n_volumes, NSR_MAX_VOLUMES);
    if (c->res_min < 2 || c->res_max < c->res_min || c->res_max > 2048)
        return err_set("feature volumes: resolutions %d..%d (need 2 <= min <= max <= 2048)", c->res_min, c->res_max);
    if (c->channels < 1 || c->channels > 64) return err_set("feature volumes: %d channels outside 1..64", c->channels);
    if (c->pe_freqs < 0 || c->pe_freqs > 24) return err_set("feature volumes: %d PE frequencies", c->pe_freqs);
    volume_state *s = calloc(1, sizeof *s);
    if (!s) return err_set("out of memory");
    s->cfg = *c;
    s->n_pe = positional_encoding_width(3, c->pe_freqs);
    for (int m = 0; m < c->n_volumes; ++m) {
        double f = c->n_volumes > 1 ? (double)m / (c->n_volumes - 1) : 0;
        int r = (int)lround(c->res_min * pow((double)c->res_max / c->res_min, f));
        char name[32];
        snprintf(name, sizeof name, "vol%d", m);
        size_t shape[2] = {(size_t)r * r * r, (size_t)c->channels};
        int group = first_group + (r <= 16 ? 0 : (r <= 64 ? 1 : 2));
        s->res[m] = r;
        if ((s->tensor[m] = params_declare(p, name, 2, shape, group)) < 0) {
            free(s);
            return -1;
        }
    }
    e->ops = &volume_ops;
    e->n_in = 3;
    e->n_freqs = c->pe_freqs;
    e->state = s;
    return 0;
}

void nsr_encoding_init(const nsr_encoding *e, param_set *p, rng_t *rng)
{
    if (e->ops != &volume_ops) return;
    const volume_state *s = state_of(e);
    for (int m = 0; m < s->cfg.n_volumes; ++m) {
        real *v = params_values(p, s->tensor[m]);
        size_t n = p->tensors[s->tensor[m]].count;
        for (size_t i = 0; i < n; ++i) v[i] = (real)(s->cfg.init_std * rng_normal(rng));
    }
}

void nsr_encoding_free(nsr_encoding *e)
{
    free(e->state);
    e->state = NULL;
}

int nsr_volume_resolution(const nsr_encoding *e, int m)
{
    if (e->ops != &volume_ops || m < 0 || m >= state_of(e)->cfg.n_volumes) return 0;
    return state_of(e)->res[m];
}

int nsr_volume_tensor(const nsr_encoding *e, int m)
{
    if (e->ops != &volume_ops || m < 0 || m >= state_of(e)->cfg.n_volumes) return -1;
    return state_of(e)->tensor[m];
}

/* TV of one volume: mean over the (r − 1)³ voxels with all three forward neighbours of
 * sqrt(Σ_channels Σ_axes (V_{+axis} − V)² + 1e-12) (the 1e-12 keeps the gradient finite at 0). */
static double volume_tv(const real *V, real *G, int r, int C, double weight)
{
    const long cells = (long)(r - 1) * (r - 1) * (r - 1);
    const long stride[3] = {C, (long)r * C, (long)r * r * C};
    double total = 0;
    for (long q = 0; q < cells; ++q) {
        long i = q % (r - 1), j = (q / (r - 1)) % (r - 1), k = q / ((long)(r - 1) * (r - 1));
        long at = ((k * r + j) * r + i) * C;
        double d2 = 1e-12;
        for (int a = 0; a < 3; ++a)
            for (int c = 0; c < C; ++c) {
                double d = (double)V[at + stride[a] + c] - (double)V[at + c];
                d2 += d * d;
            }
        double len = sqrt(d2);
        total += len;
        if (!G) continue;
        double scale = weight / (cells * len);
        for (int a = 0; a < 3; ++a)
            for (int c = 0; c < C; ++c) {
                real g = (real)(scale * ((double)V[at + stride[a] + c] - (double)V[at + c]));
                G[at + stride[a] + c] += g;
                G[at + c] -= g;
            }
    }
    return total / cells;
}

double nsr_volume_tv(const nsr_encoding *e, param_set *p, double weight, int accumulate)
{
    if (e->ops != &volume_ops) return 0;
    const volume_state *s = state_of(e);
    double tv = 0;
    for (int m = 0; m < s->cfg.n_volumes; ++m)
        tv += volume_tv(params_values(p, s->tensor[m]), accumulate ? params_grads(p, s->tensor[m]) : NULL, s->res[m],
                        s->cfg.channels, weight);
    return tv;
}
