/* DV8x16x16 tokenizer encoder forward (spec components.md 2.4-2.7), batch 1.
 * Topology (2.6): Haar patcher -> conv_in (1,3,3)+(3,1,1) -> per level num_res_blocks ResBlocks
 * (each followed by spatial+temporal attention when the level's resolution is in
 * attn_resolutions) and a hybrid downsample on every level but the last (spatial on levels
 * < log2(spatial_compression/patch), temporal on levels < log2(temporal_compression/patch)) ->
 * mid ResBlock, attention pair, ResBlock -> norm_out, swish, conv_out (1,3,3)+(3,1,1) -> quant_conv
 * 1x1x1 -> FSQ. The shared blocks (weight loading, convs, norm, ResBlock, attention) are in
 * dv_blocks.c; each block's weights are read from the file just before it runs and freed after.
 * Every step is a backend op (Haar, convs, norms, swish, adds, the single-head attention, the
 * downsample's pools, FSQ), so the encoder runs on any backend: on a host one on the caller's f32
 * clip in place; on a device (CUDA: bf16 activations, weights rounded to bf16 and uploaded block by
 * block) the clip is uploaded and the latent, indices and codes downloaded. Activation buffers are
 * reused through a pool (dv_blocks.h), emptied at the end. */
#include "core/model/dv_encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/model/dv_blocks.h"

/* CausalHybridDownsample3d (2.5). */
static cosmos_status downsample(const struct dv_ctx *e, struct dv_act *x, const char *prefix, int spatial,
                                int temporal) {
    /* prefix is at most 255 characters (callers' buffers) */
    cosmos_status st = COSMOS_OK;
    struct dv_act y = {0};
    char name[300];
    if (!spatial && !temporal) return COSMOS_OK;
    if (spatial) {
        /* conv1 (1,3,3) stride 2 on the input zero-padded right/bottom by 1, + 2x2 average pool */
        struct cosmos_conv3d_params p = {1, 3, 3, 0, 1, 2, 0, 1};
        snprintf(name, sizeof name, "%s.conv1", prefix);
        CHECK(dv_conv_named(e, &y, x, name, x->C, p));
        CHECK(cosmos_op_pool_add(e->be, dv_tensor(&y), dv_tensor(x), 0));
        dv_act_move(e, x, &y);
    }
    if (temporal) {
        /* one copy of frame 0 in front, then conv2 (3,1,1) time-stride 2 (which prepends one more)
         * + average of frame pairs of the extended clip */
        struct cosmos_conv3d_params p = cosmos_conv3d_params_causal(3, 1, 1, 2, 1, 0);
        p.time_pad += 1;
        snprintf(name, sizeof name, "%s.conv2", prefix);
        CHECK(dv_conv_named(e, &y, x, name, x->C, p));
        CHECK(cosmos_op_pool_add(e->be, dv_tensor(&y), dv_tensor(x), 1));
        dv_act_move(e, x, &y);
    }
    snprintf(name, sizeof name, "%s.conv3", prefix);
    CHECK(dv_conv_named_apply(e, x, name, x->C, cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0)));
fail:
    dv_act_free(e, &y);
    return st;
}

cosmos_status cosmos_dv_encode(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                               const float *video, int64_t T, int64_t H, int64_t W, float *latent, int32_t *indices,
                               float *codes) {
    cosmos_status st = COSMOS_OK;
    struct dv_pool pool = {0}; /* activation buffers reused across the blocks (dv_blocks.h) */
    pool.be = be;
    const struct dv_ctx e = {be, weights, "dv encoder", 0, &pool};
    const int host = cosmos_backend_is_host(be);
    struct dv_act x = {0}, in = {0}, cd = {0};
    void *d_idx = NULL;
    char name[256];
    const int p = cfg->patch_size;
    CHECK_ARG(!cfg->continuous, COSMOS_ERR_UNSUPPORTED,
              "dv encoder: config '%s' is a cv_tokenizer: the continuous (CV8x8x8) encoder is not implemented (the "
              "pipeline never encodes with it, spec 4.1)",
              cfg->name);
    CHECK_ARG(T >= 1 && H > 0 && W > 0 && H % cfg->spatial_compression == 0 && W % cfg->spatial_compression == 0,
              COSMOS_ERR_INVALID_ARG, "dv encoder: clip %lldx%lldx%lld: need T >= 1 and H, W multiples of %d",
              (long long)T, (long long)H, (long long)W, cfg->spatial_compression);
    CHECK_ARG((T - 1) % cfg->temporal_compression == 0, COSMOS_ERR_INVALID_ARG,
              "dv encoder: %lld frames; the frame count must be 1 + %d*k", (long long)T, cfg->temporal_compression);

    /* patcher (on a host backend the clip is read in place; a device gets a copy) */
    if (host)
        in.d = (float *)video, in.C = cfg->in_channels, in.T = T, in.H = H, in.W = W;
    else
        CHECK(dv_act_upload(&e, &in, video, cfg->in_channels, T, H, W));
    {
        int64_t C = in.C, Tp = T + p - 1;
        for (int q = p; q > 1; q /= 2) C *= 8, Tp = (Tp + 1) / 2;
        CHECK(dv_act_new(&e, &x, C, Tp, H / p, W / p));
        CHECK(cosmos_op_haar_patch(be, dv_tensor(&x), dv_tensor(&in), p, COSMOS_HAAR_TAP));
    }
    CHECK(dv_convfact_named(&e, &x, "encoder.conv_in", cfg->channels));

    int curr_res = cfg->resolution / p;
    for (int l = 0; l < cfg->n_levels; l++) {
        int has_attn = 0;
        for (int a = 0; a < cfg->n_attn_resolutions; a++) has_attn |= cfg->attn_resolutions[a] == curr_res;
        for (int b = 0; b < cfg->num_res_blocks; b++) {
            snprintf(name, sizeof name, "encoder.down.%d.block.%d", l, b);
            CHECK(dv_resblock_named(&e, &x, name, (int64_t)cfg->channels * cfg->channels_mult[l]));
            if (has_attn) {
                snprintf(name, sizeof name, "encoder.down.%d.attn.%d", l, b);
                CHECK(dv_attn_pair_named(&e, &x, name));
            }
        }
        if (l != cfg->n_levels - 1) {
            snprintf(name, sizeof name, "encoder.down.%d.downsample", l);
            int sd, td;
            cosmos_dv_down_flags(cfg, l, &sd, &td);
            CHECK(downsample(&e, &x, name, sd, td));
            curr_res /= 2;
        }
    }
    CHECK(dv_resblock_named(&e, &x, "encoder.mid.block_1", x.C));
    CHECK(dv_attn_pair_named(&e, &x, "encoder.mid.attn_1"));
    CHECK(dv_resblock_named(&e, &x, "encoder.mid.block_2", x.C));
    CHECK(dv_norm_named(&e, &x, "encoder.norm_out"));
    CHECK(cosmos_op_swish(be, dv_tensor(&x), dv_tensor(&x)));
    CHECK(dv_convfact_named(&e, &x, "encoder.conv_out", cfg->z_channels));
    CHECK(dv_conv_named_apply(&e, &x, "quant_conv", cfg->embedding_dim, cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0)));

    const int64_t N = x.T * x.H * x.W;
    if (latent) CHECK(dv_act_download(&x, latent));
    CHECK(dv_act_new(&e, &cd, x.C, x.T, x.H, x.W));
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
        dv_act_free(&e, &in);
        cosmos_backend_free_mem(be, d_idx);
    }
    dv_act_free(&e, &x);
    dv_act_free(&e, &cd);
    dv_pool_free(&pool);
    return st;
}
