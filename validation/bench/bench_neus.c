/* bench_neus.c — `make bench`: a NeuS training step at NeuS's default sizes (wmask.conf: SDF
 * 8×256 with the skip, colour 4×256, 512 rays × (64 + 64) samples), sampling + forward + backward
 * + Adam, next to the target (≥ 2× the official PyTorch code's ~4,600 samples/s on 2 cores:
 * ≥ 9,000), for the analytic SDF gradient (the default) and tetrahedral differences, with the
 * GEMM FLOPs per sample counted from the layer shapes and the fraction of the measured sgemm peak.
 * Then HIVE's dense stage (8 feature volumes 2…256³ × 4 after PE6, a 2 × 64 SDF MLP, 6-tap FD with
 * the normal term, TV every step) and the same small MLP in NeuS mode (target: HIVE ≥ 10× the
 * official ~4,600 samples/s), the trilinear encoding's forward + backward over 1M points, and the
 * memory of the sparse 512³ / 1024³ volumes in a band around DTU-sized objects.
 * Rays start 2–3 units from the origin towards the unit sphere (the initialised SDF is a sphere),
 * with random targets; the median of 3 steps after a warm-up.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phive/backend.h"
#include "phive/errors.h"
#include "phive/linalg.h"
#include "phive/neus.h"
#include "phive/nsr.h"
#include "phive/opt.h"
#include "phive/rng.h"

#include "nsr_rays.h" /* kernels/: nsr_ray_near_far */

#define RAYS 512
#define STEPS 5

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

/* GEMM FLOPs of one pass of a network over one row: 2 Σ_l in_l · out_l. */
static double mlp_pass_flops(const mlp *net)
{
    double f = 0;
    for (int l = 0; l < net->n_layers; ++l) f += 2.0 * net->dims[l] * mlp_layer_out(net, l);
    return f;
}

/* sgemm GFLOP/s on the MLP's shape (8192 rows × 256 × 256), the peak the step is compared with. */
static double sgemm_gflops(void)
{
    enum { ROWS = 8192, W = 256, REPS = 20 };
    real *a = calloc((size_t)ROWS * W, sizeof(real)), *b = calloc((size_t)W * W, sizeof(real));
    real *c = calloc((size_t)ROWS * W, sizeof(real));
    if (!a || !b || !c) die("alloc");
    for (size_t i = 0; i < (size_t)ROWS * W; ++i) a[i] = (real)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)W * W; ++i) b[i] = (real)(i % 5) * 0.1f;
    linalg_gemm(0, 1, ROWS, W, W, 1, a, W, b, W, 0, c, W); /* warm-up */
    const double t0 = now();
    for (int r = 0; r < REPS; ++r) linalg_gemm(0, 1, ROWS, W, W, 1, a, W, b, W, 0, c, W);
    const double dt = now() - t0;
    free(a), free(b), free(c);
    return 2.0 * ROWS * W * W * REPS / dt / 1e9;
}

/* The median of a phase's times over the steps after the warm-up (t[0]); sorts t[1..]. */
static double median_step(double t[STEPS + 1])
{
    qsort(t + 1, STEPS, sizeof(double), compare_double);
    return t[1 + STEPS / 2];
}

typedef struct {
    const char *name;
    neus_gradient_mode mode;
    int small;        /* 1: 2 × 64 SDF MLP, 2 × 64 colour MLP, 64 features */
    int volumes;      /* 1: HIVE's dense volumes, normal smoothness and TV */
    double target;    /* samples/s */
} bench_case;

