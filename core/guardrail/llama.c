/* Llama-2 language model of the Aegis check (see llama.h; spec components.md 5.3): config parsing,
 * strict weight binding, random init, and the forward pass on the backend ops (embedding, rmsnorm,
 * matmul, rope, store_rows, attention, silu_mul, add, copy, sample). Prefill is split into chunks
 * of at most CHUNK tokens; decode is the same path with one token. Layouts as in llama.h. */
#include "core/guardrail/llama.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/h5bytes.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/sampler.h"
#include "core/rng.h"
#include "core/text_tokenizer.h"

#define CHUNK 128                  /* tokens per forward chunk (scratch rows) */
#define ARENA_ALIGN ((size_t)256) /* each uploaded weight starts on a 256-byte boundary */

/* ---- config ---- */

static cosmos_status config_validate(const struct cosmos_llama_config *c, const char *src) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(c->hidden_size % c->num_attention_heads == 0, COSMOS_ERR_INVALID_ARG,
              "%s: hidden_size %d is not a multiple of num_attention_heads %d", src, c->hidden_size,
              c->num_attention_heads);
    CHECK_ARG((c->hidden_size / c->num_attention_heads) % 2 == 0, COSMOS_ERR_INVALID_ARG,
              "%s: head_dim = hidden_size / num_attention_heads = %d must be even (rotate-half RoPE)", src,
              c->hidden_size / c->num_attention_heads);
    CHECK_ARG(c->num_key_value_heads <= c->num_attention_heads && c->num_attention_heads % c->num_key_value_heads == 0,
              COSMOS_ERR_INVALID_ARG, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", src,
              c->num_attention_heads, c->num_key_value_heads);
    CHECK_ARG(c->rms_norm_eps > 0 && c->rms_norm_eps < 1, COSMOS_ERR_INVALID_ARG,
              "%s: 'rms_norm_eps' must be in (0, 1) (Llama-2: 1e-5)", src);
    CHECK_ARG(c->rope_theta > 1 && isfinite(c->rope_theta), COSMOS_ERR_INVALID_ARG,
              "%s: 'rope_theta' must be a number > 1 (Llama-2: 10000)", src);
    CHECK_ARG(c->bos_token_id < c->vocab_size, COSMOS_ERR_INVALID_ARG,
              "%s: 'bos_token_id' %d is outside the vocabulary [0, %d)", src, c->bos_token_id, c->vocab_size);
    CHECK_ARG(c->eos_token_id < c->vocab_size, COSMOS_ERR_INVALID_ARG,
              "%s: 'eos_token_id' %d is outside the vocabulary [0, %d)", src, c->eos_token_id, c->vocab_size);
fail:
    return st;
}

cosmos_status cosmos_llama_config_parse(const char *text, const char *src, struct cosmos_llama_config *c) {
    cosmos_status st = COSMOS_OK;
    json_t *root = NULL;
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "llama");
    CHECK(cosmos_config_json_object(text, src, "a Llama config", &root));
    /* required keys: the integers with their ranges, then the two reals */
    const struct {
        const char *key;
        int *dst, lo, hi;
    } ints[] = {
        {"hidden_size", &c->hidden_size, 2, 1 << 16},
        {"intermediate_size", &c->intermediate_size, 1, 1 << 20},
        {"num_hidden_layers", &c->num_hidden_layers, 1, 1024},
        {"num_attention_heads", &c->num_attention_heads, 1, 1024},
        {"num_key_value_heads", &c->num_key_value_heads, 1, 1024},
        {"vocab_size", &c->vocab_size, 2, 1 << 24},
        {"max_position_embeddings", &c->max_position_embeddings, 1, 1 << 20},
        {"bos_token_id", &c->bos_token_id, 0, 1 << 24},
        {"eos_token_id", &c->eos_token_id, 0, 1 << 24},
    };
    const int n_ints = (int)(sizeof ints / sizeof ints[0]);
    int seen[9] = {0}, seen_eps = 0, seen_theta = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "model_type")) {
            CHECK_ARG(json_is_string(v) && !strcmp(json_string_value(v), COSMOS_LLAMA_MODEL_TYPE),
                      COSMOS_ERR_INVALID_ARG, "%s: model_type must be \"llama\"", src);
        } else if (!strcmp(key, "name")) {
            CHECK_ARG(json_is_string(v), COSMOS_ERR_INVALID_ARG, "%s: 'name' must be a string", src);
            snprintf(c->name, sizeof c->name, "%s", json_string_value(v));
        } else if (!strcmp(key, "rms_norm_eps") || !strcmp(key, "rope_theta")) {
            CHECK_ARG(json_is_number(v), COSMOS_ERR_INVALID_ARG, "%s: '%s' must be a number", src, key);
            if (key[1] == 'm') {
                c->rms_norm_eps = json_number_value(v);
                seen_eps = 1;
            } else {
                c->rope_theta = json_number_value(v);
                seen_theta = 1;
            }
        } else {
            int i = 0;
            while (i < n_ints && strcmp(key, ints[i].key)) i++;
            CHECK_ARG(i < n_ints, COSMOS_ERR_INVALID_ARG,
                      "%s: unknown key '%s' in a Llama config (hint: keys are HF LlamaConfig names: hidden_size, "
                      "intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads, vocab_size, "
                      "max_position_embeddings, rms_norm_eps, rope_theta, bos_token_id, eos_token_id)",
                      src, key);
            CHECK(cosmos_config_json_int(v, key, src, ints[i].lo, ints[i].hi, ints[i].dst));
            seen[i] = 1;
        }
    }
    for (int i = 0; i < n_ints; i++)
        CHECK_ARG(seen[i], COSMOS_ERR_INVALID_ARG, "%s: required key '%s' is missing from the Llama config", src,
                  ints[i].key);
    CHECK_ARG(seen_eps, COSMOS_ERR_INVALID_ARG, "%s: required key 'rms_norm_eps' is missing from the Llama config",
              src);
    CHECK_ARG(seen_theta, COSMOS_ERR_INVALID_ARG, "%s: required key 'rope_theta' is missing from the Llama config",
              src);
    CHECK(config_validate(c, src));
    c->head_dim = c->hidden_size / c->num_attention_heads;
