/* test_cloth.c — the cloth simulator's forward physics (cloth.h), as opposed to its adjoint
 * (grad_cloth.c).  Material: ϕ-SfT's initial fabric (configs/materials/phisft-init.json).
 *   - static equilibrium of a 0.5 m cloth hanging from two still corner handles: the large-step
 *     linearised implicit Euler (a damped Newton iteration, LU solves) settles to a state whose
 *     net force on every free vertex is ≤ 1e-8 × the cloth's weight — hanging flat in the x–z
 *     plane, and buckled out of it with the corners pulled inward (bending active);
 *   - energy (kinetic + internal; no gravity, air or handles) decreases frame over frame with
 *     damping, from a stretched, bent and moving start;
 *   - rigid-motion invariance: a rotated and translated scene (x0, v0, correctives, handles,
 *     gravity, wind) gives the rotated and translated rollout; handles land on their keys;
 *   - mesh refinement: the equilibrium of the cloth held along its top edge at 6, 11, 21
 *     vertices per side converges (mean z, the lower edge's mean z);
 *   - mesh building: grid counts (vertices, faces, hinges), lumped areas, hinge orientation and
 *     rest data, UV material space, and the errors for non-manifold edges, inconsistent
 *     orientation, UV seams, zero-area faces and more, naming the mesh;
 *   - solver options: default CG, LU, CHOLMOD, PETSc's SBAIJ Cholesky and GMRES/ILU agree; the
 *     thread count changes nothing; unknown solvers and bad values are errors, as is a solve
 *     that does not converge; CHOLMOD on the symmetric block format (its own test);
 *   - bad parameters and settings give clear errors.
 * Each check prints its measured figure on one line.  About 1 s on 2 cores (threads = 1 set
 * explicitly; the results do not depend on OMP_NUM_THREADS). */
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
#include "phive/errors.h"
#include "phive/mesh.h"
#include "phive/rng.h"

#include "petsc_fixture.h"
#include "test_util.h"

#define PHISFT "configs/materials/phisft-init.json"
#define LU "-ksp_type preonly -pc_type lu"
#define SIDE 0.5 /* m */

static void load_material(cloth_params *p)
{
    cloth_material mat;
    if (cloth_material_load(PHISFT, NULL, &mat)) fail_msg("%s", err_message());
    cloth_params_set_material(p, &mat);
}

static double uniform(rng_t *rng, double lo, double hi) { return lo + (hi - lo) * rng_uniform(rng); }

static double norm3(const double *a) { return sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]); }

