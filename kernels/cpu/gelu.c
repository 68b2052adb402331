/* CPU exact GELU of the DiT MLP (spec components.md 4.4 step 6, nn.GELU() default
 * approximate="none"): y = 0.5 x (1 + erf(x / sqrt(2))). */
#include <math.h>

#include "kernels/cpu/cpu_ops_dit.h"

void cosmos_cpu_gelu(float *y, const float *x, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}
