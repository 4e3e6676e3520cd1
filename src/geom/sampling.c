/* sampling.c — area-weighted surface sampling and greedy radius thinning
 * (contract in phive/sampling.h). */
#include "phive/sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/rng.h"

/* Philox key streams of this module ("SAMP", "PERM"): keep the draws
 * independent of any other use of the same seed. */
#define SAMPLE_KEY_STREAM 0x53414d50u
#define PERMUTATION_KEY_STREAM 0x5045524du
/* Counter streams under the sampling key: face choice + first barycentric
 * uniform, then the second barycentric uniform. */
#define STREAM_FACE 0
#define STREAM_BARY 1

/* ---- surface sampling ---------------------------------------------------- */

static double triangle_area(const float *a, const float *b, const float *c)
{
    double e1[3], e2[3];
    for (int d = 0; d < 3; ++d) e1[d] = (double)b[d] - a[d], e2[d] = (double)c[d] - a[d];
    double cx = e1[1] * e2[2] - e1[2] * e2[1];
    double cy = e1[2] * e2[0] - e1[0] * e2[2];
    double cz = e1[0] * e2[1] - e1[1] * e2[0];
    return 0.5 * sqrt(cx * cx + cy * cy + cz * cz);
}

/* cdf[f] = area of faces 0..f (double: exact enough for millions of faces).
 * Also checks the face indices and the finiteness of the used vertices. */
static int face_area_cdf(const mesh *m, double *cdf)
{
    double total = 0;
    for (size_t f = 0; f < m->n_faces; ++f) {
        const uint32_t *v = m->faces + 3 * f;
        for (int k = 0; k < 3; ++k)
            if (v[k] >= m->n_vertices)
                return err_set("mesh_sample_surface: face %zu uses vertex %u of %zu", f, v[k], m->n_vertices);
        double area = triangle_area(m->positions + 3 * (size_t)v[0], m->positions + 3 * (size_t)v[1],
                                    m->positions + 3 * (size_t)v[2]);
        if (!isfinite(area)) return err_set("mesh_sample_surface: face %zu has a non-finite vertex", f);
        total += area;
        cdf[f] = total;
    }
    if (!(total > 0) || !isfinite(total)) return err_set("mesh_sample_surface: the mesh's total area is %g", total);
    return 0;
}

/* First face whose cumulative area exceeds target (so never a zero-area
 * face); target may round up to the total, hence the clamp to the last face
 * with positive area. */
static size_t pick_face(const double *cdf, size_t n_faces, size_t last_positive, double target)
{
    size_t lo = 0, hi = n_faces;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > target) hi = mid;
        else lo = mid + 1;
    }
    return lo < n_faces ? lo : last_positive;
}

static size_t last_positive_face(const double *cdf, size_t n_faces)
{
    size_t f = n_faces - 1;
    while (f > 0 && cdf[f] == cdf[f - 1]) --f;
    return f;
}

int mesh_sample_surface(const mesh *m, size_t n, uint64_t seed, float *points, uint32_t *face, float *barycentric)
{
    if (!m || !m->positions || !m->faces || m->n_faces == 0)
        return err_set("mesh_sample_surface: the mesh has no faces");
    if (m->n_faces > UINT32_MAX) return err_set("mesh_sample_surface: %zu faces exceed the 32-bit limit", m->n_faces);
    double *cdf = malloc(sizeof(double) * m->n_faces);
    if (!cdf) return err_set("mesh_sample_surface: out of memory for %zu faces", m->n_faces);
    if (face_area_cdf(m, cdf)) {
        free(cdf);
        return -1;
    }
    size_t n_faces = m->n_faces, last_positive = last_positive_face(cdf, n_faces);
    double total = cdf[n_faces - 1];
    rng_t key;
    rng_seed(&key, seed, SAMPLE_KEY_STREAM);
#pragma omp parallel for schedule(static) default(none) \
    shared(m, n, points, face, barycentric, cdf, n_faces, last_positive, total, key)
    for (size_t i = 0; i < n; ++i) {
        double u[2], v[2];
        rng_uniform2_at(&key, STREAM_FACE, i, u);
        rng_uniform2_at(&key, STREAM_BARY, i, v);
        size_t f = pick_face(cdf, n_faces, last_positive, u[0] * total);
        /* Uniform on a triangle: w = (1 - √r1, √r1 (1 - r2), √r1 r2). */
        double s = sqrt(u[1]);
        double w[3] = {1.0 - s, s * (1.0 - v[0]), s * v[0]};
        const uint32_t *tri = m->faces + 3 * f;
        for (int d = 0; d < 3; ++d) {
            double x = 0;
            for (int k = 0; k < 3; ++k) x += w[k] * m->positions[3 * (size_t)tri[k] + d];
            points[3 * i + d] = (float)x;
        }
        if (face) face[i] = (uint32_t)f;
        if (barycentric)
            for (int k = 0; k < 3; ++k) barycentric[3 * i + k] = (float)w[k];
    }
    free(cdf);
    return 0;
}

