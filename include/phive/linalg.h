/* linalg.h — the one dense linear-algebra interface.
 *
 * Row-major GEMM on `real`: C = alpha·op(A)·op(B) + beta·C with op(X) = X or
 * Xᵀ.  OpenBLAS (cblas_sgemm / cblas_dgemm) on the host; the CUDA build
 * adds linalg_gemm_device on cuBLAS with the same row-major convention.
 * Large host products are split by rows of C over the OpenMP team (outside
 * parallel regions), one single-threaded OpenBLAS call per thread, so
 * OpenBLAS's own thread pool (left to PETSc's factorisations) does not spin
 * against OpenMP's between calls.
 */
#ifndef PHIVE_LINALG_H
#define PHIVE_LINALG_H

#include "phive/real.h"

void linalg_gemm(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda,
                 const real *b, int ldb, real beta, real *c, int ldc);

#ifdef PHIVE_CUDA
/* handle: backend.cublas; pointers are device memory. Returns 0 or -1. */
int linalg_gemm_device(void *handle, int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
                       int lda, const real *b, int ldb, real beta, real *c, int ldc);
#endif

#endif
