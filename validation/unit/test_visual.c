/* test_visual.c — colour maps (src/geom/colormap.c) and the pictures built on
 * them (src/geom/visual.c): tables and value binning against matplotlib, the
 * bitmap font, the colour-bar PNG's layout and pixels, error-coloured PLYs,
 * overlays, and the argument and I/O errors.  Each test works in its own
 * mkdtemp directory (test_util.h).
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

#include "phive/colormap.h"
#include "phive/errors.h"
#include "phive/image.h"
#include "phive/mesh.h"
#include "phive/visual.h"

#include "test_util.h"

typedef tu_scratch fixture;

static int setup(void **state) { return tu_scratch_setup(state, "visual"); }
static int teardown(void **state) { return tu_scratch_teardown(state); }

/* ------------------------------------------------------------ matplotlib reference */

/* Dumps, per map (viridis, turbo): the 256 table entries, then the colours of
 * the values in argv[2] under Normalize(lo, hi), as "r g b" floats per line.
 * Exit 3 when matplotlib is not importable. */
static const char reference_script[] =
    "import sys\n"
    "try:\n"
    "    import numpy as np\n"
    "    import matplotlib\n"
    "    from matplotlib import colors\n"
    "except ImportError:\n"
    "    sys.exit(3)\n"
    "out, values_path, lo, hi = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])\n"
    "values = np.loadtxt(values_path, dtype=np.float64)\n"
    "with open(out, 'w') as f:\n"
    "    for name in ('viridis', 'turbo'):\n"
    "        cmap = matplotlib.colormaps[name]\n"
    "        assert cmap.N == 256\n"
    "        rows = np.vstack([cmap(np.arange(256))[:, :3], cmap(colors.Normalize(lo, hi)(values))[:, :3]])\n"
    "        for r in rows:\n"
    "            f.write('%.9f %.9f %.9f\\n' % tuple(r))\n";

#define REF_LO -1.5
#define REF_HI 2.5
#define N_REF_VALUES 1203

/* A dense sweep over [lo, hi] and past both ends, plus ±Inf. */
static void reference_values(double *v)
{
    for (int k = 0; k < N_REF_VALUES - 2; k++)
        v[k] = REF_LO + (REF_HI - REF_LO) * (k - 50) / 1100.0;
    v[N_REF_VALUES - 2] = INFINITY;
    v[N_REF_VALUES - 1] = -INFINITY;
}

static void test_colormaps_match_matplotlib(void **state)
{
    char script[256], values_path[256], out_path[256];
    tu_scratch_path(*state, "ref.py", script, sizeof script);
    tu_scratch_path(*state, "values.txt", values_path, sizeof values_path);
    tu_scratch_path(*state, "colors.txt", out_path, sizeof out_path);
    tu_write_text(script, reference_script);
    double values[N_REF_VALUES];
    reference_values(values);
    FILE *f = fopen(values_path, "w");
    assert_non_null(f);
    for (int i = 0; i < N_REF_VALUES; i++)
        fprintf(f, "%.17g\n", values[i]);
    assert_int_equal(fclose(f), 0);

    int status = tu_run_python("%s %s %s %.17g %.17g", script, out_path, values_path, REF_LO, REF_HI);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
        printf("  matplotlib not importable by /usr/bin/python3: skipped\n");
        skip();
    }
    assert_int_equal(status, 0);

    f = fopen(out_path, "r");
    assert_non_null(f);
    const colormap_id ids[2] = {COLORMAP_VIRIDIS, COLORMAP_TURBO};
    for (int m = 0; m < 2; m++) {
        const uint8_t (*table)[3] = colormap_table(ids[m]);
        assert_non_null(table);
        /* Table entries: rounded, so within half a step of matplotlib's floats. */
        for (int i = 0; i < COLORMAP_SIZE; i++) {
            double ref[3];
            assert_int_equal(fscanf(f, "%lf %lf %lf", &ref[0], &ref[1], &ref[2]), 3);
            for (int c = 0; c < 3; c++)
                if (fabs(table[i][c] / 255.0 - ref[c]) > 0.5 / 255 + 1e-9)
                    fail_msg("%s entry %d channel %d: %d vs matplotlib %.6f", colormap_name(ids[m]), i, c,
                             table[i][c], ref[c] * 255);
        }
        /* Values: the same bin as matplotlib's, so exactly the rounded colour. */
        for (int i = 0; i < N_REF_VALUES; i++) {
            double ref[3];
            uint8_t rgb[3];
            assert_int_equal(fscanf(f, "%lf %lf %lf", &ref[0], &ref[1], &ref[2]), 3);
            assert_int_equal(colormap_rgb(ids[m], values[i], REF_LO, REF_HI, rgb), 0);
            for (int c = 0; c < 3; c++)
                if (rgb[c] != (int)lround(ref[c] * 255))
                    fail_msg("%s(%.17g) channel %d: %d vs matplotlib %.6f", colormap_name(ids[m]), values[i], c,
                             rgb[c], ref[c] * 255);
        }
    }
    double extra;
    assert_int_equal(fscanf(f, "%lf", &extra), EOF);
    fclose(f);
}

