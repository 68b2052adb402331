/* Video content-safety filter tests (spec components.md 5.4): the Pillow bicubic resize (exact, vs
 * tools/reference/siglip_ref.py, itself checked against Pillow by siglip_crosscheck_official.py),
 * the tiny SigLIP + classifier against the reference (tests/data/siglip-tiny-safety*.h5 from
 * tools/reference/make_siglip_fixtures.py; features / embedding / logits within
 * 2e-5 * (1 + |ref|), classes equal), the check's verdicts through cosmos_guardrail_load, config
 * errors, weight-file errors (the message names the dataset) and `cosmos-ar init` weights. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/guardrail/guardrail.h"
#include "core/guardrail/pil_resize.h"
#include "core/guardrail/siglip.h"
#include "core/h5bytes.h"
#include "core/h5file.h"
#include "cosmos_build_config.h"
#include "log_capture.h"
#include "test_files.h"

#define TOL 2e-5
#define WEIGHTS "siglip-tiny-safety.h5"
#define GOLDEN "siglip-tiny-safety.golden.h5"

static const char *data_path(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/tests/data/%s", COSMOS_SOURCE_DIR, name);
    return buf;
}

/* Images are flattened uint8 datasets (core/h5bytes.h reads 1-D bytes); their sizes are in the
 * int64 datasets frame_shapes [n, 2] (H, W) and resize_shapes [n, 4] (H, W, out_h, out_w). */
static uint8_t *read_image(const char *golden, const char *name, int64_t expect_bytes) {
    uint8_t *img = NULL;
    size_t n = 0;
    cr_assert_eq(cosmos_h5_read_bytes(golden, name, &img, &n), COSMOS_OK, "%s", name);
    cr_assert_eq((int64_t)n, expect_bytes, "%s: %zu bytes, want %lld", name, n, (long long)expect_bytes);
    return img;
}

static int32_t *read_shapes(cosmos_h5_t *h, const char *name, int64_t *rows) {
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h, name, &info), COSMOS_OK, "%s", name);
    int32_t *p = malloc(sizeof(int32_t) * (size_t)(info.shape[0] * info.shape[1]));
    cr_assert_eq(cosmos_h5_read(h, name, COSMOS_I32, p), COSMOS_OK, "%s", name);
    *rows = info.shape[0];
    return p;
}

static float *read_f32(cosmos_h5_t *h, const char *name, int64_t *numel) {
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h, name, &info), COSMOS_OK, "%s", name);
    int64_t n = 1;
    for (int d = 0; d < info.ndim; d++) n *= info.shape[d];
    float *p = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_h5_read(h, name, COSMOS_F32, p), COSMOS_OK, "%s", name);
    *numel = n;
    return p;
}

static int32_t *read_classes(cosmos_h5_t *h, int64_t *n) {
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h, "classes", &info), COSMOS_OK);
    int32_t *p = malloc(sizeof(int32_t) * (size_t)info.shape[0]);
    cr_assert_eq(cosmos_h5_read(h, "classes", COSMOS_I32, p), COSMOS_OK);
    *n = info.shape[0];
    return p;
}

static int n_frames(cosmos_h5_t *h) {
    int64_t n = 0;
    cr_assert_eq(cosmos_h5_attr_int(h, "n_frames", &n), COSMOS_OK);
    return (int)n;
}

static void expect_close(const char *what, int frame, const float *got, const float *want, int64_t n) {
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(e <= worst)) worst = e, at = i;
    }
    cr_log_info("frame %d %s: max rel error %.3g", frame, what, worst);
    cr_expect(worst <= TOL, "frame %d %s: rel error %.3g at %lld (got %.7g, reference %.7g)", frame, what, worst,
              (long long)at, got[at], want[at]);
}

/* ---- resize ------------------------------------------------------------------------------------ */

static void expect_same_image(const char *what, const uint8_t *got, const uint8_t *want, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            cr_expect(0, "%s: byte %lld is %d, Pillow (reference) %d", what, (long long)i, got[i], want[i]);
            return;
        }
}

