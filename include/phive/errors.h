/* errors.h — error reporting contract shared by every module.
 *
 * Library functions return an int status: 0 on success, -1 on failure.  On
 * failure they first record one human-readable message with err_set(); the
 * caller (ultimately the CLI or the job runner) prints it or stores it in
 * result.h5.  Messages name the file, key or value that is wrong.  Library
 * code never calls exit().
 */
#ifndef PHIVE_ERRORS_H
#define PHIVE_ERRORS_H

/* Process exit codes of bin/phive (documented in the README). */
enum phive_exit_code {
    PHIVE_EXIT_OK = 0,       /* every job complete */
    PHIVE_EXIT_FAILED = 1,   /* at least one job failed, or bad input */
    PHIVE_EXIT_USAGE = 2,    /* bad command line */
    PHIVE_EXIT_REQUEUE = 75, /* interrupted by SIGUSR1/SIGTERM after checkpointing: requeue me */
};

/* Record an error message (printf format) and return -1. */
int err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefix the recorded message with more context ("loading x.ini: ..."); returns -1. */
int err_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last recorded message ("" when none). */
const char *err_message(void);
void err_clear(void);

#endif
