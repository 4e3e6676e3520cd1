/* nsr_render.h — per-ray math of the NeuS volume renderer (CPU loops and CUDA kernels).
 *
 * The formulas are those stated in include/phive/neus.h (Totoro97/NeuS
 * models/renderer.py): coarse samples, the up-sampling weights at a fixed s,
 * NeRF's inverse-CDF sampling, the merge of sorted samples, the sections and
 * midpoints, the discrete unbiased α with cos annealing, transmittance,
 * weights and colour, and the loss terms.  The backward of the render
 * (neus_ray_backward) recomputes α's intermediates from the inputs; nothing
 * else of the up-sampling is differentiated (as in NeuS).
 *
 * Arrays are per ray, samples in order; g and colours are n × 3.  Scratch
 * is passed in: valid C and C++ (nvcc), no VLAs, restrict only through
 * PHIVE_RESTRICT.
 */
#ifndef PHIVE_KERNELS_NSR_RENDER_H
#define PHIVE_KERNELS_NSR_RENDER_H

#include "common.h"

#ifdef PHIVE_REAL_DOUBLE
#define NEUS_LOG log
#else
#define NEUS_LOG logf
#endif

#define NEUS_ALPHA_EPS ((real)1e-5) /* (P − N + ε)/(P + ε) */
#define NEUS_TRANS_EPS ((real)1e-7) /* Π(1 − α + ε) */
#define NEUS_PDF_EPS ((real)1e-5)   /* sample_pdf: weights + ε, denominators < ε → 1 */
#define NEUS_COS_EPS ((real)1e-5)   /* up_sample: Δf/(Δz + ε) */
#define NEUS_BCE_CLIP ((real)1e-3)  /* the weight sum clipped to [ε, 1 − ε] */

/* Logistic σ(x) and σ'(x) = σ(x)σ(−x), without overflow for either sign. */
PHIVE_HD real neus_sigmoid(real x)
{
    if (x >= 0) return 1 / (1 + REAL_EXP(-x));
    real e = REAL_EXP(x);
    return e / (1 + e);
}

PHIVE_HD real neus_sigmoid_grad(real x)
{
    real e = REAL_EXP(x >= 0 ? -x : x), d = 1 + e;
    return e / (d * d);
}

/* n coarse samples over [near, far], all shifted by `shift` ((u − ½)·2/n with perturb, else 0). */
PHIVE_HD void neus_ray_coarse(int n, real near, real far, real shift, real *PHIVE_RESTRICT z)
{
    for (int i = 0; i < n; ++i) {
        real t = n > 1 ? (real)i / (real)(n - 1) : (real)0;
        z[i] = near + (far - near) * t + shift;
    }
}

/* Section lengths δ_i = z_{i+1} − z_i (δ_{n−1} = last) and midpoints t_i = z_i + δ_i/2. */
PHIVE_HD void neus_ray_sections(int n, const real *PHIVE_RESTRICT z, real last, real *PHIVE_RESTRICT mid,
                                real *PHIVE_RESTRICT dist)
{
    for (int i = 0; i < n; ++i) {
        dist[i] = i + 1 < n ? z[i + 1] - z[i] : last;
        mid[i] = z[i] + dist[i] * (real)0.5;
    }
}

