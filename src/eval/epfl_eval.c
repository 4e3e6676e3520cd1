/* epfl_eval.c — the EPFL protocol (NeuralWarp) as the `eval_epfl` job.
 *
 * Sample `samples` points on the mesh (area-weighted, seeded), then each
 * direction's mean nearest-neighbour distance over distances < max_dist
 * against the ground-truth cloud; "full" uses gt_full.ply, "center" first
 * crops the mesh to bbox.npy (faces with every vertex inside) and compares
 * with gt_center.ply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/array_io.h"
#include "phive/errors.h"
#include "phive/eval.h"
#include "phive/log.h"
#include "phive/mesh.h"
#include "phive/sampling.h"
#include "phive/surface_metrics.h"

static const cfg_spec eval_epfl_schema[] = {
    {"eval.mesh", CFG_STRING, NULL, 0, -1, NULL, "reconstructed mesh in the data set's frame"},
    {"eval.gt", CFG_STRING, NULL, 0, -1, NULL, "directory with gt_full.ply, gt_center.ply and bbox.npy"},
    {"eval.region", CFG_CHOICE, "full", 0, -1, "full|center", "whole scene, or the bbox.npy crop"},
    {"eval.samples", CFG_INT, "1000000", 1, 1e9, NULL, "points sampled on the mesh"},
    {"eval.max_dist", CFG_REAL, "0.8", 1e-9, 1e9, NULL, "distances at or beyond this are left out"},
    {NULL, CFG_STRING, NULL, 0, 0, NULL, NULL},
};

/* Keep the faces whose three vertices lie in the box [lo, hi] (vertices are kept as they are). */
static int crop_faces(mesh *m, const double box[6], const char *path)
{
    size_t kept = 0;
    for (size_t f = 0; f < m->n_faces; ++f) {
        int inside = 1;
        for (int k = 0; k < 3 && inside; ++k) {
            const float *p = m->positions + 3 * m->faces[3 * f + k];
            for (int c = 0; c < 3; ++c) inside &= p[c] >= box[c] && p[c] <= box[3 + c];
        }
        if (inside) memmove(m->faces + 3 * kept++, m->faces + 3 * f, 3 * sizeof *m->faces);
    }
    if (kept == 0) return err_set("%s: no face lies inside bbox.npy", path);
    m->n_faces = kept;
    free(m->face_uvs); /* no longer aligned with the faces */
    m->face_uvs = NULL;
    return 0;
}

static int eval_epfl_run(job_ctx *ctx)
{
    const config *cfg = ctx->cfg;
    const char *mesh_path = config_str(cfg, "eval.mesh"), *root = config_str(cfg, "eval.gt");
    int center = !strcmp(config_str(cfg, "eval.region"), "center");
    char gt_path[4096], bbox_path[4096];
    snprintf(gt_path, sizeof gt_path, "%s/%s", root, center ? "gt_center.ply" : "gt_full.ply");
    snprintf(bbox_path, sizeof bbox_path, "%s/bbox.npy", root);
    mesh reconstruction, truth;
    ndarray bbox;
    mesh_init(&reconstruction);
    mesh_init(&truth);
    ndarray_init(&bbox);
    size_t n = (size_t)config_int(cfg, "eval.samples");
    float *samples = malloc(3 * n * sizeof *samples);
    int status = samples ? 0 : err_set("out of memory for %zu samples", n);
    if (!status) status = mesh_read(mesh_path, &reconstruction) || mesh_read(gt_path, &truth);
    if (!status && center) {
        status = npy_read(bbox_path, &bbox);
        if (!status && bbox.count != 6) status = err_set("%s: expected 2x3 (min, max), got %zu values", bbox_path, bbox.count);
        if (!status) status = crop_faces(&reconstruction, bbox.data, mesh_path);
    }
    if (!status && reconstruction.n_faces == 0) status = err_set("%s: a mesh with faces is needed", mesh_path);
    chamfer_dtu_result r;
    if (!status) status = mesh_sample_surface(&reconstruction, n, (uint64_t)config_int(cfg, "job.seed"), samples, NULL, NULL) ||
                          chamfer_dtu(samples, n, NULL, truth.positions, truth.n_vertices, NULL,
                                      config_real(cfg, "eval.max_dist"), &r);
    if (!status)
        status = metrics_set(&ctx->final, "accuracy", r.accuracy) || metrics_set(&ctx->final, "completeness", r.completeness) ||
                 metrics_set(&ctx->final, "chamfer", r.overall);
    if (!status && ctx->dist->group_rank == 0)
        log_info("%s: EPFL %s: accuracy %.5f, completeness %.5f, mean %.5f", ctx->id, center ? "center" : "full",
                 r.accuracy, r.completeness, r.overall);
    free(samples);
    ndarray_free(&bbox);
    mesh_free(&reconstruction);
    mesh_free(&truth);
    return status ? -1 : JOB_COMPLETE;
}

const job_type eval_epfl_job = {
    .name = "eval_epfl",
    .summary = "EPFL protocol (NeuralWarp): 1e6 samples, per-direction means under 0.8, full or bbox-cropped center",
    .schema = eval_epfl_schema,
    .run = eval_epfl_run,
};
