/* CUDA copy / dtype conversion, the counterpart of the CPU backend's copy: f32 -> bf16 (round to
 * nearest even, NaN stays NaN, as cosmos_f32_to_bf16), bf16 -> f32 (exact), and same-dtype copies
 * (a device-to-device memcpy on the stream; int32 included). */
#include "kernels/cuda/common.cuh"

#define COPY_THREADS 256

static __global__ void copy_f32_to_bf16_kernel(cosmos_bf16 *dst, const float *src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        st_bf16(dst + i, src[i]);
}
static __global__ void copy_bf16_to_f32_kernel(float *dst, const cosmos_bf16 *src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = ld_f32(src + i);
}

extern "C" cosmos_status cosmos_cuda_copy(void *dst, enum cosmos_dtype dst_dtype, const void *src,
                                          enum cosmos_dtype src_dtype, int64_t n, cudaStream_t stream) {
    if (n <= 0) return COSMOS_OK;
    if (dst_dtype == src_dtype) {
        const size_t bytes = (size_t)n * (dst_dtype == COSMOS_BF16 ? 2u : 4u); /* f32, i32: 4 */
        return cosmos_cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream),
                                 "cudaMemcpyAsync(D2D)", __FILE__, __LINE__);
    }
    const unsigned grid = cosmos_grid_1d(n, COPY_THREADS);
    if (dst_dtype == COSMOS_BF16 && src_dtype == COSMOS_F32) {
        COSMOS_LAUNCH(grid, COPY_THREADS, 0, stream, copy_f32_to_bf16_kernel)
        ((cosmos_bf16 *)dst, (const float *)src, n);
        return CUDA_LAUNCH_STATUS("copy_f32_to_bf16_kernel");
    }
    if (dst_dtype == COSMOS_F32 && src_dtype == COSMOS_BF16) {
        COSMOS_LAUNCH(grid, COPY_THREADS, 0, stream, copy_bf16_to_f32_kernel)
        ((float *)dst, (const cosmos_bf16 *)src, n);
        return CUDA_LAUNCH_STATUS("copy_bf16_to_f32_kernel");
    }
    return COSMOS_ERR_UNSUPPORTED;
}
