/* test_cloth_material.c — the Wang et al. 2011 cloth material (cloth_material.h): ARCSim
 * material files (good and bad), hand-checked stiffness values at strains and edges whose
 * answer is known, and comparisons on random inputs with the literal ARCSim transcription in
 * validation/reference/cloth_material_reference.py (stretching stiffness direct and 30³-table,
 * their table Jacobians, bending stiffness in the three curvature modes, element forces). */
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
#define REFERENCE_TOL 1e-5

static const char *const material_files[] = {DENIM, INTERLOCK, PHISFT};

static int setup(void **state) { return tu_scratch_setup(state, "cloth_material"); }
static int teardown(void **state) { return tu_scratch_teardown(state); }

static void load(const char *path, cloth_material *m)
{
    if (cloth_material_load(path, NULL, m)) fail_msg("%s", err_message());
}

static void assert_close(double got, double want, double rel, const char *what)
{
    if (!(fabs(got - want) <= rel * fmax(fabs(want), 1e-30)))
        fail_msg("%s: %.9g, expected %.9g", what, got, want);
}

/* ---- files ---------------------------------------------------------------------------- */

static void test_load_materials(void **state)
{
    (void)state;
    cloth_material m;
    load(DENIM, &m);
    assert_close(m.density, 0.324, 1e-7, "denim density");
    assert_close(m.stretching[0][0], 205.352005, 1e-7, "denim row 0");
    assert_close(m.stretching[5][3], 71.810631, 1e-7, "denim row 5");
    assert_close(m.bending[2][4], 79.781021e-6, 1e-7, "denim bending [90°][K=40]");
    load(INTERLOCK, &m);
    assert_close(m.stretching[4][3], -174.43853, 1e-7, "interlock negative entry");
    assert_close(m.bending[1][4], 8.860165e-6, 1e-7, "interlock bending");
    /* ϕ-SfT's units: stretching / 1e3, bending · 1e4 */
    load(PHISFT, &m);
    assert_close(m.density, 0.23, 1e-7, "phisft density");
    assert_close(m.stretching[0][2], 210.213, 1e-6, "phisft stretching in N/m");
    assert_close(m.stretching[4][3], -20.492, 1e-6, "phisft stretching in N/m");
    assert_close(m.bending[0][2], 0.822999e-4, 1e-6, "phisft bending in N·m");
}

static void test_multipliers(void **state)
{
    (void)state;
    cloth_material plain, scaled;
    load(DENIM, &plain);
    cloth_material_options o;
    cloth_material_options_init(&o);
    o.density_mult = 2, o.stretching_mult = 3, o.bending_mult = 5, o.thicken = 0.5;
    assert_int_equal(cloth_material_load(DENIM, &o, &scaled), 0);
    assert_close(scaled.density, plain.density * 1.0, 1e-7, "density × 2 × 0.5");
    for (int r = 0; r < 6; ++r)
        for (int c = 0; c < 4; ++c) assert_close(scaled.stretching[r][c], plain.stretching[r][c] * 1.5, 1e-6, "stretching");
    for (int a = 0; a < 3; ++a)
        for (int c = 0; c < 5; ++c) assert_close(scaled.bending[a][c], plain.bending[a][c] * 2.5, 1e-6, "bending");
    /* k = 2·max(raw, 0) is homogeneous: scaling the rows scales k, as ARCSim scales its samples */
    const double G[3] = {0.05f, -0.02f, 0.03f};
    double k0[4], k1[4];
    cloth_stretch_stiffness(plain.stretching[0], G, k0, NULL, NULL);
    cloth_stretch_stiffness(scaled.stretching[0], G, k1, NULL, NULL);
    for (int i = 0; i < 4; ++i) assert_close(k1[i], 1.5 * k0[i], 1e-6, "scaled k");
    o.thicken = 0;
    assert_int_equal(cloth_material_load(DENIM, &o, &scaled), -1);
    assert_error_mentions(DENIM, "thicken");
    cloth_material_options_init(&o);
    o.bending_mult = NAN;
    assert_int_equal(cloth_material_load(DENIM, &o, &scaled), -1);
    assert_error_mentions(DENIM, "bending_mult");
}

