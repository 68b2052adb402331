/* CUDA ReLU, the counterpart of cosmos_cpu_relu (kernels/cpu/relu.c): y = x > 0 ? x : 0
 * elementwise (the T5 v1.0 feed-forward activation, spec components.md 3.4; NaN gives 0 as on the
 * CPU); contract cosmos_op_relu (core/backend.h). bf16 or f32 (one dtype), any shape; y may alias
 * x. vec.cuh's unary_kernel. And the leaky ReLU with a slope (cosmos_op_leaky_relu). */
#include "kernels/cuda/vec.cuh"

struct ReluOp {
    static __device__ __forceinline__ float f(float v) { return v > 0.0f ? v : 0.0f; }
};

extern "C" cosmos_status cosmos_cuda_relu(void *y, const void *x, enum cosmos_dtype dtype, int64_t n,
                                          cudaStream_t stream) {
    return cosmos_cuda_unary<ReluOp>(y, x, dtype, n, stream, "relu_kernel");
}

/* y = x < 0 ? x * slope : x (RetinaFace's FPN/SSH activations; slope 0 is its ReLU, as the CPU's
 * conv store computes it), bf16 or f32 */
template <typename T>
static __global__ void leaky_relu_kernel(T *y, const T *x, int64_t n, float slope) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = ld_f32(x + i);
        if (v < 0.0f) v *= slope;
        st_act(y + i, v);
    }
}

extern "C" cosmos_status cosmos_cuda_leaky_relu(void *y, const void *x, enum cosmos_dtype dtype, int64_t n, float slope,
                                                cudaStream_t stream) {
    if (n <= 0) return COSMOS_OK;
    const unsigned grid = cosmos_grid_1d(n, UNARY_THREADS);
    if (dtype == COSMOS_F32)
        COSMOS_LAUNCH(grid, UNARY_THREADS, 0, stream, leaky_relu_kernel<float>)((float *)y, (const float *)x, n, slope);
    else if (dtype == COSMOS_BF16)
        COSMOS_LAUNCH(grid, UNARY_THREADS, 0, stream, leaky_relu_kernel<cosmos_bf16>)
        ((cosmos_bf16 *)y, (const cosmos_bf16 *)x, n, slope);
    else
        return COSMOS_ERR_UNSUPPORTED;
    return CUDA_LAUNCH_STATUS("leaky_relu_kernel");
}
