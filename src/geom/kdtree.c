/* kdtree.c — exact 3D nearest neighbours (contract in phive/kdtree.h).
 *
 * Layout: a perfectly balanced tree stored as an implicit heap.  Every node
 * splits its range [lo, hi) at mid = (lo + hi) / 2, so sibling sizes differ
 * by at most one and all leaves sit at the same depth; children of node i
 * are 2i+1 and 2i+2 and no child pointers are stored.  Internal nodes keep
 * only (split dimension, split value); leaves are contiguous runs of a
 * reordered copy of the points (xyz + original index in 16 bytes), so a
 * leaf scan reads one or two cache lines.
 *
 * Exactness: distances are computed in double from the float coordinates
 * with one expression (sum_sq3), and the pruning bound uses the same
 * expression on per-axis offsets that are never larger than the true
 * offsets, so, by monotonic rounding, a pruned subtree cannot hold a point
 * whose computed distance beats the best one: results equal brute force.
 */
#include "phive/kdtree.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"

/* Leaves hold at most this many points (and, for n > LEAF_MAX, more than
 * half as many).  Measured in validation/bench/bench_geom.c. */
#define LEAF_MAX 12
/* Subtrees at least this large are built as separate OpenMP tasks. */
#define TASK_MIN_POINTS 32768

typedef struct {
    float x[3];
    uint32_t index; /* position in the caller's array */
} kd_point;

struct kdtree {
    size_t n;
    int depth;            /* internal levels; leaves are at this depth */
    size_t n_internal;    /* 2^depth - 1 */
    float *split_value;   /* per internal node */
    uint8_t *split_dim;   /* per internal node */
    uint32_t *leaf_start; /* 2^depth + 1 offsets into pts */
    kd_point *pts;        /* reordered copy */
};

static inline double sum_sq3(double a, double b, double c)
{
    return a * a + b * b + c * c;
}

/* ---- build --------------------------------------------------------------- */

/* Dimension with the largest extent of pts[lo, hi): splitting it keeps cells
 * close to cubic, which keeps the search's pruning effective. */
static int widest_dimension(const kd_point *pts, size_t lo, size_t hi)
{
    float mn[3], mx[3];
    for (int d = 0; d < 3; ++d) mn[d] = mx[d] = pts[lo].x[d];
    for (size_t i = lo + 1; i < hi; ++i)
        for (int d = 0; d < 3; ++d) {
            float v = pts[i].x[d];
            mn[d] = v < mn[d] ? v : mn[d];
            mx[d] = v > mx[d] ? v : mx[d];
        }
    int best = 0;
    for (int d = 1; d < 3; ++d)
        if ((double)mx[d] - mn[d] > (double)mx[best] - mn[best]) best = d;
    return best;
}

static inline void swap_points(kd_point *a, kd_point *b)
{
    kd_point t = *a;
    *a = *b;
    *b = t;
}

/* Quickselect: afterwards pts[k] holds the value it would have in sorted
 * order along dim, everything before it is <= and everything after >=.
 * Median-of-three pivots and a Hoare partition (which stops on equal keys)
 * keep sorted inputs and heavy duplicates linear in practice. */
static void select_kth(kd_point *pts, size_t lo, size_t hi, size_t k, int dim)
{
    while (hi - lo > 16) {
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        if (pts[mid].x[dim] < pts[lo].x[dim]) swap_points(&pts[mid], &pts[lo]);
        if (pts[last].x[dim] < pts[lo].x[dim]) swap_points(&pts[last], &pts[lo]);
        if (pts[last].x[dim] < pts[mid].x[dim]) swap_points(&pts[last], &pts[mid]);
        float pivot = pts[mid].x[dim];
        size_t i = lo, j = last;
        for (;;) {
            while (pts[i].x[dim] < pivot) ++i;
            while (pts[j].x[dim] > pivot) --j;
            if (i >= j) break;
            swap_points(&pts[i], &pts[j]);
            ++i, --j;
        }
        /* now [lo, j] <= pivot <= [j+1, hi) */
        if (k <= j) hi = j + 1;
        else lo = j + 1;
    }
    for (size_t i = lo + 1; i < hi; ++i) /* insertion sort of the small rest */
        for (size_t j = i; j > lo && pts[j].x[dim] < pts[j - 1].x[dim]; --j) swap_points(&pts[j], &pts[j - 1]);
}

