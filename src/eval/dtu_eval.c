/* dtu_eval.c — the DTU protocol as the `eval_dtu` job.
 *
 * A port of DTUeval-python (within 0.015 % of the official MATLAB code):
 *  1. sample the mesh: per triangle a barycentric grid at spacing `density`
 *     (n1 = ⌊l1/thr⌋, n2 = ⌊l2/thr⌋ with thr = density·√(l1·l2/2A), cells
 *     centred, kept when k1 + k2 < 1), plus all vertices;
 *  2. shuffle (seeded) and thin greedily to `density`;
 *  3. keep points in [BB_min − patch, BB_max + 2·patch); accuracy uses those
 *     also inside ObsMask (voxel round((p − BB_min)/Res));
 *  4. accuracy = mean NN distance to the STL points, over distances < max_dist;
 *     completeness = mean NN distance of the STL points above the plane
 *     (P·[x, 1] > 0) to the box-cropped points, over distances < max_dist;
 *     overall = their mean, in mm.
 * Optional mesh cleaning by the object masks first (eval.clean = masks: NeuS's
 * 50 px dilation, all views, largest component by default; see mesh_clean.h).
 * Official file layout under eval.gt: Points/stl/stl{scan:03d}_total.ply,
 * ObsMask/ObsMask{scan}_10.mat (ObsMask, BB, Res), ObsMask/Plane{scan}.mat (P).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phive/array_io.h"
#include "phive/errors.h"
#include "phive/eval.h"
#include "phive/log.h"
#include "phive/mesh.h"
#include "phive/mesh_clean.h"
#include "phive/sampling.h"
#include "phive/surface_metrics.h"
#include "phive/visual.h"

static const cfg_spec eval_dtu_schema[] = {
    {"eval.mesh", CFG_STRING, NULL, 0, -1, NULL, "reconstructed mesh in DTU world coordinates (mm)"},
    {"eval.scan", CFG_INT, NULL, 1, 1000, NULL, "DTU scan number"},
    {"eval.gt", CFG_STRING, NULL, 0, -1, NULL, "DTU ground-truth root (Points/stl, ObsMask)"},
    {"eval.density", CFG_REAL, "0.2", 1e-4, 100, NULL, "sampling and thinning distance (mm)"},
    {"eval.patch", CFG_REAL, "60", 0, 1e4, NULL, "box margin around BB (mm; upper side uses 2x)"},
    {"eval.max_dist", CFG_REAL, "20", 1e-6, 1e6, NULL, "distances at or beyond this are left out (mm)"},
    {"eval.error_map", CFG_BOOL, "false", 0, -1, NULL, "write error_map.ply: the mesh coloured by distance to the STL"},
    {"eval.error_map_max", CFG_REAL, "5", 1e-6, 1e6, NULL, "distance (mm) at the top of the error map's colour scale"},
    MESH_CLEAN_SCHEMA("none"),
    {NULL, CFG_STRING, NULL, 0, 0, NULL, NULL},
};

typedef struct {
    float *points;
    size_t n, capacity;
} point_buffer;

static int push_point(point_buffer *b, double x, double y, double z)
{
    if (b->n == b->capacity) {
        size_t capacity = b->capacity ? 2 * b->capacity : 1 << 16;
        float *grown = realloc(b->points, capacity * 3 * sizeof *grown);
        if (!grown) return err_set("out of memory sampling the mesh (%zu points)", b->n);
        b->points = grown;
        b->capacity = capacity;
    }
    float *p = b->points + 3 * b->n++;
    p[0] = (float)x, p[1] = (float)y, p[2] = (float)z;
    return 0;
}

/* Step 1: vertices, then each non-degenerate triangle's barycentric grid. */
static int sample_dtu(const mesh *m, double density, point_buffer *out)
{
    for (size_t v = 0; v < m->n_vertices; ++v) {
        const float *p = m->positions + 3 * v;
        if (push_point(out, p[0], p[1], p[2])) return -1;
    }
    for (size_t f = 0; f < m->n_faces; ++f) {
        const float *a = m->positions + 3 * m->faces[3 * f], *b = m->positions + 3 * m->faces[3 * f + 1],
                    *c = m->positions + 3 * m->faces[3 * f + 2];
        double v1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, v2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        double cross[3] = {v1[1] * v2[2] - v1[2] * v2[1], v1[2] * v2[0] - v1[0] * v2[2], v1[0] * v2[1] - v1[1] * v2[0]};
        double l1 = sqrt(v1[0] * v1[0] + v1[1] * v1[1] + v1[2] * v1[2]);
        double l2 = sqrt(v2[0] * v2[0] + v2[1] * v2[1] + v2[2] * v2[2]);
        double area2 = sqrt(cross[0] * cross[0] + cross[1] * cross[1] + cross[2] * cross[2]);
        if (!(area2 > 0)) continue; /* degenerate triangles add no samples */
        double thr = density * sqrt(l1 * l2 / area2);
        double n1 = floor(l1 / thr), n2 = floor(l2 / thr);
        for (double i = 0; i <= n1; ++i)
            for (double j = 0; j <= n2; ++j) {
                double k1 = (i + 0.5) / fmax(n1, 1e-7), k2 = (j + 0.5) / fmax(n2, 1e-7);
                if (k1 + k2 >= 1) continue;
                if (push_point(out, a[0] + v1[0] * k1 + v2[0] * k2, a[1] + v1[1] * k1 + v2[1] * k2,
                               a[2] + v1[2] * k1 + v2[2] * k2))
                    return -1;
            }
    }
    return 0;
}

