/* The CUDA backend (issue 4, first step): one device, one non-blocking stream, a cuBLASLt handle
 * and workspace; bf16 activations (act dtype BF16) and bf16 weights in device memory, fp32 inside
 * the kernels. Plain C against the CUDA runtime and cuBLASLt C APIs; the kernels are the
 * cosmos_cuda_* launchers of cuda_ops.h. Ops are stream-ordered; download and upload are
 * synchronous (the host buffer may be reused or freed on return); alloc returns zeroed memory.
 * Large uploads go through pinned staging; the decode step can be captured as a CUDA graph (the
 * position cell d_pos). Not yet here: a weight arena, the T5 ops and the DV tokenizer's convolution
 * ops (NULL slots: UNSUPPORTED).
 * In a build without CUDA, core/backend_nocuda.c provides cosmos_backend_cuda_create instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend_impl.h"
#include "core/log.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/cuda_sample.h"

#define CUBLASLT_WORKSPACE_BYTES (32u << 20) /* cuBLAS's recommendation for Hopper */

#define CUDA_SAMPLERS 4
struct cuda_ctx {
    int device;
    cudaStream_t stream;
    cosmos_cublaslt_t *lt;
    /* Scratch of the attention kernels (cosmos_cuda_attention_ws_bytes: split-KV decode partials),
     * reserved at model load for every shape the model will use (cosmos_backend_reserve_attention)
     * and otherwise grown on demand by cuda_attention with stream-ordered cudaFreeAsync +
     * cudaMallocAsync (no host sync). Growth must not happen during CUDA-graph capture: reserve, or
     * run every captured attention shape once, before capturing. */
    void *attn_ws;
    size_t attn_ws_bytes;
    /* device samplers, one per vocab size (a rank can hold the transformer and the guardrail's
     * LlamaGuard, whose vocabularies differ), made by reserve_sampler or at first use; the oldest
     * is dropped (after a sync) when a fifth size comes */
    cosmos_cuda_sampler_t *sampler[CUDA_SAMPLERS];
    int sampler_v[CUDA_SAMPLERS];
    int64_t *d_pos;  /* the position cell [pos, pos + 1] (COSMOS_POS_DEVICE; the sampler reads [1]) */
    void *pinned[2];          /* staging for large uploads (weights), made at the first one */
    cudaEvent_t pinned_done[2]; /* the copy out of pinned[i] has finished */
    int capturing;   /* between graph_begin and graph_end */
    int attn_mma;    /* prefill attention on the tensor cores where served (COSMOS_CUDA_ATTENTION, default) */
    int gemv;        /* matmuls of <= COSMOS_CUDA_GEMV_MAX_M rows on gemv.cu where served (COSMOS_CUDA_GEMV) */
};

cosmos_status cosmos_cuda_check(cudaError_t err, const char *call, const char *file, int line) {
    if (err == cudaSuccess) return COSMOS_OK;
    int dev = -1;
    cudaGetDevice(&dev);
    cosmos_log_msg(COSMOS_LOG_ERROR, file, line, "CUDA error in %s at %s:%d (device %d): %s (%s)", call, file, line,
                   dev, cudaGetErrorString(err), cudaGetErrorName(err));
    return COSMOS_ERR_CUDA;
}

/* cublasGetStatusString lives in libcublas, which this backend does not link (cuBLASLt only). */
static const char *cublas_status_name(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
    }
}

cosmos_status cosmos_cublas_check(cublasStatus_t err, const char *call, const char *file, int line) {
    if (err == CUBLAS_STATUS_SUCCESS) return COSMOS_OK;
    int dev = -1;
    cudaGetDevice(&dev);
    cosmos_log_msg(COSMOS_LOG_ERROR, file, line, "cuBLAS error in %s at %s:%d (device %d): %s (%d)", call, file, line,
                   dev, cublas_status_name(err), (int)err);
    return COSMOS_ERR_CUBLAS;
}

/* Make this context's device current: a process may hold backends on several devices. */
static cosmos_status set_device(const struct cuda_ctx *c) {
    return cosmos_cuda_check(cudaSetDevice(c->device), "cudaSetDevice", __FILE__, __LINE__);
}

/* The device position cell for a COSMOS_POS_DEVICE argument, NULL for a host position (the kernels
 * then use the pos0 they are given). */
static const int64_t *dev_pos(const struct cuda_ctx *c, int pos0) { return pos0 == COSMOS_POS_DEVICE ? c->d_pos : NULL; }

