/* Device helpers shared by the kernels of kernels/cuda: bf16 <-> f32 (round to nearest even, the
 * rounding of core/dtype.h and torch), warp/block reductions, launch-size arithmetic. bf16 buffers
 * arrive as cosmos_bf16 (uint16_t) from the C launch API and are read through __nv_bfloat16. */
#ifndef COSMOS_CUDA_COMMON_CUH
#define COSMOS_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include <atomic>

#include "kernels/cuda/cuda_ops.h"

#define COSMOS_WARP 32

/* A kernel launch, COSMOS_LAUNCH(grid, block, smem, stream, kernel)(args...), and a kernel's dynamic
 * shared memory, COSMOS_DYN_SHARED(type, name): kernel<<<...>>>(args...) and extern __shared__
 * under nvcc. The CUDA emulator (tests/cuda_emu, docs/cuda.md) compiles these sources as host C++
 * and defines both as calls into its scheduler. */
#ifndef COSMOS_CUDA_EMU
#define COSMOS_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<grid, block, smem, stream>>>
#define COSMOS_DYN_SHARED(type, name) extern __shared__ type name[]
#endif

static __device__ __forceinline__ float ld_f32(const cosmos_bf16 *p) {
    return __bfloat162float(*reinterpret_cast<const __nv_bfloat16 *>(p));
}
static __device__ __forceinline__ float ld_f32(const float *p) { return *p; }
static __device__ __forceinline__ void st_bf16(cosmos_bf16 *p, float v) {
    *reinterpret_cast<__nv_bfloat16 *>(p) = __float2bfloat16_rn(v);
}
/* v rounded to bf16 (nearest even) and widened back: the value an st_bf16 / ld_f32 round trip gives */
static __device__ __forceinline__ float round_bf16(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

static __device__ __forceinline__ float warp_sum(float v) {
    for (int o = COSMOS_WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
static __device__ __forceinline__ double warp_sum(double v) {
    for (int o = COSMOS_WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
static __device__ __forceinline__ float warp_max(float v) {
    for (int o = COSMOS_WARP / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
 * `red` is __shared__ T[32] (float or double); the block must reach this call together. */
template <typename T>
static __device__ __forceinline__ T block_sum(T v, T *red) {
    const int lane = threadIdx.x % COSMOS_WARP, wid = threadIdx.x / COSMOS_WARP;
    const int nw = blockDim.x / COSMOS_WARP;
    v = warp_sum(v);
    __syncthreads(); /* red may still be read by a previous call */
    if (lane == 0) red[wid] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : (T)0;
    return warp_sum(v);
}

/* Host side, before a launch with `smem` bytes of dynamic shared memory: past the default 48 KiB,
 * raise the kernel's limit (cudaFuncSetAttribute) up to the device's opt-in maximum; beyond that,
 * COSMOS_ERR_UNSUPPORTED (the caller explains). */
template <typename K>
static inline cosmos_status cosmos_cuda_smem_optin(K *kernel, size_t smem) {
    if (smem <= (48u << 10)) return COSMOS_OK;
    int dev = 0, optin = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess ||
        smem > (size_t)optin) {
        (void)cudaGetLastError();
        return COSMOS_ERR_UNSUPPORTED;
    }
    return cosmos_cuda_check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
                             "cudaFuncSetAttribute", __FILE__, __LINE__);
}

/* Host side: a device attribute of the current device, cached per device in cache[] (an array of
 * COSMOS_CUDA_MAX_DEVICES, 0: not yet queried); queried once per device. A failed query (or a
 * value <= 0) is not cached and gives the fallback. */
#define COSMOS_CUDA_MAX_DEVICES 64
static inline int cosmos_cuda_device_attr(std::atomic<int> *cache, enum cudaDeviceAttr attr, int fallback) {
    int dev = 0, val = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) {
        (void)cudaGetLastError(); /* do not leave it for the launch check */
        return fallback;
    }
    if (dev >= 0 && dev < COSMOS_CUDA_MAX_DEVICES && (val = cache[dev].load(std::memory_order_relaxed)) > 0) return val;
    if (cudaDeviceGetAttribute(&val, attr, dev) != cudaSuccess || val <= 0) {
        (void)cudaGetLastError();
        return fallback;
    }
    if (dev >= 0 && dev < COSMOS_CUDA_MAX_DEVICES) cache[dev].store(val, std::memory_order_relaxed);
    return val;
}

/* Blocks for a grid-stride loop over n elements: enough to fill the GPU, capped. */
static inline unsigned cosmos_grid_1d(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b > 65536) b = 65536;
    return (unsigned)(b < 1 ? 1 : b);
}

#endif
