/* sft_fixture.h — an sft job's context and problem without the runner, for tests and
 * benchmarks: the config validated against the sft schema, one MPI rank as its group, the CPU
 * backend.  MPI and PETSc must be started (petsc_fixture.h). */
#ifndef PHIVE_TEST_SFT_FIXTURE_H
#define PHIVE_TEST_SFT_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/backend.h"
#include "phive/config.h"
#include "phive/errors.h"
#include "phive/sft.h"

typedef struct {
    config *cfg;
    dist_ctx dist;
    backend backend;
    job_ctx ctx;
    sft_problem problem;
} sft_fixture;

/* ini: the config text (job.type = sft is added); base_dir resolves relative includes. */
static int sft_fixture_open(sft_fixture *fx, const char *ini, int threads)
{
    memset(fx, 0, sizeof *fx);
    const cfg_spec *const schemas[] = {job_common_schema, sft_job.schema, NULL};
    char text[8192];
    snprintf(text, sizeof text, "[job]\ntype = sft\n%s", ini);
    fx->cfg = config_new();
    if (!fx->cfg || config_load_string(fx->cfg, text, "sft fixture", NULL) || config_validate(fx->cfg, schemas) ||
        dist_init(NULL, NULL, &fx->dist) || dist_make_groups(&fx->dist, 1) ||
        backend_init(&fx->backend, "cpu", 0, 1, threads))
        return -1;
    fx->ctx.cfg = fx->cfg;
    fx->ctx.dist = &fx->dist;
    fx->ctx.backend = &fx->backend;
    fx->ctx.id = "fixture";
    fx->ctx.dir = ".";
    return sft_problem_setup(&fx->problem, &fx->ctx);
}

static void sft_fixture_close(sft_fixture *fx)
{
    sft_problem_free(&fx->problem);
    job_ctx_free(&fx->ctx);
    config_free(fx->cfg);
}

#endif