static void expect_load_error(const char *dir, const char *name, const char *text, const char *needle)
{
    char path[256];
    tu_path_in(dir, name, path, sizeof path);
    tu_write_text(path, text);
    cloth_material m, before;
    memset(&m, 0x5a, sizeof m);
    before = m;
    err_clear();
    assert_int_equal(cloth_material_load(path, NULL, &m), -1);
    assert_error_mentions(path, needle);
    assert_memory_equal(&m, &before, sizeof m); /* untouched on failure */
}

#define ROWS6 "[[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]]"
#define BEND3 "[[1,2,3,4,5],[1,2,3,4,5],[1,2,3,4,5]]"

static void test_bad_files(void **state)
{
    const char *dir = ((tu_scratch *)*state)->dir;
    char missing[256];
    tu_path_in(dir, "nope.json", missing, sizeof missing);
    cloth_material m;
    assert_int_equal(cloth_material_load(missing, NULL, &m), -1);
    assert_error_contains(missing);
    /* a valid file first, so that each bad one differs from it in one way */
    char good[256];
    tu_path_in(dir, "good.json", good, sizeof good);
    tu_write_text(good, "{\"density\": 0.2, \"stretching\": " ROWS6 ", \"bending\": " BEND3 "}");
    assert_int_equal(cloth_material_load(good, NULL, &m), 0);
    expect_load_error(dir, "truncated.json", "{\"density\": 0.2,\n \"stretching\": [[1,2,3,4],\n[1,2", "line 3");
    expect_load_error(dir, "empty.json", "", "malformed JSON");
    expect_load_error(dir, "short_row.json",
                      "{\"density\": 0.2, \"stretching\": [[1,2,3,4],[1,2,3],[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]], "
                      "\"bending\": " BEND3 "}",
                      "row 1 has 3 entries, expected 4");
    expect_load_error(dir, "five_rows.json",
                      "{\"density\": 0.2, \"stretching\": [[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]], "
                      "\"bending\": " BEND3 "}",
                      "'stretching' must be an array of 6 rows");
    expect_load_error(dir, "bend_row.json",
                      "{\"density\": 0.2, \"stretching\": " ROWS6 ", \"bending\": [[1,2,3,4,5],[1,2,3,4,5,6],[1,2,3,4,5]]}",
                      "'bending' row 1 has 6 entries, expected 5");
    expect_load_error(dir, "nan.json", "{\"density\": NaN, \"stretching\": " ROWS6 ", \"bending\": " BEND3 "}",
                      "malformed JSON");
    expect_load_error(dir, "inf.json",
                      "{\"density\": 0.2, \"stretching\": [[1,2,3,4],[1,2,1e999,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]], "
                      "\"bending\": " BEND3 "}",
                      "'stretching'[1][2] is not finite");
    expect_load_error(dir, "string.json", "{\"density\": 0.2, \"stretching\": " ROWS6 ", \"bending\": [[1,2,3,4,\"5\"],"
                      "[1,2,3,4,5],[1,2,3,4,5]]}", "'bending'[0][4] is not a number");
    expect_load_error(dir, "unknown.json",
                      "{\"density\": 0.2, \"stretching\": " ROWS6 ", \"bending\": " BEND3 ", \"damping\": 0.1}",
                      "unknown key 'damping'");
    expect_load_error(dir, "dup.json",
                      "{\"density\": 0.2, \"density\": 0.3, \"stretching\": " ROWS6 ", \"bending\": " BEND3 "}",
                      "duplicate key 'density'");
    expect_load_error(dir, "nobend.json", "{\"density\": 0.2, \"stretching\": " ROWS6 "}", "missing key 'bending'");
    expect_load_error(dir, "units.json",
                      "{\"units\": \"cgs\", \"density\": 0.2, \"stretching\": " ROWS6 ", \"bending\": " BEND3 "}",
                      "unknown units 'cgs'");
    expect_load_error(dir, "density.json", "{\"density\": -1, \"stretching\": " ROWS6 ", \"bending\": " BEND3 "}",
                      "'density' -1 must be positive");
    expect_load_error(dir, "array.json", "[1, 2, 3]", "expected a JSON object");
}

