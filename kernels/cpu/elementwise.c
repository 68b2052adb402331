/* CPU elementwise ops: embedding gather (zero rows for ids outside the table: vocab shards), add (f32 or bf16 right operand, e.g. the bf16-valued APE
 * table), SwiGLU's silu(a)*b. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"

void cosmos_cpu_embedding(float *y, const cosmos_bf16 *table, int64_t V, const int32_t *ids, int64_t T, int64_t D) {
    for (int64_t t = 0; t < T; t++) {
        if (ids[t] >= 0 && ids[t] < V)
            cosmos_bf16_to_f32_n(y + t * D, table + (int64_t)ids[t] * D, (size_t)D);
        else
            memset(y + t * D, 0, sizeof(float) * (size_t)D);
    }
}

void cosmos_cpu_add(float *y, const float *a, const void *b, enum cosmos_dtype b_dtype, int64_t n) {
    if (b_dtype == COSMOS_BF16) {
        const cosmos_bf16 *bb = b;
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) y[i] = a[i] + cosmos_bf16_to_f32(bb[i]);
    } else {
        const float *bf = b;
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) y[i] = a[i] + bf[i];
    }
}

void cosmos_cpu_silu_mul(float *y, const float *a, const float *b, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = a[i];
        y[i] = (v / (1.0f + expf(-v))) * b[i];
    }
}
