/* mesh_clean.c — NeuS-style mesh cleaning by object masks, and the
 * `eval_clean` job (contract in phive/mesh_clean.h).
 *
 * Per view: read the mask, threshold it, dilate it once (row distance
 * transform + scan of the disc's rows), project every vertex and record its
 * vote.  Views run in parallel; a vertex's verdict is a flag that any view
 * may set (an "out" vote for rule all, an "in" vote for rule any), so the
 * result does not depend on the thread count or the order of the views.
 */
#include "phive/mesh_clean.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/array_io.h"
#include "phive/errors.h"
#include "phive/image.h"
#include "phive/log.h"
#include "phive/mesh_ops.h"

#define FAR_PIXEL UINT16_MAX /* row distance of a pixel whose row has no set pixel */

/* ---- dilation ------------------------------------------------------------ */

/* Half-widths of OpenCV's MORPH_ELLIPSE rows (square kernel 2r+1):
 * half[|dy|] = round(sqrt(r² − dy²)). */
static void disc_half_widths(int r, uint16_t *half)
{
    for (int dy = 0; dy <= r; ++dy) half[dy] = (uint16_t)lrint(sqrt((double)r * r - (double)dy * dy));
}

/* dist[x] = |x − x'| to the nearest set pixel x' of the row (saturating at
 * FAR_PIXEL); returns whether the row has a set pixel at all. */
static int row_distances(const uint8_t *row, int width, uint16_t *dist)
{
    uint32_t d = FAR_PIXEL;
    for (int x = 0; x < width; ++x) {
        d = row[x] ? 0 : d < FAR_PIXEL ? d + 1 : FAR_PIXEL;
        dist[x] = (uint16_t)d;
    }
    if (dist[width - 1] == FAR_PIXEL) return 0; /* no set pixel reached the end: the row is empty */
    d = FAR_PIXEL;
    for (int x = width - 1; x >= 0; --x) {
        d = row[x] ? 0 : d < FAR_PIXEL ? d + 1 : FAR_PIXEL;
        if (d < dist[x]) dist[x] = (uint16_t)d;
    }
    return 1;
}

/* Output row y: OR over the disc's rows of "row distance within that row's
 * half-width", on the columns [x0, x1] where anything can be set. */
static void dilate_row(const uint16_t *dist, const uint8_t *nonempty, const uint16_t *half, int width, int height,
                       int r, int y, int x0, int x1, uint8_t *out)
{
    memset(out, 0, (size_t)width);
    int lo = y - r < 0 ? 0 : y - r, hi = y + r >= height ? height - 1 : y + r;
    for (int yy = lo; yy <= hi; ++yy) {
        if (!nonempty[yy]) continue;
        const uint16_t *src = dist + (size_t)yy * width;
        const uint16_t limit = half[yy > y ? yy - y : y - yy];
#pragma omp simd
        for (int x = x0; x <= x1; ++x) out[x] |= (uint8_t)(src[x] <= limit);
    }
}

int mask_dilate_disc(const uint8_t *in, int width, int height, int radius, uint8_t *out)
{
    if (width <= 0 || height <= 0 || radius < 0 || radius >= FAR_PIXEL)
        return err_set("mask_dilate_disc: bad size %dx%d or radius %d", width, height, radius);
    size_t pixels = (size_t)width * (size_t)height;
    uint16_t *dist = malloc(pixels * sizeof *dist), *half = malloc(((size_t)radius + 1) * sizeof *half);
    uint8_t *nonempty = malloc((size_t)height);
    if (!dist || !half || !nonempty) {
        free(dist), free(half), free(nonempty);
        return err_set("mask_dilate_disc: out of memory for a %dx%d mask", width, height);
    }
    disc_half_widths(radius, half);
    int x_min = width, x_max = -1; /* columns of the set pixels: nothing beyond them ± r can be set */
    for (int y = 0; y < height; ++y) {
        const uint8_t *row = in + (size_t)y * width;
        nonempty[y] = (uint8_t)row_distances(row, width, dist + (size_t)y * width);
        for (int x = 0; nonempty[y] && x < width; ++x)
            if (row[x]) {
                if (x < x_min) x_min = x;
                break;
            }
        for (int x = width - 1; nonempty[y] && x > x_max; --x)
            if (row[x]) {
                x_max = x;
                break;
            }
    }
    int x0 = x_min - radius < 0 ? 0 : x_min - radius, x1 = x_max + radius >= width ? width - 1 : x_max + radius;
    for (int y = 0; y < height; ++y)
        dilate_row(dist, nonempty, half, width, height, radius, y, x0, x1, out + (size_t)y * width);
    free(dist), free(half), free(nonempty);
    return 0;
}

