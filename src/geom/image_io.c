/* image_io.c — 8/16-bit images and PNG files through libspng (see image.h). */
#include "phive/image.h"

#include "phive/errors.h"
#include "phive/fileio.h"

#include <spng.h>
#include <stdlib.h>
#include <string.h>

/* Decoded images beyond this are refused before allocating: a corrupt header
 * can announce 2^31 x 2^31 pixels. */
#define IMAGE_MAX_BYTES ((size_t)1 << 33)

void image_init(image *im) { memset(im, 0, sizeof *im); }

void image_free(image *im)
{
    free(im->u8);
    free(im->u16);
    image_init(im);
}

size_t image_samples(const image *im)
{
    return (size_t)im->width * (size_t)im->height * (size_t)im->channels;
}

static int check_shape(int width, int height, int channels, int bit_depth)
{
    if (width <= 0 || height <= 0)
        return err_set("image: bad size %d x %d", width, height);
    if (channels < 1 || channels > 4)
        return err_set("image: %d channels (1-4 supported)", channels);
    if (bit_depth != 8 && bit_depth != 16)
        return err_set("image: bit depth %d (8 or 16 supported)", bit_depth);
    return 0;
}

int image_alloc(image *im, int width, int height, int channels, int bit_depth)
{
    image_free(im);
    if (check_shape(width, height, channels, bit_depth) < 0)
        return -1;
    size_t n = (size_t)width * (size_t)height * (size_t)channels;
    if (n > IMAGE_MAX_BYTES / (size_t)(bit_depth / 8))
        return err_set("image: %d x %d x %d is too large", width, height, channels);
    if (bit_depth == 8)
        im->u8 = calloc(n, 1);
    else
        im->u16 = calloc(n, 2);
    if (im->u8 == NULL && im->u16 == NULL)
        return err_set("image: out of memory for %d x %d x %d", width, height, channels);
    im->width = width;
    im->height = height;
    im->channels = channels;
    im->bit_depth = bit_depth;
    return 0;
}

float image_at(const image *im, int x, int y, int c)
{
    size_t i = ((size_t)y * (size_t)im->width + (size_t)x) * (size_t)im->channels + (size_t)c;
    return im->bit_depth == 16 ? im->u16[i] / 65535.0f : im->u8[i] / 255.0f;
}

int image_to_float(const image *im, float **out)
{
    size_t n = image_samples(im);
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (f == NULL)
        return err_set("image: out of memory for %zu floats", n);
    for (size_t i = 0; i < n; i++)
        f[i] = im->bit_depth == 16 ? im->u16[i] / 65535.0f : im->u8[i] / 255.0f;
    *out = f;
    return 0;
}

/* ---------------------------------------------------------------- reading */

/* The spng output format, channels and depth for a PNG's colour type. */
static int pick_format(const struct spng_ihdr *h, int has_trns, int *fmt, int *flags, int *channels, int *depth)
{
    *depth = h->bit_depth == 16 ? 16 : 8;
    *fmt = SPNG_FMT_PNG; /* samples as stored, 16-bit in host order */
    *flags = 0;
    switch (h->color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE:
        *channels = 1;
        if (h->bit_depth < 8)
            *fmt = SPNG_FMT_G8; /* scales 1/2/4-bit to 0..255 */
        return 0;
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA: *channels = 2; return 0;
    case SPNG_COLOR_TYPE_TRUECOLOR: *channels = 3; return 0;
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA: *channels = 4; return 0;
    case SPNG_COLOR_TYPE_INDEXED:
        *channels = has_trns ? 4 : 3;
        *fmt = has_trns ? SPNG_FMT_RGBA8 : SPNG_FMT_RGB8;
        *flags = has_trns ? SPNG_DECODE_TRNS : 0; /* palette alpha from tRNS */
        *depth = 8;
        return 0;
    default: return -1;
    }
}

static int spng_fail(const char *path, int rc)
{
    if (rc == SPNG_IO_EOF || rc == SPNG_EOF)
        return err_set("%s: truncated PNG (file ends early: %s)", path, spng_strerror(rc));
    return err_set("%s: corrupt PNG: %s", path, spng_strerror(rc));
}

