/* h5io.c — small HDF5 helpers (see h5io.h).
 *
 * Every public function leaves no HDF5 id open except the ones it hands
 * back, and reports failures through err_set() with "file:/object" names.
 * The HDF5 library is used serially (default property lists, sec2 driver),
 * so no MPI communicator is involved.
 */
#include "phive/h5io.h"

#include "phive/errors.h"
#include "phive/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Float datasets larger than this are chunked and compressed. */
#define COMPRESS_MIN_ELEMENTS ((hsize_t)64 * 1024)
/* Target chunk size in elements (1 MiB of f32): large enough for throughput. */
#define CHUNK_TARGET_ELEMENTS ((hsize_t)256 * 1024)
#define MAX_RANK 4

/* What a reader expects to find; decides which HDF5 type classes are accepted. */
typedef enum { WANT_NUMBER, WANT_INTEGER, WANT_STRING } value_kind;

/* "file.h5:/group/obj", big enough for a full path plus an object path. */
typedef struct {
    char s[8448];
} obj_name;

void h5io_init(void)
{
    /* Errors are reported through err_set(); HDF5's stack dumps would only add noise. */
    H5open();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* ------------------------------------------------------------------ names */

/* Name of the file holding `loc`.  While a writer is open the file is
 * "<final>.tmp.<pid>"; messages name the final path the user knows. */
static void file_name_of(hid_t loc, char *buf, size_t size)
{
    if (H5Fget_name(loc, buf, size) <= 0) {
        snprintf(buf, size, "?");
        return;
    }
    char suffix[32];
    file_tmp_path("", suffix, sizeof suffix); /* ".tmp.<pid>" */
    size_t len = strlen(buf), slen = strlen(suffix);
    if (len > slen && strcmp(buf + len - slen, suffix) == 0)
        buf[len - slen] = '\0';
}

/* "file:/abs/path" for `path` relative to `loc` ("." or NULL = loc itself). */
static obj_name describe(hid_t loc, const char *path)
{
    obj_name n;
    char file[4096], base[4096] = "";
    file_name_of(loc, file, sizeof file);
    int relative = path == NULL || path[0] != '/';
    if (relative && H5Iget_name(loc, base, sizeof base) <= 0)
        snprintf(base, sizeof base, "?");
    if (path == NULL || path[0] == '\0' || strcmp(path, ".") == 0)
        snprintf(n.s, sizeof n.s, "%s:%s", file, base);
    else if (!relative)
        snprintf(n.s, sizeof n.s, "%s:%s", file, path);
    else
        snprintf(n.s, sizeof n.s, "%s:%s%s%s", file, base,
                 base[0] != '\0' && base[strlen(base) - 1] == '/' ? "" : "/", path);
    return n;
}

static const char *kind_name(value_kind want)
{
    switch (want) {
    case WANT_NUMBER: return "a number";
    case WANT_INTEGER: return "an integer";
    case WANT_STRING: return "a string";
    }
    return "?";
}

/* Phrase for what a stored type class is, for "... is a string, expected ..." messages. */
static const char *class_phrase(H5T_class_t cls)
{
    switch (cls) {
    case H5T_INTEGER: return "is an integer";
    case H5T_FLOAT: return "is a floating-point number";
    case H5T_STRING: return "is a string";
    default: return "has an unsupported type";
    }
}

/* Whether HDF5 can convert a stored `cls` to what the reader wants without loss of meaning. */
static int class_accepted(H5T_class_t cls, value_kind want)
{
    switch (want) {
    case WANT_NUMBER: return cls == H5T_FLOAT || cls == H5T_INTEGER;
    case WANT_INTEGER: return cls == H5T_INTEGER;
    case WANT_STRING: return cls == H5T_STRING;
    }
    return 0;
}

/* -------------------------------------------------------------- helpers */

static int is_self(const char *obj) { return obj == NULL || obj[0] == '\0' || strcmp(obj, ".") == 0; }

/* Link creation plist that makes missing parent groups on the way. */
static hid_t lcpl_with_parents(void)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        H5Pclose(lcpl);
        return H5I_INVALID_HID;
    }
    return lcpl;
}

