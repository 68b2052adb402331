/* DV8x16x16 and CV8x8x8 tokenizer decoders (spec components.md 2.4, 2.5, 2.7, 2.8; 4.7), batch 1,
 * whole clip or causal streaming through one code path: a "chunk" of latent frames runs
 * the front end (DV: FSQ inverse of the indices; CV: the continuous latent as given, spec 4.7) ->
 * post_quant_conv 1x1x1 -> conv_in (1,3,3)+(3,1,1) -> mid ResBlock, spatial+temporal attention,
 * ResBlock -> up levels from the last to up.0 (num_res_blocks+1 ResBlocks each, with attention
 * where the level's resolution is in attn_resolutions, then the hybrid upsample with the spec's
 * non-legacy flag rule, cosmos_dv_up_flags) -> norm_out, swish, conv_out (1,3,3)+(3,1,1) -> Haar
 * unpatcher.
 * cosmos_dv_decode is one chunk holding the whole clip; a stream push is a chunk of one frame.
 * Activations [C,T,H,W]; indices T-major [T',H',W']; output [3,T,H,W].
 * State carried between chunks (all else is per frame: (1,3,3) and 1x1x1 convs, per-frame
 * GroupNorm, swish, spatial attention, nearest 2x upsampling):
 *  - each (3,1,1) conv: its last 2 input frames (dv_blocks.c; frame 0 replicated at the start);
 *  - each temporal attention: K and V of all earlier frames (query t sees keys <= t);
 *  - temporal upsample (T -> 2T-1: every frame twice, the clip's first frame once): only whether
 *    this is the first chunk, which drops one repeated frame;
 *  - Haar unpatcher: frames are independent in time (stride-2, 2-tap filters), each decoder frame
 *    gives patch_size pixel frames; the clip's first chunk drops patch_size-1 of them.
 * Every step is a backend op (FSQ, convs, norms, swish, adds, Haar, the single-head attention, the
 * frame copies of the repeats and caches, the nearest upsampling), so the decoders run on any
 * backend: on a device (CUDA: bf16 activations and weights) the indices or the CV latent are
 * uploaded and the pixels downloaded, per chunk. Activation buffers are reused through a pool
 * (dv_blocks.h) emptied after each chunk, so an idle stream holds only its weights and caches. */
#include "core/model/dv_decoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/model/dv_blocks.h"

#define WAVELETS_KEY "decoder.unpatcher3d.wavelets"

/* One decoder level (decoder.up.<i>). */
struct up_level {
    int n_blocks, has_attn, spatial_up, temporal_up;
    struct dv_resblock *block;   /* [n_blocks] */
    struct dv_attn_pair *attn;   /* [n_blocks] when has_attn */
    struct dv_conv conv1, conv2, conv3; /* upsample: temporal (3,1,1), spatial (1,3,3), 1x1x1 */
};

struct cosmos_dv_stream {
    struct dv_ctx ctx;
    struct cosmos_dv_config cfg;
    int64_t Hl, Wl, Tl_max, pos; /* pos: latent frames decoded so far */
    int broken;
    float tap; /* Haar filter tap of the unpatcher */
    struct dv_conv post_quant_conv, conv_in[2], conv_out[2];
    struct dv_resblock mid_block_1, mid_block_2;
    struct dv_attn_pair mid_attn;
    struct up_level up[COSMOS_DV_MAX_LEVELS];
    struct dv_norm norm_out;
    struct dv_pool pool; /* ctx.pool: activation buffers reused within a chunk, emptied after it */
};

void cosmos_dv_video_shape(const struct cosmos_dv_config *cfg, int64_t Tl, int64_t Hl, int64_t Wl, int64_t *T,
                           int64_t *H, int64_t *W) {
    *T = 1 + (int64_t)cfg->temporal_compression * (Tl - 1);
    *H = Hl * cfg->spatial_compression;
    *W = Wl * cfg->spatial_compression;
}

static int is_pow2(int v) { return v >= 1 && (v & (v - 1)) == 0; }

/* The config must give exactly log2(compression/patch) upsamplings of each kind, or the pixel
 * shape would not be cosmos_dv_video_shape's. */