static void cuda_free_ctx(void *ctx) {
    struct cuda_ctx *c = ctx;
    if (!c) return;
    cudaSetDevice(c->device);
    if (c->stream) {
        if (c->attn_ws) cudaFreeAsync(c->attn_ws, c->stream);
        cudaStreamSynchronize(c->stream);
    }
    cosmos_cublaslt_free(c->lt);
    for (int i = 0; i < CUDA_SAMPLERS; i++) cosmos_cuda_sampler_free(c->sampler[i]);
    if (c->d_pos) cudaFree(c->d_pos);
    for (int i = 0; i < 2; i++) {
        if (c->pinned[i]) cudaFreeHost(c->pinned[i]);
        if (c->pinned_done[i]) cudaEventDestroy(c->pinned_done[i]);
    }
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

static cosmos_status cuda_alloc(void *ctx, size_t bytes, void **ptr) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    void *p = NULL;
    *ptr = NULL;
    CHECK(set_device(c));
    st = cosmos_cuda_check(cudaMalloc(&p, bytes ? bytes : 256), "cudaMalloc", __FILE__, __LINE__);
    if (st != COSMOS_OK) {
        LOG_ERROR("cuda:%d: cannot allocate %zu bytes of device memory", c->device, bytes);
        goto fail;
    }
    /* stream-ordered zeroing: every later op on this backend's stream sees zeros */
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, c->stream));
    *ptr = p;
    return COSMOS_OK;
fail:
    if (p) cudaFree(p);
    return st;
}

static void cuda_free_mem(void *ctx, void *ptr) {
    struct cuda_ctx *c = ctx;
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream); /* queued work may still read it */
    cudaFree(ptr);
}

static cosmos_status cuda_copy_sync(struct cuda_ctx *c, void *dst, const void *src, size_t bytes,
                                    enum cudaMemcpyKind kind) {
    cosmos_status st = COSMOS_OK;
    if (!bytes) return COSMOS_OK;
    CHECK(set_device(c));
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
fail:
    return st;
}
/* Uploads of PINNED_CHUNK bytes or more (the weights at load) go through two pinned buffers: the
 * host copies chunk i into one while the DMA engine moves chunk i-1 out of the other, so the
 * transfer runs at pinned speed instead of the driver's pageable path. Synchronous like the rest. */
#define PINNED_CHUNK ((size_t)32 << 20)
static cosmos_status cuda_upload(void *ctx, void *dst, const void *src, size_t bytes) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    if (bytes < PINNED_CHUNK || c->capturing) return cuda_copy_sync(ctx, dst, src, bytes, cudaMemcpyHostToDevice);
    CHECK(set_device(c));
    if (!c->pinned[0]) {
        for (int i = 0; i < 2; i++) {
            if (cudaHostAlloc(&c->pinned[i], PINNED_CHUNK, cudaHostAllocDefault) != cudaSuccess ||
                cudaEventCreateWithFlags(&c->pinned_done[i], cudaEventDisableTiming) != cudaSuccess) {
                (void)cudaGetLastError(); /* no pinned memory: the pageable path still works */
                LOG_WARN("cuda:%d: no pinned staging buffers; uploads take the pageable path", c->device);
                for (int j = 0; j <= i; j++) {
                    if (c->pinned[j]) cudaFreeHost(c->pinned[j]);
                    if (c->pinned_done[j]) cudaEventDestroy(c->pinned_done[j]);
                    c->pinned[j] = NULL;
                    c->pinned_done[j] = NULL;
                }
                return cuda_copy_sync(ctx, dst, src, bytes, cudaMemcpyHostToDevice);
            }
        }
    }
    for (size_t off = 0, i = 0; off < bytes; off += PINNED_CHUNK, i++) {
        const size_t n = bytes - off < PINNED_CHUNK ? bytes - off : PINNED_CHUNK;
        const int b = (int)(i % 2);
        if (i >= 2) CUDA_CHECK(cudaEventSynchronize(c->pinned_done[b])); /* its previous chunk has left */
        memcpy(c->pinned[b], (const char *)src + off, n);
        CUDA_CHECK(cudaMemcpyAsync((char *)dst + off, c->pinned[b], n, cudaMemcpyHostToDevice, c->stream));
        CUDA_CHECK(cudaEventRecord(c->pinned_done[b], c->stream));
    }
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
fail:
    return st;
}
static cosmos_status cuda_download(void *ctx, void *dst, const void *src, size_t bytes) {
    return cuda_copy_sync(ctx, dst, src, bytes, cudaMemcpyDeviceToHost);
}
static cosmos_status cuda_sync(void *ctx) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    CHECK(set_device(c));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
fail:
    return st;
}

/* The dispatchers (core/backend.c) checked shapes and that activations are BF16; what remains is
 * the dtypes an op accepts beyond that. */
static cosmos_status cuda_matmul(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w) {
    struct cuda_ctx *c = ctx;
    if (c->gemv && cosmos_cuda_gemv_serves(x.shape[0], w.shape[1], x.data, w.data))
        return cosmos_cuda_gemv(y.data, x.data, w.data, x.shape[0], w.shape[0], w.shape[1], c->stream);
    return cosmos_cuda_matmul(c->lt, y.data, x.data, w.data, x.shape[0], w.shape[0], w.shape[1], c->stream);
}
/* The decode GEMV with its epilogue where it serves the call and COSMOS_CUDA_GEMV allows it;
 * UNSUPPORTED otherwise: the dispatcher composes the ops (cuBLASLt's product, then add / silu_mul). */
