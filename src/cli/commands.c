/* commands.c — `phive run`, `sweep`, `report`, `mesh`, `info` (see cli.h). */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cli.h"
#include "phive/errors.h"
#include "phive/fileio.h"
#include "phive/log.h"
#include "phive/nsr.h"
#include "phive/petsc_env.h"

/* Print a failure once (world rank 0) and give the exit code for it. */
static int fail(const dist_ctx *d, int code)
{
    if (d->world_rank == 0) log_error("%s", err_message());
    return code;
}

static int parse_int_flag(const char *flag, const char *value, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || *end || v < lo || v > hi) return err_set("%s expects an integer in [%ld, %ld]", flag, lo, hi);
    *out = v;
    return 0;
}

static int exit_code(int failed, int interrupted)
{
    return interrupted ? PHIVE_EXIT_REQUEUE : failed ? PHIVE_EXIT_FAILED : PHIVE_EXIT_OK;
}

/* Pick this rank's device before the groups exist, so dist_make_groups can attach NCCL to it. */
static int start_backend(backend *b, dist_ctx *d, const config *cfg)
{
    if (backend_init(b, config_str(cfg, "run.device"), d->local_rank, d->local_size, (int)config_int(cfg, "run.threads")))
        return -1;
    d->device = b->device;
    return 0;
}

/* Run one validated job on all ranks (one group); takes ownership of cfg. */
static int run_single_job(config *cfg, const char *origin, const char *out, int force, dist_ctx *d)
{
    job_spec job = {0};
    backend b = {0};
    if (job_spec_make(&job, cfg, NULL, origin) || start_backend(&b, d, job.cfg) || dist_make_groups(d, d->world_size)) {
        backend_free(&b);
        job_spec_free(&job);
        return fail(d, PHIVE_EXIT_FAILED);
    }
    enum run_outcome outcome = job_execute(&job, d, &b, out, force);
    job_spec_free(&job);
    backend_free(&b);
    return exit_code(outcome == RUN_FAILED, outcome == RUN_INTERRUPTED);
}

/* Options shared by run and eval; other arguments go to `positional`. */
static int parse_job_args(int argc, char **argv, config *cfg, const char **out, int *force,
                          int (*positional)(config *cfg, const char *arg, void *user), void *user)
{
    for (int i = 0; i < argc; ++i) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) *out = argv[++i];
        else if (!strcmp(argv[i], "--force")) *force = 1;
        else if (argv[i][0] == '-') return err_set("unknown option %s", argv[i]);
        else if (positional(cfg, argv[i], user)) return -1;
    }
    return 0;
}

/* run: the first positional argument is the config file, the rest are overrides. */
static int run_positional(config *cfg, const char *arg, void *user)
{
    const char **path = user;
    if (*path) return config_apply_override(cfg, arg, "command line");
    *path = arg;
    return config_load_file(cfg, arg);
}

/* run, simulate and synth cloth; `type` (may be NULL) is the job type the command runs. */
static int run_command(int argc, char **argv, dist_ctx *d, const char *command, const char *type)
{
    const char *path = NULL, *out = "results";
    int force = 0;
    config *cfg = config_new();
    int status = cfg ? parse_job_args(argc, argv, cfg, &out, &force, run_positional, &path) : err_set("out of memory");
    if (!status && !path)
        status = err_set("usage: phive %s CONFIG [section.key=value ...] [--out DIR] [--force]", command);
    if (!status && type) {
        const char *given = config_lookup(cfg, "job.type");
        if (given && strcmp(given, type))
            status = err_set("%s: job.type is '%s'; phive %s runs %s jobs", path, given, command, type);
        else if (!given) status = config_set(cfg, "job.type", type, command);
    }
    if (status) {
        config_free(cfg);
        return fail(d, path ? PHIVE_EXIT_FAILED : PHIVE_EXIT_USAGE);
    }
    return run_single_job(cfg, path, out, force, d);
}

int cmd_run(int argc, char **argv, dist_ctx *d) { return run_command(argc, argv, d, "run", NULL); }

int cmd_simulate(int argc, char **argv, dist_ctx *d) { return run_command(argc, argv, d, "simulate", "simulate"); }

