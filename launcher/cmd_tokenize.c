/* `cosmos-ar tokenize` and `cosmos-ar detokenize` (issue 5): the DV tokenizer on its own
 * (docs/dv-tokenizer.md "Command line"; spec components.md 1 steps 1-2 and 6-8).
 * tokenize: video/image -> prepared clip [3,T,H,W] (core/media.h, as the pipeline) -> FSQ indices
 * [T',H',W'], written one per line T-major (the order the AR model uses), optionally with int32
 * /indices [T',H',W'] and f32 /codes [embedding_dim,T',H',W'] in an HDF5 file.
 * detokenize: tokens -> decoded clip (whole clip) -> .mp4 (H.264) or lossless .h5 (f32 /decoded
 * [3,T,H,W] before clamping, uint8 /frames [T,H,W,3] after the official mapping). The clip size
 * defaults to the config's pixel_chunk_duration / height / width (else 33 x 640 x 1024). Both run
 * on --backend (CPU or CUDA). Outputs go to a temporary name, then renamed.
 * With --diffusion-decoder DD.h5 --cv-tokenizer CV.h5 --context C.h5 the frames come from the
 * diffusion decoder instead (core/model/diffusion_decoder.h, spec components.md 4: the official
 * pipeline's default path), conditioned on the context file (a prompt's T5 embedding from
 * `encode-text`, or a model directory's dd_context); the DV tokenizer still gives the geometry.
 * `mpirun -np 2 cosmos-ar detokenize ... --diffusion-decoder ... --cfg-parallel` splits the two
 * guidance branches of every denoiser call over the 2 ranks of the MPI world (classifier-free-
 * guidance parallelism, spec components.md 4.3; docs/diffusion-decoder.md "CFG parallelism"): the
 * frames are bitwise those of one process; rank 0 decodes and writes the output, rank 1 writes
 * nothing; a world of more than 2 ranks is refused. Without an MPI launcher --cfg-parallel is one
 * process (noted in the log). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/context_file.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/media.h"
#include "core/model/diffusion_decoder.h"
#include "core/model/dv_config.h"
#include "core/model/dv_decoder.h"
#include "core/model/dv_encoder.h"
#include "core/model/dv_weights.h"
#include "core/token_file.h"
#include "launcher/cli.h"
#include "launcher/commands.h"
#include "parallel/comm.h"

#define MAX_SIDE 8192

/* Opens a tokenizer file, reads its config and checks every tensor it holds; fails with a clear
 * message when it lacks the part `need` (a decoder-only file given to tokenize, ...). */
static cosmos_status open_tokenizer(const char *cmd, const char *path, enum cosmos_dv_part need, cosmos_h5_t **out,
                                    struct cosmos_dv_config *cfg) {
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *h5 = NULL;
    enum cosmos_dv_part parts;
    *out = NULL;
    CHECK(cosmos_h5_open(path, &h5));
    CHECK(cosmos_dv_read_header(h5, cfg, &parts));
    const char *need_name = need == COSMOS_DV_ENCODER ? "encoder" : "decoder";
    CHECK_ARG(parts & need, COSMOS_ERR_INVALID_ARG,
              "%s: '%s' holds only the tokenizer's %s part; %s needs the %s part (hint: a file with both parts "
              "comes from `cosmos-ar init` or `tools/convert_checkpoint.py tokenizer --encoder E --decoder D`)",
              cmd, path, need == COSMOS_DV_ENCODER ? "decoder" : "encoder", cmd, need_name);
    CHECK(cosmos_dv_check_weights(h5, cfg, parts));
    *out = h5;
    h5 = NULL;
fail:
    cosmos_h5_close(h5);
    return st;
}

/* Fills 0 (= not given) frames / height / width from the config (else 33 x 640 x 1024, the
 * official clip) and checks the clip can be tokenized: T = 1 + temporal_compression*k, H and W
 * positive multiples of 16 and of the spatial compression. */
