/* Random-weight DV / CV tokenizer files: `cosmos-ar init` with a "model_type": "dv_tokenizer" or
 * "cv_tokenizer" config (docs/weights.md "DV tokenizer files", "CV tokenizer files"). Same
 * distribution as the PyTorch reference's init_random (tools/reference/dv_tokenizer_ref.py), drawn
 * from the counter-based RNG: conv weights N(0, 1/fan_in) with fan_in = Cin*kt*kh*kw, conv biases
 * 0.1 N(0,1), GroupNorm gamma 1 + 0.1 N(0,1) and beta 0.1 N(0,1) (so a parity test sees a swapped
 * or ignored norm parameter),
 * all rounded to bf16; element i of tensor j (its index in cosmos_dv_weight_specs order of the
 * written parts) is a pure function of (seed, j, i). The decoder part also gets the wavelets buffer
 * as the official bf16 modules hold it: bf16 [a, a], a = bf16(1/sqrt(2)) = 0.70703125.
 * A CV ("cv_tokenizer") config also gets random latent statistics (spec 4.7, mean_std.pt; f32
 * [latent_channels, COSMOS_CV_INIT_STATS_FRAMES]): mean 0.1 N(0,1) (stream n), std uniform in
 * [0.5, 1.5) (stream n+1), n = the number of weight tensors. `cosmos-ar init` writes the decoder part
 * only for CV (the encoder is never used at inference).
 * The file is written to a temporary name and renamed when complete. */
#ifndef COSMOS_DV_INIT_H
#define COSMOS_DV_INIT_H

#include <stdint.h>

#include "core/model/dv_config.h"
#include "core/status.h"

/* Writes the tensors of `parts` (COSMOS_DV_BOTH for `cosmos-ar init`) to out_path. Synchronous;
 * memory stays at the size of the largest tensor. */
cosmos_status cosmos_dv_init_random(const struct cosmos_dv_config *cfg, uint64_t seed, enum cosmos_dv_part parts,
                                    const char *out_path);

#endif
