/* Diffusion-decoder DiT weight files (docs/weights.md "Diffusion decoder files"; spec components.md
 * 4.1, 4.4): the expected tensors of a config, the root attributes and a strict check of a file.
 * One dataset per official state-dict key of the network with the "net." prefix stripped
 * (x_embedder.proj.1.weight, t_embedder.1.linear_{1,2}.weight, affline_norm.weight,
 * blocks.block{i}.blocks.{0,1,2}.*, final_layer.*, token_embedder.weight), PyTorch shapes ([out, in]
 * for Linear), bf16 (uint16 + attribute dtype="bfloat16"; this reader also takes f32 per dataset).
 * Root attributes: cosmos_format "cosmos-ar-weights", format_version 1, model_type
 * "diffusion_decoder", config (the JSON of dit_config.h), and int64 copies of model_channels,
 * num_blocks, num_heads, in_channels, out_channels, crossattn_emb_channels, adaln_lora_dim and the
 * two token-condition sizes, which must agree with the config. Nothing else is stored: the RoPE tables are built per call, `logvar.*` and
 * the `pos_embedder` buffers are not part of the network's computation at inference. */
#ifndef COSMOS_DIT_WEIGHTS_H
#define COSMOS_DIT_WEIGHTS_H

#include <stdint.h>

#include "core/h5file.h"
#include "core/model/dit_config.h"
#include "core/status.h"

enum cosmos_dit_tensor_kind {
    COSMOS_DIT_LINEAR = 0, /* nn.Linear weight [out, in], no bias anywhere in the network */
    COSMOS_DIT_NORM = 1,   /* RMSNorm weight [n] (affline_norm [D], per-head q/k norms [Dh]) */
    COSMOS_DIT_EMBED = 2,  /* token_embedder.weight [vocab, token_dim] */
};

struct cosmos_dit_tensor_spec {
    char name[96];
    enum cosmos_dit_tensor_kind kind;
    int ndim; /* 1 or 2 */
    int64_t shape[2];
};

/* Sub-blocks of a transformer block, in block_config order ("FA-CA-MLP"). */
enum { COSMOS_DIT_FA = 0, COSMOS_DIT_CA = 1, COSMOS_DIT_MLP = 2 };

/* Every tensor of the network, in state_dict registration order (the order of docs/weights.md and
 * tools/cosmos_dit_h5.py expected_tensors): x_embedder, token_embedder, t_embedder, blocks (per
 * sub-block: its attention or MLP weights, then adaLN_modulation.1 and .2), final_layer (linear,
 * adaLN_modulation.1, .2), affline_norm. *specs is malloc'd (caller frees); cfg must be valid. */
cosmos_status cosmos_dit_weight_specs(const struct cosmos_dit_config *cfg, struct cosmos_dit_tensor_spec **specs,
                                      int *n);

/* Root attributes: cosmos_format, format_version, model_type "diffusion_decoder", config, and the
 * int64 copies of the architecture numbers. */
cosmos_status cosmos_dit_write_header(cosmos_h5_t *h5, const struct cosmos_dit_config *cfg);
/* Reads and checks the root attributes of an open file and parses (validates) its config; the int64
 * copies must be present and agree with it. */
cosmos_status cosmos_dit_read_header(cosmos_h5_t *h5, struct cosmos_dit_config *cfg);
/* Strict check of the datasets: each expected one present with its shape and a bf16 or f32
 * element type, and no other dataset. Errors name the dataset, both shapes and a hint. Reads no
 * tensor data. */
cosmos_status cosmos_dit_check_weights(cosmos_h5_t *h5, const struct cosmos_dit_config *cfg);

#endif
