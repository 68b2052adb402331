/* DV8x16x16 tokenizer encoder forward (spec components.md 2.4-2.7), host f32, batch 1.
 * Topology (2.6): Haar patcher -> conv_in (1,3,3)+(3,1,1) -> per level num_res_blocks ResBlocks
 * (each followed by spatial+temporal attention when the level's resolution is in
 * attn_resolutions) and a hybrid downsample on every level but the last (spatial on levels
 * < log2(spatial_compression/patch), temporal on levels < log2(temporal_compression/patch)) ->
 * mid ResBlock, attention pair, ResBlock -> norm_out, swish, conv_out (1,3,3)+(3,1,1) -> quant_conv
 * 1x1x1 -> FSQ. Convs, norms, swish, adds, attention, Haar and FSQ go through backend ops; the
 * layout transposes for attention and the two average pools of the downsample are host loops
 * (the reason this needs a host backend; they become backend ops with the CUDA port). */
#include "core/model/dv_encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static int ilog2(int v) {
    int n = 0;
    while ((1 << (n + 1)) <= v) n++;
    return n;
}

/* A host activation [C,T,H,W]. */
struct act {
    float *d;
    int64_t C, T, H, W;
};

struct enc {
    cosmos_backend_t *be;
    cosmos_h5_t *h5;
};

static struct cosmos_tensor tv(const struct act *a) {
    struct cosmos_tensor t = {a->d, COSMOS_F32, 4, {a->C, a->T, a->H, a->W}};
    return t;
}
static cosmos_status act_new(struct act *a, int64_t C, int64_t T, int64_t H, int64_t W) {
    a->C = C, a->T = T, a->H = H, a->W = W;
    a->d = calloc((size_t)(C * T * H * W), sizeof(float));
    if (!a->d) {
        LOG_ERROR("dv encoder: cannot allocate a [%lld,%lld,%lld,%lld] activation", (long long)C, (long long)T,
                  (long long)H, (long long)W);
        return COSMOS_ERR_NOMEM;
    }
    return COSMOS_OK;
}
static void act_free(struct act *a) {
    free(a->d);
    a->d = NULL;
}
/* dst takes src's buffer (dst's own is freed). */
static void act_move(struct act *dst, struct act *src) {
    free(dst->d);
    *dst = *src;
    src->d = NULL;
}

/* Reads weight `name` as f32 with exactly `numel` elements; *shape0 gets its first dim. */
static cosmos_status load_w(struct enc *e, const char *name, int64_t numel, int64_t *shape0, float **out) {
    struct cosmos_h5_info info;
    *out = NULL;
    if (!cosmos_h5_has_dataset(e->h5, name)) {
        LOG_ERROR("dv encoder: weight '%s' is missing", name);
        return COSMOS_ERR_FORMAT;
    }
    cosmos_status st = cosmos_h5_info(e->h5, name, &info);
    if (st != COSMOS_OK) return st;
    int64_t n = 1;
    for (int i = 0; i < info.ndim; i++) n *= info.shape[i];
    if (n != numel || (shape0 && info.shape[0] != *shape0 && *shape0 > 0)) {
        LOG_ERROR("dv encoder: weight '%s' has %lld elements (first dim %lld); expected %lld", name, (long long)n,
                  (long long)info.shape[0], (long long)numel);
        return COSMOS_ERR_FORMAT;
    }
    float *p = malloc(sizeof(float) * (size_t)n);
    if (!p) return COSMOS_ERR_NOMEM;
    st = cosmos_h5_read(e->h5, name, COSMOS_F32, p);
    if (st != COSMOS_OK) {
        free(p);
        return st;
    }
    *out = p;
    return COSMOS_OK;
}