/* max_i |a_i − b_i| over count values */
static double max_diff(const double *a, const double *b, size_t count)
{
    double m = 0;
    for (size_t i = 0; i < count; ++i) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static double max_abs(const double *a, size_t count)
{
    double m = 0;
    for (size_t i = 0; i < count; ++i) m = fmax(m, fabs(a[i]));
    return m;
}

/* ------------------------------------------------------------------ the hanging cloth */

/* A res × res cloth, SIDE metres square, hanging in the x–z plane (material (u, v) → (u, 0, v))
 * from its two top corners, which stay still. */
typedef struct {
    cloth_mesh mesh;
    cloth_settings s;
    cloth_params p;
    cloth_sim *sim;
    int *handles, n_handles;
    int frames;
} hang;

/* top_edge 0: held at the top row's two ends; 1: along the whole top row. */
static void hang_make(hang *hg, int res, int frames, double frame_time, const char *options, int top_edge)
{
    memset(hg, 0, sizeof *hg);
    if (cloth_mesh_grid(&hg->mesh, res, res, SIDE, SIDE)) fail_msg("%s", err_message());
    const int n = hg->mesh.n_verts;
    hg->frames = frames;
    cloth_settings_default(&hg->s);
    hg->s.frames = frames;
    hg->s.frame_time = frame_time;
    hg->s.substeps = 1;
    hg->s.damping = 0.01;
    hg->s.curvature_mode = CLOTH_CURVATURE_ABS;
    hg->s.petsc_options = options;
    hg->s.threads = 1;
    /* the top row is v = +SIDE/2 */
    hg->n_handles = top_edge ? res : 2;
    hg->handles = malloc((size_t)hg->n_handles * sizeof(int));
    assert_non_null(hg->handles);
    for (int k = 0; k < hg->n_handles; ++k) hg->handles[k] = top_edge ? n - res + k : k ? n - 1 : n - res;
    hg->s.n_handles = hg->n_handles;
    hg->s.handle_verts = hg->handles;
    if (cloth_params_alloc(&hg->p, n, frames, hg->n_handles, 0)) fail_msg("%s", err_message());
    load_material(&hg->p);
    for (int i = 0; i < n; ++i) {
        hg->p.x0[3 * i] = hg->mesh.x_template[3 * i];
        hg->p.x0[3 * i + 1] = 0;
        hg->p.x0[3 * i + 2] = hg->mesh.x_template[3 * i + 1];
    }
    for (int f = 0; f <= frames; ++f)
        for (int k = 0; k < hg->n_handles; ++k)
            memcpy(hg->p.handles + 3 * (hg->n_handles * f + k), hg->p.x0 + 3 * hg->handles[k], 3 * sizeof(double));
    if (cloth_sim_create(&hg->sim, &hg->mesh, &hg->s)) fail_msg("%s", err_message());
}

static void hang_free(hang *hg)
{
    cloth_sim_free(hg->sim);
    cloth_params_free(&hg->p);
    cloth_mesh_free(&hg->mesh);
    free(hg->handles);
}

/* The largest net force on a free vertex at positions x with zero velocity. */
static double free_residual(const hang *hg, const double *x, double *f)
{
    const int n = hg->mesh.n_verts;
    double *zero = calloc(3 * (size_t)n, sizeof(double));
    assert_non_null(zero);
    assert_int_equal(cloth_forces(hg->sim, &hg->p, x, zero, f), 0);
    free(zero);
    double worst = 0;
    for (int i = 0; i < n; ++i) {
        int held = 0;
        for (int k = 0; k < hg->n_handles; ++k) held |= hg->handles[k] == i;
        if (!held) worst = fmax(worst, norm3(f + 3 * i));
    }
    return worst;
}

static double weight_of(const hang *hg)
{
    double area = 0;
    for (int i = 0; i < hg->mesh.n_verts; ++i) area += hg->mesh.vert_area[i];
    return hg->p.density * area * fabs(hg->s.gravity[2]);
}

/* Settle: the rollout, then the first frame from which on the residual stays ≤ tol·weight. */
static int hang_settle(hang *hg, double tol, double *residual)
{
    if (cloth_rollout_forward(hg->sim, &hg->p, hg->frames)) fail_msg("%s", err_message());
    double *f = malloc(3 * (size_t)hg->mesh.n_verts * sizeof(double));
    assert_non_null(f);
    const double weight = weight_of(hg);
    int settled = -1;
    for (int fr = 0; fr <= hg->frames; ++fr) {
        const double r = free_residual(hg, cloth_sim_positions(hg->sim, fr), f);
        if (r <= tol * weight) {
            if (settled < 0) settled = fr;
        } else {
            settled = -1;
        }
        *residual = r / weight;
    }
    free(f);
    return settled;
}

/* ------------------------------------------------------------------ 1. static equilibrium */

static void test_static_equilibrium(void **state)
{
    (void)state;
    /* planar: the cloth stays in the x–z plane (gravity and every force in it); bending is idle */
    hang hg;
    hang_make(&hg, 15, 30, 1.0, LU, 0);
    double residual = INFINITY;
    int settled = hang_settle(&hg, 1e-8, &residual);
    const int n = hg.mesh.n_verts;
    const double *x = cloth_sim_positions(hg.sim, hg.frames), *v = cloth_sim_velocities(hg.sim, hg.frames);
    double ymax = 0, zmin = 1e9;
    for (int i = 0; i < n; ++i) ymax = fmax(ymax, fabs(x[3 * i + 1])), zmin = fmin(zmin, x[3 * i + 2]);
    printf("equilibrium 15x15, planar: residual %.3g of the weight %.4g N after %d frames of 1 s (below 1e-8 from "
           "frame %d on), final |v| %.3g m/s, lowest z %.6f m, |y| %.3g m\n",
           residual, weight_of(&hg), hg.frames, settled, max_abs(v, 3 * (size_t)n), zmin, ymax);
    assert_true(residual <= 1e-8);
    assert_true(settled >= 0);
    /* the handles held still, the cloth hangs below them, in its plane */
    for (int k = 0; k < 2; ++k)
        assert_true(max_diff(x + 3 * hg.handles[k], hg.p.x0 + 3 * hg.handles[k], 3) <= 1e-12);
    assert_true(zmin < -SIDE / 2);
    assert_true(ymax == 0);
    hang_free(&hg);

    /* buckled: the corners pulled 15 % inward during the first frame and a small out-of-plane bulge
     * to start from; the slack top edge folds out of the plane, so bending, stretching in 3-D and
     * the Gauss–Newton matrices all take part (linear convergence: ~0.45× per 10 frames) */
    hang_make(&hg, 15, 160, 0.3, LU, 0);
    for (int i = 0; i < n; ++i)
        hg.p.x0[3 * i + 1] = 0.01 * cos(M_PI * hg.p.x0[3 * i] / SIDE) * (hg.p.x0[3 * i + 2] + SIDE / 2);
    for (int f = 1; f <= hg.frames; ++f)
        for (int k = 0; k < 2; ++k) hg.p.handles[3 * (2 * f + k)] *= 0.85;
    residual = INFINITY;
    settled = hang_settle(&hg, 1e-8, &residual);
    x = cloth_sim_positions(hg.sim, hg.frames), v = cloth_sim_velocities(hg.sim, hg.frames);
    ymax = 0;
    for (int i = 0; i < n; ++i) ymax = fmax(ymax, fabs(x[3 * i + 1]));
    printf("equilibrium 15x15, buckled: residual %.3g of the weight after %d frames of 0.3 s (below 1e-8 from frame %d "
           "on), final |v| %.3g m/s, out of plane by %.4f m\n",
           residual, hg.frames, settled, max_abs(v, 3 * (size_t)n), ymax);
    assert_true(residual <= 1e-8);
    assert_true(settled >= 0);
    assert_true(ymax > 0.05);
    hang_free(&hg);
}

/* ------------------------------------------------------------------ 2. energy */

static void test_energy_decreases(void **state)
{
    (void)state;
    enum { RES = 10, FRAMES = 40 };
    cloth_mesh mesh;
    if (cloth_mesh_grid(&mesh, RES, RES, 0.3, 0.3)) fail_msg("%s", err_message());
    const int n = mesh.n_verts;
    cloth_settings s;
    cloth_settings_default(&s);
    s.frames = FRAMES;
    s.gravity[2] = 0;
    s.air_density = 0;
    s.damping = 0.01;
    s.threads = 1;
    s.curvature_mode = CLOTH_CURVATURE_ABS;
    cloth_params p;
    if (cloth_params_alloc(&p, n, FRAMES, 0, 0)) fail_msg("%s", err_message());
    load_material(&p);
    rng_t rng;
    rng_seed(&rng, 11, 0);
    for (int i = 0; i < n; ++i) {
        const double u = mesh.x_template[3 * i], v = mesh.x_template[3 * i + 1];
        p.x0[3 * i] = 1.12 * u + 0.03 * v + uniform(&rng, -1, 1) * 1e-3;
        p.x0[3 * i + 1] = 1.06 * v + uniform(&rng, -1, 1) * 1e-3;
        p.x0[3 * i + 2] = 0.01 * sin(20 * u) * cos(15 * v) + uniform(&rng, -1, 1) * 1e-3;
        for (int d = 0; d < 3; ++d) p.v0[3 * i + d] = uniform(&rng, -1, 1) * 0.05;
    }
    cloth_sim *sim;
    if (cloth_sim_create(&sim, &mesh, &s)) fail_msg("%s", err_message());
    if (cloth_rollout_forward(sim, &p, FRAMES)) fail_msg("%s", err_message());
    double e_prev = cloth_energy(sim, &p, cloth_sim_positions(sim, 0), cloth_sim_velocities(sim, 0));
    const double e_first = e_prev;
    double worst = -INFINITY;
    int worst_frame = -1;
    for (int f = 1; f <= FRAMES; ++f) {
        const double e = cloth_energy(sim, &p, cloth_sim_positions(sim, f), cloth_sim_velocities(sim, f));
        const double rel = (e - e_prev) / e_prev;
        if (rel > worst) worst = rel, worst_frame = f;
        e_prev = e;
    }
    printf("energy: first %.6g J, last %.6g J, largest relative change frame over frame %.3g (frame %d)\n", e_first,
           e_prev, worst, worst_frame);
    assert_true(worst <= 0);
    assert_true(e_prev < 0.5 * e_first);
    cloth_sim_free(sim);
    cloth_params_free(&p);
    cloth_mesh_free(&mesh);
}

/* ------------------------------------------------------------------ a general scene */

/* A res × res cloth, 0.3 m square in the z = 0 plane, stretched and bent a little, held at two
 * corners by moving handles, under gravity and wind (air and drag), with damping, small random
 * correctives and initial velocities. */
typedef struct {
    cloth_mesh mesh;
    cloth_settings s;
    cloth_params p;
    int handles[2];
} scene;

static void scene_make(scene *sc, int res, int frames, const char *options)
{
    memset(sc, 0, sizeof *sc);
    if (cloth_mesh_grid(&sc->mesh, res, res, 0.3, 0.3)) fail_msg("%s", err_message());
    const int n = sc->mesh.n_verts;
    cloth_settings_default(&sc->s);
    sc->s.frames = frames;
    sc->s.damping = 2e-3;
    sc->s.wind_drag = 0.3;
    sc->s.threads = 1;
    sc->s.petsc_options = options;
    sc->handles[0] = 0, sc->handles[1] = n - 1; /* opposite corners */
    sc->s.n_handles = 2;
    sc->s.handle_verts = sc->handles;
    if (cloth_params_alloc(&sc->p, n, frames, 2, 1)) fail_msg("%s", err_message());
    load_material(&sc->p);
    sc->p.wind[0] = 0.8, sc->p.wind[1] = -0.3, sc->p.wind[2] = 1.5;
    rng_t rng;
    rng_seed(&rng, 5 + res, 0);
    for (int i = 0; i < n; ++i) {
        const double u = sc->mesh.x_template[3 * i], v = sc->mesh.x_template[3 * i + 1];
        sc->p.x0[3 * i] = 1.04 * u + 0.02 * v + uniform(&rng, -1, 1) * 1e-4;
        sc->p.x0[3 * i + 1] = 1.02 * v + uniform(&rng, -1, 1) * 1e-4;
        sc->p.x0[3 * i + 2] = 0.01 * (u * u - v * v) / 0.0225 + uniform(&rng, -1, 1) * 1e-4;
        for (int d = 0; d < 3; ++d) sc->p.v0[3 * i + d] = uniform(&rng, -1, 1) * 1e-2;
    }
    for (size_t i = 0; i < (size_t)frames * 3 * n; ++i) sc->p.correctives[i] = uniform(&rng, -1, 1) * 1e-3;
    for (int f = 0; f <= frames; ++f)
        for (int k = 0; k < 2; ++k)
            for (int d = 0; d < 3; ++d)
                sc->p.handles[3 * (2 * f + k) + d] =
                    sc->p.x0[3 * sc->handles[k] + d] + 0.01 * sin(0.4 * f + d + 2 * k) - 0.01 * sin(d + 2 * k);
}

static void scene_free(scene *sc)
{
    cloth_params_free(&sc->p);
    cloth_mesh_free(&sc->mesh);
}

/* Roll the scene out; x and v get (frames + 1) × 3n. */
static void scene_run(const scene *sc, double *x, double *v)
{
    cloth_sim *sim;
    if (cloth_sim_create(&sim, &sc->mesh, &sc->s)) fail_msg("%s", err_message());
    if (cloth_rollout_forward(sim, &sc->p, sc->s.frames)) fail_msg("%s", err_message());
    const size_t n3 = 3 * (size_t)sc->mesh.n_verts;
    for (int f = 0; f <= sc->s.frames; ++f) {
        memcpy(x + f * n3, cloth_sim_positions(sim, f), n3 * sizeof(double));
        memcpy(v + f * n3, cloth_sim_velocities(sim, f), n3 * sizeof(double));
    }
    cloth_sim_free(sim);
}

/* The largest distance any vertex moved from its start over the rollout (the scale for relative
 * comparisons of trajectories). */
static double motion_scale(const double *x, int frames, size_t n3)
{
    double m = 0;
    for (int f = 1; f <= frames; ++f) m = fmax(m, max_diff(x + f * n3, x, n3));
    return m;
}

/* ------------------------------------------------------------------ 3. rigid motions */

static void rotate(const double *R, const double *t, double *a, size_t count)
{
    for (size_t i = 0; i < count; ++i) {
        double *q = a + 3 * i, r[3];
        for (int c = 0; c < 3; ++c) r[c] = R[3 * c] * q[0] + R[3 * c + 1] * q[1] + R[3 * c + 2] * q[2] + (t ? t[c] : 0);
        memcpy(q, r, sizeof r);
    }
}

static void test_rigid_motion(void **state)
{
    (void)state;
    enum { RES = 10, FRAMES = 15 };
    scene a, b;
    scene_make(&a, RES, FRAMES, NULL);
    scene_make(&b, RES, FRAMES, NULL);
    /* a random proper rotation from a random unit quaternion, and a translation */
    rng_t rng;
    rng_seed(&rng, 2024, 0);
    double q[4], qn = 0;
    for (int i = 0; i < 4; ++i) q[i] = rng_normal(&rng), qn += q[i] * q[i];
    for (int i = 0; i < 4; ++i) q[i] /= sqrt(qn);
    const double w = q[0], x = q[1], y = q[2], z = q[3];
    const double R[9] = {1 - 2 * (y * y + z * z), 2 * (x * y - w * z),     2 * (x * z + w * y),
                         2 * (x * y + w * z),     1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                         2 * (x * z - w * y),     2 * (y * z + w * x),     1 - 2 * (x * x + y * y)};
    const double t[3] = {0.7, -1.3, 0.4};
    const int n = a.mesh.n_verts;
    const size_t n3 = 3 * (size_t)n;
    rotate(R, t, b.p.x0, n);
    rotate(R, NULL, b.p.v0, n);
    rotate(R, NULL, b.p.correctives, (size_t)FRAMES * n);
    rotate(R, t, b.p.handles, (size_t)(FRAMES + 1) * 2);
    rotate(R, NULL, b.p.wind, 1);
    memcpy(b.s.gravity, a.s.gravity, sizeof b.s.gravity);
    rotate(R, NULL, b.s.gravity, 1);
    const size_t total = (FRAMES + 1) * n3;
    double *xa = malloc(total * sizeof(double)), *va = malloc(total * sizeof(double));
    double *xb = malloc(total * sizeof(double)), *vb = malloc(total * sizeof(double));
    assert_true(xa && va && xb && vb);
    scene_run(&a, xa, va);
    scene_run(&b, xb, vb);
    double land = 0; /* handle vertices land on their keys at every frame boundary */
    for (int f = 0; f <= FRAMES; ++f)
        for (int k = 0; k < 2; ++k)
            land = fmax(land, max_diff(xb + f * n3 + 3 * b.handles[k], b.p.handles + 3 * (2 * f + k), 3));
    printf("rigid motion: handle vertices are off their keys by at most %.3g m\n", land);
    assert_true(land <= 1e-13);
    rotate(R, t, xa, (FRAMES + 1) * (size_t)n);
    rotate(R, NULL, va, (FRAMES + 1) * (size_t)n);
    const double ex = max_diff(xa, xb, total) / motion_scale(xb, FRAMES, n3);
    const double ev = max_diff(va, vb, total) / max_abs(vb, total);
    printf("rigid motion: positions differ by %.3g of the largest displacement %.3g m, velocities by %.3g of the "
           "largest speed %.3g m/s\n",
           ex, motion_scale(xb, FRAMES, n3), ev, max_abs(vb, total));
    assert_true(ex <= 1e-9);
    assert_true(ev <= 1e-9);
    free(xa), free(va), free(xb), free(vb);
    scene_free(&a);
    scene_free(&b);
}

/* ------------------------------------------------------------------ 4. mesh refinement */

/* The cloth held along its whole top edge: held at two corners only, the displacement under a
 * point support grows like log(1/h) in the continuum (measured: mean z −2.94, −3.98, −4.89, −5.67,
 * −6.27 mm at 6, 11, 21, 41, 81 vertices per side), so that equilibrium has no mesh limit.  Along
 * the edge it does; the area-weighted mean z and the lower edge's mean z converge (second order
 * and better than first measured).  The centre vertex of the lower edge alone is not used: its
 * value carries an O(h) wobble from the alternating diagonals (its valence alternates with the
 * resolution). */
static void test_refinement(void **state)
{
    (void)state;
    const int res[3] = {6, 11, 21};
    double mean_z[3], edge_z[3];
    for (int r = 0; r < 3; ++r) {
        hang hg;
        hang_make(&hg, res[r], 20, 1.0, LU, 1);
        double residual = INFINITY;
        const int settled = hang_settle(&hg, 1e-8, &residual);
        if (settled < 0) fail_msg("%dx%d: no equilibrium after %d frames (residual %.3g)", res[r], res[r], hg.frames, residual);
        const double *x = cloth_sim_positions(hg.sim, hg.frames);
        double az = 0, a = 0, ez = 0;
        for (int i = 0; i < hg.mesh.n_verts; ++i) az += hg.mesh.vert_area[i] * x[3 * i + 2], a += hg.mesh.vert_area[i];
        for (int i = 0; i < res[r]; ++i) ez += (i == 0 || i == res[r] - 1 ? 0.5 : 1.0) * x[3 * i + 2] / (res[r] - 1);
        mean_z[r] = az / a, edge_z[r] = ez;
        printf("refinement %2dx%-2d: settled at frame %d (residual %.2g), mean z %.9f m, lower edge mean z %.9f m "
               "(sag %.4g mm)\n",
               res[r], res[r], settled, residual, mean_z[r], edge_z[r], 1e3 * (-SIDE / 2 - edge_z[r]));
        assert_true(edge_z[r] < -SIDE / 2); /* it does hang */
        hang_free(&hg);
    }
    const double dz_coarse = fabs(mean_z[1] - mean_z[0]), dz_fine = fabs(mean_z[2] - mean_z[1]);
    const double de_coarse = fabs(edge_z[1] - edge_z[0]), de_fine = fabs(edge_z[2] - edge_z[1]);
    printf("refinement: mean z changes %.3g then %.3g m (ratio %.3g); lower edge mean z changes %.3g then %.3g m "
           "(ratio %.3g)\n",
           dz_coarse, dz_fine, dz_coarse / dz_fine, de_coarse, de_fine, de_coarse / de_fine);
    assert_true(dz_fine < dz_coarse);
    assert_true(de_fine < de_coarse);
    /* h halves each time: at least first order */
    assert_true(dz_coarse / dz_fine >= 2);
    assert_true(de_coarse / de_fine >= 2);
}

/* ------------------------------------------------------------------ 5. mesh building */

static void test_grid_counts(void **state)
{
    (void)state;
    const int sizes[][2] = {{2, 2}, {5, 4}, {7, 3}, {15, 15}};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; ++c) {
        const int nx = sizes[c][0], ny = sizes[c][1];
        const double W = 0.7, H = 0.4;
        cloth_mesh m;
        if (cloth_mesh_grid(&m, nx, ny, W, H)) fail_msg("%s", err_message());
        const int hinges = 3 * (nx - 1) * (ny - 1) - (nx - 1) - (ny - 1);
        /* Euler: V − E + F = 1 for a disc, E = interior + boundary edges */
        const int boundary = 2 * (nx - 1) + 2 * (ny - 1);
        double area = 0, face_area = 0;
        for (int i = 0; i < m.n_verts; ++i) area += m.vert_area[i];
        for (int f = 0; f < m.n_faces; ++f) face_area += m.face_area[f];
        printf("grid %2dx%-2d: %d vertices, %d faces, %d hinges (expected %d), lumped area %.17g of %.17g\n", nx, ny,
               m.n_verts, m.n_faces, m.n_hinges, hinges, area, W * H);
        assert_int_equal(m.n_verts, nx * ny);
        assert_int_equal(m.n_faces, 2 * (nx - 1) * (ny - 1));
        assert_int_equal(m.n_hinges, hinges);
        assert_int_equal(m.n_verts - (m.n_hinges + boundary) + m.n_faces, 1);
        assert_true(fabs(area - W * H) <= 1e-14 * W * H);
        assert_true(fabs(face_area - W * H) <= 1e-14 * W * H);
        /* every hinge: faces (x0, x1, x2) and (x1, x0, x3) exist as oriented in the mesh (up to
         * rotation), rest data consistent with the material coordinates */
        for (int h = 0; h < m.n_hinges; ++h) {
            const int *q = m.hinges + 4 * h;
            int found0 = -1, found1 = -1;
            for (int f = 0; f < m.n_faces; ++f)
                for (int r = 0; r < 3; ++r) {
                    const int *v = m.faces + 3 * f;
                    if (v[r] == q[0] && v[(r + 1) % 3] == q[1] && v[(r + 2) % 3] == q[2]) found0 = f;
                    if (v[r] == q[1] && v[(r + 1) % 3] == q[0] && v[(r + 2) % 3] == q[3]) found1 = f;
                }
            assert_true(found0 >= 0 && found1 >= 0);
            const double du0 = m.u[2 * q[1]] - m.u[2 * q[0]], du1 = m.u[2 * q[1] + 1] - m.u[2 * q[0] + 1];
            assert_true(fabs(m.hinge_du[2 * h] - du0) <= 1e-15 && fabs(m.hinge_du[2 * h + 1] - du1) <= 1e-15);
            assert_true(fabs(m.hinge_len[h] - hypot(du0, du1)) <= 1e-15);
            assert_true(fabs(m.hinge_area[h] - (m.face_area[found0] + m.face_area[found1])) <= 1e-15);
            assert_true(m.hinge_theta_rest[h] == 0);
        }
        cloth_mesh_free(&m);
    }
    cloth_mesh m;
    assert_int_equal(cloth_mesh_grid(&m, 1, 5, 1, 1), -1);
    assert_error_contains("cloth grid");
    assert_int_equal(cloth_mesh_grid(&m, 3, 3, 0, 1), -1);
    assert_error_contains("cloth grid");
}