/* synth: the first argument names what to synthesise: a cloth sequence or a multi-view scene. */
int cmd_synth(int argc, char **argv, dist_ctx *d)
{
    if (argc >= 1 && !strcmp(argv[0], "cloth")) return run_command(argc - 1, argv + 1, d, "synth cloth", "synth_cloth");
    if (argc >= 1 && !strcmp(argv[0], "scene")) return run_command(argc - 1, argv + 1, d, "synth scene", "synth_scene");
    err_set("usage: phive synth cloth|scene CONFIG [section.key=value ...] [--out DIR] [--force]");
    return fail(d, PHIVE_EXIT_USAGE);
}

/* eval: the first positional argument names the protocol, the rest are overrides. */
static int eval_positional(config *cfg, const char *arg, void *user)
{
    const char **protocol = user;
    if (*protocol) return config_apply_override(cfg, arg, "command line");
    *protocol = arg;
    char type[64];
    snprintf(type, sizeof type, "eval_%s", arg);
    return config_set(cfg, "job.type", type, "command line") || config_set(cfg, "job.name", type, "command line");
}

int cmd_eval(int argc, char **argv, dist_ctx *d)
{
    const char *protocol = NULL, *out = "results";
    int force = 0;
    config *cfg = config_new();
    int status = cfg ? parse_job_args(argc, argv, cfg, &out, &force, eval_positional, &protocol) : err_set("out of memory");
    if (!status && !protocol)
        status = err_set("usage: phive eval PROTOCOL [section.key=value ...] [--out DIR] [--force]  (PROTOCOL: sft, dtu, epfl, bmvs, clean)");
    if (status) {
        config_free(cfg);
        return fail(d, PHIVE_EXIT_FAILED);
    }
    return run_single_job(cfg, "command line", out, force, d);
}

typedef struct {
    const char *path, *out;
    long ranks_per_job, array_index, array_count;
    int list_only;
} sweep_args;

static int parse_sweep_args(int argc, char **argv, sweep_args *a)
{
    *a = (sweep_args){.out = "results", .array_index = -1, .array_count = -1};
    for (int i = 0; i < argc; ++i) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--out") && value) a->out = argv[++i];
        else if (!strcmp(argv[i], "--list")) a->list_only = 1;
        else if (!strcmp(argv[i], "--ranks-per-job")) {
            if (parse_int_flag(argv[i], value, 1, 1 << 20, &a->ranks_per_job)) return -1;
            ++i;
        } else if (!strcmp(argv[i], "--array-index")) {
            if (parse_int_flag(argv[i], value, 0, 1 << 30, &a->array_index)) return -1;
            ++i;
        } else if (!strcmp(argv[i], "--array-count")) {
            if (parse_int_flag(argv[i], value, 1, 1 << 30, &a->array_count)) return -1;
            ++i;
        } else if (argv[i][0] == '-' || a->path) return err_set("sweep: unexpected argument %s", argv[i]);
        else a->path = argv[i];
    }
    if (!a->path)
        return err_set("usage: phive sweep FILE [--out DIR] [--ranks-per-job N] [--array-index I --array-count N] [--list]");
    if ((a->array_index < 0) != (a->array_count < 0)) return err_set("--array-index and --array-count go together");
    if (a->array_count > 0 && a->array_index >= a->array_count)
        return err_set("--array-index %ld is not below --array-count %ld", a->array_index, a->array_count);
    return 0;
}

/* The jobs of this array task: indices j with j mod count == index (all jobs without an array). */
static int select_jobs(const sweep *s, const sweep_args *a, int *selected)
{
    int n = 0;
    for (int j = 0; j < s->n_jobs; ++j)
        if (a->array_count < 0 || j % a->array_count == a->array_index) selected[n++] = j;
    return n;
}

