/* render_cmd.c — `phive render`: one mesh through one camera into PNGs
 * (phive/render.h), with the silhouette's IoU against a mask.  World rank 0
 * does the work; the other ranks only learn the outcome. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "phive/errors.h"
#include "phive/log.h"
#include "phive/render.h"

#define RENDER_USAGE                                                                                              \
    "usage: phive render --mesh MESH [--texture PNG] --camera JSON [--downscale N] [--image PNG] [--mask PNG]\n"   \
    "                    [--out DIR] [--sigma S] [--gamma G] [--faces-per-pixel K] [--blur-radius R]\n"           \
    "                    [--shading ambient|phong] [--background R,G,B] [--silhouette all|nearest] [--cull]\n"    \
    "                    [--threads N]"

typedef struct {
    const char *mesh, *texture, *camera, *image, *mask, *out;
    long downscale, threads;
    raster_settings s;
} render_args;

static int fail(const dist_ctx *d, int code)
{
    if (d->world_rank == 0) log_error("%s", err_message());
    return code;
}

static int parse_long(const char *flag, const char *value, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || end == value || *end || v < lo || v > hi)
        return err_set("render: %s expects an integer in [%ld, %ld], got '%s'", flag, lo, hi, value ? value : "");
    *out = v;
    return 0;
}

static int parse_positive(const char *flag, const char *value, double *out)
{
    char *end = NULL;
    double v = value ? strtod(value, &end) : 0;
    if (!value || end == value || *end || !(v > 0) || !isfinite(v))
        return err_set("render: %s expects a positive finite number, got '%s'", flag, value ? value : "");
    *out = v;
    return 0;
}

static int parse_background(const char *value, double rgb[3])
{
    const char *at = value;
    for (int c = 0; c < 3; ++c) {
        char *end = NULL;
        double v = strtod(at, &end);
        if (end == at || !(v >= 0 && v <= 1) || *end != (c < 2 ? ',' : '\0'))
            return err_set("render: --background expects three numbers in [0, 1] as R,G,B, got '%s'", value);
        rgb[c] = v;
        at = end + 1;
    }
    return 0;
}

/* Options that take a value; the rest are flags. */
static int parse_args(int argc, char **argv, render_args *a)
{
    *a = (render_args){.out = "render", .downscale = 1};
    raster_settings_default(&a->s);
    for (int i = 0; i < argc; ++i) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--cull")) {
            a->s.cull_backfaces = 1;
            continue;
        }
        if (strncmp(opt, "--", 2)) return err_set("render: unexpected argument '%s'\n%s", opt, RENDER_USAGE);
        static const char *const valued[] = {"--mesh",  "--texture", "--camera",          "--downscale",
                                             "--image", "--mask",    "--out",             "--sigma",
                                             "--gamma", "--shading", "--faces-per-pixel", "--background",
                                             "--threads", "--silhouette", "--blur-radius"};
        size_t k = 0;
        while (k < sizeof valued / sizeof *valued && strcmp(opt, valued[k])) ++k;
        if (k == sizeof valued / sizeof *valued) return err_set("render: unknown option %s\n%s", opt, RENDER_USAGE);
        if (i + 1 >= argc) return err_set("render: %s needs a value", opt);
        const char *v = argv[++i];
        long n = 0;
        if (!strcmp(opt, "--mesh")) a->mesh = v;
        else if (!strcmp(opt, "--texture")) a->texture = v;
        else if (!strcmp(opt, "--camera")) a->camera = v;
        else if (!strcmp(opt, "--image")) a->image = v;
        else if (!strcmp(opt, "--mask")) a->mask = v;
        else if (!strcmp(opt, "--out")) a->out = v;
        else if (!strcmp(opt, "--downscale")) {
            if (parse_long(opt, v, 1, 64, &a->downscale)) return -1;
        } else if (!strcmp(opt, "--threads")) {
            if (parse_long(opt, v, 0, 4096, &a->threads)) return -1;
        } else if (!strcmp(opt, "--faces-per-pixel")) {
            if (parse_long(opt, v, 1, RASTER_MAX_K, &n)) return -1;
            a->s.faces_per_pixel = (int)n;
        } else if (!strcmp(opt, "--sigma")) {
            if (parse_positive(opt, v, &a->s.sigma)) return -1;
            a->s.silhouette_radius = raster_blur_radius_for(a->s.sigma); /* the band where faces still matter */
        } else if (!strcmp(opt, "--blur-radius")) { /* PyTorch3D's fragment reach, squared NDC */
            char *end = NULL;
            a->s.blur_radius = strtod(v, &end);
            if (end == v || *end || !(a->s.blur_radius >= 0) || !isfinite(a->s.blur_radius))
                return err_set("render: --blur-radius expects a finite number >= 0, got '%s'", v);
        } else if (!strcmp(opt, "--gamma")) {
            if (parse_positive(opt, v, &a->s.gamma)) return -1;
        } else if (!strcmp(opt, "--shading")) {
            if (!strcmp(v, "ambient")) a->s.shading = RASTER_SHADE_AMBIENT;
            else if (!strcmp(v, "phong")) a->s.shading = RASTER_SHADE_PHONG;
            else return err_set("render: --shading expects ambient or phong, got '%s'", v);
        } else if (!strcmp(opt, "--silhouette")) {
            if (!strcmp(v, "all")) a->s.silhouette = RASTER_SILHOUETTE_ALL_FACES;
            else if (!strcmp(v, "nearest")) a->s.silhouette = RASTER_SILHOUETTE_K_NEAREST;
            else return err_set("render: --silhouette expects all or nearest, got '%s'", v);
        } else if (!strcmp(opt, "--background")) {
            if (parse_background(v, a->s.background)) return -1;
        }
    }
    if (!a->mesh || !a->camera) return err_set("render: --mesh and --camera are required\n%s", RENDER_USAGE);
    return 0;
}

