/* bench_sft.c — `make bench`: one ϕ-SfT optimisation iteration over a 50-frame window of the real
 * sequence R1 at 960 × 540 with its 1024-vertex template (simulate + render + backward), next to
 * the target (≤ 5 s on 2 cores), with the breakdown per stage; the median of 3 iterations after a
 * warm-up, one rank with every core.  Φ is ϕ-SfT's initial material with small random
 * correctives, so the cloth moves.  The whole-reconstruction estimate sums the iteration time
 * over a typical adaptive-window schedule (t_a = 5 growing by one frame every i_max = 5
 * iterations to 50 frames, then 200 iterations on all 50), scaled from the measured
 * 50-frame time by the window length.  Needs the sequence in ../shared/data/phisft_r1.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "phive/rng.h"

#include "../unit/petsc_fixture.h"
#include "../unit/sft_fixture.h"

#define FRAMES 50
#define REPEATS 3

static int by_total(const void *a, const void *b)
{
    const sft_step *x = a, *y = b;
    double tx = x->simulate_s + x->render_s + x->render_backward_s + x->adjoint_s;
    double ty = y->simulate_s + y->render_s + y->render_backward_s + y->adjoint_s;
    return (tx > ty) - (tx < ty);
}

int main(void)
{
    if (access("../shared/data/phisft_r1/camera.json", R_OK)) {
        printf("phi-SfT iteration: skipped (no ../shared/data/phisft_r1)\n");
        return 0;
    }
    if (petsc_fixture_setup(NULL)) return 1;
    sft_fixture fx;
    char ini[512];
    snprintf(ini, sizeof ini, "[data]\nroot = ../shared/data/phisft_r1\ndownscale = 2\nframes = %d\n", FRAMES);
    if (sft_fixture_open(&fx, ini, 0)) {
        printf("bench_sft: %s\n", err_message());
        return 1;
    }
    sft_problem *s = &fx.problem;
    rng_t rng;
    rng_seed(&rng, 3, 0);
    const param_tensor *c = &s->params.tensors[s->tensor[T_CORRECTIVES]];
    for (size_t i = 0; i < c->count; ++i) s->params.values[c->offset + i] = (real)(0.02 * (2 * rng_uniform(&rng) - 1));
    sft_step steps[REPEATS + 1];
    for (int k = 0; k <= REPEATS; ++k)
        if (sft_problem_evaluate(s, &fx.ctx, FRAMES, 1, &steps[k])) {
            printf("bench_sft: %s\n", err_message());
            return 1;
        }
    qsort(steps + 1, REPEATS, sizeof *steps, by_total);
    const sft_step *m = &steps[1 + REPEATS / 2];
    const double total = m->simulate_s + m->render_s + m->render_backward_s + m->adjoint_s;
    printf("phi-SfT iteration, R1 %d frames %dx%d (region %dx%d), %d vertices: %6.2f s  target: <= 5 s  (%s; %d threads)\n",
           FRAMES, s->seq.full_width, s->seq.full_height, s->seq.width, s->seq.height, s->n, total,
           total <= 5 ? "met" : "missed", fx.backend.threads);
    cloth_stats st;
    cloth_sim_stats(s->sim, &st);
    printf("  simulate %.2f s (%ld substeps, %.1f CG iterations per solve) | render + losses %.2f s | raster backward "
           "%.2f s | simulator adjoint %.2f s\n",
           m->simulate_s, st.substeps, (double)st.ksp_iterations / (double)(st.substeps ? st.substeps : 1), m->render_s,
           m->render_backward_s, m->adjoint_s);
    /* window schedule: 5 → 50 frames, one more every 5 iterations, then 200 iterations at 50 */
    double whole = 0;
    for (int w = 5; w < FRAMES; ++w) whole += 5 * total * w / FRAMES;
    whole += 200 * total;
    printf("phi-SfT whole R1 reconstruction (estimate, %d iterations): %6.0f s  target: <= 3600 s  (%s)\n",
           5 * (FRAMES - 5) + 200, whole, whole <= 3600 ? "met" : "missed");
    sft_fixture_close(&fx);
    petsc_fixture_teardown(NULL);
    return 0;
}
