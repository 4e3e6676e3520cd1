/* bench_raster.c — `make bench`: the soft rasterizer's figures next to their targets, on 2 threads.
 *
 *   ϕ-SfT S1 template (1922 faces, textured) through the S1 camera, K = 1,
 *   σ = γ = 1e-4 (raster_settings_default):
 *     1920×1080 forward          target <= 100 ms
 *     1920×1080 backward         random per-pixel grad_rgb and grad_alpha; target <= 200 ms
 *     960×540 forward + backward target <= 80 ms
 *   scaling tables (forward / backward ms): image size 480×270 … 1920×1080; face count of a
 *   wavy grid covering the template's screen area, 500 … 50k faces; K = 1, 2, 4, 8
 *   Gaussian blur of a 1920×1080 single-channel image, σ = 7 px (the silhouette loss)
 *
 * Every figure is the median of 3-7 runs (fewer for slow cases) after a warm-up run.  The template and camera
 * are read from ../shared/data/phisft_r1 relative to the repository root (where `make bench`
 * runs); without them the grid stands in for the template.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/backend.h"
#include "phive/errors.h"
#include "phive/log.h"
#include "phive/render.h"
#include "phive/rng.h"

#define THREADS 2
#define RUNS 7
#define DATA "../shared/data/phisft_r1"

/* The median, and the fastest run: on a shared machine the minimum shows what the code can do. */
static void report(const char *name, double value, const char *unit, double best, const char *target)
{
    printf("%-32s %8.1f %-3s (min %6.1f)  target: %s\n", name, value, unit, best, target);
}

