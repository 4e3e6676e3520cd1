/* backend.h — where a rank computes: its GPU, or CPU threads.
 *
 * A CUDA build picks GPU (local_rank mod visible devices).  Without a
 * visible GPU it says so in one line and runs on the CPU; `device = cuda` in
 * the config turns that into an error instead.  CPU threads per rank
 * (OpenMP and OpenBLAS) default to the cores of the node divided by the
 * ranks on it.
 */
#ifndef PHIVE_BACKEND_H
#define PHIVE_BACKEND_H

typedef struct {
    int cuda_built;   /* compiled with CUDA kernels */
    int device;       /* GPU index, -1 = CPU */
    int n_devices;    /* visible GPUs */
    char device_name[256];
    int threads;      /* CPU threads of this rank */
    void *cublas;     /* cublasHandle_t when device >= 0 */
} backend;

/* want: "auto", "cpu" or "cuda"; threads 0 = automatic. */
int backend_init(backend *b, const char *want, int local_rank, int local_size, int threads);
void backend_free(backend *b);
/* One line describing the backend ("CPU, 2 threads" / "CUDA device 0: NVIDIA H100"). */
void backend_describe(const backend *b, char *out, int size);

#endif
