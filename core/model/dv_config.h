/* Video tokenizer configuration (spec components.md 2.2, 4.7): the numbers that shape the encoder
 * and decoder of a Cosmos discrete (DV8x16x16) or continuous (CV8x8x8) video tokenizer, with the
 * official key names of configs/models/cosmos-1.0-tokenizer-{dv8x16x16,cv8x8x8}.json ("levels" is
 * stored as fsq_levels), plus ours: model_type ("dv_tokenizer" or "cv_tokenizer": how `cosmos-ar
 * init` tells a tokenizer config apart, and which of the two it is), name, out_channels,
 * pixel_chunk_duration, height, width. Only what the official modules do is accepted:
 * patch_method "haar", num_groups 1, legacy_mode false, z_factor 1; DV: len(levels) ==
 * embedding_dim; CV (Cosmos-Tokenizer configs.py continuous_video): latent_channels instead of
 * embedding_dim/levels (no quantizer), formulation "AE" only, temporal_compression != 4 (the
 * official continuous tokenizer rewrites its decoder's channels_mult there). Unknown keys are
 * errors (jansson reports line and column). The two share one struct because the decoder (and the
 * encoder) are the same modules; `continuous` tells them apart. */
#ifndef COSMOS_DV_CONFIG_H
#define COSMOS_DV_CONFIG_H

#include <stdint.h>

#include "core/status.h"

#define COSMOS_DV_MAX_LEVELS 8
#define COSMOS_DV_MAX_FSQ_LEVELS 16

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
    int embedding_dim;                             /* 6 = number of FSQ levels (0 for a CV config) */
    int fsq_levels[COSMOS_DV_MAX_FSQ_LEVELS];      /* [8,8,8,5,5,5] ("levels" in the JSON) */
    int spatial_compression, temporal_compression; /* 16, 8 */
    /* added with the JSON loader; 0 in structs built by hand before it existed */
    char name[128];           /* "cosmos-1.0-tokenizer-dv8x16x16" */
    int out_channels;         /* 3 (decoder output channels; JSON default: in_channels; 0 = in_channels) */
    int pixel_chunk_duration; /* 33: frames per independently encoded chunk (0: not given) */
    int height, width;        /* 640, 1024: the clip size the pipeline feeds (0: not given) */
    /* added with the CV8x8x8 tokenizer (spec 4.7); 0 in DV configs */
    int continuous;      /* 1: "cv_tokenizer": the latent is continuous, no FSQ (embedding_dim 0, no levels) */
    int latent_channels; /* CV: 16, channels of the latent (quant_conv output, post_quant_conv input) */
};

#define COSMOS_DV_MODEL_TYPE "dv_tokenizer"
#define COSMOS_CV_MODEL_TYPE "cv_tokenizer"

/* Parts of a tokenizer: the encoder.jit half (encoder + quant_conv) and the decoder.jit half
 * (post_quant_conv + decoder); flags, so COSMOS_DV_BOTH = both. */
enum cosmos_dv_part {
    COSMOS_DV_ENCODER = 1,
    COSMOS_DV_DECODER = 2,
    COSMOS_DV_BOTH = 3,
};

/* The official DV8x16x16 config (spec 2.2), with name, out_channels 3, 33 frames of 640x1024. */
struct cosmos_dv_config cosmos_dv_config_dv8x16x16(void);

/* Channels of the latent between quant_conv and post_quant_conv: embedding_dim (the FSQ code
 * width) for a DV config, latent_channels for a CV config. */
int cosmos_dv_latent_channels(const struct cosmos_dv_config *cfg);

/* Load / parse and validate a config. `what` names the origin in messages (a path, "<file>:config").
 * On error *cfg is unspecified and the message names the key and the problem. */
cosmos_status cosmos_dv_config_load(const char *path, struct cosmos_dv_config *cfg);
cosmos_status cosmos_dv_config_parse(const char *json, const char *what, struct cosmos_dv_config *cfg);
/* JSON of every key (official names, "levels" for fsq_levels); parse() of it gives cfg back.
 * Caller frees; NULL on OOM. */
char *cosmos_dv_config_to_json(const struct cosmos_dv_config *cfg);
/* 1 when the JSON file at `path` has "model_type": "dv_tokenizer" (is_dv) / "cv_tokenizer" (is_cv),
 * 0 otherwise (also when unreadable or not a regular file, like cosmos_config_file_is_t5). */
int cosmos_config_file_is_dv(const char *path);
int cosmos_config_file_is_cv(const char *path);

/* Parameters of the given parts (spec 2.9: DV8x16x16 encoder + quant_conv 45 537 158,
 * post_quant_conv + decoder 65 361 136; spec 4.7: CV8x8x8 post_quant_conv + decoder 62 738 832).
 * Buffers (wavelets) and the CV latent statistics are not parameters. */
int64_t cosmos_dv_config_num_params(const struct cosmos_dv_config *cfg, enum cosmos_dv_part parts);

/* Down/up-sampling plan (spec 2.2 derived, 2.5, 2.8): the number of spatial and temporal halvings
 * (log2(compression) - log2(patch_size)), whether encoder level l (< n_levels-1) downsamples
 * spatially / temporally, and whether decoder level l (>= 1, module up.l) upsamples, by the
 * official non-legacy flag rule. */
int cosmos_dv_num_spatial_downs(const struct cosmos_dv_config *cfg);
int cosmos_dv_num_temporal_downs(const struct cosmos_dv_config *cfg);
void cosmos_dv_down_flags(const struct cosmos_dv_config *cfg, int level, int *spatial, int *temporal);
void cosmos_dv_up_flags(const struct cosmos_dv_config *cfg, int level, int *spatial, int *temporal);

/* Latent shape of a [*, T, H, W] clip under cfg. */
void cosmos_dv_latent_shape(const struct cosmos_dv_config *cfg, int64_t T, int64_t H, int64_t W, int64_t *Tl,
                            int64_t *Hl, int64_t *Wl);

#endif
