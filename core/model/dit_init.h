/* Random-weight diffusion-decoder DiT files: `cosmos-ar init` with a "model_type":
 * "diffusion_decoder" config (docs/weights.md "Diffusion decoder files"; spec components.md 4.4).
 * bf16 tensors drawn from the counter-based RNG, element i of tensor j (its index in
 * cosmos_dit_weight_specs order) a pure function of (seed, j, i), scaled so activations stay O(1):
 * Linear weights N(0, 1/fan_in), except the second AdaLN-LoRA linears (the modulation heads) at
 * 0.5/sqrt(fan_in) so that (1 + scale) and the gates stay near 1; RMSNorm weights 1 + 0.1 N(0,1)
 * (a swapped or ignored norm weight shows in a parity test); token table N(0, 1).
 * The file is written to a temporary name and renamed when complete. */
#ifndef COSMOS_DIT_INIT_H
#define COSMOS_DIT_INIT_H

#include <stdint.h>

#include "core/model/dit_config.h"
#include "core/status.h"

/* Synchronous; memory stays at the size of the largest tensor. */
cosmos_status cosmos_dit_init_random(const struct cosmos_dit_config *cfg, uint64_t seed, const char *out_path);

#endif
