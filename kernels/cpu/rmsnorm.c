/* CPU RMSNorm (spec ar-model.md 1.3): y = x * rsqrt(mean(x^2) + eps), then * weight.
 * Row-wise over the last dim; also used for QK-norm by viewing q as [T*H, Dh]. */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"

void cosmos_cpu_rmsnorm(float *y, const float *x, const cosmos_bf16 *w, int64_t rows, int64_t D, float eps) {
#pragma omp parallel for schedule(static) if (rows * D > 4096)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        const float inv = cosmos_cpu_rms_inv(xr, D, eps);
        for (int64_t i = 0; i < D; i++) yr[i] = (xr[i] * inv) * cosmos_bf16_to_f32(w[i]);
    }
}
