/* T5 text-encoder configuration (spec components.md 3.1 and 3.3). JSON keys are the Hugging Face
 * T5Config field names (d_model, d_kv, num_heads, d_ff, num_layers, ...) plus ours: model_type
 * (must be "t5": how `cosmos-ar init` tells a T5 config from an AR one), name, max_length (tokens
 * per prompt, 512) and spiece_model (the SentencePiece model `init` embeds; a path relative to the
 * config file). Only the encoder of T5 v1.0 is described: feed_forward_proj must be "relu".
 * Unknown keys are errors (jansson reports line and column). */
#ifndef COSMOS_T5_CONFIG_H
#define COSMOS_T5_CONFIG_H

#include <stdint.h>

#include "core/status.h"

struct cosmos_t5_config {
    char name[128];
    int d_model, d_kv, num_heads, d_ff, num_layers;
    int vocab_size; /* embedding rows (t5-11b: 32128, the 32100 ids padded) */
    int relative_attention_num_buckets, relative_attention_max_distance;
    double layer_norm_epsilon;
    int max_length;          /* tokens per prompt, EOS included; the output has this many rows */
    char spiece_model[1024]; /* resolved path, or "" when the config names none */
};

/* Load / parse a config. `source` names the origin in messages; relative spiece_model paths are
 * resolved against the directory of `path` (parse: against `base_dir`, may be NULL). */
cosmos_status cosmos_t5_config_load(const char *path, struct cosmos_t5_config *cfg);
cosmos_status cosmos_t5_config_parse(const char *json, const char *source, const char *base_dir,
                                     struct cosmos_t5_config *cfg);
/* JSON of the architecture keys (no spiece_model); caller frees. NULL on OOM. */
char *cosmos_t5_config_to_json(const struct cosmos_t5_config *cfg);
/* 1 when the JSON file at `path` has "model_type": "t5", 0 otherwise (also when unreadable: the
 * AR loader then reports the problem, and for non-regular files such as pipes, which it must not
 * consume: a T5 config has to be a regular file). */
int cosmos_config_file_is_t5(const char *path);
/* Parameters of the encoder weight file this config describes. */
int64_t cosmos_t5_config_num_params(const struct cosmos_t5_config *cfg);

#endif
