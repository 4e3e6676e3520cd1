/* test_cloth_scenes.c — the simulator with collisions: no interpenetration after any frame.
 *
 *   sphere drop: a 17×17 cloth, 0.5 m, falls from 0.2 m onto a sphere of radius 0.15 (an
 *   icosphere, 3 subdivisions); every vertex stays outside the (convex) obstacle after every
 *   frame: its clearance, the largest signed distance to the faces' planes, is ≥ 0.
 *   self fold: a 6×24 strip, 0.1 × 0.4 m, held vertically 1 cm above a floor, falls and piles
 *   onto itself; after every frame no cloth edge crosses a cloth triangle it does not touch
 *   (exact segment–triangle test) and no vertex is below the floor.
 * Both print their smallest clearance, the contacts and the impact zones' work. */
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

#include "petsc_fixture.h"
#include "test_util.h"

typedef struct {
    cloth_mesh mesh;
    cloth_settings s;
    cloth_params p;
    cloth_sim *sim;
    cloth_obstacle_mesh shape;
    cloth_obstacle obstacle;
} scene;

static void scene_init(scene *sc, int nx, int ny, double w, double h, int frames)
{
    memset(sc, 0, sizeof *sc);
    assert_int_equal(cloth_mesh_grid(&sc->mesh, nx, ny, w, h), 0);
    cloth_settings_default(&sc->s);
    sc->s.frames = frames;
    sc->s.damping = 2e-3;
    sc->s.collisions = 1;
    sc->s.self_collisions = 1;
    sc->s.thickness = 5e-3;
    assert_int_equal(cloth_params_alloc(&sc->p, sc->mesh.n_verts, frames, 0, 0), 0);
    cloth_material m;
    if (cloth_material_load("configs/materials/phisft-init.json", NULL, &m)) fail_msg("%s", err_message());
    cloth_params_set_material(&sc->p, &m);
}

static void scene_run(scene *sc)
{
    sc->obstacle = (cloth_obstacle){sc->shape.n_verts, sc->shape.n_faces, sc->shape.faces, sc->shape.x0, 0};
    sc->s.n_obstacles = 1;
    sc->s.obstacles = &sc->obstacle;
    if (cloth_sim_create(&sc->sim, &sc->mesh, &sc->s)) fail_msg("%s", err_message());
    if (cloth_rollout_forward(sc->sim, &sc->p, sc->s.frames)) fail_msg("%s", err_message());
    cloth_stats st;
    cloth_sim_stats(sc->sim, &st);
    printf("%d frames: %.2f s (collisions %.2f s), %.1f CG iterations per solve\n", sc->s.frames, st.forward_s,
           st.collision_s, (double)st.ksp_iterations / st.substeps);
}

static void scene_free(scene *sc)
{
    cloth_sim_free(sc->sim);
    cloth_params_free(&sc->p);
    cloth_mesh_free(&sc->mesh);
    cloth_obstacle_mesh_free(&sc->shape);
}

