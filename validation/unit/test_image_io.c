/* test_image_io.c — unit tests of the PNG reader/writer (src/geom/image_io.c).
 *
 * Known answers come from PNGs this file builds itself with zlib (filter 0,
 * big-endian 16-bit samples, as the PNG spec lays them out), so the reader
 * is checked against an encoder independent of libspng; the writer is then
 * checked by round trips.  Each test works in its own mkdtemp directory
 * (test_util.h).
 * The DTU / phi-SfT images under ../shared/data are read when present.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "phive/errors.h"
#include "phive/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "test_util.h"

#define SHARED_DATA "../shared/data"

typedef tu_scratch fixture;

static int setup(void **state) { return tu_scratch_setup(state, "image"); }
static int teardown(void **state) { return tu_scratch_teardown(state); }

/* ------------------------------------------------ an independent encoder */

typedef struct {
    unsigned char *p;
    size_t len;
} bytes;

static void append(bytes *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    b->p = realloc(b->p, b->len + n);
    assert_non_null(b->p);
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void put_chunk(bytes *b, const char *type, const unsigned char *data, size_t n)
{
    unsigned char head[8], crc[4];
    put_be32(head, (uint32_t)n);
    memcpy(head + 4, type, 4);
    uLong c = crc32(0, (const Bytef *)type, 4);
    if (n > 0) /* crc32(c, NULL, 0) would reset c */
        c = crc32(c, data, (uInt)n);
    put_be32(crc, (uint32_t)c);
    append(b, head, 8);
    append(b, data, n);
    append(b, crc, 4);
}

typedef struct {
    int width, height, depth, color_type;
    const unsigned char *rows; /* packed scanlines, without filter bytes */
    size_t row_bytes;
    const unsigned char *plte; /* 3 * n_plte bytes or NULL */
    int n_plte;
    const unsigned char *trns; /* palette alpha or NULL */
    int n_trns;
} png_spec;

/* A PNG file image: signature, IHDR, [PLTE], [tRNS], one IDAT, IEND. */
static bytes craft_png(const png_spec *s)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    bytes b = {NULL, 0};
    append(&b, sig, 8);
    unsigned char ihdr[13] = {0};
    put_be32(ihdr, (uint32_t)s->width);
    put_be32(ihdr + 4, (uint32_t)s->height);
    ihdr[8] = (unsigned char)s->depth;
    ihdr[9] = (unsigned char)s->color_type;
    put_chunk(&b, "IHDR", ihdr, 13);
    if (s->plte)
        put_chunk(&b, "PLTE", s->plte, 3 * (size_t)s->n_plte);
    if (s->trns)
        put_chunk(&b, "tRNS", s->trns, (size_t)s->n_trns);
    size_t raw_len = (size_t)s->height * (s->row_bytes + 1);
    unsigned char *raw = calloc(raw_len, 1);
    assert_non_null(raw);
    for (int y = 0; y < s->height; y++) /* filter byte 0 = none */
        memcpy(raw + (size_t)y * (s->row_bytes + 1) + 1, s->rows + (size_t)y * s->row_bytes, s->row_bytes);
    uLongf zlen = compressBound(raw_len);
    unsigned char *z = malloc(zlen);
    assert_non_null(z);
    assert_int_equal(compress2(z, &zlen, raw, raw_len, 6), Z_OK);
    put_chunk(&b, "IDAT", z, zlen);
    put_chunk(&b, "IEND", NULL, 0);
    free(raw);
    free(z);
    return b;
}

static void read_crafted(const fixture *fx, const png_spec *s, image *im)
{
    char path[256];
    tu_scratch_path(fx, "crafted.png", path, sizeof path);
    bytes b = craft_png(s);
    tu_write_file(path, b.p, b.len);
    free(b.p);
    if (image_read_png(path, im) != 0)
        fail_msg("reading crafted PNG: %s", err_message());
    assert_int_equal(im->width, s->width);
    assert_int_equal(im->height, s->height);
}

static void assert_u8(const image *im, int channels, const unsigned char *want)
{
    assert_int_equal(im->bit_depth, 8);
    assert_int_equal(im->channels, channels);
    assert_non_null(im->u8);
    assert_null(im->u16);
    assert_memory_equal(im->u8, want, image_samples(im));
}

