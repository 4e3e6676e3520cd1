/* grad_cloth_material.c — every derivative of the cloth material (kernels/cloth_material.h)
 * against central finite differences, in double (double = double):
 *
 *   stretching k w.r.t. G and the 24 rows, direct and 30³-table;
 *   bending ke w.r.t. the 15 entries and (θ, l, A0 + A1), in the three curvature modes;
 *   the face's stretching energy w.r.t. the 3 positions (and k), its Hessian against the finite
 *   difference of the gradient once the terms ARCSim drops are added back;
 *   the dihedral angle and the hinge's bending energy w.r.t. the 4 positions, its Gauss–Newton
 *   Hessian where it is exact (θ = θ̄).
 *
 * Points where a derivative does not exist (clamps, ReLUs, interpolation cell boundaries,
 * G01 = 0) are skipped: a column is compared only when the discrete state of the evaluation
 * (cells, clamps, masks, signs) is the same at both finite-difference points.  Each check prints
 * its worst relative error |a − n| / max(|a|, |n|, 1e-3·largest |a| of the check).
 * The last test compares with the reference at double precision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/cloth_material.h"
#include "phive/errors.h"
#include "phive/rng.h"

#include "cloth_material.h" /* kernels/ */
#include "test_util.h"

#define DENIM "configs/materials/11oz-black-denim.json"
#define INTERLOCK "configs/materials/gray-interlock.json"
#define PHISFT "configs/materials/phisft-init.json"
#define GRAD_TOL 1e-6

static const char *const material_files[] = {DENIM, INTERLOCK, PHISFT};

static double uniform(rng_t *rng, double lo, double hi) { return lo + (hi - lo) * rng_uniform(rng); }

static void load(const char *path, cloth_material *m)
{
    if (cloth_material_load(path, NULL, m)) fail_msg("%s", err_message());
}

/* One check: analytic and numeric pairs, compared at the end against the check's scale. */
typedef struct {
    const char *name;
    double scale;
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
    printf("%-44s worst relative error %.3g (%d compared, %d skipped at kinks)\n", c->name, worst, c->count, c->skipped);
    free(c->a), free(c->n);
    assert_true(c->count > 0);
    if (!(worst <= GRAD_TOL)) fail_msg("%s: worst relative error %.3g > %g", c->name, worst, GRAD_TOL);
    return worst;
}

/* ---- stretching stiffness ----------------------------------------------------------------- */

/* Everything discrete about a DIRECT evaluation at G: angle cell, clamps, ReLU masks, sign of G01. */
static long direct_state(const double *rows, const double *G)
{
    double s, alpha, k[4];
    cloth_stretch_coords(G, &s, &alpha, NULL, NULL);
    cloth_stretch_stiffness(rows, G, k, NULL, NULL);
    long st = (long)alpha;
    st = st * 3 + (s <= 0 ? 0 : s >= CLOTH_STRAIN_MAX ? 1 : 2);
    st = st * 2 + (alpha >= CLOTH_ANGLE_MAX);
    st = st * 3 + (G[2] > 0) - (G[2] < 0) + 1;
    for (int i = 0; i < 4; ++i) st = st * 2 + (k[i] > 0);
    return st;
}

static long table_state(const cloth_stretch_table *t, const double *G)
{
    long st = 0;
    const double v[3] = {(G[0] + 0.25) * CLOTH_TABLE_N, (G[1] + 0.25) * CLOTH_TABLE_N, fabs(G[2]) * CLOTH_TABLE_N};
    for (int a = 0; a < 3; ++a) {
        double f;
        int inside, cell = cloth_table_cell(v[a], &f, &inside);
        st = st * 64 + cell * 2 + inside;
    }
    (void)t;
    return st * 3 + (G[2] > 0) - (G[2] < 0) + 1;
}

static size_t random_strains(rng_t *rng, double *G, size_t n)
{
    for (size_t p = 0; p < n; ++p) {
        const int wide = p % 3 == 0;
        G[3 * p] = uniform(rng, wide ? -0.3 : -0.06, wide ? 0.75 : 0.14);
        G[3 * p + 1] = uniform(rng, wide ? -0.3 : -0.06, wide ? 0.75 : 0.14);
        G[3 * p + 2] = uniform(rng, wide ? -0.9 : -0.08, wide ? 0.9 : 0.08);
    }
    return n;
}

