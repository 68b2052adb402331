/* Input preparation of the Video2World pipeline (spec components.md section 1 step 1, ar-model.md
 * 6.4): last num_input_frames kept, padded to num_frames with the last, x/255*2-1, resize_input
 * (antialiased bilinear as torch's _upsample_bilinear2d_aa, on the [-1,1] floats), centre crop
 * (torchvision rounds the offsets half to even, as Python's round()). Output [3,T,H,W] float32.
 * The resize follows ATen's UpSampleKernel.cpp: per output index i, center = scale*(i+0.5),
 * support = scale (downscale) or 1, weights = triangle((j - center + 0.5) / max(scale,1)),
 * normalised, computed in float as ATen does for float tensors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/media.h"

struct cosmos_media_prep_params cosmos_media_prep_params_default(void) {
    struct cosmos_media_prep_params p = {.num_input_frames = 9, .num_frames = 33, .height = 640, .width = 1024};
    return p;
}

/* Weights of one axis: for output i, taps xmin[i] .. xmin[i]+xsize[i]-1 with w[i*max_taps + j]. */
struct aa_axis {
    int max_taps;
    int *xmin, *xsize;
    float *w;
};

static void aa_axis_free(struct aa_axis *a) {
    free(a->xmin);
    free(a->xsize);
    free(a->w);
}

static float aa_triangle(float x) {
    x = fabsf(x);
    return x < 1.0f ? 1.0f - x : 0.0f;
}

static cosmos_status aa_axis_init(int in_size, int out_size, struct aa_axis *a) {
    cosmos_status st = COSMOS_OK;
    memset(a, 0, sizeof *a);
    const float scale = (float)in_size / (float)out_size;
    const float support = scale >= 1.0f ? 1.0f * scale : 1.0f; /* interp_size (2) * 0.5 */
    const float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
    a->max_taps = (int)ceilf(support) * 2 + 1;
    a->xmin = malloc(sizeof(int) * (size_t)out_size);
    a->xsize = malloc(sizeof(int) * (size_t)out_size);
    a->w = calloc((size_t)out_size * (size_t)a->max_taps, sizeof(float));
    CHECK_ALLOC(a->xmin);
    CHECK_ALLOC(a->xsize);
    CHECK_ALLOC(a->w);
    for (int i = 0; i < out_size; i++) {
        const float center = scale * ((float)i + 0.5f);
        int64_t lo = (int64_t)(center - support + 0.5f), hi = (int64_t)(center + support + 0.5f);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        int n = (int)(hi - lo);
        if (n > a->max_taps) n = a->max_taps; /* cannot happen: the bound above is generous */
        float *w = a->w + (size_t)i * (size_t)a->max_taps, total = 0.0f;
        for (int j = 0; j < n; j++) {
            w[j] = aa_triangle(((float)(j + lo) - center + 0.5f) * invscale);
            total += w[j];
        }
        if (total != 0.0f)
            for (int j = 0; j < n; j++) w[j] /= total;
        a->xmin[i] = (int)lo;
        a->xsize[i] = n;
    }
    return COSMOS_OK;
fail:
    aa_axis_free(a);
    return st;
}

cosmos_status cosmos_resize_bilinear_aa(const float *src, int C, int H, int W, float *dst, int oh, int ow) {
    cosmos_status st = COSMOS_OK;
    struct aa_axis ax = {0}, ay = {0};
    float *tmp = NULL;
    CHECK_ARG(C > 0 && H > 0 && W > 0 && oh > 0 && ow > 0, COSMOS_ERR_INVALID_ARG,
              "resize: bad sizes [%d,%d,%d] -> [%d,%d]", C, H, W, oh, ow);
    if (H == oh && W == ow) {
        memcpy(dst, src, sizeof(float) * (size_t)C * (size_t)H * (size_t)W);
        return COSMOS_OK;
    }
    /* Width pass (skipped when the width is unchanged), into tmp [C,H,ow]. */
    const float *mid = src;
    if (W != ow) {
        CHECK(aa_axis_init(W, ow, &ax));
        float *o = (H == oh) ? dst : (tmp = malloc(sizeof(float) * (size_t)C * (size_t)H * (size_t)ow));
        CHECK_ALLOC(o);
        for (int64_t r = 0; r < (int64_t)C * H; r++) {
            const float *s = src + r * W;
            float *d = o + r * ow;
            for (int i = 0; i < ow; i++) {
                const float *w = ax.w + (size_t)i * (size_t)ax.max_taps;
                const float *p = s + ax.xmin[i];
                float acc = p[0] * w[0];
                for (int j = 1; j < ax.xsize[i]; j++) acc += p[j] * w[j];
                d[i] = acc;
            }
        }
        mid = o;
    }
    /* Height pass, from mid [C,H,ow] into dst [C,oh,ow]. */
    if (H != oh) {
        CHECK(aa_axis_init(H, oh, &ay));
        for (int c = 0; c < C; c++) {
            const float *s = mid + (size_t)c * (size_t)H * (size_t)ow;
            float *d = dst + (size_t)c * (size_t)oh * (size_t)ow;
            for (int i = 0; i < oh; i++) {
                const float *w = ay.w + (size_t)i * (size_t)ay.max_taps;
                const float *p = s + (size_t)ay.xmin[i] * (size_t)ow;
                float *drow = d + (size_t)i * (size_t)ow;
                for (int x = 0; x < ow; x++) drow[x] = p[x] * w[0];
                for (int j = 1; j < ay.xsize[i]; j++)
                    for (int x = 0; x < ow; x++) drow[x] += p[(size_t)j * (size_t)ow + x] * w[j];
            }
        }
    }
fail:
    aa_axis_free(&ax);
    aa_axis_free(&ay);
    free(tmp);
    return st;
}

