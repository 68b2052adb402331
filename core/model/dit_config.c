/* Diffusion-decoder DiT config (see dit_config.h; spec components.md 4.1-4.6): JSON parsing with
 * strict validation (one table of keys: integers and numbers with their ranges, and the keys whose
 * only accepted value is the official 7B decoder's), serialisation, the derived sizes (head dim,
 * RoPE split head_dim // 6 * 2 as VideoRopePosition3DEmb computes it, patch-embed widths) and the
 * parameter count of spec 4.4, counted from the module structure (independently of the key list in
 * dit_weights.c). */
#define _POSIX_C_SOURCE 200809L
#include "core/model/dit_config.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"

#define MAX_WIDTH (1 << 16)

enum key_kind {
    K_INT,   /* integer in [lo, hi] */
    K_NUM,   /* number (integer or real) in (lo, hi] or [lo, hi] with lo_open */
    K_STR,   /* string that must equal `fixed` */
    K_BOOL,  /* boolean that must equal `fixed_bool` */
};

struct key {
    const char *name;
    enum key_kind kind;
    size_t off;      /* K_INT: int field; K_NUM: double field */
    int required;
    double lo, hi;   /* K_INT / K_NUM range */
    int lo_open;     /* K_NUM: lo excluded */
    const char *fixed;
    int fixed_bool;
};

#define OFF(f) offsetof(struct cosmos_dit_config, f)
static const struct key keys[] = {
    {"max_img_h", K_INT, OFF(max_img_h), 1, 1, 1 << 20, 0, NULL, 0},
    {"max_img_w", K_INT, OFF(max_img_w), 1, 1, 1 << 20, 0, NULL, 0},
    {"max_frames", K_INT, OFF(max_frames), 1, 1, 1 << 20, 0, NULL, 0},
    {"in_channels", K_INT, OFF(in_channels), 1, 1, 4096, 0, NULL, 0},
    {"out_channels", K_INT, OFF(out_channels), 1, 1, 4096, 0, NULL, 0},
    {"patch_spatial", K_INT, OFF(patch_spatial), 1, 1, 64, 0, NULL, 0},
    {"patch_temporal", K_INT, OFF(patch_temporal), 0, 1, 1, 0, NULL, 0},
    {"model_channels", K_INT, OFF(model_channels), 1, 1, MAX_WIDTH, 0, NULL, 0},
    {"num_blocks", K_INT, OFF(num_blocks), 1, 1, 1024, 0, NULL, 0},
    {"num_heads", K_INT, OFF(num_heads), 1, 1, 4096, 0, NULL, 0},
    {"mlp_ratio", K_NUM, OFF(mlp_ratio), 1, 0, 64, 1, NULL, 0},
    {"crossattn_emb_channels", K_INT, OFF(crossattn_emb_channels), 1, 1, MAX_WIDTH, 0, NULL, 0},
    {"adaln_lora_dim", K_INT, OFF(adaln_lora_dim), 1, 1, MAX_WIDTH, 0, NULL, 0},
    {"rope_h_extrapolation_ratio", K_NUM, OFF(rope_h_extrapolation_ratio), 1, 0, 1e6, 1, NULL, 0},
    {"rope_w_extrapolation_ratio", K_NUM, OFF(rope_w_extrapolation_ratio), 1, 0, 1e6, 1, NULL, 0},
    {"rope_t_extrapolation_ratio", K_NUM, OFF(rope_t_extrapolation_ratio), 1, 0, 1e6, 1, NULL, 0},
    {"diffusion_decoder_token_condition_voc_size", K_INT, OFF(token_vocab_size), 1, 1, 1 << 30, 0, NULL, 0},
    {"diffusion_decoder_token_condition_dim", K_INT, OFF(token_dim), 1, 1, MAX_WIDTH, 0, NULL, 0},
    {"sigma_data", K_NUM, OFF(sigma_data), 0, 0, 1e6, 1, NULL, 0},
    {"guidance", K_NUM, OFF(guidance), 0, 0, 1e6, 0, NULL, 0},
    {"sigma_min", K_NUM, OFF(sigma_min), 0, 0, 1e6, 1, NULL, 0},
    {"sigma_max", K_NUM, OFF(sigma_max), 0, 0, 1e6, 1, NULL, 0},
    {"num_steps", K_INT, OFF(num_steps), 0, 1, 10000, 0, NULL, 0},
    {"overlap", K_INT, OFF(overlap), 0, 0, 1 << 20, 0, NULL, 0},
    {"dd_train_num_video_frames", K_INT, OFF(dd_train_num_video_frames), 0, 1, 1 << 20, 0, NULL, 0},
    {"fps", K_INT, OFF(fps), 0, 1, 1000, 0, NULL, 0},
    {"height", K_INT, OFF(height), 0, 1, 1 << 20, 0, NULL, 0},
    {"width", K_INT, OFF(width), 0, 1, 1 << 20, 0, NULL, 0},
    /* keys with one accepted value: the official 7B decoder's (spec 4.4) */
    {"block_config", K_STR, 0, 0, 0, 0, 0, "FA-CA-MLP", 0},
    {"pos_emb_cls", K_STR, 0, 0, 0, 0, 0, "rope3d", 0},
    {"concat_padding_mask", K_BOOL, 0, 0, 0, 0, 0, NULL, 1},
    {"use_cross_attn_mask", K_BOOL, 0, 0, 0, 0, 0, NULL, 0},
    {"affline_emb_norm", K_BOOL, 0, 0, 0, 0, 0, NULL, 1},
    {"use_adaln_lora", K_BOOL, 0, 0, 0, 0, 0, NULL, 1},
    {"extra_per_block_abs_pos_emb", K_BOOL, 0, 0, 0, 0, 0, NULL, 0},
    {"diffusion_decoder_condition_on_sigma", K_BOOL, 0, 0, 0, 0, 0, NULL, 0},
    {"diffusion_decoder_condition_on_token", K_BOOL, 0, 0, 0, 0, 0, NULL, 1},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

static void config_defaults(struct cosmos_dit_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "diffusion-decoder");
    c->patch_temporal = 1;
    /* sampling defaults: the official DiffusionDecoderSamplingConfig and pipeline (spec 4.2, 4.5) */
    c->sigma_data = 0.5;
    c->guidance = 1.8;
    c->sigma_min = 0.02;
    c->sigma_max = 80.0;
    c->num_steps = 15;
    c->overlap = 2;
    c->dd_train_num_video_frames = 57;
    c->fps = 24;
    c->height = 640;
    c->width = 1024;
}

