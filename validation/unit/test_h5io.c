/* test_h5io.c — unit tests of the HDF5 helpers (src/core/h5io.c).
 *
 * Each test works in its own mkdtemp directory and ends by checking that no
 * HDF5 id is left open.  Run from the repository root: one test calls
 * validation/unit/h5io_check.py with /usr/bin/python3 (h5py) to check how
 * Python sees the files.  Serial HDF5 needs no MPI_Init.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "phive/errors.h"
#include "phive/h5io.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#define CHECK_SCRIPT "validation/unit/h5io_check.py"

/* Ids H5Fget_obj_count does not see: property lists, datatypes, dataspaces.
 * H5Inmembers refuses these library kinds, but HDF5 numbers the ids of each
 * kind consecutively, so a fresh "probe" id before and after a test brackets
 * every id of that kind the test created; any still valid was leaked. */
enum { N_PROBES = 3 };

static hid_t new_probe(int kind)
{
    switch (kind) {
    case 0: return H5Pcreate(H5P_LINK_CREATE);
    case 1: return H5Tcopy(H5T_NATIVE_INT);
    default: return H5Screate(H5S_SCALAR);
    }
}

static void close_probe(int kind, hid_t id)
{
    if (kind == 0)
        H5Pclose(id);
    else if (kind == 1)
        H5Tclose(id);
    else
        H5Sclose(id);
}

static void take_probes(hid_t *probes)
{
    for (int k = 0; k < N_PROBES; k++) {
        probes[k] = new_probe(k);
        close_probe(k, probes[k]);
    }
}

/* How many ids strictly between `before` and `after` are still open. */
static long leaked_between(hid_t before, hid_t after)
{
    long leaked = 0;
    for (hid_t id = before + 1; id < after; id++)
        leaked += H5Iis_valid(id) > 0;
    return leaked;
}

typedef struct {
    tu_scratch scratch;     /* first: tu_scratch_teardown frees the fixture */
    hid_t probes[N_PROBES]; /* taken before the test */
} fixture;

static int setup(void **state)
{
    if (tu_scratch_setup_size(state, "h5io", sizeof(fixture)) != 0)
        return -1;
    fixture *fx = *state;
    take_probes(fx->probes);
    return 0;
}

/* A failed assertion skips the test's own cleanup; close what it left open so
 * the leak check of later tests reports their own leaks, not this one's. */
static void close_leftover_ids(void)
{
    hid_t ids[256];
    ssize_t n = H5Fget_obj_ids(H5F_OBJ_ALL, H5F_OBJ_ALL, 256, ids);
    for (ssize_t k = 0; k < n; k++)
        while (H5Iis_valid(ids[k]) > 0 && H5Idec_ref(ids[k]) > 0)
            ;
}

/* tu_remove_tree also copes with a test that made the directory read-only. */
static int teardown(void **state)
{
    close_leftover_ids();
    return tu_scratch_teardown(state);
}

