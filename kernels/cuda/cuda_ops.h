/* Launchers of the CUDA kernels (one .cu per op, STYLE.md "Naming") and the CUDA/cuBLAS check
 * macros. A private header of kernels/cuda: plain C (the launchers are extern "C"), included by
 * backend_cuda.c and the .cu files; model code never sees it. Pointers are device pointers, bf16 is
 * held as its raw 16-bit pattern (cosmos_bf16), shapes are row-major as in core/backend.h. Every
 * launcher only enqueues work on `stream` (stream-ordered, returns before the kernel runs) and
 * reports a failed launch as COSMOS_ERR_CUDA; zero-sized work enqueues nothing. */
#ifndef COSMOS_CUDA_OPS_H
#define COSMOS_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "core/dtype.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Log a failed CUDA runtime / cuBLAS call with the call text, file:line and the current device
 * (the log prefix adds rank and host); return COSMOS_ERR_CUDA / COSMOS_ERR_CUBLAS, or COSMOS_OK
 * when the call succeeded. */
cosmos_status cosmos_cuda_check(cudaError_t err, const char *call, const char *file, int line);
cosmos_status cosmos_cublas_check(cublasStatus_t err, const char *call, const char *file, int line);

/* Check macros in the style of core/log.h CHECK: need `cosmos_status st` and a `fail:` label. */
#define CUDA_CHECK(call)                                                         \
    do {                                                                         \
        st = cosmos_cuda_check((call), #call, __FILE__, __LINE__);               \
        if (st != COSMOS_OK) goto fail;                                          \
    } while (0)
#define CUBLAS_CHECK(call)                                                       \
    do {                                                                         \
        st = cosmos_cublas_check((call), #call, __FILE__, __LINE__);             \
        if (st != COSMOS_OK) goto fail;                                          \
    } while (0)
/* After a kernel launch: the launch error (bad configuration, no kernel image for this GPU), if any. */
#define CUDA_LAUNCH_STATUS(kernel_name) cosmos_cuda_check(cudaGetLastError(), kernel_name, __FILE__, __LINE__)

/* ---- matmul (matmul_cublaslt.c): cuBLASLt, bf16 in, fp32 accumulate, bf16 out ---- */
/* Open cuBLASLt (dlopen, once per process; cosmos_cublaslt_create calls it): COSMOS_OK with the
 * file that was opened in why, or UNSUPPORTED with the reason (not found, not cuBLASLt, another
 * major version). cosmos_cublaslt_version: the opened library's cublasLtGetVersion(), 0 before. */
cosmos_status cosmos_cublaslt_load(char *why, size_t n_why);
size_t cosmos_cublaslt_version(void);
typedef struct cosmos_cublaslt cosmos_cublaslt_t;
/* Handle, workspace (ws_bytes of device memory) and a per-shape heuristic cache; owned by caller. */
cosmos_status cosmos_cublaslt_create(size_t ws_bytes, cosmos_cublaslt_t **out);
void cosmos_cublaslt_free(cosmos_cublaslt_t *lt); /* NULL is a no-op; synchronous */
/* y[M,N] = x[M,K] . w[N,K]^T, all bf16. */
cosmos_status cosmos_cuda_matmul(cosmos_cublaslt_t *lt, cosmos_bf16 *y, const cosmos_bf16 *x, const cosmos_bf16 *w,
                                 int64_t M, int64_t N, int64_t K, cudaStream_t stream);
/* The decode GEMV (gemv.cu): the same product for M <= COSMOS_CUDA_GEMV_MAX_M rows by a kernel
 * that streams w at memory speed. Serves K a multiple of 8 with x and w 16-byte aligned
 * (cosmos_cuda_gemv_serves), UNSUPPORTED otherwise; y must not overlap x or w. The backend takes
 * it for every matmul it serves unless COSMOS_CUDA_GEMV=cublaslt (docs/cuda.md). */
#define COSMOS_CUDA_GEMV_MAX_M 4
int cosmos_cuda_gemv_serves(int64_t M, int64_t K, const void *x, const void *w);
cosmos_status cosmos_cuda_gemv(cosmos_bf16 *y, const cosmos_bf16 *x, const cosmos_bf16 *w, int64_t M, int64_t N,
                               int64_t K, cudaStream_t stream);
/* Its fused epilogues, served as cosmos_cuda_gemv: y[M,N] = a + x . w^T (a may be y), bit for bit
 * cosmos_cuda_gemv then cosmos_cuda_add; h[M,F] = silu(x . w1^T) * (x . w3^T) for w13 [2F, K] (w1's
 * rows, then w3's), bit for bit cosmos_cuda_gemv into [h1 | h3] then cosmos_cuda_silu_mul. */
cosmos_status cosmos_cuda_gemv_add(cosmos_bf16 *y, const cosmos_bf16 *a, const cosmos_bf16 *x, const cosmos_bf16 *w,
                                   int64_t M, int64_t N, int64_t K, cudaStream_t stream);
cosmos_status cosmos_cuda_gemv_swiglu(cosmos_bf16 *h, const cosmos_bf16 *x, const cosmos_bf16 *w13, int64_t M,
                                      int64_t F, int64_t K, cudaStream_t stream);
/* The same, all f32 (CUBLAS_COMPUTE_32F, no TF32): the T5 encoder's matmul_f32w. */
cosmos_status cosmos_cuda_matmul_f32(cosmos_cublaslt_t *lt, float *y, const float *x, const float *w, int64_t M,
                                     int64_t N, int64_t K, cudaStream_t stream);

/* ---- kernels (one .cu each) ---- */
/* rows x D: y = bf16((x * rsqrt(mean(x^2) + eps)) * w), f32 math; y may equal x. */
cosmos_status cosmos_cuda_rmsnorm(cosmos_bf16 *y, const cosmos_bf16 *x, const cosmos_bf16 *w, int64_t rows, int64_t D,
                                  float eps, cudaStream_t stream);
/* x [T,D] += table rows [pos0, pos0+T) (bf16 or f32; pos0 = *d_pos when d_pos is set), rounded to
 * bf16 in place, then y = rmsnorm(x) * w: one launch, bit for bit cosmos_cuda_add_rows then
 * cosmos_cuda_rmsnorm. */
cosmos_status cosmos_cuda_add_rows_rmsnorm(cosmos_bf16 *x, const void *table, enum cosmos_dtype table_dtype,
                                           cosmos_bf16 *y, const cosmos_bf16 *w, int64_t T, int64_t D, float eps,
                                           int64_t pos0, const int64_t *d_pos, cudaStream_t stream);
/* x[T,H,Dh] bf16 in place; cos/sin f32 [S, Dh/2]; token t uses table row pos0+t, pos0 = *d_pos when
 * d_pos (device memory) is not NULL. */
cosmos_status cosmos_cuda_rope(cosmos_bf16 *x, const float *cos_tab, const float *sin_tab, int64_t T, int64_t H,
                               int64_t Dh, int64_t pos0, const int64_t *d_pos, cudaStream_t stream);
/* x[T,H,Dh] bf16 in place: per (token, head) row RMSNorm with w [Dh] bf16, rounded to bf16, then
 * RoPE at row pos0+t of the f32 tables (pos0 = *d_pos when d_pos is not NULL). */
cosmos_status cosmos_cuda_qk_norm_rope(cosmos_bf16 *x, const cosmos_bf16 *w, const float *cos_tab, const float *sin_tab,
                                       int64_t T, int64_t H, int64_t Dh, float eps, int64_t pos0, const int64_t *d_pos,
                                       cudaStream_t stream);
/* QK-norm + RoPE of q [T,H,Dh] (weight qw) and k [T,Hkv,Dh] (kw) in place, k's rows also written to
 * kc and v's copied to vc (caches [S,Hkv,Dh]) at rows pos0.. (pos0 = *d_pos when d_pos is set): one
 * launch, bit for bit cosmos_cuda_qk_norm_rope twice then cosmos_cuda_store_rows twice. */
cosmos_status cosmos_cuda_qkv_rope_store(cosmos_bf16 *q, cosmos_bf16 *k, const cosmos_bf16 *v, const cosmos_bf16 *qw,
                                         const cosmos_bf16 *kw, const float *cos_tab, const float *sin_tab,
                                         cosmos_bf16 *kc, cosmos_bf16 *vc, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                         float eps, int64_t pos0, const int64_t *d_pos, cudaStream_t stream);
/* dst rows [pos, pos+n_rows) = src rows (row_bytes each), pos = *d_pos when d_pos is not NULL. */
cosmos_status cosmos_cuda_store_rows(void *dst, const void *src, int64_t n_rows, int64_t row_bytes, int64_t pos,
                                     const int64_t *d_pos, cudaStream_t stream);
/* y[T,D] = a + table rows [pos, pos+T) (table bf16 or f32), pos = *d_pos when d_pos is not NULL. */
cosmos_status cosmos_cuda_add_rows(cosmos_bf16 *y, const cosmos_bf16 *a, const void *table,
                                   enum cosmos_dtype table_dtype, int64_t T, int64_t D, int64_t pos,
                                   const int64_t *d_pos, cudaStream_t stream);
/* y[t] = table[ids[t]] for ids in [0, V), else a zero row; y [T,D] bf16, ids int32 on the device. */
cosmos_status cosmos_cuda_embedding(cosmos_bf16 *y, const cosmos_bf16 *table, int64_t V, const int32_t *ids,
                                    int64_t T, int64_t D, cudaStream_t stream);
/* y = a + b over n elements; y, a bf16; b bf16 or f32 (b_dtype); y may alias a. */
cosmos_status cosmos_cuda_add(cosmos_bf16 *y, const cosmos_bf16 *a, const void *b, enum cosmos_dtype b_dtype,
                              int64_t n, cudaStream_t stream);
/* y = a + b over n f32 elements; y may alias a. */
cosmos_status cosmos_cuda_add_f32(float *y, const float *a, const float *b, int64_t n, cudaStream_t stream);
/* y = silu(a) * b over n bf16 elements, f32 math; y may alias a. */
cosmos_status cosmos_cuda_silu_mul(cosmos_bf16 *y, const cosmos_bf16 *a, const cosmos_bf16 *b, int64_t n,
                                   cudaStream_t stream);
/* dst = src over n elements: f32 <-> bf16 conversion (round to nearest even) or a same-dtype copy. */
cosmos_status cosmos_cuda_copy(void *dst, enum cosmos_dtype dst_dtype, const void *src, enum cosmos_dtype src_dtype,
                               int64_t n, cudaStream_t stream);
/* Diffusion-decoder DiT ops (spec components.md 4.4; contracts in core/backend.h). Activations of
 * `dtype` BF16 or F32 (any other: UNSUPPORTED), one dtype for every tensor argument, f32 math. */
/* y = x * sigmoid(x) over n elements; y may alias x. */
cosmos_status cosmos_cuda_swish(void *y, const void *x, enum cosmos_dtype dtype, int64_t n, cudaStream_t stream);
/* y = 0.5 x (1 + erf(x / sqrt(2))) over n elements (exact GELU); y may alias x. */
cosmos_status cosmos_cuda_gelu(void *y, const void *x, enum cosmos_dtype dtype, int64_t n, cudaStream_t stream);
/* rows x D: y = LN(x) * (1 + scale) + shift, LN without affine (biased variance); shift, scale [D];
 * y may alias x. */
cosmos_status cosmos_cuda_layernorm_modulate(void *y, const void *x, const void *shift, const void *scale,
                                             enum cosmos_dtype dtype, int64_t rows, int64_t D, float eps,
                                             cudaStream_t stream);
/* rows x D: y = a + gate * b with gate [D] per channel; y may alias a. */
cosmos_status cosmos_cuda_add_gated(void *y, const void *a, const void *b, const void *gate, enum cosmos_dtype dtype,
                                    int64_t rows, int64_t D, cudaStream_t stream);

/* T5 encoder ops (spec components.md 3.4; contracts in core/backend.h), f32 activations. */
/* rows x D: y = w * (x * rsqrt(mean(x^2) + eps)), all f32; y may equal x. */
cosmos_status cosmos_cuda_rmsnorm_f32w(float *y, const float *x, const float *w, int64_t rows, int64_t D, float eps,
                                       cudaStream_t stream);
/* y = max(x, 0) over n elements of dtype (bf16 or f32); y may alias x. */
cosmos_status cosmos_cuda_relu(void *y, const void *x, enum cosmos_dtype dtype, int64_t n, cudaStream_t stream);
/* out, q [T,H,Dh]; k, v [S,H,Dh]; rel_bias [H, T+S-1], all f32; Dh <= 256 (else UNSUPPORTED). */
cosmos_status cosmos_cuda_attention_relbias(float *out, const float *q, const float *k, const float *v,
                                            const float *rel_bias, int64_t T, int64_t S, int64_t H, int64_t Dh,
                                            float scale, cudaStream_t stream);

/* The guardrail's vision models (spec components.md 5.4; contracts in core/backend.h). */
/* rows x D f32: y = (float)((x - mean) * rsqrt(var + eps)) * w + b, statistics in double; y may be x. */
cosmos_status cosmos_cuda_layernorm(float *y, const float *x, const float *w, const float *b, int64_t rows, int64_t D,
                                    float eps, cudaStream_t stream);
/* the tanh GELU over n elements of dtype (bf16 or f32); y may alias x */
cosmos_status cosmos_cuda_gelu_tanh(void *y, const void *x, enum cosmos_dtype dtype, int64_t n, cudaStream_t stream);
/* y [rows, D] of dtype (bf16 or f32) += b f32 [D] per row */
cosmos_status cosmos_cuda_add_bias(void *y, enum cosmos_dtype dtype, const float *b, int64_t rows, int64_t D,
                                   cudaStream_t stream);

/* RetinaFace's feature maps (spec 5.5), f32 [C, H, W]: conv2d (im2col + cuBLASLt f32, through lt),
 * the leaky ReLU (bf16 or f32), max-pooling, the nearest upsample-and-add. */
cosmos_status cosmos_cuda_conv2d(cosmos_cublaslt_t *lt, float *y, const float *x, const float *w, const float *bias,
                                 int64_t Cin, int64_t H, int64_t W, int64_t Cout, int k, int stride, int pad,
                                 cudaStream_t stream);
cosmos_status cosmos_cuda_leaky_relu(void *y, const void *x, enum cosmos_dtype dtype, int64_t n, float slope,
                                     cudaStream_t stream);
cosmos_status cosmos_cuda_maxpool2d(float *y, const float *x, int64_t C, int64_t H, int64_t W, int k, int stride,
                                    int pad, cudaStream_t stream);
cosmos_status cosmos_cuda_add_upsampled_nearest(float *y, const float *x, int64_t C, int64_t Hd, int64_t Wd,
                                                int64_t Hs, int64_t Ws, cudaStream_t stream);

/* DV tokenizer ops (spec components.md 2.4-2.7; contracts in core/backend.h): videos [C,T,H,W]. */
/* Haar patcher / unpatcher (haar.cu): x [C,T,H,W] -> y [C*p^3, (T+p-1)/p, H/p, W/p] and back
 * (y [C/p^3, T*p-(p-1), H*p, W*p]); activations bf16 or f32 (one dtype). */
cosmos_status cosmos_cuda_haar_patch(void *y, const void *x, enum cosmos_dtype dtype, int64_t C, int64_t T, int64_t H,
                                     int64_t W, int patch_size, float tap, cudaStream_t stream);
cosmos_status cosmos_cuda_haar_unpatch(void *y, const void *x, enum cosmos_dtype dtype, int64_t C, int64_t T,
                                       int64_t H, int64_t W, int patch_size, float tap, cudaStream_t stream);
/* Causal conv3d (causal_conv3d.cu): x [c_in,t,h,w] -> y [c_out,To,Ho,Wo], bf16 activations; w
 * [c_out, c_in*kt*kh*kw] and bias [c_out] of w_dtype (bf16 or f32). Through cuBLASLt (lt), output
 * positions in chunks whose im2col matrix fits cols_bytes (0: 64 MiB; tests make it small). */
struct cosmos_cuda_conv3d_shape {
    int64_t c_in, c_out, t, h, w;
    int kt, kh, kw, time_pad, stride_t, stride_s, pad_lo, pad_hi;
};
cosmos_status cosmos_cuda_causal_conv3d(cosmos_cublaslt_t *lt, cosmos_bf16 *y, const cosmos_bf16 *x, const void *w,
                                        const void *bias, enum cosmos_dtype w_dtype,
                                        const struct cosmos_cuda_conv3d_shape *s, size_t cols_bytes,
                                        cudaStream_t stream);
/* GroupNorm per frame (groupnorm_frames.cu): x, y [C,T,HW] of dtype (y may alias x); gamma, beta
 * [C] of p_dtype. */
cosmos_status cosmos_cuda_groupnorm_frames(void *y, const void *x, enum cosmos_dtype dtype, const void *gamma,
                                           const void *beta, enum cosmos_dtype p_dtype, int64_t C, int64_t T,
                                           int64_t HW, float eps, cudaStream_t stream);
/* The DV downsample's average pools added into y (pool_add.c): x [C,T,H,W], y [C,T,Ho,Wo] (spatial)
 * or [C,To,H,W] (temporal), one dtype; see cosmos_op_pool_add. */
cosmos_status cosmos_cuda_pool_add(void *y, const void *x, enum cosmos_dtype dtype, int64_t C, int64_t T, int64_t H,
                                   int64_t W, int64_t To, int64_t Ho, int64_t Wo, int temporal, cudaStream_t stream);
/* Frame moves (frames.cu), elements of `elem` bytes (2 or 4) copied bit for bit: dst[:, dst_t0 + i]
 * = src[:, src_t0 + i] for i < n of [C, Td, HW] / [C, Ts, HW]; y [CT, 2H, 2W] = nearest 2x of x. */
cosmos_status cosmos_cuda_copy_frames(void *dst, int64_t Td, int64_t dst_t0, const void *src, int64_t Ts,
                                      int64_t src_t0, int64_t n, int64_t C, int64_t HW, size_t elem,
                                      cudaStream_t stream);
cosmos_status cosmos_cuda_upsample_nearest2x(void *y, const void *x, int64_t CT, int64_t H, int64_t W, size_t elem,
                                             cudaStream_t stream);
/* Single-head attention (attention_1h.cu): q, o [C, Tq, HW]; k, v [C, S, HW] of dtype; spatial
 * (S == Tq) or temporal (causal over frames); see cosmos_op_attention_1h. */
cosmos_status cosmos_cuda_attention_1h(void *o, const void *q, const void *k, const void *v, enum cosmos_dtype dtype,
                                       int64_t C, int64_t Tq, int64_t S, int64_t HW, int temporal,
                                       cudaStream_t stream);
/* FSQ (fsq.cu): z, codes [D, N] of dtype, indices int32 [N], levels[D] on the host. Dequantize
 * waits for the stream (it reports an index outside the vocabulary: INVALID_ARG). */
cosmos_status cosmos_cuda_fsq_quantize(int32_t *indices, void *codes, const void *z, enum cosmos_dtype dtype,
                                       const int *levels, int D, int64_t N, cudaStream_t stream);
cosmos_status cosmos_cuda_fsq_dequantize(void *codes, const int32_t *indices, enum cosmos_dtype dtype,
                                         const int *levels, int D, int64_t N, cudaStream_t stream);
/* out,q [T,H,Dh] bf16; k,v [S,Hkv,Dh] bf16 or f32 (kv_dtype); see cosmos_op_attention. Dh <= 256
 * (else UNSUPPORTED). ws: device scratch of at least cosmos_cuda_attention_ws_bytes(...) bytes for the
 * same shape (may be NULL when that is 0; a smaller one is INVALID_ARG), zeroed once when allocated:
 * the decode kernel keeps counts at its front and leaves them zero; the launch uses it stream-ordered,
 * so it may be reused by the next op (or attention call) on the same stream. mma: T > 4 (prefill, cross-attention) runs on
 * the tensor-core kernel (attention_mma.cu) where it serves the shape, else on the f32 prefill kernel;
 * 0 always takes the f32 kernel (COSMOS_CUDA_ATTENTION=f32, docs/cuda.md). */
cosmos_status cosmos_cuda_attention(cosmos_bf16 *out, const cosmos_bf16 *q, const void *k, const void *v,
                                    enum cosmos_dtype kv_dtype, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                    int64_t S, int64_t pos0, int causal, int mma, void *ws, size_t ws_bytes,
                                    const int64_t *d_pos, cudaStream_t stream);
/* The tensor-core attention (attention_mma.cu): same contract, any T, no workspace; serves bf16 K/V,
 * Dh 16, 32, 64 or 128, 16-byte aligned pointers, on a device of compute capability 8.0 or later
 * (cosmos_cuda_attention_mma_serves, for the current device), UNSUPPORTED otherwise. */
int cosmos_cuda_attention_mma_serves(enum cosmos_dtype kv_dtype, int64_t Dh, const void *out, const void *q,
                                     const void *k, const void *v);
cosmos_status cosmos_cuda_attention_mma(cosmos_bf16 *out, const cosmos_bf16 *q, const cosmos_bf16 *k,
                                        const cosmos_bf16 *v, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                        int64_t S, int64_t pos0, int causal, const int64_t *d_pos,
                                        cudaStream_t stream);
/* (d_pos: causal only; pos0 = *d_pos read when the kernels run, the workspace sized by
 * cosmos_cuda_attention_ws_bytes for pos0 = S - T.) */
/* Workspace bytes cosmos_cuda_attention needs for this shape on the current device (split-KV
 * partials of the decode path, T <= 4; 0 otherwise). Depends on the device's SM count. */
size_t cosmos_cuda_attention_ws_bytes(int64_t T, int64_t H, int64_t Hkv, int64_t Dh, int64_t S, int64_t pos0,
                                      int causal);
/* The largest cosmos_cuda_attention_ws_bytes of any call with T <= T_max over these S keys (causal:
 * at any position): what cosmos_backend_reserve_attention reserves. */
size_t cosmos_cuda_attention_ws_bytes_max(int64_t T_max, int64_t H, int64_t Hkv, int64_t Dh, int64_t S, int causal);

#ifdef __cplusplus
}
#endif

#endif
