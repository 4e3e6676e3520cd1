/* sdf_fit.c — the `sdf` job: fit an MLP to an analytic SDF (see nsr.h).
 *
 * Iteration t draws `batch` points with Philox (stream t, point index i):
 * a fraction uniformly in [-1, 1]³, the rest projected onto the surface and
 * pushed off it along the normal by up to ±surface_noise.  Rank r of a
 * group of R takes points [r·B/R, (r+1)·B/R); the loss is the mean squared
 * SDF error over the whole batch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "phive/errors.h"
#include "phive/log.h"
#include "phive/mlp.h"
#include "phive/nsr.h"
#include "phive/opt.h"
#include "rng.h"

static const cfg_spec sdf_schema[] = {
    {"sdf.shape", CFG_CHOICE, "torus", 0, -1, "sphere|torus|box|capsule", "analytic shape to fit"},
    {"sdf.size", CFG_REAL, "0.5", 0.05, 0.9, NULL, "shape scale in [-1, 1]^3 units"},
    {"model.hidden_layers", CFG_INT, "3", 1, MLP_MAX_LAYERS - 1, NULL, "hidden layers of the SDF MLP"},
    {"model.width", CFG_INT, "64", 1, 4096, NULL, "units per hidden layer"},
    {"model.pe_freqs", CFG_INT, "4", 0, 12, NULL, "positional-encoding frequencies (NeuS: 6)"},
    {"model.beta", CFG_REAL, "100", 0, 1000, NULL, "Softplus sharpness (0 = ReLU)"},
    {"train.iterations", CFG_INT, "1000", 1, 1e9, NULL, "Adam steps"},
    {"train.batch", CFG_INT, "2048", 1, 16777216, NULL, "points per step (split across the group's ranks)"},
    {"train.lr", CFG_REAL, "1e-3", 0, 10, NULL, "peak learning rate"},
    {"train.schedule", CFG_CHOICE, "cosine", 0, -1, "constant|cosine|exp", "learning-rate schedule"},
    {"train.warmup", CFG_INT, "50", 0, 1e9, NULL, "linear warm-up steps (cosine)"},
    {"train.final_fraction", CFG_REAL, "0.05", 0, 1, NULL, "final lr / peak lr (cosine, exp)"},
    {"train.surface_fraction", CFG_REAL, "0.5", 0, 1, NULL, "fraction of points drawn near the surface"},
    {"train.surface_noise", CFG_REAL, "0.02", 0, 1, NULL, "max offset of near-surface points"},
    {"eval.points", CFG_INT, "20000", 1, 1e8, NULL, "held-out points for the final metrics"},
    {"eval.grid", CFG_INT, "32", 2, 512, NULL, "resolution of the predicted SDF grid in result.h5"},
    {NULL, CFG_STRING, NULL, 0, 0, NULL, NULL},
};

typedef struct {
    analytic_shape shape;
    double size, surface_fraction, surface_noise;
    int pe_freqs, n_inputs;
    long iterations, batch, checkpoint_every;
    mlp net;
    param_set params;
    adam opt;
    rng_t rng;
    mlp_buffers buffers;
    real *grad_out;
    double *targets;
} sdf_fit;

/* Eval points use streams above every training stream. */
#define EVAL_STREAM (1ull << 40)
#define SURFACE_STREAM (EVAL_STREAM + 1)

static void sdf_normal(const sdf_fit *s, const double p[3], double n[3])
{
    const double h = 1e-5;
    double norm = 0;
    for (int c = 0; c < 3; ++c) {
        double a[3] = {p[0], p[1], p[2]}, b[3] = {p[0], p[1], p[2]};
        a[c] += h;
        b[c] -= h;
        n[c] = (analytic_sdf(s->shape, s->size, a) - analytic_sdf(s->shape, s->size, b)) / (2 * h);
        norm += n[c] * n[c];
    }
    norm = sqrt(norm) + 1e-12;
    for (int c = 0; c < 3; ++c) n[c] /= norm;
}

/* Move p onto the zero level set (a few Newton-like steps along the normal). */
static void project_to_surface(const sdf_fit *s, double p[3])
{
    for (int step = 0; step < 4; ++step) {
        double n[3], d = analytic_sdf(s->shape, s->size, p);
        sdf_normal(s, p, n);
        for (int c = 0; c < 3; ++c) p[c] -= d * n[c];
    }
}

/* Point i of the draw `stream`: uniform in the cube, or with probability `fraction`
 * moved to the surface and offset along the normal by up to ±surface_noise. */
static void sample_point(const sdf_fit *s, uint64_t stream, uint64_t i, double fraction, double p[3])
{
    double u[6];
    rng_uniform2_at(&s->rng, stream, 3 * i, u);
    rng_uniform2_at(&s->rng, stream, 3 * i + 1, u + 2);
    rng_uniform2_at(&s->rng, stream, 3 * i + 2, u + 4);
    for (int c = 0; c < 3; ++c) p[c] = 2.0 * u[c] - 1.0;
    if (u[3] >= fraction) return;
    project_to_surface(s, p);
    double n[3], offset = s->surface_noise * (2.0 * u[4] - 1.0);
    sdf_normal(s, p, n);
    for (int c = 0; c < 3; ++c) p[c] += offset * n[c];
}

