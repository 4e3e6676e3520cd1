/* errors.c — the per-thread last-error message (see errors.h). */
#include "phive/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[2048];

int err_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

int err_context(const char *fmt, ...)
{
    char prefix[1024], joined[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (snprintf(joined, sizeof joined, "%s: %s", prefix, last_error) < 0) /* truncation is acceptable */
        return -1;
    memcpy(last_error, joined, sizeof last_error);
    return -1;
}

const char *err_message(void) { return last_error; }

void err_clear(void) { last_error[0] = '\0'; }
