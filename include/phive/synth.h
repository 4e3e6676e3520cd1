/* synth.h — synthetic ϕ-SfT sequences with ground truth (sft module): the `synth_cloth` job
 * type (`phive synth cloth CONFIG`, src/sft/synth.c, whose schema lists the keys).
 *
 * A textured square cloth is simulated by the cloth module (cloth.h) and rendered by the soft
 * rasterizer (raster.h); the sequence is written in ϕ-SfT's data layout (REFERENCE.md §1) under
 * synth.dir, which is created when missing; an existing non-empty synth.dir is an error unless
 * synth.overwrite = true (then the files below are replaced and frames of an earlier, longer
 * sequence removed; other files are left alone).  Every file is written atomically.
 *   rgbs/rgb_%03d.png                8-bit RGB, the rendering below
 *   masks/mask_%03d.png              8-bit gray, 255 where the hard silhouette covers the pixel centre
 *   surfaces/%04d_00.obj             the ground-truth surface (template vertices and faces, metres)
 *   point_clouds/point_cloud_%03d.obj `v` lines only: synth.cloud_points area-weighted samples of
 *                                    the surface, seed job.seed·1000003 + frame (sampling.h)
 *   templates/template.obj           surface 0 with one `vt` per vertex, uv = (material
 *                                    coordinate − its minimum) / cloth.size ∈ [0, 1]², faces v/vt
 *                                    (v = 1 is the top edge, which shows the texture's first row)
 *   templates/texture.png            synth.texture_size² RGB: an 8 × 8 checker of light and dark
 *                                    cells whose seeded hues drift smoothly across the cloth
 *   camera.json                      {"camera_pos", "object_pos", "width", "height", "fov"} (ϕ-SfT's
 *                                    synthetic form, raster_camera_read_json: look-at, up = +y)
 * A sequence of F = synth.frames frames has frames 0 … F−1; frame 0 is the initial state, frame
 * f + 1 is one cloth_rollout_forward frame (sim.frame_time, sim.substeps) from frame f, with the
 * wind and the handle positions of that frame.  World: metres, gravity −9.8 along −y, so +y is up
 * in the images.
 *
 * Rendering contract (what a reconstruction of the sequence renders with): the camera of
 * camera.json as raster_camera_read_json builds it, the template's UVs and texture, and
 * synth_render_settings(camera_pos): raster_settings_default, then Phong shading with a point
 * light at the camera position and PyTorch3D's PointLights colours (ambient 0.5, diffuse 0.3,
 * specular 0.2, shininess 64), white background (1, 1, 1), K = 1, σ = γ = 1e-4.  Only the cloth
 * is rendered (obstacles are invisible).  Rendered on the CPU (raster_forward).
 *
 * Scenes (synth.scene; the cloth starts flat and at rest):
 *   wind    hanging in the x–y plane facing +z, pinned at its two top corners, in a wind of mean
 *           synth.wind plus smooth seeded gusts of amplitude synth.gust (m/s), constant per frame
 *   handle  hanging as a diamond (facing +z) from its top-left corner, held by the vertices
 *           within 0.12·cloth.size (material distance) of it, which move together along a smooth
 *           seeded path: a lift and a wave of amplitude synth.amplitude (m), eased in from rest;
 *           the sides fall and fold onto each other (collisions on)
 *   drop    horizontal (x–z plane, facing +y), seeded offset and turn, 5 cm above a sphere of
 *           radius synth.sphere_radius (m) at the origin, falling onto it with collisions
 *   folds   hanging, pinned at its two top corners, which move towards each other by
 *           synth.squeeze × cloth.size in total and apart in depth (seeded sign), so the cloth
 *           buckles into folds (collisions on)
 * Camera: looking at the centre of the bounding box of all frames from a fixed direction per scene
 * (hanging scenes: 10° above the horizontal, from +z; drop: 35° above, turned 20° about y) at
 * camera.distance, or (0, the default) at the distance where every vertex of every frame falls
 * within the middle 92 % of the image's width and height; vertical field of view camera.fov.
 */
#ifndef PHIVE_SYNTH_H
#define PHIVE_SYNTH_H

#include "phive/job.h"
#include "phive/raster.h"

/* The rendering settings of the contract above, light at camera_pos (world). */
void synth_render_settings(raster_settings *s, const double camera_pos[3]);

extern const job_type synth_cloth_job;

#endif