/* A hand-made mesh: nv vertices (x, y, z), nf faces, optional uvs with face_uvs. */
static void make_mesh(mesh *m, size_t nv, const float *pos, size_t nf, const uint32_t *faces, size_t n_uvs,
                      const float *uvs, const uint32_t *face_uvs)
{
    mesh_init(m);
    if (mesh_alloc(m, nv, nf)) fail_msg("%s", err_message());
    memcpy(m->positions, pos, 3 * nv * sizeof(float));
    memcpy(m->faces, faces, 3 * nf * sizeof(uint32_t));
    if (n_uvs) {
        m->n_uvs = n_uvs;
        m->uvs = malloc(2 * n_uvs * sizeof(float));
        m->face_uvs = malloc(3 * nf * sizeof(uint32_t));
        assert_true(m->uvs && m->face_uvs);
        memcpy(m->uvs, uvs, 2 * n_uvs * sizeof(float));
        memcpy(m->face_uvs, face_uvs, 3 * nf * sizeof(uint32_t));
    }
}

static void expect_build_error(const mesh *m, int space, const char *what, const char *problem)
{
    cloth_mesh cm;
    err_clear();
    if (cloth_mesh_build(&cm, m, space, 1.0, what) == 0) fail_msg("%s: built, expected an error about '%s'", what, problem);
    printf("mesh error: %s\n", err_message());
    assert_error_mentions(what, problem);
    assert_null(cm.faces); /* nothing left allocated */
}

