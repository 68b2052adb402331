/* Diffusion-decoder DiT weight files (see dit_weights.h; spec components.md 4.4 "Key names"): the
 * key list walks the module structure of GeneralDIT / DiffusionDecoderGeneralDIT. A DITBuildingBlock
 * registers its inner block (VideoAttn .attn: to_q = [Linear, RMSNorm], to_k = [Linear, RMSNorm],
 * to_v = [Linear, Identity], to_out = [Linear, Dropout]; GPT2FeedForward: layer1, layer2) before
 * its adaLN_modulation = [SiLU, Linear(D, lora), Linear(lora, 3D)]. */
#include "core/model/dit_weights.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct list {
    struct cosmos_dit_tensor_spec *v;
    int n, cap;
};

static void add(struct list *l, enum cosmos_dit_tensor_kind kind, int64_t s0, int64_t s1, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void add(struct list *l, enum cosmos_dit_tensor_kind kind, int64_t s0, int64_t s1, const char *fmt, ...) {
    struct cosmos_dit_tensor_spec *s = &l->v[l->n++]; /* capacity is computed exactly beforehand */
    memset(s, 0, sizeof *s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    s->kind = kind;
    s->ndim = kind == COSMOS_DIT_NORM ? 1 : 2;
    s->shape[0] = s0;
    s->shape[1] = kind == COSMOS_DIT_NORM ? 1 : s1;
}

#define PER_BLOCK (3 * 2 + 6 + 6 + 2) /* adaLN pairs, FA, CA, MLP */
#define N_INT_ATTRS 9

cosmos_status cosmos_dit_weight_specs(const struct cosmos_dit_config *c, struct cosmos_dit_tensor_spec **specs,
                                      int *n) {
    *specs = NULL, *n = 0;
    if (c->model_channels <= 0 || c->head_dim <= 0 || c->num_blocks <= 0 || c->patch_in_features <= 0) {
        LOG_ERROR("dit weights: config '%s' is not valid (load it with cosmos_dit_config_load)", c->name);
        return COSMOS_ERR_INVALID_ARG;
    }
    const int64_t D = c->model_channels, Dh = c->head_dim, C = c->crossattn_emb_channels, R = c->adaln_lora_dim,
                  F = c->mlp_hidden;
    struct list l = {0};
    l.cap = 3 + c->num_blocks * PER_BLOCK + 3 + 2;
    l.v = malloc(sizeof *l.v * (size_t)l.cap);
    if (!l.v) return COSMOS_ERR_NOMEM;
    add(&l, COSMOS_DIT_LINEAR, D, c->patch_in_features, "x_embedder.proj.1.weight");
    add(&l, COSMOS_DIT_EMBED, c->token_vocab_size, c->token_dim, "token_embedder.weight");
    add(&l, COSMOS_DIT_LINEAR, D, D, "t_embedder.1.linear_1.weight");
    add(&l, COSMOS_DIT_LINEAR, 3 * D, D, "t_embedder.1.linear_2.weight");
    for (int b = 0; b < c->num_blocks; b++) {
        for (int k = 0; k < 3; k++) {
            if (k == COSMOS_DIT_MLP) {
                add(&l, COSMOS_DIT_LINEAR, F, D, "blocks.block%d.blocks.%d.block.layer1.weight", b, k);
                add(&l, COSMOS_DIT_LINEAR, D, F, "blocks.block%d.blocks.%d.block.layer2.weight", b, k);
            } else {
                const int64_t in_kv = k == COSMOS_DIT_CA ? C : D;
                add(&l, COSMOS_DIT_LINEAR, D, D, "blocks.block%d.blocks.%d.block.attn.to_q.0.weight", b, k);
                add(&l, COSMOS_DIT_NORM, Dh, 0, "blocks.block%d.blocks.%d.block.attn.to_q.1.weight", b, k);
                add(&l, COSMOS_DIT_LINEAR, D, in_kv, "blocks.block%d.blocks.%d.block.attn.to_k.0.weight", b, k);
                add(&l, COSMOS_DIT_NORM, Dh, 0, "blocks.block%d.blocks.%d.block.attn.to_k.1.weight", b, k);
                add(&l, COSMOS_DIT_LINEAR, D, in_kv, "blocks.block%d.blocks.%d.block.attn.to_v.0.weight", b, k);
                add(&l, COSMOS_DIT_LINEAR, D, D, "blocks.block%d.blocks.%d.block.attn.to_out.0.weight", b, k);
            }
            add(&l, COSMOS_DIT_LINEAR, R, D, "blocks.block%d.blocks.%d.adaLN_modulation.1.weight", b, k);
            add(&l, COSMOS_DIT_LINEAR, 3 * D, R, "blocks.block%d.blocks.%d.adaLN_modulation.2.weight", b, k);
        }
    }
    add(&l, COSMOS_DIT_LINEAR, c->patch_out_features, D, "final_layer.linear.weight");
    add(&l, COSMOS_DIT_LINEAR, R, D, "final_layer.adaLN_modulation.1.weight");
    add(&l, COSMOS_DIT_LINEAR, 2 * D, R, "final_layer.adaLN_modulation.2.weight");
    add(&l, COSMOS_DIT_NORM, D, 0, "affline_norm.weight");
    *specs = l.v, *n = l.n;
    return COSMOS_OK;
}

/* int64 root attributes that repeat config values (for h5dump -A; tools/cosmos_dit_h5.py INT_ATTRS) */
static void int_attrs(const struct cosmos_dit_config *c, const char **names, int64_t *values) {
    const char *n[] = {"model_channels", "num_blocks", "num_heads", "in_channels", "out_channels",
                       "crossattn_emb_channels", "adaln_lora_dim", "diffusion_decoder_token_condition_voc_size",
                       "diffusion_decoder_token_condition_dim"};
    const int64_t v[] = {c->model_channels, c->num_blocks, c->num_heads, c->in_channels, c->out_channels,
                         c->crossattn_emb_channels, c->adaln_lora_dim, c->token_vocab_size, c->token_dim};
    for (int i = 0; i < N_INT_ATTRS; i++) names[i] = n[i], values[i] = v[i];
}

cosmos_status cosmos_dit_write_header(cosmos_h5_t *h5, const struct cosmos_dit_config *cfg) {
    cosmos_status st = COSMOS_OK;
    const char *names[N_INT_ATTRS];
    int64_t values[N_INT_ATTRS];
    char *json = cosmos_dit_config_to_json(cfg);
    CHECK_ALLOC(json);
    CHECK(cosmos_h5_write_model_header(h5, COSMOS_DIT_MODEL_TYPE, json));
    int_attrs(cfg, names, values);
    for (int i = 0; i < N_INT_ATTRS; i++) CHECK(cosmos_h5_write_attr_int(h5, names[i], values[i]));
fail:
    free(json);
    return st;
}

cosmos_status cosmos_dit_read_header(cosmos_h5_t *h5, struct cosmos_dit_config *cfg) {
    cosmos_status st = COSMOS_OK;
    char *json = NULL, what[1100];
    CHECK(cosmos_h5_check_model_header(h5, COSMOS_DIT_MODEL_TYPE,
                                       "a diffusion decoder file comes from `cosmos-ar init` with a "
                                       "diffusion_decoder config or from tools/convert_checkpoint.py",
                                       &json));
    snprintf(what, sizeof what, "%s: attribute 'config'", cosmos_h5_path(h5));
    CHECK(cosmos_dit_config_parse(json, what, cfg));
    const char *names[N_INT_ATTRS];
    int64_t values[N_INT_ATTRS], got = 0;
    int_attrs(cfg, names, values);
    for (int i = 0; i < N_INT_ATTRS; i++) {
        CHECK_ARG(cosmos_h5_has_attr(h5, names[i]), COSMOS_ERR_FORMAT,
                  "%s: root attribute '%s' is missing (docs/weights.md \"Diffusion decoder files\")",
                  cosmos_h5_path(h5), names[i]);
        CHECK(cosmos_h5_attr_int(h5, names[i], &got));
        CHECK_ARG(got == values[i], COSMOS_ERR_FORMAT, "%s: root attribute '%s' = %lld disagrees with the config (%lld)",
                  cosmos_h5_path(h5), names[i], (long long)got, (long long)values[i]);
    }
fail:
    free(json);
    return st;
}

cosmos_status cosmos_dit_check_weights(cosmos_h5_t *h5, const struct cosmos_dit_config *cfg) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_dit_tensor_spec *specs = NULL;
    char **names = NULL;
    int n = 0, n_names = 0;
    const char *path = cosmos_h5_path(h5);
    CHECK(cosmos_dit_weight_specs(cfg, &specs, &n));
    char missing_hint[256], shape_hint[256];
    snprintf(missing_hint, sizeof missing_hint,
             " for config '%s' (hint: truncated conversion, or a file of another config?)", cfg->name);
    snprintf(shape_hint, sizeof shape_hint, " for config '%s' (hint: wrong config for this file?)", cfg->name);
    for (int i = 0; i < n; i++) {
        const struct cosmos_dit_tensor_spec *s = &specs[i];
        struct cosmos_h5_info info;
        CHECK(cosmos_h5_expect_shape(h5, "dataset", s->name, s->ndim, s->shape, missing_hint, shape_hint, &info));
        CHECK_ARG(info.dtype == COSMOS_BF16 || info.dtype == COSMOS_F32, COSMOS_ERR_FORMAT,
                  "%s: dataset '%s' is %s; diffusion decoder tensors are bf16 (uint16 + dtype=\"bfloat16\") or f32",
                  path, s->name, cosmos_dtype_name(info.dtype));
    }
    CHECK(cosmos_h5_list(h5, &names, &n_names));
    for (int j = 0; j < n_names; j++) {
        int known = 0;
        for (int i = 0; i < n && !known; i++) known = strcmp(names[j], specs[i].name) == 0;
        CHECK_ARG(known, COSMOS_ERR_FORMAT,
                  "%s: unexpected dataset '%s' in a diffusion decoder file of config '%s' (hint: converted with "
                  "another config, or a key the converter should have dropped?)",
                  path, names[j], cfg->name);
    }
fail:
    cosmos_h5_free_names(names, n_names);
    free(specs);
    return st;
}
