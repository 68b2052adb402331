/* The "face_blur" guardrail check (spec components.md 5.5 and 5.1: a post-processor that rewrites
 * the final frames in place): per frame, RetinaFace detection (retinaface.c), then every box
 * pixelated as COSMOS blur_detected_faces / pixelate_face do, with OpenCV's uint8 resize arithmetic
 * reproduced exactly (see face_blur.h). The network runs on the params' backend when it is a device
 * one (f32, as the host path). Frames are uint8 RGB [T, H, W, 3], row-major. Compiled with
 * -ffp-contract=off (CMakeLists.txt): the resize coefficients must round as OpenCV's do. */
#include "core/guardrail/face_blur.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/guardrail/guardrail_impl.h"
#include "core/log.h"

#define COEF_BITS 11 /* OpenCV INTER_RESIZE_COEF_BITS */
#define COEF_ONE (1 << COEF_BITS)

static short round_coef(float v) { return (short)lrintf(v * (float)COEF_ONE); } /* saturate_cast<short> */

static int clip_index(int x, int n) { return x >= 0 ? (x < n ? x : n - 1) : 0; }

/* OpenCV resizeAreaFast for an exact 2:1 reduction of both axes: (a + b + c + d + 2) >> 2. */
static void area_fast_2x(const uint8_t *src, int64_t ss, uint8_t *dst, int dh, int dw) {
    for (int y = 0; y < dh; y++) {
        const uint8_t *s0 = src + (int64_t)(2 * y) * ss, *s1 = s0 + ss;
        for (int x = 0; x < dw; x++)
            for (int k = 0; k < 3; k++) {
                const int i = 2 * x * 3 + k;
                dst[((int64_t)y * dw + x) * 3 + k] = (uint8_t)((s0[i] + s0[i + 3] + s1[i] + s1[i + 3] + 2) >> 2);
            }
    }
}

cosmos_status cosmos_resize_linear_u8c3(const uint8_t *src, int sh, int sw, int64_t ss, uint8_t *dst, int dh, int dw) {
    cosmos_status st = COSMOS_OK;
    if (sh == dh && sw == dw) { /* cv::resize copies */
        for (int y = 0; y < sh; y++) memcpy(dst + (int64_t)y * dw * 3, src + (int64_t)y * ss, (size_t)sw * 3);
        return COSMOS_OK;
    }
    const double scale_x = 1.0 / ((double)dw / sw), scale_y = 1.0 / ((double)dh / sh);
    const int iscale_x = (int)lrint(scale_x), iscale_y = (int)lrint(scale_y);
    if (fabs(scale_x - iscale_x) < DBL_EPSILON && fabs(scale_y - iscale_y) < DBL_EPSILON && iscale_x == 2 &&
        iscale_y == 2) {
        area_fast_2x(src, ss, dst, dh, dw);
        return COSMOS_OK;
    }
    int *xofs = malloc(sizeof(int) * (size_t)dw), *yofs = malloc(sizeof(int) * (size_t)dh);
    short *alpha = malloc(sizeof(short) * 2 * (size_t)dw), *beta = malloc(sizeof(short) * 2 * (size_t)dh);
    int *row0 = malloc(sizeof(int) * 3 * (size_t)dw), *row1 = malloc(sizeof(int) * 3 * (size_t)dw);
    CHECK_ARG(xofs && yofs && alpha && beta && row0 && row1, COSMOS_ERR_NOMEM, "resize: out of memory");
    int xmax = dw;
    for (int dx = 0; dx < dw; dx++) {
        float fx = (float)((dx + 0.5) * scale_x - 0.5);
        int sx = (int)floorf(fx);
        fx -= (float)sx;
        if (sx < 0) fx = 0.0f, sx = 0;
        if (sx + 1 >= sw) {
            if (dx < xmax) xmax = dx;
            if (sx >= sw - 1) fx = 0.0f, sx = sw - 1;
        }
        xofs[dx] = sx;
        alpha[2 * dx] = round_coef(1.0f - fx);
        alpha[2 * dx + 1] = round_coef(fx);
    }
    for (int dy = 0; dy < dh; dy++) {
        float fy = (float)((dy + 0.5) * scale_y - 0.5);
        int sy = (int)floorf(fy);
        fy -= (float)sy;
        yofs[dy] = sy;
        beta[2 * dy] = round_coef(1.0f - fy);
        beta[2 * dy + 1] = round_coef(fy);
    }
    for (int dy = 0; dy < dh; dy++) {
        int *rows[2] = {row0, row1};
        for (int k = 0; k < 2; k++) { /* horizontal pass (HResizeLinear, int accumulators) */
            const uint8_t *S = src + (int64_t)clip_index(yofs[dy] + k, sh) * ss;
            int *D = rows[k];
            for (int dx = 0; dx < dw; dx++) {
                const int sx = xofs[dx] * 3;
                for (int c = 0; c < 3; c++)
                    D[dx * 3 + c] = dx < xmax ? S[sx + c] * alpha[2 * dx] + S[sx + 3 + c] * alpha[2 * dx + 1]
                                              : S[sx + c] * COEF_ONE;
            }
        }
        const int b0 = beta[2 * dy], b1 = beta[2 * dy + 1];
        uint8_t *o = dst + (int64_t)dy * dw * 3;
        for (int i = 0; i < dw * 3; i++) /* VResizeLinear<uchar, int, short, FixedPtCast<.., 22>> */
            o[i] = (uint8_t)((((b0 * (row0[i] >> 4)) >> 16) + ((b1 * (row1[i] >> 4)) >> 16) + 2) >> 2);
    }
fail:
    free(xofs), free(yofs), free(alpha), free(beta), free(row0), free(row1);
    return st;
}

