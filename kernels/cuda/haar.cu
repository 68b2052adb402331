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

/* One level, src -> dst: forward (haar_level_kernel; `extra` = the first level's frame-0 repeats,
 * Tsrc the frames src really has) or inverse (ihaar_level_kernel; `extra` = the frames the last
 * level drops). g: the channels of src. */
template <bool FWD, typename TI, typename TO>
static cosmos_status launch_level(TO *dst, const TI *src, int64_t g, int64_t Tc, int64_t Tsrc, int64_t Hc, int64_t Wc,
                                  int extra, float scale, cudaStream_t stream) {
    if (FWD) {
        const int64_t n = g * ((Tc + 1) / 2) * ((Hc + 1) / 2) * ((Wc + 1) / 2); /* 2x2x2 blocks */
        COSMOS_LAUNCH(cosmos_grid_1d(n, HAAR_THREADS), HAAR_THREADS, 0, stream, haar_level_kernel<TI, TO>)
        (dst, src, g, Tc, Tsrc, Hc, Wc, extra, scale);
        return CUDA_LAUNCH_STATUS("haar_level_kernel");
    }
    const int64_t n = g / 8 * Tc * Hc * Wc;
    COSMOS_LAUNCH(cosmos_grid_1d(n, HAAR_THREADS), HAAR_THREADS, 0, stream, ihaar_level_kernel<TI, TO>)
    (dst, src, g / 8, Tc, Hc, Wc, extra, scale);
    return CUDA_LAUNCH_STATUS("ihaar_level_kernel");
}

/* All log2(p) levels, forward (patch) or inverse (unpatch), x [C,Tn,H,W] -> y. */
template <bool FWD, typename T>
static cosmos_status levels(T *y, const T *x, int64_t C, int64_t Tn, int64_t H, int64_t W, int p, float tap,
                            cudaStream_t stream) {
    cosmos_status st = COSMOS_OK;
    const int L = n_levels(p);
    if (L == 0)
        return cosmos_cuda_check(cudaMemcpyAsync(y, x, sizeof(T) * (size_t)(C * Tn * H * W), cudaMemcpyDeviceToDevice,
                                                 stream),
                                 "cudaMemcpyAsync", __FILE__, __LINE__);
    const float scale = FWD ? tap * tap * tap / (2.0f * sqrtf(2.0f)) : 2.0f * sqrtf(2.0f) * tap * tap * tap;
    int64_t g = C, Tc = FWD ? Tn + p - 1 : Tn, Hc = H, Wc = W;
    float *prev = NULL, *cur = NULL; /* f32 levels in between */
    for (int l = 0; l < L; l++) {
        const int first = l == 0, last = l == L - 1;
        const int64_t g2 = FWD ? g * 8 : g / 8, T2 = FWD ? (Tc + 1) / 2 : 2 * Tc, H2 = FWD ? (Hc + 1) / 2 : 2 * Hc,
                      W2 = FWD ? (Wc + 1) / 2 : 2 * Wc;
        const int extra = FWD ? (first ? p : 0) : (last ? p - 1 : 0);
        const int64_t Tsrc = FWD && first ? Tn : Tc;
        if (!last) CUDA_CHECK(cudaMallocAsync((void **)&cur, sizeof(float) * (size_t)(g2 * T2 * H2 * W2), stream));
        if (first && last)
            CHECK((launch_level<FWD, T, T>(y, x, g, Tc, Tsrc, Hc, Wc, extra, scale, stream)));
        else if (first)
            CHECK((launch_level<FWD, T, float>(cur, x, g, Tc, Tsrc, Hc, Wc, extra, scale, stream)));
        else if (last)
            CHECK((launch_level<FWD, float, T>(y, prev, g, Tc, Tsrc, Hc, Wc, extra, scale, stream)));
        else
            CHECK((launch_level<FWD, float, float>(cur, prev, g, Tc, Tsrc, Hc, Wc, extra, scale, stream)));
        if (prev) CUDA_CHECK(cudaFreeAsync(prev, stream)); /* read by the launch just enqueued */
        prev = cur;
        cur = NULL;
        g = g2, Tc = T2, Hc = H2, Wc = W2;
    }
fail:
    if (prev) cudaFreeAsync(prev, stream);
    if (cur) cudaFreeAsync(cur, stream);
    return st;
}

extern "C" cosmos_status cosmos_cuda_haar_patch(void *y, const void *x, enum cosmos_dtype dtype, int64_t C, int64_t T,
                                                int64_t H, int64_t W, int patch_size, float tap, cudaStream_t stream) {
    if (C <= 0 || T <= 0 || H <= 0 || W <= 0) return COSMOS_OK;
    if (dtype == COSMOS_BF16)
        return levels<true>((cosmos_bf16 *)y, (const cosmos_bf16 *)x, C, T, H, W, patch_size, tap, stream);
    if (dtype == COSMOS_F32) return levels<true>((float *)y, (const float *)x, C, T, H, W, patch_size, tap, stream);
    return COSMOS_ERR_UNSUPPORTED;
}

extern "C" cosmos_status cosmos_cuda_haar_unpatch(void *y, const void *x, enum cosmos_dtype dtype, int64_t C,
                                                  int64_t T, int64_t H, int64_t W, int patch_size, float tap,
                                                  cudaStream_t stream) {
    if (C <= 0 || T <= 0 || H <= 0 || W <= 0) return COSMOS_OK;
    if (dtype == COSMOS_BF16)
        return levels<false>((cosmos_bf16 *)y, (const cosmos_bf16 *)x, C, T, H, W, patch_size, tap, stream);
    if (dtype == COSMOS_F32) return levels<false>((float *)y, (const float *)x, C, T, H, W, patch_size, tap, stream);
    return COSMOS_ERR_UNSUPPORTED;
}
