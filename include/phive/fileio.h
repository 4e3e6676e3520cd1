/* fileio.h — whole-file reads and atomic file writes (core module).
 *
 * Contract, shared by every module that reads or writes files (mesh, array,
 * image, HDF5 and report writers):
 *
 * - file_read_all() reads a whole regular file into a new buffer (free() it)
 *   that is NUL-terminated; *size excludes the NUL, so text parsers can use
 *   the buffer as a C string and binary readers see exactly the file's bytes.
 *   A FIFO or device is refused ("not a regular file") instead of hanging.
 *
 * - Writes are atomic: the data goes to "<path>.tmp.<pid>" in the same
 *   directory (rename is atomic only within a filesystem), which is flushed,
 *   fsynced and renamed over `path`, then the directory is fsynced so the
 *   rename itself is durable.  Until the rename `path` keeps its old content;
 *   on any failure the temporary file is removed and `path` is untouched.
 *   - file_writer: an atomic writer over a buffered FILE *: open, write with
 *     stdio to w.file, then commit (or abort to drop it).
 *   - file_write_atomic(): the same for a buffer already in memory.
 *   - file_commit(): for a temporary file some other library wrote and closed
 *     (libzip, HDF5): fsync it, rename it over `path`, fsync the directory.
 *
 * Errors: every function returns 0 or -1 and, on failure, records one message
 * with err_set() that starts with the file the caller named ("x.obj: cannot
 * open: No such file or directory", "out.h5: cannot rename out.h5.tmp.42
 * over it: ..."); the temporary file is named where it is the one at fault.
 */
#ifndef PHIVE_FILEIO_H
#define PHIVE_FILEIO_H

#include <stddef.h>
#include <stdio.h>

/* The whole file in a new NUL-terminated buffer; *size excludes the NUL.
 * On failure *data is NULL and *size 0. */
int file_read_all(const char *path, char **data, size_t *size);

/* "<path>.tmp.<pid>" into out; -1 (with err_set) when it does not fit. */
int file_tmp_path(const char *path, char *out, size_t size);
/* The directory part of path: "." when it has none, "/" for "/name". */
void file_dir_of(const char *path, char *dir, size_t size);
/* path taken inside dir when it is relative and dir is non-empty ("dir/path"), else path itself;
 * -1 (with err_set naming `what`) when it does not fit. */
int file_resolve(const char *dir, const char *path, const char *what, char *out, size_t size);

/* Atomic writer: write to w.file between open and commit/abort. */
typedef struct {
    FILE *file;
    char *path, *tmp_path;
    char *buffer; /* stdio buffer */
} file_writer;
int file_writer_open(file_writer *w, const char *path);
/* fflush + fsync + close + rename + fsync of the directory; aborts (removes
 * the temporary) on failure.  The writer is closed either way. */
int file_writer_commit(file_writer *w);
/* Close and remove the temporary; harmless on a closed or zeroed writer. */
void file_writer_abort(file_writer *w);

/* Write len bytes to path atomically (through a file_writer). */
int file_write_atomic(const char *path, const void *bytes, size_t len);

/* fsync the closed temporary file tmp_path, rename it over path, fsync the
 * directory; on failure tmp_path is removed. */
int file_commit(const char *tmp_path, const char *path);

/* mkdir -p: path and its missing parents (0775); error when a part exists and is not a directory. */
int file_make_dirs(const char *path);
/* 0 when path is missing or an empty directory, else 1 (output directories that must not be clobbered). */
int file_dir_has_entries(const char *path);

#endif
