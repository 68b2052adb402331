/* CPU scaled dot-product attention with GQA, the oracle for prefill, decode and cross-attention
 * (spec ar-model.md 1.3 steps 5-6 and section 3). A query at position p attends keys [0, p] only:
 * the rest of the cache is never read (the official code masks the whole window; the result is the
 * same). Softmax in f32 with max subtraction; K/V may be f32 or bf16.
 * Work is split by (query token, KV head): the rep = H/Hkv query heads that share a KV head are
 * processed together, so each K and V row is read once per group, not once per query head (at long
 * positions decode is bound by reading the cache). */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_ops.h"

/* Row j of a [S, Hkv, Dh] cache for KV head g, widened to f32 in buf when stored as bf16. */
static inline const float *kv_row(const void *base, enum cosmos_dtype dt, int64_t j, int64_t g, int64_t Hkv,
                                  int64_t Dh, float *buf) {
    const int64_t off = (j * Hkv + g) * Dh;
    if (dt == COSMOS_F32) return (const float *)base + off;
    cosmos_bf16_to_f32_n(buf, (const cosmos_bf16 *)base + off, (size_t)Dh);
    return buf;
}

cosmos_status cosmos_cpu_attention(float *out, const float *q, const void *k, const void *v,
                                   enum cosmos_dtype kv_dtype, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                   int64_t S, int64_t pos0, int causal) {
    const int64_t rep = H / Hkv;
    const float scale = 1.0f / sqrtf((float)Dh);
    int failed = 0;
#pragma omp parallel
    {
        float *p = malloc(sizeof(float) * (size_t)(S * rep)); /* scores [rep, S] */
        float *row = malloc(sizeof(float) * (size_t)Dh);
        if (!p || !row) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t t = 0; t < T; t++) {
            for (int64_t g = 0; g < Hkv; g++) {
                if (!p || !row) continue;
                const int64_t n_keys = causal ? pos0 + t + 1 : S;
                const float *qg = q + (t * H + g * rep) * Dh; /* rep consecutive query heads */
                float mx[rep];
                for (int64_t r = 0; r < rep; r++) mx[r] = -INFINITY;
                for (int64_t j = 0; j < n_keys; j++) {
                    const float *kr = kv_row(k, kv_dtype, j, g, Hkv, Dh, row);
                    int64_t r = 0;
                    for (; r + 4 <= rep; r += 4) { /* four heads per pass: independent FMA chains */
                        const float *q0 = qg + r * Dh, *q1 = q0 + Dh, *q2 = q1 + Dh, *q3 = q2 + Dh;
                        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
                        for (int64_t d = 0; d < Dh; d++) {
                            const float kd = kr[d];
                            s0 += q0[d] * kd;
                            s1 += q1[d] * kd;
                            s2 += q2[d] * kd;
                            s3 += q3[d] * kd;
                        }
                        const float sc[4] = {s0 * scale, s1 * scale, s2 * scale, s3 * scale};
                        for (int i = 0; i < 4; i++) {
                            p[(r + i) * S + j] = sc[i];
                            if (sc[i] > mx[r + i]) mx[r + i] = sc[i];
                        }
                    }
                    for (; r < rep; r++) {
                        const float *qv = qg + r * Dh;
                        float s = 0.0f;
#pragma omp simd reduction(+ : s)
                        for (int64_t d = 0; d < Dh; d++) s += qv[d] * kr[d];
                        s *= scale;
                        p[r * S + j] = s;
                        if (s > mx[r]) mx[r] = s;
                    }
                }
                float inv[rep];
                for (int64_t r = 0; r < rep; r++) {
                    float sum = 0.0f;
                    float *pr = p + r * S;
                    for (int64_t j = 0; j < n_keys; j++) {
                        pr[j] = expf(pr[j] - mx[r]);
                        sum += pr[j];
                    }
                    inv[r] = 1.0f / sum;
                }
                float *og = out + (t * H + g * rep) * Dh;
                for (int64_t i = 0; i < rep * Dh; i++) og[i] = 0.0f;
                int64_t j = 0;
                if (kv_dtype == COSMOS_F32) { /* four keys per pass: a quarter of the loads/stores of o */
                    for (; j + 4 <= n_keys; j += 4) {
                        const float *v0 = (const float *)v + (j * Hkv + g) * Dh, *v1 = v0 + Hkv * Dh;
                        const float *v2 = v1 + Hkv * Dh, *v3 = v2 + Hkv * Dh;
                        for (int64_t r = 0; r < rep; r++) {
                            const float *pr = p + r * S + j;
                            const float p0 = pr[0] * inv[r], p1 = pr[1] * inv[r], p2 = pr[2] * inv[r],
                                        p3 = pr[3] * inv[r];
                            float *o = og + r * Dh;
#pragma omp simd
                            for (int64_t d = 0; d < Dh; d++) o[d] += (p0 * v0[d] + p1 * v1[d]) + (p2 * v2[d] + p3 * v3[d]);
                        }
                    }
                }
                for (; j < n_keys; j++) {
                    const float *vr = kv_row(v, kv_dtype, j, g, Hkv, Dh, row);
                    for (int64_t r = 0; r < rep; r++) {
                        const float pj = p[r * S + j] * inv[r];
                        float *o = og + r * Dh;
#pragma omp simd
                        for (int64_t d = 0; d < Dh; d++) o[d] += pj * vr[d];
                    }
                }
            }
        }
        free(p);
        free(row);
    }
    return failed ? COSMOS_ERR_NOMEM : COSMOS_OK;
}
