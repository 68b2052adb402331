/* CV8x8x8 continuous tokenizer (spec components.md 4.7, Appendix A.3; docs/weights.md "CV tokenizer
 * files"): the cv_tokenizer config (official and tiny: flags, parameter counts 62 738 832 /
 * 42 914 864, shapes, every CV-specific validation error), the decoder (core/model/dv_decoder.c,
 * cosmos_cv_decode) on configs/models/cv-tokenizer-tiny.json against the PyTorch reference
 * (tests/data/cv-tiny-decoder.h5 from tools/reference/make_dv_fixtures.py: bf16 weights under the
 * official keys plus the never-called CT up.2 sampler convs, bf16 taps, mean_std, a diffusion
 * decoder output x, its de-normalised latent and the reference video [3,17,24,32]) within TOL_VIDEO
 * (max |c - ref| / max(1, |ref|)); streaming push by push vs whole clip; the latent statistics
 * accessor and the de-normalisation z = x/0.5*std + mean; `init` files through the strict check;
 * errors: DV/CV mix-ups, non-finite latents, missing weights and statistics. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/dv_config.h"
#include "core/model/dv_decoder.h"
#include "core/model/dv_encoder.h"
#include "core/model/dv_init.h"
#include "core/model/dv_weights.h"
#include "cosmos_build_config.h"
#include "log_capture.h"
#include "test_files.h"

#define TOL_VIDEO 1e-4
#define TOL_STREAM 1e-5
#define TOL_DENORM 1e-6

static struct cosmos_dv_config load(const char *name) {
    char path[1024];
    config_path(path, sizeof path, name);
    struct cosmos_dv_config c;
    cr_assert_eq(cosmos_dv_config_load(path, &c), COSMOS_OK, "loading %s", path);
    return c;
}

/* max |a-b| / max(1,|b|) over n values; prints it and the worst position. */
static double scaled_diff(const char *what, const float *a, const float *b, int64_t n, double *max_abs) {
    double worst = 0.0, worst_abs = 0.0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]), r = d / fmax(1.0, fabs((double)b[i]));
        if (!(r <= worst)) worst = r, at = i;
        if (!(d <= worst_abs)) worst_abs = d;
    }
    fprintf(stderr, "[cv_decoder] %-34s max abs diff %.3g, scaled %.3g (at %lld: %.9g vs %.9g)\n", what, worst_abs,
            worst, (long long)at, a[at], b[at]);
    if (max_abs) *max_abs = worst_abs;
    return worst;
}

/* ---------------------------------------------------------------- config */