typedef struct {
    raster_camera cam;
    render_mesh rm;
    image background;
    uint8_t *mask;
    raster_frame frame;
} render_state;

static void state_free(render_state *st)
{
    render_mesh_free(&st->rm);
    image_free(&st->background);
    free(st->mask);
    raster_frame_free(&st->frame);
}

/* Everything is read and checked before the first file is written. */
static int load_inputs(const render_args *a, render_state *st)
{
    if (raster_camera_read_json(a->camera, &st->cam)) return -1;
    if (raster_camera_downscale(&st->cam, (int)a->downscale)) return err_context("%s", a->camera);
    if (render_mesh_load(&st->rm, a->mesh, a->texture)) return -1;
    int W = st->cam.width, H = st->cam.height;
    if (a->image && render_read_png_sized(a->image, "image", W, H, &st->background)) return -1;
    if (a->mask && render_read_mask(a->mask, W, H, &st->mask)) return -1;
    return make_writable_dir(a->out);
}

static int write_outputs(const render_args *a, render_state *st)
{
    static const char *const names[] = {"rgb", "alpha", "silhouette", "depth", "normal"};
    int (*const writers[])(const char *, const raster_frame *) = {render_write_rgb, render_write_alpha,
                                                                  render_write_silhouette, render_write_depth,
                                                                  render_write_normal};
    char path[4096];
    for (size_t k = 0; k < sizeof names / sizeof *names; ++k) {
        if (snprintf(path, sizeof path, "%s/%s.png", a->out, names[k]) >= (int)sizeof path)
            return err_set("render: output path %s/%s.png is too long", a->out, names[k]);
        if (writers[k](path, &st->frame)) return -1;
    }
    if (!a->image) return 0;
    if (snprintf(path, sizeof path, "%s/overlay.png", a->out) >= (int)sizeof path)
        return err_set("render: output path %s/overlay.png is too long", a->out);
    return render_write_overlay(path, &st->frame, &st->background, st->mask);
}

static int render_run(const render_args *a, int threads)
{
    render_state st;
    memset(&st, 0, sizeof st);
    image_init(&st.background);
    double t0 = wall_time();
    int rc = load_inputs(a, &st);
    double t1 = wall_time(), t2 = t1, t3 = t1;
    const raster_mesh *m = &st.rm.mesh;
    if (!rc) {
        printf("render: %s: %d vertices, %d faces, %s; camera %d x %d (downscale %ld)\n", a->mesh, m->n_vertices,
               m->n_faces, m->texture ? "textured" : m->vertex_colors ? "vertex colours" : "white", st.cam.width,
               st.cam.height, a->downscale);
        printf("settings: K = %d, sigma = %g, gamma = %g, blur radius = %g, %s shading, %s silhouette%s, %d thread%s\n",
               a->s.faces_per_pixel, a->s.sigma, a->s.gamma, a->s.blur_radius,
               a->s.shading == RASTER_SHADE_PHONG ? "phong" : "ambient",
               a->s.silhouette == RASTER_SILHOUETTE_K_NEAREST ? "K-nearest" : "all-faces",
               a->s.cull_backfaces ? ", back faces culled" : "",
               threads, threads == 1 ? "" : "s");
        rc = raster_frame_alloc(&st.frame, st.cam.width, st.cam.height, a->s.faces_per_pixel);
    }
    if (!rc) {
        t1 = wall_time();
        rc = raster_forward(&st.cam, &a->s, m, &st.frame, threads);
        t2 = wall_time();
    }
    if (!rc) {
        rc = write_outputs(a, &st);
        t3 = wall_time();
    }
    if (!rc) {
        printf("time: load %.3f s, forward %.1f ms, write %.3f s\n", t1 - t0, 1e3 * (t2 - t1), t3 - t2);
        printf("wrote %s/{rgb,alpha,silhouette,depth,normal%s}.png\n", a->out, a->image ? ",overlay" : "");
    }
    if (!rc && st.mask) {
        double iou = 0;
        long n_sil = 0, n_mask = 0;
        rc = render_silhouette_iou(&st.frame, st.mask, &iou, &n_sil, &n_mask);
        if (!rc) printf("IoU(silhouette, %s) = %.4f (silhouette %ld px, mask %ld px)\n", a->mask, iou, n_sil, n_mask);
    }
    fflush(stdout);
    state_free(&st);
    return rc;
}

int cmd_render(int argc, char **argv, dist_ctx *d)
{
    render_args a;
    if (parse_args(argc, argv, &a)) return fail(d, PHIVE_EXIT_USAGE);
    backend b;
    if (backend_init(&b, "cpu", d->local_rank, d->local_size, (int)a.threads)) return fail(d, PHIVE_EXIT_FAILED);
    int status = d->world_rank == 0 ? render_run(&a, b.threads) : 0;
    backend_free(&b);
    MPI_Bcast(&status, 1, MPI_INT, 0, d->world);
    if (status && d->world_rank != 0) err_set("render failed on rank 0");
    return status ? fail(d, PHIVE_EXIT_FAILED) : PHIVE_EXIT_OK;
}
