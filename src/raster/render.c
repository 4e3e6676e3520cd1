/* render.c — mesh and texture loading, frame PNGs and overlays (see render.h). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/mesh.h"
#include "phive/render.h"
#include "phive/surface_metrics.h"
#include "phive/visual.h"

/* ---- loading ------------------------------------------------------------------------- */

void render_mesh_free(render_mesh *rm)
{
    free(rm->positions);
    free(rm->faces);
    free(rm->vertex_colors);
    free(rm->uvs);
    free(rm->face_uvs);
    free(rm->texture);
    memset(rm, 0, sizeof *rm);
}

int render_image_rgb(const image *im, real **rgb)
{
    *rgb = NULL;
    if (im->width < 1 || im->height < 1 || im->channels < 1 || im->channels > 4 ||
        (im->bit_depth == 8 ? !im->u8 : im->bit_depth != 16 || !im->u16))
        return err_set("render: not an 8 or 16-bit image of 1-4 channels");
    size_t n = (size_t)im->width * im->height;
    real *out = malloc(n * 3 * sizeof *out);
    if (!out) return err_set("render: out of memory for a %d x %d image", im->width, im->height);
    /* gray and gray+alpha replicate channel 0; alpha is dropped */
    int colour = im->channels >= 3;
    for (size_t p = 0; p < n; ++p)
        for (int c = 0; c < 3; ++c) {
            size_t i = p * im->channels + (colour ? c : 0);
            out[3 * p + c] = (real)(im->bit_depth == 16 ? im->u16[i] / 65535.0 : im->u8[i] / 255.0);
        }
    *rgb = out;
    return 0;
}

static int load_texture(render_mesh *rm, const char *path)
{
    image im;
    image_init(&im);
    if (image_read_png(path, &im)) return -1;
    int rc = render_image_rgb(&im, &rm->texture);
    if (rc) err_context("texture %s", path);
    else {
        rm->mesh.tex_width = im.width;
        rm->mesh.tex_height = im.height;
    }
    image_free(&im);
    return rc;
}

static int copy_mesh(render_mesh *rm, const mesh *m, const char *path, int textured)
{
    if (m->n_vertices < 1 || m->n_faces < 1)
        return err_set("%s: nothing to render (%zu vertices, %zu faces)", path, m->n_vertices, m->n_faces);
    if (m->n_vertices > INT_MAX / 3 || m->n_faces > INT_MAX / 3 || m->n_uvs > INT_MAX / 2)
        return err_set("%s: too large to render (%zu vertices, %zu faces)", path, m->n_vertices, m->n_faces);
    size_t V = m->n_vertices, F = m->n_faces;
    rm->positions = malloc(V * 3 * sizeof *rm->positions);
    rm->faces = malloc(F * 3 * sizeof *rm->faces);
    if (textured) {
        rm->uvs = malloc(m->n_uvs * 2 * sizeof *rm->uvs);
        rm->face_uvs = malloc(F * 3 * sizeof *rm->face_uvs);
    } else if (m->colors) {
        rm->vertex_colors = malloc(V * 3 * sizeof *rm->vertex_colors);
    }
    if (!rm->positions || !rm->faces || (textured && (!rm->uvs || !rm->face_uvs)) ||
        (!textured && m->colors && !rm->vertex_colors))
        return err_set("%s: out of memory for %zu vertices and %zu faces", path, V, F);
    for (size_t i = 0; i < V * 3; ++i) rm->positions[i] = (real)m->positions[i];
    for (size_t i = 0; i < F * 3; ++i) rm->faces[i] = (int32_t)m->faces[i];
    if (textured) {
        for (size_t i = 0; i < m->n_uvs * 2; ++i) rm->uvs[i] = (real)m->uvs[i];
        for (size_t i = 0; i < F * 3; ++i) rm->face_uvs[i] = (int32_t)m->face_uvs[i];
    } else if (rm->vertex_colors) {
        for (size_t i = 0; i < V * 3; ++i) rm->vertex_colors[i] = (real)(m->colors[i] / 255.0);
    }
    raster_mesh *v = &rm->mesh;
    v->n_vertices = (int)V;
    v->n_faces = (int)F;
    v->positions = rm->positions;
    v->faces = rm->faces;
    v->vertex_colors = rm->vertex_colors;
    v->n_uvs = textured ? (int)m->n_uvs : 0;
    v->uvs = rm->uvs;
    v->face_uvs = rm->face_uvs;
    v->texture = rm->texture;
    return 0;
}

