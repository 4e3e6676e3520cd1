/* test_fileio.c — unit tests of the whole-file reader and the atomic writers
 * (src/core/fileio.c).  Each test works in its own mkdtemp directory
 * (test_util.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "phive/errors.h"
#include "phive/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

typedef tu_scratch fixture;

static int setup(void **state) { return tu_scratch_setup(state, "fileio"); }
static int teardown(void **state) { return tu_scratch_teardown(state); }

static void assert_file_holds(const char *path, const char *want)
{
    size_t size;
    char *data = tu_read_file(path, &size);
    assert_int_equal(size, strlen(want));
    assert_memory_equal(data, want, size);
    free(data);
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

static void test_read_all(void **state)
{
    char path[256], want[512];
    tu_scratch_path(*state, "bytes.bin", path, sizeof path);
    tu_write_file(path, "a\0b", 3);
    char *data = (char *)1;
    size_t size = 99;
    assert_int_equal(file_read_all(path, &data, &size), 0);
    assert_int_equal(size, 3);
    assert_memory_equal(data, "a\0b", 4); /* NUL-terminated past the bytes */
    free(data);

    tu_scratch_path(*state, "empty.txt", path, sizeof path);
    tu_write_text(path, "");
    assert_int_equal(file_read_all(path, &data, &size), 0);
    assert_int_equal(size, 0);
    assert_string_equal(data, "");
    free(data);

    tu_scratch_path(*state, "missing.txt", path, sizeof path);
    assert_int_equal(file_read_all(path, &data, &size), -1);
    assert_null(data);
    assert_int_equal(size, 0);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err_message(), want);

    fixture *fx = *state;
    assert_int_equal(file_read_all(fx->dir, &data, &size), -1);
    snprintf(want, sizeof want, "%s: not a regular file", fx->dir);
    assert_string_equal(err_message(), want);
}

static void test_paths(void **state)
{
    (void)state;
    char out[64], want[64];
    assert_int_equal(file_tmp_path("a/b.h5", out, sizeof out), 0);
    snprintf(want, sizeof want, "a/b.h5.tmp.%ld", (long)getpid());
    assert_string_equal(out, want);
    assert_int_equal(file_tmp_path("a/very/long/name/that/does/not/fit/in/the/buffer.h5", out, 16), -1);
    assert_error_contains("path too long");
    file_dir_of("name", out, sizeof out);
    assert_string_equal(out, ".");
    file_dir_of("/name", out, sizeof out);
    assert_string_equal(out, "/");
    file_dir_of("x/y/name", out, sizeof out);
    assert_string_equal(out, "x/y");
}

/* Until commit the old file stays and the data sits in "<path>.tmp.<pid>";
 * abort drops it, commit replaces the old file. */
static void test_writer_commit_and_abort(void **state)
{
    char path[256], tmp[300];
    tu_scratch_path(*state, "out.txt", path, sizeof path);
    tu_writer_tmp_path(path, tmp, sizeof tmp);
    assert_int_equal(file_write_atomic(path, "old", 3), 0);
    for (int commit = 0; commit <= 1; commit++) {
        file_writer w;
        assert_int_equal(file_writer_open(&w, path), 0);
        assert_string_equal(w.tmp_path, tmp);
        fputs("new", w.file);
        assert_true(exists(tmp));
        assert_file_holds(path, "old");
        if (commit) {
            assert_int_equal(file_writer_commit(&w), 0);
            assert_null(w.file);
            assert_int_equal(file_writer_commit(&w), -1); /* closed by the commit */
            assert_error_contains("not open");
        } else {
            file_writer_abort(&w);
            file_writer_abort(&w); /* a second abort is harmless */
        }
        assert_false(exists(tmp));
        assert_file_holds(path, commit ? "new" : "old");
    }
    fixture *fx = *state;
    assert_int_equal(tu_count_files(fx->dir), 1);
    file_writer w;
    assert_int_equal(file_writer_open(&w, ""), -1);
    assert_error_contains("empty output path");
}

static void test_write_atomic(void **state)
{
    char path[256], bad[300];
    tu_scratch_path(*state, "blob.bin", path, sizeof path);
    assert_int_equal(file_write_atomic(path, "xyz", 3), 0);
    assert_file_holds(path, "xyz");
    assert_int_equal(file_write_atomic(path, NULL, 0), 0);
    assert_file_holds(path, "");

    fixture *fx = *state;
    snprintf(bad, sizeof bad, "%s/no_such_dir/x.bin", fx->dir);
    assert_int_equal(file_write_atomic(bad, "xyz", 3), -1);
    assert_error_mentions(bad, "cannot create");
    assert_int_equal(tu_count_files(fx->dir), 1);
}

/* A temporary file written by someone else is fsynced and renamed; on
 * failure it is removed and the message names the final path. */
static void test_commit(void **state)
{
    char path[256], tmp[300];
    tu_scratch_path(*state, "lib.out", path, sizeof path);
    assert_int_equal(file_tmp_path(path, tmp, sizeof tmp), 0);
    tu_write_text(tmp, "from a library");
    assert_int_equal(file_commit(tmp, path), 0);
    assert_false(exists(tmp));
    assert_file_holds(path, "from a library");

    assert_int_equal(file_commit(tmp, path), -1); /* no temporary any more */
    assert_error_mentions(path, tmp);
    assert_file_holds(path, "from a library");

    char dir[256], inside[300];
    tu_scratch_path(*state, "busy", dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(inside, sizeof inside, "%s/file", dir);
    tu_write_text(inside, "keeps the directory non-empty");
    tu_write_text(tmp, "x");
    assert_int_equal(file_commit(tmp, dir), -1); /* a non-empty directory cannot be replaced */
    assert_error_mentions(dir, "cannot rename");
    assert_false(exists(tmp));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define SCRATCH_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        SCRATCH_TEST(test_read_all),     SCRATCH_TEST(test_paths),  SCRATCH_TEST(test_writer_commit_and_abort),
        SCRATCH_TEST(test_write_atomic), SCRATCH_TEST(test_commit),
#undef SCRATCH_TEST
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
