/* Video tokenizer configuration (spec components.md 2.2 and 4.7, see dv_config.h): JSON loading
 * with strict validation of DV ("dv_tokenizer") and CV ("cv_tokenizer") configs, serialisation, the
 * official DV8x16x16 numbers, the down/up-sampling plan (2.5, 2.8, non-legacy flag rule), the
 * parameter count (2.9, 4.7, counted from the block structure of 2.5-2.8, independently of the key
 * list in dv_weights.c) and the latent shape arithmetic. */
#define _POSIX_C_SOURCE 200809L
#include "core/model/dv_config.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/log.h"

#define MAX_WIDTH (1 << 16) /* any channel count; keeps every product of the count in int64 */

static int ilog2(int v) {
    int n = 0;
    while ((1 << (n + 1)) <= v) n++;
    return n;
}
static int is_pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }

struct cosmos_dv_config cosmos_dv_config_dv8x16x16(void) {
    struct cosmos_dv_config c = {
        .in_channels = 3, .channels = 128, .n_levels = 3, .channels_mult = {2, 4, 4}, .num_res_blocks = 2,
        .n_attn_resolutions = 1, .attn_resolutions = {32}, .resolution = 1024, .patch_size = 4, .z_channels = 16,
        .embedding_dim = 6, .fsq_levels = {8, 8, 8, 5, 5, 5}, .spatial_compression = 16, .temporal_compression = 8,
        .name = "cosmos-1.0-tokenizer-dv8x16x16", .out_channels = 3, .pixel_chunk_duration = 33, .height = 640,
        .width = 1024,
    };
    return c;
}

int cosmos_dv_latent_channels(const struct cosmos_dv_config *c) {
    return c->continuous ? c->latent_channels : c->embedding_dim;
}

/* ---------------------------------------------------------------- down/up-sampling plan */

int cosmos_dv_num_spatial_downs(const struct cosmos_dv_config *c) {
    return ilog2(c->spatial_compression) - ilog2(c->patch_size);
}
int cosmos_dv_num_temporal_downs(const struct cosmos_dv_config *c) {
    return ilog2(c->temporal_compression) - ilog2(c->patch_size);
}

void cosmos_dv_down_flags(const struct cosmos_dv_config *c, int level, int *spatial, int *temporal) {
    const int last = level >= c->n_levels - 1;
    *spatial = !last && level < cosmos_dv_num_spatial_downs(c);
    *temporal = !last && level < cosmos_dv_num_temporal_downs(c);
}

void cosmos_dv_up_flags(const struct cosmos_dv_config *c, int level, int *spatial, int *temporal) {
    const int n_su = cosmos_dv_num_spatial_downs(c), n_tu = cosmos_dv_num_temporal_downs(c);
    if (level <= 0 || level >= c->n_levels) {
        *spatial = *temporal = 0;
        return;
    }
    const int r = c->n_levels - 1 - level; /* reversed level: up.{n-1} runs first with r = 0 */
    *temporal = 0 < r && r < n_tu + 1;
    *spatial = *temporal || (r < n_su && n_su > n_tu);
}

void cosmos_dv_latent_shape(const struct cosmos_dv_config *cfg, int64_t T, int64_t H, int64_t W, int64_t *Tl,
                            int64_t *Hl, int64_t *Wl) {
    int64_t t = T + cfg->patch_size - 1, h = H / cfg->patch_size, w = W / cfg->patch_size;
    for (int p = cfg->patch_size; p > 1; p /= 2) t = (t + 1) / 2;
    for (int l = 0; l < cfg->n_levels - 1; l++) {
        int s, tt;
        cosmos_dv_down_flags(cfg, l, &s, &tt);
        if (s) h /= 2, w /= 2;
        if (tt) t = (t + 1) / 2;
    }
    *Tl = t, *Hl = h, *Wl = w;
}

/* ---------------------------------------------------------------- parameter count (2.9) */

