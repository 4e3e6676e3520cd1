/* align.c — Umeyama / Procrustes and rigid ICP (see align.h).
 *
 * The 3×3 SVD is LAPACK's dgesvd from OpenBLAS (already linked): robust for
 * rank-deficient covariances (planar clouds), which a hand-rolled Jacobi would
 * have to special-case.
 */
#include "phive/align.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/kdtree.h"

/* Fortran LAPACK (no header ships with Debian's OpenBLAS); the trailing
 * arguments are the hidden lengths of the two character arguments. */
extern void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a, const int *lda,
                    double *s, double *u, const int *ldu, double *vt, const int *ldvt, double *work,
                    const int *lwork, int *info, size_t jobu_len, size_t jobvt_len);

/* ---- small matrix helpers (row-major 3×3) ------------------------------------------------- */

static double det3(const double m[9])
{
    return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}

static void matmul3(const double a[9], const double b[9], double out[9])
{
    double r[9];
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) r[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    memcpy(out, r, sizeof r);
}

static void matvec3(const double m[9], const double v[3], double out[3])
{
    double r[3];
    for (int i = 0; i < 3; ++i) r[i] = m[3 * i] * v[0] + m[3 * i + 1] * v[1] + m[3 * i + 2] * v[2];
    memcpy(out, r, sizeof r);
}

/* A = U·diag(sigma)·Vᵀ for a row-major 3×3 A; U, V row-major. */
static int svd3(const double a[9], double u[9], double sigma[3], double v[9])
{
    double col[9], uc[9], vtc[9], work[64];
    const int three = 3, lwork = 64;
    int info = 0;
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) col[r + 3 * c] = a[3 * r + c]; /* column-major for LAPACK */
    dgesvd_("A", "A", &three, &three, col, &three, sigma, uc, &three, vtc, &three, work, &lwork, &info, 1, 1);
    if (info != 0) return err_set("align: 3x3 SVD failed (dgesvd info %d)", info);
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) {
            u[3 * r + c] = uc[r + 3 * c];
            v[3 * r + c] = vtc[c + 3 * r]; /* V = (Vᵀ)ᵀ */
        }
    return 0;
}

/* ---- transforms ------------------------------------------------------------------------- */

void align_identity(align_transform *T)
{
    memset(T, 0, sizeof *T);
    T->R[0] = T->R[4] = T->R[8] = 1;
    T->s = 1;
}

void align_apply(const align_transform *T, const float *in, size_t n, float *out)
{
    double sr[9];
    for (int k = 0; k < 9; ++k) sr[k] = T->s * T->R[k];
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; ++i) {
        double p[3] = {in[3 * i], in[3 * i + 1], in[3 * i + 2]}, q[3];
        matvec3(sr, p, q);
        for (int a = 0; a < 3; ++a) out[3 * i + a] = (float)(q[a] + T->t[a]);
    }
}

void align_compose(const align_transform *a, const align_transform *b, align_transform *out)
{
    /* a(b(x)) = sa·Ra·(sb·Rb·x + tb) + ta */
    align_transform r;
    matmul3(a->R, b->R, r.R);
    matvec3(a->R, b->t, r.t);
    for (int k = 0; k < 3; ++k) r.t[k] = a->s * r.t[k] + a->t[k];
    r.s = a->s * b->s;
    *out = r;
}

/* ---- Umeyama ---------------------------------------------------------------------------- */

/* Pairs (src[si[k]], dst[di[k]]) with weight w[k]; NULL index arrays mean k,
 * NULL weights mean 1.  The source is float (caller's points) or double (ICP's
 * moved points, kept in double so that its fixed point is not blurred by
 * rounding).  Two passes (means, then centred moments) keep the covariance
 * accurate for clouds far from the origin. */
typedef struct {
    const float *src, *dst;
    const double *src_d; /* used instead of src when not NULL */
    const uint32_t *si, *di;
    const double *w;
    size_t n;
} pair_set;

static void pair_get(const pair_set *p, size_t k, double s[3], double d[3])
{
    size_t i = p->si ? p->si[k] : k, j = p->di ? p->di[k] : k;
    for (int a = 0; a < 3; ++a) {
        s[a] = p->src_d ? p->src_d[3 * i + a] : p->src[3 * i + a];
        d[a] = p->dst[3 * j + a];
    }
}
static double pair_weight(const pair_set *p, size_t k) { return p->w ? p->w[k] : 1.0; }

