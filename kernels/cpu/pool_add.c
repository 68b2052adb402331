/* CPU average pools of the DV encoder's CausalHybridDownsample3d (spec components.md 2.5), added
 * into the conv branch's output y (cosmos_op_pool_add, core/backend.h). x [C,T,H,W] f32.
 * - spatial: y [C,T,Ho,Wo] += 0.25 * (sum of the 2x2 block (2i.., 2j..) of x), positions past H or
 *   W reading 0 (the downsample's right/bottom zero pad; with Ho = H/2, Wo = W/2 as the dispatcher
 *   requires, none is read);
 * - temporal: y [C,To,H,W] += 0.5 * (x[a] + x[b]) with a = max(2t-1, 0), b = min(2t, T-1): the
 *   average of frame pairs of the clip with one copy of frame 0 in front.
 * f32, in the order of the PyTorch reference (the block sum, then the scale, then the add). */
#include "kernels/cpu/cpu_ops.h"

void cosmos_cpu_pool_add(float *y, const float *x, int64_t C, int64_t T, int64_t H, int64_t W, int64_t To, int64_t Ho,
                         int64_t Wo, int temporal) {
    if (!temporal) {
#pragma omp parallel for collapse(2) schedule(static)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < T; t++) {
                const float *xp = x + (c * T + t) * H * W;
                float *yp = y + (c * T + t) * Ho * Wo;
                for (int64_t i = 0; i < Ho; i++)
                    for (int64_t j = 0; j < Wo; j++) {
                        float s = 0.0f;
                        for (int di = 0; di < 2; di++)
                            for (int dj = 0; dj < 2; dj++) {
                                const int64_t r = 2 * i + di, cc = 2 * j + dj; /* the pad row/col reads 0 */
                                s += (r < H && cc < W) ? xp[r * W + cc] : 0.0f;
                            }
                        yp[i * Wo + j] += s * 0.25f;
                    }
            }
        return;
    }
    const int64_t HW = H * W;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t c = 0; c < C; c++)
        for (int64_t t = 0; t < To; t++) {
            const int64_t a = 2 * t - 1 < 0 ? 0 : 2 * t - 1, b = 2 * t < T ? 2 * t : T - 1;
            const float *xa = x + (c * T + a) * HW, *xb = x + (c * T + b) * HW;
            float *yd = y + (c * To + t) * HW;
            for (int64_t i = 0; i < HW; i++) yd[i] += (xa[i] + xb[i]) * 0.5f;
        }
}