static void test_save_round_trip(void **state)
{
    char path[256];
    tu_scratch_path(*state, "saved.json", path, sizeof path);
    for (int f = 0; f < 3; ++f) {
        cloth_material m, back;
        load(material_files[f], &m);
        assert_int_equal(cloth_material_save(path, &m), 0);
        load(path, &back);
        assert_memory_equal(&m, &back, sizeof m);
    }
    cloth_material m;
    load(DENIM, &m);
    m.bending[1][1] = INFINITY;
    assert_int_equal(cloth_material_save(path, &m), -1);
    assert_error_contains(path);
}

/* ---- values with a known answer ------------------------------------------------------- */

/* k = 2·((1 − s)·row0 + s·(the level-1 row(s) at α)), each component clamped at 0. */
static void expected_k(const cloth_material *m, double s, int row_a, int row_b, double f, double k[4])
{
    for (int i = 0; i < 4; ++i) {
        double raw = (1 - s) * m->stretching[0][i] + s * ((1 - f) * m->stretching[row_a][i] + f * m->stretching[row_b][i]);
        k[i] = 2 * fmax(raw, 0);
    }
}

static void check_k(const cloth_material *m, const double G[3], const double want[4], const char *what)
{
    double k[4];
    cloth_stretch_stiffness(m->stretching[0], G, k, NULL, NULL);
    for (int i = 0; i < 4; ++i) {
        char label[96];
        snprintf(label, sizeof label, "%s k%d", what, i);
        if (!(fabs(k[i] - want[i]) <= 2e-6 * fmax(fabs(want[i]), 1)))
            fail_msg("%s: %.9g, expected %.9g", label, (double)k[i], want[i]);
    }
}

static void test_stretch_known_values(void **state)
{
    (void)state;
    cloth_material m;
    load(DENIM, &m);
    double want[4];
    const double g = 0.02, s = 6 * (sqrt(1 + 2 * g) - 1);
    /* no strain: level 0 */
    const double zero[3] = {0, 0, 0};
    expected_k(&m, 0, 1, 1, 0, want);
    check_k(&m, zero, want, "G = 0");
    /* stretch along u: principal direction 0° */
    const double along_u[3] = {(double)g, 0, 0};
    expected_k(&m, s, 1, 2, 0, want);
    check_k(&m, along_u, want, "stretch along u");
    /* along v: 90°, i.e. α clamped to 4 − 1e-6 between rows 4 and 5 */
    const double along_v[3] = {0, (double)g, 0};
    expected_k(&m, s, 4, 5, 1 - 1e-6, want);
    check_k(&m, along_v, want, "stretch along v");
    /* isotropic stretch: every direction is principal; ARCSim's eigenvector is (1, 0) */
    const double iso[3] = {(double)g, (double)g, 0};
    expected_k(&m, s, 1, 2, 0, want);
    check_k(&m, iso, want, "isotropic");
    /* equal normal strains and shear: principal direction 45° (row 3) */
    const double diag[3] = {(double)g, (double)g, (double)(g / 4)};
    const double s45 = 6 * (sqrt(1 + 2.5 * g) - 1); /* λ² = 1 + G00 + G11 + 2|G01| */
    expected_k(&m, s45, 3, 4, 0, want);
    check_k(&m, diag, want, "45 degrees");
    /* shear of either sign is the same */
    const double neg[3] = {(double)g, (double)g, (double)(-g / 4)};
    check_k(&m, neg, want, "45 degrees, negative shear");
    /* beyond 1/6 stretch: level 1 only */
    const double big[3] = {0.4f, 0, 0};
    expected_k(&m, 1 - 1e-6, 1, 2, 0, want);
    check_k(&m, big, want, "large stretch");
    /* compression: s = 0 */
    const double comp[3] = {-0.1f, -0.05f, 0.01f};
    expected_k(&m, 0, 1, 1, 0, want);
    check_k(&m, comp, want, "compression");
    /* gray interlock's k3 at 67.5° (G00 − G11 = −2|G01|) and full stretch: row 4's −174.4 → k3 = 0 */
    load(INTERLOCK, &m);
    const double v_big[3] = {0.1f, 0.3f, 0.1f};
    double k[4], dk_dG[12], dk_drows[24];
    cloth_stretch_stiffness(m.stretching[0], v_big, k, dk_dG, dk_drows);
    assert_true(k[3] == 0);
    for (int r = 0; r < 6; ++r) assert_true(dk_drows[4 * r + 3] == 0);
    for (int j = 0; j < 3; ++j) assert_true(dk_dG[3 * 3 + j] == 0);
}

