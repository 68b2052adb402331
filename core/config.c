/* Model config parsing with jansson (see config.h). Every key is read by name from a table, so an
 * unknown key, a wrong JSON type or a value out of range is reported with the key's name. */
#include "core/config.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"

static int roundup(int x, int m) { return m > 0 ? (x + m - 1) / m * m : x; }

/* Keys accepted for compatibility with the official ModelConfig but fixed to one value here. */
static cosmos_status check_fixed_string(json_t *v, const char *key, const char *want, const char *src) {
    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0) {
        LOG_ERROR("%s: key '%s' must be \"%s\" (the only value cosmos-ar implements)", src, key, want);
        return COSMOS_ERR_UNSUPPORTED;
    }
    return COSMOS_OK;
}

static cosmos_status get_int(json_t *v, const char *key, const char *src, int *out) {
    if (json_is_null(v)) return COSMOS_OK;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x >= -2147483647 && x <= 2147483647) {
            *out = (int)x;
            return COSMOS_OK;
        }
    }
    if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) && fabs(json_real_value(v)) < 2e9) {
        *out = (int)json_real_value(v);
        return COSMOS_OK;
    }
    LOG_ERROR("%s: key '%s' must be an integer", src, key);
    return COSMOS_ERR_INVALID_ARG;
}

static cosmos_status get_num(json_t *v, const char *key, const char *src, double *out) {
    if (json_is_null(v)) return COSMOS_OK;
    if (!json_is_number(v)) {
        LOG_ERROR("%s: key '%s' must be a number", src, key);
        return COSMOS_ERR_INVALID_ARG;
    }
    *out = json_number_value(v);
    return COSMOS_OK;
}

static cosmos_status get_bool(json_t *v, const char *key, const char *src, bool *out) {
    if (!json_is_boolean(v)) {
        LOG_ERROR("%s: key '%s' must be true or false", src, key);
        return COSMOS_ERR_INVALID_ARG;
    }
    *out = json_is_true(v);
    return COSMOS_OK;
}

static cosmos_status get_shape3(json_t *v, const char *key, const char *src, int out[3]) {
    if (json_is_null(v)) return COSMOS_OK;
    if (!json_is_array(v) || json_array_size(v) != 3) {
        LOG_ERROR("%s: key '%s' must be a list of 3 integers [T, H, W]", src, key);
        return COSMOS_ERR_INVALID_ARG;
    }
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(v, (size_t)i);
        if (!json_is_integer(e) || json_integer_value(e) <= 0 || json_integer_value(e) > 1000000) {
            LOG_ERROR("%s: key '%s' must hold 3 positive integers", src, key);
            return COSMOS_ERR_INVALID_ARG;
        }
        out[i] = (int)json_integer_value(e);
    }
    return COSMOS_OK;
}

