/* CPU finite scalar quantization of the DV tokenizer (spec components.md 2.7), for any levels
 * L_d (DV8x16x16: [8,8,8,5,5,5], basis [1,8,64,512,2560,12800], vocab 64000). Per position n of
 * z [D, N] (channel-major, as the encoder's [6,T,H,W] output), in f32 as the official module:
 *   half_l = (L-1) * 1.001 / 2, offset = 0.5 if L even else 0, shift = atanh(offset / half_l),
 *   q = round_half_even(tanh(z + shift) * half_l - offset), hw = L / 2 (integer division),
 *   (tanh evaluated in double and rounded to f32, as close to PyTorch's f32 tanh as we can get),
 *   code = q / hw, digit = q + hw, index = sum_d digit_d * basis_d, basis = cumprod([1] + L[:-1]).
 * Compiled with -ffp-contract=off (CMakeLists.txt): a fused t*half_l-offset moves ~3% of the
 * values near a rounding boundary to the other index.
 * Dequantize: digit_d = (index / basis_d) mod L_d, code = (digit - hw) / hw. */
#include <math.h>

#include "core/log.h"
#include "kernels/cpu/cpu_ops.h"

void cosmos_cpu_fsq_quantize(int32_t *indices, float *codes, const float *z, const int *levels, int D, int64_t N) {
    float half_l[COSMOS_FSQ_MAX_LEVELS], offset[COSMOS_FSQ_MAX_LEVELS], shift[COSMOS_FSQ_MAX_LEVELS];
    int hw[COSMOS_FSQ_MAX_LEVELS];
    int64_t basis[COSMOS_FSQ_MAX_LEVELS];
    for (int d = 0; d < D; d++) {
        half_l[d] = (float)(levels[d] - 1) * 1.001f / 2.0f;
        offset[d] = (levels[d] % 2 == 0) ? 0.5f : 0.0f;
        shift[d] = atanhf(offset[d] / half_l[d]);
        hw[d] = levels[d] / 2;
        basis[d] = d == 0 ? 1 : basis[d - 1] * levels[d - 1];
    }
#pragma omp parallel for schedule(static) if (N > 4096)
    for (int64_t n = 0; n < N; n++) {
        int64_t index = 0;
        for (int d = 0; d < D; d++) {
            /* tanh in double, rounded once: within an ulp of PyTorch's f32 tanh where glibc's tanhf is
             * 1 ulp off for a third of the inputs near the rounding boundaries */
            float t = (float)tanh((double)(z[d * N + n] + shift[d]));
            float bounded = t * half_l[d] - offset[d];
            float q = nearbyintf(bounded); /* FE_TONEAREST: ties to even, as torch.round */
            codes[d * N + n] = q / (float)hw[d];
            index += (int64_t)((int)q + hw[d]) * basis[d];
        }
        indices[n] = (int32_t)index;
    }
}

cosmos_status cosmos_cpu_fsq_dequantize(float *codes, const int32_t *indices, const int *levels, int D, int64_t N) {
    int64_t basis[COSMOS_FSQ_MAX_LEVELS], vocab = 1;
    for (int d = 0; d < D; d++) {
        basis[d] = vocab;
        vocab *= levels[d];
    }
    int64_t bad = -1;
#pragma omp parallel for schedule(static) if (N > 4096)
    for (int64_t n = 0; n < N; n++) {
        int64_t idx = indices[n];
        if (idx < 0 || idx >= vocab) {
#pragma omp critical
            bad = n;
            continue;
        }
        for (int d = 0; d < D; d++) {
            int hw = levels[d] / 2;
            int digit = (int)((idx / basis[d]) % levels[d]);
            codes[d * N + n] = (float)(digit - hw) / (float)hw;
        }
    }
    if (bad >= 0) {
        LOG_ERROR("fsq_dequantize: index %d at position %lld is outside [0, %lld)", indices[bad], (long long)bad,
                  (long long)vocab);
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}