/* ---- permutation --------------------------------------------------------- */

int sampling_permutation(size_t n, uint64_t seed, uint32_t *order)
{
    if (n > UINT32_MAX) return err_set("sampling_permutation: %zu elements exceed the 32-bit limit", n);
    rng_t rng;
    rng_seed(&rng, seed, PERMUTATION_KEY_STREAM);
    for (size_t i = 0; i < n; ++i) order[i] = (uint32_t)i;
    for (size_t i = n; i > 1; --i) {
        size_t j = (size_t)(rng_uniform(&rng) * (double)i); /* 53-bit uniform: bias negligible */
        if (j >= i) j = i - 1;
        uint32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    return 0;
}

/* ---- radius thinning ----------------------------------------------------- */

/* Grid cells are a hair larger than the radius, so two points within radius
 * are in the same or adjacent cells even after the rounding of the cell
 * coordinate computation (relative error ≤ 2^21 · 2^-52 ≪ 1e-6). */
#define CELL_SLACK (1.0 + 1e-6)
#define CELL_BITS 21
#define EMPTY_KEY UINT64_MAX
#define NO_POINT UINT32_MAX
/* keep[] value while thinning, so a repeated index in order is caught. */
#define VISITED_DROPPED 2

typedef struct {
    uint64_t key;  /* packed cell coordinates */
    uint32_t head; /* first kept point in the cell, chained through next[] */
} cell_slot;

/* Open-addressing hash grid holding only kept points. */
typedef struct {
    cell_slot *slots;
    size_t capacity, used; /* capacity is a power of two */
} cell_table;

static uint64_t pack_cell(int64_t cx, int64_t cy, int64_t cz)
{
    return (uint64_t)cx | (uint64_t)cy << CELL_BITS | (uint64_t)cz << (2 * CELL_BITS);
}

static size_t hash_key(uint64_t key)
{
    key ^= key >> 33; /* murmur3 finaliser */
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ull;
    key ^= key >> 33;
    return (size_t)key;
}

static cell_slot *find_slot(const cell_table *t, uint64_t key)
{
    size_t mask = t->capacity - 1;
    for (size_t h = hash_key(key) & mask;; h = (h + 1) & mask)
        if (t->slots[h].key == key || t->slots[h].key == EMPTY_KEY) return &t->slots[h];
}

static int table_init(cell_table *t, size_t capacity)
{
    t->capacity = capacity;
    t->used = 0;
    t->slots = malloc(sizeof(cell_slot) * capacity);
    if (!t->slots) return err_set("points_thin_radius: out of memory for the hash grid");
    for (size_t i = 0; i < capacity; ++i) t->slots[i].key = EMPTY_KEY, t->slots[i].head = NO_POINT;
    return 0;
}

/* Keep the load at most one half so probe sequences stay short. */
static int table_grow_if_needed(cell_table *t)
{
    if (2 * (t->used + 1) <= t->capacity) return 0;
    cell_table bigger;
    if (table_init(&bigger, 2 * t->capacity)) return -1;
    for (size_t i = 0; i < t->capacity; ++i)
        if (t->slots[i].key != EMPTY_KEY) *find_slot(&bigger, t->slots[i].key) = t->slots[i];
    bigger.used = t->used;
    free(t->slots);
    *t = bigger;
    return 0;
}

typedef struct {
    const float *points;
    double origin[3], cell_size, radius2;
    cell_table table;
    uint32_t *next; /* chain of kept points within a cell */
    int offsets[27][3];
} thinning;

static void cell_of(const thinning *g, const float *p, int64_t c[3])
{
    for (int d = 0; d < 3; ++d) c[d] = (int64_t)floor(((double)p[d] - g->origin[d]) / g->cell_size);
}

/* The 27 neighbour cells, nearest first: the own cell and its face
 * neighbours most often hold the kept point that rejects p, and the search
 * stops there. */
static void neighbour_offsets(int offsets[27][3])
{
    int k = 0;
    for (int manhattan = 0; manhattan <= 3; ++manhattan)
        for (int dz = -1; dz <= 1; ++dz)
            for (int dy = -1; dy <= 1; ++dy)
                for (int dx = -1; dx <= 1; ++dx)
                    if (abs(dx) + abs(dy) + abs(dz) == manhattan)
                        offsets[k][0] = dx, offsets[k][1] = dy, offsets[k][2] = dz, ++k;
}

/* Is a kept point within radius of p?  Looks at the 27 cells around p's. */
static int has_kept_neighbour(const thinning *g, const float *p, const int64_t c[3])
{
    for (int k = 0; k < 27; ++k) {
        int64_t x = c[0] + g->offsets[k][0], y = c[1] + g->offsets[k][1], z = c[2] + g->offsets[k][2];
        if (x < 0 || y < 0 || z < 0) continue; /* origin is the cloud's minimum: nothing there */
        const cell_slot *slot = find_slot(&g->table, pack_cell(x, y, z));
        for (uint32_t q = slot->head; q != NO_POINT; q = g->next[q]) {
            const float *o = g->points + 3 * (size_t)q;
            double ex = (double)p[0] - o[0], ey = (double)p[1] - o[1], ez = (double)p[2] - o[2];
            if (ex * ex + ey * ey + ez * ez <= g->radius2) return 1;
        }
    }
    return 0;
}

static int insert_kept(thinning *g, uint32_t index, const int64_t c[3])
{
    if (table_grow_if_needed(&g->table)) return -1;
    cell_slot *slot = find_slot(&g->table, pack_cell(c[0], c[1], c[2]));
    if (slot->key == EMPTY_KEY) slot->key = pack_cell(c[0], c[1], c[2]), g->table.used++;
    g->next[index] = slot->head;
    slot->head = index;
    return 0;
}

/* Origin = the cloud's minimum corner; checks finiteness and that the cell
 * coordinates fit in CELL_BITS bits. */
static int thinning_grid(thinning *g, const float *points, size_t n, double radius)
{
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t i = 0; i < n; ++i)
        for (int d = 0; d < 3; ++d) {
            double v = points[3 * i + d];
            if (!isfinite(v)) return err_set("points_thin_radius: point %zu has a non-finite coordinate", i);
            lo[d] = v < lo[d] ? v : lo[d];
            hi[d] = v > hi[d] ? v : hi[d];
        }
    g->points = points;
    neighbour_offsets(g->offsets);
    g->cell_size = radius * CELL_SLACK;
    g->radius2 = radius * radius;
    for (int d = 0; d < 3; ++d) {
        g->origin[d] = lo[d];
        if ((hi[d] - lo[d]) / g->cell_size >= (double)((1 << CELL_BITS) - 2))
            return err_set("points_thin_radius: radius %g is too small for the cloud's extent %g "
                           "(at most 2^%d cells per axis)",
                           radius, hi[d] - lo[d], CELL_BITS);
    }
    return 0;
}

