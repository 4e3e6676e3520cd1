/* cloth_forces.h — per-element force math of the cloth step and its adjoint
 * (see include/phive/cloth.h for the step), on top of the material's element
 * energies in cloth_material.h.  Double precision; valid C and C++.
 *
 * Stiffness as the step uses it: k = k(G(x)) (stretching) and ke = ke(θ(x))
 * (bending) evaluated at the current positions, then held constant in the
 * element's gradient and ARCSim Hessian.  The adjoint's element scalar is
 *   φ_e(x) = −λᵀ∇E_e(x) − c·λᵀ H_e(x) w
 * (λ the adjoint of Δv, w = v'', c = h + damping) whose x-gradient the
 * simulator takes by central differences; φ is linear in k (ke), so its
 * derivative w.r.t. the stiffness is φ at unit stiffness.
 */
#ifndef PHIVE_KERNELS_CLOTH_FORCES_H
#define PHIVE_KERNELS_CLOTH_FORCES_H

#include "cloth_material.h"

/* Stretching of a face at positions x (9) with k = k(G(x)) written to k (4); grad (9) and hess
 * (81) when non-NULL; returns the energy. */
PHIVE_HD double cloth_face_stretch(int mode, const double *rows, const cloth_stretch_table *table, const double *x,
                                   const double *dinv, double area, double *k, double *grad, double *hess)
{
    double fu[3], fv[3], G[3];
    cloth_green_strain(x, dinv, fu, fv, G);
    cloth_stretch_stiffness_mode(mode, rows, table, G, k, NULL, NULL);
    return cloth_stretch_energy(x, dinv, area, k, grad, hess, NULL, NULL);
}

/* λᵀ H w for ARCSim's stretching Hessian (the formula of cloth_stretch_energy) at stiffness k,
 * without forming H; λ, w: 9 each. */
PHIVE_HD double cloth_stretch_hess_form(const double *x, const double *dinv, double area, const double *k,
                                        const double *lam, const double *w)
{
    double D[6], fu[3], fv[3], G[3];
    cloth_face_shape(dinv, D);
    cloth_green_strain(x, dinv, fu, fv, G);
    double lu = 0, lv = 0, luv = 0, wu = 0, wv = 0, wuv = 0, duu = 0, dvv = 0;
    for (int c = 0; c < 3; ++c) {
        double lDu = 0, lDv = 0, wDu = 0, wDv = 0;
        for (int i = 0; i < 3; ++i) {
            lDu += D[2 * i] * lam[3 * i + c], lDv += D[2 * i + 1] * lam[3 * i + c];
            wDu += D[2 * i] * w[3 * i + c], wDv += D[2 * i + 1] * w[3 * i + c];
        }
        lu += lDu * fu[c], lv += lDv * fv[c], luv += (lDu * fv[c] + lDv * fu[c]) / 2;
        wu += wDu * fu[c], wv += wDv * fv[c], wuv += (wDu * fv[c] + wDv * fu[c]) / 2;
        duu += lDu * wDu, dvv += lDv * wDv;
    }
    const double g00 = G[0] > 0 ? G[0] : 0, g11 = G[1] > 0 ? G[1] : 0;
    const double cuu = k[0] * g00 + k[1] * g11, cvv = k[2] * g11 + k[1] * g00;
    return area * (k[0] * lu * wu + k[2] * lv * wv + k[1] * (lu * wv + lv * wu) + 2 * k[3] * luv * wuv + cuu * duu +
                   cvv * dvv);
}

/* The adjoint scalar of a face at positions x: −λ·∇E − c·λᵀHw with k = k(G(x)).  dphi_dk (4, may
 * be NULL) gets ∂φ/∂k at fixed x. */
PHIVE_HD double cloth_face_stretch_phi(int mode, const double *rows, const cloth_stretch_table *table, const double *x,
                                       const double *dinv, double area, const double *lam, const double *w, double c,
                                       double *dphi_dk)
{
    double k[4], grad[9], dgrad_dk[36];
    double fu[3], fv[3], G[3];
    cloth_green_strain(x, dinv, fu, fv, G);
    cloth_stretch_stiffness_mode(mode, rows, table, G, k, NULL, NULL);
    cloth_stretch_energy(x, dinv, area, k, grad, NULL, NULL, dphi_dk ? dgrad_dk : NULL);
    double phi = -c * cloth_stretch_hess_form(x, dinv, area, k, lam, w);
    for (int a = 0; a < 9; ++a) phi -= lam[a] * grad[a];
    if (dphi_dk)
        for (int i = 0; i < 4; ++i) {
            double unit[4] = {0, 0, 0, 0};
            unit[i] = 1;
            double d = -c * cloth_stretch_hess_form(x, dinv, area, unit, lam, w);
            for (int a = 0; a < 9; ++a) d -= lam[a] * dgrad_dk[4 * a + i];
            dphi_dk[i] = d;
        }
    return phi;
}

/* Bending stiffness of a hinge at positions x (12): one material, so ARCSim's minimum over the
 * two faces is the one value at the edge's material direction du. */
