/* Diffusion-decoder DiT network (spec components.md 4.4: DiffusionDecoderGeneralDIT on GeneralDIT,
 * "FADITV2 7B", block_config FA-CA-MLP with AdaLN-LoRA): weight loading from a file of
 * core/model/dit_weights.h and one forward pass `net(c_in x_t, c_noise, context, tokens, fps)`,
 * batch 1, computed in the backend's activation dtype through backend ops (matmul, rmsnorm,
 * qk_norm_rope, attention, layernorm_modulate, gelu, add_gated, swish, add). The small
 * per-call preparation runs on the host: token-embedding gather + bilinear resize + channel concat
 * + patchify (steps 1-3), the RoPE tables (4), the timestep sinusoid (5), and the unpatchify (8).
 * Not here: EDM preconditioning, guidance and the sampler (spec 4.5, 4.6). Layouts are PyTorch's
 * without the batch dim: videos [C, T, H, W], context [L, crossattn_emb_channels], tokens
 * [T, Ht, Wt]. */
#ifndef COSMOS_DIT_MODEL_H
#define COSMOS_DIT_MODEL_H

#include <stdint.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/model/dit_config.h"
#include "core/status.h"

typedef struct cosmos_dit cosmos_dit_t;

/* Load the network from an open weight file for backend `be`. The file's datasets are checked
 * strictly against cfg (cosmos_dit_check_weights) and its config attribute must describe the same
 * network as cfg (sampling keys may differ). `be` and `h5` are kept by reference and must outlive
 * the model: on a host backend bf16 weights are used in place from the file's mapping. Caller owns
 * *out (cosmos_dit_free). Synchronous. */
cosmos_status cosmos_dit_load(cosmos_backend_t *be, cosmos_h5_t *h5, const struct cosmos_dit_config *cfg,
                              cosmos_dit_t **out);
void cosmos_dit_free(cosmos_dit_t *m); /* NULL is a no-op */
const struct cosmos_dit_config *cosmos_dit_get_config(const cosmos_dit_t *m);

/* One forward pass (spec 4.4 steps 1-8), synchronous, all arrays on the host, f32:
 *   x       [in_channels, T, H, W]: the network input c_in * x_t; H, W multiples of patch_spatial,
 *           T <= max_frames, H / patch_spatial <= max_img_h / patch_spatial (same for W);
 *   c_noise the EDM noise conditioning (0.25 ln sigma);
 *   context [L, crossattn_emb_channels] (the T5 embedding, padded rows included: all L rows are
 *           attended, no mask), or NULL for the unconditional branch (an all-zero context, whose
 *           cross-attention output is exactly 0: the CA sub-blocks are skipped);
 *   tokens  int32 [T, Ht, Wt] in [0, token_vocab_size), bilinearly upsampled to H x W
 *           (Ht <= H, Wt <= W), or NULL for the unconditional branch (every index 0);
 *   fps     frames per second of the clip (RoPE temporal positions t * 24 / fps);
 *   out     [out_channels, T, H, W] receives the network output (before c_out / c_skip).
 * The cross-attention K/V of a context are computed once and reused while later calls pass the
 * same context values (compared by content; the sampler alternates the prompt with NULL): one call
 * at a time per model (the cache is model state). Working memory is allocated per call on the
 * backend: about (6 D + mlp_hidden) activations per token (7B chunk: ~3.4 GB f32). */
cosmos_status cosmos_dit_forward(cosmos_dit_t *m, const float *x, int64_t T, int64_t H, int64_t W, float c_noise,
                                 const float *context, int64_t L, const int32_t *tokens, int64_t Ht, int64_t Wt,
                                 float fps, float *out);

/* Host helpers of the forward, exported for tests. */
/* Bilinear resize of src [C, Hi, Wi] to dst [C, Ho, Wo] with half-pixel centres
 * (F.interpolate(mode="bilinear", align_corners=False); also torchvision's resize for Ho >= Hi,
 * Wo >= Wi, where antialiasing changes nothing). */
void cosmos_dit_resize_bilinear(float *dst, const float *src, int64_t C, int64_t Hi, int64_t Wi, int64_t Ho,
                                int64_t Wo);
/* RoPE-3D tables of a T x Hp x Wp token grid (spec 4.4 step 4): cos_tab, sin_tab [T*Hp*Wp, Dh/2],
 * entry i of token (t, h, w) the angle [t' f_t (dim_t/2), h f_h (dim_h/2), w f_w (dim_w/2)][i] with
 * t' = t / fps * 24. */
cosmos_status cosmos_dit_rope_tables(const struct cosmos_dit_config *cfg, int64_t T, int64_t Hp, int64_t Wp,
                                     float fps, float *cos_tab, float *sin_tab);
/* Timestep sinusoid [model_channels] (spec 4.4 step 5): [cos(c_noise f_i), sin(c_noise f_i)],
 * f_i = exp(-ln(10000) i / (D/2)). */
void cosmos_dit_timestep_embedding(int64_t D, float c_noise, float *emb);

#endif
