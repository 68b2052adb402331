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

#define COSMOS_DV_MAX_LEVELS 8

struct cosmos_dv_config {
    int in_channels;                               /* 3 */
    int channels;                                  /* 128 */
    int n_levels;                                  /* len(channels_mult) = 3 */
    int channels_mult[COSMOS_DV_MAX_LEVELS];       /* [2,4,4] */
    int num_res_blocks;                            /* 2 */
    int n_attn_resolutions;                        /* 1 */
    int attn_resolutions[COSMOS_DV_MAX_LEVELS];    /* [32] */
    int resolution;                                /* 1024 */
    int patch_size;                                /* 4 */
    int z_channels;                                /* 16 */
    int embedding_dim;                             /* 6 = number of FSQ levels */
    int fsq_levels[16];                            /* [8,8,8,5,5,5] */
    int spatial_compression, temporal_compression; /* 16, 8 */
};
/* The official DV8x16x16 config (spec 2.2). */
struct cosmos_dv_config cosmos_dv_config_dv8x16x16(void);

/* Encodes one clip. video: host f32 [in_channels, T, H, W]. Outputs (caller-owned host memory):
 * latent f32 [embedding_dim, T', H', W'] (quant_conv output, before FSQ; may be NULL), indices
 * int32 [T'*H'*W'], codes f32 [embedding_dim, T'*H'*W'] (may be NULL), with T' = 1+(T-1)/8 (for
 * DV8x16x16), H' = H/16, W' = W/16 (cosmos_dv_latent_shape). Synchronous. The backend must be a
 * host backend (the CPU one); a weight missing or misshaped in `weights` is COSMOS_ERR_FORMAT. */
cosmos_status cosmos_dv_encode(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                               const float *video, int64_t T, int64_t H, int64_t W, float *latent, int32_t *indices,
                               float *codes);
/* Latent shape of a [*, T, H, W] clip under cfg. */
void cosmos_dv_latent_shape(const struct cosmos_dv_config *cfg, int64_t T, int64_t H, int64_t W, int64_t *Tl,
                            int64_t *Hl, int64_t *Wl);

#endif
