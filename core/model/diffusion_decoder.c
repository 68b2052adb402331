/* The diffusion decoder end to end (spec components.md 4.2-4.8): guided EDM denoiser (with
 * classifier-free-guidance parallelism over a 2-rank communicator, spec 4.3), sampler over chunks,
 * de-normalisation, CV decode, join. See diffusion_decoder.h. */
#include "core/model/diffusion_decoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/log.h"
#include "core/model/dit_weights.h"
#include "core/model/dv_decoder.h"
#include "core/model/dv_weights.h"

struct cosmos_diffusion_decoder {
    cosmos_backend_t *cv_be; /* the CV decoder's (any backend); the DiT keeps its own */
    cosmos_h5_t *cv_file;
    cosmos_dit_t *dit;
    struct cosmos_dit_config dit_cfg;
    struct cosmos_dv_config cv_cfg;
};

struct cosmos_diffusion_decoder_params cosmos_diffusion_decoder_params_default(const struct cosmos_dit_config *cfg) {
    struct cosmos_diffusion_decoder_params p;
    p.guidance = cfg->guidance;
    p.sampler = cosmos_dd_sampler_params_default();
    p.sampler.num_steps = cfg->num_steps;
    p.sampler.sigma_min = cfg->sigma_min;
    p.sampler.sigma_max = cfg->sigma_max;
    p.overlap = cfg->overlap;
    p.chunk_frames = (cfg->dd_train_num_video_frames - 1) / 8 + 1; /* spec 4.2: (57 - 1) // 8 + 1 = 8 */
    p.fps = (float)cfg->fps;
    p.seed = 1;
    p.cfg_comm = NULL;
    return p;
}

/* A CFG communicator: NULL or of size 1 = serial (*parallel 0); of size 2 = one guidance branch per
 * rank (*parallel 1). Every rank of a communicator gets the same answer. */
static cosmos_status cfg_check(cosmos_comm_t *c, int *parallel) {
    *parallel = 0;
    if (!c || cosmos_comm_size(c) == 1) return COSMOS_OK;
    if (cosmos_comm_size(c) != 2) {
        LOG_ERROR("diffusion decoder: CFG parallelism runs the conditional and the unconditional forward on one rank "
                  "each: it needs 2 ranks, not %d (mpirun -np 2, or no CFG communicator for one process)",
                  cosmos_comm_size(c));
        return COSMOS_ERR_INVALID_ARG;
    }
    if (cosmos_comm_device_memory(c)) {
        LOG_ERROR("diffusion decoder: CFG parallelism exchanges host buffers; a '%s' communicator (device memory) is "
                  "not supported (use the MPI communicator)",
                  cosmos_comm_kind(c));
        return COSMOS_ERR_UNSUPPORTED;
    }
    *parallel = 1;
    return COSMOS_OK;
}

/* Collective over a CFG communicator of 2 ranks: every rank learns every rank's status and n (the
 * size of what it is about to exchange; 0 when nothing is). Returns this rank's status when it
 * failed, else the first other rank's failure, else INVALID_ARG when the ranks' n differ (they were
 * called with other arguments), else OK: every rank returns the same status. */
