/* CUDA 3D Haar wavelet patcher and unpatcher of the DV tokenizer, the counterparts of
 * cosmos_cpu_haar_patch / _unpatch (kernels/cpu/haar3d.c; spec components.md 2.4, the official
 * Patcher3D._haar / UnPatcher3D._ihaar); contracts cosmos_op_haar_patch / _unpatch
 * (core/backend.h). Videos [C,T,H,W], activations bf16 or f32 (one dtype for x and y).
 * The same arithmetic as the CPU op, level by level: one forward level maps [g,T,H,W] to
 * [8g, ceil(T/2), ceil(H/2), ceil(W/2)] (odd axes reflect-padded by one on the right; band
 * b = 4*t_bit + 2*h_bit + w_bit at channel b*g + c holds scale * sum_p s_b(p) x(p) over the 2x2x2
 * block, summed in the CPU's order), one inverse level maps [8g,T,H,W] to [g,2T,2H,2W]. The
 * patcher's first level reads frame 0 patch_size times, then frames 1.. (an index map, no copy);
 * the unpatcher's last level skips the first patch_size-1 output frames. One thread per 2x2x2
 * block; levels in between are f32 in stream-ordered scratch (cudaMallocAsync), so only the final
 * store rounds to the activation dtype, as the CPU op keeps f32 throughout. */
extern "C" { /* a C header without its own extern "C" */
#include "core/log.h"
}
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/vec.cuh"

#define HAAR_THREADS 256

static __device__ __forceinline__ int64_t reflect_right(int64_t i, int64_t L) { return i < L ? i : 2 * L - 2 - i; }
static __device__ __forceinline__ float sign_of(int b, int p) { return __popc(b & p) & 1 ? -1.0f : 1.0f; }

/* x [g,T,H,W] (first level: frame v of the T virtual ones is source frame v < rep ? 0 : v-rep+1,
 * rep = patch_size; later levels rep = 0, identity; Tsrc the frames x really has) ->
 * y [8g,T2,H2,W2]. */
template <typename TI, typename TO>
static __global__ void haar_level_kernel(TO *y, const TI *x, int64_t g, int64_t T, int64_t Tsrc, int64_t H, int64_t W,
                                         int rep, float scale) {
    const int64_t T2 = (T + 1) / 2, H2 = (H + 1) / 2, W2 = (W + 1) / 2, n = g * T2 * H2 * W2;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t w = i % W2, h = (i / W2) % H2, t = (i / (W2 * H2)) % T2, c = i / (W2 * H2 * T2);
        int64_t tt[2] = {reflect_right(2 * t, T), reflect_right(2 * t + 1, T)};
        if (rep > 0)
            for (int k = 0; k < 2; k++) tt[k] = tt[k] < rep ? 0 : tt[k] - rep + 1;
        const int64_t hh[2] = {reflect_right(2 * h, H), reflect_right(2 * h + 1, H)};
        const int64_t ww[2] = {reflect_right(2 * w, W), reflect_right(2 * w + 1, W)};
        const TI *xc = x + c * Tsrc * H * W;
        float v[8];
#pragma unroll
        for (int p = 0; p < 8; p++) v[p] = ld_f32(xc + (tt[p >> 2] * H + hh[(p >> 1) & 1]) * W + ww[p & 1]);
#pragma unroll
        for (int b = 0; b < 8; b++) {
            float acc = 0.0f;
#pragma unroll
            for (int p = 0; p < 8; p++) acc += sign_of(b, p) * v[p];
            st_act(y + (((b * g + c) * T2 + t) * H2 + h) * W2 + w, acc * scale);
        }
    }
}

/* y [8g,T,H,W] -> x [g, 2T - drop, 2H, 2W]: output frame f of the 2T is stored at f - drop, and
 * frames f < drop are not stored. */