static void encode_row(const sdf_fit *s, const double p[3], real *row)
{
    real x[3] = {(real)p[0], (real)p[1], (real)p[2]};
    positional_encoding(x, 3, s->pe_freqs, row);
}

static int setup(sdf_fit *s, const job_ctx *ctx)
{
    const config *cfg = ctx->cfg;
    memset(s, 0, sizeof *s);
    if (analytic_shape_parse(config_str(cfg, "sdf.shape"), &s->shape)) return -1;
    s->size = config_real(cfg, "sdf.size");
    s->surface_fraction = config_real(cfg, "train.surface_fraction");
    s->surface_noise = config_real(cfg, "train.surface_noise");
    s->pe_freqs = (int)config_int(cfg, "model.pe_freqs");
    s->n_inputs = positional_encoding_width(3, s->pe_freqs);
    s->iterations = config_int(cfg, "train.iterations");
    s->batch = config_int(cfg, "train.batch");
    s->checkpoint_every = config_int(cfg, "run.checkpoint_every");
    rng_seed(&s->rng, (uint64_t)config_int(cfg, "job.seed"), 0);

    params_init(&s->params);
    if (mlp_declare(&s->net, &s->params, "sdf", s->n_inputs, (int)config_int(cfg, "model.width"),
                    (int)config_int(cfg, "model.hidden_layers"), 1, config_real(cfg, "model.beta"), 0) ||
        params_allocate(&s->params))
        return -1;
    mlp_init_geometric(&s->net, &s->params, &s->rng, 0.5, 3);

    lr_schedule schedule = {.lr = config_real(cfg, "train.lr"),
                            .warmup = config_int(cfg, "train.warmup"),
                            .total = s->iterations,
                            .final_fraction = config_real(cfg, "train.final_fraction")};
    if (schedule_kind_parse(config_str(cfg, "train.schedule"), &schedule.kind) ||
        adam_init(&s->opt, &s->params, 0.9, 0.999, 1e-8) || adam_set_group(&s->opt, 0, schedule))
        return -1;

    long rows = s->batch / ctx->dist->group_size + 1;
    if (rows < 4096) rows = 4096; /* evaluation chunks reuse the buffers */
    s->grad_out = malloc((size_t)rows * sizeof(real));
    s->targets = malloc((size_t)rows * sizeof(double));
    if (!s->grad_out || !s->targets) return err_set("out of memory for a batch of %ld points", rows);
    return mlp_buffers_alloc(&s->buffers, &s->net, (int)rows);
}

static void teardown(sdf_fit *s)
{
    mlp_buffers_free(&s->buffers, &s->net);
    adam_free(&s->opt);
    params_free(&s->params);
    free(s->grad_out);
    free(s->targets);
}

/* This rank's share [lo, hi) of n items. */
static void my_share(const dist_ctx *d, long n, long *lo, long *hi)
{
    *lo = n * d->group_rank / d->group_size;
    *hi = n * (d->group_rank + 1) / d->group_size;
}

/* One Adam step; returns the batch loss (mean squared error). */
static double train_step(sdf_fit *s, const job_ctx *ctx, long iteration)
{
    long lo, hi;
    my_share(ctx->dist, s->batch, &lo, &hi);
    int rows = (int)(hi - lo);
    for (int r = 0; r < rows; ++r) {
        double p[3];
        sample_point(s, (uint64_t)iteration, (uint64_t)(lo + r), s->surface_fraction, p);
        encode_row(s, p, s->buffers.act[0] + (size_t)r * s->n_inputs);
        s->targets[r] = analytic_sdf(s->shape, s->size, p);
    }
    params_zero_grads(&s->params);
    mlp_forward(&s->net, &s->params, &s->buffers, rows);
    const real *pred = s->buffers.act[s->net.n_layers];
    double loss = 0;
    for (int r = 0; r < rows; ++r) {
        double err = (double)pred[r] - s->targets[r];
        loss += err * err;
        s->grad_out[r] = (real)(2.0 * err / (double)s->batch);
    }
    mlp_backward(&s->net, &s->params, &s->buffers, rows, s->grad_out, NULL);
    dist_allreduce(ctx->dist, s->params.grads, s->params.count, 0);
    dist_allreduce_double(ctx->dist, &loss, 1);
    adam_step(&s->opt, &s->params);
    return loss / (double)s->batch;
}

/* Predicted SDF at n points produced by `point(i)`, in chunks of the buffer size. */
typedef void (*point_fn)(const sdf_fit *s, uint64_t i, double p[3]);

static void eval_uniform(const sdf_fit *s, uint64_t i, double p[3]) { sample_point(s, EVAL_STREAM, i, 0.0, p); }
static void eval_surface(const sdf_fit *s, uint64_t i, double p[3])
{
    sample_point(s, SURFACE_STREAM, i, 2.0, p); /* fraction 2: always near the surface, */
    project_to_surface(s, p);                   /* then exactly on it */
}