Test(cv_config, official_config_numbers) {
    struct cosmos_dv_config c = load("cosmos-1.0-tokenizer-cv8x8x8");
    cr_expect(c.continuous);
    cr_expect_eq(c.latent_channels, 16);
    cr_expect_eq(cosmos_dv_latent_channels(&c), 16);
    cr_expect_eq(c.embedding_dim, 0);
    cr_expect_eq(c.spatial_compression, 8);
    cr_expect_eq(c.temporal_compression, 8);
    cr_expect_eq(c.pixel_chunk_duration, 57);
    /* spec 4.7 / A.3: post_quant_conv + decoder; 4.7: the encoder, 42.9M (derived) */
    cr_expect_eq(cosmos_dv_config_num_params(&c, COSMOS_DV_DECODER), 62738832LL);
    cr_expect_eq(cosmos_dv_config_num_params(&c, COSMOS_DV_ENCODER), 42914864LL);
    /* spec 4.7 table: up.2 neither, up.1 temporal + spatial; encoder level 0 both, level 1 none */
    int s, t;
    cosmos_dv_up_flags(&c, 2, &s, &t);
    cr_expect(!s && !t, "up.2: spatial %d temporal %d", s, t);
    cosmos_dv_up_flags(&c, 1, &s, &t);
    cr_expect(s && t, "up.1: spatial %d temporal %d", s, t);
    cosmos_dv_down_flags(&c, 0, &s, &t);
    cr_expect(s && t);
    cosmos_dv_down_flags(&c, 1, &s, &t);
    cr_expect(!s && !t);
    /* Appendix B: 57x640x1024 <-> latent 8x80x128 */
    int64_t T, H, W, Tl, Hl, Wl;
    cosmos_dv_video_shape(&c, 8, 80, 128, &T, &H, &W);
    cr_expect(T == 57 && H == 640 && W == 1024, "got %lldx%lldx%lld", (long long)T, (long long)H, (long long)W);
    cosmos_dv_latent_shape(&c, 57, 640, 1024, &Tl, &Hl, &Wl);
    cr_expect(Tl == 8 && Hl == 80 && Wl == 128, "got %lldx%lldx%lld", (long long)Tl, (long long)Hl, (long long)Wl);
    /* the key list of the decoder part: Appendix A.3's 172 keys + the taps, with the 16->16 ends */
    struct cosmos_dv_tensor_spec *specs = NULL;
    int n = 0;
    cr_assert_eq(cosmos_dv_weight_specs(&c, COSMOS_DV_DECODER, &specs, &n), COSMOS_OK);
    cr_expect_eq(n, 173);
    int64_t numel = 0;
    for (int i = 0; i < n; i++)
        if (specs[i].kind != COSMOS_DV_WAVELETS)
            numel += specs[i].stored_shape[0] * (specs[i].stored_ndim == 2 ? specs[i].stored_shape[1] : 1);
    cr_expect_eq(numel, 62738832LL);
    cr_expect_str_eq(specs[0].name, "post_quant_conv.conv3d.weight");
    cr_expect(specs[0].shape[0] == 16 && specs[0].shape[1] == 16);
    int up1 = 0, up2 = 0;
    for (int i = 0; i < n; i++) {
        up1 += strncmp(specs[i].name, "decoder.up.1.upsample.", 22) == 0;
        up2 += strncmp(specs[i].name, "decoder.up.2.upsample.", 22) == 0;
    }
    cr_expect(up1 == 6 && up2 == 0, "upsample keys: up.1 %d (want conv1..3 weight+bias), up.2 %d", up1, up2);
    free(specs);
}

Test(cv_config, tiny_config_and_json_round_trip) {
    struct cosmos_dv_config c = load("cv-tokenizer-tiny"), d;
    char path[1024];
    cr_expect(c.continuous && c.latent_channels == 4 && c.z_channels == 4 && c.pixel_chunk_duration == 17);
    char *json = cosmos_dv_config_to_json(&c);
    cr_assert(json);
    cr_expect(strstr(json, "\"cv_tokenizer\"") && strstr(json, "\"latent_channels\"") && !strstr(json, "levels"),
              "%s", json);
    cr_assert_eq(cosmos_dv_config_parse(json, "round trip", &d), COSMOS_OK);
    cr_expect(memcmp(&c, &d, sizeof c) == 0, "parse(to_json(cfg)) differs from cfg");
    free(json);
    config_path(path, sizeof path, "cv-tokenizer-tiny");
    cr_expect(cosmos_config_file_is_cv(path) && !cosmos_config_file_is_dv(path));
    config_path(path, sizeof path, "dv-tokenizer-tiny");
    cr_expect(!cosmos_config_file_is_cv(path) && cosmos_config_file_is_dv(path));
    cr_expect(!load("dv-tokenizer-tiny").continuous);
}

struct bad_case {
    const char *base; /* config the change applies to */
    const char *key, *value; /* value NULL: delete the key */
    cosmos_status want;
    const char *needle;
};