static int pair_means(const pair_set *p, double mu_src[3], double mu_dst[3], double *total)
{
    double sum = 0, ms[3] = {0, 0, 0}, md[3] = {0, 0, 0};
    for (size_t k = 0; k < p->n; ++k) {
        double w = pair_weight(p, k);
        if (!(w >= 0) || !isfinite(w)) return err_set("align: weight %zu is %g (must be finite and >= 0)", k, w);
        double s[3], d[3];
        pair_get(p, k, s, d);
        for (int a = 0; a < 3; ++a) {
            if (!isfinite(s[a]) || !isfinite(d[a])) return err_set("align: point pair %zu is not finite", k);
            ms[a] += w * s[a], md[a] += w * d[a];
        }
        sum += w;
    }
    if (!(sum > 0)) return err_set("align: total weight of %zu points is zero", p->n);
    for (int a = 0; a < 3; ++a) mu_src[a] = ms[a] / sum, mu_dst[a] = md[a] / sum;
    *total = sum;
    return 0;
}

static int umeyama_pairs(const pair_set *p, int with_scale, align_transform *out)
{
    double mu_s[3], mu_d[3], total = 0, cov[9] = {0}, var_src = 0;
    if (pair_means(p, mu_s, mu_d, &total)) return -1;
    for (size_t k = 0; k < p->n; ++k) {
        double w = pair_weight(p, k);
        double s[3], d[3];
        pair_get(p, k, s, d);
        double xs[3] = {s[0] - mu_s[0], s[1] - mu_s[1], s[2] - mu_s[2]};
        double xd[3] = {d[0] - mu_d[0], d[1] - mu_d[1], d[2] - mu_d[2]};
        for (int r = 0; r < 3; ++r)
            for (int c = 0; c < 3; ++c) cov[3 * r + c] += w * xd[r] * xs[c]; /* Σ_dst,src */
        var_src += w * (xs[0] * xs[0] + xs[1] * xs[1] + xs[2] * xs[2]);
    }
    for (int k = 0; k < 9; ++k) cov[k] /= total;
    var_src /= total;
    double u[9], sigma[3], v[9];
    if (svd3(cov, u, sigma, v)) return -1;
    /* Rank < 2 leaves a rotation about a line free: refuse rather than guess. */
    if (!(sigma[1] > 1e-12 * sigma[0]) || !(sigma[0] > 0))
        return err_set("align: degenerate point sets (collinear or coincident; singular values %g %g %g)", sigma[0],
                       sigma[1], sigma[2]);
    /* Umeyama's S: flip the weakest direction when U·Vᵀ would be a reflection. */
    double d = det3(u) * det3(v) < 0 ? -1 : 1;
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) out->R[3 * r + c] = u[3 * r] * v[3 * c] + u[3 * r + 1] * v[3 * c + 1] + d * u[3 * r + 2] * v[3 * c + 2];
    out->s = with_scale ? (sigma[0] + sigma[1] + d * sigma[2]) / var_src : 1.0;
    if (with_scale && !(out->s > 0)) return err_set("align: estimated scale %g is not positive", out->s);
    double r_mu[3];
    matvec3(out->R, mu_s, r_mu);
    for (int a = 0; a < 3; ++a) out->t[a] = mu_d[a] - out->s * r_mu[a];
    return 0;
}

int align_umeyama(const float *src, const float *dst, const double *weights, size_t n, int with_scale,
                  align_transform *out)
{
    if (!src || !dst || !out) return err_set("align_umeyama: null argument");
    if (n == 0) return err_set("align_umeyama: no points");
    pair_set p = {src, dst, NULL, NULL, NULL, weights, n};
    return umeyama_pairs(&p, with_scale, out);
}

/* ---- ICP -------------------------------------------------------------------------------- */

void icp_options_init(icp_options *o)
{
    o->method = ICP_POINT_TO_POINT;
    o->max_iterations = 30;
    o->relative_rmse = 1e-6;
    o->relative_fitness = 1e-6;
    o->max_correspondence_distance = INFINITY;
}

/* Per-iteration state: the transformed source and its correspondences. */
typedef struct {
    double *moved;      /* source under the current transform */
    float *query;       /* the same in float, for the k-d tree */
    uint32_t *nearest;  /* nearest target point of each moved point */
    uint32_t *pair_src; /* source indices of the kept pairs */
    uint32_t *pair_dst;
    size_t n_pairs;
    double rmse, fitness;
} icp_state;

static void icp_state_free(icp_state *s)
{
    free(s->moved), free(s->query), free(s->nearest), free(s->pair_src), free(s->pair_dst);
}