int render_mesh_load(render_mesh *rm, const char *mesh_path, const char *texture_path)
{
    memset(rm, 0, sizeof *rm);
    mesh m;
    mesh_init(&m);
    if (mesh_read(mesh_path, &m)) return -1;
    int rc = 0;
    if (texture_path && (!m.uvs || !m.face_uvs || m.n_uvs == 0))
        rc = err_set("%s has no texture coordinates on every face (OBJ vt and f v/vt), so texture %s cannot be "
                     "mapped onto it", mesh_path, texture_path);
    if (!rc && texture_path) rc = load_texture(rm, texture_path);
    if (!rc) rc = copy_mesh(rm, &m, mesh_path, texture_path != NULL);
    if (!rc && raster_mesh_check(&rm->mesh)) rc = err_context("%s", mesh_path);
    mesh_free(&m);
    if (rc) render_mesh_free(rm);
    return rc;
}

/* ---- sized images and masks --------------------------------------------------------------- */

int render_read_png_sized(const char *path, const char *what, int width, int height, image *out)
{
    image im;
    image_init(&im);
    if (image_read_png(path, &im)) return -1;
    int exact = im.width == width && im.height == height;
    int factor = exact ? 1 : im.width / width;
    int multiple = factor >= 2 && im.width == factor * width && im.height == factor * height;
    if (!exact && !multiple) {
        err_set("%s: %s is %d x %d, but the render is %d x %d (give it at that size or an integer multiple of it)",
                path, what, im.width, im.height, width, height);
        image_free(&im);
        return -1;
    }
    if (exact && im.bit_depth == 8) {
        image_free(out);
        *out = im;
        return 0;
    }
    image small;
    image_init(&small);
    if (image_alloc(&small, width, height, im.channels, 8)) {
        image_free(&im);
        return err_context("%s", path);
    }
    double scale = 1.0 / ((double)factor * factor * (im.bit_depth == 16 ? 257.0 : 1.0));
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < im.channels; ++c) {
                double sum = 0;
                for (int dy = 0; dy < factor; ++dy)
                    for (int dx = 0; dx < factor; ++dx) {
                        size_t i = (((size_t)y * factor + dy) * im.width + (size_t)x * factor + dx) * im.channels + c;
                        sum += im.bit_depth == 16 ? im.u16[i] : im.u8[i];
                    }
                small.u8[((size_t)y * width + x) * im.channels + c] = (uint8_t)lround(sum * scale);
            }
    image_free(&im);
    image_free(out);
    *out = small;
    return 0;
}

int render_read_mask(const char *path, int width, int height, uint8_t **mask)
{
    *mask = NULL;
    image im;
    image_init(&im);
    if (render_read_png_sized(path, "mask", width, height, &im)) return -1;
    size_t n = (size_t)width * height;
    uint8_t *m = malloc(n);
    if (!m) {
        image_free(&im);
        return err_set("%s: out of memory for a %d x %d mask", path, width, height);
    }
    for (size_t p = 0; p < n; ++p) m[p] = im.u8[p * im.channels] > 127;
    image_free(&im);
    *mask = m;
    return 0;
}