static int64_t conv_params(int64_t cin, int64_t cout, int64_t k) { return cout * cin * k + cout; }
static int64_t norm_params(int64_t c) { return 2 * c; }
/* factorized conv: (1,3,3) cin->cout then (3,1,1) cout->cout */
static int64_t fact_params(int64_t cin, int64_t cout) { return conv_params(cin, cout, 9) + conv_params(cout, cout, 3); }
static int64_t res_params(int64_t cin, int64_t cout) {
    return norm_params(cin) + fact_params(cin, cout) + norm_params(cout) + fact_params(cout, cout) +
           (cin != cout ? conv_params(cin, cout, 1) : 0);
}
/* spatial + temporal attention: norm, q, k, v, proj_out each */
static int64_t attn_pair_params(int64_t c) { return 2 * (norm_params(c) + 4 * conv_params(c, c, 1)); }
static int has_attn(const struct cosmos_dv_config *c, int res) {
    for (int a = 0; a < c->n_attn_resolutions; a++)
        if (c->attn_resolutions[a] == res) return 1;
    return 0;
}

static int64_t encoder_params(const struct cosmos_dv_config *c) {
    const int64_t p3 = (int64_t)c->patch_size * c->patch_size * c->patch_size;
    int64_t n = fact_params(c->in_channels * p3, c->channels);
    int64_t cin = c->channels;
    int res = c->resolution / c->patch_size;
    for (int l = 0; l < c->n_levels; l++) {
        const int64_t cout = (int64_t)c->channels * c->channels_mult[l];
        for (int b = 0; b < c->num_res_blocks; b++) {
            n += res_params(cin, cout);
            cin = cout;
            if (has_attn(c, res)) n += attn_pair_params(cin);
        }
        int s, t;
        cosmos_dv_down_flags(c, l, &s, &t);
        if (s) n += conv_params(cin, cin, 9);
        if (t) n += conv_params(cin, cin, 3);
        if (s || t) n += conv_params(cin, cin, 1);
        if (l != c->n_levels - 1) res /= 2;
    }
    n += 2 * res_params(cin, cin) + attn_pair_params(cin); /* mid */
    n += norm_params(cin) + fact_params(cin, c->z_channels);
    return n + conv_params(c->z_channels, cosmos_dv_latent_channels(c), 1); /* quant_conv */
}

static int64_t decoder_params(const struct cosmos_dv_config *c) {
    const int64_t p3 = (int64_t)c->patch_size * c->patch_size * c->patch_size;
    int64_t cin = (int64_t)c->channels * c->channels_mult[c->n_levels - 1];
    int64_t n = conv_params(cosmos_dv_latent_channels(c), c->z_channels, 1); /* post_quant_conv */
    n += fact_params(c->z_channels, cin);
    n += 2 * res_params(cin, cin) + attn_pair_params(cin); /* mid */
    int res = (c->resolution / c->patch_size) >> (c->n_levels - 1);
    for (int l = c->n_levels - 1; l >= 0; l--) {
        const int64_t cout = (int64_t)c->channels * c->channels_mult[l];
        for (int b = 0; b < c->num_res_blocks + 1; b++) {
            n += res_params(cin, cout);
            cin = cout;
            if (has_attn(c, res)) n += attn_pair_params(cin);
        }
        int s, t;
        cosmos_dv_up_flags(c, l, &s, &t);
        if (t) n += conv_params(cin, cin, 3);
        if (s) n += conv_params(cin, cin, 9);
        if (s || t) n += conv_params(cin, cin, 1);
        if (l != 0) res *= 2;
    }
    const int out = c->out_channels > 0 ? c->out_channels : c->in_channels; /* 0: a hand-built struct */
    return n + norm_params(cin) + fact_params(cin, out * p3);
}

int64_t cosmos_dv_config_num_params(const struct cosmos_dv_config *c, enum cosmos_dv_part parts) {
    return ((parts & COSMOS_DV_ENCODER) ? encoder_params(c) : 0) +
           ((parts & COSMOS_DV_DECODER) ? decoder_params(c) : 0);
}

