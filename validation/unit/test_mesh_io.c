/* test_mesh_io.c — unit tests of the OBJ and PLY readers and writers
 * (src/geom/mesh*.c).
 *
 * Each test works in its own mkdtemp directory (test_util.h).  Run from the
 * repository root: the reference test calls
 * validation/reference/mesh_io_reference.py with /usr/bin/python3 (open3d)
 * and is skipped when open3d is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "phive/errors.h"
#include "phive/mesh.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#define REFERENCE_SCRIPT "validation/reference/mesh_io_reference.py"

typedef tu_scratch fixture;

static int setup(void **state) { return tu_scratch_setup(state, "mesh"); }
static int teardown(void **state) { return tu_scratch_teardown(state); }

static void assert_mesh_empty(const mesh *m)
{
    assert_int_equal(m->n_vertices, 0);
    assert_int_equal(m->n_faces, 0);
    assert_null(m->positions);
    assert_null(m->faces);
}

/* A read of `text` as file `name` must fail with every needle in the message
 * (a NULL-terminated list) and leave the mesh empty. */
static void expect_read_error(void **state, const char *name, const char *text, const char *const *needles)
{
    char path[256];
    tu_scratch_path(*state, name, path, sizeof path);
    tu_write_text(path, text);
    mesh m;
    err_clear();
    assert_int_equal(mesh_read(path, &m), -1);
    assert_error_contains(path);
    for (; *needles; needles++)
        assert_error_contains(*needles);
    assert_mesh_empty(&m);
}
#define EXPECT_READ_ERROR(name, text, ...) \
    expect_read_error(state, name, text, (const char *const[]){__VA_ARGS__, NULL})

/* ------------------------------------------------------------ sample meshes */

enum { WITH_NORMALS = 1, WITH_COLORS = 2, WITH_UVS = 4 };

/* A square pyramid (5 vertices, 6 triangles) with values that only survive
 * a text round trip when every float digit is written. */
static void make_pyramid(mesh *m, int extras)
{
    static const float pos[] = {0.1f, -0.3333333f, 1e-7f, 12345.678f, 0.2f, -1.5f, 3.14159274f, 2.7182817f,
                                -0.0f, -7.25e-3f, 1e5f, 6.0f, 0.5f, 0.5f, 1.0f / 3.0f};
    static const uint32_t tri[] = {0, 1, 2, 0, 2, 3, 0, 3, 1, 4, 1, 3, 4, 3, 2, 4, 2, 1};
    assert_int_equal(mesh_alloc(m, 5, 6), 0);
    memcpy(m->positions, pos, sizeof pos);
    memcpy(m->faces, tri, sizeof tri);
    if (extras & WITH_NORMALS) {
        m->normals = malloc(15 * sizeof(float));
        for (int i = 0; i < 15; i++)
            m->normals[i] = sinf(0.7f * (float)i + 0.1f);
    }
    if (extras & WITH_COLORS) {
        m->colors = malloc(15);
        for (int i = 0; i < 15; i++)
            m->colors[i] = (uint8_t)(i * 37 % 256);
        m->colors[0] = 0;
        m->colors[1] = 255;
    }
    if (extras & WITH_UVS) {
        m->n_uvs = 4;
        m->uvs = malloc(8 * sizeof(float));
        for (int i = 0; i < 8; i++)
            m->uvs[i] = 0.125f * (float)i + 1e-4f;
        m->face_uvs = malloc(18 * sizeof(uint32_t));
        for (int i = 0; i < 18; i++)
            m->face_uvs[i] = (uint32_t)(i * 7 % 4);
    }
}

static void assert_floats_equal(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            fail_msg("float %zu differs: %.9g vs %.9g", i, a[i], b[i]);
}

/* Bit-exact equality of everything both formats store. */
static void assert_same_mesh(const mesh *a, const mesh *b)
{
    assert_int_equal(a->n_vertices, b->n_vertices);
    assert_int_equal(a->n_faces, b->n_faces);
    assert_floats_equal(a->positions, b->positions, a->n_vertices * 3);
    if (a->n_faces)
        assert_memory_equal(a->faces, b->faces, a->n_faces * 3 * sizeof(uint32_t));
    assert_int_equal(a->normals == NULL, b->normals == NULL);
    if (a->normals)
        assert_floats_equal(a->normals, b->normals, a->n_vertices * 3);
    assert_int_equal(a->colors == NULL, b->colors == NULL);
    if (a->colors)
        assert_memory_equal(a->colors, b->colors, a->n_vertices * 3);
}

static void assert_same_uvs(const mesh *a, const mesh *b)
{
    assert_int_equal(a->n_uvs, b->n_uvs);
    assert_floats_equal(a->uvs, b->uvs, a->n_uvs * 2);
    assert_int_equal(a->face_uvs == NULL, b->face_uvs == NULL);
    if (a->face_uvs)
        assert_memory_equal(a->face_uvs, b->face_uvs, a->n_faces * 3 * sizeof(uint32_t));
}

static void read_obj_text(void **state, const char *text, mesh *m)
{
    char path[256];
    tu_scratch_path(*state, "in.obj", path, sizeof path);
    tu_write_text(path, text);
    if (mesh_read_obj(path, m) != 0)
        fail_msg("mesh_read_obj: %s", err_message());
}

