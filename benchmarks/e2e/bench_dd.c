/* cosmos-bench-dd: the diffusion decoder's DiT (spec components.md 4.4) on a backend: time of one
 * conditional forward (cross-attention to an L-row context, K/V cached after the first call) and
 * one unconditional forward (no cross-attention), on random weights for --config (by default the
 * official 7B shape; --blocks keeps the first N blocks, so a CPU can time one block of the real
 * width), for one chunk of latent frames (default 8 x 80 x 128 = 20 480 tokens).
 * Floor: the FLOPs of the forward counted from the config (every linear layer 2*M*N*K, attention
 * QK^T + PV 4*N*S*D; the cached context K/V not counted) divided by the rate of the backend's own
 * matmul measured in the same run on the network's largest product ([N, D] x [D, 4D]); "of floor"
 * = floor / measured. Projection: the per-chunk time of the sampler (16 conditional + 16
 * unconditional forwards) for the config's full block count. Output: a table headed by provenance,
 * and --json FILE. The random weight file goes to a temporary directory, deleted at exit. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchmarks/provenance.h"
#include "benchmarks/tmp_weights.h"
#include "core/backend.h"
#include "core/h5file.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/model/dd_sampler.h"
#include "core/model/dit_config.h"
#include "core/model/dit_init.h"
#include "core/model/dit_model.h"
#include "core/model/dit_weights.h"
#include "cosmos_build_config.h"
#include "launcher/cli.h"

/* FLOPs of one forward over N tokens (cond: with cross-attention to L rows). */
static double forward_flops(const struct cosmos_dit_config *c, double N, double L, int cond) {
    const double D = c->model_channels, F = c->mlp_hidden, R = c->adaln_lora_dim, K = c->patch_in_features,
                 P = c->patch_out_features;
    const double ada = 2.0 * D * R + 2.0 * R * 3.0 * D; /* one sub-block's AdaLN-LoRA head, one row */
    double blk = 4.0 * 2.0 * N * D * D + 4.0 * N * N * D /* FA */ + 2.0 * 2.0 * N * D * F /* MLP */ + 2.0 * ada;
    if (cond) blk += 2.0 * 2.0 * N * D * D + 4.0 * N * L * D + ada; /* CA: q, out, attention */
    const double rest = 2.0 * N * K * D + 2.0 * N * D * P + 2.0 * D * D + 2.0 * D * 3.0 * D +
                        2.0 * D * R + 2.0 * R * 2.0 * D;
    return blk * c->num_blocks + rest;
}

struct timing {
    double best, mean;
};

static cosmos_status time_forward(cosmos_dit_t *m, const float *x, int64_t T, int64_t H, int64_t W, const float *ctx,
                                  int64_t L, const int32_t *tok, int64_t Ht, int64_t Wt, float *out, int reps,
                                  struct timing *tm) {
    cosmos_status st = COSMOS_OK;
    double sum = 0, best = 1e30;
    for (int r = 0; r <= reps; r++) { /* run 0: warm-up (and the context K/V) */
        const double t0 = cosmos_now_s();
        CHECK(cosmos_dit_forward(m, x, T, H, W, -0.5f, ctx, L, tok, Ht, Wt, 24.0f, out));
        const double t = cosmos_now_s() - t0;
        if (r == 0) continue;
        sum += t;
        if (t < best) best = t;
    }
    tm->best = best, tm->mean = sum / reps;
fail:
    return st;
}

