/* CPU scaled dot-product attention for many queries at once (prefill chunks, cross-attention of a
 * chunk): the same contract as cosmos_cpu_attention (spec ar-model.md 1.3 steps 5-6 and section 3;
 * out, q [T, H, Dh]; k, v [S, Hkv, Dh] f32 or bf16; query t sees keys [0, pos0 + t] when causal, all
 * S otherwise), computed with OpenBLAS sgemm instead of dot products. The per-token kernel in
 * attention.c is built for decode, where reading the cache is the cost; with a chunk of queries the
 * same cache rows serve every query and the products are the cost: for a 128-token chunk of
 * LlamaGuard-7b at position 1872 it ran at 15 GFLOP/s against an sgemm rate near 200.
 *
 * Work items are (query head, block of up to QB queries), one per thread at a time, each with its
 * own scratch; the sgemms inside run single-threaded (kernels/cpu/sgemm.c), so results do not
 * depend on the thread count. For a block of queries [t0, t1) of head h (KV head g = h / (H/Hkv)):
 *   S = scale * Q[t0:t1, h] . K[0:n_all, g]^T            (sgemm; n_all = pos0 + t1 causal, else S)
 *   per row: softmax over its own keys [0, lim) (max subtraction, the vectorised exp of vexpf.h, or
 *            expf when a score is NaN or infinite, as attention.c does)
 *   O[t0:t1, h] = P[:, 0:n_common] . V[0:n_common, g]       (sgemm; n_common = pos0 + t0 + 1, the keys
 *                                                           every row of the block sees)
 *   per row: O += P[j] V[j] for its keys n_common <= j < lim (the block's causal triangle)
 * so no row reads the value of a key it must not see (0 x NaN would be NaN), and no query reads a
 * cache row beyond pos0 + t1 (its K only as a score the mask then drops, never beyond pos0 + T).
 * Results differ from attention.c's kernel by float reassociation only (tests/unit/test_kernels.c
 * compares both with a double-precision naive loop). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "core/log.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_sgemm.h"
#include "kernels/cpu/vexpf.h"

#define QB 64                             /* queries per work item */
#define SCORE_BUDGET ((int64_t)4 << 20)   /* floats of one item's score block (16 MB) */

/* Keys [0, n) of KV head g of a [S, Hkv, Dh] cache as f32 rows of stride ld: the cache itself
 * (ld = Hkv*Dh), or buf [n, Dh] widened from bf16 (ld = Dh) unless *buf_g says it holds head g. */
static const float *kv_head(const void *base, enum cosmos_dtype dt, int64_t g, int64_t n, int64_t Hkv, int64_t Dh,
                            float *buf, int64_t *buf_g, int64_t *ld) {
    if (dt == COSMOS_F32) {
        *ld = Hkv * Dh;
        return (const float *)base + g * Dh;
    }
    if (*buf_g != g) {
        const cosmos_bf16 *b = (const cosmos_bf16 *)base;
        for (int64_t j = 0; j < n; j++)
            for (int64_t d = 0; d < Dh; d++) buf[j * Dh + d] = cosmos_bf16_to_f32(b[(j * Hkv + g) * Dh + d]);
        *buf_g = g;
    }
    *ld = Dh;
    return buf;
}

/* p[0..lim) = softmax(p[0..lim)) in place. */
static void softmax_row(float *p, int64_t lim) {
    float mx;
    const float inv = 1.0f / cosmos_softmax_numerators(p, lim, &mx);
#pragma omp simd
    for (int64_t j = 0; j < lim; j++) p[j] *= inv;
}

cosmos_status cosmos_cpu_attention_gemm(float *out, const float *q, const void *k, const void *v,
                                        enum cosmos_dtype kv_dtype, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                        int64_t S, int64_t pos0, int causal) {
    const float scale = 1.0f / sqrtf((float)Dh);
    const int64_t rep = H / Hkv, max_keys = causal ? pos0 + T : S;
    int64_t qb = QB;
    while (qb > 1 && qb * max_keys > SCORE_BUDGET) qb /= 2;
    const int64_t n_qb = (T + qb - 1) / qb, items = H * n_qb;
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        float *s = malloc(sizeof(float) * (size_t)(qb * max_keys));
        float *kb = kv_dtype == COSMOS_F32 ? NULL : malloc(sizeof(float) * (size_t)(max_keys * Dh));
        float *vb = kv_dtype == COSMOS_F32 ? NULL : malloc(sizeof(float) * (size_t)(max_keys * Dh));
        const int ok = s && (kv_dtype == COSMOS_F32 || (kb && vb));
        int64_t kb_g = -1, vb_g = -1; /* the KV head widened into kb, vb (all max_keys rows) */
        failed |= !ok;
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            if (!ok) continue;
            /* a head's items are neighbours in this order: a thread mostly keeps its widened KV head */
            const int64_t h = it / n_qb, b = it % n_qb, g = h / rep;
            const int64_t t0 = b * qb, t1 = t0 + qb < T ? t0 + qb : T, nq = t1 - t0;
            const int64_t n_all = causal ? pos0 + t1 : S, n_common = causal ? pos0 + t0 + 1 : S;
            int64_t ldk, ldv;
            const float *kg = kv_head(k, kv_dtype, g, max_keys, Hkv, Dh, kb, &kb_g, &ldk);
            const float *vg = kv_head(v, kv_dtype, g, max_keys, Hkv, Dh, vb, &vb_g, &ldv);
            cosmos_cpu_sgemm(0, 1, nq, n_all, Dh, scale, q + (t0 * H + h) * Dh, H * Dh, kg, ldk, 0.0f, s, n_all);
            for (int64_t r = 0; r < nq; r++) softmax_row(s + r * n_all, causal ? pos0 + t0 + r + 1 : S);
            float *o = out + (t0 * H + h) * Dh;
            cosmos_cpu_sgemm(0, 0, nq, Dh, n_common, 1.0f, s, n_all, vg, ldv, 0.0f, o, H * Dh);
            /* the causal triangle: row r's keys n_common .. n_common + r - 1 */
            for (int64_t r = 1; causal && r < nq; r++) {
                const float *p = s + r * n_all;
                float *orow = o + r * H * Dh;
                for (int64_t j = n_common; j < n_common + r; j++) {
                    const float *vj = vg + j * ldv, pj = p[j];
#pragma omp simd
                    for (int64_t d = 0; d < Dh; d++) orow[d] += pj * vj[d];
                }
            }
        }
        free(s);
        free(kb);
        free(vb);
    }
    if (failed) {
        LOG_ERROR("attention: cannot allocate scratch (%lld queries of %lld heads over %lld keys)", (long long)T,
                  (long long)H, (long long)max_keys);
        return COSMOS_ERR_NOMEM;
    }
    return COSMOS_OK;
}
