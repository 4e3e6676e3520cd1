/* test_raster.c — analytic checks of the soft rasterizer and its cameras.
 *
 * - A fronto-parallel square's hard silhouette covers its projected area up
 *   to a one-pixel border; its soft silhouette sums to about the same area.
 * - A textured quad seen head-on, with UVs mapping pixel centres to texel
 *   centres, reproduces the texture.
 * - Back-face culling, K ordering by depth, thread-count invariance.
 * - Cameras: look-at puts the target at the image centre, a downscale keeps
 *   projections consistent, camera.json files (real and synthetic) and their
 *   errors.
 * - Bad meshes and settings are refused with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raster_scenes.h"
#include "test_util.h"

/* A square of side `side` at depth z, centred on the optical axis (two triangles,
 * counter-clockwise seen from the camera at the origin: normal towards −z). */
static void square(real *pos, int32_t *faces, double side, double z)
{
    double h = side / 2;
    real p[12] = {(real)-h, (real)-h, (real)z, (real)-h, (real)h, (real)z, (real)h, (real)h, (real)z, (real)h, (real)-h, (real)z};
    int32_t f[6] = {0, 1, 2, 0, 2, 3};
    memcpy(pos, p, sizeof p);
    memcpy(faces, f, sizeof f);
}

static void test_square_silhouette_area(void **state)
{
    (void)state;
    raster_camera cam;
    assert_int_equal(raster_camera_pinhole(&cam, 180, 170, 61.3, 47.8, 120, 96), 0);
    raster_settings s;
    raster_settings_default(&s);
    real pos[12];
    int32_t faces[6];
    square(pos, faces, 0.6, 2.0);
    raster_mesh m = {.n_vertices = 4, .n_faces = 2, .positions = pos, .faces = faces};
    raster_frame f;
    assert_int_equal(raster_frame_alloc(&f, 120, 96, 1), 0);
    assert_int_equal(raster_forward(&cam, &s, &m, &f, 2), 0);
    double w = 180 * 0.6 / 2.0, h = 170 * 0.6 / 2.0, area = w * h;
    double hard = 0, soft = 0;
    for (int i = 0; i < 120 * 96; ++i) hard += f.silhouette[i], soft += f.alpha[i];
    printf("projected area %.1f px, hard silhouette %.0f px, soft %.1f px, border allowance %.1f px\n", area, hard, soft,
           2 * (w + h));
    assert_true(fabs(hard - area) <= 2 * (w + h));
    /* the soft edge is symmetric about the true edge: the sum is much closer than the border */
    assert_true(fabs(soft - area) <= 0.25 * (w + h));
    /* depth is exact and the normal faces the camera */
    int centre = 48 * 120 + 61;
    assert_true(fabs(f.depth[centre] - 2.0) < 1e-5);
    assert_true(f.normal[3 * centre + 2] < -0.999);
    raster_frame_free(&f);
}

static void test_textured_quad_reproduces_texture(void **state)
{
    (void)state;
    enum { TW = 32, TH = 24 };
    raster_camera cam;
    assert_int_equal(raster_camera_pinhole(&cam, 100, 100, TW / 2.0, TH / 2.0, TW, TH), 0);
    raster_settings s;
    raster_settings_default(&s);
    s.blur_radius = 0; /* only faces that contain the pixel: no ties in the blur band */
    rng_t rng;
    rng_seed(&rng, 3, 0);
    real tex[TW * TH * 3];
    for (int i = 0; i < TW * TH * 3; ++i) tex[i] = (real)rng_uniform(&rng);
    /* corners at pixel centres (0.5, 0.5) … (W − 0.5, H − 0.5), depth 1: uv (0, 1) top left, (1, 0) bottom right */
    double z = 1.0, x0 = (0.5 - TW / 2.0) / 100, x1 = (TW - 0.5 - TW / 2.0) / 100, y0 = (0.5 - TH / 2.0) / 100,
           y1 = (TH - 0.5 - TH / 2.0) / 100;
    /* extend a hair beyond the outer pixel centres so they are strictly inside */
    double e = 1e-3 / 100;
    real pos[12] = {(real)(x0 - e), (real)(y0 - e), (real)z, (real)(x0 - e), (real)(y1 + e), (real)z,
                    (real)(x1 + e), (real)(y1 + e), (real)z, (real)(x1 + e), (real)(y0 - e), (real)z};
    double ue = e * 100 / (TW - 1), ve = e * 100 / (TH - 1);
    real uvs[8] = {(real)-ue, (real)(1 + ve), (real)-ue, (real)-ve, (real)(1 + ue), (real)-ve, (real)(1 + ue), (real)(1 + ve)};
    int32_t faces[6] = {0, 1, 2, 0, 2, 3};
    raster_mesh m = {.n_vertices = 4, .n_faces = 2, .positions = pos, .faces = faces, .n_uvs = 4, .uvs = uvs,
                     .face_uvs = faces, .tex_width = TW, .tex_height = TH, .texture = tex};
    raster_frame f;
    assert_int_equal(raster_frame_alloc(&f, TW, TH, 1), 0);
    assert_int_equal(raster_forward(&cam, &s, &m, &f, 1), 0);
    double worst = 0;
    for (int i = 0; i < TW * TH * 3; ++i) worst = fmax(worst, fabs(f.rgb[i] - tex[i]));
    printf("textured quad: worst |rgb - texel| = %.2e\n", worst);
    assert_true(worst < 1e-4);
    raster_frame_free(&f);
}

