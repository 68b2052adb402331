/* CUDA exact GELU, the counterpart of cosmos_cpu_gelu (kernels/cpu/gelu.c): y = 0.5 x (1 + erf(x /
 * sqrt(2))) elementwise (nn.GELU(), approximate="none"), the DiT MLP's activation (spec
 * components.md 4.4 step 6); contract cosmos_op_gelu (core/backend.h). Activations bf16 or f32 (the
 * same dtype for x and y), f32 math (erff), one rounding on store; flat [n] elements, any shape. y
 * may alias x. The kernel is vec.cuh's unary_kernel (16-byte vectors when both pointers are 16-byte
 * aligned, a scalar tail). */
#include "kernels/cuda/vec.cuh"

struct GeluOp {
    static __device__ __forceinline__ float f(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }
};

/* The tanh GELU (gelu_pytorch_tanh) of SigLIP's MLPs in the sigmoid form of cosmos_cpu_gelu_tanh
 * (kernels/cpu/gelu.c): x / (1 + e^(-2u)) with t = e^(-2|u|), no cancellation in the negative tail. */
struct GeluTanhOp {
    static __device__ __forceinline__ float f(float v) {
        const float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        const float t = expf(-2.0f * fabsf(u));
        return v * ((u >= 0.0f ? 1.0f : t) / (1.0f + t));
    }
};

extern "C" cosmos_status cosmos_cuda_gelu_tanh(void *y, const void *x, enum cosmos_dtype dtype, int64_t n,
                                               cudaStream_t stream) {
    return cosmos_cuda_unary<GeluTanhOp>(y, x, dtype, n, stream, "gelu_tanh_kernel");
}

extern "C" cosmos_status cosmos_cuda_gelu(void *y, const void *x, enum cosmos_dtype dtype, int64_t n,
                                           cudaStream_t stream) {
    return cosmos_cuda_unary<GeluOp>(y, x, dtype, n, stream, "gelu_kernel");
}
