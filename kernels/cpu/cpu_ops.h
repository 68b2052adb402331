/* Plain-C reference ops of the CPU backend (STYLE.md principle 1): the exact oracle every other
 * backend is measured against. Raw row-major pointers; activations f32, weights bf16.
 * All are synchronous and OpenMP-parallel; none allocates except attention's per-thread scratch. */
#ifndef COSMOS_CPU_OPS_H
#define COSMOS_CPU_OPS_H

#include <math.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"

/* y[M,N] = x[M,K] . w[N,K]^T. Small M uses a bf16 GEMV that streams w once (the decode path);
 * larger M converts blocks of w to f32 and calls OpenBLAS sgemm. */
cosmos_status cosmos_cpu_matmul(float *y, const float *x, const cosmos_bf16 *w, int64_t M, int64_t N, int64_t K);
/* 1 / sqrt(mean(x[0..D)^2) + eps), the mean of squares in f32: the RMS factor of both RMSNorms. */
static inline float cosmos_cpu_rms_inv(const float *x, int64_t D, float eps) {
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < D; i++) ss += x[i] * x[i];
    return 1.0f / sqrtf(ss / (float)D + eps);
}
/* rows x D: y = x * rsqrt(mean(x^2) + eps) * w. y may equal x. */
void cosmos_cpu_rmsnorm(float *y, const float *x, const cosmos_bf16 *w, int64_t rows, int64_t D, float eps);
/* x[T,H,Dh] in place; cos/sin [S, Dh/2] f32; token t uses row pos0+t. */
void cosmos_cpu_rope(float *x, const float *cos_tab, const float *sin_tab, int64_t T, int64_t H, int64_t Dh,
                     int64_t pos0);
/* y[t] = table[ids[t]] for ids in [0, V); other ids give a zero row (vocab-parallel shards). */
void cosmos_cpu_embedding(float *y, const cosmos_bf16 *table, int64_t V, const int32_t *ids, int64_t T, int64_t D);
void cosmos_cpu_add(float *y, const float *a, const void *b, enum cosmos_dtype b_dtype, int64_t n);
void cosmos_cpu_silu_mul(float *y, const float *a, const float *b, int64_t n);
/* y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (gelu_pytorch_tanh), computed as
 * x sigmoid(2u) within a few ulp of the exact value; y may equal x. gelu.c. */
void cosmos_cpu_gelu_tanh(float *y, const float *x, int64_t n);
/* rows x D: y = (float)((x - mean) / sqrt(var + eps)) * w + b, statistics in double (layernorm.c);
 * y may equal x. And y[r] += b for each row (a Linear's bias). */
void cosmos_cpu_layernorm(float *y, const float *x, const float *w, const float *b, int64_t rows, int64_t D,
                          double eps);
void cosmos_cpu_add_bias(float *y, const float *b, int64_t rows, int64_t D);
/* out,q [T,H,Dh]; k,v [S,Hkv,Dh] as f32 or bf16 (kv_dtype). See cosmos_op_attention. */
cosmos_status cosmos_cpu_attention(float *out, const float *q, const void *k, const void *v,
                                   enum cosmos_dtype kv_dtype, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                   int64_t S, int64_t pos0, int causal);
/* The same attention with sgemm products, one (head, block of 64 queries) per thread: what
 * cosmos_cpu_attention runs for chunks of COSMOS_CPU_ATTN_GEMM_MIN_T or more queries (attention_gemm.c). */
#define COSMOS_CPU_ATTN_GEMM_MIN_T 16
cosmos_status cosmos_cpu_attention_gemm(float *out, const float *q, const void *k, const void *v,
                                        enum cosmos_dtype kv_dtype, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                        int64_t S, int64_t pos0, int causal);
/* The e^x of cosmos_cpu_attention's softmax (x <= 0): within 1.01 ulp of e^x where that is a normal
 * float, 0 below about -87.7 (exported for its test). */
float cosmos_cpu_attn_expf(float x);

/* ---- DV8x16x16 tokenizer ops (spec components.md 2.4-2.7). Videos are [C,T,H,W] f32, batch 1. ---- */
#define COSMOS_FSQ_MAX_LEVELS 16
/* Haar patcher: x [C,T,H,W] -> y [C*p^3, T', H', W'] (frame 0 repeated p times in front, then
 * log2(p) levels; each level halves T, H, W rounding up, reflect-padding odd axes). tap: the
 * wavelet tap (1/sqrt(2) exact; 0.70703125 for a bf16-stored buffer). haar3d.c. */
