/* DV tokenizer weight files (see dv_weights.h): the key list walks the module structure of spec
 * 2.5-2.8 in state_dict registration order (ResBlock: norm1, conv1.{0,1}, norm2, conv2.{0,1},
 * nin_shortcut; attention: norm, q, k, v, proj_out; a level: its blocks, its attention pairs, then
 * its down/up-sampler conv1, conv2, conv3 as the flags of dv_config.h select them). */
#include "core/model/dv_weights.h"

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
    conv(l, "quant_conv", c->z_channels, c->embedding_dim, 1, 1, 1);
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
    conv(l, "post_quant_conv", c->embedding_dim, c->z_channels, 1, 1, 1);
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
    CHECK(cosmos_h5_write_model_header(h5, COSMOS_DV_MODEL_TYPE, json));
    CHECK(cosmos_h5_write_attr_int(h5, "has_encoder", (parts & COSMOS_DV_ENCODER) ? 1 : 0));
    CHECK(cosmos_h5_write_attr_int(h5, "has_decoder", (parts & COSMOS_DV_DECODER) ? 1 : 0));
fail:
    free(json);
    return st;
}

cosmos_status cosmos_dv_read_header(cosmos_h5_t *h5, struct cosmos_dv_config *cfg, enum cosmos_dv_part *parts) {
    cosmos_status st = COSMOS_OK;
    char *json = NULL, what[1100];
    const char *path = cosmos_h5_path(h5);
    int64_t enc = 0, dec = 0;
    CHECK(cosmos_h5_check_model_header(h5, COSMOS_DV_MODEL_TYPE,
                                       "a tokenizer file comes from `cosmos-ar init` with a dv_tokenizer config or "
                                       "`tools/convert_checkpoint.py tokenizer`",
                                       &json));
    snprintf(what, sizeof what, "%s: attribute 'config'", path);
    CHECK(cosmos_dv_config_parse(json, what, cfg));
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
    return st;
}

static void shape_str(char *dst, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(dst, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(dst + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < n) snprintf(dst + k, n - k, "]");
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
        char want[64], got[96];
        shape_str(want, sizeof want, s->stored_ndim, s->stored_shape);
        CHECK_ARG(cosmos_h5_has_dataset(h5, s->name), COSMOS_ERR_FORMAT,
                  "%s: missing dataset '%s' (expected shape %s) for the %s of config '%s' (hint: truncated "
                  "conversion, or a file of another config or of the other tokenizer part?)",
                  path, s->name, want, part_name(s->part), cfg->name);
        CHECK(cosmos_h5_info(h5, s->name, &info));
        int same = info.ndim == s->stored_ndim;
        for (int d = 0; same && d < s->stored_ndim; d++) same = info.shape[d] == s->stored_shape[d];
        shape_str(got, sizeof got, info.ndim, info.shape);
        CHECK_ARG(same, COSMOS_ERR_FORMAT,
                  "%s: dataset '%s' has shape %s, expected %s (conv weights are stored flattened to "
                  "[Cout, Cin*kt*kh*kw]; hint: wrong config for this file?)",
                  path, s->name, got, want);
        CHECK_ARG(info.dtype == COSMOS_BF16 || info.dtype == COSMOS_F32, COSMOS_ERR_FORMAT,
                  "%s: dataset '%s' is %s; tokenizer tensors are bf16 (uint16 + dtype=\"bfloat16\") or f32", path,
                  s->name, cosmos_dtype_name(info.dtype));
    }
    CHECK(cosmos_h5_list(h5, &names, &n_names));
    for (int j = 0; j < n_names; j++) {
        int known = 0;
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
