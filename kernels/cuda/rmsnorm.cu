/* CUDA RMSNorm (spec ar-model.md 1.3), the counterpart of kernels/cpu/rmsnorm.c:
 * y = (x * rsqrt(mean(x^2) + eps)) * w, in that order, f32 math, bf16 in/out, bf16 weight. And the
 * T5 encoder's T5LayerNorm (components.md 3.4), the counterpart of kernels/cpu/rmsnorm_f32w.c:
 * y = w * (x * rsqrt(mean(x^2) + eps)), all f32. One block per row (also QK-norm, viewed as
 * [T*H, Dh]); y may equal x (each thread rewrites only the elements it read). */
#include "kernels/cuda/common.cuh"

#define RMSNORM_THREADS 256

static __global__ void rmsnorm_bf16_kernel(cosmos_bf16 *y, const cosmos_bf16 *x, const cosmos_bf16 *w, int64_t D,
                                           float eps) {
    __shared__ float red[COSMOS_WARP];
    const int64_t r = blockIdx.x;
    const cosmos_bf16 *xr = x + r * D;
    cosmos_bf16 *yr = y + r * D;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        const float v = ld_f32(xr + i);
        ss += v * v;
    }
    ss = block_sum(ss, red);
    const float inv = 1.0f / sqrtf(ss / (float)D + eps);
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) st_bf16(yr + i, (ld_f32(xr + i) * inv) * ld_f32(w + i));
}

extern "C" cosmos_status cosmos_cuda_rmsnorm(cosmos_bf16 *y, const cosmos_bf16 *x, const cosmos_bf16 *w, int64_t rows,
                                             int64_t D, float eps, cudaStream_t stream) {
    if (rows <= 0 || D <= 0) return COSMOS_OK;
    if (rows > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    COSMOS_LAUNCH((unsigned)rows, RMSNORM_THREADS, 0, stream, rmsnorm_bf16_kernel)(y, x, w, D, eps);
    return CUDA_LAUNCH_STATUS("rmsnorm_bf16_kernel");
}

static __global__ void rmsnorm_f32w_kernel(float *y, const float *x, const float *w, int64_t D, float eps) {
    __shared__ float red[COSMOS_WARP];
    const int64_t r = blockIdx.x;
    const float *xr = x + r * D;
    float *yr = y + r * D;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss, red);
    const float inv = 1.0f / sqrtf(ss / (float)D + eps);
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) yr[i] = w[i] * (xr[i] * inv);
}

extern "C" cosmos_status cosmos_cuda_rmsnorm_f32w(float *y, const float *x, const float *w, int64_t rows, int64_t D,
                                                  float eps, cudaStream_t stream) {
    if (rows <= 0 || D <= 0) return COSMOS_OK;
    if (rows > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    COSMOS_LAUNCH((unsigned)rows, RMSNORM_THREADS, 0, stream, rmsnorm_f32w_kernel)(y, x, w, D, eps);
    return CUDA_LAUNCH_STATUS("rmsnorm_f32w_kernel");
}