template <typename TI, typename TO>
static __global__ void ihaar_level_kernel(TO *x, const TI *y, int64_t g, int64_t T, int64_t H, int64_t W, int drop,
                                          float scale) {
    const int64_t T2 = 2 * T - drop, H2 = 2 * H, W2 = 2 * W, n = g * T * H * W;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t w = i % W, h = (i / W) % H, t = (i / (W * H)) % T, c = i / (W * H * T);
        float band[8];
#pragma unroll
        for (int b = 0; b < 8; b++) band[b] = ld_f32(y + (((b * g + c) * T + t) * H + h) * W + w);
#pragma unroll
        for (int p = 0; p < 8; p++) {
            const int64_t f = 2 * t + (p >> 2) - drop;
            if (f < 0) continue;
            float acc = 0.0f;
#pragma unroll
            for (int b = 0; b < 8; b++) acc += sign_of(b, p) * band[b];
            st_act(x + ((c * T2 + f) * H2 + 2 * h + ((p >> 1) & 1)) * W2 + 2 * w + (p & 1), acc * scale);
        }
    }
}

static int n_levels(int patch_size) {
    int n = 0;
    while ((1 << n) < patch_size) n++;
    return n;
}

template <typename T>
static cosmos_status patch(T *y, const T *x, int64_t C, int64_t Tn, int64_t H, int64_t W, int p, float tap,
                           cudaStream_t stream) {
    cosmos_status st = COSMOS_OK;
    const int L = n_levels(p);
    const float scale = tap * tap * tap / (2.0f * sqrtf(2.0f));
    float *buf[2] = {NULL, NULL};
    int64_t g = C, Tc = Tn + p - 1, Hc = H, Wc = W;
    if (L == 0)
        return cosmos_cuda_check(cudaMemcpyAsync(y, x, sizeof(T) * (size_t)(C * Tn * H * W), cudaMemcpyDeviceToDevice,
                                                 stream),
                                 "cudaMemcpyAsync", __FILE__, __LINE__);
    for (int l = 0; l < L; l++) {
        const int64_t T2 = (Tc + 1) / 2, H2 = (Hc + 1) / 2, W2 = (Wc + 1) / 2, n = g * T2 * H2 * W2;
        const unsigned grid = cosmos_grid_1d(n, HAAR_THREADS);
        const int last = l == L - 1;
        float *dst = NULL;
        if (!last) {
            CUDA_CHECK(cudaMallocAsync((void **)&buf[l & 1], sizeof(float) * (size_t)(8 * n), stream));
            dst = buf[l & 1];
        }
        if (l == 0 && last)
            COSMOS_LAUNCH(grid, HAAR_THREADS, 0, stream, haar_level_kernel<T, T>)(y, x, g, Tc, Tn, Hc, Wc, p, scale);
        else if (l == 0)
            COSMOS_LAUNCH(grid, HAAR_THREADS, 0, stream, haar_level_kernel<T, float>)
            (dst, x, g, Tc, Tn, Hc, Wc, p, scale);
        else if (last)
            COSMOS_LAUNCH(grid, HAAR_THREADS, 0, stream, haar_level_kernel<float, T>)
            (y, buf[(l - 1) & 1], g, Tc, Tc, Hc, Wc, 0, scale);
        else
            COSMOS_LAUNCH(grid, HAAR_THREADS, 0, stream, haar_level_kernel<float, float>)
            (dst, buf[(l - 1) & 1], g, Tc, Tc, Hc, Wc, 0, scale);
        CHECK(CUDA_LAUNCH_STATUS("haar_level_kernel"));
        if (l > 0) { /* the previous level's buffer has been read by the launch just enqueued */
            CUDA_CHECK(cudaFreeAsync(buf[(l - 1) & 1], stream));
            buf[(l - 1) & 1] = NULL;
        }
        g *= 8, Tc = T2, Hc = H2, Wc = W2;
    }
fail:
    for (int i = 0; i < 2; i++)
        if (buf[i]) cudaFreeAsync(buf[i], stream);
    return st;
}

