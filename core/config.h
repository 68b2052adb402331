/* Cosmos AR model configuration (spec ar-model.md section 1). JSON keys are the official
 * ModelConfig / TokenizerConfig field names (dim, n_layers, ..., training_type); extra keys of ours:
 * name, context_len, default_top_p, input_vocab_size, bov_token_id. Values the official code derives
 * (max_seq_len, input-embedding rows, BOV id) are derived by the same rules unless stated.
 * Unknown keys are errors (jansson reports line and column). */
#ifndef COSMOS_CONFIG_H
#define COSMOS_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

enum cosmos_training_type {
    COSMOS_VIDEO_TO_VIDEO = 0, /* base 4B / 12B: no BOV */
    COSMOS_TEXT_TO_VIDEO = 1,  /* Video2World 5B / 13B: BOV prepended, cross-attention to T5 */
};

struct cosmos_ar_config {
    char name[128];
    int dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_hidden_size;
    double norm_eps, rope_theta;
    int vocab_size; /* LM-head rows: the video codes */
    bool use_qk_normalization;
    bool apply_yarn;
    double yarn_scale, yarn_beta_fast, yarn_beta_slow;
    int original_latent_shape[3]; /* [T,H,W] the RoPE was trained on (YaRN) */
    int video_latent_shape[3];    /* [T,H,W] of the token grid */
    bool insert_cross_attn;
    int insert_cross_attn_every_k_layers;
    int context_dim, context_len; /* T5 embedding: [context_len, context_dim] */
    bool apply_abs_pos_emb;
    enum cosmos_training_type training_type;
    int pad_to_multiple_of;
    double default_top_p;
    /* derived (or stated explicitly in the file) */
    int max_seq_len;      /* KV-cache length: roundup(T*H*W + has_bov, pad_to_multiple_of) */
    int input_vocab_size; /* embedding rows: vocab_size, or roundup(vocab_size+1, pad) for text_to_video */
    int bov_token_id;     /* vocab_size for text_to_video, -1 otherwise */
};

/* Parse a config from a JSON file or string; derives the missing values and validates.
 * `source` names the origin in error messages. */
cosmos_status cosmos_ar_config_load(const char *path, struct cosmos_ar_config *cfg);
/* The JSON object of a config file as text (keys in file order), for the component loaders'
 * *_parse(text, path, ...). A file jansson cannot read is INVALID_ARG with file:line:column and
 * jansson's message. *text is malloc'd (caller frees). */
cosmos_status cosmos_config_file_text(const char *path, char **text);
/* The bytes of a regular file (what: its kind, for messages, e.g. "SentencePiece model"). IO error
 * naming the file when it cannot be read or is empty. *data is malloc'd (caller frees). */
cosmos_status cosmos_file_read(const char *path, const char *what, uint8_t **data, size_t *n);
/* Is `path` a regular file holding a JSON object whose "model_type" is `model_type` ("t5",
 * "dv_tokenizer", "pipeline")? Never reads a pipe (so the caller's loader still can). */
int cosmos_config_file_has_model_type(const char *path, const char *model_type);
/* Shared by the component config parsers (T5, DV/CV, DiT, RetinaFace, SigLIP):
 * the JSON object of a config's text: INVALID_ARG with src:line:column and jansson's message for
 * bad JSON, "src: <what> must be a JSON object" for another value (what: "a T5 config", ...).
 * *root is NULL on error; the caller json_decref's it. */
cosmos_status cosmos_config_json_object(const char *text, const char *src, const char *what, json_t **root);
/* The first key of `obj` (in object order) that is not one of known[0..n), or NULL when every key
 * is known: the strict parsers' unknown-key check, each with its own message. */
const char *cosmos_config_json_unknown_key(const json_t *obj, const char *const *known, size_t n);
/* The integer value v of `key` in [lo, hi], else INVALID_ARG naming src, key and the range. */
cosmos_status cosmos_config_json_int(const json_t *v, const char *key, const char *src, int lo, int hi, int *out);
/* A list of exactly n integers in [lo, hi] (messages name the element). */
cosmos_status cosmos_config_json_int_list(const json_t *v, const char *key, const char *src, int n, int lo, int hi,
                                          int *out);
cosmos_status cosmos_ar_config_parse(const char *json, const char *source, struct cosmos_ar_config *cfg);
/* Serialise (all keys, including derived ones) as JSON; caller frees. NULL on OOM. */
char *cosmos_ar_config_to_json(const struct cosmos_ar_config *cfg);

/* Helpers derived from the config. */
static inline int cosmos_ar_num_video_tokens(const struct cosmos_ar_config *c) {
    return c->video_latent_shape[0] * c->video_latent_shape[1] * c->video_latent_shape[2];
}
static inline bool cosmos_ar_layer_has_cross(const struct cosmos_ar_config *c, int layer) {
    return c->insert_cross_attn && layer % c->insert_cross_attn_every_k_layers == 0;
}
/* Parameter count of the weight file this config describes. */
int64_t cosmos_ar_config_num_params(const struct cosmos_ar_config *c);

#endif