Test(content_filter, pil_resize_matches_reference) {
    char g[1024], name[64];
    cosmos_h5_t *h = NULL;
    data_path(GOLDEN, g, sizeof g);
    cr_assert_eq(cosmos_h5_open(g, &h), COSMOS_OK);
    int64_t n = 0, n_cases = 0;
    int32_t *fs = read_shapes(h, "frame_shapes", &n), *rs = read_shapes(h, "resize_shapes", &n_cases);
    cr_assert_eq(n, n_frames(h));
    const int S = 30; /* configs/models/siglip-tiny-safety.json image_size */
    for (int i = 0; i < n; i++) {
        const int64_t H = fs[2 * i], W = fs[2 * i + 1];
        snprintf(name, sizeof name, "frame_%d", i);
        uint8_t *src = read_image(g, name, H * W * 3);
        snprintf(name, sizeof name, "resized_%d", i);
        uint8_t *want = read_image(g, name, S * S * 3);
        uint8_t *got = malloc((size_t)(S * S * 3));
        cr_assert_eq(cosmos_pil_resize_bicubic_u8(src, H, W, 3, got, S, S), COSMOS_OK);
        expect_same_image(name, got, want, S * S * 3);
        free(src), free(want), free(got);
    }
    for (int c = 0; c < n_cases; c++) {
        const int64_t H = rs[4 * c], W = rs[4 * c + 1], oh = rs[4 * c + 2], ow = rs[4 * c + 3];
        snprintf(name, sizeof name, "resize_src_%d", c);
        uint8_t *src = read_image(g, name, H * W * 3);
        snprintf(name, sizeof name, "resize_dst_%d", c);
        uint8_t *want = read_image(g, name, oh * ow * 3);
        uint8_t *got = malloc((size_t)(oh * ow * 3));
        cr_assert_eq(cosmos_pil_resize_bicubic_u8(src, H, W, 3, got, oh, ow), COSMOS_OK);
        char what[128];
        snprintf(what, sizeof what, "%s (%lldx%lld -> %lldx%lld)", name, (long long)H, (long long)W, (long long)oh,
                 (long long)ow);
        expect_same_image(what, got, want, oh * ow * 3);
        free(src), free(want), free(got);
    }
    free(fs), free(rs);
    cosmos_h5_close(h);
}

