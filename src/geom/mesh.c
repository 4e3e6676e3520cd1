/* mesh.c — mesh lifetime, format dispatch and the helpers the OBJ and PLY
 * modules share: whole-file loading, array growth, number parsing, atomic
 * writes (see mesh.h). */
#include "phive/mesh.h"
#include "mesh_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phive/errors.h"

void mesh_init(mesh *m) { memset(m, 0, sizeof *m); }

void mesh_free(mesh *m)
{
    free(m->positions);
    free(m->normals);
    free(m->colors);
    free(m->uvs);
    free(m->faces);
    free(m->face_uvs);
    mesh_init(m);
}

/* calloc that treats a zero count as success (it may return NULL then). */
static int alloc_zeroed(void **out, size_t count, size_t elem_size)
{
    *out = count ? calloc(count, elem_size) : NULL;
    return count && *out == NULL ? -1 : 0;
}

int mesh_alloc(mesh *m, size_t n_vertices, size_t n_faces)
{
    mesh_init(m);
    if (n_vertices > UINT32_MAX || n_faces > SIZE_MAX / 12)
        return err_set("mesh_alloc: %zu vertices, %zu faces: too many", n_vertices, n_faces);
    if (alloc_zeroed((void **)&m->positions, n_vertices * 3, sizeof(float)) ||
        alloc_zeroed((void **)&m->faces, n_faces * 3, sizeof(uint32_t))) {
        mesh_free(m);
        return err_set("mesh_alloc: out of memory for %zu vertices, %zu faces", n_vertices, n_faces);
    }
    m->n_vertices = n_vertices;
    m->n_faces = n_faces;
    return 0;
}

int mesh_validate(const mesh *m)
{
    if ((m->n_vertices && m->positions == NULL) || (m->n_faces && m->faces == NULL) ||
        (m->n_uvs && m->uvs == NULL))
        return err_set("mesh: counts promise arrays that are NULL");
    if (m->n_vertices > UINT32_MAX)
        return err_set("mesh: %zu vertices do not fit 32-bit indices", m->n_vertices);
    for (size_t f = 0; f < m->n_faces * 3; f++)
        if (m->faces[f] >= m->n_vertices)
            return err_set("mesh: face %zu: vertex index %u out of range (%zu vertices)", f / 3,
                           m->faces[f], m->n_vertices);
    for (size_t f = 0; m->face_uvs && f < m->n_faces * 3; f++)
        if (m->face_uvs[f] >= m->n_uvs)
            return err_set("mesh: face %zu: uv index %u out of range (%zu uvs)", f / 3, m->face_uvs[f],
                           m->n_uvs);
    return 0;
}

/* ------------------------------------------------------------ dispatch */

static const char *extension_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

int mesh_read(const char *path, mesh *m)
{
    const char *ext = extension_of(path);
    if (strcasecmp(ext, "obj") == 0)
        return mesh_read_obj(path, m);
    if (strcasecmp(ext, "ply") == 0)
        return mesh_read_ply(path, m);
    mesh_init(m);
    return err_set("%s: unknown mesh format \"%s\" (expected .obj or .ply)", path, ext);
}

/* PLY is written binary: a quarter of the size of ASCII and much faster. */
int mesh_write(const char *path, const mesh *m)
{
    const char *ext = extension_of(path);
    if (strcasecmp(ext, "obj") == 0)
        return mesh_write_obj(path, m);
    if (strcasecmp(ext, "ply") == 0)
        return mesh_write_ply(path, m, 1);
    return err_set("%s: unknown mesh format \"%s\" (expected .obj or .ply)", path, ext);
}

/* ------------------------------------------------------------ shared helpers */

static int read_all(int fd, char *data, size_t size, const char *path)
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

int mesh_load_file(const char *path, char **data, size_t *size)
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
    int rc = read_all(fd, buffer, n, path);
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

int mesh_grow(void **array, size_t *capacity, size_t needed, size_t elem_size)
{
    if (needed <= *capacity)
        return 0;
    size_t cap = *capacity ? *capacity : 1024;
    while (cap < needed)
        cap = cap > SIZE_MAX / 2 ? needed : cap * 2;
    if (cap > SIZE_MAX / elem_size)
        return err_set("mesh: %zu elements of %zu bytes overflow memory", needed, elem_size);
    void *grown = realloc(*array, cap * elem_size);
    if (grown == NULL)
        return err_set("mesh: out of memory for %zu elements", cap);
    *array = grown;
    *capacity = cap;
    return 0;
}

/* Powers of ten that doubles hold exactly (Clinger's fast path). */
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Scans [sign] digits [. digits] [e [sign] digits]; returns the end or NULL.
 * Up to 19 significant digits go to *mantissa (*exact = 0 beyond). */
