/* cloth_collision.h — per-pair math of the cloth collisions (include/phive/cloth_collision.h
 * has the semantics): the coplanarity cubic and its roots, continuous collision detection
 * of a vertex–face and an edge–edge pair, closest points, ARCSim's proximity tests, and
 * the penalty energy of a contact.
 *
 * Pair layout: 4 points, 12 numbers, p[3·slot + axis]: vertex–face (vertex, face0,
 * face1, face2), edge–edge (a0, a1, b0, b1).  Double precision: the cubic's coefficients
 * are triple products of differences and cancel badly in float.  w[4] are the slot weights with Σ w_i p_i the separation vector
 * (first feature minus second).
 *
 * Valid C and C++ (nvcc): no VLAs, no compound literals.
 */
#ifndef PHIVE_KERNELS_CLOTH_COLLISION_H
#define PHIVE_KERNELS_CLOTH_COLLISION_H

#include "common.h"
#include "phive/cloth_collision.h"
#include "cloth_material.h" /* cloth_dot3, cloth_cross3, cloth_sub3 */

/* Barycentric / edge-parameter slack of the inside tests (ARCSim's 1e-6). */
#define CCOL_INSIDE_TOL 1e-6
/* A coplanarity root counts when the pair's distance there is below this times its size. */
#define CCOL_DISTANCE_TOL 1e-6
/* Edges with |e0 × e1| below this times |e0||e1| are parallel (no edge–edge normal). */
#define CCOL_PARALLEL_TOL 1e-6
/* A critical point of the cubic with |f| below this times Σ|c_i| is a (near-)double root. */
#define CCOL_TANGENT_TOL 1e-12
#define CCOL_SQRT sqrt /* double on host and device */

PHIVE_HD double ccol_abs(double a) { return a < 0 ? -a : a; }
PHIVE_HD double ccol_max(double a, double b) { return a > b ? a : b; }
PHIVE_HD double ccol_min(double a, double b) { return a < b ? a : b; }
PHIVE_HD double ccol_clamp01(double a) { return a < 0 ? 0 : a > 1 ? 1 : a; }

/* Triple product a·(b × c). */
PHIVE_HD double ccol_triple(const double *a, const double *b, const double *c)
{
    double bc[3];
    cloth_cross3(b, c, bc);
    return cloth_dot3(a, bc);
}

/* Σ_i w_i p_i (4 points). */
PHIVE_HD void ccol_combine(const double *p, const double *w, double *out)
{
    for (int a = 0; a < 3; ++a) out[a] = w[0] * p[a] + w[1] * p[3 + a] + w[2] * p[6 + a] + w[3] * p[9 + a];
}

/* Size of a pair: the largest distance of a point from point 0 (start and end). */
PHIVE_HD double ccol_pair_size(const double *p, const double *q)
{
    double s = 0;
    for (int i = 1; i < 4; ++i) {
        double d[3];
        cloth_sub3(p + 3 * i, p, d);
        s = ccol_max(s, cloth_dot3(d, d));
        cloth_sub3(q + 3 * i, q, d);
        s = ccol_max(s, cloth_dot3(d, d));
    }
    return CCOL_SQRT(s);
}

/* ------------------------------------------------------------------ the cubic */

/* f(t) = c[0] + c[1] t + c[2] t² + c[3] t³. */
PHIVE_HD double ccol_cubic_eval(const double *c, double t) { return ((c[3] * t + c[2]) * t + c[1]) * t + c[0]; }

/* Coefficients of det[p1 − p0, p2 − p0, p3 − p0] along p + t(q − p): zero when the four
 * points are coplanar. */
PHIVE_HD void ccol_coplanarity_cubic(const double *p, const double *q, double *c)
{
    double a[3], b[3], d[3], va[3], vb[3], vd[3];
    for (int k = 0; k < 3; ++k) {
        a[k] = p[3 + k] - p[k], b[k] = p[6 + k] - p[k], d[k] = p[9 + k] - p[k];
        va[k] = (q[3 + k] - q[k]) - a[k], vb[k] = (q[6 + k] - q[k]) - b[k], vd[k] = (q[9 + k] - q[k]) - d[k];
    }
    c[0] = ccol_triple(a, b, d);
    c[1] = ccol_triple(va, b, d) + ccol_triple(a, vb, d) + ccol_triple(a, b, vd);
    c[2] = ccol_triple(a, vb, vd) + ccol_triple(va, b, vd) + ccol_triple(va, vb, d);
    c[3] = ccol_triple(va, vb, vd);
}

