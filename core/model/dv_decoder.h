/* Video tokenizer decoders, fp32 on a host backend (the CPU oracle), batch 1:
 *  - DV8x16x16 (spec components.md 2.4, 2.5, 2.7, 2.8): FSQ indices [T',H',W'] -> video;
 *  - CV8x8x8 (spec 4.7, the continuous tokenizer after the diffusion decoder): a continuous latent
 *    [latent_channels, T', H', W'] -> video. Same modules after the front end (post_quant_conv
 *    latent_channels -> z_channels, then the decoder with the CV up-sampling flags: up.2 none,
 *    up.1 temporal + spatial). The de-normalisation by mean_std (z = x/0.5*std + mean) is the
 *    caller's (cosmos_cv_latent_stats, dv_weights.h): the latent given here is what decoder.jit takes.
 * Video [3,T,H,W] in ~[-1,1] (before clamping), T = 1 + temporal_compression*(T'-1),
 * H = spatial_compression*H', W = spatial_compression*W'. Whole clip (cosmos_dv_decode /
 * cosmos_cv_decode) or causal streaming, one latent frame at a time (cosmos_dv_stream_*), with the
 * same pixels. Weights are read by their official state-dict names (spec 2.9, Appendix A.2/A.3:
 * "post_quant_conv.*", "decoder.*") from an HDF5 file of f32 or bf16 datasets (conv weights
 * flattened to [Cout, Cin*kt*kh*kw]); the Haar taps come from the dataset
 * "decoder.unpatcher3d.wavelets" when present (spec 2.4). Unused weights (the never-called
 * up-sampler convs of CT-built files, the CV latent statistics) are ignored. */
#ifndef COSMOS_DV_DECODER_H
#define COSMOS_DV_DECODER_H

#include <stdint.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/status.h"

#include "core/model/dv_config.h"

/* Pixel shape of a latent [Tl,Hl,Wl] under cfg: T = 1 + temporal_compression*(Tl-1),
 * H = Hl*spatial_compression, W = Wl*spatial_compression. */
void cosmos_dv_video_shape(const struct cosmos_dv_config *cfg, int64_t Tl, int64_t Hl, int64_t Wl, int64_t *T,
                           int64_t *H, int64_t *W);

/* Decodes one clip. indices: host int32 [Tl*Hl*Wl] (T-major, as the AR model emits them), each in
 * [0, prod(fsq_levels)) = [0, 64000). video_out: caller-owned host f32 [3, T, H, W]
 * (cosmos_dv_video_shape), the raw decoder output before any clamping. Synchronous. The backend
 * must be a host backend (UNSUPPORTED otherwise); an index out of range is INVALID_ARG; a weight
 * missing or misshaped in `weights` is FORMAT (the message names the key). Runs the streaming
 * code path on the whole clip as one chunk. */
cosmos_status cosmos_dv_decode(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                               const int32_t *indices, int64_t Tl, int64_t Hl, int64_t Wl, float *video_out);

/* Decodes one continuous latent (CV tokenizer, cfg->continuous). latent: host f32
 * [latent_channels, Tl, Hl, Wl] (channel-major, as decoder.jit takes it without the batch dim;
 * borrowed, read only), every value finite. video_out: caller-owned host f32 [3, T, H, W]
 * (cosmos_dv_video_shape: T = 1 + 8*(Tl-1), H = 8*Hl for CV8x8x8), the raw output before clamping.
 * Synchronous. Errors as cosmos_dv_decode; a non-finite latent value or a DV config is INVALID_ARG
 * (and cosmos_dv_decode refuses a CV config). The diffusion decoder decodes chunks of 8 latent
 * frames (57 pixel frames) one call each. */
cosmos_status cosmos_cv_decode(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                               const float *latent, int64_t Tl, int64_t Hl, int64_t Wl, float *video_out);

/* Causal streaming decoder: latent frame k is decoded as soon as its tokens exist, with per-layer
 * state (temporal conv inputs, temporal attention K/V, upsample and unpatcher frame bookkeeping),
 * giving the frames cosmos_dv_decode gives for the same clip. A stream opened with a CV config
 * takes cosmos_cv_stream_push, a DV one cosmos_dv_stream_push (the other push is INVALID_ARG). */
typedef struct cosmos_dv_stream cosmos_dv_stream_t;

/* Loads every decoder weight from `weights` (read only here: the file may be closed afterwards)
 * for latent frames of Hl x Wl and at most Tl_max latent frames. `be` is borrowed and must outlive
 * the stream. *out is owned by the caller (cosmos_dv_stream_free). Errors as cosmos_dv_decode. */
cosmos_status cosmos_dv_stream_open(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                                    int64_t Hl, int64_t Wl, int64_t Tl_max, cosmos_dv_stream_t **out);
/* Decodes the next latent frame. indices: int32 [Hl*Wl]. frames_out: caller-owned f32 with room
 * for [3, temporal_compression, H, W]; receives [3, n, H, W] with *n_frames_out = n = 1 for the
 * first latent frame and temporal_compression for each later one (pixel frames
 * 1 + tc*(k-1) .. tc*k of the clip). Synchronous. A push beyond Tl_max or an index out of range is
 * INVALID_ARG and leaves the stream as it was; after any other error the stream is unusable
 * (later pushes fail with INTERNAL). */
cosmos_status cosmos_dv_stream_push(cosmos_dv_stream_t *s, const int32_t *indices, float *frames_out,
                                    int *n_frames_out);
/* The CV counterpart of cosmos_dv_stream_push: latent f32 [latent_channels, Hl, Wl] of the next
 * latent frame (finite values); same outputs, same errors (a non-finite value is INVALID_ARG and
 * leaves the stream as it was). Gives the frames cosmos_cv_decode gives. */
cosmos_status cosmos_cv_stream_push(cosmos_dv_stream_t *s, const float *latent, float *frames_out, int *n_frames_out);
/* Latent frames pushed so far. */
int64_t cosmos_dv_stream_position(const cosmos_dv_stream_t *s);
void cosmos_dv_stream_free(cosmos_dv_stream_t *s); /* NULL is a no-op */

/* Decoded video [3,T,H,W] -> uint8 RGB frames [T,H,W,3] as the official pipeline saves them
 * (spec 1 steps 6 and 8): v = clamp(x*0.5+0.5, 0, 1), then (uint8)(v*255) by truncation, in f32.
 * NaN maps to 0. Returns how many values were NaN or infinite: a decoder that makes them has broken
 * weights, and callers refuse such frames rather than write them (user need 6 of spec
 * performance-and-peers.md: NaN detection). */
int64_t cosmos_dv_video_to_u8(const float *video, int64_t T, int64_t H, int64_t W, uint8_t *rgb);

#endif
