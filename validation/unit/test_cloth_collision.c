/* test_cloth_collision.c — cloth collisions (include/phive/cloth_collision.h), float build.
 *
 *   the coplanarity cubic's roots (three simple roots, a double root, degenerate degrees);
 *   continuous detection of vertex–face and edge–edge pairs: the time of impact against an
 *   independent bisection of the signed volume, w and the orientation of n, grazing,
 *   parallel, coplanar and separated motions;
 *   obstacle helpers (icosphere, plane);
 *   proximity constraints of a cloth resting near a plane and of two stacked layers;
 *   impact zones: a 30×30 grid dropped through a sphere and an 11×11 grid folded through
 *   itself, checked with this file's own geometry (closest distances of every
 *   non-adjacent vertex–face and edge–edge pair, segment–triangle intersections from
 *   orientation determinants) and a brute-force continuous check over all pairs; a
 *   collision-free motion returns x1 bit for bit;
 *   errors (NaN, bad indices, sizes).
 * Gradients are in grad_cloth_collision.c (double). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phive/cloth_collision.h"
#include "phive/errors.h"

#include "cloth_collision.h" /* kernels/ */
#include "test_util.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ---- the cubic ------------------------------------------------------------------------------ */

static void test_cubic_roots(void **state)
{
    (void)state;
    double r[5];
    /* (t − 0.2)(t − 0.5)(t − 0.9) = t³ − 1.6t² + 0.73t − 0.09 */
    const double c3[4] = {-0.09, 0.73, -1.6, 1};
    assert_int_equal(ccol_cubic_roots(c3, r), 3);
    assert_true(fabs(r[0] - 0.2) < 1e-12 && fabs(r[1] - 0.5) < 1e-12 && fabs(r[2] - 0.9) < 1e-12);
    /* (t − 0.5)²(t + 1) = t³ − 0.75t + 0.25: the double root */
    const double cd[4] = {0.25, -0.75, 0, 1};
    const int nd = ccol_cubic_roots(cd, r);
    assert_true(nd >= 1);
    int near = 0;
    for (int i = 0; i < nd; ++i) near |= fabs(r[i] - 0.5) < 1e-7;
    assert_true(near);
    /* linear, with a vanishing cubic term */
    const double cl[4] = {0.4, -1, 0, 1e-30};
    assert_int_equal(ccol_cubic_roots(cl, r), 1);
    assert_true(fabs(r[0] - 0.4) < 1e-15);
    /* quadratic (t − 0.25)(t − 0.75) */
    const double cq[4] = {0.1875, -1, 1, 0};
    assert_int_equal(ccol_cubic_roots(cq, r), 2);
    assert_true(fabs(r[0] - 0.25) < 1e-14 && fabs(r[1] - 0.75) < 1e-14);
    /* no root in [0, 1], constants, identically zero */
    const double cn[4] = {1, 0, 1, 0}, cc[4] = {2, 0, 0, 0}, cz[4] = {0, 0, 0, 0}, co[4] = {-3, 1, 0, 0};
    assert_int_equal(ccol_cubic_roots(cn, r), 0);
    assert_int_equal(ccol_cubic_roots(cc, r), 0);
    assert_int_equal(ccol_cubic_roots(cz, r), 0);
    assert_int_equal(ccol_cubic_roots(co, r), 0);
    /* roots at the ends */
    const double ce[4] = {0, 1, -1, 0}; /* t(1 − t) */
    assert_int_equal(ccol_cubic_roots(ce, r), 2);
    assert_true(r[0] == 0 && r[1] == 1);
}

/* ---- continuous detection ----------------------------------------------------------------- */

/* Signed volume of the pair at time t (independent of the cubic's coefficients). */
static double volume_at(const double *p, const double *q, double t)
{
    double x[12], a[3], b[3], c[3], bc[3];
    for (int k = 0; k < 12; ++k) x[k] = p[k] + t * (q[k] - p[k]);
    for (int k = 0; k < 3; ++k) a[k] = x[3 + k] - x[k], b[k] = x[6 + k] - x[k], c[k] = x[9 + k] - x[k];
    bc[0] = b[1] * c[2] - b[2] * c[1], bc[1] = b[2] * c[0] - b[0] * c[2], bc[2] = b[0] * c[1] - b[1] * c[0];
    return a[0] * bc[0] + a[1] * bc[1] + a[2] * bc[2];
}

/* The first sign change of the volume on a fine sampling, refined by bisection. */
static double first_coplanar_time(const double *p, const double *q)
{
    const int n = 20000;
    double prev = volume_at(p, q, 0);
    for (int i = 1; i <= n; ++i) {
        const double t = (double)i / n, v = volume_at(p, q, t);
        if ((v < 0) != (prev < 0)) {
            double lo = (double)(i - 1) / n, hi = t;
            for (int it = 0; it < 100; ++it) {
                const double mid = 0.5 * (lo + hi);
                if ((volume_at(p, q, mid) < 0) == (prev < 0))
                    lo = mid;
                else
                    hi = mid;
            }
            return 0.5 * (lo + hi);
        }
        prev = v;
    }
    return -1;
}