static void config_error(const char *src, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void config_error(const char *src, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    LOG_ERROR("%s: invalid config: %s", src, msg);
}

static cosmos_status validate(struct cosmos_ar_config *c, const char *src) {
#define REQUIRE(cond, ...)               \
    do {                                 \
        if (!(cond)) {                   \
            config_error(__VA_ARGS__);   \
            return COSMOS_ERR_INVALID_ARG; \
        }                                \
    } while (0)
    REQUIRE(c->dim > 0 && c->n_layers > 0 && c->n_heads > 0, src,
            "dim, n_layers and n_heads must be positive (dim=%d n_layers=%d n_heads=%d)", c->dim, c->n_layers,
            c->n_heads);
    if (c->n_kv_heads <= 0) c->n_kv_heads = c->n_heads;
    if (c->head_dim <= 0) c->head_dim = c->dim / c->n_heads;
    REQUIRE(c->n_heads % c->n_kv_heads == 0, src, "n_heads (%d) must be a multiple of n_kv_heads (%d)",
            c->n_heads, c->n_kv_heads);
    REQUIRE(c->head_dim % 2 == 0 && c->head_dim >= 6 && c->head_dim <= 256, src,
            "head_dim (%d) must be even and in [6, 256] for the 3D RoPE", c->head_dim);
    REQUIRE(c->ffn_hidden_size > 0, src, "ffn_hidden_size must be positive");
    REQUIRE(c->vocab_size > 0, src, "vocab_size must be positive");
    REQUIRE(c->norm_eps > 0, src, "norm_eps must be positive");
    REQUIRE(c->rope_theta > 1, src, "rope_theta must be > 1");
    REQUIRE(c->video_latent_shape[0] > 0, src, "video_latent_shape [T,H,W] is required");
    REQUIRE(c->pad_to_multiple_of > 0, src, "pad_to_multiple_of must be positive");
    if (c->apply_yarn) {
        REQUIRE(c->original_latent_shape[0] > 0, src, "apply_yarn needs original_latent_shape");
        REQUIRE(c->yarn_scale > 0 && c->yarn_beta_fast != c->yarn_beta_slow, src,
                "apply_yarn needs yarn_scale > 0 and yarn_beta_fast != yarn_beta_slow");
    }
    if (c->insert_cross_attn) {
        REQUIRE(c->context_dim > 0 && c->context_len > 0, src,
                "insert_cross_attn needs context_dim and context_len > 0");
        REQUIRE(c->insert_cross_attn_every_k_layers > 0, src, "insert_cross_attn_every_k_layers must be >= 1");
    }
    if (c->apply_abs_pos_emb) REQUIRE(c->dim % 2 == 0, src, "apply_abs_pos_emb needs an even dim (got %d)", c->dim);
    const int n_tok = cosmos_ar_num_video_tokens(c);
    const int has_bov = c->training_type == COSMOS_TEXT_TO_VIDEO;
    const int derived_seq = roundup(n_tok + has_bov, c->pad_to_multiple_of);
    if (c->max_seq_len <= 0) c->max_seq_len = derived_seq;
    REQUIRE(c->max_seq_len >= n_tok + has_bov, src, "max_seq_len (%d) is shorter than the %d tokens of a clip",
            c->max_seq_len, n_tok + has_bov);
    const int derived_in = has_bov ? roundup(c->vocab_size + 1, c->pad_to_multiple_of) : c->vocab_size;
    if (c->input_vocab_size <= 0) c->input_vocab_size = derived_in;
    if (c->bov_token_id == -2) c->bov_token_id = has_bov ? c->vocab_size : -1;
    REQUIRE(c->input_vocab_size >= c->vocab_size, src, "input_vocab_size (%d) < vocab_size (%d)",
            c->input_vocab_size, c->vocab_size);
    REQUIRE(c->bov_token_id < c->input_vocab_size, src, "bov_token_id (%d) must be < input_vocab_size (%d)",
            c->bov_token_id, c->input_vocab_size);
    if (c->default_top_p <= 0 || c->default_top_p > 1) c->default_top_p = 0.8;
    return COSMOS_OK;
#undef REQUIRE
}

cosmos_status cosmos_ar_config_parse(const char *text, const char *src, struct cosmos_ar_config *c) {
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    if (!root) {
        LOG_ERROR("%s: JSON error at line %d column %d: %s", src, err.line, err.column, err.text);
        return COSMOS_ERR_FORMAT;
    }
    cosmos_status st = COSMOS_OK;
    if (!json_is_object(root)) {
        LOG_ERROR("%s: a model config must be a JSON object", src);
        st = COSMOS_ERR_FORMAT;
        goto fail;
    }
    memset(c, 0, sizeof *c);
    c->norm_eps = 1e-5;
    c->rope_theta = 500000;
    c->use_qk_normalization = false;
    c->insert_cross_attn_every_k_layers = 1;
    c->context_dim = 1024;
    c->context_len = 512;
    c->pad_to_multiple_of = 64;
    c->bov_token_id = -2; /* derive */
    c->training_type = COSMOS_VIDEO_TO_VIDEO;

    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "name")) {
            if (!json_is_string(v)) {
                LOG_ERROR("%s: key 'name' must be a string", src);
                st = COSMOS_ERR_INVALID_ARG;
            } else
                snprintf(c->name, sizeof c->name, "%s", json_string_value(v));
        } else if (!strcmp(key, "dim")) st = get_int(v, key, src, &c->dim);
        else if (!strcmp(key, "n_layers")) st = get_int(v, key, src, &c->n_layers);
        else if (!strcmp(key, "n_heads")) st = get_int(v, key, src, &c->n_heads);
        else if (!strcmp(key, "n_kv_heads")) st = get_int(v, key, src, &c->n_kv_heads);
        else if (!strcmp(key, "head_dim")) st = get_int(v, key, src, &c->head_dim);
        else if (!strcmp(key, "ffn_hidden_size")) st = get_int(v, key, src, &c->ffn_hidden_size);
        else if (!strcmp(key, "norm_eps")) st = get_num(v, key, src, &c->norm_eps);
        else if (!strcmp(key, "rope_theta")) st = get_num(v, key, src, &c->rope_theta);
        else if (!strcmp(key, "vocab_size")) st = get_int(v, key, src, &c->vocab_size);
        else if (!strcmp(key, "use_qk_normalization")) st = get_bool(v, key, src, &c->use_qk_normalization);
        else if (!strcmp(key, "apply_yarn")) st = json_is_null(v) ? COSMOS_OK : get_bool(v, key, src, &c->apply_yarn);
        else if (!strcmp(key, "yarn_scale")) st = get_num(v, key, src, &c->yarn_scale);
        else if (!strcmp(key, "yarn_beta_fast")) st = get_num(v, key, src, &c->yarn_beta_fast);
        else if (!strcmp(key, "yarn_beta_slow")) st = get_num(v, key, src, &c->yarn_beta_slow);
        else if (!strcmp(key, "original_latent_shape")) st = get_shape3(v, key, src, c->original_latent_shape);
        else if (!strcmp(key, "video_latent_shape")) st = get_shape3(v, key, src, c->video_latent_shape);
        else if (!strcmp(key, "insert_cross_attn")) st = get_bool(v, key, src, &c->insert_cross_attn);
        else if (!strcmp(key, "insert_cross_attn_every_k_layers"))
            st = get_int(v, key, src, &c->insert_cross_attn_every_k_layers);
        else if (!strcmp(key, "context_dim")) st = get_int(v, key, src, &c->context_dim);
        else if (!strcmp(key, "context_len")) st = get_int(v, key, src, &c->context_len);
        else if (!strcmp(key, "apply_abs_pos_emb")) st = get_bool(v, key, src, &c->apply_abs_pos_emb);
        else if (!strcmp(key, "pad_to_multiple_of")) st = get_int(v, key, src, &c->pad_to_multiple_of);
        else if (!strcmp(key, "max_seq_len")) st = get_int(v, key, src, &c->max_seq_len);
        else if (!strcmp(key, "input_vocab_size")) st = get_int(v, key, src, &c->input_vocab_size);
        else if (!strcmp(key, "bov_token_id")) st = get_int(v, key, src, &c->bov_token_id);
        else if (!strcmp(key, "default_top_p")) st = get_num(v, key, src, &c->default_top_p);
        else if (!strcmp(key, "training_type")) {
            if (json_is_string(v) && !strcmp(json_string_value(v), "video_to_video"))
                c->training_type = COSMOS_VIDEO_TO_VIDEO;
            else if (json_is_string(v) && !strcmp(json_string_value(v), "text_to_video"))
                c->training_type = COSMOS_TEXT_TO_VIDEO;
            else {
                LOG_ERROR("%s: key 'training_type' must be \"video_to_video\" or \"text_to_video\"", src);
                st = COSMOS_ERR_INVALID_ARG;
            }
        } else if (!strcmp(key, "norm_type")) st = check_fixed_string(v, key, "rmsnorm", src);
        else if (!strcmp(key, "rope_dim")) st = check_fixed_string(v, key, "3D", src);
        else if (!strcmp(key, "pytorch_rope_version")) st = check_fixed_string(v, key, "v2", src);
        else if (!strcmp(key, "precision")) st = check_fixed_string(v, key, "bfloat16", src);
        else {
            LOG_ERROR("%s: unknown key '%s' (keys are the official ModelConfig names, e.g. dim, n_layers, "
                      "n_heads, video_latent_shape; see configs/models/)",
                      src, key);
            st = COSMOS_ERR_INVALID_ARG;
        }
        if (st != COSMOS_OK) goto fail;
    }
    st = validate(c, src);
