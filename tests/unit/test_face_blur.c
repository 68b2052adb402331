/* Face-blur guardrail tests (spec components.md 5.5): the C RetinaFace forward pass against the
 * reference head outputs (tests/data/retinaface-tiny*.h5 from tools/reference/make_retinaface_fixtures.py;
 * tolerance TOL_HEAD absolute, the outputs are O(1)), post-processing of the reference heads, the
 * whole check (detections, then blurred frames bit-exact), NMS sets, OpenCV-exact pixelation edge
 * cases (border boxes, skipped small boxes, ROIs smaller than the block count, the 2:1 INTER_AREA
 * path, negative slice ends), priors, config and weight-file errors, the guardrail wiring and
 * `init` random weights. The reference itself was cross-checked against the official RF / COSMOS
 * code and cv2 (tools/reference/retinaface_crosscheck_official.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/guardrail/face_blur.h"
#include "core/guardrail/guardrail.h"
#include "core/guardrail/retinaface.h"
#include "core/h5bytes.h"
#include "core/h5file.h"
#include "cosmos_build_config.h"
#include "log_capture.h"
#include "test_files.h"

#define TOL_HEAD 1e-4   /* |C - reference| of loc and softmax conf */
#define TOL_BOX_PX 1e-2 /* detections from the C heads vs from the reference heads, pixels */

static const char *data_path(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/tests/data/%s", COSMOS_SOURCE_DIR, name);
    return buf;
}

static void *read_all(cosmos_h5_t *h, const char *name, enum cosmos_dtype dt, struct cosmos_h5_info *info) {
    cr_assert_eq(cosmos_h5_info(h, name, info), COSMOS_OK, "%s", name);
    int64_t n = 1;
    for (int i = 0; i < info->ndim; i++) n *= info->shape[i];
    void *p = malloc(4 * (size_t)n);
    cr_assert(p);
    cr_assert_eq(cosmos_h5_read(h, name, dt, p), COSMOS_OK, "%s", name);
    return p;
}

/* uint8 images are stored flat (1-D) next to an int32 shape dataset `shape_name`. */
static uint8_t *read_u8(cosmos_h5_t *h, const char *name, const char *shape_name, struct cosmos_h5_info *info) {
    struct cosmos_h5_info si;
    int32_t *shape = read_all(h, shape_name, COSMOS_I32, &si);
    memset(info, 0, sizeof *info);
    info->ndim = (int)si.shape[0];
    int64_t n = 1;
    for (int i = 0; i < info->ndim; i++) info->shape[i] = shape[i], n *= shape[i];
    free(shape);
    uint8_t *b = NULL;
    size_t got = 0;
    cr_assert_eq(cosmos_h5_read_bytes(cosmos_h5_path(h), name, &b, &got), COSMOS_OK, "%s", name);
    cr_assert_eq((int64_t)got % n, 0, "%s: %zu bytes for a %lld-element image", name, got, (long long)n);
    if ((int64_t)got != n) { /* a stack of images of that shape */
        for (int i = info->ndim; i > 0; i--) info->shape[i] = info->shape[i - 1];
        info->shape[0] = (int64_t)got / n;
        info->ndim++;
    }
    return b;
}

static cosmos_h5_t *open_golden(void) {
    char g[1024];
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(data_path("retinaface-tiny.golden.h5", g, sizeof g), &h), COSMOS_OK);
    return h;
}

static cosmos_retinaface_t *load_tiny(void) {
    char w[1024];
    cosmos_retinaface_t *m = NULL;
    cr_assert_eq(cosmos_retinaface_load(data_path("retinaface-tiny.h5", w, sizeof w), &m), COSMOS_OK);
    return m;
}