PHIVE_HD int ccol_insert_sorted(double *t, int n, double v)
{
    for (int i = 0; i < n; ++i)
        if (t[i] == v) return n;
    int i = n;
    while (i > 0 && t[i - 1] > v) t[i] = t[i - 1], --i;
    t[i] = v;
    return n + 1;
}

/* Candidate times in [0, 1] where f vanishes, ascending (at most 5): the sign changes
 * between the critical points (bisection to full precision), exact zeros, and critical
 * points where |f| is within CCOL_TANGENT_TOL·Σ|c_i| of zero (double roots that round
 * to no sign change).  Any degree, near-zero leading coefficients included; f ≡ 0 (the
 * points stay coplanar) gives no isolated root: 0. */
PHIVE_HD int ccol_cubic_roots(const double *c, double *roots)
{
    const double size = ccol_abs(c[0]) + ccol_abs(c[1]) + ccol_abs(c[2]) + ccol_abs(c[3]);
    if (!(size > 0)) return 0;
    /* critical points: f'(t) = c1 + 2c2 t + 3c3 t² */
    double crit[2];
    int nc = 0;
    const double A = 3 * c[3], B = 2 * c[2], C = c[1];
    const double dscale = ccol_abs(A) + ccol_abs(B) + ccol_abs(C);
    if (dscale > 0) {
        if (ccol_abs(A) > 1e-14 * dscale) {
            const double disc = B * B - 4 * A * C;
            if (disc >= 0) {
                const double sq = CCOL_SQRT(disc);
                const double qq = -0.5 * (B + (B >= 0 ? sq : -sq));
                if (qq != 0) {
                    crit[nc++] = qq / A;
                    crit[nc++] = C / qq;
                } else {
                    crit[nc++] = 0; /* B = C = 0: a double root of f' at 0 */
                }
            }
        } else if (B != 0) {
            crit[nc++] = -C / B;
        }
    }
    double bound[4];
    int nb = 0;
    bound[nb++] = 0;
    for (int i = 0; i < nc; ++i)
        if (crit[i] > 0 && crit[i] < 1) nb = ccol_insert_sorted(bound, nb, crit[i]);
    nb = ccol_insert_sorted(bound, nb, 1);
    int n = 0;
    for (int i = 0; i < nb; ++i) {
        const double fb = ccol_cubic_eval(c, bound[i]);
        const int interior = i > 0 && i < nb - 1;
        if (fb == 0 || (interior && ccol_abs(fb) <= CCOL_TANGENT_TOL * size)) n = ccol_insert_sorted(roots, n, bound[i]);
        if (i + 1 < nb) {
            double lo = bound[i], hi = bound[i + 1];
            double flo = fb, fhi = ccol_cubic_eval(c, hi);
            if (flo != 0 && fhi != 0 && (flo < 0) != (fhi < 0)) {
                for (int it = 0; it < 200; ++it) {
                    const double mid = 0.5 * (lo + hi);
                    if (!(mid > lo && mid < hi)) break;
                    const double fm = ccol_cubic_eval(c, mid);
                    if (fm == 0) {
                        lo = hi = mid;
                        break;
                    }
                    if ((fm < 0) == (flo < 0))
                        lo = mid, flo = fm;
                    else
                        hi = mid, fhi = fm;
                }
                n = ccol_insert_sorted(roots, n, 0.5 * (lo + hi));
            }
        }
    }
    return n;
}

/* ------------------------------------------------------------------ closest points */

/* Barycentric coordinates b (3) of the projection of x onto the plane of (a, b, c),
 * unclamped; returns 0 when the triangle is degenerate. */
PHIVE_HD int ccol_barycentric(const double *x, const double *a, const double *b, const double *c, double *bary)
{
    double e0[3], e1[3], ep[3];
    cloth_sub3(b, a, e0);
    cloth_sub3(c, a, e1);
    cloth_sub3(x, a, ep);
    const double d00 = cloth_dot3(e0, e0), d01 = cloth_dot3(e0, e1), d11 = cloth_dot3(e1, e1);
    const double d20 = cloth_dot3(ep, e0), d21 = cloth_dot3(ep, e1);
    const double den = d00 * d11 - d01 * d01;
    if (!(den > 1e-24 * d00 * d11) || !(den > 0)) return 0;
    const double v = (d11 * d20 - d01 * d21) / den, w = (d00 * d21 - d01 * d20) / den;
    bary[0] = 1 - v - w, bary[1] = v, bary[2] = w;
    return 1;
}

