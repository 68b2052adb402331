/* DV8x16x16 tokenizer encoder forward (spec components.md 2.4-2.7), batch 1.
 * Topology (2.6): Haar patcher -> conv_in (1,3,3)+(3,1,1) -> per level num_res_blocks ResBlocks
 * (each followed by spatial+temporal attention when the level's resolution is in
 * attn_resolutions) and a hybrid downsample on every level but the last (spatial on levels
 * < log2(spatial_compression/patch), temporal on levels < log2(temporal_compression/patch)) ->
 * mid ResBlock, attention pair, ResBlock -> norm_out, swish, conv_out (1,3,3)+(3,1,1) -> quant_conv
 * 1x1x1 -> FSQ. The shared blocks (weight loading, convs, norm, ResBlock, attention) are in
 * dv_blocks.c. An encoder object (cosmos_dv_encoder_open) holds every layer's weights where its
 * backend computes (45.5 M parameters for DV8x16x16: 182 MB f32 on the CPU, 91 MB bf16 on a GPU),
 * so a pipeline encodes clip after clip without reading, converting, allocating and uploading them
 * again; cosmos_dv_encode is open + encode + free. Every step is a backend op (Haar, convs, norms,
 * swish, adds, the single-head attention, the downsample's pools, FSQ), so the encoder runs on any
 * backend: on a host one on the caller's f32 clip in place; on a device (CUDA: bf16 activations,
 * weights rounded to bf16) the clip is uploaded and the latent, indices and codes downloaded.
 * Activation buffers are reused through a pool (dv_blocks.h), emptied after each clip. */
#include "core/model/dv_encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/model/dv_blocks.h"

/* One encoder level (encoder.down.<l>): its ResBlocks, their attention pairs where the level's
 * resolution is an attention one, and its CausalHybridDownsample3d (2.5) unless it is the last. */
struct down_level {
    int n_blocks, has_attn, spatial, temporal;
    struct dv_resblock *block;  /* [n_blocks] */
    struct dv_attn_pair *attn;  /* [n_blocks] when has_attn */
    struct dv_conv conv1, conv2, conv3; /* downsample: spatial (1,3,3) s2, temporal (3,1,1) ts2, 1x1x1 */
};

struct cosmos_dv_encoder {
    struct dv_ctx ctx;
    struct cosmos_dv_config cfg;
    struct dv_conv conv_in[2], conv_out[2], quant_conv;
    struct down_level down[COSMOS_DV_MAX_LEVELS];
    struct dv_resblock mid_block_1, mid_block_2;
    struct dv_attn_pair mid_attn;
    struct dv_norm norm_out;
    struct dv_pool pool; /* ctx.pool: activation buffers reused within a clip, emptied after it */
};

/* The downsample's convs: conv1 (1,3,3) stride 2 on the input zero-padded right/bottom by 1; conv2
 * (3,1,1) time-stride 2 after one copy of frame 0 in front (its causal pad prepends one more). */
static struct cosmos_conv3d_params down_conv1_params(void) {
    struct cosmos_conv3d_params p = {1, 3, 3, 0, 1, 2, 0, 1};
    return p;
}
static struct cosmos_conv3d_params down_conv2_params(void) {
    struct cosmos_conv3d_params p = cosmos_conv3d_params_causal(3, 1, 1, 2, 1, 0);
    p.time_pad += 1;
    return p;
}

/* CausalHybridDownsample3d (2.5): each conv branch plus its average pool, then the 1x1x1 conv. */
static cosmos_status downsample(const struct dv_ctx *e, struct down_level *lv, struct dv_act *x) {
    cosmos_status st = COSMOS_OK;
    struct dv_act y = {0};
    if (!lv->spatial && !lv->temporal) return COSMOS_OK;
    if (lv->spatial) {
        CHECK(dv_conv_run(e, &lv->conv1, &y, x));
        CHECK(cosmos_op_pool_add(e->be, dv_tensor(&y), dv_tensor(x), 0));
        dv_act_move(e, x, &y);
    }
    if (lv->temporal) {
        CHECK(dv_conv_run(e, &lv->conv2, &y, x));
        CHECK(cosmos_op_pool_add(e->be, dv_tensor(&y), dv_tensor(x), 1));
        dv_act_move(e, x, &y);
    }
    CHECK(dv_conv_apply(e, &lv->conv3, x));
fail:
    dv_act_free(e, &y);
    return st;
}

void cosmos_dv_encoder_free(cosmos_dv_encoder_t *enc) {
    if (!enc) return;
    dv_conv_free(&enc->conv_in[0]), dv_conv_free(&enc->conv_in[1]);
    for (int l = 0; l < COSMOS_DV_MAX_LEVELS; l++) {
        struct down_level *lv = &enc->down[l];
        for (int b = 0; b < lv->n_blocks; b++) {
            if (lv->block) dv_resblock_free(&lv->block[b]);
            if (lv->attn) dv_attn_pair_free(&lv->attn[b]);
        }
        free(lv->block), free(lv->attn);
        dv_conv_free(&lv->conv1), dv_conv_free(&lv->conv2), dv_conv_free(&lv->conv3);
    }
    dv_resblock_free(&enc->mid_block_1), dv_resblock_free(&enc->mid_block_2);
    dv_attn_pair_free(&enc->mid_attn);
    dv_norm_free(&enc->norm_out);
    dv_conv_free(&enc->conv_out[0]), dv_conv_free(&enc->conv_out[1]);
    dv_conv_free(&enc->quant_conv);
    dv_pool_free(&enc->pool);
    free(enc);
}

