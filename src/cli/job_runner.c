/* job_runner.c — from a config to a finished job directory (see cli.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "phive/errors.h"
#include "phive/h5io.h"
#include "phive/log.h"
#include "phive/cloth.h"
#include "phive/eval.h"
#include "phive/nsr.h"
#include "phive/sft.h"
#include "phive/synth.h"
#include "phive/synth_scene.h"

static const job_type *const registry[] = {&nsr_sdf_job, &nsr_neus_job, &eval_sft_job, &eval_dtu_job, &eval_epfl_job,
                                            &eval_bmvs_job, &eval_clean_job, &cloth_simulate_job, &sft_job,
                                            &synth_cloth_job, &synth_scene_job, NULL};

const job_type *const *job_types(void) { return registry; }

const job_type *job_type_find(const char *name)
{
    for (int i = 0; registry[i]; ++i)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

static int unknown_type(const char *name, const char *origin)
{
    const char *best = NULL;
    int best_distance = 1 << 30;
    for (int i = 0; registry[i]; ++i) {
        int distance = config_edit_distance(name, registry[i]->name);
        if (distance < best_distance) best_distance = distance, best = registry[i]->name;
    }
    return err_set("%s: unknown job.type '%s'%s%s%s", origin, name, best ? " (did you mean '" : "", best ? best : "",
                   best ? "'?)" : "");
}

/* Job ids keep letters, digits and . _ = - ; anything else becomes '_'. */
static void sanitize(char *s)
{
    for (; *s; ++s)
        if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') || ('0' <= *s && *s <= '9') || strchr("._=-", *s)))
            *s = '_';
}

int job_spec_make(job_spec *job, config *cfg, const char *label, const char *origin)
{
    memset(job, 0, sizeof *job);
    job->cfg = cfg;
    job->sweep_index = -1;
    const char *type_name = config_lookup(cfg, "job.type");
    if (!type_name) return err_set("%s: missing job.type (one of the types `phive info` lists)", origin);
    if (!(job->type = job_type_find(type_name))) return unknown_type(type_name, origin);
    const cfg_spec *schemas[] = {job_common_schema, job->type->schema, NULL};
    if (config_validate(cfg, schemas)) return -1;
    char name[JOB_ID_MAX - 10];
    snprintf(name, sizeof name, "%s", label ? label : config_str(cfg, "job.name"));
    sanitize(name);
    snprintf(job->id, sizeof job->id, "%s-%08" PRIx32, name, (uint32_t)(config_hash(cfg) >> 32));
    return 0;
}

void job_spec_free(job_spec *job)
{
    config_free(job->cfg);
    free(job->scene);
    free(job->variant);
    job->cfg = NULL;
    job->scene = job->variant = NULL;
}

int make_writable_dir(const char *path)
{
    char partial[4096];
    if (snprintf(partial, sizeof partial, "%s", path) >= (int)sizeof partial) return err_set("path too long: %s", path);
    for (char *p = partial + 1; *p; ++p) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(partial, 0775) && errno != EEXIST) return err_set("cannot create directory %s: %s", partial, strerror(errno));
        *p = '/';
    }
    if (mkdir(partial, 0775) && errno != EEXIST) return err_set("cannot create directory %s: %s", partial, strerror(errno));
    if (access(partial, W_OK | X_OK)) return err_set("output directory %s is not writable: %s", partial, strerror(errno));
    return 0;
}

int job_is_complete(const char *job_dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/result.h5", job_dir);
    if (access(path, R_OK)) return 0;
    hid_t file;
    if (h5_open_read(path, &file)) return 0;
    char *status = NULL;
    int complete = !h5_attr_read_str(file, ".", "status", &status) && !strcmp(status, "complete");
    free(status);
    h5_close(file);
    err_clear();
    return complete;
}