/* ---------------------------------------------------------------- JSON */

enum {
    HAVE_IN = 1 << 0,
    HAVE_CH = 1 << 1,
    HAVE_MULT = 1 << 2,
    HAVE_NRB = 1 << 3,
    HAVE_ATTN = 1 << 4,
    HAVE_RES = 1 << 5,
    HAVE_PATCH = 1 << 6,
    HAVE_Z = 1 << 7,
    HAVE_EMB = 1 << 8,
    HAVE_LEVELS = 1 << 9,
    HAVE_SC = 1 << 10,
    HAVE_TC = 1 << 11,
    HAVE_OUT = 1 << 12,
    HAVE_LATENT = 1 << 13,
};

/* `kind`: required by both (0), DV only (1), CV only (2). */
static const struct {
    int bit, kind;
    const char *key;
} required_keys[] = {
    {HAVE_IN, 0, "in_channels"},       {HAVE_CH, 0, "channels"},
    {HAVE_MULT, 0, "channels_mult"},   {HAVE_NRB, 0, "num_res_blocks"},
    {HAVE_ATTN, 0, "attn_resolutions"}, {HAVE_RES, 0, "resolution"},
    {HAVE_PATCH, 0, "patch_size"},     {HAVE_Z, 0, "z_channels"},
    {HAVE_EMB, 1, "embedding_dim"},    {HAVE_LEVELS, 1, "levels"},
    {HAVE_LATENT, 2, "latent_channels"}, {HAVE_SC, 0, "spatial_compression"},
    {HAVE_TC, 0, "temporal_compression"},
};

static cosmos_status get_pos_int(json_t *v, const char *key, const char *src, int max, int *out) {
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > max) {
        LOG_ERROR("%s: '%s' must be a positive integer <= %d", src, key, max);
        return COSMOS_ERR_INVALID_ARG;
    }
    *out = (int)json_integer_value(v);
    return COSMOS_OK;
}

/* A JSON array of min_n..max_n integers, each in [lo, hi]. */
static cosmos_status get_int_list(json_t *v, const char *key, const char *src, int min_n, int max_n, int lo, int hi,
                                  int *out, int *n) {
    if (!json_is_array(v) || (int)json_array_size(v) < min_n || (int)json_array_size(v) > max_n) {
        LOG_ERROR("%s: '%s' must be a list of %d to %d integers", src, key, min_n, max_n);
        return COSMOS_ERR_INVALID_ARG;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_integer(e) || json_integer_value(e) < lo || json_integer_value(e) > hi) {
            LOG_ERROR("%s: '%s'[%zu] must be an integer in [%d, %d]", src, key, i, lo, hi);
            return COSMOS_ERR_INVALID_ARG;
        }
        out[i] = (int)json_integer_value(e);
    }
    *n = (int)json_array_size(v);
    return COSMOS_OK;
}

/* FSQ levels of a DV config (spec 2.7). */
static cosmos_status validate_fsq(const struct cosmos_dv_config *c, const char *src) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(c->embedding_dim <= COSMOS_DV_MAX_FSQ_LEVELS, COSMOS_ERR_INVALID_ARG,
              "%s: 'embedding_dim' %d exceeds %d", src, c->embedding_dim, COSMOS_DV_MAX_FSQ_LEVELS);
    int n_fsq = 0;
    int64_t vocab = 1;
    while (n_fsq < COSMOS_DV_MAX_FSQ_LEVELS && c->fsq_levels[n_fsq] > 0) {
        vocab *= c->fsq_levels[n_fsq++];
        if (vocab > INT32_MAX) vocab = (int64_t)INT32_MAX + 1; /* saturate: 16 levels of 2^16 overflow int64 */
    }
    CHECK_ARG(n_fsq == c->embedding_dim, COSMOS_ERR_INVALID_ARG,
              "%s: 'levels' has %d entries but 'embedding_dim' is %d: they must be equal (FSQ without projection "
              "layers, spec 2.7)",
              src, n_fsq, c->embedding_dim);
    CHECK_ARG(vocab <= INT32_MAX, COSMOS_ERR_INVALID_ARG,
              "%s: the product of 'levels' (the vocabulary, %lld) does not fit int32 indices", src, (long long)vocab);
