/* grad_raster.c — the rasterizer's backward against central finite differences (real = double).
 *
 * Loss L = Σ a ⊙ rgb + Σ b ⊙ alpha with random a, b, on small random scenes
 * (raster_scenes.h): every vertex coordinate, vertex colour and texel
 * gradient is compared with (L(θ+h) − L(θ−h)) / 2h.  Configurations cover
 * K = 1 and K > 1, texture and vertex colours, ambient and Phong (point and
 * directional light), back-face culling, both soft-silhouette modes, and
 * ϕ-SfT's sharp σ = γ = 1e-4.
 * The Gaussian blur's backward is checked the same way.
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

#include "raster_scenes.h"

#define W 40
#define H 30
#define TOLERANCE 1e-5

typedef struct {
    scene s;
    raster_frame frame;
    real *a, *b; /* loss weights on rgb and alpha */
} problem;

static double loss(problem *p)
{
    assert_int_equal(raster_forward(&p->s.cam, &p->s.set, &p->s.mesh, &p->frame, 2), 0);
    double sum = 0;
    for (int i = 0; i < W * H * 3; ++i) sum += p->a[i] * p->frame.rgb[i];
    for (int i = 0; i < W * H; ++i) sum += p->b[i] * p->frame.alpha[i];
    return sum;
}

static double relative_error(double analytic, double numeric, double scale)
{
    return fabs(analytic - numeric) / fmax(1e-4 * scale, fmax(fabs(analytic), fabs(numeric)));
}

static double largest(const real *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; ++i) m = fmax(m, fabs(v[i]));
    return m;
}

/* Worst relative error of grad against finite differences of the n values at x. */
static double compare(problem *p, real *x, const real *grad, size_t n, double h, const char *what)
{
    double worst = 0, scale = largest(grad, n);
    size_t at = 0;
    for (size_t i = 0; i < n; ++i) {
        real keep = x[i];
        x[i] = keep + h;
        double up = loss(p);
        x[i] = keep - h;
        double down = loss(p);
        x[i] = keep;
        double e = relative_error(grad[i], (up - down) / (2 * h), scale);
        if (e > worst) worst = e, at = i;
    }
    printf("  %-14s %4zu values, |grad| <= %.3g, worst relative error %.2e (entry %zu)\n", what, n, scale, worst, at);
    assert_true(scale > 0); /* the check must exercise something */
    return worst;
}

static void check_scene(int n, int colour_source, void (*configure)(raster_settings *s), uint64_t seed)
{
    problem p;
    scene_make(&p.s, n, W, H, colour_source, seed);
    p.s.set.background[0] = 0.2, p.s.set.background[1] = 0.5, p.s.set.background[2] = 0.9;
    configure(&p.s.set);
    assert_int_equal(raster_frame_alloc(&p.frame, W, H, p.s.set.faces_per_pixel), 0);
    rng_t rng;
    rng_seed(&rng, seed + 1, 0);
    p.a = malloc(sizeof(real) * W * H * 3);
    p.b = malloc(sizeof(real) * W * H);
    for (int i = 0; i < W * H * 3; ++i) p.a[i] = rng_normal(&rng);
    for (int i = 0; i < W * H; ++i) p.b[i] = rng_normal(&rng);

    int V = p.s.mesh.n_vertices;
    size_t nt = p.s.texture ? (size_t)3 * p.s.mesh.tex_width * p.s.mesh.tex_height : 0;
    real *gpos = calloc(3 * V, sizeof(real)), *gcol = calloc(3 * V, sizeof(real)), *gtex = calloc(nt + 1, sizeof(real));
    raster_grads g = {gpos, p.s.colors ? gcol : NULL, p.s.texture ? gtex : NULL};
    loss(&p);
    int covered = 0;
    for (int i = 0; i < W * H; ++i) covered += p.frame.silhouette[i];
    assert_true(covered > W * H / 4);
    assert_int_equal(raster_backward(&p.s.cam, &p.s.set, &p.s.mesh, &p.frame, p.a, p.b, &g, 2), 0);

    double worst = compare(&p, p.s.positions, gpos, 3 * (size_t)V, 1e-6, "positions");
    /* L is linear in the colours: a large step has no truncation error and less round-off */
    if (p.s.colors) worst = fmax(worst, compare(&p, p.s.colors, gcol, 3 * (size_t)V, 1e-2, "vertex colours"));
    if (p.s.texture) worst = fmax(worst, compare(&p, p.s.texture, gtex, nt, 1e-2, "texture"));
    assert_true(worst <= TOLERANCE);

    /* backward accumulates (forward again: the finite differences left a perturbed frame) */
    loss(&p);
    real *first = malloc(sizeof(real) * 3 * V);
    memcpy(first, gpos, sizeof(real) * 3 * V);
    assert_int_equal(raster_backward(&p.s.cam, &p.s.set, &p.s.mesh, &p.frame, p.a, p.b, &g, 1), 0);
    for (int i = 0; i < 3 * V; ++i) assert_true(fabs(gpos[i] - 2 * first[i]) <= 1e-9 * (1 + fabs(first[i])));

    free(first);
    free(gpos);
    free(gcol);
    free(gtex);
    free(p.a);
    free(p.b);
    raster_frame_free(&p.frame);
    scene_free(&p.s);
}

