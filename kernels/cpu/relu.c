/* CPU ReLU, y = max(x, 0) (the T5 v1.0 feed-forward activation, spec components.md 3.4). */
#include "kernels/cpu/cpu_ops_t5.h"

void cosmos_cpu_relu(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