static int icp_state_alloc(icp_state *s, size_t n)
{
    memset(s, 0, sizeof *s);
    s->moved = malloc(n * 3 * sizeof(double));
    s->query = malloc(n * 3 * sizeof(float));
    s->nearest = malloc(n * sizeof(uint32_t));
    s->pair_src = malloc(n * sizeof(uint32_t));
    s->pair_dst = malloc(n * sizeof(uint32_t));
    if (s->moved && s->query && s->nearest && s->pair_src && s->pair_dst) return 0;
    icp_state_free(s);
    return err_set("icp: out of memory for %zu source points", n);
}

/* Move the source by T, find nearest target points, keep pairs within the
 * distance, and measure RMS distance and fitness as Open3D does.  Distances are
 * recomputed in double from the double moved points. */
static void icp_correspond(const float *source, size_t n, const kdtree *tree, const float *target,
                           const align_transform *T, double max_dist2, icp_state *s)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; ++i) {
        double p[3] = {source[3 * i], source[3 * i + 1], source[3 * i + 2]}, q[3];
        matvec3(T->R, p, q);
        for (int a = 0; a < 3; ++a) {
            s->moved[3 * i + a] = T->s * q[a] + T->t[a];
            s->query[3 * i + a] = (float)s->moved[3 * i + a];
        }
    }
    kdtree_nearest_batch(tree, s->query, n, s->nearest, NULL);
    double sum = 0;
    s->n_pairs = 0;
    for (size_t i = 0; i < n; ++i) {
        const double *p = s->moved + 3 * i;
        const float *q = target + 3 * (size_t)s->nearest[i];
        double d[3] = {p[0] - q[0], p[1] - q[1], p[2] - q[2]}, dist2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        if (dist2 <= max_dist2) {
            s->pair_src[s->n_pairs] = (uint32_t)i;
            s->pair_dst[s->n_pairs++] = s->nearest[i];
            sum += dist2;
        }
    }
    s->rmse = s->n_pairs ? sqrt(sum / (double)s->n_pairs) : 0;
    s->fitness = (double)s->n_pairs / (double)n;
}

/* Solve the symmetric 6×6 system A x = b by Gaussian elimination with partial
 * pivoting; fails when A is (numerically) singular. */
