/* volume_encoding.c — feature grids as nsr_encodings (see neus.h): HIVE's hierarchical dense
 * volumes with its sparse high-resolution volumes, and Instant-NGP's multiresolution hash grid.
 * All are a list of trilinear grids (kernels/nsr_volume.h) whose features follow PE(x); they
 * differ in their tables (dense r³, brick-sparse or hashed), initialisation and learning-rate
 * groups, and TV applies to HIVE's volumes only. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "nsr_volume.h"
#include "phive/errors.h"
#include "phive/neus.h"

/* TV: voxels per vectorised span of an x-row, and the most channels a volume may have */
enum { TV_SPAN = 32, TV_MAX_CHANNELS = 64 };

#define PAR_THREADS mlp_elementwise_threads()

#define MAX_GRIDS (NSR_MAX_HASH_LEVELS > NSR_MAX_VOLUMES + NSR_MAX_SPARSE ? NSR_MAX_HASH_LEVELS \
                                                                       : NSR_MAX_VOLUMES + NSR_MAX_SPARSE)
#define SPARSE_STREAM (1ull << 44) /* Philox streams of the sparse volumes' initial values */

/* A sparse volume's structure (grid n_dense + k). */
typedef struct {
    int shift, brick_res; /* brick side 2^shift, bricks a side */
    int *slot;            /* brick_res³: slot of each brick, −1 inactive */
    long *active, n_active; /* active brick ids, ascending */
    long *slab_start;     /* brick_res + 1: active[slab_start[z] .. slab_start[z + 1]) have b_z = z */
    long tv_cells;        /* voxels with all four TV vertices active */
} sparse_state;

typedef struct {
    int n_grids, n_sparse, channels, pe_freqs; /* grids: n_grids − n_sparse dense or hashed, then the sparse */
    int res[MAX_GRIDS], tensor[MAX_GRIDS];
    long table[MAX_GRIDS]; /* rows: r³ (dense), the hash table, or active·B³ + 1 (sparse) */
    sparse_state sparse[NSR_MAX_SPARSE];
    int n_pe;              /* width of the leading PE(x) */
    int hashed;            /* 0: HIVE's volumes, 1: hash grid */
    double init;           /* volumes: N(0, init²); hash: U(−init, init) */
    double sparse_init;    /* activated sparse rows: the shared row + N(0, sparse_init²) */
    /* the lookup order's buffers, kept between calls (fresh large blocks cost page faults each time) */
    uint32_t *keys;
    int *order;
    size_t order_capacity; /* rows */
} volume_state;

void nsr_volume_config_default(nsr_volume_config *c)
{
    *c = (nsr_volume_config){.n_volumes = 8, .res_min = 2, .res_max = 256, .channels = 4, .pe_freqs = 6,
                             .init_std = 0.02, .n_sparse = 0, .sparse_res = {512, 1024}, .index_res = 256,
                             .sparse_init_std = 0};
}

void nsr_hash_config_default(nsr_hash_config *c)
{
    *c = (nsr_hash_config){.levels = 16, .features = 2, .log2_table = 19, .res_min = 16, .res_max = 2048,
                           .pe_freqs = 0, .init_scale = 1e-4};
}

static volume_state *state_of(const nsr_encoding *e) { return (volume_state *)e->state; }

static int first_sparse(const volume_state *s) { return s->n_grids - s->n_sparse; }

/* The addressing of grid m. */
static volume_grid grid_of(const volume_state *s, int m)
{
    volume_grid g = {.r = s->res[m], .table = s->table[m]};
    const int k = m - first_sparse(s);
    if (k >= 0) {
        g.bricks = s->sparse[k].slot;
        g.shift = s->sparse[k].shift;
        g.brick_res = s->sparse[k].brick_res;
    }
    return g;
}

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
        for (int m = 0; m < M; ++m) {
            const volume_grid g = grid_of(s, m);
            volume_lookup(&g, params_values(p, s->tensor[m]), C, xr, o + s->n_pe + m * C);
        }
    }
}