static cosmos_status cuda_matmul_add(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor x,
                                     struct cosmos_tensor w) {
    struct cuda_ctx *c = ctx;
    if (!c->gemv) return COSMOS_ERR_UNSUPPORTED;
    return cosmos_cuda_gemv_add(y.data, a.data, x.data, w.data, x.shape[0], w.shape[0], w.shape[1], c->stream);
}
static cosmos_status cuda_matmul_swiglu(void *ctx, struct cosmos_tensor h, struct cosmos_tensor x,
                                        struct cosmos_tensor w13) {
    struct cuda_ctx *c = ctx;
    if (!c->gemv) return COSMOS_ERR_UNSUPPORTED;
    return cosmos_cuda_gemv_swiglu(h.data, x.data, w13.data, x.shape[0], w13.shape[0] / 2, w13.shape[1], c->stream);
}
static cosmos_status cuda_rmsnorm(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w,
                                  float eps) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_rmsnorm(y.data, x.data, w.data, x.shape[0], x.shape[1], eps, c->stream);
}
static cosmos_status cuda_rope(void *ctx, struct cosmos_tensor x, struct cosmos_tensor cs, struct cosmos_tensor sn,
                               int pos0) {
    struct cuda_ctx *c = ctx;
    if (cs.dtype != COSMOS_F32) {
        LOG_ERROR("rope: the cuda backend takes f32 tables (got %s)", cosmos_dtype_name(cs.dtype));
        return COSMOS_ERR_UNSUPPORTED;
    }
    return cosmos_cuda_rope(x.data, cs.data, sn.data, x.shape[0], x.shape[1], x.shape[2], pos0, dev_pos(c, pos0),
                            c->stream);
}
static cosmos_status cuda_qk_norm_rope(void *ctx, struct cosmos_tensor x, struct cosmos_tensor w, float eps,
                                       struct cosmos_tensor cs, struct cosmos_tensor sn, int pos0) {
    struct cuda_ctx *c = ctx;
    if (cs.dtype != COSMOS_F32) {
        LOG_ERROR("qk_norm_rope: the cuda backend takes f32 tables (got %s)", cosmos_dtype_name(cs.dtype));
        return COSMOS_ERR_UNSUPPORTED;
    }
    return cosmos_cuda_qk_norm_rope(x.data, w.data, cs.data, sn.data, x.shape[0], x.shape[1], x.shape[2], eps, pos0,
                                    dev_pos(c, pos0), c->stream);
}
static cosmos_status cuda_add_rows_rmsnorm(void *ctx, struct cosmos_tensor x, struct cosmos_tensor table, int pos0,
                                           struct cosmos_tensor y, struct cosmos_tensor w, float eps) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_add_rows_rmsnorm(x.data, table.data, table.dtype, y.data, w.data, x.shape[0], x.shape[1], eps,
                                        pos0, dev_pos(c, pos0), c->stream);
}
static cosmos_status cuda_qkv_rope_store(void *ctx, struct cosmos_tensor q, struct cosmos_tensor k,
                                         struct cosmos_tensor v, struct cosmos_tensor qw, struct cosmos_tensor kw,
                                         float eps, struct cosmos_tensor cs, struct cosmos_tensor sn,
                                         struct cosmos_tensor kc, struct cosmos_tensor vc, int pos0) {
    struct cuda_ctx *c = ctx;
    if (cs.dtype != COSMOS_F32) {
        LOG_ERROR("qkv_rope_store: the cuda backend takes f32 tables (got %s)", cosmos_dtype_name(cs.dtype));
        return COSMOS_ERR_UNSUPPORTED;
    }
    return cosmos_cuda_qkv_rope_store(q.data, k.data, v.data, qw.data, kw.data, cs.data, sn.data, kc.data, vc.data,
                                      q.shape[0], q.shape[1], k.shape[1], q.shape[2], eps, pos0, dev_pos(c, pos0),
                                      c->stream);
}
static cosmos_status cuda_embedding(void *ctx, struct cosmos_tensor y, struct cosmos_tensor table,
                                    struct cosmos_tensor ids) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_embedding(y.data, table.data, table.shape[0], ids.data, ids.shape[0], table.shape[1],
                                 c->stream);
}
static cosmos_status cuda_add(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor b) {
    struct cuda_ctx *c = ctx;
    if (y.dtype == COSMOS_F32) /* the T5 encoder's f32 residuals (the dispatcher checked a and b) */
        return cosmos_cuda_add_f32(y.data, a.data, b.data, cosmos_tensor_numel(&y), c->stream);
    if (b.dtype != COSMOS_BF16 && b.dtype != COSMOS_F32) {
        LOG_ERROR("add: the right operand must be bf16 or f32 (got %s)", cosmos_dtype_name(b.dtype));
        return COSMOS_ERR_UNSUPPORTED;
    }
    return cosmos_cuda_add(y.data, a.data, b.data, b.dtype, cosmos_tensor_numel(&y), c->stream);
}
static cosmos_status cuda_silu_mul(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor b) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_silu_mul(y.data, a.data, b.data, cosmos_tensor_numel(&y), c->stream);
}
/* The attention scratch grown to `need` bytes (whole MiB; stream-ordered; never inside a graph
 * capture, see struct cuda_ctx). */
