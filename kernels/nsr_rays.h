/* nsr_rays.h — per-ray camera math of the NeuS data sets (CPU loops and CUDA kernels).
 *
 * A camera is packed into NSR_CAM_SIZE reals (see nsr_camera_pack in
 * phive/nsr_data.h), so that all views of a data set upload as one array:
 *   fx, fy, cx, cy, skew     K = [[fx, skew, cx], [0, fy, cy], [0, 0, 1]]
 *   rot[9]                   camera-to-world rotation Rᵀ, row-major
 *   centre[3]                camera centre, the origin of every ray
 *
 * Pixel coordinates follow NeuS: the centre of pixel (x, y) is at the
 * integer coordinates (x, y) (OpenCV's convention), so the ray of a pixel
 * goes through K⁻¹[x, y, 1].  Non-integer coordinates are accepted (the ray
 * through that point of the image plane).
 *
 * Valid C and C++ (nvcc): no VLAs, no restrict outside PHIVE_RESTRICT.
 */
#ifndef PHIVE_KERNELS_NSR_RAYS_H
#define PHIVE_KERNELS_NSR_RAYS_H

#include "common.h"

enum {
    NSR_CAM_FX = 0,
    NSR_CAM_FY = 1,
    NSR_CAM_CX = 2,
    NSR_CAM_CY = 3,
    NSR_CAM_SKEW = 4,
    NSR_CAM_ROT = 5,
    NSR_CAM_CENTRE = 14,
    NSR_CAM_SIZE = 17
};

/* K⁻¹[px, py, 1] by back-substitution through the upper-triangular K (skew
 * included); better conditioned in float than a stored K⁻¹, whose entries
 * span ten orders of magnitude for DTU. */
PHIVE_HD void nsr_ray_camera_dir(const real *PHIVE_RESTRICT cam, real px, real py, real *PHIVE_RESTRICT v)
{
    real y = (py - cam[NSR_CAM_CY]) / cam[NSR_CAM_FY];
    v[0] = (px - cam[NSR_CAM_CX] - cam[NSR_CAM_SKEW] * y) / cam[NSR_CAM_FX];
    v[1] = y;
    v[2] = 1;
}

/* Unit world direction of the ray through pixel (px, py): R_c2w · normalize(K⁻¹[px, py, 1]), as NeuS. */
PHIVE_HD void nsr_ray_direction(const real *PHIVE_RESTRICT cam, real px, real py, real *PHIVE_RESTRICT d)
{
    real v[3];
    nsr_ray_camera_dir(cam, px, py, v);
    real inv = 1 / REAL_SQRT(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    const real *r = cam + NSR_CAM_ROT;
    for (int a = 0; a < 3; ++a) d[a] = (r[3 * a] * v[0] + r[3 * a + 1] * v[1] + r[3 * a + 2] * v[2]) * inv;
}

/* NeuS near_far_from_sphere: the ray parameters of the closest approach to
 * the origin ± 1, mid = −(o·d)/|d|²; the interval covers the unit sphere's
 * chord whenever the ray meets the sphere. */
PHIVE_HD void nsr_ray_near_far(const real *PHIVE_RESTRICT o, const real *PHIVE_RESTRICT d, real *near, real *far)
{
    real od = o[0] * d[0] + o[1] * d[1] + o[2] * d[2];
    real dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    real mid = -od / dd;
    *near = mid - 1;
    *far = mid + 1;
}

/* Origin, unit direction and near/far of the ray through pixel (px, py). */
PHIVE_HD void nsr_ray_generate(const real *PHIVE_RESTRICT cam, real px, real py, real *PHIVE_RESTRICT o,
                               real *PHIVE_RESTRICT d, real *near, real *far)
{
    o[0] = cam[NSR_CAM_CENTRE];
    o[1] = cam[NSR_CAM_CENTRE + 1];
    o[2] = cam[NSR_CAM_CENTRE + 2];
    nsr_ray_direction(cam, px, py, d);
    nsr_ray_near_far(o, d, near, far);
}

/* A pixel drawn uniformly from a width × height image by two uniforms in
 * [0, 1) (as NeuS's torch.randint for x and y); the clamp guards against
 * u·n rounding up to n. */
PHIVE_HD void nsr_ray_pixel_from_uniform(double u0, double u1, int width, int height, int *x, int *y)
{
    int px = (int)(u0 * (double)width), py = (int)(u1 * (double)height);
    *x = px < width ? px : width - 1;
    *y = py < height ? py : height - 1;
}

#endif
