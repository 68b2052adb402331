/* CUDA QK-norm + RoPE in one pass (spec ar-model.md 1.3 step 3-4: RMSNorm of each query / key head
 * with its [Dh] weight, then the rotate-half RoPE at the token's position), the fusion of
 * rmsnorm.cu and rope.cu with the same arithmetic and the same intermediate rounding: the normalised
 * value is rounded to bf16 (what the unfused rmsnorm stores) before the rotation; only the order of
 * the sum of squares differs (a warp here, a block there). x [T, H, Dh] bf16 in place; w [Dh] bf16; tables f32
 * [S, Dh/2]; pos0 = *d_pos when d_pos is not NULL. One warp per (token, head) row: lane l holds the
 * pairs (i, i + Dh/2) for i = l, l + 32, ... < Dh/2. Dh even, <= 2 * 32 * QKR_MAX_PAIRS.
 * A second kernel does the decode step's whole attention prologue in one launch: QK-norm + RoPE of
 * the queries and keys, the keys and values written to their KV-cache rows (store_rows in rows.cu),
 * bit for bit the four launches it replaces (cosmos_op_qkv_rope_store, core/backend.h). */
#include "kernels/cuda/common.cuh"

#define QKR_WARPS 4
#define QKR_MAX_PAIRS 4 /* pairs per lane: Dh <= 256 */


/* One (token, head) row xr [Dh] at table rows cr, sr (position of the token), by the calling warp:
 * normalised with w, rounded to bf16, rotated; written to xr and, when out2, to out2 as well. */
static __device__ __forceinline__ void qk_norm_rope_row(cosmos_bf16 *xr, cosmos_bf16 *out2, const cosmos_bf16 *w,
                                                        const float *cr, const float *sr, int64_t Dh, float eps) {
    const int lane = threadIdx.x % COSMOS_WARP;
    const int64_t half = Dh / 2;
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
#pragma unroll
    for (int k = 0; k < QKR_MAX_PAIRS; k++) {
        const int64_t i = lane + (int64_t)k * COSMOS_WARP;
        if (i >= half) continue;
        const float u = round_bf16((a[k] * inv) * ld_f32(w + i)), v = round_bf16((b[k] * inv) * ld_f32(w + i + half));
        const float c = cr[i], s = sr[i];
        st_bf16(xr + i, u * c - v * s);
        st_bf16(xr + i + half, v * c + u * s);
        if (out2) {
            st_bf16(out2 + i, u * c - v * s);
            st_bf16(out2 + i + half, v * c + u * s);
        }
    }
}

static __global__ void __launch_bounds__(QKR_WARPS * COSMOS_WARP)
    qk_norm_rope_kernel(cosmos_bf16 *x, const cosmos_bf16 *w, const float *cos_tab, const float *sin_tab, int64_t rows,
                        int64_t H, int64_t Dh, float eps, int64_t pos0, const int64_t *d_pos) {
    const int64_t r = (int64_t)blockIdx.x * QKR_WARPS + threadIdx.x / COSMOS_WARP;
    if (r >= rows) return; /* whole warps leave together */
    if (d_pos) pos0 = *d_pos;
    const int64_t half = Dh / 2, t = r / H;
    qk_norm_rope_row(x + r * Dh, NULL, w, cos_tab + (pos0 + t) * half, sin_tab + (pos0 + t) * half, Dh, eps);
}

/* The decode step's attention inputs in one launch (cosmos_op_qkv_rope_store): warp r < T*H takes
 * query row r, the next T*Hkv warps the key rows (also written to the cache row of their token), the
 * last T*Hkv the value rows (copied to the cache). q [T, H, Dh], k, v [T, Hkv, Dh] (each contiguous),
 * kc, vc [S, Hkv, Dh]: key row r (token r / Hkv) goes to cache row pos0 * Hkv + r. */
static __global__ void __launch_bounds__(QKR_WARPS * COSMOS_WARP)
    qkv_rope_store_kernel(cosmos_bf16 *q, cosmos_bf16 *k, const cosmos_bf16 *v, const cosmos_bf16 *qw,
                          const cosmos_bf16 *kw, const float *cos_tab, const float *sin_tab, cosmos_bf16 *kc,
                          cosmos_bf16 *vc, int64_t T, int64_t H, int64_t Hkv, int64_t Dh, float eps, int64_t pos0,
                          const int64_t *d_pos) {
    int64_t r = (int64_t)blockIdx.x * QKR_WARPS + threadIdx.x / COSMOS_WARP;
    if (r >= T * (H + 2 * Hkv)) return; /* whole warps leave together */
    if (d_pos) pos0 = *d_pos;
    const int64_t half = Dh / 2;
    if (r < T * H) {
        const int64_t p = pos0 + r / H;
        qk_norm_rope_row(q + r * Dh, NULL, qw, cos_tab + p * half, sin_tab + p * half, Dh, eps);
        return;
    }
    r -= T * H;
    if (r < T * Hkv) {
        const int64_t p = pos0 + r / Hkv;
        qk_norm_rope_row(k + r * Dh, kc + (pos0 * Hkv + r) * Dh, kw, cos_tab + p * half, sin_tab + p * half, Dh, eps);
        return;
    }
    r -= T * Hkv;
    const cosmos_bf16 *src = v + r * Dh;
    cosmos_bf16 *dst = vc + (pos0 * Hkv + r) * Dh;
    for (int64_t i = threadIdx.x % COSMOS_WARP; i < Dh; i += COSMOS_WARP) dst[i] = src[i];
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

extern "C" cosmos_status cosmos_cuda_qkv_rope_store(cosmos_bf16 *q, cosmos_bf16 *k, const cosmos_bf16 *v,
                                                    const cosmos_bf16 *qw, const cosmos_bf16 *kw, const float *cos_tab,
                                                    const float *sin_tab, cosmos_bf16 *kc, cosmos_bf16 *vc, int64_t T,
                                                    int64_t H, int64_t Hkv, int64_t Dh, float eps, int64_t pos0,
                                                    const int64_t *d_pos, cudaStream_t stream) {
    const int64_t rows = T * (H + 2 * Hkv);
    if (rows <= 0 || Dh <= 0) return COSMOS_OK;
    if (Dh % 2 || Dh > 2 * COSMOS_WARP * QKR_MAX_PAIRS) return COSMOS_ERR_UNSUPPORTED;
    const int64_t blocks = (rows + QKR_WARPS - 1) / QKR_WARPS;
    if (blocks > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    COSMOS_LAUNCH((unsigned)blocks, QKR_WARPS * COSMOS_WARP, 0, stream, qkv_rope_store_kernel)
    (q, k, v, qw, kw, cos_tab, sin_tab, kc, vc, T, H, Hkv, Dh, eps, pos0, d_pos);
    return CUDA_LAUNCH_STATUS("qkv_rope_store_kernel");
}
