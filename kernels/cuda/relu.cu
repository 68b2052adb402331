/* CUDA ReLU, the counterpart of cosmos_cpu_relu (kernels/cpu/relu.c): y = x > 0 ? x : 0
 * elementwise (the T5 v1.0 feed-forward activation, spec components.md 3.4; NaN gives 0 as on the
 * CPU); contract cosmos_op_relu (core/backend.h). bf16 or f32 (one dtype), any shape; y may alias
 * x. vec.cuh's unary_kernel. */
#include "kernels/cuda/vec.cuh"

struct ReluOp {
    static __device__ __forceinline__ float f(float v) { return v > 0.0f ? v : 0.0f; }
};

extern "C" cosmos_status cosmos_cuda_relu(void *y, const void *x, enum cosmos_dtype dtype, int64_t n,
                                          cudaStream_t stream) {
    return cosmos_cuda_unary<ReluOp>(y, x, dtype, n, stream, "relu_kernel");
}