int main(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *config = COSMOS_SOURCE_DIR "/configs/models/cosmos-1.0-diffusion-7b-decoder.json", *json_out = NULL;
    const char *pos[1];
    int blocks = 0, frames = 0, height = 0, width = 0, ctx_len = 0, reps = 2, n_pos = 0;
    uint64_t seed = 0;
    cosmos_backend_t *be = NULL;
    cosmos_h5_t *h5 = NULL;
    cosmos_dit_t *m = NULL;
    float *x = NULL, *ctx = NULL, *out = NULL;
    int32_t *tok = NULL;
    json_t *prov = NULL, *js = NULL;
    struct cosmos_dit_config cfg;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"config", CLI_STR, &config, "DiT config (default: the official 7B decoder)", 0},
        {"blocks", CLI_INT, &blocks, "keep the first N transformer blocks (default: all; 1 makes a CPU run possible)", 0},
        {"frames", CLI_INT, &frames, "latent frames (default: one chunk, (dd_train_num_video_frames-1)/8+1)", 0},
        {"height", CLI_INT, &height, "latent height (default: the config's height / 8)", 0},
        {"width", CLI_INT, &width, "latent width (default: the config's width / 8)", 0},
        {"ctx-len", CLI_INT, &ctx_len, "context rows (default 512; 16 for a config narrower than 1024)", 0},
        {"reps", CLI_INT, &reps, "timed repetitions after one warm-up (default 2)", 0},
        {"seed", CLI_U64, &seed, "seed of the random weights and inputs (default 0)", 0},
        {"json", CLI_STR, &json_out, "also write the results as JSON to this file", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("bench-dd", argc - 1, argv + 1, opts, pos, 0, &n_pos, &common));
    if (common.help) return 0;
    CHECK(cosmos_dit_config_load(config, &cfg));
    const int full_blocks = cfg.num_blocks;
    CHECK_ARG(blocks >= 0 && blocks <= full_blocks && reps >= 1 && frames >= 0 && height >= 0 && width >= 0 &&
                  ctx_len >= 0,
              COSMOS_ERR_INVALID_ARG, "--blocks must be in 0..%d, --reps >= 1, the sizes positive", full_blocks);
    if (blocks) cfg.num_blocks = blocks;
    if (!frames) frames = (cfg.dd_train_num_video_frames - 1) / 8 + 1;
    if (!height) height = cfg.height / 8;
    if (!width) width = cfg.width / 8;
    if (!ctx_len) ctx_len = cfg.crossattn_emb_channels >= 1024 ? 512 : 16;
    const int ps = cfg.patch_spatial;
    CHECK_ARG(frames > 0 && height > 0 && width > 0 && height % (2 * ps) == 0 && width % (2 * ps) == 0,
              COSMOS_ERR_INVALID_ARG, "latent %dx%dx%d: height and width must be positive multiples of %d", frames,
              height, width, 2 * ps);

    const char *tmp_file = NULL;
    CHECK(bench_tmp_weights_path("cosmos-bench-dd", "dd.h5", &tmp_file));
    LOG_INFO("bench-dd: random weights for %s with %d of %d blocks (%.3f B parameters) -> %s (deleted at exit)",
             cfg.name, cfg.num_blocks, full_blocks, cosmos_dit_config_num_params(&cfg) * 1e-9, tmp_file);
    CHECK(cosmos_dit_init_random(&cfg, seed, tmp_file));
    CHECK(cosmos_h5_open(tmp_file, &h5));

    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = common.threads;
    CHECK(cosmos_backend_create(common.backend, &bp, &be));
    CHECK(cosmos_dit_load(be, h5, &cfg, &m));

    /* inputs: a noisy latent at sigma ~ 1 (c_in x_t of unit scale), random tokens at half the latent
     * resolution (as the DV8x16x16 grid is to the CV8x8x8 latent), a random context */
    const int64_t T = frames, H = height, W = width, Ht = H / 2, Wt = W / 2, L = ctx_len;
    const int64_t nx = (int64_t)cfg.in_channels * T * H * W, N = T * (H / ps) * (W / ps);
    x = malloc(sizeof(float) * (size_t)nx);
    out = malloc(sizeof(float) * (size_t)((int64_t)cfg.out_channels * T * H * W));
    ctx = malloc(sizeof(float) * (size_t)(L * cfg.crossattn_emb_channels));
    tok = malloc(sizeof(int32_t) * (size_t)(T * Ht * Wt));
    CHECK_ALLOC(x);
    CHECK_ALLOC(out);
    CHECK_ALLOC(ctx);
    CHECK_ALLOC(tok);
    cosmos_dd_gaussian(seed, 1, x, nx);
    cosmos_dd_gaussian(seed, 2, ctx, L * cfg.crossattn_emb_channels);
    for (int64_t i = 0; i < T * Ht * Wt; i++) tok[i] = (int32_t)((i * 2654435761u + seed) % (uint64_t)cfg.token_vocab_size);

    const int n_threads = omp_get_max_threads();
    prov = bench_provenance(cosmos_backend_name(be), n_threads);
    bench_provenance_print(prov);
    double gemm = 0;
    CHECK(bench_backend_matmul_gflops(be, N, cfg.mlp_hidden, cfg.model_channels, reps, &gemm));
    struct timing tc, tu;
    CHECK(time_forward(m, x, T, H, W, ctx, L, tok, Ht, Wt, out, reps, &tc));
    CHECK(time_forward(m, x, T, H, W, NULL, L, NULL, Ht, Wt, out, reps, &tu));
    for (int64_t i = 0; i < (int64_t)cfg.out_channels * T * H * W; i++)
        CHECK_ARG(isfinite(out[i]), COSMOS_ERR_INTERNAL, "bench-dd: the forward gave a non-finite output at %lld",
                  (long long)i);

    const double fc = forward_flops(&cfg, (double)N, (double)L, 1), fu = forward_flops(&cfg, (double)N, (double)L, 0);
    const double floor_c = fc / (gemm * 1e9), floor_u = fu / (gemm * 1e9);
    /* per-chunk projection for all blocks: blocks scale linearly, the rest is small */
    const double scale = (double)full_blocks / cfg.num_blocks;
    const double chunk_s = 16.0 * (tc.best + tu.best) * scale;
    printf("# dit: %s, %d of %d blocks, D %d, heads %d, latent %lldx%lldx%lld -> %lld tokens, context %lld rows\n",
           cfg.name, cfg.num_blocks, full_blocks, cfg.model_channels, cfg.num_heads, (long long)T, (long long)H,
           (long long)W, (long long)N, (long long)L);
    printf("# matmul [%lld x %d] x [%d x %d]: %.1f GFLOP/s (the floor's rate)\n", (long long)N, cfg.model_channels,
           cfg.model_channels, cfg.mlp_hidden, gemm);
    printf("%-14s %10s %10s %10s %10s %9s\n", "forward", "best_ms", "mean_ms", "GFLOP", "floor_ms", "of_floor");
    printf("%-14s %10.2f %10.2f %10.2f %10.2f %8.1f%%\n", "conditional", tc.best * 1e3, tc.mean * 1e3, fc * 1e-9,
           floor_c * 1e3, 100.0 * floor_c / tc.best);
    printf("%-14s %10.2f %10.2f %10.2f %10.2f %8.1f%%\n", "unconditional", tu.best * 1e3, tu.mean * 1e3, fu * 1e-9,
           floor_u * 1e3, 100.0 * floor_u / tu.best);
    printf("# one chunk of this latent (16 denoiser calls = 16 cond + 16 uncond forwards) with all %d blocks: %.2f s "
           "projected; FLOPs of such a chunk: %.3g\n",
           full_blocks, chunk_s, 16.0 * (fc + fu) * scale);
    if (json_out) {
        js = json_pack("{s:O, s:s, s:i, s:i, s:{s:I, s:I, s:I}, s:I, s:I, s:i, s:f, s:{s:f, s:f, s:f, s:f}, "
                       "s:{s:f, s:f, s:f, s:f}, s:f}",
                       "provenance", prov, "config", cfg.name, "blocks", cfg.num_blocks, "blocks_full", full_blocks,
                       "latent", "T", (json_int_t)T, "H", (json_int_t)H, "W", (json_int_t)W, "tokens", (json_int_t)N,
                       "context_rows", (json_int_t)L, "reps", reps, "matmul_gflops", gemm, "conditional", "best_s",
                       tc.best, "mean_s", tc.mean, "gflop", fc * 1e-9, "floor_s", floor_c, "unconditional", "best_s",
                       tu.best, "mean_s", tu.mean, "gflop", fu * 1e-9, "floor_s", floor_u, "chunk_projected_s",
                       chunk_s);
        CHECK_ALLOC(js);
        CHECK(cosmos_json_write(js, json_out, JSON_INDENT(2)));
    }
fail:
    json_decref(js);
    json_decref(prov);
    free(x);
    free(out);
    free(ctx);
    free(tok);
    cosmos_dit_free(m);
    cosmos_h5_close(h5);
    cosmos_backend_free(be);
    bench_tmp_weights_remove();
    return st == COSMOS_OK ? 0 : 1;
}
