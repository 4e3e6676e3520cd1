/* mesh_obj.c — Wavefront OBJ reader and writer (see mesh.h).
 *
 * The reader loads the whole file and parses it in one pass, growing its
 * arrays geometrically, so million-vertex files load in a fraction of a
 * second.  Statements other than v/vt/vn/f (o, g, s, usemtl, mtllib, l, ...)
 * are ignored.  Normals: when faces reference normals and every vertex is
 * given one normal value, vertex i gets that normal (vertices no face
 * references get zero); when faces reference none and there are as many vn as
 * v, they are taken in order; otherwise (flat shading, counts differ) they are
 * dropped.  A file without any vn line may still give faces normal indices
 * (v/vt/vn): some exporters, e.g. the ϕ-SfT templates', write them; they are
 * ignored.  face_uvs are kept only when every face has texture coordinates.
 */
#include "phive/mesh.h"
#include "mesh_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/fileio.h"

#define NONE UINT32_MAX
/* A normal index in a file that has no normals. */
#define NORMAL_IGNORED (UINT32_MAX - 1)

typedef struct {
    uint32_t v, t, n; /* 0-based; NONE when absent */
} corner;

enum uv_state { UV_NO_FACES, UV_ALL, UV_NONE, UV_MIXED };

typedef struct {
    const char *path;
    size_t line;
    float *pos;
    uint8_t *col;
    size_t n_pos, cap_pos, cap_col;
    int any_color;
    float *uv, *vn;
    size_t n_uv, cap_uv, n_vn, cap_vn;
    uint32_t *tri, *tri_uv;
    size_t n_tri, cap_tri, cap_tri_uv;
    enum uv_state uv_state;
    uint32_t *vertex_normal; /* vn index of each vertex, from the faces */
    size_t n_vertex_normal, cap_vertex_normal;
    int normals_referenced, normals_inconsistent;
    int file_has_normals; /* some line is a vn statement */
    corner *corners; /* scratch for the face being parsed */
    size_t cap_corners;
} obj_parser;

static void parser_free(obj_parser *p)
{
    free(p->pos);
    free(p->col);
    free(p->uv);
    free(p->vn);
    free(p->tri);
    free(p->tri_uv);
    free(p->vertex_normal);
    free(p->corners);
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }
/* A '#' ends the statement: trailing comments are allowed. */
static int is_end(char c) { return c == '\n' || c == '\0' || c == '#'; }

static const char *skip_blanks(const char *s)
{
    while (is_blank(*s))
        s++;
    return s;
}

/* Up to `max` numbers to the end of the line; returns how many, or -1. */
static int read_numbers(obj_parser *p, const char *s, double *out, int max)
{
    int count = 0;
    for (s = skip_blanks(s); !is_end(*s); s = skip_blanks(s)) {
        if (count == max)
            return err_set("%s:%zu: more than %d values", p->path, p->line, max);
        const char *end = mesh_parse_number(s, &out[count]);
        if (end == NULL || !(is_blank(*end) || is_end(*end))) {
            const char *stop = s;
            while (!is_blank(*stop) && !is_end(*stop))
                stop++;
            return err_set("%s:%zu: malformed number \"%.*s\"", p->path, p->line, (int)(stop - s), s);
        }
        count++;
        s = end;
    }
    return count;
}

static uint8_t unit_to_byte(double c)
{
    c = c < 0 ? 0 : c > 1 ? 1 : c;
    return (uint8_t)lrint(c * 255.0);
}

/* v x y z [w] | v x y z r g b (colours 0..1) */
static int parse_vertex(obj_parser *p, const char *s)
{
    double x[6];
    int n = read_numbers(p, s, x, 6);
    if (n < 0)
        return -1;
    if (n != 3 && n != 4 && n != 6)
        return err_set("%s:%zu: vertex has %d values (expected x y z, x y z w or x y z r g b)", p->path,
                       p->line, n);
    if (p->n_pos == NONE)
        return err_set("%s:%zu: more than %u vertices", p->path, p->line, NONE - 1);
    if (mesh_grow((void **)&p->pos, &p->cap_pos, (p->n_pos + 1) * 3, sizeof(float)) ||
        mesh_grow((void **)&p->col, &p->cap_col, (p->n_pos + 1) * 3, 1))
        return err_context("%s:%zu", p->path, p->line);
    float *pos = p->pos + p->n_pos * 3;
    uint8_t *col = p->col + p->n_pos * 3;
    for (int k = 0; k < 3; k++) {
        pos[k] = (float)x[k];
        if (!isfinite(pos[k]))
            return err_set("%s:%zu: coordinate %g out of float range", p->path, p->line, x[k]);
        col[k] = n == 6 ? unit_to_byte(x[3 + k]) : 255;
    }
    p->any_color |= n == 6;
    p->n_pos++;
    return 0;
}

