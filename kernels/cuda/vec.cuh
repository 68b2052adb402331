/* 16-byte vector access to bf16 or f32 activations for the elementwise and row kernels of the
 * diffusion-decoder DiT (swish.cu, gelu.cu, add_gated.cu, layernorm_modulate.cu): one uint4 / float4
 * load or store moves VEC_N<T> elements (8 bf16 or 4 f32), widened to / narrowed from f32 registers
 * with the rounding of common.cuh (bf16: round to nearest even, NaN stays NaN). Also scalar load and
 * store overloads for both element types, so a kernel templated on T reads like the bf16 ones.
 * A vector access needs a 16-byte aligned address; callers check that (vec16_ok) before taking the
 * vector path and fall back to scalar accesses otherwise. */
#ifndef COSMOS_CUDA_VEC_CUH
#define COSMOS_CUDA_VEC_CUH

#include "kernels/cuda/common.cuh"

template <typename T>
struct vec16 {
    static constexpr int N = 16 / (int)sizeof(T); /* elements per 16-byte access */
};

static __device__ __forceinline__ void st_act(cosmos_bf16 *p, float v) { st_bf16(p, v); }
static __device__ __forceinline__ void st_act(float *p, float v) { *p = v; }

static __device__ __forceinline__ void ld_vec16(float f[8], const cosmos_bf16 *p) {
    const uint4 u = *reinterpret_cast<const uint4 *>(p);
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) { /* little-endian: element 2i in the low half; bf16 -> f32 is exact */
        f[2 * i] = __uint_as_float(w[i] << 16);
        f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
}
static __device__ __forceinline__ void ld_vec16(float f[4], const float *p) {
    const float4 v = *reinterpret_cast<const float4 *>(p);
    f[0] = v.x, f[1] = v.y, f[2] = v.z, f[3] = v.w;
}
static __device__ __forceinline__ void st_vec16(cosmos_bf16 *p, const float f[8]) {
    uint32_t w[4];
#pragma unroll
    for (int i = 0; i < 4; i++)
        w[i] = (uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(f[2 * i])) |
               ((uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(f[2 * i + 1])) << 16);
    *reinterpret_cast<uint4 *>(p) = make_uint4(w[0], w[1], w[2], w[3]);
}
static __device__ __forceinline__ void st_vec16(float *p, const float f[4]) {
    *reinterpret_cast<float4 *>(p) = make_float4(f[0], f[1], f[2], f[3]);
}

/* Host side: p is 16-byte aligned. */
static inline bool vec16_ok(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* An elementwise unary op y[i] = Op::f(x[i]) over n elements (bf16 or f32, the same for x and y; f32
 * math, one rounding on store): 16-byte vectors when `vec`, a scalar tail. y may alias x (each
 * element is read before it is written, by the same thread). Op is a struct with a static
 * __device__ float f(float). */
#define UNARY_THREADS 256

template <typename Op, typename T>
static __global__ void unary_kernel(T *y, const T *x, int64_t n, int vec) {
    constexpr int N = vec16<T>::N;
    const int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    int64_t done = 0;
    if (vec) {
        const int64_t groups = n / N;
        for (int64_t g = tid; g < groups; g += stride) {
            float f[N];
            ld_vec16(f, x + g * N);
#pragma unroll
            for (int e = 0; e < N; e++) f[e] = Op::f(f[e]);
            st_vec16(y + g * N, f);
        }
        done = groups * N;
    }
    for (int64_t i = done + tid; i < n; i += stride) st_act(y + i, Op::f(ld_f32(x + i)));
}

/* Launches unary_kernel<Op> on `stream` for bf16 or f32 activations (other dtypes: UNSUPPORTED);
 * `name` labels launch errors. */
template <typename Op>
static cosmos_status cosmos_cuda_unary(void *y, const void *x, enum cosmos_dtype dtype, int64_t n,
                                       cudaStream_t stream, const char *name) {
    if (n <= 0) return COSMOS_OK;
    const int vec = vec16_ok(y) && vec16_ok(x);
    if (dtype == COSMOS_BF16) {
        const unsigned grid = cosmos_grid_1d(vec ? (n + vec16<cosmos_bf16>::N - 1) / vec16<cosmos_bf16>::N : n,
                                             UNARY_THREADS);
        COSMOS_LAUNCH(grid, UNARY_THREADS, 0, stream, unary_kernel<Op, cosmos_bf16>)
        ((cosmos_bf16 *)y, (const cosmos_bf16 *)x, n, vec);
    } else if (dtype == COSMOS_F32) {
        const unsigned grid = cosmos_grid_1d(vec ? (n + vec16<float>::N - 1) / vec16<float>::N : n, UNARY_THREADS);
        COSMOS_LAUNCH(grid, UNARY_THREADS, 0, stream, unary_kernel<Op, float>)((float *)y, (const float *)x, n, vec);
    } else {
        return COSMOS_ERR_UNSUPPORTED;
    }
    return CUDA_LAUNCH_STATUS(name);
}

#endif