static cosmos_status attn_ws_grow(struct cuda_ctx *c, size_t need) {
    cosmos_status st = COSMOS_OK;
    if (need <= c->attn_ws_bytes) return COSMOS_OK;
    if (c->capturing) {
        LOG_ERROR("attention: the workspace must grow during a CUDA-graph capture (run the step eagerly first)");
        return COSMOS_ERR_INTERNAL;
    }
    const size_t mib = (size_t)1 << 20, bytes = (need + mib - 1) / mib * mib;
    CHECK(set_device(c));
    if (c->attn_ws) {
        void *old = c->attn_ws;
        c->attn_ws = NULL;
        c->attn_ws_bytes = 0;
        CUDA_CHECK(cudaFreeAsync(old, c->stream));
    }
    void *ws = NULL;
    CUDA_CHECK(cudaMallocAsync(&ws, bytes, c->stream));
    CUDA_CHECK(cudaMemsetAsync(ws, 0, bytes, c->stream)); /* the decode kernel's counts start at zero */
    c->attn_ws = ws;
    c->attn_ws_bytes = bytes;
fail:
    return st;
}
static cosmos_status cuda_reserve_attention(void *ctx, int64_t T_max, int64_t H, int64_t Hkv, int64_t Dh, int64_t S,
                                            int causal) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    CHECK(set_device(c)); /* the plan reads the current device's SM count */
    CHECK(attn_ws_grow(c, cosmos_cuda_attention_ws_bytes_max(T_max, H, Hkv, Dh, S, causal)));
fail:
    return st;
}
static cosmos_status cuda_attention(void *ctx, struct cosmos_tensor out, struct cosmos_tensor q,
                                    struct cosmos_tensor k, struct cosmos_tensor v, int pos0, int causal) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    if (k.dtype != COSMOS_BF16 && k.dtype != COSMOS_F32) {
        LOG_ERROR("attention: K/V must be bf16 or f32 (got %s)", cosmos_dtype_name(k.dtype));
        return COSMOS_ERR_UNSUPPORTED;
    }
    const int64_t T = q.shape[0], H = q.shape[1], Hkv = k.shape[1], Dh = q.shape[2], S = k.shape[0];
    const int64_t *dp = causal ? dev_pos(c, pos0) : NULL; /* planned for the last position, S - T */
    CHECK(attn_ws_grow(c, cosmos_cuda_attention_ws_bytes(T, H, Hkv, Dh, S, dp ? S - T : pos0, causal)));
    return cosmos_cuda_attention(out.data, q.data, k.data, v.data, k.dtype, T, H, Hkv, Dh, S, dp ? 0 : pos0, causal,
                                 c->attn_mma, c->attn_ws, c->attn_ws_bytes, dp, c->stream);
fail:
    return st;
}
/* GPU sampling (sample.cu): the sampler of vocab size V (struct cuda_ctx), made when a model
 * reserves it at load or at the first sample of that size, so the decode loop allocates nothing. */
static cosmos_status sampler_for(struct cuda_ctx *c, int V, cosmos_cuda_sampler_t **out) {
    cosmos_status st = COSMOS_OK;
    CHECK(set_device(c));
    int i = 0;
    for (; i < CUDA_SAMPLERS && c->sampler[i]; i++)
        if (c->sampler_v[i] == V) {
            *out = c->sampler[i];
            return COSMOS_OK;
        }
    if (c->capturing) {
        LOG_ERROR("sample: the GPU sampler must be made before a CUDA-graph capture (sample eagerly first)");
        return COSMOS_ERR_INTERNAL;
    }
    if (i == CUDA_SAMPLERS) { /* all taken: drop the oldest, whose buffers may still be in use */
        CUDA_CHECK(cudaStreamSynchronize(c->stream));
        cosmos_cuda_sampler_free(c->sampler[0]);
        memmove(c->sampler, c->sampler + 1, sizeof c->sampler[0] * (CUDA_SAMPLERS - 1));
        memmove(c->sampler_v, c->sampler_v + 1, sizeof c->sampler_v[0] * (CUDA_SAMPLERS - 1));
        i = CUDA_SAMPLERS - 1;
        c->sampler[i] = NULL;
    }
    CHECK(cosmos_cuda_sampler_init(V, &c->sampler[i]));
    c->sampler_v[i] = V;
    *out = c->sampler[i];
fail:
    return st;
}
static cosmos_status cuda_reserve_sampler(void *ctx, int64_t V) {
    cosmos_cuda_sampler_t *s = NULL;
    return sampler_for(ctx, (int)V, &s);
}
static cosmos_status cuda_sample(void *ctx, struct cosmos_tensor token, struct cosmos_tensor logits,
                                 const struct cosmos_sampler_params *p, int64_t position) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    const int V = (int)cosmos_tensor_numel(&logits);
    cosmos_cuda_sampler_t *s = NULL;
    CHECK(sampler_for(c, V, &s));
    int32_t *nonfinite = cosmos_tensor_numel(&token) == 2 ? (int32_t *)token.data + 1 : NULL;
    if (position == COSMOS_POS_DEVICE)
        st = cosmos_cuda_sample_devpos(s, token.data, nonfinite, logits.data, p, c->d_pos + 1, c->stream);
    else
        st = cosmos_cuda_sample(s, token.data, nonfinite, logits.data, p, position, c->stream);
