/* test_mesh_ops.c — connected components (against a brute-force flood fill),
 * largest component, compaction of vertices with their normals/colours, face
 * and vertex removal by masks, error handling; and the mask dilation of the
 * mesh cleaning against a brute-force OpenCV ellipse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/mesh.h"
#include "phive/mesh_clean.h"
#include "phive/mesh_ops.h"
#include "phive/rng.h"
#include "test_util.h"

/* A mesh whose vertex v sits at (v, 10v, 100v), with normal (v, 0, 1) and
 * colour (v, 2v, 3v) mod 256, so compaction can be checked vertex by vertex. */
static void make_mesh(mesh *m, size_t nv, const uint32_t *faces, size_t nf)
{
    assert_int_equal(mesh_alloc(m, nv, nf), 0);
    m->normals = malloc(3 * nv * sizeof *m->normals);
    m->colors = malloc(3 * nv);
    assert_non_null(m->normals);
    assert_non_null(m->colors);
    for (size_t v = 0; v < nv; ++v) {
        float *p = m->positions + 3 * v, *n = m->normals + 3 * v;
        p[0] = (float)v, p[1] = 10.0f * v, p[2] = 100.0f * v;
        n[0] = (float)v, n[1] = 0, n[2] = 1;
        for (int c = 0; c < 3; ++c) m->colors[3 * v + c] = (uint8_t)((c + 1) * v);
    }
    if (nf) memcpy(m->faces, faces, 3 * nf * sizeof *faces);
}

/* Vertex k of m is old vertex `old` with all its attributes. */
static void assert_vertex_is(const mesh *m, size_t k, size_t old)
{
    assert_true(m->positions[3 * k] == (float)old && m->positions[3 * k + 1] == 10.0f * old &&
                m->positions[3 * k + 2] == 100.0f * old);
    assert_true(m->normals[3 * k] == (float)old && m->normals[3 * k + 2] == 1.0f);
    assert_int_equal(m->colors[3 * k + 2], (uint8_t)(3 * old));
}

/* Face k of m uses the old vertices a, b, c (checked through the positions). */
static void assert_face_is(const mesh *m, size_t k, uint32_t a, uint32_t b, uint32_t c)
{
    const uint32_t old[3] = {a, b, c};
    for (int j = 0; j < 3; ++j) assert_true(m->positions[3 * (size_t)m->faces[3 * k + j]] == (float)old[j]);
}

/* Three pieces and an isolated vertex:
 *   {0, 1, 2, 3, 4}  faces (0 1 2) and (2 3 4): share only vertex 2
 *   {5}              isolated
 *   {6, 7, 8, 9}     faces (9 8 7), (7 8 6) listed in between the others
 *   {10, 11, 12}     one face */
static const uint32_t pieces_faces[] = {9, 8, 7, 0, 1, 2, 10, 11, 12, 7, 8, 6, 4, 3, 2};

static void test_components_small(void **state)
{
    (void)state;
    mesh m;
    make_mesh(&m, 13, pieces_faces, 5);
    uint32_t label[13], face_label[5];
    size_t n = 0;
    assert_int_equal(mesh_components(&m, label, face_label, &n), 0);
    assert_int_equal(n, 4);
    const uint32_t expected[13] = {0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 3, 3, 3}; /* numbered by smallest vertex */
    for (int v = 0; v < 13; ++v) assert_int_equal(label[v], expected[v]);
    const uint32_t expected_faces[5] = {2, 0, 3, 2, 0};
    for (int f = 0; f < 5; ++f) assert_int_equal(face_label[f], expected_faces[f]);
    assert_int_equal(mesh_components(&m, label, NULL, NULL), 0); /* optional outputs */
    mesh_free(&m);
}

/* Brute force: relax label = min over each face's vertices until nothing changes. */
static size_t flood_labels(const uint32_t *faces, size_t nf, size_t nv, uint32_t *label)
{
    for (size_t v = 0; v < nv; ++v) label[v] = (uint32_t)v;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t f = 0; f < nf; ++f) {
            const uint32_t *t = faces + 3 * f;
            uint32_t low = label[t[0]];
            for (int k = 1; k < 3; ++k) low = label[t[k]] < low ? label[t[k]] : low;
            for (int k = 0; k < 3; ++k)
                if (label[t[k]] != low) label[t[k]] = low, changed = 1;
        }
    }
    size_t n = 0; /* renumber the minimum-vertex labels 0, 1, ... in vertex order */
    for (size_t v = 0; v < nv; ++v) label[v] = label[v] == v ? (uint32_t)n++ : label[label[v]];
    return n;
}