/* Closest points of the segments p0–p1 and q0–q1 (Ericson, Real-Time Collision Detection
 * 5.1.9, with a relative threshold for parallel segments): p0 + s(p1 − p0) and
 * q0 + u(q1 − q0), s, u ∈ [0, 1]; returns the squared distance. */
PHIVE_HD double ccol_segment_closest(const double *p0, const double *p1, const double *q0, const double *q1, double *s_out,
                                     double *u_out)
{
    double d1[3], d2[3], r[3];
    cloth_sub3(p1, p0, d1);
    cloth_sub3(q1, q0, d2);
    cloth_sub3(p0, q0, r);
    const double a = cloth_dot3(d1, d1), e = cloth_dot3(d2, d2), f = cloth_dot3(d2, r);
    double s = 0, u = 0;
    if (a <= 0 && e <= 0) {
        s = u = 0;
    } else if (a <= 0) {
        s = 0;
        u = ccol_clamp01(f / e);
    } else {
        const double c = cloth_dot3(d1, r);
        if (e <= 0) {
            u = 0;
            s = ccol_clamp01(-c / a);
        } else {
            const double b = cloth_dot3(d1, d2), den = a * e - b * b;
            s = den > 1e-12 * a * e ? ccol_clamp01((b * f - c * e) / den) : 0;
            u = (b * s + f) / e;
            if (u < 0) {
                u = 0;
                s = ccol_clamp01(-c / a);
            } else if (u > 1) {
                u = 1;
                s = ccol_clamp01((b - c) / a);
            }
        }
    }
    double d[3];
    for (int k = 0; k < 3; ++k) d[k] = (p0[k] + s * d1[k]) - (q0[k] + u * d2[k]);
    *s_out = s, *u_out = u;
    return cloth_dot3(d, d);
}

/* Closest point of triangle (a, b, c) to x (Ericson 5.1.5) as barycentric coordinates
 * bary (3, ≥ 0, sum 1); returns the squared distance.  Degenerate triangles fall back to
 * the nearest of the three edges. */
PHIVE_HD double ccol_triangle_closest(const double *x, const double *a, const double *b, const double *c, double *bary)
{
    double ab[3], ac[3], ap[3], bp[3], cp[3];
    cloth_sub3(b, a, ab);
    cloth_sub3(c, a, ac);
    cloth_sub3(x, a, ap);
    cloth_sub3(x, b, bp);
    cloth_sub3(x, c, cp);
    const double d1 = cloth_dot3(ab, ap), d2 = cloth_dot3(ac, ap), d3 = cloth_dot3(ab, bp), d4 = cloth_dot3(ac, bp);
    const double d5 = cloth_dot3(ab, cp), d6 = cloth_dot3(ac, cp);
    const double vc = d1 * d4 - d3 * d2, vb = d5 * d2 - d1 * d6, va = d3 * d6 - d5 * d4;
    double u = 1, v = 0, w = 0;
    int done = 1;
    if (d1 <= 0 && d2 <= 0) {
        u = 1, v = 0, w = 0;
    } else if (d3 >= 0 && d4 <= d3) {
        u = 0, v = 1, w = 0;
    } else if (vc <= 0 && d1 >= 0 && d3 <= 0 && d1 - d3 > 0) {
        v = d1 / (d1 - d3), u = 1 - v, w = 0;
    } else if (d6 >= 0 && d5 <= d6) {
        u = 0, v = 0, w = 1;
    } else if (vb <= 0 && d2 >= 0 && d6 <= 0 && d2 - d6 > 0) {
        w = d2 / (d2 - d6), u = 1 - w, v = 0;
    } else if (va <= 0 && d4 - d3 >= 0 && d5 - d6 >= 0 && (d4 - d3) + (d5 - d6) > 0) {
        w = (d4 - d3) / ((d4 - d3) + (d5 - d6)), u = 0, v = 1 - w;
    } else if (va + vb + vc > 0) {
        const double den = 1 / (va + vb + vc);
        v = vb * den, w = vc * den, u = 1 - v - w;
    } else {
        done = 0;
    }
    if (!done) { /* degenerate: the nearest edge */
        const double *P[3] = {a, b, c};
        double best = -1;
        for (int e = 0; e < 3; ++e) {
            double s, t;
            const double d = ccol_segment_closest(x, x, P[e], P[(e + 1) % 3], &s, &t);
            if (best < 0 || d < best) {
                best = d;
                double bb[3] = {0, 0, 0};
                bb[e] = 1 - t, bb[(e + 1) % 3] = t;
                u = bb[0], v = bb[1], w = bb[2];
            }
        }
    }
    bary[0] = u, bary[1] = v, bary[2] = w;
    double d[3];
    for (int k = 0; k < 3; ++k) d[k] = x[k] - (u * a[k] + v * b[k] + w * c[k]);
    return cloth_dot3(d, d);
}

