/* MPI communicator (host buffers). Every MPI call goes through MPI_CHECK, which logs the call,
 * file:line, rank and MPI's own error string. Errors are returned, not fatal: the communicator
 * sets MPI_ERRORS_RETURN. Freeing the world communicator finalises MPI if this module initialised it. */
#include <mpi.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "parallel/comm_impl.h"

struct mpi_ctx {
    MPI_Comm comm;
    int is_world;
    int we_initialised;
    float *scratch; /* all-reduce gather buffer, kept between calls */
    size_t scratch_n;
    float *wide; /* bf16 all-reduce: one piece widened to f32 */
};

#define MPI_CHECK(call)                                                                   \
    do {                                                                                  \
        int rc_ = (call);                                                                 \
        if (rc_ != MPI_SUCCESS) {                                                         \
            char msg_[MPI_MAX_ERROR_STRING];                                              \
            int len_ = 0;                                                                 \
            MPI_Error_string(rc_, msg_, &len_);                                           \
            LOG_ERROR("%s failed at %s:%d: %.*s", #call, __FILE__, __LINE__, len_, msg_); \
            return COSMOS_ERR_MPI;                                                        \
        }                                                                                 \
    } while (0)

/* MPI counts are int: large transfers go in pieces of at most 1 GiB. */
#define MPI_PIECE ((size_t)1 << 30)

static void mpi_free(void *p) {
    struct mpi_ctx *c = p;
    if (!c) return;
    free(c->scratch);
    free(c->wide);
    if (c->is_world) {
        if (c->we_initialised) {
            int fin = 0;
            MPI_Finalized(&fin);
            if (!fin) MPI_Finalize();
        }
    } else if (c->comm != MPI_COMM_NULL) {
        MPI_Comm_free(&c->comm);
    }
    free(c);
}

/* Deterministic all-reduce: reduce-scatter by all-to-all (rank k receives chunk k of every rank and
 * adds them in rank order), then all-gather of the reduced chunks. Every rank gets bit-identical
 * results whatever algorithm MPI_Allreduce would pick (it may round differently on different
 * ranks, and tensor-parallel ranks must stay identical so that they sample the same token); the
 * traffic is that of a ring all-reduce. */
#define SUM_PIECE ((size_t)1 << 22) /* floats per round */
static cosmos_status mpi_allreduce_f32(void *p, float *buf, size_t n) {
    struct mpi_ctx *c = p;
    int size = 1;
    MPI_Comm_size(c->comm, &size);
    if (size == 1 || n == 0) return COSMOS_OK;
    const size_t piece = n < SUM_PIECE ? n : SUM_PIECE;
    const size_t chunk = (piece + (size_t)size - 1) / (size_t)size, padded = chunk * (size_t)size;
    if (c->scratch_n < 2 * padded + chunk) {
        float *ns = realloc(c->scratch, sizeof(float) * (2 * padded + chunk));
        if (!ns) return COSMOS_ERR_NOMEM;
        c->scratch = ns;
        c->scratch_n = 2 * padded + chunk;
    }
    float *send = c->scratch, *recv = send + padded, *mine = recv + padded;
    for (size_t off = 0; off < n; off += piece) {
        const size_t cnt = n - off < piece ? n - off : piece;
        memcpy(send, buf + off, sizeof(float) * cnt);
        memset(send + cnt, 0, sizeof(float) * (padded - cnt));
        MPI_CHECK(MPI_Alltoall(send, (int)chunk, MPI_FLOAT, recv, (int)chunk, MPI_FLOAT, c->comm));
        for (size_t i = 0; i < chunk; i++) {
            float s = recv[i];
            for (int r = 1; r < size; r++) s += recv[(size_t)r * chunk + i];
            mine[i] = s;
        }
        MPI_CHECK(MPI_Allgather(mine, (int)chunk, MPI_FLOAT, send, (int)chunk, MPI_FLOAT, c->comm));
        memcpy(buf + off, send, sizeof(float) * cnt);
    }
    return COSMOS_OK;
}

/* bf16: each piece widened to f32, summed as above, rounded once: the same bits on every rank. */
static cosmos_status mpi_allreduce(void *p, void *buf, size_t n, enum cosmos_dtype dt) {
    struct mpi_ctx *c = p;
    if (dt == COSMOS_F32) return mpi_allreduce_f32(p, buf, n);
    int size = 1;
    MPI_Comm_size(c->comm, &size);
    if (size == 1 || n == 0) return COSMOS_OK;
    if (!c->wide) {
        c->wide = malloc(sizeof(float) * SUM_PIECE);
        if (!c->wide) return COSMOS_ERR_NOMEM;
    }
    cosmos_bf16 *b = buf;
    for (size_t off = 0; off < n; off += SUM_PIECE) {
        const size_t cnt = n - off < SUM_PIECE ? n - off : SUM_PIECE;
        cosmos_bf16_to_f32_n(c->wide, b + off, cnt);
        cosmos_status st = mpi_allreduce_f32(p, c->wide, cnt);
        if (st != COSMOS_OK) return st;
        cosmos_f32_to_bf16_n(b + off, c->wide, cnt);
    }
    return COSMOS_OK;
}

static cosmos_status mpi_allgather(void *p, const void *send, void *recv, size_t bytes) {
    struct mpi_ctx *c = p;
    if (bytes > MPI_PIECE) {
        LOG_ERROR("comm allgather: %zu bytes per rank exceeds the 1 GiB piece limit", bytes);
        return COSMOS_ERR_INVALID_ARG;
    }
    MPI_CHECK(MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, c->comm));
    return COSMOS_OK;
}