static void test_stiffness_wrt_strain(void **state)
{
    (void)state;
    check direct, table;
    check_begin(&direct, "dk/dG direct");
    check_begin(&table, "dk/dG table");
    cloth_stretch_table *t = malloc(sizeof *t);
    assert_non_null(t);
    for (int f = 0; f < 3; ++f) {
        cloth_material m;
        load(material_files[f], &m);
        assert_int_equal(cloth_stretch_table_build(t, m.stretching[0]), 0);
        rng_t rng;
        rng_seed(&rng, 10 + f, 0);
        double G[3 * 150];
        size_t n = random_strains(&rng, G, 150);
        /* the lookup is linear along each axis inside a cell: a larger step only reduces round-off */
        const double h = 1e-7, ht = 1e-5;
        for (size_t p = 0; p < n; ++p) {
            double *g = G + 3 * p, k[4], dk_dG[12], kt[4], dkt_dG[12];
            cloth_stretch_stiffness(m.stretching[0], g, k, dk_dG, NULL);
            cloth_stretch_table_stiffness(t, g, kt, dkt_dG, NULL);
            const long s_here = direct_state(m.stretching[0], g), t_here = table_state(t, g);
            for (int j = 0; j < 3; ++j) {
                const double saved = g[j];
                double up[4], down[4], tup[4], tdown[4];
                g[j] = saved + h;
                const long s_up = direct_state(m.stretching[0], g);
                cloth_stretch_stiffness(m.stretching[0], g, up, NULL, NULL);
                g[j] = saved - h;
                const long s_down = direct_state(m.stretching[0], g);
                cloth_stretch_stiffness(m.stretching[0], g, down, NULL, NULL);
                g[j] = saved + ht;
                const long t_up = table_state(t, g);
                cloth_stretch_table_stiffness(t, g, tup, NULL, NULL);
                g[j] = saved - ht;
                const long t_down = table_state(t, g);
                cloth_stretch_table_stiffness(t, g, tdown, NULL, NULL);
                g[j] = saved;
                for (int i = 0; i < 4; ++i) {
                    if (s_up == s_here && s_down == s_here)
                        check_add(&direct, dk_dG[3 * i + j], (up[i] - down[i]) / (2 * h));
                    else
                        direct.skipped++;
                    if (t_up == t_here && t_down == t_here)
                        check_add(&table, dkt_dG[3 * i + j], (tup[i] - tdown[i]) / (2 * ht));
                    else
                        table.skipped++;
                }
            }
        }
    }
    check_end(&direct);
    check_end(&table);
    free(t);
}

/* Whether component i's ReLU mask agrees in the three tables at the 8 samples a lookup at G uses. */
static int corner_masks_agree(const cloth_stretch_table *a, const cloth_stretch_table *b, const cloth_stretch_table *c,
                              const double *G, int i)
{
    double f;
    int inside, cell[3];
    cell[0] = cloth_table_cell((G[0] + 0.25) * CLOTH_TABLE_N, &f, &inside);
    cell[1] = cloth_table_cell((G[1] + 0.25) * CLOTH_TABLE_N, &f, &inside);
    cell[2] = cloth_table_cell(fabs(G[2]) * CLOTH_TABLE_N, &f, &inside);
    for (int corner = 0; corner < 8; ++corner) {
        const int idx = cloth_table_index(cell[0] + (corner >> 2), cell[1] + ((corner >> 1) & 1), cell[2] + (corner & 1));
        const int m = a->k[idx][i] > 0;
        if ((b->k[idx][i] > 0) != m || (c->k[idx][i] > 0) != m) return 0;
    }
    return 1;
}

/* k is piecewise linear in the rows: the finite difference is exact away from a ReLU flip; the
 * table is rebuilt for each perturbed row entry. */