/* Frame-by-frame count of differing pixels; prints the first few. */
static int64_t compare_frames(const uint8_t *got, const uint8_t *want, int64_t T, int64_t H, int64_t W,
                              const char *what) {
    int64_t bad = 0;
    for (int64_t i = 0; i < T * H * W; i++) {
        if (memcmp(got + 3 * i, want + 3 * i, 3)) {
            if (bad < 5)
                cr_log_error("%s: frame %lld y %lld x %lld: got (%d,%d,%d) want (%d,%d,%d)", what,
                             (long long)(i / (H * W)), (long long)(i / W % H), (long long)(i % W), got[3 * i],
                             got[3 * i + 1], got[3 * i + 2], want[3 * i], want[3 * i + 1], want[3 * i + 2]);
            bad++;
        }
    }
    return bad;
}

/* The tiny model's heads on the reference frames within TOL_HEAD, its network on `be` (NULL: the
 * host path; a device-style backend: cosmos_retinaface_use_backend). */
static void check_forward_heads(cosmos_backend_t *be) {
    cosmos_h5_t *h = open_golden();
    struct cosmos_h5_info fi, li, ci;
    uint8_t *frames = read_u8(h, "frames_in", "frames_shape", &fi);
    float *loc = read_all(h, "loc", COSMOS_F32, &li), *conf = read_all(h, "conf", COSMOS_F32, &ci);
    cosmos_retinaface_t *m = load_tiny();
    cr_assert_eq(cosmos_retinaface_use_backend(m, be), COSMOS_OK);
    cr_assert_eq(cosmos_retinaface_backend(m), be && !cosmos_backend_is_host(be) ? be : NULL);
    const int T = (int)fi.shape[0], H = (int)fi.shape[1], W = (int)fi.shape[2];
    const int64_t P = cosmos_retinaface_num_priors(cosmos_retinaface_get_config(m), H, W);
    cr_assert_eq(P, li.shape[1], "priors %lld vs reference %lld", (long long)P, (long long)li.shape[1]);
    float *l = malloc(sizeof(float) * 4 * (size_t)P), *c = malloc(sizeof(float) * 2 * (size_t)P);
    int64_t allocs_after_first = 0;
    for (int t = 0; t < T; t++) {
        cr_assert_eq(cosmos_retinaface_forward(m, frames + (int64_t)t * H * W * 3, H, W, l, c), COSMOS_OK);
        if (t == 0) allocs_after_first = cosmos_retinaface_device_allocs(m);
        double dl = 0, dc = 0;
        int64_t worst = 0;
        for (int64_t i = 0; i < 4 * P; i++) {
            const double d = fabs((double)l[i] - loc[t * 4 * P + i]);
            if (d > dl) dl = d, worst = i;
        }
        for (int64_t i = 0; i < 2 * P; i++) dc = fmax(dc, fabs((double)c[i] - conf[t * 2 * P + i]));
        cr_log_info("frame %d: max|d loc| %.3g (prior %lld), max|d conf| %.3g", t, dl, (long long)(worst / 4), dc);
        cr_expect(dl <= TOL_HEAD, "frame %d: loc differs by %g at prior %lld", t, dl, (long long)(worst / 4));
        cr_expect(dc <= TOL_HEAD, "frame %d: conf differs by %g", t, dc);
    }
    /* on a device the feature maps of the first frame serve the later ones: no new allocation */
    cr_expect_eq(cosmos_retinaface_device_allocs(m), allocs_after_first);
    cr_expect(be && !cosmos_backend_is_host(be) ? allocs_after_first > 10 : allocs_after_first == 0,
              "%lld feature maps allocated", (long long)allocs_after_first);
    cr_assert_gt(T, 1);
    free(l), free(c), free(loc), free(conf), free(frames);
    cosmos_retinaface_free(m);
    cosmos_h5_close(h);
}

Test(face_blur, forward_matches_reference_heads) { check_forward_heads(NULL); }

/* The network as backend ops (conv2d, leaky_relu, maxpool2d, add_upsampled_nearest, add, relu) on
 * cpu-staged, the CPU ops behind the device code path; tests/cuda/test_cuda_guardrail.c runs it on
 * cuda:0. */