fail:
    return st;
}

static cosmos_status validate(const struct cosmos_dv_config *c, int have, const char *src) {
    cosmos_status st = COSMOS_OK;
    for (size_t i = 0; i < sizeof required_keys / sizeof required_keys[0]; i++)
        if (required_keys[i].kind == 0 || required_keys[i].kind == (c->continuous ? 2 : 1))
            CHECK_ARG(have & required_keys[i].bit, COSMOS_ERR_INVALID_ARG, "%s: required key '%s' is missing", src,
                      required_keys[i].key);
    CHECK_ARG(is_pow2(c->patch_size), COSMOS_ERR_INVALID_ARG, "%s: 'patch_size' %d must be a power of 2 (official: 4)",
              src, c->patch_size);
    CHECK_ARG(is_pow2(c->spatial_compression) && c->spatial_compression >= c->patch_size, COSMOS_ERR_INVALID_ARG,
              "%s: 'spatial_compression' %d must be a power of 2 >= patch_size %d (official: 16)", src,
              c->spatial_compression, c->patch_size);
    CHECK_ARG(is_pow2(c->temporal_compression) && c->temporal_compression >= c->patch_size, COSMOS_ERR_INVALID_ARG,
              "%s: 'temporal_compression' %d must be a power of 2 >= patch_size %d (official: 8)", src,
              c->temporal_compression, c->patch_size);
    const int n_sd = cosmos_dv_num_spatial_downs(c), n_td = cosmos_dv_num_temporal_downs(c);
    CHECK_ARG(n_sd <= c->n_levels - 1 && n_td <= c->n_levels - 1, COSMOS_ERR_INVALID_ARG,
              "%s: %d spatial and %d temporal halvings (compression / patch_size) need at least %d levels in "
              "'channels_mult', which has %d (every level but the last downsamples)",
              src, n_sd, n_td, (n_sd > n_td ? n_sd : n_td) + 1, c->n_levels);
    int n_su = 0, n_tu = 0;
    for (int l = 1; l < c->n_levels; l++) {
        int s, t;
        cosmos_dv_up_flags(c, l, &s, &t);
        n_su += s, n_tu += t;
    }
    CHECK_ARG(n_su == n_sd && n_tu == n_td, COSMOS_ERR_INVALID_ARG,
              "%s: the decoder of this config would upsample %d times spatially and %d times temporally (the "
              "official non-legacy flag rule, spec 2.8) but the encoder downsamples %d and %d times: change "
              "'channels_mult' length or the compressions",
              src, n_su, n_tu, n_sd, n_td);
    for (int l = 0; l < c->n_levels; l++)
        CHECK_ARG((int64_t)c->channels * c->channels_mult[l] <= MAX_WIDTH, COSMOS_ERR_INVALID_ARG,
                  "%s: channels * channels_mult[%d] = %lld exceeds %d", src, l,
                  (long long)c->channels * c->channels_mult[l], MAX_WIDTH);
    /* CausalContinuousVideoTokenizer replaces its decoder's channels_mult by [2, 4] when
     * temporal_compression is 4 (CT networks/continuous_video.py): a decoder unlike the encoder */
    CHECK_ARG(!c->continuous || c->temporal_compression != 4, COSMOS_ERR_UNSUPPORTED,
              "%s: a cv_tokenizer with 'temporal_compression' 4 is not supported (the official continuous tokenizer "
              "then builds its decoder with channels_mult [2, 4] whatever the config says; CV8x8x8: 8)",
              src);
    if (!c->continuous) CHECK(validate_fsq(c, src)); /* a CV config has no quantizer */
    if (c->pixel_chunk_duration)
        CHECK_ARG((c->pixel_chunk_duration - 1) % c->temporal_compression == 0, COSMOS_ERR_INVALID_ARG,
                  "%s: 'pixel_chunk_duration' %d must be 1 + temporal_compression (%d) * k (official: %s)", src,
                  c->pixel_chunk_duration, c->temporal_compression, c->continuous ? "57 for the CV decoder" : "33");
    if (c->height)
        CHECK_ARG(c->height % c->spatial_compression == 0, COSMOS_ERR_INVALID_ARG,
                  "%s: 'height' %d must be a multiple of spatial_compression %d", src, c->height,
                  c->spatial_compression);
    if (c->width)
        CHECK_ARG(c->width % c->spatial_compression == 0, COSMOS_ERR_INVALID_ARG,
                  "%s: 'width' %d must be a multiple of spatial_compression %d", src, c->width,
                  c->spatial_compression);
fail:
    return st;
}

