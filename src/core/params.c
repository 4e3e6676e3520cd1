/* params.c — the named-tensor table over one buffer (see params.h). */
#include "phive/params.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "phive/errors.h"

void params_init(param_set *p) { memset(p, 0, sizeof *p); }

int params_declare(param_set *p, const char *name, int ndim, const size_t *shape, int group)
{
    if (p->values) return err_set("parameter '%s' declared after allocation", name);
    if (ndim < 1 || ndim > PARAM_MAX_DIMS || strlen(name) >= PARAM_NAME_MAX)
        return err_set("parameter '%s': bad name or rank %d", name, ndim);
    if (params_find(p, name) >= 0) return err_set("parameter '%s' declared twice", name);
    if (p->n_tensors == p->capacity) {
        int capacity = p->capacity ? 2 * p->capacity : 16;
        param_tensor *grown = realloc(p->tensors, (size_t)capacity * sizeof *grown);
        if (!grown) return err_set("out of memory declaring parameter '%s'", name);
        p->tensors = grown;
        p->capacity = capacity;
    }
    param_tensor *t = &p->tensors[p->n_tensors];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->ndim = ndim;
    t->count = 1;
    for (int d = 0; d < ndim; ++d) {
        t->shape[d] = shape[d];
        t->count *= shape[d];
    }
    t->offset = p->count;
    t->group = group;
    p->count += t->count;
    return p->n_tensors++;
}

real *params_buffer(size_t count)
{
    const size_t bytes = (count ? count : 1) * sizeof(real), huge = (size_t)2 << 20;
    if (bytes < 4 * huge) return calloc(count ? count : 1, sizeof(real));
    void *buffer = NULL;
    if (posix_memalign(&buffer, huge, bytes)) return NULL;
    madvise(buffer, bytes & ~(huge - 1), MADV_HUGEPAGE); /* a hint: refused, the pages stay small */
    memset(buffer, 0, bytes);
    return buffer;
}

int params_allocate(param_set *p)
{
    p->values = params_buffer(p->count);
    p->grads = params_buffer(p->count);
    if (!p->values || !p->grads) return err_set("out of memory allocating %zu parameters", p->count);
    return 0;
}

real *params_values(const param_set *p, int tensor) { return p->values + p->tensors[tensor].offset; }
real *params_grads(const param_set *p, int tensor) { return p->grads + p->tensors[tensor].offset; }

int params_find(const param_set *p, const char *name)
{
    for (int i = 0; i < p->n_tensors; ++i)
        if (!strcmp(p->tensors[i].name, name)) return i;
    return -1;
}

void params_zero_grads(param_set *p) { memset(p->grads, 0, p->count * sizeof(real)); }

/* new_buffer (layout of the tensors at new offsets) from old (old offsets), tensor t truncated or zero-padded. */
static void relayout(const param_set *p, const size_t *old_offset, const real *old, real *fresh, int t, size_t t_old_count)
{
    for (int i = 0; i < p->n_tensors; ++i) {
        const param_tensor *x = &p->tensors[i];
        size_t keep = i == t ? (t_old_count < x->count ? t_old_count : x->count) : x->count;
        memcpy(fresh + x->offset, old + old_offset[i], keep * sizeof(real));
    }
}

int params_reshape(param_set *p, int t, int ndim, const size_t *shape, real **companions, int n_companions)
{
    if (t < 0 || t >= p->n_tensors || ndim < 1 || ndim > PARAM_MAX_DIMS)
        return err_set("parameter reshape: bad tensor %d or rank %d", t, ndim);
    size_t count = 1;
    for (int d = 0; d < ndim; ++d) count *= shape[d];
    size_t *old_offset = malloc((size_t)p->n_tensors * sizeof *old_offset);
    real *fresh[2 + 8] = {NULL};
    const int n_buffers = 1 + n_companions; /* values and companions; gradients start at zero */
    if (!old_offset || n_companions > 8) {
        free(old_offset);
        return err_set("parameter reshape: out of memory");
    }
    const size_t new_total = p->count - p->tensors[t].count + count;
    int failed = 0;
    for (int b = 0; b <= n_buffers; ++b) failed |= !(fresh[b] = params_buffer(new_total));
    if (failed) {
        for (int b = 0; b <= n_buffers; ++b) free(fresh[b]);
        free(old_offset);
        return err_set("out of memory growing parameter '%s' to %zu values", p->tensors[t].name, count);
    }
    const size_t old_count = p->tensors[t].count;
    size_t offset = 0;
    for (int i = 0; i < p->n_tensors; ++i) {
        param_tensor *x = &p->tensors[i];
        old_offset[i] = x->offset;
        if (i == t) {
            x->ndim = ndim;
            for (int d = 0; d < PARAM_MAX_DIMS; ++d) x->shape[d] = d < ndim ? shape[d] : 0;
            x->count = count;
        }
        x->offset = offset;
        offset += x->count;
    }
    relayout(p, old_offset, p->values, fresh[0], t, old_count);
    for (int c = 0; c < n_companions; ++c) relayout(p, old_offset, companions[c], fresh[1 + c], t, old_count);
    free(p->values), free(p->grads);
    p->values = fresh[0];
    p->grads = fresh[n_buffers];
    for (int c = 0; c < n_companions; ++c) {
        free(companions[c]);
        companions[c] = fresh[1 + c];
    }
    p->count = new_total;
    free(old_offset);
    return 0;
}

void params_free(param_set *p)
{
    free(p->values);
    free(p->grads);
    free(p->tensors);
    params_init(p);
}
