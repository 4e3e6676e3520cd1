/* sweep.c — expand a sweep file into validated jobs (see cli.h).
 *
 * A sweep file is INI (libinih):
 *   [sweep]     name, base (config path, relative to the sweep file),
 *               scene_key + scenes (a list: each scene is one value of scene_key),
 *               ranks_per_job (optional)
 *   [set]       section.key = value     applied to every job
 *   [variants]  name = section.key=value ...  a named set of zero or more
 *               space-separated overrides, applied after [set]; every job runs
 *               once per variant.  A variant may not set the scene key or a
 *               grid key, which would silently override it.
 *   [grid]      section.key = v1 v2 ... the Cartesian product over all grid keys
 * Jobs are ordered scene-major, then variants in file order, then grid keys in
 * file order, last key fastest, so a job's index and its id (label + hash of
 * the effective config) are stable.  Labels are <name>-<scene>-<variant>-<grid
 * values>, each part only when the sweep has it.
 */
#include <ini.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "phive/errors.h"

#define SWEEP_MAX_KEYS 32
#define SWEEP_MAX_VALUES 256
#define SWEEP_MAX_VARIANTS 256
#define SWEEP_MAX_JOBS 1000000

typedef struct {
    char key[128];
    char *values[SWEEP_MAX_VALUES];
    int n_values;
} value_list;

typedef struct {
    const char *path;
    char name[64], base[4096], scene_key[128];
    value_list scenes;
    int scenes_given;
    value_list grid[SWEEP_MAX_KEYS];
    int n_grid;
    value_list set; /* `key` unused; values are "section.key=value" */
    value_list *variants; /* `key` is the variant's name; values are "section.key=value" */
    int n_variants;
    int ranks_per_job;
    int failed;
} sweep_file;

static int split_values(value_list *list, const char *text, const char *separators, const char *path, const char *key)
{
    char *copy = strdup(text), *save = NULL;
    if (!copy) return err_set("out of memory");
    for (char *v = strtok_r(copy, separators, &save); v; v = strtok_r(NULL, separators, &save)) {
        if (list->n_values == SWEEP_MAX_VALUES) {
            free(copy);
            return err_set("%s: %s has more than %d values", path, key, SWEEP_MAX_VALUES);
        }
        list->values[list->n_values++] = strdup(v);
    }
    free(copy);
    return 0; /* an empty list is legal here; expand() reports the zero-job sweep */
}

static int sweep_key(sweep_file *f, const char *name, const char *value)
{
    static const char *const keys[] = {"name", "base", "scene_key", "scenes", "ranks_per_job"};
    if (!strcmp(name, "name")) snprintf(f->name, sizeof f->name, "%s", value);
    else if (!strcmp(name, "base")) {
        char *dir_copy = strdup(f->path);
        if (!dir_copy) return err_set("out of memory");
        if (value[0] == '/') snprintf(f->base, sizeof f->base, "%s", value);
        else snprintf(f->base, sizeof f->base, "%s/%s", dirname(dir_copy), value);
        free(dir_copy);
    } else if (!strcmp(name, "scene_key")) snprintf(f->scene_key, sizeof f->scene_key, "%s", value);
    else if (!strcmp(name, "scenes")) {
        f->scenes_given = 1;
        return split_values(&f->scenes, value, " \t,", f->path, "sweep.scenes");
    }
    else if (!strcmp(name, "ranks_per_job")) {
        char *end;
        long n = strtol(value, &end, 10);
        if (*end || n < 1 || n > 1 << 20) return err_set("%s: sweep.ranks_per_job = '%s' is not a positive integer", f->path, value);
        f->ranks_per_job = (int)n;
    } else {
        const char *best = keys[0];
        for (int i = 1; i < 5; ++i)
            if (config_edit_distance(name, keys[i]) < config_edit_distance(name, best)) best = keys[i];
        return err_set("%s: unknown key 'sweep.%s' (did you mean 'sweep.%s'?)", f->path, name, best);
    }
    return 0;
}

