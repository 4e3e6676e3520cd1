// adam.cu — CUDA launcher for the per-element Adam update in adam.h.
#include "adam.h"

static __global__ void adam_update_kernel(real *param, const real *grad, real *m, real *v, long n,
                                          adam_coefficients c)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) adam_update_element(&param[i], grad[i], &m[i], &v[i], c);
}

extern "C" int adam_update_device(real *param, const real *grad, real *m, real *v, long n, adam_coefficients c)
{
    const int threads = 256;
    long blocks = (n + threads - 1) / threads;
    if (blocks > 0) adam_update_kernel<<<(unsigned)blocks, threads>>>(param, grad, m, v, n, c);
    return (int)cudaGetLastError();
}
