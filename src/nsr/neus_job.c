/* neus_job.c — the `neus` job: train NeuS on a NeuS/DTU-layout data set (see nsr.h, neus.h).
 *
 * Iteration t picks one training view (the held-out every-7th views are never
 * used for training) with Philox (stream VIEW_STREAM, index t) and `batch`
 * random pixels of it (stream 2t); rank r of a group of R takes rays
 * [r·B/R, (r+1)·B/R) with their global indices as `first`, so the rays and
 * the sampler's random numbers (stream 2t + 1) are those one rank would draw.
 * The loss normalisers are summed over the group before the fused
 * forward/backward, the gradients all-reduced, then one Adam step (linear
 * warm-up, cosine decay to final_fraction: NeuS's schedule).
 *
 * Every eval.every iterations (and at the end) the held-out views are
 * rendered at eval.rays random pixels each (fixed stream, no perturbation):
 * psnr_test (all pixels, black background as NeuS without background) and
 * psnr_test_masked (pixels of the object mask).  At the end, marching cubes
 * of the SDF over [-1.01, 1.01]³ at mesh.resolution, mapped to world by
 * scale_mat_0, is written to <job dir>/mesh.ply.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/log.h"
#include "phive/mcubes.h"
#include "phive/mesh.h"
#include "phive/neus.h"
#include "phive/nsr.h"
#include "phive/nsr_data.h"
#include "phive/opt.h"

static const cfg_spec neus_schema[] = {
    {"data.root", CFG_STRING, NULL, 0, -1, NULL, "NeuS-layout data directory (image/, mask/, cameras_sphere.npz)"},
    {"data.cameras", CFG_STRING, NSR_CAMERAS_DEFAULT, 0, -1, NULL, "camera npz inside data.root"},
    {"data.downscale", CFG_INT, "1", 1, 64, NULL, "integer image downscale (box average)"},
    {"data.test_every", CFG_INT, "7", 0, 1000, NULL, "views i % test_every == 0 are held out (0: none)"},
    {"model.sdf_layers", CFG_INT, "8", 1, MLP_MAX_LAYERS - 2, NULL, "hidden layers of the SDF MLP"},
    {"model.sdf_width", CFG_INT, "256", 1, 4096, NULL, "units per SDF hidden layer"},
    {"model.sdf_skip", CFG_INT, "4", 0, MLP_MAX_LAYERS, NULL, "skip-connection layer (0: none)"},
    {"model.sdf_features", CFG_INT, "256", 0, 4096, NULL, "feature outputs of the SDF MLP"},
    {"model.pe_xyz", CFG_INT, "6", 0, 12, NULL, "positional-encoding frequencies of x"},
    {"model.beta", CFG_REAL, "100", 0, 1000, NULL, "Softplus sharpness of the SDF MLP"},
    {"model.init_radius", CFG_REAL, "0.5", 0.01, 1, NULL, "geometric-init sphere radius"},
    {"model.color_layers", CFG_INT, "4", 1, MLP_MAX_LAYERS - 2, NULL, "hidden layers of the colour MLP"},
    {"model.color_width", CFG_INT, "256", 1, 4096, NULL, "units per colour hidden layer"},
    {"model.pe_dir", CFG_INT, "4", 0, 12, NULL, "positional-encoding frequencies of the view direction"},
    {"model.weight_norm", CFG_BOOL, "true", 0, -1, NULL, "weight-normalised MLPs"},
    {"model.variance_init", CFG_REAL, "0.3", -10, 10, NULL, "initial v (inv_s = exp(10 v))"},
    {"render.n_samples", CFG_INT, "64", 2, 4096, NULL, "coarse samples per ray"},
    {"render.n_importance", CFG_INT, "64", 0, 4096, NULL, "importance samples per ray"},
    {"render.up_sample_steps", CFG_INT, "4", 1, 64, NULL, "importance rounds (divides n_importance)"},
    {"render.gradient", CFG_CHOICE, "analytic", 0, -1, "analytic|fd", "SDF gradient"},
    {"render.chunk_rays", CFG_INT, "64", 1, 65536, NULL, "rays per forward/backward chunk"},
    {"train.iterations", CFG_INT, "300000", 1, 1e9, NULL, "Adam steps"},
    {"train.batch", CFG_INT, "512", 1, 1048576, NULL, "rays per step (split across the group's ranks)"},
    {"train.lr", CFG_REAL, "5e-4", 0, 10, NULL, "peak learning rate"},
    {"train.warmup", CFG_INT, "5000", 0, 1e9, NULL, "linear warm-up steps"},
    {"train.final_fraction", CFG_REAL, "0.05", 0, 1, NULL, "final lr / peak lr (cosine)"},
    {"train.anneal_end", CFG_INT, "50000", 0, 1e9, NULL, "cos_anneal_ratio = min(1, it / anneal_end) (0: 1)"},
    {"train.eikonal_weight", CFG_REAL, "0.1", 0, 1e3, NULL, "Eikonal loss weight"},
    {"train.mask_weight", CFG_REAL, "0.1", 0, 1e3, NULL, "mask BCE weight (0: no mask)"},
    {"eval.every", CFG_INT, "5000", 0, 1e9, NULL, "iterations between held-out PSNR evaluations (0: end only)"},
    {"eval.rays", CFG_INT, "1024", 1, 1e8, NULL, "random rays of each held-out view for PSNR"},
    {"mesh.resolution", CFG_INT, "512", 0, 2048, NULL, "marching-cubes grid over [-1.01, 1.01]^3 (0: no mesh)"},
    {NULL, CFG_STRING, NULL, 0, 0, NULL, NULL},
};

#define VIEW_STREAM (1ull << 40)
#define EVAL_STREAM (VIEW_STREAM + 1)

typedef struct {
    long iterations, batch, checkpoint_every, anneal_end, eval_every, eval_rays;
    nsr_dataset ds;
    int *train_views, n_train, *test_views, n_test; /* positions in ds.views */
    neus_model model;
    neus_render_options ropt;
    param_set params;
    adam opt;
    rng_t rng;
    neus_workspace ws;
    int capacity; /* workspace rays */
    nsr_rays rays;
} neus_job;

