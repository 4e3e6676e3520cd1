/* params.c — the named-tensor table over one buffer (see params.h). */
#include "phive/params.h"

#include <stdlib.h>
#include <string.h>

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

int params_allocate(param_set *p)
{
    p->values = calloc(p->count ? p->count : 1, sizeof(real));
    p->grads = calloc(p->count ? p->count : 1, sizeof(real));
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

void params_free(param_set *p)
{
    free(p->values);
    free(p->grads);
    free(p->tensors);
    params_init(p);
}
