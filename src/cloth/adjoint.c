/* adjoint.c — reverse mode of the cloth rollout (see cloth.h, "Adjoint").
 *
 * Per substep, with x̄, v̄ the adjoints of the state after it:
 *   x'' = x + h v''            x̄ stays, v̄'' = v̄ + h x̄
 *   v'' = v' + Δv              Δv̄ = v̄'', v̄' = v̄''
 *   A Δv = b                   A λ = Δv̄ (handle rows: λ = 0)
 *   b, A depend on x, v', θ    x̄ += h ∂ₓφ, v̄' −= h (c H λ) + wind terms, θ̄ += h ∂_θφ
 *                              with φ = Σ_e [λᵀf_e − c_e λᵀH_e v''] (kernels/cloth_forces.h)
 *                              and −λᵀ(∂M/∂ρ)Δv, h λᵀ(∂M/∂ρ) g for the density
 *   handle rows                Δv̄_c − h (cHλ)_c flows to the handle keys, x_c and v'_c
 *   v' = v + c[f]/S            v̄ = v̄', c̄[f] += v̄'/S
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "sim_internal.h"

#include "cloth_collision.h" /* kernels/ */
#include "cloth_forces.h"

/* Relative finite-difference step of the element scalar φ (times the element's rest size). */
#define CLOTH_PHI_STEP 1e-6

