/* CPU scaled dot-product attention with GQA, the oracle for prefill, decode and cross-attention
 * (spec ar-model.md 1.3 steps 5-6 and section 3). A query at position p attends keys [0, p] only:
 * the rest of the cache is never read (the official code masks the whole window; the result is the
 * same). Softmax in f32 with max subtraction; K/V may be f32 or bf16.
 * The rep = H/Hkv query heads that share a KV head are processed together, so each K and V row is
 * read once per group. Work items are (query token, key block) over all KV heads: prefill has
 * enough tokens to keep every thread busy with whole key ranges; decode (one token) splits the keys
 * into blocks whose partial softmax states (max, sum, unnormalised output) are merged at the end,
 * so every thread streams a contiguous part of the cache (flash-decoding's split, on the CPU). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"

/* Row j of a [S, Hkv, Dh] cache for KV head g, widened to f32 in buf when stored as bf16. */
static inline const float *kv_row(const void *base, enum cosmos_dtype dt, int64_t j, int64_t g, int64_t Hkv,
                                  int64_t Dh, float *buf) {
    const int64_t off = (j * Hkv + g) * Dh;
    if (dt == COSMOS_F32) return (const float *)base + off;
    cosmos_bf16_to_f32_n(buf, (const cosmos_bf16 *)base + off, (size_t)Dh);
    return buf;
}

/* Partial attention of the rep query heads qg [rep, Dh] over keys [j0, j1) of KV head g:
 * m[r] = max score, l[r] = sum of exp(score - m[r]), acc[r, Dh] = sum of exp(score - m[r]) * v.
 * p is scratch of rep * (j1 - j0) floats, row a scratch row of Dh floats. */
static void attend_range(const float *qg, const void *k, const void *v, enum cosmos_dtype dt, int64_t g,
                         int64_t Hkv, int64_t Dh, int64_t rep, int64_t j0, int64_t j1, float scale, float *p,
                         float *row, float *m, float *l, float *acc) {
    const int64_t n = j1 - j0;
    for (int64_t r = 0; r < rep; r++) m[r] = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        const float *kr = kv_row(k, dt, j0 + j, g, Hkv, Dh, row);
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
                p[(r + i) * n + j] = sc[i];
                if (sc[i] > m[r + i]) m[r + i] = sc[i];
            }
        }
        for (; r < rep; r++) {
            const float *qv = qg + r * Dh;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int64_t d = 0; d < Dh; d++) s += qv[d] * kr[d];
            s *= scale;
            p[r * n + j] = s;
            if (s > m[r]) m[r] = s;
        }
    }
    for (int64_t r = 0; r < rep; r++) {
        float sum = 0.0f;
        float *pr = p + r * n;
        for (int64_t j = 0; j < n; j++) {
            pr[j] = expf(pr[j] - m[r]);
            sum += pr[j];
        }
        l[r] = sum;
    }
    memset(acc, 0, sizeof(float) * (size_t)(rep * Dh));
    int64_t j = 0;
    if (dt == COSMOS_F32) { /* four keys per pass: a quarter of the loads/stores of acc */
        for (; j + 4 <= n; j += 4) {
            const float *v0 = (const float *)v + ((j0 + j) * Hkv + g) * Dh, *v1 = v0 + Hkv * Dh;
            const float *v2 = v1 + Hkv * Dh, *v3 = v2 + Hkv * Dh;
            for (int64_t r = 0; r < rep; r++) {
                const float *pr = p + r * n + j;
                const float p0 = pr[0], p1 = pr[1], p2 = pr[2], p3 = pr[3];
                float *o = acc + r * Dh;
#pragma omp simd
                for (int64_t d = 0; d < Dh; d++) o[d] += (p0 * v0[d] + p1 * v1[d]) + (p2 * v2[d] + p3 * v3[d]);
            }
        }
    }
    for (; j < n; j++) {
        const float *vr = kv_row(v, dt, j0 + j, g, Hkv, Dh, row);
        for (int64_t r = 0; r < rep; r++) {
            const float pj = p[r * n + j];
            float *o = acc + r * Dh;
#pragma omp simd
            for (int64_t d = 0; d < Dh; d++) o[d] += pj * vr[d];
        }
    }
}

#define MIN_KEYS_PER_BLOCK 256

