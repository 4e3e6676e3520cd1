/* bmvs_eval.c — BlendedMVS evaluation as the `eval_bmvs` job.
 *
 * BlendedMVS has no official protocol; this follows VolSDF's practice:
 *  1. optionally cut both meshes at a ground plane (eval.plane = "a b c d"):
 *     vertices with a·x + b·y + c·z + d <= 0 and the faces using them go, so
 *     the ground and what lies under it are measured in neither direction;
 *  2. keep the reconstruction's largest connected component (by faces; after
 *     the cut, which may be what detaches the object from floor clutter);
 *  3. sample eval.samples points area-weighted on each mesh (seeds job.seed
 *     for the reconstruction, job.seed + 1 for the ground truth);
 *  4. Chamfer-L1: accuracy = mean distance from the reconstruction's samples
 *     to their nearest ground-truth sample, completeness the other way, and
 *     chamfer = their mean; no distance cut.
 * Both meshes must be in the same frame (the data set's).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/eval.h"
#include "phive/log.h"
#include "phive/mesh.h"
#include "phive/mesh_ops.h"
#include "phive/sampling.h"
#include "phive/surface_metrics.h"

static const cfg_spec eval_bmvs_schema[] = {
    {"eval.mesh", CFG_STRING, NULL, 0, -1, NULL, "reconstructed mesh in the ground truth's frame"},
    {"eval.gt", CFG_STRING, NULL, 0, -1, NULL, "ground-truth mesh (.ply or .obj)"},
    {"eval.samples", CFG_INT, "100000", 1, 1e9, NULL, "points sampled on each mesh"},
    {"eval.plane", CFG_STRING, "", 0, -1, NULL, "ground plane \"a b c d\": keep a*x+b*y+c*z+d > 0 (empty = none)"},
    {"eval.largest", CFG_BOOL, "true", 0, -1, NULL, "keep the reconstruction's largest connected component"},
    {NULL, CFG_STRING, NULL, 0, 0, NULL, NULL},
};

/* "a b c d" (spaces or commas) into plane; *has = 0 for an empty value. */
static int parse_plane(const char *text, double plane[4], int *has)
{
    const char *p = text;
    while (*p == ' ' || *p == '\t') ++p;
    *has = *p != '\0';
    for (int k = 0; k < 4 && *has; ++k) {
        char *end = NULL;
        plane[k] = strtod(p, &end);
        if (end == p || !isfinite(plane[k]))
            return err_set("eval.plane = '%s': expected four finite numbers \"a b c d\"", text);
        for (p = end; *p == ' ' || *p == '\t' || *p == ','; ++p) {}
    }
    if (*has && *p) return err_set("eval.plane = '%s': expected four numbers, found more", text);
    if (*has && plane[0] == 0 && plane[1] == 0 && plane[2] == 0)
        return err_set("eval.plane = '%s': the normal (a, b, c) is zero", text);
    return 0;
}

/* Step 1 on one mesh: drop the vertices on or below the plane with their faces. */
static int cut_below_plane(mesh *m, const double plane[4], const char *path, size_t *faces_removed)
{
    uint8_t *keep = malloc(m->n_vertices ? m->n_vertices : 1);
    if (!keep) return err_set("%s: out of memory for %zu vertices", path, m->n_vertices);
    for (size_t v = 0; v < m->n_vertices; ++v) {
        const float *x = m->positions + 3 * v;
        keep[v] = plane[0] * x[0] + plane[1] * x[1] + plane[2] * x[2] + plane[3] > 0;
    }
    int status = mesh_remove_vertices_by_mask(m, keep, NULL, faces_removed);
    free(keep);
    if (!status && m->n_faces == 0) status = err_set("%s: no face lies above the plane eval.plane", path);
    return status;
}

typedef struct {
    size_t faces_cut, gt_faces_cut, faces_not_largest;
} bmvs_prep;

/* Steps 1 and 2 on both meshes. */
static int prepare_meshes(const config *cfg, mesh *rec, mesh *gt, bmvs_prep *prep)
{
    const char *rec_path = config_str(cfg, "eval.mesh"), *gt_path = config_str(cfg, "eval.gt");
    double plane[4];
    int has_plane = 0;
    if (parse_plane(config_str(cfg, "eval.plane"), plane, &has_plane) || mesh_read(rec_path, rec) ||
        mesh_read(gt_path, gt))
        return -1;
    if (rec->n_faces == 0) return err_set("%s: a mesh with faces is needed", rec_path);
    if (gt->n_faces == 0) return err_set("%s: the ground truth must be a mesh with faces", gt_path);
    if (has_plane && (cut_below_plane(rec, plane, rec_path, &prep->faces_cut) ||
                      cut_below_plane(gt, plane, gt_path, &prep->gt_faces_cut)))
        return -1;
    if (config_bool(cfg, "eval.largest") && mesh_keep_largest_component(rec, &prep->faces_not_largest)) return -1;
    return 0;
}

static int eval_bmvs_run(job_ctx *ctx)
{
    const config *cfg = ctx->cfg;
    size_t n = (size_t)config_int(cfg, "eval.samples");
    uint64_t seed = (uint64_t)config_int(cfg, "job.seed");
    mesh rec, gt;
    mesh_init(&rec);
    mesh_init(&gt);
    bmvs_prep prep = {0};
    float *rec_samples = malloc(3 * n * sizeof *rec_samples), *gt_samples = malloc(3 * n * sizeof *gt_samples);
    int status = rec_samples && gt_samples ? 0 : err_set("out of memory for 2 x %zu samples", n);
    if (!status) status = prepare_meshes(cfg, &rec, &gt, &prep);
    chamfer_dtu_result r;
    if (!status)
        status = mesh_sample_surface(&rec, n, seed, rec_samples, NULL, NULL) ||
                 mesh_sample_surface(&gt, n, seed + 1, gt_samples, NULL, NULL) ||
                 chamfer_dtu(rec_samples, n, NULL, gt_samples, n, NULL, INFINITY, &r);
    if (!status)
        status = metrics_set(&ctx->final, "accuracy", r.accuracy) ||
                 metrics_set(&ctx->final, "completeness", r.completeness) ||
                 metrics_set(&ctx->final, "chamfer", r.overall) ||
                 metrics_set(&ctx->final, "faces_below_plane", (double)prep.faces_cut) ||
                 metrics_set(&ctx->final, "gt_faces_below_plane", (double)prep.gt_faces_cut) ||
                 metrics_set(&ctx->final, "faces_outside_largest", (double)prep.faces_not_largest) ||
                 metrics_set(&ctx->final, "faces_evaluated", (double)rec.n_faces);
    if (!status && ctx->dist->group_rank == 0)
        log_info("%s: BlendedMVS: accuracy %.5f, completeness %.5f, chamfer %.5f (%zu faces evaluated)", ctx->id,
                 r.accuracy, r.completeness, r.overall, rec.n_faces);
    free(rec_samples);
    free(gt_samples);
    mesh_free(&rec);
    mesh_free(&gt);
    return status ? -1 : JOB_COMPLETE;
}

const job_type eval_bmvs_job = {
    .name = "eval_bmvs",
    .summary = "BlendedMVS (VolSDF practice): largest component above a ground plane, 1e5 samples, Chamfer-L1",
    .schema = eval_bmvs_schema,
    .run = eval_bmvs_run,
};
