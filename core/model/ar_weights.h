/* Weight tensors of the AR transformer, named as the official state dict (docs/weights.md), and
 * the strict binder that finds, checks and places each of them. Private to core/model. */
#ifndef COSMOS_AR_WEIGHTS_H
#define COSMOS_AR_WEIGHTS_H

#include "core/backend.h"
#include "core/config.h"
#include "core/h5file.h"
#include "core/tensor.h"

struct cosmos_ar_layer_weights {
    struct cosmos_tensor attention_norm, wq, wk, wv, wo, q_norm, k_norm;
    struct cosmos_tensor cross_attention_norm, xwq, xwk, xwv, xwo, xq_norm, xk_norm; /* V2W layers */
    struct cosmos_tensor ffn_norm, w1, w2, w3;
    /* wq|wk|wv and w1|w3 as one [rows, dim] matrix each, where the binding placed them back to back
     * (the device arena does whenever their sizes are multiples of its 256-byte alignment); data
     * NULL otherwise. The decode step's one-token products use them: one GEMV instead of three or
     * two (cosmos_ar_weights_bind). */
    struct cosmos_tensor wqkv, w13;
};

struct cosmos_ar_weights {
    struct cosmos_tensor tok_embeddings, norm, output;
    struct cosmos_ar_layer_weights *layers;
    int n_layers;
    void **owned_dev;  /* backend buffers holding uploaded weights */
    void **owned_host; /* host buffers read from the file (tensors that could not be mapped) */
    int n_owned_dev, n_owned_host;
    size_t bytes, mapped_bytes;
};

/* One expected tensor: name and full shape derived from the config, and the part a tensor-parallel
 * rank holds (parallel/shard.h): shard_dim -1 = replicated, 0 = rows [start, start+count),
 * 1 = columns [start, start+count). */
struct cosmos_ar_tensor_spec {
    char name[96];
    int ndim;
    int64_t shape[2];
    int used; /* held by this rank (its pipeline stage has the layer, or the embedding / head) */
    int shard_dim;
    int64_t shard_start, shard_count;
    struct cosmos_tensor *dst;
};

/* The part of the model one rank holds: tensor-parallel shard tp_rank of tp, and the layers
 * [layer0, layer1) of its pipeline stage, plus the embedding on the first stage and the final norm
 * and LM head on the last. */
struct cosmos_ar_part {
    int tp, tp_rank;
    int layer0, layer1;
    int first_stage, last_stage;
};
/* The whole model, in one piece. */
struct cosmos_ar_part cosmos_ar_part_whole(const struct cosmos_ar_config *cfg);

/* Expected tensors of a config, in file order, with what `part` holds of each; *specs is malloc'd.
 * dst pointers aim into w (w->layers must be allocated with cfg->n_layers entries). */
cosmos_status cosmos_ar_weight_specs(const struct cosmos_ar_config *cfg, const struct cosmos_ar_part *part,
                                     struct cosmos_ar_weights *w, struct cosmos_ar_tensor_spec **specs, int *n);
/* Check the whole file against the config (missing/extra/misshaped/mistyped) and bind what `part`
 * holds: on a host backend row shards are used in place from the mapping and column shards read as
 * hyperslabs; other backends get them uploaded. Only the rank's own slices are read. */
cosmos_status cosmos_ar_weights_bind(cosmos_h5_t *h5, const struct cosmos_ar_config *cfg,
                                     const struct cosmos_ar_part *part, cosmos_backend_t *be,
                                     struct cosmos_ar_weights *w);
void cosmos_ar_weights_release(struct cosmos_ar_weights *w, cosmos_backend_t *be);
/* Bytes of the weights `part` holds (its shards under TP, its stage's layers): what
 * cosmos_ar_weights_bind counts in w->bytes, from the config alone. */
cosmos_status cosmos_ar_weights_bytes(const struct cosmos_ar_config *cfg, const struct cosmos_ar_part *part,
                                      size_t *bytes);

#endif
