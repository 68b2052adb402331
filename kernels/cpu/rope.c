/* CPU rotate-half RoPE (spec ar-model.md 2.1): pairs (i, i+Dh/2), not interleaved.
 * out[i] = x[i] cos - x[i+h] sin; out[i+h] = x[i+h] cos + x[i] sin, with the table row of the
 * token's absolute position. */
#include "kernels/cpu/cpu_ops.h"

void cosmos_cpu_rope(float *x, const float *cos_tab, const float *sin_tab, int64_t T, int64_t H, int64_t Dh,
                     int64_t pos0) {
    const int64_t half = Dh / 2;
#pragma omp parallel for collapse(2) schedule(static) if (T * H > 64)
    for (int64_t t = 0; t < T; t++) {
        for (int64_t h = 0; h < H; h++) {
            const float *c = cos_tab + (pos0 + t) * half;
            const float *s = sin_tab + (pos0 + t) * half;
            float *v = x + (t * H + h) * Dh;
            for (int64_t i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * c[i] - b * s[i];
                v[i + half] = b * c[i] + a * s[i];
            }
        }
    }
}
