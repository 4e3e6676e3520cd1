/* mlp.h — per-element activation math of the MLPs (CPU loops and CUDA kernels).
 *
 * Softplus with sharpness β as NeuS uses it: log(1 + exp(βx)) / β, linear
 * above βx > 20 where exp would overflow and the function equals x to
 * float precision.  Its derivative is sigmoid(βx).
 */
#ifndef PHIVE_KERNELS_MLP_H
#define PHIVE_KERNELS_MLP_H

#include "common.h"

PHIVE_HD real softplus_forward(real x, real beta)
{
    real bx = beta * x;
    return bx > 20 ? x : REAL_LOG1P(REAL_EXP(bx)) / beta;
}

PHIVE_HD real softplus_grad(real x, real beta)
{
    real bx = beta * x;
    return bx > 20 ? (real)1 : 1 / (1 + REAL_EXP(-bx));
}

/* Float bits, for branch-free selects that CPU loops can vectorise (FP compares would keep
 * GCC from if-converting under the default -ftrapping-math). */
PHIVE_HD unsigned float_bits(float f)
{
    union { float f; unsigned u; } v;
    v.f = f;
    return v.u;
}

PHIVE_HD float bits_float(unsigned u)
{
    union { float f; unsigned u; } v;
    v.u = u;
    return v.f;
}

/* mask ? a : b for mask 0 or ~0u. */
PHIVE_HD float select_float(unsigned mask, float a, float b) { return bits_float((float_bits(a) & mask) | (float_bits(b) & ~mask)); }

/* Softplus and its derivative in one pass (*grad = sigmoid(βx)), the same function as
 * softplus_forward / softplus_grad (linear above βx > 20).  In float it has no libm call and
 * no branch, so that CPU loops vectorise: e = exp(−|βx|) by Cody–Waite reduction (ln 2 =
 * 0.693359375 − 2.12194440e-4) and a degree-7 Taylor polynomial on |r| ≤ ln2/2, scaled by 2^n
 * through the exponent bits; log1p(e) = 2 atanh(s), s = e/(2 + e) ≤ 1/3, by the odd series to
 * s¹⁷ (truncation < 1e-11); |βx| is clamped at 80 (e ≥ 1.8e-35).  Relative error ≤ 4e-7 against
 * libm.  In double it is the libm formula. */
PHIVE_HD real softplus_fused(real x, real beta, real *grad)
{
    real bx = beta * x;
#ifdef PHIVE_REAL_DOUBLE
    real e = exp(-fabs(bx)), inv = 1 / (1 + e);
    if (bx > 20) {
        *grad = 1;
        return x;
    }
    *grad = bx >= 0 ? inv : e * inv;
    return ((bx > 0 ? bx : 0.0) + log1p(e)) / beta;
#else
    unsigned bits = float_bits(bx), abits = bits & 0x7fffffffu;
    const unsigned cap = 0x42a00000u; /* 80.0f */
    float a = bits_float(abits < cap ? abits : cap);
    float t = -a * 1.44269504088896341f;
    int n = (int)(t - 0.5f);
    float r = -a - (float)n * 0.693359375f - (float)n * -2.12194440e-4f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    float e = p * bits_float((unsigned)(n + 127) << 23);
    float q = e / (2.0f + e), q2 = q * q;
    float l1p = 2.0f * q * (1.0f + q2 * (1.0f / 3 + q2 * (1.0f / 5 + q2 * (1.0f / 7 + q2 * (1.0f / 9 + q2 * (1.0f / 11 + q2 * (1.0f / 13 + q2 * (1.0f / 15 + q2 * (1.0f / 17)))))))));
    float inv = 1.0f / (1.0f + e);
    unsigned negative = 0u - (bits >> 31);                            /* bx < 0 (or −0) */
    unsigned linear = 0u - (unsigned)((int)bits > (int)0x41a00000u); /* bx > 20 */
    float value = (select_float(negative, 0.0f, bx) + l1p) / beta;
    *grad = select_float(linear, 1.0f, select_float(negative, e * inv, inv));
    return select_float(linear, x, value);
#endif
}

PHIVE_HD real relu_forward(real x) { return x > 0 ? x : (real)0; }
PHIVE_HD real relu_grad(real x) { return x > 0 ? (real)1 : (real)0; }

/* NeuS positional encoding (get_embedder, include_input, log sampling) of one D-vector:
 * [x, sin(2⁰x), cos(2⁰x), …, sin(2^{F−1}x), cos(2^{F−1}x)] (each term a D-vector). */
PHIVE_HD void positional_encoding(const real *PHIVE_RESTRICT x, int D, int n_freqs, real *PHIVE_RESTRICT out)
{
    for (int c = 0; c < D; ++c) out[c] = x[c];
    for (int k = 0; k < n_freqs; ++k) {
        real scale = (real)(1 << k);
        for (int c = 0; c < D; ++c) {
            out[D * (1 + 2 * k) + c] = REAL_SIN(scale * x[c]);
            out[D * (2 + 2 * k) + c] = REAL_COS(scale * x[c]);
        }
    }
}

/* Number of outputs of positional_encoding: D·(1 + 2·n_freqs). */
PHIVE_HD int positional_encoding_width(int D, int n_freqs) { return D * (1 + 2 * n_freqs); }

/* dL/dx (D) from dL/d(out) of positional_encoding, using its output `out` for the
 * sines and cosines: d sin(2^k x)/dx = 2^k cos(2^k x), d cos(2^k x)/dx = −2^k sin(2^k x). */
PHIVE_HD void positional_encoding_vjp(const real *PHIVE_RESTRICT out, int D, int n_freqs,
                                      const real *PHIVE_RESTRICT grad_out, real *PHIVE_RESTRICT grad_x)
{
    for (int c = 0; c < D; ++c) grad_x[c] = grad_out[c];
    for (int k = 0; k < n_freqs; ++k) {
        real scale = (real)(1 << k);
        const int si = D * (1 + 2 * k), ci = D * (2 + 2 * k);
        for (int c = 0; c < D; ++c)
            grad_x[c] += scale * (out[ci + c] * grad_out[si + c] - out[si + c] * grad_out[ci + c]);
    }
}

/* d(out) = J·dx, the forward-mode derivative of positional_encoding in direction dx. */
PHIVE_HD void positional_encoding_jvp(const real *PHIVE_RESTRICT out, int D, int n_freqs, const real *PHIVE_RESTRICT dx,
                                      real *PHIVE_RESTRICT dout)
{
    for (int c = 0; c < D; ++c) dout[c] = dx[c];
    for (int k = 0; k < n_freqs; ++k) {
        real scale = (real)(1 << k);
        const int si = D * (1 + 2 * k), ci = D * (2 + 2 * k);
        for (int c = 0; c < D; ++c) {
            dout[si + c] = scale * out[ci + c] * dx[c];
            dout[ci + c] = -scale * out[si + c] * dx[c];
        }
    }
}

#endif
