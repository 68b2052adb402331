/* Diffusion-decoder DiT: weight binding and the forward pass (spec components.md 4.4; see
 * dit_model.h). Activations live on the backend as rows [N, D], N = T * Hp * Wp tokens in (t, h, w)
 * row-major order, heads split as [N, num_heads, head_dim]. Per block b and sub-block k in FA, CA,
 * MLP:  (shift, scale, gate) = chunk3(adaLN_modulation_bk(e) + adaln_lora)  (computed once per call
 * for all sub-blocks: they depend on the timestep only), then
 *   h += gate * F_k(LN(h) * (1 + scale) + shift).
 * Matmul weights stay in their stored dtype (bf16 via cosmos_op_matmul, f32 via matmul_f32w), as do
 * the RMSNorm weights. The cross-attention K/V [L, D] of every block are cached per context. */
#include "core/model/dit_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/model/dit_weights.h"

#define DIT_EPS 1e-6f /* LayerNorm, RMSNorm (affline_norm, per-head q/k) */

struct dit_attn {
    struct cosmos_tensor q, q_norm, k, k_norm, v, out;
};

struct dit_block {
    struct cosmos_tensor ada1[3], ada2[3]; /* adaLN_modulation.1 [R, D], .2 [3D, R] per sub-block */
    struct dit_attn fa, ca;
    struct cosmos_tensor mlp1, mlp2; /* [F, D], [D, F] */
};

/* Per-forward activation buffers (backend memory), kept between calls and grown with the token count:
 * a GPU forward then allocates nothing. */
enum { B_H, B_HN, B_Q, B_K, B_V, B_ATT, B_F, B_IN, B_OUT, B_COS, B_SIN, B_TEMB, B_T1, B_LORA, B_E, B_R, B_MOD, B_STG, NB };

struct cosmos_dit {
    cosmos_backend_t *be;
    cosmos_h5_t *h5;
    struct cosmos_dit_config cfg;
    struct cosmos_tensor x_embed;             /* [D, K] */
    struct cosmos_tensor t_lin1, t_lin2;      /* [D, D], [3D, D] */
    struct cosmos_tensor affline_norm;        /* [D] */
    struct cosmos_tensor final_ada1, final_ada2, final_linear; /* [R, D], [2D, R], [P, D] */
    float *token_table;                       /* host f32 [vocab, token_dim] (gathered on the host) */
    struct dit_block *blocks;
    void **host_owned, **dev_owned;
    int n_host_owned, n_dev_owned, cap_owned;
    /* cross-attention K/V cache: the context they come from (host copy) and [num_blocks][2][L, D] */
    float *ctx_host;
    int64_t ctx_L;
    void *ca_kv;
    void *ws[NB];  /* the forward's buffers, sized for ws_N tokens */
    int64_t ws_N;
    /* the RoPE tables now in ws[B_COS], ws[B_SIN]: for this latent grid and fps (rope_T 0: none). The
     * 32 forwards of a chunk share them, so they are built and uploaded once. */
    int64_t rope_T, rope_Hp, rope_Wp;
    float rope_fps;
};

const struct cosmos_dit_config *cosmos_dit_get_config(const cosmos_dit_t *m) { return &m->cfg; }

/* ------------------------------------------------------------------------------------ loading */

static void track(void **arr, int *n, void *p) {
    if (p) arr[(*n)++] = p;
}

/* Bind one (already shape-checked) dataset in its stored dtype: in place from the mapping on a host
 * backend when possible, otherwise read and uploaded. */
static cosmos_status bind(cosmos_dit_t *m, const struct cosmos_dit_tensor_spec *sp, struct cosmos_tensor *t) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_h5_info info;
    void *owned = NULL;
    const void *host = NULL;
    CHECK(cosmos_h5_info(m->h5, sp->name, &info));
    const size_t numel = (size_t)(sp->shape[0] * sp->shape[1]);
    if (info.dtype == COSMOS_BF16) {
        const cosmos_bf16 *p = NULL;
        CHECK(cosmos_h5_map_bf16(m->h5, sp->name, &p, &owned));
        host = p;
    } else {
        owned = malloc(sizeof(float) * numel);
        CHECK_ALLOC(owned);
        CHECK(cosmos_h5_read(m->h5, sp->name, COSMOS_F32, owned));
        host = owned;
    }
    void *data = (void *)host;
    const size_t bytes = numel * cosmos_dtype_size(info.dtype);
    if (cosmos_backend_is_host(m->be)) {
        track(m->host_owned, &m->n_host_owned, owned);
        owned = NULL;
    } else {
        CHECK(cosmos_backend_alloc(m->be, bytes, &data));
        track(m->dev_owned, &m->n_dev_owned, data);
        CHECK(cosmos_backend_upload(m->be, data, host, bytes));
    }
    *t = sp->ndim == 2 ? cosmos_tensor_2d(data, info.dtype, sp->shape[0], sp->shape[1])
                       : cosmos_tensor_1d(data, info.dtype, sp->shape[0]);