static void test_table_on_grid(void **state)
{
    (void)state;
    cloth_material m;
    load(INTERLOCK, &m);
    cloth_stretch_table *t = malloc(sizeof *t);
    assert_non_null(t);
    assert_int_equal(cloth_stretch_table_build(t, m.stretching[0]), 0);
    /* interior grid points: the lookup returns the sample */
    const int pts[][3] = {{3, 7, 0}, {10, 10, 0}, {12, 5, 4}, {0, 0, 0}, {20, 25, 28}, {15, 14, 1}};
    for (size_t p = 0; p < sizeof pts / sizeof *pts; ++p) {
        const double G[3] = {(double)(-0.25 + pts[p][0] / 30.0), (double)(-0.25 + pts[p][1] / 30.0), (double)(pts[p][2] / 30.0)};
        double kt[4], kd[4];
        cloth_stretch_table_stiffness(t, G, kt, NULL, NULL);
        cloth_stretch_stiffness(m.stretching[0], G, kd, NULL, NULL);
        for (int i = 0; i < 4; ++i) assert_true(fabs(kt[i] - kd[i]) <= 1e-4 * fmax(fabs(kd[i]), 1));
    }
    /* outside the table the lookup is the border value */
    const double far[3] = {2.0f, -1.0f, -3.0f}, edge[3] = {(double)(-0.25 + 29 / 30.0), -0.25f, (double)(29 / 30.0)};
    double kf[4], ke[4], dk_dG[12];
    cloth_stretch_table_stiffness(t, far, kf, dk_dG, NULL);
    cloth_stretch_table_stiffness(t, edge, ke, NULL, NULL);
    for (int i = 0; i < 4; ++i) assert_true(fabs(kf[i] - ke[i]) <= 1e-3 * fmax(fabs(ke[i]), 1));
    for (int i = 0; i < 12; ++i) assert_true(dk_dG[i] == 0);
    /* non-finite rows are refused */
    double rows[24];
    memcpy(rows, m.stretching[0], sizeof rows);
    rows[7] = NAN;
    assert_int_equal(cloth_stretch_table_build(t, rows), -1);
    assert_error_contains("row 1");
    free(t);
}