/* dL/dV_m += Σ_rows w_corner · dL/d(out_m), the rows in the given order.  Consecutive rows in one
 * cell (most of them on the coarse grids, in Morton order) sum into the cell's 8 corners locally,
 * which go into G when the cell changes. */
static void scatter_volume(const volume_state *s, param_set *p, int m, const real *x, const int *order, int rows,
                           const real *grad_out, int width)
{
    const int C = s->channels;
    const volume_grid grid = grid_of(s, m);
    real *G = params_grads(p, s->tensor[m]);
    real acc[8 * TV_MAX_CHANNELS];
    long corner_row[8];
    int cell[3] = {-1, -1, -1};
    for (int i = 0; i <= rows; ++i) {
        int base[3];
        real t[3], dt[3];
        const int row = i == rows ? 0 : (order ? order[i] : i);
        if (i < rows) volume_cell(x + 3 * (size_t)row, grid.r, base, t, dt);
        if (i == rows || base[0] != cell[0] || base[1] != cell[1] || base[2] != cell[2]) {
            if (cell[0] >= 0) /* flush the previous cell */
                for (int c = 0; c < 8; ++c) {
                    real *v = G + corner_row[c] * C;
                    for (int k = 0; k < C; ++k) v[k] += acc[c * C + k];
                }
            if (i == rows) break;
            memcpy(cell, base, sizeof cell);
            for (int c = 0; c < 8; ++c) corner_row[c] = volume_corner_row(&grid, base, c);
            memset(acc, 0, 8 * (size_t)C * sizeof *acc);
        }
        const real *g = grad_out + (size_t)row * width + s->n_pe + m * C;
        for (int c = 0; c < 8; ++c) {
            const real w = volume_corner_weight(t, c);
            for (int k = 0; k < C; ++k) acc[c * C + k] += w * g[k];
        }
    }
}

/* A fine dense grid's scatter goes by z-slabs of its cells, the even slabs in parallel, then the
 * odd ones: a slab writes its own vertex planes and the first of the next slab only.  The slab
 * count is fixed, so the sums' order does not depend on the thread count. */
enum { SCATTER_SLABS = 16 };

/* Whether grid m is scattered by slabs: dense (no hash, no brick index: no row shared between
 * slabs) with at least 4 cells a slab. */
static int scatter_by_slabs(const volume_state *s, int m)
{
    const long r = s->res[m];
    return m < first_sparse(s) && r * r * r <= s->table[m] && r - 1 >= 4 * SCATTER_SLABS;
}

/* The slab of x's cell in a grid of resolution r (volume_cell's, so it is the cell scatter_volume
 * writes). */
static int slab_of(const real *x, int r)
{
    int base[3];
    real t[3], dt[3];
    volume_cell(x, r, base, t, dt);
    return (int)((long)base[2] * SCATTER_SLABS / (r - 1));
}

/* The rows of `order` (row order when NULL) bucketed by the slab of their cell in grid m, each
 * bucket in the given order: into out, bucket b at out[start[b] .. start[b + 1]). */
static void slab_buckets(const volume_state *s, int m, const real *x, const int *order, int rows, int *out,
                         int start[SCATTER_SLABS + 1])
{
    int at[SCATTER_SLABS + 1] = {0};
    for (int i = 0; i < rows; ++i) ++at[slab_of(x + 3 * (size_t)(order ? order[i] : i), s->res[m]) + 1];
    for (int b = 0; b < SCATTER_SLABS; ++b) at[b + 1] += at[b];
    memcpy(start, at, sizeof at);
    for (int i = 0; i < rows; ++i) {
        const int row = order ? order[i] : i;
        out[at[slab_of(x + 3 * (size_t)row, s->res[m])]++] = row;
    }
}