cosmos_status cosmos_cpu_haar_patch(float *y, const float *x, int64_t C, int64_t T, int64_t H, int64_t W,
                                    int patch_size, float tap);
/* Haar unpatcher: x [C,T,H,W] (C = g*p^3) -> y [g, T*p-(p-1), H*p, W*p]. haar3d.c. */
cosmos_status cosmos_cpu_haar_unpatch(float *y, const float *x, int64_t C, int64_t T, int64_t H, int64_t W,
                                      int patch_size, float tap);
struct cosmos_cpu_conv3d_shape {
    int64_t c_in, c_out, t, h, w; /* input [c_in, t, h, w] */
    int kt, kh, kw;               /* kernel */
    int time_pad;                 /* copies of frame 0 read in front of the input */
    int stride_t, stride_s;       /* temporal stride; spatial stride (H and W) */
    int pad_lo, pad_hi;           /* zero padding of H and W before / after */
};
/* Causal 3D convolution, see causal_conv3d.c; w [c_out, c_in*kt*kh*kw] and bias [c_out] in w_dtype
 * (f32 or bf16). */
cosmos_status cosmos_cpu_causal_conv3d(float *y, const float *x, const void *w, const void *bias,
                                       enum cosmos_dtype w_dtype, const struct cosmos_cpu_conv3d_shape *s);
/* Single-head attention of the DV blocks on [C, T, HW] activations (attention_single_head.c), scale
 * 1/sqrt(C): q, o [C, Tq, HW]; k, v [C, S, HW]. temporal == 0: spatial, per frame (S == Tq), the HW
 * tokens of a frame attend each other. temporal != 0: per position, causal over frames: the Tq
 * queries are the last Tq of the S frames (query t attends keys [0, S-Tq+t]). o must not alias. */
cosmos_status cosmos_cpu_attention_1h(float *o, const float *q, const float *k, const float *v, int64_t C,
                                      int64_t Tq, int64_t S, int64_t HW, int temporal);
/* GroupNorm(1 group) per frame over x [C, T, HW]; gamma, beta [C] in param_dtype. y may equal x. */
void cosmos_cpu_groupnorm_frames(float *y, const float *x, const void *gamma, const void *beta,
                                 enum cosmos_dtype param_dtype, int64_t C, int64_t T, int64_t HW, float eps);
/* y = x * sigmoid(x); y may equal x. */
void cosmos_cpu_swish(float *y, const float *x, int64_t n);
/* Frame moves of the decoders (frames.c): dst[:, dst_t0 + i] = src[:, src_t0 + i] for i < n, of
 * [C, Td, HW] and [C, Ts, HW]; y [CT, 2H, 2W] = nearest 2x of x [CT, H, W]. */
void cosmos_cpu_copy_frames(float *dst, int64_t Td, int64_t dst_t0, const float *src, int64_t Ts, int64_t src_t0,
                            int64_t n, int64_t C, int64_t HW);
void cosmos_cpu_upsample_nearest2x(float *y, const float *x, int64_t CT, int64_t H, int64_t W);
/* The DV downsample's average pools added into y (pool_add.c; cosmos_op_pool_add): x [C,T,H,W],
 * y [C,T,Ho,Wo] (spatial) or [C,To,H,W] (temporal). */
void cosmos_cpu_pool_add(float *y, const float *x, int64_t C, int64_t T, int64_t H, int64_t W, int64_t To, int64_t Ho,
                         int64_t Wo, int temporal);
/* FSQ (fsq.c): z [D, N] -> indices [N] int32 and codes [D, N]; D <= COSMOS_FSQ_MAX_LEVELS. */
void cosmos_cpu_fsq_quantize(int32_t *indices, float *codes, const float *z, const int *levels, int D, int64_t N);
/* indices [N] -> codes [D, N]; an index outside [0, prod(levels)) is INVALID_ARG. */
cosmos_status cosmos_cpu_fsq_dequantize(float *codes, const int32_t *indices, const int *levels, int D, int64_t N);

#endif
