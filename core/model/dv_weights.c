/* DV and CV tokenizer weight files (see dv_weights.h): the key list walks the module structure of
 * spec 2.5-2.8 (4.7 for CV: the same modules, quant_conv / post_quant_conv on latent_channels) in
 * state_dict registration order (ResBlock: norm1, conv1.{0,1}, norm2, conv2.{0,1}, nin_shortcut;
 * attention: norm, q, k, v, proj_out; a level: its blocks, its attention pairs, then its
 * down/up-sampler conv1, conv2, conv3 as the flags of dv_config.h select them); the CV latent
 * statistics (mean_std.pt) are two optional f32 datasets outside the key list. */
#include "core/model/dv_weights.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct list {
    struct cosmos_dv_tensor_spec *v;
    int n, cap;
    enum cosmos_dv_part part;
    int oom;
};

static struct cosmos_dv_tensor_spec *push(struct list *l, enum cosmos_dv_tensor_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static struct cosmos_dv_tensor_spec *push(struct list *l, enum cosmos_dv_tensor_kind kind, const char *fmt, ...) {
    static struct cosmos_dv_tensor_spec sink; /* absorbs writes after an allocation failure */
    if (l->oom) return &sink;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        struct cosmos_dv_tensor_spec *v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v) {
            l->oom = 1;
            return &sink;
        }
        l->v = v, l->cap = cap;
    }
    struct cosmos_dv_tensor_spec *s = &l->v[l->n++];
    memset(s, 0, sizeof *s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    s->kind = kind;
    s->part = l->part;
    return s;
}