static void test_stiffness_wrt_rows(void **state)
{
    (void)state;
    check direct, table;
    check_begin(&direct, "dk/drows direct");
    check_begin(&table, "dk/drows table");
    cloth_stretch_table *t = malloc(sizeof *t), *tu = malloc(sizeof *tu), *td = malloc(sizeof *td);
    assert_true(t && tu && td);
    for (int f = 0; f < 3; ++f) {
        cloth_material m;
        load(material_files[f], &m);
        double *rows = m.stretching[0];
        assert_int_equal(cloth_stretch_table_build(t, rows), 0);
        rng_t rng;
        rng_seed(&rng, 20 + f, 0);
        enum { P = 40 };
        double G[3 * P], J[P][24], Jt[P][24], k[4], dk[12];
        random_strains(&rng, G, P);
        for (int p = 0; p < P; ++p) {
            cloth_stretch_stiffness(rows, G + 3 * p, k, dk, J[p]);
            cloth_stretch_table_stiffness(t, G + 3 * p, k, dk, Jt[p]);
        }
        for (int e = 0; e < 24; ++e) {
            const double saved = rows[e], h = 1e-4 * fmax(1, fabs(saved));
            rows[e] = saved + h;
            cloth_stretch_table_build(tu, rows);
            double up[P][4], tup[P][4], down[P][4], tdown[P][4];
            for (int p = 0; p < P; ++p) {
                cloth_stretch_stiffness(rows, G + 3 * p, up[p], NULL, NULL);
                cloth_stretch_table_stiffness(tu, G + 3 * p, tup[p], NULL, NULL);
            }
            rows[e] = saved - h;
            cloth_stretch_table_build(td, rows);
            for (int p = 0; p < P; ++p) {
                cloth_stretch_stiffness(rows, G + 3 * p, down[p], NULL, NULL);
                cloth_stretch_table_stiffness(td, G + 3 * p, tdown[p], NULL, NULL);
            }
            rows[e] = saved;
            for (int p = 0; p < P; ++p)
                for (int i = 0; i < 4; ++i) {
                    const int table_smooth = corner_masks_agree(t, tu, td, G + 3 * p, i);
                    /* entry e moves only component e % 4; the others must not move at all */
                    const double nd = (up[p][i] - down[p][i]) / (2 * h), nt = (tup[p][i] - tdown[p][i]) / (2 * h);
                    const double ad = i == e % 4 ? J[p][e] : 0, at = i == e % 4 ? Jt[p][e] : 0;
                    if ((up[p][i] > 0) == (down[p][i] > 0))
                        check_add(&direct, ad, nd);
                    else
                        direct.skipped++;
                    if (table_smooth)
                        check_add(&table, at, nt);
                    else
                        table.skipped++;
                }
        }
    }
    check_end(&direct);
    check_end(&table);
    free(t), free(tu), free(td);
}

static void test_stiffness_backward(void **state)
{
    (void)state;
    cloth_material m;
    load(INTERLOCK, &m);
    cloth_stretch_table *t = malloc(sizeof *t);
    assert_non_null(t);
    assert_int_equal(cloth_stretch_table_build(t, m.stretching[0]), 0);
    const double G[3] = {0.05, 0.02, -0.03}, gk[4] = {0.3, -1.2, 0.7, 2.0};
    for (int mode = 0; mode < 2; ++mode) {
        double k[4], dk_dG[12], J[24], gG[3] = {0, 0, 0}, grows[24];
        memset(grows, 0, sizeof grows);
        cloth_stretch_stiffness_mode(mode, m.stretching[0], t, G, k, dk_dG, J);
        for (int pass = 1; pass <= 2; ++pass) {
            cloth_stretch_stiffness_backward(mode, m.stretching[0], t, G, gk, gG, grows);
            for (int j = 0; j < 3; ++j) {
                double want = 0;
                for (int i = 0; i < 4; ++i) want += gk[i] * dk_dG[3 * i + j];
                assert_true(fabs(gG[j] - pass * want) <= 1e-12 * (1 + fabs(want)));
            }
            for (int e = 0; e < 24; ++e) assert_true(fabs(grows[e] - pass * gk[e % 4] * J[e]) <= 1e-12);
        }
    }
    free(t);
}

/* ---- bending stiffness ---------------------------------------------------------------------- */

static long bend_state(const double *bend, const double *du, double theta, double l, double area, int mode)
{
    const double b = cloth_bend_angle_coord(du);
    const double raw_v = theta * l / area * (double)0.1;
    const double v = cloth_bend_curvature_coord(theta, l, area, mode, NULL);
    const double ke = cloth_bend_stiffness(bend, du, theta, l, area, mode, NULL, NULL);
    long st = (long)b * 8 + (v < 0 ? 7 : (long)v);
    st = st * 3 + (raw_v > 4) + 2 * (raw_v < 0);
    return st * 2 + (ke > 0);
}