static void test_ccd_vertex_face(void **state)
{
    (void)state;
    double t, w[4], n[3];
    /* a vertex falling through a static triangle at t = 0.5 */
    const double p[12] = {0.25, 0.25, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0};
    double q[12];
    memcpy(q, p, sizeof q);
    q[2] = -1;
    assert_int_equal(ccol_vf_ccd(p, q, &t, w, n), 1);
    assert_true(fabs(t - 0.5) < 1e-14);
    assert_true(w[0] == 1 && fabs(w[1] + 0.5) < 1e-14 && fabs(w[2] + 0.25) < 1e-14 && fabs(w[3] + 0.25) < 1e-14);
    assert_true(fabs(n[2] - 1) < 1e-14); /* it came from above: n points up */
    /* from below: n points down */
    double pb[12], qb[12];
    memcpy(pb, q, sizeof pb);
    memcpy(qb, p, sizeof qb);
    assert_int_equal(ccol_vf_ccd(pb, qb, &t, w, n), 1);
    assert_true(fabs(n[2] + 1) < 1e-14);
    /* everything moving: the triangle tilts and rises, the vertex falls and drifts (a true cubic) */
    const double pm[12] = {0.3, 0.2, 0.8, -0.1, 0, -0.2, 1.1, 0.1, 0, 0, 1, 0.1};
    const double qm[12] = {0.2, 0.3, -0.5, 0, -0.1, 0.6, 1, 0, 0.2, 0.1, 1.2, 0.3};
    double cm[4];
    ccol_coplanarity_cubic(pm, qm, cm);
    assert_true(fabs(cm[3]) > 1e-3 && fabs(cm[2]) > 1e-3);
    const double tref = first_coplanar_time(pm, qm);
    assert_int_equal(ccol_vf_ccd(pm, qm, &t, w, n), 1);
    printf("moving vertex-face: t = %.15f, bisection of the volume %.15f\n", t, tref);
    assert_true(fabs(t - tref) < 1e-9);
    /* passes beside the triangle (x + y > 1): no impact */
    double ps[12], qs[12];
    memcpy(ps, p, sizeof ps), memcpy(qs, q, sizeof qs);
    ps[0] = qs[0] = 0.8, ps[1] = qs[1] = 0.8;
    assert_int_equal(ccol_vf_ccd(ps, qs, &t, w, n), 0);
    /* moving parallel to the plane above it: no impact */
    memcpy(qs, p, sizeof qs);
    qs[0] = 0.6, qs[1] = 0.1, qs[2] = 1;
    assert_int_equal(ccol_vf_ccd(p, qs, &t, w, n), 0);
    /* through the triangle's edge exactly (grazing the boundary): an impact with b on the edge */
    memcpy(ps, p, sizeof ps), memcpy(qs, q, sizeof qs);
    ps[0] = qs[0] = 0.5, ps[1] = qs[1] = 0;
    assert_int_equal(ccol_vf_ccd(ps, qs, &t, w, n), 1);
    assert_true(fabs(w[3]) < 1e-14 && fabs(w[1] + 0.5) < 1e-14);
    /* 1e-3 outside the edge: none */
    ps[1] = qs[1] = -1e-3;
    assert_int_equal(ccol_vf_ccd(ps, qs, &t, w, n), 0);
    /* sliding in the triangle's plane (always coplanar, f ≡ 0): not a crossing; end proximity
     * handles a vertex that ends inside */
    memcpy(ps, p, sizeof ps), memcpy(qs, p, sizeof qs);
    ps[0] = -0.5, ps[1] = 0.25, ps[2] = 0, qs[0] = 0.25, qs[1] = 0.25, qs[2] = 0;
    assert_int_equal(ccol_vf_ccd(ps, qs, &t, w, n), 0);
    /* a vertex that only touches the plane at the end of the step (root at t = 1) */
    memcpy(qs, q, sizeof qs);
    qs[2] = 0;
    assert_int_equal(ccol_vf_ccd(p, qs, &t, w, n), 1);
    assert_true(t == 1);
}

static void test_ccd_edge_edge(void **state)
{
    (void)state;
    double t, w[4], n[3];
    /* edge a along y at x = 0.2 falls from z = 1 to z = −1 through edge b along x at y = −0.4 */
    const double p[12] = {0.2, -1, 1, 0.2, 1, 1, -1, -0.4, 0, 1, -0.4, 0};
    double q[12];
    memcpy(q, p, sizeof q);
    q[2] = q[5] = -1;
    assert_int_equal(ccol_ee_ccd(p, q, &t, w, n), 1);
    assert_true(fabs(t - 0.5) < 1e-14);
    /* s = 0.3 along a, u = 0.6 along b */
    assert_true(fabs(w[0] - 0.7) < 1e-14 && fabs(w[1] - 0.3) < 1e-14 && fabs(w[2] + 0.4) < 1e-14 &&
                fabs(w[3] + 0.6) < 1e-14);
    assert_true(fabs(fabs(n[2]) - 1) < 1e-14 && n[2] > 0);
    /* beside edge b (x = 1.5): none */
    double ps[12], qs[12];
    memcpy(ps, p, sizeof ps), memcpy(qs, q, sizeof qs);
    ps[0] = ps[3] = qs[0] = qs[3] = 1.5;
    assert_int_equal(ccol_ee_ccd(ps, qs, &t, w, n), 0);
    /* parallel edges passing through each other: no edge–edge normal (the vertex–face tests of
     * their end points see such motions) */
    memcpy(ps, p, sizeof ps), memcpy(qs, q, sizeof qs);
    ps[0] = -1, ps[1] = -0.3, ps[3] = 1, ps[4] = -0.3, qs[0] = -1, qs[1] = -0.3, qs[3] = 1, qs[4] = -0.3;
    assert_int_equal(ccol_ee_ccd(ps, qs, &t, w, n), 0);
    /* both edges moving and turning: the time against the volume's bisection */
    const double pm[12] = {0.1, -0.9, 0.7, 0.3, 1.1, 0.9, -1, -0.3, -0.1, 1.2, -0.5, 0.2};
    const double qm[12] = {0, -1, -0.6, 0.4, 0.9, -0.2, -0.9, -0.2, 0.3, 1, -0.4, 0.1};
    const double tref = first_coplanar_time(pm, qm);
    assert_int_equal(ccol_ee_ccd(pm, qm, &t, w, n), 1);
    printf("moving edge-edge: t = %.15f, bisection of the volume %.15f\n", t, tref);
    assert_true(fabs(t - tref) < 1e-9);
    /* separated motion: a above b the whole time */
    memcpy(qs, p, sizeof qs);
    qs[2] = qs[5] = 0.1;
    assert_int_equal(ccol_ee_ccd(p, qs, &t, w, n), 0);
}