/* ------------------------------------------------------------ colour map contract */

static void assert_rgb(const uint8_t got[3], const uint8_t want[3])
{
    if (memcmp(got, want, 3) != 0)
        fail_msg("colour (%d, %d, %d), expected (%d, %d, %d)", got[0], got[1], got[2], want[0], want[1], want[2]);
}

static void test_colormap_contract(void **state)
{
    (void)state;
    const uint8_t (*viridis)[3] = colormap_table(COLORMAP_VIRIDIS);
    const uint8_t (*turbo)[3] = colormap_table(COLORMAP_TURBO);
    assert_non_null(viridis);
    assert_non_null(turbo);
    /* Known ends (matplotlib: viridis #440154 .. #fde725). */
    const uint8_t v0[3] = {68, 1, 84}, v255[3] = {253, 231, 37}, grey[3] = {128, 128, 128};
    assert_rgb(viridis[0], v0);
    assert_rgb(viridis[255], v255);
    uint8_t rgb[3];
    /* Clamping below, at and above the range; ±Inf too. */
    assert_int_equal(colormap_rgb(COLORMAP_VIRIDIS, -5, 0, 1, rgb), 0);
    assert_rgb(rgb, v0);
    assert_int_equal(colormap_rgb(COLORMAP_VIRIDIS, 1, 0, 1, rgb), 0);
    assert_rgb(rgb, v255);
    assert_int_equal(colormap_rgb(COLORMAP_VIRIDIS, 7, 0, 1, rgb), 0);
    assert_rgb(rgb, v255);
    assert_int_equal(colormap_rgb(COLORMAP_TURBO, INFINITY, 0, 1, rgb), 0);
    assert_rgb(rgb, turbo[255]);
    assert_int_equal(colormap_rgb(COLORMAP_TURBO, -INFINITY, 0, 1, rgb), 0);
    assert_rgb(rgb, turbo[0]);
    /* Binning: ⌊256 t⌋. */
    assert_int_equal(colormap_rgb(COLORMAP_TURBO, 0.5, 0, 1, rgb), 0);
    assert_rgb(rgb, turbo[128]);
    assert_int_equal(colormap_rgb_t(COLORMAP_TURBO, 127.9 / 256, rgb), 0);
    assert_rgb(rgb, turbo[127]);
    /* NaN: grey, in both forms. */
    assert_int_equal(colormap_rgb(COLORMAP_VIRIDIS, NAN, 0, 1, rgb), 0);
    assert_rgb(rgb, grey);
    assert_int_equal(colormap_rgb_t(COLORMAP_TURBO, NAN, rgb), 0);
    assert_rgb(rgb, grey);
    const float values[4] = {0.0f, NAN, 2.0f, 4.0f};
    uint8_t many[12];
    assert_int_equal(colormap_apply(COLORMAP_VIRIDIS, values, 4, 0, 4, many), 0);
    assert_rgb(many, v0);
    assert_rgb(many + 3, grey);
    assert_rgb(many + 6, viridis[128]);
    assert_rgb(many + 9, v255);

    /* Names. */
    colormap_id id;
    assert_int_equal(colormap_from_name("turbo", &id), 0);
    assert_int_equal(id, COLORMAP_TURBO);
    assert_string_equal(colormap_name(COLORMAP_VIRIDIS), "viridis");
    assert_int_equal(colormap_from_name("jet", &id), -1);
    assert_error_contains("jet");
    assert_null(colormap_name((colormap_id)7));

    /* Bad ranges and ids; the output is left alone. */
    uint8_t untouched[3] = {1, 2, 3};
    assert_int_equal(colormap_rgb(COLORMAP_VIRIDIS, 0.5, 1, 1, untouched), -1);
    assert_error_contains("lo < hi");
    assert_int_equal(colormap_rgb(COLORMAP_VIRIDIS, 0.5, 2, 1, untouched), -1);
    assert_int_equal(colormap_rgb(COLORMAP_VIRIDIS, 0.5, NAN, 1, untouched), -1);
    assert_error_contains("not finite");
    assert_int_equal(colormap_rgb(COLORMAP_VIRIDIS, 0.5, 0, INFINITY, untouched), -1);
    assert_int_equal(colormap_rgb(COLORMAP_VIRIDIS, 0.5, -1e308, 1e308, untouched), -1);
    assert_int_equal(colormap_rgb((colormap_id)7, 0.5, 0, 1, untouched), -1);
    assert_error_contains("unknown colour map");
    assert_int_equal(colormap_apply(COLORMAP_TURBO, values, 4, 3, 3, many), -1);
    const uint8_t orig[3] = {1, 2, 3};
    assert_rgb(untouched, orig);
    assert_null(colormap_table((colormap_id)-1));
}