static void test_backface_culling(void **state)
{
    (void)state;
    raster_camera cam;
    assert_int_equal(raster_camera_pinhole(&cam, 50, 50, 20, 20, 40, 40), 0);
    raster_settings s;
    raster_settings_default(&s);
    real pos[12];
    int32_t faces[6];
    square(pos, faces, 0.5, 2.0);
    raster_mesh m = {.n_vertices = 4, .n_faces = 2, .positions = pos, .faces = faces};
    raster_frame f;
    assert_int_equal(raster_frame_alloc(&f, 40, 40, 1), 0);
    int counts[2][2];
    for (int flip = 0; flip < 2; ++flip) {
        if (flip) { /* reverse the winding: now a back face */
            int32_t g[6] = {0, 2, 1, 0, 3, 2};
            memcpy(faces, g, sizeof g);
        }
        for (int cull = 0; cull < 2; ++cull) {
            s.cull_backfaces = cull;
            assert_int_equal(raster_forward(&cam, &s, &m, &f, 1), 0);
            counts[flip][cull] = 0;
            for (int i = 0; i < 40 * 40; ++i) counts[flip][cull] += f.silhouette[i];
        }
    }
    assert_true(counts[0][0] > 0);
    assert_int_equal(counts[0][1], counts[0][0]); /* the front face survives culling */
    assert_int_equal(counts[1][0], counts[0][0]);
    assert_int_equal(counts[1][1], 0);
    raster_frame_free(&f);
}

static void test_fragments_sorted_and_thread_invariant(void **state)
{
    (void)state;
    scene s;
    scene_make(&s, 6, 50, 40, SCENE_TEXTURE, 21);
    s.set.faces_per_pixel = 4;
    s.set.sigma = 3e-3;
    s.set.blur_radius = s.set.silhouette_radius = raster_blur_radius_for(3e-3);
    raster_frame a, b;
    assert_int_equal(raster_frame_alloc(&a, 50, 40, 4), 0);
    assert_int_equal(raster_frame_alloc(&b, 50, 40, 4), 0);
    assert_int_equal(raster_forward(&s.cam, &s.set, &s.mesh, &a, 1), 0);
    assert_int_equal(raster_forward(&s.cam, &s.set, &s.mesh, &b, 2), 0);
    assert_memory_equal(a.face, b.face, sizeof(int32_t) * 50 * 40 * 4);
    assert_memory_equal(a.rgb, b.rgb, sizeof(real) * 50 * 40 * 3);
    int multi = 0;
    for (int p = 0; p < 50 * 40; ++p) {
        for (int k = 1; k < 4; ++k) {
            if (a.face[4 * p + k] < 0) {
                for (int j = k; j < 4; ++j) assert_int_equal(a.face[4 * p + j], -1);
                break;
            }
            assert_true(a.zbuf[4 * p + k] >= a.zbuf[4 * p + k - 1]);
            multi += k == 1;
        }
        if (a.face[4 * p] >= 0) {
            double bs = a.bary[12 * p] + a.bary[12 * p + 1] + a.bary[12 * p + 2];
            assert_true(fabs(bs - 1) < 1e-5 && a.bary[12 * p] >= 0 && a.bary[12 * p + 1] >= 0 && a.bary[12 * p + 2] >= 0);
        }
    }
    assert_true(multi > 100); /* the blur band gives many pixels several fragments */
    raster_frame_free(&a);
    raster_frame_free(&b);
    scene_free(&s);
}

/* A cropped camera renders exactly the window of the full image it covers (rgb, soft
 * silhouette, depth), with sigma and the radii in the full image's NDC units. */
