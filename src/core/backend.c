/* backend.c — device and thread selection (see backend.h). */
#include "phive/backend.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "phive/errors.h"
#include "phive/log.h"

#ifdef PHIVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

static int pick_threads(int requested, int local_size)
{
    if (requested > 0) return requested;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int per_rank = (int)(cores / (local_size > 0 ? local_size : 1));
    return per_rank > 0 ? per_rank : 1;
}

static int pick_device(backend *b, const char *want, int local_rank)
{
#ifdef PHIVE_CUDA
    if (!strcmp(want, "cpu")) return 0;
    if (cudaGetDeviceCount(&b->n_devices) != cudaSuccess) b->n_devices = 0;
    if (b->n_devices == 0) {
        if (!strcmp(want, "cuda")) return err_set("run.device = cuda, but no GPU is visible");
        if (local_rank == 0) log_warn("CUDA build, but no GPU is visible: running on the CPU");
        return 0;
    }
    b->device = local_rank % b->n_devices;
    struct cudaDeviceProp prop;
    if (cudaSetDevice(b->device) != cudaSuccess || cudaGetDeviceProperties(&prop, b->device) != cudaSuccess)
        return err_set("cannot use CUDA device %d", b->device);
    snprintf(b->device_name, sizeof b->device_name, "%s", prop.name);
    cublasHandle_t handle;
    if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) return err_set("cublasCreate failed");
    b->cublas = handle;
    return 0;
#else
    (void)b;
    (void)local_rank;
    if (!strcmp(want, "cuda")) return err_set("run.device = cuda, but this build has no CUDA (make CUDA=1)");
    return 0;
#endif
}

int backend_init(backend *b, const char *want, int local_rank, int local_size, int threads)
{
    memset(b, 0, sizeof *b);
    b->device = -1;
#ifdef PHIVE_CUDA
    b->cuda_built = 1;
#endif
    b->threads = pick_threads(threads, local_size);
    omp_set_num_threads(b->threads);
    openblas_set_num_threads(b->threads);
    return pick_device(b, want, local_rank);
}

void backend_free(backend *b)
{
#ifdef PHIVE_CUDA
    if (b->cublas) cublasDestroy((cublasHandle_t)b->cublas);
#endif
    b->cublas = NULL;
}

void backend_describe(const backend *b, char *out, int size)
{
    if (b->device >= 0)
        snprintf(out, (size_t)size, "CUDA device %d (%s) of %d", b->device, b->device_name, b->n_devices);
    else
        snprintf(out, (size_t)size, "CPU, %d thread%s%s", b->threads, b->threads == 1 ? "" : "s",
                 b->cuda_built ? " (CUDA build, no GPU in use)" : "");
}