static void test_bend_known_values(void **state)
{
    (void)state;
    cloth_material m;
    load(DENIM, &m);
    const double *b = m.bending[0];
    const double ux[2] = {1, 0}, uy[2] = {0, 2}, d45[2] = {1, 1}, back[2] = {-3, 0}, d135[2] = {-1, 1}, d60[2] = {0.5f, 0.8660254f};
    const double l = 0.02f, area = 4e-4f; /* v = 0.1·θ·l/area = 5·θ */
    struct {
        const double *du;
        double theta;
        int mode;
        double want;
    } cases[] = {
        {ux, 0, CLOTH_CURVATURE_CLAMP, b[0]},
        {uy, 0, CLOTH_CURVATURE_CLAMP, b[10]},
        {d45, 0, CLOTH_CURVATURE_CLAMP, b[5]},
        {back, 0, CLOTH_CURVATURE_CLAMP, b[0]},
        {d135, 0, CLOTH_CURVATURE_CLAMP, b[5]},
        {d60, 0, CLOTH_CURVATURE_CLAMP, (2 * b[5] + b[10]) / 3},
        {ux, 0.5f, CLOTH_CURVATURE_CLAMP, 0.5 * b[2] + 0.5 * b[3]},  /* v = 2.5 */
        {ux, 3.0f, CLOTH_CURVATURE_CLAMP, b[4]},                     /* v = 15 → 4 */
        {ux, -0.1f, CLOTH_CURVATURE_CLAMP, b[0]},                    /* v = −0.5 → 0 */
        {ux, -0.5f, CLOTH_CURVATURE_ABS, 0.5 * b[2] + 0.5 * b[3]},
        {ux, -0.1f, CLOTH_CURVATURE_ARCSIM, 1.5 * b[0] - 0.5 * b[1]}, /* ARCSim extrapolates */
        {ux, 0.5f, CLOTH_CURVATURE_ARCSIM, 0.5 * b[2] + 0.5 * b[3]},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; ++c) {
        double got = cloth_bend_stiffness(b, cases[c].du, cases[c].theta, l, area, cases[c].mode, NULL, NULL);
        if (!(fabs(got - cases[c].want) <= 1e-5 * fabs(cases[c].want)))
            fail_msg("case %zu: ke %.9g, expected %.9g", c, (double)got, cases[c].want);
    }
    /* the edge takes the smaller face value */
    int side = -1;
    double ke = cloth_bend_stiffness_edge(m.bending[0], ux, m.bending[0], uy, 0, l, area, CLOTH_CURVATURE_CLAMP, &side);
    assert_true(ke == fmin(b[0], b[10]));
    assert_int_equal(side, b[10] < b[0]);
    /* a strongly negative fold under ARCSim's extrapolation can reach the ReLU */
    cloth_material g;
    load(INTERLOCK, &g);
    double dbend[15];
    assert_true(cloth_bend_stiffness(g.bending[0], ux, -2.0f, l, area, CLOTH_CURVATURE_ARCSIM, dbend, NULL) == 0);
    for (int e = 0; e < 15; ++e) assert_true(dbend[e] == 0);
}

static void test_element_conventions(void **state)
{
    (void)state;
    /* flat hinge along +x: θ = 0; raising a wing along its face normal folds positively */
    double x[12] = {0, 0, 0, 1, 0, 0, 0.5f, 1, 0, 0.4f, -1, 0};
    assert_true(fabs(cloth_dihedral_angle(x, NULL)) < 1e-7);
    x[8] = 0.3f;
    const double theta = cloth_dihedral_angle(x, NULL);
    assert_true(theta > 0.25f && theta < 0.35f);
    x[8] = 0, x[11] = 0.3f;
    assert_true(fabs(cloth_dihedral_angle(x, NULL) - theta) < 1e-6);
    /* a face in its rest shape: no strain, energy or force */
    const double u[6] = {0.1f, 0.2f, 0.14f, 0.21f, 0.12f, 0.25f};
    double Dinv[4];
    const double area = cloth_face_rest(u, u + 2, u + 4, Dinv);
    assert_close(area, 0.5 * fabs(0.04 * 0.05 - 0.02 * 0.01), 1e-5, "rest area");
    const double xr[9] = {u[0], u[1], 0, u[2], u[3], 0, u[4], u[5], 0}, k[4] = {400, 20, 2000, 100};
    double fu[3], fv[3], G[3], grad[9];
    cloth_green_strain(xr, Dinv, fu, fv, G);
    for (int j = 0; j < 3; ++j) assert_true(fabs(G[j]) < 1e-5);
    assert_true(fabs(cloth_stretch_energy(xr, Dinv, area, k, grad, NULL, NULL, NULL)) < 1e-12);
    for (int a = 0; a < 9; ++a) assert_true(fabs(grad[a]) < 1e-4);
}