static void test_bending_stiffness(void **state)
{
    (void)state;
    check geom, tab;
    check_begin(&geom, "dke/d(theta, l, A)");
    check_begin(&tab, "dke/dbending");
    for (int f = 0; f < 3; ++f) {
        cloth_material m;
        load(material_files[f], &m);
        double *bend = m.bending[0];
        rng_t rng;
        rng_seed(&rng, 30 + f, 0);
        for (int p = 0; p < 120; ++p) {
            const double phi = uniform(&rng, -M_PI, M_PI);
            const double du[2] = {cos(phi), sin(phi)};
            const double l = uniform(&rng, 0.01, 0.05), area = l * l * uniform(&rng, 0.4, 1.2);
            const double theta = 10 * uniform(&rng, -2.5, 5.5) * area / l;
            const int mode = p % 3;
            double dbend[15], dgeom[3];
            const double ke = cloth_bend_stiffness(bend, du, theta, l, area, mode, dbend, dgeom);
            (void)ke;
            double x[3] = {theta, l, area};
            const long here = bend_state(bend, du, x[0], x[1], x[2], mode);
            for (int j = 0; j < 3; ++j) {
                /* ke is linear in v = 0.1·θ·l/A inside a cell: a larger step only reduces round-off */
                const double saved = x[j], h = 1e-5 * fabs(saved);
                x[j] = saved + h;
                const double up = cloth_bend_stiffness(bend, du, x[0], x[1], x[2], mode, NULL, NULL);
                const long s_up = bend_state(bend, du, x[0], x[1], x[2], mode);
                x[j] = saved - h;
                const double down = cloth_bend_stiffness(bend, du, x[0], x[1], x[2], mode, NULL, NULL);
                const long s_down = bend_state(bend, du, x[0], x[1], x[2], mode);
                x[j] = saved;
                if (s_up == here && s_down == here)
                    check_add(&geom, dgeom[j], (up - down) / (2 * h));
                else
                    geom.skipped++;
            }
            for (int e = 0; e < 15; ++e) {
                const double saved = bend[e], h = 1e-4 * fabs(saved);
                bend[e] = saved + h;
                const double up = cloth_bend_stiffness(bend, du, theta, l, area, mode, NULL, NULL);
                bend[e] = saved - h;
                const double down = cloth_bend_stiffness(bend, du, theta, l, area, mode, NULL, NULL);
                bend[e] = saved;
                if ((up > 0) == (down > 0))
                    check_add(&tab, dbend[e], (up - down) / (2 * h));
                else
                    tab.skipped++;
            }
            /* backward accumulates */
            double gb[15], gg[3] = {0, 0, 0};
            memset(gb, 0, sizeof gb);
            cloth_bend_stiffness_backward(bend, du, theta, l, area, mode, 2.0, gb, gg);
            cloth_bend_stiffness_backward(bend, du, theta, l, area, mode, 2.0, gb, gg);
            for (int e = 0; e < 15; ++e) assert_true(fabs(gb[e] - 4 * dbend[e]) <= 1e-15);
            for (int j = 0; j < 3; ++j) assert_true(fabs(gg[j] - 4 * dgeom[j]) <= 1e-12 * fabs(dgeom[j]) + 1e-300);
        }
    }
    check_end(&geom);
    check_end(&tab);
}

/* ---- element energies ------------------------------------------------------------------------ */

static void random_hinge(rng_t *rng, double *x, double *u, int compress)
{
    const double base[6] = {0, 0, 0.04, 0.004, 0.014, 0.034};
    for (int i = 0; i < 6; ++i) u[i] = base[i] + uniform(rng, -0.004, 0.004);
    const double lo = compress ? 0.85 : 1.03, hi = compress ? 1.1 : 1.25;
    double A[6] = {uniform(rng, lo, hi), uniform(rng, -0.2, 0.2), uniform(rng, -0.2, 0.2),
                   uniform(rng, lo, hi), uniform(rng, -0.25, 0.25), uniform(rng, -0.25, 0.25)};
    const double c = cos(uniform(rng, 0, 6.3)), s = sin(uniform(rng, 0, 6.3));
    for (int v = 0; v < 3; ++v) {
        double p[3] = {A[0] * u[2 * v] + A[1] * u[2 * v + 1], A[2] * u[2 * v] + A[3] * u[2 * v + 1],
                       A[4] * u[2 * v] + A[5] * u[2 * v + 1]};
        x[3 * v] = c * p[0] - s * p[1] + 0.3;
        x[3 * v + 1] = s * p[0] + c * p[1] - 0.1;
        x[3 * v + 2] = p[2] + 0.5;
    }
    for (int a = 0; a < 3; ++a) x[9 + a] = x[a] + x[3 + a] - x[6 + a] + uniform(rng, -0.02, 0.02);
}

