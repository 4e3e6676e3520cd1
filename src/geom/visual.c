/* visual.c — coloured error meshes, scalar maps with a colour bar, overlays
 * and the bitmap font they label things with (see visual.h).
 *
 * Everything is drawn on the CPU into an 8-bit RGB phive image and written
 * with image_write_png / mesh_write_ply; the pictures are small next to the
 * evaluation that produces their values, so clarity wins over speed here.
 */
#include "phive/visual.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/kdtree.h"

/* ---- the bitmap font ------------------------------------------------------ */

/* Printable ASCII from ' ' (32) to '~' (126); row r of a glyph is one byte,
 * bit 4 the leftmost pixel.  Drawn for phive: digits and capitals 7 rows
 * tall, lower case 5 rows (ascenders 7), descenders in row 7. */
#define FONT_FIRST 32
#define FONT_LAST 126
static const uint8_t font[FONT_LAST - FONT_FIRST + 1][VISUAL_FONT_HEIGHT] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ' ' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00}, /* '!' */
    {0x0a, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '"' */
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a, 0x00}, /* '#' */
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04, 0x00}, /* '$' */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00}, /* '%' */
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d, 0x00}, /* '&' */
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '\'' */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00}, /* '(' */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00}, /* ')' */
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00, 0x00}, /* '*' */
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00, 0x00}, /* '+' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c, 0x04}, /* ',' */
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00}, /* '-' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c, 0x00}, /* '.' */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00}, /* '/' */
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00}, /* '0' */
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* '1' */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f, 0x00}, /* '2' */
    {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e, 0x00}, /* '3' */
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02, 0x00}, /* '4' */
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e, 0x00}, /* '5' */
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e, 0x00}, /* '6' */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00}, /* '7' */
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e, 0x00}, /* '8' */
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c, 0x00}, /* '9' */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00, 0x00}, /* ':' */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x04, 0x08}, /* ';' */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00}, /* '<' */
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00, 0x00}, /* '=' */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00}, /* '>' */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00}, /* '?' */
    {0x0e, 0x11, 0x01, 0x0d, 0x15, 0x15, 0x0e, 0x00}, /* '@' */
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00}, /* 'A' */
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e, 0x00}, /* 'B' */
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e, 0x00}, /* 'C' */
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c, 0x00}, /* 'D' */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f, 0x00}, /* 'E' */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10, 0x00}, /* 'F' */
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f, 0x00}, /* 'G' */
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00}, /* 'H' */
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* 'I' */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c, 0x00}, /* 'J' */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00}, /* 'K' */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f, 0x00}, /* 'L' */
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00}, /* 'M' */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00}, /* 'N' */
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00}, /* 'O' */
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10, 0x00}, /* 'P' */
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d, 0x00}, /* 'Q' */
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11, 0x00}, /* 'R' */
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e, 0x00}, /* 'S' */
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00}, /* 'T' */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00}, /* 'U' */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00}, /* 'V' */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a, 0x00}, /* 'W' */
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11, 0x00}, /* 'X' */
    {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04, 0x00}, /* 'Y' */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f, 0x00}, /* 'Z' */
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e, 0x00}, /* '[' */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00}, /* '\\' */
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e, 0x00}, /* ']' */
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '^' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}, /* '_' */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '`' */
    {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f, 0x00}, /* 'a' */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e, 0x00}, /* 'b' */
    {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e, 0x00}, /* 'c' */
    {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f, 0x00}, /* 'd' */
    {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e, 0x00}, /* 'e' */
    {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08, 0x00}, /* 'f' */
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* 'g' */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00}, /* 'h' */
    {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* 'i' */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x12, 0x0c}, /* 'j' */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00}, /* 'k' */
    {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* 'l' */
    {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11, 0x00}, /* 'm' */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00}, /* 'n' */
    {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e, 0x00}, /* 'o' */
    {0x00, 0x00, 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10}, /* 'p' */
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x01}, /* 'q' */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00}, /* 'r' */
    {0x00, 0x00, 0x0f, 0x10, 0x0e, 0x01, 0x1e, 0x00}, /* 's' */
    {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06, 0x00}, /* 't' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d, 0x00}, /* 'u' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00}, /* 'v' */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a, 0x00}, /* 'w' */
    {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x00}, /* 'x' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* 'y' */
    {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f, 0x00}, /* 'z' */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02, 0x00}, /* '{' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00}, /* '|' */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08, 0x00}, /* '}' */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00}, /* '~' */
};

static const uint8_t black[3] = {0, 0, 0};
static const uint8_t white[3] = {255, 255, 255};

/* The rows of c's glyph; '?' for bytes the font lacks (UTF-8 µ, ²), so
 * every byte still takes its cell. */
static const uint8_t *glyph_rows(int c)
{
    return font[(c < FONT_FIRST || c > FONT_LAST ? '?' : c) - FONT_FIRST];
}

