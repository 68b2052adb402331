/* CUDA scaled dot-product attention with GQA (spec ar-model.md 1.3 steps 5-6 and section 3), the
 * counterpart of kernels/cpu/attention.c: query t at position pos0+t attends keys [0, pos0+t] when
 * causal, all S keys otherwise; query head h reads KV head h / (H/Hkv); scale 1/sqrt(Dh).
 * A straightforward correct kernel, not the fast one: one block per (token, head); keys stream
 * through shared memory in chunks of ATT_CHUNK with an online softmax (f32 running max, sum and
 * accumulator), so no S x S matrix exists. q/out bf16; K/V bf16 or f32. Flash-style prefill and
 * split-KV decode (issue 4) will replace it; this one is the GPU-side reference for them. */
#include <math.h>

#include "kernels/cuda/common.cuh"

#define ATT_THREADS 128
#define ATT_CHUNK 64

template <typename TKV>
static __global__ void attention_bf16_kernel(cosmos_bf16 *out, const cosmos_bf16 *q, const TKV *k, const TKV *v,
                                             int64_t H, int64_t Hkv, int64_t Dh, int64_t S, int64_t pos0,
                                             int causal, float scale) {
    extern __shared__ float smem[];
    float *qs = smem;        /* [Dh] this query, f32 */
    float *acc = qs + Dh;    /* [Dh] running sum of p_j v_j */
    float *ps = acc + Dh;    /* [ATT_CHUNK] scores, then probabilities, of the chunk */
    __shared__ float m_run, l_run, corr_s;
    const int64_t t = blockIdx.x / H, h = blockIdx.x % H, g = h / (H / Hkv);
    const int64_t n_keys = causal ? pos0 + t + 1 : S;
    const int lane = threadIdx.x % COSMOS_WARP, wid = threadIdx.x / COSMOS_WARP, nw = blockDim.x / COSMOS_WARP;
    const cosmos_bf16 *qr = q + (t * H + h) * Dh;
    for (int64_t d = threadIdx.x; d < Dh; d += blockDim.x) {
        qs[d] = ld_f32(qr + d);
        acc[d] = 0.0f;
    }
    if (threadIdx.x == 0) {
        m_run = -INFINITY;
        l_run = 0.0f;
    }
    __syncthreads();
    for (int64_t j0 = 0; j0 < n_keys; j0 += ATT_CHUNK) {
        const int cnt = (int)(n_keys - j0 < ATT_CHUNK ? n_keys - j0 : ATT_CHUNK);
        for (int jj = wid; jj < cnt; jj += nw) { /* one warp per key, lanes across Dh */
            const TKV *kr = k + ((j0 + jj) * Hkv + g) * Dh;
            float s = 0.0f;
            for (int64_t d = lane; d < Dh; d += COSMOS_WARP) s += qs[d] * ld_f32(kr + d);
            s = warp_sum(s);
            if (lane == 0) ps[jj] = s * scale;
        }
        __syncthreads();
        if (wid == 0) {
            const float m_old = m_run;
            float mx = -INFINITY;
            for (int jj = lane; jj < cnt; jj += COSMOS_WARP) mx = fmaxf(mx, ps[jj]);
            const float m_new = fmaxf(m_old, warp_max(mx));
            float sum = 0.0f;
            for (int jj = lane; jj < cnt; jj += COSMOS_WARP) {
                const float p = expf(ps[jj] - m_new);
                ps[jj] = p;
                sum += p;
            }
            sum = warp_sum(sum);
            if (lane == 0) {
                const float corr = expf(m_old - m_new); /* 0 on the first chunk (m_old = -inf) */
                l_run = l_run * corr + sum;
                m_run = m_new;
                corr_s = corr;
            }
        }
        __syncthreads();
        const float corr = corr_s;
        for (int64_t d = threadIdx.x; d < Dh; d += blockDim.x) {
            float a = acc[d] * corr;
            for (int jj = 0; jj < cnt; jj++) a += ps[jj] * ld_f32(v + ((j0 + jj) * Hkv + g) * Dh + d);
            acc[d] = a;
        }
        __syncthreads(); /* ps is rewritten by the next chunk */
    }
    const float inv = l_run > 0.0f ? 1.0f / l_run : 0.0f;
    cosmos_bf16 *orow = out + (t * H + h) * Dh;
    for (int64_t d = threadIdx.x; d < Dh; d += blockDim.x) st_bf16(orow + d, acc[d] * inv);
}

extern "C" cosmos_status cosmos_cuda_attention(cosmos_bf16 *out, const cosmos_bf16 *q, const void *k, const void *v,
                                               enum cosmos_dtype kv_dtype, int64_t T, int64_t H, int64_t Hkv,
                                               int64_t Dh, int64_t S, int64_t pos0, int causal,
                                               cudaStream_t stream) {
    if (T <= 0 || H <= 0 || Dh <= 0) return COSMOS_OK;
    if (T * H > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    const size_t smem = sizeof(float) * (size_t)(2 * Dh + ATT_CHUNK);
    if (smem > 48 * 1024) return COSMOS_ERR_UNSUPPORTED; /* Dh > ~6000: no such model */
    const float scale = 1.0f / sqrtf((float)Dh);
    const unsigned grid = (unsigned)(T * H);
    if (kv_dtype == COSMOS_BF16)
        attention_bf16_kernel<cosmos_bf16><<<grid, ATT_THREADS, smem, stream>>>(
            out, q, (const cosmos_bf16 *)k, (const cosmos_bf16 *)v, H, Hkv, Dh, S, pos0, causal, scale);
    else if (kv_dtype == COSMOS_F32)
        attention_bf16_kernel<float><<<grid, ATT_THREADS, smem, stream>>>(out, q, (const float *)k, (const float *)v,
                                                                         H, Hkv, Dh, S, pos0, causal, scale);
    else
        return COSMOS_ERR_UNSUPPORTED;
    return CUDA_LAUNCH_STATUS("attention_bf16_kernel");
}
