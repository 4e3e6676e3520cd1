/* mcubes.c — marching cubes with a derived, crack-free case table (see mcubes.h).
 *
 * Why a derived table: the classic 256-entry tables resolve ambiguous faces by
 * whatever the case's author picked, which can disagree between two cubes that
 * share a face and leave cracks.  Here every configuration is triangulated from
 * per-face contour segments: a face's segments depend only on that face's
 * corners (and, on an ambiguous face, on the asymptotic decider, which reads
 * the face's own four values), so neighbouring cubes always agree.  The
 * segments chain into closed loops around the cube; each loop becomes a
 * polygon of edge vertices, triangulated so that no diagonal can also be made
 * by the neighbour cube (see diagonal_allowed), and in a direction fixed by
 * edge numbers so that the negated field gives the same triangles reversed.
 * Interior ambiguities (tunnels through a cube) follow from the face
 * decisions alone: no vertex is added inside a cube.  The table covers every
 * (configuration, decider outcomes) pair, 656 entries, and is built per call
 * (< 1 ms) because the project keeps no global mutable state.
 *
 * Corner and edge numbering (Bourke):
 *   corners 0 (0,0,0) 1 (1,0,0) 2 (1,1,0) 3 (0,1,0) 4 (0,0,1) 5 (1,0,1) 6 (1,1,1) 7 (0,1,1)
 *   edges 0-3 on the bottom face, 4-7 on the top face, 8-11 vertical.
 */
#include "phive/mcubes.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"

enum { MC_MAX_TRIS = 12, MC_MAX_CASES = 4096 };

static const int corner_offset[8][3] = {{0, 0, 0}, {1, 0, 0}, {1, 1, 0}, {0, 1, 0},
                                        {0, 0, 1}, {1, 0, 1}, {1, 1, 1}, {0, 1, 1}};
/* Each edge from its lower-index corner to its higher one (interpolation direction). */
static const int edge_corners[12][2] = {{0, 1}, {1, 2}, {3, 2}, {0, 3}, {4, 5}, {5, 6},
                                        {7, 6}, {4, 7}, {0, 4}, {1, 5}, {2, 6}, {3, 7}};
/* Faces as corner cycles (consecutive corners share an edge) and outward normals. */
static const int face_corners[6][4] = {{0, 1, 2, 3}, {4, 5, 6, 7}, {0, 1, 5, 4},
                                       {3, 2, 6, 7}, {0, 3, 7, 4}, {1, 2, 6, 5}};
static const int face_normal[6][3] = {{0, 0, -1}, {0, 0, 1}, {0, -1, 0}, {0, 1, 0}, {-1, 0, 0}, {1, 0, 0}};

/* Which edge-vertex map (see slab_maps) and which (di, dj) offset of the cube holds each edge. */
enum { MAP_X_BOTTOM, MAP_Y_BOTTOM, MAP_X_TOP, MAP_Y_TOP, MAP_Z, MAP_COUNT };
static const int edge_map[12] = {MAP_X_BOTTOM, MAP_Y_BOTTOM, MAP_X_BOTTOM, MAP_Y_BOTTOM, MAP_X_TOP, MAP_Y_TOP,
                                 MAP_X_TOP,    MAP_Y_TOP,    MAP_Z,        MAP_Z,        MAP_Z,     MAP_Z};
static const int edge_di[12] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0};
static const int edge_dj[12] = {0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1};

typedef struct {
    uint8_t n_tris;
    uint8_t edges[MC_MAX_TRIS * 3];
} mc_case;

/* Triangulations of every configuration; configurations with ambiguous faces
 * have one entry per combination of decider outcomes on those faces. */
typedef struct {
    uint16_t first[256];    /* first entry of each configuration */
    uint8_t ambiguous[256]; /* bit f: face f has alternating corners */
    mc_case cases[MC_MAX_CASES];
    int n_cases;
} mc_table;

/* ---- table construction ---------------------------------------------------------------- */

/* Derived from the tables above (and checked by building every case): the four
 * edges of each face, in the order of its corner cycle (edge k joins corners k
 * and k + 1), and the two faces of each edge as a bit mask. */
static const int face_edges[6][4] = {{0, 1, 2, 3}, {4, 5, 6, 7}, {0, 9, 4, 8}, {2, 10, 6, 11}, {3, 11, 7, 8}, {1, 10, 5, 9}};
static const int edge_faces[12] = {5, 33, 9, 17, 6, 34, 10, 18, 20, 36, 40, 24};