/* vt u [v [w]] */
static int parse_texcoord(obj_parser *p, const char *s)
{
    double x[3] = {0, 0, 0};
    int n = read_numbers(p, s, x, 3);
    if (n < 0)
        return -1;
    if (n < 1)
        return err_set("%s:%zu: texture coordinate without values", p->path, p->line);
    if (mesh_grow((void **)&p->uv, &p->cap_uv, (p->n_uv + 1) * 2, sizeof(float)))
        return err_context("%s:%zu", p->path, p->line);
    p->uv[p->n_uv * 2] = (float)x[0];
    p->uv[p->n_uv * 2 + 1] = (float)x[1];
    p->n_uv++;
    return 0;
}

/* vn x y z */
static int parse_normal(obj_parser *p, const char *s)
{
    double x[3];
    int n = read_numbers(p, s, x, 3);
    if (n < 0)
        return -1;
    if (n != 3)
        return err_set("%s:%zu: normal has %d values (expected 3)", p->path, p->line, n);
    if (mesh_grow((void **)&p->vn, &p->cap_vn, (p->n_vn + 1) * 3, sizeof(float)))
        return err_context("%s:%zu", p->path, p->line);
    for (int k = 0; k < 3; k++)
        p->vn[p->n_vn * 3 + k] = (float)x[k];
    p->n_vn++;
    return 0;
}

/* A 1-based or negative (relative) OBJ index to a 0-based one, checked
 * against the `count` elements defined so far. */
static const char *parse_index(obj_parser *p, const char *s, size_t count, const char *what, uint32_t *out)
{
    const char *start = s;
    int negative = *s == '-';
    s += negative;
    long long value = 0;
    if (*s < '0' || *s > '9') {
        err_set("%s:%zu: malformed %s index \"%.*s\"", p->path, p->line, what, (int)strcspn(start, " \t\r\n#"),
                start);
        return NULL;
    }
    for (; *s >= '0' && *s <= '9'; s++)
        value = value < 10000000000LL ? value * 10 + (*s - '0') : value;
    long long resolved = negative ? (long long)count - value : value - 1;
    if (value == 0 || resolved < 0 || resolved >= (long long)count) {
        err_set("%s:%zu: %s index %s%lld out of range (%zu defined so far)", p->path, p->line, what,
                negative ? "-" : "", value, count);
        return NULL;
    }
    *out = (uint32_t)resolved;
    return s;
}

/* v | v/vt | v//vn | v/vt/vn */
static const char *parse_corner(obj_parser *p, const char *s, corner *c)
{
    c->t = c->n = NONE;
    if ((s = parse_index(p, s, p->n_pos, "vertex", &c->v)) == NULL)
        return NULL;
    if (*s == '/') {
        s++;
        if (*s != '/' && (s = parse_index(p, s, p->n_uv, "texture", &c->t)) == NULL)
            return NULL;
        if (*s == '/') {
            if ((s = parse_index(p, s + 1, p->file_has_normals ? p->n_vn : NONE, "normal", &c->n)) == NULL)
                return NULL;
            if (!p->file_has_normals) c->n = NORMAL_IGNORED;
        }
    }
    if (!is_blank(*s) && !is_end(*s)) {
        err_set("%s:%zu: malformed face vertex (unexpected '%c')", p->path, p->line, *s);
        return NULL;
    }
    return s;
}

/* Records which normal each vertex gets; two different values make the
 * normals per-corner (e.g. flat shading), which a mesh cannot hold. */
