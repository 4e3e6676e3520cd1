/* sft_eval.c — the ϕ-SfT evaluation protocol as the `eval_sft` job (see eval.h). */
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

/* Frames to evaluate: eval.frames, or every consecutive ground-truth file from first_frame. */
static int count_frames(const config *cfg, long *frames)
{
    long first = config_int(cfg, "eval.first_frame");
    *frames = config_int(cfg, "eval.frames");
    char path[4096];
    if (*frames == 0)
        while (!eval_frame_path(config_str(cfg, "eval.gt"), config_str(cfg, "eval.gt_pattern"), first + *frames, path,
                                sizeof path) &&
               access(path, R_OK) == 0)
            ++*frames;
    if (*frames == 0) {
        eval_frame_path(config_str(cfg, "eval.gt"), config_str(cfg, "eval.gt_pattern"), first, path, sizeof path);
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

/* Chamfer (PyTorch3D convention) ×1e4 of frame f. */
static int evaluate_frame(const config *cfg, long frame, double *chamfer_x1e4)
{
    char mesh_path[4096], gt_path[4096];
    if (eval_frame_path(config_str(cfg, "eval.meshes"), config_str(cfg, "eval.mesh_pattern"), frame, mesh_path,
                        sizeof mesh_path) ||
        eval_frame_path(config_str(cfg, "eval.gt"), config_str(cfg, "eval.gt_pattern"), frame, gt_path, sizeof gt_path))
        return -1;
    mesh reconstruction, truth;
    mesh_init(&reconstruction);
    mesh_init(&truth);
    float *samples = NULL;
    int status = mesh_read(mesh_path, &reconstruction) || mesh_read(gt_path, &truth);
    if (!status && reconstruction.n_faces == 0) status = err_set("%s: a mesh with faces is needed", mesh_path);
    if (!status && truth.n_vertices == 0) status = err_set("%s: the ground truth has no points", gt_path);
    size_t n = (size_t)config_int(cfg, "eval.samples");
    if (!status && n == 0) n = truth.n_vertices;
    if (!status && !(samples = malloc(n * 3 * sizeof *samples))) status = err_set("out of memory for %zu samples", n);
    uint64_t seed = (uint64_t)config_int(cfg, "job.seed") * 1000003u + (uint64_t)frame;
    chamfer_pytorch3d_result result;
    if (!status) status = mesh_sample_surface(&reconstruction, n, seed, samples, NULL, NULL);
    if (!status && config_bool(cfg, "eval.icp")) status = align_to_truth(samples, n, &truth);
    if (!status) status = chamfer_pytorch3d(samples, n, truth.positions, truth.n_vertices, &result);
    if (!status) *chamfer_x1e4 = result.chamfer * 1e4;
    free(samples);
    mesh_free(&reconstruction);
    mesh_free(&truth);
    return status ? err_context("frame %ld", frame) : 0;
}

static int eval_sft_run(job_ctx *ctx)
{
    long frames;
    if (count_frames(ctx->cfg, &frames)) return -1;
    long first = config_int(ctx->cfg, "eval.first_frame");
    double *values = calloc((size_t)frames, sizeof *values);
    if (!values) return err_set("out of memory");
    int failed = 0;
    /* frames round-robin over the group's ranks; the others' entries stay 0 for the sum */
    for (long i = ctx->dist->group_rank; i < frames && !failed; i += ctx->dist->group_size)
        failed = evaluate_frame(ctx->cfg, first + i, &values[i]) != 0;
    if (dist_group_max(ctx->dist, failed)) {
        free(values);
        return failed ? -1 : err_set("another rank failed to evaluate its frames");
    }
    dist_allreduce_double(ctx->dist, values, (int)frames);
    double mean = 0;
    for (long i = 0; i < frames; ++i) mean += values[i] / (double)frames;
    int status = metrics_assign(&ctx->series, "chamfer_x1e4", values, (size_t)frames) ||
                 metrics_set(&ctx->final, "chamfer_x1e4_mean", mean) ||
                 metrics_set(&ctx->final, "frames", (double)frames);
    if (!status && ctx->dist->group_rank == 0)
        log_info("%s: Chamfer x1e4 over %ld frames: mean %.4f", ctx->id, frames, mean);
    free(values);
    return status ? -1 : JOB_COMPLETE;
}

const job_type eval_sft_job = {
    .name = "eval_sft",
    .summary = "phi-SfT protocol: per-frame Chamfer (PyTorch3D convention, x1e4) of meshes vs point clouds",
    .schema = eval_sft_schema,
    .run = eval_sft_run,
};