static cosmos_status clip_size(const char *cmd, const struct cosmos_dv_config *cfg, int *T, int *H, int *W) {
    cosmos_status st = COSMOS_OK;
    if (*T == 0) *T = cfg->pixel_chunk_duration > 0 ? cfg->pixel_chunk_duration : 33;
    if (*H == 0) *H = cfg->height > 0 ? cfg->height : 640;
    if (*W == 0) *W = cfg->width > 0 ? cfg->width : 1024;
    const int tc = cfg->temporal_compression, sc = cfg->spatial_compression;
    CHECK_ARG(*T >= 1 && *T <= 100000 && (*T - 1) % tc == 0, COSMOS_ERR_INVALID_ARG,
              "%s: --frames %d: the clip length must be 1 + %d*k for tokenizer '%s'", cmd, *T, tc, cfg->name);
    CHECK_ARG(*H > 0 && *W > 0 && *H <= MAX_SIDE && *W <= MAX_SIDE && *H % 16 == 0 && *W % 16 == 0 && *H % sc == 0 &&
                  *W % sc == 0,
              COSMOS_ERR_INVALID_ARG,
              "%s: --height %d --width %d: both must be positive multiples of 16 and of the spatial compression %d "
              "(<= %d)",
              cmd, *H, *W, sc, MAX_SIDE);
fail:
    return st;
}

static int64_t codebook_size(const struct cosmos_dv_config *cfg) {
    int64_t v = 1;
    for (int i = 0; i < cfg->embedding_dim; i++) v *= cfg->fsq_levels[i];
    return v;
}

static cosmos_status open_backend(const struct cli_common *common, cosmos_backend_t **be) {
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = common->threads;
    return cosmos_backend_create(common->backend, &bp, be);
}

static int ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    if (n <= k) return 0;
    for (size_t i = 0; i < k; i++)
        if (tolower((unsigned char)s[n - k + i]) != tolower((unsigned char)suffix[i])) return 0;
    return 1;
}

cosmos_status cmd_tokenize(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *tok_path = NULL, *input = NULL, *out = NULL, *out_h5 = NULL, *pos[1];
    int n_pos = 0, T = 0, H = 0, W = 0, is_image = 0;
    cosmos_h5_t *tok = NULL, *h5 = NULL;
    cosmos_backend_t *be = NULL;
    float *video = NULL, *codes = NULL;
    int32_t *ids = NULL;
    char tmp[1100] = "";
    struct cosmos_dv_config cfg;
    struct cosmos_media_prep_params p = cosmos_media_prep_params_default();
    p.num_input_frames = 0;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"tokenizer", CLI_STR, &tok_path, "DV tokenizer file (.h5) with the encoder part", 0},
        {"input", CLI_STR, &input, "video (mp4, ...) or image (png, jpg, jpeg, webp); an image is 1 frame", 0},
        {"num-input-frames", CLI_INT, &p.num_input_frames,
         "frames kept from the end: 1 or 9 (default 9, or 1 when the clip is shorter)", 0},
        {"frames", CLI_INT, &T, "clip length 1+8k, the input padded with its last frame (default: config, else 33)", 0},
        {"height", CLI_INT, &H, "clip height, a multiple of 16 (default: config, else 640)", 0},
        {"width", CLI_INT, &W, "clip width, a multiple of 16 (default: config, else 1024)", 0},
        {"out", CLI_STR, &out, "token file: one id per line, T-major [T',H',W']", 0},
        {"out-h5", CLI_STR, &out_h5, "HDF5 with int32 /indices [T',H',W'] and float32 /codes [D,T',H',W']", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("tokenize", argc, argv, opts, pos, 0, &n_pos, &common));
    if (common.help) return COSMOS_OK;
    CHECK_ARG(tok_path && input && (out || out_h5), COSMOS_ERR_INVALID_ARG,
              "tokenize: --tokenizer, --input and --out (or --out-h5) are required");
    CHECK_ARG(!out || !out_h5 || strcmp(out, out_h5) != 0, COSMOS_ERR_INVALID_ARG,
              "tokenize: --out and --out-h5 must differ");
    CHECK_ARG(p.num_input_frames == 0 || p.num_input_frames == 1 || p.num_input_frames == 9, COSMOS_ERR_INVALID_ARG,
              "tokenize: --num-input-frames must be 1 or 9 (got %d)", p.num_input_frames);
    CHECK(open_tokenizer("tokenize", tok_path, COSMOS_DV_ENCODER, &tok, &cfg));
    CHECK(clip_size("tokenize", &cfg, &T, &H, &W));
    if (p.num_input_frames == 0) p.num_input_frames = T >= 9 ? 9 : 1;
    CHECK_ARG(p.num_input_frames <= T, COSMOS_ERR_INVALID_ARG,
              "tokenize: --num-input-frames %d is more than the %d frames of the clip", p.num_input_frames, T);
    p.num_frames = T, p.height = H, p.width = W;

    int64_t Tl, Hl, Wl;
    cosmos_dv_latent_shape(&cfg, T, H, W, &Tl, &Hl, &Wl);
    const int64_t n = Tl * Hl * Wl, D = cfg.embedding_dim;
    CHECK(open_backend(&common, &be));
    CHECK(cosmos_media_load_clip(input, &p, &video, &is_image));
    ids = malloc(sizeof(int32_t) * (size_t)n);
    CHECK_ALLOC(ids);
    if (out_h5) {
        codes = malloc(sizeof(float) * (size_t)(D * n));
        CHECK_ALLOC(codes);
    }
    CHECK(cosmos_dv_encode(be, tok, &cfg, video, T, H, W, NULL, ids, codes));

    if (out_h5) { /* renamed after the token file is written, so a failure leaves neither */
        cosmos_tmp_path(out_h5, tmp, sizeof tmp);
        const int64_t ishape[3] = {Tl, Hl, Wl}, cshape[4] = {D, Tl, Hl, Wl};
        CHECK(cosmos_h5_create(tmp, &h5));
        CHECK(cosmos_h5_write(h5, "indices", COSMOS_I32, 3, ishape, ids));
        CHECK(cosmos_h5_write(h5, "codes", COSMOS_F32, 4, cshape, codes));
        cosmos_h5_close(h5);
        h5 = NULL;
    }
    if (out) CHECK(cosmos_tokens_write(out, ids, n));
    if (out_h5) {
        CHECK(cosmos_commit_tmp(tmp, out_h5));
        tmp[0] = '\0';
    }
    LOG_INFO0("tokenize: %s (%s -> %d frames of %dx%d, WxH) -> latent [T',H',W'] = [%lld, %lld, %lld], %lld "
              "tokens in [0, %lld) -> %s%s%s",
              input, is_image ? "image, 1 frame repeated" : p.num_input_frames == 9 ? "last 9 frames" : "last frame",
              T, W, H, (long long)Tl, (long long)Hl, (long long)Wl, (long long)n,
              (long long)codebook_size(&cfg), out ? out : "", out && out_h5 ? ", " : "", out_h5 ? out_h5 : "");