fail:
    return st;
}
static cosmos_status cuda_memory(void *ctx, struct cosmos_backend_memory *out) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    out->workspace_bytes = CUBLASLT_WORKSPACE_BYTES + c->attn_ws_bytes;
    for (int i = 0; i < CUDA_SAMPLERS; i++) out->workspace_bytes += cosmos_cuda_sampler_bytes(c->sampler[i]);
    CHECK(set_device(c));
    CUDA_CHECK(cudaMemGetInfo(&out->device_free, &out->device_total));
fail:
    return st;
}

/* The position cell: a stream-ordered copy from pageable memory, which CUDA stages before returning,
 * so the host values may change at once. Not inside a capture (the graph reads the cell). */
static cosmos_status cuda_set_pos(void *ctx, int64_t pos) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    const int64_t cell[2] = {pos, pos + 1};
    CHECK_ARG(!c->capturing, COSMOS_ERR_INTERNAL, "set_pos inside a CUDA-graph capture");
    CHECK(set_device(c));
    CUDA_CHECK(cudaMemcpyAsync(c->d_pos, cell, sizeof cell, cudaMemcpyHostToDevice, c->stream));
fail:
    return st;
}
static cosmos_status cuda_store_rows(void *ctx, struct cosmos_tensor dst, struct cosmos_tensor src, int pos0) {
    struct cuda_ctx *c = ctx;
    const int64_t rows = src.shape[0], row_bytes = rows ? (int64_t)cosmos_tensor_bytes(&src) / rows : 0;
    return cosmos_cuda_store_rows(dst.data, src.data, rows, row_bytes, pos0, dev_pos(c, pos0), c->stream);
}
static cosmos_status cuda_add_rows(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a,
                                   struct cosmos_tensor table, int pos0) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_add_rows(y.data, a.data, table.data, table.dtype, y.shape[0], y.shape[1], pos0,
                                dev_pos(c, pos0), c->stream);
}

/* CUDA graphs: stream capture on the backend's stream (thread-local mode: other threads' CUDA calls
 * are not disturbed), instantiated into an executable graph. */
static cosmos_status cuda_graph_begin(void *ctx) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(!c->capturing, COSMOS_ERR_INTERNAL, "graph_begin: a capture is already open");
    CHECK(set_device(c));
    CUDA_CHECK(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
    c->capturing = 1;
fail:
    return st;
}
static cosmos_status cuda_graph_end(void *ctx, void **out) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    cudaGraph_t g = NULL;
    cudaGraphExec_t exec = NULL;
    *out = NULL;
    CHECK_ARG(c->capturing, COSMOS_ERR_INTERNAL, "graph_end without graph_begin");
    c->capturing = 0;
    CUDA_CHECK(cudaStreamEndCapture(c->stream, &g)); /* also after a failed op: the stream leaves capture */
    CUDA_CHECK(cudaGraphInstantiate(&exec, g, 0));
    *out = exec;
fail:
    if (g) cudaGraphDestroy(g);
    return st;
}
static cosmos_status cuda_graph_launch(void *ctx, void *graph) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    CHECK(set_device(c));
    CUDA_CHECK(cudaGraphLaunch((cudaGraphExec_t)graph, c->stream));
fail:
    return st;
}
static void cuda_graph_free(void *ctx, void *graph) {
    struct cuda_ctx *c = ctx;
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream); /* a replay may still run */
    cudaGraphExecDestroy((cudaGraphExec_t)graph);
}

static cosmos_status cuda_copy(void *ctx, struct cosmos_tensor dst, struct cosmos_tensor src) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_copy(dst.data, dst.dtype, src.data, src.dtype, cosmos_tensor_numel(&dst), c->stream);
}

/* Diffusion-decoder DiT ops: the dispatchers checked that every operand is an activation (bf16
 * here) and viewed x, y, a, b as rows [R, D]; shift, scale, gate are [D]. */
static cosmos_status cuda_swish(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_swish(y.data, x.data, y.dtype, cosmos_tensor_numel(&y), c->stream);
}
static cosmos_status cuda_gelu(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_gelu(y.data, x.data, y.dtype, cosmos_tensor_numel(&y), c->stream);
}
static cosmos_status cuda_layernorm_modulate(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x,
                                             struct cosmos_tensor shift, struct cosmos_tensor scale, float eps) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_layernorm_modulate(y.data, x.data, shift.data, scale.data, y.dtype, x.shape[0], x.shape[1], eps,
                                          c->stream);
}
static cosmos_status cuda_add_gated(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor b,
                                    struct cosmos_tensor gate) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_add_gated(y.data, a.data, b.data, gate.data, y.dtype, a.shape[0], a.shape[1], c->stream);
}

