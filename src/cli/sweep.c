/* sweep.c — expand a sweep file into validated jobs (see cli.h).
 *
 * A sweep file is INI (libinih):
 *   [sweep]  name, base (config path, relative to the sweep file),
 *            scene_key + scenes (a list: each scene is one value of scene_key),
 *            ranks_per_job (optional)
 *   [set]    section.key = value     applied to every job
 *   [grid]   section.key = v1 v2 ... the Cartesian product over all grid keys
 * Jobs are ordered scene-major, then grid keys in file order, last key fastest,
 * so a job's index and its id (label + hash of the effective config) are stable.
 */
#include <ini.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "phive/errors.h"

#define SWEEP_MAX_KEYS 32
#define SWEEP_MAX_VALUES 256

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
    int ranks_per_job;
    int failed;
} sweep_file;

static int split_values(value_list *list, const char *text, const char *path, const char *key)
{
    char *copy = strdup(text), *save = NULL;
    if (!copy) return err_set("out of memory");
    for (char *v = strtok_r(copy, " \t,", &save); v; v = strtok_r(NULL, " \t,", &save)) {
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
        return split_values(&f->scenes, value, f->path, "sweep.scenes");
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
            status = split_values(g, value, f->path, name);
        }
    } else if (!strcmp(section, "set")) {
        char assignment[4096];
        snprintf(assignment, sizeof assignment, "%s=%s", name, value);
        if (f->set.n_values == SWEEP_MAX_VALUES) status = err_set("%s: too many [set] keys", f->path);
        else f->set.values[f->set.n_values++] = strdup(assignment);
    } else
        status = err_set("%s: unknown section [%s] (sweep, set, grid)", f->path, section);
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
    return 0;
}

/* Last component of "section.key" ("train.lr" -> "lr") for readable labels. */
static const char *short_key(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

static int make_job(const sweep_file *f, const char *scene, const int *choice, job_spec *job)
{
    char label[JOB_ID_MAX], origin[4200];
    snprintf(origin, sizeof origin, "%s", f->path);
    config *cfg = config_new();
    if (!cfg) return err_set("out of memory");
    int status = config_load_file(cfg, f->base);
    for (int i = 0; !status && i < f->set.n_values; ++i) status = config_apply_override(cfg, f->set.values[i], origin);
    if (!status && scene) status = config_set(cfg, f->scene_key, scene, origin);
    int used = snprintf(label, sizeof label, "%s%s%s", f->name, scene ? "-" : "", scene ? scene : "");
    for (int k = 0; !status && k < f->n_grid; ++k) {
        const char *value = f->grid[k].values[choice[k]];
        status = config_set(cfg, f->grid[k].key, value, origin);
        if (used < (int)sizeof label)
            used += snprintf(label + used, sizeof label - used, "%s%s=%s", k ? "_" : "-", short_key(f->grid[k].key), value);
    }
    label[JOB_ID_MAX - 12] = '\0'; /* leave room for the hash */
    if (status) {
        config_free(cfg);
        return -1;
    }
    if (job_spec_make(job, cfg, label, origin) == 0) return 0;
    job_spec_free(job); /* the spec owns cfg from the start */
    return err_context("%s: job '%s'", f->path, label);
}

static int expand(sweep *s, const sweep_file *f)
{
    long per_scene = 1;
    for (int k = 0; k < f->n_grid; ++k) per_scene *= f->grid[k].n_values;
    int n_scenes = f->scenes_given ? f->scenes.n_values : 1;
    long total = per_scene * n_scenes;
    if (total == 0) {
        const char *empty = "sweep.scenes";
        for (int k = 0; k < f->n_grid; ++k)
            if (!f->grid[k].n_values) empty = f->grid[k].key;
        return err_set("%s: the sweep expands to zero jobs (%s lists no values)", f->path, empty);
    }
    if (total > 1000000) return err_set("%s: expands to %ld jobs (limit 1000000)", f->path, total);
    s->jobs = calloc((size_t)total, sizeof *s->jobs);
    if (!s->jobs) return err_set("out of memory for %ld jobs", total);
    for (long j = 0; j < total; ++j) {
        int choice[SWEEP_MAX_KEYS];
        long rest = j % per_scene;
        for (int k = f->n_grid - 1; k >= 0; --k) {
            choice[k] = (int)(rest % f->grid[k].n_values);
            rest /= f->grid[k].n_values;
        }
        const char *scene = f->scenes_given ? f->scenes.values[j / per_scene] : NULL;
        if (make_job(f, scene, choice, &s->jobs[j])) return -1;
        s->n_jobs++;
        for (long other = 0; other < j; ++other)
            if (!strcmp(s->jobs[other].id, s->jobs[j].id))
                return err_set("%s: jobs %ld and %ld have the same effective config (%s)", f->path, other, j, s->jobs[j].id);
    }
    return 0;
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
