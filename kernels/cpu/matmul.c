/* CPU matmul y[M,N] = x[M,K] . w[N,K]^T with bf16 weights and f32 activations (f32 accumulate).
 * M <= 4 (decode): each thread streams its share of weight rows once, converting bf16 on the fly;
 * this is memory-bound and must run near the copy bandwidth (benchmarks/ measure it).
 * M > 4 (prefill): blocks of weight rows are widened to f32 and multiplied with OpenBLAS sgemm. */
#include <stdlib.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_sgemm.h"

#define GEMV_MAX_M 4
#define SGEMM_BLOCK_BYTES (8u << 20)

static void gemv_rows(float *y, const float *x, const cosmos_bf16 *w, int64_t M, int64_t N, int64_t K) {
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const cosmos_bf16 *wr = w + n * K;
        float acc[GEMV_MAX_M] = {0};
        for (int64_t m = 0; m < M; m++) {
            const float *xr = x + m * K;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int64_t k = 0; k < K; k++) s += cosmos_bf16_to_f32(wr[k]) * xr[k];
            acc[m] = s;
        }
        for (int64_t m = 0; m < M; m++) y[m * N + n] = acc[m];
    }
}

cosmos_status cosmos_cpu_matmul(float *y, const float *x, const cosmos_bf16 *w, int64_t M, int64_t N, int64_t K) {
    if (M <= GEMV_MAX_M) {
        gemv_rows(y, x, w, M, N, K);
        return COSMOS_OK;
    }
    int64_t nb = (int64_t)(SGEMM_BLOCK_BYTES / (sizeof(float) * (size_t)K));
    if (nb < 16) nb = 16;
    if (nb > N) nb = N;
    float *wf = malloc(sizeof(float) * (size_t)(nb * K));
    if (!wf) return COSMOS_ERR_NOMEM;
    for (int64_t n0 = 0; n0 < N; n0 += nb) {
        int64_t cnt = N - n0 < nb ? N - n0 : nb;
        cosmos_bf16_to_f32_n(wf, w + n0 * K, (size_t)(cnt * K));
        cosmos_cpu_sgemm(0, 1, (int)M, (int)cnt, (int)K, 1.0f, x, (int)K, wf, (int)K,
                    0.0f, y + n0, (int)N);
    }
    free(wf);
    return COSMOS_OK;
}
