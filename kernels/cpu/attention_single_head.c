/* CPU single-head attention of the DV tokenizer (spec components.md 2.5, AttnBlock: one head of
 * width C, scale 1/sqrt(C)), on the tokenizer's own [C, T, HW] activations: no transposes. For a
 * query q and its keys k_j: s_j = (q . k_j) * scale; P_j = exp(s_j - max s) / sum exp(s - max s)
 * (softmax in f32 with max subtraction, as the PyTorch reference); o = sum_j P_j v_j.
 * - spatial: per frame, the HW tokens attend each other (no mask). Two OpenBLAS sgemms per block
 *   of query rows, S = Q^T K then O = V P^T, read straight from the [C, T, HW] layout (a frame is
 *   a [C, HW] matrix with row stride T*HW); the score block [rows, HW] stays under ~64 MB. The
 *   generic GQA op (attention.c) does per-query dot products, several times slower per FLOP.
 * - temporal: per position, causal over frames (query t is frame S-Tq+t of the keys and attends
 *   keys [0, S-Tq+t]; masked keys are skipped, which equals the reference's -inf mask). Only a
 *   handful of frames: plain loops vectorised over positions, in fixed-size position blocks.
 * The formula is the reference's, step for step in f32; results differ from it (and from the
 * GQA op) only by rounding order: the sgemms sum the dot products in their own order (tested
 * within 1e-5 of a double evaluation, test_dv_ops). Every value is computed by the same arithmetic
 * whatever the clip length and the number of query frames per call: a spatial frame is the same
 * sgemm calls on the same [C, HW] values (only the row stride differs), and a temporal (query,
 * key, position) sums over channels in order in its own vector lane, in position blocks that do
 * not depend on Tq, S or the thread count. So a streamed decoder (one frame per call, keys from its
 * cache) gives bitwise the values of the whole-clip decode. */
#include <math.h>
#include <stdlib.h>


#include "core/log.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_sgemm.h"

#define SCORE_BUDGET_FLOATS ((int64_t)16 << 20) /* 64 MB of spatial scores per block of query rows */
#define POS_BLOCK 64                            /* temporal: positions per work item (vector lanes) */

/* Rows [0, n) of s [n, L] in place: s = softmax(s * scale) per row. */
static void softmax_rows(float *s, int64_t n, int64_t L, float scale) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float *r = s + i * L, m = -INFINITY, sum = 0.0f;
        for (int64_t j = 0; j < L; j++) {
            r[j] *= scale;
            if (r[j] > m) m = r[j];
        }
        for (int64_t j = 0; j < L; j++) {
            r[j] = expf(r[j] - m);
            sum += r[j];
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < L; j++) r[j] *= inv;
    }
}

static cosmos_status spatial(float *o, const float *q, const float *k, const float *v, int64_t C, int64_t T,
                             int64_t HW, float scale) {
    int64_t rows = SCORE_BUDGET_FLOATS / HW;
    if (rows < 1) rows = 1;
    if (rows > HW) rows = HW;
    float *s = malloc(sizeof(float) * (size_t)(rows * HW));
    if (!s) {
        LOG_ERROR("attention_1h: cannot allocate a %lld x %lld score block", (long long)rows, (long long)HW);
        return COSMOS_ERR_NOMEM;
    }
    const int ld = (int)(T * HW); /* row stride of a frame's [C, HW] matrix */
    for (int64_t t = 0; t < T; t++) {
        const float *qt = q + t * HW, *kt = k + t * HW, *vt = v + t * HW;
        for (int64_t i0 = 0; i0 < HW; i0 += rows) {
            const int64_t n = HW - i0 < rows ? HW - i0 : rows;
            /* s [n, HW] = Q[:, i0:i0+n]^T K */
            cosmos_cpu_sgemm(1, 0, (int)n, (int)HW, (int)C, 1.0f, qt + i0, ld, kt, ld,
                        0.0f, s, (int)HW);
            softmax_rows(s, n, HW, scale);
            /* o[:, i0:i0+n] [C, n] = V s^T */
            cosmos_cpu_sgemm(0, 1, (int)C, (int)n, (int)HW, 1.0f, vt, ld, s, (int)HW,
                        0.0f, o + t * HW + i0, ld);
        }
    }
    free(s);
    return COSMOS_OK;
}

