/* mesh_ply.c — Stanford PLY reader and writer (see mesh.h).
 *
 * Reads ascii, binary_little_endian and binary_big_endian.  The vertex
 * element gives x y z (any numeric type) and optionally nx ny nz and
 * red green blue (integers 0..255, or floats 0..1); the face element gives a
 * vertex_indices (or vertex_index) list, fan-triangulated.  Every other
 * property and element is skipped by its type.  ASCII bodies are read one
 * element per line, so a missing or short line is reported at the element
 * where it shows.  Writes ascii or binary little endian.
 */
#include "phive/mesh.h"
#include "mesh_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/fileio.h"

/* ------------------------------------------------------------ header model */

typedef enum { T_INT8, T_UINT8, T_INT16, T_UINT16, T_INT32, T_UINT32, T_FLOAT32, T_FLOAT64, T_COUNT } ply_type;

static const struct {
    const char *name, *alias;
    size_t size;
} type_info[T_COUNT] = {
    {"char", "int8", 1},   {"uchar", "uint8", 1},  {"short", "int16", 2},   {"ushort", "uint16", 2},
    {"int", "int32", 4},   {"uint", "uint32", 4},  {"float", "float32", 4}, {"double", "float64", 8},
};

static int is_float_type(ply_type t) { return t == T_FLOAT32 || t == T_FLOAT64; }

/* What a property means to the mesh; ROLE_NONE is skipped. */
enum { R_X, R_Y, R_Z, R_NX, R_NY, R_NZ, R_RED, R_GREEN, R_BLUE, R_INDICES, R_COUNT, ROLE_NONE = R_COUNT };

static const char *const vertex_role_names[][2] = {
    {"x", NULL},  {"y", NULL},  {"z", NULL},          {"nx", NULL},          {"ny", NULL},
    {"nz", NULL}, {"red", "diffuse_red"}, {"green", "diffuse_green"}, {"blue", "diffuse_blue"},
};

typedef struct {
    char name[64];
    ply_type type;       /* the value type (of the items, for a list) */
    ply_type count_type; /* lists only */
    int is_list, role;
} ply_property;

typedef struct {
    char name[64];
    size_t count;
    ply_property *props;
    int n_props;
} ply_element;

enum { PLY_ASCII, PLY_LE, PLY_BE };

typedef struct {
    const char *path;
    int format;
    ply_element *elements;
    int n_elements;
    size_t body, body_line; /* where the body starts: byte offset and (ascii) line */
    ply_element *vertex, *face;
} ply_header;

static void header_free(ply_header *h)
{
    for (int i = 0; i < h->n_elements; i++)
        free(h->elements[i].props);
    free(h->elements);
}

/* ------------------------------------------------------------ header parsing */

enum { MAX_TOKENS = 6 };

/* Splits one header line (NUL-terminated copy) into blank-separated words. */
static int split_words(char *line, char **words)
{
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
        if (n == MAX_TOKENS)
            return -1;
        words[n++] = w;
    }
    return n;
}

static int parse_type(const char *word, ply_type *t)
{
    for (int k = 0; k < T_COUNT; k++)
        if (strcmp(word, type_info[k].name) == 0 || strcmp(word, type_info[k].alias) == 0) {
            *t = (ply_type)k;
            return 0;
        }
    return -1;
}

static int parse_count(const char *word, size_t *count)
{
    char *end;
    if (word[0] < '0' || word[0] > '9')
        return -1;
    unsigned long long v = strtoull(word, &end, 10);
    if (*end != '\0' || v > SIZE_MAX / 64)
        return -1;
    *count = (size_t)v;
    return 0;
}

static int header_format(ply_header *h, size_t line, char **w, int n)
{
    static const char *const names[] = {"ascii", "binary_little_endian", "binary_big_endian"};
    if (n != 3 || strcmp(w[2], "1.0") != 0)
        return err_set("%s: header line %zu: expected \"format <ascii|binary_little_endian|binary_big_endian> 1.0\"",
                       h->path, line);
    for (int k = 0; k < 3; k++)
        if (strcmp(w[1], names[k]) == 0) {
            h->format = k;
            return 0;
        }
    return err_set("%s: header line %zu: unknown format \"%s\"", h->path, line, w[1]);
}

