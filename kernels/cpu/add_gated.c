/* CPU gated residual of the DiT blocks (spec components.md 4.4 step 6): x = x + gate * F(...),
 * gate a per-channel vector [D] from the AdaLN modulation, shared by all rows. */
#include "kernels/cpu/cpu_ops_dit.h"

void cosmos_cpu_add_gated(float *y, const float *a, const float *b, const float *gate, int64_t rows, int64_t D) {
#pragma omp parallel for schedule(static) if (rows * D > 65536)
    for (int64_t r = 0; r < rows; r++) {
        const float *ar = a + r * D, *br = b + r * D;
        float *yr = y + r * D;
#pragma omp simd
        for (int64_t i = 0; i < D; i++) yr[i] = ar[i] + gate[i] * br[i];
    }
}
