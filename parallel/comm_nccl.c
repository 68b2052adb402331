/* NCCL communicator (see comm_nccl.h): plain C against nccl.h and the CUDA runtime.
 * Every NCCL / CUDA call goes through NCCL_CHECK / CU_CHECK, which log the call, file:line, rank,
 * device and the library's own message. Compiled only when COSMOS_CUDA is ON. */
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "parallel/comm_impl.h"
#include "parallel/comm_nccl.h"

struct nccl_ctx {
    ncclComm_t comm;
    cudaStream_t stream;
    int device, rank;
    cosmos_comm_t *boot;       /* bootstrap (MPI) communicator over the same ranks */
    cosmos_comm_t *boot_owned; /* set when this communicator came from split and owns its bootstrap */
    int failed;                /* an NCCL or CUDA call failed: free aborts instead of destroying */
};

#define NCCL_CHECK(c, call)                                                                             \
    do {                                                                                                \
        ncclResult_t r_ = (call);                                                                       \
        if (r_ != ncclSuccess) {                                                                        \
            (c)->failed = 1;                                                                            \
            LOG_ERROR("%s failed at %s:%d (rank %d, device %d): %s", #call, __FILE__, __LINE__, (c)->rank, \
                      (c)->device, ncclGetErrorString(r_));                                             \
            return COSMOS_ERR_NCCL;                                                                     \
        }                                                                                               \
    } while (0)
#define CU_CHECK(c, call)                                                                               \
    do {                                                                                                \
        cudaError_t e_ = (call);                                                                        \
        if (e_ != cudaSuccess) {                                                                        \
            (c)->failed = 1;                                                                            \
            LOG_ERROR("%s failed at %s:%d (rank %d, device %d): %s", #call, __FILE__, __LINE__, (c)->rank, \
                      (c)->device, cudaGetErrorString(e_));                                             \
            return COSMOS_ERR_CUDA;                                                                     \
        }                                                                                               \
    } while (0)

static void nccl_free(void *p) {
    struct nccl_ctx *c = p;
    if (!c) return;
    /* ncclCommDestroy waits for the communicator's outstanding work, which may never finish after a
     * failure (a peer gone): abort then (spec performance-and-peers.md 4.1) */
    if (c->comm && c->failed)
        ncclCommAbort(c->comm);
    else if (c->comm)
        ncclCommDestroy(c->comm);
    cosmos_comm_free(c->boot_owned);
    free(c);
}

static cosmos_status sync_stream(struct nccl_ctx *c) {
    CU_CHECK(c, cudaStreamSynchronize(c->stream));
    return COSMOS_OK;
}

static cosmos_status nccl_allreduce(void *p, void *buf, size_t n, enum cosmos_dtype dt) {
    struct nccl_ctx *c = p;
    const ncclDataType_t t = dt == COSMOS_BF16 ? ncclBfloat16 : ncclFloat;
    NCCL_CHECK(c, ncclAllReduce(buf, buf, n, t, ncclSum, c->comm, c->stream));
    return sync_stream(c);
}
static cosmos_status nccl_allgather(void *p, const void *send, void *recv, size_t bytes) {
    struct nccl_ctx *c = p;
    NCCL_CHECK(c, ncclAllGather(send, recv, bytes, ncclInt8, c->comm, c->stream));
    return sync_stream(c);
}
static cosmos_status nccl_bcast(void *p, void *buf, size_t bytes, int root) {
    struct nccl_ctx *c = p;
    NCCL_CHECK(c, ncclBroadcast(buf, buf, bytes, ncclInt8, root, c->comm, c->stream));
    return sync_stream(c);
}
static cosmos_status nccl_send(void *p, const void *buf, size_t bytes, int dst, int tag) {
    struct nccl_ctx *c = p;
    (void)tag;
    NCCL_CHECK(c, ncclSend(buf, bytes, ncclInt8, dst, c->comm, c->stream));
    return sync_stream(c);
}
static cosmos_status nccl_recv(void *p, void *buf, size_t bytes, int src, int tag) {
    struct nccl_ctx *c = p;
    (void)tag;
    NCCL_CHECK(c, ncclRecv(buf, bytes, ncclInt8, src, c->comm, c->stream));
    return sync_stream(c);
}
static cosmos_status nccl_barrier(void *p) {
    struct nccl_ctx *c = p;
    cosmos_status st = sync_stream(c);
    return st != COSMOS_OK ? st : cosmos_comm_barrier(c->boot);
}
static cosmos_status nccl_all_ok(void *p, int ok, int *all_ok) {
    struct nccl_ctx *c = p;
    return cosmos_comm_all_ok(c->boot, ok, all_ok);
}
static cosmos_status nccl_split(void *p, int color, int key, cosmos_comm_t **out) {
    struct nccl_ctx *c = p;
    cosmos_comm_t *sub = NULL;
    cosmos_status st = cosmos_comm_split(c->boot, color, key, &sub);
    if (st != COSMOS_OK) return st;
    st = cosmos_comm_nccl_create(sub, c->device, c->stream, out);
    if (st != COSMOS_OK) {
        cosmos_comm_free(sub);
        return st;
    }
    struct nccl_ctx *nc = (*out)->ctx;
    nc->boot_owned = sub;
    return COSMOS_OK;
}
static cosmos_status nccl_local_rank(void *p, int *local_rank) {
    struct nccl_ctx *c = p;
    return cosmos_comm_local_rank(c->boot, local_rank);
}