static void sub(const double *a, const double *b, double *o) { o[0] = a[0] - b[0], o[1] = a[1] - b[1], o[2] = a[2] - b[2]; }
static void cross(const double *a, const double *b, double *o)
{
    o[0] = a[1] * b[2] - a[2] * b[1], o[1] = a[2] * b[0] - a[0] * b[2], o[2] = a[0] * b[1] - a[1] * b[0];
}
static double dot(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

static void test_sphere_drop(void **state)
{
    (void)state;
    scene sc;
    scene_init(&sc, 17, 17, 0.5, 0.5, 30);
    const double center[3] = {0, 0, 0};
    assert_int_equal(cloth_obstacle_mesh_sphere(&sc.shape, center, 0.15, 3), 0);
    for (int i = 0; i < sc.mesh.n_verts; ++i) {
        memcpy(sc.p.x0 + 3 * i, sc.mesh.x_template + 3 * i, 3 * sizeof(double));
        sc.p.x0[3 * i + 2] = 0.2;
    }
    scene_run(&sc);
    const cloth_obstacle_mesh *o = &sc.shape;
    double worst = INFINITY, lowest_centre = INFINITY;
    for (int f = 0; f <= sc.s.frames; ++f) {
        const double *x = cloth_sim_positions(sc.sim, f);
        for (int i = 0; i < sc.mesh.n_verts; ++i) {
            double d = -INFINITY;
            for (int k = 0; k < o->n_faces; ++k) {
                const double *a = o->x0 + 3 * o->faces[3 * k], *b = o->x0 + 3 * o->faces[3 * k + 1],
                             *c = o->x0 + 3 * o->faces[3 * k + 2];
                double e1[3], e2[3], n[3], r[3];
                sub(b, a, e1), sub(c, a, e2), cross(e1, e2, n), sub(x + 3 * i, a, r);
                d = fmax(d, dot(r, n) / sqrt(dot(n, n)));
            }
            worst = fmin(worst, d);
        }
        lowest_centre = fmin(lowest_centre, x[3 * (sc.mesh.n_verts / 2) + 2]);
    }
    printf("sphere drop: smallest clearance %.3g m over %d frames; the centre vertex reached z = %.4f m (sphere top 0.15)\n",
           worst, sc.s.frames + 1, lowest_centre);
    assert_true(worst >= 0);
    assert_true(lowest_centre < 0.16); /* it did land on the sphere */
    scene_free(&sc);
}

/* Does the segment p–q cross the triangle a, b, c (proper crossing, exact signs in double)? */
static int segment_crosses(const double *p, const double *q, const double *a, const double *b, const double *c)
{
    double e1[3], e2[3], n[3], pa[3], qa[3];
    sub(b, a, e1), sub(c, a, e2), cross(e1, e2, n), sub(p, a, pa), sub(q, a, qa);
    const double dp = dot(pa, n), dq = dot(qa, n);
    if ((dp > 0 && dq > 0) || (dp < 0 && dq < 0) || dp == dq) return 0;
    const double t = dp / (dp - dq);
    double y[3];
    for (int k = 0; k < 3; ++k) y[k] = p[k] + t * (q[k] - p[k]);
    const double *v[3] = {a, b, c};
    for (int k = 0; k < 3; ++k) {
        double e[3], r[3], m[3];
        sub(v[(k + 1) % 3], v[k], e), sub(y, v[k], r), cross(e, r, m);
        if (dot(m, n) < 0) return 0;
    }
    return 1;
}

static void test_self_fold(void **state)
{
    (void)state;
    scene sc;
    scene_init(&sc, 6, 24, 0.1, 0.4, 40);
    const double point[3] = {0, 0, 0}, normal[3] = {0, 0, 1};
    assert_int_equal(cloth_obstacle_mesh_plane(&sc.shape, point, normal, 2), 0);
    for (int i = 0; i < sc.mesh.n_verts; ++i) { /* vertical: (u, v) → (u, 0, v + 0.21), a slight lean */
        const double *t = sc.mesh.x_template + 3 * i;
        sc.p.x0[3 * i] = t[0];
        sc.p.x0[3 * i + 1] = 0.02 * (t[1] + 0.2);
        sc.p.x0[3 * i + 2] = t[1] + 0.21;
    }
    scene_run(&sc);
    const cloth_mesh *m = &sc.mesh;
    int crossings = 0;
    double lowest = INFINITY;
    for (int f = 0; f <= sc.s.frames; ++f) {
        const double *x = cloth_sim_positions(sc.sim, f);
        for (int i = 0; i < m->n_verts; ++i) lowest = fmin(lowest, x[3 * i + 2]);
        for (int e = 0; e < m->n_faces; ++e)
            for (int k = 0; k < 3; ++k) {
                const int p = m->faces[3 * e + k], q = m->faces[3 * e + (k + 1) % 3];
                for (int t = 0; t < m->n_faces; ++t) {
                    const int *v = m->faces + 3 * t;
                    if (v[0] == p || v[1] == p || v[2] == p || v[0] == q || v[1] == q || v[2] == q) continue;
                    crossings += segment_crosses(x + 3 * p, x + 3 * q, x + 3 * v[0], x + 3 * v[1], x + 3 * v[2]);
                }
            }
    }
    const double *last = cloth_sim_positions(sc.sim, sc.s.frames);
    double top = -INFINITY;
    for (int i = 0; i < m->n_verts; ++i) top = fmax(top, last[3 * i + 2]);
    printf("self fold: %d edge–triangle crossings over %d frames, lowest vertex z = %.3g m, pile height %.3f m "
           "(strip 0.4 m)\n",
           crossings, sc.s.frames + 1, lowest, top);
    assert_int_equal(crossings, 0);
    assert_true(lowest >= 0);
    assert_true(top < 0.2); /* it fell and folded */
    scene_free(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sphere_drop),
        cmocka_unit_test(test_self_fold),
    };
    return cmocka_run_group_tests(tests, petsc_fixture_setup, petsc_fixture_teardown);
}