/* ---- obstacles ---------------------------------------------------------------------------- */

static void test_obstacles(void **state)
{
    (void)state;
    cloth_obstacle_mesh s, pl;
    const double c[3] = {0.1f, -0.2f, 0.3f}, nrm[3] = {0, 0, 2};
    assert_int_equal(cloth_obstacle_mesh_sphere(&s, c, 0.5f, 2), 0);
    assert_int_equal(s.n_faces, 320);
    assert_int_equal(s.n_verts, 162);
    assert_int_equal(s.n_edges, 480);
    double area = 0;
    for (int i = 0; i < s.n_verts; ++i) {
        double d2 = 0;
        for (int k = 0; k < 3; ++k) d2 += (s.x0[3 * i + k] - c[k]) * (s.x0[3 * i + k] - c[k]);
        assert_true(fabs(sqrt(d2) - 0.5) < 1e-6);
    }
    for (int f = 0; f < s.n_faces; ++f) {
        double p[9], e0[3], e1[3], cr[3], cen[3];
        for (int k = 0; k < 9; ++k) p[k] = s.x0[3 * s.faces[3 * f + k / 3] + k % 3];
        cloth_sub3(p + 3, p, e0);
        cloth_sub3(p + 6, p, e1);
        cloth_cross3(e0, e1, cr);
        for (int k = 0; k < 3; ++k) cen[k] = (p[k] + p[3 + k] + p[6 + k]) / 3 - c[k];
        assert_true(cloth_dot3(cr, cen) > 0); /* outward */
        area += s.face_area[f];
    }
    printf("icosphere (2 subdivisions): area %.5f vs sphere %.5f\n", area, 4 * M_PI * 0.25);
    assert_true(area < 4 * M_PI * 0.25 && area > 0.95 * 4 * M_PI * 0.25);
    assert_int_equal(cloth_obstacle_mesh_plane(&pl, c, nrm, 2), 0);
    assert_int_equal(pl.n_faces, 2);
    assert_int_equal(pl.n_edges, 5);
    for (int f = 0; f < 2; ++f) {
        double p[9], e0[3], e1[3], cr[3];
        for (int k = 0; k < 9; ++k) p[k] = pl.x0[3 * pl.faces[3 * f + k / 3] + k % 3];
        cloth_sub3(p + 3, p, e0);
        cloth_sub3(p + 6, p, e1);
        cloth_cross3(e0, e1, cr);
        assert_true(cr[2] > 0 && fabs(cr[0]) < 1e-6 && fabs(cr[1]) < 1e-6);
        assert_true(fabs(pl.face_area[f] - 8) < 1e-5);
    }
    assert_int_equal(cloth_obstacle_mesh_append(&s, &pl), 0);
    assert_int_equal(s.n_verts, 166);
    assert_int_equal(s.n_faces, 322);
    assert_int_equal(s.faces[3 * 320], 162);
    cloth_obstacle_mesh_free(&pl);
    cloth_obstacle_mesh_free(&s);
    assert_int_equal(cloth_obstacle_mesh_sphere(&s, c, 0.5f, 9), -1);
    assert_error_contains("subdivisions");
    assert_int_equal(cloth_obstacle_mesh_plane(&pl, c, c + 0, -1), -1);
}

/* ---- grids and this file's own geometry ---------------------------------------------------- */

typedef struct {
    int nv, nf, ne;
    int *faces, *edges;
} topo;