static const struct bad_case bad_cases[] = {
    {"cv-tokenizer-tiny", "latent_channels", NULL, COSMOS_ERR_INVALID_ARG, "'latent_channels' is missing"},
    {"cv-tokenizer-tiny", "latent_channels", "0", COSMOS_ERR_INVALID_ARG, "'latent_channels' must be a positive"},
    {"cv-tokenizer-tiny", "levels", "[8, 8, 8, 5, 5, 5]", COSMOS_ERR_INVALID_ARG, "'levels' is an FSQ key"},
    {"cv-tokenizer-tiny", "embedding_dim", "6", COSMOS_ERR_INVALID_ARG, "'embedding_dim' is an FSQ key"},
    {"cv-tokenizer-tiny", "formulation", "\"VAE\"", COSMOS_ERR_UNSUPPORTED, "'formulation' \"VAE\" is not supported"},
    {"cv-tokenizer-tiny", "formulation", "1", COSMOS_ERR_INVALID_ARG, "'formulation' must be"},
    {"cv-tokenizer-tiny", "z_factor", "2", COSMOS_ERR_UNSUPPORTED, "'z_factor' 2 is not supported (CV8x8x8: 1)"},
    {"cv-tokenizer-tiny", "temporal_compression", "4", COSMOS_ERR_UNSUPPORTED, "'temporal_compression' 4"},
    {"cv-tokenizer-tiny", "spatial_compression", "32", COSMOS_ERR_INVALID_ARG, "need at least 4 levels"},
    {"cv-tokenizer-tiny", "pixel_chunk_duration", "33", COSMOS_OK, ""},
    {"cv-tokenizer-tiny", "pixel_chunk_duration", "20", COSMOS_ERR_INVALID_ARG, "'pixel_chunk_duration' 20"},
    {"cv-tokenizer-tiny", "model_type", "\"cv\"", COSMOS_ERR_INVALID_ARG, "model_type must be"},
    {"cv-tokenizer-tiny", "quantizer", "\"FSQ\"", COSMOS_ERR_INVALID_ARG, "unknown key 'quantizer' in a CV"},
    {"dv-tokenizer-tiny", "latent_channels", "16", COSMOS_ERR_INVALID_ARG, "'latent_channels' is a key of continuous"},
    {"dv-tokenizer-tiny", "formulation", "\"AE\"", COSMOS_ERR_INVALID_ARG, "'formulation' is a key of continuous"},
};

Test(cv_config, every_cv_validation_error_names_the_problem) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *b = &bad_cases[i];
        char path[1024], name[64];
        snprintf(name, sizeof name, "cv-bad-%02zu.json", i);
        write_config_variant(b->base, b->key, b->value, name, path, sizeof path);
        struct cosmos_dv_config c;
        log_capture_start();
        cosmos_status st = cosmos_dv_config_load(path, &c);
        log_capture_stop();
        char what[160];
        snprintf(what, sizeof what, "%s: %s", b->base, b->key);
        expect_config_error(what, b->value, st, b->want, b->needle, path);
    }
}

/* ---------------------------------------------------------------- decoder vs the reference */

static cosmos_backend_t *be;
static cosmos_h5_t *h5;
static char fixture[1024];
static float *latent, *xnorm, *want;
static int64_t C, Tl, Hl, Wl, T, H, W;
static struct cosmos_dv_config tiny;

static void setup(void) {
    struct cosmos_h5_info info;
    enum cosmos_dv_part parts;
    snprintf(fixture, sizeof fixture, "%s/tests/data/cv-tiny-decoder.h5", COSMOS_SOURCE_DIR);
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(fixture, &h5), COSMOS_OK, "cannot open %s", fixture);
    /* the fixture carries a CV file's header with the tiny config */
    cr_assert_eq(cosmos_cv_read_header(h5, &tiny, &parts), COSMOS_OK);
    cr_assert(tiny.continuous && parts == COSMOS_DV_DECODER);
    struct cosmos_dv_config file_cfg = load("cv-tokenizer-tiny");
    cr_assert(memcmp(&tiny, &file_cfg, sizeof tiny) == 0, "fixture config differs from cv-tokenizer-tiny.json");
    cr_assert_eq(cosmos_h5_info(h5, "latent", &info), COSMOS_OK);
    cr_assert_eq(info.ndim, 4);
    C = info.shape[0], Tl = info.shape[1], Hl = info.shape[2], Wl = info.shape[3];
    cr_assert_eq(C, tiny.latent_channels);
    cosmos_dv_video_shape(&tiny, Tl, Hl, Wl, &T, &H, &W);
    cr_assert_eq(cosmos_h5_info(h5, "video", &info), COSMOS_OK);
    cr_assert(info.ndim == 4 && info.shape[0] == 3 && info.shape[1] == T && info.shape[2] == H && info.shape[3] == W,
              "fixture video is not [3,%lld,%lld,%lld]", (long long)T, (long long)H, (long long)W);
    latent = malloc(sizeof(float) * (size_t)(C * Tl * Hl * Wl));
    xnorm = malloc(sizeof(float) * (size_t)(C * Tl * Hl * Wl));
    want = malloc(sizeof(float) * (size_t)(3 * T * H * W));
    cr_assert_eq(cosmos_h5_read(h5, "latent", COSMOS_F32, latent), COSMOS_OK);
    cr_assert_eq(cosmos_h5_read(h5, "x", COSMOS_F32, xnorm), COSMOS_OK);
    cr_assert_eq(cosmos_h5_read(h5, "video", COSMOS_F32, want), COSMOS_OK);
}