static void my_share(const dist_ctx *d, long n, long *lo, long *hi)
{
    *lo = n * d->group_rank / d->group_size;
    *hi = n * (d->group_rank + 1) / d->group_size;
}

static int setup(neus_job *s, const job_ctx *ctx)
{
    const config *cfg = ctx->cfg;
    memset(s, 0, sizeof *s);
    params_init(&s->params);
    s->iterations = config_int(cfg, "train.iterations");
    s->batch = config_int(cfg, "train.batch");
    s->checkpoint_every = config_int(cfg, "run.checkpoint_every");
    s->anneal_end = config_int(cfg, "train.anneal_end");
    s->eval_every = config_int(cfg, "eval.every");
    s->eval_rays = config_int(cfg, "eval.rays");
    rng_seed(&s->rng, (uint64_t)config_int(cfg, "job.seed"), 0);

    int test_every = (int)config_int(cfg, "data.test_every");
    nsr_dataset_options dopt = {.cameras = config_str(cfg, "data.cameras"),
                                .downscale = (int)config_int(cfg, "data.downscale"),
                                .split = NSR_SPLIT_ALL};
    const char *root = config_str(cfg, "data.root");
    if (nsr_dataset_load(root, &dopt, &s->ds)) return err_context("data.root = %s", root);
    s->train_views = malloc((size_t)s->ds.n_views * sizeof(int));
    s->test_views = malloc((size_t)s->ds.n_views * sizeof(int));
    if (!s->train_views || !s->test_views) return err_set("out of memory");
    for (int v = 0; v < s->ds.n_views; ++v) {
        if (test_every > 0 && nsr_view_is_test(s->ds.views[v].index, test_every))
            s->test_views[s->n_test++] = v;
        else
            s->train_views[s->n_train++] = v;
    }
    if (s->n_train == 0) return err_set("data.root = %s: no training views (data.test_every = %d)", root, test_every);
    if (ctx->dist->group_rank == 0)
        log_info("%s: %s: %d views of %d x %d (downscale %d): %d training, %d held out", ctx->id, root,
                 s->ds.n_views, s->ds.width, s->ds.height, s->ds.downscale, s->n_train, s->n_test);

    neus_model_config mc;
    neus_model_config_default(&mc);
    mc.sdf_hidden_layers = (int)config_int(cfg, "model.sdf_layers");
    mc.sdf_width = (int)config_int(cfg, "model.sdf_width");
    mc.sdf_skip = (int)config_int(cfg, "model.sdf_skip");
    mc.sdf_features = (int)config_int(cfg, "model.sdf_features");
    mc.pe_xyz = (int)config_int(cfg, "model.pe_xyz");
    mc.sdf_beta = config_real(cfg, "model.beta");
    mc.init_radius = config_real(cfg, "model.init_radius");
    mc.color_hidden_layers = (int)config_int(cfg, "model.color_layers");
    mc.color_width = (int)config_int(cfg, "model.color_width");
    mc.pe_dir = (int)config_int(cfg, "model.pe_dir");
    mc.weight_norm = config_bool(cfg, "model.weight_norm");
    mc.variance_init = config_real(cfg, "model.variance_init");
    if (neus_model_declare(&s->model, &s->params, &mc, 0) || params_allocate(&s->params)) return -1;
    neus_model_init(&s->model, &s->params, &s->rng);

    neus_render_options_default(&s->ropt);
    s->ropt.n_samples = (int)config_int(cfg, "render.n_samples");
    s->ropt.n_importance = (int)config_int(cfg, "render.n_importance");
    s->ropt.up_sample_steps = (int)config_int(cfg, "render.up_sample_steps");
    s->ropt.gradient = strcmp(config_str(cfg, "render.gradient"), "fd") == 0 ? NEUS_GRADIENT_FD
                                                                            : NEUS_GRADIENT_ANALYTIC;
    s->ropt.chunk_rays = (int)config_int(cfg, "render.chunk_rays");
    s->ropt.eikonal_weight = config_real(cfg, "train.eikonal_weight");
    s->ropt.mask_weight = config_real(cfg, "train.mask_weight");
    s->ropt.perturb = 1;
    if (s->ropt.n_importance % s->ropt.up_sample_steps)
        return err_set("render.n_importance (%d) must be a multiple of render.up_sample_steps (%d)",
                       s->ropt.n_importance, s->ropt.up_sample_steps);

    lr_schedule schedule = {.kind = SCHEDULE_WARMUP_COSINE,
                            .lr = config_real(cfg, "train.lr"),
                            .warmup = config_int(cfg, "train.warmup"),
                            .total = s->iterations,
                            .final_fraction = config_real(cfg, "train.final_fraction")};
    if (adam_init(&s->opt, &s->params, 0.9, 0.999, 1e-8) || adam_set_group(&s->opt, 0, schedule)) return -1;

    long cap = s->batch / ctx->dist->group_size + 1;
    long eval_cap = s->eval_rays < 1024 ? s->eval_rays : 1024;
    if (cap < eval_cap) cap = eval_cap;
    s->capacity = (int)cap;
    return neus_workspace_alloc(&s->ws, &s->model, &s->ropt, s->capacity);
}

