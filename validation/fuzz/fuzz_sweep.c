/* fuzz_sweep.c — libFuzzer target for sweep files (src/cli/sweep.c).
 *
 * Each input is written as a sweep file next to a valid base config and
 * expanded.  Beyond "no crash, no leak": every failure leaves a message, and
 * every expanded job has a distinct, well-formed id.  Built and run by
 * `make validate` (validation/run_validate.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/cli/cli.h"
#include "phive/errors.h"

static char scratch[64];

static void remove_scratch(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/base.ini", scratch);
    unlink(path);
    snprintf(path, sizeof path, "%s/in.sweep", scratch);
    unlink(path);
    rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(scratch, sizeof scratch, "/tmp/phive_fuzz_sweep_XXXXXX");
    if (!mkdtemp(scratch)) abort();
    atexit(remove_scratch);
    char path[128];
    snprintf(path, sizeof path, "%s/base.ini", scratch);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs("[job]\ntype = sdf\n[train]\niterations = 10\n", f);
    fclose(f);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/in.sweep", scratch);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    err_clear();
    sweep s;
    if (sweep_load(&s, path) != 0) {
        if (!err_message()[0]) abort(); /* a failure must say why */
    } else {
        if (s.n_jobs < 1) abort();
        for (int i = 0; i < s.n_jobs; ++i) {
            if (!s.jobs[i].id[0] || strlen(s.jobs[i].id) >= JOB_ID_MAX) abort();
            for (int j = 0; j < i; ++j)
                if (!strcmp(s.jobs[i].id, s.jobs[j].id)) abort();
        }
    }
    sweep_free(&s);
    return 0;
}
