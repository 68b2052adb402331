/* CPU LayerNorm (no affine) + AdaLN modulation of the DiT (spec components.md 4.4 steps 6-7):
 * y = LN(x) * (1 + scale) + shift per row, LN = (x - mean) / sqrt(var + eps) with the biased
 * variance, as nn.LayerNorm(elementwise_affine=False, eps=1e-6). Mean and variance are two passes
 * over the row accumulated in double, so the result does not depend on the row's offset from 0. */
#include <math.h>

#include "kernels/cpu/cpu_ops_dit.h"

void cosmos_cpu_layernorm_modulate(float *y, const float *x, const float *shift, const float *scale, int64_t rows,
                                   int64_t D, float eps) {
#pragma omp parallel for schedule(static) if (rows * D > 16384)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        double sum = 0.0;
        for (int64_t i = 0; i < D; i++) sum += xr[i];
        const double mean = sum / (double)D;
        double ss = 0.0;
        for (int64_t i = 0; i < D; i++) {
            const double d = xr[i] - mean;
            ss += d * d;
        }
        const float m = (float)mean, inv = (float)(1.0 / sqrt(ss / (double)D + (double)eps));
        for (int64_t i = 0; i < D; i++) yr[i] = ((xr[i] - m) * inv) * (1.0f + scale[i]) + shift[i];
    }
}
