/* linalg.c — GEMM on OpenBLAS and cuBLAS (see linalg.h). */
#include "phive/linalg.h"

#include <cblas.h>

#include "phive/errors.h"

#ifdef PHIVE_CUDA
#include <cublas_v2.h>
#endif

void linalg_gemm(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda,
                 const real *b, int ldb, real beta, real *c, int ldc)
{
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
#ifdef PHIVE_REAL_DOUBLE
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

#ifdef PHIVE_CUDA
/* cuBLAS is column-major: row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ. */
int linalg_gemm_device(void *handle, int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
                       int lda, const real *b, int ldb, real beta, real *c, int ldc)
{
    cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
#ifdef PHIVE_REAL_DOUBLE
    cublasStatus_t s = cublasDgemm((cublasHandle_t)handle, tb, ta, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc);
#else
    cublasStatus_t s = cublasSgemm((cublasHandle_t)handle, tb, ta, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc);
#endif
    return s == CUBLAS_STATUS_SUCCESS ? 0 : err_set("cuBLAS gemm %dx%dx%d failed (status %d)", m, n, k, (int)s);
}
#endif
