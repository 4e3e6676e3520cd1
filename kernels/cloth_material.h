/* cloth_material.h — per-element math of the Wang et al. 2011 cloth material
 * as ARCSim 0.3.1 evaluates it (dde.cpp, physics.cpp), with derivatives.
 * The data layout and the file format are in include/phive/cloth_material.h.
 *
 * Arrays are flat and row-major: rows[r·4 + i] (stretching), bend[a·5 + c]
 * (bending), G = (G00, G11, G01), positions x[3·v + axis].  Jacobian outputs
 * (dk_dG, dk_drows, …) are written; *_backward functions accumulate (+=),
 * the shared parameter gradients (grad_rows, grad_bend) through
 * PHIVE_ATOMIC_ADD.  A NULL output is skipped.
 *
 * Stretching (ARCSim evaluate_stretching_sample / stretching_stiffness)
 *   ARCSim takes the principal direction from its closed-form 2×2
 *   eigen-decomposition of C = 2G + I (vectors.cpp): V = (l1 − C11, C01)
 *   when C01 ≠ 0, else (1, 0) if C00 ≥ C11 and (0, 1) otherwise; V_x ≥ 0, so
 *   α = |atan2(V_y, V_x)|·8/π lies in [0, 4].  The same angle in closed form
 *   is α = (4/π)·atan2(2|G01|, G00 − G11) (tan 2φ = 2C01/(C00 − C11)), which
 *   is what we evaluate: it has no cancellation in l1 − C11 and reproduces
 *   both branches at C01 = 0 exactly, including the isotropic point
 *   G00 = G11, G01 = 0, where every direction is principal and ARCSim picks
 *   (1, 0): α = atan2(0, 0) = 0.  λ² = 1 + G00 + G11 + √((G00 − G11)² + 4G01²).
 *   ARCSim rounds the angle through float (atan2f, fabsf); we keep `double`.
 *   Where λ² ≤ 1 (no stretch, or a G no deformation produces) s = 0; s is
 *   evaluated as 6(λ² − 1)/(λ + 1), which keeps small strains accurate.
 * Derivatives at the non-smooth points (a choice, documented):
 *   - clamps (s, α, table coordinates, ReLU k = 2·max(raw, 0), bending ke
 *     and v): zero on the clamped side; the unclamped side's value exactly
 *     at the clamp value (raw = 0 counts as clamped);
 *   - α at G01 = 0 (a kink of |G01|, and a jump at the isotropic point
 *     G00 = G11, G01 = 0): ∂α/∂G = 0, the average of the one-sided values;
 *     λ² at the isotropic point (a kink of √((G00 − G11)² + 4G01²)):
 *     ∂λ²/∂G = (1, 1, 0), likewise the average;
 *   - cell boundaries of the bilinear/trilinear interpolation: the cell
 *     ARCSim's integer truncation selects (the upper one).
 *
 * Element forces (ARCSim physics.cpp; k and ke are held constant, as there)
 *   Stretching, per face (x0, x1, x2) with Dm = [u1 − u0, u2 − u0] from the
 *   material coordinates and F = [x1 − x0, x2 − x0]·Dm⁻¹ = [f_u f_v]:
 *     E = A·(½k0·G00² + k1·G00·G11 + ½k2·G11² + k3·G01²).
 *   The shear term is k3·G01², not ½k3·G01²: that is the energy whose
 *   gradient is ARCSim's stretching_force (grad += 2·k3·G01·∂G01/∂x, and the
 *   differentiable ARCSim's k3·G01·(Duᵀx_v + Dvᵀx_u) is the same); ARCSim's
 *   stretching_energy() reports ½k3·G01², inconsistent with its own force.
 *   Hessian, as ARCSim's (Gauss–Newton-like): the exact Hessian of E with
 *   G00, G11 replaced by max(G, 0) where they multiply ∂²G, and the
 *   k3·G01·(DuᵀDv + DvᵀDu) term dropped:
 *     H/A = k0(g_u g_uᵀ + G00⁺ DuᵀDu) + k2(g_v g_vᵀ + G11⁺ DvᵀDv)
 *         + k1(g_u g_vᵀ + g_v g_uᵀ + G00⁺ DvᵀDv + G11⁺ DuᵀDu) + 2k3 g_uv g_uvᵀ
 *   with g_u = ∂G00/∂x, g_v = ∂G11/∂x, g_uv = ∂G01/∂x, (DuᵀDu) between
 *   vertices i, j = D_iu·D_ju·I₃.  ARCSim's force is −grad, its Jacobian −H.
 *   Bending, per interior edge x0–x1 with faces (x0, x1, x2) and (x1, x0, x3):
 *     θ = atan2(ê·(n0 × n1), n0·n1), ê = (x0 − x1)/|x0 − x1| (positive when the
 *     wings fold towards the normals' side), E = ke·l²/(8A)·(θ − θ̄)², A = A0 + A1;
 *   gradient ke·l²/(4A)·(θ − θ̄)·∂θ/∂x and Hessian ke·l²/(4A)·∂θ/∂x ∂θ/∂xᵀ,
 *   with ARCSim's ∂θ/∂x (n_f/h_f at the wing tips; edge vertices by the
 *   barycentric weights of the tips' projections), whose heights h_f are
 *   floored at 1e-3·|x1 − x0| as in ARCSim (exact otherwise).  l and A are
 *   inputs held constant: the rest edge length and rest areas per
 *   REFERENCE.md and the differentiable ARCSim (ARCSim 0.3.1's physics.cpp
 *   uses the current edge length |x1 − x0| in both the curvature and l²).
 *   A degenerate hinge (zero edge or zero-area face) has θ = 0 and no force.
 *
 * Valid C and C++ (nvcc): no VLAs, no compound literals.
 */
