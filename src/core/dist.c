/* dist.c — MPI (and NCCL) plumbing for ranks and groups (see dist.h). */
#include "phive/dist.h"

#include <string.h>

#include "phive/errors.h"

#ifdef PHIVE_CUDA
#include <cuda_runtime.h>
#include <nccl.h>
#endif

#define REAL_MPI (sizeof(real) == sizeof(double) ? MPI_DOUBLE : MPI_FLOAT)

int dist_init(int *argc, char ***argv, dist_ctx *d)
{
    memset(d, 0, sizeof *d);
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised && MPI_Init(argc, argv) != MPI_SUCCESS) return err_set("MPI_Init failed");
    d->world = MPI_COMM_WORLD;
    MPI_Comm_rank(d->world, &d->world_rank);
    MPI_Comm_size(d->world, &d->world_size);
    MPI_Comm node;
    MPI_Comm_split_type(d->world, MPI_COMM_TYPE_SHARED, d->world_rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &d->local_rank);
    MPI_Comm_size(node, &d->local_size);
    MPI_Comm_free(&node);
    d->group = MPI_COMM_NULL;
    d->counter_win = MPI_WIN_NULL;
    d->device = -1;
    return 0;
}

static void release_group(dist_ctx *d)
{
#ifdef PHIVE_CUDA
    if (d->nccl) ncclCommDestroy((ncclComm_t)d->nccl);
#endif
    d->nccl = NULL;
    if (d->group != MPI_COMM_NULL) MPI_Comm_free(&d->group);
}

void dist_finalize(dist_ctx *d)
{
    dist_counter_close(d);
    release_group(d);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
}

int dist_make_groups(dist_ctx *d, int ranks_per_job)
{
    if (ranks_per_job < 1 || d->world_size % ranks_per_job)
        return err_set("--ranks-per-job %d does not divide the %d ranks", ranks_per_job, d->world_size);
    release_group(d);
    d->group_index = d->world_rank / ranks_per_job;
    d->n_groups = d->world_size / ranks_per_job;
    MPI_Comm_split(d->world, d->group_index, d->world_rank, &d->group);
    MPI_Comm_rank(d->group, &d->group_rank);
    MPI_Comm_size(d->group, &d->group_size);
    return d->device >= 0 ? dist_attach_device(d, d->device) : 0;
}

int dist_attach_device(dist_ctx *d, int device)
{
    d->device = device;
#ifdef PHIVE_CUDA
    if (device < 0 || d->group == MPI_COMM_NULL) return 0;
    if (d->nccl) ncclCommDestroy((ncclComm_t)d->nccl);
    ncclUniqueId id;
    if (d->group_rank == 0 && ncclGetUniqueId(&id) != ncclSuccess) return err_set("ncclGetUniqueId failed");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, d->group);
    ncclComm_t comm;
    if (cudaSetDevice(device) != cudaSuccess) return err_set("cudaSetDevice(%d) failed", device);
    ncclResult_t rc = ncclCommInitRank(&comm, d->group_size, id, d->group_rank);
    if (rc != ncclSuccess) return err_set("ncclCommInitRank failed: %s", ncclGetErrorString(rc));
    d->nccl = comm;
#endif
    return 0;
}

int dist_allreduce(const dist_ctx *d, real *buf, size_t n, int on_device)
{
    if (d->group_size <= 1) return 0;
#ifdef PHIVE_CUDA
    if (on_device) {
        ncclDataType_t type = sizeof(real) == sizeof(double) ? ncclDouble : ncclFloat;
        ncclResult_t rc = ncclAllReduce(buf, buf, n, type, ncclSum, (ncclComm_t)d->nccl, 0);
        if (rc == ncclSuccess && cudaStreamSynchronize(0) == cudaSuccess) return 0;
        return err_set("ncclAllReduce of %zu values failed: %s", n, ncclGetErrorString(rc));
    }
#else
    if (on_device) return err_set("dist_allreduce: device buffer in a CPU-only build");
#endif
    /* MPI counts are int: reduce in chunks so huge volumes work too */
    const size_t chunk = 1u << 30;
    for (size_t done = 0; done < n; done += chunk) {
        int count = (int)(n - done < chunk ? n - done : chunk);
        if (MPI_Allreduce(MPI_IN_PLACE, buf + done, count, REAL_MPI, MPI_SUM, d->group) != MPI_SUCCESS)
            return err_set("MPI_Allreduce of %zu values failed", n);
    }
    return 0;
}

int dist_allreduce_double(const dist_ctx *d, double *buf, int n)
{
    if (d->group_size <= 1) return 0;
    if (MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, d->group) != MPI_SUCCESS)
        return err_set("MPI_Allreduce of %d doubles failed", n);
    return 0;
}

int dist_group_max(const dist_ctx *d, int value)
{
    if (d->group_size <= 1) return value;
    int result = value;
    MPI_Allreduce(&value, &result, 1, MPI_INT, MPI_MAX, d->group);
    return result;
}

int dist_counter_open(dist_ctx *d)
{
    MPI_Aint size = d->world_rank == 0 ? (MPI_Aint)sizeof(long) : 0;
    if (MPI_Win_allocate(size, sizeof(long), MPI_INFO_NULL, d->world, &d->counter, &d->counter_win) !=
        MPI_SUCCESS)
        return err_set("MPI_Win_allocate for the job counter failed");
    if (d->world_rank == 0) *d->counter = 0;
    MPI_Barrier(d->world); /* the counter is zero before anyone reads it */
    MPI_Win_lock_all(0, d->counter_win);
    return 0;
}

long dist_counter_next(dist_ctx *d)
{
    long one = 1, value = 0;
    if (d->group_rank == 0) {
        MPI_Fetch_and_op(&one, &value, MPI_LONG, 0, 0, MPI_SUM, d->counter_win);
        MPI_Win_flush(0, d->counter_win);
    }
    MPI_Bcast(&value, 1, MPI_LONG, 0, d->group);
    return value;
}

void dist_counter_close(dist_ctx *d)
{
    if (d->counter_win == MPI_WIN_NULL) return;
    MPI_Win_unlock_all(d->counter_win);
    MPI_Win_free(&d->counter_win);
    d->counter = NULL;
}