static void teardown(neus_job *s)
{
    if (s->capacity) neus_workspace_free(&s->ws, &s->model);
    adam_free(&s->opt);
    params_free(&s->params);
    nsr_rays_free(&s->rays);
    nsr_dataset_free(&s->ds);
    free(s->train_views);
    free(s->test_views);
}

static neus_ray_batch batch_of(const nsr_rays *r, size_t n, uint64_t first, int targets)
{
    neus_ray_batch b = {.n = (int)n,
                        .origin = r->origin,
                        .direction = r->direction,
                        .near = r->near,
                        .far = r->far,
                        .rgb = targets ? r->rgb : NULL,
                        .mask = targets ? r->mask : NULL,
                        .first = first};
    return b;
}

/* One Adam step; out[0..3] = loss, masked squared error / (3 M) (train PSNR), inv_s. */
static int train_step(neus_job *s, const job_ctx *ctx, long it, double out[3])
{
    long lo, hi;
    my_share(ctx->dist, s->batch, &lo, &hi);
    double u[2];
    rng_uniform2_at(&s->rng, VIEW_STREAM, (uint64_t)it, u);
    int pick = (int)(u[0] * s->n_train);
    if (pick >= s->n_train) pick = s->n_train - 1;
    int v = s->train_views[pick];
    if (nsr_random_rays(&s->ds, v, &s->rng, 2 * (uint64_t)it, (uint64_t)lo, (size_t)(hi - lo), &s->rays)) return -1;
    neus_ray_batch b = batch_of(&s->rays, (size_t)(hi - lo), (uint64_t)lo, 1);
    s->ropt.perturb = 1;
    s->ropt.cos_anneal_ratio = s->anneal_end > 0 ? fmin(1.0, (double)it / (double)s->anneal_end) : 1.0;
    if (neus_sample(&s->model, &s->params, &s->ropt, &b, &s->rng, 2 * (uint64_t)it + 1, &s->ws)) return -1;
    neus_normalizers norm;
    neus_count(&s->ropt, &b, &s->ws, &norm);
    double nv[3] = {norm.rays, norm.mask_sum, norm.eikonal_count};
    if (dist_allreduce_double(ctx->dist, nv, 3)) return -1;
    norm.rays = nv[0], norm.mask_sum = nv[1], norm.eikonal_count = nv[2];
    params_zero_grads(&s->params);
    neus_loss loss;
    memset(&loss, 0, sizeof loss);
    if (neus_forward(&s->model, &s->params, &s->ropt, &b, &norm, 1, &s->ws, &loss)) return -1;
    if (dist_allreduce(ctx->dist, s->params.grads, s->params.count, 0)) return -1;
    double sums[2] = {loss.total, loss.sq_error};
    if (dist_allreduce_double(ctx->dist, sums, 2)) return -1;
    if (adam_step(&s->opt, &s->params)) return -1;
    double m = s->ropt.mask_weight > 0 ? norm.mask_sum : norm.rays;
    out[0] = sums[0];
    out[1] = sums[1] / (3.0 * m + 1e-5);
    out[2] = neus_inv_s(&s->model, &s->params);
    return 0;
}