static int header_element(ply_header *h, size_t line, char **w, int n)
{
    ply_element e = {.props = NULL};
    if (n != 3 || strlen(w[1]) >= sizeof e.name || parse_count(w[2], &e.count))
        return err_set("%s: header line %zu: expected \"element <name> <count>\"", h->path, line);
    for (int i = 0; i < h->n_elements; i++)
        if (strcmp(h->elements[i].name, w[1]) == 0)
            return err_set("%s: header line %zu: element \"%s\" declared twice", h->path, line, w[1]);
    ply_element *grown = realloc(h->elements, (size_t)(h->n_elements + 1) * sizeof *grown);
    if (grown == NULL)
        return err_set("%s: out of memory", h->path);
    strcpy(e.name, w[1]);
    h->elements = grown;
    h->elements[h->n_elements++] = e;
    return 0;
}

static int header_property(ply_header *h, size_t line, char **w, int n)
{
    if (h->n_elements == 0)
        return err_set("%s: header line %zu: property before any element", h->path, line);
    ply_property p = {.role = ROLE_NONE};
    int is_list = n >= 2 && strcmp(w[1], "list") == 0;
    const char *name = is_list ? w[4] : w[2];
    if (n != (is_list ? 5 : 3) || strlen(name) >= sizeof p.name)
        return err_set("%s: header line %zu: expected \"property <type> <name>\" or "
                       "\"property list <count type> <type> <name>\"", h->path, line);
    if ((is_list && parse_type(w[2], &p.count_type)) || parse_type(is_list ? w[3] : w[1], &p.type))
        return err_set("%s: header line %zu: unknown property type", h->path, line);
    if (is_list && is_float_type(p.count_type))
        return err_set("%s: header line %zu: list count type must be an integer type", h->path, line);
    p.is_list = is_list;
    strcpy(p.name, name);
    ply_element *e = &h->elements[h->n_elements - 1];
    for (int i = 0; i < e->n_props; i++)
        if (strcmp(e->props[i].name, p.name) == 0)
            return err_set("%s: header line %zu: property \"%s\" declared twice", h->path, line, p.name);
    ply_property *grown = realloc(e->props, (size_t)(e->n_props + 1) * sizeof *grown);
    if (grown == NULL)
        return err_set("%s: out of memory", h->path);
    e->props = grown;
    e->props[e->n_props++] = p;
    return 0;
}

/* One header line; *done becomes 1 at end_header. */
static int header_line(ply_header *h, size_t line, char *text, int *done)
{
    char *w[MAX_TOKENS];
    int n = split_words(text, w);
    if (n < 0)
        return err_set("%s: header line %zu: too many words", h->path, line);
    if (n == 0)
        return err_set("%s: header line %zu: empty line", h->path, line);
    if (strcmp(w[0], "end_header") == 0) {
        *done = 1;
        return 0;
    }
    if (strcmp(w[0], "format") == 0)
        return h->format >= 0 ? err_set("%s: header line %zu: second format line", h->path, line)
                              : header_format(h, line, w, n);
    if (h->format < 0)
        return err_set("%s: header line %zu: \"%s\" before the format line", h->path, line, w[0]);
    if (strcmp(w[0], "element") == 0)
        return header_element(h, line, w, n);
    if (strcmp(w[0], "property") == 0)
        return header_property(h, line, w, n);
    return err_set("%s: header line %zu: unknown keyword \"%s\"", h->path, line, w[0]);
}

static int vertex_role(const char *name)
{
    for (int r = R_X; r <= R_BLUE; r++)
        if (strcmp(name, vertex_role_names[r][0]) == 0 ||
            (vertex_role_names[r][1] && strcmp(name, vertex_role_names[r][1]) == 0))
            return r;
    return ROLE_NONE;
}