static void edge_midpoint(int e, double p[3])
{
    for (int a = 0; a < 3; ++a)
        p[a] = 0.5 * (corner_offset[edge_corners[e][0]][a] + corner_offset[edge_corners[e][1]][a]);
}

/* Direct the segment between edges a and b so that, seen from outside the face,
 * the below-iso side (which contains `below_ref`) is on its right: this is what
 * makes all loops wind with their normal pointing away from below corners. */
static int add_segment(int next[12], int a, int b, const double below_ref[3], const int n[3])
{
    double p[3], q[3], d[3], r[3];
    edge_midpoint(a, p);
    edge_midpoint(b, q);
    for (int k = 0; k < 3; ++k) d[k] = q[k] - p[k], r[k] = below_ref[k] - p[k];
    double c[3] = {d[1] * n[2] - d[2] * n[1], d[2] * n[0] - d[0] * n[2], d[0] * n[1] - d[1] * n[0]};
    double side = c[0] * r[0] + c[1] * r[1] + c[2] * r[2];
    int from = side > 0 ? a : b, to = side > 0 ? b : a;
    if (next[from] >= 0) return err_set("mcubes: table construction: edge %d has two successors", from);
    next[from] = to;
    return 0;
}

/* Contour segments of face f for configuration `config` (bit c = corner c below).
 * connect_below: on an ambiguous face, whether the decider joins the two below corners. */
static int face_segments(int f, int config, int connect_below, int next[12])
{
    const int *q = face_corners[f];
    int below[4], edges[4], crossings = 0;
    double centroid[3] = {0, 0, 0}, below_sum[3] = {0, 0, 0};
    int n_below = 0;
    for (int k = 0; k < 4; ++k) {
        below[k] = (config >> q[k]) & 1;
        edges[k] = face_edges[f][k];
        for (int a = 0; a < 3; ++a) {
            centroid[a] += 0.25 * corner_offset[q[k]][a];
            if (below[k]) below_sum[a] += corner_offset[q[k]][a];
        }
        n_below += below[k];
    }
    for (int k = 0; k < 4; ++k) crossings += below[k] != below[(k + 1) % 4];
    if (crossings == 0) return 0;
    if (crossings == 2) {
        int cut[2], n = 0;
        for (int k = 0; k < 4; ++k)
            if (below[k] != below[(k + 1) % 4]) cut[n++] = edges[k];
        for (int a = 0; a < 3; ++a) below_sum[a] /= n_below;
        return add_segment(next, cut[0], cut[1], below_sum, face_normal[f]);
    }
    /* Four crossings: each segment cuts off one corner, either the two below ones
     * (separated) or the two above ones (below corners connected through the face). */
    for (int k = 0; k < 4; ++k) {
        if (below[k] == connect_below) continue;
        double corner[3] = {corner_offset[q[k]][0], corner_offset[q[k]][1], corner_offset[q[k]][2]};
        const double *ref = below[k] ? corner : centroid;
        if (add_segment(next, edges[(k + 3) % 4], edges[k], ref, face_normal[f])) return -1;
    }
    return 0;
}

static int ambiguous_faces(int config)
{
    int mask = 0;
    for (int f = 0; f < 6; ++f) {
        const int *q = face_corners[f];
        int b0 = (config >> q[0]) & 1, b1 = (config >> q[1]) & 1;
        int b2 = (config >> q[2]) & 1, b3 = (config >> q[3]) & 1;
        if (b0 == b2 && b1 == b3 && b0 != b1) mask |= 1 << f;
    }
    return mask;
}

static int edges_parallel(int a, int b)
{
    for (int k = 0; k < 3; ++k) {
        int da = corner_offset[edge_corners[a][1]][k] - corner_offset[edge_corners[a][0]][k];
        int db = corner_offset[edge_corners[b][1]][k] - corner_offset[edge_corners[b][0]][k];
        if (da != db) return 0;
    }
    return 1;
}

/* A loop diagonal joining two vertices of an ambiguous face lies in that face,
 * and the neighbour cube across the face could make the same diagonal: the edge
 * would then have four triangles.  So the two cubes of a face may use disjoint
 * kinds of diagonal: the cube for which it is a lower face (x, y or z = 0) only
 * joins parallel edges, the other only joins edges meeting at a corner.  (Both
 * rules, not just one, leave every loop of every case triangulable; forbidding
 * such diagonals altogether does not.)  Vertices of a face with two crossings
 * are the face's segment, a side of the loop, never a diagonal. */