static void vol_backward(const nsr_encoding *e, param_set *p, const real *x, const real *out, int rows,
                         const real *grad_out, real *grad_x, int accumulate_params)
{
    volume_state *s = state_of(e);
    const int width = vol_n_out(e), C = s->channels, M = s->n_grids;
    if (grad_x) {
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (rows > 1024))
        for (int r = 0; r < rows; ++r) {
            const real *g = grad_out + (size_t)r * width;
            real *gx = grad_x + 3 * (size_t)r;
            positional_encoding_vjp(out + (size_t)r * width, 3, s->pe_freqs, g, gx);
            for (int m = 0; m < M; ++m) {
                const volume_grid grid = grid_of(s, m);
                volume_lookup_grad_x(&grid, params_values(p, s->tensor[m]), C, x + 3 * (size_t)r, g + s->n_pe + m * C,
                                     gx);
            }
        }
    }
    if (!accumulate_params) return;
    /* no atomics: each grid, or each slab of a fine dense grid, is one thread's, and the sums are in
     * the same order for any thread count.  The other half of the lookup order's buffer holds the
     * slab buckets. */
    const int *order = morton_order(s, x, rows);
    int *buckets = order ? (order == s->order ? s->order + rows : s->order) : NULL;
    const int parallel = PAR_THREADS > 1 && rows > 1024;
    /* whole grids, the finest (most cache misses) first, so no thread is left alone with one at the end */