fail:
    free(owned);
    return st;
}

/* The token table is gathered on the host: a host f32 copy whatever the stored dtype. */
static cosmos_status load_token_table(cosmos_dit_t *m, const struct cosmos_dit_tensor_spec *sp) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_h5_info info;
    const size_t numel = (size_t)(sp->shape[0] * sp->shape[1]);
    CHECK(cosmos_h5_info(m->h5, sp->name, &info));
    m->token_table = malloc(sizeof(float) * numel);
    CHECK_ALLOC(m->token_table);
    if (info.dtype == COSMOS_F32) {
        CHECK(cosmos_h5_read(m->h5, sp->name, COSMOS_F32, m->token_table));
    } else {
        const cosmos_bf16 *p = NULL;
        void *owned = NULL;
        CHECK(cosmos_h5_map_bf16(m->h5, sp->name, &p, &owned));
        cosmos_bf16_to_f32_n(m->token_table, p, numel);
        free(owned);
    }
fail:
    return st;
}

/* The file's config must describe the network of cfg (the sampling keys may differ). */
static cosmos_status same_network(const struct cosmos_dit_config *a, const struct cosmos_dit_config *f,
                                  const char *path) {
    const struct {
        const char *key;
        double x, y;
    } k[] = {
        {"max_img_h", a->max_img_h, f->max_img_h},
        {"max_img_w", a->max_img_w, f->max_img_w},
        {"max_frames", a->max_frames, f->max_frames},
        {"in_channels", a->in_channels, f->in_channels},
        {"out_channels", a->out_channels, f->out_channels},
        {"patch_spatial", a->patch_spatial, f->patch_spatial},
        {"model_channels", a->model_channels, f->model_channels},
        {"num_blocks", a->num_blocks, f->num_blocks},
        {"num_heads", a->num_heads, f->num_heads},
        {"mlp_ratio", a->mlp_ratio, f->mlp_ratio},
        {"crossattn_emb_channels", a->crossattn_emb_channels, f->crossattn_emb_channels},
        {"adaln_lora_dim", a->adaln_lora_dim, f->adaln_lora_dim},
        {"rope_h_extrapolation_ratio", a->rope_h_extrapolation_ratio, f->rope_h_extrapolation_ratio},
        {"rope_w_extrapolation_ratio", a->rope_w_extrapolation_ratio, f->rope_w_extrapolation_ratio},
        {"rope_t_extrapolation_ratio", a->rope_t_extrapolation_ratio, f->rope_t_extrapolation_ratio},
        {"diffusion_decoder_token_condition_voc_size", a->token_vocab_size, f->token_vocab_size},
        {"diffusion_decoder_token_condition_dim", a->token_dim, f->token_dim},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        if (k[i].x != k[i].y) {
            LOG_ERROR("%s: the file's config has '%s' %g but the requested config has %g (hint: load the config "
                      "from the file, cosmos_dit_read_header)",
                      path, k[i].key, k[i].y, k[i].x);
            return COSMOS_ERR_INVALID_ARG;
        }
    }
    return COSMOS_OK;
}

cosmos_status cosmos_dit_load(cosmos_backend_t *be, cosmos_h5_t *h5, const struct cosmos_dit_config *cfg,
                              cosmos_dit_t **out) {
    cosmos_status st = COSMOS_OK;
    cosmos_dit_t *m = NULL;
    struct cosmos_dit_tensor_spec *specs = NULL;
    struct cosmos_dit_config file_cfg;
    int n = 0;
    *out = NULL;
    CHECK(cosmos_dit_read_header(h5, &file_cfg));
    CHECK(same_network(cfg, &file_cfg, cosmos_h5_path(h5)));
    CHECK(cosmos_dit_check_weights(h5, cfg));
    CHECK(cosmos_dit_weight_specs(cfg, &specs, &n));
    m = calloc(1, sizeof *m);
    CHECK_ALLOC(m);
    m->be = be;
    m->h5 = h5;
    m->cfg = *cfg;
    m->cap_owned = n;
    m->host_owned = calloc((size_t)n, sizeof(void *));
    m->dev_owned = calloc((size_t)n, sizeof(void *));
    m->blocks = calloc((size_t)cfg->num_blocks, sizeof *m->blocks);
    CHECK_ALLOC(m->host_owned);
    CHECK_ALLOC(m->dev_owned);
    CHECK_ALLOC(m->blocks);
    /* specs come in cosmos_dit_weight_specs order (see dit_weights.h) */
    int j = 0;
    CHECK(bind(m, &specs[j++], &m->x_embed));
    CHECK(load_token_table(m, &specs[j++]));
    CHECK(bind(m, &specs[j++], &m->t_lin1));
    CHECK(bind(m, &specs[j++], &m->t_lin2));
    for (int b = 0; b < cfg->num_blocks; b++) {
        struct dit_block *B = &m->blocks[b];
        for (int k = 0; k < 3; k++) {
            if (k == COSMOS_DIT_MLP) {
                CHECK(bind(m, &specs[j++], &B->mlp1));
                CHECK(bind(m, &specs[j++], &B->mlp2));
            } else {
                struct dit_attn *A = k == COSMOS_DIT_FA ? &B->fa : &B->ca;
                CHECK(bind(m, &specs[j++], &A->q));
                CHECK(bind(m, &specs[j++], &A->q_norm));
                CHECK(bind(m, &specs[j++], &A->k));
                CHECK(bind(m, &specs[j++], &A->k_norm));
                CHECK(bind(m, &specs[j++], &A->v));
                CHECK(bind(m, &specs[j++], &A->out));
            }
            CHECK(bind(m, &specs[j++], &B->ada1[k]));
            CHECK(bind(m, &specs[j++], &B->ada2[k]));
        }
    }
    CHECK(bind(m, &specs[j++], &m->final_linear));
    CHECK(bind(m, &specs[j++], &m->final_ada1));
    CHECK(bind(m, &specs[j++], &m->final_ada2));
    CHECK(bind(m, &specs[j++], &m->affline_norm));
    CHECK_ARG(j == n, COSMOS_ERR_INTERNAL, "dit load: bound %d of %d tensors", j, n);
    *out = m;
    m = NULL;
fail:
    cosmos_dit_free(m);
    free(specs);
    return st;
}

