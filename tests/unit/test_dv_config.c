/* DV tokenizer config and weight files (spec components.md 2.2, 2.4, 2.9, Appendix A;
 * docs/weights.md "DV tokenizer files"): both shipped configs, every validation error (bad files
 * written to $COSMOS_TEST_TMP), parameter counts, the latent shape, the key list against the spec's
 * Appendix, and `init` files through the strict header/dataset check (missing, misshaped, extra,
 * wrong model_type). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/dtype.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/dv_config.h"
#include "core/model/dv_encoder.h"
#include "core/model/dv_init.h"
#include "core/model/dv_weights.h"
#include "cosmos_build_config.h"
#include "log_capture.h"
#include "test_files.h"

static struct cosmos_dv_config load(const char *name) {
    char path[1024];
    config_path(path, sizeof path, name);
    struct cosmos_dv_config c;
    cr_assert_eq(cosmos_dv_config_load(path, &c), COSMOS_OK, "loading %s", path);
    return c;
}

static void expect_same_config(const struct cosmos_dv_config *a, const struct cosmos_dv_config *b) {
    cr_expect_eq(a->in_channels, b->in_channels);
    cr_expect_eq(a->out_channels, b->out_channels);
    cr_expect_eq(a->channels, b->channels);
    cr_expect_eq(a->n_levels, b->n_levels);
    for (int i = 0; i < a->n_levels; i++) cr_expect_eq(a->channels_mult[i], b->channels_mult[i], "mult %d", i);
    cr_expect_eq(a->num_res_blocks, b->num_res_blocks);
    cr_expect_eq(a->n_attn_resolutions, b->n_attn_resolutions);
    for (int i = 0; i < a->n_attn_resolutions; i++) cr_expect_eq(a->attn_resolutions[i], b->attn_resolutions[i]);
    cr_expect_eq(a->resolution, b->resolution);
    cr_expect_eq(a->patch_size, b->patch_size);
    cr_expect_eq(a->z_channels, b->z_channels);
    cr_expect_eq(a->embedding_dim, b->embedding_dim);
    for (int i = 0; i < COSMOS_DV_MAX_FSQ_LEVELS; i++) cr_expect_eq(a->fsq_levels[i], b->fsq_levels[i], "level %d", i);
    cr_expect_eq(a->spatial_compression, b->spatial_compression);
    cr_expect_eq(a->temporal_compression, b->temporal_compression);
    cr_expect_str_eq(a->name, b->name);
    cr_expect_eq(a->pixel_chunk_duration, b->pixel_chunk_duration);
    cr_expect_eq(a->height, b->height);
    cr_expect_eq(a->width, b->width);
}

Test(dv_config, official_file_equals_builtin) {
    struct cosmos_dv_config c = load("cosmos-1.0-tokenizer-dv8x16x16");
    struct cosmos_dv_config b = cosmos_dv_config_dv8x16x16();
    expect_same_config(&c, &b);
    cr_expect_str_eq(c.name, "cosmos-1.0-tokenizer-dv8x16x16");
    cr_expect_eq(c.out_channels, 3);
    cr_expect_eq(c.pixel_chunk_duration, 33);
    cr_expect_eq(cosmos_dv_num_spatial_downs(&c), 2);
    cr_expect_eq(cosmos_dv_num_temporal_downs(&c), 1);
    /* spec 2.6 / 2.8: down.0 spatial+temporal, down.1 spatial, up.2 spatial only, up.1 both */
    int s, t;
    cosmos_dv_down_flags(&c, 0, &s, &t);
    cr_expect(s && t, "down.0");
    cosmos_dv_down_flags(&c, 1, &s, &t);
    cr_expect(s && !t, "down.1");
    cosmos_dv_down_flags(&c, 2, &s, &t);
    cr_expect(!s && !t, "down.2 (last level)");
    cosmos_dv_up_flags(&c, 2, &s, &t);
    cr_expect(s && !t, "up.2");
    cosmos_dv_up_flags(&c, 1, &s, &t);
    cr_expect(s && t, "up.1");
    cosmos_dv_up_flags(&c, 0, &s, &t);
    cr_expect(!s && !t, "up.0");
}

