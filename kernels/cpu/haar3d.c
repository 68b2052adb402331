/* CPU 3D Haar wavelet patcher and unpatcher of the DV tokenizer (spec components.md 2.4; official
 * Patcher3D._haar / UnPatcher3D._ihaar). Video tensors [C,T,H,W] f32, batch 1.
 * One forward level on [g,T,H,W]: odd axes are reflect-padded by one on the right; band
 * b = 4*t_bit + 2*h_bit + w_bit goes to channel b*g + c and holds
 *   tap^3 / (2*sqrt(2)) * sum over the 2x2x2 block p of s_b(p) * x(p),  s_b(p) = (-1)^(b.p)
 * (tap = 1/sqrt(2): the block mean for the lll band). One inverse level on [8g,T,H,W]:
 *   x(p) = 2*sqrt(2) * tap^3 * sum_b s_b(p) * band_b, giving [g,2T,2H,2W].
 * The patcher puts patch_size copies of frame 0 in front of frames 1.. and applies log2(patch_size)
 * levels; the unpatcher applies log2(patch_size) inverse levels and drops the first patch_size-1
 * frames. Intermediate levels live in malloc'd scratch (NOMEM on failure). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "kernels/cpu/cpu_ops.h"

static int64_t reflect_right(int64_t i, int64_t L) { return i < L ? i : 2 * L - 2 - i; }

static int sign_of(int b, int pt, int ph, int pw) {
    int bits = (((b >> 2) & 1) & pt) + (((b >> 1) & 1) & ph) + ((b & 1) & pw);
    return (bits & 1) ? -1 : 1;
}

/* x [g,T,H,W] -> y [8g, ceil(T/2), ceil(H/2), ceil(W/2)] */
static void haar_level(float *y, const float *x, int64_t g, int64_t T, int64_t H, int64_t W, float scale) {
    const int64_t T2 = (T + 1) / 2, H2 = (H + 1) / 2, W2 = (W + 1) / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t c = 0; c < g; c++) {
        for (int64_t t = 0; t < T2; t++) {
            const float *xc = x + c * T * H * W;
            int64_t tt[2] = {reflect_right(2 * t, T), reflect_right(2 * t + 1, T)};
            for (int64_t h = 0; h < H2; h++) {
                int64_t hh[2] = {reflect_right(2 * h, H), reflect_right(2 * h + 1, H)};
                for (int64_t w = 0; w < W2; w++) {
                    int64_t ww[2] = {reflect_right(2 * w, W), reflect_right(2 * w + 1, W)};
                    float v[8];
                    for (int p = 0; p < 8; p++)
                        v[p] = xc[(tt[p >> 2] * H + hh[(p >> 1) & 1]) * W + ww[p & 1]];
                    for (int b = 0; b < 8; b++) {
                        float acc = 0.0f;
                        for (int p = 0; p < 8; p++) acc += (float)sign_of(b, p >> 2, (p >> 1) & 1, p & 1) * v[p];
                        y[(((b * g + c) * T2 + t) * H2 + h) * W2 + w] = acc * scale;
                    }
                }
            }
        }
    }
}

/* y [8g,T,H,W] -> x [g,2T,2H,2W] */
static void ihaar_level(float *x, const float *y, int64_t g, int64_t T, int64_t H, int64_t W, float scale) {
    const int64_t T2 = 2 * T, H2 = 2 * H, W2 = 2 * W;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t c = 0; c < g; c++) {
        for (int64_t t = 0; t < T; t++) {
            for (int64_t h = 0; h < H; h++) {
                for (int64_t w = 0; w < W; w++) {
                    float band[8];
                    for (int b = 0; b < 8; b++) band[b] = y[(((b * g + c) * T + t) * H + h) * W + w];
                    for (int p = 0; p < 8; p++) {
                        int pt = p >> 2, ph = (p >> 1) & 1, pw = p & 1;
                        float acc = 0.0f;
                        for (int b = 0; b < 8; b++) acc += (float)sign_of(b, pt, ph, pw) * band[b];
                        x[((c * T2 + 2 * t + pt) * H2 + 2 * h + ph) * W2 + 2 * w + pw] = acc * scale;
                    }
                }
            }
        }
    }
}

