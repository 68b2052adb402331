/* CPU GroupNorm with one group, per frame (the tokenizer's CausalNormalize with num_groups=1,
 * spec components.md 2.5): for x [C,T,H,W] and each frame t, mean and (biased) variance over all
 * C*H*W values of that frame, then y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c].
 * Statistics in double, two passes. gamma/beta f32 or bf16. y may alias x. */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"

static float param_at(const void *p, enum cosmos_dtype dt, int64_t i) {
    return dt == COSMOS_BF16 ? cosmos_bf16_to_f32(((const cosmos_bf16 *)p)[i]) : ((const float *)p)[i];
}

void cosmos_cpu_groupnorm_frames(float *y, const float *x, const void *gamma, const void *beta,
                                 enum cosmos_dtype param_dtype, int64_t C, int64_t T, int64_t HW, float eps) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t t = 0; t < T; t++) {
        double sum = 0.0;
        for (int64_t c = 0; c < C; c++) {
            const float *xr = x + (c * T + t) * HW;
            for (int64_t i = 0; i < HW; i++) sum += xr[i];
        }
        const double n = (double)C * (double)HW, mean = sum / n;
        double ss = 0.0;
        for (int64_t c = 0; c < C; c++) {
            const float *xr = x + (c * T + t) * HW;
            for (int64_t i = 0; i < HW; i++) {
                double d = xr[i] - mean;
                ss += d * d;
            }
        }
        const float rstd = (float)(1.0 / sqrt(ss / n + (double)eps)), m = (float)mean;
        for (int64_t c = 0; c < C; c++) {
            const float *xr = x + (c * T + t) * HW;
            float *yr = y + (c * T + t) * HW;
            const float ga = param_at(gamma, param_dtype, c), be = param_at(beta, param_dtype, c);
            for (int64_t i = 0; i < HW; i++) yr[i] = (xr[i] - m) * rstd * ga + be;
        }
    }
}