static void bench(const bench_case *bc, double peak_gflops)
{
    neus_model_config c;
    neus_model_config_default(&c);
    if (bc->small) {
        c.sdf_hidden_layers = 2, c.sdf_width = 64, c.sdf_skip = 0, c.sdf_features = 64;
        c.color_hidden_layers = 2, c.color_width = 64;
    }
    c.encoding = bc->volumes;
    neus_model m;
    param_set p;
    params_init(&p);
    if (neus_model_declare(&m, &p, &c, 0) || params_allocate(&p)) die("model");
    rng_t rng;
    rng_seed(&rng, 1, 0);
    neus_model_init(&m, &p, &rng);
    neus_render_options o;
    neus_render_options_default(&o);
    o.gradient = bc->mode;
    if (bc->volumes) o.normal_weight = 1e-3, o.fd_eps = 2.0 / 255;
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
    if (adam_init(&opt, &p, 0.9, 0.999, 1e-8)) die("adam");
    for (int g = 0; g < 5; ++g) /* networks, the volumes' three bands, the variance (neus.h) */
        if (adam_set_group(&opt, g, sched)) die("adam");
    double total[STEPS + 1], sample[STEPS + 1], fb[STEPS + 1], tv[STEPS + 1], update[STEPS + 1];
    for (int r = 0; r <= STEPS; ++r) {
        const double t0 = now();
        if (neus_sample(&m, &p, &o, &rays, &rng, (uint64_t)r, &ws)) die("neus_sample");
        const double t1 = now();
        params_zero_grads(&p);
        if (neus_forward(&m, &p, &o, &rays, NULL, 1, &ws, NULL)) die("neus_forward");
        const double t_tv = now();
        if (bc->volumes) nsr_volume_tv(&m.enc_xyz, &p, 0.01, 1);
        const double t2 = now();
        if (adam_step(&opt, &p)) die("adam_step");
        const double t3 = now();
        total[r] = t3 - t0, sample[r] = t1 - t0, fb[r] = t_tv - t1, tv[r] = t2 - t_tv, update[r] = t3 - t2;
    }
    const double step = median_step(total), samples = (double)RAYS * ws.n_per_ray;
    /* GEMM work per rendered sample: the sampler's SDF forwards (n_samples + the importance samples of
     * all rounds but the last, per S samples), then forward + backward: analytic 6 SDF passes
     * (forward, input gradient, double backward), FD (1 + taps) × 3 passes; colour 3 passes */
    const int taps = bc->mode == NEUS_GRADIENT_FD ? 4 : (bc->mode == NEUS_GRADIENT_FD6 ? 6 : 0);
    const double sampler_rows = (double)(o.n_samples + o.n_importance - o.n_importance / o.up_sample_steps) / ws.n_per_ray;
    const double sdf_passes = taps ? 3.0 * (1 + taps) : 6.0;
    const double flops = (sampler_rows + sdf_passes) * mlp_pass_flops(&m.sdf) + 3 * mlp_pass_flops(&m.color);
    const double gflops = flops * samples / step / 1e9;
    printf("NeuS step, %-22s %d rays × %d samples  %8.0f samples/s  target: >= %.0f samples/s  "
           "(%.3f s per step: sampling %.0f%%, forward + backward %.0f%%, TV %.0f%%, Adam %.0f%%; %.2f MFLOP/sample, "
           "%.1f GFLOP/s = %.0f%% of the sgemm peak)\n",
           bc->name, RAYS, ws.n_per_ray, samples / step, bc->target, step, 100 * median_step(sample) / step,
           100 * median_step(fb) / step, 100 * median_step(tv) / step, 100 * median_step(update) / step, flops / 1e6, gflops,
           100 * gflops / peak_gflops);
    adam_free(&opt);
    neus_workspace_free(&ws, &m);
    params_free(&p);
    neus_model_free(&m);
    free(origin), free(dir), free(near), free(far), free(rgb), free(mask);
}

/* HIVE's trilinear encoding alone: forward + backward (scatter into the volumes) of 1M points. */
static void bench_trilinear(void)
{
    enum { POINTS = 1 << 20, CHUNK = 1 << 16 };
    nsr_volume_config vc;
    nsr_volume_config_default(&vc);
    vc.pe_freqs = 0;
    param_set p;
    params_init(&p);
    nsr_encoding e;
    if (nsr_encoding_volumes(&e, &p, &vc, 1) || params_allocate(&p)) die("volumes");
    rng_t rng;
    rng_seed(&rng, 5, 0);
    nsr_encoding_init(&e, &p, &rng);
    const int W = nsr_encoding_n_out(&e);
    real *x = malloc((size_t)CHUNK * 3 * sizeof(real)), *out = malloc((size_t)CHUNK * W * sizeof(real));
    real *g = malloc((size_t)CHUNK * W * sizeof(real));
    if (!x || !out || !g) die("alloc");
    for (long i = 0; i < (long)CHUNK * 3; ++i) x[i] = (real)(2 * rng_uniform(&rng) - 1);
    for (long i = 0; i < (long)CHUNK * W; ++i) g[i] = (real)rng_normal(&rng);
    double fwd = 0, bwd = 0;
    for (int start = 0; start < POINTS; start += CHUNK) {
        const double t0 = now();
        e.ops->forward(&e, &p, x, CHUNK, out);
        const double t1 = now();
        e.ops->backward(&e, &p, x, out, CHUNK, g, NULL, 1);
        fwd += t1 - t0, bwd += now() - t1;
    }
    printf("HIVE trilinear encoding, 8 volumes 2..256^3 x 4, 1M points: forward %.3f s, backward %.3f s  "
           "(%.1f M points/s forward + backward)\n", fwd, bwd, POINTS / (fwd + bwd) / 1e6);
    free(x), free(out), free(g);
    params_free(&p);
    nsr_encoding_free(&e);
}

/* HIVE's sparse 512³ and 1024³ × 4 volumes (256³ index tables) in the band `band` around the
 * zero level of an SDF sampled on a G³ grid over [−1, 1]³ (the neus job's stage boundary): bricks,
 * allocated MiB (table values, gradients, Adam's two moments, index) against the ≤ 2 GiB target
 * for 1024³, and the time to mark and activate. */
