/* CPU RMSNorm with an f32 weight (T5LayerNorm, spec components.md 3.4): y = w * (x * rsqrt(mean(x^2)
 * + eps)); no mean subtraction, no bias, the mean of squares in f32. */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_ops_t5.h"

void cosmos_cpu_rmsnorm_f32w(float *y, const float *x, const float *w, int64_t rows, int64_t D, float eps) {
#pragma omp parallel for schedule(static) if (rows * D > 4096)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        const float inv = cosmos_cpu_rms_inv(xr, D, eps);
        for (int64_t i = 0; i < D; i++) yr[i] = w[i] * (xr[i] * inv);
    }
}