#pragma omp parallel for schedule(dynamic, 1) num_threads(PAR_THREADS) if (parallel)
    for (int m = M - 1; m >= 0; --m)
        if (!buckets || !scatter_by_slabs(s, m)) scatter_volume(s, p, m, x, order, rows, grad_out, width);
    for (int m = 0; m < M && buckets; ++m) {
        if (!scatter_by_slabs(s, m)) continue;
        int start[SCATTER_SLABS + 1];
        slab_buckets(s, m, x, order, rows, buckets, start);
        for (int parity = 0; parity < 2; ++parity) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(PAR_THREADS) if (parallel)
            for (int b = parity; b < SCATTER_SLABS; b += 2)
                scatter_volume(s, p, m, x, buckets + start[b], start[b + 1] - start[b], grad_out, width);
        }
    }
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
    snprintf(name, sizeof name, "%s%d", prefix, m - (strcmp(prefix, "sparse") ? 0 : first_sparse(s)));
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
    if (c->channels < 1 || c->channels > TV_MAX_CHANNELS)
        return err_set("feature volumes: %d channels outside 1..%d", c->channels, TV_MAX_CHANNELS);
    if (c->pe_freqs < 0 || c->pe_freqs > 24) return err_set("feature volumes: %d PE frequencies", c->pe_freqs);
    if (c->n_sparse < 0 || c->n_sparse > NSR_MAX_SPARSE)
        return err_set("sparse volumes: %d outside 0..%d", c->n_sparse, NSR_MAX_SPARSE);
    for (int k = 0; k < c->n_sparse; ++k) {
        const int R = c->sparse_res[k], n = c->index_res, side = n > 0 ? R / n : 0;
        if (n < 1 || R % n || side < 1 || side > 16 || (side & (side - 1)))
            return err_set("sparse volume %d: resolution %d over an index table of %d bricks a side (the brick side "
                           "R / index must be a power of two up to 16)", k, R, n);
    }
    volume_state *s = calloc(1, sizeof *s);
    if (!s) return err_set("out of memory");
    *s = (volume_state){.n_grids = c->n_volumes + c->n_sparse, .n_sparse = c->n_sparse, .channels = c->channels,
                        .pe_freqs = c->pe_freqs, .n_pe = positional_encoding_width(3, c->pe_freqs),
                        .init = c->init_std, .sparse_init = c->sparse_init_std};
    int status = 0;
    for (int m = 0; m < c->n_volumes && !status; ++m) {
        double f = c->n_volumes > 1 ? (double)m / (c->n_volumes - 1) : 0;
        int r = (int)lround(c->res_min * pow((double)c->res_max / c->res_min, f));
        status = declare_grid(s, p, "vol", m, r, (long)r * r * r, first_group + (r <= 16 ? 0 : (r <= 64 ? 1 : 2)));
    }
    for (int k = 0; k < c->n_sparse && !status; ++k) {
        sparse_state *q = &s->sparse[k];
        q->brick_res = c->index_res;
        while ((1 << q->shift) < c->sparse_res[k] / c->index_res) ++q->shift;
        const long bricks = (long)q->brick_res * q->brick_res * q->brick_res;
        if (!(q->slot = malloc((size_t)bricks * sizeof *q->slot))) {
            status = err_set("out of memory for the %d^3 index table of sparse volume %d", q->brick_res, k);
            break;
        }
        for (long b = 0; b < bricks; ++b) q->slot[b] = -1;
        status = declare_grid(s, p, "sparse", c->n_volumes + k, c->sparse_res[k], 1, first_group + 2);
    }
    if (status) {
        e->state = s;
        nsr_encoding_free(e);
        return -1;
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
    for (int k = 0; s && k < NSR_MAX_SPARSE; ++k)
        free(s->sparse[k].slot), free(s->sparse[k].active), free(s->sparse[k].slab_start);
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

/* The rows of the TV voxel at vertex (i, j, k) of a sparse grid: its own and its +x, +y, +z
 * neighbours'; 0 when one lies outside the grid or in an inactive brick. */
static int sparse_voxel(const volume_grid *g, long i, long j, long k, long rows[4])
{
    if (i + 1 >= g->r || j + 1 >= g->r || k + 1 >= g->r) return 0;
    const long shared = g->table - 1;
    rows[0] = volume_row(g, i, j, k);
    rows[1] = volume_row(g, i + 1, j, k);
    rows[2] = volume_row(g, i, j + 1, k);
    rows[3] = volume_row(g, i, j, k + 1);
    return rows[0] != shared && rows[1] != shared && rows[2] != shared && rows[3] != shared;
}

/* The TV term of one voxel: v[0] its vertex's C channels, v[1..3] its +x, +y, +z neighbours';
 * its length sqrt(Σ_channels Σ_axes (v_axis − v_0)² + 1e-12) (the 1e-12 keeps the gradient finite
 * at 0) is returned, and with g (rows as v) the gradient scaled by `scale` / length is added.
 * Inlined with C a constant where the callers know it. */
static inline __attribute__((always_inline)) real voxel_tv(const real *const v[4], real *const g[4], int C,
                                                           real scale)
{
    real d2 = (real)1e-12;
    for (int a = 1; a <= 3; ++a)
        for (int c = 0; c < C; ++c) {
            const real d = v[a][c] - v[0][c];
            d2 += d * d;
        }
    const real len = REAL_SQRT(d2);
    if (g[0]) {
        const real s = scale / len;
        for (int a = 1; a <= 3; ++a)
            for (int c = 0; c < C; ++c) {
                const real d = s * (v[a][c] - v[0][c]);
                g[a][c] += d;
                g[0][c] -= d;
            }
    }
    return len;
}

/* TV of the voxels (i, j, k), i < n ≤ TV_SPAN, of a span of an x-row of a dense volume (v, g at
 * its first vertex; y and z strides sy, sz), as voxel_tv but over the span at once, so each pass
 * is a contiguous loop the compiler vectorises.  Returns the sum of the voxels' lengths. */
static inline __attribute__((always_inline)) double tv_span(const real *PHIVE_RESTRICT v, real *PHIVE_RESTRICT g,
                                                            long n, int C, long sy, long sz, real scale)
{
    real ex[TV_SPAN * TV_MAX_CHANNELS], ey[TV_SPAN * TV_MAX_CHANNELS], ez[TV_SPAN * TV_MAX_CHANNELS];
    const long w = n * C;
    for (long q = 0; q < w; ++q) ex[q] = v[q + C] - v[q], ey[q] = v[q + sy] - v[q], ez[q] = v[q + sz] - v[q];
    double total = 0;
    for (long i = 0; i < n; ++i) {
        real d2 = (real)1e-12;
        for (long q = i * C; q < (i + 1) * C; ++q) d2 += ex[q] * ex[q] + ey[q] * ey[q] + ez[q] * ez[q];
        const real len = REAL_SQRT(d2), s = scale / len;
        total += len;
        for (long q = i * C; q < (i + 1) * C; ++q) ex[q] *= s, ey[q] *= s, ez[q] *= s;
    }
    if (!g) return total;
    for (long q = 0; q < w; ++q) g[q] -= ex[q] + ey[q] + ez[q];
    for (long q = 0; q < w; ++q) g[q + C] += ex[q];
    for (long q = 0; q < w; ++q) g[q + sy] += ey[q];
    for (long q = 0; q < w; ++q) g[q + sz] += ez[q];
    return total;
}

/* TV of one volume: mean over the (r − 1)³ voxels with all three forward neighbours of the voxel
 * lengths (voxel_tv), the gradient of weight × that mean into G.  A voxel's gradient touches its
 * own z-slice and the next: the slices go in two parallel sweeps (even, then odd), so no two
 * threads write the same vertex and each gradient sums in a fixed order. */
static double volume_tv(const real *V, real *G, int r, double weight, int C)
{
    const long n = r - 1, cells = n * n * n, sy = (long)r * C, sz = (long)r * r * C;
    const real scale = (real)(weight / (double)cells);
    double total = 0;
    for (int parity = 0; parity < 2; ++parity) {
#pragma omp parallel for schedule(static) reduction(+ : total) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && n > 16)
        for (long k = parity; k < n; k += 2)
            for (long j = 0; j < n; ++j)
                for (long i = 0; i < n; i += TV_SPAN) {
                    const long at = ((k * r + j) * r + i) * C, span = n - i < TV_SPAN ? n - i : TV_SPAN;
                    real *g = G ? G + at : NULL;
                    total += C == 4 ? tv_span(V + at, g, span, 4, sy, sz, scale) : tv_span(V + at, g, span, C, sy, sz, scale);
                }
    }
    return total / (double)cells;
}

/* The TV terms of brick b's voxels that have four active vertices (sparse_voxel), their gradient
 * scaled by weight / cells (the voxels in the mean); *count += their number.  V NULL: count only. */
static double brick_tv(const volume_grid *g, long b, const real *V, real *G, int C, double weight, long cells,
                       long *count)
{
    const real scale = (real)(weight / (double)cells);
    const long n = g->brick_res, side = 1L << g->shift;
    const long x0 = (b % n) * side, y0 = (b / n % n) * side, z0 = b / (n * n) * side;
    double total = 0;
    for (long k = z0; k < z0 + side; ++k)
        for (long j = y0; j < y0 + side; ++j)
            for (long i = x0; i < x0 + side; ++i) {
                long rows[4];
                if (!sparse_voxel(g, i, j, k, rows)) continue;
                ++*count;
                if (!V) continue;
                const real *const v[4] = {V + rows[0] * C, V + rows[1] * C, V + rows[2] * C, V + rows[3] * C};
                real *const gr[4] = {G ? G + rows[0] * C : NULL, G ? G + rows[1] * C : NULL,
                                     G ? G + rows[2] * C : NULL, G ? G + rows[3] * C : NULL};
                total += voxel_tv(v, gr, C, scale);
            }
    return total;
}

/* The same over a sparse volume's voxels with four active vertices (q->tv_cells): a voxel of brick
 * slab b_z writes slabs b_z and b_z + 1, so the slabs go in the same two sweeps. */
static double sparse_tv(const volume_state *s, int m, const real *V, real *G, double weight)
{
    const sparse_state *q = &s->sparse[m - first_sparse(s)];
    if (!q->tv_cells) return 0;
    const volume_grid g = grid_of(s, m);
    const long n = q->brick_res;
    double total = 0;
    for (int parity = 0; parity < 2; ++parity) {
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : total) num_threads(PAR_THREADS) if (PAR_THREADS > 1)
        for (long bz = parity; bz < n; bz += 2)
            for (long a = q->slab_start[bz]; a < q->slab_start[bz + 1]; ++a) {
                long voxels = 0;
                total += brick_tv(&g, q->active[a], V, G, s->channels, weight, q->tv_cells, &voxels);
            }
    }
    return total / (double)q->tv_cells;
}

