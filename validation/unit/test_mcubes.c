/* test_mcubes.c — marching cubes: closed, consistently oriented, crack-free
 * meshes (sphere, torus, every corner configuration, noise), the grid → world
 * map, orientation flags, vertex normals, slab independence, errors, and a
 * comparison with scikit-image (validation/reference/mcubes_reference.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phive/errors.h"
#include "phive/mcubes.h"
#include "phive/mesh.h"

#include "test_util.h"

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct {
    size_t n;
    double lo, h; /* world = lo + h·index on every axis */
    float *v;
} grid;

static grid grid_make(size_t n, double lo, double hi)
{
    grid g = {n, lo, (hi - lo) / (double)(n - 1), calloc(n * n * n, sizeof(float))};
    assert_non_null(g.v);
    return g;
}

static void grid_point(const grid *g, size_t i, size_t j, size_t k, double p[3])
{
    p[0] = g->lo + g->h * (double)i, p[1] = g->lo + g->h * (double)j, p[2] = g->lo + g->h * (double)k;
}

static const double sphere_centre[3] = {0.013, -0.021, 0.007};

static double sphere_sdf(const double p[3], double r)
{
    double d[3] = {p[0] - sphere_centre[0], p[1] - sphere_centre[1], p[2] - sphere_centre[2]};
    return sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) - r;
}

static double torus_sdf(const double p[3], double big_r, double small_r)
{
    double ring = sqrt(p[0] * p[0] + p[1] * p[1]) - big_r;
    return sqrt(ring * ring + p[2] * p[2]) - small_r;
}

static void fill_sphere(grid *g, double r)
{
    for (size_t k = 0; k < g->n; ++k)
        for (size_t j = 0; j < g->n; ++j)
            for (size_t i = 0; i < g->n; ++i) {
                double p[3];
                grid_point(g, i, j, k, p);
                g->v[i + g->n * (j + g->n * k)] = (float)sphere_sdf(p, r);
            }
}