static double psnr(double mse) { return mse > 0 ? -10.0 * log10(mse) : 99.0; }

/* Held-out PSNR over eval.rays random pixels of each test view: out = {all pixels, masked}. */
static int evaluate(neus_job *s, const job_ctx *ctx, double out[2])
{
    double sums[4] = {0, 0, 0, 0}; /* Σ err², n, Σ m err², Σ m */
    neus_render_options o = s->ropt;
    o.perturb = 0;
    o.cos_anneal_ratio = 1.0;
    long lo, hi;
    my_share(ctx->dist, s->eval_rays, &lo, &hi);
    for (int t = 0; t < s->n_test; ++t) {
        int v = s->test_views[t];
        for (long start = lo; start < hi; start += s->capacity) {
            long n = hi - start < s->capacity ? hi - start : s->capacity;
            if (nsr_random_rays(&s->ds, v, &s->rng, EVAL_STREAM + (uint64_t)s->ds.views[v].index, (uint64_t)start,
                                (size_t)n, &s->rays))
                return -1;
            neus_ray_batch b = batch_of(&s->rays, (size_t)n, (uint64_t)start, 0);
            if (neus_sample(&s->model, &s->params, &o, &b, NULL, 0, &s->ws) ||
                neus_forward(&s->model, &s->params, &o, &b, NULL, 0, &s->ws, NULL))
                return -1;
            for (long r = 0; r < n; ++r) {
                double e = 0;
                for (int c = 0; c < 3; ++c) {
                    double d = (double)s->ws.color[3 * r + c] - (double)s->rays.rgb[3 * r + c];
                    e += d * d;
                }
                double m = s->rays.mask[r] > 0.5 ? 1.0 : 0.0;
                sums[0] += e, sums[1] += 3, sums[2] += m * e, sums[3] += 3 * m;
            }
        }
    }
    if (dist_allreduce_double(ctx->dist, sums, 4)) return -1;
    out[0] = psnr(sums[0] / (sums[1] > 0 ? sums[1] : 1));
    out[1] = psnr(sums[2] / (sums[3] > 0 ? sums[3] : 1));
    return 0;
}

