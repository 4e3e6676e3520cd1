/* collision.c — cloth collisions: proximity constraints, impact zones and their backward
 * (see include/phive/cloth_collision.h; the per-pair math is in kernels/cloth_collision.h).
 *
 * Broad phase: median-split BVHs over boxes (cloth vertices, faces, edges; obstacle vertices,
 * faces, edges), queried per feature in parallel; the candidate pairs are sorted so that
 * results do not depend on the thread count.  Within one cloth_collide call the obstacle's
 * BVHs are built once and the cloth's refitted after the first pass; a later pass tests only
 * the pairs with a vertex the last projections moved and keeps the previous pass's impacts
 * among the others (their inputs are unchanged), which gives the full pass's result exactly.
 *
 * Zone projection: the QP min ½‖M^{1/2}(x − x1)‖² s.t. G x ≥ d is solved by the dual
 * active-set method of Goldfarb & Idnani (1983) on the Gram matrix GM⁻¹Gᵀ (entries from
 * the sparse rows, an incrementally grown Cholesky factor of the active block), which
 * keeps the active rows linearly independent and handles duplicate or dependent
 * constraints; the result is then recomputed exactly on the final active set through
 * LAPACK's QR of M^{-1/2}G_Wᵀ, the factorisation the backward reuses (Liang et al. 2019).
 * All zone arithmetic is double.
 */
#include "phive/cloth_collision.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "phive/errors.h"

#include "cloth_collision.h" /* kernels/: the per-pair math */

/* Fortran LAPACK from OpenBLAS (no header ships with Debian's); trailing arguments are
 * the hidden lengths of the character arguments. */
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork,
                    int *info);
extern void dormqr_(const char *side, const char *trans, const int *m, const int *n, const int *k, const double *a,
                    const int *lda, const double *tau, double *c, const int *ldc, double *work, const int *lwork,
                    int *info, size_t side_len, size_t trans_len);
extern void dtrtrs_(const char *uplo, const char *trans, const char *diag, const int *n, const int *nrhs,
                    const double *a, const int *lda, double *b, const int *ldb, int *info, size_t uplo_len,
                    size_t trans_len, size_t diag_len);

/* End proximity below this fraction of τ_p is an impact (what the passes guarantee). */
#define END_PROXIMITY_FRACTION 0.99
/* A zone constraint is violated below −ZONE_TOL·τ_p. */
#define ZONE_TOL 1e-8

struct cloth_collision {
    int n_verts, n_faces, n_edges;
    int *faces, *edges;
    double *vert_area, *edge_area, *face_area; /* NULL without rest areas */
    cloth_collision_options opt;
};

void cloth_collision_options_init(cloth_collision_options *o)
{
    o->repulsion_thickness = (double)5e-3;
    o->stiffness = (double)1e6;
    o->penalty = CLOTH_PENALTY_QUADRATIC;
    o->projection_thickness = (double)1e-4;
    o->max_iterations = 100;
    o->self_collisions = 1;
}

static int check_finite(const char *fn, const char *what, const double *a, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (!isfinite((double)a[i])) return err_set("%s: %s[%zu] = %g is not finite", fn, what, i, (double)a[i]);
    return 0;
}

/* ------------------------------------------------------------------ topology */

typedef struct {
    int a, b, f;
} edge_ref;

static int cmp_edge_ref(const void *pa, const void *pb)
{
    const edge_ref *x = pa, *y = pb;
    if (x->a != y->a) return x->a < y->a ? -1 : 1;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    return (x->f > y->f) - (x->f < y->f);
}

/* Unique edges of the faces (smaller index first, sorted); edge_area (when face_area is
 * given) = ⅓ of the adjacent faces' areas. */
static int build_edges(int nf, const int *faces, const double *face_area, int **edges_out, int *ne_out,
                       double **edge_area_out)
{
    *edges_out = NULL, *ne_out = 0;
    if (edge_area_out) *edge_area_out = NULL;
    if (nf == 0) return 0;
    edge_ref *r = malloc(3 * (size_t)nf * sizeof *r);
    if (!r) return err_set("cloth collision: out of memory for %d faces", nf);
    for (int f = 0; f < nf; ++f)
        for (int k = 0; k < 3; ++k) {
            const int a = faces[3 * f + k], b = faces[3 * f + (k + 1) % 3];
            r[3 * f + k].a = a < b ? a : b, r[3 * f + k].b = a < b ? b : a, r[3 * f + k].f = f;
        }
    qsort(r, 3 * (size_t)nf, sizeof *r, cmp_edge_ref);
    int ne = 0;
    for (int i = 0; i < 3 * nf; ++i) ne += i == 0 || r[i].a != r[i - 1].a || r[i].b != r[i - 1].b;
    int *e = malloc(2 * (size_t)ne * sizeof *e);
    double *ea = face_area && edge_area_out ? calloc((size_t)ne, sizeof *ea) : NULL;
    if (!e || (face_area && edge_area_out && !ea)) {
        free(r), free(e), free(ea);
        return err_set("cloth collision: out of memory for %d edges", ne);
    }
    int k = -1;
    for (int i = 0; i < 3 * nf; ++i) {
        if (i == 0 || r[i].a != r[i - 1].a || r[i].b != r[i - 1].b) ++k, e[2 * k] = r[i].a, e[2 * k + 1] = r[i].b;
        if (ea) ea[k] += face_area[r[i].f] / 3;
    }
    free(r);
    *edges_out = e, *ne_out = ne;
    if (edge_area_out) *edge_area_out = ea;
    return 0;
}

static int check_faces(const char *fn, int n_verts, int n_faces, const int *faces)
{
    if (n_faces < 0) return err_set("%s: n_faces = %d is negative", fn, n_faces);
    if (n_faces > 0 && !faces) return err_set("%s: faces is NULL for %d faces", fn, n_faces);
    if (n_faces > INT32_MAX / 3) return err_set("%s: %d faces are too many", fn, n_faces);
    for (int f = 0; f < n_faces; ++f) {
        const int *t = faces + 3 * f;
        for (int k = 0; k < 3; ++k)
            if (t[k] < 0 || t[k] >= n_verts)
                return err_set("%s: face %d vertex %d = %d is out of range [0, %d)", fn, f, k, t[k], n_verts);
        if (t[0] == t[1] || t[1] == t[2] || t[0] == t[2])
            return err_set("%s: face %d (%d, %d, %d) repeats a vertex", fn, f, t[0], t[1], t[2]);
    }
    return 0;
}

int cloth_collision_create(cloth_collision **out, int n_verts, int n_faces, const int *faces, const double *face_area,
                           const cloth_collision_options *opt)
{
    static const char *fn = "cloth_collision_create";
    *out = NULL;
    cloth_collision_options o;
    if (opt)
        o = *opt;
    else
        cloth_collision_options_init(&o);
    if (n_verts <= 0 || n_verts > INT32_MAX / 3) return err_set("%s: n_verts = %d is out of range", fn, n_verts);
    if (check_faces(fn, n_verts, n_faces, faces)) return -1;
    if (!(o.repulsion_thickness > 0) || !isfinite((double)o.repulsion_thickness))
        return err_set("%s: repulsion_thickness %g must be positive and finite", fn, (double)o.repulsion_thickness);
    if (!(o.projection_thickness > 0) || !isfinite((double)o.projection_thickness))
        return err_set("%s: projection_thickness %g must be positive and finite", fn, (double)o.projection_thickness);
    if (!(o.stiffness >= 0) || !isfinite((double)o.stiffness))
        return err_set("%s: stiffness %g must be non-negative and finite", fn, (double)o.stiffness);
    if (o.penalty != CLOTH_PENALTY_QUADRATIC && o.penalty != CLOTH_PENALTY_ARCSIM)
        return err_set("%s: unknown penalty %d", fn, o.penalty);
    if (o.max_iterations < 1) return err_set("%s: max_iterations = %d must be at least 1", fn, o.max_iterations);
    if (o.self_collisions != 0 && o.self_collisions != 1)
        return err_set("%s: self_collisions = %d must be 0 or 1", fn, o.self_collisions);
    if (face_area) {
        if (check_finite(fn, "face_area", face_area, (size_t)n_faces)) return -1;
        for (int f = 0; f < n_faces; ++f)
            if (face_area[f] < 0) return err_set("%s: face_area[%d] = %g is negative", fn, f, (double)face_area[f]);
    }
    cloth_collision *c = calloc(1, sizeof *c);
    if (!c) return err_set("%s: out of memory", fn);
    c->n_verts = n_verts, c->n_faces = n_faces, c->opt = o;
    c->faces = malloc((3 * (size_t)n_faces + 1) * sizeof *c->faces);
    if (!c->faces) goto oom;
    if (n_faces) memcpy(c->faces, faces, 3 * (size_t)n_faces * sizeof *faces);
    if (face_area) {
        c->face_area = malloc(((size_t)n_faces + 1) * sizeof *c->face_area);
        c->vert_area = calloc((size_t)n_verts, sizeof *c->vert_area);
        if (!c->face_area || !c->vert_area) goto oom;
        for (int f = 0; f < n_faces; ++f) {
            c->face_area[f] = face_area[f];
            for (int k = 0; k < 3; ++k) c->vert_area[faces[3 * f + k]] += (double)face_area[f] / 3;
        }
    }
    if (build_edges(n_faces, faces, c->face_area, &c->edges, &c->n_edges, &c->edge_area)) {
        cloth_collision_free(c);
        return -1;
    }
    *out = c;
    return 0;
oom:
    cloth_collision_free(c);
    return err_set("%s: out of memory for %d vertices, %d faces", fn, n_verts, n_faces);
}

void cloth_collision_free(cloth_collision *c)
{
    if (!c) return;
    free(c->faces), free(c->edges), free(c->vert_area), free(c->edge_area), free(c->face_area);
    free(c);
}

/* ------------------------------------------------------------------ obstacles */

void cloth_obstacle_mesh_free(cloth_obstacle_mesh *o)
{
    if (!o) return;
    free(o->x0), free(o->x1), free(o->faces), free(o->edges);
    free(o->vert_area), free(o->edge_area), free(o->face_area);
    memset(o, 0, sizeof *o);
}