cosmos_status cosmos_media_prepare(const struct cosmos_frames *in, const struct cosmos_media_prep_params *p,
                                   const char *name, float **out) {
    cosmos_status st = COSMOS_OK;
    float *frame = NULL, *resized = NULL, *res = NULL;
    *out = NULL;
    if (!name) name = "input";
    CHECK_ARG(p->num_input_frames >= 1 && p->num_input_frames <= p->num_frames, COSMOS_ERR_INVALID_ARG,
              "num_input_frames %d must be in [1, num_frames = %d]", p->num_input_frames, p->num_frames);
    CHECK_ARG(p->height > 0 && p->width > 0 && p->height % 16 == 0 && p->width % 16 == 0, COSMOS_ERR_INVALID_ARG,
              "resolution %dx%d must be positive multiples of 16", p->height, p->width);
    CHECK_ARG(in->T >= p->num_input_frames, COSMOS_ERR_INVALID_ARG,
              "'%s' has %d frame(s), fewer than the %d input frames asked for", name, in->T, p->num_input_frames);
    CHECK_ARG(in->H > 0 && in->W > 0 && in->rgb, COSMOS_ERR_INVALID_ARG, "'%s': empty frames (%dx%d)", name, in->H,
              in->W);
    const int H = in->H, W = in->W, T = p->num_frames, OH = p->height, OW = p->width;
    /* resize_input: Python floats (double), math.ceil. */
    const double s = fmax((double)OW / W, (double)OH / H);
    const int rh = (int)ceil(s * H), rw = (int)ceil(s * W);
    CHECK_ARG(rh >= OH && rw >= OW && (int64_t)rh * rw <= ((int64_t)1 << 30), COSMOS_ERR_INVALID_ARG,
              "'%s': resize %dx%d -> %dx%d does not fit", name, H, W, rh, rw);
    /* user need 4 of spec performance-and-peers.md: say when the input is far from the clip size
     * (the official code resizes and crops the same way, silently) */
    const double kept = (double)OH * OW / ((double)rh * rw);
    if (kept < 0.75)
        LOG_WARN("'%s' is %dx%d (WxH), another aspect ratio than the clip's %dx%d: the centre crop keeps %.0f%% of "
                 "each frame",
                 name, W, H, OW, OH, 100.0 * kept);
    if (s > 2.0)
        LOG_WARN("'%s' is %dx%d (WxH), upscaled %.1fx to fill the clip's %dx%d: expect a blurry start", name, W, H, s,
                 OW, OH);
    /* center_crop offsets: int(round((size - crop) / 2.0)), round half to even. */
    const int top = (int)nearbyint((rh - OH) / 2.0), left = (int)nearbyint((rw - OW) / 2.0);
    const size_t plane = (size_t)OH * OW;
    frame = malloc(sizeof(float) * 3 * (size_t)H * W);
    resized = malloc(sizeof(float) * 3 * (size_t)rh * rw);
    res = malloc(sizeof(float) * 3 * (size_t)T * plane);
    CHECK_ALLOC(frame);
    CHECK_ALLOC(resized);
    CHECK_ALLOC(res);
    const int first = in->T - p->num_input_frames;
    for (int t = 0; t < p->num_input_frames; t++) {
        const uint8_t *rgb = in->rgb + (size_t)(first + t) * H * W * 3;
        for (int c = 0; c < 3; c++)
            for (size_t k = 0; k < (size_t)H * W; k++) frame[c * (size_t)H * W + k] = (float)rgb[k * 3 + c] / 255.0f * 2.0f - 1.0f;
        CHECK(cosmos_resize_bilinear_aa(frame, 3, H, W, resized, rh, rw));
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < OH; y++)
                memcpy(res + ((size_t)c * T + t) * plane + (size_t)y * OW,
                       resized + ((size_t)c * rh + top + y) * rw + left, sizeof(float) * OW);
    }
    /* Padding frames repeat the last kept frame (resizing is per frame, so copy after resizing). */
    for (int c = 0; c < 3; c++)
        for (int t = p->num_input_frames; t < T; t++)
            memcpy(res + ((size_t)c * T + t) * plane, res + ((size_t)c * T + p->num_input_frames - 1) * plane,
                   sizeof(float) * plane);
    *out = res;
    res = NULL;
fail:
    free(frame);
    free(resized);
    free(res);
    return st;
}

cosmos_status cosmos_media_load_clip(const char *path, const struct cosmos_media_prep_params *p, float **out,
                                     int *is_image) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_frames f = {0};
    *out = NULL;
    if (is_image) *is_image = 0;
    CHECK(cosmos_media_decode(path, p->num_input_frames, &f));
    struct cosmos_media_prep_params q = *p;
    if (f.is_image) q.num_input_frames = 1;
    CHECK(cosmos_media_prepare(&f, &q, path, out));
    if (is_image) *is_image = f.is_image;
fail:
    cosmos_frames_free(&f);
    return st;
}

cosmos_status cosmos_media_load_input(const char *path, const struct cosmos_media_prep_params *p, float **out) {
    return cosmos_media_load_clip(path, p, out, NULL);
}
