/* Diffusion-decoder DiT configuration (spec components.md 4.1-4.4: Cosmos-1.0-Diffusion-7B-Decoder,
 * DiffusionDecoderGeneralDIT on GeneralDIT "FADITV2 7B"; 4.2/4.5/4.6: its sampling settings).
 * JSON keys are the official GeneralDIT / FADITV2Config names (model_channels, num_blocks,
 * num_heads, block_config, ...; diffusion_decoder_token_condition_{voc_size,dim} for the token
 * table) plus ours: model_type (must be "diffusion_decoder": how `cosmos-ar init` tells this config
 * apart), name, and the sampling keys sigma_data, guidance, sigma_min, sigma_max, num_steps,
 * overlap, dd_train_num_video_frames, fps, height, width (the pipeline's clip size in pixels).
 * Only what the official 7B decoder does is accepted: block_config "FA-CA-MLP", pos_emb_cls
 * "rope3d", use_adaln_lora, affline_emb_norm, concat_padding_mask and token conditioning true,
 * use_cross_attn_mask, extra_per_block_abs_pos_emb and sigma conditioning false, patch_temporal 1.
 * Anything else, and unknown keys, are errors naming the key (jansson reports line and column). */
#ifndef COSMOS_DIT_CONFIG_H
#define COSMOS_DIT_CONFIG_H

#include <stdint.h>

#include "core/status.h"

#define COSMOS_DIT_MODEL_TYPE "diffusion_decoder"

struct cosmos_dit_config {
    char name[128];
    /* architecture (official names) */
    int max_img_h, max_img_w, max_frames; /* 240, 240, 128: RoPE position range (latent pixels / frames) */
    int in_channels, out_channels;        /* 16, 16 latent channels */
    int patch_spatial, patch_temporal;    /* 2, 1 */
    int model_channels;                   /* D = 4096 */
    int num_blocks;                       /* 28 */
    int num_heads;                        /* 32 */
    double mlp_ratio;                     /* 4.0 */
    int crossattn_emb_channels;           /* 1024 (T5 width) */
    int adaln_lora_dim;                   /* 256 */
    double rope_h_extrapolation_ratio, rope_w_extrapolation_ratio, rope_t_extrapolation_ratio; /* 1.5, 1.5, 1 */
    int token_vocab_size;                 /* diffusion_decoder_token_condition_voc_size, 64000 */
    int token_dim;                        /* diffusion_decoder_token_condition_dim, 32 */
    /* sampling (spec 4.2, 4.5, 4.6) */
    double sigma_data;                    /* 0.5 */
    double guidance;                      /* 1.8 */
    double sigma_min, sigma_max;          /* 0.02, 80 */
    int num_steps;                        /* 15 */
    int overlap;                          /* 2 latent frames */
    int dd_train_num_video_frames;        /* 57 */
    int fps;                              /* 24: frames per second of the clip (RoPE time scale) */
    int height, width;                    /* 640, 1024 pixels */
    /* derived */
    int head_dim;                         /* model_channels / num_heads */
    int mlp_hidden;                       /* int(model_channels * mlp_ratio) */
    int rope_dim_h, rope_dim_w, rope_dim_t; /* head_dim // 6 * 2 (h, w), the rest (t): 42, 42, 44 */
    int patch_in_features;                /* (in_channels + token_dim + 1) * patch_spatial^2 * patch_temporal */
    int patch_out_features;               /* patch_spatial^2 * patch_temporal * out_channels */
};

/* Load / parse and validate a config. `source` names the origin in messages (a path,
 * "<file>: attribute 'config'"). On error *cfg is unspecified and the message names the key. */
cosmos_status cosmos_dit_config_load(const char *path, struct cosmos_dit_config *cfg);
cosmos_status cosmos_dit_config_parse(const char *json, const char *source, struct cosmos_dit_config *cfg);
/* JSON of every key (official names); parse() of it gives cfg back. Caller frees; NULL on OOM. */
char *cosmos_dit_config_to_json(const struct cosmos_dit_config *cfg);
/* 1 when the JSON file at `path` has "model_type": "diffusion_decoder", 0 otherwise (also when
 * unreadable or not a regular file, like cosmos_config_file_is_t5). */
int cosmos_config_file_is_dit(const char *path);

/* Parameters of the network weight file (spec 4.4: 255 853 056 per 7B block, ~7.24 B in all with
 * the 64000 x 32 token table), counted from the module structure. */
int64_t cosmos_dit_config_num_params(const struct cosmos_dit_config *cfg);
/* Parameters of one transformer block (FA + CA + MLP sub-blocks with their AdaLN-LoRA heads). */
int64_t cosmos_dit_config_block_params(const struct cosmos_dit_config *cfg);

#endif