double nsr_volume_tv(const nsr_encoding *e, param_set *p, double weight, int accumulate)
{
    if (e->ops != &volume_ops) return 0; /* TV of a hash table has no spatial meaning */
    const volume_state *s = state_of(e);
    double tv = 0;
    for (int m = 0; m < s->n_grids; ++m) {
        const real *V = params_values(p, s->tensor[m]);
        real *G = accumulate ? params_grads(p, s->tensor[m]) : NULL;
        tv += m < first_sparse(s) ? volume_tv(V, G, s->res[m], weight, s->channels) : sparse_tv(s, m, V, G, weight);
    }
    return tv;
}

/* ---- sparse volumes ------------------------------------------------------------------------------ */

static const sparse_state *sparse_of(const nsr_encoding *e, int k)
{
    if (e->ops != &volume_ops || k < 0 || k >= state_of(e)->n_sparse) return NULL;
    return &state_of(e)->sparse[k];
}

int nsr_sparse_count(const nsr_encoding *e) { return e->ops == &volume_ops ? state_of(e)->n_sparse : 0; }

int nsr_sparse_info_of(const nsr_encoding *e, int k, nsr_sparse_info *info)
{
    const sparse_state *q = sparse_of(e, k);
    if (!q) return err_set("no sparse volume %d", k);
    const volume_state *s = state_of(e);
    *info = (nsr_sparse_info){.res = s->res[first_sparse(s) + k], .brick_side = 1 << q->shift,
                              .bricks_per_axis = q->brick_res, .active = q->n_active,
                              .rows = (size_t)s->table[first_sparse(s) + k]};
    const double index = (double)q->brick_res * q->brick_res * q->brick_res * sizeof *q->slot;
    info->bytes = 4.0 * (double)info->rows * s->channels * sizeof(real) + index;
    return 0;
}

