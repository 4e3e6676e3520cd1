/* adam.h — the per-element Adam update, shared by the CPU loop and the CUDA launcher.
 *
 * PyTorch's formulation: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g²,
 * p ← p − (lr / bc1) · m / (√v / √bc2 + ε) with bc_i = 1 − β_i^t.
 */
#ifndef PHIVE_KERNELS_ADAM_H
#define PHIVE_KERNELS_ADAM_H

#include "common.h"

typedef struct {
    real lr, beta1, beta2, eps;
    real step_size;       /* lr / bc1 */
    real inv_sqrt_bc2;    /* 1 / sqrt(bc2) */
} adam_coefficients;

PHIVE_HD void adam_update_element(real *PHIVE_RESTRICT param, real grad, real *PHIVE_RESTRICT m,
                                  real *PHIVE_RESTRICT v, adam_coefficients c)
{
    real m_new = c.beta1 * *m + (1 - c.beta1) * grad;
    real v_new = c.beta2 * *v + (1 - c.beta2) * grad * grad;
    *m = m_new;
    *v = v_new;
    *param -= c.step_size * m_new / (REAL_SQRT(v_new) * c.inv_sqrt_bc2 + c.eps);
}

#ifdef PHIVE_CUDA
#ifdef __cplusplus
extern "C" {
#endif
/* All pointers device memory; returns 0 or a CUDA error code. */
int adam_update_device(real *param, const real *grad, real *m, real *v, long n, adam_coefficients c);
#ifdef __cplusplus
}
#endif
#endif

#endif