fail:
    if (h5) cosmos_h5_close(h5);
    if (tmp[0]) remove(tmp);
    free(ids);
    free(codes);
    free(video);
    cosmos_h5_close(tok);
    cosmos_backend_free(be);
    return st;
}

/* "T,H,W" with three positive integers. */
static int parse_latent(const char *s, int64_t *Tl, int64_t *Hl, int64_t *Wl) {
    long long a, b, c;
    char extra;
    if (sscanf(s, "%lld,%lld,%lld%c", &a, &b, &c, &extra) != 3) return 0;
    if (a < 1 || b < 1 || c < 1 || a > 100000 || b > MAX_SIDE || c > MAX_SIDE) return 0;
    *Tl = a, *Hl = b, *Wl = c;
    return 1;
}

static cosmos_status write_decoded_h5(const char *path, const float *video, const uint8_t *rgb, int64_t T, int64_t H,
                                      int64_t W) {
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *h5 = NULL;
    char tmp[1100];
    cosmos_tmp_path(path, tmp, sizeof tmp);
    const int64_t vshape[4] = {3, T, H, W}, fshape[4] = {T, H, W, 3};
    CHECK(cosmos_h5_create(tmp, &h5));
    CHECK(cosmos_h5_write(h5, "decoded", COSMOS_F32, 4, vshape, video));
    CHECK(cosmos_h5_write_u8(h5, "frames", 4, fshape, rgb));
    cosmos_h5_close(h5);
    h5 = NULL;
    CHECK(cosmos_commit_tmp(tmp, path));
    tmp[0] = '\0';
fail:
    if (h5) cosmos_h5_close(h5);
    if (tmp[0]) remove(tmp);
    return st;
}