Test(face_blur, forward_on_a_device_backend_matches_reference_heads) {
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu-staged", NULL, &be), COSMOS_OK);
    check_forward_heads(be);
    cosmos_backend_free(be);
}

/* dets [n, 5] vs golden rows [off, off + n). */
static void expect_dets(const struct cosmos_retinaface_box *b, int n, const float *want, int want_n, double tol,
                        const char *what) {
    cr_expect_eq(n, want_n, "%s: %d detections, reference %d", what, n, want_n);
    for (int i = 0; i < n && i < want_n; i++) {
        const float *w = want + 5 * i;
        const float got[5] = {b[i].x1, b[i].y1, b[i].x2, b[i].y2, b[i].score};
        for (int k = 0; k < 5; k++)
            cr_expect(fabs((double)got[k] - w[k]) <= (k == 4 ? 1e-4 : tol), "%s: det %d[%d] = %.6f, reference %.6f",
                      what, i, k, got[k], w[k]);
    }
}

Test(face_blur, postprocess_of_reference_heads) {
    cosmos_h5_t *h = open_golden();
    struct cosmos_h5_info fi, li, ci, di, ni;
    free(read_u8(h, "frames_in", "frames_shape", &fi));
    float *loc = read_all(h, "loc", COSMOS_F32, &li), *conf = read_all(h, "conf", COSMOS_F32, &ci);
    float *dets = read_all(h, "dets", COSMOS_F32, &di);
    int32_t *cnt = read_all(h, "det_count", COSMOS_I32, &ni);
    struct cosmos_retinaface_config c;
    char cp[1024];
    config_path(cp, sizeof cp, "retinaface-tiny");
    cr_assert_eq(cosmos_retinaface_config_load(cp, &c), COSMOS_OK);
    const int H = (int)fi.shape[1], W = (int)fi.shape[2];
    const int64_t P = li.shape[1];
    int off = 0;
    for (int t = 0; t < (int)fi.shape[0]; t++) {
        struct cosmos_retinaface_box *b = NULL;
        int n = 0;
        cr_assert_eq(cosmos_retinaface_postprocess(&c, H, W, loc + t * 4 * P, conf + t * 2 * P, &b, &n), COSMOS_OK);
        char what[32];
        snprintf(what, sizeof what, "frame %d", t);
        expect_dets(b, n, dets + 5 * off, cnt[t], 1e-3, what);
        off += cnt[t];
        free(b);
    }
    cr_expect(off > 0, "the fixture has detections");
    free(loc), free(conf), free(dets), free(cnt);
    cosmos_h5_close(h);
}

Test(face_blur, detections_and_blurred_frames) {
    cosmos_h5_t *h = open_golden();
    struct cosmos_h5_info fi, oi, di, ni;
    uint8_t *frames = read_u8(h, "frames_in", "frames_shape", &fi),
            *want = read_u8(h, "frames_out", "frames_shape", &oi);
    float *dets = read_all(h, "dets", COSMOS_F32, &di);
    int32_t *cnt = read_all(h, "det_count", COSMOS_I32, &ni);
    const int64_t T = fi.shape[0], H = fi.shape[1], W = fi.shape[2];
    cosmos_retinaface_t *m = load_tiny();
    int off = 0;
    for (int t = 0; t < T; t++) {
        struct cosmos_retinaface_box *b = NULL;
        int n = 0;
        cr_assert_eq(cosmos_retinaface_detect(m, frames + t * H * W * 3, (int)H, (int)W, &b, &n), COSMOS_OK);
        char what[32];
        snprintf(what, sizeof what, "frame %d", t);
        expect_dets(b, n, dets + 5 * off, cnt[t], TOL_BOX_PX, what);
        off += cnt[t];
        free(b);
    }
    cosmos_retinaface_free(m);

    /* the guardrail check, as the pipeline runs it */
    char w[1024];
    struct cosmos_guardrail_params p = cosmos_guardrail_params_default();
    p.checks[0] = "face_blur";
    p.n_checks = 1;
    p.face_blur_weights = data_path("retinaface-tiny.h5", w, sizeof w);
    cosmos_guardrail_t *g = NULL;
    cr_assert_eq(cosmos_guardrail_load(&p, &g), COSMOS_OK);
    cr_expect_str_eq(cosmos_guardrail_check_name(g, 0), "face_blur");
    struct cosmos_guardrail_verdict v;
    cr_expect_eq(cosmos_guardrail_check_video(g, frames, T, H, W, &v), COSMOS_OK);
    cr_expect(v.safe && v.n_checks_run == 0, "face_blur has no video safety hook");
    cr_assert_eq(cosmos_guardrail_filter_video(g, frames, T, H, W), COSMOS_OK);
    cr_expect_eq(compare_frames(frames, want, T, H, W, "blurred"), 0, "blurred frames differ from the reference");
    cosmos_guardrail_free(g);
    free(frames), free(want), free(dets), free(cnt);
    cosmos_h5_close(h);
}