/* The Hessian terms ARCSim leaves out: the min(G, 0) parts and 2k3·G01·∂²G01. */
static void dropped_hessian(const double *x, const double *Dinv, double area, const double *k, double *H)
{
    double D[6], fu[3], fv[3], G[3];
    cloth_face_shape(Dinv, D);
    cloth_green_strain(x, Dinv, fu, fv, G);
    const double n00 = fmin(G[0], 0), n11 = fmin(G[1], 0);
    for (int a = 0; a < 9; ++a)
        for (int b = 0; b < 9; ++b) {
            double h = 0;
            if (a % 3 == b % 3) {
                const int i = a / 3, j = b / 3;
                h += (k[0] * n00 + k[1] * n11) * D[2 * i] * D[2 * j] + (k[2] * n11 + k[1] * n00) * D[2 * i + 1] * D[2 * j + 1];
                h += 2 * k[3] * G[2] * (D[2 * i] * D[2 * j + 1] + D[2 * i + 1] * D[2 * j]) / 2;
            }
            H[9 * a + b] = area * h;
        }
}

static void test_stretch_energy(void **state)
{
    (void)state;
    check grad, hess, dk, dgk;
    check_begin(&grad, "stretch energy d/dx");
    check_begin(&hess, "stretch Hessian (ARCSim + dropped terms)");
    check_begin(&dk, "stretch energy d/dk");
    check_begin(&dgk, "stretch gradient d/dk");
    cloth_material m;
    load(INTERLOCK, &m);
    rng_t rng;
    rng_seed(&rng, 40, 0);
    double gauss_newton_gap = 0;
    for (int p = 0; p < 30; ++p) {
        double x[12], u[6], Dinv[4], fu[3], fv[3], G[3], k[4];
        random_hinge(&rng, x, u, p % 2);
        const double area = cloth_face_rest(u, u + 2, u + 4, Dinv);
        cloth_green_strain(x, Dinv, fu, fv, G);
        cloth_stretch_stiffness(m.stretching[0], G, k, NULL, NULL);
        for (int i = 0; i < 4; ++i) k[i] += uniform(&rng, 10, 100); /* no zero stiffness */
        double g[9], H[81], dE_dk[4], dg_dk[36], extra[81];
        cloth_stretch_energy(x, Dinv, area, k, g, H, dE_dk, dg_dk);
        dropped_hessian(x, Dinv, area, k, extra);
        const double h = 1e-7;
        for (int a = 0; a < 9; ++a) {
            const double saved = x[a];
            double gu[9], gd[9];
            x[a] = saved + h;
            const double up = cloth_stretch_energy(x, Dinv, area, k, gu, NULL, NULL, NULL);
            x[a] = saved - h;
            const double down = cloth_stretch_energy(x, Dinv, area, k, gd, NULL, NULL, NULL);
            x[a] = saved;
            check_add(&grad, g[a], (up - down) / (2 * h));
            for (int b = 0; b < 9; ++b) {
                check_add(&hess, H[9 * b + a] + extra[9 * b + a], (gu[b] - gd[b]) / (2 * h));
                gauss_newton_gap = fmax(gauss_newton_gap, fabs(extra[9 * b + a]));
            }
        }
        for (int i = 0; i < 4; ++i) {
            const double saved = k[i], hk = 1e-3 * saved;
            double gu[9], gd[9];
            k[i] = saved + hk;
            const double up = cloth_stretch_energy(x, Dinv, area, k, gu, NULL, NULL, NULL);
            k[i] = saved - hk;
            const double down = cloth_stretch_energy(x, Dinv, area, k, gd, NULL, NULL, NULL);
            k[i] = saved;
            check_add(&dk, dE_dk[i], (up - down) / (2 * hk));
            for (int a = 0; a < 9; ++a) check_add(&dgk, dg_dk[4 * a + i], (gu[a] - gd[a]) / (2 * hk));
        }
    }
    printf("(ARCSim's Hessian leaves out terms up to %.3g here; the check adds them back)\n", gauss_newton_gap);
    assert_true(gauss_newton_gap > 0);
    check_end(&grad);
    check_end(&hess);
    check_end(&dk);
    check_end(&dgk);
}