static void assert_u16(const image *im, int channels, const uint16_t *want)
{
    assert_int_equal(im->bit_depth, 16);
    assert_int_equal(im->channels, channels);
    assert_non_null(im->u16);
    assert_null(im->u8);
    for (size_t i = 0; i < image_samples(im); i++)
        if (im->u16[i] != want[i])
            fail_msg("sample %zu: %u, want %u", i, im->u16[i], want[i]);
}

/* ---------------------------------------------------- reading, known answers */

static void test_read_8bit_formats(void **state)
{
    const fixture *fx = *state;
    image im;
    image_init(&im);
    /* 3 x 2 of each colour type; rows are the samples in order. */
    static const unsigned char g[6] = {0, 1, 2, 128, 254, 255};
    read_crafted(fx, &(png_spec){3, 2, 8, 0, g, 3, NULL, 0, NULL, 0}, &im);
    assert_u8(&im, 1, g);
    unsigned char ga[12], rgb[18], rgba[24];
    for (int i = 0; i < 24; i++) {
        if (i < 12)
            ga[i] = (unsigned char)(i * 21);
        if (i < 18)
            rgb[i] = (unsigned char)(255 - i * 13);
        rgba[i] = (unsigned char)(i * 11 + 3);
    }
    read_crafted(fx, &(png_spec){3, 2, 8, 4, ga, 6, NULL, 0, NULL, 0}, &im);
    assert_u8(&im, 2, ga);
    read_crafted(fx, &(png_spec){3, 2, 8, 2, rgb, 9, NULL, 0, NULL, 0}, &im);
    assert_u8(&im, 3, rgb);
    read_crafted(fx, &(png_spec){3, 2, 8, 6, rgba, 12, NULL, 0, NULL, 0}, &im);
    assert_u8(&im, 4, rgba);
    assert_float_equal(image_at(&im, 2, 1, 3), rgba[23] / 255.0f, 1e-7);
    image_free(&im);
}

/* 16-bit samples are big-endian in the file and host-order in memory. */
static void test_read_16bit_formats(void **state)
{
    const fixture *fx = *state;
    image im;
    image_init(&im);
    enum { W = 3, H = 2 };
    for (int channels = 1; channels <= 4; channels++) {
        static const int types[5] = {0, 0, 4, 2, 6};
        uint16_t want[W * H * 4];
        unsigned char rows[W * H * 4 * 2];
        for (int i = 0; i < W * H * channels; i++) {
            want[i] = i == 0 ? 0xffff : (uint16_t)(i * 0x0a01 + 0x0102); /* both bytes differ */
            rows[2 * i] = (unsigned char)(want[i] >> 8);
            rows[2 * i + 1] = (unsigned char)want[i];
        }
        read_crafted(fx, &(png_spec){W, H, 16, types[channels], rows, (size_t)W * channels * 2, NULL, 0, NULL, 0},
                     &im);
        assert_u16(&im, channels, want);
    }
    assert_float_equal(image_at(&im, 0, 0, 0), 0xffff / 65535.0f, 1e-7);
    image_free(&im);
}

/* 1/2/4-bit gray rows are packed MSB first and scaled to 0..255. */
static void test_read_low_depth_gray(void **state)
{
    const fixture *fx = *state;
    image im;
    image_init(&im);
    /* 10 pixels of 1 bit: 1011001110 -> two bytes 10110011 10000000 */
    static const unsigned char bits1[2] = {0xb3, 0x80};
    static const unsigned char want1[10] = {255, 0, 255, 255, 0, 0, 255, 255, 255, 0};
    read_crafted(fx, &(png_spec){10, 1, 1, 0, bits1, 2, NULL, 0, NULL, 0}, &im);
    assert_u8(&im, 1, want1);
    /* 3 pixels of 4 bits: 0x0, 0xf, 0x7 -> 0, 255, 119 */
    static const unsigned char bits4[2] = {0x0f, 0x70};
    static const unsigned char want4[3] = {0, 255, 119};
    read_crafted(fx, &(png_spec){3, 1, 4, 0, bits4, 2, NULL, 0, NULL, 0}, &im);
    assert_u8(&im, 1, want4);
    /* 4 pixels of 2 bits: 0, 1, 2, 3 -> 0, 85, 170, 255 */
    static const unsigned char bits2[1] = {0x1b};
    static const unsigned char want2[4] = {0, 85, 170, 255};
    read_crafted(fx, &(png_spec){4, 1, 2, 0, bits2, 1, NULL, 0, NULL, 0}, &im);
    assert_u8(&im, 1, want2);
    image_free(&im);
}

