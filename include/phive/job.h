/* job.h — what a job type implements and what the runner gives it.
 *
 * A job is one reconstruction (or evaluation): a job type + an effective
 * config.  The runner (src/cli) creates the job directory, calls
 * type->run() on every rank of the job's group, and writes result.h5 from
 * what the job left in the context: per-iteration series, final metrics
 * and output arrays.  A job checkpoints through ckpt.h and polls
 * job_should_stop() once per iteration; when it returns 1 the job saves its
 * checkpoint and returns JOB_INTERRUPTED.
 */
#ifndef PHIVE_JOB_H
#define PHIVE_JOB_H

#include <stddef.h>

#include "phive/backend.h"
#include "phive/ckpt.h"
#include "phive/config.h"
#include "phive/dist.h"
#include "phive/metrics.h"

enum job_status { JOB_COMPLETE = 0, JOB_INTERRUPTED = 1 }; /* run() returns these, or -1 (failed, err_set) */

typedef struct {
    char name[128];
    float *data;
    int ndim;
    size_t dims[4];
} job_output;

typedef struct job_ctx {
    const config *cfg;
    dist_ctx *dist;
    const backend *backend;
    const char *id;
    const char *dir;     /* <out>/<id>, exists and is writable */
    metrics series;      /* per-iteration series -> /metrics */
    metrics final;       /* final metrics -> /final (attributes) */
    job_output *outputs; /* arrays -> /outputs */
    int n_outputs;
} job_ctx;

typedef struct {
    const char *name;
    const char *summary;
    const cfg_spec *schema; /* the type's own keys (the runner adds the common [job] and [run] keys) */
    int (*run)(job_ctx *ctx);
} job_type;

/* The common keys every job has: [job] type/name/seed, [run] device/threads/checkpoint_every/log_every. */
extern const cfg_spec job_common_schema[];

/* Keep a copy of an output array for result.h5 (group rank 0 only needs to call it). */
int job_output_f32(job_ctx *ctx, const char *name, const float *data, int ndim, const size_t *dims);
/* 1 when a stop signal reached any rank of the group (collective over the group). */
int job_should_stop(const job_ctx *ctx);
/* The job's ckpt.h5 (ckpt.h): parameters, Adam (may be NULL), RNG (may be NULL), the metric
 * series and the config hash.  Save: the group leader writes it, `iterations` completed.
 * Resume (collective over the group): the first iteration to run, 0 without a checkpoint, or −1
 * (err_set) when any rank could not load it. */
int job_checkpoint_save(job_ctx *ctx, param_set *params, adam *opt, rng_t *rng, long iterations);
/* The same with the model's structure arrays (ckpt.h: sparse volumes' bricks). */
int job_checkpoint_save_structure(job_ctx *ctx, param_set *params, adam *opt, rng_t *rng, long iterations,
                                  const ckpt_array *structure, int n_structure);
long job_checkpoint_resume(job_ctx *ctx, param_set *params, adam *opt, rng_t *rng);
/* Path of a file inside the job directory. */
void job_path(const job_ctx *ctx, const char *file, char *out, size_t size);
void job_ctx_free(job_ctx *ctx);

/* Signals: SIGUSR1/SIGTERM set a flag that job_should_stop() reads. Install after PetscInitialize. */
void signals_install(void);
int signals_stop_requested(void);

#endif
