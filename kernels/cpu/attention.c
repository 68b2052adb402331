/* CPU scaled dot-product attention with GQA, the oracle for prefill, decode and cross-attention
 * (spec ar-model.md 1.3 steps 5-6 and section 3). A query at position p attends keys [0, p] only:
 * the rest of the cache is never read (the official code masks the whole window; the result is the
 * same). Softmax in f32 with max subtraction; K/V may be f32 or bf16.
 * Work items are (query token, key block), each over all H query heads. Prefill has enough tokens
 * to keep every thread busy with whole key ranges; decode (one token) splits the keys into blocks
 * whose partial softmax states (max, sum, unnormalised output) are merged at the end, so every
 * thread streams its own part of the cache (flash-decoding's split, on the CPU).
 * Inside a block, two passes over the cache rows [Hkv, Dh], each in row order: a row is contiguous,
 * so reading it whole, for every head, before the next one makes the block one sequential stream
 * (rows are software-prefetched a few rows ahead: the hardware prefetchers stop at each 4 KB page,
 * where a decode step otherwise waits on DRAM). Pass 1: scores of all heads (tiles of 4 heads x 2
 * keys, eight independent FMA chains); then exp(score - max), vectorised (cosmos_vexpf_nonpos,
 * kernels/cpu/vexpf.h); pass 2: the weighted V sum (eight rows per pass over a head's output).
 * Results differ from a naive loop only by float reassociation and the exp's rounding (1 ulp). */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vexpf.h"

/* A decode block has at least this many keys (the merge costs a few Dh-vectors per block). */
#define MIN_KEYS_PER_BLOCK 256
/* Keys per chunk: a bf16 cache is widened to f32 one chunk of rows at a time. */
#define KEY_CHUNK 64
/* How far ahead of use the f32 cache rows are prefetched. */
#define PREFETCH_ROWS 8
/* Width of the partial sums of a dot product: the compiler keeps each in one vector register. */
#define LANES 8

float cosmos_cpu_attn_expf(float x) { return cosmos_vexpf_nonpos(x); }

static void prefetch(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 64 / (int64_t)sizeof(float)) __builtin_prefetch(x + i, 0, 0);
}

/* s[0..3] = q_r . k0 and s[4..7] = q_r . k1 for four heads q_r (rows of q, stride Dh) and two keys:
 * eight independent sums of LANES lanes each (the compiler keeps each in a vector register). */
static void dot_4x2(float s[8], const float *restrict q, const float *restrict k0, const float *restrict k1,
                    int64_t Dh) {
    const float *q0 = q, *q1 = q0 + Dh, *q2 = q1 + Dh, *q3 = q2 + Dh;
    float a0[LANES] = {0}, a1[LANES] = {0}, a2[LANES] = {0}, a3[LANES] = {0};
    float b0[LANES] = {0}, b1[LANES] = {0}, b2[LANES] = {0}, b3[LANES] = {0};
    int64_t d = 0;
    for (; d + LANES <= Dh; d += LANES)
        for (int i = 0; i < LANES; i++) {
            const float x = k0[d + i], y = k1[d + i];
            a0[i] += q0[d + i] * x;
            a1[i] += q1[d + i] * x;
            a2[i] += q2[d + i] * x;
            a3[i] += q3[d + i] * x;
            b0[i] += q0[d + i] * y;
            b1[i] += q1[d + i] * y;
            b2[i] += q2[d + i] * y;
            b3[i] += q3[d + i] * y;
        }
    for (; d < Dh; d++) {
        a0[0] += q0[d] * k0[d];
        a1[0] += q1[d] * k0[d];
        a2[0] += q2[d] * k0[d];
        a3[0] += q3[d] * k0[d];
        b0[0] += q0[d] * k1[d];
        b1[0] += q1[d] * k1[d];
        b2[0] += q2[d] * k1[d];
        b3[0] += q3[d] * k1[d];
    }
    for (int i = 0; i < 8; i++) s[i] = 0.0f;
    for (int i = 0; i < LANES; i++) {
        s[0] += a0[i];
        s[1] += a1[i];
        s[2] += a2[i];
        s[3] += a3[i];
        s[4] += b0[i];
        s[5] += b1[i];
        s[6] += b2[i];
        s[7] += b3[i];
    }
}

static float dot(const float *restrict a, const float *restrict b, int64_t Dh) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t d = 0; d < Dh; d++) s += a[d] * b[d];
    return s;
}

/* p[h * ldp + j] = scale * q_h . k_j[h / rep] for the H heads q [H, Dh] and n cache rows
 * k [n, Hkv, Dh], in row order: each pair of rows for every head before the next pair.
 * n_pf > 0: prefetch rows up to n_pf (those after k that this block will read). */