/* The diffusion decoder path of detokenize: tokens [Tl, Hl, Wl] -> video [3, T, H, W]. With a CFG
 * communicator (world, 2 ranks) every rank calls it; only rank 0's video is written. */
static cosmos_status dd_detokenize(cosmos_backend_t *be, cosmos_comm_t *world, const char *dd_path, const char *cv_path,
                                   const char *ctx_path, int seed, int steps, const int32_t *ids, int64_t Tl,
                                   int64_t Hl, int64_t Wl, int64_t T, int64_t H, int64_t W, float *video) {
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *dd_h5 = NULL, *cv_h5 = NULL;
    cosmos_diffusion_decoder_t *dd = NULL;
    float *ctx = NULL;
    int rows = 0, cols = 0;
    CHECK_ARG(cv_path && ctx_path, COSMOS_ERR_INVALID_ARG,
              "detokenize: --diffusion-decoder needs --cv-tokenizer (the CV8x8x8 decoder) and --context (a prompt's "
              "T5 embedding: `cosmos-ar encode-text`)");
    CHECK_ARG(seed >= 0 && steps >= 0, COSMOS_ERR_INVALID_ARG, "detokenize: --dd-seed and --dd-steps must be >= 0");
    /* the files: every rank opens them, then all learn whether all could (no rank waits for a failed one) */
    cosmos_status ost = cosmos_context_read(ctx_path, &ctx, &rows, &cols);
    if (ost == COSMOS_OK) ost = cosmos_h5_open(dd_path, &dd_h5);
    if (ost == COSMOS_OK) ost = cosmos_h5_open(cv_path, &cv_h5);
    if (ost == COSMOS_OK) ost = cosmos_diffusion_decoder_open(be, be, dd_h5, cv_h5, &dd);
    if (ost == COSMOS_OK && cols != cosmos_diffusion_decoder_dit_config(dd)->crossattn_emb_channels) {
        LOG_ERROR("detokenize: %s: /context rows are %d wide, the diffusion decoder attends to %d-wide embeddings",
                  ctx_path, cols, cosmos_diffusion_decoder_dit_config(dd)->crossattn_emb_channels);
        ost = COSMOS_ERR_INVALID_ARG;
    }
    if (world) {
        int all_ok = 0;
        cosmos_status cst = cosmos_comm_all_ok(world, ost == COSMOS_OK, &all_ok);
        if (ost == COSMOS_OK && (cst != COSMOS_OK || !all_ok)) {
            LOG_ERROR("detokenize: another rank failed to open the diffusion decoder; stopping");
            ost = COSMOS_ERR_IO;
        }
    }
    CHECK(ost);
    const struct cosmos_dit_config *dc = cosmos_diffusion_decoder_dit_config(dd);
    struct cosmos_diffusion_decoder_params p = cosmos_diffusion_decoder_params_default(dc);
    p.seed = (uint64_t)seed;
    if (steps > 0) p.sampler.num_steps = steps;
    p.cfg_comm = world;
    LOG_INFO0("detokenize: diffusion decoder '%s' (%d steps, guidance %g, seed %d) + CV decoder '%s'%s", dc->name,
              p.sampler.num_steps, p.guidance, seed, cosmos_diffusion_decoder_cv_config(dd)->name,
              world ? ", CFG parallelism: conditional forward on rank 0, unconditional on rank 1" : "");
    if (world && p.guidance == 0.0)
        LOG_INFO0("detokenize: guidance 0: no unconditional forward, so --cfg-parallel gains nothing (each rank runs "
                  "the conditional forward)");
    CHECK(cosmos_diffusion_decoder_run(dd, &p, ids, Tl, Hl, Wl, H, W, ctx, rows, T, video));
fail:
    cosmos_diffusion_decoder_free(dd);
    cosmos_h5_close(dd_h5);
    cosmos_h5_close(cv_h5);
    free(ctx);
    return st;
}