fail:
    json_decref(root);
    return st;
}

cosmos_status cosmos_llama_config_load(const char *path, struct cosmos_llama_config *c) {
    cosmos_status st = COSMOS_OK;
    char *text = NULL;
    CHECK(cosmos_config_file_text(path, &text));
    CHECK(cosmos_llama_config_parse(text, path, c));
fail:
    free(text);
    return st;
}

char *cosmos_llama_config_to_json(const struct cosmos_llama_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "model_type", json_string(COSMOS_LLAMA_MODEL_TYPE));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->num_hidden_layers));
    json_object_set_new(o, "num_attention_heads", json_integer(c->num_attention_heads));
    json_object_set_new(o, "num_key_value_heads", json_integer(c->num_key_value_heads));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_position_embeddings));
    json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "bos_token_id", json_integer(c->bos_token_id));
    json_object_set_new(o, "eos_token_id", json_integer(c->eos_token_id));
    char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

int cosmos_config_file_is_llama(const char *path) {
    return cosmos_config_file_has_model_type(path, COSMOS_LLAMA_MODEL_TYPE);
}

int64_t cosmos_llama_config_num_params(const struct cosmos_llama_config *c) {
    const int64_t D = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
    const int64_t Q = (int64_t)c->num_attention_heads * c->head_dim, KV = (int64_t)c->num_key_value_heads * c->head_dim;
    const int64_t layer = 2 * D + Q * D + 2 * KV * D + D * Q + 3 * F * D;
    return 2 * V * D + D + c->num_hidden_layers * layer;
}

/* ---- weight specs ---- */

/* The per-layer tensors, in file order; a spec index is 1 + layer * LAYER_TENSORS + the enum value. */
enum { L_IN_NORM, L_WQ, L_WK, L_WV, L_WO, L_POST_NORM, L_GATE, L_UP, L_DOWN, LAYER_TENSORS };

static void set_spec(struct cosmos_llama_tensor_spec *s, const char *name, int64_t d0, int64_t d1) {
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ndim = d1 > 0 ? 2 : 1;
    s->shape[0] = d0;
    s->shape[1] = d1 > 0 ? d1 : 0;
}

cosmos_status cosmos_llama_weight_specs(const struct cosmos_llama_config *c, struct cosmos_llama_tensor_spec **specs,
                                        int *n) {
    const int64_t D = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
    const int64_t Q = (int64_t)c->num_attention_heads * c->head_dim, KV = (int64_t)c->num_key_value_heads * c->head_dim;
    const int total = 3 + LAYER_TENSORS * c->num_hidden_layers;
    struct cosmos_llama_tensor_spec *s = calloc((size_t)total, sizeof *s);
    if (!s) return COSMOS_ERR_NOMEM;
    set_spec(&s[0], "model.embed_tokens.weight", V, D);
    /* [rows, cols] of each per-layer tensor (cols 0: a vector), in enum order */
    const struct {
        const char *suffix;
        int64_t d0, d1;
    } layer[LAYER_TENSORS] = {
        {"input_layernorm.weight", D, 0},          {"self_attn.q_proj.weight", Q, D},
        {"self_attn.k_proj.weight", KV, D},        {"self_attn.v_proj.weight", KV, D},
        {"self_attn.o_proj.weight", D, Q},         {"post_attention_layernorm.weight", D, 0},
        {"mlp.gate_proj.weight", F, D},            {"mlp.up_proj.weight", F, D},
        {"mlp.down_proj.weight", D, F},
    };
    for (int l = 0; l < c->num_hidden_layers; l++) {
        for (int i = 0; i < LAYER_TENSORS; i++) {
            char nm[96];
            snprintf(nm, sizeof nm, "model.layers.%d.%s", l, layer[i].suffix);
            set_spec(&s[1 + l * LAYER_TENSORS + i], nm, layer[i].d0, layer[i].d1);
        }
    }
    set_spec(&s[total - 2], "model.norm.weight", D, 0);
    set_spec(&s[total - 1], "lm_head.weight", V, D);
    *specs = s;
    *n = total;
    return COSMOS_OK;
}