/* ------------------------------------------------------------ bitmap font */

static uint8_t *pixel(const image *im, int x, int y)
{
    assert_true(x >= 0 && x < im->width && y >= 0 && y < im->height);
    return im->u8 + ((size_t)y * (size_t)im->width + (size_t)x) * 3;
}

static void test_font(void **state)
{
    (void)state;
    /* Known glyphs, row by row (bit 4 = leftmost column). */
    static const uint8_t one[VISUAL_FONT_HEIGHT] = {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00};
    static const uint8_t minus[VISUAL_FONT_HEIGHT] = {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t lower_e[VISUAL_FONT_HEIGHT] = {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e, 0x00};
    static const uint8_t lower_g[VISUAL_FONT_HEIGHT] = {0x00, 0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e};
    uint8_t rows[VISUAL_FONT_HEIGHT];
    assert_int_equal(visual_font_glyph('1', rows), 0);
    assert_memory_equal(rows, one, sizeof one);
    assert_int_equal(visual_font_glyph('-', rows), 0);
    assert_memory_equal(rows, minus, sizeof minus);
    assert_int_equal(visual_font_glyph('e', rows), 0);
    assert_memory_equal(rows, lower_e, sizeof lower_e);
    assert_int_equal(visual_font_glyph('g', rows), 0);
    assert_memory_equal(rows, lower_g, sizeof lower_g);
    assert_int_equal(visual_font_glyph(' ', rows), 0);
    for (int r = 0; r < VISUAL_FONT_HEIGHT; r++) assert_int_equal(rows[r], 0);
    /* Every printable character the labels need has ink; glyphs are 5 wide. */
    for (int c = 33; c <= 126; c++) {
        assert_int_equal(visual_font_glyph(c, rows), 0);
        int ink = 0;
        for (int r = 0; r < VISUAL_FONT_HEIGHT; r++) {
            assert_int_equal(rows[r] >> VISUAL_FONT_WIDTH, 0);
            ink |= rows[r];
        }
        if (ink == 0)
            fail_msg("glyph '%c' is blank", c);
    }
    assert_int_equal(visual_font_glyph(127, rows), -1);
    assert_int_equal(visual_font_glyph(0xb5, rows), -1);
    assert_int_equal(visual_text_width("", 3), 0);
    assert_int_equal(visual_text_width("ab", 1), 11);
    assert_int_equal(visual_text_width("1e-05", 2), 58);

    /* Drawing "1e" at scale 2 at (3, 1): each font pixel a 2x2 block, with
     * the second glyph one advance to the right; nothing else touched. */
    image im;
    image_init(&im);
    assert_int_equal(image_alloc(&im, 20, 20, 3, 8), 0);
    const uint8_t red[3] = {255, 0, 0};
    assert_int_equal(visual_draw_text(&im, 3, 1, "1e", 2, red), 0);
    for (int y = 0; y < im.height; y++)
        for (int x = 0; x < im.width; x++) {
            int gx = (x - 3) / 2, gy = (y - 1) / 2, glyph = gx / VISUAL_FONT_ADVANCE, col = gx % VISUAL_FONT_ADVANCE;
            int on = 0;
            if (x >= 3 && y >= 1 && gy < VISUAL_FONT_HEIGHT && glyph < 2 && col < VISUAL_FONT_WIDTH) {
                const uint8_t *g = glyph == 0 ? one : lower_e;
                on = g[gy] >> (VISUAL_FONT_WIDTH - 1 - col) & 1;
            }
            const uint8_t *p = pixel(&im, x, y);
            if (p[0] != (on ? 255 : 0) || p[1] != 0 || p[2] != 0)
                fail_msg("pixel (%d, %d) is (%d, %d, %d), expected %s", x, y, p[0], p[1], p[2], on ? "red" : "black");
        }
    /* Clipping at every edge, and a byte outside the font drawn as '?'. */
    assert_int_equal(visual_draw_text(&im, -7, -5, "Wg\xb5", 3, red), 0);
    assert_int_equal(visual_draw_text(&im, 15, 15, "mm", 4, red), 0);
    image q, ref;
    image_init(&q);
    image_init(&ref);
    assert_int_equal(image_alloc(&q, 6, 8, 3, 8), 0);
    assert_int_equal(image_alloc(&ref, 6, 8, 3, 8), 0);
    assert_int_equal(visual_draw_text(&q, 0, 0, "\xb5", 1, red), 0);
    assert_int_equal(visual_draw_text(&ref, 0, 0, "?", 1, red), 0);
    assert_memory_equal(q.u8, ref.u8, image_samples(&q));
    /* Errors: not RGB8, bad scale. */
    image gray;
    image_init(&gray);
    assert_int_equal(image_alloc(&gray, 4, 4, 1, 8), 0);
    assert_int_equal(visual_draw_text(&gray, 0, 0, "1", 1, red), -1);
    assert_error_contains("8-bit RGB");
    assert_int_equal(visual_draw_text(&im, 0, 0, "1", 0, red), -1);
    image_free(&gray);
    image_free(&q);
    image_free(&ref);
    image_free(&im);
}

/* ------------------------------------------------------------ scalar PNG */

/* A ramp over [lo, hi] with a NaN hole in the top-left corner. */
static float *ramp(int width, int height, double lo, double hi)
{
    float *v = malloc((size_t)width * (size_t)height * sizeof *v);
    assert_non_null(v);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            v[(size_t)y * width + x] =
                (x < width / 4 && y < height / 4) ? NAN : (float)(lo + (hi - lo) * (x + y) / (width + height - 2));
    return v;
}

/* Everything the layout promises, read back from the file. */
static void check_scalar_png(const char *path, const float *values, int width, int height, double lo, double hi,
                             colormap_id cmap, const char *label)
{
    visual_layout l;
    assert_int_equal(visual_scalar_layout(width, height, lo, hi, label, &l), 0);
    image im;
    image_init(&im);
    assert_int_equal(image_read_png(path, &im), 0);
    assert_int_equal(im.width, l.width);
    assert_int_equal(im.height, l.height);
    assert_int_equal(im.channels, 3);
    assert_int_equal(im.bit_depth, 8);
    assert_true(l.width >= width + l.bar_width && l.height >= height);

    /* The image: colour-mapped values, NaN as the white background. */
    const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            uint8_t want[3];
            float v = values[(size_t)y * width + x];
            if (isnan(v))
                memcpy(want, white, 3);
            else
                assert_int_equal(colormap_rgb(cmap, v, lo, hi, want), 0);
            assert_rgb(pixel(&im, l.image_x + x, l.image_y + y), want);
        }

    /* The bar: every column follows the map row by row, from hi (top) to lo
     * (bottom). */
    assert_true(l.bar_y <= l.image_y && l.bar_y + l.bar_height >= l.image_y + height);
    if (l.bar_height > height)
        assert_int_equal(l.image_y - l.bar_y, (l.bar_height - height) / 2);
    else
        assert_int_equal(l.image_y, l.bar_y); /* aligned with the image */
    const uint8_t (*table)[3] = colormap_table(cmap);
    for (int x = l.bar_x; x < l.bar_x + l.bar_width; x++) {
        for (int r = 0; r < l.bar_height; r++) {
            uint8_t want[3];
            assert_int_equal(colormap_rgb_t(cmap, (double)(l.bar_height - 1 - r) / (l.bar_height - 1), want), 0);
            assert_rgb(pixel(&im, x, l.bar_y + r), want);
        }
        assert_rgb(pixel(&im, x, l.bar_y), table[COLORMAP_SIZE - 1]);
        assert_rgb(pixel(&im, x, l.bar_y + l.bar_height - 1), table[0]);
        /* The frame above and below. */
        assert_rgb(pixel(&im, x, l.bar_y - 1), black);
        assert_rgb(pixel(&im, x, l.bar_y + l.bar_height), black);
    }
    /* Ticks: black at the top, middle and bottom rows just right of the frame. */
    int tick_x = l.bar_x + l.bar_width + 1;
    assert_rgb(pixel(&im, tick_x, l.bar_y), black);
    assert_rgb(pixel(&im, tick_x, l.bar_y + (l.bar_height - 1) / 2), black);
    assert_rgb(pixel(&im, tick_x, l.bar_y + l.bar_height - 1), black);

    /* The label: its first glyph's pixels where the layout says. */
    if (label != NULL && label[0] != '\0') {
        uint8_t rows[VISUAL_FONT_HEIGHT];
        assert_int_equal(visual_font_glyph((unsigned char)label[0], rows), 0);
        for (int r = 0; r < VISUAL_FONT_HEIGHT; r++)
            for (int c = 0; c < VISUAL_FONT_WIDTH; c++) {
                int on = rows[r] >> (VISUAL_FONT_WIDTH - 1 - c) & 1;
                assert_rgb(pixel(&im, l.label_x + c * l.scale, l.label_y + r * l.scale), on ? black : white);
            }
    }

    /* Nothing is clipped: the outermost rows and columns are background. */
    for (int x = 0; x < im.width; x++) {
        assert_rgb(pixel(&im, x, 0), white);
        assert_rgb(pixel(&im, x, im.height - 1), white);
    }
    for (int y = 0; y < im.height; y++) {
        assert_rgb(pixel(&im, 0, y), white);
        assert_rgb(pixel(&im, im.width - 1, y), white);
    }
    /* And the tick values are there: dark pixels right of the ticks. */
    int dark = 0;
    for (int y = 0; y < im.height; y++)
        for (int x = tick_x + 3 * l.scale; x < im.width; x++) dark += pixel(&im, x, y)[0] == 0;
    assert_true(dark > 30 * l.scale * l.scale);
    image_free(&im);
}