static cosmos_status check_config(const struct cosmos_dv_config *cfg) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(cfg->n_levels >= 1 && cfg->n_levels <= COSMOS_DV_MAX_LEVELS && cfg->num_res_blocks >= 0 &&
                  cfg->channels > 0 && cfg->z_channels > 0 && cfg->in_channels > 0,
              COSMOS_ERR_INVALID_ARG, "dv decoder: bad config (%d levels, %d res blocks, %d channels)", cfg->n_levels,
              cfg->num_res_blocks, cfg->channels);
    if (cfg->continuous)
        CHECK_ARG(cfg->latent_channels >= 1, COSMOS_ERR_INVALID_ARG, "cv decoder: latent_channels %d must be >= 1",
                  cfg->latent_channels);
    else
        CHECK_ARG(cfg->embedding_dim >= 1 && cfg->embedding_dim <= 16, COSMOS_ERR_INVALID_ARG,
                  "dv decoder: embedding_dim %d is not a number of FSQ levels in [1, 16]", cfg->embedding_dim);
    CHECK_ARG(is_pow2(cfg->patch_size) && is_pow2(cfg->spatial_compression) && is_pow2(cfg->temporal_compression) &&
                  cfg->spatial_compression >= cfg->patch_size && cfg->temporal_compression >= cfg->patch_size,
              COSMOS_ERR_INVALID_ARG,
              "dv decoder: patch_size %d, spatial_compression %d, temporal_compression %d must be powers of two "
              "with both compressions >= patch_size",
              cfg->patch_size, cfg->spatial_compression, cfg->temporal_compression);
    int n_s = 0, n_t = 0;
    for (int i = 0; i < cfg->n_levels; i++) {
        int s, t;
        cosmos_dv_up_flags(cfg, i, &s, &t);
        n_s += s, n_t += t;
    }
    CHECK_ARG(n_s == cosmos_dv_num_spatial_downs(cfg) && n_t == cosmos_dv_num_temporal_downs(cfg),
              COSMOS_ERR_INVALID_ARG,
              "dv decoder: %d levels give %d spatial and %d temporal upsamplings; the compressions need %d and %d",
              cfg->n_levels, n_s, n_t, cosmos_dv_num_spatial_downs(cfg), cosmos_dv_num_temporal_downs(cfg));
fail:
    return st;
}

/* A CV latent must be finite: a NaN or inf would spread through every later frame (temporal convs,
 * attention) without an error. */
static cosmos_status check_latent(const float *latent, int64_t C, int64_t n, int64_t HW) {
    for (int64_t i = 0; i < C * n * HW; i++)
        if (!isfinite(latent[i])) {
            LOG_ERROR("cv decoder: latent value %g at [channel %lld, frame %lld, position %lld] is not finite",
                      latent[i], (long long)(i / (n * HW)), (long long)(i / HW % n), (long long)(i % HW));
            return COSMOS_ERR_INVALID_ARG;
        }
    return COSMOS_OK;
}

static cosmos_status check_indices(const struct cosmos_dv_config *cfg, const int32_t *indices, int64_t N) {
    int64_t vocab = 1;
    for (int d = 0; d < cfg->embedding_dim; d++) vocab *= cfg->fsq_levels[d];
    for (int64_t i = 0; i < N; i++)
        if (indices[i] < 0 || indices[i] >= vocab) {
            LOG_ERROR("dv decoder: token %d at position %lld is outside the codebook [0, %lld)", indices[i],
                      (long long)i, (long long)vocab);
            return COSMOS_ERR_INVALID_ARG;
        }
    return COSMOS_OK;
}

/* The unpatcher's tap: |wavelets[0]| of the checkpoint (spec 2.4: [a, a], bf16 in the official
 * decoder.jit), else 1/sqrt(2) exactly. */
