/* matfile.c — numeric variables of MATLAB .mat files through libmatio (see
 * array_io.h).  libmatio reads v4, v5 (zlib-compressed elements too) and
 * v7.3, which is HDF5: Debian's libmatio uses its own serial libhdf5, whose
 * versioned symbols keep it apart from the MPI libhdf5 phive links. */
#include "phive/array_io.h"
#include "phive/errors.h"
#include "phive/fileio.h"

#include <errno.h>
#include <matio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *class_name(const matvar_t *v)
{
    if (v->isLogical)
        return "logical";
    switch (v->class_type) {
    case MAT_C_DOUBLE: return "double";
    case MAT_C_SINGLE: return "single";
    case MAT_C_INT8: return "int8";
    case MAT_C_UINT8: return "uint8";
    case MAT_C_INT16: return "int16";
    case MAT_C_UINT16: return "uint16";
    case MAT_C_INT32: return "int32";
    case MAT_C_UINT32: return "uint32";
    case MAT_C_INT64: return "int64";
    case MAT_C_UINT64: return "uint64";
    case MAT_C_CELL: return "cell";
    case MAT_C_STRUCT: return "struct";
    case MAT_C_OBJECT: return "object";
    case MAT_C_CHAR: return "char";
    case MAT_C_SPARSE: return "sparse";
    case MAT_C_FUNCTION: return "function";
    default: return "unknown";
    }
}

/* Element i of matio's in-memory data (typed by data_type, not class). */
static int load_values(const matvar_t *v, size_t n, double *out)
{
#define COPY(T)                                                                                         \
    for (size_t i = 0; i < n; i++)                                                                      \
        out[i] = (double)((const T *)v->data)[i];                                                       \
    return 0
    switch (v->data_type) {
    case MAT_T_DOUBLE: COPY(double);
    case MAT_T_SINGLE: COPY(float);
    case MAT_T_INT8: COPY(int8_t);
    case MAT_T_UINT8: COPY(uint8_t);
    case MAT_T_INT16: COPY(int16_t);
    case MAT_T_UINT16: COPY(uint16_t);
    case MAT_T_INT32: COPY(int32_t);
    case MAT_T_UINT32: COPY(uint32_t);
    case MAT_T_INT64: COPY(int64_t);
    case MAT_T_UINT64: COPY(uint64_t);
    default: return -1;
    }
#undef COPY
}

/* Why Mat_VarRead found nothing: name the variables the file has. */
static int missing_variable(mat_t *mat, const char *path, const char *name)
{
    size_t n = 0;
    char **dir = Mat_GetDir(mat, &n); /* owned by mat */
    char list[512] = "";
    size_t used = 0;
    for (size_t i = 0; dir != NULL && i < n && used + 1 < sizeof list; i++) {
        if (dir[i] == NULL)
            continue;
        if (strcmp(dir[i], name) == 0)
            return err_set("%s: variable '%s' exists but could not be read", path, name);
        int w = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", dir[i]);
        used = w > 0 ? used + (size_t)w : used;
    }
    return err_set("%s: no variable '%s' (variables: %s)", path, name, used ? list : "none");
}

/* Shape checks, then the values in column-major order into out. */
static int convert(const matvar_t *v, const char *path, const char *name, ndarray *out)
{
    const char *cls = class_name(v);
    /* matio 1.5.23 drops the last letter of a NULLPAD MATLAB_class (MATLAB
     * itself writes NULLTERM), leaving the class empty. */
    if (v->class_type == MAT_C_EMPTY)
        return err_set("%s: variable '%s' has a class libmatio does not recognise "
                       "(v7.3: MATLAB_class attribute not as MATLAB writes it?)",
                       path, name);
    if (v->isComplex || v->class_type < MAT_C_DOUBLE || v->class_type > MAT_C_UINT64)
        return err_set("%s: variable '%s' is %s%s; only real numeric or logical arrays are read", path,
                       name, v->isComplex ? "complex " : "", cls);
    if (v->rank < 0 || v->rank > NDARRAY_MAX_DIMS)
        return err_set("%s: variable '%s' has %d dimensions (at most %d are read)", path, name, v->rank,
                       NDARRAY_MAX_DIMS);
    if (ndarray_alloc(out, v->rank, v->dims) < 0)
        return err_context("%s: variable '%s'", path, name);
    if (out->count > 0 && v->data == NULL)
        return err_set("%s: variable '%s' has no data", path, name);
    if (out->count > 0 && load_values(v, out->count, out->data) < 0)
        return err_set("%s: variable '%s' (%s) has unsupported element type %d", path, name, cls,
                       (int)v->data_type);
    snprintf(out->source, sizeof out->source, "%s", cls);
    return ndarray_colmajor_to_c(out) < 0 ? err_context("%s: variable '%s'", path, name) : 0;
}

