/* Private vtable behind cosmos_comm_t; only communicator implementations include this. */
#ifndef COSMOS_COMM_IMPL_H
#define COSMOS_COMM_IMPL_H

#include "parallel/comm.h"

struct cosmos_comm_ops {
    const char *kind;
    void (*free_ctx)(void *ctx);
    cosmos_status (*allreduce)(void *ctx, void *buf, size_t n, enum cosmos_dtype dt); /* dt: F32 or BF16 */
    cosmos_status (*allgather)(void *ctx, const void *send, void *recv, size_t bytes);
    cosmos_status (*broadcast)(void *ctx, void *buf, size_t bytes, int root);
    cosmos_status (*send)(void *ctx, const void *buf, size_t bytes, int dst, int tag);
    cosmos_status (*recv)(void *ctx, void *buf, size_t bytes, int src, int tag);
    cosmos_status (*barrier)(void *ctx);
    cosmos_status (*all_ok)(void *ctx, int ok, int *all_ok);
    cosmos_status (*split)(void *ctx, int color, int key, cosmos_comm_t **out);
    cosmos_status (*local_rank)(void *ctx, int *local_rank);
    cosmos_status (*probe)(void *ctx, int src, int tag, int *flag); /* NULL: UNSUPPORTED */
    void (*abort)(void *ctx, int code); /* ends the job; NULL: not possible (cosmos_comm_abort returns) */
    int device_memory; /* buffers are device memory */
};

struct cosmos_comm {
    const struct cosmos_comm_ops *ops;
    void *ctx;
    int rank, size;
};

/* Wrap ctx in a new communicator (takes ownership of ctx; frees it on failure). */
cosmos_status cosmos_comm_wrap(const struct cosmos_comm_ops *ops, void *ctx, int rank, int size,
                               cosmos_comm_t **out);

/* The watchdog's bracket around one blocking operation (parallel/comm_watchdog.c); peer -1 for
 * collectives (the root for a broadcast), tag -1 for all but send and recv. Main thread only; nested brackets count once. */
void cosmos_comm_wd_enter(const cosmos_comm_t *c, const char *op, int peer, int tag, size_t bytes);
void cosmos_comm_wd_leave(void);

#endif
