/* grad_cloth_collision.c — derivatives of the cloth collisions (include/phive/cloth_collision.h)
 * against central finite differences, in double (double = double):
 *
 *   the impact-zone projection (cloth_zone_project + cloth_collide_backward): random coupled
 *   zones (vertex–face and edge–edge rows among free, pinned and obstacle vertices, unequal
 *   masses, some constraints inactive), loss L = Σ a·x*, w.r.t. x1 and the obstacle's x1;
 *   the whole cloth_collide on a cloth driven through a moving tilted obstacle triangle (where
 *   the constraints' n and d do not depend on x1), w.r.t. x1;
 *   the penalty energy of proximity contacts (both penalties): gradient against the energy's
 *   differences, Hessian against the gradient's, for random contacts and for the contacts
 *   cloth_proximity_find returns.
 * A column is compared only when the active set is the same at both finite-difference points.
 * Each check prints its worst relative error |a − n| / max(|a|, |n|, 1e-3·largest |a|). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/cloth_collision.h"
#include "phive/errors.h"
#include "phive/rng.h"

#include "cloth_collision.h" /* kernels/ */
#include "test_util.h"

#define GRAD_TOL 1e-6

static double uniform(rng_t *rng, double lo, double hi) { return lo + (hi - lo) * rng_uniform(rng); }

typedef struct {
    const char *name;
    double scale, worst;
    int skipped;
    double *a, *n;
    int count, capacity;
} check;

static void check_begin(check *c, const char *name)
{
    memset(c, 0, sizeof *c);
    c->name = name;
}

static void check_add(check *c, double analytic, double numeric)
{
    if (c->count == c->capacity) {
        c->capacity = c->capacity ? 2 * c->capacity : 1024;
        c->a = realloc(c->a, c->capacity * sizeof(double));
        c->n = realloc(c->n, c->capacity * sizeof(double));
        assert_true(c->a && c->n);
    }
    c->a[c->count] = analytic, c->n[c->count] = numeric, c->count++;
    c->scale = fmax(c->scale, fabs(analytic));
}

static double check_end(check *c)
{
    double worst = 0;
    for (int i = 0; i < c->count; ++i)
        worst = fmax(worst, fabs(c->a[i] - c->n[i]) / fmax(1e-3 * c->scale, fmax(fabs(c->a[i]), fabs(c->n[i]))));
    printf("%-46s worst relative error %.3g (%d compared, %d skipped: kink or active-set change)\n", c->name, worst,
           c->count, c->skipped);
    free(c->a), free(c->n);
    assert_true(c->count > 0);
    if (!(worst <= GRAD_TOL)) fail_msg("%s: worst relative error %.3g > %g", c->name, worst, GRAD_TOL);
    return worst;
}

static void random_unit(rng_t *rng, double *n)
{
    double v[3], len;
    do {
        for (int k = 0; k < 3; ++k) v[k] = uniform(rng, -1, 1);
        len = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    } while (len < 0.2 || len > 1);
    for (int k = 0; k < 3; ++k) n[k] = v[k] / len;
}

/* ---- the zone projection -------------------------------------------------------------------- */

enum { ZV = 8, ZO = 4, ZC = 10 };

/* A random zone: ZV cloth vertices (the last pinned), ZO obstacle vertices, ZC constraints. */
static void random_zone(rng_t *rng, cloth_zone_constraint *con, double *x1, double *o1, double *mass)
{
    for (int i = 0; i < 3 * ZV; ++i) x1[i] = uniform(rng, 0, 1);
    for (int i = 0; i < 3 * ZO; ++i) o1[i] = uniform(rng, 0, 1);
    for (int v = 0; v < ZV; ++v) mass[v] = v == ZV - 1 ? 0 : uniform(rng, 0.5, 2);
    for (int k = 0; k < ZC; ++k) {
        cloth_zone_constraint *c = &con[k];
        /* 4 distinct ids: cloth vertices, and sometimes one or two obstacle vertices */
        int n = 0;
        while (n < 4) {
            const int obstacle = (k % 3 == 0 && n >= 2) || (k % 4 == 1 && n == 3);
            const int id = obstacle ? -1 - (int)(rng_uniform(rng) * ZO) : (int)(rng_uniform(rng) * ZV);
            int dup = 0;
            for (int i = 0; i < n; ++i) dup |= c->v[i] == id;
            if (!dup) c->v[n++] = id;
        }
        if (k % 2 == 0) { /* vertex–face */
            double b0 = uniform(rng, 0.1, 0.8), b1 = uniform(rng, 0.1, 0.9 - b0);
            c->w[0] = 1, c->w[1] = -b0, c->w[2] = -b1, c->w[3] = -(1 - b0 - b1);
        } else { /* edge–edge */
            const double s = uniform(rng, 0.1, 0.9), u = uniform(rng, 0.1, 0.9);
            c->w[0] = 1 - s, c->w[1] = s, c->w[2] = -(1 - u), c->w[3] = -u;
        }
        random_unit(rng, c->n);
        for (int s = 0; s < 4; ++s) c->mass[s] = c->v[s] >= 0 ? mass[c->v[s]] : 0;
    }
}

