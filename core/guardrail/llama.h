/* Llama-2 decoder-only language model (spec components.md 5.3: the LlamaGuard-7b network under the
 * Aegis prompt check, with the Aegis LoRA merged into the weights at conversion time). A reusable
 * component: config, weight file, teacher-forced logits and greedy generation through a KV cache,
 * on any backend (every op through core/backend.h). Not here: the prompt template, tokenization,
 * the verdict (core/guardrail/aegis.c), sampling other than greedy, batching, tensor parallelism.
 *
 * Architecture (HF LlamaForCausalLM): h = E[ids]; per layer h += o(Attn(RoPE(q(n1(h))),
 * RoPE(k(n1(h))), v(n1(h)))); h += down(silu(gate(n2(h))) * up(n2(h))); logits = lm_head(norm(h)).
 * RMSNorm y = x * rsqrt(mean(x^2) + eps) * w; rotate-half RoPE, inv_freq[i] = theta^(-2i/Dh) in f32,
 * cos/sin tables rounded to bf16 (HF casts them to the bf16 run's dtype); causal attention with GQA,
 * scale 1/sqrt(Dh); no biases; untied lm_head. Weights bf16; activations in the backend's
 * activation dtype (f32 on the CPU oracle).
 *
 * Data layout (row-major, on the backend): activations [T, hidden]; q [T, H, Dh]; KV cache per
 * layer [max_seq, Hkv, Dh] holding post-RoPE keys; token t of a call sits at position pos0 + t.
 * Logits come back to the host as f32 [n, vocab]. */
#ifndef COSMOS_LLAMA_H
#define COSMOS_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/status.h"

#define COSMOS_LLAMA_MODEL_TYPE "llama"
/* The optional uint8 datasets of a weight file that the model loader skips: the SentencePiece model
 * and the Aegis moderation prompt (core/guardrail/aegis.h reads both with cosmos_h5_read_bytes). */
#define COSMOS_LLAMA_TOKENIZER_DATASET "tokenizer_model"
#define COSMOS_LLAMA_AEGIS_PROMPT_DATASET "aegis_prompt"

/* JSON keys, named as Hugging Face LlamaConfig, all required except name: model_type ("llama"),
 * name, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 * num_key_value_heads, vocab_size, max_position_embeddings, rms_norm_eps, rope_theta,
 * bos_token_id, eos_token_id. Unknown keys are errors. head_dim = hidden_size / num_attention_heads
 * (must divide, and be even); num_attention_heads must be a multiple of num_key_value_heads. */
struct cosmos_llama_config {
    char name[128];
    int hidden_size, intermediate_size, num_hidden_layers;
    int num_attention_heads, num_key_value_heads, head_dim; /* head_dim derived */
    int vocab_size, max_position_embeddings;
    double rms_norm_eps, rope_theta;
    int bos_token_id, eos_token_id; /* in [0, vocab_size) */
};

/* Load / parse a config; `source` names the origin in messages. INVALID_ARG naming the key for
 * anything unknown, missing or out of range. */
cosmos_status cosmos_llama_config_load(const char *path, struct cosmos_llama_config *cfg);
cosmos_status cosmos_llama_config_parse(const char *json, const char *source, struct cosmos_llama_config *cfg);
/* JSON of every key (parse() reads it back to the same config); caller frees. NULL on OOM. */
char *cosmos_llama_config_to_json(const struct cosmos_llama_config *cfg);
/* 1 when the JSON file at `path` is a regular file with "model_type": "llama", else 0. */
int cosmos_config_file_is_llama(const char *path);
/* Parameter count of the weight file this config describes. */
int64_t cosmos_llama_config_num_params(const struct cosmos_llama_config *cfg);

/* Weight file (HDF5, cosmos-ar weights format, docs/weights.md): root attributes cosmos_format,
 * format_version, model_type "llama", config (JSON) and the int attributes hidden_size,
 * intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads, vocab_size;
 * one bf16 dataset per HF LlamaForCausalLM key, in this order: model.embed_tokens.weight [V, D];
 * per layer N: model.layers.N.input_layernorm.weight [D], self_attn.{q,k,v,o}_proj.weight
 * ([H*Dh, D], [Hkv*Dh, D], [Hkv*Dh, D], [D, H*Dh]), post_attention_layernorm.weight [D],
 * mlp.{gate,up,down}_proj.weight ([F, D], [F, D], [D, F]); model.norm.weight [D];
 * lm_head.weight [V, D]. Plus, optionally, the uint8 dataset COSMOS_LLAMA_TOKENIZER_DATASET. */
