/* data.c — a ϕ-SfT sequence from disk (see sft.h). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "phive/errors.h"
#include "phive/image.h"
#include "phive/render.h"
#include "phive/sft.h"

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int frame_path(char *out, size_t size, const char *root, const char *fmt, int frame)
{
    char name[256];
    snprintf(name, sizeof name, fmt, frame);
    if ((size_t)snprintf(out, size, "%s/%s", root, name) >= size) return err_set("%s: path too long", root);
    return 0;
}

/* Consecutive frames with an rgb image from `first`. */
static int count_frames(const char *root, int first)
{
    char path[4400];
    int n = 0;
    while (!frame_path(path, sizeof path, root, "rgbs/rgb_%03d.png", first + n) && file_exists(path)) ++n;
    return n;
}

/* 1 when every frame's file of the pattern exists. */
static int all_present(const char *root, const char *fmt, int first, int frames)
{
    char path[4400];
    for (int f = 0; f < frames; ++f)
        if (frame_path(path, sizeof path, root, fmt, first + f) || !file_exists(path)) return 0;
    return 1;
}

/* The single file with extension ext in dir (or the one named `want`), into out. */
static int find_one(const char *dir, const char *ext, const char *want, char *out, size_t size, int required)
{
    out[0] = '\0';
    if (want && want[0]) {
        if ((size_t)snprintf(out, size, "%s/%s", dir, want) >= size) return err_set("%s: path too long", dir);
        return file_exists(out) ? 0 : err_set("%s: no such template file", out);
    }
    DIR *d = opendir(dir);
    if (!d) return required ? err_set("%s: cannot open the directory", dir) : 0;
    int found = 0;
    size_t len_ext = strlen(ext);
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= len_ext || strcasecmp(e->d_name + len - len_ext, ext)) continue;
        if (found++) continue;
        snprintf(out, size, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (found > 1) return err_set("%s holds %d %s files: name the one to use", dir, found, ext);
    if (!found && required) return err_set("%s: no %s file", dir, ext);
    if (!found) out[0] = '\0';
    return 0;
}

/* One channel of an image at the working size into out (width × height), scaled to [0, 1]. */
static int read_gray(const char *path, const char *what, int width, int height, real *out)
{
    image im;
    image_init(&im);
    if (render_read_png_sized(path, what, width, height, &im)) return -1;
    for (size_t p = 0; p < (size_t)width * height; ++p) out[p] = (real)(im.u8[p * im.channels] / 255.0);
    image_free(&im);
    return 0;
}

static int read_rgb(const char *path, int width, int height, real *out)
{
    image im;
    real *rgb = NULL;
    image_init(&im);
    int rc = render_read_png_sized(path, "image", width, height, &im) || render_image_rgb(&im, &rgb);
    if (!rc) memcpy(out, rgb, (size_t)width * height * 3 * sizeof *out);
    free(rgb);
    image_free(&im);
    return rc ? err_context("%s", path) : 0;
}

static int load_images(sft_sequence *s, int first)
{
    const size_t pixels = (size_t)s->width * s->height;
    char path[4400], blurred[4400];
    int has_blurred = all_present(s->root, "blurred_masks/blurred_mask_%03d.png", first, s->frames);
    s->rgb = malloc((size_t)s->frames * pixels * 3 * sizeof *s->rgb);
    s->mask = malloc((size_t)s->frames * pixels * sizeof *s->mask);
    if (has_blurred) s->blurred_mask = malloc((size_t)s->frames * pixels * sizeof *s->blurred_mask);
    if (!s->rgb || !s->mask || (has_blurred && !s->blurred_mask))
        return err_set("%s: out of memory for %d frames of %d x %d", s->root, s->frames, s->width, s->height);
    for (int f = 0; f < s->frames; ++f) {
        if (frame_path(path, sizeof path, s->root, "rgbs/rgb_%03d.png", first + f) ||
            read_rgb(path, s->width, s->height, s->rgb + f * pixels * 3))
            return -1;
        if (frame_path(path, sizeof path, s->root, "masks/mask_%03d.png", first + f)) return -1;
        if (!file_exists(path)) return err_set("%s: missing (every frame needs its mask)", path);
        if (read_gray(path, "mask", s->width, s->height, s->mask + f * pixels)) return -1;
        if (has_blurred && (frame_path(blurred, sizeof blurred, s->root, "blurred_masks/blurred_mask_%03d.png",
                                       first + f) ||
                            read_gray(blurred, "blurred mask", s->width, s->height, s->blurred_mask + f * pixels)))
            return -1;
    }
    return 0;
}

static int load_template(sft_sequence *s, const char *template_name)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/templates", s->root);
    if (find_one(dir, ".obj", template_name, s->template_path, sizeof s->template_path, 1)) return -1;
    if (mesh_read(s->template_path, &s->template_mesh)) return -1;
    if (s->template_mesh.n_faces == 0) return err_set("%s: the template has no faces", s->template_path);
    if (!s->template_mesh.uvs) return 0; /* colours will be projected from frame 0 */
    /* a texture beside the OBJ: the PNG of the same stem, else the only PNG */
    const int stem = (int)strlen(s->template_path) - 4;
    if (snprintf(s->texture_path, sizeof s->texture_path, "%.*s.png", stem, s->template_path) <
            (int)sizeof s->texture_path &&
        file_exists(s->texture_path))
        return 0;
    return find_one(dir, ".png", NULL, s->texture_path, sizeof s->texture_path, 0);
}