/* ---- random init ---- */

static const char *const INT_ATTRS[] = {"hidden_size",         "intermediate_size",   "num_hidden_layers",
                                        "num_attention_heads", "num_key_value_heads", "vocab_size"};
static void int_attr_values(const struct cosmos_llama_config *c, int v[6]) {
    v[0] = c->hidden_size;
    v[1] = c->intermediate_size;
    v[2] = c->num_hidden_layers;
    v[3] = c->num_attention_heads;
    v[4] = c->num_key_value_heads;
    v[5] = c->vocab_size;
}

cosmos_status cosmos_llama_init_random(const struct cosmos_llama_config *c, uint64_t seed, const char *spm_path,
                                       const char *out_path) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_llama_tensor_spec *specs = NULL;
    cosmos_bf16 *buf = NULL;
    cosmos_h5_t *h5 = NULL;
    cosmos_spm_t *spm = NULL;
    uint8_t *blob = NULL;
    size_t blob_n = 0;
    char *json = NULL, tmp[1100];
    int n = 0, vals[6];
    cosmos_tmp_path(out_path, tmp, sizeof tmp);
    if (spm_path) {
        CHECK(cosmos_file_read(spm_path, "SentencePiece model", &blob, &blob_n));
        CHECK(cosmos_spm_load(blob, blob_n, spm_path, &spm));
        CHECK_ARG(cosmos_spm_piece_size(spm) <= c->vocab_size, COSMOS_ERR_INVALID_ARG,
                  "init: %s has %d pieces, more than vocab_size %d", spm_path, cosmos_spm_piece_size(spm),
                  c->vocab_size);
    }
    CHECK(cosmos_llama_weight_specs(c, &specs, &n));
    int64_t max_numel = 0;
    for (int j = 0; j < n; j++) {
        const int64_t numel = specs[j].shape[0] * (specs[j].ndim == 2 ? specs[j].shape[1] : 1);
        if (numel > max_numel) max_numel = numel;
    }
    buf = malloc(sizeof(cosmos_bf16) * (size_t)max_numel);
    CHECK_ALLOC(buf);
    json = cosmos_llama_config_to_json(c);
    CHECK_ALLOC(json);
    CHECK(cosmos_h5_create(tmp, &h5));
    CHECK(cosmos_h5_write_model_header(h5, COSMOS_LLAMA_MODEL_TYPE, json));
    int_attr_values(c, vals);
    for (int i = 0; i < 6; i++) CHECK(cosmos_h5_write_attr_int(h5, INT_ATTRS[i], vals[i]));
    for (int j = 0; j < n; j++) {
        const struct cosmos_llama_tensor_spec *sp = &specs[j];
        const int64_t numel = sp->shape[0] * (sp->ndim == 2 ? sp->shape[1] : 1);
        const int emb = j == 0;
        const float mean = sp->ndim == 1 ? 1.0f : 0.0f;
        const float std = sp->ndim == 1 ? 0.1f : emb ? 1.0f : 1.0f / sqrtf((float)sp->shape[1]);
        cosmos_rng_fill_normal_bf16(buf, numel, seed, (uint64_t)j, mean, std);
        CHECK(cosmos_h5_write(h5, sp->name, COSMOS_BF16, sp->ndim, sp->shape, buf));
    }
    cosmos_h5_close(h5);
    h5 = NULL;
    if (blob) CHECK(cosmos_h5_write_bytes(tmp, COSMOS_LLAMA_TOKENIZER_DATASET, blob, blob_n));
    CHECK(cosmos_commit_tmp(tmp, out_path));
fail:
    if (h5) cosmos_h5_close(h5);
    if (st != COSMOS_OK) remove(tmp);
    cosmos_spm_free(spm);
    free(blob);
    free(json);
    free(buf);
    free(specs);
    return st;
}

/* ---- model ---- */

struct llama_layer {
    struct cosmos_tensor in_norm, wq, wk, wv, wo, post_norm, gate, up, down;
    struct cosmos_tensor k_cache, v_cache; /* [max_seq, Hkv, Dh] */
};