/* SDF on the grid (res³, x fastest) of [-1.01, 1.01]³ in the normalised frame. */
static int sdf_grid(neus_job *s, int res, float *grid)
{
    const neus_model *m = &s->model;
    int cap = 32768;
    mlp_buffers buf;
    real *x = malloc((size_t)cap * 3 * sizeof *x);
    if (!x) return err_set("out of memory for the mesh grid");
    if (mlp_buffers_alloc(&buf, &m->sdf, cap)) {
        free(x);
        return -1;
    }
    long total = (long)res * res * res;
    double step = 2.02 / (res - 1);
    for (long start = 0; start < total; start += cap) {
        int rows = (int)(total - start < cap ? total - start : cap);
        for (int r = 0; r < rows; ++r) {
            long cell = start + r;
            long idx[3] = {cell % res, (cell / res) % res, cell / ((long)res * res)};
            for (int c = 0; c < 3; ++c) x[3 * r + c] = (real)(-1.01 + step * idx[c]);
        }
        m->enc_xyz.ops->forward(&m->enc_xyz, &s->params, x, rows, buf.act[0]);
        mlp_forward_cols(&m->sdf, &s->params, &buf, rows, 1);
        const real *y = buf.act[m->sdf.n_layers];
        for (int r = 0; r < rows; ++r) grid[start + r] = (float)y[(size_t)r * m->sdf_out];
    }
    mlp_buffers_free(&buf, &m->sdf);
    free(x);
    return 0;
}

static int write_mesh(neus_job *s, job_ctx *ctx, int res)
{
    size_t n = (size_t)res * res * res;
    float *grid = malloc(n * sizeof *grid);
    if (!grid) return err_set("out of memory for a %d^3 grid", res);
    int status = sdf_grid(s, res, grid);
    mesh out;
    mesh_init(&out);
    if (!status) {
        mcubes_options o;
        mcubes_options_init(&o);
        o.orientation = MCUBES_TOWARD_INCREASING;
        /* world = S · (−1.01 + step·i, …, 1) */
        double step = 2.02 / (res - 1), A[16] = {step, 0, 0, -1.01, 0, step, 0, -1.01, 0, 0, step, -1.01, 0, 0, 0, 1};
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
                double acc = 0;
                for (int k = 0; k < 4; ++k) acc += s->ds.scale_mat0[4 * i + k] * A[4 * k + j];
                o.grid_to_world[4 * i + j] = acc;
            }
        status = mcubes_extract(grid, (size_t)res, (size_t)res, (size_t)res, &o, &out);
    }
    char path[4200];
    job_path(ctx, "mesh.ply", path, sizeof path);
    if (!status) status = mesh_write(path, &out);
    if (!status) {
        log_info("%s: mesh %s: %zu vertices, %zu faces", ctx->id, path, out.n_vertices, out.n_faces);
        status = metrics_set(&ctx->final, "mesh_faces", (double)out.n_faces);
    }
    mesh_free(&out);
    free(grid);
    return status;
}


static int record_eval(neus_job *s, job_ctx *ctx, long it)
{
    if (s->n_test == 0) return 0;
    double p[2];
    if (evaluate(s, ctx, p)) return -1;
    if (ctx->dist->group_rank == 0)
        log_info("%s: iteration %ld: held-out PSNR %.3f dB (masked %.3f dB)", ctx->id, it, p[0], p[1]);
    return metrics_append(&ctx->series, "psnr_test", p[0]) ||
           metrics_append(&ctx->series, "psnr_test_masked", p[1]) ||
           metrics_append(&ctx->series, "psnr_test_iteration", (double)it);
}

