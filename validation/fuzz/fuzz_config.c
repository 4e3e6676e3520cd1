/* fuzz_config.c — libFuzzer target for the INI configuration (src/core/config.c).
 *
 * Each input is loaded as INI text, overridden, validated against a small
 * schema and dumped.  Beyond "no crash, no leak" it checks two properties:
 * every failure leaves a message, and the dump of whatever was loaded loads
 * back to the same dump and hash.  Includes resolve in a scratch directory
 * holding three tiny files named "a" (includes "b"), "b" and "c" (includes
 * itself), short enough for the fuzzer to find.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *     validation/fuzz/fuzz_config.c src/core/config.c src/core/errors.c -linih -o fuzz_config
 */
#ifndef _GNU_SOURCE
#define _XOPEN_SOURCE 700 /* mkdtemp */
#endif

#include "phive/config.h"
#include "phive/errors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cfg_spec fuzz_schema[] = {
    {.key = "sdf.width", .type = CFG_INT, .def = NULL, .min = 1, .max = 4096},
    {.key = "sdf.mode", .type = CFG_CHOICE, .def = "exact", .choices = "exact|fast"},
    {.key = "sdf.name", .type = CFG_STRING, .def = ""},
    {.key = "solver.tol", .type = CFG_REAL, .def = "1e-6", .min = 0, .max = 1},
    {.key = "solver.verbose", .type = CFG_BOOL, .def = "no", .min = 1, .max = 0},
    {.key = NULL},
};
static const cfg_spec *const fuzz_schemas[] = {fuzz_schema, NULL};

/* Set once by LLVMFuzzerInitialize; the harness's only state. */
static char include_dir[64];

static void remove_include_dir(void)
{
    const char *names[] = {"a", "b", "c"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", include_dir, names[i]);
        unlink(path);
    }
    rmdir(include_dir);
}

static void write_include(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", include_dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(include_dir, sizeof include_dir, "/tmp/phive_fuzz_config_XXXXXX");
    if (mkdtemp(include_dir) == NULL)
        abort();
    atexit(remove_include_dir);
    write_include("a", "[sdf]\nwidth = 32\ninclude = b\nname = from a\n");
    write_include("b", "[solver]\ntol = 0.5\nverbose = on\n[sdf]\nmode = fast\n");
    write_include("c", "[sdf]\ninclude = c\n");
    return 0;
}

/* A broken invariant: crash so that libFuzzer saves the input. */
static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_config: %s (last error: %s)\n", what, err_message());
        abort();
    }
}

/* The dump of c must load back to the same dump and hash. */
static void check_round_trip(const config *c)
{
    char *dump = config_dump(c);
    require(dump != NULL, "config_dump failed");
    config *reloaded = config_new();
    require(config_load_string(reloaded, dump, "dump", NULL) == 0, "dump does not load back");
    char *again = config_dump(reloaded);
    require(again != NULL && strcmp(again, dump) == 0, "dump changes on reload");
    require(config_hash(reloaded) == config_hash(c), "hash changes on reload");
    free(again);
    free(dump);
    config_free(reloaded);
}

/* After validation every getter of the schema must work. */
static void use_getters(const config *c)
{
    require(config_int(c, "sdf.width") >= 1, "sdf.width below its range");
    require(config_str(c, "sdf.mode") != NULL && config_str(c, "sdf.name") != NULL, "missing string");
    double tol = config_real(c, "solver.tol");
    require(tol >= 0 && tol <= 1, "solver.tol outside its range");
    int verbose = config_bool(c, "solver.verbose");
    require(verbose == 0 || verbose == 1, "bool not 0/1");
}

/* Each call must either succeed or leave a message. */
static int checked(int rc)
{
    require(rc == 0 || (rc == -1 && err_message()[0] != '\0'), "failure without a message");
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    config *c = config_new();
    err_clear();
    checked(config_load_string(c, text, "fuzz.ini", include_dir));
    err_clear();
    checked(config_apply_override(c, text, "fuzz override")); /* the input as an assignment */
    checked(config_apply_override(c, "sdf.width=64", "command line"));
    checked(config_apply_override(c, "solver.verbose = yes", "command line"));
    check_round_trip(c);
    err_clear();
    if (checked(config_validate(c, fuzz_schemas)) == 0)
        use_getters(c);
    check_round_trip(c);

    config_free(c);
    free(text);
    return 0;
}
