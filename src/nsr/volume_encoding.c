/* volume_encoding.c — feature grids as nsr_encodings (see neus.h): HIVE's hierarchical dense
 * volumes and Instant-NGP's multiresolution hash grid.  Both are a list of trilinear grids
 * (kernels/nsr_volume.h) whose features follow PE(x); they differ in their tables (dense r³ or
 * hashed), initialisation and learning-rate groups, and TV applies to the dense volumes only. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "nsr_volume.h"
#include "phive/errors.h"
#include "phive/neus.h"

#define PAR_THREADS mlp_elementwise_threads()

#define MAX_GRIDS (NSR_MAX_HASH_LEVELS > NSR_MAX_VOLUMES ? NSR_MAX_HASH_LEVELS : NSR_MAX_VOLUMES)

typedef struct {
    int n_grids, channels, pe_freqs;
    int res[MAX_GRIDS], tensor[MAX_GRIDS];
    long table[MAX_GRIDS]; /* rows: r³ (dense) or the hash table */
    int n_pe;              /* width of the leading PE(x) */
    int hashed;            /* 0: HIVE's volumes, 1: hash grid */
    double init;           /* volumes: N(0, init²); hash: U(−init, init) */
    /* the lookup order's buffers, kept between calls (fresh large blocks cost page faults each time) */
    uint32_t *keys;
    int *order;
    size_t order_capacity; /* rows */
} volume_state;

void nsr_volume_config_default(nsr_volume_config *c)
{
    *c = (nsr_volume_config){.n_volumes = 8, .res_min = 2, .res_max = 256, .channels = 4, .pe_freqs = 6,
                             .init_std = 0.02};
}

void nsr_hash_config_default(nsr_hash_config *c)
{
    *c = (nsr_hash_config){.levels = 16, .features = 2, .log2_table = 19, .res_min = 16, .res_max = 2048,
                           .pe_freqs = 0, .init_scale = 1e-4};
}

static volume_state *state_of(const nsr_encoding *e) { return (volume_state *)e->state; }

static int vol_n_out(const nsr_encoding *e)
{
    const volume_state *s = state_of(e);
    return s->n_pe + s->n_grids * s->channels;
}

/* ---- lookup order ------------------------------------------------------------------------------ */

/* 10-bit coordinate of x ∈ [−1, 1] (clamped), its bits spread to every third position. */
static uint32_t morton_axis(real x)
{
    real u = (x + 1) * (real)511.5;
    uint32_t v = u <= 0 ? 0u : (u >= 1023 ? 1023u : (uint32_t)u);
    v = (v | (v << 16)) & 0x030000FFu;
    v = (v | (v << 8)) & 0x0300F00Fu;
    v = (v | (v << 4)) & 0x030C30C3u;
    return (v | (v << 2)) & 0x09249249u;
}

/* The rows in Morton order of their points (LSD radix sort, 3 × 10 bits, stable): consecutive
 * lookups then share cache lines in every grid, the FD taps of a sample and neighbouring samples
 * of a ray included, which the renderer's row layout (taps R rows apart) does not give.  In the
 * state's buffers (one caller at a time); NULL when out of memory: the callers then go in row
 * order (the same results). */
static const int *morton_order(volume_state *s, const real *x, int rows)
{
    if ((size_t)rows > s->order_capacity) {
        free(s->keys), free(s->order);
        s->keys = malloc(2 * (size_t)rows * sizeof *s->keys);
        s->order = malloc(2 * (size_t)rows * sizeof *s->order);
        s->order_capacity = s->keys && s->order ? (size_t)rows : 0;
        if (!s->order_capacity) return NULL;
    }
    uint32_t *key = s->keys, *key_next = s->keys + rows;
    int *order = s->order, *order_next = s->order + rows;
    for (int r = 0; r < rows; ++r) {
        const real *p = x + 3 * (size_t)r;
        key[r] = morton_axis(p[0]) | morton_axis(p[1]) << 1 | morton_axis(p[2]) << 2;
        order[r] = r;
    }
    for (int shift = 0; shift < 30; shift += 10) {
        int count[1025] = {0};
        for (int r = 0; r < rows; ++r) ++count[((key[r] >> shift) & 1023u) + 1];
        for (int b = 0; b < 1024; ++b) count[b + 1] += count[b];
        for (int r = 0; r < rows; ++r) {
            int at = count[(key[r] >> shift) & 1023u]++;
            key_next[at] = key[r], order_next[at] = order[r];
        }
        uint32_t *tk = key;
        key = key_next, key_next = tk;
        int *to = order;
        order = order_next, order_next = to;
    }
    return order;
}