Test(face_blur, nms_sets) {
    cosmos_h5_t *h = open_golden();
    struct cosmos_h5_info di, ki, ti;
    float *d = read_all(h, "nms_dets", COSMOS_F32, &di), *thr = read_all(h, "nms_thresh", COSMOS_F32, &ti);
    int32_t *keep = read_all(h, "nms_keep", COSMOS_I32, &ki);
    const int S = (int)di.shape[0], n = (int)di.shape[1];
    struct cosmos_retinaface_box *b = malloc(sizeof *b * (size_t)n);
    for (int s = 0; s < S; s++) {
        for (int i = 0; i < n; i++) {
            const float *r = d + ((int64_t)s * n + i) * 5;
            b[i] = (struct cosmos_retinaface_box){r[0], r[1], r[2], r[3], r[4]};
        }
        const int k = cosmos_retinaface_nms(b, n, thr[s]);
        int want = 0;
        while (want < n && keep[s * n + want] >= 0) want++;
        cr_expect_eq(k, want, "set %d (threshold %.2f): kept %d, reference %d", s, thr[s], k, want);
        for (int i = 0; i < k && i < want; i++)
            cr_expect(!memcmp(&b[i], d + ((int64_t)s * n + keep[s * n + i]) * 5, sizeof b[i]),
                      "set %d: kept box %d is not reference row %d", s, i, keep[s * n + i]);
    }
    cr_expect_eq(cosmos_retinaface_nms(b, 0, 0.4f), 0);
    free(b), free(d), free(thr), free(keep);
    cosmos_h5_close(h);
}

