/* log.h — rank-tagged messages and the per-job progress line.
 *
 * Messages go to stderr as "[phive r3] text".  log_init() sets the rank tag
 * and verbosity once per process (PHIVE_LOG=debug|info|warn|quiet in the
 * environment overrides the default 'info').  The progress line is shown only
 * when stderr is a terminal; on a log file, a plain line every `every`
 * iterations is written instead so batch logs stay readable.
 */
#ifndef PHIVE_LOG_H
#define PHIVE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_QUIET = 4 };

void log_init(int world_rank);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

typedef struct {
    const char *job;
    long first, total; /* iterations [first, total) are run by this process */
    long every;        /* plain-line period when stderr is not a terminal */
    double start_time;
    int tty;
} progress;

double wall_time(void); /* seconds, monotonic */
void progress_begin(progress *p, const char *job, long first, long total, long every);
void progress_update(progress *p, long iteration, double loss);
void progress_end(progress *p);

#endif