static void vol_forward(const nsr_encoding *e, const param_set *p, const real *x, int rows, real *out)
{
    const volume_state *s = state_of(e);
    const int width = vol_n_out(e), C = s->channels, M = s->n_grids;
    const int *order = morton_order(state_of(e), x, rows);
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (rows > 1024))
    for (int i = 0; i < rows; ++i) {
        const int r = order ? order[i] : i;
        const real *xr = x + 3 * (size_t)r;
        real *o = out + (size_t)r * width;
        positional_encoding(xr, 3, s->pe_freqs, o);
        for (int m = 0; m < M; ++m)
            volume_lookup(params_values(p, s->tensor[m]), s->res[m], s->table[m], C, xr, o + s->n_pe + m * C);
    }
}

/* dL/dV_m += Σ_rows w_corner · dL/d(out_m), the rows in the given order. */
static void scatter_volume(const volume_state *s, param_set *p, int m, const real *x, const int *order, int rows,
                           const real *grad_out, int width)
{
    const int C = s->channels, r = s->res[m];
    const long table = s->table[m];
    real *G = params_grads(p, s->tensor[m]);
    for (int i = 0; i < rows; ++i) {
        const int row = order ? order[i] : i;
        int base[3];
        real t[3], dt[3];
        volume_cell(x + 3 * (size_t)row, r, base, t, dt);
        const real *g = grad_out + (size_t)row * width + s->n_pe + m * C;
        for (int c = 0; c < 8; ++c) {
            real w;
            real *v = G + volume_corner(base, t, r, table, c, &w) * C;
            for (int k = 0; k < C; ++k) v[k] += w * g[k];
        }
    }
}

static void vol_backward(const nsr_encoding *e, param_set *p, const real *x, const real *out, int rows,
                         const real *grad_out, real *grad_x, int accumulate_params)
{
    const volume_state *s = state_of(e);
    const int width = vol_n_out(e), C = s->channels, M = s->n_grids;
    if (grad_x) {
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (rows > 1024))
        for (int r = 0; r < rows; ++r) {
            const real *g = grad_out + (size_t)r * width;
            real *gx = grad_x + 3 * (size_t)r;
            positional_encoding_vjp(out + (size_t)r * width, 3, s->pe_freqs, g, gx);
            for (int m = 0; m < M; ++m)
                volume_lookup_grad_x(params_values(p, s->tensor[m]), s->res[m], s->table[m], C, x + 3 * (size_t)r,
                                     g + s->n_pe + m * C, gx);
        }
    }
    if (!accumulate_params) return;
    /* each grid is one thread's: no atomics, and the sums are in the same order for any thread count */
    const int *order = morton_order(state_of(e), x, rows);
#pragma omp parallel for schedule(dynamic, 1) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (rows > 1024))
    for (int m = 0; m < M; ++m) scatter_volume(s, p, m, x, order, rows, grad_out, width);
}

static const nsr_encoding_ops volume_ops = {
    .name = "volumes", .n_out = vol_n_out, .forward = vol_forward, .backward = vol_backward, .jvp = NULL,
    .has_params = 1,
};
static const nsr_encoding_ops hash_ops = {
    .name = "hash", .n_out = vol_n_out, .forward = vol_forward, .backward = vol_backward, .jvp = NULL,
    .has_params = 1,
};

static int is_grid(const nsr_encoding *e) { return e->ops == &volume_ops || e->ops == &hash_ops; }

/* Declare grid m ("<prefix><m>", table rows × C) in p. */
static int declare_grid(volume_state *s, param_set *p, const char *prefix, int m, int res, long table, int group)
{
    char name[32];
    snprintf(name, sizeof name, "%s%d", prefix, m);
    size_t shape[2] = {(size_t)table, (size_t)s->channels};
    s->res[m] = res;
    s->table[m] = table;
    return (s->tensor[m] = params_declare(p, name, 2, shape, group)) < 0 ? -1 : 0;
}

static int attach(nsr_encoding *e, volume_state *s, const nsr_encoding_ops *ops)
{
    e->ops = ops;
    e->n_in = 3;
    e->n_freqs = s->pe_freqs;
    e->state = s;
    return 0;
}

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
    *s = (volume_state){.n_grids = c->n_volumes, .channels = c->channels, .pe_freqs = c->pe_freqs,
                        .n_pe = positional_encoding_width(3, c->pe_freqs), .init = c->init_std};
    for (int m = 0; m < c->n_volumes; ++m) {
        double f = c->n_volumes > 1 ? (double)m / (c->n_volumes - 1) : 0;
        int r = (int)lround(c->res_min * pow((double)c->res_max / c->res_min, f));
        if (declare_grid(s, p, "vol", m, r, (long)r * r * r, first_group + (r <= 16 ? 0 : (r <= 64 ? 1 : 2)))) {
            free(s);
            return -1;
        }
    }
    return attach(e, s, &volume_ops);
}

