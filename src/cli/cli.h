/* cli.h — the subcommands and the pieces they share (cli module, internal).
 *
 * job_runner: validate a config into a runnable job, name it, run it on a
 * group and write result.h5.  sweep: expand a sweep file into jobs.
 * report: summary.{csv,md,h5} and per-metric tables from the result.h5 files
 * under a directory.
 */
#ifndef PHIVE_CLI_H
#define PHIVE_CLI_H

#include <stddef.h>

#include "phive/backend.h"
#include "phive/config.h"
#include "phive/dist.h"
#include "phive/job.h"

#define PHIVE_VERSION "0.1.0"
#define JOB_ID_MAX 160

typedef struct {
    const job_type *type;
    config *cfg;          /* validated effective config (owned) */
    char id[JOB_ID_MAX];  /* <label>-<hash8> */
    /* Where a sweep put the job, recorded in result.h5 for the report's tables:
     * its index in the sweep (-1 outside a sweep), its scene value and its
     * variant and grid values ("" when the sweep has none; owned). */
    long sweep_index;
    char *scene, *variant;
} job_spec;

/* The registry of job types (NULL-terminated). */
const job_type *const *job_types(void);
const job_type *job_type_find(const char *name);

/* Validate cfg (common + its job type's schema) and name the job, outside any sweep; takes ownership of cfg. */
int job_spec_make(job_spec *job, config *cfg, const char *label, const char *origin);
void job_spec_free(job_spec *job);

enum run_outcome { RUN_COMPLETE, RUN_SKIPPED, RUN_FAILED, RUN_INTERRUPTED };
/* Run one job on the calling group (collective over d->group); writes <out>/<id>/result.h5. */
enum run_outcome job_execute(const job_spec *job, dist_ctx *d, const backend *b, const char *out_dir, int force);
/* 1 when <dir>/result.h5 exists and records status "complete". */
int job_is_complete(const char *job_dir);
/* Create a directory and its parents; error naming it when it cannot be created or written. */
int make_writable_dir(const char *path);

typedef struct {
    char name[64];
    job_spec *jobs;
    int n_jobs;
    int ranks_per_job; /* from the sweep file, 0 = not set */
} sweep;

/* Expand and validate every job of a sweep file. */
int sweep_load(sweep *s, const char *path);
void sweep_free(sweep *s);

/* Write summary.{csv,md,h5} for the job directories under out_dir, and table_<metric>.{md,csv}
 * (scenes x variants) when the jobs came from a sweep. */
int report_write(const char *out_dir);
/* report_plot.c: plot_<series>.svg in dir for every series with iterations (name, name_iteration)
 * of the n result files at paths, a line per file labelled labels[i]. */
int report_write_plots(const char *dir, const char *const *paths, const char *const *labels, int n);

int cmd_run(int argc, char **argv, dist_ctx *d);
int cmd_simulate(int argc, char **argv, dist_ctx *d);
int cmd_synth(int argc, char **argv, dist_ctx *d);
int cmd_eval(int argc, char **argv, dist_ctx *d);
int cmd_sweep(int argc, char **argv, dist_ctx *d);
int cmd_report(int argc, char **argv, dist_ctx *d);
int cmd_info(int argc, char **argv, dist_ctx *d);
int cmd_render(int argc, char **argv, dist_ctx *d);
/* phive mesh JOB_DIR [--resolution N] [--out FILE] [--force] (nsr.h: neus_mesh_export). */
int cmd_mesh(int argc, char **argv, dist_ctx *d);

#endif