int mat_read(const char *path, const char *name, ndarray *out)
{
    if (access(path, R_OK) != 0)
        return err_set("%s: cannot open: %s", path, strerror(errno));
    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (mat == NULL)
        return err_set("%s: not a readable MATLAB file (v4, v5 or v7.3)", path);
    matvar_t *v = Mat_VarRead(mat, name);
    int rc;
    ndarray a;
    ndarray_init(&a);
    if (v == NULL)
        rc = missing_variable(mat, path, name);
    else
        rc = convert(v, path, name, &a);
    Mat_VarFree(v);
    Mat_Close(mat);
    if (rc < 0) {
        ndarray_free(&a);
        return -1;
    }
    ndarray_free(out);
    *out = a;
    return 0;
}

/* One variable in MATLAB's column-major order. */
static int write_variable(mat_t *mat, const char *path, const mat_entry *e)
{
    const ndarray *a = e->array;
    size_t dims[NDARRAY_MAX_DIMS] = {1, 1, 1, 1};
    int rank = a->ndim < 2 ? 2 : a->ndim;
    for (int k = 0; k < a->ndim; ++k) dims[k] = a->dims[k];
    if (a->ndim == 1) dims[0] = a->dims[0], dims[1] = 1;
    size_t elem = e->logical ? 1 : sizeof(double);
    unsigned char *data = malloc(a->count * elem + 1);
    if (!data) return err_set("%s: out of memory for variable '%s'", path, e->name);
    for (size_t i = 0; i < a->count; ++i) { /* C index i → column-major index */
        size_t rest = i, col = 0, stride = 1, idx[NDARRAY_MAX_DIMS];
        for (int k = rank - 1; k >= 0; --k) idx[k] = rest % dims[k], rest /= dims[k];
        for (int k = 0; k < rank; ++k) col += idx[k] * stride, stride *= dims[k];
        if (e->logical) data[col] = a->data[i] != 0;
        else memcpy(data + col * elem, &a->data[i], elem);
    }
    matvar_t *v = e->logical ? Mat_VarCreate(e->name, MAT_C_UINT8, MAT_T_UINT8, rank, dims, data, MAT_F_LOGICAL)
                             : Mat_VarCreate(e->name, MAT_C_DOUBLE, MAT_T_DOUBLE, rank, dims, data, 0);
    int rc = v && Mat_VarWrite(mat, v, MAT_COMPRESSION_NONE) == 0 ? 0
                                                                : err_set("%s: cannot write variable '%s'", path, e->name);
    Mat_VarFree(v);
    free(data);
    return rc;
}

int mat_write(const char *path, const mat_entry *entries, size_t n)
{
    char tmp[4096];
    if (file_tmp_path(path, tmp, sizeof tmp) < 0) return -1;
    unlink(tmp);
    mat_t *mat = Mat_CreateVer(tmp, NULL, MAT_FT_MAT5);
    if (!mat) return err_set("%s: cannot create %s", path, tmp);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; ++i) rc = write_variable(mat, path, &entries[i]);
    Mat_Close(mat);
    if (rc) {
        unlink(tmp);
        return -1;
    }
    return file_commit(tmp, path);
}