/* Groups take jobs from the shared counter until none is left or a stop signal arrives. */
static void run_jobs(const sweep *s, const int *selected, int n, dist_ctx *d, const backend *b, const char *out,
                     int counts[4])
{
    for (;;) {
        if (dist_group_max(d, signals_stop_requested())) {
            counts[RUN_INTERRUPTED]++;
            return;
        }
        long k = dist_counter_next(d);
        if (k >= n) return;
        enum run_outcome outcome = job_execute(&s->jobs[selected[k]], d, b, out, 0);
        counts[outcome]++;
        if (outcome == RUN_INTERRUPTED) return;
    }
}

int cmd_sweep(int argc, char **argv, dist_ctx *d)
{
    sweep_args a;
    sweep s;
    if (parse_sweep_args(argc, argv, &a)) return fail(d, PHIVE_EXIT_USAGE);
    if (sweep_load(&s, a.path)) {
        sweep_free(&s);
        return fail(d, PHIVE_EXIT_FAILED);
    }
    int *selected = malloc((size_t)s.n_jobs * sizeof *selected);
    int n = selected ? select_jobs(&s, &a, selected) : 0;
    if (a.list_only) { /* job ids of this array task, one per line, nothing run */
        for (int k = 0; k < n && d->world_rank == 0; ++k) printf("%s\n", s.jobs[selected[k]].id);
        free(selected);
        sweep_free(&s);
        return PHIVE_EXIT_OK;
    }
    long ranks_per_job = a.ranks_per_job ? a.ranks_per_job : s.ranks_per_job ? s.ranks_per_job : 1;
    int dir_error = d->world_rank == 0 && make_writable_dir(a.out);
    MPI_Bcast(&dir_error, 1, MPI_INT, 0, d->world);
    backend b = {0};
    int status = !selected || dir_error || start_backend(&b, d, s.jobs[0].cfg) ||
                 dist_make_groups(d, (int)ranks_per_job);
    if (status) {
        if (dir_error && d->world_rank != 0) err_set("output directory %s is not usable", a.out);
        backend_free(&b);
        free(selected);
        sweep_free(&s);
        return fail(d, PHIVE_EXIT_FAILED);
    }
    if (d->world_rank == 0)
        log_info("sweep %s: %d of %d jobs, %d group%s of %ld rank%s", s.name, n, s.n_jobs, d->n_groups,
                 d->n_groups == 1 ? "" : "s", ranks_per_job, ranks_per_job == 1 ? "" : "s");
    int counts[4] = {0}, totals[4] = {0};
    dist_counter_open(d);
    run_jobs(&s, selected, n, d, &b, a.out, counts);
    dist_counter_close(d);
    if (d->group_rank != 0) memset(counts, 0, sizeof counts); /* count each job once */
    MPI_Allreduce(counts, totals, 4, MPI_INT, MPI_SUM, d->world);
    int interrupted = totals[RUN_INTERRUPTED] > 0;
    if (d->world_rank == 0) {
        log_info("sweep %s: %d complete, %d skipped, %d failed%s", s.name, totals[RUN_COMPLETE], totals[RUN_SKIPPED],
                 totals[RUN_FAILED], interrupted ? ", interrupted: exiting for requeue" : "");
        if (!interrupted && report_write(a.out)) log_error("%s", err_message());
    }
    free(selected);
    sweep_free(&s);
    backend_free(&b);
    return exit_code(totals[RUN_FAILED] > 0, interrupted);
}

/* DIR/table_<metric>.md to stdout. */
static int print_table(const char *dir, const char *metric)
{
    char path[4200], *text = NULL;
    size_t size = 0;
    snprintf(path, sizeof path, "%s/table_%s.md", dir, metric);
    if (file_read_all(path, &text, &size))
        return err_context("--print %s: no such table (the sweep's final metrics have one each)", metric);
    printf("%s: %s\n%.*s", metric, path, (int)size, text);
    free(text);
    return 0;
}

int cmd_report(int argc, char **argv, dist_ctx *d)
{
    int usage = argc < 1;
    for (int i = 1; i < argc && !usage; i += 2) usage = strcmp(argv[i], "--print") || i + 1 >= argc;
    if (usage) {
        err_set("usage: phive report DIR [--print METRIC ...]");
        return fail(d, PHIVE_EXIT_USAGE);
    }
    int status = d->world_rank == 0 ? report_write(argv[0]) : 0;
    for (int i = 2; i < argc && !status && d->world_rank == 0; i += 2) status = print_table(argv[0], argv[i]);
    MPI_Bcast(&status, 1, MPI_INT, 0, d->world);
    return status ? fail(d, PHIVE_EXIT_FAILED) : PHIVE_EXIT_OK;
}