int cloth_obstacle_mesh_init(cloth_obstacle_mesh *o, int n_verts, const double *x, int n_faces, const int *faces)
{
    static const char *fn = "cloth_obstacle_mesh_init";
    memset(o, 0, sizeof *o);
    if (n_verts < 0 || n_verts > INT32_MAX / 3) return err_set("%s: n_verts = %d is out of range", fn, n_verts);
    if (n_verts > 0 && !x) return err_set("%s: x is NULL for %d vertices", fn, n_verts);
    if (check_faces(fn, n_verts, n_faces, faces)) return -1;
    if (check_finite(fn, "x", x, 3 * (size_t)n_verts)) return -1;
    const size_t nx = 3 * (size_t)n_verts + 1;
    o->x0 = malloc(nx * sizeof *o->x0), o->x1 = malloc(nx * sizeof *o->x1);
    o->faces = malloc((3 * (size_t)n_faces + 1) * sizeof *o->faces);
    o->vert_area = calloc((size_t)n_verts + 1, sizeof *o->vert_area);
    o->face_area = malloc(((size_t)n_faces + 1) * sizeof *o->face_area);
    double *fa = malloc(((size_t)n_faces + 1) * sizeof *fa);
    double *ea = NULL;
    if (!o->x0 || !o->x1 || !o->faces || !o->vert_area || !o->face_area || !fa) {
        free(fa);
        cloth_obstacle_mesh_free(o);
        return err_set("%s: out of memory for %d vertices", fn, n_verts);
    }
    o->n_verts = n_verts, o->n_faces = n_faces;
    if (n_verts) memcpy(o->x0, x, 3 * (size_t)n_verts * sizeof *x), memcpy(o->x1, x, 3 * (size_t)n_verts * sizeof *x);
    if (n_faces) memcpy(o->faces, faces, 3 * (size_t)n_faces * sizeof *faces);
    for (int f = 0; f < n_faces; ++f) {
        double p[9], e0[3], e1[3], cr[3];
        for (int k = 0; k < 9; ++k) p[k] = x[3 * faces[3 * f + k / 3] + k % 3];
        cloth_sub3(p + 3, p, e0);
        cloth_sub3(p + 6, p, e1);
        cloth_cross3(e0, e1, cr);
        fa[f] = sqrt(cloth_dot3(cr, cr)) / 2;
        o->face_area[f] = (double)fa[f];
        for (int k = 0; k < 3; ++k) o->vert_area[faces[3 * f + k]] += (double)(fa[f] / 3);
    }
    if (build_edges(n_faces, faces, fa, &o->edges, &o->n_edges, &ea)) {
        free(fa);
        cloth_obstacle_mesh_free(o);
        return -1;
    }
    o->edge_area = malloc(((size_t)o->n_edges + 1) * sizeof *o->edge_area);
    if (!o->edge_area) {
        free(fa), free(ea);
        cloth_obstacle_mesh_free(o);
        return err_set("%s: out of memory", fn);
    }
    for (int e = 0; e < o->n_edges; ++e) o->edge_area[e] = (double)ea[e];
    free(fa), free(ea);
    return 0;
}

int cloth_obstacle_mesh_sphere(cloth_obstacle_mesh *o, const double *center, double radius, int subdivisions)
{
    static const char *fn = "cloth_obstacle_mesh_sphere";
    memset(o, 0, sizeof *o);
    if (!(radius > 0) || !isfinite((double)radius)) return err_set("%s: radius %g must be positive", fn, (double)radius);
    if (subdivisions < 0 || subdivisions > 7) return err_set("%s: subdivisions = %d is not in 0..7", fn, subdivisions);
    if (check_finite(fn, "center", center, 3)) return -1;
    const double t = (1 + sqrt(5.0)) / 2;
    static const int ico_faces[60] = {0, 11, 5, 0, 5,  1,  0,  1, 7, 0, 7,  10, 0, 10, 11, 1, 5, 9, 5, 11,
                                      4, 11, 10, 2, 10, 7,  6,  7, 1, 8, 3,  9,  4, 3,  4,  2, 3, 2, 6, 3,
                                      6, 8,  3,  8, 9,  4,  9,  5, 2, 4, 11, 6,  2, 10, 8,  6, 7, 9, 8, 1};
    const double ico_verts[36] = {-1, t, 0, 1, t, 0, -1, -t, 0, 1, -t, 0, 0, -1, t,  0, 1, t,
                                  0,  -1, -t, 0, 1, -t, t,  0, -1, t, 0, 1,  -t, 0, -1, -t, 0, 1};
    int nv = 12, nf = 20;
    size_t cap_v = 12, cap_f = 20;
    for (int s = 0; s < subdivisions; ++s) cap_f *= 4;
    cap_v = cap_f / 2 + 2;
    double *v = malloc(3 * cap_v * sizeof *v);
    int *f = malloc(3 * cap_f * sizeof *f), *g = malloc(3 * cap_f * sizeof *g);
    double *xr = malloc(3 * cap_v * sizeof *xr);
    if (!v || !f || !g || !xr) {
        free(v), free(f), free(g), free(xr);
        return err_set("%s: out of memory", fn);
    }
    memcpy(v, ico_verts, sizeof ico_verts);
    memcpy(f, ico_faces, sizeof ico_faces);
    for (int s = 0; s < subdivisions; ++s) {
        int *edges, ne;
        if (build_edges(nf, f, NULL, &edges, &ne, NULL)) {
            free(v), free(f), free(g), free(xr);
            return -1;
        }
        for (int e = 0; e < ne; ++e)
            for (int k = 0; k < 3; ++k) v[3 * (nv + e) + k] = (v[3 * edges[2 * e] + k] + v[3 * edges[2 * e + 1] + k]) / 2;
        for (int q = 0; q < nf; ++q) {
            int mid[3];
            for (int k = 0; k < 3; ++k) {
                int a = f[3 * q + k], b = f[3 * q + (k + 1) % 3];
                if (a > b) {
                    const int tmp = a;
                    a = b, b = tmp;
                }
                int lo = 0, hi = ne - 1; /* binary search in the sorted edges */
                while (lo < hi) {
                    const int m = (lo + hi) / 2;
                    if (edges[2 * m] < a || (edges[2 * m] == a && edges[2 * m + 1] < b))
                        lo = m + 1;
                    else
                        hi = m;
                }
                mid[k] = nv + lo;
            }
            const int a = f[3 * q], b = f[3 * q + 1], c = f[3 * q + 2];
            const int nt[12] = {a, mid[0], mid[2], mid[0], b, mid[1], mid[2], mid[1], c, mid[0], mid[1], mid[2]};
            memcpy(g + 12 * q, nt, sizeof nt);
        }
        nv += ne, nf *= 4;
        free(edges);
        int *tmp = f;
        f = g, g = tmp;
    }
    for (int i = 0; i < nv; ++i) {
        const double len = sqrt(cloth_dot3(v + 3 * i, v + 3 * i));
        for (int k = 0; k < 3; ++k) v[3 * i + k] /= len;
    }
    for (int q = 0; q < nf; ++q) { /* outward: the face normal along the centroid */
        double e0[3], e1[3], cr[3], cen[3];
        const double *a = v + 3 * f[3 * q], *b = v + 3 * f[3 * q + 1], *c = v + 3 * f[3 * q + 2];
        cloth_sub3(b, a, e0);
        cloth_sub3(c, a, e1);
        cloth_cross3(e0, e1, cr);
        for (int k = 0; k < 3; ++k) cen[k] = a[k] + b[k] + c[k];
        if (cloth_dot3(cr, cen) < 0) {
            const int tmp = f[3 * q + 1];
            f[3 * q + 1] = f[3 * q + 2], f[3 * q + 2] = tmp;
        }
    }
    for (int i = 0; i < 3 * nv; ++i) xr[i] = (double)((double)center[i % 3] + (double)radius * v[i]);
    const int rc = cloth_obstacle_mesh_init(o, nv, xr, nf, f);
    free(v), free(f), free(g), free(xr);
    return rc;
}

int cloth_obstacle_mesh_plane(cloth_obstacle_mesh *o, const double *point, const double *normal, double half_size)
{
    static const char *fn = "cloth_obstacle_mesh_plane";
    memset(o, 0, sizeof *o);
    if (check_finite(fn, "point", point, 3) || check_finite(fn, "normal", normal, 3)) return -1;
    if (!(half_size > 0) || !isfinite((double)half_size))
        return err_set("%s: half_size %g must be positive", fn, (double)half_size);
    double n[3] = {normal[0], normal[1], normal[2]};
    const double len = sqrt(cloth_dot3(n, n));
    if (!(len > 0)) return err_set("%s: the normal is zero", fn);
    for (int k = 0; k < 3; ++k) n[k] /= len;
    const int axis = fabs(n[0]) <= fabs(n[1]) && fabs(n[0]) <= fabs(n[2]) ? 0 : fabs(n[1]) <= fabs(n[2]) ? 1 : 2;
    double a[3] = {0, 0, 0}, u[3], v[3];
    a[axis] = 1;
    cloth_cross3(n, a, u);
    const double lu = sqrt(cloth_dot3(u, u));
    for (int k = 0; k < 3; ++k) u[k] /= lu;
    cloth_cross3(n, u, v); /* u × v = n */
    static const double su[4] = {-1, 1, 1, -1}, sv[4] = {-1, -1, 1, 1};
    double x[12];
    for (int i = 0; i < 4; ++i)
        for (int k = 0; k < 3; ++k) x[3 * i + k] = (double)(point[k] + half_size * (su[i] * u[k] + sv[i] * v[k]));
    static const int faces[6] = {0, 1, 2, 0, 2, 3};
    return cloth_obstacle_mesh_init(o, 4, x, 2, faces);
}

int cloth_obstacle_mesh_append(cloth_obstacle_mesh *o, const cloth_obstacle_mesh *other)
{
    static const char *fn = "cloth_obstacle_mesh_append";
    if (!other || other->n_verts == 0) return 0;
    const int nv = o->n_verts + other->n_verts, nf = o->n_faces + other->n_faces, ne = o->n_edges + other->n_edges;
    double *x0 = realloc(o->x0, 3 * (size_t)nv * sizeof *x0);
    if (x0) o->x0 = x0;
    double *x1 = realloc(o->x1, 3 * (size_t)nv * sizeof *x1);
    if (x1) o->x1 = x1;
    int *faces = realloc(o->faces, (3 * (size_t)nf + 1) * sizeof *faces);
    if (faces) o->faces = faces;
    int *edges = realloc(o->edges, (2 * (size_t)ne + 1) * sizeof *edges);
    if (edges) o->edges = edges;
    double *va = realloc(o->vert_area, (size_t)nv * sizeof *va);
    if (va) o->vert_area = va;
    double *ea = realloc(o->edge_area, ((size_t)ne + 1) * sizeof *ea);
    if (ea) o->edge_area = ea;
    double *fa = realloc(o->face_area, ((size_t)nf + 1) * sizeof *fa);
    if (fa) o->face_area = fa;
    if (!x0 || !x1 || !faces || !edges || !va || !ea || !fa) return err_set("%s: out of memory", fn);
    memcpy(o->x0 + 3 * o->n_verts, other->x0, 3 * (size_t)other->n_verts * sizeof *x0);
    memcpy(o->x1 + 3 * o->n_verts, other->x1, 3 * (size_t)other->n_verts * sizeof *x1);
    memcpy(o->vert_area + o->n_verts, other->vert_area, (size_t)other->n_verts * sizeof *va);
    for (int i = 0; i < 3 * other->n_faces; ++i) o->faces[3 * o->n_faces + i] = other->faces[i] + o->n_verts;
    for (int i = 0; i < 2 * other->n_edges; ++i) o->edges[2 * o->n_edges + i] = other->edges[i] + o->n_verts;
    if (other->n_faces) memcpy(o->face_area + o->n_faces, other->face_area, (size_t)other->n_faces * sizeof *fa);
    if (other->n_edges) memcpy(o->edge_area + o->n_edges, other->edge_area, (size_t)other->n_edges * sizeof *ea);
    o->n_verts = nv, o->n_faces = nf, o->n_edges = ne;
    return 0;
}

/* ------------------------------------------------------------------ BVH */

typedef struct {
    double lo[3], hi[3];
} box3;