/* n·Σ w x over all slots (cloth at x, obstacle at o). */
static double constraint_value(const cloth_zone_constraint *c, const double *x, const double *o)
{
    double g = 0;
    for (int s = 0; s < 4; ++s) {
        const double *p = c->v[s] >= 0 ? x + 3 * c->v[s] : o + 3 * (-1 - c->v[s]);
        g += c->w[s] * (c->n[0] * p[0] + c->n[1] * p[1] + c->n[2] * p[2]);
    }
    return g;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The record's active constraints as vertex ids (what must not change between FD points). */
static int same_active(const cloth_impact_record *a, const cloth_impact_record *b)
{
    if (a->n_zones != b->n_zones || a->n_con != b->n_con) return 0;
    for (int z = 0; z <= a->n_zones; ++z)
        if (a->zone_start[z] != b->zone_start[z]) return 0;
    for (int k = 0; k < a->n_con; ++k)
        if (memcmp(a->con[k].v, b->con[k].v, sizeof a->con[k].v)) return 0;
    return 1;
}

static double dot_loss(const double *a, const double *x, int n)
{
    double L = 0;
    for (int i = 0; i < n; ++i) L += a[i] * x[i];
    return L;
}

static void test_zone_projection_gradient(void **state)
{
    (void)state;
    check gx, go;
    check_begin(&gx, "zone projection dL/dx1");
    check_begin(&go, "zone projection dL/d(obstacle x1)");
    rng_t rng;
    rng_seed(&rng, 71, 0);
    int zones = 0, active_total = 0;
    double worst_feas = 0;
    for (int trial = 0; zones < 25 && trial < 200; ++trial) {
        cloth_zone_constraint con[ZC];
        double x1[3 * ZV], o1[3 * ZO], mass[ZV], x[3 * ZV], a[3 * ZV];
        random_zone(&rng, con, x1, o1, mass);
        for (int i = 0; i < 3 * ZV; ++i) a[i] = uniform(&rng, -1, 1);
        /* thickness: the median constraint value, so that about half start violated */
        double g[ZC];
        for (int k = 0; k < ZC; ++k) g[k] = constraint_value(&con[k], x1, o1);
        qsort(g, ZC, sizeof *g, cmp_double);
        const double tau = (g[ZC / 2 - 1] + g[ZC / 2]) / 2;
        cloth_impact_record rec = {0}, rp = {0}, rm = {0};
        if (cloth_zone_project(ZV, ZO, ZC, con, x1, o1, tau, x, &rec)) {
            cloth_impact_record_free(&rec);
            continue; /* infeasible draw */
        }
        const int q = rec.n_con;
        if (q < 2 || q == ZC) {
            cloth_impact_record_free(&rec);
            continue;
        }
        ++zones, active_total += q;
        for (int k = 0; k < ZC; ++k) worst_feas = fmax(worst_feas, tau - constraint_value(&con[k], x, o1));
        assert_memory_equal(x + 3 * (ZV - 1), x1 + 3 * (ZV - 1), 3 * sizeof(double)); /* pinned */
        double grad_x1[3 * ZV] = {0}, grad_o1[3 * ZO] = {0};
        assert_int_equal(cloth_collide_backward(&rec, a, grad_x1, grad_o1), 0);
        const double h = 1e-6;
        for (int which = 0; which < 2; ++which)
            for (int i = 0; i < (which ? 3 * ZO : 3 * ZV); ++i) {
                double *p = which ? &o1[i] : &x1[i];
                const double saved = *p;
                double xp[3 * ZV], xm[3 * ZV];
                rp.n_zones = rm.n_zones = 0;
                *p = saved + h;
                assert_int_equal(cloth_zone_project(ZV, ZO, ZC, con, x1, o1, tau, xp, &rp), 0);
                *p = saved - h;
                assert_int_equal(cloth_zone_project(ZV, ZO, ZC, con, x1, o1, tau, xm, &rm), 0);
                *p = saved;
                check *c = which ? &go : &gx;
                if (!same_active(&rec, &rp) || !same_active(&rec, &rm)) {
                    c->skipped++;
                    continue;
                }
                const double fd = (dot_loss(a, xp, 3 * ZV) - dot_loss(a, xm, 3 * ZV)) / (2 * h);
                check_add(c, which ? grad_o1[i] : grad_x1[i], fd);
            }
        cloth_impact_record_free(&rec), cloth_impact_record_free(&rp), cloth_impact_record_free(&rm);
    }
    printf("%d zones, %.1f active constraints of %d on average, worst violation after the projection %.3g\n", zones,
           (double)active_total / zones, ZC, worst_feas);
    assert_true(zones >= 20);
    assert_true(worst_feas < 1e-12);
    check_end(&gx);
    check_end(&go);
}

/* The projection is the QP's minimiser: against every subset of the constraints solved as
 * equalities (this file's own dense algebra), the feasible ones never beat it. */
static void test_zone_projection_optimal(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 74, 0);
    int zones = 0;
    double worst_x = 0, worst_obj = 0;
    for (int trial = 0; zones < 15 && trial < 200; ++trial) {
        cloth_zone_constraint con[ZC];
        double x1[3 * ZV], o1[3 * ZO], mass[ZV], x[3 * ZV];
        random_zone(&rng, con, x1, o1, mass);
        double g[ZC];
        for (int k = 0; k < ZC; ++k) g[k] = constraint_value(&con[k], x1, o1);
        qsort(g, ZC, sizeof *g, cmp_double);
        const double tau = (g[ZC / 2 - 1] + g[ZC / 2]) / 2;
        if (cloth_zone_project(ZV, ZO, ZC, con, x1, o1, tau, x, NULL)) continue;
        ++zones;
        /* dense G (ZC × 3ZV; the pinned vertex has 1/m = 0) and the slack's constant */
        double G[ZC][3 * ZV], c0[ZC], invm[ZV];
        for (int v = 0; v < ZV; ++v) invm[v] = mass[v] > 0 ? 1 / mass[v] : 0;
        for (int k = 0; k < ZC; ++k) {
            memset(G[k], 0, sizeof G[k]);
            c0[k] = -tau;
            for (int s = 0; s < 4; ++s) {
                const int id = con[k].v[s];
                for (int a = 0; a < 3; ++a) {
                    if (id >= 0)
                        G[k][3 * id + a] += con[k].w[s] * con[k].n[a];
                    else
                        c0[k] += con[k].w[s] * con[k].n[a] * o1[3 * (-1 - id) + a];
                }
            }
        }
        double best = INFINITY, best_x[3 * ZV] = {0};
        for (int S = 0; S < (1 << ZC); ++S) {
            int idx[ZC], q = 0;
            for (int k = 0; k < ZC; ++k)
                if (S >> k & 1) idx[q++] = k;
            /* (G_S M⁻¹ G_Sᵀ) λ = −(G_S x1 + c0_S), Gaussian elimination with pivoting */
            double A[ZC][ZC + 1];
            for (int i = 0; i < q; ++i) {
                double r = c0[idx[i]];
                for (int j = 0; j < 3 * ZV; ++j) r += G[idx[i]][j] * x1[j];
                A[i][q] = -r;
                for (int j = 0; j < q; ++j) {
                    double h = 0;
                    for (int e = 0; e < 3 * ZV; ++e) h += G[idx[i]][e] * invm[e / 3] * G[idx[j]][e];
                    A[i][j] = h;
                }
            }
            int singular = 0;
            for (int col = 0; col < q && !singular; ++col) {
                int piv = col;
                for (int i = col + 1; i < q; ++i)
                    if (fabs(A[i][col]) > fabs(A[piv][col])) piv = i;
                if (fabs(A[piv][col]) < 1e-12) {
                    singular = 1;
                    break;
                }
                for (int j = 0; j <= q; ++j) {
                    const double t = A[col][j];
                    A[col][j] = A[piv][j], A[piv][j] = t;
                }
                for (int i = 0; i < q; ++i)
                    if (i != col) {
                        const double f = A[i][col] / A[col][col];
                        for (int j = col; j <= q; ++j) A[i][j] -= f * A[col][j];
                    }
            }
            if (singular) continue;
            double xs[3 * ZV];
            for (int e = 0; e < 3 * ZV; ++e) xs[e] = x1[e];
            for (int i = 0; i < q; ++i) {
                const double lam = A[i][q] / A[i][i];
                for (int e = 0; e < 3 * ZV; ++e) xs[e] += invm[e / 3] * G[idx[i]][e] * lam;
            }
            int feasible = 1;
            for (int k = 0; k < ZC; ++k) {
                double r = c0[k];
                for (int e = 0; e < 3 * ZV; ++e) r += G[k][e] * xs[e];
                feasible &= r >= -1e-12;
            }
            if (!feasible) continue;
            double obj = 0;
            for (int e = 0; e < 3 * ZV; ++e)
                if (invm[e / 3] > 0) obj += (xs[e] - x1[e]) * (xs[e] - x1[e]) / invm[e / 3] / 2;
            if (obj < best) best = obj, memcpy(best_x, xs, sizeof xs);
        }
        double obj = 0;
        for (int e = 0; e < 3 * ZV; ++e) {
            if (invm[e / 3] > 0) obj += (x[e] - x1[e]) * (x[e] - x1[e]) / invm[e / 3] / 2;
            worst_x = fmax(worst_x, fabs(x[e] - best_x[e]));
        }
        worst_obj = fmax(worst_obj, fabs(obj - best) / best);
    }
    printf("%d zones against all 2^%d equality subsets: largest |x* − x_best| %.3g, objective rel. difference %.3g\n",
           zones, ZC, worst_x, worst_obj);
    assert_true(zones >= 10);
    assert_true(worst_x < 1e-10 && worst_obj < 1e-10);
}