int render_silhouette_iou(const raster_frame *f, const uint8_t *mask, double *iou, long *n_silhouette, long *n_mask)
{
    if (!f->silhouette || !mask) return err_set("render: IoU needs a rendered frame and a mask");
    size_t n = (size_t)f->width * f->height;
    if (mask_iou(f->silhouette, mask, n, iou)) return -1;
    long a = 0, b = 0;
    for (size_t p = 0; p < n; ++p) {
        a += f->silhouette[p] != 0;
        b += mask[p] != 0;
    }
    if (n_silhouette) *n_silhouette = a;
    if (n_mask) *n_mask = b;
    return 0;
}

/* ---- frame PNGs ------------------------------------------------------------------------------ */

static uint8_t to_u8(double v)
{
    if (!(v > 0)) return 0; /* NaN too */
    if (v >= 1) return 255;
    return (uint8_t)lround(v * 255.0);
}

static int check_frame(const char *path, const raster_frame *f)
{
    if (!path || !f || f->width < 1 || f->height < 1 || !f->rgb || !f->alpha || !f->silhouette || !f->depth ||
        !f->normal)
        return err_set("%s: no rendered frame to write", path ? path : "(null path)");
    return 0;
}

/* Write an 8-bit image whose samples fill() sets, pixel by pixel. */
static int write_u8(const char *path, const raster_frame *f, int channels,
                    void (*fill)(const raster_frame *f, size_t p, uint8_t *px))
{
    if (check_frame(path, f)) return -1;
    image im;
    image_init(&im);
    if (image_alloc(&im, f->width, f->height, channels, 8)) return err_context("%s", path);
    size_t n = (size_t)f->width * f->height;
    for (size_t p = 0; p < n; ++p) fill(f, p, im.u8 + p * channels);
    int rc = image_write_png(path, &im);
    image_free(&im);
    return rc;
}

static void fill_rgb(const raster_frame *f, size_t p, uint8_t *px)
{
    for (int c = 0; c < 3; ++c) px[c] = to_u8(f->rgb[3 * p + c]);
}

static void fill_alpha(const raster_frame *f, size_t p, uint8_t *px) { px[0] = to_u8(f->alpha[p]); }

static void fill_silhouette(const raster_frame *f, size_t p, uint8_t *px) { px[0] = f->silhouette[p] ? 255 : 0; }

static void fill_normal(const raster_frame *f, size_t p, uint8_t *px)
{
    for (int c = 0; c < 3; ++c) px[c] = f->silhouette[p] ? to_u8(f->normal[3 * p + c] * 0.5 + 0.5) : 0;
}

int render_write_rgb(const char *path, const raster_frame *f) { return write_u8(path, f, 3, fill_rgb); }
int render_write_alpha(const char *path, const raster_frame *f) { return write_u8(path, f, 1, fill_alpha); }
int render_write_silhouette(const char *path, const raster_frame *f) { return write_u8(path, f, 1, fill_silhouette); }
int render_write_normal(const char *path, const raster_frame *f) { return write_u8(path, f, 3, fill_normal); }

int render_write_depth(const char *path, const raster_frame *f)
{
    if (check_frame(path, f)) return -1;
    size_t n = (size_t)f->width * f->height;
    float *values = malloc(n * sizeof *values);
    if (!values) return err_set("%s: out of memory for a %d x %d depth map", path, f->width, f->height);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t p = 0; p < n; ++p) {
        if (f->silhouette[p] && isfinite(f->depth[p])) {
            values[p] = (float)f->depth[p];
            lo = fmin(lo, values[p]);
            hi = fmax(hi, values[p]);
        } else {
            values[p] = NAN; /* background in the PNG */
        }
    }
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (!(hi > lo)) { /* a plane facing the camera: widen the range so the colour map has one */
        double pad = fmax(1e-6, 1e-6 * fabs(lo));
        lo -= pad;
        hi += pad;
    }
    int rc = visual_scalar_png(path, values, f->width, f->height, lo, hi, COLORMAP_TURBO, "depth [m]");
    free(values);
    return rc;
}

/* ---- overlay ----------------------------------------------------------------------------------- */