Test(face_blur, pixelation_edge_cases) {
    cosmos_h5_t *h = open_golden();
    struct cosmos_h5_info fi, bi, ki, oi, ci;
    uint8_t *frame = read_u8(h, "pix_frame", "pix_shape", &fi), *want = read_u8(h, "pix_out", "pix_shape", &oi);
    float *boxes = read_all(h, "pix_boxes", COSMOS_F32, &bi);
    int32_t *blocks = read_all(h, "pix_blocks", COSMOS_I32, &ki), *count = read_all(h, "pix_count", COSMOS_I32, &ci);
    const int H = (int)fi.shape[0], W = (int)fi.shape[1], K = (int)bi.shape[0];
    uint8_t *f = malloc((size_t)H * W * 3);
    for (int k = 0; k < K; k++) {
        memcpy(f, frame, (size_t)H * W * 3);
        const float *r = boxes + 4 * k;
        struct cosmos_retinaface_box b = {r[0], r[1], r[2], r[3], 0.9f};
        int n = -1;
        cr_assert_eq(cosmos_face_blur_apply(f, H, W, &b, 1, 20, blocks[k], &n), COSMOS_OK);
        char what[96];
        snprintf(what, sizeof what, "box %d (%.1f, %.1f, %.1f, %.1f) blocks %d", k, r[0], r[1], r[2], r[3], blocks[k]);
        cr_expect_eq(n, count[k], "%s: %d ROIs blurred, reference %d", what, n, count[k]);
        cr_expect_eq(compare_frames(f, want + (int64_t)k * H * W * 3, 1, H, W, what), 0, "%s differs", what);
    }
    /* non-finite boxes are skipped, not a crash */
    memcpy(f, frame, (size_t)H * W * 3);
    struct cosmos_retinaface_box nan_box = {NAN, 0, 30, 30, 0.9f};
    int n = -1;
    cr_expect_eq(cosmos_face_blur_apply(f, H, W, &nan_box, 1, 20, 5, &n), COSMOS_OK);
    cr_expect(n == 0 && !memcmp(f, frame, (size_t)H * W * 3));
    cr_expect_eq(cosmos_face_blur_pixelate(f, H, W, 5, 5, 5, 9, 5), COSMOS_ERR_INVALID_ARG, "empty ROI");
    cr_expect_eq(cosmos_face_blur_pixelate(f, H, W, 0, 0, W + 1, 4, 5), COSMOS_ERR_INVALID_ARG, "ROI past the edge");
    free(f), free(frame), free(want), free(boxes), free(blocks), free(count);
    cosmos_h5_close(h);
}

Test(face_blur, resize_small_cases) {
    /* 2x2 -> 1x1 is OpenCV's 2:1 area path: (a + b + c + d + 2) >> 2 per channel */
    const uint8_t src[12] = {0, 10, 255, 1, 20, 255, 2, 30, 254, 3, 41, 254};
    uint8_t d[3];
    cr_assert_eq(cosmos_resize_linear_u8c3(src, 2, 2, 6, d, 1, 1), COSMOS_OK);
    cr_expect(d[0] == 2 && d[1] == 25 && d[2] == 255, "got %d %d %d", d[0], d[1], d[2]);
    /* nearest 1x2 -> 3x4: column i takes floor(i * 2/4) */
    uint8_t big[3 * 4 * 3];
    const uint8_t row[6] = {1, 2, 3, 4, 5, 6};
    cosmos_resize_nearest_u8c3(row, 1, 2, 6, big, 3, 4, 12);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++) cr_expect_eq(big[(y * 4 + x) * 3], x < 2 ? 1 : 4);
}

Test(face_blur, priors_640x1024) {
    struct cosmos_retinaface_config c;
    char cp[1024];
    config_path(cp, sizeof cp, "retinaface-resnet50");
    cr_assert_eq(cosmos_retinaface_config_load(cp, &c), COSMOS_OK);
    cr_expect_eq(cosmos_retinaface_num_priors(&c, 640, 1024), 26880, "spec 5.5: 26 880 priors");
    cr_expect_eq(c.num_anchors, 2);
    cr_expect(c.confidence_threshold == 0.7f && c.nms_threshold == 0.4f && c.top_k == 5000 && c.keep_top_k == 750);
    cr_expect(cosmos_retinaface_leaky(&c) == 0.0f, "out_channel 256: ReLU");
    float pr[8];
    float *all = malloc(sizeof(float) * 4 * 26880);
    cosmos_retinaface_priors(&c, 640, 1024, all);
    memcpy(pr, all, sizeof pr);
    cr_expect(pr[0] == 4.0f / 1024 && pr[1] == 4.0f / 640 && pr[2] == 16.0f / 1024 && pr[3] == 16.0f / 640);
    cr_expect(pr[6] == 32.0f / 1024, "second anchor of the first cell");
    free(all);
    cosmos_retinaface_free(NULL);
}