/* A VL UTF-8 string type: h5py returns such attributes as str. */
static hid_t utf8_vlen_type(void)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    if (type < 0)
        return H5I_INVALID_HID;
    if (H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0) {
        H5Tclose(type);
        return H5I_INVALID_HID;
    }
    return type;
}

/* Type class of a type id, closing it (so callers need no cleanup). */
static H5T_class_t class_and_close(hid_t type)
{
    if (type < 0)
        return H5T_NO_CLASS;
    H5T_class_t cls = H5Tget_class(type);
    H5Tclose(type);
    return cls;
}

/* Element count of a dataspace id, closing it; -1 on failure. */
static hssize_t npoints_and_close(hid_t space)
{
    if (space < 0)
        return -1;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    return n;
}

/* Whether `prefix` (relative to loc) opens as a group, so deeper lookups are legal. */
static int component_is_group(hid_t loc, const char *prefix)
{
    hid_t obj = H5Oopen(loc, prefix, H5P_DEFAULT);
    if (obj < 0)
        return 0;
    int is_group = H5Iget_type(obj) == H5I_GROUP;
    H5Oclose(obj);
    return is_group;
}

int h5_exists(hid_t loc, const char *path)
{
    if (path == NULL || path[0] == '\0')
        return 0;
    if (strcmp(path, ".") == 0 || strcmp(path, "/") == 0)
        return 1;
    /* H5Lexists fails (rather than returning 0) when a parent is missing, so
     * walk the components, checking each parent is a group before going deeper. */
    size_t len = strlen(path);
    char *prefix = malloc(len + 2);
    if (prefix == NULL)
        return 0;
    size_t plen = 0;
    if (path[0] == '/')
        prefix[plen++] = '/';
    prefix[plen] = '\0';
    int found = 1;
    const char *p = path;
    while (found && *p != '\0') {
        while (*p == '/')
            p++;
        size_t clen = strcspn(p, "/");
        if (clen == 0)
            break;
        int dot = clen == 1 && p[0] == '.';
        if (!dot) {
            if (plen > 0 && prefix[plen - 1] != '/') {
                if (!component_is_group(loc, prefix)) {
                    found = 0;
                    break;
                }
                prefix[plen++] = '/';
            }
            memcpy(prefix + plen, p, clen);
            plen += clen;
            prefix[plen] = '\0';
            found = H5Lexists(loc, prefix, H5P_DEFAULT) > 0;
        }
        p += clen;
    }
    free(prefix);
    return found;
}

/* Open `obj` under loc ("." = loc itself) for attribute access.  With
 * `create`, a missing path becomes a chain of new groups. */