static void soft_ambient(raster_settings *s)
{
    s->sigma = s->gamma = 1e-3;
    s->blur_radius = s->silhouette_radius = raster_blur_radius_for(1e-3);
}
static void phisft_sharp(raster_settings *s) { (void)s; } /* the defaults: rgb without a blur band */
static void phong_point_k3(raster_settings *s)
{
    s->faces_per_pixel = 3;
    s->silhouette = RASTER_SILHOUETTE_K_NEAREST;
    s->sigma = 2e-3, s->gamma = 3e-2, s->blur_radius = s->silhouette_radius = raster_blur_radius_for(2e-3);
    s->blend_znear = 0.5, s->blend_zfar = 6;
    s->shading = RASTER_SHADE_PHONG;
    s->light_position[0] = 1, s->light_position[1] = -2, s->light_position[2] = 4;
    s->shininess = 8; /* highlights wide enough to cover several pixels */
    s->specular[0] = s->specular[1] = s->specular[2] = 0.6;
}
static void phong_directional_cull_k2(raster_settings *s)
{
    phong_point_k3(s);
    s->faces_per_pixel = 2;
    s->light = RASTER_LIGHT_DIRECTIONAL;
    s->light_direction[0] = 0.3, s->light_direction[1] = -0.5, s->light_direction[2] = 1;
    s->cull_backfaces = 1;
}

static void test_texture_ambient_k1(void **state)
{
    (void)state;
    printf("texture, ambient, K = 1, sigma = gamma = 1e-3:\n");
    check_scene(5, SCENE_TEXTURE, soft_ambient, 11);
}

static void test_texture_phisft_settings(void **state)
{
    (void)state;
    printf("texture, ambient, K = 1, phi-SfT's sigma = gamma = 1e-4:\n");
    check_scene(5, SCENE_TEXTURE, phisft_sharp, 12);
}

static void test_colors_phong_point_k3(void **state)
{
    (void)state;
    printf("vertex colours, Phong point light, K = 3, K-nearest silhouette:\n");
    check_scene(5, SCENE_COLORS, phong_point_k3, 13);
}

static void test_texture_phong_directional_cull_k2(void **state)
{
    (void)state;
    printf("texture, Phong directional light, back faces culled, K = 2, K-nearest silhouette:\n");
    check_scene(4, SCENE_TEXTURE, phong_directional_cull_k2, 14);
}

static void test_blur_backward(void **state)
{
    (void)state;
    enum { BW = 23, BH = 17, C = 2 };
    rng_t rng;
    rng_seed(&rng, 5, 0);
    real in[BW * BH * C], out[BW * BH * C], a[BW * BH * C], grad[BW * BH * C] = {0};
    for (int i = 0; i < BW * BH * C; ++i) in[i] = rng_uniform(&rng), a[i] = rng_normal(&rng);
    double sigma = 2.3;
    assert_int_equal(raster_blur_backward(a, grad, BW, BH, C, sigma), 0);
    double worst = 0;
    for (int i = 0; i < BW * BH * C; ++i) {
        double l[2];
        for (int side = 0; side < 2; ++side) {
            real keep = in[i];
            in[i] = keep + (side ? -1e-2 : 1e-2); /* linear: no truncation error */
            assert_int_equal(raster_blur_forward(in, out, BW, BH, C, sigma), 0);
            in[i] = keep;
            l[side] = 0;
            for (int k = 0; k < BW * BH * C; ++k) l[side] += a[k] * out[k];
        }
        worst = fmax(worst, relative_error(grad[i], (l[0] - l[1]) / 2e-2, 1));
    }
    printf("  blur           %4d values, worst relative error %.2e\n", BW * BH * C, worst);
    assert_true(worst <= TOLERANCE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_texture_ambient_k1),
        cmocka_unit_test(test_texture_phisft_settings),
        cmocka_unit_test(test_colors_phong_point_k3),
        cmocka_unit_test(test_texture_phong_directional_cull_k2),
        cmocka_unit_test(test_blur_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