/* snprintf into a name buffer; names are short (< 64 characters for any valid config) */
static void name_fmt(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void name_fmt(char *dst, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static void vec(struct list *l, enum cosmos_dv_tensor_kind kind, int64_t n, const char *prefix, const char *suffix) {
    struct cosmos_dv_tensor_spec *s = push(l, kind, "%s%s", prefix, suffix);
    s->ndim = s->stored_ndim = 1;
    s->shape[0] = s->stored_shape[0] = n;
}

/* prefix.conv3d.weight [cout, cin, kt, kh, kw] and prefix.conv3d.bias [cout] */
static void conv(struct list *l, const char *prefix, int64_t cin, int64_t cout, int kt, int kh, int kw) {
    struct cosmos_dv_tensor_spec *s = push(l, COSMOS_DV_CONV_WEIGHT, "%s.conv3d.weight", prefix);
    s->ndim = 5;
    s->shape[0] = cout, s->shape[1] = cin, s->shape[2] = kt, s->shape[3] = kh, s->shape[4] = kw;
    s->stored_ndim = 2;
    s->stored_shape[0] = cout, s->stored_shape[1] = cin * kt * kh * kw;
    vec(l, COSMOS_DV_CONV_BIAS, cout, prefix, ".conv3d.bias");
}

/* CausalNormalize: prefix.norm.{weight,bias} */
static void norm(struct list *l, const char *prefix, int64_t c) {
    vec(l, COSMOS_DV_NORM_WEIGHT, c, prefix, ".norm.weight");
    vec(l, COSMOS_DV_NORM_BIAS, c, prefix, ".norm.bias");
}

/* factorized conv: prefix.0 (1,3,3) cin->cout, prefix.1 (3,1,1) cout->cout */
static void fact(struct list *l, const char *prefix, int64_t cin, int64_t cout) {
    char p[96];
    name_fmt(p, sizeof p, "%s.0", prefix);
    conv(l, p, cin, cout, 1, 3, 3);
    name_fmt(p, sizeof p, "%s.1", prefix);
    conv(l, p, cout, cout, 3, 1, 1);
}

static void resblock(struct list *l, const char *prefix, int64_t cin, int64_t cout) {
    char p[96];
    name_fmt(p, sizeof p, "%s.norm1", prefix);
    norm(l, p, cin);
    name_fmt(p, sizeof p, "%s.conv1", prefix);
    fact(l, p, cin, cout);
    name_fmt(p, sizeof p, "%s.norm2", prefix);
    norm(l, p, cout);
    name_fmt(p, sizeof p, "%s.conv2", prefix);
    fact(l, p, cout, cout);
    if (cin != cout) {
        name_fmt(p, sizeof p, "%s.nin_shortcut", prefix);
        conv(l, p, cin, cout, 1, 1, 1);
    }
}

/* spatial (prefix.0) and temporal (prefix.1) attention: norm.norm, q, k, v, proj_out each */
static void attn_pair(struct list *l, const char *prefix, int64_t c) {
    static const char *proj[] = {"q", "k", "v", "proj_out"};
    char p[96];
    for (int a = 0; a < 2; a++) {
        name_fmt(p, sizeof p, "%s.%d.norm", prefix, a);
        norm(l, p, c);
        for (int j = 0; j < 4; j++) {
            name_fmt(p, sizeof p, "%s.%d.%s", prefix, a, proj[j]);
            conv(l, p, c, c, 1, 1, 1);
        }
    }
}

static void mid(struct list *l, const char *prefix, int64_t c) {
    char p[96];
    name_fmt(p, sizeof p, "%s.mid.block_1", prefix);
    resblock(l, p, c, c);
    name_fmt(p, sizeof p, "%s.mid.attn_1", prefix);
    attn_pair(l, p, c);
    name_fmt(p, sizeof p, "%s.mid.block_2", prefix);
    resblock(l, p, c, c);
}

static int has_attn(const struct cosmos_dv_config *c, int res) {
    for (int a = 0; a < c->n_attn_resolutions; a++)
        if (c->attn_resolutions[a] == res) return 1;
    return 0;
}

static void encoder(struct list *l, const struct cosmos_dv_config *c) {
    char p[96];
    const int64_t p3 = (int64_t)c->patch_size * c->patch_size * c->patch_size;
    fact(l, "encoder.conv_in", c->in_channels * p3, c->channels);
    int64_t cin = c->channels;
    int res = c->resolution / c->patch_size;
    for (int lv = 0; lv < c->n_levels; lv++) {
        const int64_t cout = (int64_t)c->channels * c->channels_mult[lv];
        const int attn = has_attn(c, res);
        for (int b = 0; b < c->num_res_blocks; b++) {
            name_fmt(p, sizeof p, "encoder.down.%d.block.%d", lv, b);
            resblock(l, p, b == 0 ? cin : cout, cout);
        }
        cin = cout;
        for (int b = 0; attn && b < c->num_res_blocks; b++) {
            name_fmt(p, sizeof p, "encoder.down.%d.attn.%d", lv, b);
            attn_pair(l, p, cout);
        }
        int s, t;
        cosmos_dv_down_flags(c, lv, &s, &t);
        if (s) {
            name_fmt(p, sizeof p, "encoder.down.%d.downsample.conv1", lv);
            conv(l, p, cin, cin, 1, 3, 3);
        }
        if (t) {
            name_fmt(p, sizeof p, "encoder.down.%d.downsample.conv2", lv);
            conv(l, p, cin, cin, 3, 1, 1);
        }
        if (s || t) {
            name_fmt(p, sizeof p, "encoder.down.%d.downsample.conv3", lv);
            conv(l, p, cin, cin, 1, 1, 1);
        }
        if (lv != c->n_levels - 1) res /= 2;
    }
    mid(l, "encoder", cin);
    norm(l, "encoder.norm_out", cin);
    fact(l, "encoder.conv_out", cin, c->z_channels);
    conv(l, "quant_conv", c->z_channels, cosmos_dv_latent_channels(c), 1, 1, 1);
}

/* The decoder's up levels are built from the deepest (up.{n-1}) to up.0 but registered in a
 * ModuleList by index, so state_dict order is up.0, up.1, ...: each level's channels are computed
 * from the deepest level down first. */
static void decoder(struct list *l, const struct cosmos_dv_config *c) {
    char p[96];
    const int64_t p3 = (int64_t)c->patch_size * c->patch_size * c->patch_size;
    const int n = c->n_levels;
    int64_t level_in[COSMOS_DV_MAX_LEVELS];
    int level_res[COSMOS_DV_MAX_LEVELS];
    int64_t cin = (int64_t)c->channels * c->channels_mult[n - 1];
    int res = (c->resolution / c->patch_size) >> (n - 1);
    for (int lv = n - 1; lv >= 0; lv--) {
        level_in[lv] = cin, level_res[lv] = res;
        cin = (int64_t)c->channels * c->channels_mult[lv];
        if (lv != 0) res *= 2;
    }
    conv(l, "post_quant_conv", cosmos_dv_latent_channels(c), c->z_channels, 1, 1, 1);
    const int64_t deep = (int64_t)c->channels * c->channels_mult[n - 1];
    fact(l, "decoder.conv_in", c->z_channels, deep);
    mid(l, "decoder", deep);
    for (int lv = 0; lv < n; lv++) {
        const int64_t cout = (int64_t)c->channels * c->channels_mult[lv];
        for (int b = 0; b < c->num_res_blocks + 1; b++) {
            name_fmt(p, sizeof p, "decoder.up.%d.block.%d", lv, b);
            resblock(l, p, b == 0 ? level_in[lv] : cout, cout);
        }
        for (int b = 0; has_attn(c, level_res[lv]) && b < c->num_res_blocks + 1; b++) {
            name_fmt(p, sizeof p, "decoder.up.%d.attn.%d", lv, b);
            attn_pair(l, p, cout);
        }
        int s, t;
        cosmos_dv_up_flags(c, lv, &s, &t);
        if (t) {
            name_fmt(p, sizeof p, "decoder.up.%d.upsample.conv1", lv);
            conv(l, p, cout, cout, 3, 1, 1);
        }
        if (s) {
            name_fmt(p, sizeof p, "decoder.up.%d.upsample.conv2", lv);
            conv(l, p, cout, cout, 1, 3, 3);
        }
        if (s || t) {
            name_fmt(p, sizeof p, "decoder.up.%d.upsample.conv3", lv);
            conv(l, p, cout, cout, 1, 1, 1);
        }
    }
    const int64_t last = (int64_t)c->channels * c->channels_mult[0];
    norm(l, "decoder.norm_out", last);
    const int out = c->out_channels > 0 ? c->out_channels : c->in_channels; /* 0: a hand-built struct */
    fact(l, "decoder.conv_out", last, out * p3);
    vec(l, COSMOS_DV_WAVELETS, 2, COSMOS_DV_WAVELETS_KEY, "");
}

cosmos_status cosmos_dv_weight_specs(const struct cosmos_dv_config *cfg, enum cosmos_dv_part parts,
                                     struct cosmos_dv_tensor_spec **specs, int *n) {
    cosmos_status st = COSMOS_OK;
    struct list l = {0};
    *specs = NULL, *n = 0;
    CHECK_ARG(cfg->n_levels >= 1 && cfg->n_levels <= COSMOS_DV_MAX_LEVELS && cfg->patch_size > 0,
              COSMOS_ERR_INVALID_ARG,
              "dv weights: config '%s' is not valid (load it with cosmos_dv_config_load)", cfg->name);
    CHECK_ARG(parts & COSMOS_DV_BOTH, COSMOS_ERR_INVALID_ARG, "dv weights: no part selected");
    if (parts & COSMOS_DV_ENCODER) {
        l.part = COSMOS_DV_ENCODER;
        encoder(&l, cfg);
    }
    if (parts & COSMOS_DV_DECODER) {
        l.part = COSMOS_DV_DECODER;
        decoder(&l, cfg);
    }
    CHECK_ARG(!l.oom, COSMOS_ERR_NOMEM, "dv weights: out of memory building the key list");
    *specs = l.v, *n = l.n;
    l.v = NULL;
fail:
    free(l.v);
    return st;
}

cosmos_status cosmos_dv_write_header(cosmos_h5_t *h5, const struct cosmos_dv_config *cfg, enum cosmos_dv_part parts) {
    cosmos_status st = COSMOS_OK;
    char *json = cosmos_dv_config_to_json(cfg);
    CHECK_ALLOC(json);
    CHECK(cosmos_h5_write_model_header(h5, cfg->continuous ? COSMOS_CV_MODEL_TYPE : COSMOS_DV_MODEL_TYPE, json));
    CHECK(cosmos_h5_write_attr_int(h5, "has_encoder", (parts & COSMOS_DV_ENCODER) ? 1 : 0));
    CHECK(cosmos_h5_write_attr_int(h5, "has_decoder", (parts & COSMOS_DV_DECODER) ? 1 : 0));
fail:
    free(json);
    return st;
}

/* model_type: "dv_tokenizer", "cv_tokenizer", or NULL for either. */
static cosmos_status read_header(cosmos_h5_t *h5, const char *model_type, struct cosmos_dv_config *cfg,
                                 enum cosmos_dv_part *parts) {
    cosmos_status st = COSMOS_OK;
    char *json = NULL, *kind = NULL, what[1100];
    const char *path = cosmos_h5_path(h5);
    int64_t enc = 0, dec = 0;
    if (!model_type) { /* either kind: take the file's, if it is one of the two */
        if (cosmos_h5_has_attr(h5, "model_type") && cosmos_h5_attr_string(h5, "model_type", &kind) == COSMOS_OK &&
            !strcmp(kind, COSMOS_CV_MODEL_TYPE))
            model_type = COSMOS_CV_MODEL_TYPE;
        else
            model_type = COSMOS_DV_MODEL_TYPE;
    }
    const int cv = !strcmp(model_type, COSMOS_CV_MODEL_TYPE);
    CHECK(cosmos_h5_check_model_header(h5, model_type,
                                       cv ? "a CV tokenizer file (the continuous tokenizer of the diffusion decoder) "
                                            "comes from `cosmos-ar init` with a cv_tokenizer config or "
                                            "`tools/convert_checkpoint.py tokenizer`"
                                          : "a tokenizer file comes from `cosmos-ar init` with a dv_tokenizer config "
                                            "or `tools/convert_checkpoint.py tokenizer`; a cv_tokenizer file is the "
                                            "continuous tokenizer of the diffusion decoder, not the AR tokenizer",
                                       &json));
    snprintf(what, sizeof what, "%s: attribute 'config'", path);
    CHECK(cosmos_dv_config_parse(json, what, cfg));
    CHECK_ARG(cfg->continuous == cv, COSMOS_ERR_FORMAT,
              "%s: model_type '%s' but the config attribute is a %s config", path, model_type,
              cfg->continuous ? COSMOS_CV_MODEL_TYPE : COSMOS_DV_MODEL_TYPE);
    CHECK_ARG(cosmos_h5_has_attr(h5, "has_encoder") && cosmos_h5_has_attr(h5, "has_decoder"), COSMOS_ERR_FORMAT,
              "%s: a dv_tokenizer file needs the root attributes has_encoder and has_decoder (docs/weights.md)", path);
    CHECK(cosmos_h5_attr_int(h5, "has_encoder", &enc));
    CHECK(cosmos_h5_attr_int(h5, "has_decoder", &dec));
    CHECK_ARG((enc == 0 || enc == 1) && (dec == 0 || dec == 1) && (enc || dec), COSMOS_ERR_FORMAT,
              "%s: has_encoder %lld / has_decoder %lld: each must be 0 or 1 and one of them 1", path, (long long)enc,
              (long long)dec);
    *parts = (enum cosmos_dv_part)((enc ? COSMOS_DV_ENCODER : 0) | (dec ? COSMOS_DV_DECODER : 0));
fail:
    free(json);
    free(kind);
    return st;
}

cosmos_status cosmos_dv_read_header(cosmos_h5_t *h5, struct cosmos_dv_config *cfg, enum cosmos_dv_part *parts) {
    return read_header(h5, COSMOS_DV_MODEL_TYPE, cfg, parts);
}
cosmos_status cosmos_cv_read_header(cosmos_h5_t *h5, struct cosmos_dv_config *cfg, enum cosmos_dv_part *parts) {
    return read_header(h5, COSMOS_CV_MODEL_TYPE, cfg, parts);
}
cosmos_status cosmos_tok_read_header(cosmos_h5_t *h5, struct cosmos_dv_config *cfg, enum cosmos_dv_part *parts) {
    return read_header(h5, NULL, cfg, parts);
}

static const char *part_name(enum cosmos_dv_part p) {
    return p == COSMOS_DV_ENCODER ? "encoder" : p == COSMOS_DV_DECODER ? "decoder" : "encoder+decoder";
}

cosmos_status cosmos_dv_check_weights(cosmos_h5_t *h5, const struct cosmos_dv_config *cfg, enum cosmos_dv_part parts) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_dv_tensor_spec *specs = NULL;
    char **names = NULL;
    int n = 0, n_names = 0;
    const char *path = cosmos_h5_path(h5);
    CHECK(cosmos_dv_weight_specs(cfg, parts, &specs, &n));
    for (int i = 0; i < n; i++) {
        const struct cosmos_dv_tensor_spec *s = &specs[i];
        struct cosmos_h5_info info;
        char missing_hint[256];
        snprintf(missing_hint, sizeof missing_hint,
                 " for the %s of config '%s' (hint: truncated conversion, or a file of another config or of the "
                 "other tokenizer part?)",
                 part_name(s->part), cfg->name);
        CHECK(cosmos_h5_expect_shape(h5, "dataset", s->name, s->stored_ndim, s->stored_shape, missing_hint,
                                     " (conv weights are stored flattened to [Cout, Cin*kt*kh*kw]; hint: wrong "
                                     "config for this file?)",
                                     &info));
        CHECK_ARG(info.dtype == COSMOS_BF16 || info.dtype == COSMOS_F32, COSMOS_ERR_FORMAT,
                  "%s: dataset '%s' is %s; tokenizer tensors are bf16 (uint16 + dtype=\"bfloat16\") or f32", path,
                  s->name, cosmos_dtype_name(info.dtype));
    }
    if (cfg->continuous) {
        int64_t n_frames;
        CHECK(cosmos_cv_stats_frames(h5, cfg, &n_frames));
    }
    CHECK(cosmos_h5_list(h5, &names, &n_names));
    for (int j = 0; j < n_names; j++) {
        int known = cfg->continuous && (!strcmp(names[j], COSMOS_CV_MEAN_KEY) || !strcmp(names[j], COSMOS_CV_STD_KEY));
        for (int i = 0; i < n && !known; i++) known = strcmp(names[j], specs[i].name) == 0;
        CHECK_ARG(known, COSMOS_ERR_FORMAT,
                  "%s: unexpected dataset '%s' in a %s file of config '%s' (hint: converted with another config, or "
                  "has_encoder/has_decoder do not match the contents?)",
                  path, names[j], part_name(parts), cfg->name);
    }
fail:
    cosmos_h5_free_names(names, n_names);
    free(specs);
    return st;
}

/* ---------------------------------------------------------------- CV latent statistics (4.7) */

cosmos_status cosmos_cv_stats_frames(cosmos_h5_t *h5, const struct cosmos_dv_config *cfg, int64_t *n_frames) {
    cosmos_status st = COSMOS_OK;
    const char *path = cosmos_h5_path(h5);
    static const char *keys[2] = {COSMOS_CV_MEAN_KEY, COSMOS_CV_STD_KEY};
    struct cosmos_h5_info info[2];
    *n_frames = 0;
    CHECK_ARG(cfg->continuous, COSMOS_ERR_INVALID_ARG,
              "cv tokenizer: config '%s' is a DV config; latent statistics belong to CV tokenizers", cfg->name);
    const int have0 = cosmos_h5_has_dataset(h5, keys[0]), have1 = cosmos_h5_has_dataset(h5, keys[1]);
    if (!have0 && !have1) return COSMOS_OK;
    CHECK_ARG(have0 && have1, COSMOS_ERR_FORMAT,
              "%s: has '%s' but not '%s' (the two halves of mean_std.pt come together)", path,
              keys[have0 ? 0 : 1], keys[have0 ? 1 : 0]);
    for (int k = 0; k < 2; k++) {
        CHECK(cosmos_h5_info(h5, keys[k], &info[k]));
        CHECK_ARG(info[k].ndim == 2 && info[k].shape[0] == cfg->latent_channels && info[k].shape[1] >= 1,
                  COSMOS_ERR_FORMAT,
                  "%s: dataset '%s' must be [latent_channels, N] = [%d, N >= 1] (mean_std.pt viewed as (C, -1), "
                  "spec 4.7)",
                  path, keys[k], cfg->latent_channels);
        CHECK_ARG(info[k].dtype == COSMOS_F32, COSMOS_ERR_FORMAT, "%s: dataset '%s' is %s, expected float32", path,
                  keys[k], cosmos_dtype_name(info[k].dtype));
    }
    CHECK_ARG(info[0].shape[1] == info[1].shape[1], COSMOS_ERR_FORMAT,
              "%s: '%s' has %lld columns but '%s' has %lld", path, keys[0], (long long)info[0].shape[1], keys[1],
              (long long)info[1].shape[1]);
    *n_frames = info[0].shape[1];
fail:
    return st;
}

cosmos_status cosmos_cv_latent_stats(cosmos_h5_t *h5, const struct cosmos_dv_config *cfg, int64_t Tl, float *mean,
                                     float *std) {
    cosmos_status st = COSMOS_OK;
    const char *path = cosmos_h5_path(h5);
    float *buf = NULL;
    int64_t N = 0;
    CHECK_ARG(h5 && cfg && mean && std && Tl >= 1, COSMOS_ERR_INVALID_ARG,
              "cv tokenizer: latent statistics need a file, a config, outputs and Tl >= 1 (got %lld)", (long long)Tl);
    CHECK(cosmos_cv_stats_frames(h5, cfg, &N));
    CHECK_ARG(N > 0, COSMOS_ERR_FORMAT,
              "%s: no dataset '%s' / '%s': the CV latent statistics (mean_std.pt) are needed to de-normalise the "
              "diffusion decoder's latent (hint: tools/convert_checkpoint.py tokenizer ... --mean-std mean_std.pt)",
              path, COSMOS_CV_MEAN_KEY, COSMOS_CV_STD_KEY);
    CHECK_ARG(N >= Tl, COSMOS_ERR_FORMAT,
              "%s: dataset '%s' has statistics for %lld latent frames, %lld requested", path, COSMOS_CV_MEAN_KEY,
              (long long)N, (long long)Tl);
    const int64_t C = cfg->latent_channels;
    buf = malloc(sizeof(float) * (size_t)(C * N));
    CHECK_ALLOC(buf);
    for (int k = 0; k < 2; k++) {
        const char *key = k ? COSMOS_CV_STD_KEY : COSMOS_CV_MEAN_KEY;
        float *dst = k ? std : mean;
        CHECK(cosmos_h5_read(h5, key, COSMOS_F32, buf));
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < Tl; t++) {
                const float v = buf[c * N + t];
                CHECK_ARG(isfinite(v), COSMOS_ERR_FORMAT, "%s: dataset '%s'[%lld, %lld] is %g", path, key,
                          (long long)c, (long long)t, v);
                dst[c * Tl + t] = v;
            }
    }
fail:
    free(buf);
    return st;
}
