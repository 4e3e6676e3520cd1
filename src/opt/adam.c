/* adam.c — Adam over a param_set, one schedule per group (see opt.h). */
#include "phive/opt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adam.h"
#include "phive/errors.h"

int schedule_kind_parse(const char *name, schedule_kind *kind)
{
    if (!strcmp(name, "constant")) *kind = SCHEDULE_CONSTANT;
    else if (!strcmp(name, "cosine")) *kind = SCHEDULE_WARMUP_COSINE;
    else if (!strcmp(name, "exp")) *kind = SCHEDULE_EXP_DECAY;
    else return err_set("unknown learning-rate schedule '%s' (constant, cosine, exp)", name);
    return 0;
}

double schedule_lr(const lr_schedule *s, long step)
{
    double total = s->total > 0 ? (double)s->total : 1.0;
    switch (s->kind) {
    case SCHEDULE_CONSTANT:
        return s->lr;
    case SCHEDULE_WARMUP_COSINE: {
        if (step < s->warmup) return s->lr * (double)step / (double)s->warmup;
        double span = total - (double)s->warmup;
        double progress = span > 0 ? fmin(1.0, ((double)step - (double)s->warmup) / span) : 1.0;
        double alpha = s->final_fraction;
        return s->lr * ((cos(M_PI * progress) + 1.0) * 0.5 * (1.0 - alpha) + alpha);
    }
    case SCHEDULE_EXP_DECAY:
        return s->lr * pow(s->final_fraction, fmin(1.0, (double)step / total));
    }
    return s->lr;
}

int adam_init(adam *opt, const param_set *p, double beta1, double beta2, double eps)
{
    memset(opt, 0, sizeof *opt);
    opt->beta1 = beta1;
    opt->beta2 = beta2;
    opt->eps = eps;
    opt->count = p->count;
    opt->m = params_buffer(p->count);
    opt->v = params_buffer(p->count);
    if (!opt->m || !opt->v) return err_set("out of memory for Adam state of %zu parameters", p->count);
    return 0;
}

int adam_set_group(adam *opt, int group, lr_schedule schedule)
{
    if (group < 0 || group >= ADAM_MAX_GROUPS) return err_set("learning-rate group %d out of range", group);
    opt->groups[group] = schedule;
    if (group >= opt->n_groups) opt->n_groups = group + 1;
    return 0;
}

static adam_coefficients coefficients(const adam *opt, double lr, long t)
{
    adam_coefficients c;
    c.lr = (real)lr;
    c.beta1 = (real)opt->beta1;
    c.beta2 = (real)opt->beta2;
    c.eps = (real)opt->eps;
    c.step_size = (real)(lr / (1.0 - pow(opt->beta1, (double)t)));
    c.inv_sqrt_bc2 = (real)(1.0 / sqrt(1.0 - pow(opt->beta2, (double)t)));
    return c;
}

int adam_reshape(adam *opt, param_set *p, int t, int ndim, const size_t *shape)
{
    real *moments[2] = {opt ? opt->m : NULL, opt ? opt->v : NULL};
    if (params_reshape(p, t, ndim, shape, moments, opt ? 2 : 0)) return -1;
    if (opt) opt->m = moments[0], opt->v = moments[1], opt->count = p->count;
    return 0;
}

int adam_step(adam *opt, param_set *p)
{
    if (p->count != opt->count) return err_set("Adam state has %zu values, parameters %zu", opt->count, p->count);
    long t = opt->step + 1;
    for (int i = 0; i < p->n_tensors; ++i) {
        const param_tensor *tensor = &p->tensors[i];
        if (tensor->group >= opt->n_groups) continue; /* no schedule: frozen */
        adam_coefficients c = coefficients(opt, schedule_lr(&opt->groups[tensor->group], opt->step), t);
        real *values = p->values + tensor->offset, *grads = p->grads + tensor->offset;
        real *m = opt->m + tensor->offset, *v = opt->v + tensor->offset;
        long n = (long)tensor->count;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long j = 0; j < n; ++j) adam_update_element(&values[j], grads[j], &m[j], &v[j], c);
    }
    opt->step = t;
    return 0;
}

void adam_free(adam *opt)
{
    free(opt->m);
    free(opt->v);
    memset(opt, 0, sizeof *opt);
}
