/* CPU frame moves of the tokenizers' decoders (spec components.md 2.5, 2.8): copying frame ranges
 * between [C,T,H,W] activations (the streaming caches, the temporal upsample's repeats, the
 * unpatcher's frame slicing) and the nearest 2x spatial upsample (cosmos_op_copy_frames,
 * cosmos_op_upsample_nearest2x, core/backend.h). f32; plain copies. */
#include <string.h>

#include "kernels/cpu/cpu_ops.h"

void cosmos_cpu_copy_frames(float *dst, int64_t Td, int64_t dst_t0, const float *src, int64_t Ts, int64_t src_t0,
                            int64_t n, int64_t C, int64_t HW) {
    for (int64_t ch = 0; ch < C; ch++)
        memcpy(dst + (ch * Td + dst_t0) * HW, src + (ch * Ts + src_t0) * HW, sizeof(float) * (size_t)(n * HW));
}

void cosmos_cpu_upsample_nearest2x(float *y, const float *x, int64_t CT, int64_t H, int64_t W) {
#pragma omp parallel for schedule(static) if (CT * H * W > 65536)
    for (int64_t f = 0; f < CT; f++)
        for (int64_t i = 0; i < 2 * H; i++) {
            const float *src = x + (f * H + i / 2) * W;
            float *dst = y + (f * 2 * H + i) * 2 * W;
            for (int64_t j = 0; j < 2 * W; j++) dst[j] = src[j / 2];
        }
}