static void die(const char *what)
{
    printf("%s failed: %s\n", what, err_message());
    exit(1);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One size, one mesh, one K: buffers and random output gradients. */
typedef struct {
    raster_camera cam;
    raster_settings s;
    raster_frame f;
    real *grad_rgb, *grad_alpha, *grad_positions, *grad_texture;
    const raster_mesh *m;
} scene;

static void scene_init(scene *sc, const raster_camera *full, int downscale, const raster_mesh *m, int K)
{
    memset(sc, 0, sizeof *sc);
    sc->cam = *full;
    if (raster_camera_downscale(&sc->cam, downscale)) die("camera downscale");
    raster_settings_default(&sc->s);
    sc->s.faces_per_pixel = K;
    sc->m = m;
    if (raster_frame_alloc(&sc->f, sc->cam.width, sc->cam.height, K)) die("raster_frame_alloc");
    size_t n = (size_t)sc->cam.width * sc->cam.height;
    sc->grad_rgb = malloc(n * 3 * sizeof(real));
    sc->grad_alpha = malloc(n * sizeof(real));
    sc->grad_positions = calloc((size_t)m->n_vertices * 3, sizeof(real));
    sc->grad_texture = m->texture ? calloc((size_t)m->tex_width * m->tex_height * 3, sizeof(real)) : NULL;
    if (!sc->grad_rgb || !sc->grad_alpha || !sc->grad_positions || (m->texture && !sc->grad_texture)) {
        printf("out of memory\n");
        exit(1);
    }
    rng_t rng;
    rng_seed(&rng, 7, 0);
    for (size_t i = 0; i < 3 * n; ++i) sc->grad_rgb[i] = (real)(rng_uniform(&rng) - 0.5);
    for (size_t i = 0; i < n; ++i) sc->grad_alpha[i] = (real)(rng_uniform(&rng) - 0.5);
}

static void scene_free(scene *sc)
{
    raster_frame_free(&sc->f);
    free(sc->grad_rgb);
    free(sc->grad_alpha);
    free(sc->grad_positions);
    free(sc->grad_texture);
}

static double forward_ms(scene *sc)
{
    double start = wall_time();
    if (raster_forward(&sc->cam, &sc->s, sc->m, &sc->f, THREADS)) die("raster_forward");
    return 1e3 * (wall_time() - start);
}

static double backward_ms(scene *sc)
{
    raster_grads g = {.positions = sc->grad_positions, .texture = sc->grad_texture};
    double start = wall_time();
    if (raster_backward(&sc->cam, &sc->s, sc->m, &sc->f, sc->grad_rgb, sc->grad_alpha, &g, THREADS))
        die("raster_backward");
    return 1e3 * (wall_time() - start);
}

/* Median (and minimum) forward and backward times, backward right after its forward; fewer
 * runs for the slow cases of the scaling tables so the whole bench stays around a minute. */
typedef struct {
    double fwd, bwd, both;          /* medians */
    double fwd_min, bwd_min, both_min;
} timing;

static timing time_scene(scene *sc)
{
    double f[RUNS], b[RUNS], fb[RUNS];
    double warm = forward_ms(sc) + backward_ms(sc); /* warm-up: first touch of the frame and the tile bins */
    int runs = warm < 250 ? RUNS : warm < 700 ? 5 : 3;
    for (int r = 0; r < runs; ++r) {
        f[r] = forward_ms(sc);
        b[r] = backward_ms(sc);
        fb[r] = f[r] + b[r];
    }
    timing t;
    t.fwd = median(f, runs), t.fwd_min = f[0];
    t.bwd = median(b, runs), t.bwd_min = b[0];
    t.both = median(fb, runs), t.both_min = fb[0];
    return t;
}

static timing time_case(const raster_camera *full, int downscale, const raster_mesh *m, int K)
{
    scene sc;
    scene_init(&sc, full, downscale, m, K);
    timing t = time_scene(&sc);
    scene_free(&sc);
    return t;
}

/* A wavy n × n quad grid (2n² faces) over the template's extent in the S1 camera frame,
 * textured through its own projection as the template is. */
typedef struct {
    raster_mesh m;
    real *positions, *uvs;
    int32_t *faces;
} grid_mesh;

static void grid_make(grid_mesh *g, int n, const raster_camera *cam, const raster_mesh *textured)
{
    int V = (n + 1) * (n + 1), F = 2 * n * n;
    g->positions = malloc((size_t)V * 3 * sizeof(real));
    g->uvs = malloc((size_t)V * 2 * sizeof(real));
    g->faces = malloc((size_t)F * 3 * sizeof(int32_t));
    if (!g->positions || !g->uvs || !g->faces) {
        printf("out of memory\n");
        exit(1);
    }
    for (int j = 0; j <= n; ++j)
        for (int i = 0; i <= n; ++i) {
            double s = (double)i / n, t = (double)j / n;
            double p[3] = {-0.713 + 0.573 * s, -0.156 + 0.560 * t, 1.283 - 0.10 * s + 0.01 * sin(12 * s) * cos(9 * t)};
            double u, v, z;
            raster_camera_project(cam, p, &u, &v, &z);
            int k = j * (n + 1) + i;
            for (int c = 0; c < 3; ++c) g->positions[3 * k + c] = (real)p[c];
            g->uvs[2 * k] = (real)(u / cam->width);
            g->uvs[2 * k + 1] = (real)(1.0 - v / cam->height);
        }
    int32_t *f = g->faces;
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < n; ++i) {
            int32_t a = j * (n + 1) + i, b = a + 1, c = a + n + 1, d = c + 1;
            f[0] = a, f[1] = c, f[2] = b, f[3] = b, f[4] = c, f[5] = d;
            f += 6;
        }
    g->m = (raster_mesh){.n_vertices = V, .n_faces = F, .positions = g->positions, .faces = g->faces};
    if (textured && textured->texture) {
        g->m.n_uvs = V;
        g->m.uvs = g->uvs;
        g->m.face_uvs = g->faces; /* one uv per vertex */
        g->m.texture = textured->texture;
        g->m.tex_width = textured->tex_width;
        g->m.tex_height = textured->tex_height;
    }
}

static void grid_free(grid_mesh *g)
{
    free(g->positions);
    free(g->uvs);
    free(g->faces);
}

