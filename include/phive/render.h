/* render.h — files in, pictures out around the soft rasterizer (raster module).
 *
 * Loading: a mesh file (OBJ or PLY, phive/mesh.h) and an optional PNG texture
 * (phive/image.h) become a render_mesh, which owns real-typed copies of the
 * arrays and exposes them as a raster_mesh.  Colours come from the texture
 * when one is given (the mesh must then have texture coordinates on every
 * face), else from the mesh's vertex colours (PLY), else white.
 *
 * Images: PNGs of 8 or 16 bits, gray, gray+alpha, RGB or RGBA, become float
 * RGB in [0, 1] (gray replicated, alpha dropped), rows top-first as raster.h
 * wants.  Frames and masks can be given at the render size or at an integer
 * multiple of it (the full-resolution frame of a downscaled camera); the
 * latter is averaged over factor × factor blocks first.
 *
 * Output PNGs of a raster_frame (8-bit, atomic through the PNG writer):
 *   rgb         the soft-blended colour, clamped to [0, 1]
 *   alpha       the soft silhouette, gray
 *   silhouette  the hard silhouette, gray 0/255
 *   depth       camera depth of the covered pixels coloured over [min, max]
 *               of those pixels, with a colour bar (phive/visual.h)
 *   normal      the camera-space unit normal (OpenCV axes) as n·0.5 + 0.5,
 *               black where nothing is hit
 *   overlay     a photo with the hard silhouette tinted on it and its
 *               outline drawn in a bright colour, plus the outline of a mask
 *               when one is given, so a person sees whether the rendered
 *               outline sits on the object
 *
 * Every function returns 0, or -1 with err_set() naming the file or the
 * argument at fault.
 */
#ifndef PHIVE_RENDER_H
#define PHIVE_RENDER_H

#include <stdint.h>

#include "phive/image.h"
#include "phive/raster.h"
#include "phive/real.h"

typedef struct {
    raster_mesh mesh;       /* views of the arrays below */
    real *positions;        /* n_vertices × 3; callers may move the vertices in place */
    int32_t *faces;         /* n_faces × 3 */
    real *vertex_colors;    /* n_vertices × 3 or NULL */
    real *uvs;              /* n_uvs × 2 or NULL */
    int32_t *face_uvs;      /* n_faces × 3 or NULL */
    real *texture;          /* tex_height × tex_width × 3 or NULL */
} render_mesh;

/* texture_path may be NULL.  On failure rm is left empty (render_mesh_free is harmless). */
int render_mesh_load(render_mesh *rm, const char *mesh_path, const char *texture_path);
void render_mesh_free(render_mesh *rm);

/* im as width × height × 3 RGB reals in [0, 1] into a new array (free() it). */
int render_image_rgb(const image *im, real **rgb);

/* Read a PNG that must be width × height, or (factor·width) × (factor·height)
 * for an integer factor ≥ 2, which is then block-averaged down to width ×
 * height; out receives an 8-bit image of the PNG's channel count (alpha
 * kept).  what names the file's role in messages ("image", "mask"). */
int render_read_png_sized(const char *path, const char *what, int width, int height, image *out);

/* A binary mask of width × height bytes (1 where the first channel is above
 * 127 of 255) from a PNG that render_read_png_sized accepts; free() it. */
int render_read_mask(const char *path, int width, int height, uint8_t **mask);

/* Intersection over union of the frame's hard silhouette with mask (width ×
 * height flags, nonzero inside); the pixel counts of both when not NULL. */
int render_silhouette_iou(const raster_frame *f, const uint8_t *mask, double *iou, long *n_silhouette, long *n_mask);

int render_write_rgb(const char *path, const raster_frame *f);
int render_write_alpha(const char *path, const raster_frame *f);
int render_write_silhouette(const char *path, const raster_frame *f);
/* A frame that covers no pixel gives an all-background image over [0, 1]. */
int render_write_depth(const char *path, const raster_frame *f);
int render_write_normal(const char *path, const raster_frame *f);
/* background: the frame's size, any layout image.h reads; mask: width ×
 * height flags or NULL. */
int render_write_overlay(const char *path, const raster_frame *f, const image *background, const uint8_t *mask);

#endif
