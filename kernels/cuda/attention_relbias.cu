/* CUDA attention with an additive relative-position bias and no mask, the T5 encoder's
 * self-attention (spec components.md 3.4: scores = q.k^T with no 1/sqrt(d), + position bias,
 * softmax in f32); the counterpart of cosmos_cpu_attention_relbias (kernels/cpu/attention_relbias.c),
 * contract cosmos_op_attention_relbias (core/backend.h). f32 throughout, as the official fp32 T5.
 * q, out [T, H, Dh]; k, v [S, H, Dh] (rows of H*Dh floats); rel_bias [H, T+S-1]:
 * score(h, t, s) = scale * q[t,h].k[s,h] + rel_bias[h, s - t + T - 1].
 * Grid [ceil(T / RB_QPB), H]: a block holds RB_QPB queries of one head, one per warp, and walks the
 * keys in tiles of 32: the block stages the tile's K (rows padded to Dh+1 floats: lane j reading
 * key j's row is free of bank conflicts) and V in shared memory; lane j scores key j of the tile
 * (the dot product in channel order, the query row in shared memory); an online softmax (running
 * max and sum, the accumulators rescaled when the max grows) keeps the output row in registers,
 * lane l holding channels l, l+32, ... (Dh <= 256). The CPU op does two passes over a scores
 * matrix; the two differ by rounding only. Shared memory: (32 * (2 Dh + 1) + RB_QPB * (Dh + 32))
 * floats (37 KiB at Dh = 128), past 48 KiB through cudaFuncSetAttribute up to the device's opt-in
 * limit. Warps past the last query run along (the barriers need every thread) and store nothing. */
#include "kernels/cuda/common.cuh"

#define RB_QPB 8 /* queries (warps) per block */
#define RB_KT 32 /* keys per tile: one per lane */
#define RB_MAXD 256

static __global__ void attention_relbias_kernel(float *out, const float *q, const float *k, const float *v,
                                                const float *rel_bias, int64_t T, int64_t S, int64_t H, int64_t Dh,
                                                float scale) {
    COSMOS_DYN_SHARED(float, sh);
    float *ks = sh;                          /* [RB_KT][Dh + 1] */
    float *vs = ks + RB_KT * (Dh + 1);       /* [RB_KT][Dh] */
    float *qs = vs + RB_KT * Dh;             /* [RB_QPB][Dh] */
    float *ps = qs + RB_QPB * Dh;            /* [RB_QPB][RB_KT] */
    const int lane = threadIdx.x % COSMOS_WARP, wid = threadIdx.x / COSMOS_WARP;
    const int64_t h = blockIdx.y, ld = H * Dh;
    const int64_t t_raw = (int64_t)blockIdx.x * RB_QPB + wid;
    const bool valid = t_raw < T;
    const int64_t t = valid ? t_raw : T - 1;
    const float *bias = rel_bias + h * (T + S - 1) + (T - 1 - t); /* bias[s] = rel_bias[h, s - t + T - 1] */
    float *qw = qs + wid * Dh, *pw = ps + wid * RB_KT;
    for (int64_t d = lane; d < Dh; d += COSMOS_WARP) qw[d] = q[t * ld + h * Dh + d];
    float acc[RB_MAXD / COSMOS_WARP];
#pragma unroll
    for (int i = 0; i < RB_MAXD / COSMOS_WARP; i++) acc[i] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int64_t s0 = 0; s0 < S; s0 += RB_KT) {
        const int64_t nk = S - s0 < RB_KT ? S - s0 : RB_KT;
        __syncthreads(); /* the previous tile is no longer read (and qw is written, the first time) */
        for (int64_t i = threadIdx.x; i < RB_KT * Dh; i += blockDim.x) {
            const int64_t j = i / Dh, d = i % Dh;
            const bool in = j < nk;
            ks[j * (Dh + 1) + d] = in ? k[(s0 + j) * ld + h * Dh + d] : 0.0f;
            vs[j * Dh + d] = in ? v[(s0 + j) * ld + h * Dh + d] : 0.0f;
        }
        __syncthreads();
        float sc = -INFINITY;
        if (lane < nk) {
            const float *kr = ks + lane * (Dh + 1);
            float dot = 0.0f;
            for (int64_t d = 0; d < Dh; d++) dot += qw[d] * kr[d];
            sc = scale * dot + bias[s0 + lane];
        }
        const float m_new = fmaxf(m, warp_max(sc)); /* finite: the tile has a key */
        const float corr = expf(m - m_new);         /* 0 on the first tile (m = -inf) */
        const float p = lane < nk ? expf(sc - m_new) : 0.0f;
        l = l * corr + warp_sum(p);
        m = m_new;
        pw[lane] = p;
        __syncthreads(); /* every lane's p visible to its warp */
#pragma unroll
        for (int i = 0; i < RB_MAXD / COSMOS_WARP; i++) {
            const int64_t d = lane + (int64_t)i * COSMOS_WARP;
            if (d < Dh) {
                float a = acc[i] * corr;
                for (int64_t j = 0; j < nk; j++) a += pw[j] * vs[j * Dh + d];
                acc[i] = a;
            }
        }
    }
    if (!valid) return;
    const float inv = 1.0f / l;
#pragma unroll
    for (int i = 0; i < RB_MAXD / COSMOS_WARP; i++) {
        const int64_t d = lane + (int64_t)i * COSMOS_WARP;
        if (d < Dh) out[t * ld + h * Dh + d] = acc[i] * inv;
    }
}

extern "C" cosmos_status cosmos_cuda_attention_relbias(float *out, const float *q, const float *k, const float *v,
                                                       const float *rel_bias, int64_t T, int64_t S, int64_t H,
                                                       int64_t Dh, float scale, cudaStream_t stream) {
    if (T <= 0 || H <= 0 || Dh <= 0) return COSMOS_OK;
    if (S <= 0 || Dh > RB_MAXD || H > 65535 || (T + RB_QPB - 1) / RB_QPB > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    const size_t smem = sizeof(float) * (size_t)(RB_KT * (2 * Dh + 1) + RB_QPB * (Dh + RB_KT));
    const cosmos_status st = cosmos_cuda_smem_optin(attention_relbias_kernel, smem);
    if (st != COSMOS_OK) return st;
    const dim3 grid((unsigned)((T + RB_QPB - 1) / RB_QPB), (unsigned)H);
    COSMOS_LAUNCH(grid, RB_QPB * COSMOS_WARP, smem, stream, attention_relbias_kernel)
    (out, q, k, v, rel_bias, T, S, H, Dh, scale);
    return CUDA_LAUNCH_STATUS("attention_relbias_kernel");
}