Test(dv_config, tiny) {
    struct cosmos_dv_config c = load("dv-tokenizer-tiny");
    cr_expect_str_eq(c.name, "dv-tokenizer-tiny");
    cr_expect_eq(c.channels, 8);
    cr_expect_eq(c.n_levels, 3);
    cr_expect_eq(c.channels_mult[1], 2);
    cr_expect_eq(c.num_res_blocks, 1);
    cr_expect_eq(c.n_attn_resolutions, 1);
    cr_expect_eq(c.attn_resolutions[0], 4);
    cr_expect_eq(c.z_channels, 4);
    cr_expect_eq(c.embedding_dim, 6);
    cr_expect_eq(c.fsq_levels[5], 5);
    cr_expect_eq(c.fsq_levels[6], 0);
    cr_expect_eq(c.pixel_chunk_duration, 9);
    cr_expect_eq(c.height, 32);
    cr_expect_eq(c.width, 48);
    int64_t Tl, Hl, Wl;
    cosmos_dv_latent_shape(&c, 9, 32, 48, &Tl, &Hl, &Wl);
    cr_expect(Tl == 2 && Hl == 2 && Wl == 3, "tiny latent [%lld,%lld,%lld]", (long long)Tl, (long long)Hl,
              (long long)Wl);
}

Test(dv_config, latent_shape_33x640x1024) {
    struct cosmos_dv_config c = load("cosmos-1.0-tokenizer-dv8x16x16");
    int64_t Tl, Hl, Wl;
    cosmos_dv_latent_shape(&c, 33, 640, 1024, &Tl, &Hl, &Wl);
    cr_expect(Tl == 5 && Hl == 40 && Wl == 64, "latent [%lld,%lld,%lld], spec 2.6: [5,40,64]", (long long)Tl,
              (long long)Hl, (long long)Wl);
    cosmos_dv_latent_shape(&c, 1, 16, 16, &Tl, &Hl, &Wl);
    cr_expect(Tl == 1 && Hl == 1 && Wl == 1, "one frame of 16x16 -> one token");
}

Test(dv_config, param_counts_spec_2_9) {
    struct cosmos_dv_config c = load("cosmos-1.0-tokenizer-dv8x16x16");
    cr_expect_eq(cosmos_dv_config_num_params(&c, COSMOS_DV_ENCODER), 45537158ll, "encoder %lld",
                 (long long)cosmos_dv_config_num_params(&c, COSMOS_DV_ENCODER));
    cr_expect_eq(cosmos_dv_config_num_params(&c, COSMOS_DV_DECODER), 65361136ll, "decoder %lld",
                 (long long)cosmos_dv_config_num_params(&c, COSMOS_DV_DECODER));
    cr_expect_eq(cosmos_dv_config_num_params(&c, COSMOS_DV_BOTH), 45537158ll + 65361136ll);
}

static int64_t specs_params(const struct cosmos_dv_config *c, enum cosmos_dv_part part, int *n_keys) {
    struct cosmos_dv_tensor_spec *s = NULL;
    int n = 0;
    cr_assert_eq(cosmos_dv_weight_specs(c, part, &s, &n), COSMOS_OK);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (s[i].kind == COSMOS_DV_WAVELETS) continue;
        int64_t a = 1, b = 1;
        for (int d = 0; d < s[i].ndim; d++) a *= s[i].shape[d];
        for (int d = 0; d < s[i].stored_ndim; d++) b *= s[i].stored_shape[d];
        cr_expect_eq(a, b, "%s: flattening changed the element count", s[i].name);
        cr_expect_eq(s[i].part, part);
        total += a;
    }
    *n_keys = n;
    free(s);
    return total;
}

