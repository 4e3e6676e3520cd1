/* grad_cloth.c — the cloth rollout's adjoint against central finite differences of whole
 * rollouts (20 frames × 2 substeps), for every parameter kind: density, the 24 stretching and
 * 15 bending entries, wind, initial positions and velocities, corrective velocities and handle
 * trajectories.  Scenes (see scene_make): a 10×10 cloth with every table entry and a 30×30 cloth
 * with a sample of each kind, held at the four corners by moving handles, under gravity and
 * wind, with damping and random correctives, in the smooth part of the material model (one
 * stretching row for every angle); the 30³ table with per-frame recomputation (checkpointing);
 * and the fabric's own angle table, whose cells the free edges cross, as the kink case with a
 * loose bound.  Solves are direct (LU), so the rollout is smooth in the parameters.
 * The loss is L = Σ_f Σ_i a_fi·x_fi + ½Σ b_fi·v_fi² with random a, b.  Each check prints its
 * worst error normwise: max |analytic − numeric| over the kind's entries / max |analytic|. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/cloth.h"
#include "phive/cloth_collision.h"
#include "phive/errors.h"
#include "phive/rng.h"

#include "petsc_fixture.h"
#include "test_util.h"

#define FRAMES 20
#define GRAD_TOL 1e-5
#define KINK_TOL 1e-2
#define COLLISION_TOL 0.05

typedef struct {
    cloth_mesh mesh;
    cloth_settings settings;
    int handles[4];
    cloth_params p, g;
    cloth_sim *sim;
    double *a, *b; /* loss weights, (FRAMES + 1) × 3n */
} scene;

static double uniform(rng_t *rng, double lo, double hi) { return lo + (hi - lo) * rng_uniform(rng); }

/* A res × res cloth, 0.3 m square, stretched 10 % / 2 %, sheared by 4 % and bulged by 6 mm, held at its
 * four corners by slowly moving handles: the strains stay in the smooth part of the material
 * model (G00 > G11 > 0, G01 > 0, strain level and angle inside their first cells, one sign of
 * curvature with ARCSim's curvature extrapolation), so central differences see no kink. */
