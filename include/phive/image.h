/* image.h — 2D images and PNG files (geom module, through libspng).
 *
 * An image keeps the samples it was read with: 8-bit in `u8` or 16-bit in
 * `u16` (host byte order), exactly one of the two non-NULL.  Samples are
 * row-major and interleaved: sample c of pixel (x, y) is at index
 * (y * width + x) * channels + c, with y = 0 the top row.  Channels are
 * 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; alpha is straight (not premultiplied).
 *
 * Reading converts what PNG allows into these layouts:
 *   gray 1/2/4/8-bit    -> 1 channel, 8-bit (low depths scaled to 0..255)
 *   gray 16-bit         -> 1 channel, 16-bit
 *   gray+alpha, RGB, RGBA at 8 or 16 bits -> the same channels and depth
 *   palette             -> RGB 8-bit, or RGBA 8-bit when it has a tRNS chunk
 * A tRNS colour key on a non-palette image and the gAMA chunk are ignored (no
 * alpha is synthesised, no gamma correction).  Truncated, corrupt (bad CRC,
 * bad zlib stream) or non-PNG files fail with a message naming the file.
 *
 * image_read_png takes an image that is initialised (image_init) or holds
 * one: on success its old samples are freed and replaced, on failure it is
 * left as it was.
 *
 * Writing takes 8 or 16-bit images of 1-4 channels and is atomic: a
 * temporary file in the same directory, fsynced, then renamed over `path`.
 */
#ifndef PHIVE_IMAGE_H
#define PHIVE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int width, height;
    int channels;  /* 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    int bit_depth; /* 8 or 16 */
    uint8_t *u8;   /* bit_depth 8: width*height*channels samples, else NULL */
    uint16_t *u16; /* bit_depth 16: the same layout, host byte order, else NULL */
} image;

void image_init(image *im);
void image_free(image *im);
/* Allocate zeroed samples for a width x height image (frees what im held). */
int image_alloc(image *im, int width, int height, int channels, int bit_depth);

/* Number of samples: width * height * channels. */
size_t image_samples(const image *im);
/* Sample c of pixel (x, y) scaled to [0, 1] (divided by 255 or 65535). */
float image_at(const image *im, int x, int y, int c);
/* All samples scaled to [0, 1] into a new array (same layout); free() it. */
int image_to_float(const image *im, float **out);

int image_read_png(const char *path, image *im);
int image_write_png(const char *path, const image *im);

#endif