int visual_font_glyph(int c, uint8_t rows[VISUAL_FONT_HEIGHT])
{
    if (c < FONT_FIRST || c > FONT_LAST)
        return err_set("the bitmap font has no glyph for byte %d", c);
    memcpy(rows, glyph_rows(c), VISUAL_FONT_HEIGHT);
    return 0;
}

int visual_text_width(const char *text, int scale)
{
    size_t n = text ? strlen(text) : 0;
    return n == 0 ? 0 : (int)(n * VISUAL_FONT_ADVANCE - 1) * scale;
}

/* Fill the part of the rectangle that lies on the image (RGB8). */
static void fill_rect(image *im, int x, int y, int w, int h, const uint8_t rgb[3])
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > im->width ? im->width : x + w, y1 = y + h > im->height ? im->height : y + h;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++)
            memcpy(im->u8 + ((size_t)yy * (size_t)im->width + (size_t)xx) * 3, rgb, 3);
}

static int check_rgb8(const image *im, const char *what)
{
    if (im == NULL || im->u8 == NULL || im->channels != 3 || im->bit_depth != 8 || im->width <= 0 || im->height <= 0)
        return err_set("%s: needs an 8-bit RGB image", what);
    return 0;
}

int visual_draw_text(image *im, int x, int y, const char *text, int scale, const uint8_t rgb[3])
{
    if (check_rgb8(im, "visual_draw_text") < 0)
        return -1;
    if (text == NULL || scale < 1 || scale > 64)
        return err_set("visual_draw_text: %s", text == NULL ? "NULL text" : "scale outside 1-64");
    for (size_t i = 0; text[i] != '\0'; i++) {
        long cx = x + (long)i * VISUAL_FONT_ADVANCE * scale;
        if (cx >= im->width)
            break; /* the rest is off the image */
        const uint8_t *rows = glyph_rows((unsigned char)text[i]);
        for (int r = 0; r < VISUAL_FONT_HEIGHT; r++)
            for (int c = 0; c < VISUAL_FONT_WIDTH; c++)
                if (rows[r] >> (VISUAL_FONT_WIDTH - 1 - c) & 1)
                    fill_rect(im, (int)cx + c * scale, y + r * scale, scale, scale, rgb);
    }
    return 0;
}

/* ---- per-vertex error meshes ------------------------------------------------- */

int visual_error_ply(const char *path, const mesh *m, const float *per_vertex_error, double lo, double hi,
                     colormap_id cmap)
{
    if (path == NULL || m == NULL || (per_vertex_error == NULL && m->n_vertices > 0))
        return err_set("visual_error_ply: NULL %s", path == NULL ? "path" : m == NULL ? "mesh" : "error array");
    if (mesh_validate(m) < 0)
        return err_context("%s", path);
    uint8_t *colors = malloc(m->n_vertices ? m->n_vertices * 3 : 1);
    if (colors == NULL)
        return err_set("%s: out of memory for %zu vertex colours", path, m->n_vertices);
    /* A shallow copy carries the colours, so the caller's mesh is left alone. */
    mesh coloured = *m;
    coloured.colors = colors;
    int rc = colormap_apply(cmap, per_vertex_error, m->n_vertices, lo, hi, colors);
    if (rc < 0)
        err_context("%s", path);
    else
        rc = mesh_write_ply(path, &coloured, 1);
    free(colors);
    return rc;
}

int visual_mesh_error_map(const mesh *m, const float *gt_points, size_t n_gt, double max_dist, const char *ply_path)
{
    if (ply_path == NULL || m == NULL || gt_points == NULL)
        return err_set("visual_mesh_error_map: NULL %s", ply_path == NULL ? "path" : m == NULL ? "mesh" : "gt points");
    if (!(max_dist > 0) || !isfinite(max_dist))
        return err_set("%s: max_dist %g must be positive and finite", ply_path, max_dist);
    if (m->n_vertices == 0)
        return err_set("%s: the mesh has no vertices to colour", ply_path);
    if (mesh_validate(m) < 0)
        return err_context("%s", ply_path);
    kdtree *tree = kdtree_build(gt_points, n_gt);
    if (tree == NULL)
        return err_context("%s: ground-truth points", ply_path);
    double *dist2 = malloc(m->n_vertices * sizeof *dist2);
    float *error = malloc(m->n_vertices * sizeof *error);
    int rc = -1;
    if (dist2 == NULL || error == NULL) {
        err_set("%s: out of memory for %zu vertex distances", ply_path, m->n_vertices);
    } else {
        kdtree_nearest_batch(tree, m->positions, m->n_vertices, NULL, dist2);
        for (size_t i = 0; i < m->n_vertices; i++)
            error[i] = (float)sqrt(dist2[i]);
        rc = visual_error_ply(ply_path, m, error, 0.0, max_dist, VISUAL_ERROR_COLORMAP);
    }
    free(dist2);
    free(error);
    kdtree_free(tree);
    return rc;
}