int points_thin_radius_ordered(const float *points, size_t n, const uint32_t *order, double radius, uint8_t *keep,
                               size_t *n_kept)
{
    if (!(radius > 0) || !isfinite(radius)) return err_set("points_thin_radius: radius %g must be > 0", radius);
    if (n >= UINT32_MAX) return err_set("points_thin_radius: %zu points exceed the 32-bit limit", n);
    thinning g = {.points = points};
    if (thinning_grid(&g, points, n, radius)) return -1;
    memset(keep, 0, n);
    size_t kept = 0;
    g.next = malloc(sizeof(uint32_t) * (n ? n : 1));
    if (!g.next || table_init(&g.table, 1024)) {
        free(g.next);
        return err_set("points_thin_radius: out of memory for %zu points", n);
    }
    int status = 0;
    for (size_t k = 0; k < n && status == 0; ++k) {
        size_t i = order ? order[k] : k;
        if (i >= n || keep[i] != 0) {
            status = err_set("points_thin_radius: order[%zu] = %zu is not a permutation of 0..%zu", k, i, n - 1);
            break;
        }
        int64_t c[3];
        cell_of(&g, points + 3 * i, c);
        keep[i] = VISITED_DROPPED;
        if (has_kept_neighbour(&g, points + 3 * i, c)) continue;
        status = insert_kept(&g, (uint32_t)i, c);
        keep[i] = 1;
        ++kept;
    }
    for (size_t i = 0; i < n; ++i) keep[i] = keep[i] == 1;
    free(g.next);
    free(g.table.slots);
    if (n_kept) *n_kept = kept;
    return status;
}

int points_thin_radius(const float *points, size_t n, double radius, uint64_t seed, uint8_t *keep, size_t *n_kept)
{
    uint32_t *order = malloc(sizeof(uint32_t) * (n ? n : 1));
    if (!order) return err_set("points_thin_radius: out of memory for %zu points", n);
    int status = sampling_permutation(n, seed, order);
    if (status == 0) status = points_thin_radius_ordered(points, n, order, radius, keep, n_kept);
    free(order);
    return status;
}