static void teardown(void) {
    free(latent), free(xnorm), free(want);
    cosmos_h5_close(h5);
    cosmos_backend_free(be);
}

/* Copies every dataset of the fixture except those named in skip (NULL-terminated) to path,
 * with the fixture's root attributes. */
static void copy_without(const char *path, const char *const *skip) {
    cosmos_h5_t *out = NULL;
    char **names = NULL, *json = NULL;
    int n = 0;
    cr_assert_eq(cosmos_h5_create(path, &out), COSMOS_OK, "%s", path);
    cr_assert_eq(cosmos_h5_attr_string(h5, "config", &json), COSMOS_OK);
    cr_assert_eq(cosmos_h5_write_model_header(out, COSMOS_CV_MODEL_TYPE, json), COSMOS_OK);
    cr_assert_eq(cosmos_h5_write_attr_int(out, "has_encoder", 0), COSMOS_OK);
    cr_assert_eq(cosmos_h5_write_attr_int(out, "has_decoder", 1), COSMOS_OK);
    free(json);
    cr_assert_eq(cosmos_h5_list(h5, &names, &n), COSMOS_OK);
    for (int i = 0; i < n; i++) {
        int drop = 0;
        for (const char *const *s = skip; *s && !drop; s++) drop = strcmp(names[i], *s) == 0;
        if (drop) continue;
        struct cosmos_h5_info info;
        cr_assert_eq(cosmos_h5_info(h5, names[i], &info), COSMOS_OK, "%s", names[i]);
        int64_t numel = 1;
        for (int d = 0; d < info.ndim; d++) numel *= info.shape[d];
        void *buf = malloc((size_t)numel * 4);
        cr_assert_eq(cosmos_h5_read(h5, names[i], info.dtype, buf), COSMOS_OK, "%s", names[i]);
        cr_assert_eq(cosmos_h5_write(out, names[i], info.dtype, info.ndim, info.shape, buf), COSMOS_OK, "%s", names[i]);
        free(buf);
    }
    cosmos_h5_free_names(names, n);
    cosmos_h5_close(out);
}

TestSuite(cv_decoder, .init = setup, .fini = teardown);

Test(cv_decoder, whole_clip_matches_reference) {
    const int64_t n = 3 * T * H * W;
    float *got = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_cv_decode(be, h5, &tiny, latent, Tl, Hl, Wl, got), COSMOS_OK);
    cr_expect(scaled_diff("whole clip vs reference", got, want, n, NULL) <= TOL_VIDEO);
    /* the reference video is not trivially matched: it varies over frames and pixels */
    double lo = want[0], hi = want[0];
    for (int64_t i = 0; i < n; i++) lo = fmin(lo, want[i]), hi = fmax(hi, want[i]);
    cr_expect(hi - lo > 1.0, "reference video range [%g, %g]", lo, hi);
    free(got);
}

