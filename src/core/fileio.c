/* fileio.c — whole-file reads and atomic file writes (see fileio.h). */
#include "phive/fileio.h"

#include "phive/errors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ reading */

static int read_fully(int fd, char *data, size_t size, const char *path)
{
    size_t done = 0;
    while (done < size) {
        ssize_t got = read(fd, data + done, size - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return err_set("%s: read failed: %s", path, strerror(errno));
        if (got == 0)
            return err_set("%s: file shrank while being read", path);
        done += (size_t)got;
    }
    return 0;
}

int file_read_all(const char *path, char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set("%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *buffer = malloc(n + 1);
    if (buffer == NULL) {
        close(fd);
        return err_set("%s: out of memory for %zu bytes", path, n);
    }
    int rc = read_fully(fd, buffer, n, path);
    close(fd);
    if (rc) {
        free(buffer);
        return -1;
    }
    buffer[n] = '\0';
    *data = buffer;
    *size = n;
    return 0;
}

/* ------------------------------------------------------------ paths */

int file_tmp_path(const char *path, char *out, size_t size)
{
    if ((size_t)snprintf(out, size, "%s.tmp.%ld", path, (long)getpid()) >= size)
        return err_set("%s: path too long", path);
    return 0;
}

void file_dir_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, size, ".");
    else if (slash == path)
        snprintf(dir, size, "/");
    else
        snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

int file_resolve(const char *dir, const char *path, const char *what, char *out, size_t size)
{
    const int inside = path[0] != '/' && dir && dir[0];
    if ((size_t)snprintf(out, size, "%s%s%s", inside ? dir : "", inside ? "/" : "", path) >= size)
        return err_set("%s: path too long", what);
    return 0;
}

/* ------------------------------------------------------------ durability */

/* Directories may refuse fsync (EINVAL, EROFS), which is fine. */
static int fsync_dir_of(const char *path)
{
    char dir[4096];
    file_dir_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0)
        return err_set("%s: cannot open directory %s for fsync: %s", path, dir, strerror(errno));
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = err_set("%s: fsync of directory %s failed: %s", path, dir, strerror(errno));
    close(fd);
    return rc;
}

/* Rename the finished, fsynced tmp_path over path and make the rename durable;
 * tmp_path is removed when the rename fails. */
static int rename_durably(const char *tmp_path, const char *path)
{
    if (rename(tmp_path, path) != 0) {
        int e = errno;
        unlink(tmp_path);
        return err_set("%s: cannot rename %s over it: %s", path, tmp_path, strerror(e));
    }
    return fsync_dir_of(path);
}

int file_commit(const char *tmp_path, const char *path)
{
    int fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set("%s: cannot open %s for fsync: %s", path, tmp_path, strerror(errno));
        unlink(tmp_path);
        return -1;
    }
    int failed = fsync(fd) != 0;
    int e = errno;
    close(fd);
    if (failed) {
        err_set("%s: fsync of %s failed: %s", path, tmp_path, strerror(e));
        unlink(tmp_path);
        return -1;
    }
    return rename_durably(tmp_path, path);
}

/* ------------------------------------------------------------ atomic writer */

enum { WRITE_BUFFER = 1 << 20 };

int file_writer_open(file_writer *w, const char *path)
{
    memset(w, 0, sizeof *w);
    if (path == NULL || path[0] == '\0')
        return err_set("empty output path");
    size_t len = strlen(path) + 32;
    w->path = strdup(path);
    w->tmp_path = malloc(len);
    w->buffer = malloc(WRITE_BUFFER);
    if (w->path == NULL || w->tmp_path == NULL || w->buffer == NULL) {
        free(w->tmp_path); /* nothing to unlink yet */
        w->tmp_path = NULL;
        file_writer_abort(w);
        return err_set("%s: out of memory", path);
    }
    file_tmp_path(path, w->tmp_path, len); /* fits: len has room for the suffix */
    w->file = fopen(w->tmp_path, "wb");
    if (w->file == NULL) {
        err_set("%s: cannot create %s: %s", path, w->tmp_path, strerror(errno));
        free(w->tmp_path); /* nothing to unlink */
        w->tmp_path = NULL;
        file_writer_abort(w);
        return -1;
    }
    setvbuf(w->file, w->buffer, _IOFBF, WRITE_BUFFER);
    return 0;
}

void file_writer_abort(file_writer *w)
{
    if (w->file)
        fclose(w->file);
    if (w->tmp_path)
        unlink(w->tmp_path);
    free(w->path);
    free(w->tmp_path);
    free(w->buffer);
    memset(w, 0, sizeof *w);
}

int file_writer_commit(file_writer *w)
{
    if (w->file == NULL)
        return err_set("commit of a file writer that is not open");
    int failed = ferror(w->file) || fflush(w->file) || fsync(fileno(w->file));
    int saved = errno;
    int close_failed = fclose(w->file);
    w->file = NULL;
    if (failed || close_failed) {
        err_set("%s: writing %s failed: %s", w->path, w->tmp_path, strerror(failed ? saved : errno));
        file_writer_abort(w);
        return -1;
    }
    int rc = rename_durably(w->tmp_path, w->path);
    free(w->tmp_path); /* renamed, or removed by rename_durably */
    w->tmp_path = NULL;
    file_writer_abort(w);
    return rc;
}

int file_write_atomic(const char *path, const void *bytes, size_t len)
{
    file_writer w;
    if (file_writer_open(&w, path) < 0)
        return -1;
    if (len > 0 && fwrite(bytes, 1, len, w.file) != len) {
        err_set("%s: writing %s failed: %s", path, w.tmp_path, strerror(errno));
        file_writer_abort(&w);
        return -1;
    }
    return file_writer_commit(&w);
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0775) && errno != EEXIST) return err_set("%s: cannot create directory: %s", path, strerror(errno));
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode)) return err_set("%s: exists and is not a directory", path);
    return 0;
}

int file_make_dirs(const char *path)
{
    char partial[4096];
    if (snprintf(partial, sizeof partial, "%s", path) >= (int)sizeof partial) return err_set("path too long: %s", path);
    for (char *p = partial + 1; *p; ++p) {
        if (*p != '/') continue;
        *p = '\0';
        if (make_dir(partial)) return -1;
        *p = '/';
    }
    return make_dir(partial);
}

int file_dir_has_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT ? 0 : 1;
    const struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) found = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return found;
}