cosmos_status cosmos_dv_config_parse(const char *text, const char *src, struct cosmos_dv_config *c) {
    cosmos_status st = COSMOS_OK;
    int have = 0;
    memset(c, 0, sizeof *c);
    json_t *root = NULL;
    CHECK(cosmos_config_json_object(text, src, "a DV tokenizer config", &root));
    /* model_type first: it decides which keys belong (absent: a DV config, as before CV existed) */
    json_t *mt = json_object_get(root, "model_type");
    CHECK_ARG(!mt || (json_is_string(mt) && (!strcmp(json_string_value(mt), COSMOS_DV_MODEL_TYPE) ||
                                              !strcmp(json_string_value(mt), COSMOS_CV_MODEL_TYPE))),
              COSMOS_ERR_INVALID_ARG, "%s: model_type must be \"%s\" or \"%s\"", src, COSMOS_DV_MODEL_TYPE,
              COSMOS_CV_MODEL_TYPE);
    c->continuous = mt && !strcmp(json_string_value(mt), COSMOS_CV_MODEL_TYPE);
    snprintf(c->name, sizeof c->name, c->continuous ? "cv-tokenizer" : "dv-tokenizer");
    const char *kind = c->continuous ? "CV" : "DV";
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        int one = 0;
        if (!strcmp(key, "model_type")) {
            continue; /* checked above */
        } else if (c->continuous && (!strcmp(key, "levels") || !strcmp(key, "embedding_dim"))) {
            CHECK_ARG(0, COSMOS_ERR_INVALID_ARG,
                      "%s: '%s' is an FSQ key: a cv_tokenizer has a continuous latent of 'latent_channels' "
                      "channels and no quantizer (spec 4.7)",
                      src, key);
        } else if (!c->continuous && (!strcmp(key, "latent_channels") || !strcmp(key, "formulation"))) {
            CHECK_ARG(0, COSMOS_ERR_INVALID_ARG,
                      "%s: '%s' is a key of continuous tokenizer configs (model_type \"%s\"); a DV tokenizer's "
                      "latent is 'embedding_dim' FSQ codes",
                      src, key, COSMOS_CV_MODEL_TYPE);
        } else if (!strcmp(key, "formulation")) {
            CHECK_ARG(json_is_string(v), COSMOS_ERR_INVALID_ARG, "%s: 'formulation' must be \"AE\" or \"VAE\"", src);
            CHECK_ARG(!strcmp(json_string_value(v), "AE"), COSMOS_ERR_UNSUPPORTED,
                      "%s: 'formulation' \"%s\" is not supported: CV8x8x8 is an AE (identity distribution, spec "
                      "4.7)",
                      src, json_string_value(v));
        } else if (!strcmp(key, "name")) {
            CHECK_ARG(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < sizeof c->name,
                      COSMOS_ERR_INVALID_ARG, "%s: 'name' must be a non-empty string of < %zu bytes", src,
                      sizeof c->name);
            snprintf(c->name, sizeof c->name, "%s", json_string_value(v));
        } else if (!strcmp(key, "channels_mult")) {
            CHECK(get_int_list(v, key, src, 1, COSMOS_DV_MAX_LEVELS, 1, MAX_WIDTH, c->channels_mult, &c->n_levels));
            have |= HAVE_MULT;
        } else if (!strcmp(key, "attn_resolutions")) {
            CHECK(get_int_list(v, key, src, 0, COSMOS_DV_MAX_LEVELS, 1, 1 << 30, c->attn_resolutions,
                               &c->n_attn_resolutions));
            have |= HAVE_ATTN;
        } else if (!strcmp(key, "levels")) {
            int n = 0;
            memset(c->fsq_levels, 0, sizeof c->fsq_levels);
            CHECK(get_int_list(v, key, src, 1, COSMOS_DV_MAX_FSQ_LEVELS, 2, 1 << 16, c->fsq_levels, &n));
            have |= HAVE_LEVELS;
        } else if (!strcmp(key, "dropout")) {
            CHECK_ARG(json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) < 1,
                      COSMOS_ERR_INVALID_ARG, "%s: 'dropout' must be a number in [0, 1) (inactive at inference)", src);
        } else if (!strcmp(key, "patch_method")) {
            CHECK_ARG(json_is_string(v) && !strcmp(json_string_value(v), "haar"), COSMOS_ERR_UNSUPPORTED,
                      "%s: 'patch_method' must be \"haar\" (the DV8x16x16 wavelet patcher, spec 2.4)", src);
        } else if (!strcmp(key, "legacy_mode")) {
            CHECK_ARG(json_is_boolean(v), COSMOS_ERR_INVALID_ARG, "%s: 'legacy_mode' must be true or false", src);
            CHECK_ARG(json_is_false(v), COSMOS_ERR_UNSUPPORTED,
                      "%s: 'legacy_mode' true is not supported (DV8x16x16 uses false: spec 2.8 flag rule)", src);
        } else if (!strcmp(key, "num_groups") || !strcmp(key, "z_factor")) {
            CHECK(get_pos_int(v, key, src, 1 << 30, &one));
            CHECK_ARG(one == 1, COSMOS_ERR_UNSUPPORTED, "%s: '%s' %d is not supported (%s: 1)", src, key, one,
                      c->continuous ? "CV8x8x8" : "DV8x16x16");
        } else {
            static const struct {
                const char *key;
                size_t off;
                int bit, max;
            } ints[] = {
                {"in_channels", offsetof(struct cosmos_dv_config, in_channels), HAVE_IN, 64},
                {"out_channels", offsetof(struct cosmos_dv_config, out_channels), HAVE_OUT, 64},
                {"channels", offsetof(struct cosmos_dv_config, channels), HAVE_CH, MAX_WIDTH},
                {"num_res_blocks", offsetof(struct cosmos_dv_config, num_res_blocks), HAVE_NRB, 64},
                {"resolution", offsetof(struct cosmos_dv_config, resolution), HAVE_RES, 1 << 30},
                {"patch_size", offsetof(struct cosmos_dv_config, patch_size), HAVE_PATCH, 64},
                {"z_channels", offsetof(struct cosmos_dv_config, z_channels), HAVE_Z, MAX_WIDTH},
                {"embedding_dim", offsetof(struct cosmos_dv_config, embedding_dim), HAVE_EMB, 1 << 16},
                {"latent_channels", offsetof(struct cosmos_dv_config, latent_channels), HAVE_LATENT, MAX_WIDTH},
                {"spatial_compression", offsetof(struct cosmos_dv_config, spatial_compression), HAVE_SC, 1 << 20},
                {"temporal_compression", offsetof(struct cosmos_dv_config, temporal_compression), HAVE_TC, 1 << 20},
                {"pixel_chunk_duration", offsetof(struct cosmos_dv_config, pixel_chunk_duration), 0, 1 << 20},
                {"height", offsetof(struct cosmos_dv_config, height), 0, 1 << 20},
                {"width", offsetof(struct cosmos_dv_config, width), 0, 1 << 20},
            };
            size_t i = 0;
            while (i < sizeof ints / sizeof ints[0] && strcmp(key, ints[i].key)) i++;
            CHECK_ARG(i < sizeof ints / sizeof ints[0], COSMOS_ERR_INVALID_ARG,
                      "%s: unknown key '%s' in a %s tokenizer config (keys are the official tokenizer config names, "
                      "see configs/models/cosmos-1.0-tokenizer-%s.json)",
                      src, key, kind, c->continuous ? "cv8x8x8" : "dv8x16x16");
            CHECK(get_pos_int(v, key, src, ints[i].max, (int *)((char *)c + ints[i].off)));
            have |= ints[i].bit;
        }
    }
    if (!(have & HAVE_OUT)) c->out_channels = c->in_channels;
    CHECK(validate(c, have, src));