/* y = conv(x) with weights prefix.conv3d.{weight,bias}; y allocated here. */
static cosmos_status conv(struct enc *e, struct act *y, const struct act *x, const char *prefix, int64_t cout,
                          struct cosmos_conv3d_params p) {
    cosmos_status st = COSMOS_OK;
    float *w = NULL, *b = NULL;
    char name[256];
    int64_t k = x->C * p.kt * p.kh * p.kw;
    snprintf(name, sizeof name, "%s.conv3d.weight", prefix);
    CHECK(load_w(e, name, cout * k, &cout, &w));
    snprintf(name, sizeof name, "%s.conv3d.bias", prefix);
    CHECK(load_w(e, name, cout, NULL, &b));
    int64_t To = (x->T + p.time_pad - p.kt) / p.stride_t + 1;
    int64_t Ho = (x->H + p.pad_lo + p.pad_hi - p.kh) / p.stride_s + 1;
    int64_t Wo = (x->W + p.pad_lo + p.pad_hi - p.kw) / p.stride_s + 1;
    CHECK(act_new(y, cout, To, Ho, Wo));
    CHECK(cosmos_op_causal_conv3d(e->be, tv(y), tv(x), cosmos_tensor_2d(w, COSMOS_F32, cout, k),
                                  cosmos_tensor_1d(b, COSMOS_F32, cout), &p));
fail:
    free(w);
    free(b);
    return st;
}

/* x = conv(x) in place (x's buffer replaced). */
static cosmos_status conv_ip(struct enc *e, struct act *x, const char *prefix, int64_t cout,
                             struct cosmos_conv3d_params p) {
    struct act y = {0};
    cosmos_status st = conv(e, &y, x, prefix, cout, p);
    if (st == COSMOS_OK)
        act_move(x, &y);
    else
        act_free(&y);
    return st;
}

/* Factorized conv: prefix.0 (1,3,3) p=1 then prefix.1 (3,1,1). */
static cosmos_status conv_fact(struct enc *e, struct act *x, const char *prefix, int64_t cout) {
    cosmos_status st = COSMOS_OK;
    char name[256];
    snprintf(name, sizeof name, "%s.0", prefix);
    CHECK(conv_ip(e, x, name, cout, cosmos_conv3d_params_causal(1, 3, 3, 1, 1, 1)));
    snprintf(name, sizeof name, "%s.1", prefix);
    CHECK(conv_ip(e, x, name, cout, cosmos_conv3d_params_causal(3, 1, 1, 1, 1, 0)));
fail:
    return st;
}

/* y = GroupNorm_frames(x) with prefix.norm.{weight,bias}; y may be x. */
static cosmos_status norm(struct enc *e, struct act *y, const struct act *x, const char *prefix) {
    cosmos_status st = COSMOS_OK;
    float *g = NULL, *b = NULL;
    char name[256];
    snprintf(name, sizeof name, "%s.norm.weight", prefix);
    CHECK(load_w(e, name, x->C, NULL, &g));
    snprintf(name, sizeof name, "%s.norm.bias", prefix);
    CHECK(load_w(e, name, x->C, NULL, &b));
    CHECK(cosmos_op_groupnorm_frames(e->be, tv(y), tv(x), cosmos_tensor_1d(g, COSMOS_F32, x->C),
                                     cosmos_tensor_1d(b, COSMOS_F32, x->C), 1e-6f));
fail:
    free(g);
    free(b);
    return st;
}

/* CausalResnetBlockFactorized3d (2.5); x replaced by the block output. */
static cosmos_status resblock(struct enc *e, struct act *x, const char *prefix, int64_t cout) {
    cosmos_status st = COSMOS_OK;
    struct act h = {0}, sc = {0};
    char name[256];
    CHECK(act_new(&h, x->C, x->T, x->H, x->W));
    snprintf(name, sizeof name, "%s.norm1", prefix);
    CHECK(norm(e, &h, x, name));
    CHECK(cosmos_op_swish(e->be, tv(&h), tv(&h)));
    snprintf(name, sizeof name, "%s.conv1", prefix);
    CHECK(conv_fact(e, &h, name, cout));
    snprintf(name, sizeof name, "%s.norm2", prefix);
    CHECK(norm(e, &h, &h, name));
    CHECK(cosmos_op_swish(e->be, tv(&h), tv(&h)));
    snprintf(name, sizeof name, "%s.conv2", prefix);
    CHECK(conv_fact(e, &h, name, cout));
    if (x->C != cout) {
        snprintf(name, sizeof name, "%s.nin_shortcut", prefix);
        CHECK(conv(e, &sc, x, name, cout, cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0)));
        CHECK(cosmos_op_add(e->be, tv(&h), tv(&h), tv(&sc)));
    } else {
        CHECK(cosmos_op_add(e->be, tv(&h), tv(&h), tv(x)));
    }
    act_move(x, &h);