void cosmos_dit_free(cosmos_dit_t *m) {
    if (!m) return;
    for (int i = 0; i < m->n_dev_owned; i++) cosmos_backend_free_mem(m->be, m->dev_owned[i]);
    for (int i = 0; i < m->n_host_owned; i++) free(m->host_owned[i]);
    cosmos_backend_free_mem(m->be, m->ca_kv);
    for (int i = 0; i < NB; i++) cosmos_backend_free_mem(m->be, m->ws[i]);
    free(m->ctx_host);
    free(m->dev_owned);
    free(m->host_owned);
    free(m->blocks);
    free(m->token_table);
    free(m);
}

/* ------------------------------------------------------------------------- host preparation */

void cosmos_dit_resize_bilinear(float *dst, const float *src, int64_t C, int64_t Hi, int64_t Wi, int64_t Ho,
                                int64_t Wo) {
    /* PyTorch's upsample_bilinear2d (align_corners=False): source = scale * (dst + 0.5) - 0.5 clamped at
     * 0, scale = in / out in f32; the lower tap, the next one (or itself at the last row), weights
     * (1 - lambda, lambda). */
    const float sh = (float)Hi / (float)Ho, sw = (float)Wi / (float)Wo;
    for (int64_t c = 0; c < C; c++) {
        const float *s = src + c * Hi * Wi;
        float *d = dst + c * Ho * Wo;
        for (int64_t y = 0; y < Ho; y++) {
            float fy = sh * ((float)y + 0.5f) - 0.5f;
            if (fy < 0.0f) fy = 0.0f;
            const int64_t y0 = (int64_t)fy, dy = y0 < Hi - 1 ? 1 : 0;
            const float ly1 = fy - (float)y0, ly0 = 1.0f - ly1;
            for (int64_t x = 0; x < Wo; x++) {
                float fx = sw * ((float)x + 0.5f) - 0.5f;
                if (fx < 0.0f) fx = 0.0f;
                const int64_t x0 = (int64_t)fx, dx = x0 < Wi - 1 ? 1 : 0;
                const float lx1 = fx - (float)x0, lx0 = 1.0f - lx1;
                const float *r0 = s + y0 * Wi + x0, *r1 = s + (y0 + dy) * Wi + x0;
                d[y * Wo + x] = ly0 * (lx0 * r0[0] + lx1 * r0[dx]) + ly1 * (lx0 * r1[0] + lx1 * r1[dx]);
            }
        }
    }
}

cosmos_status cosmos_dit_rope_tables(const struct cosmos_dit_config *c, int64_t T, int64_t Hp, int64_t Wp,
                                     float fps, float *cos_tab, float *sin_tab) {
    /* VideoRopePosition3DEmb: theta = 10000 * ratio^(dim / (dim - 2)) in double; the frequencies
     * 1 / theta^(2j / dim) and the angles in f32, as the module computes them. */
    const int dh = c->rope_dim_h, dw = c->rope_dim_w, dt = c->rope_dim_t, half = c->head_dim / 2;
    const float th = (float)(10000.0 * pow(c->rope_h_extrapolation_ratio, (double)dh / (dh - 2)));
    const float tw = (float)(10000.0 * pow(c->rope_w_extrapolation_ratio, (double)dw / (dw - 2)));
    const float tt = (float)(10000.0 * pow(c->rope_t_extrapolation_ratio, (double)dt / (dt - 2)));
    float *fq = malloc(sizeof(float) * (size_t)half); /* [f_t (dt/2), f_h (dh/2), f_w (dw/2)] */
    if (!fq) return COSMOS_ERR_NOMEM;
    for (int j = 0; j < dt / 2; j++) fq[j] = 1.0f / powf(tt, (float)(2 * j) / (float)dt);
    for (int j = 0; j < dh / 2; j++) fq[dt / 2 + j] = 1.0f / powf(th, (float)(2 * j) / (float)dh);
    for (int j = 0; j < dw / 2; j++) fq[dt / 2 + dh / 2 + j] = 1.0f / powf(tw, (float)(2 * j) / (float)dw);
    for (int64_t t = 0; t < T; t++) {
        const float tpos = (float)t / fps * 24.0f; /* seq[:T] / fps * base_fps */
        for (int64_t h = 0; h < Hp; h++)
            for (int64_t w = 0; w < Wp; w++) {
                const int64_t n = (t * Hp + h) * Wp + w;
                float *cr = cos_tab + n * half, *sr = sin_tab + n * half;
                for (int i = 0; i < half; i++) {
                    const float pos = i < dt / 2 ? tpos : i < dt / 2 + dh / 2 ? (float)h : (float)w;
                    const float a = pos * fq[i];
                    cr[i] = cosf(a);
                    sr[i] = sinf(a);
                }
            }
    }
    free(fq);
    return COSMOS_OK;
}