static int diagonal_allowed(int a, int b, int ambiguous)
{
    int common = edge_faces[a] & edge_faces[b] & ambiguous;
    if (!common) return 1;
    int f = __builtin_ctz((unsigned)common);
    int lower_face = face_normal[f][0] + face_normal[f][1] + face_normal[f][2] < 0;
    return lower_face == edges_parallel(a, b);
}

/* Triangulate polygon v[lo..hi] (closing side hi→lo) into out, keeping its winding. */
static int triangulate(const int *v, int lo, int hi, int ambiguous, mc_case *out)
{
    if (hi - lo < 2) return 1;
    for (int m = lo + 1; m < hi; ++m) {
        if (m > lo + 1 && !diagonal_allowed(v[lo], v[m], ambiguous)) continue;
        if (m < hi - 1 && !diagonal_allowed(v[m], v[hi], ambiguous)) continue;
        int saved = out->n_tris;
        if (saved >= MC_MAX_TRIS) return 0;
        uint8_t *t = out->edges + 3 * saved;
        t[0] = (uint8_t)v[lo], t[1] = (uint8_t)v[m], t[2] = (uint8_t)v[hi];
        out->n_tris++;
        if (triangulate(v, lo, m, ambiguous, out) && triangulate(v, m, hi, ambiguous, out)) return 1;
        out->n_tris = (uint8_t)saved;
    }
    return 0;
}

static int build_case(int config, int connect_mask, mc_case *out)
{
    int next[12], has_prev[12] = {0};
    for (int e = 0; e < 12; ++e) next[e] = -1;
    for (int f = 0; f < 6; ++f)
        if (face_segments(f, config, (connect_mask >> f) & 1, next)) return -1;
    for (int e = 0; e < 12; ++e)
        if (next[e] >= 0) has_prev[next[e]]++;
    for (int e = 0; e < 12; ++e)
        if ((next[e] >= 0) != (has_prev[e] == 1))
            return err_set("mcubes: table construction: open contour at edge %d of case %d", e, config);
    out->n_tris = 0;
    int visited[12] = {0};
    for (int start = 0; start < 12; ++start) {
        if (next[start] < 0 || visited[start]) continue;
        int loop[12], n = 0;
        for (int e = start; !visited[e]; e = next[e]) visited[e] = 1, loop[n++] = e;
        /* Triangulate the loop in a direction fixed by its edge numbers, not by its
         * winding, so that the complementary configuration (the negated field)
         * gets the same triangles, only wound the other way. */
        int reversed = loop[n - 1] < loop[1], first = out->n_tris;
        for (int a = 1, b = n - 1; reversed && a < b; ++a, --b) {
            int swap = loop[a];
            loop[a] = loop[b], loop[b] = swap;
        }
        if (!triangulate(loop, 0, n - 1, ambiguous_faces(config), out))
            return err_set("mcubes: table construction: no valid triangulation for case %d", config);
        for (int t = first; reversed && t < out->n_tris; ++t) {
            uint8_t swap = out->edges[3 * t + 1];
            out->edges[3 * t + 1] = out->edges[3 * t + 2], out->edges[3 * t + 2] = swap;
        }
    }
    return 0;
}

/* Expand a compact index over the ambiguous faces (in face order) to a face mask. */
static int expand_bits(int compact, int ambiguous)
{
    int mask = 0, bit = 0;
    for (int f = 0; f < 6; ++f)
        if ((ambiguous >> f) & 1) {
            if ((compact >> bit) & 1) mask |= 1 << f;
            bit++;
        }
    return mask;
}

static int table_build(mc_table *t)
{
    t->n_cases = 0;
    for (int config = 0; config < 256; ++config) {
        int amb = ambiguous_faces(config), count = 1 << __builtin_popcount(amb);
        t->first[config] = (uint16_t)t->n_cases;
        t->ambiguous[config] = (uint8_t)amb;
        if (t->n_cases + count > MC_MAX_CASES) return err_set("mcubes: table construction: too many cases");
        for (int compact = 0; compact < count; ++compact)
            if (build_case(config, expand_bits(compact, amb), &t->cases[t->n_cases++])) return -1;
    }
    return 0;
}

/* ---- options ---------------------------------------------------------------------------- */

void mcubes_options_init(mcubes_options *o)
{
    memset(o, 0, sizeof *o);
    o->iso = 0;
    o->orientation = MCUBES_TOWARD_INCREASING;
    for (int k = 0; k < 4; ++k) o->grid_to_world[5 * k] = 1;
}