void cosmos_resize_nearest_u8c3(const uint8_t *src, int sh, int sw, int64_t ss, uint8_t *dst, int dh, int dw,
                                int64_t ds) {
    const double ifx = 1.0 / ((double)dw / sw), ify = 1.0 / ((double)dh / sh);
    for (int y = 0; y < dh; y++) {
        int sy = (int)floor(y * ify);
        if (sy > sh - 1) sy = sh - 1;
        const uint8_t *S = src + (int64_t)sy * ss;
        uint8_t *D = dst + (int64_t)y * ds;
        for (int x = 0; x < dw; x++) {
            int sx = (int)floor(x * ifx);
            if (sx > sw - 1) sx = sw - 1;
            D[x * 3] = S[sx * 3], D[x * 3 + 1] = S[sx * 3 + 1], D[x * 3 + 2] = S[sx * 3 + 2];
        }
    }
}

cosmos_status cosmos_face_blur_pixelate(uint8_t *frame, int H, int W, int x0, int y0, int x1, int y1, int blocks) {
    cosmos_status st = COSMOS_OK;
    uint8_t *tmp = NULL;
    CHECK_ARG(frame && blocks >= 1, COSMOS_ERR_INVALID_ARG, "face blur: NULL frame or blocks %d < 1", blocks);
    CHECK_ARG(0 <= x0 && x0 < x1 && x1 <= W && 0 <= y0 && y0 < y1 && y1 <= H, COSMOS_ERR_INVALID_ARG,
              "face blur: ROI x[%d, %d) y[%d, %d) is empty or outside the %dx%d frame", x0, x1, y0, y1, W, H);
    tmp = malloc((size_t)blocks * (size_t)blocks * 3);
    CHECK_ALLOC(tmp);
    uint8_t *roi = frame + ((int64_t)y0 * W + x0) * 3;
    const int64_t stride = (int64_t)W * 3;
    CHECK(cosmos_resize_linear_u8c3(roi, y1 - y0, x1 - x0, stride, tmp, blocks, blocks));
    cosmos_resize_nearest_u8c3(tmp, blocks, blocks, (int64_t)blocks * 3, roi, y1 - y0, x1 - x0, stride);
fail:
    free(tmp);
    return st;
}

/* Python int() of an f32 coordinate (truncation toward zero), kept in int64 range. */
static int64_t py_int(float v) {
    const double d = (double)v;
    if (d > 1e15) return (int64_t)1e15;
    if (d < -1e15) return (int64_t)-1e15;
    return (int64_t)d;
}

/* Python slice bounds [start:stop] of a sequence of length n, start/stop >= ... any ints. */
static void py_slice(int64_t start, int64_t stop, int64_t n, int64_t *s, int64_t *e) {
    if (start < 0) start += n;
    if (start < 0) start = 0;
    if (start > n) start = n;
    if (stop < 0) stop += n;
    if (stop < 0) stop = 0;
    if (stop > n) stop = n;
    *s = start, *e = stop;
}