struct cosmos_llama {
    struct cosmos_llama_config cfg;
    cosmos_backend_t *be; /* borrowed */
    cosmos_h5_t *h5;      /* kept open: host weights live in its mapping */
    int max_seq, chunk;
    struct cosmos_tensor embed, norm, lm_head;
    struct llama_layer *layers;
    void **host_owned; /* weights read into host buffers (not mappable) */
    int n_host_owned;
    void **bufs; /* backend buffers: the weight arena, tables, caches, scratch */
    int n_bufs;
    struct cosmos_tensor rope_cos, rope_sin;                  /* [max_seq, Dh/2] f32 */
    struct cosmos_tensor x, xn, q, k, v, att, tmp, h1, h3;    /* scratch, chunk rows */
    struct cosmos_tensor logits, logits_f32, ids, token;      /* logits [chunk, V]; ids [chunk]; token [1] */
    struct cosmos_llama_memory mem;
};

const struct cosmos_llama_config *cosmos_llama_get_config(const cosmos_llama_t *m) { return &m->cfg; }
int cosmos_llama_max_seq(const cosmos_llama_t *m) { return m->max_seq; }
struct cosmos_llama_memory cosmos_llama_memory(const cosmos_llama_t *m) { return m->mem; }

static cosmos_status push_ptr(void ***list, int *n, void *p) {
    void **nl = realloc(*list, sizeof(void *) * (size_t)(*n + 1));
    if (!nl) return COSMOS_ERR_NOMEM;
    nl[(*n)++] = p;
    *list = nl;
    return COSMOS_OK;
}

static cosmos_status model_alloc(cosmos_llama_t *m, struct cosmos_tensor *t, enum cosmos_dtype dt, int ndim,
                                 int64_t d0, int64_t d1, int64_t d2, size_t *counter) {
    struct cosmos_tensor v = {NULL, dt, ndim, {d0, d1, d2, 1}};
    const size_t bytes = cosmos_tensor_bytes(&v);
    cosmos_status st = cosmos_backend_alloc(m->be, bytes ? bytes : 16, &v.data);
    if (st != COSMOS_OK) return st;
    st = push_ptr(&m->bufs, &m->n_bufs, v.data);
    if (st != COSMOS_OK) {
        cosmos_backend_free_mem(m->be, v.data);
        return st;
    }
    *counter += bytes;
    *t = v;
    return COSMOS_OK;
}

/* Root attributes: format, model_type, the config and the int attributes agreeing with it. */
static cosmos_status read_header(cosmos_h5_t *h5, struct cosmos_llama_config *cfg) {
    cosmos_status st = COSMOS_OK;
    char *json = NULL, src[1100];
    const char *path = cosmos_h5_path(h5);
    CHECK(cosmos_h5_check_model_header(h5, COSMOS_LLAMA_MODEL_TYPE,
                                       "the Aegis check needs a Llama file from tools/cosmos_llama_h5.py "
                                       "(convert_llama) or `init` with a Llama config",
                                       &json));
    snprintf(src, sizeof src, "%s (attribute 'config')", path);
    CHECK(cosmos_llama_config_parse(json, src, cfg));
    int vals[6];
    int_attr_values(cfg, vals);
    for (int i = 0; i < 6; i++) {
        if (!cosmos_h5_has_attr(h5, INT_ATTRS[i])) continue;
        int64_t v;
        CHECK(cosmos_h5_attr_int(h5, INT_ATTRS[i], &v));
        CHECK_ARG(v == vals[i], COSMOS_ERR_FORMAT, "%s: attribute %s=%lld disagrees with the embedded config (%d)",
                  path, INT_ATTRS[i], (long long)v, vals[i]);
    }
fail:
    free(json);
    return st;
}

/* Check every dataset against the specs, then place the weights: in place from the mapping (host
 * backends; a host copy when not mappable), or uploaded into one backend arena. */