/* ---- cameras and masks --------------------------------------------------- */

/* P_i = world_mat_i[:3, :4] for the consecutive views 0..n−1 of the npz. */
static int load_cameras(const char *scene, double **P_out, size_t *n_out)
{
    char path[4096], name[64];
    snprintf(path, sizeof path, "%s/cameras_sphere.npz", scene);
    char **names = NULL;
    size_t n_names = 0, n = 0;
    if (npz_list(path, &names, &n_names)) return -1;
    for (int found = 1; found; n += found) { /* count world_mat_0, world_mat_1, ... while present */
        snprintf(name, sizeof name, "world_mat_%zu", n);
        found = 0;
        for (size_t k = 0; k < n_names && !found; ++k) found = !strcmp(names[k], name);
    }
    npz_names_free(names, n_names);
    if (n == 0) return err_set("%s: no world_mat_0 (not a NeuS cameras_sphere.npz)", path);
    double *P = malloc(n * 12 * sizeof *P);
    if (!P) return err_set("%s: out of memory for %zu cameras", path, n);
    ndarray a;
    ndarray_init(&a);
    int status = 0;
    for (size_t i = 0; i < n && !status; ++i) {
        snprintf(name, sizeof name, "world_mat_%zu", i);
        status = npz_read(path, name, &a);
        if (!status && (a.ndim != 2 || a.dims[1] != 4 || (a.dims[0] != 4 && a.dims[0] != 3)))
            status = err_set("%s: %s is not a 4x4 (or 3x4) matrix", path, name);
        for (int k = 0; k < 12 && !status; ++k) {
            if (!isfinite(a.data[k])) status = err_set("%s: %s has a non-finite entry", path, name);
            P[12 * i + k] = a.data[k];
        }
    }
    ndarray_free(&a);
    if (status) {
        free(P);
        return -1;
    }
    *P_out = P;
    *n_out = n;
    return 0;
}

/* Per-thread buffers of one view, grown as the masks need. */
typedef struct {
    image png;
    uint8_t *fg, *dilated;
    size_t capacity;
} view_buffers;

static void view_buffers_free(view_buffers *b)
{
    image_free(&b->png);
    free(b->fg);
    free(b->dilated);
}

/* mask/%03d.png of view i, thresholded at half range on its first channel. */
static int load_mask(const char *scene, size_t view, view_buffers *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/mask/%03zu.png", scene, view);
    if (image_read_png(path, &b->png)) return -1;
    size_t pixels = (size_t)b->png.width * (size_t)b->png.height;
    if (pixels > b->capacity) {
        free(b->fg), free(b->dilated);
        b->fg = malloc(pixels), b->dilated = malloc(pixels);
        b->capacity = b->fg && b->dilated ? pixels : 0;
        if (!b->capacity) return err_set("%s: out of memory for a %dx%d mask", path, b->png.width, b->png.height);
    }
    size_t stride = (size_t)b->png.channels;
    for (size_t p = 0; p < pixels; ++p)
        b->fg[p] = b->png.u8 ? b->png.u8[p * stride] > 127 : b->png.u16[p * stride] > 32767;
    return 0;
}

/* Mark v seen by some view; reading first means a vertex already marked
 * costs no write, so threads on other views do not fight over its cache line. */
static void mark_seen(uint8_t *seen, size_t v)
{
    uint8_t already;
#pragma omp atomic read
    already = seen[v];
    if (!already) {
#pragma omp atomic write
        seen[v] = 1;
    }
}

/* Set flag[v] where view i's vote counts against (rule all: "out") or for
 * (rule any: "in") vertex v; views that cannot see v do not vote. */