/* ---- scalar images with a colour bar ------------------------------------------ */

/* Three tick labels (hi, mid, lo), with the fewest significant digits (4 at
 * least) that keep them apart: a narrow range around a large value would
 * otherwise print three equal numbers. */
typedef struct {
    char text[3][32];
} tick_labels;

static void format_tick(char *out, size_t size, double v, int digits)
{
    snprintf(out, size, "%.*g", digits, v == 0 ? 0.0 : v); /* no "-0" */
}

static void make_tick_labels(double lo, double hi, tick_labels *t)
{
    double v[3] = {hi, lo + (hi - lo) / 2, lo};
    for (int digits = 4; digits <= 17; digits++) {
        for (int i = 0; i < 3; i++)
            format_tick(t->text[i], sizeof t->text[i], v[i], digits);
        if (strcmp(t->text[0], t->text[1]) != 0 && strcmp(t->text[1], t->text[2]) != 0)
            return;
    }
}

/* Layout constants, in font pixels (multiplied by the scale). */
enum {
    MARGIN = 6,      /* around everything */
    BAR_GAP = 6,     /* image to colour bar */
    BAR_WIDTH = 12,  /* colour bar */
    TICK_LENGTH = 3, /* ticks right of the bar's frame */
    TICK_GAP = 2,    /* tick to its value */
    LABEL_GAP = 6,   /* label line to the top of the bar */
    BAR_MIN = 24,    /* shortest bar that fits three tick values */
    CAP_HEIGHT = 7,  /* digits and capitals; tick values are centred on their tick */
};

static int layout_scale(int height)
{
    int s = 1 + height / 400;
    return s > 4 ? 4 : s;
}

static int check_scalar_args(int width, int height, double lo, double hi, const char *label)
{
    if (width <= 0 || height <= 0 || width > VISUAL_MAX_SIDE || height > VISUAL_MAX_SIDE)
        return err_set("bad image size %d x %d (1 to %d a side)", width, height, VISUAL_MAX_SIDE);
    if (colormap_check_range(lo, hi) < 0)
        return -1;
    if (label != NULL && strlen(label) > VISUAL_MAX_LABEL)
        return err_set("label of %zu bytes (at most %d)", strlen(label), VISUAL_MAX_LABEL);
    return 0;
}

int visual_scalar_layout(int width, int height, double lo, double hi, const char *label, visual_layout *out)
{
    if (check_scalar_args(width, height, lo, hi, label) < 0)
        return -1;
    visual_layout l = {0};
    int s = l.scale = layout_scale(height);
    int has_label = label != NULL && label[0] != '\0';
    /* Top: the label line, then room for half of the top tick's value. */
    l.label_y = MARGIN * s;
    int top = has_label ? l.label_y + (VISUAL_FONT_HEIGHT + LABEL_GAP) * s : MARGIN * s;
    l.bar_height = height > BAR_MIN * s ? height : BAR_MIN * s;
    l.bar_y = top;
    l.image_x = MARGIN * s;
    l.image_y = top + (l.bar_height - height) / 2;
    l.bar_x = l.image_x + width + BAR_GAP * s;
    l.bar_width = BAR_WIDTH * s;
    tick_labels t;
    make_tick_labels(lo, hi, &t);
    int tick_text = 0;
    for (int i = 0; i < 3; i++) {
        int w = visual_text_width(t.text[i], s);
        tick_text = w > tick_text ? w : tick_text;
    }
    int right = l.bar_x + l.bar_width + 1 + (TICK_LENGTH + TICK_GAP) * s + tick_text;
    /* The label starts over the bar, moved left as far as it must to end
     * with the tick values, and the canvas widens only past the left margin. */
    int label_w = has_label ? visual_text_width(label, s) : 0;
    l.label_x = l.bar_x + label_w > right ? right - label_w : l.bar_x;
    if (l.label_x < MARGIN * s) {
        right += MARGIN * s - l.label_x;
        l.label_x = MARGIN * s;
    }
    l.width = right + MARGIN * s;
    l.height = l.bar_y + l.bar_height + MARGIN * s;
    *out = l;
    return 0;
}

static int paint_values(image *im, const visual_layout *l, const float *values, int width, int height, double lo,
                        double hi, colormap_id cmap)
{
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            float v = values[(size_t)y * (size_t)width + (size_t)x];
            if (isnan(v))
                continue; /* background */
            uint8_t rgb[3];
            if (colormap_rgb(cmap, v, lo, hi, rgb) < 0)
                return -1;
            fill_rect(im, l->image_x + x, l->image_y + y, 1, 1, rgb);
        }
    return 0;
}