/* ------------------------------------------------------------------ continuous detection */

/* Orient n against the pair's relative motion (ARCSim): n·Σ w_i (q_i − p_i) ≤ 0; with no
 * normal motion, along the start separation Σ w_i p_i. */
PHIVE_HD void ccol_orient(const double *p, const double *q, const double *w, double *n)
{
    double sp[3], sq[3];
    ccol_combine(p, w, sp);
    ccol_combine(q, w, sq);
    const double rel = cloth_dot3(n, sq) - cloth_dot3(n, sp);
    const int flip = rel > 0 || (rel == 0 && cloth_dot3(n, sp) < 0);
    if (flip) n[0] = -n[0], n[1] = -n[1], n[2] = -n[2];
}

/* Whether the vertex–face pair (layout above), moving linearly from p (t = 0) to q
 * (t = 1), meets: the earliest coplanarity time t where the vertex is within
 * CCOL_DISTANCE_TOL·size of the face's plane and projects inside the face.  On a hit:
 * *t_hit, w = (1, −b0, −b1, −b2) and n the face normal there, oriented against the
 * relative motion. */
PHIVE_HD int ccol_vf_ccd(const double *p, const double *q, double *t_hit, double *w, double *n)
{
    double c[4], roots[5];
    ccol_coplanarity_cubic(p, q, c);
    const int nr = ccol_cubic_roots(c, roots);
    const double size = ccol_pair_size(p, q);
    for (int r = 0; r < nr; ++r) {
        const double t = roots[r];
        double x[12];
        for (int k = 0; k < 12; ++k) x[k] = p[k] + t * (q[k] - p[k]);
        double e0[3], e1[3], nn[3], b[3];
        cloth_sub3(x + 6, x + 3, e0);
        cloth_sub3(x + 9, x + 3, e1);
        cloth_cross3(e0, e1, nn);
        const double len = CCOL_SQRT(cloth_dot3(nn, nn));
        if (!(len > 0) || !ccol_barycentric(x, x + 3, x + 6, x + 9, b)) continue;
        for (int k = 0; k < 3; ++k) nn[k] /= len;
        double d[3];
        cloth_sub3(x, x + 3, d);
        if (ccol_abs(cloth_dot3(d, nn)) > CCOL_DISTANCE_TOL * size) continue;
        if (ccol_min(b[0], ccol_min(b[1], b[2])) < -CCOL_INSIDE_TOL) continue;
        w[0] = 1, w[1] = -b[0], w[2] = -b[1], w[3] = -b[2];
        n[0] = nn[0], n[1] = nn[1], n[2] = nn[2];
        ccol_orient(p, q, w, n);
        *t_hit = t;
        return 1;
    }
    return 0;
}

/* Closest points of the lines through a0–a1 and b0–b1: a0 + s(a1 − a0), b0 + u(b1 − b0);
 * 0 when the edges are parallel (|e_a × e_b| < CCOL_PARALLEL_TOL·|e_a||e_b|), else the
 * unit cross product in n. */
PHIVE_HD int ccol_line_closest(const double *x, double *s, double *u, double *n)
{
    double ea[3], eb[3], r[3];
    cloth_sub3(x + 3, x, ea);
    cloth_sub3(x + 9, x + 6, eb);
    cloth_sub3(x, x + 6, r);
    cloth_cross3(ea, eb, n);
    const double a = cloth_dot3(ea, ea), b = cloth_dot3(ea, eb), cc = cloth_dot3(eb, eb);
    const double len2 = cloth_dot3(n, n);
    if (!(len2 > CCOL_PARALLEL_TOL * CCOL_PARALLEL_TOL * a * cc) || !(len2 > 0)) return 0;
    const double len = CCOL_SQRT(len2);
    for (int k = 0; k < 3; ++k) n[k] /= len;
    const double d = cloth_dot3(ea, r), e = cloth_dot3(eb, r), den = a * cc - b * b;
    *s = (b * e - cc * d) / den;
    *u = (a * e - b * d) / den;
    return 1;
}