void cosmos_dit_timestep_embedding(int64_t D, float c_noise, float *emb) {
    /* Timesteps: exponent = -ln(10000) * arange(D/2) / (D/2), emb = t * exp(exponent), cat(cos, sin) */
    const int64_t half = D / 2;
    for (int64_t i = 0; i < half; i++) {
        const float e = (-9.21034037197618f * (float)i) / (float)half;
        const float a = c_noise * expf(e);
        emb[i] = cosf(a);
        emb[half + i] = sinf(a);
    }
}

/* xin [N, K]: patches of x ‖ upsampled token embedding ‖ padding mask (0), feature order
 * (c, r, m, n) = ((c * pt + r) * ps + m) * ps + n with pt = 1 (spec 4.4 steps 1-3). */
static cosmos_status build_patches(const cosmos_dit_t *m, const float *x, int64_t T, int64_t H, int64_t W,
                                   const int32_t *tokens, int64_t Ht, int64_t Wt, float *xin) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_dit_config *c = &m->cfg;
    const int64_t ps = c->patch_spatial, Hp = H / ps, Wp = W / ps, Cin = c->in_channels, E = c->token_dim;
    const int64_t K = c->patch_in_features, HW = H * W;
    float *emb = NULL, *img = NULL;
    img = malloc(sizeof(float) * (size_t)(E * T * HW)); /* [E, T, H, W] */
    CHECK_ALLOC(img);
    if (tokens) {
        emb = malloc(sizeof(float) * (size_t)(E * Ht * Wt)); /* one frame [E, Ht, Wt] */
        CHECK_ALLOC(emb);
        for (int64_t t = 0; t < T; t++) {
            for (int64_t i = 0; i < Ht * Wt; i++) {
                const float *row = m->token_table + (int64_t)tokens[t * Ht * Wt + i] * E;
                for (int64_t e = 0; e < E; e++) emb[e * Ht * Wt + i] = row[e];
            }
            /* one frame of every channel: dst [E, H, W] with frame stride T * HW */
            for (int64_t e = 0; e < E; e++)
                cosmos_dit_resize_bilinear(img + (e * T + t) * HW, emb + e * Ht * Wt, 1, Ht, Wt, H, W);
        }
    } else { /* every index 0: row 0 of the table everywhere (resizing a constant leaves it) */
        for (int64_t e = 0; e < E; e++)
            for (int64_t i = 0; i < T * HW; i++) img[e * T * HW + i] = m->token_table[e];
    }
#pragma omp parallel for collapse(2) schedule(static) if (T * Hp * Wp * K > 65536)
    for (int64_t t = 0; t < T; t++)
        for (int64_t hp = 0; hp < Hp; hp++)
            for (int64_t wp = 0; wp < Wp; wp++) {
                float *row = xin + ((t * Hp + hp) * Wp + wp) * K;
                for (int64_t ch = 0; ch < Cin + E + 1; ch++)
                    for (int64_t a = 0; a < ps; a++)
                        for (int64_t b = 0; b < ps; b++) {
                            const int64_t pix = t * HW + (hp * ps + a) * W + wp * ps + b;
                            row[(ch * ps + a) * ps + b] = ch < Cin       ? x[ch * T * HW + pix]
                                                          : ch < Cin + E ? img[(ch - Cin) * T * HW + pix]
                                                                         : 0.0f;
                        }
            }
fail:
    free(emb);
    free(img);
    return st;
}

/* out [Cout, T, H, W] from y [N, P]: token (t, h, w) output index ((p1 * ps + p2) * pt + 0) * Cout + C
 * goes to pixel (h * ps + p1, w * ps + p2) of channel C (spec 4.4 step 8). */