static void test_crop_renders_the_window(void **state)
{
    (void)state;
    scene s;
    scene_make(&s, 7, 60, 44, SCENE_TEXTURE, 5);
    s.set.sigma = 1e-3;
    s.set.silhouette_radius = raster_blur_radius_for(1e-3);
    const int x0 = 13, y0 = 9, w = 31, h = 22;
    raster_camera crop = s.cam;
    assert_int_equal(raster_camera_crop(&crop, x0, y0, w, h), 0);
    raster_frame full, part;
    assert_int_equal(raster_frame_alloc(&full, 60, 44, 1), 0);
    assert_int_equal(raster_frame_alloc(&part, w, h, 1), 0);
    assert_int_equal(raster_forward(&s.cam, &s.set, &s.mesh, &full, 1), 0);
    assert_int_equal(raster_forward(&crop, &s.set, &s.mesh, &part, 1), 0);
    double worst = 0;
    int covered = 0;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const size_t p = (size_t)y * w + x, q = (size_t)(y + y0) * 60 + x + x0;
            worst = fmax(worst, fabs(part.alpha[p] - full.alpha[q]));
            worst = fmax(worst, fabs(part.depth[p] - full.depth[q]));
            for (int c = 0; c < 3; ++c) worst = fmax(worst, fabs(part.rgb[3 * p + c] - full.rgb[3 * q + c]));
            covered += part.silhouette[p];
        }
    assert_true(covered > w * h / 4);
    assert_true(worst < 1e-5);
    assert_int_not_equal(raster_camera_crop(&crop, 20, 0, 20, 5), 0); /* outside the cropped image */
    raster_frame_free(&full);
    raster_frame_free(&part);
    scene_free(&s);
}

static void test_look_at_and_downscale(void **state)
{
    (void)state;
    raster_camera cam;
    double eye[3] = {1, 2, 3}, target[3] = {0.1, -0.2, 0.3}, up[3] = {0, 1, 0};
    assert_int_equal(raster_camera_look_at(&cam, eye, target, up, 60, 640, 480), 0);
    double u, v, z;
    raster_camera_project(&cam, target, &u, &v, &z);
    assert_true(fabs(u - 320) < 1e-9 && fabs(v - 240) < 1e-9);
    assert_true(fabs(z - sqrt(0.81 + 4.84 + 7.29)) < 1e-9);
    /* a point above the target (world +y) appears above the centre (smaller v) */
    double above[3] = {0.1, 0.3, 0.3};
    raster_camera_project(&cam, above, &u, &v, &z);
    assert_true(v < 240);
    /* the vertical field of view spans the image height */
    assert_true(fabs(cam.fy - 240 / tan(M_PI / 6)) < 1e-9);
    /* downscale: every pixel coordinate scales by 1/4 exactly */
    double p[3] = {0.4, -0.1, 0.2}, u1, v1, z1;
    raster_camera_project(&cam, p, &u, &v, &z);
    raster_camera small = cam;
    assert_int_equal(raster_camera_downscale(&small, 4), 0);
    raster_camera_project(&small, p, &u1, &v1, &z1);
    assert_int_equal(small.width, 160);
    assert_true(fabs(u1 - u / 4) < 1e-9 && fabs(v1 - v / 4) < 1e-9 && z1 == z);
    raster_camera odd = cam;
    assert_int_equal(raster_camera_downscale(&odd, 7), -1);
    assert_error_contains("not divisible");
    double same[3] = {0, 5, 0};
    double origin[3] = {0, 0, 0};
    assert_int_equal(raster_camera_look_at(&cam, same, origin, up, 60, 64, 64), -1);
    assert_error_contains("parallel");
}

static int setup(void **state) { return tu_scratch_setup(state, "raster"); }

