/* CUDA swish, the counterpart of cosmos_cpu_swish (kernels/cpu/swish.c): y = x * sigmoid(x) =
 * x * (1 / (1 + exp(-x))) elementwise, the DiT's SiLU on the timestep embedding (spec components.md
 * 4.4 step 5) and the tokenizer's nonlinearity (2.5); contract cosmos_op_swish (core/backend.h).
 * Activations bf16 or f32 (the same dtype for x and y), f32 math, one rounding on store; flat
 * [n] elements, any shape. y may alias x (each element is read before it is written, by the same
 * thread). 16-byte vectors (vec.cuh) when both pointers are 16-byte aligned, a scalar tail. */
#include "kernels/cuda/vec.cuh"

#define SWISH_THREADS 256

static __device__ __forceinline__ float swish_f(float v) { return v * (1.0f / (1.0f + expf(-v))); }

template <typename T>
static __global__ void swish_kernel(T *y, const T *x, int64_t n, int vec) {
    constexpr int N = vec16<T>::N;
    const int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    int64_t done = 0;
    if (vec) {
        const int64_t groups = n / N;
        for (int64_t g = tid; g < groups; g += stride) {
            float f[N];
            ld_vec16(f, x + g * N);
#pragma unroll
            for (int e = 0; e < N; e++) f[e] = swish_f(f[e]);
            st_vec16(y + g * N, f);
        }
        done = groups * N;
    }
    for (int64_t i = done + tid; i < n; i += stride) st_act(y + i, swish_f(ld_f32(x + i)));
}

template <typename T>
static cosmos_status launch(T *y, const T *x, int64_t n, cudaStream_t stream) {
    const int vec = vec16_ok(y) && vec16_ok(x);
    const unsigned grid = cosmos_grid_1d(vec ? (n + vec16<T>::N - 1) / vec16<T>::N : n, SWISH_THREADS);
    swish_kernel<T><<<grid, SWISH_THREADS, 0, stream>>>(y, x, n, vec);
    return CUDA_LAUNCH_STATUS("swish_kernel");
}

extern "C" cosmos_status cosmos_cuda_swish(void *y, const void *x, enum cosmos_dtype dtype, int64_t n,
                                           cudaStream_t stream) {
    if (n <= 0) return COSMOS_OK;
    if (dtype == COSMOS_BF16) return launch((cosmos_bf16 *)y, (const cosmos_bf16 *)x, n, stream);
    if (dtype == COSMOS_F32) return launch((float *)y, (const float *)x, n, stream);
    return COSMOS_ERR_UNSUPPORTED;
}