static void vote_view(const double *P, const uint8_t *dilated, int width, int height, const float *xyz, size_t n,
                      mesh_clean_rule rule, uint8_t *flag, uint8_t *seen)
{
    for (size_t v = 0; v < n; ++v) {
        const double X = xyz[3 * v], Y = xyz[3 * v + 1], Z = xyz[3 * v + 2];
        double w = P[8] * X + P[9] * Y + P[10] * Z + P[11];
        if (!(w > 0)) continue; /* on or behind the camera plane (or NaN) */
        double px = nearbyint((P[0] * X + P[1] * Y + P[2] * Z + P[3]) / w);
        double py = nearbyint((P[4] * X + P[5] * Y + P[6] * Z + P[7]) / w);
        if (!(px >= 0 && px < width && py >= 0 && py < height)) continue; /* outside the image */
        mark_seen(seen, v);
        int inside = dilated[(size_t)py * (size_t)width + (size_t)px] != 0;
        if (rule == MESH_CLEAN_RULE_ALL ? !inside : inside) {
#pragma omp atomic write
            flag[v] = 1;
        }
    }
}

/* Keep the message of the lowest failing view, so the error does not depend on thread timing. */
static void note_failure(size_t view, size_t *first_view, char *message, size_t size)
{
#pragma omp critical(mesh_clean_failure)
    if (view < *first_view) {
        *first_view = view;
        snprintf(message, size, "view %zu: %s", view, err_message());
    }
}

int mesh_clean_vertex_mask(const float *xyz, size_t n, const mesh_clean_options *opt, uint8_t *keep,
                           mesh_clean_votes *votes)
{
    if (!opt || !opt->scene || !opt->scene[0]) return err_set("mesh cleaning: no scene directory given");
    if (opt->dilation < 0) return err_set("mesh cleaning: dilation %d px is negative", opt->dilation);
    double *P = NULL;
    size_t views = 0, first_failure = SIZE_MAX;
    if (load_cameras(opt->scene, &P, &views)) return -1;
    uint8_t *flag = calloc(n ? n : 1, 1), *seen = calloc(n ? n : 1, 1);
    if (!flag || !seen) {
        free(P), free(flag), free(seen);
        return err_set("mesh cleaning: out of memory for %zu vertices", n);
    }
    char message[2048] = "";
#pragma omp parallel
    {
        view_buffers b = {0};
        image_init(&b.png);
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < views; ++i) {
            if (load_mask(opt->scene, i, &b) ||
                mask_dilate_disc(b.fg, b.png.width, b.png.height, opt->dilation, b.dilated))
                note_failure(i, &first_failure, message, sizeof message);
            else
                vote_view(P + 12 * i, b.dilated, b.png.width, b.png.height, xyz, n, opt->rule, flag, seen);
        }
        view_buffers_free(&b);
    }
    mesh_clean_votes counts = {.views = views};
    for (size_t v = 0; v < n; ++v) {
        keep[v] = opt->rule == MESH_CLEAN_RULE_ALL ? !flag[v] : flag[v];
        counts.unseen += !seen[v];
    }
    free(flag), free(seen), free(P);
    if (first_failure != SIZE_MAX) return err_set("%s", message);
    if (votes) *votes = counts;
    return 0;
}

/* ---- the whole cleaning -------------------------------------------------- */

