/* CUDA GroupNorm with one group per frame, the counterpart of cosmos_cpu_groupnorm_frames
 * (kernels/cpu/groupnorm_frames.c; spec components.md 2.5, CausalNormalize with num_groups=1);
 * contract cosmos_op_groupnorm_frames (core/backend.h). x, y [C,T,H,W] activations (bf16 or
 * f32, one dtype), gamma, beta [C] (bf16 or f32, one dtype, may differ from the activations'); for
 * each frame t, mean and biased variance over all C*H*W values of x[:, t], then
 * y = (x - mean) * rstd * gamma[c] + beta[c], rstd = 1 / sqrt(var + eps). y may alias x.
 * As the CPU op: statistics in double, two passes (the mean, then the sum of squared deviations).
 * A frame's C*H*W values are spread over NB blocks (the grid is [NB, T]); each pass writes one
 * double per (frame, block) to stream-ordered scratch, and the next kernel's blocks each re-reduce
 * their frame's NB partials in a fixed order, so the result is deterministic (no atomics). Three
 * kernels: sums -> deviations (mean from the sums) -> normalise (mean, variance from both). */
extern "C" { /* a C header without its own extern "C" */
#include "core/log.h"
}
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/vec.cuh"

#define GN_THREADS 256
#define GN_MAX_BLOCKS 512 /* per frame */

/* Sum over the block in double (blockDim.x == GN_THREADS); every thread gets the result. */
static __device__ double block_sum_f64(double v, double *red) {
    const int lane = threadIdx.x % COSMOS_WARP, wid = threadIdx.x / COSMOS_WARP;
    for (int o = COSMOS_WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) red[wid] = v;
    __syncthreads();
    double s = 0.0;
    for (int w = 0; w < GN_THREADS / COSMOS_WARP; w++) s += red[w]; /* fixed order */
    return s;
}

/* The frame's partials part[t * nb .. + nb) summed in order (by every thread, the same value). */
static __device__ __forceinline__ double frame_total(const double *part, int64_t t, int nb) {
    double s = 0.0;
    for (int b = 0; b < nb; b++) s += part[t * nb + b];
    return s;
}

/* Element j in [0, C*HW) of frame t: channel j / HW, offset j % HW. */
template <typename T>
static __device__ __forceinline__ const T *frame_elem(const T *x, int64_t j, int64_t t, int64_t T_, int64_t HW) {
    return x + ((j / HW) * T_ + t) * HW + j % HW;
}

template <typename T>
static __global__ void gn_sum_kernel(double *part, const T *x, int64_t T_, int64_t HW, int64_t n) {
    __shared__ double red[GN_THREADS / COSMOS_WARP];
    const int64_t t = blockIdx.y;
    double s = 0.0;
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (int64_t)gridDim.x * blockDim.x)
        s += (double)ld_f32(frame_elem(x, j, t, T_, HW));
    s = block_sum_f64(s, red);
    if (threadIdx.x == 0) part[t * gridDim.x + blockIdx.x] = s;
}

template <typename T>
static __global__ void gn_dev_kernel(double *part_ss, const double *part_sum, const T *x, int64_t T_, int64_t HW,
                                     int64_t n) {
    __shared__ double red[GN_THREADS / COSMOS_WARP];
    const int64_t t = blockIdx.y;
    const double mean = frame_total(part_sum, t, gridDim.x) / (double)n;
    double s = 0.0;
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (int64_t)gridDim.x * blockDim.x) {
        const double d = (double)ld_f32(frame_elem(x, j, t, T_, HW)) - mean;
        s += d * d;
    }
    s = block_sum_f64(s, red);
    if (threadIdx.x == 0) part_ss[t * gridDim.x + blockIdx.x] = s;
}