void mcubes_set_origin_spacing(mcubes_options *o, const double origin[3], const double spacing[3])
{
    memset(o->grid_to_world, 0, sizeof o->grid_to_world);
    for (int a = 0; a < 3; ++a) {
        o->grid_to_world[5 * a] = spacing[a];
        o->grid_to_world[4 * a + 3] = origin[a];
    }
    o->grid_to_world[15] = 1;
}

/* The affine map split into its parts, and the inverse-transpose for gradients. */
typedef struct {
    double m[3][4];
    double inv_t[3][3]; /* (A⁻¹)ᵀ: world gradient = inv_t · index gradient */
    double det;
} world_map;

static int world_map_init(const double *g, world_map *w)
{
    for (int k = 0; k < 16; ++k)
        if (!isfinite(g[k])) return err_set("mcubes: grid_to_world[%d] is not finite", k);
    if (g[12] != 0 || g[13] != 0 || g[14] != 0 || g[15] != 1)
        return err_set("mcubes: grid_to_world must be affine (last row 0 0 0 1), got %g %g %g %g", g[12], g[13], g[14],
                       g[15]);
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 4; ++c) w->m[r][c] = g[4 * r + c];
    double (*a)[4] = w->m;
    double cof[3][3];
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) {
            int r1 = (r + 1) % 3, r2 = (r + 2) % 3, c1 = (c + 1) % 3, c2 = (c + 2) % 3;
            cof[r][c] = a[r1][c1] * a[r2][c2] - a[r1][c2] * a[r2][c1];
        }
    w->det = a[0][0] * cof[0][0] + a[0][1] * cof[0][1] + a[0][2] * cof[0][2];
    double scale = 0;
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) scale = fmax(scale, fabs(a[r][c]));
    if (!(fabs(w->det) > 1e-12 * scale * scale * scale))
        return err_set("mcubes: grid_to_world's 3x3 part is singular (det %g)", w->det);
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) w->inv_t[r][c] = cof[r][c] / w->det; /* (A⁻¹)ᵀ = cof(A) / det */
    return 0;
}

/* ---- per-slab extraction ---------------------------------------------------------------- */

typedef struct {
    const float *values;
    size_t nx, ny, nz;
    double iso;
    world_map map;
    int flip;          /* swap winding: orientation flag xor a mirroring map */
    double normal_sign; /* +1: vertex normals along the gradient, −1: against it */
    int want_normals;
    const mc_table *table;
} mc_job;

/* What one slab (layers [z0, z1)) produced, in slab-local vertex indices. */
typedef struct {
    float *positions, *normals;
    size_t n_vertices, cap_vertices, cap_normals;
    uint32_t *faces;
    size_t n_faces, cap_faces;
    size_t bottom_count; /* vertices of slice z0, which come first */
    size_t top_begin;    /* first vertex of slice z1, which come last */
    char error[256];
} slab_output;

/* Per-thread scratch: below-iso flags, 4-corner nibbles and edge-vertex maps for
 * two slices (bottom, top) plus the vertical edges of the current layer. */
typedef struct {
    uint8_t *flags[2], *nibbles[2];
    uint32_t *maps[MAP_COUNT];
} slab_scratch;

static void scratch_free(slab_scratch *s)
{
    for (int k = 0; k < 2; ++k) free(s->flags[k]), free(s->nibbles[k]);
    for (int k = 0; k < MAP_COUNT; ++k) free(s->maps[k]);
}

static int scratch_alloc(slab_scratch *s, size_t plane)
{
    memset(s, 0, sizeof *s);
    int ok = 1;
    for (int k = 0; k < 2; ++k) {
        s->flags[k] = malloc(plane);
        s->nibbles[k] = malloc(plane);
        ok = ok && s->flags[k] && s->nibbles[k];
    }
    for (int k = 0; k < MAP_COUNT; ++k) ok = ok && (s->maps[k] = malloc(plane * sizeof(uint32_t)));
    if (!ok) scratch_free(s);
    return ok ? 0 : -1;
}

static int grow(void **array, size_t *cap, size_t need, size_t item)
{
    if (need <= *cap) return 0;
    size_t cap_new = *cap ? *cap : 1024;
    while (cap_new < need) cap_new *= 2;
    void *p = realloc(*array, cap_new * item);
    if (!p) return -1;
    *array = p;
    *cap = cap_new;
    return 0;
}