static void test_mesh_build(void **state)
{
    (void)state;
    /* a unit square of two triangles, with UVs (half scale) */
    const float sq[] = {0, 0, 0, 1, 0, 0, 1, 1, 0.2f, 0, 1, 0.1f};
    const uint32_t sq_faces[] = {0, 1, 2, 0, 2, 3};
    const float sq_uv[] = {0, 0, 0.5f, 0, 0.5f, 0.5f, 0, 0.5f};
    mesh m;
    make_mesh(&m, 4, sq, 2, sq_faces, 4, sq_uv, sq_faces);
    cloth_mesh cm;
    if (cloth_mesh_build(&cm, &m, CLOTH_SPACE_UV, 2.0, "square.obj")) fail_msg("%s", err_message());
    assert_int_equal(cm.n_verts, 4);
    assert_int_equal(cm.n_faces, 2);
    assert_int_equal(cm.n_hinges, 1);
    double area = 0;
    for (int i = 0; i < 4; ++i) area += cm.vert_area[i];
    printf("square from UVs × 2: %d hinge, lumped area %.17g, u of vertex 2 (%g, %g), template z %g\n", cm.n_hinges,
           area, cm.u[4], cm.u[5], cm.x_template[8]);
    assert_true(fabs(area - 1) <= 1e-15);
    assert_true(cm.u[4] == 1 && cm.u[5] == 1);
    assert_true(fabs(cm.x_template[8] - 0.2) <= 1e-7);
    /* the one hinge is edge 0–2 with wing tips 1 and 3 */
    const int *q = cm.hinges;
    assert_true((q[0] == 0 && q[1] == 2 && q[2] == 3 && q[3] == 1) || (q[0] == 2 && q[1] == 0 && q[2] == 1 && q[3] == 3));
    assert_true(fabs(cm.hinge_len[0] - sqrt(2.0)) <= 1e-15);
    cloth_mesh_free(&cm);
    /* the flat template's (x, y) */
    if (cloth_mesh_build(&cm, &m, CLOTH_SPACE_XY, 0, "square.obj")) fail_msg("%s", err_message());
    assert_true(cm.u[4] == 1 && cm.u[5] == 1 && cm.n_hinges == 1);
    cloth_mesh_free(&cm);
    mesh_free(&m);

    /* a non-manifold edge: three triangles on edge 0–1 */
    const float fan[] = {0, 0, 0, 1, 0, 0, 0.5f, 1, 0, 0.5f, -1, 0, 0.5f, 0.5f, 1};
    const uint32_t fan_faces[] = {0, 1, 2, 1, 0, 3, 0, 1, 4};
    make_mesh(&m, 5, fan, 3, fan_faces, 0, NULL, NULL);
    expect_build_error(&m, CLOTH_SPACE_XY, "fan.obj", "non-manifold");
    assert_error_contains("0–1");
    mesh_free(&m);

    /* an inconsistently oriented pair: both faces run 0 → 1 */
    const uint32_t flip_faces[] = {0, 1, 2, 0, 1, 3};
    make_mesh(&m, 4, fan, 2, flip_faces, 0, NULL, NULL);
    expect_build_error(&m, CLOTH_SPACE_XY, "flip.obj", "oriented inconsistently");
    mesh_free(&m);

    /* a UV seam: vertex 2 gets two different texture coordinates */
    const float seam_uv[] = {0, 0, 0.5f, 0, 0.5f, 0.5f, 0, 0.5f, 0.6f, 0.5f};
    const uint32_t seam_face_uvs[] = {0, 1, 2, 0, 4, 3};
    make_mesh(&m, 4, sq, 2, sq_faces, 5, seam_uv, seam_face_uvs);
    expect_build_error(&m, CLOTH_SPACE_UV, "seam.obj", "UV seam");
    assert_error_contains("vertex 2");
    mesh_free(&m);
    /* two UV indices with the same value are not a seam */
    const float dup_uv[] = {0, 0, 0.5f, 0, 0.5f, 0.5f, 0, 0.5f, 0.5f, 0.5f};
    make_mesh(&m, 4, sq, 2, sq_faces, 5, dup_uv, seam_face_uvs);
    if (cloth_mesh_build(&cm, &m, CLOTH_SPACE_UV, 1.0, "dup.obj")) fail_msg("%s", err_message());
    cloth_mesh_free(&cm);
    mesh_free(&m);
    /* no UVs at all for material space 'uv' */
    make_mesh(&m, 4, sq, 2, sq_faces, 0, NULL, NULL);
    expect_build_error(&m, CLOTH_SPACE_UV, "plain.obj", "texture coordinates");
    mesh_free(&m);

    /* a zero-area face: collinear in material space (x, y) though not in 3-D */
    const float line[] = {0, 0, 0, 1, 0, 0, 2, 0, 1, 0, 1, 0};
    const uint32_t line_faces[] = {0, 1, 3, 0, 2, 1};
    make_mesh(&m, 4, line, 2, line_faces, 0, NULL, NULL);
    expect_build_error(&m, CLOTH_SPACE_XY, "line.obj", "zero area");
    assert_error_contains("face 1");
    mesh_free(&m);
    /* a face that repeats a vertex, a vertex in no face, a mesh without faces */
    const uint32_t rep_faces[] = {0, 1, 2, 0, 2, 2};
    make_mesh(&m, 4, sq, 2, rep_faces, 0, NULL, NULL);
    expect_build_error(&m, CLOTH_SPACE_XY, "repeat.obj", "repeats a vertex");
    mesh_free(&m);
    const uint32_t lone_faces[] = {0, 1, 2};
    make_mesh(&m, 4, sq, 1, lone_faces, 0, NULL, NULL);
    expect_build_error(&m, CLOTH_SPACE_XY, "lonely.obj", "vertex 3 belongs to no face");
    mesh_free(&m);
    make_mesh(&m, 4, sq, 0, lone_faces, 0, NULL, NULL);
    expect_build_error(&m, CLOTH_SPACE_XY, "empty.obj", "no faces");
    mesh_free(&m);
}