static void scores_rows(float *restrict p, int64_t ldp, const float *restrict q, const float *restrict k, int64_t n,
                        int64_t n_pf, int64_t H, int64_t Hkv, int64_t Dh, float scale) {
    const int64_t rep = H / Hkv, row = Hkv * Dh;
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) {
        const float *k0 = k + j * row, *k1 = k0 + row;
        if (j + PREFETCH_ROWS + 2 <= n_pf) prefetch(k0 + PREFETCH_ROWS * row, 2 * row);
        for (int64_t g = 0; g < Hkv; g++) {
            int64_t h = g * rep;
            for (; h + 4 <= (g + 1) * rep; h += 4) {
                float s[8];
                dot_4x2(s, q + h * Dh, k0 + g * Dh, k1 + g * Dh, Dh);
                for (int i = 0; i < 4; i++) {
                    p[(h + i) * ldp + j] = s[i] * scale;
                    p[(h + i) * ldp + j + 1] = s[4 + i] * scale;
                }
            }
            for (; h < (g + 1) * rep; h++) { /* heads left over (rep not a multiple of 4) */
                p[h * ldp + j] = dot(q + h * Dh, k0 + g * Dh, Dh) * scale;
                p[h * ldp + j + 1] = dot(q + h * Dh, k1 + g * Dh, Dh) * scale;
            }
        }
    }
    for (; j < n; j++)
        for (int64_t h = 0; h < H; h++) p[h * ldp + j] = dot(q + h * Dh, k + j * row + h / rep * Dh, Dh) * scale;
}

/* acc[h, Dh] += sum_j p[h * ldp + j] * v_j[h / rep] for the H heads over n cache rows
 * v [n, Hkv, Dh], in row order: eight rows at a time for every head (one load and store of a head's
 * output per eight FMAs; the eight rows stay in L1 across the heads). n_pf as in scores_rows. */
static void weighted_sum_rows(float *restrict acc, const float *restrict p, int64_t ldp, const float *restrict v,
                              int64_t n, int64_t n_pf, int64_t H, int64_t Hkv, int64_t Dh) {
    const int64_t rep = H / Hkv, row = Hkv * Dh;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        if (j + PREFETCH_ROWS + 8 <= n_pf) prefetch(v + (j + PREFETCH_ROWS) * row, 8 * row);
        for (int64_t h = 0; h < H; h++) {
            const float *v0 = v + j * row + h / rep * Dh, *v1 = v0 + row, *v2 = v1 + row, *v3 = v2 + row;
            const float *v4 = v3 + row, *v5 = v4 + row, *v6 = v5 + row, *v7 = v6 + row;
            const float *w = p + h * ldp + j;
            const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7];
            float *restrict o = acc + h * Dh;
#pragma omp simd
            for (int64_t d = 0; d < Dh; d++)
                o[d] += ((w0 * v0[d] + w1 * v1[d]) + (w2 * v2[d] + w3 * v3[d])) +
                        ((w4 * v4[d] + w5 * v5[d]) + (w6 * v6[d] + w7 * v7[d]));
        }
    }
    for (; j < n; j++)
        for (int64_t h = 0; h < H; h++) {
            const float *vj = v + j * row + h / rep * Dh;
            const float pj = p[h * ldp + j];
            float *restrict o = acc + h * Dh;
#pragma omp simd
            for (int64_t d = 0; d < Dh; d++) o[d] += pj * vj[d];
        }
}

/* Rows [j0, j0 + n) of a [S, Hkv, Dh] cache as f32: the cache itself, or buf widened from bf16. */
static const float *kv_rows(const void *base, enum cosmos_dtype dt, int64_t j0, int64_t n, int64_t row,
                            float *buf) {
    if (dt == COSMOS_F32) return (const float *)base + j0 * row;
    cosmos_bf16_to_f32_n(buf, (const cosmos_bf16 *)base + j0 * row, (size_t)(n * row));
    return buf;
}

/* Partial attention of the H query heads qt [H, Dh] of one token over keys [j0, j1):
 * m[h] = max score, l[h] = sum of exp(score - m[h]), acc[h, Dh] = sum of exp(score - m[h]) * v.
 * p: scratch of H * (j1 - j0) floats; buf: KEY_CHUNK * Hkv * Dh floats (bf16 caches only). */
