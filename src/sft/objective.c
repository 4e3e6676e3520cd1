/* objective.c — one frame's photometric and silhouette loss and its gradient (see sft.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/log.h"
#include "phive/sft.h"

struct sft_frame_work {
    raster_frame frame;
    real *blurred;      /* H × W: G * Ŝ */
    real *grad_rgb;     /* H × W × 3 */
    real *grad_blurred; /* H × W */
    real *grad_alpha;   /* H × W */
    double forward_s, backward_s; /* accumulated by sft_frame_loss */
    int edge_frames;              /* frames whose silhouette reached the crop's edge, since the last read */
};

int sft_frame_work_create(sft_frame_work **out, const sft_sequence *s)
{
    const size_t pixels = (size_t)s->width * s->height;
    sft_frame_work *w = calloc(1, sizeof *w);
    if (!w) return err_set("out of memory");
    *out = w;
    w->blurred = malloc(pixels * sizeof *w->blurred);
    w->grad_rgb = malloc(3 * pixels * sizeof *w->grad_rgb);
    w->grad_blurred = malloc(pixels * sizeof *w->grad_blurred);
    w->grad_alpha = malloc(pixels * sizeof *w->grad_alpha);
    if (!w->blurred || !w->grad_rgb || !w->grad_blurred || !w->grad_alpha) return err_set("out of memory");
    return raster_frame_alloc(&w->frame, s->width, s->height, 1);
}

void sft_frame_work_free(sft_frame_work *w)
{
    if (!w) return;
    raster_frame_free(&w->frame);
    free(w->blurred);
    free(w->grad_rgb);
    free(w->grad_blurred);
    free(w->grad_alpha);
    free(w);
}

const raster_frame *sft_frame_work_frame(const sft_frame_work *w) { return &w->frame; }

void sft_frame_work_times(sft_frame_work *w, double *forward_s, double *backward_s, int *edge_frames)
{
    *forward_s = w->forward_s, *backward_s = w->backward_s, *edge_frames = w->edge_frames;
    w->forward_s = w->backward_s = 0, w->edge_frames = 0;
}

/* Whether the soft silhouette reaches a side of the crop that is not a side of the full frame
 * (the blur then spills past what the crop holds). */
static int reaches_crop_edge(const sft_sequence *s, const real *alpha)
{
    const int W = s->width, H = s->height;
    const int open[4] = {s->crop_x > 0, s->crop_y > 0, s->crop_x + W < s->full_width, s->crop_y + H < s->full_height};
    for (int x = 0; x < W; ++x)
        if ((open[1] && alpha[x] > 0.01f) || (open[3] && alpha[(size_t)(H - 1) * W + x] > 0.01f)) return 1;
    for (int y = 0; y < H; ++y)
        if ((open[0] && alpha[(size_t)y * W] > 0.01f) || (open[2] && alpha[(size_t)y * W + W - 1] > 0.01f)) return 1;
    return 0;
}

static double sign(double d) { return d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0; }

int sft_frame_blur_masks(sft_sequence *s, double sigma_px)
{
    if (s->blurred_mask) return 0;
    const size_t pixels = (size_t)s->width * s->height;
    s->blurred_mask = malloc((size_t)s->frames * pixels * sizeof *s->blurred_mask);
    if (!s->blurred_mask) return err_set("out of memory for the blurred masks");
    for (int f = 0; f < s->frames; ++f)
        if (raster_blur_forward(s->mask + f * pixels, s->blurred_mask + f * pixels, s->width, s->height, 1, sigma_px))
            return -1;
    return 0;
}

int sft_frame_loss(sft_frame_work *w, const sft_loss_settings *ls, const sft_sequence *s, const sft_template *t,
                   int f, const real *positions, double scale, real *grad_positions, double *rgb, double *sil)
{
    const int W = s->width, H = s->height;
    const size_t pixels = (size_t)W * H;
    const double t0 = wall_time();
    raster_mesh rm;
    sft_template_raster_mesh(t, positions, &rm);
    if (raster_forward(&s->camera, &ls->raster, &rm, &w->frame, ls->threads) ||
        raster_blur_forward(w->frame.alpha, w->blurred, W, H, 1, ls->blur_sigma_px))
        return err_context("frame %d", f);
    const real *target = s->rgb + (size_t)f * pixels * 3, *target_sil = s->blurred_mask + (size_t)f * pixels;
    /* means over the full frame: the crop's terms plus the constant sums outside it */
    const double full = (double)s->full_width * s->full_height;
    const double g_rgb = scale / (3.0 * full), g_sil = scale * ls->silhouette_weight / full;
    double sum_rgb = 0, sum_sil = 0;
    for (size_t i = 0; i < 3 * pixels; ++i) {
        double d = (double)w->frame.rgb[i] - target[i];
        sum_rgb += fabs(d);
        w->grad_rgb[i] = (real)(g_rgb * sign(d));
    }
    for (size_t i = 0; i < pixels; ++i) {
        double d = (double)w->blurred[i] - target_sil[i];
        sum_sil += fabs(d);
        w->grad_blurred[i] = (real)(g_sil * sign(d));
    }
    if (s->outside_rgb) sum_rgb += s->outside_rgb[f], sum_sil += s->outside_mask[f];
    *rgb = sum_rgb / (3.0 * full);
    *sil = sum_sil / full;
    const double t1 = wall_time();
    w->forward_s += t1 - t0;
    w->edge_frames += reaches_crop_edge(s, w->frame.alpha);
    if (!grad_positions) return 0;
    const real *grad_alpha = NULL;
    if (ls->silhouette_weight != 0) {
        memset(w->grad_alpha, 0, pixels * sizeof *w->grad_alpha);
        if (raster_blur_backward(w->grad_blurred, w->grad_alpha, W, H, 1, ls->blur_sigma_px)) return -1;
        grad_alpha = w->grad_alpha;
    }
    raster_grads g = {.positions = grad_positions};
    if (raster_backward(&s->camera, &ls->raster, &rm, &w->frame, w->grad_rgb, grad_alpha, &g, ls->threads))
        return err_context("frame %d", f);
    w->backward_s += wall_time() - t1;
    return 0;
}
