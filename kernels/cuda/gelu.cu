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

extern "C" cosmos_status cosmos_cuda_gelu(void *y, const void *x, enum cosmos_dtype dtype, int64_t n,
                                           cudaStream_t stream) {
    return cosmos_cuda_unary<GeluOp>(y, x, dtype, n, stream, "gelu_kernel");
}