static cosmos_status parse_key(const struct key *k, json_t *v, const char *src, struct cosmos_dit_config *c) {
    switch (k->kind) {
    case K_INT:
        if (!json_is_integer(v) || (double)json_integer_value(v) < k->lo || (double)json_integer_value(v) > k->hi) {
            if (k->lo == k->hi)
                LOG_ERROR("%s: '%s' must be %.0f (the only value the official 7B decoder uses)", src, k->name, k->lo);
            else
                LOG_ERROR("%s: '%s' must be an integer in [%.0f, %.0f]", src, k->name, k->lo, k->hi);
            return k->lo == k->hi && json_is_integer(v) ? COSMOS_ERR_UNSUPPORTED : COSMOS_ERR_INVALID_ARG;
        }
        *(int *)((char *)c + k->off) = (int)json_integer_value(v);
        return COSMOS_OK;
    case K_NUM: {
        const double x = json_is_number(v) ? json_number_value(v) : NAN;
        if (!isfinite(x) || (k->lo_open ? x <= k->lo : x < k->lo) || x > k->hi) {
            LOG_ERROR("%s: '%s' must be a number in %s%g, %g]", src, k->name, k->lo_open ? "(" : "[", k->lo, k->hi);
            return COSMOS_ERR_INVALID_ARG;
        }
        *(double *)((char *)c + k->off) = x;
        return COSMOS_OK;
    }
    case K_STR:
        if (!json_is_string(v)) {
            LOG_ERROR("%s: '%s' must be a string (\"%s\")", src, k->name, k->fixed);
            return COSMOS_ERR_INVALID_ARG;
        }
        if (strcmp(json_string_value(v), k->fixed) != 0) {
            LOG_ERROR("%s: '%s' \"%s\" is not supported: only \"%s\" (the official 7B decoder, spec 4.4)", src,
                      k->name, json_string_value(v), k->fixed);
            return COSMOS_ERR_UNSUPPORTED;
        }
        return COSMOS_OK;
    case K_BOOL:
        if (!json_is_boolean(v)) {
            LOG_ERROR("%s: '%s' must be true or false", src, k->name);
            return COSMOS_ERR_INVALID_ARG;
        }
        if (json_is_true(v) != k->fixed_bool) {
            LOG_ERROR("%s: '%s' %s is not supported: only %s (the official 7B decoder, spec 4.4)", src, k->name,
                      json_is_true(v) ? "true" : "false", k->fixed_bool ? "true" : "false");
            return COSMOS_ERR_UNSUPPORTED;
        }
        return COSMOS_OK;
    }
    return COSMOS_ERR_INTERNAL;
}

