/* synth_scene.h — synthetic multi-view scenes with ground truth (nsr module): the `synth_scene`
 * job type (`phive synth scene CONFIG`, src/nsr/synth_scene.c, whose schema lists the keys).
 *
 * An analytic shape (nsr.h: sphere, torus, box, capsule) of scale scene.size, turned by
 * scene.tilt degrees about x, with an optional relief
 *     f(p) = f_shape(p) + a · sin(ω p_x) sin(ω p_y) sin(ω p_z)     (a = scene.relief, ω = scene.relief_frequency)
 * lives in the normalised frame (the unit sphere of NeuS); world = centre + scale · normalised
 * (scene.center, scene.scale: "millimetres", as DTU).  It is sphere-traced (steps shortened by
 * the relief's Lipschitz bound) from cameras.count pinhole cameras and written in the NeuS/DTU
 * layout under synth.dir (created; a non-empty one is an error unless synth.overwrite):
 *   image/%03d.png        8-bit RGB, black background; colour = albedo · (0.35 + 0.65 max(0, n·l))
 *                         with a fixed light l (so view-independent), albedo a seeded blend of
 *                         sinusoids of the normalised position (scene.texture_frequency)
 *   mask/%03d.png         8-bit gray, 255 × the covered fraction of the pixel's subsamples
 *   cameras_sphere.npz    world_mat_i = [K 0; 0 1][R t; 0 1] (OpenCV: x right, y down, z forward;
 *                         pixel (i, j) = the projection of K⁻¹-ray (i, j, 1), as NeuS) and
 *                         scale_mat_i = [scale·I centre; 0 1]
 *   gt/Points/stl/stl%03d_total.ply      synth.gt_points samples of the surface (world), scan
 *                                        number synth.scan: `phive eval dtu eval.gt=DIR/gt`
 *   gt/ObsMask/ObsMask%d_10.mat          ObsMask (all observed) over BB = centre ± 1.05·scale, Res
 *   gt/ObsMask/Plane%d.mat               P = (0, 0, 0, 1): every point counts
 *   gt/mesh.ply                           the ground-truth surface (marching cubes, vertices
 *                                        projected onto f = 0; world)
 * Pixels are averaged over synth.supersample² subsamples.  Cameras look at the centre from
 * cameras.distance (normalised units) with up +y, on a Fibonacci spiral over elevations
 * [elevation_min, elevation_max] and azimuths in an arc of cameras.azimuth_span degrees (360:
 * all around; DTU's cap is about 120), vertical field of view cameras.fov.
 * Surface samples are area-weighted on the marching-cubes mesh (sampling.h, seed job.seed) and
 * moved onto f = 0 by Newton steps along ∇f, so the ground truth is the analytic surface.
 */
#ifndef PHIVE_SYNTH_SCENE_H
#define PHIVE_SYNTH_SCENE_H

#include "phive/job.h"

extern const job_type synth_scene_job;

#endif