static void test_components_random(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 7, 0);
    for (int trial = 0; trial < 20; ++trial) {
        size_t nv = 50 + 40 * (size_t)trial, nf = nv / 3 + (size_t)trial * 3;
        uint32_t *faces = malloc(3 * nf * sizeof *faces), *label = malloc(nv * sizeof *label),
                 *expected = malloc(nv * sizeof *expected);
        for (size_t i = 0; i < 3 * nf; ++i) faces[i] = (uint32_t)(rng_uniform(&rng) * (double)nv) % (uint32_t)nv;
        mesh m;
        make_mesh(&m, nv, faces, nf);
        size_t n = 0, n_expected = flood_labels(faces, nf, nv, expected);
        assert_int_equal(mesh_components(&m, label, NULL, &n), 0);
        assert_int_equal(n, n_expected);
        assert_memory_equal(label, expected, nv * sizeof *label);
        mesh_free(&m);
        free(faces), free(label), free(expected);
    }
}

static void test_keep_largest(void **state)
{
    (void)state;
    mesh m;
    make_mesh(&m, 13, pieces_faces, 5);
    m.face_uvs = malloc(15 * sizeof *m.face_uvs);
    m.uvs = calloc(2 * 15, sizeof *m.uvs);
    m.n_uvs = 15;
    for (uint32_t i = 0; i < 15; ++i) m.face_uvs[i] = i; /* face f uses uvs 3f..3f+2 */
    size_t removed = 0;
    assert_int_equal(mesh_keep_largest_component(&m, &removed), 0);
    /* {0..4} and {6..9} both have two faces: the tie goes to the smaller vertex index */
    assert_int_equal(removed, 3);
    assert_int_equal(m.n_faces, 2);
    assert_int_equal(m.n_vertices, 5);
    for (size_t k = 0; k < 5; ++k) assert_vertex_is(&m, k, k);
    assert_face_is(&m, 0, 0, 1, 2); /* surviving faces keep their order and their face_uvs */
    assert_face_is(&m, 1, 4, 3, 2);
    assert_int_equal(m.face_uvs[0], 3);
    assert_int_equal(m.face_uvs[3], 12);
    assert_int_equal(m.n_uvs, 15);
    assert_int_equal(mesh_validate(&m), 0);
    mesh_free(&m);

    /* One more face on {6..9} makes it the largest; vertices are renumbered 6..9 -> 0..3. */
    uint32_t faces[18];
    memcpy(faces, pieces_faces, sizeof pieces_faces);
    faces[15] = 6, faces[16] = 9, faces[17] = 8;
    make_mesh(&m, 13, faces, 6);
    assert_int_equal(mesh_keep_largest_component(&m, &removed), 0);
    assert_int_equal(removed, 3);
    assert_int_equal(m.n_vertices, 4);
    for (size_t k = 0; k < 4; ++k) assert_vertex_is(&m, k, 6 + k);
    assert_face_is(&m, 0, 9, 8, 7);
    assert_face_is(&m, 1, 7, 8, 6);
    assert_face_is(&m, 2, 6, 9, 8);
    mesh_free(&m);
}