static void derive(struct cosmos_dit_config *c) {
    c->head_dim = c->num_heads > 0 ? c->model_channels / c->num_heads : 0;
    c->mlp_hidden = (int)(c->model_channels * c->mlp_ratio); /* int(x_dim * mlp_ratio), GPT2FeedForward */
    c->rope_dim_h = c->head_dim / 6 * 2;
    c->rope_dim_w = c->rope_dim_h;
    c->rope_dim_t = c->head_dim - 2 * c->rope_dim_h;
    const int pp = c->patch_spatial * c->patch_spatial * c->patch_temporal;
    c->patch_in_features = (c->in_channels + c->token_dim + 1) * pp;
    c->patch_out_features = pp * c->out_channels;
}

static cosmos_status validate(const struct cosmos_dit_config *c, const char *src) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(c->model_channels % c->num_heads == 0, COSMOS_ERR_INVALID_ARG,
              "%s: 'model_channels' %d must be a multiple of 'num_heads' %d", src, c->model_channels, c->num_heads);
    CHECK_ARG(c->head_dim % 2 == 0, COSMOS_ERR_INVALID_ARG,
              "%s: the head dim model_channels / num_heads = %d must be even (rotate-half RoPE)", src, c->head_dim);
    /* the RoPE NTK factors divide by dim_h - 2 and dim_t - 2 (VideoRopePosition3DEmb) */
    CHECK_ARG(c->rope_dim_h > 2 && c->rope_dim_t > 2, COSMOS_ERR_INVALID_ARG,
              "%s: head dim %d splits into RoPE dims h = w = %d, t = %d; each must exceed 2 (head dim >= 12; "
              "official: 128 -> 42, 42, 44)",
              src, c->head_dim, c->rope_dim_h, c->rope_dim_t);
    CHECK_ARG(c->mlp_hidden >= 1 && c->mlp_hidden <= (1 << 20) && (double)c->mlp_hidden == c->model_channels * c->mlp_ratio,
              COSMOS_ERR_INVALID_ARG,
              "%s: 'mlp_ratio' %g times model_channels %d must be an integer in [1, 2^20] (the MLP width)", src,
              c->mlp_ratio, c->model_channels);
    CHECK_ARG(c->max_img_h >= c->patch_spatial && c->max_img_w >= c->patch_spatial, COSMOS_ERR_INVALID_ARG,
              "%s: 'max_img_h' %d and 'max_img_w' %d must be at least 'patch_spatial' %d", src, c->max_img_h,
              c->max_img_w, c->patch_spatial);
    CHECK_ARG(c->sigma_min < c->sigma_max, COSMOS_ERR_INVALID_ARG,
              "%s: 'sigma_min' %g must be smaller than 'sigma_max' %g", src, c->sigma_min, c->sigma_max);
    /* the latent clip: pixels / 8 (the CV8x8x8 spatial compression, spec 4.2), then patches */
    CHECK_ARG(c->height % (8 * c->patch_spatial) == 0 && c->width % (8 * c->patch_spatial) == 0,
              COSMOS_ERR_INVALID_ARG,
              "%s: 'height' %d and 'width' %d must be multiples of 8 * patch_spatial = %d (latent = pixels / 8, "
              "spec 4.2)",
              src, c->height, c->width, 8 * c->patch_spatial);
fail:
    return st;
}

