/* The diffusion decoder end to end (core/model/diffusion_decoder.h; spec components.md 4.2-4.8):
 * the guided EDM denoiser and the 15-step sampler against the PyTorch reference's golden file
 * (tests/data/dd-tiny.golden.h5, tools/reference/make_dit_fixtures.py), and the whole decode
 * (chunks, de-normalisation, CV decode, join) on the tiny DiT with a random CV tokenizer: a
 * three-chunk clip must give, frame by frame, what single-chunk decodes of its token windows give
 * where the join takes one chunk's frame, and bad arguments are refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/model/diffusion_decoder.h"
#include "core/model/dit_weights.h"
#include "core/model/dv_init.h"
#include "cosmos_build_config.h"

#define DATA COSMOS_SOURCE_DIR "/tests/data/"

static float *read_f32(cosmos_h5_t *h, const char *name, int64_t *n) {
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h, name, &info), COSMOS_OK, "%s", name);
    int64_t k = 1;
    for (int i = 0; i < info.ndim; i++) k *= info.shape[i];
    float *v = malloc((size_t)k * sizeof *v);
    cr_assert_eq(cosmos_h5_read(h, name, COSMOS_F32, v), COSMOS_OK, "%s", name);
    if (n) *n = k;
    return v;
}

static double max_abs(const float *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}
static double max_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

struct golden {
    cosmos_backend_t *be;
    cosmos_h5_t *wf, *gf;
    cosmos_dit_t *m;
    struct cosmos_dit_config cfg;
    float *context, *fps;
    int32_t *tokens;
    int64_t L;
};

static void golden_open(struct golden *g) {
    memset(g, 0, sizeof *g);
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &g->be), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(DATA "dd-tiny.h5", &g->wf), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(DATA "dd-tiny.golden.h5", &g->gf), COSMOS_OK);
    cr_assert_eq(cosmos_dit_read_header(g->wf, &g->cfg), COSMOS_OK);
    cr_assert_eq(cosmos_dit_load(g->be, g->wf, &g->cfg, &g->m), COSMOS_OK);
    int64_t nc;
    g->context = read_f32(g->gf, "context", &nc);
    g->L = nc / g->cfg.crossattn_emb_channels;
    g->fps = read_f32(g->gf, "fps", NULL);
    g->tokens = malloc(3 * 2 * 3 * sizeof *g->tokens);
    cr_assert_eq(cosmos_h5_read(g->gf, "tokens", COSMOS_I32, g->tokens), COSMOS_OK);
}
static void golden_close(struct golden *g) {
    cosmos_dit_free(g->m);
    cosmos_h5_close(g->wf);
    cosmos_h5_close(g->gf);
    cosmos_backend_free(g->be);
    free(g->context);
    free(g->fps);
    free(g->tokens);
}

Test(diffusion_decoder, guided_denoiser_matches_reference) {
    struct golden g;
    golden_open(&g);
    int64_t n;
    float *x_t = read_f32(g.gf, "x_t", &n), *sigma = read_f32(g.gf, "sigma", NULL), *want = read_f32(g.gf, "x0", NULL);
    float *x0 = malloc((size_t)n * sizeof *x0);
    { /* a larger forward first: the model keeps its buffers, grown for it, and reuses them below */
        float *bx = calloc(4 * 3 * 8 * 12, sizeof *bx), *by = malloc(4 * 3 * 8 * 12 * sizeof *by);
        int32_t bt[3 * 4 * 6] = {0};
        cr_assert_eq(cosmos_dit_forward(g.m, bx, 3, 8, 12, 0.1f, g.context, g.L, bt, 4, 6, 24.0f, by), COSMOS_OK);
        /* and the golden grid at another fps: the model keeps the RoPE tables of its last grid and fps,
         * which the golden call below must not reuse */
        cr_assert_eq(cosmos_dit_forward(g.m, bx, 3, 4, 6, 0.1f, g.context, g.L, bt, 2, 3, 2.0f * g.fps[0] + 1.0f, by),
                     COSMOS_OK);
        free(bx);
        free(by);
    }
    cr_assert_eq(cosmos_dit_denoise(g.m, g.cfg.guidance, NULL, x_t, 3, 4, 6, sigma[0], g.context, g.L, g.tokens, 2, 3,
                                    g.fps[0], x0),
                 COSMOS_OK);
    const double d = max_diff(x0, want, n), s = max_abs(want, n);
    cr_log_info("guided x0: max |diff| %.3g (max |x0| %.3g)", d, s);
    cr_expect(d <= 1e-4 * s, "guided x0 differs by %g (scale %g)", d, s);
    /* the unconditional branch matters: without guidance the result is another one */
    cr_assert_eq(cosmos_dit_denoise(g.m, 0.0, NULL, x_t, 3, 4, 6, sigma[0], g.context, g.L, g.tokens, 2, 3, g.fps[0], x0),
                 COSMOS_OK);
    cr_expect(max_diff(x0, want, n) > 1e-2 * s);
    cr_expect_eq(cosmos_dit_denoise(g.m, 1.8, NULL, x_t, 3, 4, 6, sigma[0], NULL, g.L, g.tokens, 2, 3, g.fps[0], x0),
                 COSMOS_ERR_INVALID_ARG);
    free(x_t);
    free(sigma);
    free(want);
    free(x0);
    golden_close(&g);
}