/* The bar (hi on top), its frame, ticks and tick values. */
static int paint_bar(image *im, const visual_layout *l, double lo, double hi, colormap_id cmap)
{
    int s = l->scale;
    fill_rect(im, l->bar_x - 1, l->bar_y - 1, l->bar_width + 2, l->bar_height + 2, black);
    for (int r = 0; r < l->bar_height; r++) {
        uint8_t rgb[3];
        if (colormap_rgb_t(cmap, (double)(l->bar_height - 1 - r) / (l->bar_height - 1), rgb) < 0)
            return -1;
        fill_rect(im, l->bar_x, l->bar_y + r, l->bar_width, 1, rgb);
    }
    tick_labels t;
    make_tick_labels(lo, hi, &t);
    int tick_rows[3] = {0, (l->bar_height - 1) / 2, l->bar_height - 1};
    int tick_x = l->bar_x + l->bar_width + 1, thick = s > 1 ? s / 2 + 1 : 1;
    for (int i = 0; i < 3; i++) {
        int y = l->bar_y + tick_rows[i];
        fill_rect(im, tick_x, y - thick / 2, TICK_LENGTH * s, thick, black);
        int text_y = y - (CAP_HEIGHT * s) / 2;
        if (visual_draw_text(im, tick_x + (TICK_LENGTH + TICK_GAP) * s, text_y, t.text[i], s, black) < 0)
            return -1;
    }
    return 0;
}

int visual_scalar_png(const char *path, const float *values, int width, int height, double lo, double hi,
                      colormap_id cmap, const char *label)
{
    if (path == NULL || values == NULL)
        return err_set("visual_scalar_png: NULL %s", path == NULL ? "path" : "values");
    visual_layout l;
    if (colormap_table(cmap) == NULL || visual_scalar_layout(width, height, lo, hi, label, &l) < 0)
        return err_context("%s", path);
    image im;
    image_init(&im);
    if (image_alloc(&im, l.width, l.height, 3, 8) < 0)
        return err_context("%s", path);
    fill_rect(&im, 0, 0, l.width, l.height, white);
    int rc = paint_values(&im, &l, values, width, height, lo, hi, cmap);
    if (rc == 0)
        rc = paint_bar(&im, &l, lo, hi, cmap);
    if (rc == 0 && label != NULL && label[0] != '\0')
        rc = visual_draw_text(&im, l.label_x, l.label_y, label, l.scale, black);
    if (rc < 0)
        err_context("%s", path);
    else
        rc = image_write_png(path, &im);
    image_free(&im);
    return rc;
}

/* ---- overlays -------------------------------------------------------------------- */

/* Pixel (i) of base as 8-bit RGB: gray is replicated, alpha dropped, 16-bit
 * samples rounded to 8 bits. */
static void base_rgb(const image *base, size_t i, uint8_t rgb[3])
{
    int colour = base->channels >= 3;
    for (int c = 0; c < 3; c++) {
        size_t k = i * (size_t)base->channels + (size_t)(colour ? c : 0);
        rgb[c] = base->bit_depth == 8 ? base->u8[k] : (uint8_t)((base->u16[k] * 255u + 32767u) / 65535u);
    }
}

int visual_overlay_png(const char *path, const image *base, const float *values, double lo, double hi, double alpha,
                       colormap_id cmap)
{
    if (path == NULL || base == NULL || values == NULL)
        return err_set("visual_overlay_png: NULL %s", path == NULL ? "path" : base == NULL ? "base image" : "values");
    if (base->width <= 0 || base->height <= 0 || base->channels < 1 || base->channels > 4 ||
        (base->bit_depth == 8 ? base->u8 == NULL : base->bit_depth != 16 || base->u16 == NULL))
        return err_set("%s: base image is not an 8 or 16-bit image of 1-4 channels", path);
    if (!(alpha >= 0 && alpha <= 1))
        return err_set("%s: alpha %g outside [0, 1]", path, alpha);
    if (colormap_table(cmap) == NULL || colormap_check_range(lo, hi) < 0)
        return err_context("%s", path);
    image out;
    image_init(&out);
    if (image_alloc(&out, base->width, base->height, 3, 8) < 0)
        return err_context("%s", path);
    size_t n = (size_t)base->width * (size_t)base->height;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint8_t *px = out.u8 + 3 * i, colour[3];
        base_rgb(base, i, px);
        if (isnan(values[i]))
            continue;
        rc = colormap_rgb(cmap, values[i], lo, hi, colour);
        for (int c = 0; c < 3 && rc == 0; c++)
            px[c] = (uint8_t)lround((1 - alpha) * px[c] + alpha * colour[c]);
    }
    if (rc < 0)
        err_context("%s", path);
    else
        rc = image_write_png(path, &out);
    image_free(&out);
    return rc;
}