cosmos_status cosmos_face_blur_apply(uint8_t *frame, int H, int W, const struct cosmos_retinaface_box *boxes, int n,
                                     int min_size, int blocks, int *n_blurred) {
    cosmos_status st = COSMOS_OK;
    int done = 0;
    for (int i = 0; i < n; i++) {
        const struct cosmos_retinaface_box *b = &boxes[i];
        if (!isfinite(b->x1) || !isfinite(b->y1) || !isfinite(b->x2) || !isfinite(b->y2)) {
            LOG_DEBUG("face blur: box %d has a non-finite coordinate; skipped", i);
            continue;
        }
        const int64_t x1 = py_int(b->x1), y1 = py_int(b->y1), x2 = py_int(b->x2), y2 = py_int(b->y2);
        if (x2 - x1 < min_size || y2 - y1 < min_size) continue;
        int64_t ys, ye, xs, xe;
        py_slice(y1 > 0 ? y1 : 0, y2 < H ? y2 : H, H, &ys, &ye);
        py_slice(x1 > 0 ? x1 : 0, x2 < W ? x2 : W, W, &xs, &xe);
        if (ye <= ys || xe <= xs) {
            LOG_DEBUG("face blur: box %d (%lld, %lld, %lld, %lld) has an empty ROI in the %dx%d frame; skipped", i,
                      (long long)x1, (long long)y1, (long long)x2, (long long)y2, W, H);
            continue;
        }
        CHECK(cosmos_face_blur_pixelate(frame, H, W, (int)xs, (int)ys, (int)xe, (int)ye, blocks));
        done++;
    }
fail:
    if (n_blurred) *n_blurred = done;
    return st;
}

/* ------------------------------------------------------------------------------------------------
 * The guardrail check */

static cosmos_status face_blur_filter(const void *ctx, uint8_t *frames, int64_t T, int64_t H, int64_t W) {
    cosmos_status st = COSMOS_OK;
    const cosmos_retinaface_t *m = ctx;
    const struct cosmos_retinaface_config *c = cosmos_retinaface_get_config(m);
    struct cosmos_retinaface_box *boxes = NULL;
    CHECK_ARG(frames || T == 0, COSMOS_ERR_INVALID_ARG, "face_blur: NULL frames");
    CHECK_ARG(T >= 0 && H >= 1 && W >= 1 && H <= 16384 && W <= 16384, COSMOS_ERR_INVALID_ARG,
              "face_blur: bad video shape [%lld, %lld, %lld, 3]", (long long)T, (long long)H, (long long)W);
    int total = 0, faces = 0;
    for (int64_t t = 0; t < T; t++) {
        uint8_t *f = frames + t * H * W * 3;
        int n = 0, blurred = 0;
        CHECK(cosmos_retinaface_detect(m, f, (int)H, (int)W, &boxes, &n));
        CHECK(cosmos_face_blur_apply(f, (int)H, (int)W, boxes, n, c->min_face_size, c->pixelate_blocks, &blurred));
        free(boxes), boxes = NULL;
        faces += n, total += blurred;
    }
    LOG_DEBUG("face_blur: %d detections in %lld frames, %d regions pixelated", faces, (long long)T, total);
fail:
    free(boxes);
    return st;
}

static void face_blur_free(void *ctx) { cosmos_retinaface_free(ctx); }

static const struct cosmos_guardrail_check_ops face_blur_ops = {
    .name = "face_blur",
    .check_text = NULL,
    .check_video = NULL,
    .filter_video = face_blur_filter,
    .free_ctx = face_blur_free,
};

cosmos_status cosmos_guardrail_face_blur_create(const struct cosmos_guardrail_params *p,
                                                const struct cosmos_guardrail_check_ops **ops, void **ctx) {
    cosmos_status st = COSMOS_OK;
    cosmos_retinaface_t *m = NULL;
    CHECK_ARG(p->face_blur_weights && p->face_blur_weights[0], COSMOS_ERR_INVALID_ARG,
              "guardrail: check 'face_blur' needs a RetinaFace weight file (face_blur_weights; `cosmos-ar init` "
              "writes a random one, tools/convert_checkpoint.py converts Resnet50_Final.pth)");
    CHECK(cosmos_retinaface_load(p->face_blur_weights, &m));
    if (p->backend) CHECK(cosmos_retinaface_use_backend(m, p->backend)); /* a host backend: a no-op */
    *ops = &face_blur_ops;
    *ctx = m;
    m = NULL;
fail:
    cosmos_retinaface_free(m);
    return st;
}