static void build_node(kdtree *t, size_t node, int level, size_t lo, size_t hi)
{
    if (level == t->depth) {
        t->leaf_start[node - t->n_internal] = (uint32_t)lo;
        return;
    }
    size_t mid = lo + (hi - lo) / 2;
    int dim = widest_dimension(t->pts, lo, hi);
    select_kth(t->pts, lo, hi, mid, dim);
    t->split_dim[node] = (uint8_t)dim;
    t->split_value[node] = t->pts[mid].x[dim];
    /* The two halves are disjoint ranges: build them concurrently when big. */
#pragma omp task if (hi - lo >= TASK_MIN_POINTS) default(none) firstprivate(t, node, level, lo, mid)
    build_node(t, 2 * node + 1, level + 1, lo, mid);
    build_node(t, 2 * node + 2, level + 1, mid, hi);
#pragma omp taskwait
}

/* Smallest depth whose leaves hold at most LEAF_MAX points: a node at level
 * k holds floor or ceil of n / 2^k points. */
static int tree_depth(size_t n)
{
    int depth = 0;
    while ((n + ((size_t)1 << depth) - 1) >> depth > LEAF_MAX) ++depth;
    return depth;
}

static int copy_points(kd_point *pts, const float *points, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        for (int d = 0; d < 3; ++d) {
            float v = points[3 * i + d];
            if (!isfinite(v)) return err_set("kdtree_build: point %zu has a non-finite coordinate", i);
            pts[i].x[d] = v;
        }
        pts[i].index = (uint32_t)i;
    }
    return 0;
}

kdtree *kdtree_build(const float *points, size_t n)
{
    if (!points || n == 0) {
        err_set("kdtree_build: no points");
        return NULL;
    }
    if (n >= UINT32_MAX) {
        err_set("kdtree_build: %zu points exceed the 32-bit index limit", n);
        return NULL;
    }
    kdtree *t = calloc(1, sizeof *t);
    if (!t) {
        err_set("kdtree_build: out of memory");
        return NULL;
    }
    t->n = n;
    t->depth = tree_depth(n);
    t->n_internal = ((size_t)1 << t->depth) - 1;
    t->split_value = malloc(sizeof(float) * (t->n_internal + 1));
    t->split_dim = malloc(t->n_internal + 1);
    t->leaf_start = malloc(sizeof(uint32_t) * (t->n_internal + 2));
    t->pts = malloc(sizeof(kd_point) * n);
    if (!t->split_value || !t->split_dim || !t->leaf_start || !t->pts) {
        kdtree_free(t);
        err_set("kdtree_build: out of memory for %zu points", n);
        return NULL;
    }
    if (copy_points(t->pts, points, n)) {
        kdtree_free(t);
        return NULL;
    }
    t->leaf_start[t->n_internal + 1] = (uint32_t)n; /* end of the last leaf */
#pragma omp parallel if (n >= 2 * TASK_MIN_POINTS) default(none) shared(t, n)
#pragma omp single
    build_node(t, 0, 0, 0, n);
    return t;
}

void kdtree_free(kdtree *t)
{
    if (!t) return;
    free(t->split_value);
    free(t->split_dim);
    free(t->leaf_start);
    free(t->pts);
    free(t);
}

/* ---- search -------------------------------------------------------------- */

typedef struct {
    const kdtree *t;
    double q[3];
    double best_dist2;
    size_t best; /* position in t->pts */
} search_state;

static void scan_leaf(search_state *s, size_t leaf)
{
    const kd_point *pts = s->t->pts;
    size_t end = s->t->leaf_start[leaf + 1];
    for (size_t i = s->t->leaf_start[leaf]; i < end; ++i) {
        double d2 = sum_sq3(s->q[0] - pts[i].x[0], s->q[1] - pts[i].x[1], s->q[2] - pts[i].x[2]);
        if (d2 < s->best_dist2) s->best_dist2 = d2, s->best = i;
    }
}

/* off[d] is a lower bound of |q_d - p_d| over the current cell (Arya & Mount's
 * incremental distance); it only grows on the way down to a far child. */