/* Sums over this rank's share: {squared error, absolute error}. */
static void eval_errors(sdf_fit *s, const job_ctx *ctx, long n, point_fn point, double sums[2])
{
    long lo, hi;
    my_share(ctx->dist, n, &lo, &hi);
    sums[0] = sums[1] = 0;
    for (long start = lo; start < hi; start += s->buffers.capacity) {
        int rows = (int)(hi - start < s->buffers.capacity ? hi - start : s->buffers.capacity);
        for (int r = 0; r < rows; ++r) {
            double p[3];
            point(s, (uint64_t)(start + r), p);
            encode_row(s, p, s->buffers.act[0] + (size_t)r * s->n_inputs);
            s->targets[r] = analytic_sdf(s->shape, s->size, p);
        }
        mlp_forward(&s->net, &s->params, &s->buffers, rows);
        for (int r = 0; r < rows; ++r) {
            double err = (double)s->buffers.act[s->net.n_layers][r] - s->targets[r];
            sums[0] += err * err;
            sums[1] += fabs(err);
        }
    }
    dist_allreduce_double(ctx->dist, sums, 2);
}

/* Predicted SDF on a grid of cell centres over [-1, 1]^3, x fastest. */
static int predict_grid(sdf_fit *s, int res, float *grid)
{
    long total = (long)res * res * res;
    for (long start = 0; start < total; start += s->buffers.capacity) {
        int rows = (int)(total - start < s->buffers.capacity ? total - start : s->buffers.capacity);
        for (int r = 0; r < rows; ++r) {
            long cell = start + r;
            double p[3] = {cell % res, (cell / res) % res, cell / ((long)res * res)};
            for (int c = 0; c < 3; ++c) p[c] = -1.0 + (2.0 * p[c] + 1.0) / res;
            encode_row(s, p, s->buffers.act[0] + (size_t)r * s->n_inputs);
        }
        mlp_forward(&s->net, &s->params, &s->buffers, rows);
        for (int r = 0; r < rows; ++r) grid[start + r] = (float)s->buffers.act[s->net.n_layers][r];
    }
    return 0;
}

static int write_outputs(sdf_fit *s, job_ctx *ctx)
{
    long n_eval = config_int(ctx->cfg, "eval.points");
    double uniform[2], surface[2];
    eval_errors(s, ctx, n_eval, eval_uniform, uniform);
    eval_errors(s, ctx, n_eval, eval_surface, surface);
    if (metrics_set(&ctx->final, "eval_rmse", sqrt(uniform[0] / n_eval)) ||
        metrics_set(&ctx->final, "eval_mae", uniform[1] / n_eval) ||
        metrics_set(&ctx->final, "surface_mae", surface[1] / n_eval))
        return -1;
    if (ctx->dist->group_rank != 0) return 0;

    int res = (int)config_int(ctx->cfg, "eval.grid");
    size_t dims[3] = {(size_t)res, (size_t)res, (size_t)res};
    float *grid = malloc(dims[0] * dims[1] * dims[2] * sizeof *grid);
    float *copy = malloc(s->params.count * sizeof *copy);
    int status = !grid || !copy ? err_set("out of memory for the SDF grid") : 0;
    if (!status) status = predict_grid(s, res, grid) || job_output_f32(ctx, "sdf_grid", grid, 3, dims);
    for (int i = 0; !status && i < s->params.n_tensors; ++i) {
        const param_tensor *t = &s->params.tensors[i];
        char name[96];
        for (size_t j = 0; j < t->count; ++j) copy[j] = (float)s->params.values[t->offset + j];
        snprintf(name, sizeof name, "params/%s", t->name);
        status = job_output_f32(ctx, name, copy, t->ndim, t->shape);
    }
    free(grid);
    free(copy);
    return status;
}


static int run_training(sdf_fit *s, job_ctx *ctx)
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
        double loss = train_step(s, ctx, it);
        if (!isfinite(loss)) return err_set("loss is %g at iteration %ld (lower train.lr?)", loss, it);
        if (metrics_append(&ctx->series, "loss", loss) || metrics_append(&ctx->series, "lr", lr)) return -1;
        if (leader) progress_update(&bar, it, loss);
        if (s->checkpoint_every && (it + 1) % s->checkpoint_every == 0 && it + 1 < s->iterations &&
            job_checkpoint_save(ctx, &s->params, &s->opt, &s->rng, it + 1))
            return -1;
    }
    progress_end(&bar);
    return JOB_COMPLETE;
}

static int sdf_run(job_ctx *ctx)
{
    sdf_fit s;
    int status = setup(&s, ctx);
    if (!status) status = run_training(&s, ctx);
    if (status == JOB_COMPLETE) status = write_outputs(&s, ctx) ? -1 : JOB_COMPLETE;
    if (status == JOB_COMPLETE) status = job_checkpoint_save(ctx, &s.params, &s.opt, &s.rng, s.iterations) ? -1 : JOB_COMPLETE;
    teardown(&s);
    return status;
}

const job_type nsr_sdf_job = {
    .name = "sdf",
    .summary = "fit an MLP (positional encoding, Softplus, geometric init) to an analytic SDF",
    .schema = sdf_schema,
    .run = sdf_run,
};