static const struct cosmos_comm_ops nccl_ops = {
    "nccl", nccl_free, nccl_allreduce, nccl_allgather, nccl_bcast, nccl_send, nccl_recv, nccl_barrier, nccl_all_ok,
    nccl_split, nccl_local_rank, NULL, NULL, 1,
};

/* Every rank reaches the same collectives whatever fails where: the id travels with rank 0's
 * status, and the group agrees that every rank has its device before ncclCommInitRank, which
 * would otherwise wait for a rank that is not coming. */
static cosmos_status init_comm(struct nccl_ctx *c, int size) {
    struct {
        int ok;
        ncclUniqueId id;
    } msg;
    memset(&msg, 0, sizeof msg);
    cosmos_status st = COSMOS_OK;
    const cudaError_t dev_err = cudaSetDevice(c->device);
    if (dev_err != cudaSuccess)
        LOG_ERROR("cudaSetDevice(%d) failed (rank %d): %s", c->device, c->rank, cudaGetErrorString(dev_err));
    if (c->rank == 0 && dev_err == cudaSuccess) {
        const ncclResult_t r = ncclGetUniqueId(&msg.id);
        msg.ok = r == ncclSuccess;
        if (!msg.ok) LOG_ERROR("ncclGetUniqueId failed (rank 0, device %d): %s", c->device, ncclGetErrorString(r));
    }
    st = cosmos_comm_broadcast(c->boot, &msg, sizeof msg, 0);
    if (st != COSMOS_OK) return st;
    int all_ok = 0;
    st = cosmos_comm_all_ok(c->boot, msg.ok && dev_err == cudaSuccess, &all_ok);
    if (st != COSMOS_OK) return st;
    if (!all_ok) return COSMOS_ERR_NCCL; /* the failing rank said why */
    cosmos_comm_wd_enter(c->boot, "ncclCommInitRank", -1, -1, 0); /* waits for every rank: timed */
    const ncclResult_t r = ncclCommInitRank(&c->comm, size, msg.id, c->rank);
    cosmos_comm_wd_leave();
    if (r != ncclSuccess) {
        c->failed = 1;
        LOG_ERROR("ncclCommInitRank failed (rank %d of %d, device %d): %s", c->rank, size, c->device,
                  ncclGetErrorString(r));
        return COSMOS_ERR_NCCL;
    }
    return COSMOS_OK;
}

cosmos_status cosmos_comm_nccl_create(cosmos_comm_t *bootstrap, int device, void *stream, cosmos_comm_t **out) {
    *out = NULL;
    struct nccl_ctx *c = calloc(1, sizeof *c);
    if (!c) return COSMOS_ERR_NOMEM;
    c->boot = bootstrap;
    c->device = device;
    c->rank = cosmos_comm_rank(bootstrap);
    c->stream = (cudaStream_t)stream;
    const int size = cosmos_comm_size(bootstrap);
    /* every rank learns whether every rank got its NCCL communicator */
    cosmos_status st = init_comm(c, size);
    int all_ok = 0;
    cosmos_status st2 = cosmos_comm_all_ok(bootstrap, st == COSMOS_OK, &all_ok);
    if (st == COSMOS_OK && (st2 != COSMOS_OK || !all_ok)) {
        LOG_ERROR("NCCL communicator: another rank failed to initialise");
        st = COSMOS_ERR_NCCL;
    }
    if (st != COSMOS_OK) {
        nccl_free(c);
        return st;
    }
    return cosmos_comm_wrap(&nccl_ops, c, c->rank, size, out);
}

int cosmos_comm_nccl_version(void) {
    int v = 0;
    return ncclGetVersion(&v) == ncclSuccess ? v : 0;
}