/* DV tokenizer ops: the dispatchers checked the shapes (core/backend.c); activations are bf16. */
static cosmos_status cuda_haar_patch(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int patch_size,
                                     float tap) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_haar_patch(y.data, x.data, x.dtype, x.shape[0], x.shape[1], x.shape[2], x.shape[3], patch_size,
                                  tap, c->stream);
}
static cosmos_status cuda_haar_unpatch(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int patch_size,
                                       float tap) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_haar_unpatch(y.data, x.data, x.dtype, x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                    patch_size, tap, c->stream);
}
static cosmos_status cuda_causal_conv3d(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x,
                                        struct cosmos_tensor w, struct cosmos_tensor bias,
                                        const struct cosmos_conv3d_params *p) {
    struct cuda_ctx *c = ctx;
    if (x.dtype != COSMOS_BF16) return COSMOS_ERR_UNSUPPORTED;
    const struct cosmos_cuda_conv3d_shape s = {x.shape[0], w.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                               p->kt, p->kh, p->kw, p->time_pad, p->stride_t, p->stride_s,
                                               p->pad_lo, p->pad_hi};
    return cosmos_cuda_causal_conv3d(c->lt, y.data, x.data, w.data, bias.data, w.dtype, &s, 0, c->stream);
}
static cosmos_status cuda_groupnorm_frames(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x,
                                           struct cosmos_tensor gamma, struct cosmos_tensor beta, float eps) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_groupnorm_frames(y.data, x.data, x.dtype, gamma.data, beta.data, gamma.dtype, x.shape[0],
                                        x.shape[1], x.shape[2] * x.shape[3], eps, c->stream);
}
static cosmos_status cuda_copy_frames(void *ctx, struct cosmos_tensor dst, int64_t dst_t0, struct cosmos_tensor src,
                                      int64_t src_t0, int64_t n) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_copy_frames(dst.data, dst.shape[1], dst_t0, src.data, src.shape[1], src_t0, n, src.shape[0],
                                   src.shape[2] * src.shape[3], cosmos_dtype_size(src.dtype), c->stream);
}
static cosmos_status cuda_upsample_nearest2x(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_upsample_nearest2x(y.data, x.data, x.shape[0] * x.shape[1], x.shape[2], x.shape[3],
                                          cosmos_dtype_size(x.dtype), c->stream);
}
static cosmos_status cuda_pool_add(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int temporal) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_pool_add(y.data, x.data, x.dtype, x.shape[0], x.shape[1], x.shape[2], x.shape[3], y.shape[1],
                                y.shape[2], y.shape[3], temporal, c->stream);
}
static cosmos_status cuda_attention_1h(void *ctx, struct cosmos_tensor out, struct cosmos_tensor q,
                                       struct cosmos_tensor k, struct cosmos_tensor v, int temporal) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_attention_1h(out.data, q.data, k.data, v.data, q.dtype, q.shape[0], q.shape[1], k.shape[1],
                                    q.shape[2] * q.shape[3], temporal, c->stream);
}
static cosmos_status cuda_fsq_quantize(void *ctx, struct cosmos_tensor indices, struct cosmos_tensor codes,
                                       struct cosmos_tensor z, const int *levels, int n_levels) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_fsq_quantize(indices.data, codes.data, z.data, z.dtype, levels, n_levels,
                                    cosmos_tensor_numel(&indices), c->stream);
}
static cosmos_status cuda_fsq_dequantize(void *ctx, struct cosmos_tensor codes, struct cosmos_tensor indices,
                                         const int *levels, int n_levels) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    CHECK(set_device(c));
    st = cosmos_cuda_fsq_dequantize(codes.data, indices.data, codes.dtype, levels, n_levels,
                                    cosmos_tensor_numel(&indices), c->stream);
fail:
    return st;
}

/* T5 encoder ops: f32 activations and weights (the dispatchers checked the dtypes). */
static cosmos_status cuda_matmul_f32w(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x,
                                      struct cosmos_tensor w) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_matmul_f32(c->lt, y.data, x.data, w.data, x.shape[0], w.shape[0], w.shape[1], c->stream);
}
static cosmos_status cuda_rmsnorm_f32w(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x,
                                       struct cosmos_tensor w, float eps) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_rmsnorm_f32w(y.data, x.data, w.data, x.shape[0], x.shape[1], eps, c->stream);
}
static cosmos_status cuda_relu(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_relu(y.data, x.data, y.dtype, cosmos_tensor_numel(&y), c->stream);
}
static cosmos_status cuda_attention_relbias(void *ctx, struct cosmos_tensor out, struct cosmos_tensor q,
                                            struct cosmos_tensor k, struct cosmos_tensor v,
                                            struct cosmos_tensor rel_bias, float scale) {
    struct cuda_ctx *c = ctx;
    const cosmos_status st = cosmos_cuda_attention_relbias(out.data, q.data, k.data, v.data, rel_bias.data, q.shape[0],
                                                           k.shape[0], q.shape[1], q.shape[2], scale, c->stream);
    if (st == COSMOS_ERR_UNSUPPORTED)
        LOG_ERROR("attention_relbias: %lld heads of %lld channels are beyond the CUDA kernel (heads <= 65535, "
                  "channels <= 256, its shared memory within the device's limit)",
                  (long long)q.shape[1], (long long)q.shape[2]);
    return st;
}

/* The guardrail's vision models: f32 (the dispatchers checked the dtypes). */
static cosmos_status cuda_layernorm(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w,
                                    struct cosmos_tensor b, float eps) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_layernorm(y.data, x.data, w.data, b.data, x.shape[0], x.shape[1], eps, c->stream);
}
static cosmos_status cuda_gelu_tanh(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_gelu_tanh(y.data, x.data, y.dtype, cosmos_tensor_numel(&y), c->stream);
}
static cosmos_status cuda_add_bias(void *ctx, struct cosmos_tensor y, struct cosmos_tensor b) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_add_bias(y.data, y.dtype, b.data, y.shape[0], y.shape[1], c->stream);
}