static cosmos_status load_tap(cosmos_dv_stream_t *s) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_h5_info info;
    float *w = NULL;
    if (!cosmos_h5_has_dataset(s->ctx.h5, WAVELETS_KEY)) {
        s->tap = COSMOS_HAAR_TAP;
        LOG_DEBUG("dv decoder: no '%s' in %s: unpatcher tap 1/sqrt(2) exactly", WAVELETS_KEY,
                  cosmos_h5_path(s->ctx.h5));
        return COSMOS_OK;
    }
    CHECK(cosmos_h5_info(s->ctx.h5, WAVELETS_KEY, &info));
    CHECK_ARG(info.ndim == 1 && info.shape[0] == 2, COSMOS_ERR_FORMAT,
              "dv decoder: '%s' must hold the 2 Haar filter taps [a, a]", WAVELETS_KEY);
    CHECK(dv_load_weight(&s->ctx, WAVELETS_KEY, 2, 2, &w));
    CHECK_ARG(isfinite(w[0]) && w[0] != 0.0f && fabsf(w[0]) == fabsf(w[1]), COSMOS_ERR_FORMAT,
              "dv decoder: '%s' = [%g, %g] is not a Haar filter [a, a]", WAVELETS_KEY, w[0], w[1]);
    s->tap = fabsf(w[0]);
    LOG_DEBUG("dv decoder: unpatcher tap %.9g from '%s'", s->tap, WAVELETS_KEY);
fail:
    free(w);
    return st;
}

static cosmos_status load_model(cosmos_dv_stream_t *s) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_dv_config *cfg = &s->cfg;
    const struct dv_ctx *c = &s->ctx;
    const int n = cfg->n_levels, p = cfg->patch_size;
    const struct cosmos_conv3d_params pw = cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0);
    char name[256];
    int64_t C = (int64_t)cfg->channels * cfg->channels_mult[n - 1];
    CHECK(dv_conv_load(c, &s->post_quant_conv, "post_quant_conv", cosmos_dv_latent_channels(cfg), cfg->z_channels,
                       pw));
    CHECK(dv_convfact_load(c, s->conv_in, "decoder.conv_in", cfg->z_channels, C));
    CHECK(dv_resblock_load(c, &s->mid_block_1, "decoder.mid.block_1", C, C));
    CHECK(dv_attn_pair_load(c, &s->mid_attn, "decoder.mid.attn_1", C));
    CHECK(dv_resblock_load(c, &s->mid_block_2, "decoder.mid.block_2", C, C));
    int curr_res = (cfg->resolution / p) >> (n - 1);
    for (int i = n - 1; i >= 0; i--) {
        struct up_level *L = &s->up[i];
        const int64_t cout = (int64_t)cfg->channels * cfg->channels_mult[i];
        L->n_blocks = cfg->num_res_blocks + 1;
        for (int a = 0; a < cfg->n_attn_resolutions; a++) L->has_attn |= cfg->attn_resolutions[a] == curr_res;
        L->block = calloc((size_t)L->n_blocks, sizeof *L->block);
        CHECK_ALLOC(L->block);
        if (L->has_attn) {
            L->attn = calloc((size_t)L->n_blocks, sizeof *L->attn);
            CHECK_ALLOC(L->attn);
        }
        for (int j = 0; j < L->n_blocks; j++) {
            snprintf(name, sizeof name, "decoder.up.%d.block.%d", i, j);
            CHECK(dv_resblock_load(c, &L->block[j], name, C, cout));
            C = cout;
            if (L->has_attn) {
                snprintf(name, sizeof name, "decoder.up.%d.attn.%d", i, j);
                CHECK(dv_attn_pair_load(c, &L->attn[j], name, C));
            }
        }
        cosmos_dv_up_flags(cfg, i, &L->spatial_up, &L->temporal_up);
        /* weights of a branch whose flag is off (CT-built files carry them) are never read */
        if (L->temporal_up) {
            snprintf(name, sizeof name, "decoder.up.%d.upsample.conv1", i);
            CHECK(dv_conv_load(c, &L->conv1, name, C, C, cosmos_conv3d_params_causal(3, 1, 1, 1, 1, 0)));
        }
        if (L->spatial_up) {
            snprintf(name, sizeof name, "decoder.up.%d.upsample.conv2", i);
            CHECK(dv_conv_load(c, &L->conv2, name, C, C, cosmos_conv3d_params_causal(1, 3, 3, 1, 1, 1)));
        }
        if (L->temporal_up || L->spatial_up) {
            snprintf(name, sizeof name, "decoder.up.%d.upsample.conv3", i);
            CHECK(dv_conv_load(c, &L->conv3, name, C, C, pw));
        }
        if (i != 0) curr_res *= 2;
    }
    CHECK(dv_norm_load(c, &s->norm_out, "decoder.norm_out", C));
    /* out_channels is 0 in configs built by hand before the JSON loader: the input's channel count */
    const int64_t out_ch = cfg->out_channels > 0 ? cfg->out_channels : cfg->in_channels;
    CHECK(dv_convfact_load(c, s->conv_out, "decoder.conv_out", C, out_ch * p * p * p));
    CHECK(load_tap(s));