static void scene_make(scene *sc, int res, int stretch_mode, double record_limit_mb, int smooth)
{
    memset(sc, 0, sizeof *sc);
    assert_int_equal(cloth_mesh_grid(&sc->mesh, res, res, 0.3, 0.3), 0);
    const int n = sc->mesh.n_verts;
    cloth_settings_default(&sc->settings);
    cloth_settings *s = &sc->settings;
    s->frames = FRAMES;
    s->damping = 2e-3;
    s->wind_drag = 0.3;
    s->stretch_mode = stretch_mode;
    s->curvature_mode = CLOTH_CURVATURE_ARCSIM;
    s->record_limit_mb = record_limit_mb;
    s->petsc_options = "-ksp_type preonly -pc_type lu"; /* exact solves: smooth in the parameters */
    sc->handles[0] = 0, sc->handles[1] = res - 1, sc->handles[2] = n - res, sc->handles[3] = n - 1;
    s->n_handles = 4;
    s->handle_verts = sc->handles;
    assert_int_equal(cloth_params_alloc(&sc->p, n, FRAMES, 4, 1), 0);
    assert_int_equal(cloth_params_alloc(&sc->g, n, FRAMES, 4, 1), 0);
    cloth_material mat;
    if (cloth_material_load("configs/materials/phisft-init.json", NULL, &mat)) fail_msg("%s", err_message());
    cloth_params_set_material(&sc->p, &mat);
    if (smooth) /* one stretching row for every angle: no angle interpolation cells to cross */
        for (int i = 0; i < CLOTH_STRETCH_K; ++i) {
            double mean = 0;
            for (int r = 1; r < CLOTH_STRETCH_ROWS; ++r) mean += sc->p.stretching[CLOTH_STRETCH_K * r + i] / 5;
            for (int r = 1; r < CLOTH_STRETCH_ROWS; ++r) sc->p.stretching[CLOTH_STRETCH_K * r + i] = fabs(mean);
        }
    rng_t rng;
    rng_seed(&rng, 7 + res, 0);
    sc->p.wind[0] = 0.8, sc->p.wind[1] = -0.3, sc->p.wind[2] = 1.5;
    for (int i = 0; i < n; ++i) {
        const double u = sc->mesh.x_template[3 * i], v = sc->mesh.x_template[3 * i + 1];
        const double r2 = (u * u + v * v) / (0.15 * 0.15);
        sc->p.x0[3 * i] = 1.10 * u + 0.04 * v + uniform(&rng, -1, 1) * 5e-5;
        sc->p.x0[3 * i + 1] = 1.02 * v + uniform(&rng, -1, 1) * 5e-5;
        sc->p.x0[3 * i + 2] = 0.003 * (2 - r2) + uniform(&rng, -1, 1) * 5e-5;
        for (int d = 0; d < 3; ++d) sc->p.v0[3 * i + d] = uniform(&rng, -1, 1) * 5e-4;
    }
    for (size_t i = 0; i < (size_t)FRAMES * 3 * n; ++i) sc->p.correctives[i] = uniform(&rng, -1, 1) * 2e-5;
    for (int f = 0; f <= FRAMES; ++f)
        for (int k = 0; k < 4; ++k)
            for (int d = 0; d < 3; ++d)
                sc->p.handles[3 * (f * 4 + k) + d] = sc->p.x0[3 * sc->handles[k] + d] + 0.0005 * sin(0.3 * f + d + k);
    const size_t count = (size_t)(FRAMES + 1) * 3 * n;
    sc->a = malloc(count * sizeof(double));
    sc->b = malloc(count * sizeof(double));
    assert_non_null(sc->a);
    assert_non_null(sc->b);
    for (size_t i = 0; i < count; ++i) sc->a[i] = uniform(&rng, -1, 1), sc->b[i] = uniform(&rng, 0, 0.1);
    if (cloth_sim_create(&sc->sim, &sc->mesh, s)) fail_msg("%s", err_message());
}

static void scene_free(scene *sc)
{
    cloth_sim_free(sc->sim);
    cloth_params_free(&sc->p);
    cloth_params_free(&sc->g);
    cloth_mesh_free(&sc->mesh);
    free(sc->a), free(sc->b);
}

static double loss(scene *sc)
{
    if (cloth_rollout_forward(sc->sim, &sc->p, FRAMES)) fail_msg("%s", err_message());
    const size_t n3 = 3 * (size_t)sc->mesh.n_verts;
    double L = 0;
    for (int f = 0; f <= FRAMES; ++f) {
        const double *x = cloth_sim_positions(sc->sim, f), *v = cloth_sim_velocities(sc->sim, f);
        for (size_t i = 0; i < n3; ++i) L += sc->a[f * n3 + i] * x[i] + 0.5 * sc->b[f * n3 + i] * v[i] * v[i];
    }
    return L;
}

static void gradient(scene *sc)
{
    loss(sc);
    const size_t n3 = 3 * (size_t)sc->mesh.n_verts;
    double *gv = malloc((FRAMES + 1) * n3 * sizeof(double));
    assert_non_null(gv);
    for (int f = 0; f <= FRAMES; ++f) {
        const double *v = cloth_sim_velocities(sc->sim, f);
        for (size_t i = 0; i < n3; ++i) gv[f * n3 + i] = sc->b[f * n3 + i] * v[i];
    }
    cloth_params_zero(&sc->g);
    if (cloth_rollout_backward(sc->sim, &sc->p, sc->a, gv, &sc->g)) fail_msg("%s", err_message());
    free(gv);
}

typedef struct {
    double worst, scale;
    double a[64], n[64];
    int count;
} check;