Test(face_blur, config_round_trip_and_type) {
    const char *names[2] = {"retinaface-resnet50", "retinaface-tiny"};
    for (int i = 0; i < 2; i++) {
        char cp[1024];
        struct cosmos_retinaface_config a, b;
        config_path(cp, sizeof cp, names[i]);
        cr_assert(cosmos_config_file_is_retinaface(cp), "%s", cp);
        cr_assert_eq(cosmos_retinaface_config_load(cp, &a), COSMOS_OK);
        char *json = cosmos_retinaface_config_to_json(&a);
        cr_assert(json);
        cr_assert_eq(cosmos_retinaface_config_parse(json, "round trip", &b), COSMOS_OK);
        cr_expect(!memcmp(&a, &b, sizeof a), "%s: JSON round trip changes the config", names[i]);
        free(json);
    }
    char cp[1024];
    config_path(cp, sizeof cp, "t5-tiny");
    cr_expect(!cosmos_config_file_is_retinaface(cp));
    struct cosmos_retinaface_config c;
    config_path(cp, sizeof cp, "retinaface-tiny");
    cr_assert_eq(cosmos_retinaface_config_load(cp, &c), COSMOS_OK);
    cr_expect(cosmos_retinaface_leaky(&c) == 0.1f, "out_channel 16: LeakyReLU 0.1");
}

struct bad_case {
    const char *key, *value; /* value NULL: key deleted */
    cosmos_status want;
    const char *needle;
};

static const struct bad_case bad_cases[] = {
    {"anchors", "2", COSMOS_ERR_INVALID_ARG, "unknown key 'anchors'"},
    {"model_type", "\"t5\"", COSMOS_ERR_INVALID_ARG, "model_type must be \"retinaface\""},
    {"model_type", NULL, COSMOS_ERR_INVALID_ARG, "model_type must be \"retinaface\""},
    {"blocks", NULL, COSMOS_ERR_INVALID_ARG, "required key 'blocks' is missing"},
    {"stem_width", "0", COSMOS_ERR_INVALID_ARG, "'stem_width' must be an integer"},
    {"out_channel", "18", COSMOS_ERR_INVALID_ARG, "'out_channel' 18 must be a multiple of 4"},
    {"blocks", "[1, 1, 1]", COSMOS_ERR_INVALID_ARG, "'blocks' must be a list of 4"},
    {"blocks", "[1, 0, 1, 1]", COSMOS_ERR_INVALID_ARG, "'blocks'[1]"},
    {"min_sizes", "[[12, 24], [32], [64, 96]]", COSMOS_ERR_INVALID_ARG, "'min_sizes'[1]"},
    {"min_sizes", "[[12, 24], [32, 48]]", COSMOS_ERR_INVALID_ARG, "'min_sizes' must be a list of 3"},
    {"min_sizes", "[[12, 24], [32, -1], [64, 96]]", COSMOS_ERR_INVALID_ARG, "'min_sizes[1]'[1]"},
    {"steps", "[8, 16, 64]", COSMOS_ERR_INVALID_ARG, "'steps' must be [8, 16, 32]"},
    {"variances", "[0.1]", COSMOS_ERR_INVALID_ARG, "'variances' must be a list of 2"},
    {"confidence_threshold", "1.5", COSMOS_ERR_INVALID_ARG, "'confidence_threshold' must be a number"},
    {"nms_threshold", "0", COSMOS_ERR_INVALID_ARG, "'nms_threshold' must be a number"},
    {"keep_top_k", "6000", COSMOS_ERR_INVALID_ARG, "'keep_top_k' 6000 exceeds 'top_k' 5000"},
    {"pixelate_blocks", "0", COSMOS_ERR_INVALID_ARG, "'pixelate_blocks'"},
    {"name", "3", COSMOS_ERR_INVALID_ARG, "'name' must be a string"},
    {"min_face_size", "0", COSMOS_OK, ""},
};

