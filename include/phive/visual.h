/* visual.h — images people look at: coloured error meshes, scalar maps with a
 * colour bar, overlays (geom module).
 *
 * Colours come from phive/colormap.h (values over [lo, hi], clamped; lo < hi,
 * both finite).  Files are written through the mesh and PNG writers, so they
 * are atomic (phive/fileio.h).  Every function but visual_text_width returns
 * 0, or -1 with err_set() naming the file or the bad argument; nothing is
 * written on failure.
 *
 * Text uses an embedded bitmap font: printable ASCII (32-126), 5 × 8 glyphs
 * (rows 0-6 above the baseline, row 7 for descenders) in 6 × 8 cells, drawn at
 * an integer scale; other bytes are drawn as '?'.
 */
#ifndef PHIVE_VISUAL_H
#define PHIVE_VISUAL_H

#include <stddef.h>
#include <stdint.h>

#include "phive/colormap.h"
#include "phive/image.h"
#include "phive/mesh.h"

/* ---- per-vertex error meshes ------------------------------------------------ */

/* m with per-vertex colours cmap(error[i]) over [lo, hi] (NaN error → grey),
 * written as a binary PLY whatever path's extension; m itself is not changed
 * (its own colours, if any, are replaced in the file only). */
int visual_error_ply(const char *path, const mesh *m, const float *per_vertex_error, double lo, double hi,
                     colormap_id cmap);

/* The distance-to-ground-truth map of the DTU/EPFL protocols: each vertex's
 * exact nearest-neighbour distance to the gt cloud (n_gt × 3, phive/kdtree.h),
 * coloured with VISUAL_ERROR_COLORMAP over [0, max_dist] (farther clamps to
 * the top colour) into ply_path. */
#define VISUAL_ERROR_COLORMAP COLORMAP_VIRIDIS
int visual_mesh_error_map(const mesh *m, const float *gt_points, size_t n_gt, double max_dist, const char *ply_path);

/* ---- scalar images with a colour bar ----------------------------------------- */

/* Where visual_scalar_png puts things (pixels, y = 0 the top row):
 *   - the scalar image, width × height at (image_x, image_y), on a white
 *     background; NaN pixels stay background;
 *   - the colour bar right of it, bar_width × bar_height at (bar_x, bar_y),
 *     top-aligned with the image (the image is centred on it when shorter
 *     than the bar's minimum height), framed by a 1-pixel black line just
 *     outside; bar row r shows colormap_rgb_t(t = (bar_height − 1 − r) /
 *     (bar_height − 1)): hi at the top, lo at the bottom;
 *   - black ticks right of the frame at the top, middle and bottom rows,
 *     each with its value ("%.4g", more digits when needed to tell them apart);
 *   - the label (when not NULL or "") above the bar at (label_x, label_y).
 * Text, ticks and margins grow with `scale` (1 below 400 rows, +1 per 400
 * rows, at most 4) so the labels stay readable on large images. */
typedef struct {
    int width, height; /* the PNG */
    int scale;         /* pixels per font pixel */
    int image_x, image_y;
    int bar_x, bar_y, bar_width, bar_height;
    int label_x, label_y;
} visual_layout;

/* Sizes up to VISUAL_MAX_SIDE pixels a side and labels up to
 * VISUAL_MAX_LABEL bytes. */
#define VISUAL_MAX_SIDE 16384
#define VISUAL_MAX_LABEL 256

int visual_scalar_layout(int width, int height, double lo, double hi, const char *label, visual_layout *out);

/* A depth or error image (values: height rows of width, row-major, y = 0 the
 * top row) as an 8-bit RGB PNG laid out as visual_scalar_layout says. */
int visual_scalar_png(const char *path, const float *values, int width, int height, double lo, double hi,
                      colormap_id cmap, const char *label);

/* ---- overlays ------------------------------------------------------------------ */

/* base (8 or 16-bit, gray, gray+alpha, RGB or RGBA; alpha is ignored) with
 * cmap(values) over [lo, hi] blended on top: out = (1 − alpha)·base +
 * alpha·colour, alpha in [0, 1]; NaN values leave the base pixel as it is, so
 * a mask is 1 where shown and NaN elsewhere.  values has base's width × height
 * entries; the result is an 8-bit RGB PNG of base's size. */
int visual_overlay_png(const char *path, const image *base, const float *values, double lo, double hi, double alpha,
                       colormap_id cmap);

/* ---- the bitmap font -------------------------------------------------------------- */

#define VISUAL_FONT_WIDTH 5   /* glyph columns */
#define VISUAL_FONT_HEIGHT 8  /* glyph rows: 0-6 above the baseline, 7 below */
#define VISUAL_FONT_ADVANCE 6 /* cell width: one blank column between glyphs */

/* The glyph of c: rows[r] bit (VISUAL_FONT_WIDTH − 1 − x) is pixel (x, r);
 * -1 for a byte outside printable ASCII. */
int visual_font_glyph(int c, uint8_t rows[VISUAL_FONT_HEIGHT]);
/* Width in pixels of text drawn at scale (no trailing blank column; 0 for ""). */
int visual_text_width(const char *text, int scale);
/* Draw text into an 8-bit RGB image with its top-left cell corner at (x, y),
 * each font pixel a scale × scale block of rgb (scale 1-64); pixels off the image are
 * clipped.  Only the glyphs' set pixels are drawn. */
int visual_draw_text(image *im, int x, int y, const char *text, int scale, const uint8_t rgb[3]);

#endif