static cosmos_status bind_weights(cosmos_llama_t *m, const struct cosmos_llama_tensor_spec *specs, int n_specs,
                                  struct cosmos_tensor **dst) {
    cosmos_status st = COSMOS_OK;
    char **names = NULL;
    int n_names = 0;
    const char *path = cosmos_h5_path(m->h5);
    CHECK(cosmos_h5_list(m->h5, &names, &n_names));
    for (int i = 0; i < n_names; i++) {
        int known = !strcmp(names[i], COSMOS_LLAMA_TOKENIZER_DATASET) ||
                    !strcmp(names[i], COSMOS_LLAMA_AEGIS_PROMPT_DATASET);
        for (int j = 0; j < n_specs && !known; j++) known = !strcmp(names[i], specs[j].name);
        CHECK_ARG(known, COSMOS_ERR_FORMAT,
                  "%s: unexpected dataset '%s' in a Llama file for config '%s' (hint: the file was made for "
                  "another num_hidden_layers, or is not a Llama checkpoint)",
                  path, names[i], m->cfg.name);
    }
    size_t arena_bytes = 0, arena_off = 0;
    for (int j = 0; j < n_specs; j++) {
        const struct cosmos_llama_tensor_spec *sp = &specs[j];
        struct cosmos_h5_info info;
        CHECK(cosmos_h5_expect_shape(m->h5, "dataset", sp->name, sp->ndim, sp->shape,
                                     " (hint: truncated conversion, or the config does not match this checkpoint)",
                                     " (hint: the config's hidden_size / heads / intermediate_size / vocab_size do "
                                     "not match this checkpoint)",
                                     &info));
        CHECK_ARG(info.dtype == COSMOS_BF16, COSMOS_ERR_FORMAT,
                  "%s: dataset '%s' is %s, expected bfloat16 (uint16 with attribute dtype=\"bfloat16\")", path,
                  sp->name, cosmos_dtype_name(info.dtype));
        arena_bytes += (info.bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    }
    char *arena = NULL;
    if (!cosmos_backend_is_host(m->be)) {
        size_t unused = 0;
        struct cosmos_tensor a;
        CHECK(model_alloc(m, &a, COSMOS_BF16, 1, (int64_t)(arena_bytes / 2), 1, 1, &unused));
        arena = a.data;
    }
    for (int j = 0; j < n_specs; j++) {
        const struct cosmos_llama_tensor_spec *sp = &specs[j];
        const int64_t numel = sp->shape[0] * (sp->ndim == 2 ? sp->shape[1] : 1);
        const size_t bytes = sizeof(cosmos_bf16) * (size_t)numel;
        const cosmos_bf16 *host = NULL;
        void *owned = NULL, *data;
        CHECK(cosmos_h5_map_bf16(m->h5, sp->name, &host, &owned));
        if (arena) {
            data = arena + arena_off;
            arena_off += (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
            st = cosmos_backend_upload(m->be, data, host, bytes);
            free(owned);
            if (st != COSMOS_OK) goto fail;
        } else {
            data = (void *)host;
            if (owned) {
                st = push_ptr(&m->host_owned, &m->n_host_owned, owned);
                if (st != COSMOS_OK) {
                    free(owned);
                    goto fail;
                }
            } else {
                m->mem.weight_mapped_bytes += bytes;
            }
        }
        m->mem.weight_bytes += bytes;
        *dst[j] = sp->ndim == 2 ? cosmos_tensor_2d(data, COSMOS_BF16, sp->shape[0], sp->shape[1])
                                : cosmos_tensor_1d(data, COSMOS_BF16, sp->shape[0]);
    }
fail:
    cosmos_h5_free_names(names, n_names);
    return st;
}

/* RoPE tables as HF LlamaRotaryEmbedding: inv_freq[i] = 1 / theta^(2i/Dh) and pos * inv_freq in
 * f32, cos/sin of that, rounded to bf16 as the bf16 run casts them. */
static void rope_tables(const struct cosmos_llama_config *c, int S, float *cos_t, float *sin_t) {
    const int half = c->head_dim / 2;
    for (int i = 0; i < half; i++) {
        const float expo = (float)(2 * i) / (float)c->head_dim;
        const float inv = 1.0f / powf((float)c->rope_theta, expo);
        for (int p = 0; p < S; p++) {
            const float a = (float)p * inv;
            cos_t[(size_t)p * (size_t)half + (size_t)i] = cosmos_round_bf16((float)cos((double)a));
            sin_t[(size_t)p * (size_t)half + (size_t)i] = cosmos_round_bf16((float)sin((double)a));
        }
    }
}

cosmos_status cosmos_llama_load(cosmos_backend_t *be, const char *path, int max_seq, cosmos_llama_t **out) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_llama_tensor_spec *specs = NULL;
    struct cosmos_tensor **dst = NULL;
    float *cos_h = NULL, *sin_h = NULL;
    int n_specs = 0;
    cosmos_llama_t *m = NULL;
    CHECK_ARG(be && path && out, COSMOS_ERR_INVALID_ARG, "llama load: NULL backend, path or output");
    *out = NULL;
    m = calloc(1, sizeof *m);
    CHECK_ALLOC(m);
    m->be = be;
    CHECK(cosmos_h5_open(path, &m->h5));
    CHECK(read_header(m->h5, &m->cfg));
    const struct cosmos_llama_config *c = &m->cfg;
    CHECK_ARG(max_seq >= 0 && max_seq <= c->max_position_embeddings, COSMOS_ERR_INVALID_ARG,
              "llama load: max_seq %d must be in [1, max_position_embeddings = %d] (0 = all of them)", max_seq,
              c->max_position_embeddings);
    m->max_seq = max_seq ? max_seq : c->max_position_embeddings;
    m->chunk = m->max_seq < CHUNK ? m->max_seq : CHUNK;

    /* weights */
    m->layers = calloc((size_t)c->num_hidden_layers, sizeof *m->layers);
    CHECK_ALLOC(m->layers);
    CHECK(cosmos_llama_weight_specs(c, &specs, &n_specs));
    dst = calloc((size_t)n_specs, sizeof *dst);
    CHECK_ALLOC(dst);
    dst[0] = &m->embed;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        struct llama_layer *L = &m->layers[l];
        struct cosmos_tensor **d = &dst[1 + l * LAYER_TENSORS];
        d[L_IN_NORM] = &L->in_norm;
        d[L_WQ] = &L->wq;
        d[L_WK] = &L->wk;
        d[L_WV] = &L->wv;
        d[L_WO] = &L->wo;
        d[L_POST_NORM] = &L->post_norm;
        d[L_GATE] = &L->gate;
        d[L_UP] = &L->up;
        d[L_DOWN] = &L->down;
    }
    dst[n_specs - 2] = &m->norm;
    dst[n_specs - 1] = &m->lm_head;
    CHECK(bind_weights(m, specs, n_specs, dst));

    /* tables, KV cache, scratch */
    const enum cosmos_dtype act = cosmos_backend_act_dtype(be);
    const int64_t S = m->max_seq, D = c->hidden_size, Dh = c->head_dim, H = c->num_attention_heads;
    const int64_t Hkv = c->num_key_value_heads, F = c->intermediate_size, V = c->vocab_size, Tc = m->chunk;
    cos_h = malloc(sizeof(float) * (size_t)(S * Dh / 2));
    sin_h = malloc(sizeof(float) * (size_t)(S * Dh / 2));
    CHECK_ALLOC(cos_h);
    CHECK_ALLOC(sin_h);
    rope_tables(c, (int)S, cos_h, sin_h);
    CHECK(model_alloc(m, &m->rope_cos, COSMOS_F32, 2, S, Dh / 2, 1, &m->mem.table_bytes));
    CHECK(model_alloc(m, &m->rope_sin, COSMOS_F32, 2, S, Dh / 2, 1, &m->mem.table_bytes));
    CHECK(cosmos_backend_upload(be, m->rope_cos.data, cos_h, cosmos_tensor_bytes(&m->rope_cos)));
    CHECK(cosmos_backend_upload(be, m->rope_sin.data, sin_h, cosmos_tensor_bytes(&m->rope_sin)));
    for (int l = 0; l < c->num_hidden_layers; l++) {
        CHECK(model_alloc(m, &m->layers[l].k_cache, act, 3, S, Hkv, Dh, &m->mem.kv_bytes));
        CHECK(model_alloc(m, &m->layers[l].v_cache, act, 3, S, Hkv, Dh, &m->mem.kv_bytes));
    }
    size_t *sc = &m->mem.scratch_bytes;
    CHECK(model_alloc(m, &m->x, act, 2, Tc, D, 1, sc));
    CHECK(model_alloc(m, &m->xn, act, 2, Tc, D, 1, sc));
    CHECK(model_alloc(m, &m->q, act, 2, Tc, H * Dh, 1, sc));
    CHECK(model_alloc(m, &m->k, act, 2, Tc, Hkv * Dh, 1, sc));
    CHECK(model_alloc(m, &m->v, act, 2, Tc, Hkv * Dh, 1, sc));
    CHECK(model_alloc(m, &m->att, act, 2, Tc, H * Dh, 1, sc));
    CHECK(model_alloc(m, &m->tmp, act, 2, Tc, D, 1, sc));
    CHECK(model_alloc(m, &m->h1, act, 2, Tc, F, 1, sc));
    CHECK(model_alloc(m, &m->h3, act, 2, Tc, F, 1, sc));
    CHECK(model_alloc(m, &m->logits, act, 2, Tc, V, 1, sc));
    if (act != COSMOS_F32) CHECK(model_alloc(m, &m->logits_f32, COSMOS_F32, 2, Tc, V, 1, sc));
    else m->logits_f32 = m->logits;
    CHECK(model_alloc(m, &m->ids, COSMOS_I32, 1, Tc, 1, 1, sc));
    CHECK(model_alloc(m, &m->token, COSMOS_I32, 1, 1, 1, 1, sc));
    /* the backend's own memory for this model's calls, now (cosmos_backend_reserve_attention) */
    CHECK(cosmos_backend_reserve_attention(be, Tc, H, Hkv, Dh, S, 1));
    CHECK(cosmos_backend_reserve_sampler(be, V));
    const double MiB = 1024.0 * 1024.0;
    LOG_INFO("llama '%s' on %s: weights %.1f MiB (%.1f MiB mapped from the file), KV cache %.1f MiB (max_seq %d, "
             "%s), RoPE tables %.1f MiB, scratch %.1f MiB (%d-token chunks)",
             c->name, cosmos_backend_name(be), (double)m->mem.weight_bytes / MiB,
             (double)m->mem.weight_mapped_bytes / MiB, (double)m->mem.kv_bytes / MiB, m->max_seq,
             cosmos_dtype_name(act), (double)m->mem.table_bytes / MiB, (double)m->mem.scratch_bytes / MiB, m->chunk);
    *out = m;
    m = NULL;
fail:
    free(cos_h);
    free(sin_h);
    free(dst);
    free(specs);
    cosmos_llama_free(m);
    return st;
}