static int slab_fail(slab_output *out, const char *fmt, size_t i, size_t j, size_t k)
{
    snprintf(out->error, sizeof out->error, fmt, i, j, k);
    return -1;
}

/* Central-difference gradient at a grid point (one-sided on the boundary), index units. */
static void grid_gradient(const mc_job *job, size_t i, size_t j, size_t k, double g[3])
{
    const size_t idx[3] = {i, j, k}, n[3] = {job->nx, job->ny, job->nz};
    const size_t stride[3] = {1, job->nx, job->nx * job->ny};
    const float *p = job->values + i + job->nx * (j + job->ny * k);
    for (int a = 0; a < 3; ++a) {
        size_t lo = idx[a] > 0 ? 1 : 0, hi = idx[a] + 1 < n[a] ? 1 : 0;
        double v_lo = p[-(ptrdiff_t)(lo * stride[a])], v_hi = p[hi * stride[a]];
        g[a] = (lo + hi) ? (v_hi - v_lo) / (double)(lo + hi) : 0;
    }
}

/* The vertex on the grid edge from point (i, j, k) one step along axis: linear
 * interpolation from the lower end, mapped to world; returns its index. */
static int add_vertex(const mc_job *job, slab_output *out, size_t i, size_t j, size_t k, int axis, uint32_t *index)
{
    size_t stride = axis == 0 ? 1 : axis == 1 ? job->nx : job->nx * job->ny;
    size_t at = i + job->nx * (j + job->ny * k);
    double v0 = job->values[at], v1 = job->values[at + stride];
    double t = (job->iso - v0) / (v1 - v0);
    double p[3] = {(double)i, (double)j, (double)k};
    p[axis] += t;
    if (out->n_vertices >= UINT32_MAX) return slab_fail(out, "mcubes: more than 2^32-1 vertices (at grid %zu %zu %zu)", i, j, k);
    if (grow((void **)&out->positions, &out->cap_vertices, out->n_vertices + 1, 3 * sizeof(float)))
        return slab_fail(out, "mcubes: out of memory for vertices (at grid %zu %zu %zu)", i, j, k);
    float *dst = out->positions + 3 * out->n_vertices;
    for (int r = 0; r < 3; ++r) {
        const double *m = job->map.m[r];
        double w = m[0] * p[0] + m[1] * p[1] + m[2] * p[2] + m[3];
        if (!isfinite(w)) return slab_fail(out, "mcubes: non-finite vertex on a crossed edge at grid %zu %zu %zu", i, j, k);
        dst[r] = (float)w;
    }
    if (job->want_normals) {
        if (out->cap_normals < out->cap_vertices) {
            float *nrm = realloc(out->normals, out->cap_vertices * 3 * sizeof(float));
            if (!nrm) return slab_fail(out, "mcubes: out of memory for normals (at grid %zu %zu %zu)", i, j, k);
            out->normals = nrm;
            out->cap_normals = out->cap_vertices;
        }
        double g0[3], g1[3], g[3], gw[3], len = 0;
        size_t i1 = i + (axis == 0), j1 = j + (axis == 1), k1 = k + (axis == 2);
        grid_gradient(job, i, j, k, g0);
        grid_gradient(job, i1, j1, k1, g1);
        for (int a = 0; a < 3; ++a) g[a] = (1 - t) * g0[a] + t * g1[a];
        for (int r = 0; r < 3; ++r) {
            gw[r] = job->map.inv_t[r][0] * g[0] + job->map.inv_t[r][1] * g[1] + job->map.inv_t[r][2] * g[2];
            len += gw[r] * gw[r];
        }
        len = len > 0 ? job->normal_sign / sqrt(len) : 0;
        for (int r = 0; r < 3; ++r) out->normals[3 * out->n_vertices + r] = (float)(gw[r] * len);
    }
    *index = (uint32_t)out->n_vertices++;
    return 0;
}

/* Below-iso flags of slice k, then the 4-corner nibble of each xy cell. */
static void slice_flags(const mc_job *job, size_t k, uint8_t *flags, uint8_t *nibbles)
{
    const size_t nx = job->nx, ny = job->ny;
    const float *v = job->values + nx * ny * k;
    const float iso = (float)job->iso;
    const double iso_d = job->iso;
    if ((double)iso == iso_d) {
        for (size_t p = 0; p < nx * ny; ++p) flags[p] = v[p] < iso; /* vectorises */
    } else {
        for (size_t p = 0; p < nx * ny; ++p) flags[p] = (double)v[p] < iso_d;
    }
    for (size_t j = 0; j + 1 < ny; ++j) {
        const uint8_t *f0 = flags + nx * j, *f1 = f0 + nx;
        uint8_t *q = nibbles + nx * j;
        for (size_t i = 0; i + 1 < nx; ++i)
            q[i] = (uint8_t)(f0[i] | f0[i + 1] << 1 | f1[i + 1] << 2 | f1[i] << 3);
    }
}