fail:
    return st;
}

/* CausalHybridUpsample3d (2.5) on a chunk; `first`: the chunk starts the clip. */
static cosmos_status upsample(const struct dv_ctx *c, struct up_level *L, struct dv_act *x, int first) {
    cosmos_status st = COSMOS_OK;
    struct dv_act y = {0};
    if (!L->spatial_up && !L->temporal_up) return COSMOS_OK;
    if (L->temporal_up) {
        /* every frame twice, minus the clip's very first one: T -> 2T-1 over the clip */
        const int64_t drop = first ? 1 : 0, To = 2 * x->T - drop;
        CHECK(dv_act_new(c, &y, x->C, To, x->H, x->W));
        for (int64_t t = 0; t < To; t++)
            CHECK(cosmos_op_copy_frames(c->be, dv_tensor(&y), t, dv_tensor(x), (t + drop) / 2, 1));
        dv_act_move(c, x, &y);
        CHECK(dv_conv_run(c, &L->conv1, &y, x)); /* x = conv1(x) + x */
        CHECK(cosmos_op_add(c->be, dv_tensor(&y), dv_tensor(&y), dv_tensor(x)));
        dv_act_move(c, x, &y);
    }
    if (L->spatial_up) {
        /* nearest 2x, then x = conv2(x) + x */
        CHECK(dv_act_new(c, &y, x->C, x->T, 2 * x->H, 2 * x->W));
        CHECK(cosmos_op_upsample_nearest2x(c->be, dv_tensor(&y), dv_tensor(x)));
        dv_act_move(c, x, &y);
        CHECK(dv_conv_run(c, &L->conv2, &y, x));
        CHECK(cosmos_op_add(c->be, dv_tensor(&y), dv_tensor(&y), dv_tensor(x)));
        dv_act_move(c, x, &y);
    }
    CHECK(dv_conv_apply(c, &L->conv3, x));
fail:
    dv_act_free(c, &y);
    return st;
}

/* Haar unpatcher of a chunk of decoder frames x [C*p^3, n, h, w] into out [C, n_out, h*p, w*p]
 * (host f32): n_out = n*p - (p-1) for the clip's first chunk, n*p after. The op always drops the
 * first p-1 pixel frames of its input (what the clip start needs); a later chunk goes in behind
 * one zero frame that absorbs the drop, and that frame's one remaining pixel frame is skipped. On
 * a host backend the result is written into out directly; a device's is downloaded into it. */
static cosmos_status unpatch(const cosmos_dv_stream_t *s, const struct dv_act *x, int first, float *out,
                             int64_t *n_out) {
    cosmos_status st = COSMOS_OK;
    const struct dv_ctx *c = &s->ctx;
    const int p = s->cfg.patch_size;
    const int64_t Cp = x->C / ((int64_t)p * p * p), H = x->H * p, W = x->W * p;
    const int host = cosmos_backend_is_host(c->be);
    const int64_t To = first ? x->T * p - (p - 1) : x->T * p;
    struct dv_act zero = {0}, pre = {0}, tmp = {0}, res = {0};
    struct dv_act o = {out, Cp, To, H, W, COSMOS_F32, NULL}; /* the caller's buffer (host) */
    if (!host) CHECK(dv_act_new(c, &res, Cp, To, H, W));
    struct dv_act *dst = host ? &o : &res;
    if (first) {
        CHECK(cosmos_op_haar_unpatch(s->ctx.be, dv_tensor(dst), dv_tensor(x), p, s->tap));
    } else {
        CHECK(dv_act_zeros(c, &zero, x->C, 1, x->H, x->W));
        CHECK(dv_act_cat_time(c, &pre, &zero, x));
        CHECK(dv_act_new(c, &tmp, Cp, pre.T * p - (p - 1), H, W));
        CHECK(cosmos_op_haar_unpatch(s->ctx.be, dv_tensor(&tmp), dv_tensor(&pre), p, s->tap));
        CHECK(cosmos_op_copy_frames(c->be, dv_tensor(dst), 0, dv_tensor(&tmp), 1, To));
    }
    if (!host) CHECK(dv_act_download(&res, out));
    *n_out = To;
fail:
    dv_act_free(c, &zero), dv_act_free(c, &pre), dv_act_free(c, &tmp), dv_act_free(c, &res);
    return st;
}