static cosmos_status temporal(float *o, const float *q, const float *k, const float *v, int64_t C, int64_t Tq,
                              int64_t S, int64_t HW, float scale) {
    const int64_t n_blocks = (HW + POS_BLOCK - 1) / POS_BLOCK;
    int failed = 0;
#pragma omp parallel
    {
        /* p [S][POS_BLOCK]: scores, then probabilities, of the keys of one query frame */
        float *p = malloc(sizeof(float) * (size_t)(S * POS_BLOCK));
        if (!p) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int64_t b = 0; b < n_blocks; b++) {
            if (!p) continue;
            const int64_t p0 = b * POS_BLOCK, np = HW - p0 < POS_BLOCK ? HW - p0 : POS_BLOCK;
            for (int64_t t = 0; t < Tq; t++) {
                const int64_t n_keys = S - Tq + t + 1;
                float m[POS_BLOCK], sum[POS_BLOCK];
                for (int64_t j = 0; j < n_keys; j++) {
                    float *pj = p + j * POS_BLOCK;
                    for (int64_t i = 0; i < np; i++) pj[i] = 0.0f;
                    for (int64_t c = 0; c < C; c++) {
                        const float *qc = q + (c * Tq + t) * HW + p0, *kc = k + (c * S + j) * HW + p0;
                        for (int64_t i = 0; i < np; i++) pj[i] += qc[i] * kc[i];
                    }
                }
                for (int64_t i = 0; i < np; i++) m[i] = -INFINITY, sum[i] = 0.0f;
                for (int64_t j = 0; j < n_keys; j++) {
                    float *pj = p + j * POS_BLOCK;
                    for (int64_t i = 0; i < np; i++) {
                        pj[i] *= scale;
                        if (pj[i] > m[i]) m[i] = pj[i];
                    }
                }
                for (int64_t j = 0; j < n_keys; j++) {
                    float *pj = p + j * POS_BLOCK;
                    for (int64_t i = 0; i < np; i++) {
                        pj[i] = expf(pj[i] - m[i]);
                        sum[i] += pj[i];
                    }
                }
                for (int64_t i = 0; i < np; i++) sum[i] = 1.0f / sum[i]; /* now the normaliser */
                for (int64_t j = 0; j < n_keys; j++)
                    for (int64_t i = 0; i < np; i++) p[j * POS_BLOCK + i] *= sum[i];
                for (int64_t c = 0; c < C; c++) {
                    float *oc = o + (c * Tq + t) * HW + p0, acc[POS_BLOCK];
                    for (int64_t i = 0; i < np; i++) acc[i] = 0.0f;
                    for (int64_t j = 0; j < n_keys; j++) {
                        const float *vc = v + (c * S + j) * HW + p0, *pj = p + j * POS_BLOCK;
                        for (int64_t i = 0; i < np; i++) acc[i] += pj[i] * vc[i];
                    }
                    for (int64_t i = 0; i < np; i++) oc[i] = acc[i];
                }
            }
        }
        free(p);
    }
    if (failed) {
        LOG_ERROR("attention_1h: cannot allocate per-thread scores for %lld keys", (long long)S);
        return COSMOS_ERR_NOMEM;
    }
    return COSMOS_OK;
}

cosmos_status cosmos_cpu_attention_1h(float *o, const float *q, const float *k, const float *v, int64_t C,
                                      int64_t Tq, int64_t S, int64_t HW, int temporal_attn) {
    const float scale = 1.0f / sqrtf((float)C);
    if (temporal_attn) return temporal(o, q, k, v, C, Tq, S, HW, scale);
    if (S != Tq) {
        LOG_ERROR("attention_1h: spatial attention needs as many key frames as query frames (%lld, %lld)",
                  (long long)S, (long long)Tq);
        return COSMOS_ERR_INTERNAL;
    }
    return spatial(o, q, k, v, C, Tq, HW, scale);
}