static void assert_triangles(const mesh *m, const uint32_t *expected, size_t n_faces)
{
    assert_int_equal(m->n_faces, n_faces);
    assert_memory_equal(m->faces, expected, n_faces * 3 * sizeof(uint32_t));
}

/* ------------------------------------------------------------ round trips */

static void test_obj_roundtrip(void **state)
{
    char path[256];
    tu_scratch_path(*state, "full.obj", path, sizeof path);
    mesh a, b;
    make_pyramid(&a, WITH_NORMALS | WITH_COLORS | WITH_UVS);
    assert_int_equal(mesh_write(path, &a), 0);
    assert_int_equal(mesh_read(path, &b), 0);
    assert_same_mesh(&a, &b);
    assert_same_uvs(&a, &b);
    mesh_free(&b);
    mesh_free(&a);

    /* Plain geometry comes back without optional arrays. */
    make_pyramid(&a, 0);
    assert_int_equal(mesh_write_obj(path, &a), 0);
    assert_int_equal(mesh_read_obj(path, &b), 0);
    assert_same_mesh(&a, &b);
    assert_null(b.uvs);
    assert_null(b.face_uvs);
    mesh_free(&b);
    mesh_free(&a);
}

static void ply_roundtrip(void **state, int binary)
{
    char path[256];
    tu_scratch_path(*state, binary ? "bin.ply" : "ascii.ply", path, sizeof path);
    for (int extras = 0; extras <= (WITH_NORMALS | WITH_COLORS); extras++) {
        mesh a, b;
        make_pyramid(&a, extras);
        assert_int_equal(mesh_write_ply(path, &a, binary), 0);
        size_t size;
        char *data = tu_read_file(path, &size);
        assert_non_null(strstr(data, binary ? "format binary_little_endian 1.0\n" : "format ascii 1.0\n"));
        free(data);
        if (mesh_read_ply(path, &b) != 0)
            fail_msg("mesh_read_ply: %s", err_message());
        assert_same_mesh(&a, &b);
        mesh_free(&b);
        mesh_free(&a);
    }
}

static void test_ply_roundtrip_ascii(void **state) { ply_roundtrip(state, 0); }
static void test_ply_roundtrip_binary(void **state) { ply_roundtrip(state, 1); }

/* mesh_write picks binary PLY; an empty mesh round-trips too. */
static void test_write_dispatch_and_empty(void **state)
{
    char path[256];
    tu_scratch_path(*state, "out.PLY", path, sizeof path);
    mesh a, b;
    make_pyramid(&a, WITH_COLORS);
    assert_int_equal(mesh_write(path, &a), 0);
    size_t size;
    char *data = tu_read_file(path, &size);
    assert_non_null(strstr(data, "binary_little_endian"));
    free(data);
    assert_int_equal(mesh_read(path, &b), 0);
    assert_same_mesh(&a, &b);
    mesh_free(&b);
    mesh_free(&a);

    mesh_init(&a);
    tu_scratch_path(*state, "empty.ply", path, sizeof path);
    assert_int_equal(mesh_write(path, &a), 0);
    assert_int_equal(mesh_read(path, &b), 0);
    assert_mesh_empty(&b);
}

/* ------------------------------------------------------------ PLY by hand */

static unsigned char *put_be(unsigned char *p, uint64_t bits, int size)
{
    for (int k = 0; k < size; k++)
        p[k] = (unsigned char)(bits >> (8 * (size - 1 - k)));
    return p + size;
}

static unsigned char *put_be_double(unsigned char *p, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return put_be(p, bits, 8);
}

static unsigned char *put_be_float(unsigned char *p, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return put_be(p, bits, 4);
}

#define TEN_WORDS "ten words of comment to make the line long enough. "
#define LONG_COMMENT TEN_WORDS TEN_WORDS TEN_WORDS TEN_WORDS TEN_WORDS TEN_WORDS TEN_WORDS TEN_WORDS TEN_WORDS TEN_WORDS

/* Big endian, double coordinates, comments of any length, properties and an element to skip, a quad,
 * and the uint list count the brief allows. */