static int note_vertex_normal(obj_parser *p, const corner *c)
{
    p->normals_referenced = 1;
    if (c->v >= p->n_vertex_normal) {
        if (mesh_grow((void **)&p->vertex_normal, &p->cap_vertex_normal, p->n_pos, sizeof(uint32_t)))
            return err_context("%s:%zu", p->path, p->line);
        for (size_t i = p->n_vertex_normal; i < p->n_pos; i++)
            p->vertex_normal[i] = NONE;
        p->n_vertex_normal = p->n_pos;
    }
    uint32_t *known = &p->vertex_normal[c->v];
    if (*known == NONE)
        *known = c->n;
    else if (*known != c->n && memcmp(p->vn + *known * 3, p->vn + c->n * 3, 3 * sizeof(float)) != 0)
        p->normals_inconsistent = 1;
    return 0;
}

static void note_face_uvs(obj_parser *p, int has_uv)
{
    enum uv_state s = p->uv_state;
    if (s == UV_NO_FACES)
        s = has_uv ? UV_ALL : UV_NONE;
    else if ((s == UV_ALL && !has_uv) || (s == UV_NONE && has_uv))
        s = UV_MIXED;
    if (s == UV_MIXED && p->tri_uv) {
        free(p->tri_uv);
        p->tri_uv = NULL;
        p->cap_tri_uv = 0;
    }
    p->uv_state = s;
}

/* Fan triangulation: (0, k, k + 1). */
static int emit_triangles(obj_parser *p, const corner *c, size_t n)
{
    size_t need = (p->n_tri + n - 2) * 3;
    if (mesh_grow((void **)&p->tri, &p->cap_tri, need, sizeof(uint32_t)) ||
        (p->uv_state == UV_ALL && mesh_grow((void **)&p->tri_uv, &p->cap_tri_uv, need, sizeof(uint32_t))))
        return err_context("%s:%zu", p->path, p->line);
    for (size_t k = 1; k + 1 < n; k++, p->n_tri++) {
        const corner *fan[3] = {&c[0], &c[k], &c[k + 1]};
        for (int j = 0; j < 3; j++) {
            p->tri[p->n_tri * 3 + j] = fan[j]->v;
            if (p->uv_state == UV_ALL)
                p->tri_uv[p->n_tri * 3 + j] = fan[j]->t;
        }
    }
    return 0;
}

static int parse_face(obj_parser *p, const char *s)
{
    size_t n = 0;
    for (s = skip_blanks(s); !is_end(*s); s = skip_blanks(s), n++) {
        if (mesh_grow((void **)&p->corners, &p->cap_corners, n + 1, sizeof(corner)))
            return err_context("%s:%zu", p->path, p->line);
        if ((s = parse_corner(p, s, &p->corners[n])) == NULL)
            return -1;
        if (n && ((p->corners[n].t == NONE) != (p->corners[0].t == NONE) ||
                  (p->corners[n].n == NONE) != (p->corners[0].n == NONE)))
            return err_set("%s:%zu: face mixes vertex forms (v, v/vt, v//vn, v/vt/vn)", p->path, p->line);
    }
    if (n < 3)
        return err_set("%s:%zu: face has %zu vertices (at least 3 needed)", p->path, p->line, n);
    for (size_t k = 0; k < n && p->corners[0].n != NONE && p->corners[0].n != NORMAL_IGNORED; k++)
        if (note_vertex_normal(p, &p->corners[k]))
            return -1;
    note_face_uvs(p, p->corners[0].t != NONE);
    return emit_triangles(p, p->corners, n);
}

/* `s` is the keyword; true when it is exactly `word`. */
static int keyword_is(const char *s, const char *word)
{
    size_t n = strlen(word);
    return strncmp(s, word, n) == 0 && (is_blank(s[n]) || is_end(s[n]));
}

static int parse_line(obj_parser *p, const char *s)
{
    s = skip_blanks(s);
    if (keyword_is(s, "v"))
        return parse_vertex(p, s + 1);
    if (keyword_is(s, "vt"))
        return parse_texcoord(p, s + 2);
    if (keyword_is(s, "vn"))
        return parse_normal(p, s + 2);
    if (keyword_is(s, "f"))
        return parse_face(p, s + 1);
    return 0; /* comments, blank lines, o/g/s/usemtl/mtllib and the rest */
}