const long *nsr_sparse_bricks(const nsr_encoding *e, int k)
{
    const sparse_state *q = sparse_of(e, k);
    return q && q->n_active ? q->active : NULL;
}

/* Vertex index range [*v0, *v1] of a grid of resolution R whose cells meet [lo, hi] (clamped). */
static void vertex_range(double lo, double hi, int R, long *v0, long *v1)
{
    const double scale = 0.5 * (R - 1);
    *v0 = (long)floor((lo + 1) * scale);
    *v1 = (long)ceil((hi + 1) * scale);
    if (*v0 < 0) *v0 = 0;
    if (*v1 > R - 1) *v1 = R - 1;
}

void nsr_sparse_mark(const nsr_encoding *e, int k, const float *sdf, int G, int z0, int z1, double band, real *mark)
{
    const sparse_state *q = sparse_of(e, k);
    if (!q || G < 2) return;
    const volume_state *s = state_of(e);
    const int R = s->res[first_sparse(s) + k], n = q->brick_res;
    const double h = 2.0 / (G - 1);
    const long plane = (long)G * G;
    for (int z = z0; z < z1; ++z)
        for (int y = 0; y + 1 < G; ++y)
            for (int x = 0; x + 1 < G; ++x) {
                int below = 0, above = 0;
                for (int c = 0; c < 8; ++c) {
                    float f = sdf[(long)(z - z0 + (c >> 2 & 1)) * plane + (long)(y + (c >> 1 & 1)) * G + x + (c & 1)];
                    below |= f <= 0, above |= f >= 0;
                }
                if (!(below && above)) continue; /* marching cubes puts no surface in this cell */
                long lo[3], hi[3];
                const int at[3] = {x, y, z};
                for (int a = 0; a < 3; ++a) {
                    vertex_range(-1 + h * at[a] - band, -1 + h * (at[a] + 1) + band, R, &lo[a], &hi[a]);
                    lo[a] >>= q->shift, hi[a] >>= q->shift;
                }
                for (long bz = lo[2]; bz <= hi[2]; ++bz)
                    for (long by = lo[1]; by <= hi[1]; ++by)
                        for (long bx = lo[0]; bx <= hi[0]; ++bx) mark[(bz * n + by) * n + bx] = 1;
            }
}

