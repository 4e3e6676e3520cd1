/* test_volume_cuda.c — the CUDA feature-grid launchers (kernels/nsr_volume.cu) against the CPU
 * loops over the same per-point functions of kernels/nsr_volume.h.
 *
 * Dense, hashed and brick-sparse grids (half the bricks active, the rest reading the shared row),
 * points inside and outside the box: lookups must agree to float rounding, scattered gradients up
 * to the order of the atomic sums.  Skipped (with a message) in CPU builds and where no GPU is
 * visible.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsr_volume.h"
#include "phive/rng.h"

#include "cuda_compare.h"

#ifdef PHIVE_CUDA
static void *to_device(const void *host, size_t bytes)
{
    void *d = NULL;
    assert_int_equal(cudaMalloc(&d, bytes ? bytes : 1), cudaSuccess);
    if (host) assert_int_equal(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice), cudaSuccess);
    else assert_int_equal(cudaMemset(d, 0, bytes ? bytes : 1), cudaSuccess);
    return d;
}

/* Lookup and scatter of N points through grid g (table rows × C) on both sides; `offset` places
 * the features inside rows of `width`, as the encoding's output does. */
static void compare_grid(const char *name, volume_grid g, int C, uint64_t seed)
{
    enum { N = 20000 };
    const int width = C + 5, offset = 3;
    rng_t rng;
    rng_seed(&rng, seed, 0);
    const size_t values = (size_t)g.table * C;
    real *V = malloc(values * sizeof(real)), *x = malloc(3 * N * sizeof(real));
    real *out_cpu = calloc((size_t)N * width, sizeof(real)), *out_gpu = calloc((size_t)N * width, sizeof(real));
    real *grad = malloc((size_t)N * width * sizeof(real));
    real *G_cpu = calloc(values, sizeof(real)), *G_gpu = calloc(values, sizeof(real));
    assert_non_null(V), assert_non_null(x), assert_non_null(out_cpu), assert_non_null(out_gpu);
    assert_non_null(grad), assert_non_null(G_cpu), assert_non_null(G_gpu);
    for (size_t i = 0; i < values; ++i) V[i] = (real)rng_normal(&rng);
    for (int i = 0; i < 3 * N; ++i) x[i] = (real)(2.2 * rng_uniform(&rng) - 1.1); /* some outside the box */
    for (int i = 0; i < N * width; ++i) grad[i] = (real)rng_normal(&rng);

    for (int i = 0; i < N; ++i) {
        volume_lookup(&g, V, C, x + 3 * i, out_cpu + (size_t)i * width + offset);
        int base[3];
        real t[3], dt[3], w;
        volume_cell(x + 3 * i, g.r, base, t, dt);
        for (int c = 0; c < 8; ++c) {
            real *v = G_cpu + volume_corner(&g, base, t, c, &w) * C;
            for (int k = 0; k < C; ++k) v[k] += w * grad[(size_t)i * width + offset + k];
        }
    }

    volume_grid dg = g;
    if (g.bricks) {
        const size_t n_bricks = (size_t)g.brick_res * g.brick_res * g.brick_res;
        dg.bricks = to_device(g.bricks, n_bricks * sizeof(int));
    }
    real *dV = to_device(V, values * sizeof(real)), *dG = to_device(NULL, values * sizeof(real));
    real *dx = to_device(x, 3 * N * sizeof(real)), *dgrad = to_device(grad, (size_t)N * width * sizeof(real));
    real *dout = to_device(out_gpu, (size_t)N * width * sizeof(real));
    assert_int_equal(volume_lookup_device(dg, dV, C, dx, N, dout, width, offset), 0);
    assert_int_equal(volume_scatter_device(dg, dG, C, dx, N, dgrad, width, offset), 0);
    assert_int_equal(cudaDeviceSynchronize(), cudaSuccess);
    assert_int_equal(cudaMemcpy(out_gpu, dout, (size_t)N * width * sizeof(real), cudaMemcpyDeviceToHost), cudaSuccess);
    assert_int_equal(cudaMemcpy(G_gpu, dG, values * sizeof(real), cudaMemcpyDeviceToHost), cudaSuccess);

    const double lookup = relative_gap(out_gpu, out_cpu, (size_t)N * width);
    const double scatter = relative_gap(G_gpu, G_cpu, values);
    printf("%s (r = %d, %ld rows x %d): lookup %.2e, scatter %.2e\n", name, g.r, g.table, C, lookup, scatter);
    assert_true(lookup < 1e-5 && scatter < 1e-4);
    cudaFree(dV), cudaFree(dG), cudaFree(dx), cudaFree(dgrad), cudaFree(dout);
    if (g.bricks) cudaFree((void *)dg.bricks);
    free(V), free(x), free(out_cpu), free(out_gpu), free(grad), free(G_cpu), free(G_gpu);
}

static void test_cuda_matches_cpu(void **state)
{
    (void)state;
    skip_without_gpu();
    compare_grid("dense", (volume_grid){.r = 17, .table = 17 * 17 * 17}, 4, 1);
    compare_grid("hashed", (volume_grid){.r = 64, .table = 4096}, 2, 2);
    /* 32³ vertices in bricks of 4³ (8 a side), every other brick active, slots in brick order */
    enum { BRICK_RES = 8, SHIFT = 2 };
    int *bricks = malloc(BRICK_RES * BRICK_RES * BRICK_RES * sizeof(int));
    assert_non_null(bricks);
    int active = 0;
    for (int b = 0; b < BRICK_RES * BRICK_RES * BRICK_RES; ++b) bricks[b] = b % 2 ? active++ : -1;
    const long rows = (long)active << (3 * SHIFT);
    compare_grid("sparse", (volume_grid){.r = 32, .table = rows + 1, .bricks = bricks, .shift = SHIFT, .brick_res = BRICK_RES},
                 4, 3);
    free(bricks);
}
#endif