static cosmos_status cfg_agree(cosmos_comm_t *c, cosmos_status st, int64_t n, const char *what) {
    const int64_t mine[2] = {(int64_t)st, n};
    int64_t all[2 * 2];
    cosmos_status cst = cosmos_comm_allgather(c, mine, all, sizeof mine);
    if (st != COSMOS_OK) return st;
    if (cst != COSMOS_OK) return cst;
    for (int r = 0; r < 2; r++)
        if (all[2 * r] != COSMOS_OK) {
            LOG_ERROR("diffusion decoder: CFG parallelism: rank %d failed (%s) in %s; stopping", r,
                      cosmos_status_str((cosmos_status)all[2 * r]), what);
            return (cosmos_status)all[2 * r];
        }
    if (all[1] != all[3]) {
        LOG_ERROR("diffusion decoder: CFG parallelism: the ranks were called with other arguments (%s of %lld and "
                  "%lld values); every rank must make the same calls",
                  what, (long long)all[1], (long long)all[3]);
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}

cosmos_status cosmos_dit_denoise(cosmos_dit_t *m, double guidance, cosmos_comm_t *cfg_comm, const float *x_t,
                                 int64_t T, int64_t H, int64_t W, double sigma, const float *context, int64_t L,
                                 const int32_t *tokens, int64_t Ht, int64_t Wt, float fps, float *x0) {
    const struct cosmos_dit_config *cfg = cosmos_dit_get_config(m);
    int parallel;
    cosmos_status st = cfg_check(cfg_comm, &parallel);
    if (st != COSMOS_OK) return st; /* the same on every rank of the communicator */
    const int guided = guidance != 0.0; /* guidance 0: no unconditional forward (each rank runs the conditional) */
    if (!guided) parallel = 0;
    /* from here a failing rank still meets the other in cfg_agree: no early return */
    if (!context || !tokens) {
        LOG_ERROR("diffusion decoder: the denoiser needs the prompt's context and the tokens (the unconditional "
                  "branch is made here)");
        st = COSMOS_ERR_INVALID_ARG;
    } else if (cfg->in_channels != cfg->out_channels) {
        LOG_ERROR("diffusion decoder: in_channels %d != out_channels %d: not a denoiser", cfg->in_channels,
                  cfg->out_channels);
        st = COSMOS_ERR_INVALID_ARG;
    }
    const struct cosmos_dd_edm e = cosmos_dd_edm_scaling(sigma, cfg->sigma_data);
    const int64_t n = (int64_t)cfg->in_channels * T * H * W;
    /* out: the network outputs [conditional | unconditional]; mine: this rank's branch when parallel */
    float *xin = NULL, *out = NULL, *mine = NULL;
    if (st == COSMOS_OK) {
        xin = malloc((size_t)n * sizeof *xin);
        out = malloc((size_t)(guided ? 2 : 1) * (size_t)n * sizeof *out);
        mine = parallel ? malloc((size_t)n * sizeof *mine) : NULL;
        if (!xin || !out || (parallel && !mine)) {
            LOG_ERROR("diffusion decoder: out of memory for a state of %lld values", (long long)n);
            st = COSMOS_ERR_NOMEM;
        }
    }
    if (st == COSMOS_OK)
        for (int64_t i = 0; i < n; i++) xin[i] = e.c_in * x_t[i];
    if (!parallel) {
        if (st == COSMOS_OK) st = cosmos_dit_forward(m, xin, T, H, W, e.c_noise, context, L, tokens, Ht, Wt, fps, out);
        if (st == COSMOS_OK && guided)
            st = cosmos_dit_forward(m, xin, T, H, W, e.c_noise, NULL, L, NULL, Ht, Wt, fps, out + n);
    } else {
        /* rank 0 the conditional branch, rank 1 the unconditional one, at the same time; then every
         * rank holds both outputs, bit for bit (an allgather copies bytes: no arithmetic) */
        const int uncond = cosmos_comm_rank(cfg_comm) == 1;
        if (st == COSMOS_OK)
            st = cosmos_dit_forward(m, xin, T, H, W, e.c_noise, uncond ? NULL : context, L, uncond ? NULL : tokens, Ht,
                                    Wt, fps, mine);
        st = cfg_agree(cfg_comm, st, n, "the denoiser's forward");
        if (st == COSMOS_OK) st = cosmos_comm_allgather(cfg_comm, mine, out, (size_t)n * sizeof *mine);
    }
    if (st != COSMOS_OK) goto done;
    /* one combination for both paths, so that every rank and a single process give the same bits */
    const float g = (float)guidance;
    const float *oc = out, *ou = out + n;
    for (int64_t i = 0; i < n; i++) {
        const float xc = e.c_skip * x_t[i] + e.c_out * oc[i];
        if (!guided) {
            x0[i] = xc;
            continue;
        }
        const float xu = e.c_skip * x_t[i] + e.c_out * ou[i];
        x0[i] = xc + g * (xc - xu);
    }
done:
    free(xin);
    free(out);
    free(mine);
    return st;
}

struct denoise_ctx {
    cosmos_dit_t *m;
    const struct cosmos_diffusion_decoder_params *p;
    int64_t T, H, W, L, Ht, Wt;
    const float *context;
    const int32_t *tokens;
};

static cosmos_status denoise_cb(void *user, const float *x_t, double sigma, float *x0) {
    const struct denoise_ctx *c = user;
    return cosmos_dit_denoise(c->m, c->p->guidance, c->p->cfg_comm, x_t, c->T, c->H, c->W, sigma, c->context, c->L,
                              c->tokens, c->Ht, c->Wt, c->p->fps, x0);
}

cosmos_status cosmos_dit_sample(cosmos_dit_t *m, const struct cosmos_diffusion_decoder_params *p,
                                const float *x_init, int64_t T, int64_t H, int64_t W, const float *context, int64_t L,
                                const int32_t *tokens, int64_t Ht, int64_t Wt, float *out) {
    const struct cosmos_dit_config *cfg = cosmos_dit_get_config(m);
    struct denoise_ctx c = {m, p, T, H, W, L, Ht, Wt, context, tokens};
    return cosmos_dd_sample(&p->sampler, denoise_cb, &c, x_init, (int64_t)cfg->in_channels * T * H * W, out);
}

cosmos_status cosmos_diffusion_decoder_open(cosmos_backend_t *dit_be, cosmos_backend_t *cv_be, cosmos_h5_t *dit_file,
                                            cosmos_h5_t *cv_file, cosmos_diffusion_decoder_t **out) {
    *out = NULL;
    cosmos_diffusion_decoder_t *d = calloc(1, sizeof *d);
    if (!d) return COSMOS_ERR_NOMEM;
    d->cv_be = cv_be;
    d->cv_file = cv_file;
    enum cosmos_dv_part parts = 0;
    int64_t n_stats = 0;
    cosmos_status st = cosmos_dit_read_header(dit_file, &d->dit_cfg);
    if (st == COSMOS_OK) st = cosmos_cv_read_header(cv_file, &d->cv_cfg, &parts);
    if (st == COSMOS_OK && !(parts & COSMOS_DV_DECODER)) {
        LOG_ERROR("diffusion decoder: the CV tokenizer file has no decoder part (post_quant_conv.*, decoder.*)");
        st = COSMOS_ERR_FORMAT;
    }
    if (st == COSMOS_OK) st = cosmos_dv_check_weights(cv_file, &d->cv_cfg, parts);
    if (st == COSMOS_OK) st = cosmos_cv_stats_frames(cv_file, &d->cv_cfg, &n_stats);
    if (st == COSMOS_OK && n_stats < 1) {
        LOG_ERROR("diffusion decoder: the CV tokenizer file has no latent statistics (mean_std.mean, mean_std.std; "
                  "tools/convert_checkpoint.py tokenizer --mean-std mean_std.pt)");
        st = COSMOS_ERR_FORMAT;
    }
    if (st == COSMOS_OK && (cosmos_dv_latent_channels(&d->cv_cfg) != d->dit_cfg.out_channels ||
                            d->dit_cfg.in_channels != d->dit_cfg.out_channels)) {
        LOG_ERROR("diffusion decoder: the DiT works on %d -> %d latent channels but the CV tokenizer '%s' decodes %d",
                  d->dit_cfg.in_channels, d->dit_cfg.out_channels, d->cv_cfg.name,
                  cosmos_dv_latent_channels(&d->cv_cfg));
        st = COSMOS_ERR_INVALID_ARG;
    }
    if (st == COSMOS_OK) st = cosmos_dit_load(dit_be, dit_file, &d->dit_cfg, &d->dit);
    if (st != COSMOS_OK) {
        cosmos_diffusion_decoder_free(d);
        return st;
    }
    *out = d;
    return COSMOS_OK;
}

void cosmos_diffusion_decoder_free(cosmos_diffusion_decoder_t *d) {
    if (!d) return;
    cosmos_dit_free(d->dit);
    free(d);
}

const struct cosmos_dit_config *cosmos_diffusion_decoder_dit_config(const cosmos_diffusion_decoder_t *d) {
    return &d->dit_cfg;
}
const struct cosmos_dv_config *cosmos_diffusion_decoder_cv_config(const cosmos_diffusion_decoder_t *d) {
    return &d->cv_cfg;
}

/* The argument checks of cosmos_diffusion_decoder_run: INVALID_ARG, logged, for the first bad one. */
static cosmos_status run_args(const cosmos_diffusion_decoder_t *d, const struct cosmos_diffusion_decoder_params *p,
                              const int32_t *tokens, int64_t Tl, int64_t Ht, int64_t Wt, int64_t H, int64_t W,
                              const float *context, int64_t L, int64_t T_out) {
    const struct cosmos_dit_config *dc = &d->dit_cfg;
    const struct cosmos_dv_config *cv = &d->cv_cfg;
    const int sc = cv->spatial_compression, tc = cv->temporal_compression, ps = dc->patch_spatial;
    const int K = p->chunk_frames;
    if (H < 1 || W < 1 || H % ((int64_t)sc * ps) || W % ((int64_t)sc * ps)) {
        LOG_ERROR("diffusion decoder: a %lldx%lld clip: height and width must be positive multiples of %d (CV "
                  "spatial compression %d x patch %d)",
                  (long long)H, (long long)W, sc * ps, sc, ps);
        return COSMOS_ERR_INVALID_ARG;
    }
    const int64_t Hl = H / sc, Wl = W / sc;
    if (Ht < 1 || Wt < 1 || Ht > Hl || Wt > Wl) {
        LOG_ERROR("diffusion decoder: a token grid of %lldx%lld does not fit the %lldx%lld latent of a %lldx%lld clip",
                  (long long)Ht, (long long)Wt, (long long)Hl, (long long)Wl, (long long)H, (long long)W);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (K < 1 || K > dc->max_frames) {
        LOG_ERROR("diffusion decoder: chunks of %d latent frames (DiT max_frames %d)", K, dc->max_frames);
        return COSMOS_ERR_INVALID_ARG;
    }
    const int n_chunks = cosmos_dd_num_chunks(Tl, K, p->overlap);
    if (n_chunks < 1) {
        LOG_ERROR("diffusion decoder: %lld latent frames with chunks of %d and overlap %d give no chunk (need more "
                  "than %d frames)",
                  (long long)Tl, K, p->overlap, p->overlap);
        return COSMOS_ERR_INVALID_ARG;
    }
    for (int c = 0; c < n_chunks; c++)
        if (cosmos_dd_chunk_frame(Tl, K, p->overlap, c, K - 1) < 0) {
            LOG_ERROR("diffusion decoder: chunk %d of %d latent frames needs more reflect padding than the %lld frames "
                      "allow (as PyTorch's reflect padding refuses)",
                      c, K, (long long)Tl);
            return COSMOS_ERR_INVALID_ARG;
        }
    if (!context || L < 1 || L > (1 << 20)) {
        LOG_ERROR("diffusion decoder: a context of %lld rows (need 1..2^20 rows of %d)", (long long)L,
                  dc->crossattn_emb_channels);
        return COSMOS_ERR_INVALID_ARG;
    }
    const int64_t grid = Ht * Wt;
    for (int64_t i = 0; i < Tl * grid; i++)
        if (tokens[i] < 0 || tokens[i] >= dc->token_vocab_size) {
            LOG_ERROR("diffusion decoder: token %lld is %d, outside [0, %d)", (long long)i, tokens[i],
                      dc->token_vocab_size);
            return COSMOS_ERR_INVALID_ARG;
        }
    const int64_t t_pix = 1 + (int64_t)tc * (K - 1);
    const int64_t total = n_chunks == 1 ? t_pix : (int64_t)n_chunks * t_pix - (int64_t)p->overlap * (n_chunks - 1);
    if (T_out < 1 || T_out > total) {
        LOG_ERROR("diffusion decoder: %lld frames asked; %d chunk(s) of %lld frames give %lld", (long long)T_out,
                  n_chunks, (long long)t_pix, (long long)total);
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}

cosmos_status cosmos_diffusion_decoder_run(cosmos_diffusion_decoder_t *d, const struct cosmos_diffusion_decoder_params *p,
                                           const int32_t *tokens, int64_t Tl, int64_t Ht, int64_t Wt, int64_t H,
                                           int64_t W, const float *context, int64_t L, int64_t T_out, float *video) {
    const struct cosmos_dit_config *dc = &d->dit_cfg;
    const struct cosmos_dv_config *cv = &d->cv_cfg;
    const int sc = cv->spatial_compression, tc = cv->temporal_compression, K = p->chunk_frames;
    int parallel; /* CFG parallelism: every rank samples, only rank 0 decodes (diffusion_decoder.h) */
    cosmos_status st = cfg_check(p->cfg_comm, &parallel);
    if (st != COSMOS_OK) return st; /* the same on every rank of the communicator */
    const int decodes = !parallel || cosmos_comm_rank(p->cfg_comm) == 0;
    st = run_args(d, p, tokens, Tl, Ht, Wt, H, W, context, L, T_out);
    /* a rank's bad argument stops every rank */
    if (parallel) st = cfg_agree(p->cfg_comm, st, 0, "the decode's argument checks");
    if (st != COSMOS_OK) return st;
    const int64_t Hl = H / sc, Wl = W / sc, C = dc->in_channels, grid = Ht * Wt;
    const int n_chunks = cosmos_dd_num_chunks(Tl, K, p->overlap);
    const int64_t t_pix = 1 + (int64_t)tc * (K - 1), HW = H * W, n = C * K * Hl * Wl;

    int32_t *tok = malloc((size_t)(K * grid) * sizeof *tok);
    float *ctx = malloc((size_t)(L * dc->crossattn_emb_channels) * sizeof *ctx);
    float *x = malloc((size_t)n * sizeof *x), *noise = malloc((size_t)n * sizeof *noise);
    float *mean = NULL, *std = NULL, **pix = NULL;
    if (decodes) {
        mean = malloc((size_t)(C * K) * sizeof *mean), std = malloc((size_t)(C * K) * sizeof *std);
        pix = calloc((size_t)n_chunks, sizeof *pix);
    }
    if (!tok || !ctx || !x || !noise || (decodes && (!mean || !std || !pix))) st = COSMOS_ERR_NOMEM;
    if (st == COSMOS_OK && decodes && !video) {
        LOG_ERROR("diffusion decoder: no video buffer");
        st = COSMOS_ERR_INVALID_ARG;
    }
    if (st == COSMOS_OK && decodes) st = cosmos_cv_latent_stats(d->cv_file, cv, K, mean, std);
    if (parallel) st = cfg_agree(p->cfg_comm, st, n, "the decode's set-up"); /* no rank waits for a failed one */
    if (st != COSMOS_OK) goto done;
    /* spec 4.2: the official pipeline hands the T5 embedding to the diffusion decoder in bf16 */
    for (int64_t i = 0; i < L * dc->crossattn_emb_channels; i++) ctx[i] = cosmos_round_bf16(context[i]);
    cosmos_dd_gaussian(p->seed, 0, noise, n);
    for (int c = 0; c < n_chunks; c++) {
        for (int j = 0; j < K; j++)
            memcpy(tok + j * grid, tokens + cosmos_dd_chunk_frame(Tl, K, p->overlap, c, j) * grid,
                   (size_t)grid * sizeof *tok);
        for (int64_t i = 0; i < n; i++) x[i] = noise[i] * (float)p->sampler.sigma_max;
        LOG_DEBUG("diffusion decoder: chunk %d/%d: %d denoiser calls", c + 1, n_chunks, p->sampler.num_steps + 1);
        st = cosmos_dit_sample(d->dit, p, x, K, Hl, Wl, ctx, L, tok, Ht, Wt, x); /* the same on every rank */
        if (st == COSMOS_OK && decodes) {
            /* spec 4.7: z = x / sigma_data * std + mean, per channel and latent frame */
            const int64_t plane = Hl * Wl;
            for (int64_t ch = 0; ch < C; ch++)
                for (int j = 0; j < K; j++) {
                    const float s = std[ch * K + j] / (float)dc->sigma_data, mu = mean[ch * K + j];
                    float *z = x + (ch * K + j) * plane;
                    for (int64_t i = 0; i < plane; i++) z[i] = z[i] * s + mu;
                }
            pix[c] = malloc((size_t)(3 * t_pix * HW) * sizeof *pix[c]);
            if (!pix[c]) st = COSMOS_ERR_NOMEM;
            if (st == COSMOS_OK) st = cosmos_cv_decode(d->cv_be, d->cv_file, cv, x, K, Hl, Wl, pix[c]);
            if (st == COSMOS_OK)
                for (int64_t i = 0; i < 3 * t_pix * HW; i++) pix[c][i] = fminf(fmaxf(pix[c][i], -1.0f), 1.0f);
            if (st == COSMOS_OK && c == n_chunks - 1)
                st = cosmos_dd_blend((const float *const *)pix, n_chunks, 3, t_pix, HW, p->overlap, T_out, video);
        }
        /* every rank learns how the chunk went on the others (rank 0's decode; a sampler failure at
         * guidance 0, where the denoiser exchanges nothing) before the next chunk, or the return */
        if (parallel) st = cfg_agree(p->cfg_comm, st, 0, "a chunk's sampler or CV decode");
        if (st != COSMOS_OK) goto done;
    }
done:
    if (st == COSMOS_ERR_NOMEM) LOG_ERROR("diffusion decoder: out of memory");
    if (pix)
        for (int c = 0; c < n_chunks; c++) free(pix[c]);
    free(pix);
    free(tok);
    free(ctx);
    free(x);
    free(noise);
    free(mean);
    free(std);
    return st;
}