static int cmp_pair(const void *a, const void *b)
{
    const int *x = a, *y = b;
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

static void topo_edges(topo *t)
{
    int *e = malloc(6 * (size_t)t->nf * sizeof *e);
    assert_non_null(e);
    for (int f = 0; f < t->nf; ++f)
        for (int k = 0; k < 3; ++k) {
            const int a = t->faces[3 * f + k], b = t->faces[3 * f + (k + 1) % 3];
            e[6 * f + 2 * k] = a < b ? a : b, e[6 * f + 2 * k + 1] = a < b ? b : a;
        }
    qsort(e, 3 * (size_t)t->nf, 2 * sizeof *e, cmp_pair);
    int n = 0;
    for (int i = 0; i < 3 * t->nf; ++i)
        if (i == 0 || e[2 * i] != e[2 * n - 2] || e[2 * i + 1] != e[2 * n - 1])
            e[2 * n] = e[2 * i], e[2 * n + 1] = e[2 * i + 1], ++n;
    t->edges = e, t->ne = n;
}

/* N×N vertices, index j·N + i, quads split along (i, j)–(i+1, j+1). */
static topo grid_topo(int N)
{
    topo t = {N * N, 2 * (N - 1) * (N - 1), 0, NULL, NULL};
    t.faces = malloc(3 * (size_t)t.nf * sizeof *t.faces);
    assert_non_null(t.faces);
    int f = 0;
    for (int j = 0; j + 1 < N; ++j)
        for (int i = 0; i + 1 < N; ++i) {
            const int a = j * N + i, b = a + 1, c = a + N + 1, d = a + N;
            t.faces[3 * f] = a, t.faces[3 * f + 1] = b, t.faces[3 * f + 2] = c, ++f;
            t.faces[3 * f] = a, t.faces[3 * f + 1] = c, t.faces[3 * f + 2] = d, ++f;
        }
    topo_edges(&t);
    return t;
}

static void topo_free(topo *t) { free(t->faces), free(t->edges); }

static void load3(const double *x, int i, double *p)
{
    for (int k = 0; k < 3; ++k) p[k] = x[3 * i + k];
}

static double sq3(const double *a) { return a[0] * a[0] + a[1] * a[1] + a[2] * a[2]; }

static double point_segment2(const double *p, const double *a, const double *b)
{
    double ab[3], ap[3];
    cloth_sub3(b, a, ab), cloth_sub3(p, a, ap);
    const double den = sq3(ab);
    double t = den > 0 ? cloth_dot3(ap, ab) / den : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double d[3];
    for (int k = 0; k < 3; ++k) d[k] = p[k] - (a[k] + t * ab[k]);
    return sq3(d);
}

/* Squared distance of p to the triangle: the plane when the projection is inside, else the edges. */
static double point_triangle2(const double *p, const double *a, const double *b, const double *c)
{
    double ab[3], ac[3], n[3];
    cloth_sub3(b, a, ab), cloth_sub3(c, a, ac);
    cloth_cross3(ab, ac, n);
    const double nn = sq3(n);
    if (nn > 0) {
        double ap[3], pr[3];
        cloth_sub3(p, a, ap);
        const double h = cloth_dot3(ap, n) / nn;
        for (int k = 0; k < 3; ++k) pr[k] = p[k] - h * n[k];
        const double *v[3] = {a, b, c};
        int inside = 1;
        for (int e = 0; e < 3; ++e) {
            double ed[3], r[3], cr[3];
            cloth_sub3(v[(e + 1) % 3], v[e], ed), cloth_sub3(pr, v[e], r);
            cloth_cross3(ed, r, cr);
            inside &= cloth_dot3(cr, n) >= 0;
        }
        if (inside) return h * h * nn;
    }
    return fmin(point_segment2(p, a, b), fmin(point_segment2(p, b, c), point_segment2(p, c, a)));
}

/* Squared distance of two segments: the lines' closest points when inside both, else the
 * end points against the other segment. */
static double segment_segment2(const double *p0, const double *p1, const double *q0, const double *q1)
{
    double best = fmin(fmin(point_segment2(p0, q0, q1), point_segment2(p1, q0, q1)),
                       fmin(point_segment2(q0, p0, p1), point_segment2(q1, p0, p1)));
    double d1[3], d2[3], r[3];
    cloth_sub3(p1, p0, d1), cloth_sub3(q1, q0, d2), cloth_sub3(p0, q0, r);
    const double a = sq3(d1), e = sq3(d2), b = cloth_dot3(d1, d2), c = cloth_dot3(d1, r), f = cloth_dot3(d2, r);
    const double den = a * e - b * b;
    if (den > 1e-14 * a * e) {
        const double s = (b * f - c * e) / den, u = (a * f - b * c) / den;
        if (s >= 0 && s <= 1 && u >= 0 && u <= 1) {
            double d[3];
            for (int k = 0; k < 3; ++k) d[k] = r[k] + s * d1[k] - u * d2[k];
            best = fmin(best, sq3(d));
        }
    }
    return best;
}

static double orient(const double *a, const double *b, const double *c, const double *d)
{
    double ab[3], ac[3], ad[3], cr[3];
    cloth_sub3(b, a, ab), cloth_sub3(c, a, ac), cloth_sub3(d, a, ad);
    cloth_cross3(ab, ac, cr);
    return cloth_dot3(cr, ad);
}

/* Whether segment pq meets triangle abc (orientation determinants; touching counts). */
static int segment_hits_triangle(const double *p, const double *q, const double *a, const double *b, const double *c)
{
    const double dp = orient(a, b, c, p), dq = orient(a, b, c, q);
    if ((dp > 0 && dq > 0) || (dp < 0 && dq < 0) || (dp == 0 && dq == 0)) return 0;
    const double s1 = orient(p, q, a, b), s2 = orient(p, q, b, c), s3 = orient(p, q, c, a);
    return (s1 >= 0 && s2 >= 0 && s3 >= 0) || (s1 <= 0 && s2 <= 0 && s3 <= 0);
}

typedef struct {
    double min_dist;   /* over non-adjacent vertex–face and edge–edge pairs (cloth–cloth, cloth–obstacle) */
    int intersections; /* edge–triangle intersections at x */
    int crossings;     /* pairs that cross during x0 → x (brute-force continuous check) */
} geometry;

static int shares(const int *a, int na, const int *b, int nb)
{
    for (int i = 0; i < na; ++i)
        for (int j = 0; j < nb; ++j)
            if (a[i] == b[j]) return 1;
    return 0;
}

typedef struct {
    double lo[3], hi[3];
} tbox;

static tbox box_of(const double *xa, const double *xb, const int *ids, int n, double margin)
{
    tbox b;
    for (int k = 0; k < 3; ++k) b.lo[k] = INFINITY, b.hi[k] = -INFINITY;
    for (int i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) {
            b.lo[k] = fmin(b.lo[k], fmin(xa[3 * ids[i] + k], xb[3 * ids[i] + k]));
            b.hi[k] = fmax(b.hi[k], fmax(xa[3 * ids[i] + k], xb[3 * ids[i] + k]));
        }
    for (int k = 0; k < 3; ++k) b.lo[k] -= margin, b.hi[k] += margin;
    return b;
}

static int tbox_overlap(const tbox *a, const tbox *b)
{
    for (int k = 0; k < 3; ++k)
        if (a->lo[k] > b->hi[k] || b->lo[k] > a->hi[k]) return 0;
    return 1;
}

/* Feature sets: kind 0 vertices, 1 edges, 2 faces of a mesh (cloth or obstacle). */
typedef struct {
    const int *idx;
    int per, count;
    const double *x0, *x; /* start and end positions */
    int obstacle;
} features;

static void pair_check(const features *A, const features *B, int same_mesh, geometry *g)
{
    tbox *ba = malloc(((size_t)A->count + 1) * sizeof *ba), *bb = malloc(((size_t)B->count + 1) * sizeof *bb);
    assert_true(ba && bb);
    for (int i = 0; i < A->count; ++i) {
        int ids[3];
        for (int k = 0; k < A->per; ++k) ids[k] = A->idx ? A->idx[A->per * i + k] : i;
        ba[i] = box_of(A->x0, A->x, ids, A->per, 1e-3);
    }
    for (int i = 0; i < B->count; ++i) {
        int ids[3];
        for (int k = 0; k < B->per; ++k) ids[k] = B->idx ? B->idx[B->per * i + k] : i;
        bb[i] = box_of(B->x0, B->x, ids, B->per, 1e-3);
    }
    for (int i = 0; i < A->count; ++i)
        for (int j = 0; j < B->count; ++j) {
            if (!tbox_overlap(&ba[i], &bb[j])) continue;
            int ia[3], ib[3];
            for (int k = 0; k < A->per; ++k) ia[k] = A->idx ? A->idx[A->per * i + k] : i;
            for (int k = 0; k < B->per; ++k) ib[k] = B->idx ? B->idx[B->per * j + k] : j;
            if (same_mesh && (shares(ia, A->per, ib, B->per) || (A->per == B->per && j <= i))) continue;
            double pa[9], pb[9], sa[9], sb[9];
            for (int k = 0; k < A->per; ++k) load3(A->x, ia[k], pa + 3 * k), load3(A->x0, ia[k], sa + 3 * k);
            for (int k = 0; k < B->per; ++k) load3(B->x, ib[k], pb + 3 * k), load3(B->x0, ib[k], sb + 3 * k);
            double d2 = INFINITY;
            double P[12], Q[12];
            int ccd = 0;
            double t, w[4], n[3];
            if (A->per == 1 && B->per == 3) {
                d2 = point_triangle2(pa, pb, pb + 3, pb + 6);
                memcpy(P, sa, 3 * sizeof(double)), memcpy(P + 3, sb, 9 * sizeof(double));
                memcpy(Q, pa, 3 * sizeof(double)), memcpy(Q + 3, pb, 9 * sizeof(double));
                ccd = ccol_vf_ccd(P, Q, &t, w, n);
            } else if (A->per == 2 && B->per == 2) {
                d2 = segment_segment2(pa, pa + 3, pb, pb + 3);
                memcpy(P, sa, 6 * sizeof(double)), memcpy(P + 6, sb, 6 * sizeof(double));
                memcpy(Q, pa, 6 * sizeof(double)), memcpy(Q + 6, pb, 6 * sizeof(double));
                ccd = ccol_ee_ccd(P, Q, &t, w, n);
            } else if (A->per == 2 && B->per == 3) {
                g->intersections += segment_hits_triangle(pa, pa + 3, pb, pb + 3, pb + 6);
                continue;
            }
            g->min_dist = fmin(g->min_dist, sqrt(d2));
            g->crossings += ccd;
        }
    free(ba), free(bb);
}

static geometry check_geometry(const topo *t, const double *x0, const double *x, const cloth_obstacle_mesh *o)
{
    geometry g = {INFINITY, 0, 0};
    const features cv = {NULL, 1, t->nv, x0, x, 0}, ce = {t->edges, 2, t->ne, x0, x, 0},
                   cf = {t->faces, 3, t->nf, x0, x, 0};
    pair_check(&cv, &cf, 1, &g);
    pair_check(&ce, &ce, 1, &g);
    pair_check(&ce, &cf, 1, &g);
    if (o) {
        const features ov = {NULL, 1, o->n_verts, o->x0, o->x1, 1}, oe = {o->edges, 2, o->n_edges, o->x0, o->x1, 1},
                       of = {o->faces, 3, o->n_faces, o->x0, o->x1, 1};
        pair_check(&cv, &of, 0, &g);
        pair_check(&ov, &cf, 0, &g);
        pair_check(&ce, &oe, 0, &g);
        pair_check(&ce, &of, 0, &g);
        pair_check(&oe, &cf, 0, &g);
    }
    return g;
}

/* ---- impact zones ------------------------------------------------------------------------- */

static void print_stats(const char *what, const cloth_collide_stats *s, double ms)
{
    printf("%s: %.1f ms, %d passes, %d crossings + %d proximities, %d zones (largest %d vertices), %d active, "
           "max violation %.3g, converged %d\n",
           what, ms, s->iterations, s->crossings, s->proximities, s->zones, s->largest_zone, s->active,
           s->max_violation, s->converged);
}

static void test_sphere_drop(void **state)
{
    (void)state;
    const int N = 30;
    topo t = grid_topo(N);
    double *x0 = malloc(3 * (size_t)t.nv * sizeof *x0), *x1 = malloc(3 * (size_t)t.nv * sizeof *x1);
    double *x = malloc(3 * (size_t)t.nv * sizeof *x), *m = malloc((size_t)t.nv * sizeof *m);
    assert_true(x0 && x1 && x && m);
    for (int j = 0; j < N; ++j)
        for (int i = 0; i < N; ++i) {
            const int v = j * N + i;
            x0[3 * v] = (double)(-0.5 + i / (N - 1.0)), x0[3 * v + 1] = (double)(-0.5 + j / (N - 1.0)), x0[3 * v + 2] = 0.32f;
            x1[3 * v] = x0[3 * v], x1[3 * v + 1] = x0[3 * v + 1], x1[3 * v + 2] = 0.25f; /* 5 cm into the sphere */
            m[v] = 1e-3f;
        }
    cloth_obstacle_mesh sphere;
    const double c[3] = {0, 0, 0};
    assert_int_equal(cloth_obstacle_mesh_sphere(&sphere, c, 0.3f, 3), 0);
    cloth_collision *col;
    assert_int_equal(cloth_collision_create(&col, t.nv, t.nf, t.faces, NULL, NULL), 0);
    cloth_impact_record rec = {0};
    cloth_collide_stats st;
    /* before: many crossings */
    const geometry before = check_geometry(&t, x0, x1, &sphere);
    printf("before: %d crossings, %d edge-triangle intersections\n", before.crossings, before.intersections);
    assert_true(before.crossings > 100 && before.intersections > 10);
    const double t0 = now();
    const int rc = cloth_collide(col, x0, x1, m, NULL, &sphere, x, &rec, &st);
    const double ms = 1e3 * (now() - t0);
    if (rc) fail_msg("%s", err_message());
    print_stats("cloth_collide 30x30 grid onto an icosphere (1280 faces)", &st, ms);
    assert_true(st.converged && st.zones > 0 && rec.n_zones == st.zones);
    const geometry g = check_geometry(&t, x0, x, &sphere);
    const double tau = 1e-4;
    printf("after: min distance %.4g (thickness %.3g), %d intersections, %d crossings\n", g.min_dist, tau,
           g.intersections, g.crossings);
    assert_true(g.min_dist >= 0.98 * tau);
    assert_int_equal(g.intersections, 0);
    assert_int_equal(g.crossings, 0);
    /* vertices that never came near the sphere keep x1 bit for bit */
    int far = 0;
    for (int v = 0; v < t.nv; ++v)
        if (hypot(x1[3 * v], x1[3 * v + 1]) > 0.3) {
            ++far;
            assert_memory_equal(x + 3 * v, x1 + 3 * v, 3 * sizeof(double));
        }
    assert_true(far > 100);
    /* in place (x_out = x1) gives the same result */
    double *y = malloc(3 * (size_t)t.nv * sizeof *y);
    assert_non_null(y);
    memcpy(y, x1, 3 * (size_t)t.nv * sizeof *y);
    assert_int_equal(cloth_collide(col, x0, y, m, NULL, &sphere, y, NULL, NULL), 0);
    assert_memory_equal(y, x, 3 * (size_t)t.nv * sizeof *y);
    free(y);
    cloth_impact_record_free(&rec);
    cloth_collision_free(col);
    cloth_obstacle_mesh_free(&sphere);
    free(x0), free(x1), free(x), free(m);
    topo_free(&t);
}

/* An N×N grid, the columns right of the middle turned about the crease x = 0 by angle phi
 * from the left half (phi = 0: folded flat onto it, from above for phi > 0). */
static void fold_positions(int N, double h, double phi, double *x)
{
    const int ic = N / 2;
    for (int j = 0; j < N; ++j)
        for (int i = 0; i < N; ++i) {
            const int v = j * N + i;
            const double r = (i - ic) * h;
            x[3 * v + 1] = (double)(j * h);
            if (i <= ic)
                x[3 * v] = (double)r, x[3 * v + 2] = 0;
            else
                x[3 * v] = (double)(-r * cos(phi)), x[3 * v + 2] = (double)(r * sin(phi));
        }
}

static void test_self_fold(void **state)
{
    (void)state;
    const int N = 11;
    const double h = 0.05;
    topo t = grid_topo(N);
    double *x0 = malloc(3 * (size_t)t.nv * sizeof *x0), *x1 = malloc(3 * (size_t)t.nv * sizeof *x1);
    double *x = malloc(3 * (size_t)t.nv * sizeof *x), *m = malloc((size_t)t.nv * sizeof *m);
    assert_true(x0 && x1 && x && m);
    fold_positions(N, h, 30 * M_PI / 180, x0);
    fold_positions(N, h, -20 * M_PI / 180, x1); /* the right half has gone through the left */
    for (int v = 0; v < t.nv; ++v) m[v] = (double)(1e-3 * (1 + 0.5 * ((v * 7) % 5) / 4.0)); /* unequal masses */
    cloth_collision *col;
    assert_int_equal(cloth_collision_create(&col, t.nv, t.nf, t.faces, NULL, NULL), 0);
    const geometry before = check_geometry(&t, x0, x1, NULL);
    /* the right half ends wholly below the left one: crossings, but hardly an intersection */
    printf("before: %d crossings, %d edge-triangle intersections\n", before.crossings, before.intersections);
    assert_true(before.crossings > 50);
    cloth_impact_record rec = {0};
    cloth_collide_stats st;
    const double t0 = now();
    const int rc = cloth_collide(col, x0, x1, m, NULL, NULL, x, &rec, &st);
    const double ms = 1e3 * (now() - t0);
    if (rc) fail_msg("%s", err_message());
    print_stats("cloth_collide 11x11 self-fold", &st, ms);
    assert_true(st.converged);
    const geometry g = check_geometry(&t, x0, x, NULL);
    const double tau = 1e-4;
    printf("after: min distance %.4g (thickness %.3g), %d intersections, %d crossings\n", g.min_dist, tau,
           g.intersections, g.crossings);
    assert_true(g.min_dist >= 0.98 * tau);
    assert_int_equal(g.intersections, 0);
    assert_int_equal(g.crossings, 0);
    /* the right half now lies on top (both halves gave way, by their masses) */
    double z_right = 0, z_left = 0;
    for (int j = 0; j < N; ++j)
        for (int i = 1; i <= 4; ++i) z_right += x[3 * (j * N + N / 2 + i) + 2], z_left += x[3 * (j * N + N / 2 - i) + 2];
    printf("mean height of the right half %.4g, of the left half %.4g\n", z_right / (4 * N), z_left / (4 * N));
    assert_true(z_right > z_left);
    /* a pinned column under the folding half cannot move: the rest gives way */
    unsigned char *pin = calloc((size_t)t.nv, 1);
    assert_non_null(pin);
    for (int j = 0; j < N; ++j) pin[j * N + 2] = 1;
    const double t1 = now();
    if (cloth_collide(col, x0, x1, m, pin, NULL, x, NULL, &st)) fail_msg("%s", err_message());
    print_stats("the same with a pinned column", &st, 1e3 * (now() - t1));
    for (int j = 0; j < N; ++j) assert_memory_equal(x + 3 * (j * N + 2), x1 + 3 * (j * N + 2), 3 * sizeof(double));
    const geometry gp = check_geometry(&t, x0, x, NULL);
    assert_true(gp.min_dist >= 0.98 * tau && gp.intersections == 0 && gp.crossings == 0);
    free(pin);
    /* without self-collisions nothing is done */
    cloth_collision *noself;
    cloth_collision_options o;
    cloth_collision_options_init(&o);
    o.self_collisions = 0;
    assert_int_equal(cloth_collision_create(&noself, t.nv, t.nf, t.faces, NULL, &o), 0);
    assert_int_equal(cloth_collide(noself, x0, x1, m, NULL, NULL, x, NULL, &st), 0);
    assert_memory_equal(x, x1, 3 * (size_t)t.nv * sizeof *x);
    cloth_collision_free(noself);
    cloth_impact_record_free(&rec);
    cloth_collision_free(col);
    free(x0), free(x1), free(x), free(m);
    topo_free(&t);
}

static void test_no_collision_bit_exact(void **state)
{
    (void)state;
    const int N = 20;
    topo t = grid_topo(N);
    double *x0 = malloc(3 * (size_t)t.nv * sizeof *x0), *x1 = malloc(3 * (size_t)t.nv * sizeof *x1);
    double *x = malloc(3 * (size_t)t.nv * sizeof *x), *m = malloc((size_t)t.nv * sizeof *m);
    assert_true(x0 && x1 && x && m);
    for (int j = 0; j < N; ++j)
        for (int i = 0; i < N; ++i) {
            const int v = j * N + i;
            const double u = i / (N - 1.0), w = j / (N - 1.0);
            x0[3 * v] = (double)u, x0[3 * v + 1] = (double)w, x0[3 * v + 2] = 1;
            x1[3 * v] = (double)(u + 0.013), x1[3 * v + 1] = (double)(w - 0.007);
            x1[3 * v + 2] = (double)(1 - 0.02 + 0.01 * sin(3 * u) * cos(2 * w)); /* a gentle wave */
            m[v] = 1e-3f;
        }
    cloth_obstacle_mesh sphere;
    const double c[3] = {0.5f, 0.5f, 0};
    assert_int_equal(cloth_obstacle_mesh_sphere(&sphere, c, 0.5f, 2), 0);
    cloth_collision *col;
    assert_int_equal(cloth_collision_create(&col, t.nv, t.nf, t.faces, NULL, NULL), 0);
    cloth_impact_record rec = {0};
    cloth_collide_stats st;
    memset(x, 0xff, 3 * (size_t)t.nv * sizeof *x);
    assert_int_equal(cloth_collide(col, x0, x1, m, NULL, &sphere, x, &rec, &st), 0);
    assert_memory_equal(x, x1, 3 * (size_t)t.nv * sizeof *x);
    assert_int_equal(st.iterations, 1);
    assert_int_equal(st.zones, 0);
    assert_int_equal(rec.n_zones, 0);
    /* the backward passes the gradient through */
    double *g = malloc(3 * (size_t)t.nv * sizeof *g), *gx = calloc(3 * (size_t)t.nv, sizeof *gx);
    assert_true(g && gx);
    for (int i = 0; i < 3 * t.nv; ++i) g[i] = (double)(0.1 * (i % 7) - 0.3), gx[i] = 1;
    assert_int_equal(cloth_collide_backward(&rec, g, gx, NULL), 0);
    for (int i = 0; i < 3 * t.nv; ++i) assert_true(gx[i] == 1 + g[i]);
    free(g), free(gx);
    cloth_impact_record_free(&rec);
    cloth_collision_free(col);
    cloth_obstacle_mesh_free(&sphere);
    free(x0), free(x1), free(x), free(m);
    topo_free(&t);
}

/* ---- proximity ---------------------------------------------------------------------------- */

static void test_proximity(void **state)
{
    (void)state;
    /* a 5×5 cloth 2 mm above a plane, and a second 4×4 layer 3 mm above it, shifted half a cell */
    const int N = 5, M = 4;
    const double h = 0.1;
    topo a = grid_topo(N), b = grid_topo(M);
    const int nv = a.nv + b.nv, nf = a.nf + b.nf;
    int *faces = malloc(3 * (size_t)nf * sizeof *faces);
    double *x = malloc(3 * (size_t)nv * sizeof *x), *area = malloc((size_t)nf * sizeof *area);
    assert_true(faces && x && area);
    memcpy(faces, a.faces, 3 * (size_t)a.nf * sizeof *faces);
    for (int i = 0; i < 3 * b.nf; ++i) faces[3 * a.nf + i] = b.faces[i] + a.nv;
    for (int f = 0; f < nf; ++f) area[f] = (double)(h * h / 2);
    for (int j = 0; j < N; ++j)
        for (int i = 0; i < N; ++i) {
            const int v = j * N + i;
            x[3 * v] = (double)(i * h), x[3 * v + 1] = (double)(j * h), x[3 * v + 2] = 2e-3f;
        }
    for (int j = 0; j < M; ++j)
        for (int i = 0; i < M; ++i) {
            const int v = a.nv + j * M + i;
            x[3 * v] = (double)((i + 0.3) * h), x[3 * v + 1] = (double)((j + 0.4) * h), x[3 * v + 2] = 5e-3f;
        }
    cloth_obstacle_mesh plane;
    const double p0[3] = {1.5f, 1.5f, 0}, nz[3] = {0, 0, 1}; /* its diagonal edge (x + y = 3) far from the cloth */
    assert_int_equal(cloth_obstacle_mesh_plane(&plane, p0, nz, 2), 0);
    cloth_collision *col;
    assert_int_equal(cloth_collision_create(&col, nv, nf, faces, area, NULL), 0);
    cloth_contact_list list = {0};
    assert_int_equal(cloth_proximity_find(col, x, &plane, &list), 0);
    int n_obs = 0, n_self = 0;
    for (int i = 0; i < list.n; ++i) {
        const cloth_contact *ct = &list.c[i];
        const double g = cloth_contact_value(ct, x);
        if (ct->type == CLOTH_PAIR_VF_OBS) {
            /* lower-layer vertex over the plane: n = +z, g = 2 mm − τ */
            ++n_obs;
            assert_true(ct->v[0] < a.nv && ct->v[1] < 0);
            assert_true(fabs(ct->n[2] - 1) < 1e-6);
            assert_true(fabs(g - (2e-3 - 5e-3)) < 1e-6);
            /* ARCSim's stiffness: k · min(vertex area, obstacle face area) */
            const int i0 = ct->v[0] % N, j0 = ct->v[0] / N;
            const int faces_at = (i0 > 0 && j0 > 0 ? 2 : 0) + (i0 < N - 1 && j0 < N - 1 ? 2 : 0) +
                                 (i0 > 0 && j0 < N - 1 ? 1 : 0) + (i0 < N - 1 && j0 > 0 ? 1 : 0);
            assert_true(fabs(ct->stiffness - 1e6 * faces_at * h * h / 6) < 1e-2);
        } else if (ct->type == CLOTH_PAIR_VF || ct->type == CLOTH_PAIR_EE) {
            ++n_self;
            assert_true(fabs(g - (3e-3 - 5e-3)) < 1e-6);
            assert_true(fabs(fabs(ct->n[2]) - 1) < 1e-6);
        } else {
            fail_msg("unexpected contact type %d", ct->type);
        }
    }
    printf("proximity: %d contacts with the plane, %d between the layers\n", n_obs, n_self);
    assert_int_equal(n_obs, a.nv); /* one per lower vertex: the nearest of the two plane faces */
    assert_true(n_self >= b.nv);   /* every upper vertex sees a lower face below it */
    /* the lower layer is pushed down by the upper one and up by the plane */
    double *grad = calloc(3 * (size_t)nv, sizeof *grad);
    assert_non_null(grad);
    const double E = cloth_proximity_energy(&list, x, grad);
    assert_true(E > 0);
    for (int v = a.nv; v < nv; ++v) assert_true(grad[3 * v + 2] <= 0); /* upper layer: force up */
    free(grad);
    /* beyond 2τ nothing is found */
    for (int v = a.nv; v < nv; ++v) x[3 * v + 2] = 0.5f;
    for (int v = 0; v < a.nv; ++v) x[3 * v + 2] = 0.2f;
    assert_int_equal(cloth_proximity_find(col, x, &plane, &list), 0);
    assert_int_equal(list.n, 0);
    cloth_contact_list_free(&list);
    cloth_collision_free(col);
    cloth_obstacle_mesh_free(&plane);
    free(faces), free(x), free(area);
    topo_free(&a), topo_free(&b);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    topo t = grid_topo(3);
    cloth_collision *col;
    int bad[6] = {0, 1, 9, 0, 1, 1};
    assert_int_equal(cloth_collision_create(&col, 9, 1, bad, NULL, NULL), -1);
    assert_error_contains("out of range");
    assert_int_equal(cloth_collision_create(&col, 9, 1, bad + 3, NULL, NULL), -1);
    assert_error_contains("repeats");
    assert_int_equal(cloth_collision_create(&col, 0, 0, NULL, NULL, NULL), -1);
    cloth_collision_options o;
    cloth_collision_options_init(&o);
    o.projection_thickness = -1;
    assert_int_equal(cloth_collision_create(&col, t.nv, t.nf, t.faces, NULL, &o), -1);
    assert_error_contains("projection_thickness");
    assert_int_equal(cloth_collision_create(&col, t.nv, t.nf, t.faces, NULL, NULL), 0);
    double x0[27], x1[27], x[27], m[9];
    for (int i = 0; i < 27; ++i) x0[i] = x1[i] = (double)(i % 3 == 2 ? 0 : (i / 3 % 3) * 0.1 + (i % 3) * 0.05);
    for (int i = 0; i < 9; ++i) m[i] = 1;
    x1[13] = NAN;
    assert_int_equal(cloth_collide(col, x0, x1, m, NULL, NULL, x, NULL, NULL), -1);
    assert_error_mentions("x1[13]", "not finite");
    x1[13] = x0[13];
    m[4] = INFINITY;
    assert_int_equal(cloth_collide(col, x0, x1, m, NULL, NULL, x, NULL, NULL), -1);
    assert_error_contains("mass[4]");
    m[4] = 1;
    assert_int_equal(cloth_collide(col, x0, x1, m, NULL, NULL, x0, NULL, NULL), -1);
    assert_error_contains("alias");
    /* a zone constraint naming a vertex that does not exist */
    cloth_zone_constraint zc = {{0, 1, 2, 99}, {1, -0.3f, -0.3f, -0.4f}, {0, 0, 1}, {1, 1, 1, 1}};
    assert_int_equal(cloth_zone_project(9, 0, 1, &zc, x1, NULL, 1e-3f, x, NULL), -1);
    assert_error_contains("out of range");
    cloth_collision_free(col);
    topo_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cubic_roots),
        cmocka_unit_test(test_ccd_vertex_face),
        cmocka_unit_test(test_ccd_edge_edge),
        cmocka_unit_test(test_obstacles),
        cmocka_unit_test(test_proximity),
        cmocka_unit_test(test_no_collision_bit_exact),
        cmocka_unit_test(test_sphere_drop),
        cmocka_unit_test(test_self_fold),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