typedef struct {
    ndarray obs_mask, bb, res, plane;
    mesh stl;
} dtu_truth;

/* The official files of a scan: STL points, ObsMask, plane. */
typedef struct {
    char stl[4400], obs[4400], plane[4400];
} truth_paths;

static void paths_of(const char *root, long scan, truth_paths *p)
{
    snprintf(p->stl, sizeof p->stl, "%s/Points/stl/stl%03ld_total.ply", root, scan);
    snprintf(p->obs, sizeof p->obs, "%s/ObsMask/ObsMask%ld_10.mat", root, scan);
    snprintf(p->plane, sizeof p->plane, "%s/ObsMask/Plane%ld.mat", root, scan);
}

int eval_dtu_truth_readable(const char *gt_root, long scan)
{
    truth_paths p;
    paths_of(gt_root, scan, &p);
    const char *files[] = {p.stl, p.obs, p.plane};
    for (int k = 0; k < 3; ++k)
        if (access(files[k], R_OK)) return err_set("cannot read %s: %s", files[k], strerror(errno));
    return 0;
}

static int load_truth(const char *root, long scan, dtu_truth *t)
{
    truth_paths paths;
    paths_of(root, scan, &paths);
    const char *stl = paths.stl, *obs = paths.obs, *plane = paths.plane;
    if (mat_read(obs, "ObsMask", &t->obs_mask) || mat_read(obs, "BB", &t->bb) || mat_read(obs, "Res", &t->res) ||
        mat_read(plane, "P", &t->plane) || mesh_read(stl, &t->stl))
        return -1;
    if (t->obs_mask.ndim != 3 || t->bb.count != 6 || t->res.count != 1 || t->plane.count != 4)
        return err_set("%s / %s: expected a 3-D ObsMask, a 2x3 BB, a scalar Res and a 4-vector P", obs, plane);
    if (t->bb.dims[0] != 2) return err_set("%s: BB is %zux%zu, expected 2x3", obs, t->bb.dims[0], t->bb.dims[1]);
    if (!(t->res.data[0] > 0)) return err_set("%s: Res must be positive", obs);
    return 0;
}

static void free_truth(dtu_truth *t)
{
    ndarray_free(&t->obs_mask);
    ndarray_free(&t->bb);
    ndarray_free(&t->res);
    ndarray_free(&t->plane);
    mesh_free(&t->stl);
}

/* Step 3: the box crop (compacting `points`) and the ObsMask flag of each kept point. */
static size_t crop_to_box(const dtu_truth *t, double patch, float *points, size_t n, uint8_t *in_mask)
{
    const double *bb = t->bb.data, res = t->res.data[0];
    size_t kept = 0;
    for (size_t i = 0; i < n; ++i) {
        const float *p = points + 3 * i;
        int inside = 1;
        for (int c = 0; c < 3; ++c) inside &= p[c] >= (float)bb[c] - patch && p[c] < (float)bb[3 + c] + 2 * patch;
        if (!inside) continue;
        long voxel[3];
        int in_grid = 1;
        for (int c = 0; c < 3; ++c) {
            voxel[c] = lround(((double)p[c] - (float)bb[c]) / res);
            in_grid &= voxel[c] >= 0 && voxel[c] < (long)t->obs_mask.dims[c];
        }
        size_t index[3] = {(size_t)voxel[0], (size_t)voxel[1], (size_t)voxel[2]};
        in_mask[kept] = in_grid && t->obs_mask.data[ndarray_index(&t->obs_mask, index)] != 0;
        memmove(points + 3 * kept, p, 3 * sizeof *p);
        kept++;
    }
    return kept;
}

void eval_dtu_options_default(eval_dtu_options *o)
{
    *o = (eval_dtu_options){.density = 0.2, .patch = 60, .max_dist = 20, .seed = 0, .error_map = NULL,
                            .error_map_max = 5};
}