static void test_scalar_png(void **state)
{
    char path[256];
    tu_scratch_path(*state, "depth.png", path, sizeof path);
    float *v = ramp(64, 48, 0.5, 2.5);
    assert_int_equal(visual_scalar_png(path, v, 64, 48, 0.5, 2.5, COLORMAP_VIRIDIS, "depth (m)"), 0);
    check_scalar_png(path, v, 64, 48, 0.5, 2.5, COLORMAP_VIRIDIS, "depth (m)");
    visual_layout l;
    assert_int_equal(visual_scalar_layout(64, 48, 0.5, 2.5, "depth (m)", &l), 0);
    assert_int_equal(l.scale, 1);
    assert_int_equal(l.bar_height, 48);
    free(v);

    /* A tall image: scale 3, a long label that moves left over the image,
     * no label, and a short image centred on the minimum bar. */
    v = ramp(300, 900, -1e-5, 3e-5);
    assert_int_equal(visual_scalar_png(path, v, 300, 900, -1e-5, 3e-5, COLORMAP_TURBO, "distance to GT (m)"), 0);
    check_scalar_png(path, v, 300, 900, -1e-5, 3e-5, COLORMAP_TURBO, "distance to GT (m)");
    assert_int_equal(visual_scalar_layout(300, 900, -1e-5, 3e-5, "distance to GT (m)", &l), 0);
    assert_int_equal(l.scale, 3);
    free(v);
    v = ramp(10, 5, 100, 100.001);
    assert_int_equal(visual_scalar_png(path, v, 10, 5, 100, 100.001, COLORMAP_TURBO, NULL), 0);
    check_scalar_png(path, v, 10, 5, 100, 100.001, COLORMAP_TURBO, NULL);
    free(v);
}