Test(dv_config, key_list_matches_counts_and_appendix) {
    const char *names[] = {"cosmos-1.0-tokenizer-dv8x16x16", "dv-tokenizer-tiny"};
    /* Appendix A.1: 142 keys; A.2: 176 keys + the wavelets buffer (cross-checked against the
     * reference's state_dict by tests/tools/test_convert_dv.py) */
    const int n_enc_keys[] = {142, 124}, n_dec_keys[] = {177, 181};
    for (int i = 0; i < 2; i++) {
        struct cosmos_dv_config c = load(names[i]);
        int ne = 0, nd = 0;
        cr_expect_eq(specs_params(&c, COSMOS_DV_ENCODER, &ne), cosmos_dv_config_num_params(&c, COSMOS_DV_ENCODER),
                     "%s encoder", names[i]);
        cr_expect_eq(specs_params(&c, COSMOS_DV_DECODER, &nd), cosmos_dv_config_num_params(&c, COSMOS_DV_DECODER),
                     "%s decoder", names[i]);
        cr_expect_eq(ne, n_enc_keys[i], "%s: %d encoder keys", names[i], ne);
        cr_expect_eq(nd, n_dec_keys[i], "%s: %d decoder keys", names[i], nd);
    }
    struct cosmos_dv_config c = load("cosmos-1.0-tokenizer-dv8x16x16");
    struct cosmos_dv_tensor_spec *s = NULL;
    int n = 0;
    cr_assert_eq(cosmos_dv_weight_specs(&c, COSMOS_DV_BOTH, &s, &n), COSMOS_OK);
    cr_expect_str_eq(s[0].name, "encoder.conv_in.0.conv3d.weight");
    cr_expect_str_eq(s[n - 1].name, COSMOS_DV_WAVELETS_KEY);
    cr_expect_eq(s[n - 1].kind, COSMOS_DV_WAVELETS);
    int found = 0;
    for (int i = 0; i < n; i++) {
        const struct cosmos_dv_tensor_spec *t = &s[i];
        cr_expect(strcmp(t->name, "encoder.down.1.downsample.conv2.conv3d.weight") != 0, "down.1 has no conv2");
        cr_expect(strcmp(t->name, "decoder.up.2.upsample.conv1.conv3d.weight") != 0, "up.2 has no conv1");
        if (!strcmp(t->name, "encoder.down.0.block.0.nin_shortcut.conv3d.weight")) {
            found++;
            cr_expect(t->ndim == 5 && t->shape[0] == 256 && t->shape[1] == 128 && t->shape[4] == 1);
            cr_expect(t->stored_ndim == 2 && t->stored_shape[0] == 256 && t->stored_shape[1] == 128);
        } else if (!strcmp(t->name, "decoder.up.1.upsample.conv1.conv3d.weight")) {
            found++;
            cr_expect(t->shape[2] == 3 && t->stored_shape[1] == 512 * 3, "temporal upsample conv [512,512,3,1,1]");
        } else if (!strcmp(t->name, "decoder.conv_out.0.conv3d.weight")) {
            found++;
            cr_expect(t->stored_shape[0] == 192 && t->stored_shape[1] == 256 * 9);
        } else if (!strcmp(t->name, "quant_conv.conv3d.bias")) {
            found++;
            cr_expect(t->ndim == 1 && t->shape[0] == 6 && t->kind == COSMOS_DV_CONV_BIAS);
        } else if (!strcmp(t->name, "decoder.mid.attn_1.1.norm.norm.weight")) {
            found++;
            cr_expect(t->kind == COSMOS_DV_NORM_WEIGHT && t->shape[0] == 512);
        }
    }
    cr_expect_eq(found, 5, "spot-checked keys present");
    free(s);
}

Test(dv_config, json_round_trip_and_detection) {
    struct cosmos_dv_config c = load("cosmos-1.0-tokenizer-dv8x16x16"), d;
    char *json = cosmos_dv_config_to_json(&c);
    cr_assert(json);
    cr_assert_eq(cosmos_dv_config_parse(json, "round trip", &d), COSMOS_OK, "%s", json);
    expect_same_config(&c, &d);
    free(json);
    char path[1024];
    config_path(path, sizeof path, "dv-tokenizer-tiny");
    cr_expect(cosmos_config_file_is_dv(path));
    config_path(path, sizeof path, "cosmos-1.0-tokenizer-dv8x16x16");
    cr_expect(cosmos_config_file_is_dv(path));
    config_path(path, sizeof path, "tiny-ar-4b");
    cr_expect(!cosmos_config_file_is_dv(path), "an AR config");
    config_path(path, sizeof path, "t5-tiny");
    cr_expect(!cosmos_config_file_is_dv(path), "a T5 config");
    cr_expect(!cosmos_config_file_is_dv("/nonexistent/dv.json"));
    cr_expect(!cosmos_config_file_is_dv(COSMOS_SOURCE_DIR), "a folder");
    /* optional keys: out_channels defaults to in_channels, the clip keys to 0 */
    cr_assert_eq(cosmos_dv_config_parse("{\"in_channels\": 3, \"channels\": 8, \"channels_mult\": [1, 2, 2], "
                                        "\"num_res_blocks\": 1, \"attn_resolutions\": [], \"resolution\": 16, "
                                        "\"patch_size\": 4, \"z_channels\": 4, \"embedding_dim\": 3, \"levels\": "
                                        "[8, 8, 8], \"spatial_compression\": 16, \"temporal_compression\": 8}",
                                        "minimal", &d),
                 COSMOS_OK);
    cr_expect_eq(d.out_channels, 3);
    cr_expect_eq(d.n_attn_resolutions, 0);
    cr_expect_eq(d.pixel_chunk_duration, 0);
    cr_expect_str_eq(d.name, "dv-tokenizer");
}

/* ---------------------------------------------------------------- validation errors */

struct bad_case {
    const char *key;   /* key to set (JSON value in `value`), or to delete when value is NULL */
    const char *value;
    cosmos_status want;
    const char *needle; /* must appear in the logged error */
};