#ifndef PHIVE_KERNELS_CLOTH_MATERIAL_H
#define PHIVE_KERNELS_CLOTH_MATERIAL_H

#include <stddef.h>

#include "common.h"
#include "phive/cloth_material.h"

#define CLOTH_PI 3.14159265358979323846
/* ARCSim's clamps: strain level, angle coordinate, table grid coordinate. */
#define CLOTH_STRAIN_MAX ((1 - 1e-6))
#define CLOTH_ANGLE_MAX ((4 - 1e-6))
#define CLOTH_TABLE_COORD_MAX (CLOTH_TABLE_N - 1 - 1e-5)

/* ------------------------------------------------------------------ stretching stiffness */

/* Which file row holds d[level][angle]. */
PHIVE_HD int cloth_stretch_row(int level, int angle) { return level == 0 ? 0 : 1 + angle; }

/* Strain level s and angle coordinate α at G, and ∂s/∂G, ∂α/∂G (3 each). */
PHIVE_HD void cloth_stretch_coords(const double *G, double *s, double *alpha, double *ds_dG, double *dalpha_dG)
{
    const double g00 = G[0], g11 = G[1], g01 = G[2];
    const double sg = (double)((g01 > 0) - (g01 < 0));
    const double x = g00 - g11, y = 2 * fabs(g01);
    const double r = sqrt(x * x + y * y);
    const int smooth = r * r > 0;
    const double t = g00 + g11 + r; /* λ² − 1, without rounding 1 + t first */
    double sv = 0, ds0 = 0, ds1 = 0, ds2 = 0;
    if (t >= 0) {
        const double lam = sqrt(1 + t);
        sv = 6 * t / (1 + lam); /* 6(λ − 1) */
        if (sv > CLOTH_STRAIN_MAX) {
            sv = CLOTH_STRAIN_MAX;
        } else {
            const double c = 3 / lam; /* ds/dλ² */
            const double ux = smooth ? x / r : (double)0, uy = smooth ? 4 * g01 / r : (double)0;
            ds0 = c * (1 + ux);
            ds1 = c * (1 - ux);
            ds2 = c * uy;
        }
    }
    double av = (4 / CLOTH_PI) * atan2(y, x), da0 = 0, da1 = 0, da2 = 0;
    if (av > CLOTH_ANGLE_MAX) {
        av = CLOTH_ANGLE_MAX;
    } else if (smooth) {
        const double q = (4 / CLOTH_PI) / (r * r);
        da0 = -q * y;
        da1 = q * y;
        da2 = 2 * q * x * sg;
    }
    *s = sv;
    *alpha = av;
    if (ds_dG) ds_dG[0] = ds0, ds_dG[1] = ds1, ds_dG[2] = ds2;
    if (dalpha_dG) dalpha_dG[0] = da0, dalpha_dG[1] = da1, dalpha_dG[2] = da2;
}