static void test_ply_big_endian_by_hand(void **state)
{
    static const char header[] = "ply\n"
                                 "format binary_big_endian 1.0\n"
                                 "comment hand made, with more words than any other header line has\n"
                                 "obj_info skipped\n"
                                 "comment a long one: " LONG_COMMENT "\n"
                                 "element vertex 4\n"
                                 "property double x\n"
                                 "property double y\n"
                                 "property double z\n"
                                 "property float confidence\n"
                                 "property uchar red\n"
                                 "property uchar green\n"
                                 "property uchar blue\n"
                                 "property list uchar short extra\n"
                                 "element edge 2\n"
                                 "property int vertex1\n"
                                 "property int vertex2\n"
                                 "element face 2\n"
                                 "property uchar flags\n"
                                 "property list uint int vertex_indices\n"
                                 "end_header\n";
    static const double xyz[4][3] = {{0, 0, 0}, {1.25, 0, -2}, {1.25, 3.5, 1e-3}, {0, 3.5, 1e20}};
    unsigned char body[512], *p = body;
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 3; k++)
            p = put_be_double(p, xyz[i][k]);
        p = put_be_float(p, 0.5f * (float)i);
        for (int k = 0; k < 3; k++)
            *p++ = (uint8_t)(10 * i + k);
        *p++ = (uint8_t)i; /* extra: i shorts */
        for (int k = 0; k < i; k++)
            p = put_be(p, 0xABCD, 2);
    }
    for (int e = 0; e < 2; e++) {
        p = put_be(p, 0, 4);
        p = put_be(p, 3, 4);
    }
    static const int faces[2][5] = {{4, 0, 1, 2, 3}, {3, 3, 2, 1, 0}};
    for (int f = 0; f < 2; f++) {
        *p++ = 7; /* flags */
        for (int k = 0; k <= faces[f][0]; k++)
            p = put_be(p, (uint32_t)faces[f][k], 4);
    }
    char path[256];
    tu_scratch_path(*state, "be.ply", path, sizeof path);
    size_t size = strlen(header) + (size_t)(p - body);
    unsigned char *file = malloc(size);
    memcpy(file, header, strlen(header));
    memcpy(file + strlen(header), body, (size_t)(p - body));
    tu_write_file(path, file, size);

    mesh m;
    if (mesh_read_ply(path, &m) != 0)
        fail_msg("mesh_read_ply: %s", err_message());
    assert_int_equal(m.n_vertices, 4);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++)
            assert_true(m.positions[i * 3 + k] == (float)xyz[i][k]);
    assert_null(m.normals);
    assert_non_null(m.colors);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++)
            assert_int_equal(m.colors[i * 3 + k], 10 * i + k);
    static const uint32_t tris[] = {0, 1, 2, 0, 2, 3, 3, 2, 1};
    assert_triangles(&m, tris, 3);
    mesh_free(&m);

    /* Cut in the middle of vertex 2: the message names it. */
    size_t vertex_bytes = 3 * 8 + 4 + 3 + 1;
    tu_write_file(path, file, strlen(header) + 2 * vertex_bytes + 2 + 10);
    assert_int_equal(mesh_read_ply(path, &m), -1);
    assert_error_contains(path);
    assert_error_contains("vertex 2 of 4");
    assert_mesh_empty(&m);
    free(file);
}

/* ASCII with float colours 0..1, normals, CRLF lines, int8/uint16 types. */
static void test_ply_ascii_by_hand(void **state)
{
    char path[256];
    tu_scratch_path(*state, "hand.ply", path, sizeof path);
    tu_write_text(path, "ply\r\n"
                     "format ascii 1.0\r\n"
                     "element vertex 3\r\n"
                     "property float32 x\r\nproperty int16 y\r\nproperty char z\r\n"
                     "property float nx\r\nproperty float ny\r\nproperty float nz\r\n"
                     "property float red\r\nproperty float green\r\nproperty float blue\r\n"
                     "property ushort alpha\r\n"
                     "element face 1\r\n"
                     "property list int uint vertex_index\r\n"
                     "end_header\r\n"
                     "0.5 -3 -128 0 0 1 0 1 0.2 65535\r\n"
                     "\r\n"
                     "1e2 7 127 0 1 0 1.5 -1 0.5 0\r\n"
                     "  -0.25\t0 0 1 0 0 0.0 0.0 1.0 1   \r\n"
                     "3 2 1 0\r\n");
    mesh m;
    if (mesh_read_ply(path, &m) != 0)
        fail_msg("mesh_read_ply: %s", err_message());
    static const float pos[] = {0.5f, -3, -128, 100, 7, 127, -0.25f, 0, 0};
    static const float nrm[] = {0, 0, 1, 0, 1, 0, 1, 0, 0};
    static const uint8_t col[] = {0, 255, 51, 255, 0, 128, 0, 0, 255};
    assert_int_equal(m.n_vertices, 3);
    assert_floats_equal(m.positions, pos, 9);
    assert_non_null(m.normals);
    assert_floats_equal(m.normals, nrm, 9);
    assert_non_null(m.colors);
    assert_memory_equal(m.colors, col, 9);
    static const uint32_t tri[] = {2, 1, 0};
    assert_triangles(&m, tri, 1);
    mesh_free(&m);
}

/* ------------------------------------------------------------ OBJ features */

static void test_obj_polygons(void **state)
{
    mesh m;
    read_obj_text(state, "# a quad, a pentagon and a triangle\n"
                         "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\nv 2 1 0\nv 3 1 0\n"
                         "f 1 2 3 4\n"
                         "f 2 5 6 7 3\n"
                         "f 7 6 5\n",
                   &m);
    static const uint32_t tris[] = {0, 1, 2, 0, 2, 3, 1, 4, 5, 1, 5, 6, 1, 6, 2, 6, 5, 4};
    assert_int_equal(m.n_vertices, 7);
    assert_triangles(&m, tris, 6);
    assert_null(m.normals);
    assert_null(m.colors);
    assert_null(m.uvs);
    mesh_free(&m);
}