static void search_node(search_state *s, size_t node, int level, double off[3])
{
    const kdtree *t = s->t;
    if (level == t->depth) {
        scan_leaf(s, node - t->n_internal);
        return;
    }
    int dim = t->split_dim[node];
    double diff = s->q[dim] - t->split_value[node];
    size_t near = 2 * node + (diff < 0 ? 1 : 2);
    size_t far = 2 * node + (diff < 0 ? 2 : 1);
    search_node(s, near, level + 1, off);
    double saved = off[dim];
    off[dim] = diff;
    if (sum_sq3(off[0], off[1], off[2]) < s->best_dist2) search_node(s, far, level + 1, off);
    off[dim] = saved;
}

/* Returns the position in t->pts; SIZE_MAX and dist2 = NaN for a query with a
 * non-finite coordinate (no point is "nearest" to it). */
static size_t nearest_position(const kdtree *t, const float q[3], double *dist2)
{
    if (!isfinite(q[0]) || !isfinite(q[1]) || !isfinite(q[2])) {
        *dist2 = NAN;
        return SIZE_MAX;
    }
    search_state s = {t, {q[0], q[1], q[2]}, INFINITY, 0};
    double off[3] = {0, 0, 0};
    search_node(&s, 0, 0, off);
    *dist2 = s.best_dist2;
    return s.best;
}

size_t kdtree_nearest(const kdtree *t, const float q[3], double *dist2)
{
    double d2;
    size_t pos = nearest_position(t, q, &d2);
    if (dist2) *dist2 = d2;
    return pos == SIZE_MAX ? SIZE_MAX : t->pts[pos].index;
}

/* Leaf whose cell contains q: the first leaf the search visits. */
static size_t home_leaf(const kdtree *t, const float q[3])
{
    size_t node = 0;
    for (int level = 0; level < t->depth; ++level)
        node = 2 * node + (q[t->split_dim[node]] < t->split_value[node] ? 1 : 2);
    return node - t->n_internal;
}

/* Query order grouped by home leaf, leaves in tree order (counting sort):
 * consecutive queries then walk the same nodes and points, which more than
 * halves the time of large batches whose queries arrive in random order. */
static uint32_t *leaf_order(const kdtree *t, const float *queries, size_t n)
{
    size_t n_leaves = t->n_internal + 1;
    uint32_t *order = malloc(sizeof(uint32_t) * n), *home = malloc(sizeof(uint32_t) * n);
    size_t *start = calloc(n_leaves + 1, sizeof(size_t));
    if (!order || !home || !start) {
        free(order), free(home), free(start);
        return NULL;
    }
#pragma omp parallel for schedule(static) default(none) shared(t, queries, n, home)
    for (size_t i = 0; i < n; ++i) home[i] = (uint32_t)home_leaf(t, queries + 3 * i);
    for (size_t i = 0; i < n; ++i) start[home[i] + 1]++;
    for (size_t l = 0; l < n_leaves; ++l) start[l + 1] += start[l];
    for (size_t i = 0; i < n; ++i) order[start[home[i]]++] = (uint32_t)i;
    free(home);
    free(start);
    return order;
}

/* Below this many queries the reordering does not pay for itself. */
#define REORDER_MIN_QUERIES 4096

void kdtree_nearest_batch(const kdtree *t, const float *queries, size_t n, uint32_t *index, double *dist2)
{
    /* Without memory for the order (or for small batches), the caller's
     * order: slower, same results. */
    uint32_t *order = n >= REORDER_MIN_QUERIES && n <= UINT32_MAX ? leaf_order(t, queries, n) : NULL;
    /* Query costs vary with local density: dynamic chunks balance threads. */
#pragma omp parallel for schedule(dynamic, 512) default(none) shared(t, queries, n, index, dist2, order)
    for (size_t k = 0; k < n; ++k) {
        size_t i = order ? order[k] : k;
        double d2;
        size_t pos = nearest_position(t, queries + 3 * i, &d2);
        if (index) index[i] = pos == SIZE_MAX ? UINT32_MAX : t->pts[pos].index;
        if (dist2) dist2[i] = d2;
    }
    free(order);
}
