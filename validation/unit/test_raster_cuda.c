/* test_raster_cuda.c — the CUDA launchers against the CPU backend.
 *
 * Same scenes, same per-pixel code: fragments must be identical and images
 * and gradients equal up to float rounding and the order of the atomic
 * gradient sums.  Skipped (with a message) in CPU builds and where no GPU is
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

#include "cuda_compare.h"
#include "raster_scenes.h"

#ifdef PHIVE_CUDA
static void compare_scene(int colour_source, int K, int phong, uint64_t seed)
{
    enum { W = 97, H = 61 };
    scene s;
    scene_make(&s, 9, W, H, colour_source, seed);
    s.set.faces_per_pixel = K;
    s.set.sigma = 1e-3, s.set.blur_radius = s.set.silhouette_radius = raster_blur_radius_for(1e-3);
    if (phong) s.set.shading = RASTER_SHADE_PHONG;
    raster_frame cpu, gpu;
    assert_int_equal(raster_frame_alloc(&cpu, W, H, K), 0);
    assert_int_equal(raster_frame_alloc(&gpu, W, H, K), 0);
    assert_int_equal(raster_forward(&s.cam, &s.set, &s.mesh, &cpu, 2), 0);
    assert_int_equal(raster_forward_cuda(&s.cam, &s.set, &s.mesh, &gpu), 0);
    size_t P = (size_t)W * H;
    size_t differing = 0;
    for (size_t i = 0; i < P * K; ++i) differing += cpu.face[i] != gpu.face[i];
    double rgb = relative_gap(gpu.rgb, cpu.rgb, 3 * P), alpha = relative_gap(gpu.alpha, cpu.alpha, P);
    printf("K = %d, %s: %zu fragment slots differ, rgb %.2e, alpha %.2e\n", K, phong ? "Phong" : "ambient", differing, rgb,
           alpha);
    assert_true(differing <= P * K / 1000); /* float rounding may flip a near-tie */
    assert_true(rgb < 1e-3 && alpha < 1e-3);

    rng_t rng;
    rng_seed(&rng, seed, 1);
    real *ga = malloc(sizeof(real) * P), *gr = malloc(sizeof(real) * 3 * P);
    for (size_t i = 0; i < 3 * P; ++i) gr[i] = (real)rng_normal(&rng);
    for (size_t i = 0; i < P; ++i) ga[i] = (real)rng_normal(&rng);
    int V = s.mesh.n_vertices;
    real *pc = calloc(3 * V, sizeof(real)), *pg = calloc(3 * V, sizeof(real));
    raster_grads gc = {pc, NULL, NULL}, gg = {pg, NULL, NULL};
    assert_int_equal(raster_backward(&s.cam, &s.set, &s.mesh, &cpu, gr, ga, &gc, 2), 0);
    assert_int_equal(raster_backward_cuda(&s.cam, &s.set, &s.mesh, &gpu, gr, ga, &gg), 0);
    double pos = relative_gap(pg, pc, 3 * (size_t)V);
    printf("  position gradients %.2e\n", pos);
    assert_true(pos < 1e-3);
    free(ga), free(gr), free(pc), free(pg);
    raster_frame_free(&cpu);
    raster_frame_free(&gpu);
    scene_free(&s);
}

static void test_cuda_matches_cpu(void **state)
{
    (void)state;
    skip_without_gpu();
    compare_scene(SCENE_TEXTURE, 1, 0, 31);
    compare_scene(SCENE_COLORS, 3, 1, 32);
}
#endif