/* One [variants] line: a new name and its assignments (split on blanks only, so values may hold commas). */
static int add_variant(sweep_file *f, const char *name, const char *text)
{
    if (!name[0]) return err_set("%s: a [variants] line needs a name before its '='", f->path);
    if (strlen(name) >= sizeof f->variants->key) return err_set("%s: variant name '%s' is too long", f->path, name);
    for (int i = 0; i < f->n_variants; ++i)
        if (!strcmp(f->variants[i].key, name))
            return err_set("%s: variant '%s' is given twice (each variant is one line)", f->path, name);
    if (f->n_variants == SWEEP_MAX_VARIANTS) return err_set("%s: more than %d variants", f->path, SWEEP_MAX_VARIANTS);
    value_list *grown = realloc(f->variants, (size_t)(f->n_variants + 1) * sizeof *grown);
    if (!grown) return err_set("out of memory");
    f->variants = grown;
    value_list *v = &f->variants[f->n_variants++];
    memset(v, 0, sizeof *v);
    snprintf(v->key, sizeof v->key, "%s", name);
    char what[160];
    snprintf(what, sizeof what, "variant '%s'", v->key);
    if (split_values(v, text, " \t", f->path, what)) return -1;
    for (int i = 0; i < v->n_values; ++i)
        if (!strchr(v->values[i], '='))
            return err_set("%s: variant '%s': '%s' is not of the form section.key=value", f->path, name, v->values[i]);
    return 0;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    sweep_file *f = user;
    if (f->failed) return 1;
    int status = 0;
    if (!strcmp(section, "sweep")) status = sweep_key(f, name, value);
    else if (!strcmp(section, "grid")) {
        if (f->n_grid == SWEEP_MAX_KEYS) status = err_set("%s: more than %d grid keys", f->path, SWEEP_MAX_KEYS);
        else {
            value_list *g = &f->grid[f->n_grid++];
            snprintf(g->key, sizeof g->key, "%s", name);
            status = split_values(g, value, " \t,", f->path, name);
        }
    } else if (!strcmp(section, "set")) {
        char assignment[4096];
        snprintf(assignment, sizeof assignment, "%s=%s", name, value);
        if (f->set.n_values == SWEEP_MAX_VALUES) status = err_set("%s: too many [set] keys", f->path);
        else f->set.values[f->set.n_values++] = strdup(assignment);
    } else if (!strcmp(section, "variants"))
        status = add_variant(f, name, value);
    else
        status = err_set("%s: unknown section [%s] (sweep, set, variants, grid)", f->path, section);
    f->failed = status != 0;
    return status == 0;
}

static void free_values(value_list *list)
{
    for (int i = 0; i < list->n_values; ++i) free(list->values[i]);
    list->n_values = 0;
}

static void sweep_file_free(sweep_file *f)
{
    free_values(&f->scenes);
    free_values(&f->set);
    for (int i = 0; i < f->n_grid; ++i) free_values(&f->grid[i]);
    for (int i = 0; i < f->n_variants; ++i) free_values(&f->variants[i]);
    free(f->variants);
}

static int same_key(const char *key, const char *assignment)
{
    size_t length = strcspn(assignment, "=");
    return strlen(key) == length && !strncmp(key, assignment, length);
}

/* The scene and grid values are set after a variant's overrides, so a variant setting one of them would lose. */
static int check_variant_keys(const sweep_file *f)
{
    for (int i = 0; i < f->n_variants; ++i)
        for (int a = 0; a < f->variants[i].n_values; ++a) {
            const char *assignment = f->variants[i].values[a], *axis = NULL;
            if (f->scenes_given && same_key(f->scene_key, assignment)) axis = "sweep.scene_key";
            for (int k = 0; k < f->n_grid && !axis; ++k)
                if (same_key(f->grid[k].key, assignment)) axis = "[grid]";
            if (axis)
                return err_set("%s: variant '%s' sets '%.*s', which %s already varies", f->path, f->variants[i].key,
                               (int)strcspn(assignment, "="), assignment, axis);
        }
    return 0;
}