/* Negative indices count back from the vertices defined so far. */
static void test_obj_negative_indices(void **state)
{
    mesh m;
    read_obj_text(state, "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"
                         "f -4 -3 -2 -1\n"
                         "v 5 5 5\n"
                         "f -1 -2 -3\n"
                         "vt 0 0\nvt 1 0\nvt 1 1\n"
                         "f 1/-3 -4/-2 3/-1\n",
                   &m);
    static const uint32_t tris[] = {0, 1, 2, 0, 2, 3, 4, 3, 2, 0, 1, 2};
    assert_int_equal(m.n_vertices, 5);
    assert_triangles(&m, tris, 4);
    assert_int_equal(m.n_uvs, 3);
    assert_null(m.face_uvs); /* only some faces have uvs */
    mesh_free(&m);
}

static void test_obj_face_forms(void **state)
{
    static const char *const vertices = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"
                                        "vt 0 0\nvt 1 0\nvt 1 1 0\nvt 0.25\n"
                                        "vn 0 0 1\nvn 0 1 0\n";
    char text[1024];
    mesh m;
    /* v/vt */
    snprintf(text, sizeof text, "%sf 1/4 2/3 3/2 4/1\n", vertices);
    read_obj_text(state, text, &m);
    static const uint32_t quad[] = {0, 1, 2, 0, 2, 3};
    static const uint32_t quad_uvs[] = {3, 2, 1, 3, 1, 0};
    static const float uvs[] = {0, 0, 1, 0, 1, 1, 0.25f, 0};
    assert_triangles(&m, quad, 2);
    assert_int_equal(m.n_uvs, 4);
    assert_floats_equal(m.uvs, uvs, 8);
    assert_non_null(m.face_uvs);
    assert_memory_equal(m.face_uvs, quad_uvs, sizeof quad_uvs);
    assert_null(m.normals); /* 2 vn for 4 v, none referenced */
    mesh_free(&m);

    /* v//vn: each vertex has one normal, so normals are per vertex. */
    snprintf(text, sizeof text, "%sf 1//2 2//2 3//1\nf 1//2 3//1 4//1\n", vertices);
    read_obj_text(state, text, &m);
    static const float nrm[] = {0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1};
    assert_triangles(&m, quad, 2);
    assert_non_null(m.normals);
    assert_floats_equal(m.normals, nrm, 12);
    assert_null(m.face_uvs);
    mesh_free(&m);

    /* v/vt/vn */
    snprintf(text, sizeof text, "%sf 1/4/2 2/3/2 3/2/1 4/1/1\n", vertices);
    read_obj_text(state, text, &m);
    assert_triangles(&m, quad, 2);
    assert_memory_equal(m.face_uvs, quad_uvs, sizeof quad_uvs);
    assert_floats_equal(m.normals, nrm, 12);
    mesh_free(&m);

    /* Flat shading: vertex 1 gets two different normals, so they are dropped. */
    snprintf(text, sizeof text, "%sf 1//1 2//1 3//1\nf 1//2 3//2 4//2\n", vertices);
    read_obj_text(state, text, &m);
    assert_int_equal(m.n_faces, 2);
    assert_null(m.normals);
    mesh_free(&m);

    /* As many vn as v and no face refers to them: taken in order. */
    read_obj_text(state, "v 0 0 0\nv 1 2 3\nvn 1 0 0\nvn 0 0 -1\n", &m);
    static const float in_order[] = {1, 0, 0, 0, 0, -1};
    assert_int_equal(m.n_faces, 0);
    assert_floats_equal(m.normals, in_order, 6);
    mesh_free(&m);
}