static void attend_block(const float *qt, const void *k, const void *v, enum cosmos_dtype dt, int64_t H,
                         int64_t Hkv, int64_t Dh, int64_t j0, int64_t j1, float scale, float *p, float *buf,
                         float *m, float *l, float *acc) {
    const int64_t n = j1 - j0, row = Hkv * Dh;
    for (int64_t c = 0; c < n; c += KEY_CHUNK) { /* pass 1: scores */
        const int64_t nc = n - c < KEY_CHUNK ? n - c : KEY_CHUNK;
        const float *kc = kv_rows(k, dt, j0 + c, nc, row, buf);
        scores_rows(p + c, n, qt, kc, nc, dt == COSMOS_F32 ? n - c : 0, H, Hkv, Dh, scale);
    }
    for (int64_t h = 0; h < H; h++) /* softmax numerators */
        l[h] = cosmos_softmax_numerators(p + h * n, n, &m[h]);
    memset(acc, 0, sizeof(float) * (size_t)(H * Dh));
    for (int64_t c = 0; c < n; c += KEY_CHUNK) { /* pass 2: weighted V sum */
        const int64_t nc = n - c < KEY_CHUNK ? n - c : KEY_CHUNK;
        const float *vc = kv_rows(v, dt, j0 + c, nc, row, buf);
        weighted_sum_rows(acc, p + c, n, vc, nc, dt == COSMOS_F32 ? n - c : 0, H, Hkv, Dh);
    }
}

cosmos_status cosmos_cpu_attention(float *out, const float *q, const void *k, const void *v,
                                   enum cosmos_dtype kv_dtype, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                   int64_t S, int64_t pos0, int causal) {
    if (T >= COSMOS_CPU_ATTN_GEMM_MIN_T && (causal ? pos0 + T : S) >= 1) /* a chunk: products by sgemm */
        return cosmos_cpu_attention_gemm(out, q, k, v, kv_dtype, T, H, Hkv, Dh, S, pos0, causal);
    const float scale = 1.0f / sqrtf((float)Dh);
    /* Keys are split only when there are fewer tokens than threads. */
    const int64_t n_threads = omp_get_max_threads();
    const int64_t max_keys = causal ? pos0 + T : S;
    int64_t n_blocks = T >= n_threads ? 1 : (n_threads * 2 + T - 1) / T;
    if (n_blocks > max_keys / MIN_KEYS_PER_BLOCK) n_blocks = max_keys / MIN_KEYS_PER_BLOCK;
    if (n_blocks < 1) n_blocks = 1;
    const int64_t items = T * n_blocks;
    /* partial states of the items: maxima and sums [items, H], outputs [items, H, Dh] */
    float *pm = malloc(sizeof(float) * (size_t)(items * H));
    float *pl = malloc(sizeof(float) * (size_t)(items * H));
    float *pacc = malloc(sizeof(float) * (size_t)(items * H * Dh));
    int failed = !pm || !pl || !pacc;
    if (!failed) {
#pragma omp parallel
        {
            const int64_t bs_max = (max_keys + n_blocks - 1) / n_blocks;
            float *p = malloc(sizeof(float) * (size_t)(bs_max * H));
            float *buf = kv_dtype == COSMOS_F32 ? NULL : malloc(sizeof(float) * (size_t)(KEY_CHUNK * Hkv * Dh));
            const int ok = p && (kv_dtype == COSMOS_F32 || buf);
            if (!ok) {
#pragma omp atomic write
                failed = 1;
            }
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < items; it++) {
                if (!ok) continue;
                const int64_t t = it / n_blocks, b = it % n_blocks;
                const int64_t n_keys = causal ? pos0 + t + 1 : S;
                const int64_t bs = (n_keys + n_blocks - 1) / n_blocks;
                const int64_t j0 = b * bs < n_keys ? b * bs : n_keys;
                const int64_t j1 = j0 + bs < n_keys ? j0 + bs : n_keys;
                float *m = pm + it * H, *l = pl + it * H, *acc = pacc + it * H * Dh;
                if (j0 == j1) { /* an empty block contributes nothing */
                    for (int64_t h = 0; h < H; h++) {
                        m[h] = -INFINITY;
                        l[h] = 0.0f;
                    }
                    continue;
                }
                attend_block(q + t * H * Dh, k, v, kv_dtype, H, Hkv, Dh, j0, j1, scale, p, buf, m, l, acc);
            }
            free(p);
            free(buf);
        }
    }
    if (!failed) { /* merge the blocks of each (token, head) */
#pragma omp parallel for collapse(2) schedule(static) if (T * H > 64)
        for (int64_t t = 0; t < T; t++) {
            for (int64_t h = 0; h < H; h++) {
                float mx = -INFINITY;
                for (int64_t b = 0; b < n_blocks; b++) mx = fmaxf(mx, pm[(t * n_blocks + b) * H + h]);
                float sum = 0.0f;
                float *o = out + (t * H + h) * Dh;
                for (int64_t d = 0; d < Dh; d++) o[d] = 0.0f;
                for (int64_t b = 0; b < n_blocks; b++) {
                    const int64_t it = t * n_blocks + b;
                    if (pl[it * H + h] == 0.0f) continue;
                    const float w = expf(pm[it * H + h] - mx);
                    sum += w * pl[it * H + h];
                    const float *a = pacc + (it * H + h) * Dh;
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
