/* The Cosmos-1.0 AR transformer (spec ar-model.md sections 1.3, 2, 3, 11): load from HDF5,
 * prefill and single-token decode through a KV cache, on any backend.
 *
 * Data layout (all row-major, on the backend): activations [T, dim]; q [T, n_heads, head_dim];
 * KV cache per layer [max_seq_len, n_kv_heads, head_dim] holding post-QK-norm, post-RoPE keys;
 * cross-attention context K/V per layer [context_len, n_kv_heads, head_dim], computed once per
 * context. Token t of a call sits at absolute position pos0 + t. Logits come back to the host as f32.
 * Under tensor parallelism (load params tp_comm of size tp) each rank holds n_heads/tp query heads,
 * n_kv_heads/tp KV heads, ffn/tp hidden units and vocab/tp embedding and LM-head rows (parallel/
 * shard.h); every rank calls forward with the same arguments and gets the same full logits.
 * Under pipeline parallelism (pp_comm of size pp) stage s holds a contiguous range of layers, the
 * first stage the embedding, the last the final norm and LM head; activations go stage to stage
 * (send/recv) and the last stage broadcasts the logits back, so every rank again returns them. */
#ifndef COSMOS_AR_MODEL_H
#define COSMOS_AR_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/config.h"
#include "core/status.h"
#include "parallel/comm.h"

typedef struct cosmos_ar_model cosmos_ar_model_t;

struct cosmos_ar_load_params {
    cosmos_comm_t *tp_comm; /* tensor-parallel group (borrowed); NULL = the whole model here */
    cosmos_comm_t *pp_comm; /* this TP rank's pipeline: rank = stage (borrowed); NULL = one stage */
    const int *stage_layers; /* [pp] layers per stage (sum n_layers); NULL = even, extra to the first */
    int max_chunk;    /* tokens per forward chunk (prefill is split into chunks); 0 = 256 */
    int n_seq;        /* sequences held at once, each with its own KV cache and context (default 1) */
    int weights_only; /* bind and check weights only: no tables, caches or scratch (info) */
    int decode_graphs; /* record and replay the decode step (cosmos_ar_forward_sample, one token) as a
                        * CUDA graph where the backend has graphs and tp = pp = 1; default from the
                        * environment: COSMOS_CUDA_GRAPHS=1 (off otherwise, docs/cuda.md) */
    int devpos_decode; /* the same device-position step without graphs (tests: any backend) */
    int unfused_decode; /* one-token steps multiply by wq, wk, wv (w1, w3) one at a time even where the
                         * binding put them back to back, and no op fuses the residual add or SwiGLU
                         * with a product, the QK-norm, RoPE and cache writes, or the APE add and
                         * the attention norm (tests: the fused ops give the same) */
};
struct cosmos_ar_load_params cosmos_ar_load_params_default(void);
/* Layers of this rank whose one-token steps (decode) compute q|k|v and h1|h3 by one product each
 * (struct cosmos_ar_layer_weights wqkv, w13): a device backend's weight arena has them back to back
 * whenever their sizes are multiples of 256 bytes (the official models: always). */
int cosmos_ar_model_fused_layers(const cosmos_ar_model_t *m);

struct cosmos_ar_memory {
    size_t weight_bytes;        /* all weight tensors this rank holds (its shards under TP) */
    size_t weight_mapped_bytes; /* of which used in place from the file mapping */
    size_t kv_bytes;            /* self-attention KV cache */
    size_t context_bytes;       /* cross-attention context K/V */
    size_t table_bytes;         /* RoPE / APE tables */
    size_t scratch_bytes;       /* activations */
};

struct cosmos_ar_part; /* core/model/ar_weights.h */
/* The memory cosmos_ar_model_load allocates for `part` of the model (tp shards, stage layers) with
 * n_seq sequences, max_chunk tokens per forward (0: 256) and activations of dtype act (the
 * backend's: f32 on the CPU, bf16 on CUDA), from the config alone: the numbers
 * cosmos_ar_model_memory then reports (tests/parallel/test_tp_mpi.c checks them equal), so a layout
 * can be sized before anything is loaded (`cosmos-ar info DIR --ranks N`). weight_mapped_bytes is 0:
 * that depends on the backend. */
cosmos_status cosmos_ar_memory_plan(const struct cosmos_ar_config *c, const struct cosmos_ar_part *part, int n_seq,
                                    int max_chunk, enum cosmos_dtype act, struct cosmos_ar_memory *out);

/* Load a weight file strictly (docs/weights.md) onto backend `be` (borrowed; must outlive the
 * model). The caller owns *out. */