void cosmos_llama_free(cosmos_llama_t *m) {
    if (!m) return;
    for (int i = 0; i < m->n_bufs; i++) cosmos_backend_free_mem(m->be, m->bufs[i]);
    for (int i = 0; i < m->n_host_owned; i++) free(m->host_owned[i]);
    free(m->bufs);
    free(m->host_owned);
    free(m->layers);
    cosmos_h5_close(m->h5);
    free(m);
}

static struct cosmos_tensor rows2(struct cosmos_tensor t, int64_t T, int64_t cols) {
    return cosmos_tensor_2d(t.data, t.dtype, T, cols);
}
static struct cosmos_tensor heads(struct cosmos_tensor t, int64_t T, int64_t n, int64_t Dh) {
    return cosmos_tensor_3d(t.data, t.dtype, T, n, Dh);
}

/* One chunk of T <= chunk tokens (ids already in m->ids) at positions pos0..: leaves the final
 * hidden state (before the final norm) in m->x. */
static cosmos_status forward_chunk(cosmos_llama_t *m, int64_t T, int pos0) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_llama_config *c = &m->cfg;
    cosmos_backend_t *be = m->be;
    const int64_t D = c->hidden_size, H = c->num_attention_heads, Hkv = c->num_key_value_heads, Dh = c->head_dim;
    const int64_t F = c->intermediate_size;
    const float eps = (float)c->rms_norm_eps;
    struct cosmos_tensor x = rows2(m->x, T, D), xn = rows2(m->xn, T, D), tmp = rows2(m->tmp, T, D);
    struct cosmos_tensor q = rows2(m->q, T, H * Dh), att = rows2(m->att, T, H * Dh);
    struct cosmos_tensor k = rows2(m->k, T, Hkv * Dh), v = rows2(m->v, T, Hkv * Dh);
    struct cosmos_tensor h1 = rows2(m->h1, T, F), h3 = rows2(m->h3, T, F);
    CHECK(cosmos_op_embedding(be, x, m->embed, cosmos_tensor_1d(m->ids.data, COSMOS_I32, T)));
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const struct llama_layer *L = &m->layers[l];
        CHECK(cosmos_op_rmsnorm(be, xn, x, L->in_norm, eps));
        CHECK(cosmos_op_matmul(be, q, xn, L->wq));
        CHECK(cosmos_op_matmul(be, k, xn, L->wk));
        CHECK(cosmos_op_matmul(be, v, xn, L->wv));
        CHECK(cosmos_op_rope(be, heads(q, T, H, Dh), m->rope_cos, m->rope_sin, pos0));
        CHECK(cosmos_op_rope(be, heads(k, T, Hkv, Dh), m->rope_cos, m->rope_sin, pos0));
        CHECK(cosmos_op_store_rows(be, L->k_cache, heads(k, T, Hkv, Dh), pos0));
        CHECK(cosmos_op_store_rows(be, L->v_cache, heads(v, T, Hkv, Dh), pos0));
        CHECK(cosmos_op_attention(be, heads(att, T, H, Dh), heads(q, T, H, Dh), L->k_cache, L->v_cache, pos0, 1));
        CHECK(cosmos_op_matmul(be, tmp, att, L->wo));
        CHECK(cosmos_op_add(be, x, x, tmp));
        CHECK(cosmos_op_rmsnorm(be, xn, x, L->post_norm, eps));
        CHECK(cosmos_op_matmul(be, h1, xn, L->gate));
        CHECK(cosmos_op_matmul(be, h3, xn, L->up));
        CHECK(cosmos_op_silu_mul(be, h1, h1, h3));
        CHECK(cosmos_op_matmul(be, tmp, h1, L->down));
        CHECK(cosmos_op_add(be, x, x, tmp));
    }