/* ------------------------------------------------------------------ 6. solver options */

static void test_solver_options(void **state)
{
    (void)state;
    enum { RES = 10, FRAMES = 10 };
    static const char *const options[] = {
        NULL,
        LU,
        "-mat_type aij -ksp_type preonly -pc_type cholesky -pc_factor_mat_solver_type cholmod",
        "-mat_type sbaij -ksp_type preonly -pc_type cholesky",
        "-mat_type aij -ksp_type gmres -pc_type ilu -ksp_rtol 1e-12",
    };
    enum { N_OPT = sizeof options / sizeof options[0] };
    scene sc;
    scene_make(&sc, RES, FRAMES, NULL);
    const size_t n3 = 3 * (size_t)sc.mesh.n_verts, total = (FRAMES + 1) * n3;
    double *x[N_OPT], *v[N_OPT];
    for (size_t o = 0; o < N_OPT; ++o) {
        x[o] = malloc(total * sizeof(double)), v[o] = malloc(total * sizeof(double));
        assert_true(x[o] && v[o]);
        sc.s.petsc_options = options[o];
        scene_run(&sc, x[o], v[o]);
    }
    const double scale = motion_scale(x[1], FRAMES, n3), vscale = max_abs(v[1], total);
    for (size_t o = 0; o < N_OPT; ++o) {
        const double ex = max_diff(x[o], x[1], total) / scale, ev = max_diff(v[o], v[1], total) / vscale;
        printf("solver '%s': positions differ from LU's by %.3g of the largest displacement %.3g m, velocities by "
               "%.3g\n",
               options[o] ? options[o] : "(default)", ex, scale, ev);
        assert_true(ex <= 1e-8);
        assert_true(ev <= 1e-8);
    }
    /* the thread count changes nothing: per-vertex gathers in a fixed order */
    sc.s.petsc_options = NULL;
    sc.s.threads = 3;
    scene_run(&sc, x[1], v[1]);
    printf("threads 3 against 1: positions differ by %.3g m, velocities by %.3g m/s\n", max_diff(x[0], x[1], total),
           max_diff(v[0], v[1], total));
    assert_memory_equal(x[0], x[1], total * sizeof(double));
    assert_memory_equal(v[0], v[1], total * sizeof(double));
    for (size_t o = 0; o < N_OPT; ++o) free(x[o]), free(v[o]);

    /* unknown solvers, preconditioners, matrix types and malformed values are errors */
    static const char *const bad[] = {"-ksp_type nosuchsolver", "-pc_type nosuchpc", "-mat_type nosuchmat",
                                      "-ksp_rtol notanumber"};
    sc.s.threads = 1;
    for (size_t o = 0; o < sizeof bad / sizeof bad[0]; ++o) {
        sc.s.petsc_options = bad[o];
        static char dummy;
        cloth_sim *sim = (cloth_sim *)(void *)&dummy; /* must be reset to NULL */
        err_clear();
        const int rc = cloth_sim_create(&sim, &sc.mesh, &sc.s);
        printf("options '%s': rc %d, \"%s\"\n", bad[o], rc, err_message());
        assert_int_equal(rc, -1);
        assert_null(sim);
        assert_error_contains("cloth solver");
    }
    /* a solve that does not converge is an error naming the step */
    sc.s.petsc_options = "-ksp_type cg -pc_type none -ksp_max_it 2 -ksp_rtol 1e-14";
    cloth_sim *sim;
    if (cloth_sim_create(&sim, &sc.mesh, &sc.s)) fail_msg("%s", err_message());
    err_clear();
    const int rc = cloth_rollout_forward(sim, &sc.p, FRAMES);
    printf("2 CG iterations: rc %d, \"%s\"\n", rc, err_message());
    assert_int_equal(rc, -1);
    assert_error_mentions("frame 0", "diverged");
    cloth_sim_free(sim);
    /* PETSc is still usable after the failures */
    sc.s.petsc_options = LU;
    if (cloth_sim_create(&sim, &sc.mesh, &sc.s)) fail_msg("%s", err_message());
    if (cloth_rollout_forward(sim, &sc.p, 1)) fail_msg("%s", err_message());
    cloth_sim_free(sim);
    scene_free(&sc);
}