cosmos_status cosmos_ar_model_load(const char *path, cosmos_backend_t *be, const struct cosmos_ar_load_params *p,
                                   cosmos_ar_model_t **out);
void cosmos_ar_model_free(cosmos_ar_model_t *m); /* NULL is a no-op */
const struct cosmos_ar_config *cosmos_ar_model_config(const cosmos_ar_model_t *m);
struct cosmos_ar_memory cosmos_ar_model_memory(const cosmos_ar_model_t *m);

/* Set the cross-attention context (host f32 [n_ctx, context_dim], n_ctx == context_len), rounded
 * to bf16 as the official model casts it, and compute its K/V for every cross-attention layer.
 * Required before forward on V2W models. */
cosmos_status cosmos_ar_set_context(cosmos_ar_model_t *m, const float *ctx, int n_ctx, int ctx_dim);

enum cosmos_logits_mode {
    COSMOS_LOGITS_NONE = 0,
    COSMOS_LOGITS_LAST = 1, /* logits[vocab] of the last token */
    COSMOS_LOGITS_ALL = 2,  /* logits[T, vocab] */
};
/* Run tokens[0..T) at positions pos0..pos0+T-1, writing their K/V into the cache (positions before
 * pos0 must have been run already). Token ids are checked: each must be a video code (< vocab_size)
 * or the BOV id. Synchronous: logits are on the host when it returns. */
cosmos_status cosmos_ar_forward(cosmos_ar_model_t *m, const int32_t *tokens, int T, int pos0,
                                enum cosmos_logits_mode mode, float *logits);

/* The pipeline-stage part of forward: on the first stage tokens are embedded, other stages receive
 * the activations; every stage runs its layers and sends them on; logits (if asked) are computed on
 * the last stage only and NOT broadcast (other stages leave `logits` untouched). Non-first stages
 * ignore `tokens`. This is what a pipelined scheduler (core/model/ar_generate.h) drives; with one
 * stage it equals cosmos_ar_forward. */
cosmos_status cosmos_ar_forward_stage(cosmos_ar_model_t *m, const int32_t *tokens, int T, int pos0,
                                      enum cosmos_logits_mode mode, float *logits);

/* The decode step of the last pipeline stage with the sampler on the backend: forward_stage of
 * tokens[0..T) at pos0.. with no logits leaving the backend, then the next token drawn from the
 * last position's logits by cosmos_op_sample at position pos0+T with params p (and p->seed); only
 * *token (4 bytes) comes back. UNSUPPORTED with tensor parallelism (the logits are split over the
 * ranks: gather them with cosmos_ar_forward_stage and sample on the host) or off the last stage;
 * cosmos_ar_samples_on_backend says whether it applies. One-token steps with the load params
 * decode_graphs / devpos_decode take the device-position path (positions and token read on the
 * device: the same ops every step), replayed as a CUDA graph with decode_graphs. */
struct cosmos_sampler_params;
cosmos_status cosmos_ar_forward_sample(cosmos_ar_model_t *m, const int32_t *tokens, int T, int pos0,
                                       const struct cosmos_sampler_params *p, int32_t *token);
int cosmos_ar_samples_on_backend(const cosmos_ar_model_t *m);
/* Select which held sequence (KV cache + context) the next set_context / forward calls use. */
cosmos_status cosmos_ar_use_seq(cosmos_ar_model_t *m, int seq);
int cosmos_ar_model_n_seq(const cosmos_ar_model_t *m);
/* This rank's pipeline stage and the number of stages; the pipeline communicator (NULL if pp = 1). */
void cosmos_ar_model_stage(const cosmos_ar_model_t *m, int *stage, int *pp);
struct cosmos_comm;
struct cosmos_comm *cosmos_ar_model_pp_comm(const cosmos_ar_model_t *m);
/* Seconds this rank spent in TP/PP communication so far, including waiting for peers. */
double cosmos_ar_model_comm_seconds(const cosmos_ar_model_t *m);

/* Check a token id for this model; logs why it is invalid (index = its place in the input). */
cosmos_status cosmos_ar_check_token(const cosmos_ar_model_t *m, int64_t id, int64_t index);
/* Check host logits[vocab_size] that predict the token at `position` (user need 6 of spec
 * performance-and-peers.md: NaN/Inf detection): a NaN or an infinity there means broken weights or
 * a wrong configuration (NVIDIA/Cosmos #148, cosmos-predict1 #90), and sampling from them would
 * silently make noise. FORMAT with a message naming the position, the count and the first bad
 * value. */
cosmos_status cosmos_ar_check_logits(const cosmos_ar_model_t *m, const float *logits, int64_t position);

#endif