cosmos_status cosmos_dit_config_parse(const char *text, const char *src, struct cosmos_dit_config *c) {
    cosmos_status st = COSMOS_OK;
    int seen[N_KEYS] = {0};
    config_defaults(c);
    json_t *root = NULL;
    CHECK(cosmos_config_json_object(text, src, "a diffusion decoder config", &root));
    const char *name;
    json_t *v;
    json_object_foreach(root, name, v) {
        if (!strcmp(name, "model_type")) {
            CHECK_ARG(json_is_string(v) && !strcmp(json_string_value(v), COSMOS_DIT_MODEL_TYPE),
                      COSMOS_ERR_INVALID_ARG, "%s: model_type must be \"%s\"", src, COSMOS_DIT_MODEL_TYPE);
            continue;
        }
        if (!strcmp(name, "name")) {
            CHECK_ARG(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < sizeof c->name,
                      COSMOS_ERR_INVALID_ARG, "%s: 'name' must be a non-empty string of < %zu bytes", src,
                      sizeof c->name);
            snprintf(c->name, sizeof c->name, "%s", json_string_value(v));
            continue;
        }
        size_t i = 0;
        while (i < N_KEYS && strcmp(name, keys[i].name)) i++;
        CHECK_ARG(i < N_KEYS, COSMOS_ERR_INVALID_ARG,
                  "%s: unknown key '%s' in a diffusion decoder config (keys are the official GeneralDIT names, see "
                  "configs/models/cosmos-1.0-diffusion-7b-decoder.json)",
                  src, name);
        CHECK(parse_key(&keys[i], v, src, c));
        seen[i] = 1;
    }
    for (size_t i = 0; i < N_KEYS; i++)
        CHECK_ARG(seen[i] || !keys[i].required, COSMOS_ERR_INVALID_ARG, "%s: required key '%s' is missing", src,
                  keys[i].name);
    derive(c);
    CHECK(validate(c, src));
fail:
    json_decref(root);
    return st;
}

cosmos_status cosmos_dit_config_load(const char *path, struct cosmos_dit_config *c) {
    cosmos_status st = COSMOS_OK;
    char *text = NULL;
    CHECK(cosmos_config_file_text(path, &text));
    CHECK(cosmos_dit_config_parse(text, path, c));
fail:
    free(text);
    return st;
}

char *cosmos_dit_config_to_json(const struct cosmos_dit_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "model_type", json_string(COSMOS_DIT_MODEL_TYPE));
    json_object_set_new(o, "name", json_string(c->name));
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        json_t *v = NULL;
        switch (k->kind) {
        case K_INT: v = json_integer(*(const int *)((const char *)c + k->off)); break;
        case K_NUM: v = json_real(*(const double *)((const char *)c + k->off)); break;
        case K_STR: v = json_string(k->fixed); break;
        case K_BOOL: v = json_boolean(k->fixed_bool); break;
        }
        json_object_set_new(o, k->name, v);
    }
    char *s = json_dumps(o, JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

int cosmos_config_file_is_dit(const char *path) {
    return cosmos_config_file_has_model_type(path, COSMOS_DIT_MODEL_TYPE);
}

int64_t cosmos_dit_config_block_params(const struct cosmos_dit_config *c) {
    const int64_t D = c->model_channels, Dh = c->head_dim, C = c->crossattn_emb_channels, R = c->adaln_lora_dim,
                  F = c->mlp_hidden;
    const int64_t adaln = 3 * (D * R + R * 3 * D); /* SiLU -> Linear(D, R) -> Linear(R, 3D), per sub-block */
    const int64_t fa = 4 * D * D + 2 * Dh;         /* q, k, v, out; RMSNorm on q and k per head */
    const int64_t ca = 2 * D * D + 2 * D * C + 2 * Dh;
    const int64_t mlp = 2 * D * F;
    return adaln + fa + ca + mlp;
}

int64_t cosmos_dit_config_num_params(const struct cosmos_dit_config *c) {
    const int64_t D = c->model_channels, R = c->adaln_lora_dim;
    const int64_t x_embedder = D * c->patch_in_features;
    const int64_t t_embedder = D * D + 3 * D * D; /* linear_1, linear_2 (LoRA mode: 3D outputs, no biases) */
    const int64_t affline_norm = D;
    const int64_t final_layer = D * R + R * 2 * D + (int64_t)c->patch_out_features * D;
    const int64_t token = (int64_t)c->token_vocab_size * c->token_dim;
    return x_embedder + t_embedder + affline_norm + c->num_blocks * cosmos_dit_config_block_params(c) + final_layer +
           token;
}