template <typename T>
static cosmos_status unpatch(T *y, const T *x, int64_t C, int64_t Tn, int64_t H, int64_t W, int p, float tap,
                             cudaStream_t stream) {
    cosmos_status st = COSMOS_OK;
    const int L = n_levels(p);
    const float scale = 2.0f * sqrtf(2.0f) * tap * tap * tap;
    float *buf[2] = {NULL, NULL};
    int64_t g = C, Tc = Tn, Hc = H, Wc = W;
    if (L == 0)
        return cosmos_cuda_check(cudaMemcpyAsync(y, x, sizeof(T) * (size_t)(C * Tn * H * W), cudaMemcpyDeviceToDevice,
                                                 stream),
                                 "cudaMemcpyAsync", __FILE__, __LINE__);
    for (int l = 0; l < L; l++) {
        const int64_t n = g / 8 * Tc * Hc * Wc; /* 2x2x2 blocks of this level's output */
        const unsigned grid = cosmos_grid_1d(n, HAAR_THREADS);
        const int last = l == L - 1;
        float *dst = NULL;
        if (!last) {
            CUDA_CHECK(cudaMallocAsync((void **)&buf[l & 1], sizeof(float) * (size_t)(8 * n), stream));
            dst = buf[l & 1];
        }
        if (l == 0 && last)
            COSMOS_LAUNCH(grid, HAAR_THREADS, 0, stream, ihaar_level_kernel<T, T>)
            (y, x, g / 8, Tc, Hc, Wc, p - 1, scale);
        else if (l == 0)
            COSMOS_LAUNCH(grid, HAAR_THREADS, 0, stream, ihaar_level_kernel<T, float>)(dst, x, g / 8, Tc, Hc, Wc, 0, scale);
        else if (last)
            COSMOS_LAUNCH(grid, HAAR_THREADS, 0, stream, ihaar_level_kernel<float, T>)
            (y, buf[(l - 1) & 1], g / 8, Tc, Hc, Wc, p - 1, scale);
        else
            COSMOS_LAUNCH(grid, HAAR_THREADS, 0, stream, ihaar_level_kernel<float, float>)
            (dst, buf[(l - 1) & 1], g / 8, Tc, Hc, Wc, 0, scale);
        CHECK(CUDA_LAUNCH_STATUS("ihaar_level_kernel"));
        if (l > 0) {
            CUDA_CHECK(cudaFreeAsync(buf[(l - 1) & 1], stream));
            buf[(l - 1) & 1] = NULL;
        }
        g /= 8, Tc *= 2, Hc *= 2, Wc *= 2;
    }
fail:
    for (int i = 0; i < 2; i++)
        if (buf[i]) cudaFreeAsync(buf[i], stream);
    return st;
}

extern "C" cosmos_status cosmos_cuda_haar_patch(void *y, const void *x, enum cosmos_dtype dtype, int64_t C, int64_t T,
                                                int64_t H, int64_t W, int patch_size, float tap, cudaStream_t stream) {
    if (C <= 0 || T <= 0 || H <= 0 || W <= 0) return COSMOS_OK;
    if (dtype == COSMOS_BF16)
        return patch((cosmos_bf16 *)y, (const cosmos_bf16 *)x, C, T, H, W, patch_size, tap, stream);
    if (dtype == COSMOS_F32) return patch((float *)y, (const float *)x, C, T, H, W, patch_size, tap, stream);
    return COSMOS_ERR_UNSUPPORTED;
}

extern "C" cosmos_status cosmos_cuda_haar_unpatch(void *y, const void *x, enum cosmos_dtype dtype, int64_t C,
                                                  int64_t T, int64_t H, int64_t W, int patch_size, float tap,
                                                  cudaStream_t stream) {
    if (C <= 0 || T <= 0 || H <= 0 || W <= 0) return COSMOS_OK;
    if (dtype == COSMOS_BF16)
        return unpatch((cosmos_bf16 *)y, (const cosmos_bf16 *)x, C, T, H, W, patch_size, tap, stream);
    if (dtype == COSMOS_F32) return unpatch((float *)y, (const float *)x, C, T, H, W, patch_size, tap, stream);
    return COSMOS_ERR_UNSUPPORTED;
}