static int n_levels(int patch_size) {
    int n = 0;
    while ((1 << n) < patch_size) n++;
    return n;
}

cosmos_status cosmos_cpu_haar_patch(float *y, const float *x, int64_t C, int64_t T, int64_t H, int64_t W,
                                    int patch_size, float tap) {
    const int L = n_levels(patch_size);
    const float scale = tap * tap * tap / (2.0f * sqrtf(2.0f));
    int64_t g = C, Tc = T + patch_size - 1, Hc = H, Wc = W;
    if (L == 0) {
        memcpy(y, x, sizeof(float) * (size_t)(C * T * H * W));
        return COSMOS_OK;
    }
    float *cur = malloc(sizeof(float) * (size_t)(C * Tc * H * W));
    if (!cur) goto nomem;
    /* frame 0 repeated patch_size times, then frames 1..T-1 */
    for (int64_t c = 0; c < C; c++) {
        const float *xc = x + c * T * H * W;
        float *dc = cur + c * Tc * H * W;
        for (int r = 0; r < patch_size; r++) memcpy(dc + r * H * W, xc, sizeof(float) * (size_t)(H * W));
        memcpy(dc + patch_size * H * W, xc + H * W, sizeof(float) * (size_t)((T - 1) * H * W));
    }
    for (int l = 0; l < L; l++) {
        const int64_t T2 = (Tc + 1) / 2, H2 = (Hc + 1) / 2, W2 = (Wc + 1) / 2;
        const int last = l == L - 1;
        float *dst = last ? y : malloc(sizeof(float) * (size_t)(8 * g * T2 * H2 * W2));
        if (!dst) goto nomem;
        haar_level(dst, cur, g, Tc, Hc, Wc, scale);
        free(cur);
        cur = last ? NULL : dst;
        g *= 8, Tc = T2, Hc = H2, Wc = W2;
    }
    return COSMOS_OK;
nomem:
    free(cur);
    LOG_ERROR("haar_patch: cannot allocate scratch for a [%lld,%lld,%lld,%lld] video", (long long)C, (long long)T,
              (long long)H, (long long)W);
    return COSMOS_ERR_NOMEM;
}

cosmos_status cosmos_cpu_haar_unpatch(float *y, const float *x, int64_t C, int64_t T, int64_t H, int64_t W,
                                      int patch_size, float tap) {
    const int L = n_levels(patch_size);
    const float scale = 2.0f * sqrtf(2.0f) * tap * tap * tap;
    if (L == 0) {
        memcpy(y, x, sizeof(float) * (size_t)(C * T * H * W));
        return COSMOS_OK;
    }
    int64_t g = C, Tc = T, Hc = H, Wc = W;
    const float *cur = x;
    float *owned = NULL;
    for (int l = 0; l < L; l++) {
        float *dst = malloc(sizeof(float) * (size_t)(g * Tc * Hc * Wc));
        if (!dst) {
            free(owned);
            LOG_ERROR("haar_unpatch: cannot allocate scratch for a [%lld,%lld,%lld,%lld] input", (long long)C,
                      (long long)T, (long long)H, (long long)W);
            return COSMOS_ERR_NOMEM;
        }
        g /= 8;
        ihaar_level(dst, cur, g, Tc, Hc, Wc, scale);
        free(owned);
        owned = dst;
        cur = dst;
        Tc *= 2, Hc *= 2, Wc *= 2;
    }
    /* drop the first patch_size-1 frames */
    const int64_t To = Tc - (patch_size - 1), plane = Hc * Wc;
    for (int64_t c = 0; c < g; c++)
        memcpy(y + c * To * plane, cur + (c * Tc + patch_size - 1) * plane, sizeof(float) * (size_t)(To * plane));
    free(owned);
    return COSMOS_OK;
}