/* One vertex–face constraint between 4 free vertices of different masses: each moves along
 * ±n by λ·|w_i|/m_i, and the constraint ends exactly met. */
static void test_zone_projection_masses(void **state)
{
    (void)state;
    const double m[4] = {1, 2, 4, 0.5};
    cloth_zone_constraint c = {{0, 1, 2, 3}, {1, -0.2, -0.3, -0.5}, {0, 0, 1}, {1, 2, 4, 0.5}};
    double x1[12] = {0.3, 0.3, 0.01, 0, 0, 0, 1, 0, 0, 0, 1, 0}, x[12];
    const double tau = 0.05;
    assert_int_equal(cloth_zone_project(4, 0, 1, &c, x1, NULL, tau, x, NULL), 0);
    /* λ = (τ − g(x1)) / Σ w²/m */
    const double g1 = 0.01, s = 1 / m[0] + 0.04 / m[1] + 0.09 / m[2] + 0.25 / m[3], lam = (tau - g1) / s;
    for (int i = 0; i < 4; ++i) {
        assert_true(fabs(x[3 * i] - x1[3 * i]) < 1e-15 && fabs(x[3 * i + 1] - x1[3 * i + 1]) < 1e-15);
        assert_true(fabs((x[3 * i + 2] - x1[3 * i + 2]) - lam * c.w[i] / m[i]) < 1e-15);
    }
    assert_true(fabs(constraint_value(&c, x, NULL) - tau) < 1e-15);
    /* already met: unchanged, bit for bit */
    x1[2] = 0.2;
    assert_int_equal(cloth_zone_project(4, 0, 1, &c, x1, NULL, tau, x, NULL), 0);
    assert_memory_equal(x, x1, sizeof x);
}