/* Vertices on the crossed x and y edges of slice k, in row-major order. */
static int slice_vertices(const mc_job *job, slab_output *out, size_t k, const uint8_t *flags, uint32_t *xmap,
                          uint32_t *ymap)
{
    const size_t nx = job->nx, ny = job->ny;
    for (size_t j = 0; j < ny; ++j) {
        const uint8_t *f = flags + nx * j;
        for (size_t i = 0; i < nx; ++i) {
            size_t p = i + nx * j;
            if (i + 1 < nx && f[i] != f[i + 1] && add_vertex(job, out, i, j, k, 0, &xmap[p])) return -1;
            if (j + 1 < ny && f[i] != f[i + nx] && add_vertex(job, out, i, j, k, 1, &ymap[p])) return -1;
        }
    }
    return 0;
}

/* Vertices on the crossed vertical edges between slices k and k + 1. */
static int layer_vertices(const mc_job *job, slab_output *out, size_t k, const uint8_t *bottom, const uint8_t *top,
                          uint32_t *zmap)
{
    const size_t plane = job->nx * job->ny;
    for (size_t p = 0; p < plane; ++p)
        if (bottom[p] != top[p] && add_vertex(job, out, p % job->nx, p / job->nx, k, 2, &zmap[p])) return -1;
    return 0;
}

/* Compact index of the decider outcomes on the cube's ambiguous faces: bit set
 * when the face's two below corners are connected, i.e. when the bilinear
 * interpolant's saddle lies below iso: product of the below pair's (v − iso)
 * greater than the above pair's.  Products are commutative, so both cubes of a
 * face reach the same answer. */
static int decide_faces(const mc_job *job, int config, int ambiguous, size_t i, size_t j, size_t k)
{
    const size_t nx = job->nx, slice = nx * job->ny;
    const float *b = job->values + i + nx * (j + job->ny * k);
    const float corner[8] = {b[0], b[1], b[1 + nx], b[nx], b[slice], b[slice + 1], b[slice + 1 + nx], b[slice + nx]};
    int compact = 0, bit = 0;
    for (int f = 0; f < 6; ++f) {
        if (!((ambiguous >> f) & 1)) continue;
        const int *q = face_corners[f];
        double d[4];
        for (int c = 0; c < 4; ++c) d[c] = (double)corner[q[c]] - job->iso;
        double p02 = d[0] * d[2], p13 = d[1] * d[3];
        int connected = ((config >> q[0]) & 1) ? p02 > p13 : p13 > p02;
        compact |= connected << bit++;
    }
    return compact;
}

static int layer_triangles(const mc_job *job, slab_output *out, size_t k, const uint8_t *q_bottom,
                           const uint8_t *q_top, uint32_t *const maps[MAP_COUNT])
{
    const size_t nx = job->nx, ny = job->ny;
    const mc_table *table = job->table;
    for (size_t j = 0; j + 1 < ny; ++j) {
        const uint8_t *qb = q_bottom + nx * j, *qt = q_top + nx * j;
        for (size_t i = 0; i + 1 < nx; ++i) {
            int config = qb[i] | qt[i] << 4;
            if (config == 0 || config == 255) continue;
            const mc_case *c = &table->cases[table->first[config]];
            if (table->ambiguous[config]) c += decide_faces(job, config, table->ambiguous[config], i, j, k);
            if (grow((void **)&out->faces, &out->cap_faces, out->n_faces + c->n_tris, 3 * sizeof(uint32_t)))
                return slab_fail(out, "mcubes: out of memory for faces (at grid %zu %zu %zu)", i, j, k);
            uint32_t *dst = out->faces + 3 * out->n_faces;
            for (int t = 0; t < 3 * c->n_tris; ++t) {
                int e = c->edges[t];
                dst[t] = maps[edge_map[e]][(i + edge_di[e]) + nx * (j + edge_dj[e])];
            }
            if (job->flip)
                for (int t = 0; t < c->n_tris; ++t) {
                    uint32_t s = dst[3 * t + 1];
                    dst[3 * t + 1] = dst[3 * t + 2], dst[3 * t + 2] = s;
                }
            out->n_faces += c->n_tris;
        }
    }
    return 0;
}

