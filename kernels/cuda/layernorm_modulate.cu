/* CUDA LayerNorm (no affine) + AdaLN modulation of the DiT, the counterpart of
 * cosmos_cpu_layernorm_modulate (kernels/cpu/layernorm_modulate.c; spec components.md 4.4 steps
 * 6-7): y[r] = ((x[r] - mean) * rsqrt(var + eps)) * (1 + scale) + shift, biased variance, as
 * nn.LayerNorm(elementwise_affine=False) followed by the modulation; contract
 * cosmos_op_layernorm_modulate (core/backend.h). Rows [R, D] row-major; shift, scale [D] per
 * channel; x, y, shift, scale of one activation dtype (bf16 or f32); f32 math, one rounding on
 * store. y may alias x: every element is read (into shared memory or a register) before any of the
 * row is written, and each thread writes only the elements it read.
 * One block per row. Statistics in f32, numerically sound without double: the mean is taken over
 * x - x[r, 0] (shifted data: the sum is of centred magnitudes however far the row sits from 0),
 * then a second pass sums (x - mean)^2 (two-pass variance). Rows of up to LN_SMEM_MAX_D channels are
 * staged in shared memory as f32 (one read of x); longer rows are read three times from global
 * memory (the L2 holds them). 16-byte vectors (vec.cuh) when D and every pointer allow. */
#include "kernels/cuda/vec.cuh"

#define LN_MAX_THREADS 256
#define LN_SMEM_MAX_D 11264 /* 44 KiB of f32: with red[] under the 48 KiB a block gets without opting in */

template <typename T, bool VEC, bool CACHE>
static __global__ void layernorm_modulate_kernel(T *y, const T *x, const T *shift, const T *scale, int64_t D,
                                                 float eps) {
    COSMOS_DYN_SHARED(float, ln_row); /* [D] when CACHE */
    __shared__ float red[COSMOS_WARP];
    constexpr int N = VEC ? vec16<T>::N : 1;
    const int64_t r = blockIdx.x, groups = D / N;
    const T *xr = x + r * D;
    T *yr = y + r * D;
    const float pivot = ld_f32(xr); /* any value of the row works; this one is at hand */

    /* pass 1: mean = pivot + sum(x - pivot) / D */
    float s = 0.0f;
    for (int64_t g = threadIdx.x; g < groups; g += blockDim.x) {
        float f[N];
        if constexpr (VEC)
            ld_vec16(f, xr + g * N);
        else
            f[0] = ld_f32(xr + g);
#pragma unroll
        for (int e = 0; e < N; e++) {
            if constexpr (CACHE) ln_row[g * N + e] = f[e];
            s += f[e] - pivot;
        }
    }
    s = block_sum(s, red);
    const float mean = pivot + s / (float)D;

    /* pass 2: var = sum((x - mean)^2) / D, the same elements per thread as pass 1 */
    float ss = 0.0f;
    for (int64_t g = threadIdx.x; g < groups; g += blockDim.x) {
        float f[N];
        if constexpr (CACHE) {
#pragma unroll
            for (int e = 0; e < N; e++) f[e] = ln_row[g * N + e];
        } else if constexpr (VEC) {
            ld_vec16(f, xr + g * N);
        } else {
            f[0] = ld_f32(xr + g);
        }
#pragma unroll
        for (int e = 0; e < N; e++) {
            const float d = f[e] - mean;
            ss += d * d;
        }
    }
    ss = block_sum(ss, red); /* also the barrier after which the row may be overwritten (y == x) */
    const float inv = 1.0f / sqrtf(ss / (float)D + eps);

    /* pass 3: y = ((x - mean) * inv) * (1 + scale) + shift, in the CPU op's order */
    for (int64_t g = threadIdx.x; g < groups; g += blockDim.x) {
        float f[N], sc[N], sh[N];
        if constexpr (CACHE) {
#pragma unroll
            for (int e = 0; e < N; e++) f[e] = ln_row[g * N + e];
        } else if constexpr (VEC) {
            ld_vec16(f, xr + g * N);
        } else {
            f[0] = ld_f32(xr + g);
        }
        if constexpr (VEC) {
            ld_vec16(sc, scale + g * N);
            ld_vec16(sh, shift + g * N);
        } else {
            sc[0] = ld_f32(scale + g);
            sh[0] = ld_f32(shift + g);
        }
#pragma unroll
        for (int e = 0; e < N; e++) f[e] = ((f[e] - mean) * inv) * (1.0f + sc[e]) + sh[e];
        if constexpr (VEC)
            st_vec16(yr + g * N, f);
        else
            st_act(yr + g, f[0]);
    }
}

template <typename T, bool VEC>
static cosmos_status launch_cache(T *y, const T *x, const T *shift, const T *scale, int64_t rows, int64_t D,
                                  float eps, int threads, cudaStream_t stream) {
    if (D <= LN_SMEM_MAX_D)
        COSMOS_LAUNCH((unsigned)rows, threads, sizeof(float) * (size_t)D, stream,
                      layernorm_modulate_kernel<T, VEC, true>)
        (y, x, shift, scale, D, eps);
    else
        COSMOS_LAUNCH((unsigned)rows, threads, 0, stream, layernorm_modulate_kernel<T, VEC, false>)
        (y, x, shift, scale, D, eps);
    return CUDA_LAUNCH_STATUS("layernorm_modulate_kernel");
}

template <typename T>
static cosmos_status launch(T *y, const T *x, const T *shift, const T *scale, int64_t rows, int64_t D, float eps,
                            cudaStream_t stream) {
    /* x + r * D stays 16-byte aligned for every row when D is a multiple of the vector width */
    const bool vec = D % vec16<T>::N == 0 && vec16_ok(y) && vec16_ok(x) && vec16_ok(shift) && vec16_ok(scale);
    const int64_t groups = vec ? D / vec16<T>::N : D;
    int threads = (int)((groups + COSMOS_WARP - 1) / COSMOS_WARP * COSMOS_WARP);
    if (threads > LN_MAX_THREADS) threads = LN_MAX_THREADS;
    if (vec) return launch_cache<T, true>(y, x, shift, scale, rows, D, eps, threads, stream);
    return launch_cache<T, false>(y, x, shift, scale, rows, D, eps, threads, stream);
}

extern "C" cosmos_status cosmos_cuda_layernorm_modulate(void *y, const void *x, const void *shift, const void *scale,
                                                        enum cosmos_dtype dtype, int64_t rows, int64_t D, float eps,
                                                        cudaStream_t stream) {
    if (rows <= 0 || D <= 0) return COSMOS_OK;
    if (rows > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED; /* one block per row */
    if (dtype == COSMOS_BF16)
        return launch((cosmos_bf16 *)y, (const cosmos_bf16 *)x, (const cosmos_bf16 *)shift,
                      (const cosmos_bf16 *)scale, rows, D, eps, stream);
    if (dtype == COSMOS_F32)
        return launch((float *)y, (const float *)x, (const float *)shift, (const float *)scale, rows, D, eps, stream);
    return COSMOS_ERR_UNSUPPORTED;
}