cosmos_status cosmos_dv_encoder_open(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                                     cosmos_dv_encoder_t **out) {
    cosmos_status st = COSMOS_OK;
    cosmos_dv_encoder_t *enc = NULL;
    char name[256];
    *out = NULL;
    CHECK_ARG(!cfg->continuous, COSMOS_ERR_UNSUPPORTED,
              "dv encoder: config '%s' is a cv_tokenizer: the continuous (CV8x8x8) encoder is not implemented (the "
              "pipeline never encodes with it, spec 4.1)",
              cfg->name);
    CHECK_ARG(cfg->n_levels >= 1 && cfg->n_levels <= COSMOS_DV_MAX_LEVELS && cfg->num_res_blocks >= 0 &&
                  cfg->channels > 0 && cfg->in_channels > 0 && cfg->patch_size >= 1,
              COSMOS_ERR_INVALID_ARG, "dv encoder: bad config '%s' (%d levels, %d res blocks, %d channels)", cfg->name,
              cfg->n_levels, cfg->num_res_blocks, cfg->channels);
    enc = calloc(1, sizeof *enc);
    CHECK_ALLOC(enc);
    enc->cfg = *cfg;
    enc->pool.be = be;
    enc->ctx = (struct dv_ctx){be, weights, "dv encoder", 0, &enc->pool};
    const struct dv_ctx *e = &enc->ctx;
    int64_t C = cfg->in_channels;
    for (int q = cfg->patch_size; q > 1; q /= 2) C *= 8; /* the patcher's channels */
    CHECK(dv_convfact_load(e, enc->conv_in, "encoder.conv_in", C, cfg->channels));
    C = cfg->channels;
    int curr_res = cfg->resolution / cfg->patch_size;
    for (int l = 0; l < cfg->n_levels; l++) {
        struct down_level *lv = &enc->down[l];
        const int64_t cout = (int64_t)cfg->channels * cfg->channels_mult[l];
        for (int a = 0; a < cfg->n_attn_resolutions; a++) lv->has_attn |= cfg->attn_resolutions[a] == curr_res;
        lv->block = calloc((size_t)(cfg->num_res_blocks > 0 ? cfg->num_res_blocks : 1), sizeof *lv->block);
        CHECK_ALLOC(lv->block);
        if (lv->has_attn) {
            lv->attn = calloc((size_t)(cfg->num_res_blocks > 0 ? cfg->num_res_blocks : 1), sizeof *lv->attn);
            CHECK_ALLOC(lv->attn);
        }
        for (int b = 0; b < cfg->num_res_blocks; b++) {
            lv->n_blocks = b + 1; /* what the free walks */
            snprintf(name, sizeof name, "encoder.down.%d.block.%d", l, b);
            CHECK(dv_resblock_load(e, &lv->block[b], name, C, cout));
            C = cout;
            if (lv->has_attn) {
                snprintf(name, sizeof name, "encoder.down.%d.attn.%d", l, b);
                CHECK(dv_attn_pair_load(e, &lv->attn[b], name, C));
            }
        }
        if (l != cfg->n_levels - 1) {
            cosmos_dv_down_flags(cfg, l, &lv->spatial, &lv->temporal);
            if (lv->spatial) {
                snprintf(name, sizeof name, "encoder.down.%d.downsample.conv1", l);
                CHECK(dv_conv_load(e, &lv->conv1, name, C, C, down_conv1_params()));
            }
            if (lv->temporal) {
                snprintf(name, sizeof name, "encoder.down.%d.downsample.conv2", l);
                CHECK(dv_conv_load(e, &lv->conv2, name, C, C, down_conv2_params()));
            }
            if (lv->spatial || lv->temporal) {
                snprintf(name, sizeof name, "encoder.down.%d.downsample.conv3", l);
                CHECK(dv_conv_load(e, &lv->conv3, name, C, C, cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0)));
            }
            curr_res /= 2;
        }
    }
    CHECK(dv_resblock_load(e, &enc->mid_block_1, "encoder.mid.block_1", C, C));
    CHECK(dv_attn_pair_load(e, &enc->mid_attn, "encoder.mid.attn_1", C));
    CHECK(dv_resblock_load(e, &enc->mid_block_2, "encoder.mid.block_2", C, C));
    CHECK(dv_norm_load(e, &enc->norm_out, "encoder.norm_out", C));
    CHECK(dv_convfact_load(e, enc->conv_out, "encoder.conv_out", C, cfg->z_channels));
    CHECK(dv_conv_load(e, &enc->quant_conv, "quant_conv", cfg->z_channels, cfg->embedding_dim,
                       cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0)));
    enc->ctx.h5 = NULL; /* every weight is loaded: the file is the caller's again */
    *out = enc;
    enc = NULL;