fail:
    return st;
}

/* f32 logits [nr, V] on the backend of hidden rows [r0, r0+nr) of the last chunk of T rows. */
static cosmos_status logits_rows(cosmos_llama_t *m, int64_t T, int64_t r0, int64_t nr, struct cosmos_tensor *out) {
    cosmos_status st = COSMOS_OK;
    const int64_t D = m->cfg.hidden_size, V = m->cfg.vocab_size;
    struct cosmos_tensor xr = cosmos_tensor_rows(rows2(m->x, T, D), r0, nr);
    struct cosmos_tensor xn = rows2(m->xn, nr, D), lg = rows2(m->logits, nr, V);
    CHECK(cosmos_op_rmsnorm(m->be, xn, xr, m->norm, (float)m->cfg.rms_norm_eps));
    CHECK(cosmos_op_matmul(m->be, lg, xn, m->lm_head));
    *out = lg;
    if (lg.dtype != COSMOS_F32) {
        *out = rows2(m->logits_f32, nr, V);
        CHECK(cosmos_op_copy(m->be, *out, lg));
    }
fail:
    return st;
}

static cosmos_status check_ids(const cosmos_llama_t *m, const int32_t *ids, int n, int index0) {
    for (int t = 0; t < n; t++) {
        if (ids[t] < 0 || ids[t] >= m->cfg.vocab_size) {
            LOG_ERROR("llama '%s': token %d at index %d is outside the vocabulary [0, %d)", m->cfg.name, ids[t],
                      index0 + t, m->cfg.vocab_size);
            return COSMOS_ERR_INVALID_ARG;
        }
    }
    return COSMOS_OK;
}

