/* CPU scaled dot-product attention with GQA, the oracle for prefill, decode and cross-attention
 * (spec ar-model.md 1.3 steps 5-6 and section 3). A query at position p attends keys [0, p] only:
 * the rest of the cache is never read (the official code masks the whole window; the result is the
 * same). Softmax in f32 with max subtraction; K/V may be f32 or bf16. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_ops.h"

static inline float kv_at(const void *base, enum cosmos_dtype dt, int64_t i) {
    return dt == COSMOS_BF16 ? cosmos_bf16_to_f32(((const cosmos_bf16 *)base)[i]) : ((const float *)base)[i];
}

cosmos_status cosmos_cpu_attention(float *out, const float *q, const void *k, const void *v,
                                   enum cosmos_dtype kv_dtype, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                   int64_t S, int64_t pos0, int causal) {
    const int64_t rep = H / Hkv;
    const float scale = 1.0f / sqrtf((float)Dh);
    int failed = 0;
#pragma omp parallel
    {
        float *p = malloc(sizeof(float) * (size_t)S);
        if (!p) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t t = 0; t < T; t++) {
            for (int64_t h = 0; h < H; h++) {
                if (!p) continue;
                const int64_t n_keys = causal ? pos0 + t + 1 : S;
                const int64_t kvh = h / rep;
                const float *qv = q + (t * H + h) * Dh;
                float mx = -INFINITY;
                for (int64_t j = 0; j < n_keys; j++) {
                    const int64_t base = (j * Hkv + kvh) * Dh;
                    float s = 0.0f;
                    if (kv_dtype == COSMOS_F32) {
                        const float *kr = (const float *)k + base;
#pragma omp simd reduction(+ : s)
                        for (int64_t d = 0; d < Dh; d++) s += qv[d] * kr[d];
                    } else {
                        for (int64_t d = 0; d < Dh; d++) s += qv[d] * kv_at(k, kv_dtype, base + d);
                    }
                    s *= scale;
                    p[j] = s;
                    if (s > mx) mx = s;
                }
                float sum = 0.0f;
                for (int64_t j = 0; j < n_keys; j++) {
                    p[j] = expf(p[j] - mx);
                    sum += p[j];
                }
                const float inv = 1.0f / sum;
                float *o = out + (t * H + h) * Dh;
                for (int64_t d = 0; d < Dh; d++) o[d] = 0.0f;
                for (int64_t j = 0; j < n_keys; j++) {
                    const float pj = p[j] * inv;
                    const int64_t base = (j * Hkv + kvh) * Dh;
                    if (kv_dtype == COSMOS_F32) {
                        const float *vr = (const float *)v + base;
#pragma omp simd
                        for (int64_t d = 0; d < Dh; d++) o[d] += pj * vr[d];
                    } else {
                        for (int64_t d = 0; d < Dh; d++) o[d] += pj * kv_at(v, kv_dtype, base + d);
                    }
                }
            }
        }
        free(p);
    }
    return failed ? COSMOS_ERR_NOMEM : COSMOS_OK;
}