Test(face_blur, config_errors_name_the_problem) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *b = &bad_cases[i];
        char path[1024], name[64];
        snprintf(name, sizeof name, "rf-bad-%02zu.json", i);
        write_config_variant("retinaface-tiny", b->key, b->value, name, path, sizeof path);
        struct cosmos_retinaface_config c;
        log_capture_start();
        cosmos_status st = cosmos_retinaface_config_load(path, &c);
        log_capture_stop();
        expect_config_error(b->key, b->value, st, b->want, b->needle, path);
    }
}

/* A file with the tiny config's header and every spec written as small values, except: `skip` left
 * out, `reshape` written with one more output channel, `extra` added. */
static void write_weights(const char *path, const char *skip, const char *reshape, const char *extra) {
    struct cosmos_retinaface_config c;
    char cp[1024];
    config_path(cp, sizeof cp, "retinaface-tiny");
    cr_assert_eq(cosmos_retinaface_config_load(cp, &c), COSMOS_OK);
    struct cosmos_retinaface_tensor_spec *s = NULL;
    int n = 0;
    cr_assert_eq(cosmos_retinaface_weight_specs(&c, &s, &n), COSMOS_OK);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_create(path, &h), COSMOS_OK);
    cr_assert_eq(cosmos_retinaface_write_header(h, &c), COSMOS_OK);
    float *v = malloc(sizeof(float) * (1 << 20));
    for (int i = 0; i < (1 << 20); i++) v[i] = 0.5f;
    for (int i = 0; i < n; i++) {
        if (skip && !strcmp(s[i].name, skip)) continue;
        int64_t shape[4];
        memcpy(shape, s[i].shape, sizeof shape);
        if (reshape && !strcmp(s[i].name, reshape)) shape[0]++;
        cr_assert_eq(cosmos_h5_write(h, s[i].name, COSMOS_F32, s[i].ndim, shape, v), COSMOS_OK);
    }
    if (extra) {
        int64_t four = 4;
        cr_assert_eq(cosmos_h5_write(h, extra, COSMOS_F32, 1, &four, v), COSMOS_OK);
    }
    cosmos_h5_close(h);
    free(v);
    free(s);
}

static void expect_load_error(const char *path, cosmos_status want, const char *n1, const char *n2) {
    cosmos_retinaface_t *m = NULL;
    log_capture_start();
    cosmos_status st = cosmos_retinaface_load(path, &m);
    log_capture_stop();
    cr_expect_eq(st, want, "%s: %s", path, cosmos_status_str(st));
    cr_expect(m == NULL);
    cr_expect(strstr(log_captured(), n1) && strstr(log_captured(), n2), "'%s' / '%s' not in: %s", n1, n2,
              log_captured());
}

Test(face_blur, weight_file_errors_name_the_dataset) {
    char path[1024];
    tmp_path(path, sizeof path, "rf-ok.h5");
    write_weights(path, NULL, NULL, NULL);
    cosmos_retinaface_t *m = NULL;
    cr_expect_eq(cosmos_retinaface_load(path, &m), COSMOS_OK, "a complete file loads");
    cosmos_retinaface_free(m);
    tmp_path(path, sizeof path, "rf-missing.h5");
    write_weights(path, "ssh2.conv7x7_3.1.running_var", NULL, NULL);
    expect_load_error(path, COSMOS_ERR_FORMAT, "missing dataset 'ssh2.conv7x7_3.1.running_var'", "[4]");
    tmp_path(path, sizeof path, "rf-shape.h5");
    write_weights(path, NULL, "body.layer2.0.conv2.weight", NULL);
    expect_load_error(path, COSMOS_ERR_FORMAT, "'body.layer2.0.conv2.weight' has shape [7, 6, 3, 3]",
                      "expected [6, 6, 3, 3]");
    tmp_path(path, sizeof path, "rf-landmark.h5");
    write_weights(path, "LandmarkHead.2.conv1x1.bias", NULL, NULL);
    expect_load_error(path, COSMOS_ERR_FORMAT, "missing dataset 'LandmarkHead.2.conv1x1.bias'", "[20]");
    tmp_path(path, sizeof path, "rf-extra.h5");
    write_weights(path, NULL, NULL, "body.fc.bias");
    expect_load_error(path, COSMOS_ERR_FORMAT, "unexpected dataset 'body.fc.bias'", "retinaface-tiny");
    /* another model's file */
    char t5[1024];
    expect_load_error(data_path("t5-tiny.h5", t5, sizeof t5), COSMOS_ERR_FORMAT, "t5-tiny.h5", "retinaface");
    tmp_path(path, sizeof path, "rf-does-not-exist.h5");
    remove(path);
    cosmos_retinaface_t *none = NULL;
    log_capture_start();
    cr_expect_neq(cosmos_retinaface_load(path, &none), COSMOS_OK);
    log_capture_stop();
    cr_expect(strstr(log_captured(), path), "%s", log_captured());
}