/* Spec 4.7: z = x / 0.5 * std + mean with mean_std viewed as [C, N], columns [:Tl]. */
Test(cv_decoder, latent_statistics_and_denormalisation) {
    int64_t N = 0;
    cr_assert_eq(cosmos_cv_stats_frames(h5, &tiny, &N), COSMOS_OK);
    cr_expect_eq(N, 16);
    float *mean = malloc(sizeof(float) * (size_t)(C * Tl)), *sd = malloc(sizeof(float) * (size_t)(C * Tl));
    float *z = malloc(sizeof(float) * (size_t)(C * Tl * Hl * Wl)), *full = malloc(sizeof(float) * (size_t)(C * N));
    cr_assert_eq(cosmos_cv_latent_stats(h5, &tiny, Tl, mean, sd), COSMOS_OK);
    cr_assert_eq(cosmos_h5_read(h5, COSMOS_CV_MEAN_KEY, COSMOS_F32, full), COSMOS_OK);
    for (int64_t c = 0; c < C; c++)
        for (int64_t t = 0; t < Tl; t++)
            cr_expect_eq(mean[c * Tl + t], full[c * N + t], "mean[%lld, %lld]", (long long)c, (long long)t);
    const int64_t HW = Hl * Wl;
    for (int64_t c = 0; c < C; c++)
        for (int64_t t = 0; t < Tl; t++)
            for (int64_t i = 0; i < HW; i++) {
                const int64_t k = (c * Tl + t) * HW + i;
                z[k] = xnorm[k] / 0.5f * sd[c * Tl + t] + mean[c * Tl + t];
            }
    cr_expect(scaled_diff("de-normalised latent vs reference", z, latent, C * Tl * HW, NULL) <= TOL_DENORM);
    /* a request beyond the file's N */
    log_capture_start();
    cr_expect_eq(cosmos_cv_latent_stats(h5, &tiny, N + 1, full, full), COSMOS_ERR_FORMAT);
    log_capture_stop();
    cr_expect(strstr(log_captured(), COSMOS_CV_MEAN_KEY) && strstr(log_captured(), "16 latent frames"), "%s",
              log_captured());
    /* a DV config has none */
    struct cosmos_dv_config dvc = load("dv-tokenizer-tiny");
    log_capture_start();
    cr_expect_eq(cosmos_cv_latent_stats(h5, &dvc, 1, mean, sd), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    free(mean), free(sd), free(z), free(full);
}

Test(cv_decoder, missing_or_partial_statistics_are_named) {
    char path[1024];
    float mean[64], sd[64];
    cosmos_h5_t *h = NULL;
    static const char *const both[] = {COSMOS_CV_MEAN_KEY, COSMOS_CV_STD_KEY, NULL};
    tmp_path(path, sizeof path, "cv-no-stats.h5");
    copy_without(path, both);
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK);
    int64_t N = -1;
    cr_expect_eq(cosmos_cv_stats_frames(h, &tiny, &N), COSMOS_OK);
    cr_expect_eq(N, 0);
    log_capture_start();
    cr_expect_eq(cosmos_cv_latent_stats(h, &tiny, 3, mean, sd), COSMOS_ERR_FORMAT);
    log_capture_stop();
    cr_expect(strstr(log_captured(), COSMOS_CV_MEAN_KEY) && strstr(log_captured(), "--mean-std"), "%s",
              log_captured());
    /* decoding does not need them */
    float *got = malloc(sizeof(float) * (size_t)(3 * T * H * W));
    cr_expect_eq(cosmos_cv_decode(be, h, &tiny, latent, Tl, Hl, Wl, got), COSMOS_OK);
    free(got);
    cosmos_h5_close(h);

    static const char *const only_std[] = {COSMOS_CV_STD_KEY, NULL};
    tmp_path(path, sizeof path, "cv-half-stats.h5");
    copy_without(path, only_std);
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK);
    log_capture_start();
    cr_expect_eq(cosmos_cv_latent_stats(h, &tiny, 3, mean, sd), COSMOS_ERR_FORMAT);
    log_capture_stop();
    cr_expect(strstr(log_captured(), COSMOS_CV_STD_KEY) != NULL, "%s", log_captured());
    cosmos_h5_close(h);
}

