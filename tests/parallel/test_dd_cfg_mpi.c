/* Classifier-free-guidance parallelism of the diffusion decoder under mpirun (-np 1, 2, 4
 * --oversubscribe; core/model/diffusion_decoder.h, spec components.md 4.3, 4.5, 4.6): the
 * conditional DiT forward of every denoiser call on one rank, the unconditional one on the other.
 * With a CFG communicator of 2 ranks (the world at -np 2, pairs of the world at -np 4; the world of
 * 1 rank at -np 1 goes through the same calls, serially):
 *   (a) cosmos_dit_denoise (guidance 1.8 and 0) and cosmos_dit_sample on the golden inputs
 *       (tests/data/dd-tiny.golden.h5) give on every rank results bitwise equal to the serial
 *       computation (cfg_comm NULL) on that rank and to the other rank's, and within 1e-4 relative
 *       of the golden /x0 and /sample;
 *   (b) cosmos_diffusion_decoder_run of a three-chunk clip (dd-tiny.h5 + a random tiny CV tokenizer
 *       from configs/models/cv-tokenizer-tiny.json, written per rank into $COSMOS_TEST_TMP) gives
 *       on rank 0 the serial run's video bitwise; rank 1 leaves its video untouched (or NULL);
 *   (c) a rank whose arguments differ from the other's (another state size, a token out of range)
 *       makes both ranks fail, with no hang;
 *   (d) at -np 4, the world (4 ranks) is refused as a CFG communicator on every rank.
 * Prints "N passed, M failed" (rank 0) and exits non-zero on any failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/diffusion_decoder.h"
#include "core/model/dit_weights.h"
#include "core/model/dv_init.h"
#include "cosmos_build_config.h"
#include "parallel/comm.h"

#define DATA COSMOS_SOURCE_DIR "/tests/data/"

static int g_pass, g_fail, g_rank;

#define EXPECT(cond, ...)                                                                  \
    do {                                                                                   \
        if (cond)                                                                          \
            g_pass++;                                                                      \
        else {                                                                             \
            g_fail++;                                                                      \
            fprintf(stderr, "[rank %d] FAIL %s:%d: ", g_rank, __FILE__, __LINE__);         \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
        }                                                                                  \
    } while (0)

static float *read_f32(cosmos_h5_t *h, const char *name, int64_t *n) {
    struct cosmos_h5_info info;
    if (cosmos_h5_info(h, name, &info) != COSMOS_OK) return NULL;
    int64_t k = 1;
    for (int i = 0; i < info.ndim; i++) k *= info.shape[i];
    float *v = malloc((size_t)k * sizeof *v);
    if (cosmos_h5_read(h, name, COSMOS_F32, v) != COSMOS_OK) {
        free(v);
        return NULL;
    }
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

/* every rank of c holds the same n floats, bit for bit */
static int same_on_all_ranks(cosmos_comm_t *c, const float *v, int64_t n) {
    const int size = cosmos_comm_size(c);
    float *all = malloc((size_t)size * (size_t)n * sizeof *all);
    int same = cosmos_comm_allgather(c, v, all, (size_t)n * sizeof *v) == COSMOS_OK;
    for (int r = 1; same && r < size; r++) same = memcmp(all, all + (size_t)r * n, (size_t)n * sizeof *v) == 0;
    free(all);
    return same;
}

