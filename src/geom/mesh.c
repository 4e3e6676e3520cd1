/* mesh.c — mesh lifetime, format dispatch and the helpers the OBJ and PLY
 * modules share: whole-file parsing, array growth and number parsing (see
 * mesh.h).  Files are read and written through phive/fileio.h. */
#include "phive/mesh.h"
#include "mesh_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "phive/errors.h"
#include "phive/fileio.h"

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

void mesh_vertex_normals(const mesh *m, float *normals)
{
    double *sum = calloc(m->n_vertices ? 3 * m->n_vertices : 1, sizeof *sum);
    if (!sum) { /* out of memory: zero normals, which callers reject as degenerate */
        memset(normals, 0, 3 * m->n_vertices * sizeof *normals);
        return;
    }
    for (size_t f = 0; f < m->n_faces; ++f) {
        const uint32_t *v = m->faces + 3 * f;
        const float *a = m->positions + 3 * v[0], *b = m->positions + 3 * v[1], *c = m->positions + 3 * v[2];
        double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        /* the unnormalised cross product weights each face by twice its area */
        double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
        for (int k = 0; k < 3; ++k)
            for (int c3 = 0; c3 < 3; ++c3) sum[3 * v[k] + c3] += n[c3];
    }
    for (size_t i = 0; i < m->n_vertices; ++i) {
        double *s = sum + 3 * i, length = sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
        for (int c = 0; c < 3; ++c) normals[3 * i + c] = length > 0 ? (float)(s[c] / length) : 0.0f;
    }
    free(sum);
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

int mesh_read_file(const char *path, mesh *m, mesh_parse_fn parse)
{
    mesh_init(m);
    char *data;
    size_t size;
    if (file_read_all(path, &data, &size))
        return -1;
    int rc = parse(path, data, size, m);
    free(data);
    if (rc)
        mesh_free(m);
    return rc ? -1 : 0;
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