static void test_bend_energy(void **state)
{
    (void)state;
    check dtheta, grad, hess, dke;
    check_begin(&dtheta, "dihedral angle d/dx");
    check_begin(&grad, "bend energy d/dx");
    check_begin(&hess, "bend Hessian at theta = rest");
    check_begin(&dke, "bend gradient d/dke");
    rng_t rng;
    rng_seed(&rng, 50, 0);
    for (int p = 0; p < 40; ++p) {
        double x[12], u[6], dth[12];
        random_hinge(&rng, x, u, 0);
        const double theta = cloth_dihedral_angle(x, dth);
        const double l = uniform(&rng, 0.03, 0.05), area = uniform(&rng, 5e-4, 1.5e-3), ke = uniform(&rng, 1e-5, 1e-4);
        const double rest = p % 2 ? theta : uniform(&rng, -0.4, 0.4);
        double g[12], H[144], dg_dke[12];
        cloth_bend_energy(x, l, area, ke, rest, g, H, dg_dke);
        const double h = 1e-7;
        for (int a = 0; a < 12; ++a) {
            const double saved = x[a];
            double gu[12], gd[12];
            x[a] = saved + h;
            const double tu = cloth_dihedral_angle(x, NULL), up = cloth_bend_energy(x, l, area, ke, rest, gu, NULL, NULL);
            x[a] = saved - h;
            const double td = cloth_dihedral_angle(x, NULL), down = cloth_bend_energy(x, l, area, ke, rest, gd, NULL, NULL);
            x[a] = saved;
            check_add(&dtheta, dth[a], (tu - td) / (2 * h));
            check_add(&grad, g[a], (up - down) / (2 * h));
            if (rest == theta)
                for (int b = 0; b < 12; ++b) check_add(&hess, H[12 * b + a], (gu[b] - gd[b]) / (2 * h));
        }
        const double hk = 1e-3 * ke;
        double gu[12], gd[12];
        cloth_bend_energy(x, l, area, ke + hk, rest, gu, NULL, NULL);
        cloth_bend_energy(x, l, area, ke - hk, rest, gd, NULL, NULL);
        for (int a = 0; a < 12; ++a) check_add(&dke, dg_dke[a], (gu[a] - gd[a]) / (2 * hk));
    }
    check_end(&dtheta);
    check_end(&grad);
    check_end(&hess);
    check_end(&dke);
}

/* ---- the reference at double precision ------------------------------------------------------ */

static int setup(void **state) { return tu_scratch_setup(state, "cloth_grad"); }
static int teardown(void **state) { return tu_scratch_teardown(state); }

static void write_doubles(const char *dir, const char *name, const double *v, size_t n, char *path, size_t size)
{
    tu_path_in(dir, name, path, size);
    tu_write_file(path, v, n * sizeof(double));
}