static int parse_sweep_file(sweep_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    FILE *in = fopen(path, "r");
    if (!in) return err_set("%s: cannot open sweep file", path);
    int line = ini_parse_file(in, on_entry, f);
    fclose(in);
    if (f->failed) return -1;
    if (line > 0) return err_set("%s:%d: malformed line", path, line);
    if (!f->base[0]) return err_set("%s: missing sweep.base (the config every job starts from)", path);
    if (!f->name[0]) snprintf(f->name, sizeof f->name, "sweep");
    if (f->scenes_given && !f->scene_key[0]) return err_set("%s: sweep.scenes needs sweep.scene_key", path);
    return check_variant_keys(f);
}

/* Last component of "section.key" ("train.lr" -> "lr") for readable labels. */
static const char *short_key(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

/* The grid values of one job, "width=16<sep>layers=2" ("" without a grid). */
static void grid_label(const sweep_file *f, const int *choice, const char *sep, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int k = 0; k < f->n_grid && used < size; ++k)
        used += (size_t)snprintf(out + used, size - used, "%s%s=%s", k ? sep : "", short_key(f->grid[k].key),
                                 f->grid[k].values[choice[k]]);
}

/* <name>-<scene>-<variant>-<grid values>, each part only where the sweep has it. */
static void job_label(const sweep_file *f, const char *scene, const value_list *variant, const char *grid, char *label,
                      size_t size)
{
    const char *parts[] = {scene, variant ? variant->key : NULL, grid};
    size_t used = (size_t)snprintf(label, size, "%s", f->name);
    for (int i = 0; i < 3 && used < size; ++i)
        if (parts[i] && parts[i][0]) used += (size_t)snprintf(label + used, size - used, "-%s", parts[i]);
}

static int apply_variant(config *cfg, const sweep_file *f, const value_list *variant)
{
    char origin[4200];
    snprintf(origin, sizeof origin, "%s [variants] %s", f->path, variant->key);
    for (int i = 0; i < variant->n_values; ++i)
        if (config_apply_override(cfg, variant->values[i], origin)) return -1;
    return 0;
}

/* The effective config of one job: base, [set], the variant, the scene, the grid values. */
static config *job_config(const sweep_file *f, const char *scene, const value_list *variant, const int *choice)
{
    config *cfg = config_new();
    if (!cfg) {
        err_set("out of memory");
        return NULL;
    }
    int status = config_load_file(cfg, f->base);
    for (int i = 0; !status && i < f->set.n_values; ++i) status = config_apply_override(cfg, f->set.values[i], f->path);
    if (!status && variant) status = apply_variant(cfg, f, variant);
    if (!status && scene) status = config_set(cfg, f->scene_key, scene, f->path);
    for (int k = 0; !status && k < f->n_grid; ++k)
        status = config_set(cfg, f->grid[k].key, f->grid[k].values[choice[k]], f->path);
    if (!status) return cfg;
    config_free(cfg);
    return NULL;
}

/* Where the sweep put the job, for result.h5 (see job_spec); `variant` reads "<variant> <grid values>". */
static int set_place(job_spec *job, long index, const char *scene, const value_list *variant, const char *grid)
{
    const char *name = variant ? variant->key : "";
    job->sweep_index = index;
    job->scene = strdup(scene ? scene : "");
    if (asprintf(&job->variant, "%s%s%s", name, name[0] && grid[0] ? " " : "", grid) < 0) job->variant = NULL;
    return job->scene && job->variant ? 0 : err_set("out of memory");
}

static int make_job(const sweep_file *f, long index, const char *scene, const value_list *variant, const int *choice,
                    job_spec *job)
{
    char label[JOB_ID_MAX], grid[JOB_ID_MAX];
    config *cfg = job_config(f, scene, variant, choice);
    if (!cfg) return -1;
    grid_label(f, choice, "_", grid, sizeof grid);
    job_label(f, scene, variant, grid, label, sizeof label);
    label[JOB_ID_MAX - 12] = '\0'; /* leave room for the hash */
    if (job_spec_make(job, cfg, label, f->path)) {
        job_spec_free(job); /* the spec owns cfg from the start */
        return err_context("%s: job '%s'", f->path, label);
    }
    grid_label(f, choice, " ", grid, sizeof grid);
    if (!set_place(job, index, scene, variant, grid)) return 0;
    job_spec_free(job);
    return -1;
}

