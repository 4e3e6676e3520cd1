/* bench_neus.c — `make bench`: a NeuS training step at NeuS's default sizes (wmask.conf: SDF
 * 8×256 with the skip, colour 4×256, 512 rays × (64 + 64) samples), sampling + forward + backward
 * + Adam, next to the target (≥ 2× the official PyTorch code's ~4,600 samples/s on 2 cores:
 * ≥ 9,000), for the analytic SDF gradient (the default) and tetrahedral differences.  Rays start
 * 2–3 units from the origin towards the unit sphere (the NeuS-initialised SDF is a sphere), with
 * random targets; the median of 3 steps after a warm-up.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phive/errors.h"
#include "phive/neus.h"
#include "phive/opt.h"
#include "phive/rng.h"

#include "nsr_rays.h" /* kernels/: nsr_ray_near_far */

#define RAYS 512
#define STEPS 3

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what)
{
    printf("%s failed: %s\n", what, err_message());
    exit(1);
}

static int compare_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench(neus_gradient_mode mode, const char *name)
{
    neus_model_config c;
    neus_model_config_default(&c);
    neus_model m;
    param_set p;
    params_init(&p);
    if (neus_model_declare(&m, &p, &c, 0) || params_allocate(&p)) die("model");
    rng_t rng;
    rng_seed(&rng, 1, 0);
    neus_model_init(&m, &p, &rng);
    neus_render_options o;
    neus_render_options_default(&o);
    o.gradient = mode;
    neus_workspace ws;
    if (neus_workspace_alloc(&ws, &m, &o, RAYS)) die("workspace");
    real *origin = malloc(3 * RAYS * sizeof(real)), *dir = malloc(3 * RAYS * sizeof(real));
    real *near = malloc(RAYS * sizeof(real)), *far = malloc(RAYS * sizeof(real));
    real *rgb = malloc(3 * RAYS * sizeof(real)), *mask = malloc(RAYS * sizeof(real));
    if (!origin || !dir || !near || !far || !rgb || !mask) die("alloc");
    for (int b = 0; b < RAYS; ++b) {
        double e[3] = {rng_normal(&rng), rng_normal(&rng), rng_normal(&rng)};
        const double len = sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]), dist = 2 + rng_uniform(&rng);
        double d[3], dl = 0;
        for (int k = 0; k < 3; ++k) e[k] *= dist / len, d[k] = 0.3 * rng_normal(&rng) - e[k], dl += d[k] * d[k];
        for (int k = 0; k < 3; ++k) {
            origin[3 * b + k] = (real)e[k], dir[3 * b + k] = (real)(d[k] / sqrt(dl));
            rgb[3 * b + k] = (real)rng_uniform(&rng);
        }
        mask[b] = 1;
        nsr_ray_near_far(origin + 3 * b, dir + 3 * b, &near[b], &far[b]);
    }
    neus_ray_batch rays = {.n = RAYS, .origin = origin, .direction = dir, .near = near, .far = far, .rgb = rgb, .mask = mask};
    adam opt;
    lr_schedule sched = {.kind = SCHEDULE_CONSTANT, .lr = 5e-4, .total = 1000};
    if (adam_init(&opt, &p, 0.9, 0.999, 1e-8) || adam_set_group(&opt, 0, sched)) die("adam");
    double total[STEPS + 1], sample[STEPS + 1], fb[STEPS + 1];
    for (int r = 0; r <= STEPS; ++r) {
        const double t0 = now();
        if (neus_sample(&m, &p, &o, &rays, &rng, (uint64_t)r, &ws)) die("neus_sample");
        const double t1 = now();
        params_zero_grads(&p);
        if (neus_forward(&m, &p, &o, &rays, NULL, 1, &ws, NULL)) die("neus_forward");
        const double t2 = now();
        if (adam_step(&opt, &p)) die("adam_step");
        const double t3 = now();
        total[r] = t3 - t0, sample[r] = t1 - t0, fb[r] = t2 - t1;
    }
    /* drop the warm-up */
    qsort(total + 1, STEPS, sizeof(double), compare_double);
    qsort(sample + 1, STEPS, sizeof(double), compare_double);
    qsort(fb + 1, STEPS, sizeof(double), compare_double);
    const double step = total[1 + STEPS / 2], samples = (double)RAYS * ws.n_per_ray;
    printf("NeuS step, %-9s %d rays × %d samples  %8.0f samples/s  target: >= 9000 samples/s  "
           "(%.3f s per step: sampling %.0f%%, forward + backward %.0f%%, Adam %.0f%%)\n",
           name, RAYS, ws.n_per_ray, samples / step, step, 100 * sample[1 + STEPS / 2] / step,
           100 * fb[1 + STEPS / 2] / step, 100 * (step - sample[1 + STEPS / 2] - fb[1 + STEPS / 2]) / step);
    adam_free(&opt);
    neus_workspace_free(&ws, &m);
    params_free(&p);
    free(origin), free(dir), free(near), free(far), free(rgb), free(mask);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    bench(NEUS_GRADIENT_ANALYTIC, "analytic");
    bench(NEUS_GRADIENT_FD, "FD");
    return 0;
}