/* ------------------------------------------------------------ error meshes */

/* Two triangles over four vertices along x. */
static void make_strip(mesh *m)
{
    mesh_init(m);
    assert_int_equal(mesh_alloc(m, 4, 2), 0);
    const float p[12] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0};
    const uint32_t f[6] = {0, 1, 2, 1, 3, 2};
    memcpy(m->positions, p, sizeof p);
    memcpy(m->faces, f, sizeof f);
}

static void test_error_ply(void **state)
{
    char path[256];
    tu_scratch_path(*state, "error.ply", path, sizeof path);
    mesh m, back;
    make_strip(&m);
    const float error[4] = {0.0f, 0.3f, NAN, 5.0f};
    assert_int_equal(visual_error_ply(path, &m, error, 0, 1, COLORMAP_TURBO), 0);
    assert_null(m.colors); /* the caller's mesh is not changed */
    assert_int_equal(mesh_read_ply(path, &back), 0);
    assert_int_equal(back.n_vertices, 4);
    assert_int_equal(back.n_faces, 2);
    assert_memory_equal(back.positions, m.positions, 12 * sizeof(float));
    assert_memory_equal(back.faces, m.faces, 6 * sizeof(uint32_t));
    assert_non_null(back.colors);
    const uint8_t (*turbo)[3] = colormap_table(COLORMAP_TURBO);
    const uint8_t grey[3] = {COLORMAP_NAN_GREY, COLORMAP_NAN_GREY, COLORMAP_NAN_GREY};
    assert_rgb(back.colors, turbo[0]);
    assert_rgb(back.colors + 3, turbo[(int)(0.3f * 256)]);
    assert_rgb(back.colors + 6, grey);
    assert_rgb(back.colors + 9, turbo[255]);
    mesh_free(&back);

    /* The distance map: vertices at known distances from a GT cloud (x ≤ 0
     * on the axis), colour-mapped with viridis over [0, max_dist]. */
    const float gt[9] = {0, 0, 0, -1, 0, 0, -2, 0, 0};
    const float q[12] = {0, 0, 0, 0.13f, 0, 0, 0.29f, 0, 0, 0, 5, 0};
    memcpy(m.positions, q, sizeof q);
    assert_int_equal(visual_mesh_error_map(&m, gt, 3, 0.4, path), 0);
    assert_int_equal(mesh_read_ply(path, &back), 0);
    const double dist[4] = {0, 0.13f, 0.29f, 5};
    for (int i = 0; i < 4; i++) {
        uint8_t want[3];
        assert_int_equal(colormap_rgb(VISUAL_ERROR_COLORMAP, dist[i], 0, 0.4, want), 0);
        assert_rgb(back.colors + 3 * i, want);
    }
    assert_rgb(back.colors, colormap_table(COLORMAP_VIRIDIS)[0]);
    assert_rgb(back.colors + 9, colormap_table(COLORMAP_VIRIDIS)[255]);
    mesh_free(&back);
    mesh_free(&m);
}