static void bench_sparse_grid(const char *object, const float *grid, int G, double band)
{
    nsr_volume_config vc;
    nsr_volume_config_default(&vc);
    vc.n_sparse = 2;
    param_set p;
    params_init(&p);
    nsr_encoding e;
    if (nsr_encoding_volumes(&e, &p, &vc, 1) || params_allocate(&p)) die("volumes");
    adam opt;
    if (adam_init(&opt, &p, 0.9, 0.999, 1e-8)) die("adam");
    rng_t rng;
    rng_seed(&rng, 6, 0);
    real *mark = malloc(sizeof(real) * 256 * 256 * 256);
    long *ids = malloc(sizeof(long) * 256 * 256 * 256);
    if (!mark || !ids) die("alloc");
    for (int k = 0; k < 2; ++k) {
        const double t0 = now();
        memset(mark, 0, sizeof(real) * 256 * 256 * 256);
        nsr_sparse_mark(&e, k, grid, G, 0, G - 1, band, mark);
        long n = 0;
        for (long b = 0; b < 256L * 256 * 256; ++b)
            if (mark[b] > 0) ids[n++] = b;
        if (nsr_sparse_activate(&e, &p, &opt, k, ids, n, &rng)) die("activate");
        nsr_sparse_info info;
        nsr_sparse_info_of(&e, k, &info);
        printf("HIVE sparse %4d^3 x 4, band %g from a %d^3 grid, %s: %ld bricks of %d^3 (%.2f %% of the "
               "volume), %.0f MiB with gradients, Adam moments and index  target: <= 2048 MiB (1024^3)  "
               "[mark + activate %.2f s]\n", info.res, band, G, object, info.active, info.brick_side,
               100.0 * info.active / (256.0 * 256 * 256), info.bytes / 1048576.0, now() - t0);
    }
    free(mark), free(ids);
    adam_free(&opt);
    params_free(&p);
    nsr_encoding_free(&e);
}

/* The same around objects of the sizes DTU's normalisation gives: spheres of radius 0.6 and 0.9
 * with relief ±0.02·radius at 30 waves per turn. */
static void bench_sparse_sphere(double radius, int G, double band)
{
    float *grid = malloc(sizeof(float) * G * G * G);
    if (!grid) die("alloc");
    const double h = 2.0 / (G - 1);
    for (long k = 0; k < G; ++k)
        for (long j = 0; j < G; ++j)
            for (long i = 0; i < G; ++i) {
                const double x = -1 + h * i, y = -1 + h * j, z = -1 + h * k, r = sqrt(x * x + y * y + z * z);
                const double relief = 0.02 * radius * sin(30 * atan2(y, x)) * sin(30 * acos(r > 0 ? z / r : 1));
                grid[(k * G + j) * G + i] = (float)(r - radius - relief);
            }
    char object[64];
    snprintf(object, sizeof object, "radius-%.1f object", radius);
    bench_sparse_grid(object, grid, G, band);
    free(grid);
}

/* The same around the surface of a trained neus job (its checkpoint), e.g. a DTU scan. */
static void bench_sparse_job(const char *job_dir, int G, double band)
{
    config *cfg;
    neus_model m;
    param_set p;
    long iteration;
    if (neus_checkpoint_model(job_dir, &cfg, &m, &p, &iteration)) die(job_dir);
    float *grid = malloc(sizeof(float) * G * G * G);
    if (!grid) die("alloc");
    const double t0 = now();
    if (neus_sdf_grid(&m, &p, G, -1, 1, 0, G - 1, grid)) die("SDF grid");
    printf("SDF of %s (iteration %ld) on a %d^3 grid: %.1f s\n", job_dir, iteration, G, now() - t0);
    char object[4200];
    snprintf(object, sizeof object, "the surface of %s", job_dir);
    bench_sparse_grid(object, grid, G, band);
    free(grid);
    params_free(&p);
    neus_model_free(&m);
    config_free(cfg);
}

/* bench_neus [WORD [JOB_DIR]]: only the cases whose name contains WORD ("trilinear" for the
 * encoding alone); `bench_neus sparse JOB_DIR` measures the sparse volumes around the surface of a
 * trained neus job instead of the spheres. */
int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    backend b; /* the job's threading: OpenMP over the cores, OpenBLAS inside linalg_gemm's split */
    if (backend_init(&b, "cpu", 0, 1, 0)) die("backend");
    const double peak = sgemm_gflops();
    printf("sgemm (8192 x 256 x 256): %.1f GFLOP/s\n", peak);
    static const bench_case cases[] = {
        {"analytic", NEUS_GRADIENT_ANALYTIC, 0, 0, 9000},
        {"FD", NEUS_GRADIENT_FD, 0, 0, 9000},
        {"small MLP, NeuS (PE)", NEUS_GRADIENT_ANALYTIC, 1, 0, 46000},
        {"small MLP, HIVE dense", NEUS_GRADIENT_FD6, 1, 1, 46000},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k)
        if (!only || strstr(cases[k].name, only)) bench(&cases[k], peak);
    if (!only || strstr("trilinear", only)) bench_trilinear();
    if (!only || strstr("sparse", only)) {
        if (argc > 2) bench_sparse_job(argv[2], 512, 0.004);
        else
            for (int r = 0; r < 2; ++r) bench_sparse_sphere(r ? 0.9 : 0.6, 512, 0.004);
    }
    return 0;
}