/* CHOLMOD on the symmetric block format: Debian's PETSc factors SBAIJ matrices of block size 1
 * only, and the system has block size 3; the rollout must fail with an error that says what to
 * use instead (CHOLMOD on aij is checked in test_solver_options). */
static void test_solver_cholmod_sbaij(void **state)
{
    (void)state;
    enum { RES = 6, FRAMES = 2 };
    scene sc;
    scene_make(&sc, RES, FRAMES, LU);
    sc.s.petsc_options = "-mat_type sbaij -ksp_type preonly -pc_type cholesky -pc_factor_mat_solver_type cholmod";
    cloth_sim *sim;
    if (cloth_sim_create(&sim, &sc.mesh, &sc.s)) fail_msg("%s", err_message());
    assert_int_equal(cloth_rollout_forward(sim, &sc.p, FRAMES), -1);
    printf("sbaij + cholmod: %s\n", err_message());
    assert_non_null(strstr(err_message(), "CHOLMOD needs -mat_type aij"));
    cloth_sim_free(sim);
    scene_free(&sc);
}

/* ------------------------------------------------------------------ 7. bad parameters */

static void expect_forward_error(cloth_sim *sim, const cloth_params *p, int n_frames, const char *a, const char *b)
{
    err_clear();
    const int rc = cloth_rollout_forward(sim, p, n_frames);
    printf("bad parameters: rc %d, \"%s\"\n", rc, err_message());
    assert_int_equal(rc, -1);
    assert_error_mentions(a, b);
}