static void unpatchify(const struct cosmos_dit_config *c, const float *y, int64_t T, int64_t H, int64_t W,
                       float *out) {
    const int64_t ps = c->patch_spatial, Hp = H / ps, Wp = W / ps, Co = c->out_channels, P = c->patch_out_features;
    for (int64_t t = 0; t < T; t++)
        for (int64_t hp = 0; hp < Hp; hp++)
            for (int64_t wp = 0; wp < Wp; wp++) {
                const float *row = y + ((t * Hp + hp) * Wp + wp) * P;
                for (int64_t p1 = 0; p1 < ps; p1++)
                    for (int64_t p2 = 0; p2 < ps; p2++)
                        for (int64_t ch = 0; ch < Co; ch++)
                            out[((ch * T + t) * H + hp * ps + p1) * W + wp * ps + p2] = row[(p1 * ps + p2) * Co + ch];
            }
}

/* ------------------------------------------------------------------------------ backend glue */

static cosmos_status linear(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                            struct cosmos_tensor w) {
    return w.dtype == COSMOS_F32 ? cosmos_op_matmul_f32w(be, y, x, w) : cosmos_op_matmul(be, y, x, w);
}

static cosmos_status rmsnorm(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                             struct cosmos_tensor w) {
    return w.dtype == COSMOS_F32 ? cosmos_op_rmsnorm_f32w(be, y, x, w, DIT_EPS) : cosmos_op_rmsnorm(be, y, x, w, DIT_EPS);
}

/* Host f32 -> backend activations t (via the f32 staging buffer `stage`, of at least numel(t)
 * floats, and a copy when they are not f32; stage NULL: a temporary one). */
static cosmos_status to_backend(cosmos_backend_t *be, struct cosmos_tensor t, const float *host, void *stage) {
    const size_t n = (size_t)cosmos_tensor_numel(&t);
    if (t.dtype == COSMOS_F32) return cosmos_backend_upload(be, t.data, host, n * sizeof(float));
    void *own = NULL;
    cosmos_status st = stage ? COSMOS_OK : cosmos_backend_alloc(be, n * sizeof(float), &own);
    if (!stage) stage = own;
    if (st == COSMOS_OK) st = cosmos_backend_upload(be, stage, host, n * sizeof(float));
    if (st == COSMOS_OK) st = cosmos_op_copy(be, t, cosmos_tensor_1d(stage, COSMOS_F32, (int64_t)n));
    if (st == COSMOS_OK) st = cosmos_backend_sync(be); /* the stage may be reused at once */
    cosmos_backend_free_mem(be, own);
    return st;
}

/* Backend activations t -> host f32, through `stage` (at least numel(t) floats) when t is not f32. */
static cosmos_status from_backend(cosmos_backend_t *be, float *host, struct cosmos_tensor t, void *stage) {
    const size_t n = (size_t)cosmos_tensor_numel(&t);
    cosmos_status st = COSMOS_OK;
    if (t.dtype == COSMOS_F32) {
        st = cosmos_backend_download(be, host, t.data, n * sizeof(float));
    } else {
        st = cosmos_op_copy(be, cosmos_tensor_1d(stage, COSMOS_F32, (int64_t)n), t);
        if (st == COSMOS_OK) st = cosmos_backend_download(be, host, stage, n * sizeof(float));
    }
    return st == COSMOS_OK ? cosmos_backend_sync(be) : st;
}

/* Cross-attention K/V of every block for `context` [L, C] (spec 4.4 step 6, CA: k = RMSNorm_head(ctx
 * Wk^T), v = ctx Wv^T), kept in m->ca_kv with a host copy of the context they belong to. */
static cosmos_status update_ca_kv(cosmos_dit_t *m, const float *context, int64_t L) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = m->be;
    const struct cosmos_dit_config *c = &m->cfg;
    const int64_t D = c->model_channels, C = c->crossattn_emb_channels;
    const enum cosmos_dtype act = cosmos_backend_act_dtype(be);
    const size_t as = cosmos_dtype_size(act);
    void *ctx_buf = NULL;
    if (m->ctx_host && m->ctx_L == L && memcmp(m->ctx_host, context, sizeof(float) * (size_t)(L * C)) == 0)
        return COSMOS_OK;
    free(m->ctx_host);
    m->ctx_host = NULL;
    cosmos_backend_free_mem(be, m->ca_kv);
    m->ca_kv = NULL;
    CHECK(cosmos_backend_alloc(be, as * (size_t)(c->num_blocks * 2 * L * D), &m->ca_kv));
    CHECK(cosmos_backend_alloc(be, as * (size_t)(L * C), &ctx_buf));
    struct cosmos_tensor ctx = cosmos_tensor_2d(ctx_buf, act, L, C);
    CHECK(to_backend(be, ctx, context, NULL));
    for (int b = 0; b < c->num_blocks; b++) {
        const struct dit_attn *A = &m->blocks[b].ca;
        char *base = (char *)m->ca_kv + as * (size_t)(b * 2 * L * D);
        struct cosmos_tensor k = cosmos_tensor_2d(base, act, L, D);
        struct cosmos_tensor v = cosmos_tensor_2d(base + as * (size_t)(L * D), act, L, D);
        CHECK(linear(be, k, ctx, A->k));
        CHECK(rmsnorm(be, cosmos_tensor_2d(k.data, act, L * c->num_heads, c->head_dim),
                      cosmos_tensor_2d(k.data, act, L * c->num_heads, c->head_dim), A->k_norm));
        CHECK(linear(be, v, ctx, A->v));
    }
    CHECK(cosmos_backend_sync(be));
    m->ctx_host = malloc(sizeof(float) * (size_t)(L * C));
    CHECK_ALLOC(m->ctx_host);
    memcpy(m->ctx_host, context, sizeof(float) * (size_t)(L * C));
    m->ctx_L = L;