static void test_read_palette(void **state)
{
    const fixture *fx = *state;
    image im;
    image_init(&im);
    static const unsigned char plte[9] = {255, 0, 0, 0, 255, 0, 10, 20, 30};
    static const unsigned char idx8[4] = {2, 0, 1, 2};
    static const unsigned char want_rgb[12] = {10, 20, 30, 255, 0, 0, 0, 255, 0, 10, 20, 30};
    read_crafted(fx, &(png_spec){2, 2, 8, 3, idx8, 2, plte, 3, NULL, 0}, &im);
    assert_u8(&im, 3, want_rgb);
    /* 2-bit indices with a tRNS chunk (entry 2 has no alpha given: opaque). */
    static const unsigned char trns[2] = {0, 128};
    static const unsigned char idx2[1] = {0x24}; /* 0, 2, 1, 0 */
    static const unsigned char want_rgba[16] = {255, 0, 0, 0, 10, 20, 30, 255, 0, 255, 0, 128, 255, 0, 0, 0};
    read_crafted(fx, &(png_spec){4, 1, 2, 3, idx2, 1, plte, 3, trns, 2}, &im);
    assert_u8(&im, 4, want_rgba);
    image_free(&im);
}

/* ------------------------------------------------------------ round trips */

static void fill_pattern(image *im, unsigned seed)
{
    for (size_t i = 0; i < image_samples(im); i++) {
        unsigned v = (unsigned)(i * 2654435761u + seed * 40503u);
        v ^= v >> 13;
        if (im->bit_depth == 8)
            im->u8[i] = (uint8_t)v;
        else
            im->u16[i] = (uint16_t)v;
    }
}

static void test_round_trips(void **state)
{
    const fixture *fx = *state;
    char path[256];
    tu_scratch_path(fx, "rt.png", path, sizeof path);
    for (int depth = 8; depth <= 16; depth += 8) {
        for (int channels = 1; channels <= 4; channels++) {
            image a, b;
            image_init(&a);
            image_init(&b);
            assert_int_equal(image_alloc(&a, 37, 23, channels, depth), 0);
            fill_pattern(&a, (unsigned)(depth * 10 + channels));
            if (image_write_png(path, &a) != 0 || image_read_png(path, &b) != 0)
                fail_msg("%d-bit %d channels: %s", depth, channels, err_message());
            assert_int_equal(b.width, 37);
            assert_int_equal(b.height, 23);
            assert_int_equal(b.channels, channels);
            assert_int_equal(b.bit_depth, depth);
            size_t bytes = image_samples(&a) * (size_t)(depth / 8);
            if (depth == 8)
                assert_memory_equal(a.u8, b.u8, bytes);
            else
                assert_memory_equal(a.u16, b.u16, bytes);
            image_free(&a);
            image_free(&b);
        }
    }
}

static void test_to_float(void **state)
{
    (void)state;
    image im;
    image_init(&im);
    assert_int_equal(image_alloc(&im, 2, 1, 2, 16), 0);
    im.u16[0] = 0;
    im.u16[1] = 65535;
    im.u16[2] = 32768;
    im.u16[3] = 1;
    float *f = NULL;
    assert_int_equal(image_to_float(&im, &f), 0);
    assert_float_equal(f[0], 0.0f, 0);
    assert_float_equal(f[1], 1.0f, 0);
    assert_float_equal(f[2], 32768 / 65535.0f, 1e-7);
    assert_float_equal(f[3], image_at(&im, 1, 0, 1), 0);
    free(f);
    image_free(&im);
}

/* A rewrite replaces the file and leaves no temporary behind; a failed write
 * keeps the old file. */
static void test_write_atomic(void **state)
{
    const fixture *fx = *state;
    char path[256], bad[300];
    tu_scratch_path(fx, "a.png", path, sizeof path);
    image a, b;
    image_init(&a);
    image_init(&b);
    assert_int_equal(image_alloc(&a, 4, 4, 1, 8), 0);
    fill_pattern(&a, 1);
    assert_int_equal(image_write_png(path, &a), 0);
    a.channels = 5; /* invalid: refused before touching the file */
    assert_int_equal(image_write_png(path, &a), -1);
    assert_error_mentions(path, "channels");
    a.channels = 1;
    assert_int_equal(image_read_png(path, &b), 0);
    assert_memory_equal(a.u8, b.u8, 16);
    snprintf(bad, sizeof bad, "%s/no_such_dir/x.png", fx->dir);
    assert_int_equal(image_write_png(bad, &a), -1);
    assert_error_mentions(bad, "cannot create");
    assert_int_equal(tu_count_files(fx->dir), 1);
    image_free(&a);
    image_free(&b);
}