static void test_obj_colors_and_point_cloud(void **state)
{
    mesh m;
    read_obj_text(state, "v 1 2 3 1 0 0.5\nv 4 5 6 0.2 1.5 -1\nv 7 8 9\n", &m);
    static const uint8_t col[] = {255, 0, 128, 51, 255, 0, 255, 255, 255};
    static const float pos[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(m.n_vertices, 3);
    assert_int_equal(m.n_faces, 0);
    assert_floats_equal(m.positions, pos, 9);
    assert_non_null(m.colors);
    assert_memory_equal(m.colors, col, 9);
    mesh_free(&m);

    read_obj_text(state, "v 1 2 3\nv 4 5 6 1.0\n", &m); /* x y z w */
    assert_int_equal(m.n_vertices, 2);
    assert_int_equal(m.n_faces, 0);
    assert_null(m.colors);
    mesh_free(&m);
}

/* Statements the reader skips, CRLF, tabs, trailing comments, no final newline. */
static void test_obj_ignored_statements(void **state)
{
    mesh m;
    read_obj_text(state, "# exported\r\n"
                         "mtllib scene.mtl\r\n"
                         "o cube\r\n"
                         "g side\r\n"
                         "\r\n"
                         "   \r\n"
                         "v\t0 0 0 # origin\r\n"
                         "v 1 0 0\r\n"
                         "v 0 1 0\r\n"
                         "usemtl red\r\n"
                         "s off\r\n"
                         "l 1 2\r\n"
                         "vp 0.5\r\n"
                         "f 1 2 3 # the only face",
                   &m);
    static const uint32_t tri[] = {0, 1, 2};
    assert_int_equal(m.n_vertices, 3);
    assert_triangles(&m, tri, 1);
    mesh_free(&m);
}

/* Faces may name normals a file does not have (the ϕ-SfT templates do): ignored. */
static void test_obj_normal_indices_without_normals(void **state)
{
    mesh m;
    read_obj_text(state, "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nvt 1 1\n"
                         "f 1/1/1 2/2/1 4/4/1 3/3/1\n", &m);
    static const uint32_t tri[] = {0, 1, 3, 0, 3, 2};
    assert_triangles(&m, tri, 2);
    assert_null(m.normals);
    assert_non_null(m.face_uvs);
    mesh_free(&m);
}

/* ------------------------------------------------------------ errors */

static void test_obj_errors(void **state)
{
    const char *three = "v 0 0 0\nv 1 0 0\nv 0 1 0\n";
    char text[256];
    snprintf(text, sizeof text, "%sf 1 2 4\n", three);
    EXPECT_READ_ERROR("a.obj", text, "a.obj:4:", "vertex index 4 out of range (3 defined so far)");
    snprintf(text, sizeof text, "%sf 0 1 2\n", three);
    EXPECT_READ_ERROR("a.obj", text, "a.obj:4:", "vertex index 0 out of range");
    snprintf(text, sizeof text, "%s# c\nf -4 -1 -2\n", three);
    EXPECT_READ_ERROR("a.obj", text, "a.obj:5:", "vertex index -4 out of range");
    snprintf(text, sizeof text, "%sf 1/1 2/1 3/1\n", three);
    EXPECT_READ_ERROR("a.obj", text, "a.obj:4:", "texture index 1 out of range (0 defined so far)");
    snprintf(text, sizeof text, "%svn 0 0 1\nf 1//1 2//2 3//1\n", three);
    EXPECT_READ_ERROR("a.obj", text, "a.obj:5:", "normal index 2 out of range (1 defined so far)");
    snprintf(text, sizeof text, "%sf 1 2\n", three);
    EXPECT_READ_ERROR("a.obj", text, "a.obj:4:", "face has 2 vertices");
    snprintf(text, sizeof text, "%sf\n", three);
    EXPECT_READ_ERROR("a.obj", text, "a.obj:4:", "face has 0 vertices");
    snprintf(text, sizeof text, "%sf 1/x 2 3\n", three);
    EXPECT_READ_ERROR("a.obj", text, "a.obj:4:", "malformed texture index");
    snprintf(text, sizeof text, "%svt 0 0\nf 1/1 2 3\n", three);
    EXPECT_READ_ERROR("a.obj", text, "a.obj:5:", "mixes vertex forms");
    snprintf(text, sizeof text, "%sf 1 2 3x\n", three);
    EXPECT_READ_ERROR("a.obj", text, "a.obj:4:", "malformed face vertex");
    EXPECT_READ_ERROR("b.obj", "v 0 0 0\nv 1 2 x\n", "b.obj:2:", "malformed number \"x\"");
    EXPECT_READ_ERROR("b.obj", "v 1.5.2 0 0\n", "b.obj:1:", "malformed number \"1.5.2\"");
    EXPECT_READ_ERROR("b.obj", "v nan 0 0\n", "b.obj:1:", "malformed number \"nan\"");
    EXPECT_READ_ERROR("b.obj", "v 1e 0 0\n", "b.obj:1:", "malformed number \"1e\"");
    EXPECT_READ_ERROR("b.obj", "v 1e39 0 0\n", "b.obj:1:", "out of float range");
    EXPECT_READ_ERROR("b.obj", "v 1 2\n", "b.obj:1:", "vertex has 2 values");
    EXPECT_READ_ERROR("b.obj", "v 1 2 3 4 5 6 7\n", "b.obj:1:", "more than 6 values");
    EXPECT_READ_ERROR("b.obj", "vn 1 2\n", "b.obj:1:", "normal has 2 values");
}

static void test_ply_header_errors(void **state)
{
    const char *vertex = "element vertex 1\nproperty float x\nproperty float y\nproperty float z\n";
    char text[512];
    EXPECT_READ_ERROR("h.ply", "plx\nformat ascii 1.0\nend_header\n", "not a PLY file");
    EXPECT_READ_ERROR("h.ply", "", "not a PLY file");
    snprintf(text, sizeof text, "ply\nformat ascii 1.0\n%s", vertex);
    EXPECT_READ_ERROR("h.ply", text, "no end_header");
    snprintf(text, sizeof text, "ply\nformat ascii 1.0\n%s0 0 0\n", vertex);
    EXPECT_READ_ERROR("h.ply", text, "header line 7", "unknown keyword \"0\"");
    snprintf(text, sizeof text, "ply\nformat binary_middle_endian 1.0\n%send_header\n", vertex);
    EXPECT_READ_ERROR("h.ply", text, "header line 2", "unknown format \"binary_middle_endian\"");
    snprintf(text, sizeof text, "ply\nformat ascii 2.0\n%send_header\n", vertex);
    EXPECT_READ_ERROR("h.ply", text, "header line 2", "format");
    snprintf(text, sizeof text, "ply\n%send_header\n", vertex);
    EXPECT_READ_ERROR("h.ply", text, "header line 2", "before the format line");
    EXPECT_READ_ERROR("h.ply", "ply\nformat ascii 1.0\nproperty float x\nend_header\n", "header line 3",
                      "property before any element");
    EXPECT_READ_ERROR("h.ply", "ply\nformat ascii 1.0\nelement vertex 1\nproperty floaty x\nend_header\n",
                      "header line 4", "unknown property type");
    EXPECT_READ_ERROR("h.ply", "ply\nformat ascii 1.0\nelement vertex -3\nend_header\n", "header line 3",
                      "expected \"element <name> <count>\"");
    EXPECT_READ_ERROR("h.ply", "ply\nformat ascii 1.0\nfrobnicate 3\nend_header\n", "header line 3",
                      "unknown keyword \"frobnicate\"");
    EXPECT_READ_ERROR("h.ply", "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                               "end_header\n0 0\n",
                      "lacks x, y or z");
    EXPECT_READ_ERROR("h.ply", "ply\nformat ascii 1.0\nelement point 1\nproperty float x\nend_header\n0\n",
                      "no vertex element");
    snprintf(text, sizeof text, "ply\nformat ascii 1.0\n%selement face 0\nproperty list uchar int idx\nend_header\n",
             vertex);
    EXPECT_READ_ERROR("h.ply", text, "no vertex_indices");
    snprintf(text, sizeof text,
             "ply\nformat ascii 1.0\n%selement face 0\nproperty list float int vertex_indices\nend_header\n", vertex);
    EXPECT_READ_ERROR("h.ply", text, "header line 8", "count type");
    snprintf(text, sizeof text,
             "ply\nformat ascii 1.0\n%selement face 0\nproperty list uchar float vertex_indices\nend_header\n", vertex);
    EXPECT_READ_ERROR("h.ply", text, "must be a list of integers");
    snprintf(text, sizeof text, "ply\nformat ascii 1.0\n%sproperty float x\nend_header\n", vertex);
    EXPECT_READ_ERROR("h.ply", text, "header line 7", "declared twice");
}

static void test_ply_body_errors(void **state)
{
    const char *head = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                       "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n";
    char text[512];
    snprintf(text, sizeof text, "%s0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n", head);
    EXPECT_READ_ERROR("b.ply", text, "b.ply:13: face 0 of 1", "vertex index out of range");
    snprintf(text, sizeof text, "%s0 0 0\n1 0 0\n0 1 0\n3 0 1 -1\n", head);
    EXPECT_READ_ERROR("b.ply", text, "face 0 of 1", "vertex index out of range");
    snprintf(text, sizeof text, "%s0 0 0\n1 0 0\n0 1 0\n2 0 1\n", head);
    EXPECT_READ_ERROR("b.ply", text, "face 0 of 1", "at least 3 vertices");
    snprintf(text, sizeof text, "%s0 0 0\n1 0 0\n0 1 0\n3 0 1 2 7\n", head);
    EXPECT_READ_ERROR("b.ply", text, "face 0 of 1", "more values on its line");
    snprintf(text, sizeof text, "%s0 0 0\n1 0 0 0\n0 1 0\n3 0 1 2\n", head);
    EXPECT_READ_ERROR("b.ply", text, "b.ply:11: vertex 1 of 3", "more values on its line");
    snprintf(text, sizeof text, "%s0 0 0\n1 zero 0\n0 1 0\n3 0 1 2\n", head);
    EXPECT_READ_ERROR("b.ply", text, "b.ply:11: vertex 1 of 3", "malformed number");
    snprintf(text, sizeof text, "%s0 0 0\n1 0 0\n0 1e39 0\n3 0 1 2\n", head);
    EXPECT_READ_ERROR("b.ply", text, "b.ply:12: vertex 2 of 3", "not a finite float");
    snprintf(text, sizeof text, "%s0 0 0\n1 0 0\n0 1 0\n3 0 1.5 2\n", head);
    EXPECT_READ_ERROR("b.ply", text, "face 0 of 1", "out of range");
}

/* Binary file cut in half, and cut inside the last face. */
static void test_ply_truncated_binary(void **state)
{
    enum { N = 1000, F = 500 };
    mesh a;
    assert_int_equal(mesh_alloc(&a, N, F), 0);
    a.normals = calloc(N * 3, sizeof(float));
    a.colors = calloc(N * 3, 1);
    for (size_t i = 0; i < N * 3; i++)
        a.positions[i] = (float)i;
    for (size_t i = 0; i < F * 3; i++)
        a.faces[i] = (uint32_t)(i % N);
    char path[256];
    tu_scratch_path(*state, "cut.ply", path, sizeof path);
    assert_int_equal(mesh_write_ply(path, &a, 1), 0);
    mesh_free(&a);
    size_t size;
    char *data = tu_read_file(path, &size);
    size_t header = (size_t)(strstr(data, "end_header\n") + strlen("end_header\n") - data);
    size_t record = 3 * 4 + 3 * 4 + 3;
    assert_int_equal(size, header + N * record + F * 13);

    mesh m;
    tu_write_file(path, data, size / 2);
    char expected[64];
    snprintf(expected, sizeof expected, "vertex %zu of %d", (size / 2 - header) / record, N);
    assert_int_equal(mesh_read_ply(path, &m), -1);
    assert_error_contains(path);
    assert_error_contains(expected);
    assert_error_contains("truncated");
    assert_mesh_empty(&m);

    tu_write_file(path, data, size - 5);
    assert_int_equal(mesh_read_ply(path, &m), -1);
    assert_error_contains("face 499 of 500");
    assert_error_contains("truncated");
    assert_mesh_empty(&m);

    tu_write_file(path, data, header); /* no body at all */
    assert_int_equal(mesh_read_ply(path, &m), -1);
    assert_error_contains("vertex 0 of 1000");
    free(data);
}

/* ASCII file missing lines: at the end, and one vertex line in the middle. */
static void test_ply_truncated_ascii(void **state)
{
    mesh a, m;
    make_pyramid(&a, WITH_NORMALS | WITH_COLORS);
    char path[256];
    tu_scratch_path(*state, "cut.ply", path, sizeof path);
    assert_int_equal(mesh_write_ply(path, &a, 0), 0);
    mesh_free(&a);
    size_t size;
    char *data = tu_read_file(path, &size);

    /* Drop the last two face lines. */
    char *end = data + size;
    for (int lines = 0; lines < 3; end--)
        lines += end[-1] == '\n';
    tu_write_file(path, data, (size_t)(end - data) + 1);
    assert_int_equal(mesh_read_ply(path, &m), -1);
    assert_error_contains(path);
    assert_error_contains("face 4 of 6");
    assert_error_contains("ends before it");
    assert_mesh_empty(&m);

    /* Drop vertex line 2: vertex 4 then meets the first face line. */
    char *body = strstr(data, "end_header\n") + strlen("end_header\n");
    char *line2 = strchr(strchr(body, '\n') + 1, '\n') + 1;
    char *line3 = strchr(line2, '\n') + 1;
    memmove(line2, line3, (size_t)(data + size - line3));
    tu_write_file(path, data, size - (size_t)(line3 - line2));
    assert_int_equal(mesh_read_ply(path, &m), -1);
    assert_error_contains("vertex 4 of 5");
    assert_error_contains("too few values");
    free(data);
}

static void test_unknown_format(void **state)
{
    char path[256];
    mesh m;
    make_pyramid(&m, 0);
    tu_scratch_path(*state, "mesh.stl", path, sizeof path);
    assert_int_equal(mesh_write(path, &m), -1);
    assert_error_contains("mesh.stl: unknown mesh format \"stl\"");
    assert_int_equal(access(path, F_OK), -1);
    mesh_free(&m);

    tu_write_text(path, "solid x\n");
    assert_int_equal(mesh_read(path, &m), -1);
    assert_error_contains("unknown mesh format");
    assert_mesh_empty(&m);
    tu_scratch_path(*state, "noext", path, sizeof path);
    assert_int_equal(mesh_read(path, &m), -1);
    assert_error_contains("unknown mesh format \"\"");
    assert_int_equal(mesh_read("/tmp/x.obj/mesh", &m), -1);
    assert_error_contains("unknown mesh format");

    tu_scratch_path(*state, "missing.obj", path, sizeof path);
    assert_int_equal(mesh_read(path, &m), -1);
    assert_error_contains("missing.obj: cannot open");
    /* Binary data in a text format. */
    tu_scratch_path(*state, "binary.obj", path, sizeof path);
    tu_write_file(path, "v 1 2 3\n\0\0", 10);
    assert_int_equal(mesh_read(path, &m), -1);
    assert_error_contains("NUL");
}

/* A failed write leaves the previous file as it was and no temporary behind. */
static void test_atomic_write(void **state)
{
    char path[256];
    tu_scratch_path(*state, "keep.ply", path, sizeof path);
    mesh good, bad;
    make_pyramid(&good, 0);
    assert_int_equal(mesh_write(path, &good), 0);
    size_t size_before, size_after;
    char *before = tu_read_file(path, &size_before);

    make_pyramid(&bad, 0);
    bad.faces[7] = 5; /* one past the last vertex */
    assert_int_equal(mesh_write(path, &bad), -1);
    assert_error_contains("keep.ply");
    assert_error_contains("face 2: vertex index 5 out of range (5 vertices)");
    bad.faces[7] = 1;
    bad.face_uvs = calloc(18, sizeof(uint32_t)); /* uv indices but no uvs */
    tu_scratch_path(*state, "keep.obj", path, sizeof path);
    assert_int_equal(mesh_write(path, &bad), -1);
    assert_error_contains("uv index 0 out of range (0 uvs)");
    tu_scratch_path(*state, "keep.ply", path, sizeof path);
    assert_int_equal(mesh_write_ply(path, &good, 2), -1);

    char *after = tu_read_file(path, &size_after);
    assert_int_equal(size_before, size_after);
    assert_memory_equal(before, after, size_before);
    free(before);
    free(after);

    fixture *fx = *state;
    assert_int_equal(tu_count_files(fx->dir), 1); /* keep.ply only */

    assert_int_equal(mesh_write("/nonexistent-dir/x.obj", &good), -1);
    assert_error_contains("/nonexistent-dir/x.obj: cannot create");
    mesh_free(&good);
    mesh_free(&bad);
}

/* ------------------------------------------------------------ speed */

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double timed_read(const char *path, mesh *m)
{
    double t0 = seconds_now();
    if (mesh_read(path, m) != 0)
        fail_msg("mesh_read: %s", err_message());
    return seconds_now() - t0;
}

/* A million points must load in well under a second; the bounds leave room
 * for slow shared machines and debug builds. */
static void test_point_cloud_1m_load_time(void **state)
{
    enum { N = 1000000 };
    mesh a, b;
    assert_int_equal(mesh_alloc(&a, N, 0), 0);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < (size_t)N * 3; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        a.positions[i] = (float)((double)(x >> 11) * 0x1p-53 * 20.0 - 10.0);
    }
    const char *names[] = {"cloud.obj", "cloud.ply", "cloud_ascii.ply"};
    for (int k = 0; k < 3; k++) {
        char path[256];
        tu_scratch_path(*state, names[k], path, sizeof path);
        assert_int_equal(k < 2 ? mesh_write(path, &a) : mesh_write_ply(path, &a, 0), 0);
        struct stat st;
        stat(path, &st);
        double seconds = timed_read(path, &b);
        printf("  load %-16s %d vertices, %6.1f MB in %.3f s (%.1f M vertices/s)\n", names[k], N,
               (double)st.st_size / 1e6, seconds, N / seconds / 1e6);
        assert_int_equal(b.n_faces, 0);
        assert_same_mesh(&a, &b);
        mesh_free(&b);
        assert_true(seconds < (k == 1 ? 1.0 : 5.0));
        unlink(path);
    }
    mesh_free(&a);
}

