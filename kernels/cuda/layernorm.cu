/* CUDA LayerNorm with affine weight and bias, the counterpart of cosmos_cpu_layernorm
 * (kernels/cpu/layernorm.c; nn.LayerNorm of the SigLIP vision tower, spec components.md 5.4);
 * contract cosmos_op_layernorm (core/backend.h). f32 rows [rows, D], w, b f32 [D]. One block per
 * row: mean, then the biased variance of x - mean, both summed in double as the CPU op does (a
 * row's partial sums per thread, then a block reduction), y = (float)((x - mean) * rstd) * w + b.
 * y may equal x (each thread rewrites only the elements it read). */
#include "kernels/cuda/common.cuh"

#define LN_THREADS 256

static __global__ void layernorm_f32_kernel(float *y, const float *x, const float *w, const float *b, int64_t D,
                                            double eps) {
    __shared__ double red[COSMOS_WARP];
    const int64_t r = blockIdx.x;
    const float *xr = x + r * D;
    float *yr = y + r * D;
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += xr[i];
    const double mean = block_sum(s, red) / (double)D;
    double v = 0.0;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        const double d = xr[i] - mean;
        v += d * d;
    }
    const double rstd = 1.0 / sqrt(block_sum(v, red) / (double)D + eps);
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) yr[i] = (float)((xr[i] - mean) * rstd) * w[i] + b[i];
}

extern "C" cosmos_status cosmos_cuda_layernorm(float *y, const float *x, const float *w, const float *b, int64_t rows,
                                               int64_t D, float eps, cudaStream_t stream) {
    if (rows <= 0 || D <= 0) return COSMOS_OK;
    if (rows > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    COSMOS_LAUNCH((unsigned)rows, LN_THREADS, 0, stream, layernorm_f32_kernel)(y, x, w, b, D, (double)eps);
    return CUDA_LAUNCH_STATUS("layernorm_f32_kernel");
}
