/* The CUDA backend (issue 4, first step): one device, one non-blocking stream, a cuBLASLt handle
 * and workspace; bf16 activations (act dtype BF16) and bf16 weights in device memory, fp32 inside
 * the kernels. Plain C against the CUDA runtime and cuBLASLt C APIs; the kernels are the
 * cosmos_cuda_* launchers of cuda_ops.h. Ops are stream-ordered; download and upload are
 * synchronous (the host buffer may be reused or freed on return); alloc returns zeroed memory.
 * Not yet here: a weight arena, pinned staging, CUDA graphs, the T5 ops (NULL slots: UNSUPPORTED).
 * In a build without CUDA, core/backend_nocuda.c provides cosmos_backend_cuda_create instead. */
#include <stdio.h>
#include <stdlib.h>

#include "core/backend_impl.h"
#include "core/log.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/cuda_sample.h"

#define CUBLASLT_WORKSPACE_BYTES (32u << 20) /* cuBLAS's recommendation for Hopper */

struct cuda_ctx {
    int device;
    cudaStream_t stream;
    cosmos_cublaslt_t *lt;
    /* Scratch of the attention kernels (cosmos_cuda_attention_ws_bytes: split-KV decode partials),
     * grown on demand by cuda_attention with stream-ordered cudaFreeAsync + cudaMallocAsync (no host
     * sync). Growth must not happen during CUDA-graph capture: run every captured attention shape
     * once before capturing (later calls with the same or a smaller need allocate nothing). */
    void *attn_ws;
    size_t attn_ws_bytes;
    cosmos_cuda_sampler_t *sampler; /* device sampler for vocab size sampler_v, made at first use */
    int sampler_v;
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

static void cuda_free_ctx(void *ctx) {
    struct cuda_ctx *c = ctx;
    if (!c) return;
    cudaSetDevice(c->device);
    if (c->stream) {
        if (c->attn_ws) cudaFreeAsync(c->attn_ws, c->stream);
        cudaStreamSynchronize(c->stream);
    }
    cosmos_cublaslt_free(c->lt);
    cosmos_cuda_sampler_free(c->sampler);
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
static cosmos_status cuda_upload(void *ctx, void *dst, const void *src, size_t bytes) {
    return cuda_copy_sync(ctx, dst, src, bytes, cudaMemcpyHostToDevice);
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
    return cosmos_cuda_matmul(c->lt, y.data, x.data, w.data, x.shape[0], w.shape[0], w.shape[1], c->stream);
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
    return cosmos_cuda_rope(x.data, cs.data, sn.data, x.shape[0], x.shape[1], x.shape[2], pos0, c->stream);
}
static cosmos_status cuda_embedding(void *ctx, struct cosmos_tensor y, struct cosmos_tensor table,
                                    struct cosmos_tensor ids) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_embedding(y.data, table.data, table.shape[0], ids.data, ids.shape[0], table.shape[1],
                                 c->stream);
}
static cosmos_status cuda_add(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor b) {
    struct cuda_ctx *c = ctx;
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
static cosmos_status cuda_attention(void *ctx, struct cosmos_tensor out, struct cosmos_tensor q,
                                    struct cosmos_tensor k, struct cosmos_tensor v, int pos0, int causal) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    if (k.dtype != COSMOS_BF16 && k.dtype != COSMOS_F32) {
        LOG_ERROR("attention: K/V must be bf16 or f32 (got %s)", cosmos_dtype_name(k.dtype));
        return COSMOS_ERR_UNSUPPORTED;
    }
    const int64_t T = q.shape[0], H = q.shape[1], Hkv = k.shape[1], Dh = q.shape[2], S = k.shape[0];
    const size_t need = cosmos_cuda_attention_ws_bytes(T, H, Hkv, Dh, S, pos0, causal);
    if (need > c->attn_ws_bytes) { /* grow (stream-ordered; not during graph capture, see struct cuda_ctx) */
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
        c->attn_ws = ws;
        c->attn_ws_bytes = bytes;
    }
    return cosmos_cuda_attention(out.data, q.data, k.data, v.data, k.dtype, T, H, Hkv, Dh, S, pos0, causal, c->attn_ws,
                                 c->attn_ws_bytes, c->stream);
fail:
    return st;
}
/* GPU sampling (sample.cu): the sampler's buffers are made for the first vocab size seen (remade,
 * after a sync, when another comes), so the decode loop allocates nothing. */
static cosmos_status cuda_sample(void *ctx, struct cosmos_tensor token, struct cosmos_tensor logits,
                                 const struct cosmos_sampler_params *p, int64_t position) {
    struct cuda_ctx *c = ctx;
    cosmos_status st = COSMOS_OK;
    const int V = (int)cosmos_tensor_numel(&logits);
    CHECK(set_device(c));
    if (!c->sampler || c->sampler_v != V) {
        CUDA_CHECK(cudaStreamSynchronize(c->stream)); /* the old buffers may still be in use */
        cosmos_cuda_sampler_free(c->sampler);
        c->sampler = NULL;
        CHECK(cosmos_cuda_sampler_init(V, &c->sampler));
        c->sampler_v = V;
    }
    st = cosmos_cuda_sample(c->sampler, token.data, logits.data, p, position, c->stream);
fail:
    return st;
}
static cosmos_status cuda_copy(void *ctx, struct cosmos_tensor dst, struct cosmos_tensor src) {
    struct cuda_ctx *c = ctx;
    return cosmos_cuda_copy(dst.data, dst.dtype, src.data, src.dtype, cosmos_tensor_numel(&dst), c->stream);
}

static const struct cosmos_backend_ops cuda_ops = {
    .free_ctx = cuda_free_ctx,
    .alloc = cuda_alloc,
    .free_mem = cuda_free_mem,
    .upload = cuda_upload,
    .download = cuda_download,
    .sync = cuda_sync,
    .matmul = cuda_matmul,
    .rmsnorm = cuda_rmsnorm,
    .rope = cuda_rope,
    .embedding = cuda_embedding,
    .add = cuda_add,
    .silu_mul = cuda_silu_mul,
    .attention = cuda_attention,
    .copy = cuda_copy,
    .sample = cuda_sample,
    /* T5 encoder ops (matmul_f32w, rmsnorm_f32w, relu, attention_relbias): not written yet. */
};

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
    CUDA_CHECK(cudaSetDevice(device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    CHECK(cosmos_cublaslt_create(CUBLASLT_WORKSPACE_BYTES, &c->lt));
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