cosmos_status cosmos_cpu_attention(float *out, const float *q, const void *k, const void *v,
                                   enum cosmos_dtype kv_dtype, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                   int64_t S, int64_t pos0, int causal) {
    const int64_t rep = H / Hkv;
    const float scale = 1.0f / sqrtf((float)Dh);
    /* Work items are (token, key block), each over every KV group, so a thread streams contiguous
     * cache rows [j0, j1) x [Hkv, Dh]. Keys are split only when there are fewer tokens than threads. */
    const int64_t n_threads = omp_get_max_threads(), items = T * Hkv;
    const int64_t max_keys = causal ? pos0 + T : S;
    int64_t n_blocks = T >= n_threads ? 1 : (n_threads * 2 + T - 1) / T;
    if (n_blocks > max_keys / MIN_KEYS_PER_BLOCK) n_blocks = max_keys / MIN_KEYS_PER_BLOCK;
    if (n_blocks < 1) n_blocks = 1;
    /* partial states [items * n_blocks][rep] and outputs [.][rep * Dh] */
    float *pm = malloc(sizeof(float) * (size_t)(items * n_blocks * rep));
    float *pl = malloc(sizeof(float) * (size_t)(items * n_blocks * rep));
    float *pacc = malloc(sizeof(float) * (size_t)(items * n_blocks * rep * Dh));
    int failed = !pm || !pl || !pacc;
    if (!failed) {
#pragma omp parallel
        {
            const int64_t bs_max = (max_keys + n_blocks - 1) / n_blocks;
            float *p = malloc(sizeof(float) * (size_t)(bs_max * rep));
            float *row = malloc(sizeof(float) * (size_t)Dh);
            if (!p || !row) {
#pragma omp atomic write
                failed = 1;
            }
#pragma omp for collapse(2) schedule(dynamic, 1)
            for (int64_t t = 0; t < T; t++) {
                for (int64_t b = 0; b < n_blocks; b++) {
                    for (int64_t g = 0; g < Hkv; g++) {
                        if (!p || !row) continue;
                        const int64_t n_keys = causal ? pos0 + t + 1 : S;
                        const int64_t bs = (n_keys + n_blocks - 1) / n_blocks;
                        const int64_t j0 = b * bs < n_keys ? b * bs : n_keys;
                        const int64_t j1 = j0 + bs < n_keys ? j0 + bs : n_keys;
                        const int64_t it = ((t * Hkv + g) * n_blocks + b);
                        float *m = pm + it * rep, *l = pl + it * rep, *acc = pacc + it * rep * Dh;
                        if (j0 == j1) { /* an empty block contributes nothing */
                            for (int64_t r = 0; r < rep; r++) {
                                m[r] = -INFINITY;
                                l[r] = 0.0f;
                            }
                            continue;
                        }
                        attend_range(q + (t * H + g * rep) * Dh, k, v, kv_dtype, g, Hkv, Dh, rep, j0, j1, scale, p,
                                     row, m, l, acc);
                    }
                }
            }
            free(p);
            free(row);
        }
    }
    if (!failed) { /* merge the blocks of each (token, group, head) */
#pragma omp parallel for collapse(2) schedule(static) if (items * rep > 64)
        for (int64_t tg = 0; tg < items; tg++) {
            for (int64_t r = 0; r < rep; r++) {
                float mx = -INFINITY;
                for (int64_t b = 0; b < n_blocks; b++) mx = fmaxf(mx, pm[(tg * n_blocks + b) * rep + r]);
                float sum = 0.0f;
                float *o = out + (tg * rep + r) * Dh; /* (t, g*rep + r) = t*H + g*rep + r */
                for (int64_t d = 0; d < Dh; d++) o[d] = 0.0f;
                for (int64_t b = 0; b < n_blocks; b++) {
                    const int64_t it = tg * n_blocks + b;
                    if (pl[it * rep + r] == 0.0f) continue;
                    const float w = expf(pm[it * rep + r] - mx);
                    sum += w * pl[it * rep + r];
                    const float *a = pacc + (it * rep + r) * Dh;
                    for (int64_t d = 0; d < Dh; d++) o[d] += w * a[d];
                }
                const float inv = 1.0f / sum;
                for (int64_t d = 0; d < Dh; d++) o[d] *= inv;
            }
        }
    }
    free(pm);
    free(pl);
    free(pacc);
    return failed ? COSMOS_ERR_NOMEM : COSMOS_OK;
}