/* ------------------------------------------------------------ overlays */

static void test_overlay(void **state)
{
    char path[256];
    tu_scratch_path(*state, "overlay.png", path, sizeof path);
    image base, out;
    image_init(&base);
    image_init(&out);
    assert_int_equal(image_alloc(&base, 3, 2, 3, 8), 0);
    for (size_t i = 0; i < image_samples(&base); i++) base.u8[i] = (uint8_t)(40 * i);
    const float values[6] = {0, NAN, 1, 0.5f, NAN, 2};
    assert_int_equal(visual_overlay_png(path, &base, values, 0, 1, 0.25, COLORMAP_VIRIDIS), 0);
    assert_int_equal(image_read_png(path, &out), 0);
    assert_int_equal(out.width, 3);
    assert_int_equal(out.height, 2);
    assert_int_equal(out.channels, 3);
    for (int i = 0; i < 6; i++) {
        uint8_t colour[3];
        assert_int_equal(colormap_rgb(COLORMAP_VIRIDIS, values[i], 0, 1, colour), 0);
        for (int c = 0; c < 3; c++) {
            int b = base.u8[3 * i + c];
            int want = isnan(values[i]) ? b : (int)lround(0.75 * b + 0.25 * colour[c]);
            assert_int_equal(out.u8[3 * i + c], want);
        }
    }
    /* A 16-bit gray base: replicated, rounded to 8 bits; alpha 1 is the map. */
    assert_int_equal(image_alloc(&base, 3, 2, 1, 16), 0);
    for (int i = 0; i < 6; i++) base.u16[i] = (uint16_t)(13107 * i);
    assert_int_equal(visual_overlay_png(path, &base, values, 0, 1, 1.0, COLORMAP_TURBO), 0);
    assert_int_equal(image_read_png(path, &out), 0);
    for (int i = 0; i < 6; i++) {
        uint8_t want[3];
        if (isnan(values[i]))
            want[0] = want[1] = want[2] = (uint8_t)(51 * i);
        else
            assert_int_equal(colormap_rgb(COLORMAP_TURBO, values[i], 0, 1, want), 0);
        assert_rgb(out.u8 + 3 * i, want);
    }
    /* Errors. */
    assert_int_equal(visual_overlay_png(path, &base, values, 0, 1, 1.5, COLORMAP_TURBO), -1);
    assert_error_contains("alpha");
    assert_int_equal(visual_overlay_png(path, &base, values, 1, 0, 0.5, COLORMAP_TURBO), -1);
    assert_error_mentions(path, "lo < hi");
    image_free(&base);
    image_free(&out);
}

