/* CUDA RMSNorm (spec ar-model.md 1.3), the counterpart of kernels/cpu/rmsnorm.c:
 * y = (x * rsqrt(mean(x^2) + eps)) * w, in that order, f32 math, bf16 in/out, bf16 weight. And the
 * T5 encoder's T5LayerNorm (components.md 3.4), the counterpart of kernels/cpu/rmsnorm_f32w.c:
 * y = w * (x * rsqrt(mean(x^2) + eps)), all f32. One block per row (also QK-norm, viewed as
 * [T*H, Dh]); y may equal x (each thread rewrites only the elements it read). And the APE add
 * fused in front of the attention norm (add_rows_rmsnorm). */
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

/* The APE add before each layer and the attention norm in one launch: x[t] = bf16(x[t] + table[pos0
 * + t]) in place (as add_rows_kernel, rows.cu), then y[t] = rmsnorm(x[t]) * w by the same arithmetic
 * as rmsnorm_bf16_kernel over the rounded row: bit for bit the two launches it replaces. */
template <typename TB>
static __global__ void add_rows_rmsnorm_kernel(cosmos_bf16 *x, const TB *table, cosmos_bf16 *y, const cosmos_bf16 *w,
                                               int64_t D, float eps, int64_t pos0, const int64_t *d_pos) {
    __shared__ float red[COSMOS_WARP];
    if (d_pos) pos0 = *d_pos;
    const int64_t r = blockIdx.x;
    cosmos_bf16 *xr = x + r * D, *yr = y + r * D;
    const TB *br = table + (pos0 + r) * D;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        st_bf16(xr + i, ld_f32(xr + i) + ld_f32(br + i));
        const float v = ld_f32(xr + i);
        ss += v * v;
    }
    ss = block_sum(ss, red);
    const float inv = 1.0f / sqrtf(ss / (float)D + eps);
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) st_bf16(yr + i, (ld_f32(xr + i) * inv) * ld_f32(w + i));
}

extern "C" cosmos_status cosmos_cuda_add_rows_rmsnorm(cosmos_bf16 *x, const void *table, enum cosmos_dtype table_dtype,
                                                      cosmos_bf16 *y, const cosmos_bf16 *w, int64_t T, int64_t D,
                                                      float eps, int64_t pos0, const int64_t *d_pos,
                                                      cudaStream_t stream) {
    if (T <= 0 || D <= 0) return COSMOS_OK;
    if (T > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    if (table_dtype == COSMOS_BF16)
        COSMOS_LAUNCH((unsigned)T, RMSNORM_THREADS, 0, stream, add_rows_rmsnorm_kernel<cosmos_bf16>)
        (x, (const cosmos_bf16 *)table, y, w, D, eps, pos0, d_pos);
    else if (table_dtype == COSMOS_F32)
        COSMOS_LAUNCH((unsigned)T, RMSNORM_THREADS, 0, stream, add_rows_rmsnorm_kernel<float>)
        (x, (const float *)table, y, w, D, eps, pos0, d_pos);
    else
        return COSMOS_ERR_UNSUPPORTED;
    return CUDA_LAUNCH_STATUS("add_rows_rmsnorm_kernel");
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