fail:
    json_decref(root);
    return st;
}

cosmos_status cosmos_ar_config_load(const char *path, struct cosmos_ar_config *cfg) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        LOG_ERROR("cannot open config file '%s'", path);
        return COSMOS_ERR_IO;
    }
    /* read to EOF without seeking, so pipes and process substitutions work too */
    const size_t max = 16u << 20;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    cosmos_status st = COSMOS_OK;
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= max) {
                LOG_ERROR("config file '%s' is larger than 16 MiB: not a model config", path);
                st = COSMOS_ERR_FORMAT;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    if (!buf) return COSMOS_ERR_NOMEM;
    if (st == COSMOS_OK) {
        buf[n] = '\0';
        st = cosmos_ar_config_parse(buf, path, cfg);
    }
    free(buf);
    return st;
}

cosmos_status cosmos_file_read(const char *path, const char *what, uint8_t **data, size_t *n) {
    cosmos_status st = COSMOS_OK;
    uint8_t *buf = NULL;
    FILE *fp = fopen(path, "rb");
    CHECK_ARG(fp, COSMOS_ERR_IO, "cannot open %s '%s'", what, path);
    CHECK_ARG(fseek(fp, 0, SEEK_END) == 0, COSMOS_ERR_IO, "cannot read %s '%s'", what, path);
    long sz = ftell(fp);
    CHECK_ARG(sz > 0, COSMOS_ERR_IO, "%s '%s' is empty", what, path);
    rewind(fp);
    buf = malloc((size_t)sz);
    CHECK_ALLOC(buf);
    CHECK_ARG(fread(buf, 1, (size_t)sz, fp) == (size_t)sz, COSMOS_ERR_IO, "short read of %s '%s'", what, path);
    *data = buf;
    *n = (size_t)sz;
    buf = NULL;
fail:
    if (fp) fclose(fp);
    free(buf);
    return st;
}