/* Central difference of the loss in one parameter, step rel·max(|value|, floor). */
static void check_entry(scene *sc, check *c, double *value, double analytic, double rel, double floor)
{
    const double keep = *value, h = rel * fmax(fabs(keep), floor);
    *value = keep + h;
    const double up = loss(sc);
    *value = keep - h;
    const double dn = loss(sc);
    *value = keep;
    assert_true(c->count < 64);
    c->a[c->count] = analytic, c->n[c->count] = (up - dn) / (2 * h), c->count++;
    c->scale = fmax(c->scale, fabs(analytic));
}

static double check_report(const check *c, const char *scene_name, const char *what)
{
    double worst = 0;
    for (int i = 0; i < c->count; ++i)
        worst = fmax(worst, fabs(c->a[i] - c->n[i]) / c->scale);
    printf("%-12s %-12s worst error %.3g of the largest |dL/dp| %.3g (%d entries)\n", scene_name, what, worst, c->scale,
           c->count);
    return worst;
}

/* Every kind; `per_kind` entries of the large arrays (x0, v0, correctives, handles), the table
 * entries all (or every third when sparse). */
static void run_checks(scene *sc, const char *name, int per_kind, int sparse, double tol)
{
    gradient(sc);
    rng_t rng;
    rng_seed(&rng, 99, 0);
    const int n3 = 3 * sc->mesh.n_verts;
    double worst = 0;
    check c = {0};
    check_entry(sc, &c, &sc->p.density, sc->g.density, 1e-5, 1e-3);
    worst = fmax(worst, check_report(&c, name, "density"));
    memset(&c, 0, sizeof c);
    for (int e = 0; e < CLOTH_STRETCH_ENTRIES; e += sparse ? 5 : 1)
        check_entry(sc, &c, &sc->p.stretching[e], sc->g.stretching[e], 1e-5, 1);
    worst = fmax(worst, check_report(&c, name, "stretching"));
    memset(&c, 0, sizeof c);
    for (int e = 0; e < CLOTH_BEND_ENTRIES; e += sparse ? 4 : 1)
        check_entry(sc, &c, &sc->p.bending[e], sc->g.bending[e], 1e-3, 1e-6);
    worst = fmax(worst, check_report(&c, name, "bending"));
    memset(&c, 0, sizeof c);
    for (int d = 0; d < 3; ++d) check_entry(sc, &c, &sc->p.wind[d], sc->g.wind[d], 1e-5, 1);
    worst = fmax(worst, check_report(&c, name, "wind"));
    memset(&c, 0, sizeof c);
    for (int k = 0; k < per_kind; ++k) {
        const int i = (int)(rng_uniform(&rng) * n3);
        check_entry(sc, &c, &sc->p.x0[i], sc->g.x0[i], 1e-6, 1);
    }
    worst = fmax(worst, check_report(&c, name, "x0"));
    memset(&c, 0, sizeof c);
    for (int k = 0; k < per_kind; ++k) {
        const int i = (int)(rng_uniform(&rng) * n3);
        check_entry(sc, &c, &sc->p.v0[i], sc->g.v0[i], 1e-4, 1);
    }
    worst = fmax(worst, check_report(&c, name, "v0"));
    memset(&c, 0, sizeof c);
    for (int k = 0; k < per_kind; ++k) {
        const int i = (int)(rng_uniform(&rng) * (FRAMES * n3));
        check_entry(sc, &c, &sc->p.correctives[i], sc->g.correctives[i], 1e-4, 1);
    }
    worst = fmax(worst, check_report(&c, name, "correctives"));
    memset(&c, 0, sizeof c);
    for (int k = 0; k < per_kind; ++k) {
        const int i = (int)(rng_uniform(&rng) * ((FRAMES + 1) * 12));
        check_entry(sc, &c, &sc->p.handles[i], sc->g.handles[i], 1e-6, 1);
    }
    worst = fmax(worst, check_report(&c, name, "handles"));
    assert_true(worst <= tol);
}

static void test_grid10(void **state)
{
    (void)state;
    scene sc;
    scene_make(&sc, 10, CLOTH_STRETCH_DIRECT, 1024, 1);
    run_checks(&sc, "10x10", 8, 0, GRAD_TOL);
    scene_free(&sc);
}