fail:
    cosmos_dv_encoder_free(enc);
    return st;
}

const struct cosmos_dv_config *cosmos_dv_encoder_config(const cosmos_dv_encoder_t *enc) { return &enc->cfg; }

cosmos_status cosmos_dv_encoder_run(cosmos_dv_encoder_t *enc, const float *video, int64_t T, int64_t H, int64_t W,
                                    float *latent, int32_t *indices, float *codes) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_dv_config *cfg = &enc->cfg;
    const struct dv_ctx *e = &enc->ctx;
    cosmos_backend_t *be = e->be;
    const int host = cosmos_backend_is_host(be);
    struct dv_act x = {0}, in = {0}, cd = {0};
    void *d_idx = NULL;
    const int p = cfg->patch_size;
    CHECK_ARG(T >= 1 && H > 0 && W > 0 && H % cfg->spatial_compression == 0 && W % cfg->spatial_compression == 0,
              COSMOS_ERR_INVALID_ARG, "dv encoder: clip %lldx%lldx%lld: need T >= 1 and H, W multiples of %d",
              (long long)T, (long long)H, (long long)W, cfg->spatial_compression);
    CHECK_ARG((T - 1) % cfg->temporal_compression == 0, COSMOS_ERR_INVALID_ARG,
              "dv encoder: %lld frames; the frame count must be 1 + %d*k", (long long)T, cfg->temporal_compression);

    /* patcher (on a host backend the clip is read in place; a device gets a copy) */
    if (host)
        in.d = (float *)video, in.C = cfg->in_channels, in.T = T, in.H = H, in.W = W;
    else
        CHECK(dv_act_upload(e, &in, video, cfg->in_channels, T, H, W));
    {
        int64_t C = in.C, Tp = T + p - 1;
        for (int q = p; q > 1; q /= 2) C *= 8, Tp = (Tp + 1) / 2;
        CHECK(dv_act_new(e, &x, C, Tp, H / p, W / p));
        CHECK(cosmos_op_haar_patch(be, dv_tensor(&x), dv_tensor(&in), p, COSMOS_HAAR_TAP));
    }
    CHECK(dv_convfact_apply(e, enc->conv_in, &x));
    for (int l = 0; l < cfg->n_levels; l++) {
        struct down_level *lv = &enc->down[l];
        for (int b = 0; b < lv->n_blocks; b++) {
            CHECK(dv_resblock_run(e, &lv->block[b], &x));
            if (lv->has_attn) CHECK(dv_attn_pair_run(e, &lv->attn[b], &x));
        }
        CHECK(downsample(e, lv, &x));
    }
    CHECK(dv_resblock_run(e, &enc->mid_block_1, &x));
    CHECK(dv_attn_pair_run(e, &enc->mid_attn, &x));
    CHECK(dv_resblock_run(e, &enc->mid_block_2, &x));
    CHECK(dv_norm_run(e, &enc->norm_out, &x, &x));
    CHECK(cosmos_op_swish(be, dv_tensor(&x), dv_tensor(&x)));
    CHECK(dv_convfact_apply(e, enc->conv_out, &x));
    CHECK(dv_conv_apply(e, &enc->quant_conv, &x));

    const int64_t N = x.T * x.H * x.W;
    if (latent) CHECK(dv_act_download(&x, latent));
    CHECK(dv_act_new(e, &cd, x.C, x.T, x.H, x.W));
    if (host)
        d_idx = indices;
    else
        CHECK(cosmos_backend_alloc(be, sizeof(int32_t) * (size_t)N, &d_idx));
    CHECK(cosmos_op_fsq_quantize(be, cosmos_tensor_1d(d_idx, COSMOS_I32, N), dv_tensor(&cd), dv_tensor(&x),
                                 cfg->fsq_levels, cfg->embedding_dim));
    if (!host) {
        CHECK(cosmos_backend_download(be, indices, d_idx, sizeof(int32_t) * (size_t)N));
        CHECK(cosmos_backend_sync(be));
    }
    if (codes) CHECK(dv_act_download(&cd, codes));
fail:
    if (!host) {
        dv_act_free(e, &in);
        cosmos_backend_free_mem(be, d_idx);
    }
    dv_act_free(e, &x);
    dv_act_free(e, &cd);
    dv_pool_free(&enc->pool);
    return st;
}

cosmos_status cosmos_dv_encode(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                               const float *video, int64_t T, int64_t H, int64_t W, float *latent, int32_t *indices,
                               float *codes) {
    cosmos_dv_encoder_t *enc = NULL;
    cosmos_status st = cosmos_dv_encoder_open(be, weights, cfg, &enc);
    if (st == COSMOS_OK) st = cosmos_dv_encoder_run(enc, video, T, H, W, latent, indices, codes);
    cosmos_dv_encoder_free(enc);
    return st;
}
