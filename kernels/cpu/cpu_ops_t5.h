/* Plain-C reference ops of the CPU backend used by the T5 encoder (spec components.md 3.4):
 * f32-weight matmul and RMSNorm, ReLU, and attention with a relative-position bias. Raw row-major
 * pointers, f32 throughout; synchronous and OpenMP/OpenBLAS-parallel. */
#ifndef COSMOS_CPU_OPS_T5_H
#define COSMOS_CPU_OPS_T5_H

#include <stdint.h>

#include "core/status.h"

/* y[M,N] = x[M,K] . w[N,K]^T, all f32 (OpenBLAS sgemm). */
void cosmos_cpu_matmul_f32w(float *y, const float *x, const float *w, int64_t M, int64_t N, int64_t K);
/* rows x D: y = x * rsqrt(mean(x^2) + eps) * w, w f32. y may equal x. */
void cosmos_cpu_rmsnorm_f32w(float *y, const float *x, const float *w, int64_t rows, int64_t D, float eps);
void cosmos_cpu_relu(float *y, const float *x, int64_t n);
/* out,q [T,H,Dh]; k,v [S,H,Dh]; rel_bias [H, T+S-1]. See cosmos_op_attention_relbias. */
cosmos_status cosmos_cpu_attention_relbias(float *out, const float *q, const float *k, const float *v,
                                           const float *rel_bias, int64_t T, int64_t S, int64_t H, int64_t Dh,
                                           float scale);

#endif