Test(cv_decoder, streaming_equals_whole_clip) {
    const int64_t n = 3 * T * H * W, HW = H * W, tc = tiny.temporal_compression, lhw = Hl * Wl;
    float *whole = malloc(sizeof(float) * (size_t)n), *streamed = malloc(sizeof(float) * (size_t)n);
    float *frames = malloc(sizeof(float) * (size_t)(3 * tc * HW)), *one = malloc(sizeof(float) * (size_t)(C * lhw));
    cosmos_dv_stream_t *s = NULL;
    cr_assert_eq(cosmos_cv_decode(be, h5, &tiny, latent, Tl, Hl, Wl, whole), COSMOS_OK);
    cr_assert_eq(cosmos_dv_stream_open(be, h5, &tiny, Hl, Wl, Tl, &s), COSMOS_OK);
    int nf = -1;
    log_capture_start();
    cr_expect_eq(cosmos_dv_stream_push(s, (const int32_t *)latent, frames, &nf), COSMOS_ERR_INVALID_ARG,
                 "a CV stream takes latents, not indices");
    log_capture_stop();
    cr_expect(strstr(log_captured(), "cosmos_cv_stream_push") != NULL, "%s", log_captured());
    int64_t t0 = 0;
    for (int64_t k = 0; k < Tl; k++) {
        for (int64_t c = 0; c < C; c++) memcpy(one + c * lhw, latent + (c * Tl + k) * lhw, sizeof(float) * (size_t)lhw);
        if (k == 1) { /* a non-finite value is refused and leaves the stream as it was */
            const float keep = one[3];
            one[3] = NAN;
            log_capture_start();
            cr_expect_eq(cosmos_cv_stream_push(s, one, frames, &nf), COSMOS_ERR_INVALID_ARG);
            log_capture_stop();
            cr_expect(strstr(log_captured(), "not finite") != NULL, "%s", log_captured());
            one[3] = keep;
        }
        cr_assert_eq(cosmos_cv_stream_push(s, one, frames, &nf), COSMOS_OK, "push %lld", (long long)k);
        cr_assert_eq(nf, k == 0 ? 1 : tc);
        for (int c = 0; c < 3; c++)
            memcpy(streamed + (c * T + t0) * HW, frames + c * nf * HW, sizeof(float) * (size_t)(nf * HW));
        t0 += nf;
    }
    cr_assert_eq(t0, T);
    int64_t n_diff = 0;
    for (int64_t i = 0; i < n; i++) n_diff += memcmp(&streamed[i], &whole[i], sizeof(float)) != 0;
    double max_abs = 0.0;
    scaled_diff("streaming vs whole clip", streamed, whole, n, &max_abs);
    fprintf(stderr, "[cv_decoder] streaming vs whole clip: %lld of %lld values not bitwise identical\n",
            (long long)n_diff, (long long)n);
    cr_expect(max_abs <= TOL_STREAM);
    cr_expect_eq(cosmos_cv_stream_push(s, one, frames, &nf), COSMOS_ERR_INVALID_ARG, "push beyond Tl_max");
    cosmos_dv_stream_free(s);
    free(whole), free(streamed), free(frames), free(one);
}

Test(cv_decoder, dv_and_cv_are_not_mixed_up) {
    float out[16];
    int32_t idx[64] = {0};
    struct cosmos_dv_config dvc = load("dv-tokenizer-tiny");
    log_capture_start();
    cr_expect_eq(cosmos_cv_decode(be, h5, &dvc, latent, Tl, Hl, Wl, out), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_dv_decode(be, h5, &tiny, idx, 1, 1, 1, out), COSMOS_ERR_INVALID_ARG);
    float video[3 * 9 * 16 * 16] = {0};
    int32_t ind[4];
    cr_expect_eq(cosmos_dv_encode(be, h5, &tiny, video, 9, 16, 16, NULL, ind, NULL), COSMOS_ERR_UNSUPPORTED);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "cosmos_cv_decode") && strstr(log_captured(), "cosmos_dv_decode"), "%s",
              log_captured());
    /* the DV reader refuses a CV file and says what it is */
    struct cosmos_dv_config c;
    enum cosmos_dv_part parts;
    log_capture_start();
    cr_expect_eq(cosmos_dv_read_header(h5, &c, &parts), COSMOS_ERR_FORMAT);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "cv_tokenizer") != NULL, "%s", log_captured());
    cr_expect_eq(cosmos_tok_read_header(h5, &c, &parts), COSMOS_OK);
    cr_expect(c.continuous);
}

Test(cv_decoder, non_finite_latent_is_refused) {
    float *got = malloc(sizeof(float) * (size_t)(3 * T * H * W));
    const int64_t k = ((2 * Tl + 1) * Hl + 1) * Wl + 2; /* channel 2, frame 1, h 1, w 2 */
    const float keep = latent[k];
    latent[k] = INFINITY;
    log_capture_start();
    cr_expect_eq(cosmos_cv_decode(be, h5, &tiny, latent, Tl, Hl, Wl, got), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "channel 2, frame 1") != NULL, "%s", log_captured());
    latent[k] = keep;
    free(got);
}