cosmos_status cosmos_config_json_object(const char *text, const char *src, const char *what, json_t **root) {
    json_error_t err;
    *root = json_loads(text, 0, &err);
    if (!*root) {
        LOG_ERROR("%s:%d:%d: invalid JSON: %s", src, err.line, err.column, err.text);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (!json_is_object(*root)) {
        LOG_ERROR("%s: %s must be a JSON object", src, what);
        json_decref(*root);
        *root = NULL;
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}

const char *cosmos_config_json_unknown_key(const json_t *obj, const char *const *known, size_t n) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        size_t i = 0;
        while (i < n && strcmp(key, known[i]) != 0) i++;
        if (i == n) return key;
    }
    return NULL;
}

cosmos_status cosmos_config_json_int(const json_t *v, const char *key, const char *src, int lo, int hi, int *out) {
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        LOG_ERROR("%s: '%s' must be an integer in [%d, %d]", src, key, lo, hi);
        return COSMOS_ERR_INVALID_ARG;
    }
    *out = (int)json_integer_value(v);
    return COSMOS_OK;
}

cosmos_status cosmos_config_json_int_list(const json_t *v, const char *key, const char *src, int n, int lo, int hi,
                                          int *out) {
    if (!json_is_array(v) || (int)json_array_size(v) != n) {
        LOG_ERROR("%s: '%s' must be a list of %d integers", src, key, n);
        return COSMOS_ERR_INVALID_ARG;
    }
    for (int i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, (size_t)i);
        if (!json_is_integer(e) || json_integer_value(e) < lo || json_integer_value(e) > hi) {
            LOG_ERROR("%s: '%s'[%d] must be an integer in [%d, %d]", src, key, i, lo, hi);
            return COSMOS_ERR_INVALID_ARG;
        }
        out[i] = (int)json_integer_value(e);
    }
    return COSMOS_OK;
}