PHIVE_HD double cloth_hinge_stiffness(const double *bend, const double *du, const double *x, double l, double area,
                                      int curvature_mode, double *theta_out)
{
    const double theta = cloth_dihedral_angle(x, NULL);
    if (theta_out) *theta_out = theta;
    return cloth_bend_stiffness(bend, du, theta, l, area, curvature_mode, NULL, NULL);
}

/* The adjoint scalar of a hinge: −λ·∇E − c·λᵀHw with ke = ke(θ(x)); *dphi_dke (may be NULL) gets
 * ∂φ/∂ke at fixed x. */
PHIVE_HD double cloth_hinge_bend_phi(const double *bend, const double *du, const double *x, double l, double area,
                                     double theta_rest, int curvature_mode, const double *lam, const double *w,
                                     double c, double *dphi_dke)
{
    double dtheta[12];
    const double theta = cloth_dihedral_angle(x, dtheta);
    const double ke = cloth_bend_stiffness(bend, du, theta, l, area, curvature_mode, NULL, NULL);
    const double shape = l * l / (4 * area);
    double ld = 0, wd = 0;
    for (int a = 0; a < 12; ++a) ld += lam[a] * dtheta[a], wd += w[a] * dtheta[a];
    const double unit = -shape * (theta - theta_rest) * ld - c * shape * ld * wd;
    if (dphi_dke) *dphi_dke = unit;
    return ke * unit;
}

/* ARCSim's wind force on a face (positions x, velocities v: 9 each): the face total, ⅓ of which
 * goes to each vertex.  area is the rest area. */
PHIVE_HD void cloth_wind_face(const double *x, const double *v, const double *wind, double rho, double drag,
                              double area, double *f)
{
    double e1[3], e2[3], N[3];
    cloth_sub3(x + 3, x, e1);
    cloth_sub3(x + 6, x, e2);
    cloth_cross3(e1, e2, N);
    const double ln = sqrt(cloth_dot3(N, N));
    f[0] = f[1] = f[2] = 0;
    if (!(ln > 0)) return;
    double n[3], vrel[3];
    for (int c = 0; c < 3; ++c) n[c] = N[c] / ln, vrel[c] = wind[c] - (v[c] + v[3 + c] + v[6 + c]) / 3;
    const double vn = cloth_dot3(n, vrel), avn = fabs(vn);
    for (int c = 0; c < 3; ++c) f[c] = rho * area * avn * vn * n[c] + drag * area * (vrel[c] - vn * n[c]);
}

/* Backward of Λ·f (Λ = the face's share of the adjoint, i.e. the mean of its vertices' λ):
 * grad_x, grad_v (9 each) and grad_wind (3) accumulate (+=). */
PHIVE_HD void cloth_wind_face_backward(const double *x, const double *v, const double *wind, double rho, double drag,
                                       double area, const double *Lam, double *grad_x, double *grad_v,
                                       double *grad_wind)
{
    double e1[3], e2[3], N[3];
    cloth_sub3(x + 3, x, e1);
    cloth_sub3(x + 6, x, e2);
    cloth_cross3(e1, e2, N);
    const double ln = sqrt(cloth_dot3(N, N));
    if (!(ln > 0)) return;
    double n[3], vrel[3];
    for (int c = 0; c < 3; ++c) n[c] = N[c] / ln, vrel[c] = wind[c] - (v[c] + v[3 + c] + v[6 + c]) / 3;
    const double vn = cloth_dot3(n, vrel), avn = fabs(vn), Ln = cloth_dot3(Lam, n);
    double g_vrel[3], g_n[3];
    for (int c = 0; c < 3; ++c) {
        /* Λ·f = ρA|vn|vn(Λ·n) + dA(Λ·vrel − vn(Λ·n)); ∂(|vn|vn)/∂vn = 2|vn| */
        g_vrel[c] = rho * area * 2 * avn * Ln * n[c] + drag * area * (Lam[c] - Ln * n[c]);
        g_n[c] = rho * area * (2 * avn * Ln * vrel[c] + avn * vn * Lam[c]) + drag * area * (-Ln * vrel[c] - vn * Lam[c]);
    }
    if (grad_wind)
        for (int c = 0; c < 3; ++c) grad_wind[c] += g_vrel[c];
    if (grad_v)
        for (int i = 0; i < 3; ++i)
            for (int c = 0; c < 3; ++c) grad_v[3 * i + c] -= g_vrel[c] / 3;
    if (grad_x) {
        /* n = N/|N|: ∂/∂N = (g_n − (g_n·n)n)/|N|; N = e1 × e2 */
        const double gnn = cloth_dot3(g_n, n);
        double gN[3], ge1[3], ge2[3];
        for (int c = 0; c < 3; ++c) gN[c] = (g_n[c] - gnn * n[c]) / ln;
        cloth_cross3(e2, gN, ge1);
        cloth_cross3(gN, e1, ge2);
        for (int c = 0; c < 3; ++c) {
            grad_x[3 + c] += ge1[c];
            grad_x[6 + c] += ge2[c];
            grad_x[c] -= ge1[c] + ge2[c];
        }
    }
}

#endif