/* ------------------------------------------------------------ independent reader */

static int have_open3d(void)
{
    return tu_run_python("-c 'import open3d' >/dev/null 2>&1") == 0;
}

static void dump_raw(void **state, const char *name, const void *data, size_t size)
{
    char path[256];
    tu_scratch_path(*state, name, path, sizeof path);
    tu_write_file(path, data, size);
}

/* open3d reads what we write (counts, coordinates, faces, colours, normals),
 * and we read what open3d writes. */
static void test_open3d_reference(void **state)
{
    if (!have_open3d()) {
        printf("  open3d not importable by /usr/bin/python3: skipped\n");
        skip();
    }
    fixture *fx = *state;
    mesh a;
    make_pyramid(&a, WITH_NORMALS | WITH_COLORS);
    char path[256];
    tu_scratch_path(*state, "ours_ascii.ply", path, sizeof path);
    assert_int_equal(mesh_write_ply(path, &a, 0), 0);
    tu_scratch_path(*state, "ours_binary.ply", path, sizeof path);
    assert_int_equal(mesh_write_ply(path, &a, 1), 0);
    tu_scratch_path(*state, "ours.obj", path, sizeof path);
    assert_int_equal(mesh_write_obj(path, &a), 0);
    dump_raw(state, "ours.positions.f32", a.positions, a.n_vertices * 3 * sizeof(float));
    dump_raw(state, "ours.faces.u32", a.faces, a.n_faces * 3 * sizeof(uint32_t));
    dump_raw(state, "ours.normals.f32", a.normals, a.n_vertices * 3 * sizeof(float));
    dump_raw(state, "ours.colors.u8", a.colors, a.n_vertices * 3);
    mesh_free(&a);

    assert_int_equal(tu_run_python("%s %s", REFERENCE_SCRIPT, fx->dir), 0);

    /* The script wrote theirs_* with the raw arrays it meant. */
    const char *theirs[] = {"theirs_ascii.ply", "theirs_binary.ply", "theirs.obj"};
    size_t size;
    tu_scratch_path(*state, "theirs.positions.f32", path, sizeof path);
    float *pos = (float *)tu_read_file(path, &size);
    size_t n = size / 12;
    tu_scratch_path(*state, "theirs.faces.u32", path, sizeof path);
    uint32_t *faces = (uint32_t *)tu_read_file(path, &size);
    size_t f = size / 12;
    tu_scratch_path(*state, "theirs.colors.u8", path, sizeof path);
    uint8_t *colors = (uint8_t *)tu_read_file(path, &size);
    assert_int_equal(size, n * 3);
    for (int k = 0; k < 3; k++) {
        mesh b;
        tu_scratch_path(*state, theirs[k], path, sizeof path);
        if (mesh_read(path, &b) != 0)
            fail_msg("mesh_read %s: %s", theirs[k], err_message());
        assert_int_equal(b.n_vertices, n);
        assert_triangles(&b, faces, f);
        for (size_t i = 0; i < n * 3; i++) /* open3d's text writers keep 6 digits */
            if (fabsf(b.positions[i] - pos[i]) > (k == 1 ? 0.0f : 1e-5f))
                fail_msg("%s: coordinate %zu: %.9g vs %.9g", theirs[k], i, b.positions[i], pos[i]);
        assert_non_null(b.colors);
        assert_memory_equal(b.colors, colors, n * 3);
        assert_non_null(b.normals);
        mesh_free(&b);
    }
    free(pos);
    free(faces);
    free(colors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_obj_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ply_roundtrip_ascii, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ply_roundtrip_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_dispatch_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ply_big_endian_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ply_ascii_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_obj_polygons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_obj_negative_indices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_obj_face_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_obj_colors_and_point_cloud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_obj_ignored_statements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_obj_normal_indices_without_normals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_obj_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ply_header_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ply_body_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ply_truncated_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ply_truncated_ascii, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_point_cloud_1m_load_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open3d_reference, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