static const struct bad_case bad_cases[] = {
    {"colour", "\"blue\"", COSMOS_ERR_INVALID_ARG, "unknown key 'colour'"},
    {"channels", NULL, COSMOS_ERR_INVALID_ARG, "'channels' is missing"},
    {"levels", NULL, COSMOS_ERR_INVALID_ARG, "'levels' is missing"},
    {"attn_resolutions", NULL, COSMOS_ERR_INVALID_ARG, "'attn_resolutions' is missing"},
    {"model_type", "\"ar\"", COSMOS_ERR_INVALID_ARG, "model_type"},
    {"name", "5", COSMOS_ERR_INVALID_ARG, "'name'"},
    {"channels", "-8", COSMOS_ERR_INVALID_ARG, "'channels' must be a positive integer"},
    {"channels", "8.5", COSMOS_ERR_INVALID_ARG, "'channels' must be a positive integer"},
    {"in_channels", "0", COSMOS_ERR_INVALID_ARG, "'in_channels'"},
    {"num_res_blocks", "\"2\"", COSMOS_ERR_INVALID_ARG, "'num_res_blocks'"},
    {"channels_mult", "[1, 1, 1, 1, 1, 1, 1, 1, 1]", COSMOS_ERR_INVALID_ARG,
     "'channels_mult' must be a list of 1 to 8"},
    {"channels_mult", "[]", COSMOS_ERR_INVALID_ARG, "'channels_mult' must be a list"},
    {"channels_mult", "[1, 0, 2]", COSMOS_ERR_INVALID_ARG, "'channels_mult'[1]"},
    {"channels_mult", "4", COSMOS_ERR_INVALID_ARG, "'channels_mult' must be a list"},
    {"channels_mult", "[1, 2]", COSMOS_ERR_INVALID_ARG, "levels in 'channels_mult'"},
    {"attn_resolutions", "[4, -1]", COSMOS_ERR_INVALID_ARG, "'attn_resolutions'[1]"},
    {"patch_size", "3", COSMOS_ERR_INVALID_ARG, "'patch_size' 3 must be a power of 2"},
    {"patch_size", "128", COSMOS_ERR_INVALID_ARG, "'patch_size'"},
    {"spatial_compression", "2", COSMOS_ERR_INVALID_ARG, "'spatial_compression' 2 must be a power of 2 >= patch_size"},
    {"spatial_compression", "24", COSMOS_ERR_INVALID_ARG, "'spatial_compression' 24"},
    {"temporal_compression", "12", COSMOS_ERR_INVALID_ARG, "'temporal_compression' 12"},
    {"temporal_compression", "16", COSMOS_ERR_INVALID_ARG, "the decoder of this config would upsample"},
    {"patch_method", "\"rearrange\"", COSMOS_ERR_UNSUPPORTED, "'patch_method' must be \"haar\""},
    {"num_groups", "32", COSMOS_ERR_UNSUPPORTED, "'num_groups' 32"},
    {"z_factor", "2", COSMOS_ERR_UNSUPPORTED, "'z_factor' 2"},
    {"legacy_mode", "true", COSMOS_ERR_UNSUPPORTED, "'legacy_mode' true"},
    {"legacy_mode", "0", COSMOS_ERR_INVALID_ARG, "'legacy_mode' must be true or false"},
    {"dropout", "\"none\"", COSMOS_ERR_INVALID_ARG, "'dropout'"},
    {"dropout", "1.5", COSMOS_ERR_INVALID_ARG, "'dropout'"},
    {"levels", "[8, 8, 8, 5, 5]", COSMOS_ERR_INVALID_ARG, "'levels' has 5 entries but 'embedding_dim' is 6"},
    {"levels", "[8, 8, 8, 5, 5, 1]", COSMOS_ERR_INVALID_ARG, "'levels'[5]"},
    {"embedding_dim", "7", COSMOS_ERR_INVALID_ARG, "'levels' has 6 entries but 'embedding_dim' is 7"},
    {"levels", "[65536, 65536, 65536, 65536, 65536, 65536]", COSMOS_ERR_INVALID_ARG, "does not fit int32"},
    {"pixel_chunk_duration", "12", COSMOS_ERR_INVALID_ARG, "'pixel_chunk_duration' 12"},
    {"height", "40", COSMOS_ERR_INVALID_ARG, "'height' 40"},
    {"width", "0", COSMOS_ERR_INVALID_ARG, "'width'"},
};

/* Writes the tiny config with one change to $COSMOS_TEST_TMP/<file> and returns the path. */
static void write_variant(const struct bad_case *b, char *path, size_t n, int idx) {
    char name[64];
    snprintf(name, sizeof name, "dv-bad-%02d.json", idx);
    write_config_variant("dv-tokenizer-tiny", b->key, b->value, name, path, n);
}

