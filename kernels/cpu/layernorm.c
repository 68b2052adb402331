/* CPU LayerNorm with an affine weight and bias (nn.LayerNorm, the SigLIP vision tower's pre-LN,
 * post-LN and pooling-head norms, spec components.md 5.4): per row of D values, mean and biased
 * variance in double, y = (float)((x - mean) / sqrt(var + eps)) * w + b. And the per-row bias add
 * of a Linear with bias (y[r] += b). f32 rows [rows, D], row-parallel; y may equal x. */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"

void cosmos_cpu_layernorm(float *y, const float *x, const float *w, const float *b, int64_t rows, int64_t D,
                          double eps) {
#pragma omp parallel for schedule(static) if (rows >= 16)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < D; i++) mean += xr[i];
        mean /= (double)D;
        for (int64_t i = 0; i < D; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= (double)D;
        const double rstd = 1.0 / sqrt(var + eps);
        for (int64_t i = 0; i < D; i++) yr[i] = (float)((xr[i] - mean) * rstd) * w[i] + b[i];
    }
}

void cosmos_cpu_add_bias(float *y, const float *b, int64_t rows, int64_t D) {
#pragma omp parallel for schedule(static) if (rows * D >= 65536)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < D; i++) y[r * D + i] += b[i];
}