fail:
    act_free(&h);
    act_free(&sc);
    return st;
}

/* Attention block (2.5): temporal == 0 -> per frame over H*W tokens; temporal == 1 -> per spatial
 * position over T, causal. Single head of width C, scale 1/sqrt(C); x += proj_out(attn). */
static cosmos_status attn(struct enc *e, struct act *x, const char *prefix, int temporal) {
    cosmos_status st = COSMOS_OK;
    struct act h = {0}, q = {0}, k = {0}, v = {0}, o = {0};
    float *tq = NULL, *tk = NULL, *tvv = NULL, *to = NULL;
    char name[256];
    const int64_t C = x->C, T = x->T, HW = x->H * x->W;
    const struct cosmos_conv3d_params pw = cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0);
    CHECK(act_new(&h, C, T, x->H, x->W));
    snprintf(name, sizeof name, "%s.norm", prefix);
    CHECK(norm(e, &h, x, name));
    snprintf(name, sizeof name, "%s.q", prefix);
    CHECK(conv(e, &q, &h, name, C, pw));
    snprintf(name, sizeof name, "%s.k", prefix);
    CHECK(conv(e, &k, &h, name, C, pw));
    snprintf(name, sizeof name, "%s.v", prefix);
    CHECK(conv(e, &v, &h, name, C, pw));
    CHECK(act_new(&o, C, T, x->H, x->W));
    /* sequences: spatial -> T sequences of HW tokens; temporal -> HW sequences of T tokens */
    const int64_t n_seq = temporal ? HW : T, L = temporal ? T : HW;
    tq = malloc(sizeof(float) * (size_t)(L * C));
    tk = malloc(sizeof(float) * (size_t)(L * C));
    tvv = malloc(sizeof(float) * (size_t)(L * C));
    to = malloc(sizeof(float) * (size_t)(L * C));
    CHECK_ALLOC(tq);
    CHECK_ALLOC(tk);
    CHECK_ALLOC(tvv);
    CHECK_ALLOC(to);
    for (int64_t s = 0; s < n_seq; s++) {
        for (int64_t l = 0; l < L; l++) {
            const int64_t t = temporal ? l : s, p = temporal ? s : l;
            for (int64_t c = 0; c < C; c++) {
                const int64_t src = (c * T + t) * HW + p;
                tq[l * C + c] = q.d[src], tk[l * C + c] = k.d[src], tvv[l * C + c] = v.d[src];
            }
        }
        CHECK(cosmos_op_attention(e->be, cosmos_tensor_3d(to, COSMOS_F32, L, 1, C),
                                  cosmos_tensor_3d(tq, COSMOS_F32, L, 1, C), cosmos_tensor_3d(tk, COSMOS_F32, L, 1, C),
                                  cosmos_tensor_3d(tvv, COSMOS_F32, L, 1, C), 0, temporal));
        for (int64_t l = 0; l < L; l++) {
            const int64_t t = temporal ? l : s, p = temporal ? s : l;
            for (int64_t c = 0; c < C; c++) o.d[(c * T + t) * HW + p] = to[l * C + c];
        }
    }
    act_free(&h);
    snprintf(name, sizeof name, "%s.proj_out", prefix);
    CHECK(conv(e, &h, &o, name, C, pw));
    CHECK(cosmos_op_add(e->be, tv(x), tv(x), tv(&h)));
