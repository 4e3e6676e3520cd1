/* metrics.h — named series of doubles (loss per iteration, timings, ...).
 *
 * A job appends to its series as it runs; the series go to result.h5
 * (/metrics/<name>) and, so that a resumed job's history is whole, to
 * ckpt.h5.  Final metrics are series of length one (metrics_set).
 */
#ifndef PHIVE_METRICS_H
#define PHIVE_METRICS_H

#include <stddef.h>

#define METRIC_NAME_MAX 64

typedef struct {
    char name[METRIC_NAME_MAX];
    double *values;
    size_t n, capacity;
} metric_series;

typedef struct {
    metric_series *series;
    int n, capacity;
} metrics;

void metrics_init(metrics *m);
void metrics_free(metrics *m);
int metrics_append(metrics *m, const char *name, double value);
/* Replace the series `name` by the single value (for final metrics). */
int metrics_set(metrics *m, const char *name, double value);
/* Replace the series `name` by a copy of values[0..n). */
int metrics_assign(metrics *m, const char *name, const double *values, size_t n);
const metric_series *metrics_find(const metrics *m, const char *name);

#endif