/* ---- the whole cloth_collide --------------------------------------------------------------- */

static void test_collide_gradient(void **state)
{
    (void)state;
    enum { N = 6 };
    const int nv = N * N, nf = 2 * (N - 1) * (N - 1);
    int faces[3 * 2 * (N - 1) * (N - 1)];
    int f = 0;
    for (int j = 0; j + 1 < N; ++j)
        for (int i = 0; i + 1 < N; ++i) {
            const int a = j * N + i, b = a + 1, c = a + N + 1, d = a + N;
            faces[3 * f] = a, faces[3 * f + 1] = b, faces[3 * f + 2] = c, ++f;
            faces[3 * f] = a, faces[3 * f + 1] = c, faces[3 * f + 2] = d, ++f;
        }
    /* a tilted obstacle triangle far larger than the cloth, rising 1 cm during the step */
    double nrm[3] = {0.2, -0.15, 1}, u[3] = {1, 0, -0.2}, v[3];
    const double ln = sqrt(nrm[0] * nrm[0] + nrm[1] * nrm[1] + nrm[2] * nrm[2]);
    for (int k = 0; k < 3; ++k) nrm[k] /= ln;
    const double un = u[0] * nrm[0] + u[1] * nrm[1] + u[2] * nrm[2];
    for (int k = 0; k < 3; ++k) u[k] -= un * nrm[k];
    const double lu = sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
    for (int k = 0; k < 3; ++k) u[k] /= lu;
    v[0] = nrm[1] * u[2] - nrm[2] * u[1], v[1] = nrm[2] * u[0] - nrm[0] * u[2], v[2] = nrm[0] * u[1] - nrm[1] * u[0];
    double tri[9];
    const double cu[3] = {-3, 3, 0}, cv[3] = {-3, -3, 4};
    for (int i = 0; i < 3; ++i)
        for (int k = 0; k < 3; ++k) tri[3 * i + k] = cu[i] * u[k] + cv[i] * v[k];
    const int tri_f[3] = {0, 1, 2};
    cloth_obstacle_mesh obs;
    assert_int_equal(cloth_obstacle_mesh_init(&obs, 3, tri, 1, tri_f), 0);
    for (int i = 0; i < 9; ++i) obs.x1[i] = obs.x0[i] + 0.01 * nrm[i % 3];
    /* the cloth parallel to it 1 cm above, driven 3 cm down with a lateral drift and a wobble */
    rng_t rng;
    rng_seed(&rng, 72, 0);
    double x0[3 * N * N], x1[3 * N * N], x[3 * N * N], m[N * N], a[3 * N * N];
    for (int j = 0; j < N; ++j)
        for (int i = 0; i < N; ++i) {
            const int p = j * N + i;
            const double su = 0.05 * (i - 2.5), sv = 0.05 * (j - 2.5);
            for (int k = 0; k < 3; ++k) {
                x0[3 * p + k] = su * u[k] + sv * v[k] + 0.01 * nrm[k];
                x1[3 * p + k] = x0[3 * p + k] + (-0.03 + 0.008 * sin(su * 20 + sv * 9)) * nrm[k] + 0.004 * u[k] +
                                uniform(&rng, -1e-3, 1e-3);
            }
            m[p] = uniform(&rng, 1e-3, 3e-3);
        }
    for (int i = 0; i < 3 * nv; ++i) a[i] = uniform(&rng, -1, 1);
    cloth_collision *col;
    assert_int_equal(cloth_collision_create(&col, nv, nf, faces, NULL, NULL), 0);
    cloth_impact_record rec = {0}, rp = {0}, rm = {0};
    cloth_collide_stats st;
    if (cloth_collide(col, x0, x1, m, NULL, &obs, x, &rec, &st)) fail_msg("%s", err_message());
    printf("cloth_collide: %d passes, %d crossings + %d proximities, %d zones, %d active\n", st.iterations,
           st.crossings, st.proximities, st.zones, st.active);
    assert_true(st.converged && st.active > nv / 2);
    double grad[3 * N * N] = {0};
    assert_int_equal(cloth_collide_backward(&rec, a, grad, NULL), 0);
    check c;
    check_begin(&c, "cloth_collide dL/dx1 (obstacle triangle)");
    const double h = 1e-6;
    for (int i = 0; i < 3 * nv; ++i) {
        const double saved = x1[i];
        double xp[3 * N * N], xm[3 * N * N];
        x1[i] = saved + h;
        assert_int_equal(cloth_collide(col, x0, x1, m, NULL, &obs, xp, &rp, NULL), 0);
        x1[i] = saved - h;
        assert_int_equal(cloth_collide(col, x0, x1, m, NULL, &obs, xm, &rm, NULL), 0);
        x1[i] = saved;
        if (!same_active(&rec, &rp) || !same_active(&rec, &rm)) {
            c.skipped++;
            continue;
        }
        check_add(&c, grad[i], (dot_loss(a, xp, 3 * nv) - dot_loss(a, xm, 3 * nv)) / (2 * h));
    }
    check_end(&c);
    cloth_impact_record_free(&rec), cloth_impact_record_free(&rp), cloth_impact_record_free(&rm);
    cloth_collision_free(col);
    cloth_obstacle_mesh_free(&obs);
}