static void bench_blur(void)
{
    int W = 1920, H = 1080;
    real *in = malloc((size_t)W * H * sizeof(real)), *out = malloc((size_t)W * H * sizeof(real));
    if (!in || !out) die("blur buffers");
    rng_t rng;
    rng_seed(&rng, 3, 0);
    for (size_t i = 0; i < (size_t)W * H; ++i) in[i] = (real)(rng_uniform(&rng) > 0.9);
    double t[RUNS];
    if (raster_blur_forward(in, out, W, H, 1, 7.0)) die("raster_blur_forward");
    for (int r = 0; r < RUNS; ++r) {
        double start = wall_time();
        raster_blur_forward(in, out, W, H, 1, 7.0);
        t[r] = 1e3 * (wall_time() - start);
    }
    double mid = median(t, RUNS);
    report("blur 1920x1080x1, sigma 7 px", mid, "ms", t[0], "(silhouette loss: forward + backward per frame)");
    free(in);
    free(out);
}

int main(void)
{
    backend b;
    backend_init(&b, "cpu", 0, 1, THREADS);
    printf("phive bench raster (%d threads, medians after a warm-up)\n", THREADS);

    raster_camera cam;
    render_mesh tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    const raster_mesh *m = NULL;
    grid_mesh stand_in = {0};
    if (raster_camera_read_json(DATA "/camera.json", &cam) == 0 &&
        render_mesh_load(&tmpl, DATA "/templates/template.obj", DATA "/templates/texture.png") == 0) {
        m = &tmpl.mesh;
        printf("template: %d vertices, %d faces, texture %d x %d\n", m->n_vertices, m->n_faces, m->tex_width,
               m->tex_height);
    } else {
        printf("no phi-SfT data (%s): a 31 x 31 grid (1922 faces, untextured) stands in for the template\n",
               err_message());
        if (raster_camera_pinhole(&cam, 971.522, 944.575, 962.134, 554.778, 1920, 1080)) die("camera");
        grid_make(&stand_in, 31, &cam, NULL);
        m = &stand_in.m;
    }

    timing t = time_case(&cam, 1, m, 1);
    report("1920x1080 K=1 forward", t.fwd, "ms", t.fwd_min, "<= 100 ms");
    report("1920x1080 K=1 backward", t.bwd, "ms", t.bwd_min, "<= 200 ms");
    t = time_case(&cam, 2, m, 1);
    report("960x540 K=1 forward + backward", t.both, "ms", t.both_min, "<= 80 ms");

    printf("\nmedian (min) ms                 forward          backward\n");
    printf("image size (template, K=1)\n");
    static const int downscales[] = {4, 3, 2, 1}; /* 480x270, 640x360, 960x540, 1920x1080 */
    for (size_t k = 0; k < sizeof downscales / sizeof *downscales; ++k) {
        t = time_case(&cam, downscales[k], m, 1);
        printf("  %4d x %-4d               %7.1f (%6.1f)  %7.1f (%6.1f)\n", cam.width / downscales[k],
               cam.height / downscales[k], t.fwd, t.fwd_min, t.bwd, t.bwd_min);
    }
    printf("faces (grid, 1920x1080, K=1)\n");
    static const int grid_n[] = {16, 32, 50, 100, 158}; /* 512 … 49928 faces */
    for (size_t k = 0; k < sizeof grid_n / sizeof *grid_n; ++k) {
        grid_mesh g;
        grid_make(&g, grid_n[k], &cam, m);
        t = time_case(&cam, 1, &g.m, 1);
        printf("  %6d                    %7.1f (%6.1f)  %7.1f (%6.1f)\n", g.m.n_faces, t.fwd, t.fwd_min, t.bwd,
               t.bwd_min);
        grid_free(&g);
    }
    printf("K (template, 1920x1080)\n");
    static const int Ks[] = {1, 2, 4, 8};
    for (size_t k = 0; k < sizeof Ks / sizeof *Ks; ++k) {
        t = time_case(&cam, 1, m, Ks[k]);
        printf("  %d                         %7.1f (%6.1f)  %7.1f (%6.1f)\n", Ks[k], t.fwd, t.fwd_min, t.bwd, t.bwd_min);
    }
    printf("\n");
    bench_blur();

    render_mesh_free(&tmpl);
    grid_free(&stand_in);
    backend_free(&b);
    return 0;
}