fail:
    act_free(&h), act_free(&q), act_free(&k), act_free(&v), act_free(&o);
    free(tq), free(tk), free(tvv), free(to);
    return st;
}

static cosmos_status attn_pair(struct enc *e, struct act *x, const char *prefix) {
    cosmos_status st = COSMOS_OK;
    char name[256];
    snprintf(name, sizeof name, "%s.0", prefix);
    CHECK(attn(e, x, name, 0));
    snprintf(name, sizeof name, "%s.1", prefix);
    CHECK(attn(e, x, name, 1));
fail:
    return st;
}

/* CausalHybridDownsample3d (2.5). */
static cosmos_status downsample(struct enc *e, struct act *x, const char *prefix, int spatial, int temporal) {
    /* prefix is at most 255 characters (callers' buffers) */
    cosmos_status st = COSMOS_OK;
    struct act y = {0};
    char name[300];
    if (!spatial && !temporal) return COSMOS_OK;
    if (spatial) {
        /* conv1 (1,3,3) stride 2 on the input zero-padded right/bottom by 1, + 2x2 average pool */
        struct cosmos_conv3d_params p = {1, 3, 3, 0, 1, 2, 0, 1};
        snprintf(name, sizeof name, "%s.conv1", prefix);
        CHECK(conv(e, &y, x, name, x->C, p));
        for (int64_t c = 0; c < x->C; c++)
            for (int64_t t = 0; t < x->T; t++)
                for (int64_t i = 0; i < y.H; i++)
                    for (int64_t j = 0; j < y.W; j++) {
                        const float *xp = x->d + (c * x->T + t) * x->H * x->W;
                        float s = 0.0f;
                        for (int di = 0; di < 2; di++)
                            for (int dj = 0; dj < 2; dj++) {
                                int64_t r = 2 * i + di, cc = 2 * j + dj; /* the pad row/col reads 0 */
                                s += (r < x->H && cc < x->W) ? xp[r * x->W + cc] : 0.0f;
                            }
                        y.d[((c * y.T + t) * y.H + i) * y.W + j] += s * 0.25f;
                    }
        act_move(x, &y);
    }
    if (temporal) {
        /* one copy of frame 0 in front, then conv2 (3,1,1) time-stride 2 (which prepends one more)
         * + average of frame pairs of the extended clip */
        struct cosmos_conv3d_params p = cosmos_conv3d_params_causal(3, 1, 1, 2, 1, 0);
        p.time_pad += 1;
        snprintf(name, sizeof name, "%s.conv2", prefix);
        CHECK(conv(e, &y, x, name, x->C, p));
        const int64_t HW = x->H * x->W;
        for (int64_t c = 0; c < x->C; c++)
            for (int64_t t = 0; t < y.T; t++) {
                int64_t a = 2 * t - 1 < 0 ? 0 : 2 * t - 1, b = 2 * t < x->T ? 2 * t : x->T - 1;
                const float *xa = x->d + (c * x->T + a) * HW, *xb = x->d + (c * x->T + b) * HW;
                float *yd = y.d + (c * y.T + t) * HW;
                for (int64_t i = 0; i < HW; i++) yd[i] += (xa[i] + xb[i]) * 0.5f;
            }
        act_move(x, &y);
    }
    snprintf(name, sizeof name, "%s.conv3", prefix);
    CHECK(conv_ip(e, x, name, x->C, cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0)));
fail:
    act_free(&y);
    return st;
}

