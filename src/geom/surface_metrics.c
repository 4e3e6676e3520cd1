/* surface_metrics.c — Chamfer (PyTorch3D and DTU), normal angles and
 * consistency, PSNR, mask IoU (contract in phive/surface_metrics.h). */
#include "phive/surface_metrics.h"

#include <math.h>
#include <stdlib.h>

#include "phive/errors.h"
#include "phive/kdtree.h"

/* ---- nearest neighbours ---------------------------------------------------- */

static int check_cloud(const char *what, const float *p, size_t n)
{
    if (!p || n == 0) return err_set("%s is empty", what);
    for (size_t i = 0; i < 3 * n; ++i)
        if (!isfinite(p[i])) return err_set("%s: point %zu has a non-finite coordinate", what, i / 3);
    return 0;
}

/* NN of every query in target: squared distance and (if index) its index. */
static int nearest_in(const char *what, const float *target, size_t n_target, const float *query, size_t n_query,
                      uint32_t *index, double *dist2)
{
    kdtree *tree = kdtree_build(target, n_target);
    if (!tree) return err_context("%s", what);
    kdtree_nearest_batch(tree, query, n_query, index, dist2);
    kdtree_free(tree);
    return 0;
}

int nn_dist2(const float *target, size_t n_target, const float *query, size_t n_query, double *dist2)
{
    if (check_cloud("nn_dist2: target", target, n_target) || check_cloud("nn_dist2: query", query, n_query)) return -1;
    return nearest_in("nn_dist2", target, n_target, query, n_query, NULL, dist2);
}

/* Sequential sum: the same result for any thread count. */
static double sum_in_order(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += v[i];
    return s;
}

/* ---- Chamfer --------------------------------------------------------------- */

int chamfer_pytorch3d(const float *x, size_t n_x, const float *y, size_t n_y, chamfer_pytorch3d_result *out)
{
    if (check_cloud("chamfer_pytorch3d: x", x, n_x) || check_cloud("chamfer_pytorch3d: y", y, n_y)) return -1;
    double *dist2 = malloc(sizeof(double) * (n_x > n_y ? n_x : n_y));
    if (!dist2) return err_set("chamfer_pytorch3d: out of memory");
    chamfer_pytorch3d_result r;
    int status = nearest_in("chamfer_pytorch3d: y", y, n_y, x, n_x, NULL, dist2);
    if (status == 0) {
        r.x_to_y = sum_in_order(dist2, n_x) / (double)n_x;
        status = nearest_in("chamfer_pytorch3d: x", x, n_x, y, n_y, NULL, dist2);
    }
    if (status == 0) {
        r.y_to_x = sum_in_order(dist2, n_y) / (double)n_y;
        r.chamfer = r.x_to_y + r.y_to_x;
        *out = r;
    }
    free(dist2);
    return status;
}

/* Mean of sqrt(dist2[i]) over selected queries whose distance is < max_dist
 * (NaN when none); *count gets how many entered the mean. */
static double mean_below(const double *dist2, const uint8_t *selected, size_t n, double max_dist, size_t *count)
{
    double sum = 0;
    size_t used = 0;
    for (size_t i = 0; i < n; ++i) {
        if (selected && !selected[i]) continue;
        double d = sqrt(dist2[i]);
        if (d < max_dist) sum += d, ++used;
    }
    *count = used;
    return used ? sum / (double)used : NAN;
}

int chamfer_dtu(const float *pred, size_t n_pred, const uint8_t *pred_query, const float *gt, size_t n_gt,
                const uint8_t *gt_query, double max_dist, chamfer_dtu_result *out)
{
    if (!(max_dist > 0) || isnan(max_dist)) return err_set("chamfer_dtu: max_dist %g must be > 0", max_dist);
    if (check_cloud("chamfer_dtu: pred", pred, n_pred) || check_cloud("chamfer_dtu: gt", gt, n_gt)) return -1;
    double *dist2 = malloc(sizeof(double) * (n_pred > n_gt ? n_pred : n_gt));
    if (!dist2) return err_set("chamfer_dtu: out of memory");
    chamfer_dtu_result r;
    int status = nearest_in("chamfer_dtu: gt", gt, n_gt, pred, n_pred, NULL, dist2);
    if (status == 0) {
        r.accuracy = mean_below(dist2, pred_query, n_pred, max_dist, &r.n_accuracy);
        status = nearest_in("chamfer_dtu: pred", pred, n_pred, gt, n_gt, NULL, dist2);
    }
    if (status == 0) {
        r.completeness = mean_below(dist2, gt_query, n_gt, max_dist, &r.n_completeness);
        r.overall = 0.5 * (r.accuracy + r.completeness);
        *out = r;
    }
    free(dist2);
    return status;
}

/* ---- normals --------------------------------------------------------------- */

/* Angle between a and b in radians, atan2(|a×b|, a·b): well conditioned near
 * 0 and π, unlike acos of the normalised dot product.  -1 for a zero or
 * non-finite vector. */