fail:
    if (st != COSMOS_OK) {
        cosmos_backend_free_mem(be, m->ca_kv);
        m->ca_kv = NULL;
    }
    cosmos_backend_free_mem(be, ctx_buf);
    return st;
}

static cosmos_status check_inputs(const cosmos_dit_t *m, const float *x, int64_t T, int64_t H, int64_t W,
                                  float c_noise, const float *context, int64_t L, const int32_t *tokens, int64_t Ht,
                                  int64_t Wt, float fps, const float *out) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_dit_config *c = &m->cfg;
    const int64_t ps = c->patch_spatial;
    CHECK_ARG(x && out, COSMOS_ERR_INVALID_ARG, "dit forward: x and out must not be NULL");
    CHECK_ARG(T >= 1 && H >= 1 && W >= 1 && H % ps == 0 && W % ps == 0, COSMOS_ERR_INVALID_ARG,
              "dit forward: x [%d, %lld, %lld, %lld]: T, H, W must be positive, H and W multiples of patch_spatial %d",
              c->in_channels, (long long)T, (long long)H, (long long)W, c->patch_spatial);
    CHECK_ARG(T <= c->max_frames / c->patch_temporal && H / ps <= c->max_img_h / ps && W / ps <= c->max_img_w / ps,
              COSMOS_ERR_INVALID_ARG,
              "dit forward: x [T=%lld, H=%lld, W=%lld] exceeds the RoPE range of the config (max_frames %d, "
              "max_img_h %d, max_img_w %d)",
              (long long)T, (long long)H, (long long)W, c->max_frames, c->max_img_h, c->max_img_w);
    CHECK_ARG(isfinite(c_noise), COSMOS_ERR_INVALID_ARG, "dit forward: c_noise %g is not finite", (double)c_noise);
    CHECK_ARG(isfinite(fps) && fps > 0.0f, COSMOS_ERR_INVALID_ARG, "dit forward: fps %g must be positive",
              (double)fps);
    CHECK_ARG(!context || (L >= 1 && L <= (1 << 20)), COSMOS_ERR_INVALID_ARG,
              "dit forward: context length L %lld must be in [1, 2^20]", (long long)L);
    if (tokens) {
        CHECK_ARG(Ht >= 1 && Wt >= 1 && Ht <= H && Wt <= W, COSMOS_ERR_INVALID_ARG,
                  "dit forward: tokens [%lld, %lld, %lld] must be upsampled to x's %lld x %lld: need 1 <= Ht <= H and "
                  "1 <= Wt <= W (a bilinear downsample would need torchvision's antialiasing)",
                  (long long)T, (long long)Ht, (long long)Wt, (long long)H, (long long)W);
        for (int64_t i = 0; i < T * Ht * Wt; i++)
            CHECK_ARG(tokens[i] >= 0 && tokens[i] < c->token_vocab_size, COSMOS_ERR_INVALID_ARG,
                      "dit forward: token %d at index %lld is outside [0, %d)", tokens[i], (long long)i,
                      c->token_vocab_size);
    }
fail:
    return st;
}

/* ----------------------------------------------------------------------------------- forward */