/* Decodes the next z->T latent frames (z [latent channels, n, Hl, Wl]: FSQ codes or the CV latent)
 * into out [3, n_out, H, W]: everything from post_quant_conv on. */
static cosmos_status decode_latent(cosmos_dv_stream_t *s, const struct dv_act *z, float *out, int64_t *n_out) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_dv_config *cfg = &s->cfg;
    const struct dv_ctx *c = &s->ctx;
    const int first = s->pos == 0;
    struct dv_act x = {0};
    CHECK(dv_conv_run(c, &s->post_quant_conv, &x, z));
    CHECK(dv_convfact_apply(c, s->conv_in, &x));
    CHECK(dv_resblock_run(c, &s->mid_block_1, &x));
    CHECK(dv_attn_pair_run(c, &s->mid_attn, &x));
    CHECK(dv_resblock_run(c, &s->mid_block_2, &x));
    for (int i = cfg->n_levels - 1; i >= 0; i--) {
        struct up_level *L = &s->up[i];
        for (int j = 0; j < L->n_blocks; j++) {
            CHECK(dv_resblock_run(c, &L->block[j], &x));
            if (L->has_attn) CHECK(dv_attn_pair_run(c, &L->attn[j], &x));
        }
        CHECK(upsample(c, L, &x, first));
    }
    CHECK(dv_norm_run(c, &s->norm_out, &x, &x));
    CHECK(cosmos_op_swish(c->be, dv_tensor(&x), dv_tensor(&x)));
    CHECK(dv_convfact_apply(c, s->conv_out, &x));
    CHECK(unpatch(s, &x, first, out, n_out));
    s->pos += z->T;
fail:
    dv_act_free(c, &x);
    dv_pool_free(&s->pool); /* an idle stream holds its weights and caches only */
    return st;
}

/* DV front end: the next n latent frames as indices [n, Hl, Wl] (already checked) -> FSQ codes. */
static cosmos_status decode_chunk(cosmos_dv_stream_t *s, const int32_t *indices, int64_t n, float *out,
                                  int64_t *n_out) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_dv_config *cfg = &s->cfg;
    const struct dv_ctx *c = &s->ctx;
    struct dv_act z = {0};
    const int64_t N = n * s->Hl * s->Wl;
    void *d_idx = (void *)indices; /* host backend: read in place; a device gets a copy */
    if (!cosmos_backend_is_host(c->be)) {
        d_idx = NULL;
        CHECK(cosmos_backend_alloc(c->be, sizeof(int32_t) * (size_t)N, &d_idx));
        CHECK(cosmos_backend_upload(c->be, d_idx, indices, sizeof(int32_t) * (size_t)N));
    }
    CHECK(dv_act_new(c, &z, cfg->embedding_dim, n, s->Hl, s->Wl));
    CHECK(cosmos_op_fsq_dequantize(c->be, dv_tensor(&z), cosmos_tensor_1d(d_idx, COSMOS_I32, N), cfg->fsq_levels,
                                   cfg->embedding_dim));
    CHECK(decode_latent(s, &z, out, n_out));
fail:
    if (!cosmos_backend_is_host(c->be)) cosmos_backend_free_mem(c->be, d_idx);
    dv_act_free(c, &z);
    dv_pool_free(&s->pool);
    return st;
}

/* CV front end: the continuous latent [latent_channels, n, Hl, Wl] (already checked) goes in as it
 * is; borrowed, never freed (post_quant_conv only reads it). */
static cosmos_status decode_chunk_cv(cosmos_dv_stream_t *s, const float *latent, int64_t n, float *out,
                                     int64_t *n_out) {
    if (cosmos_backend_is_host(s->ctx.be)) {
        const struct dv_act z = {(float *)latent, s->cfg.latent_channels, n, s->Hl, s->Wl, COSMOS_F32, NULL};
        return decode_latent(s, &z, out, n_out);
    }
    struct dv_act z = {0}; /* a device gets a copy */
    cosmos_status st = dv_act_upload(&s->ctx, &z, latent, s->cfg.latent_channels, n, s->Hl, s->Wl);
    if (st == COSMOS_OK) st = decode_latent(s, &z, out, n_out);
    dv_act_free(&s->ctx, &z);
    dv_pool_free(&s->pool);
    return st;
}