/* By faces, not vertices: a fan of 4 faces on 6 vertices beats a strip of 3 faces on 8 vertices... */
static void test_largest_counts_faces(void **state)
{
    (void)state;
    const uint32_t faces[] = {0, 1, 2, 0, 2, 3, 0, 3, 4, 0, 4, 5, /* fan: 4 faces, 6 vertices */
                              6, 7, 8, 8, 9, 10, 10, 11, 12, 12, 13, 6}; /* a strip: 4 faces on 8 vertices */
    mesh m;
    make_mesh(&m, 14, faces, 7); /* ...only the first 3 of the second piece's faces: 3 faces, 7 vertices */
    assert_int_equal(mesh_keep_largest_component(&m, NULL), 0);
    assert_int_equal(m.n_faces, 4);
    assert_int_equal(m.n_vertices, 6);
    mesh_free(&m);
    /* ...and with all of them the tie goes to the fan (smaller vertex index). */
    make_mesh(&m, 14, faces, 8);
    size_t n_comp = 0;
    uint32_t label[14];
    assert_int_equal(mesh_components(&m, label, NULL, &n_comp), 0);
    assert_int_equal(n_comp, 2);
    assert_int_equal(mesh_keep_largest_component(&m, NULL), 0);
    assert_int_equal(m.n_vertices, 6);
    mesh_free(&m);
    /* A point cloud is left alone. */
    make_mesh(&m, 3, NULL, 0);
    size_t removed = 99;
    assert_int_equal(mesh_keep_largest_component(&m, &removed), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(m.n_vertices, 3);
    mesh_free(&m);
}

static void test_remove_unreferenced(void **state)
{
    (void)state;
    const uint32_t faces[] = {7, 3, 5, 5, 3, 1};
    mesh m;
    make_mesh(&m, 9, faces, 2);
    size_t removed = 0;
    assert_int_equal(mesh_remove_unreferenced_vertices(&m, &removed), 0);
    assert_int_equal(removed, 5);
    assert_int_equal(m.n_vertices, 4);
    const size_t old[4] = {1, 3, 5, 7};
    for (size_t k = 0; k < 4; ++k) assert_vertex_is(&m, k, old[k]);
    const uint32_t expected[6] = {3, 1, 2, 2, 1, 0};
    assert_memory_equal(m.faces, expected, sizeof expected);
    mesh_free(&m);
    /* without normals or colours */
    make_mesh(&m, 9, faces, 2);
    free(m.normals), free(m.colors);
    m.normals = NULL, m.colors = NULL;
    assert_int_equal(mesh_remove_unreferenced_vertices(&m, NULL), 0);
    assert_int_equal(m.n_vertices, 4);
    assert_true(m.positions[3 * 3] == 7.0f);
    mesh_free(&m);
}

static void test_masks(void **state)
{
    (void)state;
    mesh m;
    make_mesh(&m, 13, pieces_faces, 5);
    uint8_t keep[13];
    memset(keep, 1, sizeof keep);
    keep[8] = 0; /* rejects faces (9 8 7) and (7 8 6) */
    keep[5] = 0; /* isolated: no face to remove */
    size_t faces_removed = 0, vertices_removed = 0;
    assert_int_equal(mesh_remove_faces_by_vertex_mask(&m, keep, &faces_removed), 0);
    assert_int_equal(faces_removed, 2);
    assert_int_equal(m.n_faces, 3);
    assert_int_equal(m.n_vertices, 13); /* vertices stay */
    assert_face_is(&m, 0, 0, 1, 2);
    assert_face_is(&m, 1, 10, 11, 12);
    assert_face_is(&m, 2, 4, 3, 2);
    mesh_free(&m);

    make_mesh(&m, 13, pieces_faces, 5);
    assert_int_equal(mesh_remove_vertices_by_mask(&m, keep, &vertices_removed, &faces_removed), 0);
    assert_int_equal(vertices_removed, 2);
    assert_int_equal(faces_removed, 2);
    assert_int_equal(m.n_vertices, 11); /* 6, 7, 9 lost their faces but stay */
    const size_t old[11] = {0, 1, 2, 3, 4, 6, 7, 9, 10, 11, 12};
    for (size_t k = 0; k < 11; ++k) assert_vertex_is(&m, k, old[k]);
    assert_face_is(&m, 1, 10, 11, 12);
    assert_int_equal(mesh_validate(&m), 0);
    mesh_free(&m);
}

static void test_errors_leave_mesh(void **state)
{
    (void)state;
    const uint32_t faces[] = {0, 1, 2, 0, 2, 9};
    mesh m;
    make_mesh(&m, 4, faces, 2);
    uint32_t label[4];
    uint8_t keep[4] = {1, 1, 1, 1};
    err_clear();
    assert_int_equal(mesh_components(&m, label, NULL, NULL), -1);
    assert_error_mentions("face 1", "vertex 9");
    assert_int_equal(mesh_keep_largest_component(&m, NULL), -1);
    assert_int_equal(mesh_remove_unreferenced_vertices(&m, NULL), -1);
    assert_int_equal(mesh_remove_faces_by_vertex_mask(&m, keep, NULL), -1);
    assert_int_equal(mesh_remove_vertices_by_mask(&m, keep, NULL, NULL), -1);
    assert_error_contains("mesh_remove_vertices_by_mask");
    assert_int_equal(m.n_vertices, 4);
    assert_int_equal(m.n_faces, 2);
    assert_int_equal(m.faces[5], 9);
    mesh_free(&m);
}

/* ---- mask dilation (mesh_clean.h) ------------------------------------------ */

/* cv::dilate with getStructuringElement(MORPH_ELLIPSE, (2r+1, 2r+1)), the
 * element built as OpenCV builds it, applied pixel by pixel. */
static void brute_dilate(const uint8_t *in, int w, int h, int r, uint8_t *out)
{
    double inv_r2 = r ? 1.0 / ((double)r * r) : 0;
    int *half = malloc(((size_t)r + 1) * sizeof *half);
    for (int dy = 0; dy <= r; ++dy) half[dy] = (int)lrint(r * sqrt((r * r - dy * dy) * inv_r2));
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            uint8_t v = 0;
            for (int dy = -r; dy <= r && !v; ++dy)
                for (int dx = -half[abs(dy)]; dx <= half[abs(dy)] && !v; ++dx) {
                    int yy = y + dy, xx = x + dx;
                    v = yy >= 0 && yy < h && xx >= 0 && xx < w && in[yy * w + xx];
                }
            out[y * w + x] = v;
        }
    free(half);
}

