/* The one f32 GEMM of the CPU code (see cpu_sgemm.h): OpenBLAS sgemm on slices of the product, one
 * slice per OpenMP thread, OpenBLAS itself held to one thread.
 *
 * Why: Debian's default OpenBLAS keeps its own pthread pool, and libgomp's threads spin for a while
 * after every OpenMP region. Each GEMM that followed an OpenMP region (a bf16 -> f32 widening, an
 * im2col, a norm) ran with two pools fighting for the cores; on the 2-core CI box that made the
 * GEMM-bound phases two to three times slower (docs/benchmarks.md "One thread pool"). With every
 * thread an OpenMP thread there is no second pool to fight.
 *
 * The slices are whole columns (or whole rows) of C and big enough for OpenBLAS's regular kernels,
 * so every element of C is the same dot product, reduced over K in the same order, as in one sgemm
 * call: results do not depend on the thread count (tests/unit/test_kernels.c checks it bit for bit
 * on the shapes it tries, with Debian 12's OpenBLAS 0.3.21). */
#include "kernels/cpu/cpu_sgemm.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void one_blas_thread(void) { openblas_set_num_threads(1); }

void cosmos_cpu_blas_single_threaded(void) { pthread_once(&g_once, one_blas_thread); }

/* Multiply-adds of the smallest slice worth a thread of its own. Also above OpenBLAS's small-matrix
 * kernels (used below 10^6 multiply-adds on x86-64 since 0.3.17), which reduce over K in another
 * order: a product and its slices then go through the same kernels and give the same bits. */
#define SLICE_MIN_MACS (1 << 21)

void cosmos_cpu_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    cosmos_cpu_blas_single_threaded();
    const enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    if (M <= 0 || N <= 0) return;
    const int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nt <= 1 || M * N * K / nt < SLICE_MIN_MACS) {
        cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
    /* split the longer side of C, in chunks that keep the kernels' tiles whole */
    const int by_cols = N >= M;
    const int64_t len = by_cols ? N : M, align = by_cols ? 16 : 8;
    int64_t chunk = (len + nt - 1) / nt;
    chunk = (chunk + align - 1) / align * align;
    const int64_t n_chunks = (len + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t o = c * chunk, cnt = len - o < chunk ? len - o : chunk;
        if (by_cols) /* C[:, o:o+cnt] = A . B[:, o:o+cnt] (B^T: rows o.. of the stored [N, K]) */
            cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)cnt, (int)K, alpha, A, (int)lda,
                        trans_b ? B + o * ldb : B + o, (int)ldb, beta, C + o, (int)ldc);
        else /* C[o:o+cnt, :] = A[o:o+cnt, :] . B (A^T: columns o.. of the stored [K, M]) */
            cblas_sgemm(CblasRowMajor, ta, tb, (int)cnt, (int)N, (int)K, alpha, trans_a ? A + o : A + o * lda,
                        (int)lda, B, (int)ldb, beta, C + o * ldc, (int)ldc);
    }
}
