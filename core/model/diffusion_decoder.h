/* The diffusion decoder end to end (spec components.md 4.2-4.8): DV8x16x16 tokens -> chunks of
 * latent frames with overlap (reflect-padded at the end) -> per chunk, the guided EDM denoiser on
 * the DiT (core/model/dit_model.h) driven by the 2ab sampler (core/model/dd_sampler.h) from seeded
 * noise -> de-normalised with the CV tokenizer's latent statistics -> CV8x8x8 decoder
 * (cosmos_cv_decode) -> clamp(-1, 1) -> chunks joined in pixel frames -> the clip's first T frames.
 *
 * Layouts (no batch dim): tokens int32 [Tl, Ht, Wt] (the AR model's order); latent states f32
 * [C, T, Hl, Wl] with Hl = H / cv spatial compression; context f32 [L, crossattn_emb_channels];
 * videos f32 [3, T, H, W] in [-1, 1].
 *
 * Deviations from the official code (docs/diffusion-decoder.md): f32 arithmetic from bf16 weights
 * except sigma (rounded to bf16, spec 4.5) and the context (rounded to bf16 as the official pipeline
 * hands it over, spec 4.2; cosmos_diffusion_decoder_run does it); our own Gaussian noise (Philox, seed 1 by default, the
 * same noise for every chunk as the official fixed seed gives); the noise state has as many latent
 * frames as a chunk (the official passes the spatial compression ratio, 8, which equals the chunk
 * length of the 7B decoder, spec 4.2); no DV decode of the chunk for the unused "corrupted pixel"
 * (spec 4.2: wasted work); the unconditional forward is skipped when guidance is 0.
 *
 * Classifier-free-guidance parallelism (spec 4.3: two full DiT forwards per denoiser call; docs/
 * diffusion-decoder.md "CFG parallelism"): with a host-memory communicator of 2 ranks (cfg_comm),
 * rank 0 runs the conditional forward and rank 1 the unconditional one at the same time, every rank
 * holding the whole DiT; the two network outputs are exchanged exactly (allgather of the f32 bits)
 * and every rank combines them with the same code as one process, so all ranks keep bit-identical
 * sampler states, bitwise equal to a one-process run on the same machine. Every rank must make the
 * same calls with the same arguments (a different state size is detected and refused on all ranks;
 * different values are not). */
#ifndef COSMOS_DIFFUSION_DECODER_H
#define COSMOS_DIFFUSION_DECODER_H

#include <stdint.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/model/dd_sampler.h"
#include "core/model/dit_model.h"
#include "core/model/dv_config.h"
#include "core/status.h"
#include "parallel/comm.h"

/* What one decode does; cosmos_diffusion_decoder_params_default fills it from a DiT config. */
struct cosmos_diffusion_decoder_params {
    double guidance;                         /* 1.8: x0 = x0_c + g (x0_c - x0_u) */
    struct cosmos_dd_sampler_params sampler; /* 15 steps, sigma 80 -> 0.02, rho 7 */
    int overlap;                             /* 2 latent frames between chunks (2 pixel frames when joined) */
    int chunk_frames;                        /* latent frames per chunk: (dd_train_num_video_frames - 1) / 8 + 1 */
    float fps;                               /* 24 */
    uint64_t seed;                           /* 1: the noise of every chunk */
    cosmos_comm_t *cfg_comm;                 /* NULL (default): one process runs both guidance branches;
                                                else CFG parallelism over its ranks (borrowed; size 1 =
                                                serial, 2 = one branch per rank, more is refused) */
};
struct cosmos_diffusion_decoder_params cosmos_diffusion_decoder_params_default(const struct cosmos_dit_config *cfg);

/* The guided EDM denoiser D(x_t, sigma) (spec 4.3, 4.5): with sigma rounded to bf16,
 * x0 = c_skip x_t + c_out net(c_in x_t, c_noise, context, tokens), for the prompt's context and
 * tokens (conditional) and for a zero context with all-zero tokens (unconditional), combined as
 * x0_c + guidance (x0_c - x0_u). x_t, x0: host f32 [in_channels, T, H, W] (x0 may not alias x_t).
 * context [L, crossattn_emb_channels] is required (base models pass the generic prompt's
 * embedding, spec 4.1 aux_vars). Synchronous; allocates the network input and two outputs per call.
 * cfg_comm: NULL or of size 1 = this process runs both forwards. Of size 2 (collective: every rank
 * calls with the same arguments): rank 0 runs the conditional forward, rank 1 the unconditional
 * one, the outputs are exchanged and every rank returns the same x0, bitwise what cfg_comm NULL
 * gives. guidance 0 needs no unconditional forward: then every rank runs the conditional forward
 * itself, no exchange, no speed-up (each rank returns its own status). Otherwise a failing rank
 * (its arguments, allocations or forward, or a state size unlike the other's) makes every rank
 * fail with its status (no hang). INVALID_ARG for a size above 2, UNSUPPORTED for a device-memory
 * (NCCL) communicator. */