/* ----------------------------------------------------------------- errors */

static bytes valid_png(void)
{
    image im;
    image_init(&im);
    assert_int_equal(image_alloc(&im, 64, 48, 3, 8), 0);
    fill_pattern(&im, 7); /* noise: a long IDAT */
    char path[] = "/tmp/phive_image_src_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(image_write_png(path, &im), 0);
    image_free(&im);
    bytes b = {NULL, 0};
    b.p = (unsigned char *)tu_read_file(path, &b.len);
    unlink(path);
    return b;
}

static void test_truncated(void **state)
{
    const fixture *fx = *state;
    char path[256];
    tu_scratch_path(fx, "cut.png", path, sizeof path);
    bytes b = valid_png();
    /* After the signature, inside IHDR, inside IDAT, in IDAT's CRC, before IEND. */
    size_t cuts[5] = {8, 20, b.len / 2, b.len - 14, b.len - 12};
    image im;
    image_init(&im);
    for (int k = 0; k < 5; k++) {
        tu_write_file(path, b.p, cuts[k]);
        err_clear();
        if (image_read_png(path, &im) != -1)
            fail_msg("a PNG cut to %zu of %zu bytes was read", cuts[k], b.len);
        assert_error_mentions(path, "PNG");
        assert_null(im.u8);
    }
    tu_write_file(path, b.p, b.len / 2);
    assert_int_equal(image_read_png(path, &im), -1);
    assert_error_mentions(path, "truncated");
    free(b.p);
}

static void test_corrupt(void **state)
{
    const fixture *fx = *state;
    char path[256];
    tu_scratch_path(fx, "bad.png", path, sizeof path);
    bytes b = valid_png();
    b.p[b.len / 2] ^= 0x55; /* inside IDAT: the CRC no longer matches */
    tu_write_file(path, b.p, b.len);
    image im;
    image_init(&im);
    assert_int_equal(image_read_png(path, &im), -1);
    assert_error_mentions(path, "corrupt");
    free(b.p);
}

static void test_not_png(void **state)
{
    const fixture *fx = *state;
    char path[256];
    image im;
    image_init(&im);
    tu_scratch_path(fx, "text.png", path, sizeof path);
    tu_write_file(path, "this is not an image at all\n", 28);
    assert_int_equal(image_read_png(path, &im), -1);
    assert_error_mentions(path, "not a PNG");
    tu_scratch_path(fx, "empty.png", path, sizeof path);
    tu_write_file(path, "", 0);
    assert_int_equal(image_read_png(path, &im), -1);
    assert_error_mentions(path, "not a PNG");
    tu_scratch_path(fx, "missing.png", path, sizeof path);
    assert_int_equal(image_read_png(path, &im), -1);
    assert_error_mentions(path, "cannot open");
}

/* ------------------------------------------------------------- real data */

static void test_real_images(void **state)
{
    (void)state;
    image im;
    image_init(&im);
    if (tu_have_dir(SHARED_DATA "/dtu_scan65")) {
        if (image_read_png(SHARED_DATA "/dtu_scan65/image/000000.png", &im) != 0)
            fail_msg("%s", err_message());
        assert_int_equal(im.width, 1600);
        assert_int_equal(im.height, 1200);
        assert_int_equal(im.channels, 3);
        assert_int_equal(im.bit_depth, 8);
        if (image_read_png(SHARED_DATA "/dtu_scan65/mask/000.png", &im) != 0)
            fail_msg("%s", err_message());
        assert_int_equal(im.width, 1600);
        assert_int_equal(im.channels, 3);
        size_t on = 0;
        for (size_t i = 0; i < image_samples(&im); i += 3)
            on += im.u8[i] >= 128;
        assert_true(on > 0 && on < image_samples(&im) / 3); /* a real mask: some, not all */
    }
    if (tu_have_dir(SHARED_DATA "/phisft_r1")) {
        if (image_read_png(SHARED_DATA "/phisft_r1/masks/mask_000.png", &im) != 0)
            fail_msg("%s", err_message());
        assert_int_equal(im.width, 1920);
        assert_int_equal(im.height, 1080);
        assert_int_equal(im.bit_depth, 8);
    }
    image_free(&im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_8bit_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_16bit_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_low_depth_gray, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_palette, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_to_float, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_png, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_images, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
