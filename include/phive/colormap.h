/* colormap.h — perceptual colour maps for images people look at (geom module).
 *
 * The maps are matplotlib's 256-entry tables (viridis, turbo) rounded to
 * 8 bits, so every entry is within 0.5/255 of matplotlib's float value.
 * A value maps to an entry the way matplotlib's Colormap(Normalize(lo, hi))
 * does: t = (v − lo) / (hi − lo), index = ⌊256·t⌋ clamped to [0, 255]
 * (t = 1 is the last entry; values outside [lo, hi], ±Inf included, clamp
 * to the end colours).  NaN maps to COLORMAP_NAN_GREY on all three channels,
 * where matplotlib would use its transparent "bad" colour.
 * Functions return 0, or -1 with err_set() (unknown map, lo ≥ hi or a
 * non-finite bound); outputs are written only on success.
 */
#ifndef PHIVE_COLORMAP_H
#define PHIVE_COLORMAP_H

#include <stddef.h>
#include <stdint.h>

#define COLORMAP_SIZE 256
/* NaN's colour (R = G = B): a mid grey that neither map produces as such. */
#define COLORMAP_NAN_GREY 128

typedef enum {
    COLORMAP_VIRIDIS = 0, /* perceptually uniform, colour-blind safe; dark purple → yellow */
    COLORMAP_TURBO = 1,   /* Google's improved jet; blue → red, for large dynamic ranges */
} colormap_id;

/* "viridis" / "turbo" (as matplotlib names them); -1 for another name. */
int colormap_from_name(const char *name, colormap_id *out);
/* The name of id, or NULL for an unknown id. */
const char *colormap_name(colormap_id id);

/* The table of id (COLORMAP_SIZE entries of R, G, B); NULL with err_set() for an unknown id. */
const uint8_t (*colormap_table(colormap_id id))[3];

/* 0 when [lo, hi] is a usable range (both finite, lo < hi, hi − lo finite). */
int colormap_check_range(double lo, double hi);

/* Colour of a normalised t (0 → first entry, 1 → last; clamped; NaN → grey). */
int colormap_rgb_t(colormap_id id, double t, uint8_t rgb[3]);
/* Colour of value v over [lo, hi] (lo < hi, both finite). */
int colormap_rgb(colormap_id id, double v, double lo, double hi, uint8_t rgb[3]);
/* The same for n values into rgb (n × 3). */
int colormap_apply(colormap_id id, const float *values, size_t n, double lo, double hi, uint8_t *rgb);

#endif