static void expect_create_error(const cloth_mesh *mesh, const cloth_settings *s, const char *a, const char *b)
{
    cloth_sim *sim = NULL;
    err_clear();
    const int rc = cloth_sim_create(&sim, mesh, s);
    printf("bad settings: rc %d, \"%s\"\n", rc, err_message());
    assert_int_equal(rc, -1);
    assert_null(sim);
    assert_error_mentions(a, b);
}

static void test_bad_parameters(void **state)
{
    (void)state;
    enum { RES = 5, FRAMES = 3 };
    scene sc;
    scene_make(&sc, RES, FRAMES, LU);
    cloth_sim *sim;
    if (cloth_sim_create(&sim, &sc.mesh, &sc.s)) fail_msg("%s", err_message());
    if (cloth_rollout_forward(sim, &sc.p, FRAMES)) fail_msg("%s", err_message());

    const double keep_density = sc.p.density;
    sc.p.density = NAN;
    expect_forward_error(sim, &sc.p, FRAMES, "density", "nan");
    sc.p.density = INFINITY;
    expect_forward_error(sim, &sc.p, FRAMES, "density", "inf");
    sc.p.density = 0;
    expect_forward_error(sim, &sc.p, FRAMES, "density", "positive");
    sc.p.density = keep_density;

    const double keep = sc.p.stretching[7];
    sc.p.stretching[7] = NAN;
    expect_forward_error(sim, &sc.p, FRAMES, "stretching entry 7", "not finite");
    sc.p.stretching[7] = -INFINITY;
    expect_forward_error(sim, &sc.p, FRAMES, "stretching entry 7", "not finite");
    sc.p.stretching[7] = keep;
    const double keep_b = sc.p.bending[14];
    sc.p.bending[14] = INFINITY;
    expect_forward_error(sim, &sc.p, FRAMES, "bending entry 14", "not finite");
    sc.p.bending[14] = keep_b;

    expect_forward_error(sim, &sc.p, FRAMES + 1, "4 frames", "has 3");
    expect_forward_error(sim, &sc.p, -1, "-1 frames", "has 3");

    /* parameters shaped for another cloth or a shorter simulation */
    cloth_params other;
    if (cloth_params_alloc(&other, sc.mesh.n_verts + 1, FRAMES, 2, 0)) fail_msg("%s", err_message());
    load_material(&other);
    expect_forward_error(sim, &other, FRAMES, "26 vertices", "the mesh has 25");
    cloth_params_free(&other);
    if (cloth_params_alloc(&other, sc.mesh.n_verts, FRAMES - 1, 2, 0)) fail_msg("%s", err_message());
    load_material(&other);
    expect_forward_error(sim, &other, FRAMES - 1, "2 frames", "the simulation has 3");
    cloth_params_free(&other);
    if (cloth_params_alloc(&other, sc.mesh.n_verts, FRAMES, 1, 0)) fail_msg("%s", err_message());
    load_material(&other);
    expect_forward_error(sim, &other, FRAMES, "1 handle trajectories", "2 handles");
    cloth_params_free(&other);

    /* a non-finite start or handle key stops the rollout with an error, not NaN frames */
    sc.p.x0[5] = NAN;
    expect_forward_error(sim, &sc.p, FRAMES, "frame 0", "non-finite");
    sc.p.x0[5] = 0;
    sc.p.handles[3 * 2 + 1] = INFINITY;
    expect_forward_error(sim, &sc.p, FRAMES, "frame 0", "non-finite");
    sc.p.handles[3 * 2 + 1] = 0;
    cloth_sim_free(sim);

    /* settings */
    const int n = sc.mesh.n_verts;
    int handles[2] = {0, n};
    cloth_settings s = sc.s;
    s.handle_verts = handles;
    expect_create_error(&sc.mesh, &s, "handle 1 names vertex 25", "has 25");
    handles[1] = -1;
    expect_create_error(&sc.mesh, &s, "handle 1 names vertex -1", "has 25");
    handles[1] = 0;
    expect_create_error(&sc.mesh, &s, "handle 1 names vertex 0", "each once");
    s = sc.s;
    s.handle_verts = NULL;
    expect_create_error(&sc.mesh, &s, "cloth simulator", "handle");
    s = sc.s;
    s.frame_time = NAN;
    expect_create_error(&sc.mesh, &s, "cloth simulator", "frame_time");
    s = sc.s;
    s.substeps = 0;
    expect_create_error(&sc.mesh, &s, "cloth simulator", "substeps");
    s = sc.s;
    s.frames = 0;
    expect_create_error(&sc.mesh, &s, "cloth simulator", "frames");
    s = sc.s;
    s.damping = -1;
    expect_create_error(&sc.mesh, &s, "cloth simulator", "damping");
    s = sc.s;
    s.air_density = NAN;
    expect_create_error(&sc.mesh, &s, "cloth simulator", "air density");
    scene_free(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_equilibrium),
        cmocka_unit_test(test_energy_decreases),
        cmocka_unit_test(test_rigid_motion),
        cmocka_unit_test(test_refinement),
        cmocka_unit_test(test_grid_counts),
        cmocka_unit_test(test_mesh_build),
        cmocka_unit_test(test_solver_options),
        cmocka_unit_test(test_solver_cholmod_sbaij),
        cmocka_unit_test(test_bad_parameters),
    };
    return cmocka_run_group_tests(tests, petsc_fixture_setup, petsc_fixture_teardown);
}
