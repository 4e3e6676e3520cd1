/* h5io.h — small HDF5 helpers for result.h5 and ckpt.h5.
 *
 * Files are written atomically: h5w_create() opens "<final>.tmp.<pid>" next
 * to the final path, h5w_commit() flushes, closes, fsyncs and renames it
 * over the final path (then fsyncs the directory).  Until the rename the
 * previous file at the final path, if any, is untouched; h5w_abort()
 * removes the temporary file.
 *
 * Strings are UTF-8 variable-length scalar attributes (h5py reads them as
 * str); numbers are scalar attributes (h5py reads numpy scalars) or
 * datasets.  `path` arguments may contain '/', and writers create the
 * intermediate groups.  Every failure records a message naming the file
 * and the object (err_set).  HDF5's own error stack printing is turned off
 * by h5io_init().
 */
#ifndef PHIVE_H5IO_H
#define PHIVE_H5IO_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

void h5io_init(void);

typedef struct {
    hid_t file;
    char final_path[4096];
    char tmp_path[4160];
} h5_writer;

int h5w_create(h5_writer *w, const char *final_path);
int h5w_commit(h5_writer *w);
void h5w_abort(h5_writer *w);

/* Open for reading; a missing, unreadable, non-HDF5 or truncated file is an error naming it. */
int h5_open_read(const char *path, hid_t *file);
void h5_close(hid_t file);

/* Attributes on a file or group (`loc`); `obj` is the object path ("." = loc itself). */
int h5_attr_write_str(hid_t loc, const char *obj, const char *name, const char *value);
int h5_attr_write_f64(hid_t loc, const char *obj, const char *name, double value);
int h5_attr_write_i64(hid_t loc, const char *obj, const char *name, int64_t value);
int h5_attr_read_str(hid_t loc, const char *obj, const char *name, char **value); /* malloc'd */
int h5_attr_read_f64(hid_t loc, const char *obj, const char *name, double *value);
int h5_attr_read_i64(hid_t loc, const char *obj, const char *name, int64_t *value);
int h5_attr_exists(hid_t loc, const char *obj, const char *name);            /* 1, 0 */

/* Datasets of rank ndim (1..4), contiguous row-major data. */
int h5_write_f32(hid_t loc, const char *path, const float *data, int ndim, const size_t *dims);
int h5_write_f64(hid_t loc, const char *path, const double *data, int ndim, const size_t *dims);
int h5_write_u64(hid_t loc, const char *path, const uint64_t *data, int ndim, const size_t *dims);
/* Read exactly `count` elements; a dataset of another size or a missing one is an error. */
int h5_read_f32(hid_t loc, const char *path, float *data, size_t count);
int h5_read_f64(hid_t loc, const char *path, double *data, size_t count);
int h5_read_u64(hid_t loc, const char *path, uint64_t *data, size_t count);
/* Element count of a dataset (error when missing). */
int h5_dataset_count(hid_t loc, const char *path, size_t *count);
int h5_exists(hid_t loc, const char *path); /* 1 when the link path exists, else 0 */

#endif