/* Layers [z0, z1): vertices of slice z0, then per layer its vertical edges and the
 * next slice; so the concatenation of slabs (dropping each slab's top slice, which
 * the next slab makes again identically) is independent of the slab split. */
static int slab_extract(const mc_job *job, size_t z0, size_t z1, slab_scratch *s, slab_output *out)
{
    uint8_t *flags[2] = {s->flags[0], s->flags[1]}, *nibbles[2] = {s->nibbles[0], s->nibbles[1]};
    uint32_t *maps[MAP_COUNT];
    memcpy(maps, s->maps, sizeof maps);
    slice_flags(job, z0, flags[0], nibbles[0]);
    if (slice_vertices(job, out, z0, flags[0], maps[MAP_X_BOTTOM], maps[MAP_Y_BOTTOM])) return -1;
    out->bottom_count = out->n_vertices;
    for (size_t k = z0; k < z1; ++k) {
        slice_flags(job, k + 1, flags[1], nibbles[1]);
        if (layer_vertices(job, out, k, flags[0], flags[1], maps[MAP_Z])) return -1;
        out->top_begin = out->n_vertices;
        if (slice_vertices(job, out, k + 1, flags[1], maps[MAP_X_TOP], maps[MAP_Y_TOP])) return -1;
        if (layer_triangles(job, out, k, nibbles[0], nibbles[1], maps)) return -1;
        uint8_t *f = flags[0];
        flags[0] = flags[1], flags[1] = f;
        f = nibbles[0], nibbles[0] = nibbles[1], nibbles[1] = f;
        uint32_t *m = maps[MAP_X_BOTTOM];
        maps[MAP_X_BOTTOM] = maps[MAP_X_TOP], maps[MAP_X_TOP] = m;
        m = maps[MAP_Y_BOTTOM], maps[MAP_Y_BOTTOM] = maps[MAP_Y_TOP], maps[MAP_Y_TOP] = m;
    }
    return 0;
}

/* ---- assembly --------------------------------------------------------------------------- */

static void slabs_free(slab_output *slabs, size_t n)
{
    for (size_t s = 0; s < n; ++s) free(slabs[s].positions), free(slabs[s].normals), free(slabs[s].faces);
    free(slabs);
}

/* Concatenate the slabs into *out: slab s keeps its vertices up to its top slice
 * (the last slab keeps all); indices into a dropped top slice point to the next
 * slab's identical bottom slice. */
static int assemble(const mc_job *job, slab_output *slabs, size_t n_slabs, mesh *out)
{
    size_t *first = malloc((n_slabs + 1) * sizeof *first);
    if (!first) return err_set("mcubes: out of memory");
    size_t n_vertices = 0, n_faces = 0;
    for (size_t s = 0; s < n_slabs; ++s) {
        first[s] = n_vertices;
        size_t kept = s + 1 < n_slabs ? slabs[s].top_begin : slabs[s].n_vertices;
        if (s + 1 < n_slabs && slabs[s].n_vertices - slabs[s].top_begin != slabs[s + 1].bottom_count) {
            free(first);
            return err_set("mcubes: internal error: slab %zu's top slice differs from the next slab's bottom", s);
        }
        n_vertices += kept;
        n_faces += slabs[s].n_faces;
    }
    first[n_slabs] = n_vertices;
    if (n_vertices > UINT32_MAX) {
        free(first);
        return err_set("mcubes: %zu vertices exceed the mesh's 32-bit indices", n_vertices);
    }
    mesh_init(out);
    if (mesh_alloc(out, n_vertices, n_faces)) {
        free(first);
        return err_context("mcubes: %zu vertices, %zu faces", n_vertices, n_faces);
    }
    if (job->want_normals && n_vertices && !(out->normals = malloc(n_vertices * 3 * sizeof(float)))) {
        free(first);
        mesh_free(out);
        return err_set("mcubes: out of memory for %zu normals", n_vertices);
    }
    size_t face_at = 0;
    for (size_t s = 0; s < n_slabs; ++s) {
        const slab_output *so = &slabs[s];
        size_t kept = first[s + 1] - first[s];
        if (kept) memcpy(out->positions + 3 * first[s], so->positions, kept * 3 * sizeof(float));
        if (kept && job->want_normals) memcpy(out->normals + 3 * first[s], so->normals, kept * 3 * sizeof(float));
        uint32_t *dst = out->faces + 3 * face_at;
        size_t top = s + 1 < n_slabs ? so->top_begin : SIZE_MAX;
        for (size_t t = 0; t < 3 * so->n_faces; ++t) {
            size_t local = so->faces[t];
            dst[t] = (uint32_t)(local < top ? first[s] + local : first[s + 1] + (local - top));
        }
        face_at += so->n_faces;
    }
    free(first);
    return 0;
}