cosmos_status cosmos_dit_denoise(cosmos_dit_t *m, double guidance, cosmos_comm_t *cfg_comm, const float *x_t,
                                 int64_t T, int64_t H, int64_t W, double sigma, const float *context, int64_t L,
                                 const int32_t *tokens, int64_t Ht, int64_t Wt, float fps, float *x0);

/* The sampler over D from x_init (host f32 [in_channels, T, H, W], noise already scaled by
 * sigma_max): num_steps + 1 denoiser calls (spec 4.6) with p->guidance and p->cfg_comm; out
 * receives the final x0 (may alias x_init). Synchronous; collective over p->cfg_comm (every rank
 * gets the same out). */
cosmos_status cosmos_dit_sample(cosmos_dit_t *m, const struct cosmos_diffusion_decoder_params *p,
                                const float *x_init, int64_t T, int64_t H, int64_t W, const float *context, int64_t L,
                                const int32_t *tokens, int64_t Ht, int64_t Wt, float *out);

typedef struct cosmos_diffusion_decoder cosmos_diffusion_decoder_t;

/* Opens the DiT file (model_type "diffusion_decoder") on backend `dit_be` (any backend with the
 * DiT's ops: the CPU, or a GPU) and the CV tokenizer file (model_type "cv_tokenizer" with the
 * decoder part and mean_std) for backend `cv_be` (the CPU or a GPU; the two may be the same
 * backend): headers and datasets are checked strictly, the DiT weights are loaded. The backends and
 * files are borrowed and must outlive the decoder. Errors name the file and the problem (FORMAT
 * for a wrong file; a latent channel count of the CV tokenizer other than the DiT's in/out
 * channels is INVALID_ARG). */
cosmos_status cosmos_diffusion_decoder_open(cosmos_backend_t *dit_be, cosmos_backend_t *cv_be, cosmos_h5_t *dit_file,
                                            cosmos_h5_t *cv_file, cosmos_diffusion_decoder_t **out);
void cosmos_diffusion_decoder_free(cosmos_diffusion_decoder_t *d); /* NULL is a no-op */
const struct cosmos_dit_config *cosmos_diffusion_decoder_dit_config(const cosmos_diffusion_decoder_t *d);
const struct cosmos_dv_config *cosmos_diffusion_decoder_cv_config(const cosmos_diffusion_decoder_t *d);

/* Decodes one clip: tokens int32 [Tl, Ht, Wt] (each in [0, token vocab)), for a clip of H x W
 * pixels (multiples of cv spatial compression * patch_spatial; Ht <= H / cv spatial, Wt likewise),
 * context as cosmos_dit_denoise; video: caller-owned f32 [3, T_out, H, W] receives the first T_out
 * frames of the joined chunks (T_out <= what the chunks give: 1 + 8 (chunk_frames - 1) frames each,
 * minus overlap per join). Synchronous; holds every decoded chunk until the join (3 x 57 x H x W
 * f32 each). INVALID_ARG names the bad argument (shapes, a token out of range, too few latent
 * frames for one chunk).
 * With p->cfg_comm of size 2 (collective: every rank calls with the same arguments, the files of
 * the same decoder): every rank runs the samplers (cosmos_dit_denoise), only rank 0 de-normalises,
 * CV-decodes and joins the chunks into `video`; on rank 1 `video` is not touched (it may be NULL
 * there) and the call returns when rank 0 is done, with rank 0's status (every rank returns the
 * same status). Rank 0's video is bitwise what cfg_comm NULL gives. */
cosmos_status cosmos_diffusion_decoder_run(cosmos_diffusion_decoder_t *d, const struct cosmos_diffusion_decoder_params *p,
                                           const int32_t *tokens, int64_t Tl, int64_t Ht, int64_t Wt, int64_t H,
                                           int64_t W, const float *context, int64_t L, int64_t T_out, float *video);

#endif
