/* opt.h — Adam with parameter groups and learning-rate schedules.
 *
 * Shared by both methods.  Each learning-rate group (param_tensor.group)
 * has its own schedule: constant, linear warm-up then cosine to a final
 * fraction (NeuS), or exponential decay to a final fraction (HIVE).  The
 * moments and the step count are the optimizer state that checkpoints keep.
 */
#ifndef PHIVE_OPT_H
#define PHIVE_OPT_H

#include "phive/params.h"
#include "phive/real.h"

typedef enum { SCHEDULE_CONSTANT, SCHEDULE_WARMUP_COSINE, SCHEDULE_EXP_DECAY } schedule_kind;

typedef struct {
    schedule_kind kind;
    double lr;             /* base learning rate */
    long warmup;           /* linear warm-up steps (warmup_cosine) */
    long total;            /* steps over which the schedule runs */
    double final_fraction; /* lr at step `total` = lr · final_fraction */
} lr_schedule;

/* Parse "constant", "cosine" or "exp" (NULL kind on error). */
int schedule_kind_parse(const char *name, schedule_kind *kind);
double schedule_lr(const lr_schedule *s, long step);

#define ADAM_MAX_GROUPS 32

typedef struct {
    double beta1, beta2, eps;
    lr_schedule groups[ADAM_MAX_GROUPS];
    int n_groups;
    real *m, *v;  /* moments, the layout of the param_set */
    size_t count;
    long step;    /* updates done */
} adam;

int adam_init(adam *opt, const param_set *p, double beta1, double beta2, double eps);
/* Set the schedule of group g (groups without one keep lr 0: frozen). */
int adam_set_group(adam *opt, int group, lr_schedule schedule);
/* One update of every tensor from p->grads (host memory). */
int adam_step(adam *opt, param_set *p);
/* params_reshape of tensor t that carries Adam's moments along (opt may be NULL: parameters only). */
int adam_reshape(adam *opt, param_set *p, int t, int ndim, const size_t *shape);
void adam_free(adam *opt);

#endif