cosmos_status cosmos_dit_forward(cosmos_dit_t *m, const float *x, int64_t T, int64_t H, int64_t W, float c_noise,
                                 const float *context, int64_t L, const int32_t *tokens, int64_t Ht, int64_t Wt,
                                 float fps, float *out) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = m->be;
    const struct cosmos_dit_config *c = &m->cfg;
    const int64_t ps = c->patch_spatial, N = T * (H / ps) * (W / ps), D = c->model_channels, Hn = c->num_heads,
                  Dh = c->head_dim, F = c->mlp_hidden, K = c->patch_in_features, P = c->patch_out_features,
                  R = c->adaln_lora_dim, nmod = 3 * (int64_t)c->num_blocks;
    const enum cosmos_dtype act = cosmos_backend_act_dtype(be);
    const size_t as = cosmos_dtype_size(act);
    float *xin = NULL, *cos_h = NULL, *sin_h = NULL, *yh = NULL, *temb_h = NULL;
    void **buf = m->ws;
    CHECK(check_inputs(m, x, T, H, W, c_noise, context, L, tokens, Ht, Wt, fps, out));
    if (context) CHECK(update_ca_kv(m, context, L));

    /* host preparation: patches, RoPE tables, timestep sinusoid */
    xin = malloc(sizeof(float) * (size_t)(N * K));
    yh = malloc(sizeof(float) * (size_t)(N * P));
    temb_h = malloc(sizeof(float) * (size_t)D);
    CHECK_ALLOC(xin);
    CHECK_ALLOC(yh);
    CHECK_ALLOC(temb_h);
    CHECK(build_patches(m, x, T, H, W, tokens, Ht, Wt, xin));
    cosmos_dit_timestep_embedding(D, c_noise, temb_h);

    const int64_t n_io = N * (K > P ? K : P), n_stage = n_io > D ? n_io : D; /* staged in and out */
    const int64_t sizes[NB] = {
        [B_H] = N * D,  [B_HN] = N * D, [B_Q] = N * D,    [B_K] = N * D,         [B_V] = N * D, [B_ATT] = N * D,
        [B_F] = N * F,  [B_IN] = N * K, [B_OUT] = N * P,  [B_COS] = N * Dh / 2,  [B_SIN] = N * Dh / 2,
        [B_TEMB] = D,   [B_T1] = D,     [B_LORA] = 3 * D, [B_E] = D,             [B_R] = R,
        [B_MOD] = (nmod + 1) * 3 * D,
        [B_STG] = n_stage,
    };
    if (m->ws_N < N) { /* (re)size the kept buffers for N tokens */
        for (int i = 0; i < NB; i++) {
            cosmos_backend_free_mem(be, buf[i]);
            buf[i] = NULL;
        }
        m->ws_N = 0;
        m->rope_T = 0; /* the tables went with the buffers */
        for (int i = 0; i < NB; i++) {
            /* RoPE tables and the host staging buffer are f32 */
            const size_t es = i == B_COS || i == B_SIN || i == B_STG ? sizeof(float) : as;
            CHECK(cosmos_backend_alloc(be, es * (size_t)sizes[i], &buf[i]));
        }
        m->ws_N = N;
    }
    struct cosmos_tensor h = cosmos_tensor_2d(buf[B_H], act, N, D), hn = cosmos_tensor_2d(buf[B_HN], act, N, D);
    struct cosmos_tensor q = cosmos_tensor_2d(buf[B_Q], act, N, D), k = cosmos_tensor_2d(buf[B_K], act, N, D);
    struct cosmos_tensor v = cosmos_tensor_2d(buf[B_V], act, N, D), att = cosmos_tensor_2d(buf[B_ATT], act, N, D);
    struct cosmos_tensor q3 = cosmos_tensor_3d(buf[B_Q], act, N, Hn, Dh), k3 = cosmos_tensor_3d(buf[B_K], act, N, Hn, Dh);
    struct cosmos_tensor v3 = cosmos_tensor_3d(buf[B_V], act, N, Hn, Dh);
    struct cosmos_tensor att3 = cosmos_tensor_3d(buf[B_ATT], act, N, Hn, Dh);
    struct cosmos_tensor qh = cosmos_tensor_2d(buf[B_Q], act, N * Hn, Dh); /* per-head rows */
    struct cosmos_tensor f = cosmos_tensor_2d(buf[B_F], act, N, F);
    struct cosmos_tensor xt = cosmos_tensor_2d(buf[B_IN], act, N, K), yt = cosmos_tensor_2d(buf[B_OUT], act, N, P);
    struct cosmos_tensor cos_t = cosmos_tensor_2d(buf[B_COS], COSMOS_F32, N, Dh / 2);
    struct cosmos_tensor sin_t = cosmos_tensor_2d(buf[B_SIN], COSMOS_F32, N, Dh / 2);
    struct cosmos_tensor temb = cosmos_tensor_2d(buf[B_TEMB], act, 1, D), t1 = cosmos_tensor_2d(buf[B_T1], act, 1, D);
    struct cosmos_tensor lora = cosmos_tensor_2d(buf[B_LORA], act, 1, 3 * D), e = cosmos_tensor_2d(buf[B_E], act, 1, D);
    struct cosmos_tensor r = cosmos_tensor_2d(buf[B_R], act, 1, R);
    CHECK(to_backend(be, xt, xin, buf[B_STG]));
    if (m->rope_T != T || m->rope_Hp != H / ps || m->rope_Wp != W / ps || m->rope_fps != fps) {
        m->rope_T = 0;
        cos_h = malloc(sizeof(float) * (size_t)(N * Dh / 2));
        sin_h = malloc(sizeof(float) * (size_t)(N * Dh / 2));
        CHECK_ALLOC(cos_h);
        CHECK_ALLOC(sin_h);
        CHECK(cosmos_dit_rope_tables(c, T, H / ps, W / ps, fps, cos_h, sin_h));
        CHECK(cosmos_backend_upload(be, buf[B_COS], cos_h, sizeof(float) * (size_t)(N * Dh / 2)));
        CHECK(cosmos_backend_upload(be, buf[B_SIN], sin_h, sizeof(float) * (size_t)(N * Dh / 2)));
        m->rope_T = T, m->rope_Hp = H / ps, m->rope_Wp = W / ps, m->rope_fps = fps;
    }
    CHECK(to_backend(be, temb, temb_h, buf[B_STG]));

    /* step 3: patch embedding */
    CHECK(linear(be, h, xt, m->x_embed));
    /* step 5: adaln_lora = linear_2(silu(linear_1(emb))); e = silu(RMSNorm(emb)) feeds every modulation */
    CHECK(linear(be, t1, temb, m->t_lin1));
    CHECK(cosmos_op_swish(be, t1, t1));
    CHECK(linear(be, lora, t1, m->t_lin2));
    CHECK(rmsnorm(be, e, temb, m->affline_norm));
    CHECK(cosmos_op_swish(be, e, e));
    /* (shift, scale, gate) of every sub-block, and the final layer's (shift, scale) */
    struct cosmos_tensor mod_all = cosmos_tensor_2d(buf[B_MOD], act, nmod + 1, 3 * D);
    for (int64_t i = 0; i <= nmod; i++) {
        const int last = i == nmod;
        struct cosmos_tensor a1 = last ? m->final_ada1 : m->blocks[i / 3].ada1[i % 3];
        struct cosmos_tensor a2 = last ? m->final_ada2 : m->blocks[i / 3].ada2[i % 3];
        const int64_t width = last ? 2 * D : 3 * D;
        struct cosmos_tensor mi = cosmos_tensor_2d(cosmos_tensor_rows(mod_all, i, 1).data, act, 1, width);
        CHECK(linear(be, r, e, a1));
        CHECK(linear(be, mi, r, a2));
        CHECK(cosmos_op_add(be, mi, mi, cosmos_tensor_2d(lora.data, act, 1, width)));
    }