static int decode(spng_ctx *ctx, const char *path, image *im)
{
    struct spng_ihdr h;
    struct spng_trns trns;
    int rc = spng_get_ihdr(ctx, &h);
    if (rc != 0)
        return spng_fail(path, rc);
    int has_trns = spng_get_trns(ctx, &trns) == 0;
    int fmt, flags, channels, depth;
    if (pick_format(&h, has_trns, &fmt, &flags, &channels, &depth) < 0)
        return err_set("%s: unsupported PNG colour type %d", path, h.color_type);
    if (h.width > (uint32_t)INT32_MAX || h.height > (uint32_t)INT32_MAX)
        return err_set("%s: PNG size %u x %u is too large", path, h.width, h.height);
    size_t size;
    if ((rc = spng_decoded_image_size(ctx, fmt, &size)) != 0)
        return spng_fail(path, rc);
    if (image_alloc(im, (int)h.width, (int)h.height, channels, depth) < 0)
        return err_context("%s", path);
    if (size != image_samples(im) * (size_t)(depth / 8))
        return err_set("%s: decoded size %zu disagrees with %u x %u x %d", path, size, h.width, h.height,
                       channels);
    void *out = depth == 16 ? (void *)im->u16 : (void *)im->u8;
    if ((rc = spng_decode_image(ctx, out, size, fmt, flags)) != 0)
        return spng_fail(path, rc);
    /* The image can end before the file does: read on to IEND so a file cut
     * after the pixels (or with a bad last CRC) is still reported. */
    if ((rc = spng_decode_chunks(ctx)) != 0)
        return spng_fail(path, rc);
    return 0;
}

int image_read_png(const char *path, image *im)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    char *bytes = NULL;
    size_t len = 0;
    if (file_read_all(path, &bytes, &len) < 0)
        return -1;
    if (len < 8 || memcmp(bytes, signature, 8) != 0) {
        free(bytes);
        return err_set("%s: not a PNG file (bad signature)", path);
    }
    spng_ctx *ctx = spng_ctx_new(0);
    image tmp;
    image_init(&tmp);
    int rc;
    if (ctx == NULL)
        rc = err_set("%s: cannot create PNG decoder", path);
    else if ((rc = spng_set_png_buffer(ctx, bytes, len)) != 0)
        rc = spng_fail(path, rc);
    else
        rc = decode(ctx, path, &tmp);
    spng_ctx_free(ctx);
    free(bytes);
    if (rc < 0) {
        image_free(&tmp);
        return -1;
    }
    image_free(im);
    *im = tmp;
    return 0;
}

/* ---------------------------------------------------------------- writing */

static const uint8_t color_types[5] = {0, SPNG_COLOR_TYPE_GRAYSCALE, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA,
                                       SPNG_COLOR_TYPE_TRUECOLOR, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA};

/* Encode into a buffer spng allocates (free() it). */
static int encode(spng_ctx *ctx, const char *path, const image *im, void **png, size_t *png_len)
{
    struct spng_ihdr h = {
        .width = (uint32_t)im->width,
        .height = (uint32_t)im->height,
        .bit_depth = (uint8_t)im->bit_depth,
        .color_type = color_types[im->channels],
    };
    const void *pixels = im->bit_depth == 16 ? (const void *)im->u16 : (const void *)im->u8;
    size_t size = image_samples(im) * (size_t)(im->bit_depth / 8);
    int rc;
    if ((rc = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1)) != 0 || (rc = spng_set_ihdr(ctx, &h)) != 0 ||
        (rc = spng_encode_image(ctx, pixels, size, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE)) != 0)
        return err_set("%s: PNG encoding failed: %s", path, spng_strerror(rc));
    *png = spng_get_png_buffer(ctx, png_len, &rc);
    if (*png == NULL)
        return err_set("%s: PNG encoding failed: %s", path, spng_strerror(rc));
    return 0;
}

int image_write_png(const char *path, const image *im)
{
    if (check_shape(im->width, im->height, im->channels, im->bit_depth) < 0)
        return err_context("%s", path);
    if ((im->bit_depth == 8 ? (const void *)im->u8 : (const void *)im->u16) == NULL)
        return err_set("%s: image has no %d-bit samples", path, im->bit_depth);
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (ctx == NULL)
        return err_set("%s: cannot create PNG encoder", path);
    void *png = NULL;
    size_t png_len = 0;
    int rc = encode(ctx, path, im, &png, &png_len);
    spng_ctx_free(ctx);
    if (rc == 0)
        rc = file_write_atomic(path, png, png_len);
    free(png);
    return rc;
}
