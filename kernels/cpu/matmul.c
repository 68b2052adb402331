/* CPU matmul y[M,N] = x[M,K] . w[N,K]^T with bf16 weights and f32 activations (f32 accumulate).
 * M <= 4 (decode): each thread streams its share of weight rows once, converting bf16 on the fly;
 * this is memory-bound and must run near the copy bandwidth (benchmarks/ measure it).
 * M > 4 (prefill): blocks of weight rows are widened to f32 and multiplied with OpenBLAS sgemm.
 * With at least as many blocks as threads, each thread widens its own blocks into its own buffer
 * and multiplies them single-threaded: no barrier between the widening and the sgemm, and a block
 * is multiplied while it is still in the thread's cache. Otherwise the blocks are widened and
 * multiplied one after another, each product split over the threads (kernels/cpu/sgemm.c).
 * The blocks are the same either way and every block is multiplied by OpenBLAS's regular kernels
 * (at least 2^21 multiply-adds, or the whole product), whose sums over K do not depend on how the
 * columns are cut: the result is the same bits on any thread count (test_kernels checks it). */
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_sgemm.h"

#define GEMV_MAX_M 4
#define SGEMM_BLOCK_BYTES (8u << 20)
#define BLOCK_MIN_ROWS 64         /* narrower products run far below the sgemm rate (T5's K = 65536) */
#define BLOCK_MIN_MACS (1 << 21)  /* as kernels/cpu/sgemm.c's slices */

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

/* Weight rows per f32 block: about SGEMM_BLOCK_BYTES of f32, at least BLOCK_MIN_ROWS rows and
 * BLOCK_MIN_MACS multiply-adds, a multiple of 16, at most N. */
static int64_t block_rows(int64_t M, int64_t N, int64_t K) {
    int64_t nb = (int64_t)(SGEMM_BLOCK_BYTES / (sizeof(float) * (size_t)K));
    if (nb < BLOCK_MIN_ROWS) nb = BLOCK_MIN_ROWS;
    const int64_t for_macs = (BLOCK_MIN_MACS + M * K - 1) / (M * K);
    if (nb < for_macs) nb = for_macs;
    nb = (nb + 15) / 16 * 16;
    return nb < N ? nb : N;
}

cosmos_status cosmos_cpu_matmul(float *y, const float *x, const cosmos_bf16 *w, int64_t M, int64_t N, int64_t K) {
    if (M <= GEMV_MAX_M) {
        gemv_rows(y, x, w, M, N, K);
        return COSMOS_OK;
    }
    const int64_t nb = block_rows(M, N, K), n_blocks = (N + nb - 1) / nb;
    const int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nt > 1 && n_blocks >= nt) {
        int failed = 0;
#pragma omp parallel num_threads(nt) reduction(| : failed)
        {
            float *wf = malloc(sizeof(float) * (size_t)(nb * K));
            failed |= wf == NULL;
#pragma omp for schedule(dynamic, 1)
            for (int64_t b = 0; b < n_blocks; b++) {
                if (!wf) continue;
                const int64_t n0 = b * nb, cnt = N - n0 < nb ? N - n0 : nb;
                const cosmos_bf16 *src = w + n0 * K;
#pragma omp simd
                for (int64_t i = 0; i < cnt * K; i++) wf[i] = cosmos_bf16_to_f32(src[i]);
                cosmos_cpu_sgemm(0, 1, (int)M, (int)cnt, (int)K, 1.0f, x, (int)K, wf, (int)K, 0.0f, y + n0, (int)N);
            }
            free(wf);
        }
        return failed ? COSMOS_ERR_NOMEM : COSMOS_OK;
    }
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
