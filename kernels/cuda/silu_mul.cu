/* CUDA SwiGLU gate (spec ar-model.md 1.3 FFN), the counterpart of cosmos_cpu_silu_mul:
 * y = (a / (1 + exp(-a))) * b over bf16 elements, f32 math; y may alias a. */
#include "kernels/cuda/common.cuh"

#define SILU_MUL_THREADS 256

static __global__ void silu_mul_bf16_kernel(cosmos_bf16 *y, const cosmos_bf16 *a, const cosmos_bf16 *b, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const float v = ld_f32(a + i);
        st_bf16(y + i, (v / (1.0f + expf(-v))) * ld_f32(b + i));
    }
}

extern "C" cosmos_status cosmos_cuda_silu_mul(cosmos_bf16 *y, const cosmos_bf16 *a, const cosmos_bf16 *b, int64_t n,
                                              cudaStream_t stream) {
    if (n <= 0) return COSMOS_OK;
    COSMOS_LAUNCH(cosmos_grid_1d(n, SILU_MUL_THREADS), SILU_MUL_THREADS, 0, stream, silu_mul_bf16_kernel)(y, a, b, n);
    return CUDA_LAUNCH_STATUS("silu_mul_bf16_kernel");
}