/* (a) and (c, the denoiser): the golden inputs through the denoiser and the sampler */
static void check_golden(cosmos_backend_t *be, cosmos_comm_t *cfg) {
    const int size = cosmos_comm_size(cfg), crank = cosmos_comm_rank(cfg);
    cosmos_h5_t *wf = NULL, *gf = NULL;
    cosmos_dit_t *m = NULL;
    struct cosmos_dit_config dc;
    int ok = cosmos_h5_open(DATA "dd-tiny.h5", &wf) == COSMOS_OK &&
             cosmos_h5_open(DATA "dd-tiny.golden.h5", &gf) == COSMOS_OK && cosmos_dit_read_header(wf, &dc) == COSMOS_OK &&
             cosmos_dit_load(be, wf, &dc, &m) == COSMOS_OK;
    EXPECT(ok, "open dd-tiny.h5 and its golden file");
    if (!ok) return;
    int64_t n = 0, nc = 0, nn = 0;
    float *context = read_f32(gf, "context", &nc), *fps = read_f32(gf, "fps", NULL);
    float *x_t = read_f32(gf, "x_t", &n), *sigma = read_f32(gf, "sigma", NULL), *want_x0 = read_f32(gf, "x0", NULL);
    float *noise = read_f32(gf, "noise", &nn), *want_sample = read_f32(gf, "sample", NULL);
    int32_t tokens[3 * 2 * 3];
    EXPECT(context && fps && x_t && sigma && want_x0 && noise && want_sample && nn == n &&
               cosmos_h5_read(gf, "tokens", COSMOS_I32, tokens) == COSMOS_OK,
           "golden datasets");
    const int64_t L = nc / dc.crossattn_emb_channels;
    float *serial = malloc((size_t)n * sizeof *serial), *par = malloc((size_t)n * sizeof *par);

    /* the guided denoiser, and guidance 0 (each rank then runs the conditional forward itself) */
    const double guid[2] = {dc.guidance, 0.0};
    for (int k = 0; k < 2; k++) {
        memset(par, 0xff, (size_t)n * sizeof *par);
        EXPECT(cosmos_dit_denoise(m, guid[k], NULL, x_t, 3, 4, 6, sigma[0], context, L, tokens, 2, 3, fps[0], serial) ==
                   COSMOS_OK,
               "serial denoise (guidance %g)", guid[k]);
        EXPECT(cosmos_dit_denoise(m, guid[k], cfg, x_t, 3, 4, 6, sigma[0], context, L, tokens, 2, 3, fps[0], par) ==
                   COSMOS_OK,
               "CFG-parallel denoise over %d rank(s) (guidance %g)", size, guid[k]);
        EXPECT(memcmp(serial, par, (size_t)n * sizeof *par) == 0,
               "guidance %g: CFG-parallel x0 is not bitwise the serial one (max |diff| %.3g)", guid[k],
               max_diff(serial, par, n));
        EXPECT(same_on_all_ranks(cfg, par, n), "guidance %g: x0 differs between the ranks", guid[k]);
        const double d = max_diff(par, want_x0, n), s = max_abs(want_x0, n);
        if (k == 0)
            EXPECT(d <= 1e-4 * s, "guided x0 differs from the golden /x0 by %g (scale %g)", d, s);
        else
            EXPECT(d > 1e-2 * s, "guidance 0 gives the guided x0: the unconditional branch went missing");
        if (k == 0 && g_rank == 0) printf("denoise over %d rank(s): max |x0 - golden| %.3g (scale %.3g)\n", size, d, s);
    }

    /* the whole sampler: 16 guided denoiser calls */
    struct cosmos_diffusion_decoder_params p = cosmos_diffusion_decoder_params_default(&dc);
    p.fps = fps[0];
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = noise[i] * (float)p.sampler.sigma_max;
    EXPECT(cosmos_dit_sample(m, &p, x, 3, 4, 6, context, L, tokens, 2, 3, serial) == COSMOS_OK, "serial sample");
    p.cfg_comm = cfg;
    EXPECT(cosmos_dit_sample(m, &p, x, 3, 4, 6, context, L, tokens, 2, 3, par) == COSMOS_OK, "CFG-parallel sample");
    EXPECT(memcmp(serial, par, (size_t)n * sizeof *par) == 0,
           "CFG-parallel sample is not bitwise the serial one (max |diff| %.3g)", max_diff(serial, par, n));
    EXPECT(same_on_all_ranks(cfg, par, n), "the sample differs between the ranks");
    const double d = max_diff(par, want_sample, n), s = max_abs(want_sample, n);
    EXPECT(d <= 1e-4 * s, "sample differs from the golden /sample by %g (scale %g)", d, s);
    if (g_rank == 0) printf("sample over %d rank(s): max |x - golden| %.3g (scale %.3g)\n", size, d, s);

    if (size == 2) {
        if (g_rank == 0) printf("(the ERROR lines that follow are the refusals under test)\n");
        /* rank 1 called with another state size (2 latent frames): both ranks fail, none hangs */
        const int64_t T = crank == 1 ? 2 : 3;
        cosmos_status st = cosmos_dit_denoise(m, dc.guidance, cfg, x_t, T, 4, 6, sigma[0], context, L, tokens, 2, 3,
                                              fps[0], par);
        EXPECT(st == COSMOS_ERR_INVALID_ARG, "mismatched state sizes: status %s", cosmos_status_str(st));
        /* rank 0 without a context: its argument error reaches rank 1 */
        st = cosmos_dit_denoise(m, dc.guidance, cfg, x_t, 3, 4, 6, sigma[0], crank == 0 ? NULL : context, L, tokens, 2,
                                3, fps[0], par);
        EXPECT(st == COSMOS_ERR_INVALID_ARG, "a rank without context: status %s", cosmos_status_str(st));
        /* and the communicator still works afterwards */
        EXPECT(cosmos_dit_denoise(m, dc.guidance, cfg, x_t, 3, 4, 6, sigma[0], context, L, tokens, 2, 3, fps[0], par) ==
                       COSMOS_OK &&
                   cosmos_dit_denoise(m, dc.guidance, NULL, x_t, 3, 4, 6, sigma[0], context, L, tokens, 2, 3, fps[0],
                                      serial) == COSMOS_OK &&
                   memcmp(serial, par, (size_t)n * sizeof *par) == 0,
               "a CFG-parallel denoise after the refused calls");
    }
    free(serial);
    free(par);
    free(x);
    free(context);
    free(fps);
    free(x_t);
    free(sigma);
    free(want_x0);
    free(noise);
    free(want_sample);
    cosmos_dit_free(m);
    cosmos_h5_close(wf);
    cosmos_h5_close(gf);
}