static int solve6(double a[6][6], double b[6], double x[6])
{
    double scale = 0;
    for (int r = 0; r < 6; ++r) scale = fmax(scale, fabs(a[r][r]));
    for (int c = 0; c < 6; ++c) {
        int piv = c;
        for (int r = c + 1; r < 6; ++r)
            if (fabs(a[r][c]) > fabs(a[piv][c])) piv = r;
        if (!(fabs(a[piv][c]) > 1e-12 * scale)) return -1;
        if (piv != c) {
            for (int k = 0; k < 6; ++k) {
                double t = a[c][k];
                a[c][k] = a[piv][k], a[piv][k] = t;
            }
            double t = b[c];
            b[c] = b[piv], b[piv] = t;
        }
        for (int r = c + 1; r < 6; ++r) {
            double f = a[r][c] / a[c][c];
            for (int k = c; k < 6; ++k) a[r][k] -= f * a[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int r = 5; r >= 0; --r) {
        double sum = b[r];
        for (int k = r + 1; k < 6; ++k) sum -= a[r][k] * x[k];
        x[r] = sum / a[r][r];
    }
    return 0;
}

/* Rz(γ)·Ry(β)·Rx(α): Open3D's TransformVector6dToMatrix4d. */
static void euler_zyx(double alpha, double beta, double gamma, double R[9])
{
    double ca = cos(alpha), sa = sin(alpha), cb = cos(beta), sb = sin(beta), cg = cos(gamma), sg = sin(gamma);
    const double rx[9] = {1, 0, 0, 0, ca, -sa, 0, sa, ca};
    const double ry[9] = {cb, 0, sb, 0, 1, 0, -sb, 0, cb};
    const double rz[9] = {cg, -sg, 0, sg, cg, 0, 0, 0, 1};
    double zy[9];
    matmul3(rz, ry, zy);
    matmul3(zy, rx, R);
}

/* One Gauss-Newton step of Σ ((p + ω×p + t − q)·n)² over x = (ω, t): residual
 * r = (p − q)·n, Jacobian [p×n, n]. */
static int point_to_plane_step(const icp_state *s, const float *target, const float *normals, align_transform *update)
{
    double jtj[6][6] = {{0}}, jtr[6] = {0}, x[6];
    for (size_t k = 0; k < s->n_pairs; ++k) {
        const double *p = s->moved + 3 * s->pair_src[k];
        const float *q = target + 3 * s->pair_dst[k], *n = normals + 3 * s->pair_dst[k];
        double j[6] = {p[1] * n[2] - p[2] * n[1], p[2] * n[0] - p[0] * n[2], p[0] * n[1] - p[1] * n[0], n[0], n[1], n[2]};
        double r = (p[0] - q[0]) * n[0] + (p[1] - q[1]) * n[1] + (p[2] - q[2]) * n[2];
        for (int a = 0; a < 6; ++a) {
            for (int b = a; b < 6; ++b) jtj[a][b] += j[a] * j[b];
            jtr[a] -= j[a] * r;
        }
    }
    for (int a = 0; a < 6; ++a)
        for (int b = 0; b < a; ++b) jtj[a][b] = jtj[b][a];
    if (solve6(jtj, jtr, x))
        return err_set("icp: point-to-plane system is singular (%zu pairs constrain fewer than 6 degrees of freedom)",
                       s->n_pairs);
    align_identity(update);
    euler_zyx(x[0], x[1], x[2], update->R);
    for (int a = 0; a < 3; ++a) update->t[a] = x[3 + a];
    return 0;
}

static int icp_check(const float *source, size_t n_source, const float *target, const float *target_normals,
                     size_t n_target, const icp_options *o)
{
    if (!source || !target || !o) return err_set("icp: null argument");
    if (n_source == 0 || n_target == 0) return err_set("icp: empty cloud (%zu source, %zu target points)", n_source, n_target);
    if (n_source >= UINT32_MAX) return err_set("icp: %zu source points exceed 32-bit indices", n_source);
    if (o->method != ICP_POINT_TO_POINT && o->method != ICP_POINT_TO_PLANE)
        return err_set("icp: unknown method %d", (int)o->method);
    if (o->method == ICP_POINT_TO_PLANE && !target_normals) return err_set("icp: point-to-plane needs target normals");
    if (o->max_iterations < 0) return err_set("icp: max_iterations %d is negative", o->max_iterations);
    if (!(o->relative_rmse >= 0) || !(o->relative_fitness >= 0))
        return err_set("icp: tolerances must be >= 0 (relative_rmse %g, relative_fitness %g)", o->relative_rmse,
                       o->relative_fitness);
    if (isnan(o->max_correspondence_distance)) return err_set("icp: max_correspondence_distance is NaN");
    return 0;
}

static int icp_iterate(const float *source, size_t n_source, const kdtree *tree, const float *target,
                       const float *normals, const icp_options *o, double max_dist2, icp_state *s, icp_result *out)
{
    icp_correspond(source, n_source, tree, target, &out->transform, max_dist2, s);
    for (int it = 0; it < o->max_iterations; ++it) {
        if (s->n_pairs == 0) return err_set("icp: no correspondence within %g", o->max_correspondence_distance);
        align_transform update;
        if (o->method == ICP_POINT_TO_POINT) {
            pair_set p = {NULL, target, s->moved, s->pair_src, s->pair_dst, NULL, s->n_pairs};
            if (umeyama_pairs(&p, 0, &update)) return err_context("icp iteration %d", it + 1);
        } else if (point_to_plane_step(s, target, normals, &update)) {
            return err_context("icp iteration %d", it + 1);
        }
        align_compose(&update, &out->transform, &out->transform);
        double rmse_before = s->rmse, fitness_before = s->fitness;
        icp_correspond(source, n_source, tree, target, &out->transform, max_dist2, s);
        out->iterations = it + 1;
        if (fabs(s->rmse - rmse_before) <= o->relative_rmse * rmse_before &&
            fabs(s->fitness - fitness_before) <= o->relative_fitness * fitness_before) {
            out->converged = 1;
            break;
        }
    }
    if (s->n_pairs == 0) return err_set("icp: no correspondence within %g", o->max_correspondence_distance);
    out->rmse = s->rmse;
    out->fitness = s->fitness;
    out->correspondences = s->n_pairs;
    return 0;
}

int icp_align(const float *source, size_t n_source, const float *target, const float *target_normals,
              size_t n_target, const align_transform *init, const icp_options *o, icp_result *out)
{
    if (!out || icp_check(source, n_source, target, target_normals, n_target, o)) return -1;
    memset(out, 0, sizeof *out);
    if (init && init->s != 1) return err_set("icp: the initial transform must be rigid (scale %g, not 1)", init->s);
    if (init) {
        out->transform = *init;
    } else {
        align_identity(&out->transform);
    }
    double d = o->max_correspondence_distance;
    double max_dist2 = d > 0 && isfinite(d) ? d * d : INFINITY;
    kdtree *tree = kdtree_build(target, n_target);
    if (!tree) return err_context("icp: target");
    icp_state s;
    if (icp_state_alloc(&s, n_source)) return kdtree_free(tree), -1;
    int status = icp_iterate(source, n_source, tree, target, target_normals, o, max_dist2, &s, out);
    icp_state_free(&s);
    kdtree_free(tree);
    return status;
}