static const uint8_t OVERLAY_RENDER[3] = {255, 0, 255}; /* magenta: neither cloth nor skin colours */
static const uint8_t OVERLAY_MASK[3] = {0, 255, 0};
#define OVERLAY_TINT 0.3

/* Pixels within `radius` (Chebyshev) of a change of the binary image in. */
static uint8_t *outline(const uint8_t *in, int width, int height, int radius)
{
    size_t n = (size_t)width * height;
    uint8_t *edge = calloc(n, 1), *out = calloc(n, 1);
    if (!edge || !out) {
        free(edge);
        free(out);
        return NULL;
    }
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            size_t p = (size_t)y * width + x;
            int v = in[p] != 0;
            if ((x + 1 < width && (in[p + 1] != 0) != v) || (y + 1 < height && (in[p + width] != 0) != v))
                edge[p] = 1;
        }
    /* separable box dilation: rows into out, then columns back into edge */
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            if (!edge[(size_t)y * width + x]) continue;
            for (int k = x - radius < 0 ? 0 : x - radius; k <= x + radius && k < width; ++k) out[(size_t)y * width + k] = 1;
        }
    memset(edge, 0, n);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            if (!out[(size_t)y * width + x]) continue;
            for (int k = y - radius < 0 ? 0 : y - radius; k <= y + radius && k < height; ++k) edge[(size_t)k * width + x] = 1;
        }
    free(out);
    return edge;
}

static void legend(image *im, int scale, int row, const char *text, const uint8_t rgb[3])
{
    static const uint8_t black[3] = {0, 0, 0};
    int x = 4 * scale, y = 4 * scale + row * (VISUAL_FONT_HEIGHT + 3) * scale;
    visual_draw_text(im, x + scale, y + scale, text, scale, black); /* shadow: readable on light photos */
    visual_draw_text(im, x, y, text, scale, rgb);
}

int render_write_overlay(const char *path, const raster_frame *f, const image *background, const uint8_t *mask)
{
    if (check_frame(path, f)) return -1;
    if (!background || background->width != f->width || background->height != f->height)
        return err_set("%s: the background image is %d x %d, the render %d x %d", path, background ? background->width : 0,
                       background ? background->height : 0, f->width, f->height);
    real *base = NULL;
    if (render_image_rgb(background, &base)) return err_context("%s", path);
    int W = f->width, H = f->height;
    int scale = 1 + H / 400 < 4 ? 1 + H / 400 : 4;
    int radius = H >= 720 ? 1 : 0; /* 3-pixel lines on HD frames, 2 below */
    uint8_t *line = outline(f->silhouette, W, H, radius);
    uint8_t *mask_line = mask ? outline(mask, W, H, radius) : NULL;
    image im;
    image_init(&im);
    int rc = 0;
    if (!line || (mask && !mask_line)) rc = err_set("%s: out of memory for a %d x %d overlay", path, W, H);
    else if (image_alloc(&im, W, H, 3, 8)) rc = err_context("%s", path);
    if (!rc) {
        size_t n = (size_t)W * H;
        for (size_t p = 0; p < n; ++p) {
            uint8_t *px = im.u8 + 3 * p;
            for (int c = 0; c < 3; ++c) {
                double v = base[3 * p + c];
                if (f->silhouette[p]) v = (1 - OVERLAY_TINT) * v + OVERLAY_TINT * OVERLAY_RENDER[c] / 255.0;
                px[c] = to_u8(v);
            }
            /* the render's outline is drawn last so it stays visible where both coincide */
            if (mask_line && mask_line[p]) memcpy(px, OVERLAY_MASK, 3);
            if (line[p]) memcpy(px, OVERLAY_RENDER, 3);
        }
        legend(&im, scale, 0, "render (outline + tint)", OVERLAY_RENDER);
        if (mask) legend(&im, scale, 1, "mask outline", OVERLAY_MASK);
        rc = image_write_png(path, &im);
    }
    image_free(&im);
    free(line);
    free(mask_line);
    free(base);
    return rc;
}