/* RetinaFace's feature maps: f32 [C, H, W] (the dispatchers checked shapes and dtypes). */
static cosmos_status cuda_conv2d(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w,
                                 struct cosmos_tensor b, int k, int stride, int pad) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_conv2d(c->lt, y.data, x.data, w.data, b.data, x.shape[0], x.shape[1], x.shape[2], y.shape[0], k,
                              stride, pad, c->stream);
}
static cosmos_status cuda_leaky_relu(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, float slope) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_leaky_relu(y.data, x.data, y.dtype, cosmos_tensor_numel(&y), slope, c->stream);
}
static cosmos_status cuda_maxpool2d(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int k, int stride,
                                    int pad) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_maxpool2d(y.data, x.data, x.shape[0], x.shape[1], x.shape[2], k, stride, pad, c->stream);
}
static cosmos_status cuda_add_upsampled_nearest(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_add_upsampled_nearest(y.data, x.data, y.shape[0], y.shape[1], y.shape[2], x.shape[1],
                                             x.shape[2], c->stream);
}

static const struct cosmos_backend_ops cuda_ops = {
    .free_ctx = cuda_free_ctx,
    .alloc = cuda_alloc,
    .free_mem = cuda_free_mem,
    .upload = cuda_upload,
    .download = cuda_download,
    .sync = cuda_sync,
    .matmul = cuda_matmul,
    .add_rows_rmsnorm = cuda_add_rows_rmsnorm,
    .qkv_rope_store = cuda_qkv_rope_store,
    .matmul_add = cuda_matmul_add,
    .matmul_swiglu = cuda_matmul_swiglu,
    .rmsnorm = cuda_rmsnorm,
    .rope = cuda_rope,
    .embedding = cuda_embedding,
    .add = cuda_add,
    .silu_mul = cuda_silu_mul,
    .attention = cuda_attention,
    .copy = cuda_copy,
    .sample = cuda_sample,
    .memory = cuda_memory,
    .reserve_attention = cuda_reserve_attention,
    .reserve_sampler = cuda_reserve_sampler,
    .qk_norm_rope = cuda_qk_norm_rope,
    .set_pos = cuda_set_pos,
    .store_rows = cuda_store_rows,
    .add_rows = cuda_add_rows,
    .graph_begin = cuda_graph_begin,
    .graph_end = cuda_graph_end,
    .graph_launch = cuda_graph_launch,
    .graph_free = cuda_graph_free,
    /* T5 encoder ops (f32 activations) */
    .matmul_f32w = cuda_matmul_f32w,
    .rmsnorm_f32w = cuda_rmsnorm_f32w,
    .relu = cuda_relu,
    .attention_relbias = cuda_attention_relbias,
    /* DV tokenizer ops */
    .haar_patch = cuda_haar_patch,
    .haar_unpatch = cuda_haar_unpatch,
    .causal_conv3d = cuda_causal_conv3d,
    .groupnorm_frames = cuda_groupnorm_frames,
    .swish = cuda_swish,
    .attention_1h = cuda_attention_1h,
    .pool_add = cuda_pool_add,
    .copy_frames = cuda_copy_frames,
    .upsample_nearest2x = cuda_upsample_nearest2x,
    .fsq_quantize = cuda_fsq_quantize,
    .fsq_dequantize = cuda_fsq_dequantize,
    /* diffusion-decoder DiT ops */
    .layernorm_modulate = cuda_layernorm_modulate,
    .gelu = cuda_gelu,
    .add_gated = cuda_add_gated,
    /* the guardrail's vision models (f32) */
    .layernorm = cuda_layernorm,
    .gelu_tanh = cuda_gelu_tanh,
    .add_bias = cuda_add_bias,
    .conv2d = cuda_conv2d,
    .leaky_relu = cuda_leaky_relu,
    .maxpool2d = cuda_maxpool2d,
    .add_upsampled_nearest = cuda_add_upsampled_nearest,
};

cosmos_status cosmos_backend_cuda_blas(char *out, size_t n) {
    char where[768];
    const cosmos_status st = cosmos_cublaslt_load(where, sizeof where);
    if (st != COSMOS_OK) {
        snprintf(out, n, "none: %s", where);
        return st;
    }
    const size_t v = cosmos_cublaslt_version();
    snprintf(out, n, "%zu.%zu.%zu (%s)", v / 10000, v / 100 % 100, v % 100, where);
    return COSMOS_OK;
}