static cosmos_status mpi_bcast(void *p, void *buf, size_t bytes, int root) {
    struct mpi_ctx *c = p;
    for (size_t off = 0; off < bytes; off += MPI_PIECE) {
        size_t cnt = bytes - off < MPI_PIECE ? bytes - off : MPI_PIECE;
        MPI_CHECK(MPI_Bcast((char *)buf + off, (int)cnt, MPI_BYTE, root, c->comm));
    }
    return COSMOS_OK;
}

static cosmos_status mpi_send(void *p, const void *buf, size_t bytes, int dst, int tag) {
    struct mpi_ctx *c = p;
    for (size_t off = 0; off < bytes; off += MPI_PIECE) {
        size_t cnt = bytes - off < MPI_PIECE ? bytes - off : MPI_PIECE;
        MPI_CHECK(MPI_Send((const char *)buf + off, (int)cnt, MPI_BYTE, dst, tag, c->comm));
    }
    return COSMOS_OK;
}

static cosmos_status mpi_recv(void *p, void *buf, size_t bytes, int src, int tag) {
    struct mpi_ctx *c = p;
    for (size_t off = 0; off < bytes; off += MPI_PIECE) {
        size_t cnt = bytes - off < MPI_PIECE ? bytes - off : MPI_PIECE;
        MPI_CHECK(MPI_Recv((char *)buf + off, (int)cnt, MPI_BYTE, src, tag, c->comm, MPI_STATUS_IGNORE));
    }
    return COSMOS_OK;
}

static cosmos_status mpi_barrier(void *p) {
    struct mpi_ctx *c = p;
    MPI_CHECK(MPI_Barrier(c->comm));
    return COSMOS_OK;
}

static cosmos_status mpi_all_ok(void *p, int ok, int *all_ok) {
    struct mpi_ctx *c = p;
    int in = ok ? 1 : 0, res = 0;
    MPI_CHECK(MPI_Allreduce(&in, &res, 1, MPI_INT, MPI_LAND, c->comm));
    *all_ok = res;
    return COSMOS_OK;
}

static cosmos_status wrap_comm(MPI_Comm comm, int is_world, int we_init, cosmos_comm_t **out);

static cosmos_status mpi_split(void *p, int color, int key, cosmos_comm_t **out) {
    struct mpi_ctx *c = p;
    MPI_Comm nc;
    MPI_CHECK(MPI_Comm_split(c->comm, color, key, &nc));
    return wrap_comm(nc, 0, 0, out);
}

static cosmos_status mpi_local_rank(void *p, int *local_rank) {
    struct mpi_ctx *c = p;
    MPI_Comm node;
    MPI_CHECK(MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    int r = 0;
    int rc = MPI_Comm_rank(node, &r);
    MPI_Comm_free(&node);
    MPI_CHECK(rc);
    *local_rank = r;
    return COSMOS_OK;
}

static cosmos_status mpi_probe(void *p, int src, int tag, int *flag) {
    struct mpi_ctx *c = p;
    MPI_CHECK(MPI_Iprobe(src, tag, c->comm, flag, MPI_STATUS_IGNORE));
    return COSMOS_OK;
}

static void mpi_abort(void *p, int code) {
    struct mpi_ctx *c = p;
    MPI_Abort(c->comm, code); /* Open MPI ends every process of the job */
}

static const struct cosmos_comm_ops mpi_ops = {
    "mpi", mpi_free, mpi_allreduce, mpi_allgather, mpi_bcast, mpi_send, mpi_recv, mpi_barrier, mpi_all_ok,
    mpi_split, mpi_local_rank, mpi_probe, mpi_abort, 0,
};

static cosmos_status wrap_comm(MPI_Comm comm, int is_world, int we_init, cosmos_comm_t **out) {
    struct mpi_ctx *c = calloc(1, sizeof *c);
    if (!c) return COSMOS_ERR_NOMEM;
    c->comm = comm;
    c->is_world = is_world;
    c->we_initialised = we_init;
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    return cosmos_comm_wrap(&mpi_ops, c, rank, size, out);
}

cosmos_status cosmos_comm_mpi_world(cosmos_comm_t **out) {
    *out = NULL;
    int init = 0, we_init = 0;
    MPI_Initialized(&init);
    if (!init) {
        int provided = 0;
        MPI_CHECK(MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided));
        we_init = 1;
    }
    cosmos_status st = wrap_comm(MPI_COMM_WORLD, 1, we_init, out);
    if (st == COSMOS_OK) cosmos_log_set_rank((*out)->rank, (*out)->size);
    return st;
}

void cosmos_comm_mpi_library(char *buf, size_t n) {
    char v[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    if (MPI_Get_library_version(v, &len) != MPI_SUCCESS) snprintf(v, sizeof v, "unknown");
    v[strcspn(v, "\n")] = '\0'; /* its first line */
    snprintf(buf, n, "%s", v);
}