cosmos_status cosmos_dv_stream_open(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                                    int64_t Hl, int64_t Wl, int64_t Tl_max, cosmos_dv_stream_t **out) {
    cosmos_status st = COSMOS_OK;
    cosmos_dv_stream_t *s = NULL;
    CHECK_ARG(out && be && weights && cfg, COSMOS_ERR_INVALID_ARG, "dv decoder: NULL argument to stream_open");
    *out = NULL;
    CHECK(check_config(cfg));
    CHECK_ARG(Hl > 0 && Wl > 0 && Tl_max > 0, COSMOS_ERR_INVALID_ARG,
              "dv decoder: latent %lldx%lld with at most %lld frames: all must be positive", (long long)Hl,
              (long long)Wl, (long long)Tl_max);
    s = calloc(1, sizeof *s);
    CHECK_ALLOC(s);
    s->ctx = (struct dv_ctx){be, weights, cfg->continuous ? "cv decoder" : "dv decoder", 1, &s->pool};
    s->pool.be = be;
    s->cfg = *cfg;
    s->Hl = Hl, s->Wl = Wl, s->Tl_max = Tl_max;
    CHECK(load_model(s));
    s->ctx.h5 = NULL; /* every weight is in memory now */
    *out = s;
    return COSMOS_OK;
fail:
    cosmos_dv_stream_free(s);
    return st;
}

cosmos_status cosmos_dv_stream_push(cosmos_dv_stream_t *s, const int32_t *indices, float *frames_out,
                                    int *n_frames_out) {
    cosmos_status st = COSMOS_OK;
    int64_t n = 0;
    CHECK_ARG(s && indices && frames_out && n_frames_out, COSMOS_ERR_INVALID_ARG,
              "dv decoder: NULL argument to stream_push");
    CHECK_ARG(!s->cfg.continuous, COSMOS_ERR_INVALID_ARG,
              "dv decoder: this stream decodes a continuous (cv_tokenizer) latent: use cosmos_cv_stream_push");
    CHECK_ARG(!s->broken, COSMOS_ERR_INTERNAL, "dv decoder: the stream failed earlier; open a new one");
    CHECK_ARG(s->pos < s->Tl_max, COSMOS_ERR_INVALID_ARG,
              "dv decoder: latent frame %lld pushed to a stream opened for %lld latent frames", (long long)s->pos,
              (long long)s->Tl_max);
    CHECK(check_indices(&s->cfg, indices, s->Hl * s->Wl));
    st = decode_chunk(s, indices, 1, frames_out, &n);
    if (st != COSMOS_OK) {
        s->broken = 1;
        goto fail;
    }
    *n_frames_out = (int)n;
fail:
    return st;
}

cosmos_status cosmos_cv_stream_push(cosmos_dv_stream_t *s, const float *latent, float *frames_out, int *n_frames_out) {
    cosmos_status st = COSMOS_OK;
    int64_t n = 0;
    CHECK_ARG(s && latent && frames_out && n_frames_out, COSMOS_ERR_INVALID_ARG,
              "cv decoder: NULL argument to stream_push");
    CHECK_ARG(s->cfg.continuous, COSMOS_ERR_INVALID_ARG,
              "cv decoder: this stream decodes FSQ indices (dv_tokenizer): use cosmos_dv_stream_push");
    CHECK_ARG(!s->broken, COSMOS_ERR_INTERNAL, "cv decoder: the stream failed earlier; open a new one");
    CHECK_ARG(s->pos < s->Tl_max, COSMOS_ERR_INVALID_ARG,
              "cv decoder: latent frame %lld pushed to a stream opened for %lld latent frames", (long long)s->pos,
              (long long)s->Tl_max);
    CHECK(check_latent(latent, s->cfg.latent_channels, 1, s->Hl * s->Wl));
    st = decode_chunk_cv(s, latent, 1, frames_out, &n);
    if (st != COSMOS_OK) {
        s->broken = 1;
        goto fail;
    }
    *n_frames_out = (int)n;
fail:
    return st;
}

int64_t cosmos_dv_stream_position(const cosmos_dv_stream_t *s) { return s ? s->pos : 0; }