Test(diffusion_decoder, sampler_matches_reference) {
    struct golden g;
    golden_open(&g);
    int64_t n;
    float *noise = read_f32(g.gf, "noise", &n), *want = read_f32(g.gf, "sample", NULL);
    struct cosmos_diffusion_decoder_params p = cosmos_diffusion_decoder_params_default(&g.cfg);
    p.fps = g.fps[0];
    for (int64_t i = 0; i < n; i++) noise[i] *= (float)p.sampler.sigma_max;
    cr_assert_eq(cosmos_dit_sample(g.m, &p, noise, 3, 4, 6, g.context, g.L, g.tokens, 2, 3, noise), COSMOS_OK);
    const double d = max_diff(noise, want, n), s = max_abs(want, n);
    cr_log_info("2ab sample (16 guided denoiser calls): max |diff| %.3g (max |x| %.3g)", d, s);
    cr_expect(d <= 1e-4 * s, "sample differs by %g (scale %g)", d, s);
    free(noise);
    free(want);
    golden_close(&g);
}

/* ---- the whole decode with a random tiny CV tokenizer ---- */

struct e2e {
    cosmos_backend_t *be;
    cosmos_h5_t *wf, *cf;
    cosmos_diffusion_decoder_t *d;
    char cv_path[512];
};

static void e2e_open(struct e2e *e) {
    memset(e, 0, sizeof *e);
    const char *tmp = getenv("COSMOS_TEST_TMP");
    snprintf(e->cv_path, sizeof e->cv_path, "%s/dd-test-cv-tiny.h5", tmp ? tmp : "/tmp");
    struct cosmos_dv_config cv;
    cr_assert_eq(cosmos_dv_config_load(COSMOS_SOURCE_DIR "/configs/models/cv-tokenizer-tiny.json", &cv), COSMOS_OK);
    cr_assert_eq(cosmos_dv_init_random(&cv, 5, COSMOS_DV_DECODER, e->cv_path), COSMOS_OK);
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &e->be), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(DATA "dd-tiny.h5", &e->wf), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(e->cv_path, &e->cf), COSMOS_OK);
    cr_assert_eq(cosmos_diffusion_decoder_open(e->be, e->be, e->wf, e->cf, &e->d), COSMOS_OK);
}
static void e2e_close(struct e2e *e) {
    cosmos_diffusion_decoder_free(e->d);
    cosmos_h5_close(e->wf);
    cosmos_h5_close(e->cf);
    cosmos_backend_free(e->be);
    remove(e->cv_path);
}

