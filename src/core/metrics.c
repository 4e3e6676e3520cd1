/* metrics.c — growable named series (see metrics.h). */
#include "phive/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"

void metrics_init(metrics *m) { memset(m, 0, sizeof *m); }

void metrics_free(metrics *m)
{
    for (int i = 0; i < m->n; ++i) free(m->series[i].values);
    free(m->series);
    metrics_init(m);
}

static metric_series *find_or_add(metrics *m, const char *name)
{
    for (int i = 0; i < m->n; ++i)
        if (!strcmp(m->series[i].name, name)) return &m->series[i];
    if (strlen(name) >= METRIC_NAME_MAX) return NULL;
    if (m->n == m->capacity) {
        int capacity = m->capacity ? 2 * m->capacity : 8;
        metric_series *grown = realloc(m->series, (size_t)capacity * sizeof *grown);
        if (!grown) return NULL;
        m->series = grown;
        m->capacity = capacity;
    }
    metric_series *s = &m->series[m->n++];
    memset(s, 0, sizeof *s);
    strcpy(s->name, name);
    return s;
}

static int reserve(metric_series *s, size_t n)
{
    if (n <= s->capacity) return 0;
    size_t capacity = s->capacity ? s->capacity : 64;
    while (capacity < n) capacity *= 2;
    double *grown = realloc(s->values, capacity * sizeof *grown);
    if (!grown) return err_set("out of memory growing metric '%s'", s->name);
    s->values = grown;
    s->capacity = capacity;
    return 0;
}

int metrics_append(metrics *m, const char *name, double value)
{
    metric_series *s = find_or_add(m, name);
    if (!s) return err_set("cannot add metric '%s'", name);
    if (reserve(s, s->n + 1)) return -1;
    s->values[s->n++] = value;
    return 0;
}

int metrics_assign(metrics *m, const char *name, const double *values, size_t n)
{
    metric_series *s = find_or_add(m, name);
    if (!s) return err_set("cannot add metric '%s'", name);
    if (reserve(s, n)) return -1;
    if (n) memcpy(s->values, values, n * sizeof *values);
    s->n = n;
    return 0;
}

int metrics_set(metrics *m, const char *name, double value) { return metrics_assign(m, name, &value, 1); }

const metric_series *metrics_find(const metrics *m, const char *name)
{
    for (int i = 0; i < m->n; ++i)
        if (!strcmp(m->series[i].name, name)) return &m->series[i];
    return NULL;
}
