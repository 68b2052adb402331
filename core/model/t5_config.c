/* T5 encoder config: JSON parsing, validation and serialisation (see t5_config.h). */
#define _POSIX_C_SOURCE 200809L
#include "core/model/t5_config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/log.h"

static void config_defaults(struct cosmos_t5_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "t5");
    c->relative_attention_num_buckets = 32;
    c->relative_attention_max_distance = 128;
    c->layer_norm_epsilon = 1e-6;
    c->max_length = 512;
}

static cosmos_status get_pos_int(json_t *v, const char *key, const char *src, int *out) {
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > (1 << 30)) {
        LOG_ERROR("%s: '%s' must be a positive integer", src, key);
        return COSMOS_ERR_INVALID_ARG;
    }
    *out = (int)json_integer_value(v);
    return COSMOS_OK;
}

static cosmos_status validate(const struct cosmos_t5_config *c, const char *src) {
    const struct {
        const char *key;
        int v;
    } req[] = {{"d_model", c->d_model}, {"d_kv", c->d_kv},           {"num_heads", c->num_heads},
               {"d_ff", c->d_ff},       {"num_layers", c->num_layers}, {"vocab_size", c->vocab_size}};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        if (req[i].v <= 0) {
            LOG_ERROR("%s: required key '%s' is missing", src, req[i].key);
            return COSMOS_ERR_INVALID_ARG;
        }
    }
    if (c->relative_attention_num_buckets < 4 || c->relative_attention_num_buckets % 2) {
        LOG_ERROR("%s: relative_attention_num_buckets must be even and >= 4 (t5-11b: 32)", src);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (c->relative_attention_max_distance <= c->relative_attention_num_buckets / 4) {
        LOG_ERROR("%s: relative_attention_max_distance must exceed num_buckets/4 (t5-11b: 128)", src);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (!(c->layer_norm_epsilon > 0 && c->layer_norm_epsilon < 1)) {
        LOG_ERROR("%s: layer_norm_epsilon must be in (0, 1)", src);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (c->max_length < 2 || c->max_length > 65536) {
        LOG_ERROR("%s: max_length must be in [2, 65536] (official: 512)", src);
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}

cosmos_status cosmos_t5_config_parse(const char *text, const char *src, const char *base_dir,
                                     struct cosmos_t5_config *c) {
    cosmos_status st = COSMOS_OK;
    config_defaults(c);
    json_t *root = NULL;
    CHECK(cosmos_config_json_object(text, src, "a T5 config", &root));
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "model_type")) {
            CHECK_ARG(json_is_string(v) && !strcmp(json_string_value(v), "t5"), COSMOS_ERR_INVALID_ARG,
                      "%s: model_type must be \"t5\"", src);
        } else if (!strcmp(key, "name")) {
            CHECK_ARG(json_is_string(v), COSMOS_ERR_INVALID_ARG, "%s: 'name' must be a string", src);
            snprintf(c->name, sizeof c->name, "%s", json_string_value(v));
        } else if (!strcmp(key, "feed_forward_proj")) {
            CHECK_ARG(json_is_string(v) && !strcmp(json_string_value(v), "relu"), COSMOS_ERR_UNSUPPORTED,
                      "%s: feed_forward_proj must be \"relu\" (T5 v1.0, t5-11b); gated variants (v1.1) are "
                      "not supported",
                      src);
        } else if (!strcmp(key, "spiece_model")) {
            CHECK_ARG(json_is_string(v), COSMOS_ERR_INVALID_ARG, "%s: 'spiece_model' must be a path string", src);
            const char *p = json_string_value(v);
            if (p[0] == '/' || !base_dir || !base_dir[0])
                snprintf(c->spiece_model, sizeof c->spiece_model, "%s", p);
            else
                snprintf(c->spiece_model, sizeof c->spiece_model, "%s/%s", base_dir, p);
        } else if (!strcmp(key, "layer_norm_epsilon")) {
            CHECK_ARG(json_is_number(v), COSMOS_ERR_INVALID_ARG, "%s: 'layer_norm_epsilon' must be a number", src);
            c->layer_norm_epsilon = json_number_value(v);
        } else {
            int *dst = !strcmp(key, "d_model")                          ? &c->d_model
                       : !strcmp(key, "d_kv")                           ? &c->d_kv
                       : !strcmp(key, "num_heads")                      ? &c->num_heads
                       : !strcmp(key, "d_ff")                           ? &c->d_ff
                       : !strcmp(key, "num_layers")                     ? &c->num_layers
                       : !strcmp(key, "vocab_size")                     ? &c->vocab_size
                       : !strcmp(key, "relative_attention_num_buckets") ? &c->relative_attention_num_buckets
                       : !strcmp(key, "relative_attention_max_distance") ? &c->relative_attention_max_distance
                       : !strcmp(key, "max_length")                     ? &c->max_length
                                                                        : NULL;
            CHECK_ARG(dst, COSMOS_ERR_INVALID_ARG, "%s: unknown key '%s' in a T5 config", src, key);
            CHECK(get_pos_int(v, key, src, dst));
        }
    }
    CHECK(validate(c, src));
fail:
    json_decref(root);
    return st;
}

cosmos_status cosmos_t5_config_load(const char *path, struct cosmos_t5_config *c) {
    cosmos_status st = COSMOS_OK;
    char dir[1024], *text = NULL;
    CHECK(cosmos_config_file_text(path, &text));
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    CHECK(cosmos_t5_config_parse(text, path, dir, c));
fail:
    free(text);
    return st;
}

char *cosmos_t5_config_to_json(const struct cosmos_t5_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "model_type", json_string("t5"));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "d_model", json_integer(c->d_model));
    json_object_set_new(o, "d_kv", json_integer(c->d_kv));
    json_object_set_new(o, "num_heads", json_integer(c->num_heads));
    json_object_set_new(o, "d_ff", json_integer(c->d_ff));
    json_object_set_new(o, "num_layers", json_integer(c->num_layers));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "relative_attention_num_buckets", json_integer(c->relative_attention_num_buckets));
    json_object_set_new(o, "relative_attention_max_distance", json_integer(c->relative_attention_max_distance));
    json_object_set_new(o, "layer_norm_epsilon", json_real(c->layer_norm_epsilon));
    json_object_set_new(o, "feed_forward_proj", json_string("relu"));
    json_object_set_new(o, "max_length", json_integer(c->max_length));
    char *s = json_dumps(o, JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

int cosmos_config_file_is_t5(const char *path) { return cosmos_config_file_has_model_type(path, "t5"); }

int64_t cosmos_t5_config_num_params(const struct cosmos_t5_config *c) {
    const int64_t D = c->d_model, I = (int64_t)c->num_heads * c->d_kv, F = c->d_ff;
    const int64_t per_layer = 4 * D * I + 2 * D * F + 2 * D;
    return (int64_t)c->vocab_size * D + (int64_t)c->relative_attention_num_buckets * c->num_heads +
           c->num_layers * per_layer + D;
}
