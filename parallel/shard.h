/* Shard arithmetic of tensor parallelism (spec ar-model.md section 7, Megatron split as in
 * Cosmos-Predict1): which rows or columns of each weight a TP rank holds. Pure functions, no MPI.
 *   wq (self/cross): rows by whole query heads      wk, wv: rows by whole KV heads
 *   wo, w2: columns (row-parallel, all-reduce after) w1, w3: rows (column-parallel)
 *   tok_embeddings, output: rows by vocabulary       norms: replicated */
#ifndef COSMOS_SHARD_H
#define COSMOS_SHARD_H

#include <stdint.h>

#include "core/config.h"
#include "core/status.h"

struct cosmos_range {
    int64_t start, count;
};

/* Part `index` of `total` split into `parts` equal pieces (parts must divide total). */
struct cosmos_range cosmos_shard_even(int64_t total, int parts, int index);

/* Check that a model can be split over tp ranks; logs the reason when it cannot
 * (tp must divide n_heads, n_kv_heads, ffn_hidden_size, vocab_size and input_vocab_size). */
cosmos_status cosmos_tp_check(const struct cosmos_ar_config *cfg, int tp);
/* Layers [*l0, *l1) of pipeline stage `stage` of pp: from stage_layers[pp] (counts that must be
 * positive and sum to n_layers) or, when NULL, an even split with the remainder on the first stages. */
cosmos_status cosmos_pp_stage_layers(const struct cosmos_ar_config *cfg, int pp, const int *stage_layers, int stage,
                                     int *l0, int *l1);
/* Check a tp x pp layout against the number of ranks given to the model and the layer count. */
cosmos_status cosmos_layout_check(const struct cosmos_ar_config *cfg, int tp, int pp, int world_size);

#endif
