/* CUDA 2-D max-pooling in f32, the counterpart of cosmos_cpu_maxpool2d (kernels/cpu/conv2d.c; the
 * ResNet stem's 3x3 stride-2 pool of RetinaFace, spec components.md 5.5); contract
 * cosmos_op_maxpool2d (core/backend.h): x [C, H, W] -> y [C, Ho, Wo], padding that never wins (the
 * window's in-bounds values only, scanned in the CPU's order: the same max, NaN aside). One thread
 * per output value. */
#include "kernels/cuda/common.cuh"

#define POOL_THREADS 256

static __global__ void maxpool2d_f32_kernel(float *y, const float *x, int64_t C, int64_t H, int64_t W, int k,
                                            int stride, int pad, int64_t Ho, int64_t Wo) {
    const int64_t n = C * Ho * Wo;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t ox = i % Wo, oy = (i / Wo) % Ho, c = i / (Wo * Ho);
        float m = -INFINITY;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                    const float v = x[(c * H + iy) * W + ix];
                    if (v > m) m = v;
                }
            }
        y[i] = m;
    }
}

extern "C" cosmos_status cosmos_cuda_maxpool2d(float *y, const float *x, int64_t C, int64_t H, int64_t W, int k,
                                               int stride, int pad, cudaStream_t stream) {
    const int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    if (C <= 0 || Ho <= 0 || Wo <= 0) return COSMOS_OK;
    COSMOS_LAUNCH(cosmos_grid_1d(C * Ho * Wo, POOL_THREADS), POOL_THREADS, 0, stream, maxpool2d_f32_kernel)
    (y, x, C, H, W, k, stride, pad, Ho, Wo);
    return CUDA_LAUNCH_STATUS("maxpool2d_f32_kernel");
}