/* Fill sparse volume k's structure from its active list (slots, slabs, TV count). */
static void sparse_index(volume_state *s, int k)
{
    sparse_state *q = &s->sparse[k];
    const long n = q->brick_res;
    for (long z = 0; z <= n; ++z) q->slab_start[z] = 0;
    for (long a = 0; a < q->n_active; ++a) {
        q->slot[q->active[a]] = (int)a;
        ++q->slab_start[q->active[a] / (n * n) + 1];
    }
    for (long z = 0; z < n; ++z) q->slab_start[z + 1] += q->slab_start[z];
    const volume_grid g = grid_of(s, first_sparse(s) + k);
    q->tv_cells = 0;
    for (long a = 0; a < q->n_active; ++a) brick_tv(&g, q->active[a], NULL, NULL, 0, 0, 1, &q->tv_cells);
}

int nsr_sparse_activate(nsr_encoding *e, param_set *p, adam *opt, int k, const long *bricks, long n, const rng_t *rng)
{
    const sparse_state *found = sparse_of(e, k);
    if (!found) return err_set("no sparse volume %d to activate", k);
    volume_state *s = state_of(e);
    sparse_state *q = &s->sparse[k];
    const int m = first_sparse(s) + k, C = s->channels;
    const long total = (long)q->brick_res * q->brick_res * q->brick_res, per_brick = 1L << (3 * q->shift);
    if (q->n_active) return err_set("sparse volume %d is already active (%ld bricks)", k, q->n_active);
    for (long a = 0; a < n; ++a)
        if (bricks[a] < 0 || bricks[a] >= total || (a && bricks[a] <= bricks[a - 1]))
            return err_set("sparse volume %d: brick list not ascending inside 0..%ld at entry %ld", k, total - 1, a);
    if (n * per_brick >= (long)INT32_MAX) return err_set("sparse volume %d: %ld bricks are too many", k, n);
    long *active = malloc((size_t)(n ? n : 1) * sizeof *active);
    long *slabs = malloc((size_t)(q->brick_res + 1) * sizeof *slabs);
    const size_t rows = (size_t)(n * per_brick + 1), shape[2] = {rows, (size_t)C};
    if (!active || !slabs || adam_reshape(opt, p, s->tensor[m], 2, shape)) {
        free(active), free(slabs);
        return active && slabs ? -1 : err_set("out of memory for sparse volume %d", k);
    }
    memcpy(active, bricks, (size_t)n * sizeof *active);
    q->active = active, q->n_active = n, q->slab_start = slabs;
    s->table[m] = (long)rows;
    /* the shared row (row 0 so far) moves last; the bricks' rows start from it */
    real *V = params_values(p, s->tensor[m]);
    real *moments[2] = {opt ? opt->m + p->tensors[s->tensor[m]].offset : NULL,
                        opt ? opt->v + p->tensors[s->tensor[m]].offset : NULL};
    const size_t last = (rows - 1) * C;
    for (int c = 0; c < C; ++c) V[last + c] = V[c];
    for (int b = 0; b < 2; ++b)
        if (moments[b])
            for (int c = 0; c < C; ++c) moments[b][last + c] = moments[b][c], moments[b][c] = 0;
    for (size_t i = 0; i < last; ++i) {
        double normal = 0, u[2];
        if (rng && s->sparse_init > 0) {
            rng_uniform2_at(rng, SPARSE_STREAM + (uint64_t)k, i, u);
            normal = sqrt(-2.0 * log(1.0 - u[0])) * cos(2.0 * M_PI * u[1]);
        }
        V[i] = (real)((double)V[last + i % C] + s->sparse_init * normal);
    }
    sparse_index(s, k);
    return 0;
}