template <typename T, typename P>
static __global__ void gn_apply_kernel(T *y, const T *x, const P *gamma, const P *beta, const double *part_sum,
                                       const double *part_ss, int64_t T_, int64_t HW, int64_t n, float eps) {
    const int64_t t = blockIdx.y;
    const double nd = (double)n, mean = frame_total(part_sum, t, gridDim.x) / nd;
    const float rstd = (float)(1.0 / sqrt(frame_total(part_ss, t, gridDim.x) / nd + (double)eps)), m = (float)mean;
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (int64_t)gridDim.x * blockDim.x) {
        const int64_t c = j / HW, off = (c * T_ + t) * HW + j % HW;
        st_act(y + off, (ld_f32(x + off) - m) * rstd * ld_f32(gamma + c) + ld_f32(beta + c));
    }
}

template <typename T, typename P>
static cosmos_status launch(T *y, const T *x, const P *gamma, const P *beta, int64_t C, int64_t T_, int64_t HW,
                            float eps, cudaStream_t stream) {
    cosmos_status st = COSMOS_OK;
    const int64_t n = C * HW;
    int64_t nb = (n + GN_THREADS * 8 - 1) / (GN_THREADS * 8); /* ~8 elements per thread */
    if (nb > GN_MAX_BLOCKS) nb = GN_MAX_BLOCKS;
    if (nb < 1) nb = 1;
    double *part = NULL;
    const dim3 grid((unsigned)nb, (unsigned)T_);
    CUDA_CHECK(cudaMallocAsync((void **)&part, sizeof(double) * (size_t)(2 * nb * T_), stream));
    COSMOS_LAUNCH(grid, GN_THREADS, 0, stream, gn_sum_kernel<T>)(part, x, T_, HW, n);
    CHECK(CUDA_LAUNCH_STATUS("gn_sum_kernel"));
    COSMOS_LAUNCH(grid, GN_THREADS, 0, stream, gn_dev_kernel<T>)(part + nb * T_, part, x, T_, HW, n);
    CHECK(CUDA_LAUNCH_STATUS("gn_dev_kernel"));
    COSMOS_LAUNCH(grid, GN_THREADS, 0, stream, gn_apply_kernel<T, P>)
    (y, x, gamma, beta, part, part + nb * T_, T_, HW, n, eps);
    CHECK(CUDA_LAUNCH_STATUS("gn_apply_kernel"));
fail:
    if (part) cudaFreeAsync(part, stream);
    return st;
}

template <typename T>
static cosmos_status launch_p(T *y, const T *x, const void *gamma, const void *beta, enum cosmos_dtype p_dtype,
                              int64_t C, int64_t T_, int64_t HW, float eps, cudaStream_t stream) {
    if (p_dtype == COSMOS_BF16)
        return launch(y, x, (const cosmos_bf16 *)gamma, (const cosmos_bf16 *)beta, C, T_, HW, eps, stream);
    if (p_dtype == COSMOS_F32) return launch(y, x, (const float *)gamma, (const float *)beta, C, T_, HW, eps, stream);
    return COSMOS_ERR_UNSUPPORTED;
}

extern "C" cosmos_status cosmos_cuda_groupnorm_frames(void *y, const void *x, enum cosmos_dtype dtype,
                                                      const void *gamma, const void *beta, enum cosmos_dtype p_dtype,
                                                      int64_t C, int64_t T, int64_t HW, float eps,
                                                      cudaStream_t stream) {
    if (C <= 0 || T <= 0 || HW <= 0) return COSMOS_OK;
    if (T > 65535) return COSMOS_ERR_UNSUPPORTED; /* frames on grid.y */
    if (dtype == COSMOS_BF16)
        return launch_p((cosmos_bf16 *)y, (const cosmos_bf16 *)x, gamma, beta, p_dtype, C, T, HW, eps, stream);
    if (dtype == COSMOS_F32) return launch_p((float *)y, (const float *)x, gamma, beta, p_dtype, C, T, HW, eps, stream);
    return COSMOS_ERR_UNSUPPORTED;
}