static void test_camera_json(void **state)
{
    tu_scratch *s = *state;
    char path[4096];
    tu_scratch_path(s, "camera.json", path, sizeof path);
    raster_camera cam;
    tu_write_text(path, "{\"fx\": 971.5, \"fy\": 944.5, \"cx\": 962.1, \"cy\": 554.7, \"width\": 1920, \"height\": 1080}");
    assert_int_equal(raster_camera_read_json(path, &cam), 0);
    assert_true(cam.fx == 971.5 && cam.cy == 554.7 && cam.width == 1920 && cam.R[0] == 1 && cam.t[2] == 0);
    tu_write_text(path, "{\"camera_pos\": [0, 0, 2], \"object_pos\": [0, 0, 0], \"width\": 64, \"height\": 48}");
    assert_int_equal(raster_camera_read_json(path, &cam), 0);
    double u, v, z, o[3] = {0, 0, 0};
    raster_camera_project(&cam, o, &u, &v, &z);
    assert_true(fabs(u - 32) < 1e-9 && fabs(v - 24) < 1e-9 && fabs(z - 2) < 1e-9);
    assert_true(fabs(cam.fy - 24 / tan(M_PI / 6)) < 1e-9); /* default 60° */

    const char *bad[][2] = {
        {"{\"fx\": 971.5, \"fy\": 944.5, \"cx\": 962.1, \"cy\": 554.7, \"width\": 1920", "malformed JSON"},
        {"{\"fx\": 971.5, \"fy\": 944.5, \"cx\": 962.1, \"width\": 1920, \"height\": 1080}", "missing key 'cy'"},
        {"{\"fx\": -1, \"fy\": 944.5, \"cx\": 962.1, \"cy\": 5, \"width\": 1920, \"height\": 1080}", "positive"},
        {"{\"fx\": 1, \"fy\": 1, \"cx\": 1, \"cy\": 5, \"width\": 19.5, \"height\": 1080}", "'width' must be an integer"},
        {"{\"fx\": 1, \"fy\": 1, \"cx\": 1, \"cy\": 5, \"width\": 64, \"height\": 48, \"fxx\": 2}", "unknown key 'fxx'"},
        {"{\"camera_pos\": [0, 0], \"object_pos\": [0, 0, 0], \"width\": 64, \"height\": 48}", "array of 3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; ++i) {
        tu_write_text(path, bad[i][0]);
        raster_camera keep = cam;
        assert_int_equal(raster_camera_read_json(path, &cam), -1);
        assert_error_mentions("camera.json", bad[i][1]);
        assert_memory_equal(&keep, &cam, sizeof cam); /* untouched on failure */
    }
    tu_scratch_path(s, "missing.json", path, sizeof path);
    assert_int_equal(raster_camera_read_json(path, &cam), -1);
    assert_error_contains("missing.json");
}

static void test_bad_inputs(void **state)
{
    (void)state;
    raster_camera cam;
    assert_int_equal(raster_camera_pinhole(&cam, 50, 50, 20, 20, 40, 40), 0);
    raster_settings s;
    raster_settings_default(&s);
    real pos[12];
    int32_t faces[6];
    square(pos, faces, 0.5, 2.0);
    raster_mesh m = {.n_vertices = 4, .n_faces = 2, .positions = pos, .faces = faces};
    raster_frame f;
    assert_int_equal(raster_frame_alloc(&f, 40, 40, 1), 0);
    faces[4] = 4;
    assert_int_equal(raster_forward(&cam, &s, &m, &f, 1), -1);
    assert_error_mentions("face 1", "vertex 4");
    faces[4] = 2;
    pos[7] = NAN;
    assert_int_equal(raster_forward(&cam, &s, &m, &f, 1), -1);
    assert_error_contains("vertex 2");
    pos[7] = 0.25;
    s.faces_per_pixel = 2; /* the frame was sized for K = 1 */
    assert_int_equal(raster_forward(&cam, &s, &m, &f, 1), -1);
    assert_error_contains("K = 1");
    s.faces_per_pixel = 1;
    s.sigma = 0;
    assert_int_equal(raster_forward(&cam, &s, &m, &f, 1), -1);
    assert_error_contains("sigma");
    s.sigma = 1e-4;
    real uv[2] = {0, 0};
    m.uvs = uv;
    assert_int_equal(raster_forward(&cam, &s, &m, &f, 1), -1);
    assert_error_contains("texture");
    raster_frame_free(&f);
}

static void test_blur_preserves_mass_inside(void **state)
{
    (void)state;
    enum { BW = 41, BH = 31 };
    real img[BW * BH] = {0}, out[BW * BH];
    img[15 * BW + 20] = 1;
    assert_int_equal(raster_blur_forward(img, out, BW, BH, 1, 3.0), 0);
    double sum = 0, mx = 0, my = 0, vx = 0;
    for (int y = 0; y < BH; ++y)
        for (int x = 0; x < BW; ++x) {
            double v = out[y * BW + x];
            sum += v, mx += v * x, my += v * y, vx += v * (x - 20) * (x - 20);
        }
    assert_true(fabs(sum - 1) < 1e-5);
    assert_true(fabs(mx / sum - 20) < 1e-5 && fabs(my / sum - 15) < 1e-5);
    assert_true(fabs(vx / sum - 9) < 0.2); /* variance σ² (truncated at 3σ) */
    assert_int_equal(raster_blur_forward(img, out, BW, BH, 1, 0), -1);
    assert_error_contains("sigma");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_square_silhouette_area),
        cmocka_unit_test(test_textured_quad_reproduces_texture),
        cmocka_unit_test(test_backface_culling),
        cmocka_unit_test(test_fragments_sorted_and_thread_invariant),
        cmocka_unit_test(test_crop_renders_the_window),
        cmocka_unit_test(test_look_at_and_downscale),
        cmocka_unit_test_setup_teardown(test_camera_json, setup, tu_scratch_teardown),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_blur_preserves_mass_inside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
