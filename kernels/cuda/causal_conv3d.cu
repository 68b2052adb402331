/* CUDA causal 3D convolution of the DV tokenizer, the counterpart of cosmos_cpu_causal_conv3d
 * (kernels/cpu/causal_conv3d.c; spec components.md 2.5, CausalConv3d); contract
 * cosmos_op_causal_conv3d (core/backend.h). x [Cin,T,H,W] and y [Cout,To,Ho,Wo] bf16 activations,
 * weight [Cout, K = Cin*kt*kh*kw] (PyTorch's [Cout,Cin,kt,kh,kw] flattened) and bias [Cout], both
 * bf16 or both f32. The input is read as if time_pad copies of frame 0 stood in front of it and
 * H, W were zero-padded (pad_lo before, pad_hi after); strides (stride_t, stride_s, stride_s).
 * As an im2col GEMM on cuBLASLt (bf16 in, f32 accumulate; matmul_cublaslt.c): the output positions
 * p = (to, ho, wo) are cut into chunks of Pc; per chunk, im2col_kernel gathers cols [Pc, Kp]
 * (row p: the input values under the kernel at p in the weight's (ci, dt, dh, dw) order, 0 where
 * the padding is, Kp = K rounded up to 8 with zero columns so every row is 16-byte aligned), one
 * cosmos_cuda_matmul gives tmp [Pc, Cout] = cols . w^T, and bias_store_kernel writes
 * y[co, p] = tmp[p, co] + bias[co]. Weights that are f32 or whose K is not a multiple of 8 are
 * first copied to bf16 [Cout, Kp] (zero-padded); f32 weights are thereby rounded to bf16, which
 * the official tokenizer (run in bf16) does too. Scratch (cols, tmp, the weight copy) is
 * stream-ordered (cudaMallocAsync / cudaFreeAsync), cols kept under CONV_COLS_BYTES (or the
 * caller's budget; at least one row).
 * Rounding: the product is rounded to bf16 in tmp, then the bias added and rounded again (the CPU
 * op adds in f32 and keeps f32): up to about one bf16 ulp more than a single rounding. */
extern "C" { /* a C header without its own extern "C" */
#include "core/log.h"
}
#include "kernels/cuda/common.cuh"

#define CONV_THREADS 256
#define CONV_COLS_BYTES ((int64_t)64 << 20)

static __global__ void im2col_kernel(cosmos_bf16 *cols, const cosmos_bf16 *x, int64_t p0, int64_t np,
                                     struct cosmos_cuda_conv3d_shape s, int64_t To, int64_t Ho, int64_t Wo, int64_t K,
                                     int64_t Kp) {
    const int64_t n = np * Kp, khw = (int64_t)s.kh * s.kw, kthw = s.kt * khw;
    const __nv_bfloat16 *xb = reinterpret_cast<const __nv_bfloat16 *>(x);
    __nv_bfloat16 *cb = reinterpret_cast<__nv_bfloat16 *>(cols);
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t k = i % Kp, p = p0 + i / Kp;
        __nv_bfloat16 v = __float2bfloat16_rn(0.0f);
        if (k < K) {
            const int64_t wo = p % Wo, ho = (p / Wo) % Ho, to = p / (Wo * Ho);
            const int64_t ci = k / kthw, r = k % kthw, dt = r / khw, dh = (r / s.kw) % s.kh, dw = r % s.kw;
            int64_t ti = to * s.stride_t + dt - s.time_pad;
            if (ti < 0) ti = 0; /* first-frame replication */
            const int64_t hi = ho * s.stride_s + dh - s.pad_lo, wi = wo * s.stride_s + dw - s.pad_lo;
            if (hi >= 0 && hi < s.h && wi >= 0 && wi < s.w) v = xb[((ci * s.t + ti) * s.h + hi) * s.w + wi];
        }
        cb[i] = v;
    }
}

/* wp [Cout, Kp] bf16 = w [Cout, K] (bf16 or f32, rounded to nearest even), zero past K. */
template <typename TW>
static __global__ void pack_weight_kernel(cosmos_bf16 *wp, const TW *w, int64_t Cout, int64_t K, int64_t Kp) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < Cout * Kp;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t co = i / Kp, k = i % Kp;
        st_bf16(wp + i, k < K ? ld_f32(w + co * K + k) : 0.0f);
    }
}

