/* DV8x16x16 tokenizer encoder (spec components.md 2.3-2.7): video [3,T,H,W] in [-1,1] (T = 1+8k,
 * H and W multiples of 16) -> FSQ indices [T',H',W'] and codes [6,T',H',W'], fp32 on a host
 * backend (the CPU oracle). A first step of issue 5: weights are read by their official state-dict
 * names (spec 2.9, "encoder.*" and "quant_conv.*") from an HDF5 file of f32 or bf16 datasets (conv
 * weights flattened to [Cout, Cin*kt*kh*kw]: the HDF5 reader takes rank <= 4); the
 * config is filled by the caller (no JSON loader yet). Batch 1. */
#ifndef COSMOS_DV_ENCODER_H
#define COSMOS_DV_ENCODER_H

#include <stdint.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/status.h"

#include "core/model/dv_config.h"

/* Encodes one clip. video: host f32 [in_channels, T, H, W]. Outputs (caller-owned host memory):
 * latent f32 [embedding_dim, T', H', W'] (quant_conv output, before FSQ; may be NULL), indices
 * int32 [T'*H'*W'], codes f32 [embedding_dim, T'*H'*W'] (may be NULL), with T' = 1+(T-1)/8 (for
 * DV8x16x16), H' = H/16, W' = W/16 (cosmos_dv_latent_shape). Synchronous. Any backend with the
 * tokenizer ops (the CPU: f32; CUDA: bf16 activations and weights, the clip uploaded and the
 * outputs downloaded). A weight missing or misshaped in `weights` is COSMOS_ERR_FORMAT; a continuous
 * (cv_tokenizer) config is COSMOS_ERR_UNSUPPORTED (no CV encoder: unused at inference).
 * cosmos_dv_encode = cosmos_dv_encoder_open + cosmos_dv_encoder_run + cosmos_dv_encoder_free. */
cosmos_status cosmos_dv_encode(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                               const float *video, int64_t T, int64_t H, int64_t W, float *latent, int32_t *indices,
                               float *codes);

/* An encoder holding every layer's weights on its backend (read once from `weights`, which it does
 * not keep), for encoding clip after clip; cfg is copied. Errors as cosmos_dv_encode's, at open. */
typedef struct cosmos_dv_encoder cosmos_dv_encoder_t;
cosmos_status cosmos_dv_encoder_open(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                                     cosmos_dv_encoder_t **out);
/* One clip, as cosmos_dv_encode; the encoder keeps no state between clips. */
cosmos_status cosmos_dv_encoder_run(cosmos_dv_encoder_t *enc, const float *video, int64_t T, int64_t H, int64_t W,
                                    float *latent, int32_t *indices, float *codes);
const struct cosmos_dv_config *cosmos_dv_encoder_config(const cosmos_dv_encoder_t *enc);
void cosmos_dv_encoder_free(cosmos_dv_encoder_t *enc); /* NULL is a no-op */
#endif
