/* Pillow's 8-bit bicubic resize (see pil_resize.h), from the algorithm of Pillow's Resample.c:
 * - per axis, scale = in/out, filterscale = max(scale, 1) (antialiasing when downscaling), support =
 *   2 * filterscale; output index i has center = (i + 0.5) * scale, taps x in [xmin, xmin + n) with
 *   xmin = max((int)(center - support + 0.5), 0), end = min((int)(center + support + 0.5), in);
 *   weight = cubic_{a=-0.5}((x - center + 0.5) / filterscale), normalised to sum 1 (double);
 * - weights to 22-bit fixed point (PRECISION_BITS = 32 - 8 - 2): (int)(w * 2^22 +- 0.5);
 * - each pass: acc = 2^21 + sum(pixel * weight) in int, result clip(acc >> 22, 0, 255) to uint8;
 * - horizontal pass first (into a uint8 temporary), then vertical; a pass whose size does not
 *   change is skipped (its weights would be the identity anyway).
 * Pillow 13 (python-pillow/Pillow PR #9549) runs the vertical pass first when the height shrinks
 * and the width does not; results then differ by rounding. The official guardrail environment
 * (early 2025, Pillow <= 11) always went horizontal first, which is what this does. */
#include "core/guardrail/pil_resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define PRECISION_BITS (32 - 8 - 2)

static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Taps of one axis: bounds [out, 2] (first input index, count), fixed-point weights [out, ksize]. */
static cosmos_status coeffs(int in, int out, int **bounds_out, int32_t **kk_out, int *ksize_out) {
    cosmos_status st = COSMOS_OK;
    int *bounds = NULL;
    int32_t *kk = NULL;
    double *w = NULL;
    const double scale = (double)(float)in / out; /* Pillow's box edges are floats */
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = 2.0 * filterscale;
    const int ksize = (int)ceil(support) * 2 + 1;
    bounds = malloc(sizeof(int) * 2 * (size_t)out);
    kk = calloc((size_t)out * (size_t)ksize, sizeof(int32_t));
    w = malloc(sizeof(double) * (size_t)ksize);
    CHECK_ALLOC(bounds);
    CHECK_ALLOC(kk);
    CHECK_ALLOC(w);
    for (int i = 0; i < out; i++) {
        const double center = (i + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in) xmax = in;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = bicubic((x + xmin - center + 0.5) / filterscale);
            ww += w[x];
        }
        for (int x = 0; x < xmax; x++) {
            const double v = ww != 0.0 ? w[x] / ww : w[x];
            kk[(size_t)i * ksize + x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                                              : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        bounds[2 * i] = xmin;
        bounds[2 * i + 1] = xmax;
    }
    *bounds_out = bounds, *kk_out = kk, *ksize_out = ksize;
    bounds = NULL, kk = NULL;
fail:
    free(bounds);
    free(kk);
    free(w);
    return st;
}

static uint8_t clip8(int acc) {
    const int v = acc >> PRECISION_BITS; /* arithmetic shift: floor, as Pillow's lookup table */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One pass along an axis: n_out outputs from inputs at src + idx * step_in, for `lines` lines
 * (line l at src + l * line_in, dst + l * line_out), C interleaved channels. */
static void pass(const uint8_t *src, uint8_t *dst, int lines, int64_t line_in, int64_t line_out, int n_out,
                 int64_t step_in, int64_t step_out, int C, const int *bounds, const int32_t *kk, int ksize) {
    for (int l = 0; l < lines; l++) {
        const uint8_t *s = src + l * line_in;
        uint8_t *d = dst + l * line_out;
        for (int i = 0; i < n_out; i++) {
            const int32_t *k = kk + (size_t)i * ksize;
            const int xmin = bounds[2 * i], n = bounds[2 * i + 1];
            for (int c = 0; c < C; c++) {
                int acc = 1 << (PRECISION_BITS - 1);
                for (int x = 0; x < n; x++) acc += s[(xmin + x) * step_in + c] * k[x];
                d[i * step_out + c] = clip8(acc);
            }
        }
    }
}

cosmos_status cosmos_pil_resize_bicubic_u8(const uint8_t *src, int64_t H, int64_t W, int C, uint8_t *dst,
                                           int64_t out_h, int64_t out_w) {
    cosmos_status st = COSMOS_OK;
    int *bh = NULL, *bw = NULL;
    int32_t *kh = NULL, *kw = NULL;
    uint8_t *tmp = NULL;
    int ksh = 0, ksw = 0;
    const int64_t lim = 1 << 20;
    CHECK_ARG(src && dst && C >= 1 && C <= 4 && H > 0 && W > 0 && out_h > 0 && out_w > 0 && H < lim && W < lim &&
                  out_h < lim && out_w < lim,
              COSMOS_ERR_INVALID_ARG, "pil_resize: bad arguments (%lldx%lld x%d -> %lldx%lld)", (long long)H,
              (long long)W, C, (long long)out_h, (long long)out_w);
    const uint8_t *cur = src;
    if (W != out_w) {
        CHECK(coeffs((int)W, (int)out_w, &bw, &kw, &ksw));
        uint8_t *o = H != out_h ? (tmp = malloc((size_t)(H * out_w * C))) : dst;
        CHECK_ALLOC(o);
        pass(cur, o, (int)H, W * C, out_w * C, (int)out_w, C, C, C, bw, kw, ksw);
        cur = o;
    }
    if (H != out_h) {
        /* lines are columns x of the (horizontally resized) image, outputs step down the rows */
        CHECK(coeffs((int)H, (int)out_h, &bh, &kh, &ksh));
        pass(cur, dst, (int)out_w, C, C, (int)out_h, out_w * C, out_w * C, C, bh, kh, ksh);
    }
    if (W == out_w && H == out_h) memcpy(dst, src, (size_t)(H * W * C));
fail:
    free(bh);
    free(bw);
    free(kh);
    free(kw);
    free(tmp);
    return st;
}
