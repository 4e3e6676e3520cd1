/* linalg.c — GEMM on OpenBLAS and cuBLAS (see linalg.h). */
#include "phive/linalg.h"

#include <cblas.h>
#include <omp.h>

#include "phive/errors.h"

#ifdef PHIVE_CUDA
#include <cublas_v2.h>
#endif

static void gemm_call(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda, const real *b,
                      int ldb, real beta, real *c, int ldc)
{
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
#ifdef PHIVE_REAL_DOUBLE
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

/* Products below this many multiply-adds run as one call. */
#define SPLIT_WORK (1L << 21)

void linalg_gemm(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda,
                 const real *b, int ldb, real beta, real *c, int ldc)
{
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (threads < 2 || m < 2 * threads || (long)m * n * k < SPLIT_WORK) {
        gemm_call(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* each thread its block of C's rows: op(A)'s rows m0..m1 are A's rows, or its columns when
     * transposed; OpenBLAS single-threaded inside, its own count back for other callers (PETSc) */
    const int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        const int m0 = (int)((long)m * t / T), m1 = (int)((long)m * (t + 1) / T);
        const real *a_block = trans_a ? a + m0 : a + (size_t)m0 * lda;
        if (m1 > m0) gemm_call(trans_a, trans_b, m1 - m0, n, k, alpha, a_block, lda, b, ldb, beta, c + (size_t)m0 * ldc, ldc);
    }
    openblas_set_num_threads(blas_threads);
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
