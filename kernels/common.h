/* common.h — macros that let one per-element function serve CPU and GPU.
 *
 * PHIVE_HD marks a function __host__ __device__ under nvcc and plain static
 * inline under gcc.  PHIVE_ATOMIC_ADD is the single scatter-add used by
 * backward passes: atomicAdd on the device, an OpenMP atomic on the host
 * (a plain add in host code compiled without OpenMP).
 * Valid C and C++: no VLAs, `restrict` only through PHIVE_RESTRICT.
 */
#ifndef PHIVE_KERNELS_COMMON_H
#define PHIVE_KERNELS_COMMON_H

#include <math.h>

#include "phive/real.h"

#if defined(__CUDACC__)
#define PHIVE_HD static inline __host__ __device__
#define PHIVE_RESTRICT __restrict__
#else
#define PHIVE_HD static inline
#define PHIVE_RESTRICT restrict
#endif

/* Math on `real` without detours through double in the float build. */
#ifdef PHIVE_REAL_DOUBLE
#define REAL_EXP exp
#define REAL_LOG1P log1p
#define REAL_SQRT sqrt
#define REAL_SIN sin
#define REAL_COS cos
#else
#define REAL_EXP expf
#define REAL_LOG1P log1pf
#define REAL_SQRT sqrtf
#define REAL_SIN sinf
#define REAL_COS cosf
#endif

#if defined(__CUDA_ARCH__)
#define PHIVE_ATOMIC_ADD(ptr, value) atomicAdd((ptr), (value))
#elif defined(_OPENMP)
#define PHIVE_ATOMIC_ADD(ptr, value) \
    do {                             \
        _Pragma("omp atomic")        \
        *(ptr) += (value);           \
    } while (0)
#else /* host code of a .cu file: single-threaded there */
#define PHIVE_ATOMIC_ADD(ptr, value) (*(ptr) += (value))
#endif

#endif