/* ---- comparisons with the reference ------------------------------------------------------ */

static double uniform(rng_t *rng, double lo, double hi) { return lo + (hi - lo) * rng_uniform(rng); }

static int run_reference(const char *args)
{
    return tu_run_python("validation/reference/cloth_material_reference.py %s", args);
}

/* Random strains in the range of the stiffness data, wide ones over the table's border, and
 * the special points: on the grid, zero shear both ways round, isotropic. */
static size_t make_strains(rng_t *rng, double *G, size_t cap)
{
    size_t n = 0;
    for (; n < 700; ++n) {
        G[3 * n] = (double)uniform(rng, -0.08, 0.16);
        G[3 * n + 1] = (double)uniform(rng, -0.08, 0.16);
        G[3 * n + 2] = (double)uniform(rng, -0.1, 0.1);
    }
    for (; n < 1100; ++n) {
        G[3 * n] = (double)uniform(rng, -0.32, 0.8);
        G[3 * n + 1] = (double)uniform(rng, -0.32, 0.8);
        G[3 * n + 2] = (double)uniform(rng, -1.05, 1.05);
    }
    for (int i = 0; i < 30 && n < cap; i += 3)
        for (int j = 1; j < 30 && n < cap; j += 4, ++n) {
            G[3 * n] = (double)(-0.25 + i / 30.0);
            G[3 * n + 1] = (double)(-0.25 + j / 30.0);
            G[3 * n + 2] = (double)(((i + j) % 30) / 30.0);
        }
    const double special[][3] = {{0, 0, 0}, {0.05f, 0.01f, 0}, {0.01f, 0.05f, 0}, {0.03f, 0.03f, 0}, {0.03f, 0.03f, 0.01f},
                               {0.1f, -0.1f, 0}, {-0.1f, 0.1f, 0}, {0.3f, 0.3f, 0}, {0.03f, 0.03f, -0.01f}};
    for (size_t s = 0; s < sizeof special / sizeof *special && n < cap; ++s, ++n) memcpy(G + 3 * n, special[s], sizeof special[s]);
    return n;
}

static void write_doubles(const char *path, const double *v, size_t n) { tu_write_file(path, v, n * sizeof(double)); }

static void check_stretch_against_reference(const char *dir, const char *material, uint64_t seed)
{
    enum { CAP = 1300, OUT = 56 };
    cloth_material m;
    load(material, &m);
    cloth_stretch_table *t = malloc(sizeof *t);
    double *G = malloc(CAP * 3 * sizeof(double));
    double *in = malloc(CAP * 3 * sizeof(double)), *out = malloc(CAP * OUT * sizeof(double));
    assert_true(t && G && in && out);
    assert_int_equal(cloth_stretch_table_build(t, m.stretching[0]), 0);
    rng_t rng;
    rng_seed(&rng, seed, 0);
    size_t n = make_strains(&rng, G, CAP);
    for (size_t p = 0; p < n; ++p) {
        double k[4], J[24];
        for (int j = 0; j < 3; ++j) in[3 * p + j] = G[3 * p + j];
        double *o = out + OUT * p;
        cloth_stretch_stiffness_mode(CLOTH_STRETCH_DIRECT, m.stretching[0], NULL, G + 3 * p, k, NULL, J);
        for (int i = 0; i < 4; ++i) o[i] = k[i];
        for (int e = 0; e < 24; ++e) o[8 + e] = J[e];
        cloth_stretch_stiffness_mode(CLOTH_STRETCH_TABLE, m.stretching[0], t, G + 3 * p, k, NULL, J);
        for (int i = 0; i < 4; ++i) o[4 + i] = k[i];
        for (int e = 0; e < 24; ++e) o[32 + e] = J[e];
    }
    char pin[256], pout[256], args[1024];
    tu_path_in(dir, "strains.f64", pin, sizeof pin);
    tu_path_in(dir, "stiffness.f64", pout, sizeof pout);
    write_doubles(pin, in, 3 * n);
    write_doubles(pout, out, OUT * n);
    snprintf(args, sizeof args, "stretch %s %s %s %g", material, pin, pout, REFERENCE_TOL);
    assert_int_equal(run_reference(args), 0);
    free(t), free(G), free(in), free(out);
}