/* Adjoint of one substep: gx, gv (3n) hold x̄, v̄ after it and leave holding them before it. */
static int substep_backward(cloth_sim *sim, const cloth_params *p, int f, int s, const cloth_substep_record *r,
                            double *gx, double *gv, cloth_params *g)
{
    const cloth_mesh *m = sim->mesh;
    const cloth_settings *st = &sim->s;
    const int n = sim->n, n3 = 3 * n;
    const double h = sim->h, c = h + st->damping;
    double *lam = sim->lam, *u = sim->u, *w = sim->w, *gvp = sim->gvp;
    /* impact zones: x_out = P(x''), v_out = v'' + (x_out − x'')/h */
    if (sim->col) {
        for (int i = 0; i < n3; ++i) w[i] = gx[i] + gv[i] / h, gx[i] = -gv[i] / h;
        if (cloth_collide_backward(&r->impacts, w, gx, NULL)) return err_context("cloth adjoint (frame %d)", f);
    }
    /* x'' = x + h v'', v'' = v' + Δv: Δv̄ = v̄'' = v̄ + h x̄ */
    for (int i = 0; i < n3; ++i) {
        gvp[i] = gv[i] + h * gx[i]; /* v̄'' (= Δv̄ = v̄' so far) */
        w[i] = r->v_prime[i] + r->dv[i];
    }
    const double t0 = cloth_now();
    cloth_assemble(sim, p, f, s, r->x_start, r->v_prime, &r->contacts);
    double *rhs = sim->b, *dv_bar = sim->dvc; /* dvc is free once A is assembled */
    for (int i = 0; i < n3; ++i) {
        dv_bar[i] = gvp[i];
        rhs[i] = sim->constrained[i / 3] ? 0 : gvp[i];
    }
    int its = 0;
    char what[96];
    snprintf(what, sizeof what, "cloth adjoint (frame %d, substep %d)", f, s);
    if (cloth_system_solve(sim->sys, rhs, lam, &its, what)) return -1;
    sim->stats.ksp_iterations += its;
    const double t1 = cloth_now();
    memset(u, 0, n3 * sizeof(double));
    const double *x = r->x_start, *vp = r->v_prime;
    const int wind_on = st->air_density > 0 || st->wind_drag > 0;
    /* per element, in parallel: channel 0 = h∂ₓφ (+ wind), 1 = c·Hλ, 2 = wind's ∂/∂v' */
#pragma omp parallel num_threads(sim->threads)
    {
#pragma omp for schedule(static) nowait
        for (int fc = 0; fc < m->n_faces; ++fc) {
            const int *v = m->faces + 3 * fc;
            const double *dinv = m->face_dinv + 4 * fc, area = m->face_area[fc];
            double *gxe = sim->face_vec + 27 * (size_t)fc, *ue = gxe + 9, *gve = gxe + 18;
            double *aux = sim->face_aux + 7 * (size_t)fc;
            double xe[9], le[9], we[9], k[4], hess[81], dphi_dk[4];
            for (int a = 0; a < 3; ++a)
                for (int d = 0; d < 3; ++d) {
                    xe[3 * a + d] = x[3 * v[a] + d];
                    le[3 * a + d] = lam[3 * v[a] + d];
                    we[3 * a + d] = w[3 * v[a] + d];
                }
            /* ∂ₓφ by central differences */
            const double eps = CLOTH_PHI_STEP * sqrt(area);
            for (int q = 0; q < 9; ++q) {
                const double keep = xe[q];
                xe[q] = keep + eps;
                const double up = cloth_face_stretch_phi(st->stretch_mode, p->stretching, sim->table, xe, dinv, area,
                                                         le, we, c, NULL);
                xe[q] = keep - eps;
                const double dn = cloth_face_stretch_phi(st->stretch_mode, p->stretching, sim->table, xe, dinv, area,
                                                         le, we, c, NULL);
                xe[q] = keep;
                gxe[q] = h * (up - dn) / (2 * eps);
            }
            /* θ: φ is linear in k(G; rows); the table backward runs serially below */
            cloth_face_stretch_phi(st->stretch_mode, p->stretching, sim->table, xe, dinv, area, le, we, c, dphi_dk);
            for (int i = 0; i < 4; ++i) aux[i] = h * dphi_dk[i];
            /* c·H λ for v̄' and the handle rows */
            cloth_face_stretch(st->stretch_mode, p->stretching, sim->table, xe, dinv, area, k, NULL, hess);
            for (int a = 0; a < 9; ++a) {
                double hl = 0;
                for (int q = 0; q < 9; ++q) hl += hess[9 * a + q] * le[q];
                ue[a] = c * hl;
                gve[a] = 0;
            }
            aux[4] = aux[5] = aux[6] = 0;
            if (wind_on) { /* b += h f_wind/3 per vertex */
                double ve[9], Lam[3];
                for (int a = 0; a < 3; ++a)
                    for (int d = 0; d < 3; ++d) ve[3 * a + d] = vp[3 * v[a] + d];
                for (int d = 0; d < 3; ++d) Lam[d] = h * (le[d] + le[3 + d] + le[6 + d]) / 3;
                cloth_wind_face_backward(xe, ve, p->wind, st->air_density, st->wind_drag, area, Lam, gxe, gve, aux + 4);
            }
        }
#pragma omp for schedule(static)
        for (int e = 0; e < m->n_hinges; ++e) {
            const int *v = m->hinges + 4 * e;
            const double l = m->hinge_len[e], area = m->hinge_area[e], rest = m->hinge_theta_rest[e];
            const double *du = m->hinge_du + 2 * e;
            double *gxe = sim->hinge_vec + 36 * (size_t)e, *ue = gxe + 12, *gve = gxe + 24;
            double xe[12], le[12], we[12], dtheta[12];
            for (int a = 0; a < 4; ++a)
                for (int d = 0; d < 3; ++d) {
                    xe[3 * a + d] = x[3 * v[a] + d];
                    le[3 * a + d] = lam[3 * v[a] + d];
                    we[3 * a + d] = w[3 * v[a] + d];
                }
            const double eps = CLOTH_PHI_STEP * l;
            for (int q = 0; q < 12; ++q) {
                const double keep = xe[q];
                xe[q] = keep + eps;
                const double up = cloth_hinge_bend_phi(p->bending, du, xe, l, area, rest, st->curvature_mode, le, we, c, NULL);
                xe[q] = keep - eps;
                const double dn = cloth_hinge_bend_phi(p->bending, du, xe, l, area, rest, st->curvature_mode, le, we, c, NULL);
                xe[q] = keep;
                gxe[q] = h * (up - dn) / (2 * eps);
            }
            double dphi_dke;
            cloth_hinge_bend_phi(p->bending, du, xe, l, area, rest, st->curvature_mode, le, we, c, &dphi_dke);
            sim->hinge_aux[e] = h * dphi_dke;
            const double theta = cloth_dihedral_angle(xe, dtheta);
            const double ke = cloth_bend_stiffness(p->bending, du, theta, l, area, st->curvature_mode, NULL, NULL);
            double ld = 0;
            for (int a = 0; a < 12; ++a) ld += dtheta[a] * le[a];
            const double scale = c * ke * l * l / (4 * area) * ld;
            for (int a = 0; a < 12; ++a) ue[a] = scale * dtheta[a], gve[a] = 0;
        }
    }
    cloth_gather_vectors(sim, 0, gx);
    cloth_gather_vectors(sim, 1, u);
    cloth_gather_vectors(sim, 2, gvp);
    /* proximity penalties (quadratic: H constant while active): x̄ += h·∂ₓ[λᵀ(−∇E)] = −h·H λ over
     * every block, u += h·H λ over the blocks A holds (see add_contacts) */
    for (int k = 0; k < r->contacts.n; ++k) {
        const cloth_contact *ct = &r->contacts.c[k];
        double hess[144];
        cloth_contact_energy(ct, x, NULL, hess);
        for (int i = 0; i < 4; ++i) {
            if (ct->v[i] < 0) continue;
            for (int j = 0; j < 4; ++j) {
                if (ct->v[j] < 0) continue;
                const int kept = cloth_contact_coupled(sim, ct, i, j);
                for (int a = 0; a < 3; ++a)
                    for (int b = 0; b < 3; ++b) {
                        const double hl = hess[12 * (3 * i + a) + 3 * j + b] * lam[3 * ct->v[j] + b];
                        gx[3 * ct->v[i] + a] -= h * hl;
                        if (kept) u[3 * ct->v[i] + a] += h * hl;
                    }
            }
        }
    }
    /* parameter gradients, serially in element order (deterministic sums) */
    for (int fc = 0; fc < m->n_faces; ++fc) {
        const double *aux = sim->face_aux + 7 * (size_t)fc;
        double xe[9], fu[3], fv[3], G[3];
        for (int a = 0; a < 3; ++a)
            for (int d = 0; d < 3; ++d) xe[3 * a + d] = x[3 * m->faces[3 * fc + a] + d];
        cloth_green_strain(xe, m->face_dinv + 4 * fc, fu, fv, G);
        cloth_stretch_stiffness_backward(st->stretch_mode, p->stretching, sim->table, G, aux, NULL, g->stretching);
        for (int d = 0; d < 3; ++d) g->wind[d] += aux[4 + d];
    }
    for (int e = 0; e < m->n_hinges; ++e) {
        double xe[12];
        for (int a = 0; a < 4; ++a)
            for (int d = 0; d < 3; ++d) xe[3 * a + d] = x[3 * m->hinges[4 * e + a] + d];
        const double theta = cloth_dihedral_angle(xe, NULL);
        cloth_bend_stiffness_backward(p->bending, m->hinge_du + 2 * e, theta, m->hinge_len[e], m->hinge_area[e],
                                      st->curvature_mode, sim->hinge_aux[e], g->bending, NULL);
    }
    /* density: mass in A (−λᵀ(∂M/∂ρ)Δv) and in gravity (h λᵀ(∂M/∂ρ) g); handle rows have λ = 0 */
    double gd = 0;
    for (int i = 0; i < n; ++i)
        for (int d = 0; d < 3; ++d) gd += m->vert_area[i] * lam[3 * i + d] * (h * st->gravity[d] - r->dv[3 * i + d]);
    g->density += gd;
    /* v̄' −= h·cHλ (b's −h c H v'); handle rows */
    for (int i = 0; i < n3; ++i) gvp[i] -= h * u[i];
    const double wgt = cloth_handle_weight(sim, s);
    for (int k = 0; k < st->n_handles; ++k) {
        const int i = st->handle_verts[k];
        double *gp0 = g->handles + 3 * ((size_t)f * st->n_handles + k), *gp1 = gp0 + 3 * (size_t)st->n_handles;
        for (int d = 0; d < 3; ++d) {
            /* Δv_c = (p − x_c)/h − v'_c; its adjoint is Δv̄_c less what the free rows took (h·cHλ) */
            const double gdv = dv_bar[3 * i + d] - h * u[3 * i + d];
            gp0[d] += (1 - wgt) * gdv / h;
            gp1[d] += wgt * gdv / h;
            gx[3 * i + d] -= gdv / h;
            gvp[3 * i + d] -= gdv;
        }
    }
    /* v' = v + c[f]/S */
    for (int i = 0; i < n3; ++i) gv[i] = gvp[i];
    if (g->correctives) {
        double *gc = g->correctives + (size_t)f * n3;
        for (int i = 0; i < n3; ++i) gc[i] += gvp[i] / st->substeps;
    }
    sim->stats.solve_s += t1 - t0;
    sim->stats.adjoint_elements_s += cloth_now() - t1;
    return 0;
}