void cosmos_dv_stream_free(cosmos_dv_stream_t *s) {
    if (!s) return;
    dv_conv_free(&s->post_quant_conv);
    for (int i = 0; i < 2; i++) dv_conv_free(&s->conv_in[i]), dv_conv_free(&s->conv_out[i]);
    dv_resblock_free(&s->mid_block_1);
    dv_resblock_free(&s->mid_block_2);
    dv_attn_pair_free(&s->mid_attn);
    for (int i = 0; i < COSMOS_DV_MAX_LEVELS; i++) {
        struct up_level *L = &s->up[i];
        for (int j = 0; L->block && j < L->n_blocks; j++) dv_resblock_free(&L->block[j]);
        for (int j = 0; L->attn && j < L->n_blocks; j++) dv_attn_pair_free(&L->attn[j]);
        free(L->block);
        free(L->attn);
        dv_conv_free(&L->conv1), dv_conv_free(&L->conv2), dv_conv_free(&L->conv3);
    }
    dv_norm_free(&s->norm_out);
    dv_pool_free(&s->pool);
    free(s);
}

cosmos_status cosmos_dv_decode(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                               const int32_t *indices, int64_t Tl, int64_t Hl, int64_t Wl, float *video_out) {
    cosmos_status st = COSMOS_OK;
    cosmos_dv_stream_t *s = NULL;
    int64_t n = 0;
    CHECK_ARG(cfg && indices && video_out && Tl >= 1 && Hl >= 1 && Wl >= 1, COSMOS_ERR_INVALID_ARG,
              "dv decoder: need indices, an output and a latent shape >= 1 (got %lldx%lldx%lld)", (long long)Tl,
              (long long)Hl, (long long)Wl);
    CHECK(check_config(cfg));
    CHECK_ARG(!cfg->continuous, COSMOS_ERR_INVALID_ARG,
              "dv decoder: config '%s' is a cv_tokenizer (continuous latent): decode it with cosmos_cv_decode",
              cfg->name);
    CHECK(check_indices(cfg, indices, Tl * Hl * Wl));
    CHECK(cosmos_dv_stream_open(be, weights, cfg, Hl, Wl, Tl, &s));
    CHECK(decode_chunk(s, indices, Tl, video_out, &n));
fail:
    cosmos_dv_stream_free(s);
    return st;
}

cosmos_status cosmos_cv_decode(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                               const float *latent, int64_t Tl, int64_t Hl, int64_t Wl, float *video_out) {
    cosmos_status st = COSMOS_OK;
    cosmos_dv_stream_t *s = NULL;
    int64_t n = 0;
    CHECK_ARG(cfg && latent && video_out && Tl >= 1 && Hl >= 1 && Wl >= 1, COSMOS_ERR_INVALID_ARG,
              "cv decoder: need a latent, an output and a latent shape >= 1 (got %lldx%lldx%lld)", (long long)Tl,
              (long long)Hl, (long long)Wl);
    CHECK_ARG(cfg->continuous, COSMOS_ERR_INVALID_ARG,
              "cv decoder: config '%s' is a dv_tokenizer (FSQ indices): decode it with cosmos_dv_decode", cfg->name);
    CHECK(check_config(cfg));
    CHECK(check_latent(latent, cfg->latent_channels, Tl, Hl * Wl));
    CHECK(cosmos_dv_stream_open(be, weights, cfg, Hl, Wl, Tl, &s));
    CHECK(decode_chunk_cv(s, latent, Tl, video_out, &n));
fail:
    cosmos_dv_stream_free(s);
    return st;
}

int64_t cosmos_dv_video_to_u8(const float *video, int64_t T, int64_t H, int64_t W, uint8_t *rgb) {
    const int64_t plane = T * H * W;
    int64_t n_bad = 0;
    for (int64_t i = 0; i < plane; i++) /* i = (t*H + h)*W + w */
        for (int64_t ch = 0; ch < 3; ch++) {
            n_bad += !isfinite(video[ch * plane + i]);
            float v = video[ch * plane + i] * 0.5f + 0.5f;
            if (!(v >= 0.0f)) v = 0.0f; /* and NaN */
            if (v > 1.0f) v = 1.0f;
            rgb[i * 3 + ch] = (uint8_t)(v * 255.0f); /* truncation, as torch's .to(uint8) */
        }
    return n_bad;
}