int nsr_encoding_hash(nsr_encoding *e, param_set *p, const nsr_hash_config *c, int group)
{
    memset(e, 0, sizeof *e);
    if (c->levels < 1 || c->levels > NSR_MAX_HASH_LEVELS)
        return err_set("hash grid: %d levels outside 1..%d", c->levels, NSR_MAX_HASH_LEVELS);
    if (c->res_min < 2 || c->res_max < c->res_min || c->res_max > 1 << 16)
        return err_set("hash grid: resolutions %d..%d (need 2 <= min <= max <= 65536)", c->res_min, c->res_max);
    if (c->features < 1 || c->features > 64) return err_set("hash grid: %d features outside 1..64", c->features);
    if (c->log2_table < 4 || c->log2_table > 26) return err_set("hash grid: log2 table size %d outside 4..26", c->log2_table);
    if (c->pe_freqs < 0 || c->pe_freqs > 24) return err_set("hash grid: %d PE frequencies", c->pe_freqs);
    volume_state *s = calloc(1, sizeof *s);
    if (!s) return err_set("out of memory");
    *s = (volume_state){.n_grids = c->levels, .channels = c->features, .pe_freqs = c->pe_freqs,
                        .n_pe = positional_encoding_width(3, c->pe_freqs), .hashed = 1, .init = c->init_scale};
    /* N_l = ⌊N_min·b^l⌋, b = exp((ln N_max − ln N_min)/(L − 1)) (Instant-NGP eq. 2-3) */
    const double b = c->levels > 1 ? exp((log(c->res_max) - log(c->res_min)) / (c->levels - 1)) : 1;
    const long T = 1L << c->log2_table;
    for (int l = 0; l < c->levels; ++l) {
        int r = (int)floor(c->res_min * pow(b, l) + 1e-9);
        long dense = (long)r * r * r;
        if (declare_grid(s, p, "hash", l, r, dense <= T ? dense : T, group)) {
            free(s);
            return -1;
        }
    }
    return attach(e, s, &hash_ops);
}

void nsr_encoding_init(const nsr_encoding *e, param_set *p, rng_t *rng)
{
    if (!is_grid(e)) return;
    const volume_state *s = state_of(e);
    for (int m = 0; m < s->n_grids; ++m) {
        real *v = params_values(p, s->tensor[m]);
        size_t n = p->tensors[s->tensor[m]].count;
        for (size_t i = 0; i < n; ++i)
            v[i] = (real)(s->hashed ? s->init * (2 * rng_uniform(rng) - 1) : s->init * rng_normal(rng));
    }
}

void nsr_encoding_free(nsr_encoding *e)
{
    volume_state *s = e->state;
    if (s) free(s->keys), free(s->order);
    free(e->state);
    e->state = NULL;
}

int nsr_volume_resolution(const nsr_encoding *e, int m)
{
    if (!is_grid(e) || m < 0 || m >= state_of(e)->n_grids) return 0;
    return state_of(e)->res[m];
}

int nsr_volume_tensor(const nsr_encoding *e, int m)
{
    if (!is_grid(e) || m < 0 || m >= state_of(e)->n_grids) return -1;
    return state_of(e)->tensor[m];
}

/* TV of one volume: mean over the (r − 1)³ voxels with all three forward neighbours of
 * sqrt(Σ_channels Σ_axes (V_{+axis} − V)² + 1e-12) (the 1e-12 keeps the gradient finite at 0).
 * A voxel's gradient touches its own z-slice and the next: the slices go in two parallel sweeps
 * (even, then odd), so no two threads write the same vertex and each gradient sums in a fixed order. */
static double volume_tv(const real *V, real *G, int r, int C, double weight)
{
    const long n = r - 1, cells = n * n * n;
    const long stride[3] = {C, (long)r * C, (long)r * r * C};
    double total = 0;
    for (int parity = 0; parity < 2; ++parity) {
#pragma omp parallel for schedule(static) reduction(+ : total) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && n > 16)
        for (long k = parity; k < n; k += 2)
            for (long j = 0; j < n; ++j)
                for (long i = 0; i < n; ++i) {
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
    }
    return total / cells;
}

double nsr_volume_tv(const nsr_encoding *e, param_set *p, double weight, int accumulate)
{
    if (e->ops != &volume_ops) return 0; /* TV of a hash table has no spatial meaning */
    const volume_state *s = state_of(e);
    double tv = 0;
    for (int m = 0; m < s->n_grids; ++m)
        tv += volume_tv(params_values(p, s->tensor[m]), accumulate ? params_grads(p, s->tensor[m]) : NULL, s->res[m],
                        s->channels, weight);
    return tv;
}