static int run_training(neus_job *s, job_ctx *ctx)
{
    const long first = job_checkpoint_resume(ctx, &s->params, &s->opt, &s->rng);
    if (first < 0) return -1;
    progress bar;
    progress_begin(&bar, ctx->id, first, s->iterations, config_int(ctx->cfg, "run.log_every"));
    int leader = ctx->dist->group_rank == 0;
    for (long it = first; it < s->iterations; ++it) {
        if (job_should_stop(ctx)) {
            progress_end(&bar);
            if (leader) log_info("%s: stop requested, checkpointing at iteration %ld", ctx->id, it);
            return job_checkpoint_save(ctx, &s->params, &s->opt, &s->rng, it) ? -1 : JOB_INTERRUPTED;
        }
        double lr = schedule_lr(&s->opt.groups[0], s->opt.step);
        double r[3];
        if (train_step(s, ctx, it, r)) return -1;
        if (!isfinite(r[0])) return err_set("loss is %g at iteration %ld (lower train.lr?)", r[0], it);
        if (metrics_append(&ctx->series, "loss", r[0]) || metrics_append(&ctx->series, "lr", lr) ||
            metrics_append(&ctx->series, "psnr_train", psnr(r[1])) ||
            metrics_append(&ctx->series, "inv_s", r[2]))
            return -1;
        if (leader) progress_update(&bar, it, r[0]);
        if (s->eval_every > 0 && (it + 1) % s->eval_every == 0 && it + 1 < s->iterations && record_eval(s, ctx, it + 1))
            return -1;
        if (s->checkpoint_every && (it + 1) % s->checkpoint_every == 0 && it + 1 < s->iterations &&
            job_checkpoint_save(ctx, &s->params, &s->opt, &s->rng, it + 1))
            return -1;
    }
    progress_end(&bar);
    return JOB_COMPLETE;
}

static int write_outputs(neus_job *s, job_ctx *ctx)
{
    if (record_eval(s, ctx, s->iterations)) return -1;
    const metric_series *p = metrics_find(&ctx->series, "psnr_test");
    const metric_series *pm = metrics_find(&ctx->series, "psnr_test_masked");
    const metric_series *l = metrics_find(&ctx->series, "loss");
    const metric_series *pt = metrics_find(&ctx->series, "psnr_train");
    if (p && p->n && (metrics_set(&ctx->final, "psnr_test", p->values[p->n - 1]) ||
                      metrics_set(&ctx->final, "psnr_test_masked", pm->values[pm->n - 1])))
        return -1;
    if (l && l->n && metrics_set(&ctx->final, "loss", l->values[l->n - 1])) return -1;
    if (pt && pt->n && metrics_set(&ctx->final, "psnr_train", pt->values[pt->n - 1])) return -1;
    if (metrics_set(&ctx->final, "inv_s", neus_inv_s(&s->model, &s->params))) return -1;
    int res = (int)config_int(ctx->cfg, "mesh.resolution");
    int status = 0;
    if (ctx->dist->group_rank == 0 && res >= 2) status = write_mesh(s, ctx, res);
    /* the group agrees on the mesh's outcome (only rank 0 wrote it) */
    if (dist_group_max(ctx->dist, status != 0)) return status ? -1 : err_set("rank 0 failed to write the mesh");
    return 0;
}

static int neus_run(job_ctx *ctx)
{
    neus_job s;
    int status = setup(&s, ctx);
    if (!status) status = run_training(&s, ctx);
    if (status == JOB_COMPLETE) status = write_outputs(&s, ctx) ? -1 : JOB_COMPLETE;
    if (status == JOB_COMPLETE) status = job_checkpoint_save(ctx, &s.params, &s.opt, &s.rng, s.iterations) ? -1 : JOB_COMPLETE;
    teardown(&s);
    return status;
}

const job_type nsr_neus_job = {
    .name = "neus",
    .summary = "NeuS multi-view surface reconstruction (SDF + colour MLPs, volume rendering)",
    .schema = neus_schema,
    .run = neus_run,
};