#define MOD_VEC(i, j) cosmos_tensor_1d((char *)buf[B_MOD] + as * (size_t)(((i) * 3 + (j)) * D), act, D)

    /* step 6: the blocks */
    for (int b = 0; b < c->num_blocks; b++) {
        const struct dit_block *B = &m->blocks[b];
        for (int sb = 0; sb < 3; sb++) {
            const int64_t mi = 3 * (int64_t)b + sb;
            if (sb == COSMOS_DIT_CA && !context) continue; /* zero context: CA output is exactly 0 */
            CHECK(cosmos_op_layernorm_modulate(be, hn, h, MOD_VEC(mi, 0), MOD_VEC(mi, 1), DIT_EPS));
            if (sb == COSMOS_DIT_FA) {
                CHECK(linear(be, q, hn, B->fa.q));
                CHECK(linear(be, k, hn, B->fa.k));
                CHECK(linear(be, v, hn, B->fa.v));
                if (B->fa.q_norm.dtype == COSMOS_BF16) {
                    CHECK(cosmos_op_qk_norm_rope(be, q3, B->fa.q_norm, DIT_EPS, cos_t, sin_t, 0));
                    CHECK(cosmos_op_qk_norm_rope(be, k3, B->fa.k_norm, DIT_EPS, cos_t, sin_t, 0));
                } else {
                    CHECK(rmsnorm(be, q3, q3, B->fa.q_norm));
                    CHECK(cosmos_op_rope(be, q3, cos_t, sin_t, 0));
                    CHECK(rmsnorm(be, k3, k3, B->fa.k_norm));
                    CHECK(cosmos_op_rope(be, k3, cos_t, sin_t, 0));
                }
                CHECK(cosmos_op_attention(be, att3, q3, k3, v3, 0, 0));
                CHECK(linear(be, hn, att, B->fa.out));
            } else if (sb == COSMOS_DIT_CA) {
                char *base = (char *)m->ca_kv + as * (size_t)(b * 2 * L * D);
                struct cosmos_tensor ck = cosmos_tensor_3d(base, act, L, Hn, Dh);
                struct cosmos_tensor cv = cosmos_tensor_3d(base + as * (size_t)(L * D), act, L, Hn, Dh);
                CHECK(linear(be, q, hn, B->ca.q));
                CHECK(rmsnorm(be, qh, qh, B->ca.q_norm));
                CHECK(cosmos_op_attention(be, att3, q3, ck, cv, 0, 0));
                CHECK(linear(be, hn, att, B->ca.out));
            } else {
                CHECK(linear(be, f, hn, B->mlp1));
                CHECK(cosmos_op_gelu(be, f, f));
                CHECK(linear(be, hn, f, B->mlp2));
            }
            CHECK(cosmos_op_add_gated(be, h, h, hn, MOD_VEC(mi, 2)));
        }
    }
    /* step 7: final layer */
    CHECK(cosmos_op_layernorm_modulate(be, hn, h, MOD_VEC(nmod, 0), MOD_VEC(nmod, 1), DIT_EPS));
    CHECK(linear(be, yt, hn, m->final_linear));
#undef MOD_VEC
    CHECK(from_backend(be, yh, yt, buf[B_STG]));
    /* step 8: unpatchify */
    unpatchify(c, yh, T, H, W, out);
fail:
    free(xin);
    free(cos_h);
    free(sin_h);
    free(yh);
    free(temb_h);
    return st;
}
