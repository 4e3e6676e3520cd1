/* bench_cloth.c — `make bench`: the cloth simulator's figures next to their targets, 2 threads.
 *
 *   ~300-vertex cloth (a 17×17 grid, ϕ-SfT's template size), ϕ-SfT's initial material, pinned
 *   at two corners under gravity and wind, 2 substeps per 0.04 s frame:
 *     one forward substep                              target <= 1 ms
 *     forward + adjoint of a 50-frame rollout          target <= 0.5 s
 *   10k-vertex cloth (100×100):
 *     one forward substep                              target <= 50 ms
 *     its adjoint (per substep)                        target <= 2× the forward
 *   scaling table: 300 … 100k vertices, forward and adjoint ms per substep, with the share of
 *   assembly, linear solve and adjoint element work.
 * Each figure is the median of a few runs after a warm-up; the solver is the default
 * (CG + point-block Jacobi, rtol 1e-10), or the PETSc options in PHIVE_BENCH_PETSC.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/cloth.h"
#include "phive/errors.h"
#include "phive/petsc_env.h"

#define THREADS 2

static void die(const char *what)
{
    printf("%s failed: %s\n", what, err_message());
    exit(1);
}

typedef struct {
    cloth_mesh mesh;
    cloth_settings s;
    cloth_params p, g;
    cloth_sim *sim;
    int handles[2];
    double *grad_x;
} scene;

static void scene_make(scene *sc, int res, int frames, const char *petsc)
{
    memset(sc, 0, sizeof *sc);
    if (cloth_mesh_grid(&sc->mesh, res, res, 0.5, 0.5)) die("grid");
    const int n = sc->mesh.n_verts;
    cloth_settings_default(&sc->s);
    sc->s.frames = frames;
    sc->s.damping = 2e-3;
    sc->s.threads = THREADS;
    sc->s.petsc_options = petsc ? petsc : getenv("PHIVE_BENCH_PETSC");
    sc->handles[0] = n - res, sc->handles[1] = n - 1;
    sc->s.n_handles = 2;
    sc->s.handle_verts = sc->handles;
    if (cloth_params_alloc(&sc->p, n, frames, 2, 1) || cloth_params_alloc(&sc->g, n, frames, 2, 1)) die("params");
    cloth_material m;
    if (cloth_material_load("configs/materials/phisft-init.json", NULL, &m)) die("material");
    cloth_params_set_material(&sc->p, &m);
    sc->p.wind[0] = 1, sc->p.wind[2] = 0.5;
    memcpy(sc->p.x0, sc->mesh.x_template, 3 * (size_t)n * sizeof(double));
    for (int f = 0; f <= frames; ++f)
        for (int k = 0; k < 2; ++k)
            memcpy(sc->p.handles + 3 * (2 * f + k), sc->mesh.x_template + 3 * sc->handles[k], 3 * sizeof(double));
    sc->grad_x = calloc((size_t)(frames + 1) * 3 * n, sizeof(double));
    if (!sc->grad_x) die("alloc");
    for (size_t i = 0; i < (size_t)(frames + 1) * 3 * n; ++i) sc->grad_x[i] = sin(0.37 * (double)i);
    if (cloth_sim_create(&sc->sim, &sc->mesh, &sc->s)) die("cloth_sim_create");
}

static void scene_free(scene *sc)
{
    cloth_sim_free(sc->sim);
    cloth_params_free(&sc->p);
    cloth_params_free(&sc->g);
    cloth_mesh_free(&sc->mesh);
    free(sc->grad_x);
}

typedef struct {
    double forward, backward; /* s of the whole rollout */
    cloth_stats fwd, bwd;
} timing;

static timing run(scene *sc, int frames, int backward)
{
    timing t = {0};
    if (cloth_rollout_forward(sc->sim, &sc->p, frames)) die("forward");
    cloth_sim_stats(sc->sim, &t.fwd);
    t.forward = t.fwd.forward_s;
    if (backward) {
        cloth_params_zero(&sc->g);
        if (cloth_rollout_backward(sc->sim, &sc->p, sc->grad_x, NULL, &sc->g)) die("backward");
        cloth_sim_stats(sc->sim, &t.bwd);
        t.backward = t.bwd.backward_s;
    }
    return t;
}

static int compare_timing(const void *a, const void *b)
{
    const timing *x = a, *y = b;
    const double u = x->forward + x->backward, v = y->forward + y->backward;
    return (u > v) - (u < v);
}

/* Median (by total time) of `runs` runs after a warm-up. */
static timing measure(scene *sc, int frames, int backward, int runs)
{
    timing t[9];
    run(sc, frames, backward);
    for (int r = 0; r < runs; ++r) t[r] = run(sc, frames, backward);
    qsort(t, (size_t)runs, sizeof *t, compare_timing);
    return t[runs / 2];
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    MPI_Init(NULL, NULL);
    if (petsc_start()) die("PETSc");
    printf("cloth simulator (%d threads)\n", THREADS);
    scene sc;
    /* ~300 vertices */
    scene_make(&sc, 17, 50, NULL);
    timing t = measure(&sc, 5, 0, 5);
    const double sub300 = 1e3 * t.forward / t.fwd.substeps;
    printf("%-44s %8.3f ms   target: <= 1 ms   (%d vertices, %.1f CG iterations)\n", "forward substep, 289 vertices",
           sub300, sc.mesh.n_verts, (double)t.fwd.ksp_iterations / t.fwd.substeps);
    t = measure(&sc, 50, 1, 3);
    printf("%-44s %8.3f s    target: <= 0.5 s  (forward %.3f s, adjoint %.3f s)\n", "forward + adjoint, 50 frames × 2",
           t.forward + t.backward, t.forward, t.backward);
    scene_free(&sc);
    /* 10k vertices */
    scene_make(&sc, 100, 2, NULL);
    t = measure(&sc, 2, 1, 3);
    const double f10k = 1e3 * t.forward / t.fwd.substeps, b10k = 1e3 * t.backward / t.fwd.substeps;
    printf("%-44s %8.1f ms   target: <= 50 ms\n", "forward substep, 10k vertices", f10k);
    printf("%-44s %8.1f ms   target: <= %.1f ms (2× forward)\n", "adjoint substep, 10k vertices", b10k, 2 * f10k);
    scene_free(&sc);
    /* scaling */
    printf("\n%9s %12s %12s %10s %10s %12s %9s\n", "vertices", "fwd ms/sub", "adj ms/sub", "assemble", "solve",
           "adj elements", "CG its");
    const int res[] = {17, 32, 71, 100, 224, 317};
    for (int k = 0; k < 6; ++k) {
        const int frames = res[k] > 200 ? 1 : 2;
        scene_make(&sc, res[k], frames, NULL);
        t = res[k] > 200 ? run(&sc, frames, 1) : measure(&sc, frames, 1, 3);
        const double subs = t.fwd.substeps;
        printf("%9d %12.2f %12.2f %9.0f%% %9.0f%% %11.0f%% %9.0f\n", sc.mesh.n_verts, 1e3 * t.forward / subs,
               1e3 * t.backward / subs, 100 * t.fwd.assemble_s / t.forward, 100 * t.fwd.solve_s / t.forward,
               100 * (t.bwd.adjoint_elements_s) / t.backward, (double)t.fwd.ksp_iterations / subs);
        scene_free(&sc);
    }
    petsc_stop();
    MPI_Finalize();
    return 0;
}