Test(dv_config, every_validation_error_names_the_problem) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *b = &bad_cases[i];
        char path[1024];
        write_variant(b, path, sizeof path, (int)i);
        struct cosmos_dv_config c;
        log_capture_start();
        cosmos_status st = cosmos_dv_config_load(path, &c);
        log_capture_stop();
        expect_config_error(b->key, b->value, st, b->want, b->needle, path);
    }
}

Test(dv_config, unreadable_and_malformed_files) {
    struct cosmos_dv_config c;
    char path[1024];
    tmp_path(path, sizeof path, "dv-malformed.json");
    FILE *fp = fopen(path, "w");
    cr_assert(fp);
    fputs("{\n  \"channels\": 8,\n  \"channels_mult\": [1, 2\n}\n", fp);
    fclose(fp);
    log_capture_start();
    cr_expect_eq(cosmos_dv_config_load(path, &c), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    cr_expect(strstr(log_captured(), path) && strstr(log_captured(), ":4:"), "line number: %s", log_captured());
    log_capture_start();
    cr_expect_eq(cosmos_dv_config_load("/nonexistent/dv.json", &c), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_dv_config_parse("[1, 2]", "array", &c), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "/nonexistent/dv.json") && strstr(log_captured(), "JSON object"), "%s",
              log_captured());
}

/* ---------------------------------------------------------------- weight files */

Test(dv_weights, init_file_passes_the_strict_check) {
    struct cosmos_dv_config c = load("dv-tokenizer-tiny"), d;
    char a[1024], b[1024];
    tmp_path(a, sizeof a, "dv-init-a.h5");
    tmp_path(b, sizeof b, "dv-init-b.h5");
    cr_assert_eq(cosmos_dv_init_random(&c, 5, COSMOS_DV_BOTH, a), COSMOS_OK);
    cr_assert_eq(cosmos_dv_init_random(&c, 5, COSMOS_DV_BOTH, b), COSMOS_OK);
    cosmos_h5_t *ha = NULL, *hb = NULL;
    cr_assert_eq(cosmos_h5_open(a, &ha), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(b, &hb), COSMOS_OK);
    enum cosmos_dv_part parts = 0;
    cr_assert_eq(cosmos_dv_read_header(ha, &d, &parts), COSMOS_OK);
    cr_expect_eq(parts, COSMOS_DV_BOTH);
    expect_same_config(&c, &d);
    cr_expect_eq(cosmos_dv_check_weights(ha, &d, parts), COSMOS_OK);
    /* the taps: bf16 [a, a], a = bf16(1/sqrt(2)) */
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(ha, COSMOS_DV_WAVELETS_KEY, &info), COSMOS_OK);
    cr_expect(info.dtype == COSMOS_BF16 && info.ndim == 1 && info.shape[0] == 2);
    uint16_t taps[2];
    cr_assert_eq(cosmos_h5_read(ha, COSMOS_DV_WAVELETS_KEY, COSMOS_BF16, taps), COSMOS_OK);
    cr_expect(taps[0] == 0x3F35 && taps[1] == 0x3F35, "taps %04x %04x", taps[0], taps[1]);
    /* deterministic in the seed; distribution as documented */
    struct cosmos_dv_tensor_spec *s = NULL;
    int n = 0;
    cr_assert_eq(cosmos_dv_weight_specs(&c, COSMOS_DV_BOTH, &s, &n), COSMOS_OK);
    for (int i = 0; i < n; i++) {
        const int64_t numel = s[i].stored_shape[0] * (s[i].stored_ndim == 2 ? s[i].stored_shape[1] : 1);
        float *x = malloc(sizeof(float) * (size_t)numel);
        uint16_t *xb = malloc(sizeof(uint16_t) * (size_t)numel), *yb = malloc(sizeof(uint16_t) * (size_t)numel);
        cr_assert(x && xb && yb);
        if (s[i].kind != COSMOS_DV_WAVELETS) {
            cr_assert_eq(cosmos_h5_info(ha, s[i].name, &info), COSMOS_OK);
            cr_expect_eq(info.dtype, COSMOS_BF16, "%s: init writes bf16", s[i].name);
            cr_assert_eq(cosmos_h5_read(ha, s[i].name, COSMOS_BF16, xb), COSMOS_OK, "%s", s[i].name);
            cr_assert_eq(cosmos_h5_read(hb, s[i].name, COSMOS_BF16, yb), COSMOS_OK);
            cr_expect(memcmp(xb, yb, sizeof(uint16_t) * (size_t)numel) == 0, "%s differs for the same seed", s[i].name);
            cosmos_bf16_to_f32_n(x, xb, (size_t)numel);
            double mean = 0, var = 0;
            for (int64_t k = 0; k < numel; k++) mean += x[k];
            mean /= (double)numel;
            for (int64_t k = 0; k < numel; k++) var += (x[k] - mean) * (x[k] - mean);
            const double sd = numel > 1 ? sqrt(var / (double)(numel - 1)) : 0;
            if (s[i].kind == COSMOS_DV_CONV_WEIGHT && numel >= 1024) {
                const double want = 1.0 / sqrt((double)s[i].stored_shape[1]);
                cr_expect(fabs(sd / want - 1) < 0.15 && fabs(mean) < 3 * want / sqrt((double)numel) + 1e-3,
                          "%s: mean %g std %g, want 0 and %g", s[i].name, mean, sd, want);
            }
            if (s[i].kind == COSMOS_DV_NORM_WEIGHT) cr_expect(fabs(mean - 1) < 0.1, "%s mean %g", s[i].name, mean);
            for (int64_t k = 0; k < numel; k++) cr_assert(isfinite(x[k]));
        }
        free(x);
        free(xb);
        free(yb);
    }
    free(s);
    cosmos_h5_close(ha);
    cosmos_h5_close(hb);
    /* a different seed gives different weights */
    uint16_t w5[6 * 4], w6[6 * 4];
    tmp_path(b, sizeof b, "dv-init-c.h5");
    cr_assert_eq(cosmos_dv_init_random(&c, 6, COSMOS_DV_ENCODER, b), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(a, &ha), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(b, &hb), COSMOS_OK);
    cr_assert_eq(cosmos_h5_read(ha, "quant_conv.conv3d.weight", COSMOS_BF16, w5), COSMOS_OK);
    cr_assert_eq(cosmos_h5_read(hb, "quant_conv.conv3d.weight", COSMOS_BF16, w6), COSMOS_OK);
    cr_expect(memcmp(w5, w6, sizeof w5) != 0, "seeds 5 and 6 gave the same weights");
    cr_assert_eq(cosmos_dv_read_header(hb, &d, &parts), COSMOS_OK);
    cr_expect_eq(parts, COSMOS_DV_ENCODER, "encoder-only file");
    cr_expect_eq(cosmos_dv_check_weights(hb, &d, COSMOS_DV_ENCODER), COSMOS_OK);
    /* asking an encoder-only file for the decoder part fails naming a decoder key */
    log_capture_start();
    cr_expect_eq(cosmos_dv_check_weights(hb, &d, COSMOS_DV_BOTH), COSMOS_ERR_FORMAT);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "missing dataset 'post_quant_conv.conv3d.weight'"), "%s", log_captured());
    cosmos_h5_close(ha);
    cosmos_h5_close(hb);
}