/* Jobs per combination of the lists; the caller has ruled out empty lists, and the count stops
 * growing past the job limit so that it cannot overflow. */
static long count_jobs(const sweep_file *f)
{
    long total = f->scenes_given ? f->scenes.n_values : 1;
    if (f->n_variants) total *= f->n_variants;
    for (int k = 0; k < f->n_grid && total <= SWEEP_MAX_JOBS; ++k) total *= f->grid[k].n_values;
    return total;
}

/* The value index of every grid key for the index'th grid point, last key fastest. */
static void grid_choice(const sweep_file *f, long index, int *choice)
{
    for (int k = f->n_grid - 1; k >= 0; --k) {
        choice[k] = (int)(index % f->grid[k].n_values);
        index /= f->grid[k].n_values;
    }
}

/* Two jobs with one effective config (a variant that changes nothing, say) would do the same work twice. */
static int check_distinct(const sweep *s, const uint64_t *hashes, long j, const char *path)
{
    for (long other = 0; other < j; ++other)
        if (hashes[other] == hashes[j] || !strcmp(s->jobs[other].id, s->jobs[j].id))
            return err_set("%s: jobs %ld and %ld have the same effective config (%s, %s)", path, other, j,
                           s->jobs[other].id, s->jobs[j].id);
    return 0;
}

static int expand(sweep *s, const sweep_file *f)
{
    const char *empty = f->scenes_given && !f->scenes.n_values ? "sweep.scenes" : NULL;
    for (int k = 0; k < f->n_grid; ++k)
        if (!f->grid[k].n_values) empty = f->grid[k].key;
    if (empty) return err_set("%s: the sweep expands to zero jobs (%s lists no values)", f->path, empty);
    long total = count_jobs(f);
    if (total > SWEEP_MAX_JOBS) return err_set("%s: expands to more than %d jobs", f->path, SWEEP_MAX_JOBS);
    long per_variant = 1;
    for (int k = 0; k < f->n_grid; ++k) per_variant *= f->grid[k].n_values;
    long per_scene = per_variant * (f->n_variants ? f->n_variants : 1);
    s->jobs = calloc((size_t)total, sizeof *s->jobs);
    uint64_t *hashes = malloc((size_t)total * sizeof *hashes);
    int status = s->jobs && hashes ? 0 : err_set("out of memory for %ld jobs", total);
    for (long j = 0; !status && j < total; ++j) {
        int choice[SWEEP_MAX_KEYS];
        grid_choice(f, j % per_variant, choice);
        const char *scene = f->scenes_given ? f->scenes.values[j / per_scene] : NULL;
        const value_list *variant = f->n_variants ? &f->variants[j % per_scene / per_variant] : NULL;
        status = make_job(f, j, scene, variant, choice, &s->jobs[j]);
        if (status) break;
        s->n_jobs++;
        hashes[j] = config_hash(s->jobs[j].cfg);
        status = check_distinct(s, hashes, j, f->path);
    }
    free(hashes);
    return status;
}

int sweep_load(sweep *s, const char *path)
{
    memset(s, 0, sizeof *s);
    sweep_file f;
    int status = parse_sweep_file(&f, path);
    if (!status) {
        snprintf(s->name, sizeof s->name, "%s", f.name);
        s->ranks_per_job = f.ranks_per_job;
        status = expand(s, &f);
    }
    sweep_file_free(&f);
    return status;
}

void sweep_free(sweep *s)
{
    for (int i = 0; i < s->n_jobs; ++i) job_spec_free(&s->jobs[i]);
    free(s->jobs);
    memset(s, 0, sizeof *s);
}