struct cosmos_llama_tensor_spec {
    char name[96];
    int ndim;
    int64_t shape[2];
};
/* Names and shapes of a config, in file order; *specs is malloc'd (caller frees). */
cosmos_status cosmos_llama_weight_specs(const struct cosmos_llama_config *cfg, struct cosmos_llama_tensor_spec **specs,
                                        int *n);

/* Write a random-weight file for `cfg` to out_path (temp name, then renamed): norms 1 + 0.1 N,
 * embedding N(0, 1), other matrices N(0, 1/fan_in), deterministic in `seed` (core/rng.h).
 * spm_path (may be NULL): a SentencePiece model file, checked to load and to have at most
 * vocab_size pieces, embedded as COSMOS_LLAMA_TOKENIZER_DATASET. */
cosmos_status cosmos_llama_init_random(const struct cosmos_llama_config *cfg, uint64_t seed, const char *spm_path,
                                       const char *out_path);

typedef struct cosmos_llama cosmos_llama_t;

/* Load a weight file strictly (model_type "llama", a valid config agreeing with the int
 * attributes, every dataset present with its shape and stored bf16, no unknown dataset except
 * the tokenizer blob; messages name the dataset and both shapes) onto backend `be` (borrowed; must
 * outlive the model). Host backends use the weights in place from the file mapping, others get
 * them uploaded into one arena. max_seq: KV-cache length in tokens, in [1,
 * max_position_embeddings]; 0 = max_position_embeddings. Logs the weight, KV-cache and scratch
 * bytes. The caller owns *out (cosmos_llama_free). */
cosmos_status cosmos_llama_load(cosmos_backend_t *be, const char *path, int max_seq, cosmos_llama_t **out);
void cosmos_llama_free(cosmos_llama_t *m); /* NULL is a no-op */
const struct cosmos_llama_config *cosmos_llama_get_config(const cosmos_llama_t *m); /* owned by m */
int cosmos_llama_max_seq(const cosmos_llama_t *m);

struct cosmos_llama_memory {
    size_t weight_bytes;        /* all weight tensors */
    size_t weight_mapped_bytes; /* of which used in place from the file mapping */
    size_t kv_bytes;            /* KV cache: 2 * layers * max_seq * Hkv * Dh activations */
    size_t table_bytes;         /* RoPE cos/sin */
    size_t scratch_bytes;       /* activations of one chunk */
};
struct cosmos_llama_memory cosmos_llama_memory(const cosmos_llama_t *m);

/* All functions below are synchronous (results on the host when they return) and use the one
 * KV cache of the model: not thread-safe. Token ids must be in [0, vocab_size) (INVALID_ARG naming
 * the index otherwise). */

/* Run ids[0..n) at positions pos0..pos0+n-1 through the cache: their K/V are written, and they
 * attend positions [0, own]. Positions before pos0 must hold the tokens run before (pos0 = 0 starts
 * a new sequence: nothing needs resetting, earlier entries are overwritten before being read).
 * logits: NULL, or host f32 [n, vocab_size] (caller-owned). pos0 + n <= max_seq. */
cosmos_status cosmos_llama_forward(cosmos_llama_t *m, const int32_t *ids, int n, int pos0, float *logits);
/* Teacher-forced logits of ids[0..n) from position 0 (cache reset): logits host f32 [n, vocab_size]
 * (caller-owned). n <= max_seq. */
cosmos_status cosmos_llama_logits(cosmos_llama_t *m, const int32_t *ids, int n, float *logits);
/* Greedy generation: prefill ids[0..n) from position 0 (cache reset), then take the argmax of the
 * last logits (ties: the lowest id, as torch.argmax) and feed it back one token at a time through the
 * cache, until max_new tokens were produced or the token is eos_token_id. out (caller-owned, room
 * for max_new ids) receives the new tokens WITHOUT the EOS, *n_out their count (< max_new exactly
 * when EOS ended it). n >= 1, max_new >= 0, n + max_new <= max_seq, else INVALID_ARG. */
cosmos_status cosmos_llama_generate_greedy(cosmos_llama_t *m, const int32_t *ids, int n, int max_new, int32_t *out,
                                           int *n_out);

#endif
