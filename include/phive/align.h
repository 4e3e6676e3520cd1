/* align.h — similarity and rigid alignment of point sets (geom module).
 *
 * A transform maps x to s·R·x + t (R a proper rotation, det +1, row-major).
 * Points are float xyz triples like mesh positions; all arithmetic is double.
 *
 * align_umeyama: closed-form least squares (Umeyama 1991, the Procrustes
 * problem with known correspondences) over rotations, translation and,
 * optionally, a scale; with optional non-negative weights.  When the best
 * orthogonal map would be a reflection (mirrored or noisy near-planar data)
 * the closest proper rotation is returned, never a reflection.
 *
 * icp_align: rigid iterative closest point, source onto target, with
 * exact nearest neighbours (kdtree.h).  Each iteration pairs every
 * transformed source point with its nearest target point, drops pairs
 * farther apart than max_correspondence_distance, and re-estimates the
 * transform: point-to-point (Umeyama without scale) or point-to-plane
 * (Gauss-Newton step on Σ((R p + t − q)·n_q)², rotation linearised as
 * Rz(γ)·Ry(β)·Rx(α), as Open3D does).  It stops when both the RMS distance and
 * the fitness change by at most their relative tolerances from one iteration
 * to the next, or after max_iterations updates.  Open3D's criteria are
 * absolute differences; the fixed point is the same.
 */
#ifndef PHIVE_ALIGN_H
#define PHIVE_ALIGN_H

#include <stddef.h>

typedef struct {
    double R[9]; /* row-major rotation, det +1 */
    double t[3];
    double s; /* scale (1 for rigid transforms) */
} align_transform;

void align_identity(align_transform *T);
/* out[i] = s·R·in[i] + t for n points; in and out may be the same array. */
void align_apply(const align_transform *T, const float *in, size_t n, float *out);
/* out = a ∘ b, i.e. x ↦ a(b(x)); out may alias a or b. */
void align_compose(const align_transform *a, const align_transform *b, align_transform *out);

/* Minimise Σ wᵢ‖dstᵢ − (s·R·srcᵢ + t)‖² (weights NULL: all 1); with_scale = 0
 * fixes s = 1.  Fails (err_set) on non-finite input, negative weights, a zero
 * total weight, or source/destination points that do not span a plane
 * (fewer than 3 non-collinear points with positive weight: R undetermined). */
int align_umeyama(const float *src, const float *dst, const double *weights, size_t n, int with_scale,
                  align_transform *out);

typedef enum { ICP_POINT_TO_POINT = 0, ICP_POINT_TO_PLANE = 1 } icp_method;

typedef struct {
    icp_method method;                  /* default ICP_POINT_TO_POINT */
    int max_iterations;                 /* transform updates at most (default 30, Open3D's) */
    double relative_rmse;               /* stop when |Δrmse| ≤ this·rmse (default 1e-6) ... */
    double relative_fitness;            /* ... and |Δfitness| ≤ this·fitness (default 1e-6) */
    double max_correspondence_distance; /* farther pairs are dropped; ≤ 0 or INFINITY: none
                                           (default INFINITY) */
} icp_options;

typedef struct {
    align_transform transform; /* source → target, s = 1 */
    double rmse;               /* RMS distance of the final transform's correspondences */
    double fitness;            /* their count / source points */
    size_t correspondences;
    int iterations; /* updates made */
    int converged;  /* 1: stopped by the tolerances; 0: max_iterations reached */
} icp_result;

void icp_options_init(icp_options *o);

/* Align source (n_source points) onto target (n_target points), starting from
 * init (rigid, s = 1; NULL: identity).  target_normals (unit, n_target × 3) are required for
 * point-to-plane and ignored otherwise.  Fails (err_set) on bad options, empty
 * clouds, no correspondence within the distance, or a degenerate estimation
 * (point-to-plane: the paired normals constrain fewer than 6 degrees of
 * freedom). */
int icp_align(const float *source, size_t n_source, const float *target, const float *target_normals,
              size_t n_target, const align_transform *init, const icp_options *o, icp_result *out);

#endif
