/* test_util.h — scaffolding shared by the unit tests (validation/unit/test_*.c).
 *
 * Header-only (static inline): the Makefile compiles and links each test file
 * on its own.  Include it after <cmocka.h> (and the headers cmocka needs).
 *
 * - Scratch directories: tu_make_scratch() creates "/tmp/phive_<tag>_XXXXXX",
 *   tu_remove_tree() removes one with everything below it.  tu_scratch with
 *   tu_scratch_setup()/tu_scratch_teardown() is the cmocka fixture "a fresh
 *   directory per test" (tu_scratch_setup_size() for a larger fixture that
 *   starts with a tu_scratch).
 * - Small files: tu_write_file()/tu_write_text() and tu_read_file() fail the
 *   test on any I/O error; tu_count_files() counts the visible entries.
 * - Python references: tu_run_python() runs /usr/bin/python3 with the given
 *   arguments through system() (so run the tests from the repository root,
 *   where the scripts are found); it returns system()'s status.
 * - Error messages: assert_error_contains() and assert_error_mentions() check
 *   err_message().
 */
#ifndef PHIVE_TEST_UTIL_H
#define PHIVE_TEST_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phive/errors.h"

#define TU_PYTHON "/usr/bin/python3"

/* ------------------------------------------------------------ directories */

/* mkdtemp "/tmp/phive_<tag>_XXXXXX" into dir; 0, or -1 when it cannot. */
static inline int tu_make_scratch(char *dir, size_t size, const char *tag)
{
    if ((size_t)snprintf(dir, size, "/tmp/phive_%s_XXXXXX", tag) >= size)
        return -1;
    return mkdtemp(dir) != NULL ? 0 : -1;
}

/* Remove dir and everything below it; write permission a test took away
 * from a directory is given back first so its entries can go. */
static inline void tu_remove_tree(const char *dir)
{
    chmod(dir, 0700);
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
                continue;
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                tu_remove_tree(path);
            else
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* dir + "/" + name into out; fails the test when it does not fit. */
static inline void tu_path_in(const char *dir, const char *name, char *out, size_t size)
{
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
        fail_msg("path %s/%s longer than %zu bytes", dir, name, size - 1);
}

/* The temporary name phive's atomic writers use for path: "<path>.tmp.<pid>". */
static inline void tu_writer_tmp_path(const char *path, char *out, size_t size)
{
    if ((size_t)snprintf(out, size, "%s.tmp.%ld", path, (long)getpid()) >= size)
        fail_msg("path %s.tmp.<pid> longer than %zu bytes", path, size - 1);
}

/* How many entries of dir do not start with '.'. */
static inline int tu_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Whether the optional data directory dir is there; says so when it is not. */
static inline int tu_have_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 1;
    printf("skipping the real-data check: %s is not present\n", dir);
    return 0;
}

/* ------------------------------------------------------------ the per-test fixture */

typedef struct {
    char dir[64];
} tu_scratch;

/* cmocka setup: *state becomes a zeroed fixture of `size` bytes whose first
 * member is a tu_scratch, with a fresh directory "/tmp/phive_<tag>_XXXXXX";
 * the recorded error is cleared.  tu_scratch_teardown() frees it. */
static inline int tu_scratch_setup_size(void **state, const char *tag, size_t size)
{
    tu_scratch *s = calloc(1, size);
    if (s == NULL)
        return -1;
    if (tu_make_scratch(s->dir, sizeof s->dir, tag) != 0) {
        free(s);
        return -1;
    }
    err_clear();
    *state = s;
    return 0;
}

static inline int tu_scratch_setup(void **state, const char *tag)
{
    return tu_scratch_setup_size(state, tag, sizeof(tu_scratch));
}

/* For a fixture whose first member is a tu_scratch (pass *state or the
 * fixture): its directory + "/" + name into out. */
static inline void tu_scratch_path(const void *fixture, const char *name, char *out, size_t size)
{
    tu_path_in(((const tu_scratch *)fixture)->dir, name, out, size);
}

static inline int tu_scratch_teardown(void **state)
{
    tu_scratch *s = *state;
    if (s == NULL) /* cmocka tears down after a failed setup too */
        return 0;
    tu_remove_tree(s->dir);
    free(s);
    *state = NULL;
    return 0;
}

/* ------------------------------------------------------------ files */

static inline void tu_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        fail_msg("cannot create %s", path);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

static inline void tu_write_text(const char *path, const char *text) { tu_write_file(path, text, strlen(text)); }

/* The whole file, NUL-terminated (*size excludes the NUL); the caller frees it. */
static inline char *tu_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    char *data = malloc((size_t)n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    data[n] = '\0';
    fclose(f);
    *size = (size_t)n;
    return data;
}

/* ------------------------------------------------------------ python references */

/* system(TU_PYTHON " " args); -1 when the command does not fit its buffer. */
static inline int tu_run_python(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int tu_run_python(const char *fmt, ...)
{
    char command[4096];
    int head = snprintf(command, sizeof command, "%s ", TU_PYTHON);
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(command + head, sizeof command - (size_t)head, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof command - (size_t)head) {
        fprintf(stderr, "python command too long: %s...\n", command);
        return -1;
    }
    return system(command);
}

/* ------------------------------------------------------------ error messages */

static inline void assert_error_contains(const char *needle)
{
    if (strstr(err_message(), needle) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err_message(), needle);
}

/* The message names both (e.g. the file and what is wrong with it). */
static inline void assert_error_mentions(const char *what1, const char *what2)
{
    const char *msg = err_message();
    if (strstr(msg, what1) == NULL || strstr(msg, what2) == NULL)
        fail_msg("error \"%s\" should mention \"%s\" and \"%s\"", msg, what1, what2);
}

#endif
