/* job.c — the job context helpers and stop signals (see job.h). */
#include "phive/job.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/log.h"

const cfg_spec job_common_schema[] = {
    {"job.type", CFG_STRING, NULL, 0, -1, NULL, "job type (see `phive info`)"},
    {"job.name", CFG_STRING, "job", 0, -1, NULL, "human-readable prefix of the job id"},
    {"job.seed", CFG_INT, "0", 0, 4294967295.0, NULL, "seed of the job's random numbers"},
    {"run.device", CFG_CHOICE, "auto", 0, -1, "auto|cpu|cuda", "where each rank computes"},
    {"run.threads", CFG_INT, "0", 0, 1024, NULL, "CPU threads per rank (0 = cores / ranks on the node)"},
    {"run.checkpoint_every", CFG_INT, "100", 0, 1e9, NULL, "iterations between checkpoints (0 = only on stop)"},
    {"run.log_every", CFG_INT, "50", 1, 1e9, NULL, "iterations between progress lines in logs"},
    {NULL, CFG_STRING, NULL, 0, 0, NULL, NULL},
};

/* Process context: the only mutable global, written by the signal handler. */
static volatile sig_atomic_t stop_requested = 0;

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

void signals_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

int signals_stop_requested(void) { return stop_requested != 0; }

int job_should_stop(const job_ctx *ctx) { return dist_group_max(ctx->dist, signals_stop_requested()); }

int job_output_f32(job_ctx *ctx, const char *name, const float *data, int ndim, const size_t *dims)
{
    if (ndim < 1 || ndim > 4 || strlen(name) >= sizeof ctx->outputs[0].name)
        return err_set("output '%s': bad name or rank", name);
    job_output *grown = realloc(ctx->outputs, (size_t)(ctx->n_outputs + 1) * sizeof *grown);
    if (!grown) return err_set("out of memory for output '%s'", name);
    ctx->outputs = grown;
    job_output *o = &ctx->outputs[ctx->n_outputs];
    memset(o, 0, sizeof *o);
    size_t count = 1;
    for (int d = 0; d < ndim; ++d) count *= (o->dims[d] = dims[d]);
    o->data = malloc(count * sizeof(float));
    if (!o->data) return err_set("out of memory for output '%s'", name);
    memcpy(o->data, data, count * sizeof(float));
    snprintf(o->name, sizeof o->name, "%s", name);
    o->ndim = ndim;
    ctx->n_outputs++;
    return 0;
}

int job_checkpoint_save(job_ctx *ctx, param_set *params, adam *opt, rng_t *rng, long iterations)
{
    return job_checkpoint_save_structure(ctx, params, opt, rng, iterations, NULL, 0);
}

int job_checkpoint_save_structure(job_ctx *ctx, param_set *params, adam *opt, rng_t *rng, long iterations,
                                  const ckpt_array *structure, int n_structure)
{
    if (ctx->dist->group_rank != 0) return 0;
    char path[4200];
    job_path(ctx, "ckpt.h5", path, sizeof path);
    train_state state = {params, opt, rng, iterations, &ctx->series, config_hash(ctx->cfg), structure, n_structure};
    /* the config's text too: tools rebuild the model of a job that has no result.h5 yet */
    char *text = config_dump(ctx->cfg);
    int status = text ? ckpt_save_with_config(path, &state, text) : err_set("out of memory for the config of %s", path);
    free(text);
    return status;
}

static long load_checkpoint(job_ctx *ctx, param_set *params, adam *opt, rng_t *rng)
{
    char path[4200];
    job_path(ctx, "ckpt.h5", path, sizeof path);
    FILE *probe = fopen(path, "rb");
    if (!probe) return 0;
    fclose(probe);
    train_state state = {.params = params, .opt = opt, .rng = rng, .series = &ctx->series, .config_hash = config_hash(ctx->cfg)};
    if (ckpt_load(path, &state)) return -1;
    if (ctx->dist->group_rank == 0) log_info("%s: resuming from %s at iteration %ld", ctx->id, path, state.iteration);
    return state.iteration;
}

long job_checkpoint_resume(job_ctx *ctx, param_set *params, adam *opt, rng_t *rng)
{
    const long first = load_checkpoint(ctx, params, opt, rng);
    /* every rank must agree that the checkpoint loaded before training collectively */
    if (dist_group_max(ctx->dist, first < 0)) return first < 0 ? -1 : err_set("another rank failed to resume");
    return first;
}

void job_path(const job_ctx *ctx, const char *file, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", ctx->dir, file);
}

void job_ctx_free(job_ctx *ctx)
{
    metrics_free(&ctx->series);
    metrics_free(&ctx->final);
    for (int i = 0; i < ctx->n_outputs; ++i) free(ctx->outputs[i].data);
    free(ctx->outputs);
    ctx->outputs = NULL;
    ctx->n_outputs = 0;
}
