/* CUDA frame moves of the tokenizers' decoders, the counterparts of kernels/cpu/frames.c (spec
 * components.md 2.5, 2.8); contracts cosmos_op_copy_frames and cosmos_op_upsample_nearest2x
 * (core/backend.h). Activations of any 2- or 4-byte dtype, copied bit for bit: frame ranges of
 * [C,T,HW] (one thread per element) and the nearest 2x spatial upsample (one thread per output). */
#include "kernels/cuda/common.cuh"

#define FRAMES_THREADS 256

template <typename T>
static __global__ void copy_frames_kernel(T *dst, int64_t Td, int64_t dst_t0, const T *src, int64_t Ts, int64_t src_t0,
                                          int64_t n, int64_t C, int64_t HW) {
    const int64_t total = C * n * HW;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = e % (n * HW), ch = e / (n * HW);
        dst[(ch * Td + dst_t0) * HW + i] = src[(ch * Ts + src_t0) * HW + i];
    }
}

template <typename T>
static __global__ void upsample_nearest2x_kernel(T *y, const T *x, int64_t CT, int64_t H, int64_t W) {
    const int64_t total = CT * 4 * H * W;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = e % (2 * W), i = (e / (2 * W)) % (2 * H), f = e / (4 * H * W);
        y[e] = x[(f * H + i / 2) * W + j / 2];
    }
}

extern "C" cosmos_status cosmos_cuda_copy_frames(void *dst, int64_t Td, int64_t dst_t0, const void *src, int64_t Ts,
                                                 int64_t src_t0, int64_t n, int64_t C, int64_t HW, size_t elem,
                                                 cudaStream_t stream) {
    if (n <= 0 || C <= 0 || HW <= 0) return COSMOS_OK;
    const unsigned grid = cosmos_grid_1d(C * n * HW, FRAMES_THREADS);
    if (elem == 2)
        COSMOS_LAUNCH(grid, FRAMES_THREADS, 0, stream, copy_frames_kernel<uint16_t>)
        ((uint16_t *)dst, Td, dst_t0, (const uint16_t *)src, Ts, src_t0, n, C, HW);
    else if (elem == 4)
        COSMOS_LAUNCH(grid, FRAMES_THREADS, 0, stream, copy_frames_kernel<uint32_t>)
        ((uint32_t *)dst, Td, dst_t0, (const uint32_t *)src, Ts, src_t0, n, C, HW);
    else
        return COSMOS_ERR_UNSUPPORTED;
    return CUDA_LAUNCH_STATUS("copy_frames_kernel");
}

extern "C" cosmos_status cosmos_cuda_upsample_nearest2x(void *y, const void *x, int64_t CT, int64_t H, int64_t W,
                                                        size_t elem, cudaStream_t stream) {
    if (CT <= 0 || H <= 0 || W <= 0) return COSMOS_OK;
    const unsigned grid = cosmos_grid_1d(CT * 4 * H * W, FRAMES_THREADS);
    if (elem == 2)
        COSMOS_LAUNCH(grid, FRAMES_THREADS, 0, stream, upsample_nearest2x_kernel<uint16_t>)
        ((uint16_t *)y, (const uint16_t *)x, CT, H, W);
    else if (elem == 4)
        COSMOS_LAUNCH(grid, FRAMES_THREADS, 0, stream, upsample_nearest2x_kernel<uint32_t>)
        ((uint32_t *)y, (const uint32_t *)x, CT, H, W);
    else
        return COSMOS_ERR_UNSUPPORTED;
    return CUDA_LAUNCH_STATUS("upsample_nearest2x_kernel");
}