/* Weights of the 6 rows in ARCSim's bilinear interpolation at (s, α) — raw = Σ_r w[r]·rows[r] —
 * and their derivatives w.r.t. s and α (either may be NULL). */
PHIVE_HD void cloth_stretch_weights(double s, double alpha, double *w, double *dw_ds, double *dw_dalpha)
{
    int a = (int)alpha;
    if (a < 0) a = 0;
    if (a > 3) a = 3;
    const double f = alpha - (double)a;
    for (int r = 0; r < CLOTH_STRETCH_ROWS; ++r) {
        w[r] = 0;
        if (dw_ds) dw_ds[r] = 0;
        if (dw_dalpha) dw_dalpha[r] = 0;
    }
    /* d[0][a] and d[0][a+1] are both row 0 */
    w[0] = (1 - s) * (1 - f) + (1 - s) * f;
    w[1 + a] += s * (1 - f);
    w[2 + a] += s * f;
    if (dw_ds) {
        dw_ds[0] = -1;
        dw_ds[1 + a] += 1 - f;
        dw_ds[2 + a] += f;
    }
    if (dw_dalpha) {
        dw_dalpha[1 + a] -= s;
        dw_dalpha[2 + a] += s;
    }
}

/* DIRECT mode: k (4) at G; dk_dG (4×3, ∂k_i/∂G_j) and dk_drows (6×4, ∂k_i/∂rows[r][i]). */
PHIVE_HD void cloth_stretch_stiffness(const double *rows, const double *G, double *k, double *dk_dG, double *dk_drows)
{
    double s, alpha, ds[3], da[3], w[CLOTH_STRETCH_ROWS], ws[CLOTH_STRETCH_ROWS], wa[CLOTH_STRETCH_ROWS];
    cloth_stretch_coords(G, &s, &alpha, ds, da);
    cloth_stretch_weights(s, alpha, w, ws, wa);
    for (int i = 0; i < CLOTH_STRETCH_K; ++i) {
        double raw = 0, raw_s = 0, raw_a = 0;
        for (int r = 0; r < CLOTH_STRETCH_ROWS; ++r) {
            raw += w[r] * rows[CLOTH_STRETCH_K * r + i];
            raw_s += ws[r] * rows[CLOTH_STRETCH_K * r + i];
            raw_a += wa[r] * rows[CLOTH_STRETCH_K * r + i];
        }
        const int active = raw > 0;
        k[i] = active ? 2 * raw : (double)0;
        if (dk_drows)
            for (int r = 0; r < CLOTH_STRETCH_ROWS; ++r) dk_drows[CLOTH_STRETCH_K * r + i] = active ? 2 * w[r] : (double)0;
        if (dk_dG)
            for (int j = 0; j < 3; ++j) dk_dG[3 * i + j] = active ? 2 * (raw_s * ds[j] + raw_a * da[j]) : (double)0;
    }
}

/* One axis of ARCSim's table lookup: grid coordinate t clamped to [0, 29 − 1e-5]; returns the
 * cell (0..28), its fraction in *f, and in *inside whether t was not clamped. */