/* ---- proximity penalties ------------------------------------------------------------------- */

static void energy_checks(check *grad, check *hess, const cloth_contact *ct, double *x)
{
    double g[12], H[144];
    cloth_contact_energy(ct, x, g, H);
    const double gval = cloth_contact_value(ct, x);
    const double h = 1e-8; /* the cubic penalty's truncation error grows as (h/g)² near g = 0 */
    for (int s = 0; s < 4; ++s) {
        if (ct->v[s] < 0) continue;
        for (int k = 0; k < 3; ++k) {
            double *p = &x[3 * ct->v[s] + k];
            const double saved = *p;
            double gu[12], gd[12];
            *p = saved + h;
            const double eu = cloth_contact_energy(ct, x, gu, NULL), vu = cloth_contact_value(ct, x);
            *p = saved - h;
            const double ed = cloth_contact_energy(ct, x, gd, NULL), vd = cloth_contact_value(ct, x);
            *p = saved;
            if ((vu < 0) != (gval < 0) || (vd < 0) != (gval < 0)) { /* across the kink at g = 0 */
                grad->skipped++;
                continue;
            }
            /* a vertex may fill two slots: compare the summed slot derivatives */
            double ga = 0;
            for (int t = 0; t < 4; ++t)
                if (ct->v[t] == ct->v[s]) ga += g[3 * t + k];
            check_add(grad, ga, (eu - ed) / (2 * h));
            for (int t = 0; t < 4; ++t) {
                if (ct->v[t] < 0) continue;
                for (int l = 0; l < 3; ++l) {
                    double ha = 0;
                    for (int r = 0; r < 4; ++r)
                        if (ct->v[r] == ct->v[s]) ha += H[12 * (3 * t + l) + 3 * r + k];
                    check_add(hess, ha, (gu[3 * t + l] - gd[3 * t + l]) / (2 * h));
                }
            }
        }
    }
}