int cloth_rollout_backward(cloth_sim *sim, const cloth_params *p, const double *grad_x, const double *grad_v,
                           cloth_params *g)
{
    if (!sim->x_frames) return err_set("cloth adjoint: no forward rollout to differentiate");
    if (g->n_verts != sim->n || (p->correctives && !g->correctives) || (sim->s.n_handles && !g->handles))
        return err_set("cloth adjoint: the gradient is not shaped like the parameters");
    const double start = cloth_now();
    const int n3 = 3 * sim->n, S = sim->s.substeps, F = sim->n_frames;
    double *gx = malloc(n3 * sizeof(double)), *gv = malloc(n3 * sizeof(double));
    double *xs = malloc(n3 * sizeof(double)), *vs = malloc(n3 * sizeof(double));
    if (!gx || !gv || !xs || !vs) {
        free(gx), free(gv), free(xs), free(vs);
        return err_set("cloth adjoint: out of memory");
    }
    for (int i = 0; i < n3; ++i) {
        gx[i] = grad_x[(size_t)F * n3 + i];
        gv[i] = grad_v ? grad_v[(size_t)F * n3 + i] : 0;
    }
    int rc = 0;
    for (int f = F - 1; f >= 0 && !rc; --f) {
        cloth_substep_record *rec = sim->records + (sim->store_all ? f * S : 0);
        if (!sim->store_all) { /* checkpointing: recompute this frame from its start state */
            memcpy(xs, cloth_sim_positions(sim, f), n3 * sizeof(double));
            memcpy(vs, cloth_sim_velocities(sim, f), n3 * sizeof(double));
            for (int s = 0; s < S && !rc; ++s) rc = cloth_substep_forward(sim, p, f, s, xs, vs, &rec[s]);
            sim->stats.recomputed_substeps += S;
        }
        for (int s = S - 1; s >= 0 && !rc; --s) rc = substep_backward(sim, p, f, s, &rec[s], gx, gv, g);
        for (int i = 0; i < n3 && !rc; ++i) {
            gx[i] += grad_x[(size_t)f * n3 + i];
            if (grad_v) gv[i] += grad_v[(size_t)f * n3 + i];
        }
    }
    if (!rc)
        for (int i = 0; i < n3; ++i) g->x0[i] += gx[i], g->v0[i] += gv[i];
    free(gx), free(gv), free(xs), free(vs);
    sim->stats.backward_s = cloth_now() - start;
    return rc;
}
