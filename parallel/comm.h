/* Communicator interface (STYLE.md "Backends and communication"; issue: tensor and pipeline
 * parallelism). One API, several implementations behind a private vtable: self (size 1, no
 * library), MPI (host buffers; also the bootstrap and control channel), and NCCL (device
 * buffers, parallel/comm_nccl.h). All operations are blocking and collective over the communicator unless named
 * send/recv. Buffers live in the memory the implementation serves (host memory for self and MPI). */
#ifndef COSMOS_COMM_H
#define COSMOS_COMM_H

#include <stddef.h>

#include "core/dtype.h"
#include "core/status.h"

typedef struct cosmos_comm cosmos_comm_t;

/* A communicator of one process: every collective is a copy or a no-op. */
cosmos_status cosmos_comm_self_create(cosmos_comm_t **out);
/* MPI_COMM_WORLD (initialising MPI if needed, thread level FUNNELED). UNSUPPORTED, with a message,
 * in a build without MPI. The caller owns *out; freeing the world communicator finalises MPI. */
cosmos_status cosmos_comm_mpi_world(cosmos_comm_t **out);
void cosmos_comm_free(cosmos_comm_t *c); /* NULL is a no-op */

int cosmos_comm_rank(const cosmos_comm_t *c);
int cosmos_comm_size(const cosmos_comm_t *c);
const char *cosmos_comm_kind(const cosmos_comm_t *c); /* "self", "mpi", "nccl" */

/* In-place sum over all ranks of n floats. */
cosmos_status cosmos_comm_allreduce_sum(cosmos_comm_t *c, float *buf, size_t n);
/* In-place sum over all ranks of n values of dtype dt (F32 or BF16; anything else UNSUPPORTED).
 * Every rank gets the same bits. BF16 over MPI sums in f32 in rank order and rounds once (to
 * nearest even); NCCL sums bf16 natively (its own rounding, identical on every rank). */
cosmos_status cosmos_comm_allreduce(cosmos_comm_t *c, void *buf, size_t n, enum cosmos_dtype dt);
/* 1 when the buffers of this communicator's operations are device memory (NCCL), 0 for host
 * memory (self, MPI). */
int cosmos_comm_device_memory(const cosmos_comm_t *c);
/* recv[r * bytes .. (r+1) * bytes) = send of rank r, on every rank. */
cosmos_status cosmos_comm_allgather(cosmos_comm_t *c, const void *send, void *recv, size_t bytes);
cosmos_status cosmos_comm_broadcast(cosmos_comm_t *c, void *buf, size_t bytes, int root);
cosmos_status cosmos_comm_send(cosmos_comm_t *c, const void *buf, size_t bytes, int dst, int tag);
cosmos_status cosmos_comm_recv(cosmos_comm_t *c, void *buf, size_t bytes, int src, int tag);
cosmos_status cosmos_comm_barrier(cosmos_comm_t *c);
/* Logical AND of `ok` over all ranks: how every rank learns that one of them failed (load errors)
 * and exits cleanly instead of hanging in the next collective. */
cosmos_status cosmos_comm_all_ok(cosmos_comm_t *c, int ok, int *all_ok);
/* Non-blocking: *flag = 1 when a message from src with tag is waiting (recv would not block on
 * its start), else 0 (MPI_Iprobe). UNSUPPORTED for communicators without point-to-point queues
 * (self, NCCL). */
cosmos_status cosmos_comm_probe(cosmos_comm_t *c, int src, int tag, int *flag);
/* Ends every process of the job with exit status `code` (MPI_Abort), for a failure the other
 * ranks cannot learn of: they would wait forever for this rank's next message (spec
 * performance-and-peers.md 4.2 and 5.5: turn hangs into exits the launcher sees). Returns only where
 * the communicator cannot abort (self, NCCL): the caller then exits as usual. */
void cosmos_comm_abort(cosmos_comm_t *c, int code);
/* Communication timeout (parallel/comm_watchdog.c; spec performance-and-peers.md 4.2, 5.5): with
 * seconds > 0, a process whose blocking operation on any communicator (collective, send, recv,
 * split, free) has waited longer than that logs what it waited for and exits with status 1, and the
 * launcher ends the job (mpirun; srun --kill-on-bad-exit). 0 (the default) turns it off. Set it from
 * the main thread, before or between operations. INVALID_ARG for a negative, non-finite or
 * absurd (> 1e7 s) value. Choose it above the longest time a rank can legitimately wait for
 * another: a group of clips' work on one role, and the longest model load. */
cosmos_status cosmos_comm_set_timeout(double seconds);
double cosmos_comm_timeout(void);
/* With on = 1, the operations that follow (main thread) are not timed until it is called with 0:
 * for a wait whose length is legitimately unbounded, such as a data-parallel replica that finished
 * its share waiting for the others at the end of a batch. */
void cosmos_comm_watchdog_patient(int on);
/* The MPI library's version string (MPI_Get_library_version; no MPI_Init needed), or why there is
 * none (a build without MPI), for reports. */
void cosmos_comm_mpi_library(char *buf, size_t n);
/* Ranks with the same color form a new communicator, ordered by key (MPI_Comm_split). */
cosmos_status cosmos_comm_split(cosmos_comm_t *c, int color, int key, cosmos_comm_t **out);
/* Ranks of this node (MPI_Comm_split_type SHARED): the local rank picks the device. */
cosmos_status cosmos_comm_local_rank(cosmos_comm_t *c, int *local_rank);

#endif
