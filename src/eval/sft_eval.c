/* sft_eval.c — the ϕ-SfT evaluation protocol as the `eval_sft` job (see eval.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phive/align.h"
#include "phive/errors.h"
#include "phive/eval.h"
#include "phive/log.h"
#include "phive/mesh.h"
#include "phive/sampling.h"
#include "phive/surface_metrics.h"

static const cfg_spec eval_sft_schema[] = {
    {"eval.meshes", CFG_STRING, NULL, 0, -1, NULL, "directory of the reconstructed per-frame meshes"},
    {"eval.mesh_pattern", CFG_STRING, "mesh_%03d.obj", 0, -1, NULL, "file name of frame N's mesh (printf)"},
    {"eval.gt", CFG_STRING, NULL, 0, -1, NULL, "sequence directory holding the ground truth"},
    {"eval.gt_pattern", CFG_STRING, "point_clouds/point_cloud_%03d.obj", 0, -1, NULL,
     "ground-truth point cloud of frame N, relative to eval.gt"},
    {"eval.first_frame", CFG_INT, "0", 0, 1e7, NULL, "first frame evaluated"},
    {"eval.frames", CFG_INT, "0", 0, 1e7, NULL, "frames evaluated (0 = until a ground-truth file is missing)"},
    {"eval.samples", CFG_INT, "0", 0, 1e9, NULL, "points sampled per mesh (0 = as many as the ground truth)"},
    {"eval.mode", CFG_CHOICE, "real", 0, -1, "real|synthetic",
     "real: Chamfer to point clouds; synthetic: e_3D and normal angle to meshes with the same vertices"},
    {"eval.gt_mesh_pattern", CFG_STRING, "surfaces/%04d_00.obj", 0, -1, NULL,
     "synthetic ground-truth mesh of frame N, relative to eval.gt"},
    {"eval.icp", CFG_BOOL, "false", 0, -1, NULL, "rigidly align each frame's samples to the ground truth first (S3)"},
    {NULL, CFG_STRING, NULL, 0, 0, NULL, NULL},
};

int eval_frame_path(const char *dir, const char *pattern, long frame, char *out, size_t size)
{
    /* exactly one %d-style conversion (flags and width allowed), so user patterns cannot read the stack */
    const char *conversion = strchr(pattern, '%');
    const char *end = conversion ? conversion + 1 + strspn(conversion + 1, "0123456789") : NULL;
    if (!conversion || *end != 'd' || strchr(end, '%'))
        return err_set("pattern '%s' must hold exactly one integer conversion such as %%03d", pattern);
    int width = atoi(conversion + 1), zero = conversion[1] == '0';
    char number[64];
    snprintf(number, sizeof number, zero ? "%0*ld" : "%*ld", width, frame);
    if ((size_t)snprintf(out, size, "%s/%.*s%s%s", dir, (int)(conversion - pattern), pattern, number, end + 1) >= size)
        return err_set("path too long for frame %ld of %s", frame, pattern);
    return 0;
}

static int synthetic(const config *cfg) { return !strcmp(config_str(cfg, "eval.mode"), "synthetic"); }

/* The ground-truth file pattern of the mode: point clouds (real) or meshes (synthetic). */
static const char *gt_pattern(const config *cfg)
{
    return config_str(cfg, synthetic(cfg) ? "eval.gt_mesh_pattern" : "eval.gt_pattern");
}

/* Frames to evaluate: eval.frames, or every consecutive ground-truth file from first_frame. */
static int count_frames(const config *cfg, long *frames)
{
    long first = config_int(cfg, "eval.first_frame");
    *frames = config_int(cfg, "eval.frames");
    char path[4096];
    if (*frames == 0)
        while (!eval_frame_path(config_str(cfg, "eval.gt"), gt_pattern(cfg), first + *frames, path, sizeof path) &&
               access(path, R_OK) == 0)
            ++*frames;
    if (*frames == 0) {
        if (eval_frame_path(config_str(cfg, "eval.gt"), gt_pattern(cfg), first, path, sizeof path)) return -1;
        return err_set("no ground truth to evaluate: %s is missing", path);
    }
    return 0;
}

/* Rigid point-to-point ICP of the samples onto the ground-truth cloud, applied in place. */
static int align_to_truth(float *samples, size_t n, const mesh *truth)
{
    icp_options options;
    icp_result result;
    icp_options_init(&options);
    options.max_iterations = 50;
    if (icp_align(samples, n, truth->positions, NULL, truth->n_vertices, NULL, &options, &result)) return -1;
    align_apply(&result.transform, samples, n, samples);
    return 0;
}

int eval_sft_chamfer_frame(const mesh *reconstruction, const mesh *truth, size_t samples, uint64_t seed, int icp,
                           const char *mesh_path, const char *gt_path, double *chamfer_x1e4)
{
    float *points = NULL;
    int status = 0;
    if (reconstruction->n_faces == 0) status = err_set("%s: a mesh with faces is needed", mesh_path);
    if (!status && truth->n_vertices == 0) status = err_set("%s: the ground truth has no points", gt_path);
    size_t n = samples ? samples : truth->n_vertices;
    if (!status && !(points = malloc(n * 3 * sizeof *points))) status = err_set("out of memory for %zu samples", n);
    chamfer_pytorch3d_result result;
    if (!status) status = mesh_sample_surface(reconstruction, n, seed, points, NULL, NULL);
    if (!status && icp) status = align_to_truth(points, n, truth);
    if (!status) status = chamfer_pytorch3d(points, n, truth->positions, truth->n_vertices, &result);
    if (!status) *chamfer_x1e4 = result.chamfer * 1e4;
    free(points);
    return status;
}

