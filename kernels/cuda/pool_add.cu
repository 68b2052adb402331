/* CUDA average pools of the DV encoder's CausalHybridDownsample3d, the counterpart of
 * cosmos_cpu_pool_add (kernels/cpu/pool_add.c; spec components.md 2.5); contract cosmos_op_pool_add
 * (core/backend.h). x [C,T,H,W], y activations of one dtype (bf16 or f32); one thread per output
 * element, the CPU op's arithmetic in its order (block sum, * 0.25 or pair sum * 0.5, + y), one
 * rounding on store. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/vec.cuh"

#define POOL_THREADS 256

template <typename T>
static __global__ void pool_add_spatial_kernel(T *y, const T *x, int64_t CT, int64_t H, int64_t W, int64_t Ho,
                                               int64_t Wo) {
    const int64_t n = CT * Ho * Wo;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = e % Wo, i = (e / Wo) % Ho, f = e / (Wo * Ho);
        const T *xp = x + f * H * W;
        float s = 0.0f;
        for (int di = 0; di < 2; di++)
            for (int dj = 0; dj < 2; dj++) {
                const int64_t r = 2 * i + di, c = 2 * j + dj;
                s += (r < H && c < W) ? ld_f32(xp + r * W + c) : 0.0f;
            }
        st_act(y + e, ld_f32(y + e) + s * 0.25f);
    }
}

template <typename T>
static __global__ void pool_add_temporal_kernel(T *y, const T *x, int64_t C, int64_t T_, int64_t To, int64_t HW) {
    const int64_t n = C * To * HW;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = e % HW, t = (e / HW) % To, c = e / (HW * To);
        const int64_t a = 2 * t - 1 < 0 ? 0 : 2 * t - 1, b = 2 * t < T_ ? 2 * t : T_ - 1;
        const float xa = ld_f32(x + (c * T_ + a) * HW + i), xb = ld_f32(x + (c * T_ + b) * HW + i);
        st_act(y + e, ld_f32(y + e) + (xa + xb) * 0.5f);
    }
}

template <typename T>
static cosmos_status launch(T *y, const T *x, int64_t C, int64_t T_, int64_t H, int64_t W, int64_t To, int64_t Ho,
                            int64_t Wo, int temporal, cudaStream_t stream) {
    if (temporal) {
        COSMOS_LAUNCH(cosmos_grid_1d(C * To * H * W, POOL_THREADS), POOL_THREADS, 0, stream, pool_add_temporal_kernel<T>)
        (y, x, C, T_, To, H * W);
    } else {
        COSMOS_LAUNCH(cosmos_grid_1d(C * T_ * Ho * Wo, POOL_THREADS), POOL_THREADS, 0, stream, pool_add_spatial_kernel<T>)
        (y, x, C * T_, H, W, Ho, Wo);
    }
    return CUDA_LAUNCH_STATUS("pool_add_kernel");
}

extern "C" cosmos_status cosmos_cuda_pool_add(void *y, const void *x, enum cosmos_dtype dtype, int64_t C, int64_t T,
                                              int64_t H, int64_t W, int64_t To, int64_t Ho, int64_t Wo, int temporal,
                                              cudaStream_t stream) {
    if (C <= 0 || T <= 0 || H <= 0 || W <= 0) return COSMOS_OK;
    if (dtype == COSMOS_BF16)
        return launch((cosmos_bf16 *)y, (const cosmos_bf16 *)x, C, T, H, W, To, Ho, Wo, temporal, stream);
    if (dtype == COSMOS_F32) return launch((float *)y, (const float *)x, C, T, H, W, To, Ho, Wo, temporal, stream);
    return COSMOS_ERR_UNSUPPORTED;
}