/* A file with the header of `parts` and every spec written as zeros, except: `skip` left out,
 * `reshape` written with one row more, `extra` added. */
static void write_file(const char *path, const struct cosmos_dv_config *c, enum cosmos_dv_part parts,
                       const char *skip, const char *reshape, const char *extra) {
    struct cosmos_dv_tensor_spec *s = NULL;
    int n = 0;
    cr_assert_eq(cosmos_dv_weight_specs(c, parts, &s, &n), COSMOS_OK);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_create(path, &h), COSMOS_OK);
    cr_assert_eq(cosmos_dv_write_header(h, c, parts), COSMOS_OK);
    float *zeros = calloc(1 << 20, sizeof(float));
    cr_assert(zeros);
    for (int i = 0; i < n; i++) {
        if (skip && !strcmp(s[i].name, skip)) continue;
        int64_t shape[2] = {s[i].stored_shape[0], s[i].stored_shape[1]};
        if (reshape && !strcmp(s[i].name, reshape)) shape[0]++;
        cr_assert_eq(cosmos_h5_write(h, s[i].name, COSMOS_F32, s[i].stored_ndim, shape, zeros), COSMOS_OK);
    }
    if (extra) {
        int64_t one = 4;
        cr_assert_eq(cosmos_h5_write(h, extra, COSMOS_F32, 1, &one, zeros), COSMOS_OK);
    }
    cosmos_h5_close(h);
    free(zeros);
    free(s);
}

static void expect_check_error(const char *path, const char *needle1, const char *needle2) {
    cosmos_h5_t *h = NULL;
    struct cosmos_dv_config c;
    enum cosmos_dv_part parts = 0;
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK);
    log_capture_start();
    cosmos_status st = cosmos_dv_read_header(h, &c, &parts);
    if (st == COSMOS_OK) st = cosmos_dv_check_weights(h, &c, parts);
    log_capture_stop();
    cr_expect_eq(st, COSMOS_ERR_FORMAT, "%s: %s", path, cosmos_status_str(st));
    cr_expect(strstr(log_captured(), needle1) && strstr(log_captured(), needle2), "'%s' / '%s' not in: %s", needle1,
              needle2, log_captured());
    cosmos_h5_close(h);
}