static size_t auto_slab_layers(size_t layers)
{
    /* Several slabs per thread balance surfaces that crowd some z ranges; each
     * slab redoes one slice, so slabs of ≥ 8 layers keep that under ~12 %. */
    size_t work_items = 4 * (size_t)omp_get_max_threads();
    size_t per = (layers + work_items - 1) / work_items;
    return per < 8 ? 8 : per;
}

static int check_arguments(const float *values, size_t nx, size_t ny, size_t nz, const mcubes_options *o)
{
    if (!values || !o) return err_set("mcubes: null argument");
    if (nx < 2 || ny < 2 || nz < 2)
        return err_set("mcubes: grid %zu x %zu x %zu: need at least 2 samples per axis", nx, ny, nz);
    if (nx > SIZE_MAX / ny || nx * ny > SIZE_MAX / nz / sizeof(uint32_t))
        return err_set("mcubes: grid %zu x %zu x %zu is too large", nx, ny, nz);
    if (!isfinite(o->iso)) return err_set("mcubes: iso value %g is not finite", o->iso);
    if (o->orientation != MCUBES_TOWARD_INCREASING && o->orientation != MCUBES_TOWARD_DECREASING)
        return err_set("mcubes: unknown orientation %d", (int)o->orientation);
    return 0;
}

/* Extract every slab over the OpenMP threads (dynamic: surfaces crowd some z
 * ranges); after a failure the remaining slabs are skipped.  Returns 0, or −1
 * with the first failed slab's message. */
static int extract_slabs(const mc_job *job, size_t per, slab_output *slabs, size_t n_slabs)
{
    const size_t layers = job->nz - 1;
    int failed = 0;
#pragma omp parallel
    {
        slab_scratch scratch;
        int have_scratch = scratch_alloc(&scratch, job->nx * job->ny) == 0;
#pragma omp for schedule(dynamic, 1)
        for (size_t s = 0; s < n_slabs; ++s) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop) continue;
            size_t z0 = s * per, z1 = per < layers - z0 ? z0 + per : layers;
            int status = -1;
            if (have_scratch)
                status = slab_extract(job, z0, z1, &scratch, &slabs[s]);
            else
                snprintf(slabs[s].error, sizeof slabs[s].error, "mcubes: out of memory for slice buffers");
            if (status) {
#pragma omp atomic write
                failed = 1;
            }
        }
        if (have_scratch) scratch_free(&scratch);
    }
    for (size_t s = 0; failed && s < n_slabs; ++s)
        if (slabs[s].error[0]) return err_set("%s", slabs[s].error);
    return 0;
}

int mcubes_extract(const float *values, size_t nx, size_t ny, size_t nz, const mcubes_options *o, mesh *out)
{
    if (!out) return err_set("mcubes: null output mesh");
    mesh_init(out);
    if (check_arguments(values, nx, ny, nz, o)) return -1;
    mc_job job = {.values = values, .nx = nx, .ny = ny, .nz = nz, .iso = o->iso, .want_normals = o->vertex_normals != 0};
    if (world_map_init(o->grid_to_world, &job.map)) return -1;
    job.flip = (o->orientation == MCUBES_TOWARD_DECREASING) != (job.map.det < 0);
    job.normal_sign = o->orientation == MCUBES_TOWARD_DECREASING ? -1 : 1;
    mc_table *table = malloc(sizeof *table);
    if (!table) return err_set("mcubes: out of memory");
    if (table_build(table)) return free(table), -1;
    job.table = table;

    size_t layers = nz - 1, per = o->slab_layers ? o->slab_layers : auto_slab_layers(layers);
    if (per > layers) per = layers;
    size_t n_slabs = (layers + per - 1) / per;
    slab_output *slabs = calloc(n_slabs, sizeof *slabs);
    int status = slabs ? extract_slabs(&job, per, slabs, n_slabs) : err_set("mcubes: out of memory");
    if (!status) status = assemble(&job, slabs, n_slabs, out);
    if (slabs) slabs_free(slabs, n_slabs);
    free(table);
    return status;
}