/* ------------------------------------------------------------ errors */

static void test_errors(void **state)
{
    char path[256], missing[300];
    tu_scratch_path(*state, "x.png", path, sizeof path);
    tu_scratch_path(*state, "no_such_dir/x.png", missing, sizeof missing);
    float v[12] = {0};
    visual_layout l;

    /* Bad sizes and ranges: an error naming the file, and no file. */
    assert_int_equal(visual_scalar_png(path, v, 0, 3, 0, 1, COLORMAP_VIRIDIS, "x"), -1);
    assert_error_mentions(path, "bad image size");
    assert_int_equal(visual_scalar_png(path, v, 4, -3, 0, 1, COLORMAP_VIRIDIS, "x"), -1);
    assert_int_equal(visual_scalar_png(path, v, VISUAL_MAX_SIDE + 1, 1, 0, 1, COLORMAP_VIRIDIS, "x"), -1);
    assert_int_equal(visual_scalar_png(path, v, 4, 3, 1, 1, COLORMAP_VIRIDIS, "x"), -1);
    assert_error_mentions(path, "lo < hi");
    assert_int_equal(visual_scalar_png(path, v, 4, 3, 2, 1, COLORMAP_VIRIDIS, "x"), -1);
    assert_int_equal(visual_scalar_png(path, v, 4, 3, NAN, 1, COLORMAP_VIRIDIS, "x"), -1);
    assert_int_equal(visual_scalar_png(path, v, 4, 3, 0, 1, (colormap_id)9, "x"), -1);
    assert_int_equal(visual_scalar_png(path, NULL, 4, 3, 0, 1, COLORMAP_VIRIDIS, "x"), -1);
    char long_label[VISUAL_MAX_LABEL + 2];
    memset(long_label, 'a', sizeof long_label - 1);
    long_label[sizeof long_label - 1] = '\0';
    assert_int_equal(visual_scalar_png(path, v, 4, 3, 0, 1, COLORMAP_VIRIDIS, long_label), -1);
    assert_error_contains("label");
    assert_int_equal(visual_scalar_layout(4, 3, 1, 0, NULL, &l), -1);
    assert_int_equal(tu_count_files(((fixture *)*state)->dir), 0);
    /* Unwritable path. */
    assert_int_equal(visual_scalar_png(missing, v, 4, 3, 0, 1, COLORMAP_VIRIDIS, "x"), -1);
    assert_error_contains("no_such_dir");

    /* PLY writers. */
    mesh m;
    make_strip(&m);
    tu_scratch_path(*state, "e.ply", path, sizeof path);
    const float err[4] = {0, 1, 2, 3};
    assert_int_equal(visual_error_ply(path, &m, err, 3, 3, COLORMAP_VIRIDIS), -1);
    assert_error_mentions(path, "lo < hi");
    assert_int_equal(visual_error_ply(path, &m, NULL, 0, 1, COLORMAP_VIRIDIS), -1);
    assert_int_equal(visual_error_ply(path, &m, err, 0, 1, (colormap_id)5), -1);
    tu_scratch_path(*state, "no_such_dir/e.ply", missing, sizeof missing);
    assert_int_equal(visual_error_ply(missing, &m, err, 0, 1, COLORMAP_VIRIDIS), -1);
    assert_error_contains("no_such_dir");
    m.faces[0] = 9; /* an out-of-range index */
    assert_int_equal(visual_error_ply(path, &m, err, 0, 1, COLORMAP_VIRIDIS), -1);
    m.faces[0] = 0;
    const float gt[3] = {0, 0, 0};
    assert_int_equal(visual_mesh_error_map(&m, gt, 1, 0, path), -1);
    assert_error_contains("max_dist");
    assert_int_equal(visual_mesh_error_map(&m, gt, 1, NAN, path), -1);
    assert_int_equal(visual_mesh_error_map(&m, gt, 0, 1, path), -1);
    assert_error_contains("no points");
    const float bad_gt[3] = {0, NAN, 0};
    assert_int_equal(visual_mesh_error_map(&m, bad_gt, 1, 1, path), -1);
    assert_int_equal(visual_mesh_error_map(&m, gt, 1, 1, missing), -1);
    assert_error_contains("no_such_dir");
    assert_int_equal(tu_count_files(((fixture *)*state)->dir), 0);
    mesh_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_colormaps_match_matplotlib, setup, teardown),
        cmocka_unit_test_setup_teardown(test_colormap_contract, setup, teardown),
        cmocka_unit_test_setup_teardown(test_font, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scalar_png, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_ply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