Test(dv_weights, strict_check_errors) {
    struct cosmos_dv_config c = load("dv-tokenizer-tiny");
    char path[1024];
    tmp_path(path, sizeof path, "dv-f32-ok.h5");
    write_file(path, &c, COSMOS_DV_BOTH, NULL, NULL, NULL);
    cosmos_h5_t *h = NULL;
    struct cosmos_dv_config d;
    enum cosmos_dv_part parts;
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK);
    cr_expect_eq(cosmos_dv_read_header(h, &d, &parts), COSMOS_OK);
    cr_expect_eq(cosmos_dv_check_weights(h, &d, parts), COSMOS_OK, "an all-f32 file is valid");
    cosmos_h5_close(h);

    tmp_path(path, sizeof path, "dv-missing.h5");
    write_file(path, &c, COSMOS_DV_DECODER, "decoder.up.0.attn.1.1.v.conv3d.bias", NULL, NULL);
    expect_check_error(path, "missing dataset 'decoder.up.0.attn.1.1.v.conv3d.bias'", "[8]");
    tmp_path(path, sizeof path, "dv-nowavelets.h5");
    write_file(path, &c, COSMOS_DV_DECODER, COSMOS_DV_WAVELETS_KEY, NULL, NULL);
    expect_check_error(path, "missing dataset 'decoder.unpatcher3d.wavelets'", "[2]");
    tmp_path(path, sizeof path, "dv-shape.h5");
    write_file(path, &c, COSMOS_DV_ENCODER, NULL, "encoder.conv_in.0.conv3d.weight", NULL);
    expect_check_error(path, "'encoder.conv_in.0.conv3d.weight' has shape [9, 1728]", "expected [8, 1728]");
    tmp_path(path, sizeof path, "dv-extra.h5");
    write_file(path, &c, COSMOS_DV_ENCODER, NULL, NULL, "encoder.patcher3d._arange");
    expect_check_error(path, "unexpected dataset 'encoder.patcher3d._arange'", "encoder");
    /* a decoder-only file claiming both parts */
    tmp_path(path, sizeof path, "dv-claims-both.h5");
    write_file(path, &c, COSMOS_DV_DECODER, NULL, NULL, NULL);
    {
        /* rewrite the header attribute: a new file with has_encoder 1 but only decoder data */
        struct cosmos_dv_tensor_spec *s = NULL;
        int n = 0;
        cr_assert_eq(cosmos_dv_weight_specs(&c, COSMOS_DV_DECODER, &s, &n), COSMOS_OK);
        cosmos_h5_t *w = NULL;
        cr_assert_eq(cosmos_h5_create(path, &w), COSMOS_OK);
        cr_assert_eq(cosmos_dv_write_header(w, &c, COSMOS_DV_BOTH), COSMOS_OK);
        float *zeros = calloc(1 << 20, sizeof(float));
        for (int i = 0; i < n; i++)
            cr_assert_eq(cosmos_h5_write(w, s[i].name, COSMOS_F32, s[i].stored_ndim, s[i].stored_shape, zeros),
                         COSMOS_OK);
        cosmos_h5_close(w);
        free(zeros);
        free(s);
    }
    expect_check_error(path, "missing dataset 'encoder.conv_in.0.conv3d.weight'", "encoder");
    /* an AR weight file is not a tokenizer file */
    char ar[1024];
    snprintf(ar, sizeof ar, "%s/tests/data/tiny-ar-4b.h5", COSMOS_SOURCE_DIR);
    expect_check_error(ar, "model_type is 'ar'", "dv_tokenizer");
}

/* The C encoder consumes an `init` file as written (flattened conv weights, bf16). */
Test(dv_weights, init_file_runs_through_the_c_encoder) {
    struct cosmos_dv_config c = load("dv-tokenizer-tiny");
    char path[1024];
    tmp_path(path, sizeof path, "dv-init-enc.h5");
    cr_assert_eq(cosmos_dv_init_random(&c, 11, COSMOS_DV_BOTH, path), COSMOS_OK);
    cosmos_backend_t *be = NULL;
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK);
    const int64_t T = 9, H = 32, W = 48;
    int64_t Tl, Hl, Wl;
    cosmos_dv_latent_shape(&c, T, H, W, &Tl, &Hl, &Wl);
    const int64_t N = Tl * Hl * Wl;
    float *video = malloc(sizeof(float) * (size_t)(3 * T * H * W)), *latent = malloc(sizeof(float) * (size_t)(6 * N));
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)N);
    cr_assert(video && latent && idx);
    for (int64_t i = 0; i < 3 * T * H * W; i++) video[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    cr_assert_eq(cosmos_dv_encode(be, h, &c, video, T, H, W, latent, idx, NULL), COSMOS_OK);
    for (int64_t i = 0; i < 6 * N; i++) cr_assert(isfinite(latent[i]), "latent[%lld]", (long long)i);
    for (int64_t i = 0; i < N; i++) cr_assert(idx[i] >= 0 && idx[i] < 64000, "index %d", idx[i]);
    free(video);
    free(latent);
    free(idx);
    cosmos_h5_close(h);
    cosmos_backend_free(be);
}