static void options_for(const grid *g, mcubes_options *o)
{
    mcubes_options_init(o);
    const double origin[3] = {g->lo, g->lo, g->lo}, spacing[3] = {g->h, g->h, g->h};
    mcubes_set_origin_spacing(o, origin, spacing);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Every directed edge (a→b) exactly once and its reverse exactly once: each
 * edge shared by two faces that wind consistently.  Returns the edge count, or
 * −1 with a message when the mesh is open, non-manifold or inconsistent. */
static long closed_oriented_edges(const mesh *m, char *why, size_t why_size)
{
    size_t h = 3 * m->n_faces;
    uint64_t *keys = malloc((h ? h : 1) * sizeof *keys);
    assert_non_null(keys);
    for (size_t f = 0; f < m->n_faces; ++f)
        for (int c = 0; c < 3; ++c) {
            uint64_t a = m->faces[3 * f + c], b = m->faces[3 * f + (c + 1) % 3];
            if (a == b) return snprintf(why, why_size, "face %zu is degenerate", f), free(keys), -1;
            keys[3 * f + c] = a << 32 | b;
        }
    qsort(keys, h, sizeof *keys, compare_u64);
    for (size_t e = 0; e < h; ++e) {
        if (e + 1 < h && keys[e] == keys[e + 1])
            return snprintf(why, why_size, "half-edge %llu->%llu used twice", (unsigned long long)(keys[e] >> 32),
                            (unsigned long long)(keys[e] & 0xffffffffu)),
                   free(keys), -1;
        uint64_t reverse = (keys[e] & 0xffffffffu) << 32 | keys[e] >> 32;
        if (!bsearch(&reverse, keys, h, sizeof *keys, compare_u64))
            return snprintf(why, why_size, "edge %llu-%llu has one face", (unsigned long long)(keys[e] >> 32),
                            (unsigned long long)(keys[e] & 0xffffffffu)),
                   free(keys), -1;
    }
    free(keys);
    return (long)(h / 2);
}

static long euler_characteristic(const mesh *m)
{
    char why[160];
    long edges = closed_oriented_edges(m, why, sizeof why);
    if (edges < 0) fail_msg("mesh is not closed and consistently oriented: %s", why);
    return (long)m->n_vertices - edges + (long)m->n_faces;
}

static void volume_area(const mesh *m, double *volume, double *area)
{
    double vol = 0, ar = 0;
    for (size_t f = 0; f < m->n_faces; ++f) {
        const float *a = m->positions + 3 * m->faces[3 * f], *b = m->positions + 3 * m->faces[3 * f + 1],
                    *c = m->positions + 3 * m->faces[3 * f + 2];
        double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, w[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        double n[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
        vol += (a[0] * n[0] + a[1] * n[1] + a[2] * n[2]) / 6.0;
        ar += 0.5 * sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    }
    *volume = vol, *area = ar;
}

/* Grid edges whose ends lie on different sides of iso (value < iso vs ≥ iso). */
static size_t crossed_edges(const float *v, size_t nx, size_t ny, size_t nz, float iso)
{
    size_t count = 0, stride[3] = {1, nx, nx * ny};
    for (size_t k = 0; k < nz; ++k)
        for (size_t j = 0; j < ny; ++j)
            for (size_t i = 0; i < nx; ++i) {
                size_t p = i + nx * (j + ny * k), idx[3] = {i, j, k}, n[3] = {nx, ny, nz};
                for (int a = 0; a < 3; ++a)
                    count += idx[a] + 1 < n[a] && (v[p] < iso) != (v[p + stride[a]] < iso);
            }
    return count;
}

static void assert_meshes_equal(const mesh *a, const mesh *b)
{
    assert_int_equal(a->n_vertices, b->n_vertices);
    assert_int_equal(a->n_faces, b->n_faces);
    assert_memory_equal(a->positions, b->positions, a->n_vertices * 3 * sizeof(float));
    assert_memory_equal(a->faces, b->faces, a->n_faces * 3 * sizeof(uint32_t));
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_sphere(void **state)
{
    (void)state;
    const double r = 0.6;
    grid g = grid_make(64, -1, 1);
    fill_sphere(&g, r);
    mcubes_options o;
    options_for(&g, &o);
    mesh m;
    assert_int_equal(mcubes_extract(g.v, g.n, g.n, g.n, &o, &m), 0);
    assert_true(m.n_faces > 1000);
    assert_int_equal(m.n_vertices, crossed_edges(g.v, g.n, g.n, g.n, 0)); /* one vertex per crossed edge */
    assert_int_equal(euler_characteristic(&m), 2);
    double volume, area, exact_volume = 4.0 / 3.0 * M_PI * r * r * r, exact_area = 4 * M_PI * r * r;
    volume_area(&m, &volume, &area);
    assert_true(volume > 0); /* outward: normals toward increasing SDF */
    assert_true(fabs(volume / exact_volume - 1) < 3e-3);
    assert_true(fabs(area / exact_area - 1) < 5e-3);
    double worst = 0;
    for (size_t v = 0; v < m.n_vertices; ++v) {
        double p[3] = {m.positions[3 * v], m.positions[3 * v + 1], m.positions[3 * v + 2]};
        worst = fmax(worst, fabs(sphere_sdf(p, r)));
    }
    assert_true(worst < 0.02 * g.h); /* linear interpolation of a smooth SDF: O(h²/r) */
    mesh_free(&m);
    free(g.v);
}

static void test_torus(void **state)
{
    (void)state;
    const double big_r = 0.55, small_r = 0.2;
    grid g = grid_make(72, -1, 1);
    for (size_t k = 0; k < g.n; ++k)
        for (size_t j = 0; j < g.n; ++j)
            for (size_t i = 0; i < g.n; ++i) {
                double p[3];
                grid_point(&g, i, j, k, p);
                g.v[i + g.n * (j + g.n * k)] = (float)torus_sdf(p, big_r, small_r);
            }
    mcubes_options o;
    options_for(&g, &o);
    mesh m;
    assert_int_equal(mcubes_extract(g.v, g.n, g.n, g.n, &o, &m), 0);
    assert_int_equal(euler_characteristic(&m), 0);
    double volume, area, exact = 2 * M_PI * M_PI * big_r * small_r * small_r;
    volume_area(&m, &volume, &area);
    assert_true(fabs(volume / exact - 1) < 1e-2);
    mesh_free(&m);
    free(g.v);
}

/* Every one of the 256 corner configurations, each with 24 draws of random
 * magnitudes (so both outcomes of the face decider occur), as 2³ blobs in a grid
 * padded with +1 between them, so that each surface is closed: the mesh must be
 * closed and consistently oriented, and the negated field extracted with the
 * decreasing orientation must give exactly the same mesh. */
static void test_all_configurations_closed(void **state)
{
    (void)state;
    const size_t blocks = 16, trials = 24, nx = 3 * blocks + 1, ny = nx, nz = 3 * trials + 1;
    float *v = malloc(nx * ny * nz * sizeof(float)), *neg = malloc(nx * ny * nz * sizeof(float));
    assert_true(v && neg);
    for (size_t p = 0; p < nx * ny * nz; ++p) v[p] = 1;
    unsigned seed = 12345;
    for (size_t trial = 0; trial < trials; ++trial)
        for (int config = 0; config < 256; ++config)
            for (int c = 0; c < 8; ++c) {
                size_t i = 1 + 3 * (size_t)(config % 16) + (c == 1 || c == 2 || c == 5 || c == 6);
                size_t j = 1 + 3 * (size_t)(config / 16) + (c == 2 || c == 3 || c == 6 || c == 7);
                size_t k = 1 + 3 * trial + (c >= 4);
                seed = seed * 1103515245u + 12345u;
                float magnitude = 0.05f + (float)((seed >> 8) & 0xffff) / 65536.0f;
                v[i + nx * (j + ny * k)] = (config >> c) & 1 ? -magnitude : magnitude;
            }
    for (size_t p = 0; p < nx * ny * nz; ++p) neg[p] = -v[p];
    mcubes_options o;
    mcubes_options_init(&o);
    mesh m, mn;
    assert_int_equal(mcubes_extract(v, nx, ny, nz, &o, &m), 0);
    o.orientation = MCUBES_TOWARD_DECREASING;
    assert_int_equal(mcubes_extract(neg, nx, ny, nz, &o, &mn), 0);
    char why[160];
    if (closed_oriented_edges(&m, why, sizeof why) < 0) fail_msg("%s", why);
    assert_int_equal(m.n_vertices, crossed_edges(v, nx, ny, nz, 0));
    assert_meshes_equal(&m, &mn);
    double vol, area;
    volume_area(&m, &vol, &area);
    assert_true(vol > 0); /* outward from the below-iso blobs */
    mesh_free(&m);
    mesh_free(&mn);
    free(v);
    free(neg);
}

/* Uniform noise in a padded box: many ambiguous faces, still closed and oriented. */
static void test_noise_closed(void **state)
{
    (void)state;
    const size_t n = 24;
    float *v = malloc(n * n * n * sizeof(float));
    assert_non_null(v);
    unsigned seed = 7;
    for (size_t k = 0; k < n; ++k)
        for (size_t j = 0; j < n; ++j)
            for (size_t i = 0; i < n; ++i) {
                seed = seed * 1664525u + 1013904223u;
                int border = i == 0 || j == 0 || k == 0 || i == n - 1 || j == n - 1 || k == n - 1;
                v[i + n * (j + n * k)] = border ? 1.0f : (float)(seed >> 8) / 16777216.0f - 0.5f;
            }
    mcubes_options o;
    mcubes_options_init(&o);
    o.slab_layers = 5;
    mesh m;
    assert_int_equal(mcubes_extract(v, n, n, n, &o, &m), 0);
    assert_true(m.n_faces > 10000);
    assert_int_equal(m.n_vertices, crossed_edges(v, n, n, n, 0));
    long chi = euler_characteristic(&m);
    assert_true(chi % 2 == 0);
    mesh_free(&m);
    free(v);
}

/* An affine map (rotation, anisotropic scale, shear, translation), also a
 * mirroring one: the mesh is the index-space mesh mapped, and stays outward. */
static void test_grid_to_world(void **state)
{
    (void)state;
    const size_t nx = 30, ny = 26, nz = 22;
    float *v = malloc(nx * ny * nz * sizeof(float));
    assert_non_null(v);
    for (size_t k = 0; k < nz; ++k)
        for (size_t j = 0; j < ny; ++j)
            for (size_t i = 0; i < nx; ++i) {
                double d[3] = {(double)i - 14.3, ((double)j - 12.1) * 1.2, (double)k - 10.6};
                v[i + nx * (j + ny * k)] = (float)(sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) - 8.0);
            }
    mcubes_options o;
    mcubes_options_init(&o);
    mesh ref;
    assert_int_equal(mcubes_extract(v, nx, ny, nz, &o, &ref), 0);
    double ref_volume, area;
    volume_area(&ref, &ref_volume, &area);
    assert_true(ref_volume > 0);
    const double c = cos(0.4), s = sin(0.4);
    const double maps[2][16] = {
        {0.02 * c, -0.03 * s, 0.001, 1.5, 0.02 * s, 0.03 * c, 0, -2.0, 0, 0.002, 0.025, 0.25, 0, 0, 0, 1},
        {-0.02, 0, 0, 0.3, 0, 0.03, 0, 0.1, 0, 0, 0.025, -0.7, 0, 0, 0, 1}, /* mirrors x */
    };
    for (int t = 0; t < 2; ++t) {
        memcpy(o.grid_to_world, maps[t], sizeof o.grid_to_world);
        mesh m;
        assert_int_equal(mcubes_extract(v, nx, ny, nz, &o, &m), 0);
        assert_int_equal(m.n_vertices, ref.n_vertices);
        assert_int_equal(m.n_faces, ref.n_faces);
        for (size_t p = 0; p < m.n_vertices; ++p)
            for (int r = 0; r < 3; ++r) {
                const double *row = maps[t] + 4 * r;
                double w = row[0] * ref.positions[3 * p] + row[1] * ref.positions[3 * p + 1] +
                           row[2] * ref.positions[3 * p + 2] + row[3];
                assert_true(fabs(w - m.positions[3 * p + r]) < 1e-5);
            }
        double det = maps[t][0] * (maps[t][5] * maps[t][10] - maps[t][6] * maps[t][9]) -
                     maps[t][1] * (maps[t][4] * maps[t][10] - maps[t][6] * maps[t][8]) +
                     maps[t][2] * (maps[t][4] * maps[t][9] - maps[t][5] * maps[t][8]);
        double volume;
        volume_area(&m, &volume, &area);
        assert_true(volume > 0);
        assert_true(fabs(volume / (ref_volume * fabs(det)) - 1) < 1e-5);
        mesh_free(&m);
    }
    mesh_free(&ref);
    free(v);
}

/* NeuS extracts −SDF: the decreasing orientation gives the same outward mesh. */
static void test_orientation_flag_and_normals(void **state)
{
    (void)state;
    const double r = 0.5;
    grid g = grid_make(40, -1, 1);
    fill_sphere(&g, r);
    float *neg = malloc(g.n * g.n * g.n * sizeof(float));
    assert_non_null(neg);
    for (size_t p = 0; p < g.n * g.n * g.n; ++p) neg[p] = -g.v[p];
    mcubes_options o;
    options_for(&g, &o);
    o.vertex_normals = 1;
    mesh m_sdf, m_neg, m_inward;
    assert_int_equal(mcubes_extract(g.v, g.n, g.n, g.n, &o, &m_sdf), 0);
    o.orientation = MCUBES_TOWARD_DECREASING;
    assert_int_equal(mcubes_extract(neg, g.n, g.n, g.n, &o, &m_neg), 0);
    assert_int_equal(mcubes_extract(g.v, g.n, g.n, g.n, &o, &m_inward), 0);
    double v_sdf, v_neg, v_in, area;
    volume_area(&m_sdf, &v_sdf, &area);
    volume_area(&m_neg, &v_neg, &area);
    volume_area(&m_inward, &v_in, &area);
    assert_true(v_sdf > 0 && v_neg > 0 && v_in < 0);
    assert_true(fabs(v_sdf + v_in) < 1e-9);
    assert_meshes_equal(&m_sdf, &m_neg);
    assert_non_null(m_sdf.normals);
    for (size_t v = 0; v < m_sdf.n_vertices; ++v) {
        const float *p = m_sdf.positions + 3 * v, *n_out = m_sdf.normals + 3 * v, *n_neg = m_neg.normals + 3 * v,
                    *n_in = m_inward.normals + 3 * v;
        double d[3] = {p[0] - sphere_centre[0], p[1] - sphere_centre[1], p[2] - sphere_centre[2]};
        double len = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]), dot = 0, norm = 0;
        for (int a = 0; a < 3; ++a) {
            dot += n_out[a] * d[a] / len, norm += n_out[a] * n_out[a];
            assert_true(fabs(n_out[a] - n_neg[a]) < 1e-6 && fabs(n_out[a] + n_in[a]) < 1e-6);
        }
        assert_true(fabs(norm - 1) < 1e-5);
        assert_true(dot > 0.999);
    }
    mesh_free(&m_sdf);
    mesh_free(&m_neg);
    mesh_free(&m_inward);
    free(neg);
    free(g.v);
}

/* The output does not depend on the slab split (nor on the thread count). */
static void test_slab_independence(void **state)
{
    (void)state;
    grid g = grid_make(37, -1, 1);
    fill_sphere(&g, 0.7);
    mcubes_options o;
    options_for(&g, &o);
    mesh ref;
    o.slab_layers = 1000;
    assert_int_equal(mcubes_extract(g.v, g.n, g.n, g.n, &o, &ref), 0);
    const size_t splits[] = {1, 2, 3, 7, 0};
    for (size_t s = 0; s < sizeof splits / sizeof *splits; ++s) {
        o.slab_layers = splits[s];
        mesh m;
        assert_int_equal(mcubes_extract(g.v, g.n, g.n, g.n, &o, &m), 0);
        assert_meshes_equal(&ref, &m);
        mesh_free(&m);
    }
    mesh_free(&ref);
    free(g.v);
}

static void test_errors_and_empty(void **state)
{
    (void)state;
    float v[27];
    for (int p = 0; p < 27; ++p) v[p] = 1;
    mcubes_options o;
    mcubes_options_init(&o);
    mesh m;
    assert_int_equal(mcubes_extract(v, 3, 3, 3, &o, &m), 0); /* no crossing: empty mesh */
    assert_int_equal(m.n_vertices, 0);
    assert_int_equal(m.n_faces, 0);
    mesh_free(&m);
    assert_int_equal(mcubes_extract(v, 3, 1, 3, &o, &m), -1);
    assert_non_null(strstr(err_message(), "at least 2"));
    o.grid_to_world[14] = 0.5;
    assert_int_equal(mcubes_extract(v, 3, 3, 3, &o, &m), -1);
    assert_non_null(strstr(err_message(), "affine"));
    mcubes_options_init(&o);
    o.grid_to_world[10] = 0;
    assert_int_equal(mcubes_extract(v, 3, 3, 3, &o, &m), -1);
    assert_non_null(strstr(err_message(), "singular"));
    mcubes_options_init(&o);
    o.iso = NAN;
    assert_int_equal(mcubes_extract(v, 3, 3, 3, &o, &m), -1);
    mcubes_options_init(&o);
    v[13] = -1;
    v[14] = NAN; /* NaN counts as above; the crossing next to it has no finite vertex */
    assert_int_equal(mcubes_extract(v, 3, 3, 3, &o, &m), -1);
    assert_non_null(strstr(err_message(), "non-finite"));
}

/* scikit-image's Lewiner marching cubes on the same grid: area, volume and the
 * vertices on grid edges must agree (the script exits non-zero otherwise). */
static void test_against_skimage(void **state)
{
    (void)state;
    const size_t nx = 48, ny = 44, nz = 40;
    float *v = malloc(nx * ny * nz * sizeof(float));
    assert_non_null(v);
    for (size_t k = 0; k < nz; ++k)
        for (size_t j = 0; j < ny; ++j)
            for (size_t i = 0; i < nx; ++i) { /* a torus fused with a sphere: varied curvature */
                double p[3] = {((double)i - 23.2) / 20, ((double)j - 21.7) / 20, ((double)k - 19.4) / 20};
                double q[3] = {p[0] - 0.3, p[1], p[2] - 0.1};
                double a = torus_sdf(p, 0.55, 0.2), b = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]) - 0.35;
                v[i + nx * (j + ny * k)] = (float)fmin(a, b);
            }
    mcubes_options o;
    mcubes_options_init(&o);
    const double map[16] = {0.05, 0, 0, -1.2, 0, 0.04, 0, -0.9, 0, 0, 0.045, -0.8, 0, 0, 0, 1};
    memcpy(o.grid_to_world, map, sizeof map);
    o.iso = 0.01;
    mesh m;
    assert_int_equal(mcubes_extract(v, nx, ny, nz, &o, &m), 0);
    char dir[64], grid_path[96], verts_path[96], faces_path[96];
    assert_int_equal(tu_make_scratch(dir, sizeof dir, "mcubes"), 0);
    tu_path_in(dir, "grid.f32", grid_path, sizeof grid_path);
    tu_path_in(dir, "verts.f32", verts_path, sizeof verts_path);
    tu_path_in(dir, "faces.u32", faces_path, sizeof faces_path);
    tu_write_file(grid_path, v, nx * ny * nz * sizeof(float));
    tu_write_file(verts_path, m.positions, m.n_vertices * 3 * sizeof(float));
    tu_write_file(faces_path, m.faces, m.n_faces * 3 * sizeof(uint32_t));
    int status = tu_run_python("validation/reference/mcubes_reference.py %s %zu %zu %zu 0.01 %s %s "
                               "%g %g %g %g %g %g %g %g %g %g %g %g",
                               grid_path, nx, ny, nz, verts_path, faces_path, map[0], map[1], map[2], map[3], map[4],
                               map[5], map[6], map[7], map[8], map[9], map[10], map[11]);
    tu_remove_tree(dir);
    mesh_free(&m);
    free(v);
    assert_int_equal(status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sphere),
        cmocka_unit_test(test_torus),
        cmocka_unit_test(test_all_configurations_closed),
        cmocka_unit_test(test_noise_closed),
        cmocka_unit_test(test_grid_to_world),
        cmocka_unit_test(test_orientation_flag_and_normals),
        cmocka_unit_test(test_slab_independence),
        cmocka_unit_test(test_errors_and_empty),
        cmocka_unit_test(test_against_skimage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