static int parse_text(obj_parser *p, const char *text)
{
    for (const char *s = text; s && !p->file_has_normals; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
        p->file_has_normals = keyword_is(skip_blanks(s), "vn");
    for (const char *s = text; *s; p->line++) {
        if (parse_line(p, s))
            return -1;
        const char *eol = strchr(s, '\n');
        if (eol == NULL)
            break;
        s = eol + 1;
    }
    return 0;
}

static float *vertex_normals(obj_parser *p)
{
    if (!p->normals_referenced) {
        if (p->n_vn != p->n_pos || p->n_vn == 0)
            return NULL;
        float *in_order = p->vn;
        p->vn = NULL;
        return in_order;
    }
    if (p->normals_inconsistent)
        return NULL;
    float *normals = calloc(p->n_pos * 3, sizeof(float));
    for (size_t i = 0; normals && i < p->n_vertex_normal; i++)
        if (p->vertex_normal[i] != NONE)
            memcpy(normals + i * 3, p->vn + (size_t)p->vertex_normal[i] * 3, 3 * sizeof(float));
    return normals;
}

/* Hands the parser's arrays over to m. */
static int finish(obj_parser *p, mesh *m)
{
    m->n_vertices = p->n_pos;
    m->n_faces = p->n_tri;
    m->normals = vertex_normals(p);
    if (p->normals_referenced && !p->normals_inconsistent && p->n_pos && m->normals == NULL)
        return err_set("%s: out of memory for normals", p->path);
    m->positions = p->pos;
    p->pos = NULL;
    if (p->any_color) {
        m->colors = p->col;
        p->col = NULL;
    }
    if (p->n_uv) {
        m->uvs = p->uv;
        m->n_uvs = p->n_uv;
        p->uv = NULL;
    }
    m->faces = p->tri;
    p->tri = NULL;
    if (p->uv_state == UV_ALL) {
        m->face_uvs = p->tri_uv;
        p->tri_uv = NULL;
    }
    return 0;
}

static int parse_obj(const char *path, const char *text, size_t size, mesh *m)
{
    if (memchr(text, '\0', size) != NULL)
        return err_set("%s: not an OBJ text file (contains NUL bytes)", path);
    obj_parser p = {.path = path, .line = 1};
    int rc = parse_text(&p, text) || finish(&p, m) ? -1 : 0;
    parser_free(&p);
    return rc;
}

int mesh_read_obj(const char *path, mesh *m) { return mesh_read_file(path, m, parse_obj); }

/* ------------------------------------------------------------ writer */

static void write_vertices(FILE *f, const mesh *m)
{
    for (size_t i = 0; i < m->n_vertices; i++) {
        const float *x = m->positions + i * 3;
        if (m->colors) {
            const uint8_t *c = m->colors + i * 3;
            fprintf(f, "v %.9g %.9g %.9g %.9g %.9g %.9g\n", x[0], x[1], x[2], c[0] / 255.0, c[1] / 255.0,
                    c[2] / 255.0);
        } else {
            fprintf(f, "v %.9g %.9g %.9g\n", x[0], x[1], x[2]);
        }
    }
    for (size_t i = 0; m->normals && i < m->n_vertices; i++) {
        const float *n = m->normals + i * 3;
        fprintf(f, "vn %.9g %.9g %.9g\n", n[0], n[1], n[2]);
    }
    for (size_t i = 0; i < m->n_uvs; i++)
        fprintf(f, "vt %.9g %.9g\n", m->uvs[i * 2], m->uvs[i * 2 + 1]);
}

/* Normals are per vertex, so a corner's normal index is its vertex index. */
static void write_faces(FILE *f, const mesh *m)
{
    for (size_t i = 0; i < m->n_faces; i++) {
        fputc('f', f);
        for (int j = 0; j < 3; j++) {
            unsigned long v = m->faces[i * 3 + j] + 1ul;
            fprintf(f, " %lu", v);
            if (m->face_uvs)
                fprintf(f, "/%lu", m->face_uvs[i * 3 + j] + 1ul);
            if (m->normals)
                fprintf(f, m->face_uvs ? "/%lu" : "//%lu", v);
        }
        fputc('\n', f);
    }
}

int mesh_write_obj(const char *path, const mesh *m)
{
    if (mesh_validate(m))
        return err_context("%s", path);
    file_writer w;
    if (file_writer_open(&w, path))
        return -1;
    fprintf(w.file, "# phive: %zu vertices, %zu triangles\n", m->n_vertices, m->n_faces);
    write_vertices(w.file, m);
    write_faces(w.file, m);
    return file_writer_commit(&w);
}