static int parse_mesh_args(int argc, char **argv, const char **dir, long *resolution, const char **out, int *force)
{
    for (int i = 0; i < argc; ++i) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--resolution")) {
            if (parse_int_flag(argv[i], value, 2, 2048, resolution)) return -1;
            ++i;
        } else if (!strcmp(argv[i], "--out") && value) *out = argv[++i];
        else if (!strcmp(argv[i], "--force")) *force = 1;
        else if (argv[i][0] == '-' || *dir) return err_set("mesh: unexpected argument %s", argv[i]);
        else *dir = argv[i];
    }
    return *dir ? 0 : err_set("usage: phive mesh JOB_DIR [--resolution N] [--out FILE] [--force]");
}

/* mesh: the surface of a neus job's checkpoint; world rank 0 extracts it, the others wait for the outcome. */
int cmd_mesh(int argc, char **argv, dist_ctx *d)
{
    const char *dir = NULL, *out = NULL;
    long resolution = 0;
    int force = 0;
    if (parse_mesh_args(argc, argv, &dir, &resolution, &out, &force)) return fail(d, PHIVE_EXIT_USAGE);
    int status = d->world_rank == 0 ? neus_mesh_export(dir, (int)resolution, out, force) : 0;
    MPI_Bcast(&status, 1, MPI_INT, 0, d->world);
    return status ? fail(d, PHIVE_EXIT_FAILED) : PHIVE_EXIT_OK;
}

static void print_versions(void)
{
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING], petsc[256];
    int length = 0;
    unsigned h5_major, h5_minor, h5_release;
    MPI_Get_library_version(mpi, &length);
    mpi[strcspn(mpi, ",\n")] = '\0';
    H5get_libversion(&h5_major, &h5_minor, &h5_release);
    petsc_version(petsc, sizeof petsc);
    printf("libraries:\n  MPI      %s\n  HDF5     %u.%u.%u\n  PETSc    %s\n  OpenBLAS %s\n", mpi, h5_major, h5_minor,
           h5_release, petsc, openblas_get_config());
    printf("  libspng  %s\n  zlib     %s\n  cJSON    %s\n", spng_version_string(), zlibVersion(), cJSON_Version());
}

int cmd_info(int argc, char **argv, dist_ctx *d)
{
    (void)argc;
    (void)argv;
    backend b;
    if (backend_init(&b, "auto", d->local_rank, d->local_size, 0)) return fail(d, PHIVE_EXIT_FAILED);
    char line[512], host[MPI_MAX_PROCESSOR_NAME];
    int host_length = 0;
    MPI_Get_processor_name(host, &host_length);
    char mine[1024 + MPI_MAX_PROCESSOR_NAME];
    backend_describe(&b, line, sizeof line);
    snprintf(mine, sizeof mine, "rank %d on %s (local rank %d): %s", d->world_rank, host, d->local_rank, line);
    char *all = d->world_rank == 0 ? malloc((size_t)d->world_size * sizeof mine) : NULL;
    MPI_Gather(mine, sizeof mine, MPI_CHAR, all, sizeof mine, MPI_CHAR, 0, d->world);
    if (d->world_rank == 0) {
        printf("phive %s\nbuild: %s, real = %s\nranks: %d\n", PHIVE_VERSION,
               b.cuda_built ? "CUDA (kernels/, cuBLAS, NCCL)" : "CPU only", PHIVE_REAL_NAME, d->world_size);
        for (int r = 0; r < d->world_size; ++r) printf("  %s\n", all + (size_t)r * sizeof mine);
        print_versions();
        printf("job types:\n");
        for (const job_type *const *t = job_types(); *t; ++t) printf("  %-8s %s\n", (*t)->name, (*t)->summary);
    }
    free(all);
    backend_free(&b);
    return PHIVE_EXIT_OK;
}