static hid_t open_attr_target(hid_t loc, const char *obj, int create)
{
    const char *path = is_self(obj) ? "." : obj;
    if (is_self(obj) || h5_exists(loc, path)) {
        hid_t target = H5Oopen(loc, path, H5P_DEFAULT);
        if (target < 0)
            err_set("%s: cannot open object", describe(loc, path).s);
        return target;
    }
    if (!create) {
        err_set("%s: no such group or dataset", describe(loc, path).s);
        return H5I_INVALID_HID;
    }
    hid_t lcpl = lcpl_with_parents();
    hid_t group = lcpl < 0 ? H5I_INVALID_HID : H5Gcreate2(loc, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (group < 0)
        err_set("%s: cannot create group (is a parent a dataset?)", describe(loc, path).s);
    return group;
}

/* --------------------------------------------------------------- writer */

/* The temp file must live in the final file's directory (rename is atomic only
 * within a filesystem), so check that directory up front with a clear message. */
static int check_output_dir(const char *final_path)
{
    char dir[4096];
    struct stat st;
    file_dir_of(final_path, dir, sizeof dir);
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return err_set("%s: cannot write: directory %s does not exist", final_path, dir);
        return err_set("%s: cannot write: directory %s: %s", final_path, dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return err_set("%s: cannot write: %s is not a directory", final_path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return err_set("%s: cannot write: directory %s is not writable (%s)", final_path, dir, strerror(errno));
    if (stat(final_path, &st) == 0 && S_ISDIR(st.st_mode))
        return err_set("%s: cannot write: is a directory", final_path);
    return 0;
}

int h5w_create(h5_writer *w, const char *final_path)
{
    /* Start from the "nothing open" state so h5w_abort() is safe after any failure. */
    w->file = H5I_INVALID_HID;
    w->final_path[0] = '\0';
    w->tmp_path[0] = '\0';
    if (final_path == NULL || final_path[0] == '\0')
        return err_set("h5w_create: empty output path");
    if (strlen(final_path) >= sizeof w->final_path)
        return err_set("%.200s...: output path too long", final_path);
    if (check_output_dir(final_path) < 0)
        return -1;
    snprintf(w->final_path, sizeof w->final_path, "%s", final_path);
    if (file_tmp_path(final_path, w->tmp_path, sizeof w->tmp_path) < 0) {
        w->tmp_path[0] = '\0'; /* nothing to remove */
        return -1;
    }
    w->file = H5Fcreate(w->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        err_set("%s: cannot create temporary HDF5 file %s", final_path, w->tmp_path);
        unlink(w->tmp_path);
        w->tmp_path[0] = '\0';
        return -1;
    }
    return 0;
}

int h5w_commit(h5_writer *w)
{
    if (w->file < 0)
        return err_set("%s: commit of a writer that is not open", w->final_path);
    /* An id still open would keep HDF5 writing to the file after the rename. */
    ssize_t open_ids = H5Fget_obj_count(w->file, H5F_OBJ_ALL | H5F_OBJ_LOCAL);
    if (open_ids > 1) {
        err_set("%s: %zd HDF5 objects still open at commit", w->final_path, open_ids - 1);
        h5w_abort(w);
        return -1;
    }
    if (H5Fflush(w->file, H5F_SCOPE_LOCAL) < 0) {
        err_set("%s: flushing %s failed (disk full?)", w->final_path, w->tmp_path);
        h5w_abort(w);
        return -1;
    }
    herr_t closed = H5Fclose(w->file);
    w->file = H5I_INVALID_HID;
    if (closed < 0) {
        err_set("%s: closing %s failed (disk full?)", w->final_path, w->tmp_path);
        h5w_abort(w);
        return -1;
    }
    /* fsync, rename, fsync the directory; a failure removes the temporary. */
    int rc = file_commit(w->tmp_path, w->final_path);
    w->tmp_path[0] = '\0';
    return rc;
}

void h5w_abort(h5_writer *w)
{
    if (w == NULL)
        return;
    if (w->file >= 0)
        H5Fclose(w->file);
    w->file = H5I_INVALID_HID;
    if (w->tmp_path[0] != '\0')
        unlink(w->tmp_path);
    w->tmp_path[0] = '\0';
}

/* --------------------------------------------------------------- reader */

int h5_open_read(const char *path, hid_t *file)
{
    struct stat st;
    *file = H5I_INVALID_HID;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return err_set("%s: no such file", path);
        return err_set("%s: %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode))
        return err_set("%s: is a directory, not an HDF5 file", path);
    if (access(path, R_OK) != 0)
        return err_set("%s: cannot read: %s", path, strerror(errno));
    /* HDF5 rejects a missing signature and an end of file before the stored end address. */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return err_set("%s: not a readable HDF5 file (truncated or corrupt?)", path);
    *file = f;
    return 0;
}

void h5_close(hid_t file)
{
    if (file >= 0)
        H5Fclose(file);
}

/* ----------------------------------------------------------- attributes */

/* Create (or replace) attribute `name` on `obj` holding one value of `type`. */
static int attr_write(hid_t loc, const char *obj, const char *name, hid_t type, const void *value)
{
    if (name == NULL || name[0] == '\0')
        return err_set("%s: empty attribute name", describe(loc, obj).s);
    if (type < 0)
        return err_set("%s: attribute '%s': cannot make HDF5 type", describe(loc, obj).s, name);
    hid_t target = open_attr_target(loc, obj, 1);
    if (target < 0)
        return -1;
    int rc = -1;
    hid_t space = H5Screate(H5S_SCALAR), attr = H5I_INVALID_HID;
    htri_t exists = H5Aexists(target, name);
    /* Replacing lets a value change type; HDF5 cannot overwrite in place. */
    if (space >= 0 && exists >= 0 && (exists == 0 || H5Adelete(target, name) >= 0))
        attr = H5Acreate2(target, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr >= 0 && H5Awrite(attr, type, value) >= 0)
        rc = 0;
    else
        err_set("%s: cannot write attribute '%s'", describe(loc, obj).s, name);
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    H5Oclose(target);
    return rc;
}

int h5_attr_write_str(hid_t loc, const char *obj, const char *name, const char *value)
{
    if (value == NULL)
        return err_set("%s: attribute '%s': NULL string", describe(loc, obj).s, name ? name : "?");
    hid_t type = utf8_vlen_type();
    int rc = attr_write(loc, obj, name, type, &value);
    if (type >= 0)
        H5Tclose(type);
    return rc;
}

int h5_attr_write_f64(hid_t loc, const char *obj, const char *name, double value)
{
    return attr_write(loc, obj, name, H5T_NATIVE_DOUBLE, &value);
}

int h5_attr_write_i64(hid_t loc, const char *obj, const char *name, int64_t value)
{
    return attr_write(loc, obj, name, H5T_NATIVE_INT64, &value);
}

int h5_attr_exists(hid_t loc, const char *obj, const char *name)
{
    const char *path = is_self(obj) ? "." : obj;
    if (name == NULL || name[0] == '\0' || !h5_exists(loc, path))
        return 0;
    return H5Aexists_by_name(loc, path, name, H5P_DEFAULT) > 0;
}

/* Open attribute `name` of `obj`, checking it exists, holds exactly one value,
 * and has a type class that converts to `want`. */
static hid_t attr_open_checked(hid_t loc, const char *obj, const char *name, value_kind want)
{
    const char *path = is_self(obj) ? "." : obj;
    if (name == NULL || name[0] == '\0') {
        err_set("%s: empty attribute name", describe(loc, path).s);
        return H5I_INVALID_HID;
    }
    if (!h5_exists(loc, path)) {
        err_set("%s: no such group or dataset (reading attribute '%s')", describe(loc, path).s, name);
        return H5I_INVALID_HID;
    }
    if (H5Aexists_by_name(loc, path, name, H5P_DEFAULT) <= 0) {
        err_set("%s: no attribute '%s'", describe(loc, path).s, name);
        return H5I_INVALID_HID;
    }
    hid_t attr = H5Aopen_by_name(loc, path, name, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0) {
        err_set("%s: cannot open attribute '%s'", describe(loc, path).s, name);
        return H5I_INVALID_HID;
    }
    H5T_class_t cls = class_and_close(H5Aget_type(attr));
    hssize_t n = npoints_and_close(H5Aget_space(attr));
    if (!class_accepted(cls, want))
        err_set("%s: attribute '%s' %s, expected %s", describe(loc, path).s, name, class_phrase(cls),
                kind_name(want));
    else if (n != 1)
        err_set("%s: attribute '%s' has %lld values, expected a single value", describe(loc, path).s, name,
                (long long)n);
    else
        return attr;
    H5Aclose(attr);
    return H5I_INVALID_HID;
}

/* Read one numeric attribute value converted to `memtype`. */
static int attr_read_number(hid_t loc, const char *obj, const char *name, value_kind want, hid_t memtype,
                            void *value)
{
    hid_t attr = attr_open_checked(loc, obj, name, want);
    if (attr < 0)
        return -1;
    int rc = 0;
    if (H5Aread(attr, memtype, value) < 0)
        rc = err_set("%s: cannot read attribute '%s'", describe(loc, obj).s, name);
    H5Aclose(attr);
    return rc;
}

int h5_attr_read_f64(hid_t loc, const char *obj, const char *name, double *value)
{
    return attr_read_number(loc, obj, name, WANT_NUMBER, H5T_NATIVE_DOUBLE, value);
}

int h5_attr_read_i64(hid_t loc, const char *obj, const char *name, int64_t *value)
{
    return attr_read_number(loc, obj, name, WANT_INTEGER, H5T_NATIVE_INT64, value);
}

/* Read a string attribute, variable-length or fixed-size, into a malloc'd copy. */
static char *read_string(hid_t attr)
{
    hid_t ftype = H5Aget_type(attr);
    if (ftype < 0)
        return NULL;
    htri_t is_vlen = H5Tis_variable_str(ftype);
    size_t fixed_size = H5Tget_size(ftype);
    hid_t memtype = H5Tcopy(H5T_C_S1);
    char *out = NULL;
    if (memtype >= 0 && is_vlen >= 0 && H5Tset_cset(memtype, H5Tget_cset(ftype)) >= 0) {
        if (is_vlen > 0) {
            char *vl = NULL;
            if (H5Tset_size(memtype, H5T_VARIABLE) >= 0 && H5Aread(attr, memtype, &vl) >= 0) {
                out = strdup(vl ? vl : "");
                H5free_memory(vl);
            }
        } else {
            /* One more byte than stored, NUL-terminated, so the result is always a C string. */
            out = calloc(fixed_size + 1, 1);
            if (out != NULL && (H5Tset_size(memtype, fixed_size + 1) < 0 ||
                                H5Tset_strpad(memtype, H5T_STR_NULLTERM) < 0 || H5Aread(attr, memtype, out) < 0)) {
                free(out);
                out = NULL;
            }
        }
    }
    if (memtype >= 0)
        H5Tclose(memtype);
    H5Tclose(ftype);
    return out;
}

int h5_attr_read_str(hid_t loc, const char *obj, const char *name, char **value)
{
    *value = NULL;
    hid_t attr = attr_open_checked(loc, obj, name, WANT_STRING);
    if (attr < 0)
        return -1;
    *value = read_string(attr);
    H5Aclose(attr);
    if (*value == NULL)
        return err_set("%s: cannot read string attribute '%s'", describe(loc, obj).s, name);
    return 0;
}

/* ------------------------------------------------------------- datasets */

/* Chunk shape of about CHUNK_TARGET_ELEMENTS: whole trailing rows, splitting leading dims. */
static void choose_chunk(int ndim, const hsize_t *dims, hsize_t *chunk)
{
    hsize_t room = CHUNK_TARGET_ELEMENTS;
    for (int i = ndim - 1; i >= 0; i--) {
        hsize_t c = room < 1 ? 1 : room;
        chunk[i] = dims[i] < c ? dims[i] : c;
        room /= chunk[i];
    }
}

/* Dataset creation plist: contiguous, or shuffle+deflate chunks for large float data. */
static hid_t dataset_cpl(int ndim, const hsize_t *dims, hsize_t count, int compressible)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0 || !compressible || count <= COMPRESS_MIN_ELEMENTS || H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0)
        return dcpl;
    hsize_t chunk[MAX_RANK];
    choose_chunk(ndim, dims, chunk);
    /* Level 1: most of the gain at a fraction of the time (checkpoints are written under deadlines). */
    if (H5Pset_chunk(dcpl, ndim, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 1) < 0) {
        H5Pclose(dcpl); /* fall back to a plain contiguous layout */
        return H5Pcreate(H5P_DATASET_CREATE);
    }
    return dcpl;
}

static int dataset_write(hid_t loc, const char *path, hid_t type, const void *data, int ndim, const size_t *dims,
                         int compressible)
{
    if (path == NULL || path[0] == '\0' || is_self(path))
        return err_set("%s: dataset needs a name", describe(loc, ".").s);
    if (ndim < 1 || ndim > MAX_RANK || dims == NULL)
        return err_set("%s: rank %d not supported (1..%d)", describe(loc, path).s, ndim, MAX_RANK);
    hsize_t hdims[MAX_RANK], count = 1;
    for (int i = 0; i < ndim; i++) {
        hdims[i] = dims[i];
        count *= hdims[i];
    }
    if (data == NULL && count > 0)
        return err_set("%s: no data to write", describe(loc, path).s);
    if (h5_exists(loc, path))
        return err_set("%s: already exists", describe(loc, path).s);
    int rc = -1;
    hid_t space = H5Screate_simple(ndim, hdims, NULL);
    hid_t lcpl = lcpl_with_parents();
    hid_t dcpl = dataset_cpl(ndim, hdims, count, compressible);
    hid_t dset = H5I_INVALID_HID;
    if (space >= 0 && lcpl >= 0 && dcpl >= 0)
        dset = H5Dcreate2(loc, path, type, space, lcpl, dcpl, H5P_DEFAULT);
    if (dset < 0)
        err_set("%s: cannot create dataset (is a parent a dataset?)", describe(loc, path).s);
    else if (count > 0 && H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        err_set("%s: cannot write dataset (disk full?)", describe(loc, path).s);
    else
        rc = 0;
    if (dset >= 0)
        H5Dclose(dset);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

int h5_write_f32(hid_t loc, const char *path, const float *data, int ndim, const size_t *dims)
{
    return dataset_write(loc, path, H5T_NATIVE_FLOAT, data, ndim, dims, 1);
}

int h5_write_f64(hid_t loc, const char *path, const double *data, int ndim, const size_t *dims)
{
    return dataset_write(loc, path, H5T_NATIVE_DOUBLE, data, ndim, dims, 1);
}

int h5_write_u64(hid_t loc, const char *path, const uint64_t *data, int ndim, const size_t *dims)
{
    return dataset_write(loc, path, H5T_NATIVE_UINT64, data, ndim, dims, 0);
}

/* Open dataset `path`, erroring when it is missing or is not a dataset. */
static hid_t dataset_open(hid_t loc, const char *path)
{
    if (path == NULL || path[0] == '\0' || !h5_exists(loc, path)) {
        err_set("%s: no such dataset", describe(loc, path).s);
        return H5I_INVALID_HID;
    }
    hid_t obj = H5Oopen(loc, path, H5P_DEFAULT);
    if (obj >= 0 && H5Iget_type(obj) == H5I_DATASET)
        return obj;
    err_set("%s: %s", describe(loc, path).s, obj < 0 ? "cannot open dataset" : "is not a dataset");
    if (obj >= 0)
        H5Oclose(obj);
    return H5I_INVALID_HID;
}

int h5_dataset_count(hid_t loc, const char *path, size_t *count)
{
    hid_t dset = dataset_open(loc, path);
    if (dset < 0)
        return -1;
    hssize_t n = npoints_and_close(H5Dget_space(dset));
    H5Dclose(dset);
    if (n < 0)
        return err_set("%s: cannot read the dataset's shape", describe(loc, path).s);
    *count = (size_t)n;
    return 0;
}

/* Read all of dataset `path` as `memtype`, which must hold exactly `count` elements. */
static int dataset_read(hid_t loc, const char *path, hid_t memtype, value_kind want, void *data, size_t count)
{
    hid_t dset = dataset_open(loc, path);
    if (dset < 0)
        return -1;
    int rc = -1;
    H5T_class_t cls = class_and_close(H5Dget_type(dset));
    hssize_t n = npoints_and_close(H5Dget_space(dset));
    if (!class_accepted(cls, want))
        err_set("%s: %s, expected %s", describe(loc, path).s, class_phrase(cls), kind_name(want));
    else if (n < 0)
        err_set("%s: cannot read the dataset's shape", describe(loc, path).s);
    else if ((size_t)n != count)
        err_set("%s: has %lld elements, expected %zu", describe(loc, path).s, (long long)n, count);
    else if (count > 0 && H5Dread(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        err_set("%s: cannot read dataset (corrupt file?)", describe(loc, path).s);
    else
        rc = 0;
    H5Dclose(dset);
    return rc;
}

int h5_read_f32(hid_t loc, const char *path, float *data, size_t count)
{
    return dataset_read(loc, path, H5T_NATIVE_FLOAT, WANT_NUMBER, data, count);
}

int h5_read_f64(hid_t loc, const char *path, double *data, size_t count)
{
    return dataset_read(loc, path, H5T_NATIVE_DOUBLE, WANT_NUMBER, data, count);
}

int h5_read_u64(hid_t loc, const char *path, uint64_t *data, size_t count)
{
    return dataset_read(loc, path, H5T_NATIVE_UINT64, WANT_INTEGER, data, count);
}
