/* Communicator dispatch, argument checks and the watchdog's brackets (see comm.h). */
#include "parallel/comm.h"

#include <stdlib.h>

#include "core/log.h"
#include "parallel/comm_impl.h"

cosmos_status cosmos_comm_wrap(const struct cosmos_comm_ops *ops, void *ctx, int rank, int size,
                               cosmos_comm_t **out) {
    cosmos_comm_t *c = calloc(1, sizeof *c);
    if (!c) {
        ops->free_ctx(ctx);
        return COSMOS_ERR_NOMEM;
    }
    c->ops = ops;
    c->ctx = ctx;
    c->rank = rank;
    c->size = size;
    *out = c;
    return COSMOS_OK;
}

/* Every blocking operation runs inside the watchdog's bracket (comm_watchdog.c). */
#define TIMED(c, op, peer, tag, bytes, call)                        \
    do {                                                            \
        cosmos_comm_wd_enter((c), (op), (peer), (tag), (bytes));    \
        const cosmos_status timed_st_ = (call);                     \
        cosmos_comm_wd_leave();                                     \
        return timed_st_;                                           \
    } while (0)

void cosmos_comm_free(cosmos_comm_t *c) {
    if (!c) return;
    cosmos_comm_wd_enter(c, "free (MPI_Finalize for the world)", -1, -1, 0);
    c->ops->free_ctx(c->ctx);
    cosmos_comm_wd_leave();
    free(c);
}

int cosmos_comm_rank(const cosmos_comm_t *c) { return c->rank; }
int cosmos_comm_size(const cosmos_comm_t *c) { return c->size; }
const char *cosmos_comm_kind(const cosmos_comm_t *c) { return c->ops->kind; }

static cosmos_status check_peer(const cosmos_comm_t *c, int peer, const char *what) {
    if (peer < 0 || peer >= c->size || peer == c->rank) {
        LOG_ERROR("comm %s: bad peer rank %d (this is rank %d of %d)", what, peer, c->rank, c->size);
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}

cosmos_status cosmos_comm_allreduce_sum(cosmos_comm_t *c, float *buf, size_t n) {
    TIMED(c, "allreduce", -1, -1, n * sizeof(float), c->ops->allreduce(c->ctx, buf, n, COSMOS_F32));
}
cosmos_status cosmos_comm_allreduce(cosmos_comm_t *c, void *buf, size_t n, enum cosmos_dtype dt) {
    if (dt != COSMOS_F32 && dt != COSMOS_BF16) {
        LOG_ERROR("comm allreduce: dtype %s is not supported (f32 or bf16)", cosmos_dtype_name(dt));
        return COSMOS_ERR_UNSUPPORTED;
    }
    TIMED(c, "allreduce", -1, -1, n * cosmos_dtype_size(dt), c->ops->allreduce(c->ctx, buf, n, dt));
}
int cosmos_comm_device_memory(const cosmos_comm_t *c) { return c->ops->device_memory; }
cosmos_status cosmos_comm_allgather(cosmos_comm_t *c, const void *send, void *recv, size_t bytes) {
    TIMED(c, "allgather", -1, -1, bytes, c->ops->allgather(c->ctx, send, recv, bytes));
}
cosmos_status cosmos_comm_broadcast(cosmos_comm_t *c, void *buf, size_t bytes, int root) {
    if (root < 0 || root >= c->size) {
        LOG_ERROR("comm broadcast: bad root %d (size %d)", root, c->size);
        return COSMOS_ERR_INVALID_ARG;
    }
    TIMED(c, "broadcast", root, -1, bytes, c->ops->broadcast(c->ctx, buf, bytes, root));
}
cosmos_status cosmos_comm_send(cosmos_comm_t *c, const void *buf, size_t bytes, int dst, int tag) {
    cosmos_status st = check_peer(c, dst, "send");
    if (st != COSMOS_OK) return st;
    TIMED(c, "send", dst, tag, bytes, c->ops->send(c->ctx, buf, bytes, dst, tag));
}
cosmos_status cosmos_comm_recv(cosmos_comm_t *c, void *buf, size_t bytes, int src, int tag) {
    cosmos_status st = check_peer(c, src, "recv");
    if (st != COSMOS_OK) return st;
    TIMED(c, "recv", src, tag, bytes, c->ops->recv(c->ctx, buf, bytes, src, tag));
}
cosmos_status cosmos_comm_probe(cosmos_comm_t *c, int src, int tag, int *flag) {
    *flag = 0;
    cosmos_status st = check_peer(c, src, "probe");
    if (st != COSMOS_OK) return st;
    if (!c->ops->probe) {
        LOG_ERROR("comm: probe is not supported by the %s communicator", c->ops->kind);
        return COSMOS_ERR_UNSUPPORTED;
    }
    return c->ops->probe(c->ctx, src, tag, flag);
}
cosmos_status cosmos_comm_barrier(cosmos_comm_t *c) { TIMED(c, "barrier", -1, -1, 0, c->ops->barrier(c->ctx)); }
void cosmos_comm_abort(cosmos_comm_t *c, int code) {
    if (c && c->ops->abort) c->ops->abort(c->ctx, code);
}
cosmos_status cosmos_comm_all_ok(cosmos_comm_t *c, int ok, int *all_ok) {
    TIMED(c, "all_ok", -1, -1, sizeof(int), c->ops->all_ok(c->ctx, ok, all_ok));
}
cosmos_status cosmos_comm_split(cosmos_comm_t *c, int color, int key, cosmos_comm_t **out) {
    *out = NULL;
    TIMED(c, "split", -1, -1, 0, c->ops->split(c->ctx, color, key, out));
}
cosmos_status cosmos_comm_local_rank(cosmos_comm_t *c, int *local_rank) {
    TIMED(c, "local_rank (split by node)", -1, -1, 0, c->ops->local_rank(c->ctx, local_rank));
}