static void test_reference_double(void **state)
{
    const char *dir = ((tu_scratch *)*state)->dir;
    enum { NS = 600, NB = 300, NF = 20 };
    cloth_material m;
    load(INTERLOCK, &m);
    cloth_stretch_table *t = malloc(sizeof *t);
    double *in = malloc(NS * 26 * sizeof(double)), *out = malloc(NS * 249 * sizeof(double));
    assert_true(t && in && out);
    assert_int_equal(cloth_stretch_table_build(t, m.stretching[0]), 0);
    rng_t rng;
    rng_seed(&rng, 60, 0);
    char pin[256], pout[256], args[1024];
    /* stretching, direct and table */
    double G[3 * NS];
    random_strains(&rng, G, NS);
    for (int p = 0; p < NS; ++p) {
        double *o = out + 56 * p;
        double k[4], J[24];
        for (int j = 0; j < 3; ++j) in[3 * p + j] = G[3 * p + j];
        cloth_stretch_stiffness(m.stretching[0], G + 3 * p, k, NULL, J);
        for (int i = 0; i < 4; ++i) o[i] = k[i];
        for (int e = 0; e < 24; ++e) o[8 + e] = J[e];
        cloth_stretch_table_stiffness(t, G + 3 * p, k, NULL, J);
        for (int i = 0; i < 4; ++i) o[4 + i] = k[i];
        for (int e = 0; e < 24; ++e) o[32 + e] = J[e];
    }
    write_doubles(dir, "g.f64", in, 3 * NS, pin, sizeof pin);
    write_doubles(dir, "k.f64", out, 56 * NS, pout, sizeof pout);
    snprintf(args, sizeof args, "validation/reference/cloth_material_reference.py stretch %s %s %s 1e-10", INTERLOCK, pin, pout);
    assert_int_equal(tu_run_python("%s", args), 0);
    /* bending */
    for (int p = 0; p < NB; ++p) {
        const double phi = uniform(&rng, -M_PI, M_PI);
        const double du[2] = {cos(phi), sin(phi)}, l = uniform(&rng, 0.01, 0.05), area = l * l * uniform(&rng, 0.4, 1.2);
        const double theta = 10 * uniform(&rng, -3, 6) * area / l;
        double dbend[15];
        double *row = in + 6 * p, *o = out + 16 * p;
        row[0] = du[0], row[1] = du[1], row[2] = theta, row[3] = l, row[4] = area, row[5] = p % 3;
        o[0] = cloth_bend_stiffness(m.bending[0], du, theta, l, area, p % 3, dbend, NULL);
        for (int e = 0; e < 15; ++e) o[1 + e] = dbend[e];
    }
    write_doubles(dir, "e.f64", in, 6 * NB, pin, sizeof pin);
    write_doubles(dir, "ke.f64", out, 16 * NB, pout, sizeof pout);
    snprintf(args, sizeof args, "validation/reference/cloth_material_reference.py bend %s %s %s 1e-10", INTERLOCK, pin, pout);
    assert_int_equal(tu_run_python("%s", args), 0);
    /* element forces */
    for (int p = 0; p < NF; ++p) {
        double x[12], u[6], Dinv[4], fu[3], fv[3], Gs[3], k[4], g[12], H[144];
        random_hinge(&rng, x, u, p % 2);
        const double area = cloth_face_rest(u, u + 2, u + 4, Dinv);
        cloth_green_strain(x, Dinv, fu, fv, Gs);
        cloth_stretch_stiffness(m.stretching[0], Gs, k, NULL, NULL);
        const double ke = uniform(&rng, 1e-5, 1e-4), l = uniform(&rng, 0.03, 0.05), ha = 2 * area, rest = uniform(&rng, -0.3, 0.3);
        double *row = in + 26 * p, *o = out + 249 * p;
        for (int i = 0; i < 12; ++i) row[i] = x[i];
        for (int i = 0; i < 6; ++i) row[12 + i] = u[i];
        for (int i = 0; i < 4; ++i) row[18 + i] = k[i];
        row[22] = ke, row[23] = l, row[24] = ha, row[25] = rest;
        o[0] = cloth_stretch_energy(x, Dinv, area, k, g, H, NULL, NULL);
        memcpy(o + 1, g, 9 * sizeof(double));
        memcpy(o + 10, H, 81 * sizeof(double));
        o[91] = cloth_dihedral_angle(x, NULL);
        o[92] = cloth_bend_energy(x, l, ha, ke, rest, g, H, NULL);
        memcpy(o + 93, g, 12 * sizeof(double));
        memcpy(o + 105, H, 144 * sizeof(double));
    }
    write_doubles(dir, "x.f64", in, 26 * NF, pin, sizeof pin);
    write_doubles(dir, "f.f64", out, 249 * NF, pout, sizeof pout);
    snprintf(args, sizeof args, "validation/reference/cloth_material_reference.py forces %s %s 1e-10", pin, pout);
    assert_int_equal(tu_run_python("%s", args), 0);
    free(t), free(in), free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stiffness_wrt_strain),
        cmocka_unit_test(test_stiffness_wrt_rows),
        cmocka_unit_test(test_stiffness_backward),
        cmocka_unit_test(test_bending_stiffness),
        cmocka_unit_test(test_stretch_energy),
        cmocka_unit_test(test_bend_energy),
        cmocka_unit_test_setup_teardown(test_reference_double, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
