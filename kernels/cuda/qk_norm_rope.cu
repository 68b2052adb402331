/* CUDA QK-norm + RoPE in one pass (spec ar-model.md 1.3 step 3-4: RMSNorm of each query / key head
 * with its [Dh] weight, then the rotate-half RoPE at the token's position), the fusion of
 * rmsnorm.cu and rope.cu with the same arithmetic and the same intermediate rounding: the normalised
 * value is rounded to bf16 (what the unfused rmsnorm stores) before the rotation; only the order of
 * the sum of squares differs (a warp here, a block there). x [T, H, Dh] bf16 in place; w [Dh] bf16; tables f32
 * [S, Dh/2]; pos0 = *d_pos when d_pos is not NULL. One warp per (token, head) row: lane l holds the
 * pairs (i, i + Dh/2) for i = l, l + 32, ... < Dh/2. Dh even, <= 2 * 32 * QKR_MAX_PAIRS. */
#include "kernels/cuda/common.cuh"

#define QKR_WARPS 4
#define QKR_MAX_PAIRS 4 /* pairs per lane: Dh <= 256 */

static __device__ __forceinline__ float round_bf16(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

static __global__ void __launch_bounds__(QKR_WARPS * COSMOS_WARP)
    qk_norm_rope_kernel(cosmos_bf16 *x, const cosmos_bf16 *w, const float *cos_tab, const float *sin_tab, int64_t rows,
                        int64_t H, int64_t Dh, float eps, int64_t pos0, const int64_t *d_pos) {
    const int64_t r = (int64_t)blockIdx.x * QKR_WARPS + threadIdx.x / COSMOS_WARP;
    if (r >= rows) return; /* whole warps leave together */
    if (d_pos) pos0 = *d_pos;
    const int lane = threadIdx.x % COSMOS_WARP;
    const int64_t half = Dh / 2, t = r / H;
    cosmos_bf16 *xr = x + r * Dh;
    float a[QKR_MAX_PAIRS], b[QKR_MAX_PAIRS], ss = 0.0f;
#pragma unroll
    for (int k = 0; k < QKR_MAX_PAIRS; k++) {
        const int64_t i = lane + (int64_t)k * COSMOS_WARP;
        a[k] = i < half ? ld_f32(xr + i) : 0.0f;
        b[k] = i < half ? ld_f32(xr + i + half) : 0.0f;
        ss += a[k] * a[k] + b[k] * b[k];
    }
    ss = warp_sum(ss);
    const float inv = 1.0f / sqrtf(ss / (float)Dh + eps);
    const float *cr = cos_tab + (pos0 + t) * half, *sr = sin_tab + (pos0 + t) * half;
#pragma unroll
    for (int k = 0; k < QKR_MAX_PAIRS; k++) {
        const int64_t i = lane + (int64_t)k * COSMOS_WARP;
        if (i >= half) continue;
        const float u = round_bf16((a[k] * inv) * ld_f32(w + i)), v = round_bf16((b[k] * inv) * ld_f32(w + i + half));
        const float c = cr[i], s = sr[i];
        st_bf16(xr + i, u * c - v * s);
        st_bf16(xr + i + half, v * c + u * s);
    }
}

extern "C" cosmos_status cosmos_cuda_qk_norm_rope(cosmos_bf16 *x, const cosmos_bf16 *w, const float *cos_tab,
                                                  const float *sin_tab, int64_t T, int64_t H, int64_t Dh, float eps,
                                                  int64_t pos0, const int64_t *d_pos, cudaStream_t stream) {
    const int64_t rows = T * H;
    if (rows <= 0 || Dh <= 0) return COSMOS_OK;
    if (Dh % 2 || Dh > 2 * COSMOS_WARP * QKR_MAX_PAIRS) return COSMOS_ERR_UNSUPPORTED;
    const int64_t blocks = (rows + QKR_WARPS - 1) / QKR_WARPS;
    if (blocks > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    COSMOS_LAUNCH((unsigned)blocks, QKR_WARPS * COSMOS_WARP, 0, stream, qk_norm_rope_kernel)
    (x, w, cos_tab, sin_tab, rows, H, Dh, eps, pos0, d_pos);
    return CUDA_LAUNCH_STATUS("qk_norm_rope_kernel");
}