PHIVE_HD int cloth_table_cell(double t, double *f, int *inside)
{
    *inside = t >= 0 && t <= CLOTH_TABLE_COORD_MAX;
    if (!(t >= 0)) t = 0;
    if (t > CLOTH_TABLE_COORD_MAX) t = CLOTH_TABLE_COORD_MAX;
    int i = (int)floor(t);
    if (i > CLOTH_TABLE_N - 2) i = CLOTH_TABLE_N - 2;
    *f = t - (double)i;
    return i;
}

PHIVE_HD int cloth_table_index(int i, int j, int l) { return (i * CLOTH_TABLE_N + j) * CLOTH_TABLE_N + l; }

/* TABLE mode: ARCSim's trilinear lookup at (G00, G11, |G01|), with the same derivatives as
 * cloth_stretch_stiffness (∂/∂rows through each sample's weights and ReLU mask). */
PHIVE_HD void cloth_stretch_table_stiffness(const cloth_stretch_table *t, const double *G, double *k, double *dk_dG,
                                            double *dk_drows)
{
    const double n = (double)CLOTH_TABLE_N;
    const double sg = (double)((G[2] > 0) - (G[2] < 0));
    double f[3];
    int in[3], c[3];
    c[0] = cloth_table_cell((G[0] + (double)0.25) * n, &f[0], &in[0]);
    c[1] = cloth_table_cell((G[1] + (double)0.25) * n, &f[1], &in[1]);
    c[2] = cloth_table_cell(fabs(G[2]) * n, &f[2], &in[2]);
    const double scale[3] = {in[0] ? n : (double)0, in[1] ? n : (double)0, in[2] ? n * sg : (double)0};
    for (int i = 0; i < CLOTH_STRETCH_K; ++i) k[i] = 0;
    if (dk_dG)
        for (int i = 0; i < 3 * CLOTH_STRETCH_K; ++i) dk_dG[i] = 0;
    if (dk_drows)
        for (int i = 0; i < CLOTH_STRETCH_ENTRIES; ++i) dk_drows[i] = 0;
    for (int corner = 0; corner < 8; ++corner) {
        const int d0 = (corner >> 2) & 1, d1 = (corner >> 1) & 1, d2 = corner & 1;
        const double w0 = d0 ? f[0] : 1 - f[0], w1 = d1 ? f[1] : 1 - f[1], w2 = d2 ? f[2] : 1 - f[2];
        const double w = w0 * w1 * w2;
        const int idx = cloth_table_index(c[0] + d0, c[1] + d1, c[2] + d2);
        const double *ks = t->k[idx];
        for (int i = 0; i < CLOTH_STRETCH_K; ++i) k[i] += w * ks[i];
        if (dk_dG) {
            const double g0 = (d0 ? 1 : -1) * w1 * w2 * scale[0];
            const double g1 = (d1 ? 1 : -1) * w0 * w2 * scale[1];
            const double g2 = (d2 ? 1 : -1) * w0 * w1 * scale[2];
            for (int i = 0; i < CLOTH_STRETCH_K; ++i) {
                dk_dG[3 * i + 0] += g0 * ks[i];
                dk_dG[3 * i + 1] += g1 * ks[i];
                dk_dG[3 * i + 2] += g2 * ks[i];
            }
        }
        if (dk_drows && w != 0) {
            double wr[CLOTH_STRETCH_ROWS];
            cloth_stretch_weights(t->strain[idx], t->angle[idx], wr, NULL, NULL);
            for (int i = 0; i < CLOTH_STRETCH_K; ++i)
                if (ks[i] > 0)
                    for (int r = 0; r < CLOTH_STRETCH_ROWS; ++r) dk_drows[CLOTH_STRETCH_K * r + i] += 2 * w * wr[r];
        }
    }
}

/* Either mode: table may be NULL only for CLOTH_STRETCH_DIRECT. */
PHIVE_HD void cloth_stretch_stiffness_mode(int mode, const double *rows, const cloth_stretch_table *table, const double *G,
                                           double *k, double *dk_dG, double *dk_drows)
{
    if (mode == CLOTH_STRETCH_TABLE)
        cloth_stretch_table_stiffness(table, G, k, dk_dG, dk_drows);
    else
        cloth_stretch_stiffness(rows, G, k, dk_dG, dk_drows);
}