fail:
    json_decref(root);
    return st;
}

cosmos_status cosmos_dv_config_load(const char *path, struct cosmos_dv_config *c) {
    cosmos_status st = COSMOS_OK;
    char *text = NULL;
    CHECK(cosmos_config_file_text(path, &text));
    CHECK(cosmos_dv_config_parse(text, path, c));
fail:
    free(text);
    return st;
}

static json_t *int_list(const int *v, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

char *cosmos_dv_config_to_json(const struct cosmos_dv_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "model_type", json_string(c->continuous ? COSMOS_CV_MODEL_TYPE : COSMOS_DV_MODEL_TYPE));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "in_channels", json_integer(c->in_channels));
    json_object_set_new(o, "out_channels", json_integer(c->out_channels));
    json_object_set_new(o, "channels", json_integer(c->channels));
    json_object_set_new(o, "channels_mult", int_list(c->channels_mult, c->n_levels));
    json_object_set_new(o, "num_res_blocks", json_integer(c->num_res_blocks));
    json_object_set_new(o, "attn_resolutions", int_list(c->attn_resolutions, c->n_attn_resolutions));
    json_object_set_new(o, "resolution", json_integer(c->resolution));
    json_object_set_new(o, "dropout", json_real(0.0));
    json_object_set_new(o, "patch_size", json_integer(c->patch_size));
    json_object_set_new(o, "patch_method", json_string("haar"));
    json_object_set_new(o, "z_channels", json_integer(c->z_channels));
    json_object_set_new(o, "z_factor", json_integer(1));
    if (c->continuous) {
        json_object_set_new(o, "latent_channels", json_integer(c->latent_channels));
        json_object_set_new(o, "formulation", json_string("AE"));
    } else {
        json_object_set_new(o, "embedding_dim", json_integer(c->embedding_dim));
        json_object_set_new(o, "levels", int_list(c->fsq_levels, c->embedding_dim));
    }
    json_object_set_new(o, "spatial_compression", json_integer(c->spatial_compression));
    json_object_set_new(o, "temporal_compression", json_integer(c->temporal_compression));
    json_object_set_new(o, "num_groups", json_integer(1));
    json_object_set_new(o, "legacy_mode", json_false());
    if (c->pixel_chunk_duration) json_object_set_new(o, "pixel_chunk_duration", json_integer(c->pixel_chunk_duration));
    if (c->height) json_object_set_new(o, "height", json_integer(c->height));
    if (c->width) json_object_set_new(o, "width", json_integer(c->width));
    char *s = json_dumps(o, JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

int cosmos_config_file_is_dv(const char *path) { return cosmos_config_file_has_model_type(path, COSMOS_DV_MODEL_TYPE); }
int cosmos_config_file_is_cv(const char *path) { return cosmos_config_file_has_model_type(path, COSMOS_CV_MODEL_TYPE); }