Test(diffusion_decoder, chunks_join_as_single_chunk_decodes) {
    struct e2e e;
    e2e_open(&e);
    const struct cosmos_dit_config *dc = cosmos_diffusion_decoder_dit_config(e.d);
    struct cosmos_diffusion_decoder_params p = cosmos_diffusion_decoder_params_default(dc);
    p.sampler.num_steps = 4; /* the join is the subject here, not the sampler */
    cr_assert_eq(p.chunk_frames, 3);
    cr_assert_eq(p.overlap, 2);
    /* 5 latent frames of a 2x3 token grid, clip 32x48 (latent 4x6): chunks start at 0, 1, 2 */
    enum { Tl = 5, Ht = 2, Wt = 3, H = 32, W = 48, L = 4, Dc = 64, TP = 17 };
    int32_t tokens[Tl * Ht * Wt];
    for (int i = 0; i < Tl * Ht * Wt; i++) tokens[i] = (i * 37 + 11) % dc->token_vocab_size;
    float context[L * Dc];
    for (int i = 0; i < L * Dc; i++) context[i] = 0.5f * sinf(0.37f * (float)i);
    const int64_t HW = H * W, T_all = 3 * TP - 2 * 2; /* 3 chunks of 17 frames, 2 frames per join */
    float *all = malloc((size_t)(3 * T_all * HW) * sizeof *all), *one[3];
    cr_assert_eq(cosmos_diffusion_decoder_run(e.d, &p, tokens, Tl, Ht, Wt, H, W, context, L, T_all, all), COSMOS_OK);
    for (int c = 0; c < 3; c++) {
        one[c] = malloc((size_t)(3 * TP * HW) * sizeof *one[c]);
        cr_assert_eq(cosmos_diffusion_decoder_run(e.d, &p, tokens + c * Ht * Wt, 3, Ht, Wt, H, W, context, L, TP, one[c]),
                     COSMOS_OK);
    }
    /* the join with D = 2 and weights {0, 1}: frames 0..14 of chunk 0, then chunk 1 from its frame 1
     * (its frame 0 gets weight 0 against chunk 0's frame 15) to 14, then chunk 2 from frame 1 to 16 */
    int bad = 0;
    for (int64_t f = 0; f < T_all; f++) {
        int c;
        int64_t src;
        if (f < 15) c = 0, src = f;
        else if (f == 15) c = 0, src = 15;
        else if (f < 30) c = 1, src = f - 15;
        else if (f == 30) c = 1, src = 15;
        else c = 2, src = f - 30;
        for (int ch = 0; ch < 3; ch++) {
            const float *a = all + (ch * T_all + f) * HW, *b = one[c] + (ch * TP + src) * HW;
            if (memcmp(a, b, (size_t)HW * sizeof *a) != 0 && bad++ < 5)
                cr_log_error("frame %lld channel %d differs from chunk %d frame %lld", (long long)f, ch, c, (long long)src);
        }
    }
    cr_expect_eq(bad, 0);
    /* values: clamped, finite, not constant */
    double lo = 1, hi = -1;
    for (int64_t i = 0; i < 3 * T_all * HW; i++) {
        cr_assert(isfinite(all[i]));
        lo = fmin(lo, all[i]), hi = fmax(hi, all[i]);
    }
    cr_expect(lo >= -1 && hi <= 1 && hi - lo > 0.01, "range [%g, %g]", lo, hi);
    /* another seed, another video */
    struct cosmos_diffusion_decoder_params p2 = p;
    p2.seed = 2;
    float *other = malloc((size_t)(3 * TP * HW) * sizeof *other);
    cr_assert_eq(cosmos_diffusion_decoder_run(e.d, &p2, tokens, 3, Ht, Wt, H, W, context, L, TP, other), COSMOS_OK);
    cr_expect_neq(memcmp(other, one[0], (size_t)(3 * TP * HW) * sizeof *other), 0);
    free(other);
    for (int c = 0; c < 3; c++) free(one[c]);
    free(all);
    e2e_close(&e);
}

Test(diffusion_decoder, bad_arguments_are_refused) {
    struct e2e e;
    e2e_open(&e);
    struct cosmos_diffusion_decoder_params p = cosmos_diffusion_decoder_params_default(cosmos_diffusion_decoder_dit_config(e.d));
    p.sampler.num_steps = 1;
    int32_t tokens[5 * 6] = {0};
    float context[4 * 64] = {0}, *video = malloc(3 * 60 * 32 * 48 * sizeof *video);
    cr_expect_eq(cosmos_diffusion_decoder_run(e.d, &p, tokens, 5, 2, 3, 30, 48, context, 4, 17, video),
                 COSMOS_ERR_INVALID_ARG, "height not a multiple of 16");
    cr_expect_eq(cosmos_diffusion_decoder_run(e.d, &p, tokens, 5, 5, 3, 32, 48, context, 4, 17, video),
                 COSMOS_ERR_INVALID_ARG, "token grid taller than the latent");
    cr_expect_eq(cosmos_diffusion_decoder_run(e.d, &p, tokens, 2, 2, 3, 32, 48, context, 4, 9, video),
                 COSMOS_ERR_INVALID_ARG, "no chunk for 2 latent frames with overlap 2");
    cr_expect_eq(cosmos_diffusion_decoder_run(e.d, &p, tokens, 3, 2, 3, 32, 48, context, 4, 18, video),
                 COSMOS_ERR_INVALID_ARG, "18 frames from one 17-frame chunk");
    cr_expect_eq(cosmos_diffusion_decoder_run(e.d, &p, tokens, 3, 2, 3, 32, 48, NULL, 4, 17, video),
                 COSMOS_ERR_INVALID_ARG, "no context");
    tokens[7] = 512;
    cr_expect_eq(cosmos_diffusion_decoder_run(e.d, &p, tokens, 3, 2, 3, 32, 48, context, 4, 17, video),
                 COSMOS_ERR_INVALID_ARG, "token out of range");
    free(video);
    /* the files swapped: a FORMAT error, no decoder */
    cosmos_diffusion_decoder_t *d = NULL;
    cr_expect_eq(cosmos_diffusion_decoder_open(e.be, e.be, e.cf, e.wf, &d), COSMOS_ERR_FORMAT);
    cr_expect_null(d);
    e2e_close(&e);
}
