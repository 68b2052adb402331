/* f32 GEMM for every CPU kernel and host model (kernels/cpu/sgemm.c): row-major
 *   C[M,N] = alpha * op(A)[M,K] . op(B)[K,N] + beta * C
 * with cblas_sgemm's arguments (op = transpose when trans_*; lda/ldb/ldc are the stored row
 * strides), split over the OpenMP threads by columns or rows of C, OpenBLAS single-threaded inside.
 * Called inside an OpenMP parallel region, or for a small product, it is one sgemm on the calling
 * thread. Each element of C is computed as by one whole cblas_sgemm call. */
#ifndef COSMOS_CPU_SGEMM_H
#define COSMOS_CPU_SGEMM_H

#include <stdint.h>

void cosmos_cpu_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* Holds OpenBLAS to one thread (once per process; cosmos_cpu_sgemm does it on its first call). Code
 * that times or calls OpenBLAS outside cosmos_cpu_sgemm calls it first. */
void cosmos_cpu_blas_single_threaded(void);

#endif