/* Run ids through the cache at pos0..; logits of all rows to the host when `logits` is non-NULL.
 * Leaves the last chunk's hidden state in m->x (its row count in *last_rows). */
static cosmos_status run(cosmos_llama_t *m, const int32_t *ids, int n, int pos0, float *logits, int64_t *last_rows) {
    cosmos_status st = COSMOS_OK;
    const int64_t V = m->cfg.vocab_size;
    CHECK_ARG(ids && n > 0, COSMOS_ERR_INVALID_ARG, "llama forward: no tokens");
    CHECK_ARG(pos0 >= 0 && (int64_t)pos0 + n <= m->max_seq, COSMOS_ERR_INVALID_ARG,
              "llama forward: positions [%d, %lld) exceed the KV cache (max_seq %d, set at load)", pos0,
              (long long)pos0 + n, m->max_seq);
    CHECK(check_ids(m, ids, n, 0));
    for (int t0 = 0; t0 < n; t0 += m->chunk) {
        const int64_t T = n - t0 < m->chunk ? n - t0 : m->chunk;
        CHECK(cosmos_backend_upload(m->be, m->ids.data, ids + t0, sizeof(int32_t) * (size_t)T));
        CHECK(forward_chunk(m, T, pos0 + t0));
        if (logits) {
            struct cosmos_tensor lf;
            CHECK(logits_rows(m, T, 0, T, &lf));
            CHECK(cosmos_backend_download(m->be, logits + (size_t)t0 * (size_t)V, lf.data, cosmos_tensor_bytes(&lf)));
        }
        *last_rows = T;
    }
    CHECK(cosmos_backend_sync(m->be));
fail:
    return st;
}

cosmos_status cosmos_llama_forward(cosmos_llama_t *m, const int32_t *ids, int n, int pos0, float *logits) {
    int64_t rows = 0;
    return run(m, ids, n, pos0, logits, &rows);
}

cosmos_status cosmos_llama_logits(cosmos_llama_t *m, const int32_t *ids, int n, float *logits) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(logits, COSMOS_ERR_INVALID_ARG, "llama logits: NULL output");
    CHECK(cosmos_llama_forward(m, ids, n, 0, logits));
fail:
    return st;
}

/* The greedy token of hidden row r0 of the last chunk (T rows), sampled on the backend. */
static cosmos_status greedy_row(cosmos_llama_t *m, int64_t T, int64_t r0, int64_t position, int32_t *token) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_sampler_params p = cosmos_sampler_params_default();
    p.temperature = 0.0f; /* argmax; ties to the lowest id */
    p.top_p = 1.0f;
    p.top_k = 0;
    struct cosmos_tensor lf;
    CHECK(logits_rows(m, T, r0, 1, &lf));
    CHECK(cosmos_op_sample(m->be, m->token, cosmos_tensor_1d(lf.data, COSMOS_F32, m->cfg.vocab_size), &p, position));
    CHECK(cosmos_backend_download(m->be, token, m->token.data, sizeof(int32_t)));
    CHECK(cosmos_backend_sync(m->be));
fail:
    return st;
}

cosmos_status cosmos_llama_generate_greedy(cosmos_llama_t *m, const int32_t *ids, int n, int max_new, int32_t *out,
                                           int *n_out) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(n_out && (out || max_new == 0), COSMOS_ERR_INVALID_ARG, "llama generate: NULL output");
    *n_out = 0;
    CHECK_ARG(n >= 1 && max_new >= 0, COSMOS_ERR_INVALID_ARG,
              "llama generate: need at least one prompt token and max_new >= 0 (got n %d, max_new %d)", n, max_new);
    CHECK_ARG((int64_t)n + max_new <= m->max_seq, COSMOS_ERR_INVALID_ARG,
              "llama generate: %d prompt tokens + %d new tokens exceed the KV cache (max_seq %d, set at load)", n,
              max_new, m->max_seq);
    if (max_new == 0) goto fail;
    int64_t rows = 0;
    int32_t tok = 0;
    CHECK(run(m, ids, n, 0, NULL, &rows));
    CHECK(greedy_row(m, rows, rows - 1, n, &tok));
    for (int i = 0; i < max_new; i++) {
        if (tok == m->cfg.eos_token_id) break;
        out[(*n_out)++] = tok;
        if (i + 1 == max_new) break;
        CHECK(run(m, &tok, 1, n + i, NULL, &rows));
        CHECK(greedy_row(m, 1, 0, n + i + 1, &tok));
    }
fail:
    return st;
}