/* Cut rows/columns [x0, x0 + w) × [y0, y0 + h) out of `frames` images of `channels` in place. */
static void crop_in_place(real *images, int frames, int channels, int W, int H, int x0, int y0, int w, int h)
{
    real *dst = images;
    for (int f = 0; f < frames; ++f)
        for (int y = 0; y < h; ++y) {
            const real *src = images + (((size_t)f * H + y0 + y) * W + x0) * channels;
            memmove(dst, src, (size_t)w * channels * sizeof *dst);
            dst += (size_t)w * channels;
        }
}

static int inside(int x, int y, int x0, int y0, int w, int h) { return x >= x0 && x < x0 + w && y >= y0 && y < y0 + h; }

/* The union of the masks' bounding boxes widened by the margin; the sums outside it; the cut. */
static int crop_to_masks(sft_sequence *s, const sft_load_options *o)
{
    const int W = s->width, H = s->height;
    int x_lo = W, x_hi = -1, y_lo = H, y_hi = -1;
    for (int f = 0; f < s->frames; ++f)
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x)
                if (s->mask[((size_t)f * H + y) * W + x] > 0) {
                    x_lo = x < x_lo ? x : x_lo, x_hi = x > x_hi ? x : x_hi;
                    y_lo = y < y_lo ? y : y_lo, y_hi = y > y_hi ? y : y_hi;
                }
    if (x_hi < 0) return err_set("%s: every mask is empty", s->root);
    const int m = o->crop_margin;
    const int x0 = x_lo - m > 0 ? x_lo - m : 0, y0 = y_lo - m > 0 ? y_lo - m : 0;
    const int w = (x_hi + m < W - 1 ? x_hi + m : W - 1) - x0 + 1, h = (y_hi + m < H - 1 ? y_hi + m : H - 1) - y0 + 1;
    s->outside_rgb = calloc((size_t)s->frames, sizeof *s->outside_rgb);
    s->outside_mask = calloc((size_t)s->frames, sizeof *s->outside_mask);
    if (!s->outside_rgb || !s->outside_mask) return err_set("out of memory");
    for (int f = 0; f < s->frames; ++f)
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) {
                if (inside(x, y, x0, y0, w, h)) continue;
                const size_t p = ((size_t)f * H + y) * W + x;
                for (int c = 0; c < 3; ++c) s->outside_rgb[f] += fabs(s->rgb[3 * p + c] - o->background[c]);
                if (s->blurred_mask) s->outside_mask[f] += s->blurred_mask[p];
            }
    crop_in_place(s->rgb, s->frames, 3, W, H, x0, y0, w, h);
    crop_in_place(s->mask, s->frames, 1, W, H, x0, y0, w, h);
    if (s->blurred_mask) crop_in_place(s->blurred_mask, s->frames, 1, W, H, x0, y0, w, h);
    s->crop_x = x0, s->crop_y = y0, s->width = w, s->height = h;
    return raster_camera_crop(&s->camera, x0, y0, w, h);
}

int sft_sequence_load(sft_sequence *s, const char *root, const sft_load_options *o)
{
    const int downscale = o->downscale, first_frame = o->first_frame, frames = o->frames;
    memset(s, 0, sizeof *s);
    mesh_init(&s->template_mesh);
    if ((size_t)snprintf(s->root, sizeof s->root, "%s", root) >= sizeof s->root) return err_set("%s: path too long", root);
    if (downscale < 1) return err_set("%s: downscale %d must be ≥ 1", root, downscale);
    char path[4400];
    snprintf(path, sizeof path, "%s/camera.json", root);
    if (raster_camera_read_json(path, &s->camera)) goto fail;
    if (raster_camera_downscale(&s->camera, downscale)) {
        err_context("%s", path);
        goto fail;
    }
    s->downscale = downscale;
    s->first_frame = first_frame;
    s->width = s->full_width = s->camera.width;
    s->height = s->full_height = s->camera.height;
    int available = count_frames(root, first_frame);
    if (available == 0) {
        frame_path(path, sizeof path, root, "rgbs/rgb_%03d.png", first_frame);
        err_set("%s: missing (the sequence has no frame %d)", path, first_frame);
        goto fail;
    }
    if (frames > available) {
        err_set("%s: %d frames asked from frame %d, but only %d images follow", root, frames, first_frame, available);
        goto fail;
    }
    s->frames = frames > 0 ? frames : available;
    if (load_images(s, first_frame) || load_template(s, o->template_name) || (o->crop && crop_to_masks(s, o)))
        goto fail;
    s->has_surfaces = all_present(root, "surfaces/%04d_00.obj", first_frame, s->frames);
    s->has_point_clouds = all_present(root, "point_clouds/point_cloud_%03d.obj", first_frame, s->frames);
    return 0;
fail:
    sft_sequence_free(s);
    return -1;
}

void sft_sequence_free(sft_sequence *s)
{
    free(s->rgb);
    free(s->mask);
    free(s->blurred_mask);
    free(s->outside_rgb);
    free(s->outside_mask);
    s->outside_rgb = s->outside_mask = NULL;
    mesh_free(&s->template_mesh);
    s->rgb = s->mask = s->blurred_mask = NULL;
}
