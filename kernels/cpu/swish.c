/* CPU swish (the tokenizer's nonlinearity, spec components.md 2.5): y = x * sigmoid(x). */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"

void cosmos_cpu_swish(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v * (1.0f / (1.0f + expf(-v)));
    }
}
