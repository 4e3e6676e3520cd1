/* nsr_volume.h — trilinear lookup in feature grids: dense, hashed or brick-sparse (CPU loops and
 * CUDA kernels).
 *
 * A grid of resolution r has r³ vertices over [−1, 1]³, vertex i of an axis at −1 + 2i/(r − 1)
 * (grid_sample with align_corners = True), and a table of `table` rows × C channels (channels
 * contiguous).  Vertex (i, j, k) reads row
 *   dense (HIVE's volumes, table = r³):  (k·r + j)·r + i;
 *   hashed (Instant-NGP, r³ > table, table a power of two):
 *     (i·1 ⊕ j·2654435761 ⊕ k·805459861) mod table, in uint32 arithmetic as Instant-NGP;
 *   sparse (HIVE's high-resolution volumes): an index table `bricks` over the bricks of
 *     2^shift vertices a side (brick_res a side), slot s = bricks[(k'·n + j')·n + i'] of brick
 *     (i', j', k') = (i, j, k) >> shift; row s·2^{3·shift} + local (the vertex inside its brick,
 *     x fastest) for an active brick, the shared last row table − 1 for s = −1 (HIVE's index −1).
 * Points are clamped to [−1, 1]³ first, so a point outside the box reads the box's face (and has
 * no derivative along the clamped axis).  Valid C and C++ (nvcc); no allocation.
 */
#ifndef PHIVE_KERNELS_NSR_VOLUME_H
#define PHIVE_KERNELS_NSR_VOLUME_H

#include "common.h"

/* The cell of x: base vertex (ix, iy, iz) with i ≤ r − 2, fractions t ∈ [0, 1] and
 * d t/d x (0 on a clamped axis) per axis. */
PHIVE_HD void volume_cell(const real *PHIVE_RESTRICT x, int r, int *PHIVE_RESTRICT base, real *PHIVE_RESTRICT t,
                          real *PHIVE_RESTRICT dt)
{
    const real scale = (real)0.5 * (real)(r - 1);
    for (int a = 0; a < 3; ++a) {
        real u = (x[a] + 1) * scale;
        dt[a] = scale;
        if (u <= 0) u = 0, dt[a] = 0;
        if (u >= (real)(r - 1)) u = (real)(r - 1), dt[a] = 0;
        int i = (int)u;
        if (i > r - 2) i = r - 2;
        base[a] = i;
        t[a] = u - (real)i;
    }
}

/* A grid's addressing: resolution, table rows and, for a sparse grid, its brick index. */
typedef struct {
    int r;
    long table;
    const int *bricks; /* sparse: slot per brick (−1: the shared row); NULL: dense or hashed */
    int shift;         /* sparse: log2 of the brick side */
    int brick_res;     /* sparse: bricks a side */
} volume_grid;

/* Table row of vertex (i, j, k). */
PHIVE_HD long volume_row(const volume_grid *g, long i, long j, long k)
{
    if (g->bricks) {
        const int s = g->shift, n = g->brick_res;
        const int slot = g->bricks[((k >> s) * n + (j >> s)) * n + (i >> s)];
        if (slot < 0) return g->table - 1;
        const long mask = (1L << s) - 1;
        return ((long)slot << (3 * s)) | ((((k & mask) << s | (j & mask)) << s) | (i & mask));
    }
    const long r = g->r;
    if (r * r * r <= g->table) return (k * r + j) * r + i;
    const unsigned h = (unsigned)i ^ ((unsigned)j * 2654435761u) ^ ((unsigned)k * 805459861u);
    return (long)(h & (unsigned)(g->table - 1));
}

/* Trilinear weight of corner c (bits: x, y, z) of the cell with fractions t. */
PHIVE_HD real volume_corner_weight(const real *PHIVE_RESTRICT t, int c)
{
    return (c & 1 ? t[0] : 1 - t[0]) * (c & 2 ? t[1] : 1 - t[1]) * (c & 4 ? t[2] : 1 - t[2]);
}

/* Table row of corner c of the cell with base vertex `base`. */
PHIVE_HD long volume_corner_row(const volume_grid *g, const int *PHIVE_RESTRICT base, int c)
{
    return volume_row(g, base[0] + (c & 1), base[1] + ((c >> 1) & 1), base[2] + ((c >> 2) & 1));
}

/* Table row and weight of corner c of the cell. */
PHIVE_HD long volume_corner(const volume_grid *g, const int *PHIVE_RESTRICT base, const real *PHIVE_RESTRICT t, int c,
                            real *PHIVE_RESTRICT weight)
{
    *weight = volume_corner_weight(t, c);
    return volume_corner_row(g, base, c);
}

/* out (C) = trilinear interpolation of V at x. */
PHIVE_HD void volume_lookup(const volume_grid *g, const real *PHIVE_RESTRICT V, int C, const real *PHIVE_RESTRICT x,
                            real *PHIVE_RESTRICT out)
{
    int base[3];
    real t[3], dt[3];
    volume_cell(x, g->r, base, t, dt);
    for (int k = 0; k < C; ++k) out[k] = 0;
    for (int c = 0; c < 8; ++c) {
        real w;
        const real *v = V + volume_corner(g, base, t, c, &w) * C;
        for (int k = 0; k < C; ++k) out[k] += w * v[k];
    }
}

/* dL/dx (3, added to grad_x) from dL/d(out) (C): Σ_corners ∂w/∂x · (V · ḡ). */
PHIVE_HD void volume_lookup_grad_x(const volume_grid *g, const real *PHIVE_RESTRICT V, int C,
                                   const real *PHIVE_RESTRICT x, const real *PHIVE_RESTRICT grad_out,
                                   real *PHIVE_RESTRICT grad_x)
{
    int base[3];
    real t[3], dt[3];
    volume_cell(x, g->r, base, t, dt);
    for (int c = 0; c < 8; ++c) {
        const int bits[3] = {c & 1, (c >> 1) & 1, (c >> 2) & 1};
        real w, f[3], vg = 0;
        const real *v = V + volume_corner(g, base, t, c, &w) * C;
        for (int k = 0; k < C; ++k) vg += v[k] * grad_out[k];
        for (int a = 0; a < 3; ++a) f[a] = bits[a] ? t[a] : 1 - t[a];
        for (int a = 0; a < 3; ++a) {
            real d = (bits[a] ? (real)1 : (real)-1) * dt[a];
            for (int b = 0; b < 3; ++b)
                if (b != a) d *= f[b];
            grad_x[a] += d * vg;
        }
    }
}

#ifdef PHIVE_CUDA
#ifdef __cplusplus
extern "C" {
#endif
/* Device launchers (nsr_volume.cu); V, G, x, out, grad_out and g.bricks in device memory.
 * lookup: out[i·width + offset + k] = volume_lookup of point i, k < C, for the n points x (n × 3).
 * scatter: G += Σ_points Σ_corners w · grad_out[i·width + offset + k], the backward of lookup.
 * Return 0 or a CUDA error code (launch errors; the kernels run asynchronously). */
int volume_lookup_device(volume_grid g, const real *V, int C, const real *x, long n, real *out, int width,
                         int offset);
int volume_scatter_device(volume_grid g, real *G, int C, const real *x, long n, const real *grad_out, int width,
                          int offset);
#ifdef __cplusplus
}
#endif
#endif

#endif