typedef struct {
    box3 b;
    int left, right; /* children; left < 0 for a leaf */
    int start, count;
} bvh_node;

typedef struct {
    bvh_node *node;
    int n_node;
    int *item;
    const box3 *box;
    double *cen;
} bvh;

static void box_empty(box3 *b)
{
    for (int k = 0; k < 3; ++k) b->lo[k] = INFINITY, b->hi[k] = -INFINITY;
}

static void box_add_point(box3 *b, const double *p)
{
    for (int k = 0; k < 3; ++k) {
        if (p[k] < b->lo[k]) b->lo[k] = p[k];
        if (p[k] > b->hi[k]) b->hi[k] = p[k];
    }
}

static void box_inflate(box3 *b, double margin)
{
    for (int k = 0; k < 3; ++k) b->lo[k] -= margin, b->hi[k] += margin;
}

static int box_overlap(const box3 *a, const box3 *b)
{
    return a->lo[0] <= b->hi[0] && b->lo[0] <= a->hi[0] && a->lo[1] <= b->hi[1] && b->lo[1] <= a->hi[1] &&
           a->lo[2] <= b->hi[2] && b->lo[2] <= a->hi[2];
}

/* Put the item with the k-th smallest key (centroid along axis) at index k of items[lo, hi). */
static void select_kth(int *items, int lo, int hi, int k, const double *cen, int axis)
{
    while (hi - lo > 1) {
        const double pivot = cen[3 * items[lo + (hi - lo) / 2] + axis];
        int lt = lo, i = lo, gt = hi; /* [lo, lt) < pivot, [lt, i) == pivot, [gt, hi) > pivot */
        while (i < gt) {
            const double key = cen[3 * items[i] + axis];
            if (key < pivot) {
                const int t = items[lt];
                items[lt++] = items[i], items[i++] = t;
            } else if (key > pivot) {
                const int t = items[--gt];
                items[gt] = items[i], items[i] = t;
            } else {
                ++i;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

static int bvh_build_rec(bvh *t, int start, int count)
{
    const int id = t->n_node++;
    bvh_node *nd = &t->node[id];
    box_empty(&nd->b);
    box3 cb;
    box_empty(&cb);
    for (int i = start; i < start + count; ++i) {
        const box3 *b = &t->box[t->item[i]];
        const double *c = t->cen + 3 * t->item[i];
        for (int k = 0; k < 3; ++k) {
            if (b->lo[k] < nd->b.lo[k]) nd->b.lo[k] = b->lo[k];
            if (b->hi[k] > nd->b.hi[k]) nd->b.hi[k] = b->hi[k];
            if (c[k] < cb.lo[k]) cb.lo[k] = c[k];
            if (c[k] > cb.hi[k]) cb.hi[k] = c[k];
        }
    }
    nd->start = start, nd->count = count, nd->left = nd->right = -1;
    int axis = 0;
    for (int k = 1; k < 3; ++k)
        if (cb.hi[k] - cb.lo[k] > cb.hi[axis] - cb.lo[axis]) axis = k;
    if (count <= 4 || !(cb.hi[axis] > cb.lo[axis])) return id;
    const int mid = start + count / 2;
    select_kth(t->item, start, start + count, mid, t->cen, axis);
    const int left = bvh_build_rec(t, start, mid - start);
    const int right = bvh_build_rec(t, mid, start + count - mid);
    t->node[id].left = left, t->node[id].right = right;
    return id;
}

/* Build over boxes[0, n) (arrays allocated on first use, reused while n does not change). */
static int bvh_build(bvh *t, const box3 *boxes, int n)
{
    t->box = boxes;
    t->n_node = 0;
    if (n == 0) return 0;
    if (!t->node) {
        t->node = malloc(2 * (size_t)n * sizeof *t->node);
        t->item = malloc((size_t)n * sizeof *t->item);
        t->cen = malloc(3 * (size_t)n * sizeof *t->cen);
        if (!t->node || !t->item || !t->cen) return err_set("cloth collision: out of memory for a BVH of %d boxes", n);
    }
    for (int i = 0; i < n; ++i) {
        t->item[i] = i;
        for (int k = 0; k < 3; ++k) t->cen[3 * i + k] = 0.5 * (boxes[i].lo[k] + boxes[i].hi[k]);
    }
    bvh_build_rec(t, 0, n);
    return 0;
}

/* New bounds for the same tree after the boxes moved (children have larger ids than parents). */
static void bvh_refit(bvh *t)
{
    for (int id = t->n_node - 1; id >= 0; --id) {
        bvh_node *nd = &t->node[id];
        if (nd->left < 0) {
            box_empty(&nd->b);
            for (int i = nd->start; i < nd->start + nd->count; ++i) {
                const box3 *b = &t->box[t->item[i]];
                for (int k = 0; k < 3; ++k) {
                    if (b->lo[k] < nd->b.lo[k]) nd->b.lo[k] = b->lo[k];
                    if (b->hi[k] > nd->b.hi[k]) nd->b.hi[k] = b->hi[k];
                }
            }
        } else {
            const box3 *l = &t->node[nd->left].b, *r = &t->node[nd->right].b;
            for (int k = 0; k < 3; ++k) nd->b.lo[k] = fmin(l->lo[k], r->lo[k]), nd->b.hi[k] = fmax(l->hi[k], r->hi[k]);
        }
    }
}

static void bvh_free(bvh *t)
{
    free(t->node), free(t->item), free(t->cen);
    memset(t, 0, sizeof *t);
}

typedef struct {
    int *v;
    size_t n, cap;
} int_vec;

static int int_vec_push(int_vec *v, int x)
{
    if (v->n == v->cap) {
        const size_t cap = v->cap ? 2 * v->cap : 64;
        int *p = realloc(v->v, cap * sizeof *p);
        if (!p) return -1;
        v->v = p, v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

/* Items whose boxes overlap q, into hits (cleared first); −1 when out of memory. */
static int bvh_query(const bvh *t, const box3 *q, int_vec *hits)
{
    hits->n = 0;
    if (!t->node) return 0;
    int stack[128], top = 0;
    stack[top++] = 0;
    while (top > 0) {
        const bvh_node *nd = &t->node[stack[--top]];
        if (!box_overlap(&nd->b, q)) continue;
        if (nd->left < 0) {
            for (int i = nd->start; i < nd->start + nd->count; ++i)
                if (box_overlap(&t->box[t->item[i]], q) && int_vec_push(hits, t->item[i])) return -1;
        } else {
            stack[top++] = nd->left;
            stack[top++] = nd->right;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ candidate pairs */

typedef struct {
    int type, a, b; /* a, b: the two features' indices (vertex, face, edge; cloth or obstacle) */
} cand;

typedef struct {
    cand *c;
    size_t n, cap;
} cand_vec;

static int cand_push(cand_vec *v, int type, int a, int b)
{
    if (v->n == v->cap) {
        const size_t cap = v->cap ? 2 * v->cap : 256;
        cand *p = realloc(v->c, cap * sizeof *p);
        if (!p) return -1;
        v->c = p, v->cap = cap;
    }
    v->c[v->n].type = type, v->c[v->n].a = a, v->c[v->n].b = b;
    v->n++;
    return 0;
}

static int cmp_cand(const void *pa, const void *pb)
{
    const cand *x = pa, *y = pb;
    if (x->type != y->type) return x->type < y->type ? -1 : 1;
    if (x->a != y->a) return x->a < y->a ? -1 : 1;
    return (x->b > y->b) - (x->b < y->b);
}

static int nthreads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Boxes of `count` features of `per` vertices each (idx), over positions xa and xb. */
static void feature_boxes(box3 *out, int count, int per, const int *idx, const double *xa, const double *xb)
{
    for (int i = 0; i < count; ++i) {
        box_empty(&out[i]);
        for (int k = 0; k < per; ++k) {
            const int v = idx ? idx[per * i + k] : i;
            box_add_point(&out[i], xa + 3 * v);
            box_add_point(&out[i], xb + 3 * v);
        }
    }
}

/* The broad phase's boxes, BVHs and per-thread buffers, kept across the passes of one call:
 * the obstacle's BVHs are built once (its motion is the same every pass), the cloth's are
 * built on the first pass and refitted after. */
typedef struct {
    box3 *vb, *fb, *eb, *ovb, *ofb, *oeb;
    bvh tf, te, tof, toe, tv_, tov; /* cloth faces, edges; obstacle faces, edges; cloth, obstacle vertices */
    int cloth_built, obstacle_built;
    int nt;
    cand_vec *tv;
    int_vec *hits;
} broad_phase;

static void broad_free(broad_phase *b)
{
    bvh_free(&b->tf), bvh_free(&b->te), bvh_free(&b->tof), bvh_free(&b->toe), bvh_free(&b->tv_), bvh_free(&b->tov);
    for (int i = 0; b->tv && i < b->nt; ++i) free(b->tv[i].c);
    for (int i = 0; b->hits && i < b->nt; ++i) free(b->hits[i].v);
    free(b->tv), free(b->hits);
    free(b->vb), free(b->fb), free(b->eb), free(b->ovb), free(b->ofb), free(b->oeb);
    memset(b, 0, sizeof *b);
}

static int broad_init(broad_phase *b, const cloth_collision *c, const cloth_obstacle_mesh *obs)
{
    memset(b, 0, sizeof *b);
    const int onv = obs ? obs->n_verts : 0, onf = obs ? obs->n_faces : 0, one = obs ? obs->n_edges : 0;
    b->vb = malloc(((size_t)c->n_verts + 1) * sizeof *b->vb);
    b->fb = malloc(((size_t)c->n_faces + 1) * sizeof *b->fb);
    b->eb = malloc(((size_t)c->n_edges + 1) * sizeof *b->eb);
    b->ovb = malloc(((size_t)onv + 1) * sizeof *b->ovb);
    b->ofb = malloc(((size_t)onf + 1) * sizeof *b->ofb);
    b->oeb = malloc(((size_t)one + 1) * sizeof *b->oeb);
    b->nt = nthreads();
    b->tv = calloc((size_t)b->nt, sizeof *b->tv);
    b->hits = calloc((size_t)b->nt, sizeof *b->hits);
    if (!b->vb || !b->fb || !b->eb || !b->ovb || !b->ofb || !b->oeb || !b->tv || !b->hits) {
        broad_free(b);
        return err_set("cloth collision: out of memory for the broad phase");
    }
    return 0;
}

/* Candidate pairs whose boxes (cloth over xa → xb, obstacle over oa → ob, the same in every
 * call on b) come within margin: sorted, without adjacent pairs.  moved (NULL: all): only the
 * pairs with a cloth vertex flagged (the obstacle does not change between calls). */
static int broad_gather(broad_phase *b, const cloth_collision *c, const double *xa, const double *xb,
                        const cloth_obstacle_mesh *obs, const double *oa, const double *ob, double margin, const char *moved,
                        cand_vec *out)
{
    const int nv = c->n_verts, nf = c->n_faces, ne = c->n_edges;
    const int onv = obs ? obs->n_verts : 0, onf = obs ? obs->n_faces : 0, one = obs ? obs->n_edges : 0;
    out->n = 0;
    feature_boxes(b->vb, nv, 1, NULL, xa, xb);
    feature_boxes(b->fb, nf, 3, c->faces, xa, xb);
    feature_boxes(b->eb, ne, 2, c->edges, xa, xb);
    if (!b->cloth_built) {
        if (bvh_build(&b->tf, b->fb, nf) || bvh_build(&b->te, b->eb, ne) || bvh_build(&b->tv_, b->vb, nv)) return -1;
        b->cloth_built = 1;
    } else {
        bvh_refit(&b->tf), bvh_refit(&b->te), bvh_refit(&b->tv_);
    }
    if (obs && !b->obstacle_built) {
        feature_boxes(b->ovb, onv, 1, NULL, oa, ob);
        feature_boxes(b->ofb, onf, 3, obs->faces, oa, ob);
        feature_boxes(b->oeb, one, 2, obs->edges, oa, ob);
        if (bvh_build(&b->tof, b->ofb, onf) || bvh_build(&b->toe, b->oeb, one) || bvh_build(&b->tov, b->ovb, onv))
            return -1;
        b->obstacle_built = 1;
    }
    for (int i = 0; i < b->nt; ++i) b->tv[i].n = 0;
    int failed = 0;
    const bvh *tf = &b->tf, *te = &b->te, *tof = &b->tof, *toe = &b->toe, *tvv = &b->tv_, *tov = &b->tov;
    const box3 *vb = b->vb, *fb = b->fb, *eb = b->eb, *ovb = b->ovb;
    const int *F = c->faces, *E = c->edges, self = c->opt.self_collisions;
#define MOVED(v) (!moved || moved[v])
#pragma omp parallel if (nv + ne > 4000)
    {
        const int id = thread_id();
        cand_vec *mine = &b->tv[id];
        int_vec *h = &b->hits[id];
        int bad = 0;
#pragma omp for schedule(dynamic, 64) nowait
        for (int v = 0; v < nv; ++v) { /* cloth vertex: cloth faces, obstacle faces */
            if (!MOVED(v)) continue;
            box3 q = vb[v];
            box_inflate(&q, margin);
            if (self) bad |= bvh_query(tf, &q, h);
            for (size_t i = 0; self && i < h->n && !bad; ++i) {
                const int f = h->v[i], *t = F + 3 * f;
                if (t[0] != v && t[1] != v && t[2] != v) bad |= cand_push(mine, CLOTH_PAIR_VF, v, f);
            }
            bad |= bvh_query(tof, &q, h);
            for (size_t i = 0; i < h->n && !bad; ++i) bad |= cand_push(mine, CLOTH_PAIR_VF_OBS, v, h->v[i]);
        }
        if (moved) {
#pragma omp for schedule(dynamic, 64) nowait
            for (int f = 0; f < nf; ++f) { /* a moved face: unmoved cloth vertices, obstacle vertices */
                const int *t = F + 3 * f;
                if (!moved[t[0]] && !moved[t[1]] && !moved[t[2]]) continue;
                box3 q = fb[f];
                box_inflate(&q, margin);
                if (self) bad |= bvh_query(tvv, &q, h);
                for (size_t i = 0; self && i < h->n && !bad; ++i) {
                    const int v = h->v[i];
                    if (!moved[v] && t[0] != v && t[1] != v && t[2] != v) bad |= cand_push(mine, CLOTH_PAIR_VF, v, f);
                }
                bad |= bvh_query(tov, &q, h);
                for (size_t i = 0; i < h->n && !bad; ++i) bad |= cand_push(mine, CLOTH_PAIR_FV_OBS, h->v[i], f);
            }
        } else {
#pragma omp for schedule(dynamic, 64) nowait
            for (int v = 0; v < onv; ++v) { /* obstacle vertex: cloth faces */
                box3 q = ovb[v];
                box_inflate(&q, margin);
                bad |= bvh_query(tf, &q, h);
                for (size_t i = 0; i < h->n && !bad; ++i) bad |= cand_push(mine, CLOTH_PAIR_FV_OBS, v, h->v[i]);
            }
        }
#pragma omp for schedule(dynamic, 64) nowait
        for (int e = 0; e < ne; ++e) { /* cloth edge: cloth edges (each pair once), obstacle edges */
            const int a0 = E[2 * e], a1 = E[2 * e + 1], em = MOVED(a0) || MOVED(a1);
            if (!em) continue;
            box3 q = eb[e];
            box_inflate(&q, margin);
            if (self) bad |= bvh_query(te, &q, h);
            for (size_t i = 0; self && i < h->n && !bad; ++i) {
                const int g = h->v[i], b0 = E[2 * g], b1 = E[2 * g + 1];
                const int gm = MOVED(b0) || MOVED(b1);
                if ((g > e || !gm) && g != e && a0 != b0 && a0 != b1 && a1 != b0 && a1 != b1)
                    bad |= cand_push(mine, CLOTH_PAIR_EE, e < g ? e : g, e < g ? g : e);
            }
            bad |= bvh_query(toe, &q, h);
            for (size_t i = 0; i < h->n && !bad; ++i) bad |= cand_push(mine, CLOTH_PAIR_EE_OBS, e, h->v[i]);
        }
        if (bad) {
#pragma omp atomic write
            failed = 1;
        }
    }
#undef MOVED
    if (failed) return err_set("cloth collision: out of memory for the candidate pairs");
    size_t total = 0;
    for (int i = 0; i < b->nt; ++i) total += b->tv[i].n;
    if (total > out->cap) {
        cand *p = realloc(out->c, total * sizeof *p);
        if (!p) return err_set("cloth collision: out of memory for %zu candidate pairs", total);
        out->c = p, out->cap = total;
    }
    for (int i = 0; i < b->nt; ++i) {
        if (b->tv[i].n) memcpy(out->c + out->n, b->tv[i].c, b->tv[i].n * sizeof(cand));
        out->n += b->tv[i].n;
    }
    if (out->n) qsort(out->c, out->n, sizeof(cand), cmp_cand);
    return 0;
}

/* The 4 vertex ids of a candidate (obstacle vertex o as −1 − o). */
static void cand_ids(const cloth_collision *c, const cloth_obstacle_mesh *obs, const cand *k, int *ids)
{
    switch (k->type) {
    case CLOTH_PAIR_VF:
        ids[0] = k->a;
        for (int i = 0; i < 3; ++i) ids[1 + i] = c->faces[3 * k->b + i];
        break;
    case CLOTH_PAIR_VF_OBS:
        ids[0] = k->a;
        for (int i = 0; i < 3; ++i) ids[1 + i] = -1 - obs->faces[3 * k->b + i];
        break;
    case CLOTH_PAIR_FV_OBS:
        ids[0] = -1 - k->a;
        for (int i = 0; i < 3; ++i) ids[1 + i] = c->faces[3 * k->b + i];
        break;
    case CLOTH_PAIR_EE:
        ids[0] = c->edges[2 * k->a], ids[1] = c->edges[2 * k->a + 1];
        ids[2] = c->edges[2 * k->b], ids[3] = c->edges[2 * k->b + 1];
        break;
    default: /* CLOTH_PAIR_EE_OBS */
        ids[0] = c->edges[2 * k->a], ids[1] = c->edges[2 * k->a + 1];
        ids[2] = -1 - obs->edges[2 * k->b], ids[3] = -1 - obs->edges[2 * k->b + 1];
        break;
    }
}

static void pair_positions(const int *ids, const double *x, const double *o, double *p)
{
    for (int i = 0; i < 4; ++i) {
        const double *s = ids[i] >= 0 ? x + 3 * ids[i] : o + 3 * (-1 - ids[i]);
        for (int k = 0; k < 3; ++k) p[3 * i + k] = s[k];
    }
}

static int is_ee(int type) { return type == CLOTH_PAIR_EE || type == CLOTH_PAIR_EE_OBS; }

/* ------------------------------------------------------------------ 1. proximity */

typedef struct {
    double dist;
    double w[4], n[3];
    int ids[4];
    int found;
} prox_hit;

void cloth_contact_list_free(cloth_contact_list *l)
{
    if (!l) return;
    free(l->c);
    memset(l, 0, sizeof *l);
}

/* Area-weighted vertex normals (unnormalised) and face normals of the cloth at x. */
static void cloth_normals(const cloth_collision *c, const double *x, double *vn, double *fn)
{
    memset(vn, 0, 3 * (size_t)c->n_verts * sizeof *vn);
    for (int f = 0; f < c->n_faces; ++f) {
        double p[9], e0[3], e1[3];
        for (int k = 0; k < 9; ++k) p[k] = x[3 * c->faces[3 * f + k / 3] + k % 3];
        cloth_sub3(p + 3, p, e0);
        cloth_sub3(p + 6, p, e1);
        cloth_cross3(e0, e1, fn + 3 * f);
        for (int i = 0; i < 3; ++i)
            for (int k = 0; k < 3; ++k) vn[3 * c->faces[3 * f + i] + k] += fn[3 * f + k];
    }
}

/* Keep the nearest pair per key. */
static void key_min(int *best, const prox_hit *hits, int key, int i)
{
    if (best[key] < 0 || hits[i].dist < hits[best[key]].dist) best[key] = i;
}

int cloth_proximity_find(const cloth_collision *c, const double *x, const cloth_obstacle_mesh *obs, cloth_contact_list *out)
{
    static const char *fn = "cloth_proximity_find";
    if (check_finite(fn, "x", x, 3 * (size_t)c->n_verts)) return -1;
    if (obs && obs->n_verts && (check_finite(fn, "obstacle x0", obs->x0, 3 * (size_t)obs->n_verts) ||
                                check_finite(fn, "obstacle x1", obs->x1, 3 * (size_t)obs->n_verts)))
        return -1;
    if (obs && obs->n_verts == 0) obs = NULL;
    out->n = 0;
    const double tau = c->opt.repulsion_thickness, radius = 2 * tau;
    cand_vec cv = {0};
    prox_hit *hits = NULL;
    double *vn = NULL, *fnm = NULL;
    int *best_v = NULL, *best_f = NULL, *best_e = NULL;
    char *keep = NULL;
    int rc = -1;
    broad_phase bp;
    if (broad_init(&bp, c, obs)) goto done;
    const int gathered =
        broad_gather(&bp, c, x, x, obs, obs ? obs->x0 : NULL, obs ? obs->x0 : NULL, radius, NULL, &cv);
    broad_free(&bp);
    if (gathered) goto done;
    const int nc = (int)cv.n;
    hits = malloc(((size_t)nc + 1) * sizeof *hits);
    vn = malloc(3 * (size_t)c->n_verts * sizeof *vn);
    fnm = malloc((3 * (size_t)c->n_faces + 1) * sizeof *fnm);
    best_v = malloc(2 * (size_t)c->n_verts * sizeof *best_v);
    best_f = malloc((2 * (size_t)c->n_faces + 1) * sizeof *best_f);
    best_e = malloc((2 * (size_t)c->n_edges + 1) * sizeof *best_e);
    keep = calloc((size_t)nc + 1, 1);
    if (!hits || !vn || !fnm || !best_v || !best_f || !best_e || !keep) {
        err_set("%s: out of memory for %d candidate pairs", fn, nc);
        goto done;
    }
#pragma omp parallel for schedule(dynamic, 256) if (nc > 4000)
    for (int i = 0; i < nc; ++i) {
        prox_hit *h = &hits[i];
        double p[12];
        cand_ids(c, obs, &cv.c[i], h->ids);
        pair_positions(h->ids, x, obs ? obs->x0 : NULL, p);
        h->found = ccol_proximity(is_ee(cv.c[i].type), p, &h->dist, h->w, h->n) && h->dist < radius;
    }
    cloth_normals(c, x, vn, fnm);
    for (int i = 0; i < 2 * c->n_verts; ++i) best_v[i] = -1;
    for (int i = 0; i < 2 * c->n_faces; ++i) best_f[i] = -1;
    for (int i = 0; i < 2 * c->n_edges; ++i) best_e[i] = -1;
    for (int i = 0; i < nc; ++i) {
        const prox_hit *h = &hits[i];
        if (!h->found) continue;
        const cand *k = &cv.c[i];
        const double *n = h->n;
        /* side of a feature: whether the other one lies against its normal */
        switch (k->type) {
        case CLOTH_PAIR_VF:
            key_min(best_v, hits, 2 * k->a + (cloth_dot3(n, vn + 3 * k->a) < 0), i);
            key_min(best_f, hits, 2 * k->b + (cloth_dot3(n, fnm + 3 * k->b) < 0), i);
            break;
        case CLOTH_PAIR_VF_OBS:
            key_min(best_v, hits, 2 * k->a + (cloth_dot3(n, vn + 3 * k->a) < 0), i);
            break;
        case CLOTH_PAIR_FV_OBS:
            key_min(best_f, hits, 2 * k->b + (cloth_dot3(n, fnm + 3 * k->b) < 0), i);
            break;
        case CLOTH_PAIR_EE: {
            double ea[3], eb[3];
            for (int d = 0; d < 3; ++d) {
                ea[d] = vn[3 * h->ids[0] + d] + vn[3 * h->ids[1] + d];
                eb[d] = vn[3 * h->ids[2] + d] + vn[3 * h->ids[3] + d];
            }
            key_min(best_e, hits, 2 * k->a + (cloth_dot3(n, ea) < 0), i);
            key_min(best_e, hits, 2 * k->b + (cloth_dot3(n, eb) > 0), i); /* the first edge lies along −n from it */
            break;
        }
        default: { /* CLOTH_PAIR_EE_OBS */
            double ea[3];
            for (int d = 0; d < 3; ++d) ea[d] = vn[3 * h->ids[0] + d] + vn[3 * h->ids[1] + d];
            key_min(best_e, hits, 2 * k->a + (cloth_dot3(n, ea) < 0), i);
            break;
        }
        }
    }
    int count = 0;
    for (int i = 0; i < 2 * c->n_verts; ++i)
        if (best_v[i] >= 0) count += !keep[best_v[i]], keep[best_v[i]] = 1;
    for (int i = 0; i < 2 * c->n_faces; ++i)
        if (best_f[i] >= 0) count += !keep[best_f[i]], keep[best_f[i]] = 1;
    for (int i = 0; i < 2 * c->n_edges; ++i)
        if (best_e[i] >= 0) count += !keep[best_e[i]], keep[best_e[i]] = 1;
    if (count > out->capacity) {
        cloth_contact *p = realloc(out->c, (size_t)count * sizeof *p);
        if (!p) {
            err_set("%s: out of memory for %d contacts", fn, count);
            goto done;
        }
        out->c = p, out->capacity = count;
    }
    const int areas = c->vert_area != NULL;
    for (int i = 0; i < nc; ++i) {
        if (!keep[i]) continue;
        const prox_hit *h = &hits[i];
        const cand *k = &cv.c[i];
        cloth_contact *ct = &out->c[out->n++];
        double offset = -tau;
        for (int s = 0; s < 4; ++s) {
            ct->v[s] = h->ids[s];
            ct->w[s] = (double)h->w[s];
            if (h->ids[s] < 0) {
                const double *o = obs->x1 + 3 * (-1 - h->ids[s]);
                offset += h->w[s] * (h->n[0] * o[0] + h->n[1] * o[1] + h->n[2] * o[2]);
            }
        }
        for (int d = 0; d < 3; ++d) ct->n[d] = (double)h->n[d];
        ct->offset = (double)offset;
        double area = 1;
        if (areas) switch (k->type) {
            case CLOTH_PAIR_VF: area = fmin(c->vert_area[k->a], c->face_area[k->b]); break;
            case CLOTH_PAIR_VF_OBS: area = fmin(c->vert_area[k->a], obs->face_area[k->b]); break;
            case CLOTH_PAIR_FV_OBS: area = fmin(obs->vert_area[k->a], c->face_area[k->b]); break;
            case CLOTH_PAIR_EE: area = fmin(c->edge_area[k->a], c->edge_area[k->b]); break;
            default: area = fmin(c->edge_area[k->a], obs->edge_area[k->b]); break;
            }
        ct->stiffness = (double)(c->opt.stiffness * area);
        ct->thickness = (double)tau;
        ct->type = k->type;
        ct->penalty = c->opt.penalty;
    }
    rc = 0;
done:
    free(cv.c), free(hits), free(vn), free(fnm), free(best_v), free(best_f), free(best_e), free(keep);
    return rc;
}

double cloth_proximity_energy(const cloth_contact_list *l, const double *x, double *grad)
{
    double E = 0;
#pragma omp parallel for schedule(static) reduction(+ : E) if (l->n > 2000)
    for (int i = 0; i < l->n; ++i) {
        double g[12];
        E += cloth_contact_energy(&l->c[i], x, grad ? g : NULL, NULL);
        if (grad)
            for (int s = 0; s < 4; ++s)
                if (l->c[i].v[s] >= 0)
                    for (int k = 0; k < 3; ++k) PHIVE_ATOMIC_ADD(&grad[3 * l->c[i].v[s] + k], g[3 * s + k]);
    }
    return E;
}

/* ------------------------------------------------------------------ zone QP */

typedef struct {
    int l[4];      /* local free vertex per slot, −1: immovable */
    double w[4], n[3];
    double d;      /* G_k x ≥ d: τ_p minus the immovable slots' terms */
    double hkk;    /* ‖row‖² in the M⁻¹ metric */
} zrow;

typedef struct {
    int m, nv;
    zrow *row;
    int *gv;       /* global cloth id of each local vertex */
    double *invm;  /* 1/m per local vertex */
    double *x1;    /* 3·nv */
} zone_problem;

static void zone_free(zone_problem *z)
{
    free(z->row), free(z->gv), free(z->invm), free(z->x1);
    memset(z, 0, sizeof *z);
}

/* Rows of the constraints con[idx[i]] (idx NULL: all m); loc (n_verts, all −1 on entry and
 * on return) maps cloth ids to local vertices.  x1/o1 NULL: d is not computed. */
static int zone_setup(zone_problem *z, const cloth_zone_constraint *con, const int *idx, int m, int n_verts,
                      int n_obs, const double *x1, const double *o1, double tau, int *loc)
{
    static const char *fn = "cloth impact zone";
    memset(z, 0, sizeof *z);
    z->m = m;
    z->row = malloc(((size_t)m + 1) * sizeof *z->row);
    z->gv = malloc((4 * (size_t)m + 1) * sizeof *z->gv);
    double *mass = malloc((4 * (size_t)m + 1) * sizeof *mass);
    int rc = -1;
    if (!z->row || !z->gv || !mass) {
        err_set("%s: out of memory for %d constraints", fn, m);
        goto done;
    }
    for (int i = 0; i < m; ++i) {
        const cloth_zone_constraint *c = &con[idx ? idx[i] : i];
        zrow *r = &z->row[i];
        double n[3] = {c->n[0], c->n[1], c->n[2]};
        for (int k = 0; k < 3; ++k) r->n[k] = n[k];
        r->d = tau;
        for (int s = 0; s < 4; ++s) {
            const int v = c->v[s];
            r->w[s] = c->w[s];
            r->l[s] = -1;
            if (!isfinite((double)c->w[s]) || !isfinite((double)c->mass[s]) || !isfinite(cloth_dot3(n, n))) {
                err_set("%s: constraint %d has a non-finite weight, mass or normal", fn, idx ? idx[i] : i);
                goto done;
            }
            if (v >= n_verts || -1 - v >= n_obs) {
                err_set("%s: constraint %d vertex id %d is out of range (%d cloth, %d obstacle vertices)", fn,
                        idx ? idx[i] : i, v, n_verts, n_obs);
                goto done;
            }
            if (v >= 0 && c->mass[s] > 0) {
                if (loc[v] == -2 || (loc[v] >= 0 && mass[loc[v]] != (double)c->mass[s])) {
                    err_set("%s: cloth vertex %d has different masses in different constraints", fn, v);
                    goto done;
                }
                if (loc[v] < 0) z->gv[z->nv] = v, mass[z->nv] = c->mass[s], loc[v] = z->nv++;
                r->l[s] = loc[v];
            } else {
                if (v >= 0) {
                    if (loc[v] >= 0) {
                        err_set("%s: cloth vertex %d has different masses in different constraints", fn, v);
                        goto done;
                    }
                    loc[v] = -2;
                }
                if (x1) {
                    const double *p = v >= 0 ? x1 + 3 * v : o1 + 3 * (-1 - v);
                    r->d -= r->w[s] * (n[0] * p[0] + n[1] * p[1] + n[2] * p[2]);
                }
            }
        }
    }
    rc = 0;
done:
    /* reset loc: free vertices through gv, immovable ones by walking the constraints */
    for (int i = 0; i < z->nv; ++i) loc[z->gv[i]] = -1;
    for (int i = 0; i < m; ++i) {
        const cloth_zone_constraint *c = &con[idx ? idx[i] : i];
        for (int s = 0; s < 4; ++s)
            if (c->v[s] >= 0 && c->v[s] < n_verts) loc[c->v[s]] = -1;
    }
    if (rc == 0) {
        z->invm = malloc(((size_t)z->nv + 1) * sizeof *z->invm);
        z->x1 = malloc((3 * (size_t)z->nv + 1) * sizeof *z->x1);
        if (!z->invm || !z->x1) rc = err_set("%s: out of memory", fn);
    }
    if (rc == 0) {
        for (int i = 0; i < z->nv; ++i) {
            z->invm[i] = 1 / mass[i];
            for (int k = 0; k < 3; ++k) z->x1[3 * i + k] = x1 ? (double)x1[3 * z->gv[i] + k] : 0;
        }
        for (int i = 0; i < m; ++i) {
            zrow *r = &z->row[i];
            double h = 0;
            for (int s = 0; s < 4; ++s)
                for (int t = 0; t < 4; ++t)
                    if (r->l[s] >= 0 && r->l[t] == r->l[s]) h += r->w[s] * r->w[t] * z->invm[r->l[s]];
            r->hkk = h * cloth_dot3(r->n, r->n);
        }
    }
    free(mass);
    if (rc) zone_free(z);
    return rc;
}

/* (G M⁻¹ Gᵀ)_{ab}. */
static double zrow_gram(const zrow *a, const zrow *b, const double *invm)
{
    double s = 0;
    for (int i = 0; i < 4; ++i) {
        if (a->l[i] < 0) continue;
        for (int j = 0; j < 4; ++j)
            if (b->l[j] == a->l[i]) s += a->w[i] * b->w[j] * invm[a->l[i]];
    }
    return s == 0 ? 0 : s * cloth_dot3(a->n, b->n);
}

/* G_k x − d_k. */
static double zrow_slack(const zrow *r, const double *x)
{
    double g = -r->d;
    for (int s = 0; s < 4; ++s)
        if (r->l[s] >= 0) g += r->w[s] * cloth_dot3(r->n, x + 3 * r->l[s]);
    return g;
}

/* x += t·M⁻¹ G_kᵀ. */
static void zrow_axpy(const zrow *r, double t, const double *invm, double *x)
{
    for (int s = 0; s < 4; ++s)
        if (r->l[s] >= 0)
            for (int k = 0; k < 3; ++k) x[3 * r->l[s] + k] += t * r->w[s] * r->n[k] * invm[r->l[s]];
}

/* Cholesky factor (lower, row-major, leading dimension ld) of the Gram block of W. */
static int gram_cholesky(const zone_problem *z, const int *W, int q, double *L, int ld)
{
    for (int i = 0; i < q; ++i)
        for (int j = 0; j <= i; ++j) {
            double s = zrow_gram(&z->row[W[i]], &z->row[W[j]], z->invm);
            for (int k = 0; k < j; ++k) s -= L[i * ld + k] * L[j * ld + k];
            if (i == j) {
                if (!(s > 0)) return -1;
                L[i * ld + i] = sqrt(s);
            } else {
                L[i * ld + j] = s / L[j * ld + j];
            }
        }
    return 0;
}

/* QR of Aᵀ = M^{-1/2} G_Wᵀ (3·nv × q, column-major in *A, LAPACK's compact form). */
static int zone_qr(const zone_problem *z, const int *W, int q, double **A_out, double **tau_out, double **work_out,
                   int *lwork_out)
{
    const int nvar = 3 * z->nv;
    double *A = calloc((size_t)nvar * (size_t)q + 1, sizeof *A), *tau = malloc(((size_t)q + 1) * sizeof *tau);
    *A_out = A, *tau_out = tau, *work_out = NULL;
    if (!A || !tau) return err_set("cloth impact zone: out of memory for a %d × %d QR", nvar, q);
    for (int j = 0; j < q; ++j) {
        const zrow *r = &z->row[W[j]];
        for (int s = 0; s < 4; ++s)
            if (r->l[s] >= 0)
                for (int k = 0; k < 3; ++k)
                    A[(size_t)j * nvar + 3 * r->l[s] + k] += r->w[s] * r->n[k] * sqrt(z->invm[r->l[s]]);
    }
    int info = 0, lwork = -1, one = 1;
    double wq = 0, wq2 = 0;
    dgeqrf_(&nvar, &q, A, &nvar, tau, &wq, &lwork, &info);
    dormqr_("L", "T", &nvar, &one, &q, A, &nvar, tau, A, &nvar, &wq2, &lwork, &info, 1, 1);
    lwork = (int)fmax(fmax(wq, wq2), (double)nvar) + 1;
    double *work = malloc((size_t)lwork * sizeof *work);
    *work_out = work, *lwork_out = lwork;
    if (!work) return err_set("cloth impact zone: out of memory for LAPACK's workspace");
    dgeqrf_(&nvar, &q, A, &nvar, tau, work, &lwork, &info);
    if (info != 0) return err_set("cloth impact zone: QR failed (dgeqrf info %d)", info);
    double rmax = 0;
    for (int j = 0; j < q; ++j) rmax = fmax(rmax, fabs(A[(size_t)j * nvar + j]));
    for (int j = 0; j < q; ++j)
        if (!(fabs(A[(size_t)j * nvar + j]) > 1e-13 * rmax))
            return err_set("cloth impact zone: the %d active constraints are linearly dependent", q);
    return 0;
}

/* Project the zone's x1 onto its constraints: x (3·nv) and the active set (indices into
 * z->row).  *max_violation: max over rows of max(−slack, 0) at x.  warm (may be NULL): rows
 * that were the active set of this zone's constraints before it grew (the union of its
 * former zones' active sets); the loop starts from them when their multipliers are ≥ 0. */
static int zone_solve(const zone_problem *z, double tau_p, const char *warm, double *x, int *active, int *n_active,
                      double *max_violation)
{
    static const char *fn = "cloth impact zone";
    const int m = z->m, nvar = 3 * z->nv;
    const int qmax = m < nvar ? m : nvar;
    const double tol = ZONE_TOL * tau_p;
    int *W = malloc(((size_t)qmax + 1) * sizeof *W);
    char *inW = calloc((size_t)m + 1, 1), *skip = calloc((size_t)m + 1, 1);
    double *lam = malloc(((size_t)qmax + 1) * sizeof *lam), *L = malloc((size_t)qmax * qmax * sizeof *L + 1);
    double *h = malloc(((size_t)qmax + 1) * sizeof *h), *r = malloc(((size_t)qmax + 1) * sizeof *r);
    double *A = NULL, *tq = NULL, *work = NULL, *y = malloc(((size_t)nvar + 1) * sizeof *y);
    int rc = -1, q = 0;
    if (!W || !inW || !skip || !lam || !L || !h || !r || !y) {
        err_set("%s: out of memory for %d constraints", fn, m);
        goto done;
    }
    memcpy(x, z->x1, (size_t)nvar * sizeof *x);
    for (int k = 0; k < m; ++k) skip[k] = !(z->row[k].hkk > 0); /* no free vertex: cannot be met by moving */
    if (warm) { /* the equality-constrained solution on the former active set, if dual feasible */
        for (int k = 0; k < m && q < qmax; ++k)
            if (warm[k] && !skip[k]) W[q++] = k;
        int ok = q > 0 && !gram_cholesky(z, W, q, L, qmax);
        if (ok) {
            for (int i = 0; i < q; ++i) { /* L Lᵀ λ = d_W − G_W x1 */
                double s = -zrow_slack(&z->row[W[i]], z->x1);
                for (int k = 0; k < i; ++k) s -= L[i * qmax + k] * h[k];
                h[i] = s / L[i * qmax + i];
            }
            for (int i = q - 1; i >= 0; --i) {
                double s = h[i];
                for (int k = i + 1; k < q; ++k) s -= L[k * qmax + i] * lam[k];
                lam[i] = s / L[i * qmax + i];
                ok &= lam[i] >= 0;
            }
        }
        if (ok) {
            for (int j = 0; j < q; ++j) zrow_axpy(&z->row[W[j]], lam[j], z->invm, x), inW[W[j]] = 1;
        } else {
            q = 0;
        }
    }
    /* Goldfarb–Idnani: add the most violated constraint, stepping the multipliers (dropping a
     * constraint whose multiplier reaches 0) until it is met. */
    const long max_steps = 20L * m + 100;
    long steps = 0;
    for (;;) {
        int p = -1;
        double sp = -tol;
        for (int k = 0; k < m; ++k) {
            if (inW[k] || skip[k]) continue;
            const double s = zrow_slack(&z->row[k], x);
            if (s < sp) sp = s, p = k;
        }
        if (p < 0) break;
        double lamp = 0;
        for (;;) {
            if (++steps > max_steps) {
                err_set("%s: the active-set loop did not finish in %ld steps (%d constraints)", fn, max_steps, m);
                goto done;
            }
            const zrow *rp = &z->row[p];
            for (int j = 0; j < q; ++j) h[j] = zrow_gram(&z->row[W[j]], rp, z->invm);
            double ll = 0;
            for (int i = 0; i < q; ++i) { /* L l = h */
                double s = h[i];
                for (int k = 0; k < i; ++k) s -= L[i * qmax + k] * h[k];
                h[i] = s / L[i * qmax + i];
                ll += h[i] * h[i];
            }
            const double zz = rp->hkk - ll;
            for (int i = q - 1; i >= 0; --i) { /* Lᵀ r = l */
                double s = h[i];
                for (int k = i + 1; k < q; ++k) s -= L[k * qmax + i] * r[k];
                r[i] = s / L[i * qmax + i];
            }
            const int full = zz > 1e-10 * rp->hkk && q < qmax;
            const double t2 = full ? fmax(0, -sp / zz) : INFINITY;
            double t1 = INFINITY;
            int kd = -1;
            for (int j = 0; j < q; ++j)
                if (r[j] > 1e-12 && lam[j] / r[j] < t1) t1 = lam[j] / r[j], kd = j;
            if (!full && kd < 0) {
                err_set("%s: %d constraints cannot be met together (constraint %d depends on the active ones)", fn, m, p);
                goto done;
            }
            const int add = full && t2 <= t1;
            const double t = add ? t2 : t1;
            if (full && t > 0) {
                zrow_axpy(rp, t, z->invm, x);
                for (int j = 0; j < q; ++j) zrow_axpy(&z->row[W[j]], -t * r[j], z->invm, x);
            }
            for (int j = 0; j < q; ++j) lam[j] -= t * r[j];
            lamp += t;
            if (add) {
                for (int k = 0; k < q; ++k) L[q * qmax + k] = h[k];
                L[q * qmax + q] = sqrt(zz);
                W[q] = p, lam[q] = lamp, inW[p] = 1, ++q;
                break;
            }
            inW[W[kd]] = 0; /* its multiplier reached 0: drop it */
            for (int j = kd; j + 1 < q; ++j) W[j] = W[j + 1], lam[j] = lam[j + 1];
            --q;
            if (gram_cholesky(z, W, q, L, qmax)) {
                err_set("%s: the active constraints became dependent", fn);
                goto done;
            }
            sp = zrow_slack(rp, x);
        }
    }
    /* exact solution on the active set: x = x1 + M^{-1/2} Q R^{-T} (d_W − G_W x1) */
    memcpy(x, z->x1, (size_t)nvar * sizeof *x);
    if (q > 0) {
        int lwork = 0, info = 0, one = 1;
        if (zone_qr(z, W, q, &A, &tq, &work, &lwork)) goto done;
        for (int j = 0; j < nvar; ++j) y[j] = 0;
        for (int j = 0; j < q; ++j) y[j] = -zrow_slack(&z->row[W[j]], z->x1);
        dtrtrs_("U", "T", "N", &q, &one, A, &nvar, y, &nvar, &info, 1, 1, 1);
        if (info == 0) dormqr_("L", "N", &nvar, &one, &q, A, &nvar, tq, y, &nvar, work, &lwork, &info, 1, 1);
        if (info != 0) {
            err_set("%s: LAPACK failed (info %d)", fn, info);
            goto done;
        }
        for (int l = 0; l < z->nv; ++l)
            for (int k = 0; k < 3; ++k) x[3 * l + k] += sqrt(z->invm[l]) * y[3 * l + k];
    }
    double worst = 0;
    for (int k = 0; k < m; ++k)
        if (!skip[k]) worst = fmax(worst, -zrow_slack(&z->row[k], x));
    *max_violation = worst;
    for (int j = 0; j < q; ++j) active[j] = W[j];
    *n_active = q;
    rc = 0;
done:
    free(W), free(inW), free(skip), free(lam), free(L), free(h), free(r), free(A), free(tq), free(work), free(y);
    return rc;
}

/* ------------------------------------------------------------------ records */

void cloth_impact_record_free(cloth_impact_record *r)
{
    if (!r) return;
    free(r->zone_start), free(r->con);
    memset(r, 0, sizeof *r);
}

static int record_reset(cloth_impact_record *r, int n_verts, int n_obs, double tau)
{
    r->n_verts = n_verts, r->n_obs_verts = n_obs, r->thickness = tau, r->n_zones = 0, r->n_con = 0;
    if (!r->zone_start) {
        r->zone_start = malloc(16 * sizeof *r->zone_start);
        if (!r->zone_start) return err_set("cloth impact record: out of memory");
        r->zone_capacity = 15;
    }
    r->zone_start[0] = 0;
    return 0;
}

/* Append a zone of the constraints con[idx[j]]. */
static int record_add_zone(cloth_impact_record *r, const cloth_zone_constraint *con, const int *idx, int q)
{
    if (r->n_zones + 1 > r->zone_capacity) {
        const int cap = 2 * r->zone_capacity + 16;
        int *p = realloc(r->zone_start, ((size_t)cap + 1) * sizeof *p);
        if (!p) return err_set("cloth impact record: out of memory for %d zones", cap);
        r->zone_start = p, r->zone_capacity = cap;
    }
    if (r->n_con + q > r->con_capacity) {
        const int cap = 2 * (r->n_con + q) + 64;
        cloth_zone_constraint *p = realloc(r->con, (size_t)cap * sizeof *p);
        if (!p) return err_set("cloth impact record: out of memory for %d constraints", cap);
        r->con = p, r->con_capacity = cap;
    }
    for (int j = 0; j < q; ++j) r->con[r->n_con + j] = con[idx[j]];
    r->n_con += q;
    r->zone_start[++r->n_zones] = r->n_con;
    return 0;
}

int cloth_zone_project(int n_verts, int n_obs_verts, int n_con, const cloth_zone_constraint *con, const double *x1,
                       const double *obs_x1, double thickness, double *x_out, cloth_impact_record *rec)
{
    static const char *fn = "cloth_zone_project";
    if (n_verts <= 0 || n_obs_verts < 0 || n_con < 0)
        return err_set("%s: bad sizes (%d cloth vertices, %d obstacle vertices, %d constraints)", fn, n_verts,
                       n_obs_verts, n_con);
    if (!(thickness >= 0) || !isfinite((double)thickness)) return err_set("%s: thickness %g", fn, (double)thickness);
    if (check_finite(fn, "x1", x1, 3 * (size_t)n_verts)) return -1;
    if (n_obs_verts && check_finite(fn, "obs_x1", obs_x1, 3 * (size_t)n_obs_verts)) return -1;
    if (rec && rec->n_zones > 0 && (rec->n_verts != n_verts || rec->n_obs_verts != n_obs_verts))
        return err_set("%s: the record holds zones of another size", fn);
    int *loc = malloc((size_t)n_verts * sizeof *loc), *active = malloc(((size_t)n_con + 1) * sizeof *active);
    double *x = NULL;
    zone_problem z;
    memset(&z, 0, sizeof z);
    int rc = -1;
    if (!loc || !active) {
        err_set("%s: out of memory", fn);
        goto done;
    }
    for (int i = 0; i < n_verts; ++i) loc[i] = -1;
    if (zone_setup(&z, con, NULL, n_con, n_verts, n_obs_verts, x1, obs_x1, thickness, loc)) goto done;
    x = malloc((3 * (size_t)z.nv + 1) * sizeof *x);
    if (!x) {
        err_set("%s: out of memory", fn);
        goto done;
    }
    int q = 0;
    double viol = 0;
    if (zone_solve(&z, thickness, NULL, x, active, &q, &viol)) goto done;
    if (x_out != x1) memcpy(x_out, x1, 3 * (size_t)n_verts * sizeof *x_out);
    for (int l = 0; l < z.nv; ++l)
        for (int k = 0; k < 3; ++k) x_out[3 * z.gv[l] + k] = (double)x[3 * l + k];
    if (rec) {
        if (rec->n_zones == 0 && record_reset(rec, n_verts, n_obs_verts, thickness)) goto done;
        if (record_add_zone(rec, con, active, q)) goto done;
    }
    rc = 0;
done:
    zone_free(&z);
    free(loc), free(active), free(x);
    return rc;
}

/* ------------------------------------------------------------------ 3. backward */

int cloth_collide_backward(const cloth_impact_record *rec, const double *grad_x, double *grad_x1, double *grad_obs_x1)
{
    static const char *fn = "cloth_collide_backward";
    const int nv = rec->n_verts;
    if (nv <= 0) return err_set("%s: the record is empty (no forward ran)", fn);
    for (size_t i = 0; i < 3 * (size_t)nv; ++i) grad_x1[i] += grad_x[i];
    if (rec->n_zones == 0) return 0;
    int *loc = malloc((size_t)nv * sizeof *loc), *W = NULL;
    int rc = -1;
    if (!loc) return err_set("%s: out of memory", fn);
    for (int i = 0; i < nv; ++i) loc[i] = -1;
    for (int zi = 0; zi < rec->n_zones; ++zi) {
        const int q = rec->zone_start[zi + 1] - rec->zone_start[zi];
        const cloth_zone_constraint *con = rec->con + rec->zone_start[zi];
        if (q == 0) continue;
        zone_problem z;
        double *A = NULL, *tq = NULL, *work = NULL, *u = NULL, *v = NULL;
        int lwork = 0, info = 0, one = 1;
        if (zone_setup(&z, con, NULL, q, nv, rec->n_obs_verts, NULL, NULL, 0, loc)) goto done;
        const int nvar = 3 * z.nv;
        W = malloc((size_t)q * sizeof *W);
        u = malloc(((size_t)nvar + 1) * sizeof *u), v = malloc(((size_t)q + 1) * sizeof *v);
        int ok = W && u && v;
        if (ok) {
            for (int j = 0; j < q; ++j) W[j] = j;
            ok = !zone_qr(&z, W, q, &A, &tq, &work, &lwork);
        } else {
            err_set("%s: out of memory", fn);
        }
        if (ok) {
            /* u = Qᵀ M^{-1/2} g */
            for (int l = 0; l < z.nv; ++l)
                for (int k = 0; k < 3; ++k) u[3 * l + k] = grad_x[3 * z.gv[l] + k] * sqrt(z.invm[l]);
            dormqr_("L", "T", &nvar, &one, &q, A, &nvar, tq, u, &nvar, work, &lwork, &info, 1, 1);
            for (int j = 0; j < q; ++j) v[j] = u[j];
            for (int j = q; j < nvar; ++j) u[j] = 0;
            if (info == 0) dormqr_("L", "N", &nvar, &one, &q, A, &nvar, tq, u, &nvar, work, &lwork, &info, 1, 1);
            if (info == 0) dtrtrs_("U", "N", "N", &q, &one, A, &nvar, v, &q, &info, 1, 1, 1);
            if (info != 0) ok = 0, err_set("%s: LAPACK failed (info %d)", fn, info);
        }
        if (ok) {
            /* free vertices: −M^{1/2} Q Qᵀ M^{-1/2} g; immovable ones: −G_immᵀ R⁻¹ Qᵀ M^{-1/2} g */
            for (int l = 0; l < z.nv; ++l)
                for (int k = 0; k < 3; ++k) grad_x1[3 * z.gv[l] + k] -= (double)(u[3 * l + k] / sqrt(z.invm[l]));
            for (int j = 0; j < q; ++j)
                for (int s = 0; s < 4; ++s) {
                    if (z.row[j].l[s] >= 0) continue;
                    const int id = con[j].v[s];
                    double *g = id >= 0 ? grad_x1 + 3 * id : grad_obs_x1 ? grad_obs_x1 + 3 * (-1 - id) : NULL;
                    if (g)
                        for (int k = 0; k < 3; ++k) g[k] -= (double)(v[j] * z.row[j].w[s] * z.row[j].n[k]);
                }
        }
        zone_free(&z);
        free(A), free(tq), free(work), free(u), free(v), free(W);
        W = NULL;
        if (!ok) goto done;
    }
    rc = 0;
done:
    free(loc);
    return rc;
}

/* ------------------------------------------------------------------ 2. impact zones */

typedef struct {
    double t; /* time of impact; 1 + distance for end proximity */
    int type, proximity, found;
    int v[4];
    double w[4], n[3];
} impact;

static int cmp_impact(const void *pa, const void *pb)
{
    const impact *x = pa, *y = pb;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    if (x->type != y->type) return x->type < y->type ? -1 : 1;
    for (int i = 0; i < 4; ++i)
        if (x->v[i] != y->v[i]) return x->v[i] < y->v[i] ? -1 : 1;
    return 0;
}

/* Impacts of the motion x0 → x (obstacle o0 → o1): crossings, then end proximity, sorted.
 * moved (NULL: a full pass): the cloth vertices whose x changed since the last pass; the
 * previous pass's impacts (*imp, *n_imp on entry) among the other vertices are kept as they
 * are (their inputs did not change) and only the pairs with a moved vertex are tested. */
static int detect_impacts(const cloth_collision *c, broad_phase *bp, const double *x0, const double *x,
                          const cloth_obstacle_mesh *obs, const double *invm, const char *moved, cand_vec *cv,
                          impact **imp, int *cap, int *n_imp)
{
    const double tau = c->opt.projection_thickness, limit = END_PROXIMITY_FRACTION * tau;
    if (broad_gather(bp, c, x0, x, obs, obs ? obs->x0 : NULL, obs ? obs->x1 : NULL, tau, moved, cv)) return -1;
    int kept = 0;
    if (moved)
        for (int i = 0; i < *n_imp; ++i) {
            const impact *h = &(*imp)[i];
            int touched = 0;
            for (int s = 0; s < 4; ++s) touched |= h->v[s] >= 0 && moved[h->v[s]];
            if (!touched) (*imp)[kept++] = *h;
        }
    const int nc = (int)cv->n;
    if (kept + nc > *cap) {
        impact *p = realloc(*imp, (size_t)(kept + nc) * sizeof *p);
        if (!p) return err_set("cloth_collide: out of memory for %d candidate pairs", kept + nc);
        *imp = p, *cap = kept + nc;
    }
    impact *out = *imp + kept;
#pragma omp parallel for schedule(dynamic, 128) if (nc > 4000)
    for (int i = 0; i < nc; ++i) {
        impact *h = &out[i];
        h->found = 0;
        h->type = cv->c[i].type;
        cand_ids(c, obs, &cv->c[i], h->v);
        int movable = 0;
        for (int s = 0; s < 4; ++s) movable |= h->v[s] >= 0 && invm[h->v[s]] > 0;
        if (!movable) continue;
        double p[12], q[12];
        pair_positions(h->v, x0, obs ? obs->x0 : NULL, p);
        pair_positions(h->v, x, obs ? obs->x1 : NULL, q);
        const int ee = is_ee(h->type);
        double t;
        if (ee ? ccol_ee_ccd(p, q, &t, h->w, h->n) : ccol_vf_ccd(p, q, &t, h->w, h->n)) {
            h->t = t, h->proximity = 0, h->found = 1;
            continue;
        }
        int ok;
        const double d = ccol_closest(ee, p, q, h->w, h->n, &ok);
        if (ok && d < limit) h->t = 1 + d, h->proximity = 1, h->found = 1;
    }
    int n = kept;
    for (int i = 0; i < nc; ++i)
        if (out[i].found) (*imp)[n++] = out[i];
    if (n) qsort(*imp, (size_t)n, sizeof **imp, cmp_impact);
    *n_imp = n;
    return 0;
}

static int uf_find(int *parent, int v)
{
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
}

/* The cloth id of the constraint's first free slot. */
static int first_free(const cloth_zone_constraint *k)
{
    for (int s = 0; s < 4; ++s)
        if (k->v[s] >= 0 && k->mass[s] > 0) return k->v[s];
    return -1;
}

int cloth_collide(const cloth_collision *c, const double *x0, const double *x1, const double *mass, const unsigned char *pinned,
                  const cloth_obstacle_mesh *obs, double *x_out, cloth_impact_record *rec, cloth_collide_stats *stats)
{
    static const char *fn = "cloth_collide";
    const int nv = c->n_verts;
    const size_t n3 = 3 * (size_t)nv;
    cloth_collide_stats st;
    memset(&st, 0, sizeof st);
    if (stats) *stats = st;
    if (check_finite(fn, "x0", x0, n3) || check_finite(fn, "x1", x1, n3) || check_finite(fn, "mass", mass, (size_t)nv))
        return -1;
    if (obs && obs->n_verts && (check_finite(fn, "obstacle x0", obs->x0, 3 * (size_t)obs->n_verts) ||
                                check_finite(fn, "obstacle x1", obs->x1, 3 * (size_t)obs->n_verts)))
        return -1;
    if (x_out == x0) return err_set("%s: x_out must not alias x0", fn);
    if (obs && obs->n_verts == 0) obs = NULL;
    const int n_obs = obs ? obs->n_verts : 0;
    const double tau = c->opt.projection_thickness;
    double *x1c = malloc(n3 * sizeof *x1c);
    double *invm = malloc((size_t)nv * sizeof *invm);
    int *parent = malloc((size_t)nv * sizeof *parent), *stamp = malloc((size_t)nv * sizeof *stamp);
    int *loc = malloc((size_t)nv * sizeof *loc), *zone_of = malloc((size_t)nv * sizeof *zone_of);
    int **act = calloc((size_t)nv, sizeof *act), *act_n = calloc((size_t)nv, sizeof *act_n);
    cand_vec cv = {0};
    impact *imp = NULL;
    int imp_cap = 0, n_imp = 0;
    cloth_zone_constraint *con = NULL;
    int n_con = 0, con_cap = 0;
    int *order = NULL, *zstart = NULL, *zroot = NULL, *active = NULL;
    double *xz = NULL;
    char *was_active = NULL, *warm = NULL, *moved = malloc((size_t)nv);
    double *x_prev = malloc(n3 * sizeof *x_prev);
    int rc = -1;
    broad_phase bp;
    if (broad_init(&bp, c, obs)) {
        free(x1c), free(invm), free(parent), free(stamp), free(loc), free(zone_of), free(act), free(act_n);
        free(moved), free(x_prev);
        return -1;
    }
    if (!x1c || !invm || !parent || !stamp || !loc || !zone_of || !act || !act_n || !moved || !x_prev) {
        err_set("%s: out of memory for %d vertices", fn, nv);
        goto done;
    }
    memcpy(x1c, x1, n3 * sizeof *x1c);
    if (x_out != x1) memcpy(x_out, x1, n3 * sizeof *x_out);
    for (int v = 0; v < nv; ++v) {
        invm[v] = mass[v] > 0 && !(pinned && pinned[v]) ? 1 / (double)mass[v] : 0;
        parent[v] = v, stamp[v] = -1, loc[v] = -1, zone_of[v] = -1;
    }
    for (int iter = 0; iter < c->opt.max_iterations; ++iter) {
        if (iter > 0) /* which vertices the last projections moved */
            for (int v = 0; v < nv; ++v)
                moved[v] = memcmp(x_out + 3 * v, x_prev + 3 * v, 3 * sizeof *x_out) != 0;
        if (detect_impacts(c, &bp, x0, x_out, obs, invm, iter > 0 ? moved : NULL, &cv, &imp, &imp_cap, &n_imp))
            goto done;
        memcpy(x_prev, x_out, n3 * sizeof *x_out);
        st.iterations = iter + 1;
        if (n_imp == 0) {
            st.converged = 1;
            break;
        }
        /* independent impacts, earliest first; each a constraint */
        const int first_new = n_con;
        for (int i = 0; i < n_imp; ++i) {
            const impact *h = &imp[i];
            int clash = 0, movable = 0;
            for (int s = 0; s < 4; ++s)
                if (h->v[s] >= 0 && invm[h->v[s]] > 0) clash |= stamp[h->v[s]] == iter, movable = 1;
            if (clash) continue;
            if (!movable) continue; /* never: detect_impacts skips such pairs */
            if (n_con == con_cap) {
                const int cap = 2 * con_cap + 256;
                cloth_zone_constraint *p = realloc(con, (size_t)cap * sizeof *p);
                if (p) con = p;
                char *wa = realloc(was_active, (size_t)cap);
                if (wa) was_active = wa;
                if (!p || !wa) {
                    err_set("%s: out of memory for %d constraints", fn, cap);
                    goto done;
                }
                con_cap = cap;
            }
            was_active[n_con] = 0;
            cloth_zone_constraint *k = &con[n_con++];
            int root = -1;
            for (int s = 0; s < 4; ++s) {
                const int v = h->v[s];
                k->v[s] = v;
                k->w[s] = (double)h->w[s];
                k->mass[s] = v >= 0 && invm[v] > 0 ? mass[v] : 0;
                if (v >= 0 && invm[v] > 0) {
                    stamp[v] = iter;
                    const int rv = uf_find(parent, v);
                    if (root < 0)
                        root = rv;
                    else if (rv != root)
                        parent[rv] = root;
                }
            }
            for (int d = 0; d < 3; ++d) k->n[d] = (double)h->n[d];
            if (h->proximity)
                st.proximities++;
            else
                st.crossings++;
        }
        if (n_con == first_new) continue;
        /* the zones that changed: roots of the new constraints */
        int nz = 0;
        for (int k = first_new; k < n_con; ++k) {
            const int r = uf_find(parent, first_free(&con[k]));
            if (zone_of[r] < 0) zone_of[r] = nz++;
        }
        free(order), free(zstart), free(zroot);
        order = malloc((size_t)n_con * sizeof *order);
        zstart = calloc((size_t)nz + 1, sizeof *zstart);
        zroot = malloc((size_t)nz * sizeof *zroot);
        if (!order || !zstart || !zroot) {
            err_set("%s: out of memory for %d zones", fn, nz);
            goto done;
        }
        for (int k = 0; k < n_con; ++k) {
            const int r = uf_find(parent, first_free(&con[k]));
            if (zone_of[r] >= 0) zstart[zone_of[r] + 1]++, zroot[zone_of[r]] = r;
        }
        for (int z = 0; z < nz; ++z) zstart[z + 1] += zstart[z];
        {
            int *fill = malloc(((size_t)nz + 1) * sizeof *fill);
            if (!fill) {
                err_set("%s: out of memory", fn);
                goto done;
            }
            memcpy(fill, zstart, (size_t)nz * sizeof *fill);
            for (int k = 0; k < n_con; ++k) {
                const int r = uf_find(parent, first_free(&con[k]));
                if (zone_of[r] >= 0) order[fill[zone_of[r]]++] = k;
            }
            free(fill);
        }
        for (int z = 0; z < nz; ++z) {
            const int m = zstart[z + 1] - zstart[z], root = zroot[z];
            zone_problem zp;
            if (zone_setup(&zp, con, order + zstart[z], m, nv, n_obs, x1c, obs ? obs->x1 : NULL, tau, loc)) goto done;
            free(xz), free(active), free(warm);
            xz = malloc((3 * (size_t)zp.nv + 1) * sizeof *xz);
            active = malloc(((size_t)m + 1) * sizeof *active);
            warm = malloc((size_t)m + 1);
            int q = 0;
            double viol = 0;
            if (!xz || !active || !warm) {
                zone_free(&zp);
                err_set("%s: out of memory", fn);
                goto done;
            }
            for (int i = 0; i < m; ++i) warm[i] = was_active[order[zstart[z] + i]];
            if (zone_solve(&zp, tau, warm, xz, active, &q, &viol)) {
                zone_free(&zp);
                err_context("%s: pass %d, a zone of %d constraints", fn, iter + 1, m);
                goto done;
            }
            for (int l = 0; l < zp.nv; ++l)
                for (int k = 0; k < 3; ++k) x_out[3 * zp.gv[l] + k] = (double)xz[3 * l + k];
            zone_free(&zp);
            /* keep the active set (as constraint indices) at the zone's root */
            free(act[root]);
            act[root] = malloc(((size_t)q + 1) * sizeof **act);
            if (!act[root]) {
                err_set("%s: out of memory", fn);
                goto done;
            }
            for (int i = 0; i < m; ++i) was_active[order[zstart[z] + i]] = 0;
            for (int j = 0; j < q; ++j) act[root][j] = order[zstart[z] + active[j]], was_active[act[root][j]] = 1;
            act_n[root] = q;
        }
        for (int z = 0; z < nz; ++z) zone_of[zroot[z]] = -1;
    }
    rc = 0;
    if (!st.converged)
        rc = err_set("%s: impacts remain after %d passes (%d constraints)", fn, c->opt.max_iterations, n_con);
    /* record, statistics */
    int rec_ok = rec && !record_reset(rec, nv, n_obs, (double)tau);
    if (rec && !rec_ok) rc = -1;
    {
        int *zsize = calloc((size_t)nv, sizeof *zsize);
        if (zsize) {
            for (int v = 0; v < nv; ++v)
                if (invm[v] > 0) zsize[uf_find(parent, v)]++;
        }
        for (int v = 0; v < nv; ++v) {
            if (!act[v] || uf_find(parent, v) != v) continue;
            st.zones++;
            st.active += act_n[v];
            if (zsize && zsize[v] > st.largest_zone) st.largest_zone = zsize[v];
            if (rec_ok && record_add_zone(rec, con, act[v], act_n[v])) rc = -1, rec_ok = 0;
        }
        free(zsize);
    }
    for (int k = 0; k < n_con; ++k) {
        double g = -tau;
        for (int s = 0; s < 4; ++s) {
            const int v = con[k].v[s];
            const double *p = v >= 0 ? (con[k].mass[s] > 0 ? x_out : x1c) + 3 * v : obs->x1 + 3 * (-1 - v);
            g += con[k].w[s] * ((double)con[k].n[0] * p[0] + (double)con[k].n[1] * p[1] + (double)con[k].n[2] * p[2]);
        }
        st.max_violation = fmax(st.max_violation, -g);
    }
    if (stats) *stats = st;
done:
    if (act)
        for (int v = 0; v < nv; ++v) free(act[v]);
    free(act), free(act_n);
    free(x1c), free(invm), free(parent), free(stamp), free(loc), free(zone_of);
    free(cv.c), free(imp), free(con), free(order), free(zstart), free(zroot), free(active), free(xz);
    free(was_active), free(warm), free(moved), free(x_prev);
    broad_free(&bp);
    return rc;
}
