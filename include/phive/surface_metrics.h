/* surface_metrics.h — reconstruction quality metrics (geom module).
 *
 * Point clouds are float xyz triples (n × 3); nearest neighbours are exact
 * (phive/kdtree.h) and distances are accumulated in double.  Results are
 * deterministic: per-point values are summed in index order, whatever the
 * number of OpenMP threads.  All functions return 0, or -1 with err_set()
 * (empty or non-finite input, bad sizes or parameters); outputs are written
 * only on success.  REFERENCE.md "Evaluation" and "Evaluation protocols" say
 * which paper uses which convention; validation/reference/chamfer_reference.py
 * recomputes both Chamfer conventions independently.
 */
#ifndef PHIVE_SURFACE_METRICS_H
#define PHIVE_SURFACE_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Squared distance from each query point to its nearest point of target. */
int nn_dist2(const float *target, size_t n_target, const float *query, size_t n_query, double *dist2);

/* ---- Chamfer ------------------------------------------------------------- */

/* PyTorch3D's chamfer_distance (ϕ-SfT and successors, in m²; papers print ×1e4):
 * squared NN distances, mean per direction, the two directions summed. */
typedef struct {
    double x_to_y;  /* mean over x of min_y |x − y|² */
    double y_to_x;  /* mean over y of min_x |y − x|² */
    double chamfer; /* x_to_y + y_to_x */
} chamfer_pytorch3d_result;

int chamfer_pytorch3d(const float *x, size_t n_x, const float *y, size_t n_y, chamfer_pytorch3d_result *out);

/* DTU / EPFL convention (DTUeval-python, NeuralWarp): unsquared NN distances;
 * each direction is the mean over its distances strictly below max_dist
 * (DTU 20 mm, EPFL 0.8; INFINITY = no cut).
 *   accuracy      queries: pred points with pred_query[i] != 0 (NULL = all,
 *                 DTU: inside ObsMask), nearest in all of gt
 *   completeness  queries: gt points with gt_query[j] != 0 (NULL = all,
 *                 DTU: above the plane), nearest in all of pred
 * A direction with no distance below max_dist has mean NaN (as numpy's mean
 * of an empty selection) and its count is 0; the call still succeeds. */
typedef struct {
    double accuracy;       /* mm for DTU */
    double completeness;
    double overall;        /* (accuracy + completeness) / 2 */
    size_t n_accuracy;     /* query distances that entered each mean */
    size_t n_completeness;
} chamfer_dtu_result;

int chamfer_dtu(const float *pred, size_t n_pred, const uint8_t *pred_query, const float *gt, size_t n_gt,
                const uint8_t *gt_query, double max_dist, chamfer_dtu_result *out);

/* ---- normals --------------------------------------------------------------- */

/* Mean angle in degrees between corresponding vectors a[i] and b[i] (vertex
 * normals of two meshes with the same connectivity; ϕ-SfT's synthetic
 * evaluation).  Vectors need not be unit length but must be non-zero;
 * angles are in [0, 180] (atan2 form: accurate for small angles). */
int normal_angle_mean_deg(const float *a, const float *b, size_t n, double *mean_deg);

/* Normal consistency of two oriented clouds: for each point its nearest
 * neighbour in the other cloud, |cos| of the angle between their normals
 * (orientation-agnostic), mean per direction; `mean` averages the two
 * directions (Occupancy Networks convention).  Normals must be non-zero. */
typedef struct {
    double x_to_y, y_to_x, mean;
} normal_consistency_result;

int normal_consistency(const float *x, const float *normals_x, size_t n_x, const float *y, const float *normals_y,
                       size_t n_y, normal_consistency_result *out);

/* ---- images ---------------------------------------------------------------- */

/* PSNR in dB between images a and b of n_pixels × channels floats, channels
 * interleaved (pixel p, channel c at [p·channels + c]): 10 log10(max_value² /
 * MSE), the MSE over all channels of the pixels with mask[p] != 0 (mask:
 * n_pixels flags, NULL = all).
 * Identical images give +INFINITY.  Fails when the mask selects no pixel. */
int image_psnr(const float *a, const float *b, size_t n_pixels, int channels, const uint8_t *mask, double max_value,
               double *psnr);

/* Intersection over union of two binary masks (nonzero = inside).  Two empty
 * masks are identical: IoU 1. */
int mask_iou(const uint8_t *a, const uint8_t *b, size_t n, double *iou);

#endif
