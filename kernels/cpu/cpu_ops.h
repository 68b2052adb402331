/* Plain-C reference ops of the CPU backend (STYLE.md principle 1): the exact oracle every other
 * backend is measured against. Raw row-major pointers; activations f32, weights bf16.
 * All are synchronous and OpenMP-parallel; none allocates except attention's per-thread scratch. */
#ifndef COSMOS_CPU_OPS_H
#define COSMOS_CPU_OPS_H

#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"

/* y[M,N] = x[M,K] . w[N,K]^T. Small M uses a bf16 GEMV that streams w once (the decode path);
 * larger M converts blocks of w to f32 and calls OpenBLAS sgemm. */
cosmos_status cosmos_cpu_matmul(float *y, const float *x, const cosmos_bf16 *w, int64_t M, int64_t N, int64_t K);
/* rows x D: y = x * rsqrt(mean(x^2) + eps) * w. y may equal x. */
void cosmos_cpu_rmsnorm(float *y, const float *x, const cosmos_bf16 *w, int64_t rows, int64_t D, float eps);
/* x[T,H,Dh] in place; cos/sin [S, Dh/2] f32; token t uses row pos0+t. */
void cosmos_cpu_rope(float *x, const float *cos_tab, const float *sin_tab, int64_t T, int64_t H, int64_t Dh,
                     int64_t pos0);
/* y[t] = table[ids[t]] for ids in [0, V); other ids give a zero row (vocab-parallel shards). */
void cosmos_cpu_embedding(float *y, const cosmos_bf16 *table, int64_t V, const int32_t *ids, int64_t T, int64_t D);
void cosmos_cpu_add(float *y, const float *a, const void *b, enum cosmos_dtype b_dtype, int64_t n);
void cosmos_cpu_silu_mul(float *y, const float *a, const float *b, int64_t n);
/* out,q [T,H,Dh]; k,v [S,Hkv,Dh] as f32 or bf16 (kv_dtype). See cosmos_op_attention. */
cosmos_status cosmos_cpu_attention(float *out, const float *q, const void *k, const void *v,
                                   enum cosmos_dtype kv_dtype, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                   int64_t S, int64_t pos0, int causal);

#endif