/* An encoder object (weights resident) encodes clip after clip exactly as a fresh cosmos_dv_encode
 * of each, in any order (no state carried between clips), its weight file closed after the open;
 * and a missing weight fails the open with the key named. */
Test(dv_weights, encoder_object_runs_clip_after_clip) {
    struct cosmos_dv_config c = load("dv-tokenizer-tiny");
    char path[1024];
    tmp_path(path, sizeof path, "dv-init-enc2.h5");
    cr_assert_eq(cosmos_dv_init_random(&c, 12, COSMOS_DV_BOTH, path), COSMOS_OK);
    cosmos_backend_t *be = NULL;
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK);
    const int64_t T = 9, H = 32, W = 48, n = 3 * T * H * W;
    int64_t Tl, Hl, Wl;
    cosmos_dv_latent_shape(&c, T, H, W, &Tl, &Hl, &Wl);
    const int64_t N = Tl * Hl * Wl;
    float *clip[2], *want_lat[2], *lat = malloc(sizeof(float) * (size_t)(6 * N));
    int32_t *want_idx[2], *idx = malloc(sizeof(int32_t) * (size_t)N);
    for (int k = 0; k < 2; k++) {
        clip[k] = malloc(sizeof(float) * (size_t)n);
        want_lat[k] = malloc(sizeof(float) * (size_t)(6 * N));
        want_idx[k] = malloc(sizeof(int32_t) * (size_t)N);
        for (int64_t i = 0; i < n; i++) clip[k][i] = (float)((i * (2654435761u + 40503u * k)) % 2001) / 1000.0f - 1.0f;
        cr_assert_eq(cosmos_dv_encode(be, h, &c, clip[k], T, H, W, want_lat[k], want_idx[k], NULL), COSMOS_OK);
    }
    cr_assert(memcmp(want_idx[0], want_idx[1], sizeof(int32_t) * (size_t)N) != 0, "two clips, two token sets");
    cosmos_dv_encoder_t *enc = NULL;
    cr_assert_eq(cosmos_dv_encoder_open(be, h, &c, &enc), COSMOS_OK);
    cosmos_h5_close(h); /* the encoder holds its weights */
    cr_assert_str_eq(cosmos_dv_encoder_config(enc)->name, c.name);
    const int order[] = {0, 1, 0, 1, 1};
    for (size_t r = 0; r < sizeof order / sizeof order[0]; r++) {
        const int k = order[r];
        cr_assert_eq(cosmos_dv_encoder_run(enc, clip[k], T, H, W, lat, idx, NULL), COSMOS_OK);
        cr_expect_arr_eq(lat, want_lat[k], sizeof(float) * (size_t)(6 * N), "run %zu (clip %d): latent", r, k);
        cr_expect_arr_eq(idx, want_idx[k], sizeof(int32_t) * (size_t)N, "run %zu (clip %d): indices", r, k);
    }
    /* a bad clip shape is refused by the run, the encoder stays usable */
    cr_expect_eq(cosmos_dv_encoder_run(enc, clip[0], 8, H, W, lat, idx, NULL), COSMOS_ERR_INVALID_ARG);
    cr_assert_eq(cosmos_dv_encoder_run(enc, clip[1], T, H, W, lat, idx, NULL), COSMOS_OK);
    cr_expect_arr_eq(idx, want_idx[1], sizeof(int32_t) * (size_t)N);
    cosmos_dv_encoder_free(enc);
    /* a decoder-only file has no encoder weights: the open names the first missing key */
    char dec_only[1024];
    tmp_path(dec_only, sizeof dec_only, "dv-init-dec-only.h5");
    cr_assert_eq(cosmos_dv_init_random(&c, 12, COSMOS_DV_DECODER, dec_only), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(dec_only, &h), COSMOS_OK);
    enc = NULL;
    cr_expect_eq(cosmos_dv_encoder_open(be, h, &c, &enc), COSMOS_ERR_FORMAT);
    cr_expect_null(enc);
    cosmos_h5_close(h);
    for (int k = 0; k < 2; k++) free(clip[k]), free(want_lat[k]), free(want_idx[k]);
    free(lat), free(idx);
    cosmos_backend_free(be);
}