cosmos_status cosmos_backend_cuda_devices(struct cosmos_gpu_info *out, int max, int *n, int *runtime_version,
                                          int *driver_version, char *why, size_t n_why) {
    *n = 0, *runtime_version = 0, *driver_version = 0;
    cudaRuntimeGetVersion(runtime_version);
    cudaDriverGetVersion(driver_version); /* 0 without a driver */
    int n_dev = 0;
    const cudaError_t err = cudaGetDeviceCount(&n_dev);
    if (err != cudaSuccess || n_dev == 0) {
        if (err != cudaSuccess) cudaGetLastError(); /* reset the runtime's last-error state */
        snprintf(why, n_why, "no CUDA device usable here (%s)",
                 err != cudaSuccess ? cudaGetErrorString(err) : "cudaGetDeviceCount found none");
        return COSMOS_ERR_UNSUPPORTED;
    }
    *n = n_dev;
    for (int i = 0; i < n_dev && i < max; i++) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
            cudaGetLastError();
            snprintf(out[i].name, sizeof out[i].name, "(properties unreadable)");
            out[i].memory_bytes = 0, out[i].cc_major = out[i].cc_minor = 0;
            continue;
        }
        snprintf(out[i].name, sizeof out[i].name, "%.127s", p.name);
        out[i].memory_bytes = p.totalGlobalMem, out[i].cc_major = p.major, out[i].cc_minor = p.minor;
    }
    return COSMOS_OK;
}

cosmos_status cosmos_backend_cuda_create(int device, const struct cosmos_backend_params *params,
                                         cosmos_backend_t **out) {
    (void)params;
    cosmos_status st = COSMOS_OK;
    struct cosmos_backend *be = NULL;
    struct cuda_ctx *c = NULL;
    *out = NULL;
    int n_dev = 0;
    cudaError_t err = cudaGetDeviceCount(&n_dev);
    if (err != cudaSuccess) {
        cudaGetLastError(); /* reset the runtime's last-error state */
        LOG_ERROR("backend cuda:%d is not available: no CUDA support on this machine (cudaGetDeviceCount: %s, %s); "
                  "hint: this build has the CUDA backend, but no NVIDIA GPU or driver is usable here",
                  device, cudaGetErrorString(err), cudaGetErrorName(err));
        return COSMOS_ERR_UNSUPPORTED;
    }
    if (n_dev == 0) {
        LOG_ERROR("backend cuda:%d is not available: no CUDA support on this machine (no CUDA device found)", device);
        return COSMOS_ERR_UNSUPPORTED;
    }
    if (device < 0 || device >= n_dev) {
        LOG_ERROR("backend cuda:%d does not exist: this machine has %d CUDA device(s) (cuda:0..cuda:%d)", device,
                  n_dev, n_dev - 1);
        return COSMOS_ERR_INVALID_ARG;
    }
    be = calloc(1, sizeof *be);
    c = calloc(1, sizeof *c);
    CHECK_ALLOC(be);
    CHECK_ALLOC(c);
    c->device = device;
    const char *attn = getenv("COSMOS_CUDA_ATTENTION");
    CHECK_ARG(!attn || !*attn || !strcmp(attn, "mma") || !strcmp(attn, "f32"), COSMOS_ERR_INVALID_ARG,
              "COSMOS_CUDA_ATTENTION is '%s': mma (the prefill attention on the tensor cores, the default) or f32 "
              "(the f32 kernel, for comparison)", attn);
    c->attn_mma = !(attn && !strcmp(attn, "f32"));
    if (!c->attn_mma) LOG_INFO0("backend cuda:%d: prefill attention on the f32 kernel (COSMOS_CUDA_ATTENTION=f32)", device);
    const char *gemv = getenv("COSMOS_CUDA_GEMV");
    CHECK_ARG(!gemv || !*gemv || !strcmp(gemv, "kernel") || !strcmp(gemv, "cublaslt"), COSMOS_ERR_INVALID_ARG,
              "COSMOS_CUDA_GEMV is '%s': kernel (matmuls of up to %d rows on the decode GEMV kernel, the default) "
              "or cublaslt (every matmul on cuBLASLt, for comparison)", gemv, COSMOS_CUDA_GEMV_MAX_M);
    c->gemv = !(gemv && !strcmp(gemv, "cublaslt"));
    if (!c->gemv) LOG_INFO0("backend cuda:%d: every matmul on cuBLASLt (COSMOS_CUDA_GEMV=cublaslt)", device);
    CUDA_CHECK(cudaSetDevice(device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    CHECK(cosmos_cublaslt_create(CUBLASLT_WORKSPACE_BYTES, &c->lt));
    CUDA_CHECK(cudaMalloc((void **)&c->d_pos, 2 * sizeof(int64_t)));
    /* on the backend's stream: a non-blocking stream is not ordered after the legacy default stream, so
     * a plain cudaMemset could land after the first set_pos */
    CUDA_CHECK(cudaMemsetAsync(c->d_pos, 0, 2 * sizeof(int64_t), c->stream));
    struct cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    LOG_INFO0("backend cuda:%d: %s, sm_%d%d, %.1f GiB", device, prop.name, prop.major, prop.minor,
              (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    snprintf(be->name, sizeof be->name, "cuda:%d", device);
    be->ops = &cuda_ops;
    be->ctx = c;
    be->act_dtype = COSMOS_BF16;
    be->is_host = 0;
    be->device = device;
    be->stream = c->stream; /* a NCCL communicator on it is ordered with the ops */
    *out = be;
    return COSMOS_OK;
fail:
    cuda_free_ctx(c);
    free(be);
    return st;
}