Test(face_blur, guardrail_needs_weights) {
    struct cosmos_guardrail_params p = cosmos_guardrail_params_default();
    p.checks[0] = "face_blur";
    p.n_checks = 1;
    cosmos_guardrail_t *g = NULL;
    log_capture_start();
    cosmos_status st = cosmos_guardrail_load(&p, &g);
    log_capture_stop();
    cr_expect_eq(st, COSMOS_ERR_INVALID_ARG);
    cr_expect(g == NULL);
    cr_expect(strstr(log_captured(), "face_blur_weights"), "%s", log_captured());
    p.face_blur_weights = "";
    cr_expect_eq(cosmos_guardrail_load(&p, &g), COSMOS_ERR_INVALID_ARG);
}

Test(face_blur, init_random_roundtrip) {
    char cp[1024], out[1024];
    config_path(cp, sizeof cp, "retinaface-tiny");
    tmp_path(out, sizeof out, "rf-tiny-random.h5");
    struct cosmos_retinaface_config c;
    cr_assert_eq(cosmos_retinaface_config_load(cp, &c), COSMOS_OK);
    cr_assert_eq(cosmos_retinaface_init_random(&c, 7, out), COSMOS_OK);
    cosmos_retinaface_t *m = NULL;
    cr_assert_eq(cosmos_retinaface_load(out, &m), COSMOS_OK);
    const int H = 40, W = 72;
    uint8_t *f = malloc((size_t)H * W * 3);
    for (int i = 0; i < H * W * 3; i++) f[i] = (uint8_t)(i * 7 + i / 97);
    const int64_t P = cosmos_retinaface_num_priors(&c, H, W);
    float *l = malloc(sizeof(float) * 4 * (size_t)P), *cf = malloc(sizeof(float) * 2 * (size_t)P);
    cr_assert_eq(cosmos_retinaface_forward(m, f, H, W, l, cf), COSMOS_OK);
    double lmax = 0, smin = 1, smax = 0;
    for (int64_t i = 0; i < P; i++) {
        for (int k = 0; k < 4; k++) {
            cr_assert(isfinite(l[4 * i + k]));
            lmax = fmax(lmax, fabs(l[4 * i + k]));
        }
        smin = fmin(smin, cf[2 * i + 1]), smax = fmax(smax, cf[2 * i + 1]);
    }
    cr_log_info("random tiny: max|loc| %.3g, face score in [%.3f, %.3f]", lmax, smin, smax);
    cr_expect(lmax < 50, "bounded activations: max|loc| %g", lmax);
    cr_expect(smax - smin > 1e-3, "scores vary: [%g, %g]", smin, smax);
    struct cosmos_retinaface_box *b = NULL;
    int n = 0;
    cr_expect_eq(cosmos_retinaface_detect(m, f, H, W, &b, &n), COSMOS_OK);
    free(b), free(l), free(cf), free(f);
    cosmos_retinaface_free(m);
    cr_expect_eq(cosmos_retinaface_init_random(&c, 7, "/nonexistent-dir/x.h5") != COSMOS_OK, 1);
}
