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

PHIVE_HD real relu_forward(real x) { return x > 0 ? x : (real)0; }
PHIVE_HD real relu_grad(real x) { return x > 0 ? (real)1 : (real)0; }

/* NeuS positional encoding of one 3-vector: [x, sin(2^k x), cos(2^k x)] for k < n_freqs. */
PHIVE_HD void positional_encoding(const real *PHIVE_RESTRICT x, int n_freqs, real *PHIVE_RESTRICT out)
{
    out[0] = x[0]; out[1] = x[1]; out[2] = x[2];
    for (int k = 0; k < n_freqs; ++k) {
        real scale = (real)(1 << k);
        for (int c = 0; c < 3; ++c) {
            out[3 + 6 * k + c] = REAL_SIN(scale * x[c]);
            out[6 + 6 * k + c] = REAL_COS(scale * x[c]);
        }
    }
}

#endif