char *cosmos_ar_config_to_json(const struct cosmos_ar_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "dim", json_integer(c->dim));
    json_object_set_new(o, "n_layers", json_integer(c->n_layers));
    json_object_set_new(o, "n_heads", json_integer(c->n_heads));
    json_object_set_new(o, "n_kv_heads", json_integer(c->n_kv_heads));
    json_object_set_new(o, "head_dim", json_integer(c->head_dim));
    json_object_set_new(o, "ffn_hidden_size", json_integer(c->ffn_hidden_size));
    json_object_set_new(o, "norm_type", json_string("rmsnorm"));
    json_object_set_new(o, "norm_eps", json_real(c->norm_eps));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "use_qk_normalization", json_boolean(c->use_qk_normalization));
    json_object_set_new(o, "rope_dim", json_string("3D"));
    json_object_set_new(o, "pytorch_rope_version", json_string("v2"));
    json_object_set_new(o, "apply_yarn", json_boolean(c->apply_yarn));
    if (c->apply_yarn) {
        json_object_set_new(o, "yarn_scale", json_real(c->yarn_scale));
        json_object_set_new(o, "yarn_beta_fast", json_real(c->yarn_beta_fast));
        json_object_set_new(o, "yarn_beta_slow", json_real(c->yarn_beta_slow));
        json_object_set_new(o, "original_latent_shape",
                            json_pack("[iii]", c->original_latent_shape[0], c->original_latent_shape[1],
                                      c->original_latent_shape[2]));
    }
    json_object_set_new(o, "video_latent_shape",
                        json_pack("[iii]", c->video_latent_shape[0], c->video_latent_shape[1],
                                  c->video_latent_shape[2]));
    json_object_set_new(o, "insert_cross_attn", json_boolean(c->insert_cross_attn));
    if (c->insert_cross_attn) {
        json_object_set_new(o, "insert_cross_attn_every_k_layers", json_integer(c->insert_cross_attn_every_k_layers));
        json_object_set_new(o, "context_dim", json_integer(c->context_dim));
        json_object_set_new(o, "context_len", json_integer(c->context_len));
    }
    json_object_set_new(o, "apply_abs_pos_emb", json_boolean(c->apply_abs_pos_emb));
    json_object_set_new(o, "training_type",
                        json_string(c->training_type == COSMOS_TEXT_TO_VIDEO ? "text_to_video" : "video_to_video"));
    json_object_set_new(o, "pad_to_multiple_of", json_integer(c->pad_to_multiple_of));
    json_object_set_new(o, "precision", json_string("bfloat16"));
    json_object_set_new(o, "default_top_p", json_real(c->default_top_p));
    json_object_set_new(o, "max_seq_len", json_integer(c->max_seq_len));
    json_object_set_new(o, "input_vocab_size", json_integer(c->input_vocab_size));
    json_object_set_new(o, "bov_token_id", json_integer(c->bov_token_id));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

int64_t cosmos_ar_config_num_params(const struct cosmos_ar_config *c) {
    const int64_t D = c->dim, Q = (int64_t)c->n_heads * c->head_dim, KV = (int64_t)c->n_kv_heads * c->head_dim;
    const int64_t F = c->ffn_hidden_size, Dh = c->head_dim;
    int64_t n = (int64_t)c->input_vocab_size * D + (int64_t)c->vocab_size * D + D;
    for (int l = 0; l < c->n_layers; l++) {
        n += 2 * D + Q * D + 2 * KV * D + D * Q + 3 * F * D;
        if (c->use_qk_normalization) n += 2 * Dh;
        if (cosmos_ar_layer_has_cross(c, l)) {
            n += D + Q * D + 2 * KV * c->context_dim + D * Q;
            if (c->use_qk_normalization) n += 2 * Dh;
        }
    }
    return n;
}

cosmos_status cosmos_config_file_text(const char *path, char **text) {
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    *text = NULL;
    if (!root) {
        LOG_ERROR("%s:%d:%d: cannot read config: %s", path, err.line, err.column, err.text);
        return COSMOS_ERR_INVALID_ARG;
    }
    *text = json_dumps(root, JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!*text) {
        LOG_ERROR("%s: out of memory", path);
        return COSMOS_ERR_NOMEM;
    }
    return COSMOS_OK;
}

int cosmos_config_file_has_model_type(const char *path, const char *model_type) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0; /* never consume a pipe */
    json_t *root = json_load_file(path, 0, NULL);
    json_t *mt = root ? json_object_get(root, "model_type") : NULL;
    const int is = json_is_string(mt) && !strcmp(json_string_value(mt), model_type);
    json_decref(root);
    return is;
}
