/* array_io.h — N-D numeric arrays from NumPy (.npy, .npz) and MATLAB (.mat)
 * files (geom module).
 *
 * Every reader returns an `ndarray` of doubles in C order (row-major, last
 * index fastest), whatever the file's element type and memory order:
 * element (i, j, k) of a 3-D array is data[(i * dims[1] + j) * dims[2] + k].
 * Conversions to double are exact for all accepted types except 64-bit
 * integers beyond 2^53, which round.  `source` records the element type the
 * file held (e.g. "<f4", "single"), so a writer can keep it.
 *
 * NumPy: .npy format versions 1.0, 2.0 and 3.0; dtypes <f4 <f8 (and their
 * big-endian forms), signed/unsigned integers of 1, 2, 4, 8 bytes, |b1.
 * fortran_order: True is transposed into C order: the shape stays what numpy
 * reports, only the memory order changes.  An .npz member is named without
 * ".npy" ("world_mat_0"); members may be stored or deflated.  Writers emit
 * .npy version 1.0 in C order, <f4 or <f8; .npz writes are stored or
 * deflated.  All writers are atomic (temporary file, fsync, rename; see
 * fileio.h).
 *
 * MATLAB: v5 (compressed or not) and v7.3 (HDF5) files through libmatio.
 * MATLAB arrays are column-major; mat_read() keeps MATLAB's dims (the shape
 * scipy.io.loadmat reports: at least 2, a scalar is 1 x 1) and reorders the
 * data into C order, so C element (i, j, k) is MATLAB's A(i+1, j+1, k+1).
 * double, single, integer and logical classes are read; complex, sparse,
 * char, cell and struct variables are refused.
 *
 * Errors (err_set) name the file, and the member or variable: truncated
 * data, a header whose shape disagrees with the data size, an unsupported
 * dtype or class, a missing member or variable.  Readers take an `out` that
 * is initialised (ndarray_init) or holds an array: on success its old data
 * is freed and replaced, on failure it is left as it was.
 *
 * Linking: mat_read needs -lmatio (plain, not `pkg-config --libs matio`,
 * which would bind phive's own HDF5 calls to the serial libhdf5).
 */
#ifndef PHIVE_ARRAY_IO_H
#define PHIVE_ARRAY_IO_H

#include <stddef.h>

#define NDARRAY_MAX_DIMS 4

typedef struct {
    int ndim;                       /* 0 (scalar) .. NDARRAY_MAX_DIMS */
    size_t dims[NDARRAY_MAX_DIMS];  /* dims[k] for k < ndim; unused ones are 1 */
    size_t count;                   /* product of dims (1 for a scalar) */
    double *data;                   /* count values, C order */
    char source[16];                /* element type in the file ("<f4", "double", ...) */
} ndarray;

/* Element types the writers can store. */
typedef enum { NDARRAY_F64 = 0, NDARRAY_F32 = 1 } ndarray_dtype;

void ndarray_init(ndarray *a);
void ndarray_free(ndarray *a);
/* Allocate a zeroed array of the given shape (frees what a held). */
int ndarray_alloc(ndarray *a, int ndim, const size_t *dims);
/* Linear C-order index of (i0, i1, ...); pass exactly ndim indices. */
size_t ndarray_index(const ndarray *a, const size_t *idx);
/* The values as floats in a new array (C order); free() it. */
int ndarray_to_float(const ndarray *a, float **out);
/* For readers of column-major (Fortran, MATLAB) data: a->data holds the
 * values in column-major order for a->dims; reorder them into C order. */
int ndarray_colmajor_to_c(ndarray *a);

/* --- NumPy --- */
int npy_read(const char *path, ndarray *out);
int npy_write(const char *path, const ndarray *a, ndarray_dtype dtype);
/* Parse an .npy image held in memory; `name` is used in messages. */
int npy_parse(const void *bytes, size_t len, const char *name, ndarray *out);

/* Read member `name` ("world_mat_0"; "world_mat_0.npy" also works). */
int npz_read(const char *path, const char *name, ndarray *out);
/* The member names without ".npy", in archive order; free with npz_names_free. */
int npz_list(const char *path, char ***names, size_t *n);
void npz_names_free(char **names, size_t n);

typedef struct {
    const char *name;     /* member name without ".npy" */
    const ndarray *array;
    ndarray_dtype dtype;
} npz_entry;
/* compress: 0 stored (np.savez), 1 deflated (np.savez_compressed). */
int npz_write(const char *path, const npz_entry *entries, size_t n, int compress);

/* --- MATLAB --- */
int mat_read(const char *path, const char *name, ndarray *out);

typedef struct {
    const char *name;
    const ndarray *array; /* C order; written column-major with the same dims (at least 2) */
    int logical;          /* 1: a MATLAB logical (uint8 0/1), else double */
} mat_entry;
/* A MATLAB v5 file of these variables, written atomically. */
int mat_write(const char *path, const mat_entry *entries, size_t n);

#endif
