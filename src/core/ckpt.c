/* ckpt.c — checkpoint save/load over h5io (see ckpt.h). */
#include "phive/ckpt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/h5io.h"

#ifdef PHIVE_REAL_DOUBLE
#define h5_write_real h5_write_f64
#define h5_read_real h5_read_f64
#else
#define h5_write_real h5_write_f32
#define h5_read_real h5_read_f32
#endif

static int write_tensors(hid_t file, const char *prefix, const param_set *p, const real *buffer)
{
    char path[256];
    for (int i = 0; i < p->n_tensors; ++i) {
        const param_tensor *t = &p->tensors[i];
        snprintf(path, sizeof path, "%s/%s", prefix, t->name);
        if (h5_write_real(file, path, buffer + t->offset, t->ndim, t->shape)) return -1;
    }
    return 0;
}

static int read_tensors(hid_t file, const char *prefix, const param_set *p, real *buffer)
{
    char path[256];
    for (int i = 0; i < p->n_tensors; ++i) {
        const param_tensor *t = &p->tensors[i];
        snprintf(path, sizeof path, "%s/%s", prefix, t->name);
        if (h5_read_real(file, path, buffer + t->offset, t->count)) return -1;
    }
    return 0;
}

static int write_state(hid_t file, const train_state *s)
{
    char hash[32];
    snprintf(hash, sizeof hash, "%016" PRIx64, s->config_hash);
    if (h5_attr_write_str(file, ".", "config_hash", hash) ||
        h5_attr_write_i64(file, ".", "iteration", s->iteration) ||
        write_tensors(file, "params", s->params, s->params->values))
        return -1;
    if (s->opt && (h5_attr_write_i64(file, ".", "adam_step", s->opt->step) ||
                   write_tensors(file, "adam/m", s->params, s->opt->m) ||
                   write_tensors(file, "adam/v", s->params, s->opt->v)))
        return -1;
    if (s->rng) {
        uint64_t words[2] = {s->rng->key, s->rng->position};
        size_t dims[1] = {2};
        if (h5_write_u64(file, "rng", words, 1, dims)) return -1;
    }
    for (int i = 0; i < s->n_structure; ++i) {
        char path[128];
        size_t dims[1] = {s->structure[i].count};
        snprintf(path, sizeof path, "structure/%s", s->structure[i].name);
        if (h5_write_u64(file, path, s->structure[i].data, 1, dims)) return -1;
    }
    for (int i = 0; s->series && i < s->series->n; ++i) {
        const metric_series *m = &s->series->series[i];
        char path[128];
        size_t dims[1] = {m->n};
        snprintf(path, sizeof path, "metrics/%s", m->name);
        if (h5_write_f64(file, path, m->values, 1, dims)) return -1;
    }
    return 0;
}

int ckpt_save_with_config(const char *path, const train_state *s, const char *config_text)
{
    h5_writer w;
    if (h5w_create(&w, path)) return -1;
    if (write_state(w.file, s) || (config_text && h5_attr_write_str(w.file, ".", "config", config_text))) {
        h5w_abort(&w);
        return -1;
    }
    return h5w_commit(&w);
}

int ckpt_save(const char *path, const train_state *s) { return ckpt_save_with_config(path, s, NULL); }

/* Series are stored by name; every series present in the file is restored. */
static int read_series(hid_t file, const char *path, metrics *series)
{
    hid_t group = H5Gopen2(file, "metrics", H5P_DEFAULT);
    if (group < 0) return 0; /* a checkpoint before any metric */
    H5G_info_t info;
    int status = H5Gget_info(group, &info) < 0 ? err_set("%s: cannot list /metrics", path) : 0;
    for (hsize_t i = 0; status == 0 && i < info.nlinks; ++i) {
        char name[METRIC_NAME_MAX], dataset[METRIC_NAME_MAX + 16];
        if (H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) {
            status = err_set("%s: cannot read /metrics entry %llu", path, (unsigned long long)i);
            break;
        }
        snprintf(dataset, sizeof dataset, "metrics/%s", name);
        size_t n = 0;
        double *values = NULL;
        if (h5_dataset_count(file, dataset, &n) || !(values = malloc((n ? n : 1) * sizeof *values)) ||
            h5_read_f64(file, dataset, values, n) || metrics_assign(series, name, values, n))
            status = -1;
        free(values);
    }
    H5Gclose(group);
    return status;
}

static int read_state(hid_t file, const char *path, train_state *s)
{
    char *hash = NULL, expected[32];
    snprintf(expected, sizeof expected, "%016" PRIx64, s->config_hash);
    if (h5_attr_read_str(file, ".", "config_hash", &hash)) return -1;
    int mismatch = s->config_hash && strcmp(hash, expected);
    free(hash);
    if (mismatch)
        return err_set("%s belongs to another config (hash differs); move it away to start this job afresh", path);
    int64_t iteration = 0, step = 0;
    if (h5_attr_read_i64(file, ".", "iteration", &iteration) || read_tensors(file, "params", s->params, s->params->values))
        return -1;
    s->iteration = (long)iteration;
    if (s->opt && (h5_attr_read_i64(file, ".", "adam_step", &step) || read_tensors(file, "adam/m", s->params, s->opt->m) ||
                   read_tensors(file, "adam/v", s->params, s->opt->v)))
        return -1;
    if (s->opt) s->opt->step = (long)step;
    if (s->rng) {
        uint64_t words[2];
        if (h5_read_u64(file, "rng", words, 2)) return -1;
        s->rng->key = words[0];
        s->rng->position = words[1];
    }
    return s->series ? read_series(file, path, s->series) : 0;
}

int ckpt_load(const char *path, train_state *s)
{
    hid_t file;
    if (h5_open_read(path, &file)) return -1;
    int status = read_state(file, path, s);
    h5_close(file);
    return status ? err_context("loading checkpoint") : 0;
}

int ckpt_read_config(const char *path, char **config_text)
{
    *config_text = NULL;
    hid_t file;
    if (h5_open_read(path, &file)) return -1;
    int status = h5_attr_exists(file, ".", "config") ? h5_attr_read_str(file, ".", "config", config_text) : 0;
    h5_close(file);
    return status ? -1 : 0;
}

int ckpt_read_array(const char *path, const char *name, uint64_t **data, size_t *count)
{
    *data = NULL, *count = 0;
    hid_t file;
    if (h5_open_read(path, &file)) return -1;
    char dataset[128];
    snprintf(dataset, sizeof dataset, "structure/%s", name);
    int status = 0;
    if (h5_exists(file, dataset)) {
        status = h5_dataset_count(file, dataset, count);
        if (!status && !(*data = malloc((*count ? *count : 1) * sizeof **data))) status = err_set("out of memory reading %s", path);
        if (!status) status = h5_read_u64(file, dataset, *data, *count);
        if (status) free(*data), *data = NULL, *count = 0;
    }
    h5_close(file);
    return status ? err_context("%s: /%s", path, dataset) : 0;
}