static int assign_vertex_roles(ply_header *h, ply_element *e)
{
    for (int i = 0; i < e->n_props; i++) {
        ply_property *p = &e->props[i];
        int role = vertex_role(p->name);
        if (role != ROLE_NONE && p->is_list)
            return err_set("%s: header: vertex property \"%s\" is a list", h->path, p->name);
        for (int j = 0; j < i && role != ROLE_NONE; j++)
            if (e->props[j].role == role)
                return err_set("%s: header: vertex property \"%s\" given twice", h->path, p->name);
        p->role = role;
    }
    return 0;
}

static int assign_face_roles(ply_header *h, ply_element *e)
{
    for (int i = 0; i < e->n_props; i++) {
        ply_property *p = &e->props[i];
        if (strcmp(p->name, "vertex_indices") != 0 && strcmp(p->name, "vertex_index") != 0)
            continue;
        if (!p->is_list || is_float_type(p->type))
            return err_set("%s: header: face property \"%s\" must be a list of integers", h->path, p->name);
        p->role = R_INDICES;
        return 0;
    }
    return err_set("%s: header: element face has no vertex_indices list", h->path);
}

/* Which roles an element's properties cover, as a bit set. */
static unsigned roles_present(const ply_element *e)
{
    unsigned bits = 0;
    for (int i = 0; i < e->n_props; i++)
        if (e->props[i].role != ROLE_NONE)
            bits |= 1u << e->props[i].role;
    return bits;
}

static int check_header(ply_header *h)
{
    for (int i = 0; i < h->n_elements; i++) {
        if (strcmp(h->elements[i].name, "vertex") == 0)
            h->vertex = &h->elements[i];
        if (strcmp(h->elements[i].name, "face") == 0)
            h->face = &h->elements[i];
    }
    if (h->vertex == NULL)
        return err_set("%s: header: no vertex element", h->path);
    if (assign_vertex_roles(h, h->vertex) || (h->face && assign_face_roles(h, h->face)))
        return -1;
    unsigned xyz = 1u << R_X | 1u << R_Y | 1u << R_Z;
    if ((roles_present(h->vertex) & xyz) != xyz)
        return err_set("%s: header: vertex element lacks x, y or z", h->path);
    if (h->vertex->count > UINT32_MAX)
        return err_set("%s: header: %zu vertices do not fit 32-bit indices", h->path, h->vertex->count);
    return 0;
}

static int starts_with_word(const char *line, const char *word)
{
    size_t n = strlen(word);
    return strncmp(line, word, n) == 0 && strchr(" \t\r\n", line[n]) != NULL && line[n] != '\0';
}

/* Comments are free text of any length and any number of words. */
static int is_comment(const char *line)
{
    return starts_with_word(line, "comment") || starts_with_word(line, "obj_info");
}

/* Parses the header of `data`; sets h->body to the first byte after it. */
static int parse_header(ply_header *h, const char *data, size_t size)
{
    h->format = -1;
    if (size < 4 || memcmp(data, "ply", 3) != 0 || (data[3] != '\n' && data[3] != '\r'))
        return err_set("%s: not a PLY file (no \"ply\" magic line)", h->path);
    const char *s = memchr(data, '\n', size);
    if (s == NULL)
        return err_set("%s: header has no end_header line", h->path);
    size_t line = 2;
    for (int done = 0; !done; line++) {
        const char *start = s + 1;
        s = start < data + size ? memchr(start, '\n', (size_t)(data + size - start)) : NULL;
        if (s == NULL)
            return err_set("%s: header has no end_header line", h->path);
        if (is_comment(start))
            continue;
        char text[512];
        if ((size_t)(s - start) >= sizeof text)
            return err_set("%s: header line %zu: too long", h->path, line);
        memcpy(text, start, (size_t)(s - start));
        text[s - start] = '\0';
        if (header_line(h, line, text, &done))
            return -1;
    }
    h->body = (size_t)(s + 1 - data);
    h->body_line = line;
    return check_header(h);
}