Test(cv_decoder, missing_weight_is_format_error_naming_the_key) {
    char path[1024];
    static const char *const skip[] = {"decoder.up.1.upsample.conv2.conv3d.bias", NULL};
    cosmos_h5_t *h = NULL;
    float *got = malloc(sizeof(float) * (size_t)(3 * T * H * W));
    tmp_path(path, sizeof path, "cv-missing-weight.h5");
    copy_without(path, skip);
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK);
    log_capture_start();
    cr_expect_eq(cosmos_cv_decode(be, h, &tiny, latent, Tl, Hl, Wl, got), COSMOS_ERR_FORMAT);
    log_capture_stop();
    cr_expect(strstr(log_captured(), skip[0]) != NULL, "message:\n%s\nlacks '%s'", log_captured(), skip[0]);
    cosmos_h5_close(h);
    /* the unused up.2 sampler convs are not needed either way */
    static const char *const unused[] = {"decoder.up.2.upsample.conv1.conv3d.weight",
                                         "decoder.up.2.upsample.conv2.conv3d.weight",
                                         "decoder.up.2.upsample.conv3.conv3d.weight", NULL};
    tmp_path(path, sizeof path, "cv-no-unused.h5");
    copy_without(path, unused);
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK);
    cr_expect_eq(cosmos_cv_decode(be, h, &tiny, latent, Tl, Hl, Wl, got), COSMOS_OK);
    cr_expect(scaled_diff("without the unused convs", got, want, 3 * T * H * W, NULL) <= TOL_VIDEO);
    cosmos_h5_close(h);
    free(got);
}

/* ---------------------------------------------------------------- init files */

Test(cv_init, random_file_passes_the_strict_check_and_decodes) {
    struct cosmos_dv_config c = load("cv-tokenizer-tiny"), d;
    char a[1024], b[1024];
    enum cosmos_dv_part parts;
    cosmos_h5_t *h = NULL;
    tmp_path(a, sizeof a, "cv-init-a.h5");
    tmp_path(b, sizeof b, "cv-init-b.h5");
    cr_assert_eq(cosmos_dv_init_random(&c, 3, COSMOS_DV_DECODER, a), COSMOS_OK);
    cr_assert_eq(cosmos_dv_init_random(&c, 4, COSMOS_DV_DECODER, b), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(a, &h), COSMOS_OK);
    cr_assert_eq(cosmos_cv_read_header(h, &d, &parts), COSMOS_OK);
    cr_expect(parts == COSMOS_DV_DECODER && d.continuous && memcmp(&c, &d, sizeof c) == 0);
    cr_expect_eq(cosmos_dv_check_weights(h, &d, parts), COSMOS_OK);
    int64_t N = 0;
    cr_assert_eq(cosmos_cv_stats_frames(h, &d, &N), COSMOS_OK);
    cr_expect_eq(N, COSMOS_CV_INIT_STATS_FRAMES);
    float mean[4 * 16], sd[4 * 16];
    cr_assert_eq(cosmos_cv_latent_stats(h, &d, N, mean, sd), COSMOS_OK);
    double msum = 0;
    for (int i = 0; i < 4 * 16; i++) {
        cr_expect(sd[i] >= 0.5f && sd[i] < 1.5f, "std %g", sd[i]);
        cr_expect(fabsf(mean[i]) < 0.6f, "mean %g", mean[i]);
        msum += mean[i];
    }
    cr_expect(fabs(msum / 64) < 0.05, "mean of the means %g", msum / 64);
    /* the decoder runs on it: [4,2,2,3] -> [3,9,16,24], finite */
    const int64_t n = 3 * 9 * 16 * 24;
    float z[4 * 2 * 2 * 3], *got = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < 48; i++) z[i] = sinf((float)i);
    cosmos_backend_t *cpu = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &cpu), COSMOS_OK);
    cr_assert_eq(cosmos_cv_decode(cpu, h, &d, z, 2, 2, 3, got), COSMOS_OK);
    cosmos_backend_free(cpu);
    for (int64_t i = 0; i < n; i++) cr_assert(isfinite(got[i]), "value %lld", (long long)i);
    free(got);
    cosmos_h5_close(h);
    /* another seed, other statistics */
    cosmos_h5_t *o = NULL, *hb = NULL;
    cr_assert_eq(cosmos_h5_open(b, &hb), COSMOS_OK);
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(hb, COSMOS_CV_MEAN_KEY, &info), COSMOS_OK);
    cr_expect(info.ndim == 2 && info.shape[0] == 4 && info.shape[1] == 16 && info.dtype == COSMOS_F32);
    float ma[64], mb[64];
    cr_assert_eq(cosmos_h5_read(hb, COSMOS_CV_MEAN_KEY, COSMOS_F32, mb), COSMOS_OK);
    cosmos_h5_close(hb);
    cr_assert_eq(cosmos_h5_open(a, &o), COSMOS_OK);
    cr_assert_eq(cosmos_h5_read(o, COSMOS_CV_MEAN_KEY, COSMOS_F32, ma), COSMOS_OK);
    cosmos_h5_close(o);
    cr_expect(memcmp(ma, mb, sizeof ma) != 0, "different seeds, same statistics");
    remove(a), remove(b);
}