static void test_stretch_reference(void **state)
{
    for (int f = 0; f < 3; ++f) check_stretch_against_reference(((tu_scratch *)*state)->dir, material_files[f], 100 + f);
}

static void check_bend_against_reference(const char *dir, const char *material, uint64_t seed)
{
    enum { N = 600 };
    cloth_material m;
    load(material, &m);
    double *in = malloc(N * 6 * sizeof(double)), *out = malloc(N * 16 * sizeof(double));
    assert_true(in && out);
    rng_t rng;
    rng_seed(&rng, seed, 0);
    const double axes[][2] = {{1, 0}, {0, 1}, {1, 1}, {-1, 1}, {1, -1}, {-1, 0}, {0, -1}};
    for (int p = 0; p < N; ++p) {
        double du[2];
        if (p < 7 * 3) {
            du[0] = axes[p % 7][0], du[1] = axes[p % 7][1];
        } else {
            double phi = uniform(&rng, -M_PI, M_PI);
            du[0] = (double)(0.03 * cos(phi)), du[1] = (double)(0.03 * sin(phi));
        }
        const double l = (double)uniform(&rng, 0.005, 0.05), area = (double)(l * l * uniform(&rng, 0.4, 1.2));
        const int mode = p % 3;
        /* the curvature coordinate beyond both ends; far below 0 ARCSim's extrapolation reaches the ReLU */
        const double v = (double)(p % 50 == 0 ? 0 : uniform(&rng, mode == CLOTH_CURVATURE_ARCSIM ? -15 : -3, 6));
        const double theta = (double)(10 * v * area / l);
        double dbend[15];
        double ke = cloth_bend_stiffness(m.bending[0], du, theta, l, area, mode, dbend, NULL);
        double *row = in + 6 * p, *o = out + 16 * p;
        row[0] = du[0], row[1] = du[1], row[2] = theta, row[3] = l, row[4] = area, row[5] = mode;
        o[0] = ke;
        for (int e = 0; e < 15; ++e) o[1 + e] = dbend[e];
    }
    char pin[256], pout[256], args[1024];
    tu_path_in(dir, "edges.f64", pin, sizeof pin);
    tu_path_in(dir, "ke.f64", pout, sizeof pout);
    write_doubles(pin, in, 6 * N);
    write_doubles(pout, out, 16 * N);
    snprintf(args, sizeof args, "bend %s %s %s %g", material, pin, pout, REFERENCE_TOL);
    assert_int_equal(run_reference(args), 0);
    free(in), free(out);
}

static void test_bend_reference(void **state)
{
    for (int f = 0; f < 3; ++f) check_bend_against_reference(((tu_scratch *)*state)->dir, material_files[f], 200 + f);
}

/* A random hinge: rest triangle (u0, u1, u2) mapped by a random stretch, shear and rotation to
 * (x0, x1, x2), and a fourth vertex across the edge x0–x1, out of the plane. */
static void random_hinge(rng_t *rng, double *x, double *u)
{
    const double base[6] = {0, 0, 0.04, 0.004, 0.014, 0.034};
    for (int i = 0; i < 6; ++i) u[i] = (double)(base[i] + uniform(rng, -0.004, 0.004));
    double A[6] = {uniform(rng, 1.03, 1.25), uniform(rng, -0.15, 0.15), uniform(rng, -0.15, 0.15),
                   uniform(rng, 1.03, 1.25), uniform(rng, -0.2, 0.2), uniform(rng, -0.2, 0.2)}; /* 3×2 */
    const double c = cos(uniform(rng, 0, 6.3)), s = sin(uniform(rng, 0, 6.3));
    for (int v = 0; v < 3; ++v) {
        double p[3] = {A[0] * u[2 * v] + A[1] * u[2 * v + 1], A[2] * u[2 * v] + A[3] * u[2 * v + 1],
                       A[4] * u[2 * v] + A[5] * u[2 * v + 1]};
        x[3 * v] = (double)(c * p[0] - s * p[1] + 0.3);
        x[3 * v + 1] = (double)(s * p[0] + c * p[1] - 0.1);
        x[3 * v + 2] = (double)(p[2] + 0.5);
    }
    /* across the edge: reflect x2 through the edge's midpoint, then lift it */
    for (int a = 0; a < 3; ++a) x[9 + a] = (double)(x[a] + x[3 + a] - x[6 + a] + uniform(rng, -0.015, 0.015));
}