static const char *scan_decimal(const char *s, uint64_t *mantissa, int *exp10, int *exact)
{
    int digits = 0, significant = 0, frac = 0;
    uint64_t m = 0;
    *exact = 1;
    for (int in_frac = 0;; s++) {
        if (*s == '.' && !in_frac) {
            in_frac = 1;
            continue;
        }
        if (!is_digit(*s))
            break;
        digits++;
        frac += in_frac;
        if (m == 0 && *s == '0')
            continue; /* leading zeros are not significant */
        if (++significant > 19) {
            *exact = 0;
            continue;
        }
        m = m * 10 + (uint64_t)(*s - '0');
    }
    if (digits == 0)
        return NULL;
    int e = 0;
    if (*s == 'e' || *s == 'E') {
        const char *t = s + 1;
        int negative = *t == '-';
        t += *t == '-' || *t == '+';
        if (!is_digit(*t))
            return NULL;
        for (; is_digit(*t); t++)
            e = e < 10000 ? e * 10 + (*t - '0') : e;
        e = negative ? -e : e;
        s = t;
    }
    *mantissa = m;
    *exp10 = e - frac;
    return s;
}

const char *mesh_parse_number(const char *s, double *value)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    const char *start = s;
    int negative = *s == '-';
    s += *s == '-' || *s == '+';
    uint64_t m;
    int e, exact;
    const char *end = scan_decimal(s, &m, &e, &exact);
    if (end == NULL)
        return NULL;
    double v;
    if (exact && m < (1ull << 53) && e >= -22 && e <= 22)
        v = e < 0 ? (double)m / exact_pow10[-e] : (double)m * exact_pow10[e];
    else if (exact && m == 0)
        v = 0.0;
    else {
        /* The syntax is already checked, so strtod parses the same span;
         * a C locale is assumed (phive never calls setlocale). */
        char *strtod_end;
        v = strtod(start, &strtod_end);
        if (strtod_end != end)
            return NULL;
        negative = 0;
    }
    if (!isfinite(v))
        return NULL;
    *value = negative ? -v : v;
    return end;
}

/* ------------------------------------------------------------ atomic writer */

static void dir_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, size, ".");
    else if (slash == path)
        snprintf(dir, size, "/");
    else
        snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

/* Directories may refuse fsync (EINVAL), which is fine. */
static int fsync_dir_of(const char *path)
{
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0)
        return err_set("%s: cannot open directory %s for fsync: %s", path, dir, strerror(errno));
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = err_set("%s: fsync of directory %s failed: %s", path, dir, strerror(errno));
    close(fd);
    return rc;
}

enum { WRITE_BUFFER = 1 << 20 };

int mesh_writer_open(mesh_writer *w, const char *path)
{
    memset(w, 0, sizeof *w);
    if (path == NULL || path[0] == '\0')
        return err_set("mesh: empty output path");
    size_t len = strlen(path) + 32;
    w->path = strdup(path);
    w->tmp_path = malloc(len);
    w->buffer = malloc(WRITE_BUFFER);
    if (w->path == NULL || w->tmp_path == NULL || w->buffer == NULL) {
        mesh_writer_abort(w);
        return err_set("%s: out of memory", path);
    }
    snprintf(w->tmp_path, len, "%s.tmp.%ld", path, (long)getpid());
    w->file = fopen(w->tmp_path, "wb");
    if (w->file == NULL) {
        err_set("%s: cannot create %s: %s", path, w->tmp_path, strerror(errno));
        free(w->tmp_path); /* nothing to unlink */
        w->tmp_path = NULL;
        mesh_writer_abort(w);
        return -1;
    }
    setvbuf(w->file, w->buffer, _IOFBF, WRITE_BUFFER);
    return 0;
}

void mesh_writer_abort(mesh_writer *w)
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

int mesh_writer_commit(mesh_writer *w)
{
    if (w->file == NULL)
        return err_set("mesh: commit of a writer that is not open");
    int failed = ferror(w->file) || fflush(w->file) || fsync(fileno(w->file));
    int saved = errno;
    int close_failed = fclose(w->file);
    w->file = NULL;
    if (failed || close_failed) {
        err_set("%s: writing %s failed: %s", w->path, w->tmp_path, strerror(failed ? saved : errno));
        mesh_writer_abort(w);
        return -1;
    }
    if (rename(w->tmp_path, w->path) != 0) {
        err_set("%s: cannot rename %s over it: %s", w->path, w->tmp_path, strerror(errno));
        mesh_writer_abort(w);
        return -1;
    }
    free(w->tmp_path); /* renamed: nothing left to unlink */
    w->tmp_path = NULL;
    int rc = fsync_dir_of(w->path); /* makes the rename itself durable */
    mesh_writer_abort(w);
    return rc;
}