static void test_dilation_matches_opencv_ellipse(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 11, 0);
    const int sizes[][2] = {{1, 1}, {7, 3}, {40, 31}, {64, 80}};
    const int radii[] = {0, 1, 2, 3, 5, 12, 24};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; ++s)
        for (size_t k = 0; k < sizeof radii / sizeof *radii; ++k) {
            int w = sizes[s][0], h = sizes[s][1], r = radii[k];
            size_t pixels = (size_t)w * (size_t)h;
            uint8_t *in = malloc(pixels), *got = malloc(pixels), *want = malloc(pixels);
            for (int p = 0; p < w * h; ++p) in[p] = rng_uniform(&rng) < 0.01 ? (uint8_t)(1 + p % 200) : 0;
            in[0] = w > 20; /* a corner pixel in some cases (the border is clear) */
            assert_int_equal(mask_dilate_disc(in, w, h, r, got), 0);
            brute_dilate(in, w, h, r, want);
            for (int p = 0; p < w * h; ++p) got[p] = got[p] != 0;
            assert_memory_equal(got, want, pixels);
            memset(in, 0, pixels); /* an empty mask stays empty */
            assert_int_equal(mask_dilate_disc(in, w, h, r, got), 0);
            for (int p = 0; p < w * h; ++p) assert_int_equal(got[p], 0);
            free(in), free(got), free(want);
        }
    uint8_t one = 1, out = 0;
    assert_int_equal(mask_dilate_disc(&one, 1, 1, -1, &out), -1);
    assert_error_contains("radius");
}

/* The element itself: a single pixel dilated by r = 50 has OpenCV's row
 * half-widths (row 30 below the centre spans ±40, the last row ±0, r = 3 row 1 ±3). */
static void test_dilation_element(void **state)
{
    (void)state;
    int w = 101, h = 101;
    uint8_t *in = calloc((size_t)(w * h), 1), *out = malloc((size_t)(w * h));
    in[50 * w + 50] = 1;
    assert_int_equal(mask_dilate_disc(in, w, h, 50, out), 0);
    int row30 = 0, row50 = 0, total = 0;
    for (int x = 0; x < w; ++x) row30 += out[80 * w + x] != 0, row50 += out[100 * w + x] != 0;
    for (int p = 0; p < w * h; ++p) total += out[p] != 0;
    assert_int_equal(row30, 81);
    assert_int_equal(row50, 1);
    assert_int_equal(total, 7957); /* sum over dy of 2·round(sqrt(2500 − dy²)) + 1 */
    assert_int_equal(mask_dilate_disc(in, w, h, 3, out), 0);
    int row1 = 0;
    for (int x = 0; x < w; ++x) row1 += out[51 * w + x] != 0;
    assert_int_equal(row1, 7);
    free(in), free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_components_small),
        cmocka_unit_test(test_components_random),
        cmocka_unit_test(test_keep_largest),
        cmocka_unit_test(test_largest_counts_faces),
        cmocka_unit_test(test_remove_unreferenced),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_errors_leave_mesh),
        cmocka_unit_test(test_dilation_matches_opencv_ellipse),
        cmocka_unit_test(test_dilation_element),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