static void iso_time(char *out, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int write_config_key(const char *key, const char *value, void *file)
{
    return h5_attr_write_str(*(hid_t *)file, "config", key, value);
}

/* /config holds one string attribute per "section.key", next to the full text in the root's `config`. */
static int write_config(hid_t file, const config *cfg, const char *dump)
{
    return h5_attr_write_str(file, ".", "config", dump) || config_foreach(cfg, write_config_key, &file) ? -1 : 0;
}

/* A sweep job's scene and variant, which `phive report` pivots its tables on. */
static int write_sweep_place(hid_t file, const job_spec *job)
{
    if (job->sweep_index < 0) return 0;
    int status = h5_attr_write_i64(file, ".", "sweep_index", job->sweep_index) ||
                 h5_attr_write_str(file, ".", "sweep_scene", job->scene) ||
                 h5_attr_write_str(file, ".", "sweep_variant", job->variant);
    return status ? -1 : 0;
}

static int write_result_body(hid_t file, const job_spec *job, const job_ctx *ctx, const char *status_text,
                             const char *error, double seconds, const backend *b)
{
    char *dump = config_dump(job->cfg), hash[32], when[32], device[512];
    snprintf(hash, sizeof hash, "%016" PRIx64, config_hash(job->cfg));
    iso_time(when, sizeof when);
    backend_describe(b, device, sizeof device);
    int status = !dump || h5_attr_write_str(file, ".", "job_id", job->id) ||
                 h5_attr_write_str(file, ".", "job_type", job->type->name) ||
                 h5_attr_write_str(file, ".", "status", status_text) || h5_attr_write_str(file, ".", "error", error) ||
                 h5_attr_write_str(file, ".", "config_hash", hash) ||
                 h5_attr_write_str(file, ".", "phive_version", PHIVE_VERSION) ||
                 h5_attr_write_str(file, ".", "finished", when) || h5_attr_write_str(file, ".", "backend", device) ||
                 h5_attr_write_str(file, ".", "real_type", PHIVE_REAL_NAME) ||
                 h5_attr_write_i64(file, ".", "ranks", ctx->dist->group_size) ||
                 h5_attr_write_i64(file, ".", "group", ctx->dist->group_index) ||
                 h5_attr_write_f64(file, ".", "wall_seconds", seconds) || write_sweep_place(file, job) ||
                 write_config(file, job->cfg, dump);
    free(dump);
    for (int i = 0; !status && i < ctx->series.n; ++i) {
        const metric_series *m = &ctx->series.series[i];
        char path[128];
        size_t dims[1] = {m->n};
        snprintf(path, sizeof path, "metrics/%s", m->name);
        status = h5_write_f64(file, path, m->values, 1, dims);
    }
    for (int i = 0; !status && i < ctx->final.n; ++i)
        status = h5_attr_write_f64(file, "final", ctx->final.series[i].name, ctx->final.series[i].values[0]);
    for (int i = 0; !status && i < ctx->n_outputs; ++i) {
        const job_output *o = &ctx->outputs[i];
        char path[160];
        snprintf(path, sizeof path, "outputs/%s", o->name);
        status = h5_write_f32(file, path, o->data, o->ndim, o->dims);
    }
    return status ? -1 : 0;
}

static int write_result(const job_spec *job, const job_ctx *ctx, const char *status_text, const char *error,
                        double seconds, const backend *b)
{
    char path[4200];
    job_path(ctx, "result.h5", path, sizeof path);
    h5_writer w;
    if (h5w_create(&w, path)) return -1;
    if (write_result_body(w.file, job, ctx, status_text, error, seconds, b)) {
        h5w_abort(&w);
        return err_context("writing %s", path);
    }
    return h5w_commit(&w);
}

/* The first failing rank's message, known to every rank of the group. */
static void agree_on_error(const dist_ctx *d, int failed, char *message, size_t size)
{
    int mine = failed ? d->group_rank : d->group_size, first = mine;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, d->group);
    if (first == d->group_size) return;
    if (d->group_rank == first) snprintf(message, size, "%s", err_message());
    MPI_Bcast(message, (int)size, MPI_CHAR, first, d->group);
}

enum run_outcome job_execute(const job_spec *job, dist_ctx *d, const backend *b, const char *out_dir, int force)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", out_dir, job->id);
    int leader = d->group_rank == 0;
    int skip = leader && !force && job_is_complete(dir);
    MPI_Bcast(&skip, 1, MPI_INT, 0, d->group);
    if (skip) {
        if (leader) log_info("%s: complete, skipped", job->id);
        return RUN_SKIPPED;
    }
    char error[2048] = "";
    int dir_failed = leader && make_writable_dir(dir);
    agree_on_error(d, dir_failed, error, sizeof error);
    if (error[0]) {
        if (leader) log_error("%s: %s", job->id, error);
        return RUN_FAILED; /* nowhere to record it: the directory itself is the problem */
    }
    if (leader) {
        char *dump = config_dump(job->cfg);
        log_info("%s: %s job on %d rank%s, effective config:\n%s", job->id, job->type->name, d->group_size,
                 d->group_size == 1 ? "" : "s", dump ? dump : "");
        free(dump);
    }
    job_ctx ctx = {.cfg = job->cfg, .dist = d, .backend = b, .id = job->id, .dir = dir};
    double start = wall_time();
    err_clear();
    int status = job->type->run(&ctx);
    int interrupted = dist_group_max(d, status == JOB_INTERRUPTED);
    agree_on_error(d, status < 0, error, sizeof error);
    enum run_outcome outcome = error[0] ? RUN_FAILED : interrupted ? RUN_INTERRUPTED : RUN_COMPLETE;
    /* a failed rerun (--force) records nothing over an earlier complete result */
    int keep = leader && outcome == RUN_FAILED && job_is_complete(dir);
    if (keep) log_error("%s: failed: %s (the earlier complete result.h5 is kept)", job->id, error);
    if (leader && outcome != RUN_INTERRUPTED && !keep) {
        const char *text = outcome == RUN_FAILED ? "failed" : "complete";
        if (write_result(job, &ctx, text, error, wall_time() - start, b)) {
            log_error("%s: %s", job->id, err_message());
            outcome = RUN_FAILED;
        }
        if (outcome == RUN_FAILED) log_error("%s: failed: %s", job->id, error[0] ? error : err_message());
        else log_info("%s: complete in %.1f s", job->id, wall_time() - start);
    }
    if (leader && outcome == RUN_INTERRUPTED) log_info("%s: interrupted; its checkpoint will resume it", job->id);
    MPI_Bcast(&outcome, 1, MPI_INT, 0, d->group);
    job_ctx_free(&ctx);
    return outcome;
}