/* Backward of k(G, rows): grad_G (3) += (∂k/∂G)ᵀ·grad_k; grad_rows (24, shared) += ∂k/∂rows ⊙ grad_k. */
PHIVE_HD void cloth_stretch_stiffness_backward(int mode, const double *rows, const cloth_stretch_table *table,
                                               const double *G, const double *grad_k, double *grad_G, double *grad_rows)
{
    double k[CLOTH_STRETCH_K], dk_dG[3 * CLOTH_STRETCH_K], dk_drows[CLOTH_STRETCH_ENTRIES];
    cloth_stretch_stiffness_mode(mode, rows, table, G, k, dk_dG, dk_drows);
    if (grad_G)
        for (int j = 0; j < 3; ++j)
            for (int i = 0; i < CLOTH_STRETCH_K; ++i) grad_G[j] += grad_k[i] * dk_dG[3 * i + j];
    if (grad_rows)
        for (int e = 0; e < CLOTH_STRETCH_ENTRIES; ++e)
            if (dk_drows[e] != 0) PHIVE_ATOMIC_ADD(&grad_rows[e], grad_k[e % CLOTH_STRETCH_K] * dk_drows[e]);
}

/* ------------------------------------------------------------------ bending stiffness */

/* Angle coordinate of a material-space edge direction du (2): |atan2(du_y, du_x)|·4/π folded
 * into [0, 2] (0 → 0°, 1 → 45°, 2 → 90°); ARCSim's initial_angle is 0 in its callers. */
PHIVE_HD double cloth_bend_angle_coord(const double *du)
{
    double b = atan2(du[1], du[0]) * 4 / CLOTH_PI;
    if (b < 0) b = -b;
    if (b > 2) b = 4 - b;
    return b;
}

/* Curvature coordinate v from 0.1·θ·l/area, limited per enum cloth_curvature_mode;
 * dv (3, may be NULL) gets ∂v/∂(θ, l, area). */
PHIVE_HD double cloth_bend_curvature_coord(double theta, double l, double area, int mode, double *dv)
{
    double v = theta * l / area * (double)0.1, slope = (double)0.1;
    if (mode == CLOTH_CURVATURE_ABS && v < 0) v = -v, slope = -slope;
    if (mode == CLOTH_CURVATURE_CLAMP && v < 0) v = 0, slope = 0;
    if (v > 4) v = 4, slope = 0;
    if (dv) {
        dv[0] = slope * l / area;
        dv[1] = slope * theta / area;
        dv[2] = -slope * theta * l / (area * area);
    }
    return v;
}

/* ke of one face's bending table (15) for the edge direction du in that face's material space,
 * dihedral angle θ, rest length l, area = A0 + A1.  dke_dbend (15) and dke_dgeom
 * (∂ke/∂(θ, l, area)) are written when non-NULL. */
PHIVE_HD double cloth_bend_stiffness(const double *bend, const double *du, double theta, double l, double area, int mode,
                                   double *dke_dbend, double *dke_dgeom)
{
    double dv[3];
    const double b = cloth_bend_angle_coord(du);
    double v = cloth_bend_curvature_coord(theta, l, area, mode, dv);
    int vi = (int)v, bi = (int)b;
    if (vi < 0) vi = 0;
    if (vi > CLOTH_BEND_CURVATURES - 2) vi = CLOTH_BEND_CURVATURES - 2;
    if (bi < 0) bi = 0;
    if (bi > CLOTH_BEND_ANGLES - 2) bi = CLOTH_BEND_ANGLES - 2;
    const double fv = v - (double)vi, fb = b - (double)bi;
    const int e00 = CLOTH_BEND_CURVATURES * bi + vi, e10 = e00 + CLOTH_BEND_CURVATURES, e01 = e00 + 1,
              e11 = e10 + 1;
    const double w00 = (1 - fb) * (1 - fv), w10 = fb * (1 - fv), w01 = (1 - fb) * fv, w11 = fb * fv;
    const double raw = bend[e00] * w00 + bend[e10] * w10 + bend[e01] * w01 + bend[e11] * w11;
    const int active = raw > 0;
    if (dke_dbend) {
        for (int e = 0; e < CLOTH_BEND_ENTRIES; ++e) dke_dbend[e] = 0;
        if (active) dke_dbend[e00] = w00, dke_dbend[e10] = w10, dke_dbend[e01] = w01, dke_dbend[e11] = w11;
    }
    if (dke_dgeom) {
        const double dke_dv =
            active ? (1 - fb) * (bend[e01] - bend[e00]) + fb * (bend[e11] - bend[e10]) : (double)0;
        for (int j = 0; j < 3; ++j) dke_dgeom[j] = dke_dv * dv[j];
    }
    return active ? raw : (double)0;
}