cosmos_status cosmos_dv_encode(cosmos_backend_t *be, cosmos_h5_t *weights, const struct cosmos_dv_config *cfg,
                               const float *video, int64_t T, int64_t H, int64_t W, float *latent, int32_t *indices,
                               float *codes) {
    cosmos_status st = COSMOS_OK;
    struct enc e = {be, weights};
    struct act x = {0}, in = {0};
    float *codes_tmp = NULL;
    char name[256];
    const int p = cfg->patch_size;
    CHECK_ARG(cosmos_backend_is_host(be), COSMOS_ERR_UNSUPPORTED,
              "dv encoder: backend '%s' is not a host backend (the encoder runs on the CPU backend for now)",
              cosmos_backend_name(be));
    CHECK_ARG(T >= 1 && H > 0 && W > 0 && H % cfg->spatial_compression == 0 && W % cfg->spatial_compression == 0,
              COSMOS_ERR_INVALID_ARG, "dv encoder: clip %lldx%lldx%lld: need T >= 1 and H, W multiples of %d",
              (long long)T, (long long)H, (long long)W, cfg->spatial_compression);
    CHECK_ARG((T - 1) % cfg->temporal_compression == 0, COSMOS_ERR_INVALID_ARG,
              "dv encoder: %lld frames; the frame count must be 1 + %d*k", (long long)T, cfg->temporal_compression);

    /* patcher */
    in.d = (float *)video, in.C = cfg->in_channels, in.T = T, in.H = H, in.W = W;
    {
        int64_t C = in.C, Tp = T + p - 1;
        for (int q = p; q > 1; q /= 2) C *= 8, Tp = (Tp + 1) / 2;
        CHECK(act_new(&x, C, Tp, H / p, W / p));
        CHECK(cosmos_op_haar_patch(be, tv(&x), tv(&in), p, COSMOS_HAAR_TAP));
    }
    CHECK(conv_fact(&e, &x, "encoder.conv_in", cfg->channels));

    const int n_sd = ilog2(cfg->spatial_compression) - ilog2(p);
    const int n_td = ilog2(cfg->temporal_compression) - ilog2(p);
    int curr_res = cfg->resolution / p;
    for (int l = 0; l < cfg->n_levels; l++) {
        int has_attn = 0;
        for (int a = 0; a < cfg->n_attn_resolutions; a++) has_attn |= cfg->attn_resolutions[a] == curr_res;
        for (int b = 0; b < cfg->num_res_blocks; b++) {
            snprintf(name, sizeof name, "encoder.down.%d.block.%d", l, b);
            CHECK(resblock(&e, &x, name, (int64_t)cfg->channels * cfg->channels_mult[l]));
            if (has_attn) {
                snprintf(name, sizeof name, "encoder.down.%d.attn.%d", l, b);
                CHECK(attn_pair(&e, &x, name));
            }
        }
        if (l != cfg->n_levels - 1) {
            snprintf(name, sizeof name, "encoder.down.%d.downsample", l);
            CHECK(downsample(&e, &x, name, l < n_sd, l < n_td));
            curr_res /= 2;
        }
    }
    CHECK(resblock(&e, &x, "encoder.mid.block_1", x.C));
    CHECK(attn_pair(&e, &x, "encoder.mid.attn_1"));
    CHECK(resblock(&e, &x, "encoder.mid.block_2", x.C));
    CHECK(norm(&e, &x, &x, "encoder.norm_out"));
    CHECK(cosmos_op_swish(be, tv(&x), tv(&x)));
    CHECK(conv_fact(&e, &x, "encoder.conv_out", cfg->z_channels));
    CHECK(conv_ip(&e, &x, "quant_conv", cfg->embedding_dim, cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0)));

    const int64_t N = x.T * x.H * x.W;
    if (latent) memcpy(latent, x.d, sizeof(float) * (size_t)(x.C * N));
    if (!codes) {
        codes_tmp = malloc(sizeof(float) * (size_t)(x.C * N));
        CHECK_ALLOC(codes_tmp);
    }
    struct act c = {codes ? codes : codes_tmp, x.C, x.T, x.H, x.W};
    CHECK(cosmos_op_fsq_quantize(be, cosmos_tensor_1d(indices, COSMOS_I32, N), tv(&c), tv(&x), cfg->fsq_levels,
                                 cfg->embedding_dim));
fail:
    act_free(&x);
    free(codes_tmp);
    return st;
}
