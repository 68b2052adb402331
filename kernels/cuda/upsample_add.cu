/* CUDA nearest upsample-and-add in f32, the counterpart of cosmos_cpu_add_upsampled_nearest
 * (kernels/cpu/conv2d.c; RetinaFace's FPN top-down path, F.interpolate(size=..., mode="nearest"),
 * spec components.md 5.5); contract cosmos_op_add_upsampled_nearest (core/backend.h):
 * y [C, Hd, Wd] += x [C, Hs, Ws] at PyTorch's nearest source index (exact halving for a 2x
 * upsample, else floor(o * (float)in / out) clamped, in f32 as aten's nearest_idx). One thread per
 * output value: the same sums as the CPU. */
#include "kernels/cuda/common.cuh"

#define UPADD_THREADS 256

static __device__ __forceinline__ int64_t nearest_src(int64_t o, int64_t in, int64_t out) {
    if (in == out) return o;
    if (out == 2 * in) return o >> 1;
    const float scale = (float)in / (float)out;
    const int64_t i = (int64_t)floorf((float)o * scale);
    return i < in - 1 ? i : in - 1;
}

static __global__ void add_upsampled_kernel(float *y, const float *x, int64_t C, int64_t Hd, int64_t Wd, int64_t Hs,
                                            int64_t Ws) {
    const int64_t n = C * Hd * Wd;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t ox = i % Wd, oy = (i / Wd) % Hd, c = i / (Wd * Hd);
        y[i] += x[(c * Hs + nearest_src(oy, Hs, Hd)) * Ws + nearest_src(ox, Ws, Wd)];
    }
}

extern "C" cosmos_status cosmos_cuda_add_upsampled_nearest(float *y, const float *x, int64_t C, int64_t Hd, int64_t Wd,
                                                           int64_t Hs, int64_t Ws, cudaStream_t stream) {
    if (C <= 0 || Hd <= 0 || Wd <= 0) return COSMOS_OK;
    if (Hs <= 0 || Ws <= 0) return COSMOS_ERR_INVALID_ARG;
    COSMOS_LAUNCH(cosmos_grid_1d(C * Hd * Wd, UPADD_THREADS), UPADD_THREADS, 0, stream, add_upsampled_kernel)
    (y, x, C, Hd, Wd, Hs, Ws);
    return CUDA_LAUNCH_STATUS("add_upsampled_kernel");
}