cosmos_status cmd_detokenize(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *tok_path = NULL, *tokens = NULL, *out = NULL, *latent = NULL, *pos[1];
    const char *dd_path = NULL, *cv_path = NULL, *ctx_path = NULL;
    int n_pos = 0, n = 0, T = 0, H = 0, W = 0, fps = 25, dd_seed = 1, dd_steps = 0, cfg_parallel = 0;
    int synced = 0; /* under --cfg-parallel: this rank has passed the ranks' check that all are ready */
    cosmos_comm_t *world = NULL;
    cosmos_h5_t *tok = NULL;
    cosmos_backend_t *be = NULL;
    int32_t *ids = NULL;
    float *video = NULL;
    uint8_t *rgb = NULL;
    struct cosmos_dv_config cfg;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"tokenizer", CLI_STR, &tok_path, "DV tokenizer file (.h5) with the decoder part", 0},
        {"tokens", CLI_STR, &tokens, "token file: whitespace-separated ids, T-major [T',H',W']", 0},
        {"latent", CLI_STR, &latent, "latent shape T',H',W' (default: from the clip size)", 0},
        {"frames", CLI_INT, &T, "clip length 1+8k giving the latent shape (default: config, else 33)", 0},
        {"height", CLI_INT, &H, "clip height (default: config, else 640)", 0},
        {"width", CLI_INT, &W, "clip width (default: config, else 1024)", 0},
        {"out", CLI_STR, &out, "OUT.mp4 (H.264) or OUT.h5 (f32 /decoded [3,T,H,W], uint8 /frames [T,H,W,3])", 0},
        {"fps", CLI_INT, &fps, "frames per second of an mp4 (default 25)", 0},
        {"diffusion-decoder", CLI_STR, &dd_path, "decode with this diffusion decoder (DiT .h5) instead of the DV decoder", 0},
        {"cv-tokenizer", CLI_STR, &cv_path, "CV8x8x8 tokenizer (.h5, decoder + mean_std) for --diffusion-decoder", 0},
        {"context", CLI_STR, &ctx_path, "context file (/context: a prompt's T5 embedding) for --diffusion-decoder", 0},
        {"dd-seed", CLI_INT, &dd_seed, "seed of the diffusion decoder's noise (default 1, as the official pipeline)", 0},
        {"dd-steps", CLI_INT, &dd_steps, "sampler steps (default: the diffusion decoder's config, 15)", 0},
        {"cfg-parallel", CLI_FLAG, &cfg_parallel,
         "under mpirun -np 2: the conditional and unconditional DiT forwards on one rank each (rank 0 writes)", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("detokenize", argc, argv, opts, pos, 0, &n_pos, &common));
    if (common.help) return COSMOS_OK;
    CHECK_ARG(tok_path && tokens && out, COSMOS_ERR_INVALID_ARG,
              "detokenize: --tokenizer, --tokens and --out are required");
    CHECK_ARG(!cfg_parallel || dd_path, COSMOS_ERR_INVALID_ARG,
              "detokenize: --cfg-parallel splits the diffusion decoder's guidance branches: it needs "
              "--diffusion-decoder");
    if (cfg_parallel) {
        if (cli_launched_by_mpi()) {
            st = cosmos_comm_mpi_world(&world);
            CHECK_ARG(st == COSMOS_OK, st,
                      "detokenize: --cfg-parallel under an MPI launcher needs the MPI world (a build with MPI)");
            const int size = cosmos_comm_size(world);
            CHECK_ARG(size <= 2, COSMOS_ERR_INVALID_ARG,
                      "detokenize: --cfg-parallel runs the conditional and the unconditional forward on one rank each: "
                      "it needs mpirun -np 2, not %d ranks",
                      size);
            if (size == 1) {
                cosmos_comm_free(world); /* finalises MPI: one process, serial */
                world = NULL;
            }
        }
        if (!world) LOG_INFO0("detokenize: --cfg-parallel with one process: it runs both guidance branches");
    }
    const int to_mp4 = ends_with_ci(out, ".mp4"), to_h5 = ends_with_ci(out, ".h5");
    CHECK_ARG(to_mp4 || to_h5, COSMOS_ERR_INVALID_ARG,
              "detokenize: --out '%s' must end in .mp4 (video) or .h5 (lossless float32 /decoded + uint8 /frames)",
              out);
    CHECK_ARG(fps >= 1 && fps <= 1000, COSMOS_ERR_INVALID_ARG, "detokenize: --fps must be in 1..1000 (got %d)", fps);
    CHECK_ARG(!latent || (T == 0 && H == 0 && W == 0), COSMOS_ERR_INVALID_ARG,
              "detokenize: give --latent or --frames/--height/--width, not both");
    CHECK(open_tokenizer("detokenize", tok_path, COSMOS_DV_DECODER, &tok, &cfg));

    int64_t Tl, Hl, Wl;
    if (latent) {
        CHECK_ARG(parse_latent(latent, &Tl, &Hl, &Wl), COSMOS_ERR_INVALID_ARG,
                  "detokenize: --latent '%s' is not T,H,W with three positive integers", latent);
    } else {
        CHECK(clip_size("detokenize", &cfg, &T, &H, &W));
        cosmos_dv_latent_shape(&cfg, T, H, W, &Tl, &Hl, &Wl);
    }
    const int64_t need = Tl * Hl * Wl, vocab = codebook_size(&cfg);
    CHECK(cosmos_tokens_read(tokens, (int64_t)1 << 30, "2^30", &ids, &n));
    CHECK_ARG(n == need, COSMOS_ERR_INVALID_ARG,
              "detokenize: '%s' holds %d tokens; latent [%lld, %lld, %lld] needs %lld (hint: --latent T,H,W or "
              "--frames/--height/--width)",
              tokens, n, (long long)Tl, (long long)Hl, (long long)Wl, (long long)need);
    for (int i = 0; i < n; i++)
        CHECK_ARG(ids[i] >= 0 && ids[i] < vocab, COSMOS_ERR_INVALID_ARG,
                  "detokenize: '%s': token %d is %d, outside the codebook [0, %lld) of tokenizer '%s'", tokens, i,
                  ids[i], (long long)vocab, cfg.name);

    int64_t VT, VH, VW;
    cosmos_dv_video_shape(&cfg, Tl, Hl, Wl, &VT, &VH, &VW);
    const int writer = !world || cosmos_comm_rank(world) == 0; /* under --cfg-parallel rank 1 needs no frames */
    if (writer) {
        video = malloc(sizeof(float) * 3 * (size_t)(VT * VH * VW));
        rgb = malloc((size_t)(VT * VH * VW) * 3);
        CHECK_ALLOC(video);
        CHECK_ALLOC(rgb);
    }
    CHECK(open_backend(&common, &be));
    if (dd_path) {
        synced = 1; /* dd_detokenize's check that every rank opened the decoder pairs with the fail path's */
        CHECK(dd_detokenize(be, world, dd_path, cv_path, ctx_path, dd_seed, dd_steps, ids, Tl, Hl, Wl, VT, VH, VW,
                            video));
    } else {
        CHECK(cosmos_dv_decode(be, tok, &cfg, ids, Tl, Hl, Wl, video));
    }
    if (!writer) goto fail; /* st is OK: rank 0 writes the output */
    const int64_t n_bad = cosmos_dv_video_to_u8(video, VT, VH, VW, rgb);
    CHECK_ARG(n_bad == 0 || to_h5, COSMOS_ERR_FORMAT,
              "detokenize: the decoder made %lld non-finite values (broken weights); no video written",
              (long long)n_bad);
    if (n_bad > 0) LOG_WARN("detokenize: the decoder made %lld non-finite values (broken weights)", (long long)n_bad);
    if (to_h5) {
        CHECK(write_decoded_h5(out, video, rgb, VT, VH, VW));
    } else {
        struct cosmos_frames f = {.T = (int)VT, .H = (int)VH, .W = (int)VW, .rgb = rgb};
        struct cosmos_media_encode_params ep = cosmos_media_encode_params_default();
        ep.fps = fps;
        CHECK(cosmos_media_encode(out, &f, &ep));
    }
    LOG_INFO0("detokenize: %d tokens, latent [%lld, %lld, %lld] -> %lld frames of %lldx%lld (WxH) -> %s", n,
              (long long)Tl, (long long)Hl, (long long)Wl, (long long)VT, (long long)VW, (long long)VH, out);
fail:
    if (world && !synced) { /* failed before dd_detokenize: the other rank waits there to learn it */
        int all_ok = 0;
        cosmos_comm_all_ok(world, 0, &all_ok);
    }
    free(ids);
    free(video);
    free(rgb);
    cosmos_h5_close(tok);
    cosmos_backend_free(be);
    cosmos_comm_free(world);
    return st;
}
