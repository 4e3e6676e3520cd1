// nsr_volume.cu — CUDA launchers of the trilinear feature-grid lookup in nsr_volume.h: one thread
// per point for the lookup, one per (point, corner) for the scatter, whose sums go through
// atomicAdd (their order, and so the last bits, differ from the CPU's fixed order).
#include "nsr_volume.h"

namespace {

__global__ void lookup_kernel(volume_grid g, const real *V, int C, const real *x, long n, real *out, int width,
                              int offset)
{
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) volume_lookup(&g, V, C, x + 3 * i, out + i * width + offset);
}

__global__ void scatter_kernel(volume_grid g, real *G, int C, const real *x, long n, const real *grad_out, int width,
                               int offset)
{
    const long t = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= 8 * n) return;
    const long i = t >> 3;
    int base[3];
    real frac[3], dfrac[3], w;
    volume_cell(x + 3 * i, g.r, base, frac, dfrac);
    real *v = G + volume_corner(&g, base, frac, (int)(t & 7), &w) * C;
    const real *go = grad_out + i * width + offset;
    for (int k = 0; k < C; ++k) atomicAdd(&v[k], w * go[k]);
}

int blocks_for(long threads_total) { return (int)((threads_total + 255) / 256); }

} // namespace

extern "C" int volume_lookup_device(volume_grid g, const real *V, int C, const real *x, long n, real *out, int width,
                                    int offset)
{
    if (n > 0) lookup_kernel<<<blocks_for(n), 256>>>(g, V, C, x, n, out, width, offset);
    return (int)cudaGetLastError();
}

extern "C" int volume_scatter_device(volume_grid g, real *G, int C, const real *x, long n, const real *grad_out,
                                     int width, int offset)
{
    if (n > 0) scatter_kernel<<<blocks_for(8 * n), 256>>>(g, G, C, x, n, grad_out, width, offset);
    return (int)cudaGetLastError();
}