/* Every helper must close what it opens: file objects and free-standing ids. */
static void assert_no_open_ids_(void **state)
{
    fixture *fx = *state;
    hid_t now[N_PROBES];
    assert_int_equal(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
    take_probes(now);
    for (int k = 0; k < N_PROBES; k++) {
        assert_true(now[k] > fx->probes[k]); /* the probes really are consecutive */
        assert_int_equal(leaked_between(fx->probes[k], now[k]), 0);
    }
}
#define assert_no_open_ids() assert_no_open_ids_(state)

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* Write a committed file whose root attribute "content" is `content`. */
static void write_tagged(const char *path, const char *content)
{
    h5_writer w;
    assert_int_equal(h5w_create(&w, path), 0);
    assert_int_equal(h5_attr_write_str(w.file, ".", "content", content), 0);
    assert_int_equal(h5w_commit(&w), 0);
}

static void assert_tagged(const char *path, const char *content)
{
    hid_t f;
    char *value = NULL;
    assert_int_equal(h5_open_read(path, &f), 0);
    assert_int_equal(h5_attr_read_str(f, ".", "content", &value), 0);
    assert_string_equal(value, content);
    free(value);
    h5_close(f);
}

/* ------------------------------------------------------------ tests */

static void test_attributes_roundtrip(void **state)
{
    char path[256];
    tu_scratch_path(*state, "attrs.h5", path, sizeof path);
    h5_writer w;
    assert_int_equal(h5w_create(&w, path), 0);
    assert_int_equal(h5_attr_write_str(w.file, ".", "name", "phive \u2713 \u00b5m"), 0);
    assert_int_equal(h5_attr_write_f64(w.file, ".", "score", -1.5e-300), 0);
    assert_int_equal(h5_attr_write_i64(w.file, ".", "big", INT64_MIN), 0);
    /* Writing on a missing group path creates the groups. */
    assert_int_equal(h5_attr_write_i64(w.file, "g1/g2", "n", 7), 0);
    assert_int_equal(h5_exists(w.file, "g1/g2"), 1);
    /* Rewriting an attribute replaces it, even with another type. */
    assert_int_equal(h5_attr_write_i64(w.file, ".", "kind", 3), 0);
    assert_int_equal(h5_attr_write_str(w.file, ".", "kind", "three"), 0);
    assert_int_equal(h5w_commit(&w), 0);

    hid_t f;
    char *s = NULL;
    double d = 0;
    int64_t i = 0;
    assert_int_equal(h5_open_read(path, &f), 0);
    assert_int_equal(h5_attr_read_str(f, ".", "name", &s), 0);
    assert_string_equal(s, "phive \u2713 \u00b5m");
    free(s);
    /* Stored as a variable-length UTF-8 string (h5py reads it as str). */
    hid_t attr = H5Aopen(f, "name", H5P_DEFAULT), type = H5Aget_type(attr), space = H5Aget_space(attr);
    assert_int_equal(H5Tget_cset(type), H5T_CSET_UTF8);
    assert_true(H5Tis_variable_str(type) > 0);
    assert_int_equal(H5Sget_simple_extent_type(space), H5S_SCALAR);
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(attr);
    assert_int_equal(h5_attr_read_str(f, ".", "kind", &s), 0);
    assert_string_equal(s, "three");
    free(s);
    assert_int_equal(h5_attr_read_f64(f, ".", "score", &d), 0);
    assert_true(d == -1.5e-300);
    assert_int_equal(h5_attr_read_i64(f, ".", "big", &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(h5_attr_read_i64(f, "g1/g2", "n", &i), 0);
    assert_int_equal(i, 7);
    /* Integers convert to f64; the reverse is refused (would truncate). */
    assert_int_equal(h5_attr_read_f64(f, "/g1/g2", "n", &d), 0);
    assert_true(d == 7.0);
    assert_int_equal(h5_attr_read_i64(f, ".", "score", &i), -1);
    assert_error_contains("attribute 'score' is a floating-point number, expected an integer");

    assert_int_equal(h5_attr_exists(f, ".", "name"), 1);
    assert_int_equal(h5_attr_exists(f, ".", "nope"), 0);
    assert_int_equal(h5_attr_exists(f, "g1/g2", "n"), 1);
    assert_int_equal(h5_attr_exists(f, "g1/missing/deeper", "n"), 0);
    h5_close(f);
    assert_no_open_ids();
}

static void test_attribute_errors(void **state)
{
    char path[256], want[512];
    tu_scratch_path(*state, "attr_err.h5", path, sizeof path);
    h5_writer w;
    assert_int_equal(h5w_create(&w, path), 0);
    assert_int_equal(h5_attr_write_str(w.file, "params", "label", "x"), 0);
    assert_int_equal(h5w_commit(&w), 0);

    hid_t f;
    double d = 0;
    char *s = (char *)"untouched";
    assert_int_equal(h5_open_read(path, &f), 0);
    assert_int_equal(h5_attr_read_f64(f, "params", "label", &d), -1);
    snprintf(want, sizeof want, "%s:/params: attribute 'label' is a string, expected a number", path);
    assert_string_equal(err_message(), want);

    assert_int_equal(h5_attr_read_str(f, "params", "nope", &s), -1);
    assert_null(s);
    snprintf(want, sizeof want, "%s:/params: no attribute 'nope'", path);
    assert_string_equal(err_message(), want);

    assert_int_equal(h5_attr_read_f64(f, "params/deep/er", "x", &d), -1);
    snprintf(want, sizeof want, "%s:/params/deep/er: no such group or dataset", path);
    assert_error_contains(want);
    h5_close(f);
    assert_no_open_ids();
}

static void test_datasets_roundtrip(void **state)
{
    char path[256];
    tu_scratch_path(*state, "data.h5", path, sizeof path);
    float f1[5] = {1, -2, 3.5f, 0, 1e30f};
    double f3[2 * 3 * 4];
    uint64_t u2[2 * 2] = {0, 1, UINT64_MAX, (uint64_t)1 << 63};
    float f4[1 * 2 * 3 * 2];
    for (size_t k = 0; k < 24; k++)
        f3[k] = (double)k / 3.0;
    for (size_t k = 0; k < 12; k++)
        f4[k] = (float)k * 0.25f;
    size_t d1[] = {5}, d2[] = {2, 2}, d3[] = {2, 3, 4}, d4[] = {1, 2, 3, 2}, d0[] = {0};

    h5_writer w;
    assert_int_equal(h5w_create(&w, path), 0);
    assert_int_equal(h5_write_f32(w.file, "r1", f1, 1, d1), 0);
    assert_int_equal(h5_write_u64(w.file, "x/r2", u2, 2, d2), 0);
    assert_int_equal(h5_write_f64(w.file, "x/y/r3", f3, 3, d3), 0);
    assert_int_equal(h5_write_f32(w.file, "/x/y/z/r4", f4, 4, d4), 0);
    assert_int_equal(h5_write_f64(w.file, "empty", NULL, 1, d0), 0);
    /* Ranks outside 1..4 are refused. */
    assert_int_equal(h5_write_f32(w.file, "bad0", f1, 0, d1), -1);
    assert_int_equal(h5_write_f32(w.file, "bad5", f1, 5, d4), -1);
    assert_int_equal(h5_exists(w.file, "bad5"), 0);
    assert_int_equal(h5w_commit(&w), 0);

    hid_t f;
    float g1[5], g4[12];
    double g3[24];
    uint64_t g2[4];
    size_t count = 99;
    assert_int_equal(h5_open_read(path, &f), 0);
    assert_int_equal(h5_read_f32(f, "r1", g1, 5), 0);
    assert_memory_equal(g1, f1, sizeof f1);
    assert_int_equal(h5_read_u64(f, "x/r2", g2, 4), 0);
    assert_memory_equal(g2, u2, sizeof u2);
    assert_int_equal(h5_read_f64(f, "x/y/r3", g3, 24), 0);
    assert_memory_equal(g3, f3, sizeof f3);
    assert_int_equal(h5_read_f32(f, "x/y/z/r4", g4, 12), 0);
    assert_memory_equal(g4, f4, sizeof f4);
    assert_int_equal(h5_dataset_count(f, "x/y/r3", &count), 0);
    assert_int_equal(count, 24);
    assert_int_equal(h5_dataset_count(f, "empty", &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(h5_read_f64(f, "empty", NULL, 0), 0);
    /* A relative path from a group loc. */
    hid_t g = H5Gopen2(f, "x/y", H5P_DEFAULT);
    assert_true(g >= 0);
    assert_int_equal(h5_read_f64(g, "r3", g3, 24), 0);
    assert_int_equal(h5_read_f64(g, "r3", g3, 23), -1);
    assert_error_contains(":/x/y/r3: has 24 elements, expected 23");
    H5Gclose(g);
    h5_close(f);
    assert_no_open_ids();
}

static void test_large_float_dataset_is_chunked(void **state)
{
    char path[256];
    tu_scratch_path(*state, "big.h5", path, sizeof path);
    size_t n = 70000, dims[] = {n};
    float *data = malloc(n * sizeof *data), *back = malloc(n * sizeof *back);
    assert_non_null(data);
    assert_non_null(back);
    for (size_t k = 0; k < n; k++)
        data[k] = (float)(k % 977) * 0.5f;

    h5_writer w;
    assert_int_equal(h5w_create(&w, path), 0);
    assert_int_equal(h5_write_f32(w.file, "big", data, 1, dims), 0);
    assert_int_equal(h5_write_f32(w.file, "small", data, 1, (size_t[]){100}), 0);
    assert_int_equal(h5w_commit(&w), 0);

    hid_t f;
    assert_int_equal(h5_open_read(path, &f), 0);
    assert_int_equal(h5_read_f32(f, "big", back, n), 0);
    assert_memory_equal(back, data, n * sizeof *data);
    hid_t big = H5Dopen2(f, "big", H5P_DEFAULT), small = H5Dopen2(f, "small", H5P_DEFAULT);
    hid_t big_cpl = H5Dget_create_plist(big), small_cpl = H5Dget_create_plist(small);
    assert_int_equal(H5Pget_layout(big_cpl), H5D_CHUNKED);
    assert_int_equal(H5Pget_layout(small_cpl), H5D_CONTIGUOUS);
    H5Pclose(big_cpl);
    H5Pclose(small_cpl);
    H5Dclose(big);
    H5Dclose(small);
    h5_close(f);
    free(data);
    free(back);
    assert_no_open_ids();
}

static void test_dataset_errors(void **state)
{
    char path[256], want[512];
    tu_scratch_path(*state, "ds_err.h5", path, sizeof path);
    float w12[12] = {0}, r[12];
    size_t dims[] = {3, 4};
    h5_writer w;
    assert_int_equal(h5w_create(&w, path), 0);
    assert_int_equal(h5_write_f32(w.file, "params/w", w12, 2, dims), 0);
    /* Errors while writing name the final file, not the temporary one. */
    assert_int_equal(h5_write_f32(w.file, "params/w", w12, 2, dims), -1);
    snprintf(want, sizeof want, "%s:/params/w: already exists", path);
    assert_string_equal(err_message(), want);
    /* A dataset cannot be a parent group. */
    assert_int_equal(h5_write_f32(w.file, "params/w/sub", w12, 2, dims), -1);
    assert_error_contains(":/params/w/sub: cannot create dataset");
    assert_int_equal(h5_attr_write_str(w.file, ".", "label", "s"), 0);
    assert_int_equal(h5w_commit(&w), 0);

    hid_t f;
    uint64_t u[12];
    assert_int_equal(h5_open_read(path, &f), 0);
    assert_int_equal(h5_read_f32(f, "params/w", r, 10), -1);
    snprintf(want, sizeof want, "%s:/params/w: has 12 elements, expected 10", path);
    assert_string_equal(err_message(), want);

    assert_int_equal(h5_read_f32(f, "params/nope/x", r, 12), -1);
    snprintf(want, sizeof want, "%s:/params/nope/x: no such dataset", path);
    assert_string_equal(err_message(), want);

    assert_int_equal(h5_read_f32(f, "params", r, 12), -1);
    assert_error_contains(":/params: is not a dataset");
    /* A float dataset is not silently truncated into integers. */
    assert_int_equal(h5_read_u64(f, "params/w", u, 12), -1);
    assert_error_contains(":/params/w: is a floating-point number, expected an integer");

    size_t count = 0;
    assert_int_equal(h5_dataset_count(f, "missing", &count), -1);
    assert_error_contains(":/missing: no such dataset");
    h5_close(f);
    assert_no_open_ids();
}

static void test_exists(void **state)
{
    char path[256];
    tu_scratch_path(*state, "exists.h5", path, sizeof path);
    double v[2] = {1, 2};
    h5_writer w;
    assert_int_equal(h5w_create(&w, path), 0);
    assert_int_equal(h5_write_f64(w.file, "params/w", v, 1, (size_t[]){2}), 0);
    assert_int_equal(h5w_commit(&w), 0);

    hid_t f;
    assert_int_equal(h5_open_read(path, &f), 0);
    err_clear();
    assert_int_equal(h5_exists(f, "params"), 1);
    assert_int_equal(h5_exists(f, "params/w"), 1);
    assert_int_equal(h5_exists(f, "/params/w"), 1);
    assert_int_equal(h5_exists(f, "."), 1);
    assert_int_equal(h5_exists(f, "nope"), 0);
    assert_int_equal(h5_exists(f, "a/b/c/d"), 0);
    assert_int_equal(h5_exists(f, "params/x/y"), 0);
    assert_int_equal(h5_exists(f, "params/w/below"), 0);
    assert_int_equal(h5_exists(f, ""), 0);
    /* Answering "no" is not an error. */
    assert_string_equal(err_message(), "");
    h5_close(f);
    assert_no_open_ids();
}

static void test_open_read_errors(void **state)
{
    char path[256], want[512];
    hid_t f = 123;

    tu_scratch_path(*state, "missing.h5", path, sizeof path);
    assert_int_equal(h5_open_read(path, &f), -1);
    assert_true(f < 0);
    snprintf(want, sizeof want, "%s: no such file", path);
    assert_string_equal(err_message(), want);

    tu_scratch_path(*state, "text.h5", path, sizeof path);
    tu_write_text(path, "this is not HDF5\n");
    assert_int_equal(h5_open_read(path, &f), -1);
    snprintf(want, sizeof want, "%s: not a readable HDF5 file (truncated or corrupt?)", path);
    assert_string_equal(err_message(), want);

    /* A real file cut in half: the superblock survives but the end address does not. */
    tu_scratch_path(*state, "cut.h5", path, sizeof path);
    static double payload[4096];
    h5_writer w;
    assert_int_equal(h5w_create(&w, path), 0);
    assert_int_equal(h5_write_f64(w.file, "payload", payload, 1, (size_t[]){4096}), 0);
    assert_int_equal(h5_attr_write_str(w.file, ".", "tail", "written last"), 0);
    assert_int_equal(h5w_commit(&w), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    assert_int_equal(h5_open_read(path, &f), -1);
    snprintf(want, sizeof want, "%s: not a readable HDF5 file (truncated or corrupt?)", path);
    assert_string_equal(err_message(), want);

    fixture *fx = *state;
    assert_int_equal(h5_open_read(fx->scratch.dir, &f), -1);
    assert_error_contains("is a directory");
    assert_no_open_ids();
}

static void test_atomic_commit_and_abort(void **state)
{
    char path[256], tmp_expected[300];
    tu_scratch_path(*state, "result.h5", path, sizeof path);
    tu_writer_tmp_path(path, tmp_expected, sizeof tmp_expected);
    write_tagged(path, "A");
    assert_false(file_exists(tmp_expected));

    /* While B is being written, the final path still holds A. */
    h5_writer w;
    assert_int_equal(h5w_create(&w, path), 0);
    assert_string_equal(w.tmp_path, tmp_expected);
    assert_true(file_exists(tmp_expected));
    assert_int_equal(h5_attr_write_str(w.file, ".", "content", "B"), 0);
    assert_tagged(path, "A");
    h5w_abort(&w);
    assert_false(file_exists(tmp_expected));
    assert_tagged(path, "A");
    h5w_abort(&w); /* a second abort is harmless */

    assert_int_equal(h5w_create(&w, path), 0);
    assert_int_equal(h5_attr_write_str(w.file, ".", "content", "B"), 0);
    assert_int_equal(h5w_commit(&w), 0);
    assert_false(file_exists(tmp_expected));
    assert_tagged(path, "B");
    assert_no_open_ids();
}

static void test_commit_refuses_open_ids(void **state)
{
    char path[256], tmp[300];
    tu_scratch_path(*state, "leak.h5", path, sizeof path);
    tu_writer_tmp_path(path, tmp, sizeof tmp);
    write_tagged(path, "A");
    h5_writer w;
    assert_int_equal(h5w_create(&w, path), 0);
    hid_t g = H5Gcreate2(w.file, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(g >= 0);
    assert_int_equal(h5w_commit(&w), -1);
    assert_error_contains("still open");
    assert_false(file_exists(tmp)); /* the failed commit removed its temp file */
    assert_string_equal(w.tmp_path, "");
    H5Gclose(g);
    assert_tagged(path, "A");
    assert_no_open_ids();
}

static void test_create_errors(void **state)
{
    char path[320], dir[256];
    h5_writer w;
    tu_scratch_path(*state, "no/such/dir", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/out.h5", dir);
    assert_int_equal(h5w_create(&w, path), -1);
    assert_error_contains(dir);
    assert_error_contains("does not exist");
    assert_true(w.file < 0);
    h5w_abort(&w); /* safe after a failed create */

    /* Root ignores directory permissions, so this part only runs unprivileged. */
    if (geteuid() != 0) {
        fixture *fx = *state;
        assert_int_equal(chmod(fx->scratch.dir, 0500), 0);
        tu_scratch_path(*state, "ro.h5", path, sizeof path);
        assert_int_equal(h5w_create(&w, path), -1);
        assert_error_contains(fx->scratch.dir);
        assert_error_contains("not writable");
        assert_int_equal(chmod(fx->scratch.dir, 0700), 0);
    }
    assert_no_open_ids();
}

static void test_no_hdf5_error_output(void **state)
{
    char path[256], log[256];
    tu_scratch_path(*state, "quiet.h5", path, sizeof path);
    tu_scratch_path(*state, "stderr.txt", log, sizeof log);
    write_tagged(path, "A");

    /* Capture fd 2 while provoking HDF5 failures; HDF5 must not print its error stack. */
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    hid_t f;
    double d;
    float x[3];
    int rc_open = h5_open_read(path, &f);
    int rc_attr = h5_attr_read_f64(f, ".", "content", &d);
    int rc_read = h5_read_f32(f, "a/b/c", x, 3);
    int rc_exists = h5_exists(f, "content/x/y");
    h5_close(f);
    hid_t bad = H5Fopen(log, H5F_ACC_RDONLY, H5P_DEFAULT);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    assert_int_equal(rc_open, 0);
    assert_int_equal(rc_attr, -1);
    assert_int_equal(rc_read, -1);
    assert_int_equal(rc_exists, 0);
    assert_true(bad < 0);
    struct stat st;
    assert_int_equal(stat(log, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_no_open_ids();
}

/* Contents mirrored by h5io_check.py. */
static void write_python_fixture(const char *path)
{
    enum { N = 300 };
    float w[12];
    double d4[120];
    uint64_t ids[] = {0, ((uint64_t)1 << 63) + 7, UINT64_MAX};
    float *big = malloc(N * N * sizeof *big);
    assert_non_null(big);
    for (int k = 0; k < 12; k++)
        w[k] = (float)k * 0.5f;
    for (int k = 0; k < 120; k++)
        d4[k] = k / 8.0;
    for (int k = 0; k < N * N; k++)
        big[k] = (float)(k % 1000);

    h5_writer wr;
    assert_int_equal(h5w_create(&wr, path), 0);
    hid_t f = wr.file;
    assert_int_equal(h5_attr_write_str(f, ".", "name", "phive \u2713 \u00b5m"), 0);
    assert_int_equal(h5_attr_write_str(f, ".", "empty", ""), 0);
    assert_int_equal(h5_attr_write_i64(f, ".", "seed", -42), 0);
    assert_int_equal(h5_attr_write_f64(f, ".", "score", 0.125), 0);
    assert_int_equal(h5_attr_write_str(f, "params", "label", "weights"), 0);
    assert_int_equal(h5_write_f32(f, "params/w", w, 2, (size_t[]){3, 4}), 0);
    assert_int_equal(h5_attr_write_str(f, "params/w", "units", "m"), 0);
    assert_int_equal(h5_write_f64(f, "a/b/c/d", d4, 4, (size_t[]){2, 3, 4, 5}), 0);
    assert_int_equal(h5_write_u64(f, "ids", ids, 1, (size_t[]){3}), 0);
    assert_int_equal(h5_write_f32(f, "big", big, 2, (size_t[]){N, N}), 0);
    assert_int_equal(h5w_commit(&wr), 0);
    free(big);
}

static void test_h5py_reads_expected_types(void **state)
{
    char path[256];
    tu_scratch_path(*state, "py.h5", path, sizeof path);
    write_python_fixture(path);
    if (access(CHECK_SCRIPT, R_OK) != 0)
        fail_msg("%s not found: run the tests from the repository root", CHECK_SCRIPT);
    int status = tu_run_python("%s '%s'", CHECK_SCRIPT, path);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* The checker itself must be able to fail: a file with other contents. */
    char other[256];
    tu_scratch_path(*state, "other.h5", other, sizeof other);
    write_tagged(other, "A");
    status = tu_run_python("%s '%s' 2>/dev/null", CHECK_SCRIPT, other);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    assert_no_open_ids();
}

int main(void)
{
    h5io_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_attributes_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attribute_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_datasets_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_float_dataset_is_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dataset_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_read_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_commit_and_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_refuses_open_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_hdf5_error_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h5py_reads_expected_types, setup, teardown),
    };
    return cmocka_run_group_tests_name("h5io", tests, NULL, NULL);
}