/* Edge–edge counterpart of ccol_vf_ccd: the earliest coplanarity time where the closest
 * points of the two (non-parallel) lines lie in both edges and are within
 * CCOL_DISTANCE_TOL·size; w = (1 − s, s, −(1 − u), −u), n = the unit e_a × e_b, oriented
 * against the relative motion. */
PHIVE_HD int ccol_ee_ccd(const double *p, const double *q, double *t_hit, double *w, double *n)
{
    double c[4], roots[5];
    ccol_coplanarity_cubic(p, q, c);
    const int nr = ccol_cubic_roots(c, roots);
    const double size = ccol_pair_size(p, q);
    for (int r = 0; r < nr; ++r) {
        const double t = roots[r];
        double x[12], s, u, nn[3];
        for (int k = 0; k < 12; ++k) x[k] = p[k] + t * (q[k] - p[k]);
        if (!ccol_line_closest(x, &s, &u, nn)) continue;
        if (s < -CCOL_INSIDE_TOL || s > 1 + CCOL_INSIDE_TOL || u < -CCOL_INSIDE_TOL || u > 1 + CCOL_INSIDE_TOL) continue;
        double ww[4], sep[3];
        ww[0] = 1 - s, ww[1] = s, ww[2] = -(1 - u), ww[3] = -u;
        ccol_combine(x, ww, sep);
        if (ccol_abs(cloth_dot3(sep, nn)) > CCOL_DISTANCE_TOL * size) continue;
        for (int k = 0; k < 4; ++k) w[k] = ww[k];
        n[0] = nn[0], n[1] = nn[1], n[2] = nn[2];
        ccol_orient(p, q, w, n);
        *t_hit = t;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ proximity */

/* End proximity of a pair (ee: edge–edge, else vertex–face) at x: exact closest points,
 * w from them, n along the separation; when the separation is below 1e-9 of the pair's
 * size, n is the face normal (the edges' cross product; any normal to the edge when
 * parallel) oriented along the start separation Σ w_i p_i.  Returns the distance; 0 with
 * n unset when no normal can be had (coincident degenerate pair). */
PHIVE_HD double ccol_closest(int ee, const double *p, const double *x, double *w, double *n, int *ok)
{
    double d2, sep[3];
    if (ee) {
        double s, u;
        d2 = ccol_segment_closest(x, x + 3, x + 6, x + 9, &s, &u);
        w[0] = 1 - s, w[1] = s, w[2] = -(1 - u), w[3] = -u;
    } else {
        double b[3];
        d2 = ccol_triangle_closest(x, x + 3, x + 6, x + 9, b);
        w[0] = 1, w[1] = -b[0], w[2] = -b[1], w[3] = -b[2];
    }
    ccol_combine(x, w, sep);
    const double d = CCOL_SQRT(d2), size = ccol_pair_size(x, x);
    *ok = 1;
    if (d > 1e-9 * size) {
        for (int k = 0; k < 3; ++k) n[k] = sep[k] / d;
        return d;
    }
    double e0[3], e1[3], nn[3];
    if (ee) {
        cloth_sub3(x + 3, x, e0);
        cloth_sub3(x + 9, x + 6, e1);
    } else {
        cloth_sub3(x + 6, x + 3, e0);
        cloth_sub3(x + 9, x + 3, e1);
    }
    cloth_cross3(e0, e1, nn);
    if (!(cloth_dot3(nn, nn) > 0)) { /* parallel edges: a normal to e0 */
        const double z[3] = {e0[1] == 0 && e0[2] == 0 ? 0.0 : 1.0, e0[1] == 0 && e0[2] == 0 ? 1.0 : 0.0, 0.0};
        cloth_cross3(e0, z, nn);
    }
    const double len = CCOL_SQRT(cloth_dot3(nn, nn));
    if (!(len > 0)) {
        *ok = 0;
        return d;
    }
    for (int k = 0; k < 3; ++k) n[k] = nn[k] / len;
    double sp[3];
    ccol_combine(p, w, sp);
    if (cloth_dot3(sp, n) < 0) n[0] = -n[0], n[1] = -n[1], n[2] = -n[2];
    return d;
}

/* ARCSim's proximity test of a pair at x (proximity.cpp add_proximity): vertex–face when the
 * vertex projects inside the face, edge–edge when the lines' closest points lie in both
 * (non-parallel) edges.  On success returns 1 with the distance |h| along the face normal
 * (edge cross product), w and n oriented from the second feature to the first (n·Σ w x ≥ 0). */
PHIVE_HD int ccol_proximity(int ee, const double *x, double *dist, double *w, double *n)
{
    double nn[3];
    if (ee) {
        double s, u;
        if (!ccol_line_closest(x, &s, &u, nn)) return 0;
        if (s < -CCOL_INSIDE_TOL || s > 1 + CCOL_INSIDE_TOL || u < -CCOL_INSIDE_TOL || u > 1 + CCOL_INSIDE_TOL) return 0;
        w[0] = 1 - s, w[1] = s, w[2] = -(1 - u), w[3] = -u;
    } else {
        double e0[3], e1[3], b[3];
        cloth_sub3(x + 6, x + 3, e0);
        cloth_sub3(x + 9, x + 3, e1);
        cloth_cross3(e0, e1, nn);
        const double len = CCOL_SQRT(cloth_dot3(nn, nn));
        if (!(len > 0) || !ccol_barycentric(x, x + 3, x + 6, x + 9, b)) return 0;
        if (ccol_min(b[0], ccol_min(b[1], b[2])) < -CCOL_INSIDE_TOL) return 0;
        for (int k = 0; k < 3; ++k) nn[k] /= len;
        w[0] = 1, w[1] = -b[0], w[2] = -b[1], w[3] = -b[2];
    }
    double sep[3];
    ccol_combine(x, w, sep);
    const double h = cloth_dot3(sep, nn);
    const double sg = h < 0 ? -1.0 : 1.0;
    for (int k = 0; k < 3; ++k) n[k] = sg * nn[k];
    *dist = ccol_abs(h);
    return 1;
}

/* ------------------------------------------------------------------ penalty energy */

/* g(x) = Σ_{cloth slots} w_i n·x_{v_i} + offset. */
PHIVE_HD double cloth_contact_value(const cloth_contact *c, const double *x)
{
    double g = c->offset;
    for (int i = 0; i < 4; ++i)
        if (c->v[i] >= 0) {
            const double *xi = x + 3 * c->v[i];
            g += c->w[i] * (c->n[0] * xi[0] + c->n[1] * xi[1] + c->n[2] * xi[2]);
        }
    return g;
}

/* E(g) and its derivatives in g for the contact's penalty; d3E (may be NULL) is what the
 * Hessian's derivative needs: ∂H/∂x_{j,b} = d3E·w_j n_b·(w wᵀ) ⊗ (n nᵀ) (0 for the quadratic
 * penalty, −k/τ for ARCSim's while g < 0). */
PHIVE_HD double cloth_contact_penalty(const cloth_contact *c, double g, double *dE, double *d2E, double *d3E)
{
    const double v = g < 0 ? -g : (double)0, k = c->stiffness;
    if (c->penalty == CLOTH_PENALTY_ARCSIM) {
        const double tau = c->thickness;
        *dE = -k * v * v / (2 * tau);
        *d2E = k * v / tau;
        if (d3E) *d3E = v > 0 ? -k / tau : (double)0;
        return k * v * v * v / (6 * tau);
    }
    *dE = -k * v;
    *d2E = v > 0 ? k : (double)0;
    if (d3E) *d3E = 0;
    return k * v * v / 2;
}

/* Energy of a contact at x (cloth positions); grad (12: slot-major, zero on obstacle slots)
 * and hess (12×12 row-major: d²E/dg²·(w_i w_j)(n nᵀ) between cloth slots) when non-NULL. */
PHIVE_HD double cloth_contact_energy(const cloth_contact *c, const double *x, double *grad, double *hess)
{
    double dE, d2E;
    const double E = cloth_contact_penalty(c, cloth_contact_value(c, x), &dE, &d2E, NULL);
    for (int i = 0; i < 4; ++i) {
        const double wi = c->v[i] >= 0 ? c->w[i] : (double)0;
        for (int a = 0; a < 3; ++a) {
            if (grad) grad[3 * i + a] = dE * wi * c->n[a];
            if (hess)
                for (int j = 0; j < 4; ++j) {
                    const double wj = c->v[j] >= 0 ? c->w[j] : (double)0;
                    for (int b = 0; b < 3; ++b) hess[12 * (3 * i + a) + 3 * j + b] = d2E * wi * wj * c->n[a] * c->n[b];
                }
        }
    }
    return E;
}

#endif
