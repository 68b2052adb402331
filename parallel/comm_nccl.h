/* NCCL communicator constructor (the interface is parallel/comm.h). Collectives take DEVICE
 * pointers, are ordered on the given CUDA stream and wait for completion before returning (blocking,
 * like the MPI communicator). The unique id travels over the bootstrap communicator (MPI_Bcast);
 * all_ok, split and local_rank also go through it. NCCL has no message tags: send/recv pairs must be
 * issued in the same order on both sides (the tag argument is ignored). No CUDA types here: the
 * stream is a cudaStream_t passed as void * (NULL = the default stream). */
#ifndef COSMOS_COMM_NCCL_H
#define COSMOS_COMM_NCCL_H

#include "parallel/comm.h"

/* bootstrap (borrowed, must outlive the result): an MPI communicator over the same ranks.
 * device: the CUDA device of this rank (cosmos_comm_local_rank of the world, one process per GPU).
 * UNSUPPORTED with a message in builds without CUDA/NCCL. */
/* The NCCL library's version (ncclGetVersion: 10000 * major + 100 * minor + patch), 0 in a build
 * without it. */
int cosmos_comm_nccl_version(void);
cosmos_status cosmos_comm_nccl_create(cosmos_comm_t *bootstrap, int device, void *stream, cosmos_comm_t **out);

#endif
