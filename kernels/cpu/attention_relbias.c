/* CPU attention with an additive relative-position bias and no causal mask (the T5 encoder's
 * self-attention, spec components.md 3.4): per head, scores = scale * Q K^T (sgemm over strided
 * head views), + rel_bias[h, s - t + T - 1], softmax over keys in f32, out = P V (sgemm).
 * Padding keys are not masked here: the caller passes only the real keys (masked keys get weight
 * exactly 0 in the official softmax, so dropping them is the same computation). */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_ops_t5.h"
#include "kernels/cpu/cpu_sgemm.h"

cosmos_status cosmos_cpu_attention_relbias(float *out, const float *q, const float *k, const float *v,
                                           const float *rel_bias, int64_t T, int64_t S, int64_t H, int64_t Dh,
                                           float scale) {
    const int64_t ld = H * Dh; /* row stride of q, k, v, out */
    float *p = malloc(sizeof(float) * (size_t)(T * S));
    if (!p) return COSMOS_ERR_NOMEM;
    for (int64_t h = 0; h < H; h++) {
        /* p[T,S] = scale * q_h . k_h^T */
        cosmos_cpu_sgemm(0, 1, (int)T, (int)S, (int)Dh, scale, q + h * Dh, (int)ld,
                    k + h * Dh, (int)ld, 0.0f, p, (int)S);
        const float *bias = rel_bias + h * (T + S - 1);
#pragma omp parallel for schedule(static) if (T * S > 16384)
        for (int64_t t = 0; t < T; t++) {
            float *row = p + t * S;
            const float *b = bias + (T - 1 - t); /* b[s] = rel_bias[h, s - t + T - 1] */
            float mx = -INFINITY;
            for (int64_t s = 0; s < S; s++) {
                row[s] += b[s];
                mx = row[s] > mx ? row[s] : mx;
            }
            float sum = 0.0f;
            for (int64_t s = 0; s < S; s++) {
                row[s] = expf(row[s] - mx);
                sum += row[s];
            }
            const float inv = 1.0f / sum;
            for (int64_t s = 0; s < S; s++) row[s] *= inv;
        }
        /* out_h[T,Dh] = p . v_h */
        cosmos_cpu_sgemm(0, 0, (int)T, (int)Dh, (int)S, 1.0f, p, (int)S, v + h * Dh,
                    (int)ld, 0.0f, out + h * Dh, (int)ld);
    }
    free(p);
    return COSMOS_OK;
}