PHIVE_HD real neus_norm3(const real *v) { return REAL_SQRT(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }

/* NeuS up_sample: the n − 1 section weights of sorted samples z with SDF values f at fixed inv_s. */
PHIVE_HD void neus_upsample_weights(int n, const real *PHIVE_RESTRICT z, const real *PHIVE_RESTRICT f,
                                    const real *PHIVE_RESTRICT o, const real *PHIVE_RESTRICT d, real inv_s,
                                    real *PHIVE_RESTRICT w)
{
    real prev_cos = 0, trans = 1;
    real p[3] = {o[0] + z[0] * d[0], o[1] + z[0] * d[1], o[2] + z[0] * d[2]};
    real r_prev = neus_norm3(p);
    for (int j = 0; j + 1 < n; ++j) {
        for (int c = 0; c < 3; ++c) p[c] = o[c] + z[j + 1] * d[c];
        real r_next = neus_norm3(p);
        real dz = z[j + 1] - z[j];
        real cos_j = (f[j + 1] - f[j]) / (dz + NEUS_COS_EPS);
        real c = prev_cos < cos_j ? prev_cos : cos_j;
        prev_cos = cos_j;
        c = c < (real)-1e3 ? (real)-1e3 : (c > 0 ? (real)0 : c);
        if (!(r_prev < 1 || r_next < 1)) c = 0;
        real mid = (f[j] + f[j + 1]) * (real)0.5;
        real prev_cdf = neus_sigmoid((mid - c * dz * (real)0.5) * inv_s);
        real next_cdf = neus_sigmoid((mid + c * dz * (real)0.5) * inv_s);
        real alpha = (prev_cdf - next_cdf + NEUS_ALPHA_EPS) / (prev_cdf + NEUS_ALPHA_EPS);
        w[j] = alpha * trans;
        trans *= 1 - alpha + NEUS_TRANS_EPS;
        r_prev = r_next;
    }
}

/* NeRF's sample_pdf: m samples from bins z (n, sorted) and section weights w (n − 1); u (m values
 * in [0, 1), sorted) or NULL for the deterministic u_k = (k + ½)/m.  cdf: scratch of n reals. */
PHIVE_HD void neus_sample_pdf(int n, const real *PHIVE_RESTRICT bins, const real *PHIVE_RESTRICT w, int m,
                              const real *PHIVE_RESTRICT u, real *PHIVE_RESTRICT cdf, real *PHIVE_RESTRICT out)
{
    real sum = 0;
    for (int j = 0; j + 1 < n; ++j) sum += w[j] + NEUS_PDF_EPS;
    real acc = 0;
    cdf[0] = 0;
    for (int j = 0; j + 1 < n; ++j) {
        acc += (w[j] + NEUS_PDF_EPS) / sum;
        cdf[j + 1] = acc;
    }
    for (int k = 0; k < m; ++k) {
        real uk = u ? u[k] : ((real)k + (real)0.5) / (real)m;
        /* searchsorted(cdf, u, right=True): the number of entries ≤ u */
        int lo_i = 0, hi_i = n;
        while (lo_i < hi_i) {
            int half = (lo_i + hi_i) / 2;
            if (cdf[half] <= uk) lo_i = half + 1;
            else hi_i = half;
        }
        int below = lo_i - 1 > 0 ? lo_i - 1 : 0, above = lo_i < n - 1 ? lo_i : n - 1;
        real den = cdf[above] - cdf[below];
        if (den < NEUS_PDF_EPS) den = 1;
        real t = (uk - cdf[below]) / den;
        out[k] = bins[below] + t * (bins[above] - bins[below]);
    }
}

/* Merge sorted a (n, values fa) and sorted b (m, values fb) into out (n + m) and fout; fa, fb, fout
 * may be NULL (no values).  Ties take a first. */
PHIVE_HD void neus_merge_sorted(int n, const real *PHIVE_RESTRICT a, const real *PHIVE_RESTRICT fa, int m,
                                const real *PHIVE_RESTRICT b, const real *PHIVE_RESTRICT fb, real *PHIVE_RESTRICT out,
                                real *PHIVE_RESTRICT fout)
{
    int i = 0, j = 0;
    for (int k = 0; k < n + m; ++k) {
        if (j >= m || (i < n && a[i] <= b[j])) {
            out[k] = a[i];
            if (fout) fout[k] = fa[i];
            ++i;
        } else {
            out[k] = b[j];
            if (fout) fout[k] = fb[j];
            ++j;
        }
    }
}

/* Tetrahedral finite-difference taps v_k (k < 4): (1,−1,−1), (−1,−1,1), (−1,1,−1), (1,1,1);
 * Σ_k v_k = 0 and Σ_k v_k v_kᵀ = 4I, so ∇f(x) ≈ Σ_k v_k f(x + εv_k)/(4ε) to O(ε²). */
PHIVE_HD real neus_tap(int k, int c)
{
    int positive = c == 0 ? (k == 0 || k == 3) : (c == 1 ? k >= 2 : (k == 1 || k == 3));
    return positive ? (real)1 : (real)-1;
}

/* Finite-difference tap k of n_taps: 4 tetrahedral (neus_tap, Σ v vᵀ = 4I) or 6 central
 * +e_x, −e_x, +e_y, −e_y, +e_z, −e_z (Σ v vᵀ = 2I); ∇f ≈ Σ_k v_k f(x + εv_k)/(κε) with κ = 4 or 2,
 * and with the central taps the Laplacian Δf ≈ (Σ_k f(x + εv_k) − 6 f(x))/ε². */
PHIVE_HD real neus_fd_tap(int n_taps, int k, int c)
{
    if (n_taps == 4) return neus_tap(k, c);
    return k / 2 == c ? (k % 2 ? (real)-1 : (real)1) : (real)0;
}

/* ι = −(relu(−cos/2 + ½)(1 − r) + relu(−cos)·r) and dι/dcos (relu'(0) = 0). */
PHIVE_HD real neus_iter_cos(real cos, real r, real *dcos)
{
    real a = -cos * (real)0.5 + (real)0.5, b = -cos;
    *dcos = (a > 0 ? (real)0.5 * (1 - r) : (real)0) + (b > 0 ? r : (real)0);
    return -((a > 0 ? a : (real)0) * (1 - r) + (b > 0 ? b : (real)0) * r);
}

/* NeuS's discrete α of one section: f, g (3), its length δ, unit d, s = inv_s, cos annealing r:
 * α = clip((P − N + ε)/(P + ε), 0, 1), P = σ(s(f − ιδ/2)), N = σ(s(f + ιδ/2)), ι = neus_iter_cos(d·g). */
PHIVE_HD real neus_section_alpha(real f, const real *PHIVE_RESTRICT g, real dist, const real *PHIVE_RESTRICT d, real s,
                                 real r)
{
    real dcos, cos_i = d[0] * g[0] + d[1] * g[1] + d[2] * g[2];
    real half = neus_iter_cos(cos_i, r, &dcos) * dist * (real)0.5;
    real P = neus_sigmoid((f - half) * s), N = neus_sigmoid((f + half) * s);
    real a = (P - N + NEUS_ALPHA_EPS) / (P + NEUS_ALPHA_EPS);
    return a < 0 ? (real)0 : (a > 1 ? (real)1 : a);
}

/* The backward of neus_section_alpha from ga = dL/dα: adds dL/df to *grad_f and dL/dg to grad_g (3);
 * returns dL/ds.  (The clip passes no gradient where it is active.) */
PHIVE_HD real neus_section_alpha_backward(real ga, real f, const real *PHIVE_RESTRICT g, real dist,
                                          const real *PHIVE_RESTRICT d, real s, real r, real *PHIVE_RESTRICT grad_f,
                                          real *PHIVE_RESTRICT grad_g)
{
    real dcos, cos_i = d[0] * g[0] + d[1] * g[1] + d[2] * g[2];
    real half = neus_iter_cos(cos_i, r, &dcos) * dist * (real)0.5;
    real em = f - half, ep = f + half;
    real P = neus_sigmoid(em * s), N = neus_sigmoid(ep * s);
    real den = P + NEUS_ALPHA_EPS, raw = (P - N + NEUS_ALPHA_EPS) / den;
    if (raw < 0 || raw > 1) return 0;
    real gP = ga * (1 - raw) / den, gN = -ga / den;
    real gem = gP * neus_sigmoid_grad(em * s), gep = gN * neus_sigmoid_grad(ep * s); /* per unit of s·e */
    *grad_f += (gem + gep) * s;
    real gcos = (gep - gem) * s * dist * (real)0.5 * dcos;
    for (int k = 0; k < 3; ++k) grad_g[k] += gcos * d[k];
    return gem * em + gep * ep;
}

/* Alpha compositing of n samples: α (n), colours c (n × 3), bg (3, or NULL):
 * T_0 = 1, T_{i+1} = T_i (1 − α_i + 1e-7), w_i = α_i T_i, C = Σ w_i c_i [+ bg (1 − W)], W = Σ w_i.
 * Writes T (transmittance before each sample), w, C (3) and W. */
PHIVE_HD void neus_composite_forward(int n, const real *PHIVE_RESTRICT alpha, const real *PHIVE_RESTRICT c,
                                     const real *PHIVE_RESTRICT bg, real *PHIVE_RESTRICT trans, real *PHIVE_RESTRICT w,
                                     real *PHIVE_RESTRICT color, real *PHIVE_RESTRICT weight_sum)
{
    real T = 1, W = 0, C0 = 0, C1 = 0, C2 = 0;
    for (int i = 0; i < n; ++i) {
        real wi = alpha[i] * T;
        trans[i] = T;
        w[i] = wi;
        W += wi;
        C0 += wi * c[3 * i];
        C1 += wi * c[3 * i + 1];
        C2 += wi * c[3 * i + 2];
        T *= 1 - alpha[i] + NEUS_TRANS_EPS;
    }
    if (bg) {
        C0 += bg[0] * (1 - W);
        C1 += bg[1] * (1 - W);
        C2 += bg[2] * (1 - W);
    }
    color[0] = C0;
    color[1] = C1;
    color[2] = C2;
    *weight_sum = W;
}

/* The backward of neus_composite_forward from dL/dC (3), dL/dW and dL/dw (n, or NULL): writes
 * grad_alpha (n) and adds dL/dc to grad_c.  With b_i = Σ_{k>i} w̄_k α_k Π_{i<j<k}(1 − α_j + ε):
 * dL/dα_i = T_i (w̄_i − b_i). */
PHIVE_HD void neus_composite_backward(int n, const real *PHIVE_RESTRICT alpha, const real *PHIVE_RESTRICT c,
                                      const real *PHIVE_RESTRICT bg, const real *PHIVE_RESTRICT trans,
                                      const real *PHIVE_RESTRICT w, const real *PHIVE_RESTRICT grad_color,
                                      real grad_weight_sum, const real *PHIVE_RESTRICT grad_w,
                                      real *PHIVE_RESTRICT grad_alpha, real *PHIVE_RESTRICT grad_c)
{
    real gW = grad_weight_sum;
    if (bg) gW -= grad_color[0] * bg[0] + grad_color[1] * bg[1] + grad_color[2] * bg[2];
    real b = 0;
    for (int i = n - 1; i >= 0; --i) {
        const real *ci = c + 3 * i;
        real gw = gW + grad_color[0] * ci[0] + grad_color[1] * ci[1] + grad_color[2] * ci[2];
        if (grad_w) gw += grad_w[i];
        for (int k = 0; k < 3; ++k) grad_c[3 * i + k] += grad_color[k] * w[i];
        grad_alpha[i] = trans[i] * (gw - b);
        b = gw * alpha[i] + (1 - alpha[i] + NEUS_TRANS_EPS) * b;
    }
}

/* The render of one ray of n samples: f (n), g (n × 3), c (n × 3 colours), δ (n), unit d, s = inv_s,
 * r = cos annealing ratio, bg (3, or NULL).  Writes α, T, w, the colour C (3) and the weight sum W. */
PHIVE_HD void neus_ray_forward(int n, const real *PHIVE_RESTRICT f, const real *PHIVE_RESTRICT g,
                               const real *PHIVE_RESTRICT c, const real *PHIVE_RESTRICT dist,
                               const real *PHIVE_RESTRICT d, real s, real r, const real *PHIVE_RESTRICT bg,
                               real *PHIVE_RESTRICT alpha, real *PHIVE_RESTRICT trans, real *PHIVE_RESTRICT w,
                               real *PHIVE_RESTRICT color, real *PHIVE_RESTRICT weight_sum)
{
    for (int i = 0; i < n; ++i) alpha[i] = neus_section_alpha(f[i], g + 3 * i, dist[i], d, s, r);
    neus_composite_forward(n, alpha, c, bg, trans, w, color, weight_sum);
}

/* The backward of neus_ray_forward: from dL/dC (3), dL/dW and dL/dw (n, or NULL) accumulate (+=)
 * dL/df, dL/dg, dL/dc; returns dL/ds.  α, T, w are neus_ray_forward's outputs; grad_alpha (n) is
 * scratch (left holding dL/dα). */
PHIVE_HD real neus_ray_backward(int n, const real *PHIVE_RESTRICT f, const real *PHIVE_RESTRICT g,
                                const real *PHIVE_RESTRICT c, const real *PHIVE_RESTRICT dist,
                                const real *PHIVE_RESTRICT d, real s, real r, const real *PHIVE_RESTRICT bg,
                                const real *PHIVE_RESTRICT alpha, const real *PHIVE_RESTRICT trans,
                                const real *PHIVE_RESTRICT w, const real *PHIVE_RESTRICT grad_color,
                                real grad_weight_sum, const real *PHIVE_RESTRICT grad_w, real *PHIVE_RESTRICT grad_alpha,
                                real *PHIVE_RESTRICT grad_f, real *PHIVE_RESTRICT grad_g, real *PHIVE_RESTRICT grad_c)
{
    neus_composite_backward(n, alpha, c, bg, trans, w, grad_color, grad_weight_sum, grad_w, grad_alpha, grad_c);
    real grad_s = 0;
    for (int i = 0; i < n; ++i)
        grad_s += neus_section_alpha_backward(grad_alpha[i], f[i], g + 3 * i, dist[i], d, s, r, grad_f + i, grad_g + 3 * i);
    return grad_s;
}

/* ---- NeRF++ background (NeuS's render_core_outside) ---- */

/* Inverted-sphere coordinates of p: [p/r, 1/r] with r = max(‖p‖, 1). */
PHIVE_HD void nerfpp_contract(const real *PHIVE_RESTRICT p, real *PHIVE_RESTRICT q)
{
    real r = neus_norm3(p);
    if (r < 1) r = 1;
    q[0] = p[0] / r, q[1] = p[1] / r, q[2] = p[2] / r, q[3] = 1 / r;
}

/* NeRF's α = 1 − exp(−softplus(σ)·δ), and dα/dσ in *dalpha. */
PHIVE_HD real nerfpp_alpha(real sigma, real dist, real *PHIVE_RESTRICT dalpha)
{
    real sp = sigma > 20 ? sigma : REAL_LOG1P(REAL_EXP(sigma));
    real keep = REAL_EXP(-sp * dist);
    *dalpha = keep * dist * neus_sigmoid(sigma);
    return 1 - keep;
}

/* Outside samples (NeuS): z = far / flip(lin) + 1/n_samples with lin = linspace(1e-3, 1 − 1/(m + 1), m),
 * jittered inside its cell when u (m uniforms) is given. */
PHIVE_HD void nerfpp_outside_samples(int m, real far, real n_samples, const real *PHIVE_RESTRICT u,
                                     real *PHIVE_RESTRICT z)
{
    const real lo = (real)1e-3, hi = 1 - 1 / ((real)m + 1);
    for (int k = 0; k < m; ++k) {
        int j = m - 1 - k; /* flip */
        real lin = m > 1 ? lo + (hi - lo) * (real)j / (real)(m - 1) : lo;
        if (u) {
            real prev = j > 0 ? lo + (hi - lo) * (real)(j - 1) / (real)(m - 1) : lin;
            real next = j + 1 < m ? lo + (hi - lo) * (real)(j + 1) / (real)(m - 1) : lin;
            real lower = j > 0 ? (real)0.5 * (prev + lin) : lin, upper = j + 1 < m ? (real)0.5 * (lin + next) : lin;
            lin = lower + (upper - lower) * u[j];
        }
        z[k] = far / lin + 1 / n_samples;
    }
}

/* Eikonal term (‖g‖ − 1)²; dg (may be NULL) receives its gradient 2(‖g‖ − 1) g/‖g‖ (0 at g = 0). */
PHIVE_HD real neus_eikonal(const real *PHIVE_RESTRICT g, real *PHIVE_RESTRICT dg)
{
    real norm = neus_norm3(g), e = norm - 1;
    if (dg) {
        real k = norm > 0 ? 2 * e / norm : (real)0;
        dg[0] = k * g[0];
        dg[1] = k * g[1];
        dg[2] = k * g[2];
    }
    return e * e;
}

/* Binary cross-entropy of the clipped weight sum against m; *dW = its derivative w.r.t. W
 * (0 where the clip is active). */
PHIVE_HD real neus_mask_bce(real W, real m, real *dW)
{
    const real lo = NEUS_BCE_CLIP, hi = 1 - NEUS_BCE_CLIP;
    real x = W < lo ? lo : (W > hi ? hi : W);
    *dW = W >= lo && W <= hi ? -m / x + (1 - m) / (1 - x) : (real)0;
    return -(m * NEUS_LOG(x) + (1 - m) * NEUS_LOG(1 - x));
}

#endif