/* (b) and (c, the decode): a three-chunk clip through the whole decoder */
static void check_decode(cosmos_backend_t *be, cosmos_comm_t *cfg) {
    const int size = cosmos_comm_size(cfg), crank = cosmos_comm_rank(cfg);
    char cv_path[1024];
    const char *tmp = getenv("COSMOS_TEST_TMP");
    snprintf(cv_path, sizeof cv_path, "%s/dd-cfg-cv-tiny.r%d.%ld.h5", tmp ? tmp : "/tmp", g_rank, (long)getpid());
    struct cosmos_dv_config cv;
    cosmos_h5_t *wf = NULL, *cf = NULL;
    cosmos_diffusion_decoder_t *d = NULL;
    /* every rank writes the same random tokenizer (seed 5) into its own file */
    int ok = cosmos_dv_config_load(COSMOS_SOURCE_DIR "/configs/models/cv-tokenizer-tiny.json", &cv) == COSMOS_OK &&
             cosmos_dv_init_random(&cv, 5, COSMOS_DV_DECODER, cv_path) == COSMOS_OK &&
             cosmos_h5_open(DATA "dd-tiny.h5", &wf) == COSMOS_OK && cosmos_h5_open(cv_path, &cf) == COSMOS_OK &&
             cosmos_diffusion_decoder_open(be, be, wf, cf, &d) == COSMOS_OK;
    EXPECT(ok, "open the diffusion decoder (dd-tiny.h5 + %s)", cv_path);
    if (!ok) goto done;
    const struct cosmos_dit_config *dc = cosmos_diffusion_decoder_dit_config(d);
    struct cosmos_diffusion_decoder_params p = cosmos_diffusion_decoder_params_default(dc);
    p.sampler.num_steps = 4;
    /* 5 latent frames of a 2x3 token grid, clip 32x48: three chunks of 17 frames, 47 frames joined */
    enum { Tl = 5, Ht = 2, Wt = 3, H = 32, W = 48, L = 4, Dc = 64, TA = 47 };
    int32_t tokens[Tl * Ht * Wt];
    for (int i = 0; i < Tl * Ht * Wt; i++) tokens[i] = (i * 37 + 11) % dc->token_vocab_size;
    float context[L * Dc];
    for (int i = 0; i < L * Dc; i++) context[i] = 0.5f * sinf(0.37f * (float)i);
    const size_t nv = 3 * (size_t)TA * H * W;
    float *serial = malloc(nv * sizeof *serial), *par = malloc(nv * sizeof *par);
    memset(par, 0xa5, nv * sizeof *par); /* rank 1 must leave this as it is */
    if (crank == 0)
        EXPECT(cosmos_diffusion_decoder_run(d, &p, tokens, Tl, Ht, Wt, H, W, context, L, TA, serial) == COSMOS_OK,
               "serial decode");
    p.cfg_comm = cfg;
    EXPECT(cosmos_diffusion_decoder_run(d, &p, tokens, Tl, Ht, Wt, H, W, context, L, TA, par) == COSMOS_OK,
           "CFG-parallel decode over %d rank(s)", size);
    if (crank == 0) {
        const int same = memcmp(serial, par, nv * sizeof *par) == 0;
        EXPECT(same, "CFG-parallel video is not bitwise the serial one (max |diff| %.3g)",
               max_diff(serial, par, (int64_t)nv));
        double lo = 1, hi = -1;
        for (size_t i = 0; i < nv; i++) lo = fmin(lo, par[i]), hi = fmax(hi, par[i]);
        EXPECT(lo >= -1 && hi <= 1 && hi - lo > 0.01, "video range [%g, %g]", lo, hi);
        if (g_rank == 0 && same)
            printf("decode over %d rank(s): %d frames of %dx%d, bitwise the serial decode\n", size, TA, W, H);
    } else {
        int untouched = 1;
        for (size_t i = 0; i < nv && untouched; i++) untouched = ((const unsigned char *)par)[4 * i] == 0xa5;
        EXPECT(untouched, "rank 1 wrote into its video buffer");
    }
    if (size == 2) {
        /* rank 1 needs no video buffer */
        EXPECT(cosmos_diffusion_decoder_run(d, &p, tokens, 3, Ht, Wt, H, W, context, L, 17, crank == 0 ? par : NULL) ==
                   COSMOS_OK,
               "a one-chunk CFG-parallel decode with no video buffer on rank 1");
        /* rank 1 has a token out of range: both ranks refuse, none hangs */
        int32_t bad[Tl * Ht * Wt];
        memcpy(bad, tokens, sizeof bad);
        if (crank == 1) bad[7] = dc->token_vocab_size;
        cosmos_status st = cosmos_diffusion_decoder_run(d, &p, bad, Tl, Ht, Wt, H, W, context, L, TA, par);
        EXPECT(st == COSMOS_ERR_INVALID_ARG, "rank 1's bad token: status %s", cosmos_status_str(st));
        /* rank 0 has no video buffer: both ranks fail */
        st = cosmos_diffusion_decoder_run(d, &p, tokens, 3, Ht, Wt, H, W, context, L, 17, crank == 0 ? NULL : par);
        EXPECT(st == COSMOS_ERR_INVALID_ARG, "rank 0 without a video buffer: status %s", cosmos_status_str(st));
    }
    free(serial);
    free(par);
done:
    cosmos_diffusion_decoder_free(d);
    cosmos_h5_close(wf);
    cosmos_h5_close(cf);
    remove(cv_path);
}