static void test_proximity_energy(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 73, 0);
    for (int penalty = 0; penalty < 2; ++penalty) {
        check grad, hess;
        check_begin(&grad, penalty ? "contact energy d/dx (ARCSim cubic)" : "contact energy d/dx (quadratic)");
        check_begin(&hess, penalty ? "contact Hessian (ARCSim cubic)" : "contact Hessian (quadratic)");
        double x[3 * 6];
        for (int i = 0; i < 18; ++i) x[i] = uniform(&rng, -0.01, 0.01);
        for (int trial = 0; trial < 200; ++trial) {
            cloth_contact ct;
            for (int s = 0; s < 4; ++s) ct.v[s] = trial % 3 == 0 && s >= 2 ? -1 - s : (int)(rng_uniform(&rng) * 6);
            const double b0 = uniform(&rng, 0, 1), b1 = uniform(&rng, 0, 1 - b0);
            ct.w[0] = 1, ct.w[1] = -b0, ct.w[2] = -b1, ct.w[3] = -(1 - b0 - b1);
            random_unit(&rng, ct.n);
            ct.thickness = 5e-3;
            ct.stiffness = uniform(&rng, 1e2, 1e6);
            ct.type = CLOTH_PAIR_VF;
            ct.penalty = penalty;
            ct.offset = 0;
            ct.offset = uniform(&rng, -6e-3, 3e-3) - cloth_contact_value(&ct, x);
            energy_checks(&grad, &hess, &ct, x);
        }
        check_end(&grad);
        check_end(&hess);
        /* the penalty's derivatives in g, the third one included */
        check d1, d2, d3;
        check_begin(&d1, "penalty dE/dg");
        check_begin(&d2, "penalty d2E/dg2");
        check_begin(&d3, "penalty d3E/dg3");
        cloth_contact ct = {{0, 1, 2, 3}, {1, -0.3, -0.3, -0.4}, {0, 0, 1}, 0, 2e4, 5e-3, CLOTH_PAIR_VF, penalty};
        for (int i = 0; i < 100; ++i) {
            const double g = uniform(&rng, -6e-3, -1e-5), h = 1e-8;
            double e1, e2, e3, u1, u2, l1, l2;
            cloth_contact_penalty(&ct, g, &e1, &e2, &e3);
            const double eu = cloth_contact_penalty(&ct, g + h, &u1, &u2, NULL);
            const double ed = cloth_contact_penalty(&ct, g - h, &l1, &l2, NULL);
            check_add(&d1, e1, (eu - ed) / (2 * h));
            check_add(&d2, e2, (u1 - l1) / (2 * h));
            if (penalty) check_add(&d3, e3, (u2 - l2) / (2 * h));
            else assert_true(e3 == 0 && u2 == l2);
        }
        check_end(&d1);
        check_end(&d2);
        if (penalty) check_end(&d3);
        else free(d3.a), free(d3.n);
    }
    /* the contacts cloth_proximity_find returns, and the summed energy's gradient */
    enum { N = 4 };
    const int nv = 2 * N * N, nf = 4 * (N - 1) * (N - 1);
    int faces[3 * 4 * (N - 1) * (N - 1)];
    double x[3 * 2 * N * N], area[4 * (N - 1) * (N - 1)];
    int f = 0;
    for (int layer = 0; layer < 2; ++layer)
        for (int j = 0; j + 1 < N; ++j)
            for (int i = 0; i + 1 < N; ++i) {
                const int a = layer * N * N + j * N + i, b = a + 1, c = a + N + 1, d = a + N;
                faces[3 * f] = a, faces[3 * f + 1] = b, faces[3 * f + 2] = c, area[f++] = 0.005;
                faces[3 * f] = a, faces[3 * f + 1] = c, faces[3 * f + 2] = d, area[f++] = 0.005;
            }
    for (int layer = 0; layer < 2; ++layer)
        for (int j = 0; j < N; ++j)
            for (int i = 0; i < N; ++i) {
                const int p = layer * N * N + j * N + i;
                x[3 * p] = 0.1 * i + 0.03 * layer + uniform(&rng, -0.004, 0.004);
                x[3 * p + 1] = 0.1 * j + 0.04 * layer + uniform(&rng, -0.004, 0.004);
                x[3 * p + 2] = 5e-3 + 5e-3 * layer + uniform(&rng, -1.5e-3, 1.5e-3);
            }
    cloth_obstacle_mesh plane;
    /* a slightly tilted plane through z ≈ 0 under the cloth (its diagonal edge crosses under it too) */
    const double p0[3] = {1.5, 1.5, -0.0054}, nz[3] = {0.01, -0.006, 1};
    assert_int_equal(cloth_obstacle_mesh_plane(&plane, p0, nz, 2), 0);
    for (int penalty = 0; penalty < 2; ++penalty) {
        cloth_collision_options o;
        cloth_collision_options_init(&o);
        o.penalty = penalty;
        cloth_collision *col;
        assert_int_equal(cloth_collision_create(&col, nv, nf, faces, area, &o), 0);
        cloth_contact_list list = {0};
        assert_int_equal(cloth_proximity_find(col, x, &plane, &list), 0);
        int types[5] = {0};
        for (int i = 0; i < list.n; ++i) types[list.c[i].type]++;
        printf("found %d contacts: %d VF, %d EE, %d VF-obstacle, %d FV-obstacle, %d EE-obstacle\n", list.n, types[0],
               types[1], types[2], types[3], types[4]);
        assert_true(types[0] > 0 && types[1] > 0 && types[2] > 0);
        check grad, hess, total;
        check_begin(&grad, penalty ? "found contacts d/dx (ARCSim cubic)" : "found contacts d/dx (quadratic)");
        check_begin(&hess, penalty ? "found contacts Hessian (ARCSim cubic)" : "found contacts Hessian (quadratic)");
        check_begin(&total, "cloth_proximity_energy d/dx");
        for (int i = 0; i < list.n; ++i) energy_checks(&grad, &hess, &list.c[i], x);
        double g[3 * 2 * N * N] = {0};
        cloth_proximity_energy(&list, x, g);
        const double h = 1e-8;
        for (int i = 0; i < 3 * nv; ++i) {
            const double saved = x[i];
            x[i] = saved + h;
            const double eu = cloth_proximity_energy(&list, x, NULL);
            x[i] = saved - h;
            const double ed = cloth_proximity_energy(&list, x, NULL);
            x[i] = saved;
            check_add(&total, g[i], (eu - ed) / (2 * h));
        }
        check_end(&grad);
        check_end(&hess);
        check_end(&total);
        cloth_contact_list_free(&list);
        cloth_collision_free(col);
    }
    cloth_obstacle_mesh_free(&plane);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zone_projection_masses),
        cmocka_unit_test(test_zone_projection_optimal),
        cmocka_unit_test(test_zone_projection_gradient),
        cmocka_unit_test(test_collide_gradient),
        cmocka_unit_test(test_proximity_energy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