/* An edge's ke: the smaller of its two faces' values (ARCSim); *side (may be NULL) gets the
 * face whose value it is (0 on ties), whose table carries the derivative. */
PHIVE_HD double cloth_bend_stiffness_edge(const double *bend0, const double *du0, const double *bend1, const double *du1,
                                        double theta, double l, double area, int mode, int *side)
{
    const double k0 = cloth_bend_stiffness(bend0, du0, theta, l, area, mode, NULL, NULL);
    const double k1 = cloth_bend_stiffness(bend1, du1, theta, l, area, mode, NULL, NULL);
    if (side) *side = k1 < k0;
    return k1 < k0 ? k1 : k0;
}

/* Backward of one face's ke: grad_bend (15, shared) += g·∂ke/∂bend; grad_geom (3) += g·∂ke/∂(θ, l, area). */
PHIVE_HD void cloth_bend_stiffness_backward(const double *bend, const double *du, double theta, double l, double area, int mode,
                                            double g, double *grad_bend, double *grad_geom)
{
    double dbend[CLOTH_BEND_ENTRIES], dgeom[3];
    cloth_bend_stiffness(bend, du, theta, l, area, mode, dbend, dgeom);
    if (grad_bend)
        for (int e = 0; e < CLOTH_BEND_ENTRIES; ++e)
            if (dbend[e] != 0) PHIVE_ATOMIC_ADD(&grad_bend[e], g * dbend[e]);
    if (grad_geom)
        for (int j = 0; j < 3; ++j) grad_geom[j] += g * dgeom[j];
}

/* ------------------------------------------------------------------ element energies */

PHIVE_HD double cloth_dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

