/* The size-1 communicator: collectives are copies or no-ops; send/recv have no peer. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "parallel/comm_impl.h"

static void self_free(void *ctx) { (void)ctx; }
static cosmos_status self_allreduce(void *ctx, void *buf, size_t n, enum cosmos_dtype dt) {
    (void)ctx;
    (void)buf;
    (void)n;
    (void)dt;
    return COSMOS_OK;
}
static cosmos_status self_allgather(void *ctx, const void *send, void *recv, size_t bytes) {
    (void)ctx;
    if (send != recv && bytes) memmove(recv, send, bytes);
    return COSMOS_OK;
}
static cosmos_status self_bcast(void *ctx, void *buf, size_t bytes, int root) {
    (void)ctx;
    (void)buf;
    (void)bytes;
    (void)root;
    return COSMOS_OK;
}
static cosmos_status self_p2p(void *ctx, const void *buf, size_t bytes, int peer, int tag) {
    (void)ctx;
    (void)buf;
    (void)bytes;
    (void)peer;
    (void)tag;
    return COSMOS_ERR_INVALID_ARG; /* unreachable: the dispatcher rejects every peer of a size-1 comm */
}
static cosmos_status self_recv(void *ctx, void *buf, size_t bytes, int peer, int tag) {
    return self_p2p(ctx, buf, bytes, peer, tag);
}
static cosmos_status self_barrier(void *ctx) {
    (void)ctx;
    return COSMOS_OK;
}
static cosmos_status self_all_ok(void *ctx, int ok, int *all_ok) {
    (void)ctx;
    *all_ok = ok;
    return COSMOS_OK;
}
static cosmos_status self_split(void *ctx, int color, int key, cosmos_comm_t **out) {
    (void)ctx;
    (void)color;
    (void)key;
    return cosmos_comm_self_create(out);
}
static cosmos_status self_local_rank(void *ctx, int *local_rank) {
    (void)ctx;
    *local_rank = 0;
    return COSMOS_OK;
}

static const struct cosmos_comm_ops self_ops = {
    "self", self_free, self_allreduce, self_allgather, self_bcast, self_p2p, self_recv, self_barrier, self_all_ok,
    self_split, self_local_rank, NULL, NULL, 0,
};

cosmos_status cosmos_comm_self_create(cosmos_comm_t **out) { return cosmos_comm_wrap(&self_ops, NULL, 0, 1, out); }