/* y [Cout, P] (positions p0 .. p0 + np) = tmp [np, Cout] + bias. */
template <typename TB>
static __global__ void bias_store_kernel(cosmos_bf16 *y, const cosmos_bf16 *tmp, const TB *bias, int64_t p0,
                                         int64_t np, int64_t P, int64_t Cout) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < Cout * np;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t co = i / np, pl = i % np;
        st_bf16(y + co * P + p0 + pl, ld_f32(tmp + pl * Cout + co) + ld_f32(bias + co));
    }
}

extern "C" cosmos_status cosmos_cuda_causal_conv3d(cosmos_cublaslt_t *lt, cosmos_bf16 *y, const cosmos_bf16 *x,
                                                   const void *w, const void *bias, enum cosmos_dtype w_dtype,
                                                   const struct cosmos_cuda_conv3d_shape *s, size_t cols_bytes,
                                                   cudaStream_t stream) {
    cosmos_status st = COSMOS_OK;
    if (w_dtype != COSMOS_BF16 && w_dtype != COSMOS_F32) return COSMOS_ERR_UNSUPPORTED;
    const int64_t Cout = s->c_out, K = s->c_in * s->kt * s->kh * s->kw, Kp = (K + 7) / 8 * 8;
    const int64_t To = (s->t + s->time_pad - s->kt) / s->stride_t + 1;
    const int64_t Ho = (s->h + s->pad_lo + s->pad_hi - s->kh) / s->stride_s + 1;
    const int64_t Wo = (s->w + s->pad_lo + s->pad_hi - s->kw) / s->stride_s + 1;
    const int64_t P = To * Ho * Wo;
    if (Cout <= 0 || P <= 0) return COSMOS_OK;
    int64_t Pc = (cols_bytes ? (int64_t)cols_bytes : CONV_COLS_BYTES) / (int64_t)(sizeof(cosmos_bf16) * Kp);
    if (Pc < 1) Pc = 1;
    if (Pc > P) Pc = P;
    cosmos_bf16 *cols = NULL, *tmp = NULL, *wp = NULL;
    const cosmos_bf16 *wb = (const cosmos_bf16 *)w;
    if (w_dtype != COSMOS_BF16 || Kp != K) {
        CUDA_CHECK(cudaMallocAsync((void **)&wp, sizeof(cosmos_bf16) * (size_t)(Cout * Kp), stream));
        const unsigned g = cosmos_grid_1d(Cout * Kp, CONV_THREADS);
        if (w_dtype == COSMOS_BF16)
            COSMOS_LAUNCH(g, CONV_THREADS, 0, stream, pack_weight_kernel<cosmos_bf16>)
            (wp, (const cosmos_bf16 *)w, Cout, K, Kp);
        else
            COSMOS_LAUNCH(g, CONV_THREADS, 0, stream, pack_weight_kernel<float>)(wp, (const float *)w, Cout, K, Kp);
        CHECK(CUDA_LAUNCH_STATUS("pack_weight_kernel"));
        wb = wp;
    }
    CUDA_CHECK(cudaMallocAsync((void **)&cols, sizeof(cosmos_bf16) * (size_t)(Pc * Kp), stream));
    CUDA_CHECK(cudaMallocAsync((void **)&tmp, sizeof(cosmos_bf16) * (size_t)(Pc * Cout), stream));
    for (int64_t p0 = 0; p0 < P; p0 += Pc) {
        const int64_t np = P - p0 < Pc ? P - p0 : Pc;
        COSMOS_LAUNCH(cosmos_grid_1d(np * Kp, CONV_THREADS), CONV_THREADS, 0, stream, im2col_kernel)
        (cols, x, p0, np, *s, To, Ho, Wo, K, Kp);
        CHECK(CUDA_LAUNCH_STATUS("im2col_kernel"));
        CHECK(cosmos_cuda_matmul(lt, tmp, cols, wb, np, Cout, Kp, stream));
        const unsigned g = cosmos_grid_1d(Cout * np, CONV_THREADS);
        if (w_dtype == COSMOS_BF16)
            COSMOS_LAUNCH(g, CONV_THREADS, 0, stream, bias_store_kernel<cosmos_bf16>)
            (y, tmp, (const cosmos_bf16 *)bias, p0, np, P, Cout);
        else
            COSMOS_LAUNCH(g, CONV_THREADS, 0, stream, bias_store_kernel<float>)(y, tmp, (const float *)bias, p0, np, P, Cout);
        CHECK(CUDA_LAUNCH_STATUS("bias_store_kernel"));
    }
fail:
    if (cols) cudaFreeAsync(cols, stream);
    if (tmp) cudaFreeAsync(tmp, stream);
    if (wp) cudaFreeAsync(wp, stream);
    return st;
}
