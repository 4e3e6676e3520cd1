/* params.h — a model's parameters in one contiguous buffer.
 *
 * Tensors are declared by name, shape and learning-rate group, then the
 * buffer is allocated once; gradients mirror it.  So an all-reduce is one
 * call, Adam is one loop and a checkpoint is one dataset per tensor.
 */
#ifndef PHIVE_PARAMS_H
#define PHIVE_PARAMS_H

#include <stddef.h>

#include "phive/real.h"

#define PARAM_NAME_MAX 64
#define PARAM_MAX_DIMS 4

typedef struct {
    char name[PARAM_NAME_MAX];
    size_t offset, count;
    int ndim;
    size_t shape[PARAM_MAX_DIMS];
    int group; /* learning-rate group */
} param_tensor;

typedef struct {
    real *values; /* all tensors, back to back */
    real *grads;  /* same layout; backward passes accumulate into it */
    size_t count;
    param_tensor *tensors;
    int n_tensors, capacity;
} param_set;

void params_init(param_set *p);
/* Declare a tensor before params_allocate; returns its index, or -1 (duplicate name, bad shape). */
int params_declare(param_set *p, const char *name, int ndim, const size_t *shape, int group);
/* Allocate zeroed values and gradients for every declared tensor. */
int params_allocate(param_set *p);
/* A zeroed buffer of count reals (free() releases it) for a set's values, gradients or companions
 * (Adam's moments).  Large ones sit on 2 MiB pages where the kernel allows (madvise): feature
 * volumes are read and scattered at random, and 4 KiB pages would miss the TLB on nearly every
 * access. */
real *params_buffer(size_t count);
real *params_values(const param_set *p, int tensor);
real *params_grads(const param_set *p, int tensor);
int params_find(const param_set *p, const char *name); /* index or -1 */
void params_zero_grads(param_set *p);
/* Give tensor t a new shape after allocation (a sparse volume growing at a stage boundary): values,
 * gradients and the n_companions buffers of the same layout (Adam's moments) are reallocated;
 * every other tensor keeps its contents, t keeps its first min(old, new) entries and the rest
 * are zero, as are all gradients.  On failure (err_set) nothing has changed. */
int params_reshape(param_set *p, int t, int ndim, const size_t *shape, real **companions, int n_companions);
void params_free(param_set *p);

#endif
