/* test_array_io.c — unit tests of the .npy/.npz and .mat readers and the
 * .npy/.npz writers (src/geom/npy.c, src/geom/matfile.c).
 *
 * The group setup runs validation/reference/array_io_reference.py (numpy,
 * scipy.io, h5py through /usr/bin/python3) to write the fixtures into a
 * mkdtemp directory, so run from the repository root.  Fixture values follow
 * formulas recomputed here: element i (C order) of a float array is
 * 0.25 i - 3, of a signed integer array i - 10, of uint8 (7 i) % 256, of a
 * bool array (i % 3 == 0).  The same script checks the files the C writers
 * produce.  The DTU cameras under ../shared/data are read when present.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "phive/array_io.h"
#include "phive/errors.h"
#include "phive/h5io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

#define REFERENCE "validation/reference/array_io_reference.py"
#define SHARED_DTU "../shared/data/dtu_scan65"

typedef struct {
    tu_scratch fixtures; /* first; written once by the reference script */
    char dir[64];        /* per test scratch */
} fixture;

static int run_reference(const char *mode, const char *dir)
{
    return tu_run_python("%s %s %s", REFERENCE, mode, dir);
}

static int group_setup(void **state)
{
    if (tu_scratch_setup_size(state, "arrays_ref", sizeof(fixture)) != 0)
        return -1;
    fixture *fx = *state;
    if (run_reference("make", fx->fixtures.dir) != 0) {
        fprintf(stderr, "cannot write the reference fixtures with %s (run from the repository root)\n", REFERENCE);
        tu_scratch_teardown(state);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) { return tu_scratch_teardown(state); }

static int setup(void **state)
{
    fixture *fx = *state;
    if (tu_make_scratch(fx->dir, sizeof fx->dir, "arrays") != 0)
        return -1;
    err_clear();
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    tu_remove_tree(fx->dir);
    return 0;
}

static const char *fixture_path(const fixture *fx, const char *name)
{
    static _Thread_local char path[256]; /* test-local convenience */
    snprintf(path, sizeof path, "%s/%s", fx->fixtures.dir, name);
    return path;
}

static void scratch_path(const fixture *fx, const char *name, char *out, size_t size)
{
    tu_path_in(fx->dir, name, out, size);
}

/* ------------------------------------------------------- expected values */

typedef double (*value_fn)(size_t i);
static double v_float(size_t i) { return 0.25 * (double)i - 3; }
static double v_int(size_t i) { return (double)i - 10; }
static double v_u8(size_t i) { return (double)((7 * i) % 256); }
static double v_bool(size_t i) { return i % 3 == 0; }

static void assert_shape(const ndarray *a, int ndim, const size_t *dims)
{
    assert_int_equal(a->ndim, ndim);
    size_t count = 1;
    for (int k = 0; k < ndim; k++) {
        assert_int_equal(a->dims[k], dims[k]);
        count *= dims[k];
    }
    assert_int_equal(a->count, count);
    assert_non_null(a->data);
}

static void assert_values(const ndarray *a, value_fn f)
{
    for (size_t i = 0; i < a->count; i++)
        if (a->data[i] != f(i))
            fail_msg("element %zu: %.17g, want %.17g", i, a->data[i], f(i));
}

/* Read with the given reader and check shape, values, source type. */
static void check_npy(const fixture *fx, const char *name, int ndim, const size_t *dims, value_fn f,
                      const char *source)
{
    ndarray a;
    ndarray_init(&a);
    if (npy_read(fixture_path(fx, name), &a) != 0)
        fail_msg("%s: %s", name, err_message());
    assert_shape(&a, ndim, dims);
    assert_values(&a, f);
    assert_string_equal(a.source, source);
    ndarray_free(&a);
}

/* ------------------------------------------------------------------- npy */

static void test_npy_c_order(void **state)
{
    const fixture *fx = *state;
    check_npy(fx, "c_f4.npy", 3, (size_t[]){2, 3, 4}, v_float, "<f4");
    check_npy(fx, "c_f8.npy", 2, (size_t[]){3, 5}, v_float, "<f8");
    check_npy(fx, "vec_f8.npy", 1, (size_t[]){7}, v_float, "<f8");
    check_npy(fx, "empty_f8.npy", 2, (size_t[]){0, 3}, v_float, "<f8");
    ndarray a;
    ndarray_init(&a);
    assert_int_equal(npy_read(fixture_path(fx, "scalar_f8.npy"), &a), 0);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(a.count, 1);
    assert_float_equal(a.data[0], 2.5, 0);
    ndarray_free(&a);
}

/* fortran_order: True keeps numpy's shape and becomes C order in memory. */
static void test_npy_fortran_order(void **state)
{
    const fixture *fx = *state;
    check_npy(fx, "fortran_f8.npy", 2, (size_t[]){3, 4}, v_float, "<f8");
    check_npy(fx, "fortran_4d_f4.npy", 4, (size_t[]){2, 3, 4, 5}, v_float, "<f4");
}

static void test_npy_dtypes_and_versions(void **state)
{
    const fixture *fx = *state;
    check_npy(fx, "be_f8.npy", 2, (size_t[]){2, 3}, v_float, ">f8");
    check_npy(fx, "i2.npy", 2, (size_t[]){4, 3}, v_int, "<i2");
    check_npy(fx, "i4.npy", 2, (size_t[]){4, 3}, v_int, "<i4");
    check_npy(fx, "i8.npy", 2, (size_t[]){4, 3}, v_int, "<i8");
    check_npy(fx, "u1.npy", 2, (size_t[]){5, 9}, v_u8, "|u1");
    check_npy(fx, "b1.npy", 2, (size_t[]){2, 7}, v_bool, "|b1");
    check_npy(fx, "v2_f8.npy", 2, (size_t[]){3, 2}, v_float, "<f8");
}

static void expect_npy_error(const char *path, const char *what)
{
    ndarray a;
    ndarray_init(&a);
    err_clear();
    if (npy_read(path, &a) != -1)
        fail_msg("%s was read; want an error saying \"%s\"", path, what);
    assert_error_mentions(path, what);
    assert_null(a.data);
}

static void test_npy_unsupported(void **state)
{
    const fixture *fx = *state;
    expect_npy_error(fixture_path(fx, "c8.npy"), "unsupported dtype '<c8'");
    expect_npy_error(fixture_path(fx, "f2.npy"), "unsupported dtype '<f2'");
    expect_npy_error(fixture_path(fx, "struct.npy"), "unsupported dtype");
    expect_npy_error(fixture_path(fx, "str.npy"), "unsupported dtype");
    expect_npy_error(fixture_path(fx, "5d.npy"), "dimensions");
}

static unsigned char *slurp(const char *path, size_t *len) { return (unsigned char *)tu_read_file(path, len); }

/* Copy c_f8.npy (shape (3, 5)) with its shape text replaced. */
static void write_with_shape(const fixture *fx, const char *path, const char *shape)
{
    size_t len;
    unsigned char *b = slurp(fixture_path(fx, "c_f8.npy"), &len);
    char *s = memmem(b, len, "(3, 5)", 6);
    assert_non_null(s);
    memcpy(s, shape, 6);
    tu_write_file(path, b, len);
    free(b);
}

static void test_npy_truncated_and_mismatch(void **state)
{
    const fixture *fx = *state;
    char path[256];
    size_t len;
    unsigned char *b = slurp(fixture_path(fx, "c_f8.npy"), &len);
    scratch_path(fx, "cut.npy", path, sizeof path);
    tu_write_file(path, b, len - 3);
    expect_npy_error(path, "truncated data");
    tu_write_file(path, b, 20);
    expect_npy_error(path, "truncated .npy header");
    tu_write_file(path, b, 4);
    expect_npy_error(path, "not a .npy");
    unsigned char *longer = calloc(len + 8, 1);
    memcpy(longer, b, len);
    tu_write_file(path, longer, len + 8);
    expect_npy_error(path, "header/shape mismatch");
    write_with_shape(fx, path, "(3, 6)");
    expect_npy_error(path, "truncated data");
    write_with_shape(fx, path, "(3, 4)");
    expect_npy_error(path, "header/shape mismatch");
    write_with_shape(fx, path, "(3, x)");
    expect_npy_error(path, "malformed 'shape'");
    tu_write_file(path, "hello world, not numpy", 22);
    expect_npy_error(path, "not a .npy");
    scratch_path(fx, "missing.npy", path, sizeof path);
    expect_npy_error(path, "cannot open");
    free(longer);
    free(b);
}

/* ------------------------------------------------------------------- npz */

static void check_npz_member(const char *path, const char *name, int ndim, const size_t *dims)
{
    ndarray a;
    ndarray_init(&a);
    if (npz_read(path, name, &a) != 0)
        fail_msg("%s", err_message());
    assert_shape(&a, ndim, dims);
    assert_values(&a, v_float);
    ndarray_free(&a);
}

static void test_npz_read(void **state)
{
    const fixture *fx = *state;
    const char *files[2] = {"stored.npz", "deflated.npz"};
    for (int k = 0; k < 2; k++) {
        char path[256];
        snprintf(path, sizeof path, "%s", fixture_path(fx, files[k]));
        check_npz_member(path, "world_mat_0", 2, (size_t[]){4, 4});
        check_npz_member(path, "scale_mat_0", 2, (size_t[]){4, 4}); /* fortran_order */
        check_npz_member(path, "scale_mat_0.npy", 2, (size_t[]){4, 4});
        check_npz_member(path, "v", 1, (size_t[]){6});
        char **names = NULL;
        size_t n = 0;
        assert_int_equal(npz_list(path, &names, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(names[0], "world_mat_0");
        assert_string_equal(names[1], "scale_mat_0");
        assert_string_equal(names[2], "v");
        npz_names_free(names, n);
    }
}

static void expect_npz_error(const char *path, const char *member, const char *what)
{
    ndarray a;
    ndarray_init(&a);
    err_clear();
    if (npz_read(path, member, &a) != -1)
        fail_msg("%s:%s was read; want an error saying \"%s\"", path, member, what);
    assert_error_mentions(path, what);
    assert_null(a.data);
}

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void test_npz_errors(void **state)
{
    const fixture *fx = *state;
    char path[256];
    snprintf(path, sizeof path, "%s", fixture_path(fx, "stored.npz"));
    expect_npz_error(path, "world_mat_7", "no member 'world_mat_7'");
    expect_npz_error(fixture_path(fx, "c_f8.npy"), "x", "cannot open as .npz");
    size_t len;
    unsigned char *b = slurp(fixture_path(fx, "deflated.npz"), &len);
    scratch_path(fx, "cut.npz", path, sizeof path);
    tu_write_file(path, b, len / 2);
    expect_npz_error(path, "world_mat_0", "cannot open as .npz");
    /* Damage the first member's deflated data (after its local header). */
    assert_memory_equal(b, "PK\x03\x04", 4);
    size_t data = 30 + (size_t)le16(b + 26) + le16(b + 28);
    b[data + 10] ^= 0x5a;
    scratch_path(fx, "bad.npz", path, sizeof path);
    tu_write_file(path, b, len);
    expect_npz_error(path, "world_mat_0", "world_mat_0.npy");
    check_npz_member(path, "v", 1, (size_t[]){6}); /* the others are intact */
    free(b);
    /* A stored member's damage is caught by the zip CRC alone. */
    b = slurp(fixture_path(fx, "stored.npz"), &len);
    data = 30 + (size_t)le16(b + 26) + le16(b + 28);
    b[data + 128 + 5] ^= 0x01; /* a low mantissa bit of element 0 */
    tu_write_file(path, b, len);
    expect_npz_error(path, "world_mat_0", "CRC");
    free(b);
}

/* ---------------------------------------------------------------- writers */

static void make_array(ndarray *a, int ndim, const size_t *dims)
{
    ndarray_init(a);
    assert_int_equal(ndarray_alloc(a, ndim, dims), 0);
    for (size_t i = 0; i < a->count; i++)
        a->data[i] = v_float(i) + (i == 1 ? 1.0 / 3 : 0); /* one value float rounds */
}

static void test_writers_round_trip(void **state)
{
    const fixture *fx = *state;
    char path[256];
    ndarray a, b;
    make_array(&a, 3, (size_t[]){2, 3, 4});
    ndarray_init(&b);
    scratch_path(fx, "rt.npy", path, sizeof path);
    for (int dtype = NDARRAY_F64; dtype <= NDARRAY_F32; dtype++) {
        assert_int_equal(npy_write(path, &a, (ndarray_dtype)dtype), 0);
        assert_int_equal(npy_read(path, &b), 0);
        assert_shape(&b, 3, a.dims);
        assert_string_equal(b.source, dtype == NDARRAY_F32 ? "<f4" : "<f8");
        for (size_t i = 0; i < a.count; i++)
            assert_true(b.data[i] == (dtype == NDARRAY_F32 ? (double)(float)a.data[i] : a.data[i]));
    }
    ndarray v;
    make_array(&v, 1, (size_t[]){300});
    npz_entry entries[2] = {{"a", &a, NDARRAY_F64}, {"vec", &v, NDARRAY_F32}};
    scratch_path(fx, "rt.npz", path, sizeof path);
    for (int compress = 0; compress <= 1; compress++) {
        assert_int_equal(npz_write(path, entries, 2, compress), 0);
        assert_int_equal(npz_read(path, "a", &b), 0);
        assert_memory_equal(b.data, a.data, a.count * sizeof(double));
        assert_int_equal(npz_read(path, "vec", &b), 0);
        assert_shape(&b, 1, v.dims);
        assert_true(b.data[1] == (double)(float)v.data[1]);
    }
    ndarray_free(&a);
    ndarray_free(&b);
    ndarray_free(&v);
}

/* The files validation/reference/array_io_reference.py check expects. */
static void test_writers_load_in_numpy(void **state)
{
    const fixture *fx = *state;
    char path[256];
    ndarray a, b, s, v;
    ndarray_init(&a);
    ndarray_init(&b);
    ndarray_init(&s);
    ndarray_init(&v);
    assert_int_equal(ndarray_alloc(&a, 2, (size_t[]){3, 4}), 0);
    assert_int_equal(ndarray_alloc(&b, 4, (size_t[]){2, 2, 2, 2}), 0);
    assert_int_equal(ndarray_alloc(&s, 3, (size_t[]){2, 3, 4}), 0);
    assert_int_equal(ndarray_alloc(&v, 1, (size_t[]){5}), 0);
    ndarray *all[4] = {&a, &b, &s, &v};
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < all[k]->count; i++)
            all[k]->data[i] = v_float(i);
    scratch_path(fx, "out_f4.npy", path, sizeof path);
    assert_int_equal(npy_write(path, &s, NDARRAY_F32), 0);
    scratch_path(fx, "out_f8.npy", path, sizeof path);
    assert_int_equal(npy_write(path, &v, NDARRAY_F64), 0);
    ndarray scalar;
    ndarray_init(&scalar);
    assert_int_equal(ndarray_alloc(&scalar, 0, NULL), 0);
    scalar.data[0] = -3;
    scratch_path(fx, "out_scalar.npy", path, sizeof path);
    assert_int_equal(npy_write(path, &scalar, NDARRAY_F64), 0);
    npz_entry entries[2] = {{"a", &a, NDARRAY_F64}, {"b", &b, NDARRAY_F32}};
    scratch_path(fx, "out_stored.npz", path, sizeof path);
    assert_int_equal(npz_write(path, entries, 2, 0), 0);
    scratch_path(fx, "out_deflated.npz", path, sizeof path);
    assert_int_equal(npz_write(path, entries, 2, 1), 0);
    assert_int_equal(run_reference("check", fx->dir), 0);
    for (int k = 0; k < 4; k++)
        ndarray_free(all[k]);
    ndarray_free(&scalar);
}

/* A failed write leaves the previous file and no temporary behind. */
static void test_writers_atomic(void **state)
{
    const fixture *fx = *state;
    char path[256], bad[300];
    ndarray a, b;
    make_array(&a, 2, (size_t[]){2, 2});
    ndarray_init(&b);
    scratch_path(fx, "keep.npz", path, sizeof path);
    npz_entry one = {"a", &a, NDARRAY_F64};
    assert_int_equal(npz_write(path, &one, 1, 1), 0);
    npz_entry twice[2] = {{"x", &a, NDARRAY_F64}, {"x.npy", &a, NDARRAY_F64}};
    assert_int_equal(npz_write(path, twice, 2, 0), -1);
    assert_error_mentions(path, "x.npy");
    assert_int_equal(npz_write(path, twice, 0, 0), -1);
    assert_int_equal(npz_read(path, "a", &b), 0); /* still the first file */
    assert_int_equal(tu_count_files(fx->dir), 1);
    snprintf(bad, sizeof bad, "%s/no_such_dir/x.npy", fx->dir);
    assert_int_equal(npy_write(bad, &a, NDARRAY_F64), -1);
    assert_error_mentions(bad, "cannot create");
    ndarray_free(&a);
    ndarray_free(&b);
}

static void test_ndarray_helpers(void **state)
{
    (void)state;
    ndarray a;
    make_array(&a, 3, (size_t[]){2, 3, 4});
    assert_int_equal(ndarray_index(&a, (size_t[]){1, 2, 3}), 23);
    assert_int_equal(ndarray_index(&a, (size_t[]){1, 0, 2}), 14);
    /* Column-major 2 x 3 (values 0..5 down the columns) into C order. */
    ndarray m;
    ndarray_init(&m);
    assert_int_equal(ndarray_alloc(&m, 2, (size_t[]){2, 3}), 0);
    for (size_t i = 0; i < 6; i++)
        m.data[i] = (double)i;
    assert_int_equal(ndarray_colmajor_to_c(&m), 0);
    const double want[6] = {0, 2, 4, 1, 3, 5};
    assert_memory_equal(m.data, want, sizeof want);
    float *f = NULL;
    assert_int_equal(ndarray_to_float(&a, &f), 0);
    assert_true(f[1] == (float)a.data[1]);
    free(f);
    assert_int_equal(ndarray_alloc(&m, 5, (size_t[]){1, 1, 1, 1, 1}), -1);
    ndarray_free(&a);
    ndarray_free(&m);
}

/* ------------------------------------------------------ real DTU cameras */

static int have_dtu(void) { return tu_have_dir(SHARED_DTU); }

/* A uniform scale s and translation t in the last column (numpy's values). */
static void check_scale_mat(const ndarray *m, double s, const double t[3])
{
    for (int r = 0; r < 3; r++) {
        assert_float_equal(m->data[r * 4 + r], s, 1e-3);
        assert_float_equal(m->data[r * 4 + 3], t[r], 1e-3);
    }
}

/* Every member is 4 x 4 with last row (0, 0, 0, 1): a transposed one is not. */
static void check_all_members(const char *path)
{
    char **names = NULL;
    size_t n = 0;
    if (npz_list(path, &names, &n) != 0)
        fail_msg("%s", err_message());
    assert_int_equal(n, 294);
    ndarray m;
    ndarray_init(&m);
    for (size_t k = 0; k < n; k++) {
        if (npz_read(path, names[k], &m) != 0)
            fail_msg("%s", err_message());
        assert_shape(&m, 2, (size_t[]){4, 4});
        assert_string_equal(m.source, "<f4");
        for (int c = 0; c < 4; c++)
            if (m.data[12 + c] != (c == 3))
                fail_msg("%s:%s row 3 is not (0, 0, 0, 1)", path, names[k]);
    }
    ndarray_free(&m);
    npz_names_free(names, n);
}

static void test_real_dtu_cameras(void **state)
{
    (void)state;
    if (!have_dtu())
        return;
    ndarray m;
    ndarray_init(&m);
    const char *sphere = SHARED_DTU "/cameras_sphere.npz", *idr = SHARED_DTU "/cameras.npz";
    assert_int_equal(npz_read(sphere, "scale_mat_0", &m), 0);
    check_scale_mat(&m, 164.60439, (double[]){-28.094833, -27.979301, 640.4341});
    assert_int_equal(npz_read(sphere, "world_mat_0", &m), 0);
    assert_float_equal(m.data[0], 2607.4299, 1e-3);
    assert_float_equal(m.data[3], -533936.69, 0.1);
    assert_float_equal(m.data[4], -192.0769, 1e-3);
    assert_int_equal(npz_read(idr, "scale_mat_0", &m), 0); /* stored fortran_order */
    check_scale_mat(&m, 246.40544, (double[]){-37.542286, -42.644344, 653.20886});
    check_all_members(sphere);
    check_all_members(idr);
    ndarray_free(&m);
}

/* ------------------------------------------------------------------ .mat */

static void check_mat_var(const char *path, const char *name, int ndim, const size_t *dims, value_fn f,
                          const char *cls)
{
    ndarray a;
    ndarray_init(&a);
    if (mat_read(path, name, &a) != 0)
        fail_msg("%s", err_message());
    assert_shape(&a, ndim, dims);
    assert_values(&a, f);
    assert_string_equal(a.source, cls);
    ndarray_free(&a);
}

/* The DTU variables and the other classes, same content in every version. */
static void check_mat_file(const char *path)
{
    check_mat_var(path, "ObsMask", 3, (size_t[]){4, 5, 6}, v_bool, "logical");
    check_mat_var(path, "BB", 2, (size_t[]){2, 3}, v_float, "double");
    check_mat_var(path, "P", 2, (size_t[]){4, 1}, v_float, "double");
    check_mat_var(path, "single", 2, (size_t[]){3, 2}, v_float, "single");
    check_mat_var(path, "u8", 2, (size_t[]){2, 5}, v_u8, "uint8");
    check_mat_var(path, "i16", 2, (size_t[]){3, 3}, v_int, "int16");
    ndarray res;
    ndarray_init(&res);
    assert_int_equal(mat_read(path, "Res", &res), 0);
    assert_shape(&res, 2, (size_t[]){1, 1});
    assert_float_equal(res.data[0], 1.5, 0);
    ndarray_free(&res);
}

static void test_mat_v5(void **state)
{
    const fixture *fx = *state;
    char path[256];
    snprintf(path, sizeof path, "%s", fixture_path(fx, "v5c.mat"));
    check_mat_file(path);
    snprintf(path, sizeof path, "%s", fixture_path(fx, "v5u.mat"));
    check_mat_file(path);
}

static void test_mat_v73(void **state)
{
    const fixture *fx = *state;
    char path[256];
    snprintf(path, sizeof path, "%s", fixture_path(fx, "v73.mat"));
    check_mat_file(path);
}

/* matio's serial libhdf5 and phive's MPI libhdf5 live side by side: a v7.3
 * read while phive holds an HDF5 file open leaves both working. */
static void test_mat_v73_beside_phive_hdf5(void **state)
{
    const fixture *fx = *state;
    char path[256], mat[256];
    snprintf(mat, sizeof mat, "%s", fixture_path(fx, "v73.mat"));
    scratch_path(fx, "phive.h5", path, sizeof path);
    h5io_init();
    h5_writer w;
    if (h5w_create(&w, path) != 0)
        fail_msg("%s", err_message());
    const double before[3] = {1, 2, 3};
    assert_int_equal(h5_write_f64(w.file, "before", before, 1, (size_t[]){3}), 0);
    check_mat_var(mat, "BB", 2, (size_t[]){2, 3}, v_float, "double");
    assert_int_equal(h5_write_f64(w.file, "after", before, 1, (size_t[]){3}), 0);
    if (h5w_commit(&w) != 0)
        fail_msg("%s", err_message());
    hid_t f;
    double got[3];
    assert_int_equal(h5_open_read(path, &f), 0);
    check_mat_var(mat, "ObsMask", 3, (size_t[]){4, 5, 6}, v_bool, "logical");
    assert_int_equal(h5_read_f64(f, "after", got, 3), 0);
    assert_memory_equal(got, before, sizeof got);
    h5_close(f);
}

static void expect_mat_error(const char *path, const char *name, const char *what)
{
    ndarray a;
    ndarray_init(&a);
    err_clear();
    if (mat_read(path, name, &a) != -1)
        fail_msg("%s:%s was read; want an error saying \"%s\"", path, name, what);
    assert_error_mentions(path, what);
    assert_null(a.data);
}

static void test_mat_errors(void **state)
{
    const fixture *fx = *state;
    char v5[256], v73[256], path[256];
    snprintf(v5, sizeof v5, "%s", fixture_path(fx, "v5c.mat"));
    snprintf(v73, sizeof v73, "%s", fixture_path(fx, "v73.mat"));
    expect_mat_error(v5, "Plane", "no variable 'Plane'");
    assert_error_mentions("ObsMask", "BB"); /* lists what the file has */
    expect_mat_error(v73, "Plane", "no variable 'Plane'");
    expect_mat_error(v5, "cplx", "complex");
    expect_mat_error(v5, "text", "char");
    expect_mat_error(v5, "cell", "cell");
    expect_mat_error(fixture_path(fx, "c_f8.npy"), "x", "not a readable MATLAB file");
    scratch_path(fx, "missing.mat", path, sizeof path);
    expect_mat_error(path, "x", "cannot open");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_npy_c_order),
        T(test_npy_fortran_order),
        T(test_npy_dtypes_and_versions),
        T(test_npy_unsupported),
        T(test_npy_truncated_and_mismatch),
        T(test_npz_read),
        T(test_npz_errors),
        T(test_writers_round_trip),
        T(test_writers_load_in_numpy),
        T(test_writers_atomic),
        T(test_ndarray_helpers),
        T(test_real_dtu_cameras),
        T(test_mat_v5),
        T(test_mat_v73),
        T(test_mat_v73_beside_phive_hdf5),
        T(test_mat_errors),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