static double vector_angle(const float *a, const float *b)
{
    double ax = a[0], ay = a[1], az = a[2], bx = b[0], by = b[1], bz = b[2];
    double na = ax * ax + ay * ay + az * az, nb = bx * bx + by * by + bz * bz;
    if (!(na > 0) || !(nb > 0) || !isfinite(na) || !isfinite(nb)) return -1;
    double cx = ay * bz - az * by, cy = az * bx - ax * bz, cz = ax * by - ay * bx;
    return atan2(sqrt(cx * cx + cy * cy + cz * cz), ax * bx + ay * by + az * bz);
}

int normal_angle_mean_deg(const float *a, const float *b, size_t n, double *mean_deg)
{
    if (!a || !b || n == 0) return err_set("normal_angle_mean_deg: no normals");
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
        double angle = vector_angle(a + 3 * i, b + 3 * i);
        if (angle < 0) return err_set("normal_angle_mean_deg: normal %zu is zero or non-finite", i);
        sum += angle;
    }
    *mean_deg = sum / (double)n * (180.0 / M_PI);
    return 0;
}

/* |cos| between normals; -1 for a zero or non-finite normal. */
static double abs_cosine(const float *a, const float *b)
{
    double na = (double)a[0] * a[0] + (double)a[1] * a[1] + (double)a[2] * a[2];
    double nb = (double)b[0] * b[0] + (double)b[1] * b[1] + (double)b[2] * b[2];
    if (!(na > 0) || !(nb > 0) || !isfinite(na) || !isfinite(nb)) return -1;
    double dot = (double)a[0] * b[0] + (double)a[1] * b[1] + (double)a[2] * b[2];
    double c = fabs(dot) / sqrt(na * nb);
    return c < 1 ? c : 1;
}

/* Mean over queries of |cos(normal, normal of its NN in target)|. */
static int consistency_direction(const char *what, const float *target, const float *target_normals, size_t n_target,
                                 const float *query, const float *query_normals, size_t n_query, double *mean)
{
    uint32_t *index = malloc(sizeof(uint32_t) * n_query);
    if (!index) return err_set("normal_consistency: out of memory");
    if (nearest_in(what, target, n_target, query, n_query, index, NULL)) {
        free(index);
        return -1;
    }
    double sum = 0;
    for (size_t i = 0; i < n_query; ++i) {
        double c = abs_cosine(query_normals + 3 * i, target_normals + 3 * (size_t)index[i]);
        if (c < 0) {
            err_set("normal_consistency: a zero or non-finite normal (query %zu or its neighbour %u)", i, index[i]);
            free(index);
            return -1;
        }
        sum += c;
    }
    free(index);
    *mean = sum / (double)n_query;
    return 0;
}

int normal_consistency(const float *x, const float *normals_x, size_t n_x, const float *y, const float *normals_y,
                       size_t n_y, normal_consistency_result *out)
{
    if (check_cloud("normal_consistency: x", x, n_x) || check_cloud("normal_consistency: y", y, n_y)) return -1;
    if (!normals_x || !normals_y) return err_set("normal_consistency: missing normals");
    normal_consistency_result r;
    if (consistency_direction("normal_consistency: y", y, normals_y, n_y, x, normals_x, n_x, &r.x_to_y) ||
        consistency_direction("normal_consistency: x", x, normals_x, n_x, y, normals_y, n_y, &r.y_to_x))
        return -1;
    r.mean = 0.5 * (r.x_to_y + r.y_to_x);
    *out = r;
    return 0;
}

/* ---- images ---------------------------------------------------------------- */

int image_psnr(const float *a, const float *b, size_t n_pixels, int channels, const uint8_t *mask, double max_value,
               double *psnr)
{
    if (!a || !b || n_pixels == 0 || channels < 1) return err_set("image_psnr: empty image");
    if (!(max_value > 0) || !isfinite(max_value)) return err_set("image_psnr: max_value %g must be > 0", max_value);
    double sum_sq = 0;
    size_t count = 0;
    for (size_t p = 0; p < n_pixels; ++p) {
        if (mask && !mask[p]) continue;
        for (int c = 0; c < channels; ++c) {
            double d = (double)a[p * channels + c] - b[p * channels + c];
            sum_sq += d * d;
        }
        count += (size_t)channels;
    }
    if (count == 0) return err_set("image_psnr: the mask selects no pixel");
    if (!isfinite(sum_sq)) return err_set("image_psnr: non-finite pixel values");
    double mse = sum_sq / (double)count;
    *psnr = mse > 0 ? 10.0 * log10(max_value * max_value / mse) : INFINITY;
    return 0;
}

int mask_iou(const uint8_t *a, const uint8_t *b, size_t n, double *iou)
{
    if (!a || !b || n == 0) return err_set("mask_iou: empty mask");
    size_t inter = 0, uni = 0;
    for (size_t i = 0; i < n; ++i) {
        int in_a = a[i] != 0, in_b = b[i] != 0;
        inter += (size_t)(in_a & in_b);
        uni += (size_t)(in_a | in_b);
    }
    *iou = uni ? (double)inter / (double)uni : 1.0;
    return 0;
}