static void check_forces_against_reference(const char *dir, const char *tol)
{
    enum { N = 60, IN = 26, OUT = 249 };
    cloth_material m;
    load(DENIM, &m);
    double *in = malloc(N * IN * sizeof(double)), *out = malloc(N * OUT * sizeof(double));
    assert_true(in && out);
    rng_t rng;
    rng_seed(&rng, 300, 0);
    for (int p = 0; p < N; ++p) {
        double x[12], u[6], Dinv[4], fu[3], fv[3], G[3], k[4];
        random_hinge(&rng, x, u);
        const double area = cloth_face_rest(u, u + 2, u + 4, Dinv);
        cloth_green_strain(x, Dinv, fu, fv, G);
        cloth_stretch_stiffness(m.stretching[0], G, k, NULL, NULL);
        const double ke = (double)uniform(&rng, 1e-5, 1e-4), l = (double)uniform(&rng, 0.03, 0.05);
        const double hinge_area = (double)(2 * area * uniform(&rng, 0.8, 1.2)), rest = (double)uniform(&rng, -0.3, 0.3);
        double *row = in + IN * p, *o = out + OUT * p;
        for (int i = 0; i < 12; ++i) row[i] = x[i];
        for (int i = 0; i < 6; ++i) row[12 + i] = u[i];
        for (int i = 0; i < 4; ++i) row[18 + i] = k[i];
        row[22] = ke, row[23] = l, row[24] = hinge_area, row[25] = rest;
        double grad[12], hess[144];
        o[0] = cloth_stretch_energy(x, Dinv, area, k, grad, hess, NULL, NULL);
        for (int a = 0; a < 9; ++a) o[1 + a] = grad[a];
        for (int a = 0; a < 81; ++a) o[10 + a] = hess[a];
        o[91] = cloth_dihedral_angle(x, NULL);
        o[92] = cloth_bend_energy(x, l, hinge_area, ke, rest, grad, hess, NULL);
        for (int a = 0; a < 12; ++a) o[93 + a] = grad[a];
        for (int a = 0; a < 144; ++a) o[105 + a] = hess[a];
    }
    char pin[256], pout[256], args[1024];
    tu_path_in(dir, "hinges.f64", pin, sizeof pin);
    tu_path_in(dir, "forces.f64", pout, sizeof pout);
    write_doubles(pin, in, IN * N);
    write_doubles(pout, out, OUT * N);
    snprintf(args, sizeof args, "forces %s %s %s", pin, pout, tol);
    assert_int_equal(run_reference(args), 0);
    free(in), free(out);
}

/* G = ½(FᵀF − I) loses ~1e-7 absolute to cancellation in float, so strains of ~10 % keep the
 * forces' relative error near 1e-6. */
static void test_forces_reference(void **state) { check_forces_against_reference(((tu_scratch *)*state)->dir, "2e-5"); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_materials),
        cmocka_unit_test(test_multipliers),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_round_trip, setup, teardown),
        cmocka_unit_test(test_stretch_known_values),
        cmocka_unit_test(test_table_on_grid),
        cmocka_unit_test(test_bend_known_values),
        cmocka_unit_test(test_element_conventions),
        cmocka_unit_test_setup_teardown(test_stretch_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bend_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forces_reference, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