Test(cv_init, strict_check_of_bad_statistics) {
    struct cosmos_dv_config c = load("cv-tokenizer-tiny");
    char path[1024];
    cosmos_h5_t *h = NULL;
    tmp_path(path, sizeof path, "cv-bad-stats.h5");
    cr_assert_eq(cosmos_dv_init_random(&c, 5, COSMOS_DV_DECODER, path), COSMOS_OK);
    /* a copy of the init file whose std is [4, 15] (its first 60 values) */
    cosmos_h5_t *src = NULL;
    char bad[1024];
    tmp_path(bad, sizeof bad, "cv-bad-stats-2.h5");
    cr_assert_eq(cosmos_h5_open(path, &src), COSMOS_OK);
    cr_assert_eq(cosmos_h5_create(bad, &h), COSMOS_OK);
    char *json = NULL;
    cr_assert_eq(cosmos_h5_attr_string(src, "config", &json), COSMOS_OK);
    cr_assert_eq(cosmos_h5_write_model_header(h, COSMOS_CV_MODEL_TYPE, json), COSMOS_OK);
    free(json);
    cr_assert_eq(cosmos_h5_write_attr_int(h, "has_encoder", 0), COSMOS_OK);
    cr_assert_eq(cosmos_h5_write_attr_int(h, "has_decoder", 1), COSMOS_OK);
    char **names = NULL;
    int n = 0;
    cr_assert_eq(cosmos_h5_list(src, &names, &n), COSMOS_OK);
    for (int i = 0; i < n; i++) {
        struct cosmos_h5_info info;
        cr_assert_eq(cosmos_h5_info(src, names[i], &info), COSMOS_OK);
        int64_t numel = 1;
        for (int k = 0; k < info.ndim; k++) numel *= info.shape[k];
        void *buf = malloc((size_t)numel * 4);
        cr_assert_eq(cosmos_h5_read(src, names[i], info.dtype, buf), COSMOS_OK);
        if (!strcmp(names[i], COSMOS_CV_STD_KEY)) info.shape[1] = 15;
        cr_assert_eq(cosmos_h5_write(h, names[i], info.dtype, info.ndim, info.shape, buf), COSMOS_OK);
        free(buf);
    }
    cosmos_h5_free_names(names, n);
    cosmos_h5_close(h);
    cosmos_h5_close(src);
    cr_assert_eq(cosmos_h5_open(bad, &h), COSMOS_OK);
    log_capture_start();
    cr_expect_eq(cosmos_dv_check_weights(h, &c, COSMOS_DV_DECODER), COSMOS_ERR_FORMAT);
    log_capture_stop();
    cr_expect(strstr(log_captured(), COSMOS_CV_STD_KEY) && strstr(log_captured(), "15"), "%s", log_captured());
    cosmos_h5_close(h);
    remove(path), remove(bad);
}
