/* CUDA swish, the counterpart of cosmos_cpu_swish (kernels/cpu/swish.c): y = x * sigmoid(x) =
 * x * (1 / (1 + exp(-x))) elementwise, the DiT's SiLU on the timestep embedding (spec components.md
 * 4.4 step 5) and the tokenizer's nonlinearity (2.5); contract cosmos_op_swish (core/backend.h).
 * Activations bf16 or f32 (the same dtype for x and y), f32 math, one rounding on store; flat
 * [n] elements, any shape. y may alias x (each element is read before it is written, by the same
 * thread). The kernel is vec.cuh's unary_kernel (16-byte vectors when both pointers are
 * 16-byte aligned, a scalar tail). */
#include "kernels/cuda/vec.cuh"

struct SwishOp {
    static __device__ __forceinline__ float f(float v) { return v * (1.0f / (1.0f + expf(-v))); }
};

extern "C" cosmos_status cosmos_cuda_swish(void *y, const void *x, enum cosmos_dtype dtype, int64_t n,
                                           cudaStream_t stream) {
    return cosmos_cuda_unary<SwishOp>(y, x, dtype, n, stream, "swish_kernel");
}
