/* DV tokenizer configuration (spec components.md 2.2): the numbers that shape the encoder and
 * decoder of a Cosmos discrete video tokenizer, with the official key names of
 * configs/models/cosmos-1.0-tokenizer-dv8x16x16.json. */
#ifndef COSMOS_DV_CONFIG_H
#define COSMOS_DV_CONFIG_H

#include <stdint.h>

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

/* Latent shape of a [*, T, H, W] clip under cfg. */
void cosmos_dv_latent_shape(const struct cosmos_dv_config *cfg, int64_t T, int64_t H, int64_t W, int64_t *Tl,
                            int64_t *Hl, int64_t *Wl);


#endif
