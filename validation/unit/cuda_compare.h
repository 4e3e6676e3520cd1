/* cuda_compare.h — the frame of a test that compares CUDA launchers with the CPU.
 *
 * One test, test_cuda_matches_cpu: the including file defines it in CUDA builds (PHIVE_CUDA),
 * starting with skip_without_gpu(); CPU builds get a stub that skips with a message.  main runs
 * it.  Include after cmocka.h.
 */
#ifndef PHIVE_TEST_CUDA_COMPARE_H
#define PHIVE_TEST_CUDA_COMPARE_H

#include <math.h>
#include <stdio.h>

#include "phive/real.h"

#ifdef PHIVE_CUDA
#include <cuda_runtime.h>

static void test_cuda_matches_cpu(void **state);

/* Skip the test (with a message) where no GPU is visible. */
static void skip_without_gpu(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) == cudaSuccess && n > 0) return;
    printf("no GPU is visible: the CUDA launchers are compiled but not run here\n");
    skip();
}

/* Largest |a − b| relative to the largest |b|. */
static double relative_gap(const real *a, const real *b, size_t n)
{
    double gap = 0, scale = 1e-12;
    for (size_t i = 0; i < n; ++i) gap = fmax(gap, fabs(a[i] - b[i])), scale = fmax(scale, fabs(b[i]));
    return gap / scale;
}
#else
static void test_cuda_matches_cpu(void **state)
{
    (void)state;
    printf("CPU build: no CUDA launchers to compare\n");
    skip();
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cuda_matches_cpu)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
