/* dist.h — ranks, job groups, all-reduce and the shared job counter.
 *
 * Every rank is one MPI process.  Ranks are split into groups of
 * `ranks_per_job` consecutive ranks; a group runs one job at a time,
 * data-parallel inside the group.  Gradient all-reduces run inside the
 * group: MPI on host buffers, NCCL on device buffers in the CUDA build
 * (the NCCL unique id is broadcast over the group's MPI communicator).
 * Jobs are handed to groups through a counter on world rank 0 that group
 * leaders advance with MPI_Fetch_and_op, so no rank is spent on dispatch.
 */
#ifndef PHIVE_DIST_H
#define PHIVE_DIST_H

#include <mpi.h>
#include <stddef.h>

#include "phive/real.h"

typedef struct {
    MPI_Comm world;
    int world_rank, world_size;
    int local_rank, local_size; /* among the ranks on this node */
    MPI_Comm group;             /* MPI_COMM_NULL until dist_make_groups */
    int group_rank, group_size, group_index, n_groups;
    MPI_Win counter_win;        /* job counter (on world rank 0) */
    long *counter;
    int device;                 /* GPU index of this rank, -1 on the CPU */
    void *nccl;                 /* ncclComm_t of the group (CUDA build, GPU present) */
} dist_ctx;

/* MPI_Init (or attach when already initialised) and local-rank discovery. */
int dist_init(int *argc, char ***argv, dist_ctx *d);
void dist_finalize(dist_ctx *d);

/* Split the world into groups of ranks_per_job ranks (world size must be a multiple). */
int dist_make_groups(dist_ctx *d, int ranks_per_job);
/* After backend selection: create the group's NCCL communicator when the rank has a GPU. */
int dist_attach_device(dist_ctx *d, int device);

/* Sum `buf` over the group, in place. `on_device`: buf is GPU memory (NCCL). */
int dist_allreduce(const dist_ctx *d, real *buf, size_t n, int on_device);
/* Sum doubles over the group (losses, counters), in place, on the host. */
int dist_allreduce_double(const dist_ctx *d, double *buf, int n);
/* Maximum of an int over the group (status and stop-flag agreement). */
int dist_group_max(const dist_ctx *d, int value);

/* Shared job counter: collective over the world. */
int dist_counter_open(dist_ctx *d);
/* Group leaders fetch-and-increment; the value is broadcast to the group. */
long dist_counter_next(dist_ctx *d);
void dist_counter_close(dist_ctx *d);

#endif