int eval_sft_synthetic_frame(const mesh *reconstruction, const mesh *truth, const char *mesh_path, double metrics[2])
{
    size_t n = truth->n_vertices;
    if (reconstruction->n_vertices != n)
        return err_set("%s has %zu vertices, the ground truth %zu (synthetic evaluation needs correspondence)",
                       mesh_path, reconstruction->n_vertices, n);
    float *aligned = malloc(3 * n * sizeof *aligned), *n_rec = malloc(3 * n * sizeof *n_rec),
          *n_gt = malloc(3 * n * sizeof *n_gt);
    align_transform T;
    int status = !aligned || !n_rec || !n_gt ? err_set("out of memory") : 0;
    if (!status) status = align_umeyama(reconstruction->positions, truth->positions, NULL, n, 1, &T);
    if (!status) {
        align_apply(&T, reconstruction->positions, n, aligned);
        double diff = 0, norm = 0;
        for (size_t i = 0; i < 3 * n; ++i) {
            double d = (double)truth->positions[i] - aligned[i];
            diff += d * d;
            norm += (double)truth->positions[i] * truth->positions[i];
        }
        metrics[0] = sqrt(diff / norm);
        mesh aligned_mesh = *reconstruction;
        aligned_mesh.positions = aligned;
        mesh_vertex_normals(&aligned_mesh, n_rec);
        mesh_vertex_normals(truth, n_gt);
        status = normal_angle_mean_deg(n_rec, n_gt, n, &metrics[1]);
    }
    free(aligned);
    free(n_rec);
    free(n_gt);
    return status;
}

/* Frame f's metrics: {Chamfer ×1e4} (real) or {e_3D, normal angle} (synthetic). */
static int evaluate_frame(const config *cfg, long frame, double *values)
{
    char mesh_path[4096], gt_path[4096];
    if (eval_frame_path(config_str(cfg, "eval.meshes"), config_str(cfg, "eval.mesh_pattern"), frame, mesh_path,
                        sizeof mesh_path) ||
        eval_frame_path(config_str(cfg, "eval.gt"), gt_pattern(cfg), frame, gt_path, sizeof gt_path))
        return -1;
    mesh reconstruction, truth;
    mesh_init(&reconstruction);
    mesh_init(&truth);
    int status = mesh_read(mesh_path, &reconstruction) || mesh_read(gt_path, &truth);
    if (!status)
        status = synthetic(cfg)
                     ? eval_sft_synthetic_frame(&reconstruction, &truth, mesh_path, values)
                     : eval_sft_chamfer_frame(&reconstruction, &truth, (size_t)config_int(cfg, "eval.samples"),
                                              (uint64_t)config_int(cfg, "job.seed") * 1000003u + (uint64_t)frame,
                                              config_bool(cfg, "eval.icp"), mesh_path, gt_path, values);
    mesh_free(&reconstruction);
    mesh_free(&truth);
    return status ? err_context("frame %ld", frame) : 0;
}

/* Per-frame series names of each mode; the final metric is "<name>_mean". */
static const char *const real_metrics[] = {"chamfer_x1e4"};
static const char *const synthetic_metrics[] = {"e3d", "normal_angle_deg"};

static int eval_sft_run(job_ctx *ctx)
{
    long frames;
    if (count_frames(ctx->cfg, &frames)) return -1;
    long first = config_int(ctx->cfg, "eval.first_frame");
    int per_frame = synthetic(ctx->cfg) ? 2 : 1;
    const char *const *names = per_frame == 2 ? synthetic_metrics : real_metrics;
    double *values = calloc((size_t)(frames * per_frame), sizeof *values); /* [metric][frame] */
    double *frame_values = calloc((size_t)per_frame, sizeof *frame_values);
    if (!values || !frame_values) return err_set("out of memory");
    int failed = 0;
    /* frames round-robin over the group's ranks; the others' entries stay 0 for the sum */
    for (long i = ctx->dist->group_rank; i < frames && !failed; i += ctx->dist->group_size) {
        failed = evaluate_frame(ctx->cfg, first + i, frame_values) != 0;
        for (int k = 0; k < per_frame; ++k) values[k * frames + i] = frame_values[k];
    }
    int status = 0;
    if (dist_group_max(ctx->dist, failed)) status = failed ? -1 : err_set("another rank failed to evaluate its frames");
    if (!status) status = dist_allreduce_double(ctx->dist, values, (int)(frames * per_frame));
    for (int k = 0; k < per_frame && !status; ++k) {
        double mean = 0;
        for (long i = 0; i < frames; ++i) mean += values[k * frames + i] / (double)frames;
        char name[METRIC_NAME_MAX];
        snprintf(name, sizeof name, "%s_mean", names[k]);
        status = metrics_assign(&ctx->series, names[k], values + k * frames, (size_t)frames) ||
                 metrics_set(&ctx->final, name, mean);
        if (!status && ctx->dist->group_rank == 0)
            log_info("%s: %s over %ld frames: mean %.6g", ctx->id, names[k], frames, mean);
    }
    if (!status) status = metrics_set(&ctx->final, "frames", (double)frames);
    free(values);
    free(frame_values);
    return status ? -1 : JOB_COMPLETE;
}

const job_type eval_sft_job = {
    .name = "eval_sft",
    .summary = "phi-SfT protocol: Chamfer x1e4 vs point clouds (real), e_3D and normal angle vs meshes (synthetic)",
    .schema = eval_sft_schema,
    .run = eval_sft_run,
};