/* ------------------------------------------------------------ body values */

/* Reads values from either kind of body; `problem` says why a read failed. */
typedef struct {
    int format;
    const unsigned char *p, *end; /* binary */
    const char *s;                /* ascii: the current position */
    size_t line;                  /* ascii: its line number */
    const char *problem;
} body_cursor;

static uint64_t load_bytes(const unsigned char *p, size_t size, int big_endian)
{
    uint64_t v = 0;
    for (size_t k = 0; k < size; k++)
        v |= (uint64_t)p[big_endian ? size - 1 - k : k] << (8 * k);
    return v;
}

static double decode_binary(const unsigned char *p, ply_type t, int big_endian)
{
    uint64_t bits = load_bytes(p, type_info[t].size, big_endian);
    switch (t) {
    case T_INT8: return (int8_t)bits;
    case T_UINT8: return (uint8_t)bits;
    case T_INT16: return (int16_t)bits;
    case T_UINT16: return (uint16_t)bits;
    case T_INT32: return (int32_t)bits;
    case T_UINT32: return (uint32_t)bits;
    case T_FLOAT32: {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        return f;
    }
    default: {
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    }
}

static int ascii_at_line_end(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    return *s == '\n' || *s == '\0';
}

static int next_value(body_cursor *c, ply_type t, double *v)
{
    if (c->format != PLY_ASCII) {
        size_t size = type_info[t].size;
        if ((size_t)(c->end - c->p) < size) {
            c->problem = "the file ends inside it (truncated)";
            return -1;
        }
        *v = decode_binary(c->p, t, c->format == PLY_BE);
        c->p += size;
        return 0;
    }
    if (ascii_at_line_end(c->s)) {
        c->problem = "too few values on its line (a missing or short line?)";
        return -1;
    }
    const char *end = mesh_parse_number(c->s, v);
    if (end == NULL || !(*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n' || *end == '\0')) {
        c->problem = "malformed number";
        return -1;
    }
    c->s = end;
    return 0;
}

static int skip_values(body_cursor *c, ply_type t, size_t n)
{
    if (c->format != PLY_ASCII) {
        if ((size_t)(c->end - c->p) / type_info[t].size < n) {
            c->problem = "the file ends inside it (truncated)";
            return -1;
        }
        c->p += n * type_info[t].size;
        return 0;
    }
    double ignored;
    for (size_t k = 0; k < n; k++)
        if (next_value(c, t, &ignored))
            return -1;
    return 0;
}

/* A list length or vertex index: a non-negative integer below `limit`. */
static int next_integer(body_cursor *c, ply_type t, double limit, size_t *out, const char *what)
{
    double v;
    if (next_value(c, t, &v))
        return -1;
    if (v < 0 || v >= limit || v != floor(v)) {
        c->problem = what;
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/* ASCII elements sit one per line; blank lines are skipped. */
static int begin_element(body_cursor *c)
{
    if (c->format != PLY_ASCII)
        return 0;
    for (const char *eol; ascii_at_line_end(c->s) && (eol = strchr(c->s, '\n')) != NULL; c->line++)
        c->s = eol + 1;
    if (ascii_at_line_end(c->s)) {
        c->problem = "the file ends before it (truncated)";
        return -1;
    }
    return 0;
}

static int end_element(body_cursor *c)
{
    if (c->format != PLY_ASCII)
        return 0;
    if (!ascii_at_line_end(c->s)) {
        c->problem = "more values on its line than the header declares";
        return -1;
    }
    const char *eol = strchr(c->s, '\n');
    c->s = eol ? eol + 1 : c->s + strlen(c->s);
    c->line++;
    return 0;
}

/* "file: vertex 12 of 100: problem" (ascii adds the line). */
static int element_error(const ply_header *h, const body_cursor *c, const ply_element *e, size_t index)
{
    if (c->format == PLY_ASCII)
        return err_set("%s:%zu: %s %zu of %zu: %s", h->path, c->line, e->name, index, e->count, c->problem);
    return err_set("%s: %s %zu of %zu: %s", h->path, e->name, index, e->count, c->problem);
}

static int skip_property(body_cursor *c, const ply_property *p)
{
    size_t n = 1;
    if (p->is_list && next_integer(c, p->count_type, 1e18, &n, "invalid list length"))
        return -1;
    return skip_values(c, p->type, n);
}

static int skip_element_values(body_cursor *c, const ply_element *e)
{
    for (int i = 0; i < e->n_props; i++)
        if (skip_property(c, &e->props[i]))
            return -1;
    return 0;
}

/* ------------------------------------------------------------ vertices and faces */

static uint8_t color_byte(double v, ply_type t)
{
    if (is_float_type(t))
        v *= 255.0;
    return (uint8_t)lrint(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int read_vertex(body_cursor *c, const ply_element *e, mesh *m, size_t i, unsigned roles)
{
    double v[R_COUNT] = {0};
    ply_type color_type[3] = {T_UINT8, T_UINT8, T_UINT8};
    for (int k = 0; k < e->n_props; k++) {
        const ply_property *p = &e->props[k];
        if (p->role == ROLE_NONE) {
            if (skip_property(c, p))
                return -1;
            continue;
        }
        if (next_value(c, p->type, &v[p->role]))
            return -1;
        if (p->role >= R_RED)
            color_type[p->role - R_RED] = p->type;
    }
    for (int k = 0; k < 3; k++)
        if (!isfinite((float)v[R_X + k])) {
            c->problem = "coordinate is not a finite float";
            return -1;
        }
    for (int k = 0; k < 3; k++) {
        m->positions[i * 3 + k] = (float)v[R_X + k];
        if (m->normals)
            m->normals[i * 3 + k] = (float)v[R_NX + k];
        if (m->colors)
            m->colors[i * 3 + k] = roles & 1u << (R_RED + k) ? color_byte(v[R_RED + k], color_type[k]) : 255;
    }
    return 0;
}

/* Arrays for n vertices (NULL when n is 0). */
static int alloc_vertex_arrays(const ply_header *h, mesh *m, unsigned roles, size_t n)
{
    unsigned normals = 1u << R_NX | 1u << R_NY | 1u << R_NZ;
    unsigned colors = 1u << R_RED | 1u << R_GREEN | 1u << R_BLUE;
    int want_normals = n && (roles & normals) == normals, want_colors = n && (roles & colors);
    m->positions = n ? malloc(n * 3 * sizeof(float)) : NULL;
    m->normals = want_normals ? malloc(n * 3 * sizeof(float)) : NULL;
    m->colors = want_colors ? malloc(n * 3) : NULL;
    if ((n && m->positions == NULL) || (want_normals && m->normals == NULL) || (want_colors && m->colors == NULL))
        return err_set("%s: out of memory for %zu vertices", h->path, n);
    return 0;
}

/* How many elements the rest of the body can hold at most, from the fewest
 * bytes one can take (ascii: a digit and a separator per value, the last
 * line without a newline).  Bounds what a header can make us allocate. */
static size_t room_for(const body_cursor *c, const ply_element *e)
{
    size_t min_bytes = 0;
    for (int i = 0; i < e->n_props; i++) {
        const ply_property *p = &e->props[i];
        min_bytes += c->format == PLY_ASCII ? 2 : type_info[p->is_list ? p->count_type : p->type].size;
    }
    size_t left = c->format == PLY_ASCII ? strlen(c->s) + 1 : (size_t)(c->end - c->p);
    return min_bytes ? left / min_bytes : SIZE_MAX;
}

/* A count larger than the room means a truncated file, which the loop then
 * reports at the exact vertex, before it stores past the room. */
static int read_vertices(const ply_header *h, body_cursor *c, mesh *m)
{
    const ply_element *e = h->vertex;
    unsigned roles = roles_present(e);
    size_t room = room_for(c, e), capacity = e->count < room ? e->count : room;
    if (alloc_vertex_arrays(h, m, roles, capacity))
        return -1;
    for (size_t i = 0; i < e->count; i++) {
        if (i == capacity) { /* unreachable by the bound above; kept as a guard */
            c->problem = "the file ends inside it (truncated)";
            return element_error(h, c, e, i);
        }
        if (begin_element(c) || read_vertex(c, e, m, i, roles) || end_element(c))
            return element_error(h, c, e, i);
    }
    m->n_vertices = e->count;
    return 0;
}

typedef struct {
    size_t *corners, cap_corners;
    size_t cap_faces;
} face_scratch;

static int read_face_indices(body_cursor *c, const ply_property *p, size_t n_vertices, face_scratch *s,
                             size_t *n)
{
    if (next_integer(c, p->count_type, 1e9, n, "invalid list length"))
        return -1;
    if (*n < 3) {
        c->problem = "a face needs at least 3 vertices";
        return -1;
    }
    if (mesh_grow((void **)&s->corners, &s->cap_corners, *n, sizeof(size_t))) {
        c->problem = "out of memory";
        return -1;
    }
    for (size_t k = 0; k < *n; k++)
        if (next_integer(c, p->type, (double)n_vertices, &s->corners[k], "vertex index out of range"))
            return -1;
    return 0;
}

/* Fan triangulation: (0, k, k + 1). */
static int add_fan(mesh *m, face_scratch *s, size_t n)
{
    if (mesh_grow((void **)&m->faces, &s->cap_faces, (m->n_faces + n - 2) * 3, sizeof(uint32_t)))
        return -1;
    for (size_t k = 1; k + 1 < n; k++, m->n_faces++) {
        uint32_t *t = m->faces + m->n_faces * 3;
        t[0] = (uint32_t)s->corners[0];
        t[1] = (uint32_t)s->corners[k];
        t[2] = (uint32_t)s->corners[k + 1];
    }
    return 0;
}

static int read_face(body_cursor *c, const ply_element *e, mesh *m, size_t n_vertices, face_scratch *s)
{
    for (int k = 0; k < e->n_props; k++) {
        const ply_property *p = &e->props[k];
        size_t n;
        if (p->role != R_INDICES) {
            if (skip_property(c, p))
                return -1;
        } else if (read_face_indices(c, p, n_vertices, s, &n)) {
            return -1;
        } else if (add_fan(m, s, n)) {
            c->problem = "out of memory";
            return -1;
        }
    }
    return 0;
}

static int read_faces(const ply_header *h, body_cursor *c, mesh *m)
{
    const ply_element *e = h->face;
    face_scratch s = {.corners = NULL};
    int rc = 0;
    for (size_t i = 0; i < e->count && rc == 0; i++)
        if (begin_element(c) || read_face(c, e, m, h->vertex->count, &s) || end_element(c))
            rc = element_error(h, c, e, i);
    free(s.corners);
    return rc;
}

static int skip_element(const ply_header *h, body_cursor *c, const ply_element *e)
{
    for (size_t i = 0; i < e->count; i++)
        if (begin_element(c) || skip_element_values(c, e) || end_element(c))
            return element_error(h, c, e, i);
    return 0;
}

static int read_body(const ply_header *h, const char *data, size_t size, mesh *m)
{
    body_cursor c = {.format = h->format,
                     .p = (const unsigned char *)data + h->body,
                     .end = (const unsigned char *)data + size,
                     .s = data + h->body,
                     .line = h->body_line};
    if (h->format == PLY_ASCII && memchr(data + h->body, '\0', size - h->body))
        return err_set("%s: ascii body contains NUL bytes", h->path);
    for (int i = 0; i < h->n_elements; i++) {
        const ply_element *e = &h->elements[i];
        int rc = e == h->vertex ? read_vertices(h, &c, m) : e == h->face ? read_faces(h, &c, m)
                                                                          : skip_element(h, &c, e);
        if (rc)
            return -1;
    }
    return 0;
}

static int parse_ply(const char *path, const char *data, size_t size, mesh *m)
{
    ply_header h = {.path = path};
    int rc = parse_header(&h, data, size) || read_body(&h, data, size, m) ? -1 : 0;
    header_free(&h);
    return rc;
}

int mesh_read_ply(const char *path, mesh *m) { return mesh_read_file(path, m, parse_ply); }

/* ------------------------------------------------------------ writer */

static void write_header(FILE *f, const mesh *m, int binary)
{
    fprintf(f, "ply\nformat %s 1.0\ncomment written by phive\n", binary ? "binary_little_endian" : "ascii");
    fprintf(f, "element vertex %zu\nproperty float x\nproperty float y\nproperty float z\n", m->n_vertices);
    if (m->normals)
        fputs("property float nx\nproperty float ny\nproperty float nz\n", f);
    if (m->colors)
        fputs("property uchar red\nproperty uchar green\nproperty uchar blue\n", f);
    if (m->n_faces)
        fprintf(f, "element face %zu\nproperty list uchar %s vertex_indices\n", m->n_faces,
                m->n_vertices > INT32_MAX ? "uint" : "int");
    fputs("end_header\n", f);
}

static void write_ascii_body(FILE *f, const mesh *m)
{
    for (size_t i = 0; i < m->n_vertices; i++) {
        const float *x = m->positions + i * 3;
        fprintf(f, "%.9g %.9g %.9g", x[0], x[1], x[2]);
        if (m->normals)
            fprintf(f, " %.9g %.9g %.9g", m->normals[i * 3], m->normals[i * 3 + 1], m->normals[i * 3 + 2]);
        if (m->colors)
            fprintf(f, " %u %u %u", m->colors[i * 3], m->colors[i * 3 + 1], m->colors[i * 3 + 2]);
        fputc('\n', f);
    }
    for (size_t i = 0; i < m->n_faces; i++)
        fprintf(f, "3 %u %u %u\n", m->faces[i * 3], m->faces[i * 3 + 1], m->faces[i * 3 + 2]);
}

static unsigned char *put_u32_le(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
    return p + 4;
}

static unsigned char *put_floats_le(unsigned char *p, const float *x, int n)
{
    for (int k = 0; k < n; k++) {
        uint32_t bits;
        memcpy(&bits, &x[k], sizeof bits);
        p = put_u32_le(p, bits);
    }
    return p;
}

static void write_binary_body(FILE *f, const mesh *m)
{
    unsigned char record[32];
    for (size_t i = 0; i < m->n_vertices; i++) {
        unsigned char *p = put_floats_le(record, m->positions + i * 3, 3);
        if (m->normals)
            p = put_floats_le(p, m->normals + i * 3, 3);
        if (m->colors) {
            memcpy(p, m->colors + i * 3, 3);
            p += 3;
        }
        fwrite(record, 1, (size_t)(p - record), f);
    }
    for (size_t i = 0; i < m->n_faces; i++) {
        record[0] = 3;
        unsigned char *p = record + 1;
        for (int k = 0; k < 3; k++)
            p = put_u32_le(p, m->faces[i * 3 + k]);
        fwrite(record, 1, (size_t)(p - record), f);
    }
}

int mesh_write_ply(const char *path, const mesh *m, int binary)
{
    if (binary != 0 && binary != 1)
        return err_set("%s: PLY binary flag must be 0 (ascii) or 1 (binary little endian), got %d", path, binary);
    if (mesh_validate(m))
        return err_context("%s", path);
    file_writer w;
    if (file_writer_open(&w, path))
        return -1;
    write_header(w.file, m, binary);
    if (binary)
        write_binary_body(w.file, m);
    else
        write_ascii_body(w.file, m);
    return file_writer_commit(&w);
}