int mesh_clean_by_masks(mesh *m, const mesh_clean_options *opt, mesh_clean_stats *stats)
{
    double start = wall_time();
    mesh_clean_stats s = {.vertices_before = m->n_vertices, .faces_before = m->n_faces};
    if (mesh_validate(m)) return -1;
    uint8_t *keep = malloc(m->n_vertices ? m->n_vertices : 1);
    if (!keep) return err_set("mesh cleaning: out of memory for %zu vertices", m->n_vertices);
    mesh_clean_votes votes = {0};
    int status = mesh_clean_vertex_mask(m->positions, m->n_vertices, opt, keep, &votes);
    size_t kept = 0;
    for (size_t v = 0; !status && v < m->n_vertices; ++v) kept += keep[v];
    /* Nothing seen or nothing kept is almost always a mesh in the wrong frame: say so. */
    if (!status && m->n_vertices > 0 && (kept == 0 || votes.unseen == m->n_vertices))
        status = err_set("mesh cleaning by %s: %s; is the mesh in the world frame of world_mat (DTU mm)? A mesh in "
                         "the normalised frame must first be mapped by scale_mat_0", opt->scene,
                         kept ? "no vertex projects into any view" : "no vertex survives the masks");
    s.views = votes.views;
    s.vertices_unseen = votes.unseen;
    if (!status) status = mesh_remove_vertices_by_mask(m, keep, &s.vertices_rejected, &s.faces_rejected);
    if (!status && opt->keep_largest) status = mesh_keep_largest_component(m, &s.faces_removed_largest);
    free(keep);
    if (status) return -1;
    s.vertices_after = m->n_vertices;
    s.faces_after = m->n_faces;
    s.seconds = wall_time() - start;
    if (stats) *stats = s;
    return 0;
}

/* ---- configuration and the eval_clean job -------------------------------- */

int mesh_clean_configured(mesh *m, const config *cfg, const char *default_scene, metrics *final)
{
    if (strcmp(config_str(cfg, "eval.clean"), "masks")) return 0;
    const char *scene = config_str(cfg, "eval.clean_scene");
    if (!scene[0] && default_scene) scene = default_scene;
    if (!scene[0]) return err_set("eval.clean = masks needs eval.clean_scene (a NeuS scene directory)");
    mesh_clean_options opt = {
        .scene = scene,
        .dilation = (int)config_int(cfg, "eval.clean_dilation"),
        .rule = strcmp(config_str(cfg, "eval.clean_rule"), "any") ? MESH_CLEAN_RULE_ALL : MESH_CLEAN_RULE_ANY,
        .keep_largest = config_bool(cfg, "eval.clean_largest"),
    };
    mesh_clean_stats s;
    if (mesh_clean_by_masks(m, &opt, &s)) return -1;
    if (!final) return 0;
    return metrics_set(final, "clean_views", (double)s.views) ||
                   metrics_set(final, "clean_vertices_rejected", (double)s.vertices_rejected) ||
                   metrics_set(final, "clean_faces_rejected", (double)s.faces_rejected) ||
                   metrics_set(final, "clean_vertices_unseen", (double)s.vertices_unseen) ||
                   metrics_set(final, "clean_faces_removed_largest", (double)s.faces_removed_largest) ||
                   metrics_set(final, "clean_vertices", (double)s.vertices_after) ||
                   metrics_set(final, "clean_faces", (double)s.faces_after) ||
                   metrics_set(final, "clean_seconds", s.seconds)
               ? -1
               : 0;
}

static const cfg_spec eval_clean_schema[] = {
    {"eval.mesh", CFG_STRING, NULL, 0, -1, NULL, "mesh to clean, in the world frame of world_mat (DTU mm)"},
    MESH_CLEAN_SCHEMA("masks"),
    {NULL, CFG_STRING, NULL, 0, 0, NULL, NULL},
};

static int eval_clean_run(job_ctx *ctx)
{
    const char *path = config_str(ctx->cfg, "eval.mesh");
    char out[4200];
    job_path(ctx, "cleaned.ply", out, sizeof out);
    mesh m;
    mesh_init(&m);
    int status = mesh_read(path, &m) || mesh_clean_configured(&m, ctx->cfg, NULL, &ctx->final);
    if (!status && ctx->dist->group_rank == 0) {
        status = mesh_write(out, &m);
        const metric_series *rejected = metrics_find(&ctx->final, "clean_vertices_rejected");
        if (!status)
            log_info("%s: %s cleaned: %zu vertices, %zu faces left (%.0f rejected by the masks) -> %s", ctx->id, path,
                     m.n_vertices, m.n_faces, rejected ? rejected->values[0] : 0.0, out);
    }
    mesh_free(&m);
    return status ? -1 : JOB_COMPLETE;
}

const job_type eval_clean_job = {
    .name = "eval_clean",
    .summary = "clean a mesh by a NeuS scene's object masks (dilated; all/any views; largest component) -> cleaned.ply",
    .schema = eval_clean_schema,
    .run = eval_clean_run,
};
