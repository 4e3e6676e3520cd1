/* log.c — rank-tagged logging and progress (see log.h). */
#include "phive/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Process context: set once by log_init before any worker thread exists. */
static int log_rank = 0;
static enum log_level log_threshold = LOG_INFO;

static enum log_level level_from_env(void)
{
    const char *name = getenv("PHIVE_LOG");
    if (!name) return LOG_INFO;
    if (!strcmp(name, "debug")) return LOG_DEBUG;
    if (!strcmp(name, "warn")) return LOG_WARN;
    if (!strcmp(name, "quiet")) return LOG_QUIET;
    return LOG_INFO;
}

void log_init(int world_rank)
{
    log_rank = world_rank;
    log_threshold = level_from_env();
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < log_threshold) return;
    static const char *const tags[] = {"debug: ", "", "warning: ", "error: "};
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* one fprintf per message so lines from ranks sharing a log do not interleave */
    fprintf(stderr, "[phive r%d] %s%s\n", log_rank, tags[level], text);
}

double wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_begin(progress *p, const char *job, long first, long total, long every)
{
    p->job = job;
    p->first = first;
    p->total = total;
    p->every = every > 0 ? every : 1;
    p->start_time = wall_time();
    p->tty = isatty(STDERR_FILENO) && log_threshold <= LOG_INFO;
}

static void format_duration(double seconds, char *out, size_t size)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(out, size, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else snprintf(out, size, "%ldm%02lds", s / 60, s % 60);
}

void progress_update(progress *p, long iteration, double loss)
{
    long done = iteration + 1 - p->first;
    int last = iteration + 1 == p->total;
    if (!p->tty && !last && (iteration + 1) % p->every) return;
    double elapsed = wall_time() - p->start_time;
    double rate = elapsed > 0 ? done / elapsed : 0.0;
    char eta[32];
    format_duration(rate > 0 ? (p->total - iteration - 1) / rate : 0.0, eta, sizeof eta);
    if (p->tty)
        fprintf(stderr, "\r[phive r%d] %s  it %ld/%ld  loss %.6g  %.1f it/s  ETA %s\033[K", log_rank,
                p->job, iteration + 1, p->total, loss, rate, eta);
    else if (log_threshold <= LOG_INFO)
        fprintf(stderr, "[phive r%d] %s  it %ld/%ld  loss %.6g  %.1f it/s  ETA %s\n", log_rank, p->job,
                iteration + 1, p->total, loss, rate, eta);
}

void progress_end(progress *p)
{
    if (p->tty) fputc('\n', stderr);
}