static void test_grid30(void **state)
{
    (void)state;
    scene sc;
    scene_make(&sc, 30, CLOTH_STRETCH_DIRECT, 1024, 1);
    run_checks(&sc, "30x30", 3, 1, GRAD_TOL);
    scene_free(&sc);
}

/* The fabric's own table: its strains cross angle cells of the bilinear model at the free edges,
 * where the model is only piecewise smooth, so a central difference that straddles a cell
 * boundary disagrees with the one-sided derivative; reported, bounded loosely. */
static void test_grid10_kinks(void **state)
{
    (void)state;
    scene sc;
    scene_make(&sc, 10, CLOTH_STRETCH_DIRECT, 1024, 0);
    run_checks(&sc, "10x10 kinks", 4, 1, KINK_TOL);
    scene_free(&sc);
}

static void test_table_and_checkpointing(void **state)
{
    (void)state;
    scene sc;
    scene_make(&sc, 8, CLOTH_STRETCH_TABLE, 0, 1); /* no substep records: every frame is recomputed */
    run_checks(&sc, "8x8 table", 4, 1, GRAD_TOL);
    cloth_stats st;
    cloth_sim_stats(sc.sim, &st);
    assert_int_equal(st.recomputed_substeps, 0); /* the last call was a forward */
    gradient(&sc);
    cloth_sim_stats(sc.sim, &st);
    assert_int_equal(st.recomputed_substeps, FRAMES * 2);
    cloth_params recorded;
    assert_int_equal(cloth_params_alloc(&recorded, sc.mesh.n_verts, FRAMES, 4, 1), 0);
    recorded.density = sc.g.density;
    memcpy(recorded.x0, sc.g.x0, 3 * sc.mesh.n_verts * sizeof(double));
    cloth_sim_free(sc.sim);
    sc.settings.record_limit_mb = 1024;
    if (cloth_sim_create(&sc.sim, &sc.mesh, &sc.settings)) fail_msg("%s", err_message());
    gradient(&sc);
    /* element sums are gathered in a fixed order: recomputation reproduces the gradient bit for bit */
    assert_true(recorded.density == sc.g.density);
    assert_memory_equal(recorded.x0, sc.g.x0, 3 * sc.mesh.n_verts * sizeof(double));
    cloth_params_free(&recorded);
    scene_free(&sc);
}

/* Collisions: the 10×10 scene lowered onto a sphere, with proximity penalties and impact zones
 * active.  Contacts appear and vanish between finite-difference points and the zones hold the
 * constraints' normals fixed (Liang et al.), so this is a report with a loose bound. */
static void test_collisions(void **state)
{
    (void)state;
    scene sc;
    scene_make(&sc, 10, CLOTH_STRETCH_DIRECT, 1024, 1);
    cloth_sim_free(sc.sim);
    cloth_obstacle_mesh sphere = {0};
    const double center[3] = {0, 0, -0.15 + 0.001};
    assert_int_equal(cloth_obstacle_mesh_sphere(&sphere, center, 0.15, 3), 0);
    cloth_obstacle ob = {sphere.n_verts, sphere.n_faces, sphere.faces, sphere.x0, 0};
    sc.settings.collisions = 1;
    sc.settings.thickness = 5e-3;
    sc.settings.n_obstacles = 1;
    sc.settings.obstacles = &ob;
    if (cloth_sim_create(&sc.sim, &sc.mesh, &sc.settings)) fail_msg("%s", err_message());
    run_checks(&sc, "10x10 sphere", 4, 1, COLLISION_TOL);
    cloth_obstacle_mesh_free(&sphere);
    scene_free(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid10),
        cmocka_unit_test(test_table_and_checkpointing),
        cmocka_unit_test(test_grid30),
        cmocka_unit_test(test_grid10_kinks),
        cmocka_unit_test(test_collisions),
    };
    return cmocka_run_group_tests(tests, petsc_fixture_setup, petsc_fixture_teardown);
}