int eval_dtu_mesh(const mesh *reconstruction, const char *mesh_name, const char *gt_root, long scan,
                  const eval_dtu_options *o, eval_dtu_result *out)
{
    dtu_truth truth = {0};
    point_buffer samples = {0};
    uint8_t *keep = NULL, *in_mask = NULL, *above = NULL;
    mesh_init(&truth.stl);
    ndarray_init(&truth.obs_mask), ndarray_init(&truth.bb), ndarray_init(&truth.res), ndarray_init(&truth.plane);
    memset(out, 0, sizeof *out);
    int status = load_truth(gt_root, scan, &truth) || sample_dtu(reconstruction, o->density, &samples);
    if (!status && !(keep = malloc(samples.n ? samples.n : 1))) status = err_set("out of memory");
    if (!status) status = points_thin_radius(samples.points, samples.n, o->density, o->seed, keep, &out->thinned);
    if (!status) { /* compact the thinned points in their original order */
        size_t k = 0;
        for (size_t i = 0; i < samples.n; ++i)
            if (keep[i]) memmove(samples.points + 3 * k++, samples.points + 3 * i, 3 * sizeof(float));
        in_mask = malloc(out->thinned ? out->thinned : 1);
        above = malloc(truth.stl.n_vertices ? truth.stl.n_vertices : 1);
        if (!in_mask || !above) status = err_set("out of memory");
    }
    out->sampled = samples.n;
    if (!status) {
        out->in_box = crop_to_box(&truth, o->patch, samples.points, out->thinned, in_mask);
        const double *P = truth.plane.data;
        for (size_t i = 0; i < truth.stl.n_vertices; ++i) {
            const float *s = truth.stl.positions + 3 * i;
            above[i] = P[0] * s[0] + P[1] * s[1] + P[2] * s[2] + P[3] > 0;
        }
        if (out->in_box == 0) status = err_set("%s: no sampled point lies in the evaluation box", mesh_name);
    }
    chamfer_dtu_result result;
    if (!status)
        status = chamfer_dtu(samples.points, out->in_box, in_mask, truth.stl.positions, truth.stl.n_vertices, above,
                             o->max_dist, &result);
    if (!status) out->accuracy = result.accuracy, out->completeness = result.completeness, out->overall = result.overall;
    if (!status && o->error_map)
        status = visual_mesh_error_map(reconstruction, truth.stl.positions, truth.stl.n_vertices, o->error_map_max,
                                       o->error_map);
    free(keep);
    free(in_mask);
    free(above);
    free(samples.points);
    free_truth(&truth);
    return status ? -1 : 0;
}

static int eval_dtu_run(job_ctx *ctx)
{
    const config *cfg = ctx->cfg;
    eval_dtu_options o = {.density = config_real(cfg, "eval.density"),
                          .patch = config_real(cfg, "eval.patch"),
                          .max_dist = config_real(cfg, "eval.max_dist"),
                          .seed = (uint64_t)config_int(cfg, "job.seed"),
                          .error_map_max = config_real(cfg, "eval.error_map_max")};
    char error_map[4200];
    if (config_bool(cfg, "eval.error_map") && ctx->dist->group_rank == 0) {
        job_path(ctx, "error_map.ply", error_map, sizeof error_map);
        o.error_map = error_map;
    }
    const char *mesh_path = config_str(cfg, "eval.mesh");
    const long scan = config_int(cfg, "eval.scan");
    mesh reconstruction;
    mesh_init(&reconstruction);
    eval_dtu_result r;
    double start = wall_time();
    int status = mesh_read(mesh_path, &reconstruction) || mesh_clean_configured(&reconstruction, cfg, NULL, &ctx->final) ||
                 eval_dtu_mesh(&reconstruction, mesh_path, config_str(cfg, "eval.gt"), scan, &o, &r);
    if (!status)
        status = metrics_set(&ctx->final, "accuracy_mm", r.accuracy) ||
                 metrics_set(&ctx->final, "completeness_mm", r.completeness) ||
                 metrics_set(&ctx->final, "overall_mm", r.overall) ||
                 metrics_set(&ctx->final, "points_sampled", (double)r.sampled) ||
                 metrics_set(&ctx->final, "points_thinned", (double)r.thinned) ||
                 metrics_set(&ctx->final, "points_in_box", (double)r.in_box) ||
                 metrics_set(&ctx->final, "seconds", wall_time() - start);
    if (!status && ctx->dist->group_rank == 0)
        log_info("%s: DTU scan %ld: accuracy %.4f, completeness %.4f, overall %.4f mm (%zu points after thinning)",
                 ctx->id, scan, r.accuracy, r.completeness, r.overall, r.thinned);
    mesh_free(&reconstruction);
    return status ? -1 : JOB_COMPLETE;
}

const job_type eval_dtu_job = {
    .name = "eval_dtu",
    .summary = "DTU protocol: accuracy, completeness, overall (mm) against the official STL/ObsMask/Plane files",
    .schema = eval_dtu_schema,
    .run = eval_dtu_run,
};