Test(content_filter, pil_resize_edges) {
    /* a constant image stays constant (weights sum to 1 in fixed point, +- rounding); 1x1 -> 4x4 */
    uint8_t src[5 * 7 * 3], dst[13 * 3 * 3], one[3] = {10, 200, 255}, big[4 * 4 * 3];
    memset(src, 77, sizeof src);
    cr_assert_eq(cosmos_pil_resize_bicubic_u8(src, 5, 7, 3, dst, 13, 3), COSMOS_OK);
    for (size_t i = 0; i < sizeof dst; i++) cr_expect_eq(dst[i], 77, "byte %zu = %d", i, dst[i]);
    cr_assert_eq(cosmos_pil_resize_bicubic_u8(one, 1, 1, 3, big, 4, 4), COSMOS_OK);
    for (int i = 0; i < 16; i++)
        cr_expect(big[3 * i] == 10 && big[3 * i + 1] == 200 && big[3 * i + 2] == 255, "pixel %d", i);
    log_capture_start();
    cr_expect_eq(cosmos_pil_resize_bicubic_u8(src, 0, 7, 3, dst, 13, 3), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_pil_resize_bicubic_u8(NULL, 5, 7, 3, dst, 13, 3), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
}

/* ---- model vs reference ------------------------------------------------------------------------ */

Test(content_filter, forward_matches_reference) {
    char g[1024], w[1024], name[64];
    cosmos_h5_t *h = NULL;
    cosmos_siglip_t *m = NULL;
    cr_assert_eq(cosmos_siglip_load(data_path(WEIGHTS, w, sizeof w), &m), COSMOS_OK);
    const struct cosmos_siglip_config *c = cosmos_siglip_get_config(m);
    cr_assert_eq(cosmos_h5_open(data_path(GOLDEN, g, sizeof g), &h), COSMOS_OK);
    int64_t nc = 0, n_shapes = 0;
    int32_t *classes = read_classes(h, &nc), *fs = read_shapes(h, "frame_shapes", &n_shapes);
    const int n = n_frames(h);
    cr_assert_eq(n_shapes, n);
    cr_assert_eq(nc, n);
    const int S = c->image_size, D = c->hidden_size, C = c->num_classes;
    uint8_t *resized = malloc((size_t)S * S * 3);
    float *feat = malloc(sizeof(float) * D), *emb = malloc(sizeof(float) * D), logits[COSMOS_SIGLIP_MAX_CLASSES];
    int seen_safe = 0, seen_unsafe = 0;
    for (int i = 0; i < n; i++) {
        const int64_t H = fs[2 * i], W = fs[2 * i + 1];
        int64_t k;
        snprintf(name, sizeof name, "frame_%d", i);
        uint8_t *frame = read_image(g, name, H * W * 3);
        cr_assert_eq(cosmos_siglip_forward(m, frame, H, W, resized, feat, emb, logits), COSMOS_OK);
        snprintf(name, sizeof name, "resized_%d", i);
        uint8_t *want_img = read_image(g, name, (int64_t)S * S * 3);
        expect_same_image(name, resized, want_img, (int64_t)S * S * 3);
        snprintf(name, sizeof name, "features_%d", i);
        float *want = read_f32(h, name, &k);
        cr_assert_eq(k, D);
        expect_close("features", i, feat, want, D);
        free(want);
        snprintf(name, sizeof name, "embedding_%d", i);
        want = read_f32(h, name, &k);
        expect_close("embedding", i, emb, want, D);
        free(want);
        snprintf(name, sizeof name, "logits_%d", i);
        want = read_f32(h, name, &k);
        cr_assert_eq(k, C);
        expect_close("logits", i, logits, want, C);
        free(want);
        int best = 0;
        for (int j = 1; j < C; j++) best = logits[j] > logits[best] ? j : best;
        cr_expect_eq(best, classes[i], "frame %d: class %d, reference %d", i, best, classes[i]);
        seen_safe |= best == 0, seen_unsafe |= best != 0;
        /* outputs are optional */
        cr_expect_eq(cosmos_siglip_forward(m, frame, H, W, NULL, NULL, NULL, NULL), COSMOS_OK);
        free(frame), free(want_img);
    }
    cr_expect(seen_safe && seen_unsafe, "the fixture must hold a safe and an unsafe frame");
    log_capture_start();
    cr_expect_eq(cosmos_siglip_forward(m, resized, 0, 4, NULL, NULL, NULL, logits), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_siglip_forward(m, NULL, 4, 4, NULL, NULL, NULL, logits), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    free(resized), free(feat), free(emb), free(classes), free(fs);
    cosmos_h5_close(h);
    cosmos_siglip_free(m);
    cosmos_siglip_free(NULL);
}

/* The tower on a device-style backend (cosmos_siglip_use_backend; cpu-staged: the CPU ops behind
 * the device code path, f32): the same reference within TOL, the host forward's class, and back to
 * the host path with NULL. (tests/cuda/test_cuda_guardrail.c runs it on cuda:0.) */
Test(content_filter, forward_on_a_device_backend_matches_reference) {
    char g[1024], w[1024], name[64];
    cosmos_h5_t *h = NULL;
    cosmos_siglip_t *m = NULL, *ref = NULL;
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu-staged", NULL, &be), COSMOS_OK);
    cr_assert_eq(cosmos_siglip_load(data_path(WEIGHTS, w, sizeof w), &m), COSMOS_OK);
    cr_assert_eq(cosmos_siglip_load(w, &ref), COSMOS_OK);
    cr_assert_eq(cosmos_siglip_use_backend(m, be), COSMOS_OK);
    cr_assert_eq(cosmos_siglip_backend(m), be);
    const struct cosmos_siglip_config *c = cosmos_siglip_get_config(m);
    cr_assert_eq(cosmos_h5_open(data_path(GOLDEN, g, sizeof g), &h), COSMOS_OK);
    int64_t nc = 0, n_shapes = 0;
    int32_t *classes = read_classes(h, &nc), *fs = read_shapes(h, "frame_shapes", &n_shapes);
    const int n = n_frames(h), D = c->hidden_size, C = c->num_classes;
    float *feat = malloc(sizeof(float) * D), *emb = malloc(sizeof(float) * D), logits[COSMOS_SIGLIP_MAX_CLASSES];
    float host_logits[COSMOS_SIGLIP_MAX_CLASSES];
    for (int i = 0; i < n; i++) {
        const int64_t H = fs[2 * i], W = fs[2 * i + 1];
        int64_t k;
        snprintf(name, sizeof name, "frame_%d", i);
        uint8_t *frame = read_image(g, name, H * W * 3);
        cr_assert_eq(cosmos_siglip_forward(m, frame, H, W, NULL, feat, emb, logits), COSMOS_OK);
        const char *what[3] = {"features", "embedding", "logits"};
        float *got[3] = {feat, emb, logits};
        for (int q = 0; q < 3; q++) {
            snprintf(name, sizeof name, "%s_%d", what[q], i);
            float *want = read_f32(h, name, &k);
            cr_assert_eq(k, q == 2 ? C : D);
            expect_close(what[q], i, got[q], want, k);
            free(want);
        }
        int best = 0;
        for (int j = 1; j < C; j++) best = logits[j] > logits[best] ? j : best;
        cr_expect_eq(best, classes[i], "frame %d: class %d, reference %d", i, best, classes[i]);
        cr_assert_eq(cosmos_siglip_forward(ref, frame, H, W, NULL, NULL, NULL, host_logits), COSMOS_OK);
        expect_close("logits vs the host path", i, logits, host_logits, C);
        free(frame);
    }
    cr_assert_eq(cosmos_siglip_use_backend(m, NULL), COSMOS_OK); /* back to the host */
    cr_expect_null(cosmos_siglip_backend(m));
    free(feat), free(emb), free(classes), free(fs);
    cosmos_h5_close(h);
    cosmos_siglip_free(m);
    cosmos_siglip_free(ref);
    cosmos_backend_free(be);
}

/* ---- the guardrail check ----------------------------------------------------------------------- */

static cosmos_guardrail_t *load_check(const char *weights) {
    struct cosmos_guardrail_params p = cosmos_guardrail_params_default();
    p.checks[0] = "video_content_filter", p.n_checks = 1;
    p.content_filter_weights = weights;
    cosmos_guardrail_t *g = NULL;
    cr_assert_eq(cosmos_guardrail_load(&p, &g), COSMOS_OK);
    return g;
}

Test(content_filter, verdicts) {
    char g[1024], w[1024];
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(data_path(GOLDEN, g, sizeof g), &h), COSMOS_OK);
    int64_t nc, n_shapes;
    int32_t *classes = read_classes(h, &nc), *shp = read_shapes(h, "frame_shapes", &n_shapes);
    const int64_t H = shp[0], W = shp[1];
    cr_assert(shp[2] == H && shp[3] == W && classes[0] == 0 && classes[1] != 0,
              "fixture frames 0 (safe) and 1 (unsafe)");
    uint8_t *safe_f = read_image(g, "frame_0", H * W * 3), *bad_f = read_image(g, "frame_1", H * W * 3);
    cosmos_guardrail_t *gr = load_check(data_path(WEIGHTS, w, sizeof w));
    cr_expect_str_eq(cosmos_guardrail_check_name(gr, 0), "video_content_filter");
    const size_t fs = (size_t)(H * W * 3);
    uint8_t *video = malloc(4 * fs);
    struct cosmos_guardrail_verdict v;
    /* all safe */
    memcpy(video, safe_f, fs), memcpy(video + fs, safe_f, fs);
    cr_assert_eq(cosmos_guardrail_check_video(gr, video, 2, H, W, &v), COSMOS_OK);
    cr_expect(v.safe);
    cr_expect_eq(v.n_checks_run, 1);
    cr_expect_str_eq(v.reason, "");
    /* safe, safe, unsafe, unsafe: blocked at frame 2 with the class name */
    memcpy(video + 2 * fs, bad_f, fs), memcpy(video + 3 * fs, bad_f, fs);
    cr_assert_eq(cosmos_guardrail_check_video(gr, video, 4, H, W, &v), COSMOS_OK);
    cr_expect(!v.safe);
    cr_expect_str_eq(v.check, "video_content_filter");
    static const char *names[7] = {"Safe",        "Sexual_Content",      "Violence", "Drugs",
                                   "Child_Abuse", "Hate_and_Harassment", "Self-Harm"};
    char want[128];
    snprintf(want, sizeof want, "frame 2: %s (class %d, probability ", names[classes[1]], classes[1]);
    cr_expect(strstr(v.reason, want) == v.reason, "reason '%s' lacks '%s'", v.reason, want);
    /* the first unsafe frame is the one reported */
    memcpy(video, bad_f, fs);
    cr_assert_eq(cosmos_guardrail_check_video(gr, video, 4, H, W, &v), COSMOS_OK);
    cr_expect(!v.safe);
    cr_expect(strncmp(v.reason, "frame 0: ", 9) == 0, "%s", v.reason);
    /* no text hook, no frame filter */
    cr_assert_eq(cosmos_guardrail_check_text(gr, "anything", &v), COSMOS_OK);
    cr_expect(v.safe);
    cr_expect_eq(v.n_checks_run, 0);
    cr_expect_eq(cosmos_guardrail_filter_video(gr, video, 1, H, W), COSMOS_OK);
    cosmos_guardrail_free(gr);
    free(video), free(safe_f), free(bad_f), free(classes), free(shp);
    cosmos_h5_close(h);
}

Test(content_filter, missing_weights) {
    struct cosmos_guardrail_params p = cosmos_guardrail_params_default();
    p.checks[0] = "video_content_filter", p.n_checks = 1;
    cosmos_guardrail_t *g = NULL;
    log_capture_start();
    cr_expect_eq(cosmos_guardrail_load(&p, &g), COSMOS_ERR_INVALID_ARG);
    cr_expect(strstr(log_captured(), "content_filter_weights") != NULL, "%s", log_captured());
    p.content_filter_weights = "/nonexistent/siglip.h5";
    cr_expect_neq(cosmos_guardrail_load(&p, &g), COSMOS_OK);
    cr_expect(strstr(log_captured(), "/nonexistent/siglip.h5") != NULL, "%s", log_captured());
    /* a weight file of another kind */
    char t5[1024];
    p.content_filter_weights = data_path("t5-tiny.h5", t5, sizeof t5);
    cr_expect_eq(cosmos_guardrail_load(&p, &g), COSMOS_ERR_FORMAT);
    cr_expect(strstr(log_captured(), "model_type is 't5', expected 'siglip_safety'") != NULL, "%s", log_captured());
    log_capture_stop();
    cr_expect_null(g);
}

/* ---- config errors ----------------------------------------------------------------------------- */

static void config_case(const char *key, const char *value, cosmos_status want, const char *needle) {
    char path[1024];
    struct cosmos_siglip_config c;
    write_config_variant("siglip-tiny-safety", key, value, "siglip-variant.json", path, sizeof path);
    log_capture_start();
    cosmos_status st = cosmos_siglip_config_load(path, &c);
    expect_config_error(key, value, st, want, needle, path);
    log_capture_stop();
}

Test(content_filter, config_shipped) {
    char path[1024];
    struct cosmos_siglip_config c;
    config_path(path, sizeof path, "siglip-so400m-safety");
    cr_assert_eq(cosmos_siglip_config_load(path, &c), COSMOS_OK);
    cr_expect(c.hidden_size == 1152 && c.intermediate_size == 4304 && c.num_hidden_layers == 27 &&
              c.num_attention_heads == 16 && c.image_size == 384 && c.patch_size == 14);
    cr_expect(c.n_classifier_hidden == 2 && c.classifier_hidden_sizes[0] == 512 && c.classifier_hidden_sizes[1] == 256);
    cr_expect(c.num_classes == 7 && c.layer_norm_eps == 1e-6 && c.batch_norm_eps == 1e-5);
    cr_expect_str_eq(c.class_names[0], "Safe");
    cr_expect_str_eq(c.class_names[6], "Self-Harm");
    cr_expect(cosmos_config_file_is_siglip(path));
    /* so400m: 428M vision parameters (HF reports 428,225,600 with the head) + 0.72M classifier */
    cr_expect_eq(cosmos_siglip_config_num_params(&c), 428225600LL + 1152 * 512 + 512 + 4 * 512 + 512 * 256 + 256 +
                                                          4 * 256 + 256 * 7 + 7);
    /* round trip through the JSON writer */
    char *json = cosmos_siglip_config_to_json(&c);
    struct cosmos_siglip_config c2;
    cr_assert_eq(cosmos_siglip_config_parse(json, "roundtrip", &c2), COSMOS_OK);
    cr_expect_eq(memcmp(&c, &c2, sizeof c), 0);
    free(json);
}

Test(content_filter, config_errors) {
    config_case("foo", "1", COSMOS_ERR_INVALID_ARG, "unknown key 'foo'");
    config_case("model_type", "\"t5\"", COSMOS_ERR_INVALID_ARG, "model_type must be \"siglip_safety\"");
    config_case("hidden_size", "31", COSMOS_ERR_INVALID_ARG, "not a multiple of num_attention_heads");
    config_case("hidden_size", "0", COSMOS_ERR_INVALID_ARG, "'hidden_size' must be an integer in [1, 16777216]");
    config_case("hidden_size", NULL, COSMOS_ERR_INVALID_ARG, "required key 'hidden_size' is missing");
    config_case("image_size", "6", COSMOS_ERR_INVALID_ARG, "image_size 6 is smaller than patch_size 7");
    config_case("num_channels", "1", COSMOS_ERR_INVALID_ARG, "num_channels must be 3");
    config_case("hidden_act", "\"gelu\"", COSMOS_ERR_UNSUPPORTED, "hidden_act must be \"gelu_pytorch_tanh\"");
    config_case("layer_norm_eps", "0", COSMOS_ERR_INVALID_ARG, "'layer_norm_eps' must be a number in (0, 1)");
    config_case("batch_norm_eps", "\"x\"", COSMOS_ERR_INVALID_ARG, "'batch_norm_eps' must be a number in (0, 1)");
    config_case("classifier_hidden_sizes", "[]", COSMOS_ERR_INVALID_ARG, "'classifier_hidden_sizes' must be");
    config_case("classifier_hidden_sizes", "[16, -1]", COSMOS_ERR_INVALID_ARG, "must be an integer in [1, 16777216]");
    config_case("classifier_hidden_sizes", NULL, COSMOS_ERR_INVALID_ARG, "required key 'classifier_hidden_sizes'");
    config_case("num_classes", "6", COSMOS_ERR_INVALID_ARG, "class_names has 7 entries, num_classes is 6");
    config_case("num_classes", "1", COSMOS_ERR_INVALID_ARG, "num_classes must be in [2, 16]");
    config_case("class_names", "[\"a\", 3]", COSMOS_ERR_INVALID_ARG, "class_names[1] must be a string");
    config_case("class_names", NULL, COSMOS_ERR_INVALID_ARG, "required key 'class_names' is missing");
    config_case("num_classes", "7", COSMOS_OK, "");
}

/* ---- weight-file errors ------------------------------------------------------------------------ */

enum edit { DROP, RESHAPE, EXTRA, NEG_VAR, NAN_VALUE };

/* Copy of the tiny fixture with one change to dataset `target`; returns the path. */
static void write_variant(const char *target, enum edit e, const char *out_name, char *out, size_t n) {
    char src[1024];
    cosmos_h5_t *in = NULL, *o = NULL;
    char *json = NULL, **names = NULL;
    int n_names = 0;
    cr_assert_eq(cosmos_h5_open(data_path(WEIGHTS, src, sizeof src), &in), COSMOS_OK);
    cr_assert_eq(cosmos_h5_check_model_header(in, "siglip_safety", "", &json), COSMOS_OK);
    tmp_path(out, n, out_name);
    cr_assert_eq(cosmos_h5_create(out, &o), COSMOS_OK);
    cr_assert_eq(cosmos_h5_write_model_header(o, "siglip_safety", json), COSMOS_OK);
    cr_assert_eq(cosmos_h5_list(in, &names, &n_names), COSMOS_OK);
    for (int i = 0; i < n_names; i++) {
        struct cosmos_h5_info info;
        cr_assert_eq(cosmos_h5_info(in, names[i], &info), COSMOS_OK);
        int64_t numel = 1;
        for (int d = 0; d < info.ndim; d++) numel *= info.shape[d];
        float *buf = calloc(2 * (size_t)numel + 1, sizeof(float)); /* room for a reshape's longer last axis */
        cr_assert_eq(cosmos_h5_read(in, names[i], COSMOS_F32, buf), COSMOS_OK);
        const int hit = !strcmp(names[i], target);
        if (hit && e == DROP) {
            free(buf);
            continue;
        }
        if (hit && e == RESHAPE) info.shape[info.ndim - 1] += 1; /* buf has the spare (zero) elements */
        if (hit && e == NEG_VAR) buf[0] = -0.5f;
        if (hit && e == NAN_VALUE) buf[numel - 1] = NAN;
        cr_assert_eq(cosmos_h5_write(o, names[i], COSMOS_F32, info.ndim, info.shape, buf), COSMOS_OK);
        if (hit && e == EXTRA)
            cr_assert_eq(cosmos_h5_write(o, "extra.weight", COSMOS_F32, 1, info.shape, buf), COSMOS_OK);
        free(buf);
    }
    cosmos_h5_free_names(names, n_names);
    free(json);
    cosmos_h5_close(in);
    cosmos_h5_close(o);
}

static void weights_case(const char *target, enum edit e, const char *needle) {
    char path[1024];
    cosmos_siglip_t *m = NULL;
    write_variant(target, e, "siglip-bad.h5", path, sizeof path);
    log_capture_start();
    cr_expect_eq(cosmos_siglip_load(path, &m), COSMOS_ERR_FORMAT, "%s", target);
    cr_expect(strstr(log_captured(), needle) != NULL, "%s: message lacks '%s': %s", target, needle, log_captured());
    cr_expect(strstr(log_captured(), path) != NULL, "%s: message does not name the file: %s", target, log_captured());
    log_capture_stop();
    cr_expect_null(m);
}

Test(content_filter, weight_file_errors) {
    char path[1024];
    cosmos_siglip_t *m = NULL;
    /* an unchanged copy loads */
    write_variant("", DROP, "siglip-copy.h5", path, sizeof path);
    cr_assert_eq(cosmos_siglip_load(path, &m), COSMOS_OK);
    cosmos_siglip_free(m);
    weights_case("vision_model.head.probe", DROP,
                 "missing dataset 'vision_model.head.probe' (expected shape [1, 1, 32])");
    weights_case("vision_model.encoder.layers.1.mlp.fc1.weight", RESHAPE,
                 "'vision_model.encoder.layers.1.mlp.fc1.weight' has shape [64, 33], expected [64, 32]");
    weights_case("vision_model.embeddings.patch_embedding.weight", RESHAPE,
                 "'vision_model.embeddings.patch_embedding.weight' has shape [32, 3, 7, 8], "
                 "expected [32, 3, 7, 7]");
    weights_case("network.layers.6.bias", EXTRA, "unknown dataset 'extra.weight'");
    weights_case("network.layers.4.running_var", NEG_VAR, "'network.layers.4.running_var' (a variance) is negative");
    weights_case("network.layers.3.weight", NAN_VALUE, "'network.layers.3.weight' holds a non-finite value");
}

/* ---- cosmos-ar init ---------------------------------------------------------------------------- */

Test(content_filter, init_random_roundtrip) {
    char cfg_path[1024], out[1024];
    struct cosmos_siglip_config c;
    config_path(cfg_path, sizeof cfg_path, "siglip-tiny-safety");
    cr_assert_eq(cosmos_siglip_config_load(cfg_path, &c), COSMOS_OK);
    tmp_path(out, sizeof out, "siglip-init.h5");
    cr_assert_eq(cosmos_siglip_init_random(&c, 42, out), COSMOS_OK);
    cosmos_siglip_t *m = NULL;
    cr_assert_eq(cosmos_siglip_load(out, &m), COSMOS_OK);
    uint8_t frame[30 * 50 * 3];
    for (size_t i = 0; i < sizeof frame; i++) frame[i] = (uint8_t)(i * 37 + (i >> 5));
    float emb[32], logits[2][COSMOS_SIGLIP_MAX_CLASSES];
    cr_assert_eq(cosmos_siglip_forward(m, frame, 30, 50, NULL, NULL, emb, logits[0]), COSMOS_OK);
    double nrm = 0;
    for (int i = 0; i < 32; i++) nrm += (double)emb[i] * emb[i];
    cr_expect(fabs(nrm - 1.0) < 1e-5, "|embedding|^2 = %g", nrm);
    for (int j = 0; j < c.num_classes; j++)
        cr_expect(isfinite(logits[0][j]) && fabsf(logits[0][j]) < 100, "logit %d = %g", j, logits[0][j]);
    cosmos_siglip_free(m);
    /* deterministic in the seed */
    cr_assert_eq(cosmos_siglip_init_random(&c, 42, out), COSMOS_OK);
    cr_assert_eq(cosmos_siglip_load(out, &m), COSMOS_OK);
    cr_assert_eq(cosmos_siglip_forward(m, frame, 30, 50, NULL, NULL, NULL, logits[1]), COSMOS_OK);
    cr_expect_eq(memcmp(logits[0], logits[1], sizeof(float) * (size_t)c.num_classes), 0);
    cosmos_siglip_free(m);
    remove(out);
}

/* The forward gives the same bits on 1, 2 and 3 threads: GEMM slices, one head per thread with its
 * own score block, row-parallel LayerNorm / GELU / adds. The config is sized so that every one of
 * those parallel paths runs (1024 tokens of width 64, 4 heads, 131072 GELU inputs; the q/k/v
 * GEMMs are split on 2 threads and whole on 3). */
Test(content_filter, forward_thread_invariant) {
    static const char *json = "{\"model_type\": \"siglip_safety\", \"name\": \"siglip-threads\", "
                              "\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, "
                              "\"num_attention_heads\": 4, \"num_channels\": 3, \"image_size\": 224, "
                              "\"patch_size\": 7, \"layer_norm_eps\": 1e-06, \"hidden_act\": \"gelu_pytorch_tanh\", "
                              "\"classifier_hidden_sizes\": [16], \"num_classes\": 7, \"batch_norm_eps\": 1e-05, "
                              "\"class_names\": [\"Safe\", \"A\", \"B\", \"C\", \"D\", \"E\", \"F\"]}";
    struct cosmos_siglip_config c;
    cr_assert_eq(cosmos_siglip_config_parse(json, "test", &c), COSMOS_OK);
    char out[1024];
    tmp_path(out, sizeof out, "siglip-threads.h5");
    cr_assert_eq(cosmos_siglip_init_random(&c, 7, out), COSMOS_OK);
    cosmos_siglip_t *m = NULL;
    cr_assert_eq(cosmos_siglip_load(out, &m), COSMOS_OK);
    enum { H = 240, W = 320 };
    uint8_t *frame = malloc((size_t)H * W * 3);
    for (size_t i = 0; i < (size_t)H * W * 3; i++) frame[i] = (uint8_t)(i * 37 + (i >> 7) * 11);
    float feat[3][64], logits[3][COSMOS_SIGLIP_MAX_CLASSES];
    const int saved = omp_get_max_threads();
    for (int t = 0; t < 3; t++) {
        omp_set_num_threads(t + 1);
        cr_assert_eq(cosmos_siglip_forward(m, frame, H, W, NULL, feat[t], NULL, logits[t]), COSMOS_OK);
    }
    omp_set_num_threads(saved);
    for (int t = 1; t < 3; t++) {
        cr_expect_eq(memcmp(feat[0], feat[t], sizeof feat[0]), 0, "features on %d threads differ from 1 thread", t + 1);
        cr_expect_eq(memcmp(logits[0], logits[t], sizeof(float) * (size_t)c.num_classes), 0,
                     "logits on %d threads differ from 1 thread", t + 1);
    }
    for (int i = 0; i < 64; i++) cr_assert(isfinite(feat[0][i]), "feature %d = %g", i, (double)feat[0][i]);
    free(frame);
    cosmos_siglip_free(m);
    remove(out);
}
