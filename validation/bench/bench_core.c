/* bench_core.c — `make bench`: figures of the foundation next to their targets.
 *
 *   sgemm 2048³             the machine's dense ceiling (REFERENCE.md: ~150 GFLOP/s on 2 cores)
 *   MLP train step          NeuS-sized SDF MLP (8×256 Softplus), forward + backward on 8192 rows;
 *                           target: beat the PyTorch peer's ~40 GFLOP/s (REFERENCE.md §3)
 *   checkpoint write        ckpt.h5 of 16 M parameters + Adam state, atomic; target ≥ 200 MB/s
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phive/backend.h"
#include "phive/ckpt.h"
#include "phive/h5io.h"
#include "phive/linalg.h"
#include "phive/log.h"
#include "phive/mlp.h"

static void report(const char *name, double value, const char *unit, const char *target)
{
    printf("%-34s %10.1f %-8s target: %s\n", name, value, unit, target);
}

static double bench_sgemm(void)
{
    const int n = 2048;
    real *a = malloc(sizeof(real) * n * n), *b = malloc(sizeof(real) * n * n), *c = malloc(sizeof(real) * n * n);
    for (long i = 0; i < (long)n * n; ++i) a[i] = (real)(i % 7) * 0.1f, b[i] = (real)(i % 5) * 0.1f;
    linalg_gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n); /* warm-up */
    double start = wall_time();
    int reps = 3;
    for (int r = 0; r < reps; ++r) linalg_gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
    double seconds = wall_time() - start;
    free(a), free(b), free(c);
    return reps * 2.0 * n * (double)n * n / seconds * 1e-9;
}

static double bench_mlp(void)
{
    const int rows = 8192;
    param_set p;
    mlp net;
    mlp_buffers buffers;
    rng_t rng;
    rng_seed(&rng, 1, 0);
    params_init(&p);
    mlp_declare(&net, &p, "sdf", 39, 256, 7, 257, 100.0, 0);
    params_allocate(&p);
    mlp_init_geometric(&net, &p, &rng, 0.5, 3);
    mlp_buffers_alloc(&buffers, &net, rows);
    for (long i = 0; i < (long)rows * 39; ++i) buffers.act[0][i] = (real)(rng_uniform(&rng) - 0.5);
    real *grad = malloc(sizeof(real) * rows * 257);
    for (long i = 0; i < (long)rows * 257; ++i) grad[i] = 1e-3f;
    double flops_per_row = 0;
    for (int l = 0; l < net.n_layers; ++l) flops_per_row += 2.0 * net.dims[l] * net.dims[l + 1];
    mlp_forward(&net, &p, &buffers, rows);
    double start = wall_time();
    int reps = 5;
    for (int r = 0; r < reps; ++r) {
        mlp_forward(&net, &p, &buffers, rows);
        mlp_backward(&net, &p, &buffers, rows, grad, NULL);
    }
    double seconds = wall_time() - start;
    free(grad);
    mlp_buffers_free(&buffers, &net);
    params_free(&p);
    return reps * 3.0 * flops_per_row * rows / seconds * 1e-9; /* backward = 2 GEMMs per layer */
}

static double bench_checkpoint(void)
{
    char dir[] = "/tmp/phive_bench_XXXXXX", path[128];
    if (!mkdtemp(dir)) return 0;
    snprintf(path, sizeof path, "%s/ckpt.h5", dir);
    param_set p;
    params_init(&p);
    size_t shape[1] = {16u << 20};
    params_declare(&p, "volume", 1, shape, 0);
    params_allocate(&p);
    adam opt;
    adam_init(&opt, &p, 0.9, 0.999, 1e-8);
    for (size_t i = 0; i < p.count; ++i) p.values[i] = (real)i * 1e-6f, opt.m[i] = p.values[i], opt.v[i] = p.values[i];
    train_state state = {&p, &opt, NULL, 1, NULL, 1, NULL, 0};
    double start = wall_time();
    int status = ckpt_save(path, &state);
    double seconds = wall_time() - start;
    unlink(path);
    rmdir(dir);
    double bytes = 3.0 * p.count * sizeof(real);
    adam_free(&opt);
    params_free(&p);
    return status ? 0 : bytes / seconds / 1e6;
}

int main(void)
{
    backend b;
    h5io_init();
    backend_init(&b, "cpu", 0, 1, 0);
    printf("phive bench (%d threads)\n", b.threads);
    report("sgemm 2048^3", bench_sgemm(), "GFLOP/s", "~150 (machine ceiling)");
    report("MLP 8x256 fwd+bwd, 8192 rows", bench_mlp(), "GFLOP/s", ">= 40 (NeuS PyTorch peer)");
    report("checkpoint write, 16M params", bench_checkpoint(), "MB/s", ">= 200");
    backend_free(&b);
    return 0;
}