PHIVE_HD void cloth_cross3(const double *a, const double *b, double *out)
{
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

PHIVE_HD void cloth_sub3(const double *a, const double *b, double *out)
{
    out[0] = a[0] - b[0];
    out[1] = a[1] - b[1];
    out[2] = a[2] - b[2];
}

/* Rest data of a face from its material coordinates u0, u1, u2 (2 each): Dinv = Dm⁻¹ (2×2
 * row-major) of Dm = [u1 − u0, u2 − u0]; returns the rest area |det Dm|/2 (0, Dinv = 0, when
 * degenerate). */
PHIVE_HD double cloth_face_rest(const double *u0, const double *u1, const double *u2, double *Dinv)
{
    const double a = u1[0] - u0[0], b = u2[0] - u0[0], c = u1[1] - u0[1], d = u2[1] - u0[1];
    const double det = a * d - b * c;
    if (det == 0) {
        Dinv[0] = Dinv[1] = Dinv[2] = Dinv[3] = 0;
        return 0;
    }
    Dinv[0] = d / det;
    Dinv[1] = -b / det;
    Dinv[2] = -c / det;
    Dinv[3] = a / det;
    return fabs(det) / 2;
}

/* ∂F/∂x_i: F[:, j] = Σ_i D[i][j]·x_i with D (3×2, row-major) = [−Dinv₀ − Dinv₁; Dinv₀; Dinv₁]. */
PHIVE_HD void cloth_face_shape(const double *Dinv, double *D)
{
    D[2] = Dinv[0], D[3] = Dinv[1];
    D[4] = Dinv[2], D[5] = Dinv[3];
    D[0] = -D[2] - D[4], D[1] = -D[3] - D[5];
}

/* Columns f_u, f_v of F = [x1 − x0, x2 − x0]·Dm⁻¹ for positions x (9), and G = (G00, G11, G01). */
PHIVE_HD void cloth_green_strain(const double *x, const double *Dinv, double *fu, double *fv, double *G)
{
    double D[6];
    cloth_face_shape(Dinv, D);
    for (int c = 0; c < 3; ++c) {
        fu[c] = D[0] * x[c] + D[2] * x[3 + c] + D[4] * x[6 + c];
        fv[c] = D[1] * x[c] + D[3] * x[3 + c] + D[5] * x[6 + c];
    }
    G[0] = (cloth_dot3(fu, fu) - 1) / 2;
    G[1] = (cloth_dot3(fv, fv) - 1) / 2;
    G[2] = cloth_dot3(fu, fv) / 2;
}

/* Stretching energy of a face (positions x, 9) with k held constant; grad (9), ARCSim's hess
 * (9×9), dE_dk (4) and dgrad_dk (9×4, ∂grad/∂k_i: grad is linear in k) when non-NULL. */
PHIVE_HD double cloth_stretch_energy(const double *x, const double *Dinv, double area, const double *k, double *grad, double *hess,
                                   double *dE_dk, double *dgrad_dk)
{
    double D[6], fu[3], fv[3], G[3];
    cloth_face_shape(Dinv, D);
    cloth_green_strain(x, Dinv, fu, fv, G);
    const double e0 = G[0] * G[0] / 2, e1 = G[0] * G[1], e2 = G[1] * G[1] / 2, e3 = G[2] * G[2];
    if (dE_dk) dE_dk[0] = area * e0, dE_dk[1] = area * e1, dE_dk[2] = area * e2, dE_dk[3] = area * e3;
    /* g_u = ∂G00/∂x, g_v = ∂G11/∂x, g_uv = ∂G01/∂x */
    double gu[9], gv[9], guv[9];
    for (int i = 0; i < 3; ++i)
        for (int c = 0; c < 3; ++c) {
            gu[3 * i + c] = D[2 * i] * fu[c];
            gv[3 * i + c] = D[2 * i + 1] * fv[c];
            guv[3 * i + c] = (D[2 * i] * fv[c] + D[2 * i + 1] * fu[c]) / 2;
        }
    if (grad || dgrad_dk) {
        const double cu = k[0] * G[0] + k[1] * G[1], cv = k[2] * G[1] + k[1] * G[0], cuv = 2 * k[3] * G[2];
        for (int a = 0; a < 9; ++a) {
            if (grad) grad[a] = area * (cu * gu[a] + cv * gv[a] + cuv * guv[a]);
            if (dgrad_dk) {
                dgrad_dk[4 * a + 0] = area * G[0] * gu[a];
                dgrad_dk[4 * a + 1] = area * (G[1] * gu[a] + G[0] * gv[a]);
                dgrad_dk[4 * a + 2] = area * G[1] * gv[a];
                dgrad_dk[4 * a + 3] = area * 2 * G[2] * guv[a];
            }
        }
    }
    if (hess) {
        const double g00 = G[0] > 0 ? G[0] : (double)0, g11 = G[1] > 0 ? G[1] : (double)0;
        const double cuu = k[0] * g00 + k[1] * g11, cvv = k[2] * g11 + k[1] * g00; /* weights of DuᵀDu, DvᵀDv */
        for (int a = 0; a < 9; ++a)
            for (int b = 0; b < 9; ++b) {
                double h = k[0] * gu[a] * gu[b] + k[2] * gv[a] * gv[b] + k[1] * (gu[a] * gv[b] + gv[a] * gu[b]) +
                         2 * k[3] * guv[a] * guv[b];
                if (a % 3 == b % 3) {
                    const int i = a / 3, j = b / 3;
                    h += cuu * D[2 * i] * D[2 * j] + cvv * D[2 * i + 1] * D[2 * j + 1];
                }
                hess[9 * a + b] = area * h;
            }
    }
    return area * (k[0] * e0 + k[1] * e1 + k[2] * e2 + k[3] * e3);
}

/* Dihedral angle at the edge x0–x1 of the faces (x0, x1, x2) and (x1, x0, x3) (x: 12), and
 * ARCSim's ∂θ/∂x (12) when dtheta is non-NULL. */
PHIVE_HD double cloth_dihedral_angle(const double *x, double *dtheta)
{
    const double *x0 = x, *x1 = x + 3, *x2 = x + 6, *x3 = x + 9;
    double e[3], a[3], b[3], n0[3], n1[3], m[3];
    if (dtheta)
        for (int i = 0; i < 12; ++i) dtheta[i] = 0;
    cloth_sub3(x1, x0, e);
    cloth_sub3(x2, x0, a);
    cloth_cross3(e, a, n0);
    double ee[3];
    cloth_sub3(x0, x1, ee);
    cloth_sub3(x3, x1, b);
    cloth_cross3(ee, b, n1);
    const double le2 = cloth_dot3(e, e), ln0 = sqrt(cloth_dot3(n0, n0)), ln1 = sqrt(cloth_dot3(n1, n1));
    if (!(le2 > 0) || !(ln0 > 0) || !(ln1 > 0)) return 0;
    const double le = sqrt(le2);
    for (int c = 0; c < 3; ++c) n0[c] /= ln0, n1[c] /= ln1;
    cloth_cross3(n0, n1, m);
    const double theta = atan2(-cloth_dot3(e, m) / le, cloth_dot3(n0, n1));
    if (dtheta) {
        const double t0 = cloth_dot3(e, a) / le2, t1 = cloth_dot3(e, b) / le2 + 1; /* b is from x1 */
        double p0[3], p1[3];
        for (int c = 0; c < 3; ++c) {
            p0[c] = a[c] - e[c] * t0;
            p1[c] = (x3[c] - x0[c]) - e[c] * t1;
        }
        double h0 = sqrt(cloth_dot3(p0, p0)), h1 = sqrt(cloth_dot3(p1, p1));
        const double floor_h = (double)1e-3 * le;
        if (h0 < floor_h) h0 = floor_h;
        if (h1 < floor_h) h1 = floor_h;
        for (int c = 0; c < 3; ++c) {
            const double q0 = n0[c] / h0, q1 = n1[c] / h1;
            dtheta[c] = -((1 - t0) * q0 + (1 - t1) * q1);
            dtheta[3 + c] = -(t0 * q0 + t1 * q1);
            dtheta[6 + c] = q0;
            dtheta[9 + c] = q1;
        }
    }
    return theta;
}

/* Bending energy of an interior edge (x: 12 as in cloth_dihedral_angle) with ke, l, area held
 * constant; grad (12), ARCSim's hess (12×12) and dgrad_dke (12) when non-NULL. */
PHIVE_HD double cloth_bend_energy(const double *x, double l, double area, double ke, double theta_rest, double *grad, double *hess,
                                double *dgrad_dke)
{
    double dtheta[12];
    const double theta = cloth_dihedral_angle(x, dtheta);
    const double shape = l * l / (4 * area), d = theta - theta_rest;
    for (int a = 0; a < 12; ++a) {
        if (grad) grad[a] = ke * shape * d * dtheta[a];
        if (dgrad_dke) dgrad_dke[a] = shape * d * dtheta[a];
        if (hess)
            for (int b = 0; b < 12; ++b) hess[12 * a + b] = ke * shape * dtheta[a] * dtheta[b];
    }
    return ke * shape * d * d / 2;
}

#endif