/* (d) a communicator of more than 2 ranks is refused on every rank, before any collective */
static void check_refused(cosmos_backend_t *be, cosmos_comm_t *world) {
    cosmos_h5_t *wf = NULL;
    cosmos_dit_t *m = NULL;
    struct cosmos_dit_config dc;
    int ok = cosmos_h5_open(DATA "dd-tiny.h5", &wf) == COSMOS_OK && cosmos_dit_read_header(wf, &dc) == COSMOS_OK &&
             cosmos_dit_load(be, wf, &dc, &m) == COSMOS_OK;
    EXPECT(ok, "load dd-tiny.h5");
    if (ok) {
        float x[4 * 3 * 4 * 6] = {0}, x0[4 * 3 * 4 * 6], ctx[16 * 64] = {0};
        int32_t tok[3 * 2 * 3] = {0};
        cosmos_status st = cosmos_dit_denoise(m, 1.8, world, x, 3, 4, 6, 0.7, ctx, 16, tok, 2, 3, 24.0f, x0);
        EXPECT(st == COSMOS_ERR_INVALID_ARG, "a CFG communicator of %d ranks: status %s", cosmos_comm_size(world),
               cosmos_status_str(st));
        struct cosmos_diffusion_decoder_params p = cosmos_diffusion_decoder_params_default(&dc);
        p.cfg_comm = world;
        st = cosmos_dit_sample(m, &p, x, 3, 4, 6, ctx, 16, tok, 2, 3, x0);
        EXPECT(st == COSMOS_ERR_INVALID_ARG, "cosmos_dit_sample over %d ranks: status %s", cosmos_comm_size(world),
               cosmos_status_str(st));
    }
    cosmos_dit_free(m);
    cosmos_h5_close(wf);
}

int main(void) {
    cosmos_comm_t *world = NULL;
    if (cosmos_comm_mpi_world(&world) != COSMOS_OK) return 1;
    g_rank = cosmos_comm_rank(world);
    const int size = cosmos_comm_size(world);
    cosmos_log_set_level(COSMOS_LOG_WARN);
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = 1;
    cosmos_backend_t *be = NULL;
    cosmos_backend_create("cpu", &bp, &be);
    /* the CFG communicator: the world at 1 or 2 ranks, pairs (0 1) (2 3) at 4 */
    cosmos_comm_t *pair = NULL, *cfg = world;
    if (size > 2) {
        cosmos_comm_split(world, g_rank / 2, g_rank, &pair);
        cfg = pair;
    }
    if (cosmos_comm_size(cfg) <= 2) {
        check_golden(be, cfg);
        check_decode(be, cfg);
    }
    if (size > 2) check_refused(be, world);
    cosmos_comm_free(pair);

    float loc[2] = {(float)g_pass, (float)g_fail};
    cosmos_comm_allreduce_sum(world, loc, 2);
    if (g_rank == 0) printf("%d passed, %d failed\n", (int)loc[0], (int)loc[1]);
    cosmos_backend_free(be);
    cosmos_comm_free(world);
    return loc[1] > 0 ? 1 : 0;
}
