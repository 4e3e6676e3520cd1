/* blur.c — separable Gaussian blur with zero padding (see raster.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/raster.h"

#define BLUR_MAX_RADIUS 4096

/* Normalised taps −r..r of a Gaussian with standard deviation sigma. */
static int blur_taps(double sigma, int *radius, real **taps)
{
    if (!(sigma > 0 && isfinite(sigma))) return err_set("blur: sigma %g pixels must be positive and finite", sigma);
    int r = (int)ceil(3.0 * sigma);
    if (r > BLUR_MAX_RADIUS) return err_set("blur: sigma %g pixels is too large (radius > %d)", sigma, BLUR_MAX_RADIUS);
    double *w = malloc((size_t)(2 * r + 1) * sizeof *w);
    *taps = malloc((size_t)(2 * r + 1) * sizeof **taps);
    if (!w || !*taps) {
        free(w);
        free(*taps);
        return err_set("blur: out of memory");
    }
    double sum = 0;
    for (int i = -r; i <= r; ++i) sum += w[i + r] = exp(-(double)i * i / (2 * sigma * sigma));
    for (int i = 0; i <= 2 * r; ++i) (*taps)[i] = (real)(w[i] / sum);
    free(w);
    *radius = r;
    return 0;
}

/* One pass along x (dx = 1) or y; out += (accumulate) or = the filtered in. */
static void blur_pass(const real *in, real *out, int width, int height, int channels, const real *taps, int r,
                      int along_x, int accumulate)
{
    int n = along_x ? width : height;
#pragma omp parallel for schedule(static)
    for (int row = 0; row < (along_x ? height : width); ++row)
        for (int i = 0; i < n; ++i) {
            int lo = i - r < 0 ? -i : -r, hi = i + r > n - 1 ? n - 1 - i : r;
            for (int c = 0; c < channels; ++c) {
                real acc = 0;
                for (int k = lo; k <= hi; ++k) {
                    size_t at = along_x ? ((size_t)row * width + (i + k)) : ((size_t)(i + k) * width + row);
                    acc += taps[k + r] * in[at * channels + c];
                }
                size_t at = along_x ? ((size_t)row * width + i) : ((size_t)i * width + row);
                if (accumulate) out[at * channels + c] += acc;
                else out[at * channels + c] = acc;
            }
        }
}

static int blur(const real *in, real *out, int width, int height, int channels, double sigma_px, int accumulate)
{
    if (width < 1 || height < 1 || channels < 1) return err_set("blur: image size %d x %d x %d", width, height, channels);
    int r = 0;
    real *taps = NULL;
    if (blur_taps(sigma_px, &r, &taps)) return -1;
    real *tmp = malloc((size_t)width * height * channels * sizeof *tmp);
    if (!tmp) {
        free(taps);
        return err_set("blur: out of memory for a %d x %d x %d image", width, height, channels);
    }
    blur_pass(in, tmp, width, height, channels, taps, r, 1, 0);
    blur_pass(tmp, out, width, height, channels, taps, r, 0, accumulate);
    free(tmp);
    free(taps);
    return 0;
}

int raster_blur_forward(const real *in, real *out, int width, int height, int channels, double sigma_px)
{
    return blur(in, out, width, height, channels, sigma_px, 0);
}

int raster_blur_backward(const real *grad_out, real *grad_in, int width, int height, int channels, double sigma_px)
{
    return blur(grad_out, grad_in, width, height, channels, sigma_px, 1);
}
