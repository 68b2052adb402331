/* cosmos-bench-dv: DV tokenizer (issue 5) encode and decode time of one clip on a backend.
 * - encode: a seeded random clip in [-1,1] -> FSQ indices (cosmos_dv_encoder_run, the weights
 *   loaded once before by cosmos_dv_encoder_open, timed apart as open_s): seconds, frames/s, latent
 *   tokens/s;
 * - decode: the produced indices -> pixels, whole clip (cosmos_dv_decode, weight load included);
 * - stream: the same indices pushed one latent frame at a time (cosmos_dv_stream_*): open (weight
 *   load) time, time of each push, time to the first pixel frame; checked against the whole-clip
 *   pixels (max |diff|);
 * - peak RSS; and the compute floor of each phase: its convolution and attention FLOPs, counted
 *   from the config (every conv 2*Cout*Cin*kt*kh*kw*To*Ho*Wo as the CPU kernel computes it, the
 *   replicated causal frames included; attention QK^T and PV) divided by the GEMM rate measured in
 *   the same run on conv-shaped products (OpenBLAS sgemm on a host backend; on a device, e.g.
 *   --backend cuda, the backend's own bf16 matmul, which the conv's im2col GEMM is). "of floor" =
 *   floor / measured.
 * Output: a table headed by provenance, and --json FILE. Weights: --weights FILE.h5, or random
 * weights for --config written to a temporary file and deleted at exit. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "benchmarks/provenance.h"
#include "benchmarks/tmp_weights.h"
#include "core/json_file.h"
#include "core/backend.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/dv_config.h"
#include "core/model/dv_decoder.h"
#include "core/model/dv_encoder.h"
#include "core/model/dv_init.h"
#include "core/model/dv_weights.h"
#include "core/rng.h"
#include "launcher/cli.h"

#define RNG_STREAM_CLIP 0x44564250u /* "DVBP" */

/* ---- analytical FLOPs ---- */

struct flops {
    double conv_s, conv_t, conv_1; /* (1,3,3)-type spatial, (3,1,1)-type temporal, 1x1x1 */
    double attn;                   /* QK^T + PV of spatial and temporal attention */
};
static double flops_total(const struct flops *f) { return f->conv_s + f->conv_t + f->conv_1 + f->attn; }

struct shape {
    int64_t C, T, H, W;
};

static void f_conv(struct flops *f, struct shape *s, int64_t cout, struct cosmos_conv3d_params p) {
    const int64_t To = (s->T + p.time_pad - p.kt) / p.stride_t + 1;
    const int64_t Ho = (s->H + p.pad_lo + p.pad_hi - p.kh) / p.stride_s + 1;
    const int64_t Wo = (s->W + p.pad_lo + p.pad_hi - p.kw) / p.stride_s + 1;
    const double n = 2.0 * (double)cout * (double)s->C * p.kt * p.kh * p.kw * (double)(To * Ho * Wo);
    if (p.kh > 1 || p.kw > 1)
        f->conv_s += n;
    else if (p.kt > 1)
        f->conv_t += n;
    else
        f->conv_1 += n;
    s->C = cout, s->T = To, s->H = Ho, s->W = Wo;
}
static void f_pw(struct flops *f, struct shape *s, int64_t cout) {
    f_conv(f, s, cout, cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0));
}
static void f_fact(struct flops *f, struct shape *s, int64_t cout) {
    f_conv(f, s, cout, cosmos_conv3d_params_causal(1, 3, 3, 1, 1, 1));
    f_conv(f, s, cout, cosmos_conv3d_params_causal(3, 1, 1, 1, 1, 0));
}
static void f_res(struct flops *f, struct shape *s, int64_t cout) {
    struct shape sc = *s;
    if (s->C != cout) f_pw(f, &sc, cout);
    f_fact(f, s, cout);
    f_fact(f, s, cout);
}
/* spatial (HW tokens per frame) then causal temporal (T frames per position) attention */
static void f_attn_pair(struct flops *f, struct shape *s) {
    const double C = (double)s->C, T = (double)s->T, HW = (double)(s->H * s->W);
    f->conv_1 += 2 * 4 * 2.0 * C * C * T * HW; /* q, k, v, proj_out 1x1x1 of both */
    f->attn += 4.0 * C * HW * HW * T;             /* spatial: QK^T and PV, 2*L*L*C each */
    f->attn += 4.0 * C * HW * T * (T + 1) / 2.0; /* temporal: query t sees t+1 keys */
}

static struct flops encoder_flops(const struct cosmos_dv_config *cfg, int64_t T, int64_t H, int64_t W) {
    struct flops f = {0};
    const int p = cfg->patch_size;
    struct shape s = {cfg->in_channels, T + p - 1, H / p, W / p};
    for (int q = p; q > 1; q /= 2) s.C *= 8, s.T = (s.T + 1) / 2;
    f_fact(&f, &s, cfg->channels);
    int curr_res = cfg->resolution / p;
    for (int l = 0; l < cfg->n_levels; l++) {
        int has_attn = 0;
        for (int a = 0; a < cfg->n_attn_resolutions; a++) has_attn |= cfg->attn_resolutions[a] == curr_res;
        for (int b = 0; b < cfg->num_res_blocks; b++) {
            f_res(&f, &s, (int64_t)cfg->channels * cfg->channels_mult[l]);
            if (has_attn) f_attn_pair(&f, &s);
        }
        if (l != cfg->n_levels - 1) {
            int sd, td;
            cosmos_dv_down_flags(cfg, l, &sd, &td);
            if (sd) f_conv(&f, &s, s.C, (struct cosmos_conv3d_params){1, 3, 3, 0, 1, 2, 0, 1});
            if (td) {
                struct cosmos_conv3d_params pt = cosmos_conv3d_params_causal(3, 1, 1, 2, 1, 0);
                pt.time_pad += 1;
                f_conv(&f, &s, s.C, pt);
            }
            if (sd || td) f_pw(&f, &s, s.C);
            curr_res /= 2;
        }
    }
    f_res(&f, &s, s.C);
    f_attn_pair(&f, &s);
    f_res(&f, &s, s.C);
    f_fact(&f, &s, cfg->z_channels);
    f_pw(&f, &s, cfg->embedding_dim);
    return f;
}

/* Whole clip of Tl latent frames; the streamed decoder does the same work over its pushes, so the
 * work of push k is decoder_flops(k+1) - decoder_flops(k). */
static struct flops decoder_flops(const struct cosmos_dv_config *cfg, int64_t Tl, int64_t Hl, int64_t Wl) {
    struct flops f = {0};
    if (Tl <= 0) return f;
    const int n = cfg->n_levels, p = cfg->patch_size;
    struct shape s = {cfg->embedding_dim, Tl, Hl, Wl};
    f_pw(&f, &s, cfg->z_channels);
    f_fact(&f, &s, (int64_t)cfg->channels * cfg->channels_mult[n - 1]);
    f_res(&f, &s, s.C);
    f_attn_pair(&f, &s);
    f_res(&f, &s, s.C);
    int curr_res = (cfg->resolution / p) >> (n - 1);
    for (int i = n - 1; i >= 0; i--) {
        int has_attn = 0, su, tu;
        for (int a = 0; a < cfg->n_attn_resolutions; a++) has_attn |= cfg->attn_resolutions[a] == curr_res;
        for (int j = 0; j < cfg->num_res_blocks + 1; j++) {
            f_res(&f, &s, (int64_t)cfg->channels * cfg->channels_mult[i]);
            if (has_attn) f_attn_pair(&f, &s);
        }
        cosmos_dv_up_flags(cfg, i, &su, &tu);
        if (tu) s.T = 2 * s.T - 1, f_conv(&f, &s, s.C, cosmos_conv3d_params_causal(3, 1, 1, 1, 1, 0));
        if (su) s.H *= 2, s.W *= 2, f_conv(&f, &s, s.C, cosmos_conv3d_params_causal(1, 3, 3, 1, 1, 1));
        if (su || tu) f_pw(&f, &s, s.C);
        if (i != 0) curr_res *= 2;
    }
    const int64_t out = cfg->out_channels > 0 ? cfg->out_channels : cfg->in_channels;
    f_fact(&f, &s, out * p * p * p);
    return f;
}

/* ---- timing helpers ---- */

static double cpu_time_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * ru.ru_stime.tv_usec;
}

static double loadavg1(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

/* A phase's results: wall seconds per rep, CPU utilisation (process CPU time / (wall * threads)
 * of the last rep: well below 1 means the cores were shared), floor. */
struct phase {
    const char *name;
    int ran;
    double *sec; /* [reps] */
    double s_min, s_p50, cpu_util, floor_s;
    struct flops fl;
};

static json_t *phase_json(const struct phase *p, double frames, double tokens) {
    json_t *secs = json_array();
    return json_pack("{s:f, s:f, s:o, s:f, s:f, s:f, s:{s:f, s:f, s:f, s:f, s:f}, s:f, s:f, s:f}", "seconds_min",
                     p->s_min, "seconds_p50", p->s_p50, "seconds_all", secs, "frames_per_s", frames / p->s_min,
                     "tokens_per_s", tokens / p->s_min, "cpu_util", p->cpu_util, "gflop", "conv_spatial",
                     p->fl.conv_s * 1e-9, "conv_temporal", p->fl.conv_t * 1e-9, "conv_pointwise", p->fl.conv_1 * 1e-9,
                     "attention", p->fl.attn * 1e-9, "total", flops_total(&p->fl) * 1e-9, "achieved_gflops",
                     flops_total(&p->fl) / p->s_min * 1e-9, "floor_s", p->floor_s, "fraction_of_floor",
                     p->floor_s / p->s_min);
}

static void phase_fill_json(json_t *o, const struct phase *p, int reps) {
    json_t *a = json_object_get(o, "seconds_all");
    for (int r = 0; r < reps; r++) json_array_append_new(a, json_real(p->sec[r]));
}

int main(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *config = NULL, *weights = NULL, *json_out = NULL;
    int frames = 0, height = 0, width = 0, reps = 1, skip_decode = 0, skip_stream = 0, n_pos = 0;
    uint64_t seed = 0;
    const char *pos[1];
    cosmos_backend_t *be = NULL;
    cosmos_h5_t *h5 = NULL;
    cosmos_dv_stream_t *stream = NULL;
    cosmos_dv_encoder_t *encoder = NULL;
    float *video = NULL, *out = NULL, *chunk = NULL;
    int32_t *idx = NULL, *idx0 = NULL;
    double *push_s = NULL, *push_floor = NULL;
    json_t *prov = NULL, *js = NULL;
    struct cosmos_dv_config cfg;
    struct phase enc = {.name = "encode"}, dec = {.name = "decode"}, str = {.name = "stream"};
    double init_s = 0, open_s = 0, enc_open_s = 0, first_frame_s = 0, stream_diff = 0, rss_enc = 0, rss_dec = 0, rss_str = 0;
    int idx_stable = 1;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"config", CLI_STR, &config,
         "tokenizer config (default: the official DV8x16x16, configs/models/cosmos-1.0-tokenizer-dv8x16x16.json)", 0},
        {"weights", CLI_STR, &weights, "an existing tokenizer .h5 (its own config); default: random weights", 0},
        {"frames", CLI_INT, &frames, "clip frames, 1 + 8k (default: the config's pixel_chunk_duration)", 0},
        {"height", CLI_INT, &height, "clip height (default: the config's height)", 0},
        {"width", CLI_INT, &width, "clip width (default: the config's width)", 0},
        {"reps", CLI_INT, &reps, "timed repetitions of each phase (default 1; no warm-up run)", 0},
        {"seed", CLI_U64, &seed, "seed of the random clip and weights (default 0)", 0},
        {"skip-decode", CLI_FLAG, &skip_decode, "do not time the whole-clip decode", 0},
        {"skip-stream", CLI_FLAG, &skip_stream, "do not time the streaming decode", 0},
        {"json", CLI_STR, &json_out, "also write the results as JSON to this file", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("bench-dv", argc - 1, argv + 1, opts, pos, 0, &n_pos, &common));
    if (common.help) return 0;
    CHECK_ARG(!(config && weights), COSMOS_ERR_INVALID_ARG,
              "give --config (random weights) or --weights (whose config is used), not both");
    CHECK_ARG(reps >= 1 && frames >= 0 && height >= 0 && width >= 0, COSMOS_ERR_INVALID_ARG,
              "--reps must be >= 1 and --frames/--height/--width positive");
    const double load_start = loadavg1();

    /* config and weights */
    if (weights) {
        enum cosmos_dv_part parts;
        CHECK(cosmos_h5_open(weights, &h5));
        CHECK(cosmos_dv_read_header(h5, &cfg, &parts));
        CHECK_ARG(parts == COSMOS_DV_BOTH, COSMOS_ERR_INVALID_ARG,
                  "%s holds only the %s part; the benchmark needs encoder and decoder", weights,
                  parts == COSMOS_DV_ENCODER ? "encoder" : "decoder");
    } else if (config) {
        CHECK(cosmos_dv_config_load(config, &cfg));
    } else {
        cfg = cosmos_dv_config_dv8x16x16();
    }
    if (!frames) frames = cfg.pixel_chunk_duration;
    if (!height) height = cfg.height;
    if (!width) width = cfg.width;
    CHECK_ARG(frames > 0 && height > 0 && width > 0, COSMOS_ERR_INVALID_ARG,
              "the config gives no clip size: pass --frames, --height and --width");
    CHECK_ARG((frames - 1) % cfg.temporal_compression == 0 && height % cfg.spatial_compression == 0 &&
                  width % cfg.spatial_compression == 0,
              COSMOS_ERR_INVALID_ARG, "clip %dx%dx%d: frames must be 1 + %d*k, height and width multiples of %d",
              frames, height, width, cfg.temporal_compression, cfg.spatial_compression);
    if (!weights) {
        const char *tmp_file = NULL;
        CHECK(bench_tmp_weights_path("cosmos-bench-dv", "tokenizer.h5", &tmp_file));
        LOG_INFO("bench-dv: random weights for %s -> %s (deleted at exit)", cfg.name, tmp_file);
        init_s = cosmos_now_s();
        CHECK(cosmos_dv_init_random(&cfg, seed, COSMOS_DV_BOTH, tmp_file));
        init_s = cosmos_now_s() - init_s;
        CHECK(cosmos_h5_open(tmp_file, &h5));
        weights = tmp_file;
    }

    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = common.threads;
    CHECK(cosmos_backend_create(common.backend, &bp, &be));
    const int n_threads = omp_get_max_threads();
    int64_t Tl, Hl, Wl, To, Ho, Wo;
    cosmos_dv_latent_shape(&cfg, frames, height, width, &Tl, &Hl, &Wl);
    cosmos_dv_video_shape(&cfg, Tl, Hl, Wl, &To, &Ho, &Wo);
    const int64_t n_pix = (int64_t)cfg.in_channels * frames * height * width, n_tok = Tl * Hl * Wl;
    const int64_t out_ch = cfg.out_channels > 0 ? cfg.out_channels : cfg.in_channels;
    const int64_t frame_px = out_ch * Ho * Wo;
    LOG_INFO("bench-dv: %s, clip %dx%dx%d -> latent %lldx%lldx%lld (%lld tokens), %d threads, %d rep(s)", cfg.name,
             frames, height, width, (long long)Tl, (long long)Hl, (long long)Wl, (long long)n_tok, n_threads, reps);

    enc.fl = encoder_flops(&cfg, frames, height, width);
    dec.fl = str.fl = decoder_flops(&cfg, Tl, Hl, Wl);
    enc.sec = calloc((size_t)reps, sizeof(double));
    dec.sec = calloc((size_t)reps, sizeof(double));
    str.sec = calloc((size_t)reps, sizeof(double));
    push_s = malloc(sizeof(double) * (size_t)(Tl * reps));
    push_floor = malloc(sizeof(double) * (size_t)Tl);
    video = malloc(sizeof(float) * (size_t)n_pix);
    idx = malloc(sizeof(int32_t) * (size_t)n_tok);
    idx0 = malloc(sizeof(int32_t) * (size_t)n_tok);
    CHECK_ALLOC(enc.sec);
    CHECK_ALLOC(dec.sec);
    CHECK_ALLOC(str.sec);
    CHECK_ALLOC(push_s);
    CHECK_ALLOC(push_floor);
    CHECK_ALLOC(video);
    CHECK_ALLOC(idx);
    CHECK_ALLOC(idx0);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n_pix; i++)
        video[i] = (float)(2.0 * cosmos_rng_uniform(seed, RNG_STREAM_CLIP, (uint64_t)i) - 1.0);

    /* encode: the weights loaded once (cosmos_dv_encoder_open, timed apart as a pipeline loads them
     * once), then each rep one clip */
    {
        const double t0 = cosmos_now_s();
        CHECK(cosmos_dv_encoder_open(be, h5, &cfg, &encoder));
        enc_open_s = cosmos_now_s() - t0;
        LOG_INFO("bench-dv: encoder open (weight load) %.3f s", enc_open_s);
    }
    for (int r = 0; r < reps; r++) {
        double c0 = cpu_time_s(), t0 = cosmos_now_s();
        CHECK(cosmos_dv_encoder_run(encoder, video, frames, height, width, NULL, r ? idx : idx0, NULL));
        enc.sec[r] = cosmos_now_s() - t0;
        enc.cpu_util = (cpu_time_s() - c0) / (enc.sec[r] * n_threads);
        if (r) idx_stable &= memcmp(idx, idx0, sizeof(int32_t) * (size_t)n_tok) == 0;
        LOG_INFO("bench-dv: encode rep %d: %.3f s (%.3f frames/s, %.1f tokens/s, cpu %.0f%%)", r, enc.sec[r],
                 frames / enc.sec[r], n_tok / enc.sec[r], 100 * enc.cpu_util);
    }
    enc.ran = 1;
    cosmos_dv_encoder_free(encoder);
    encoder = NULL;
    rss_enc = (double)cosmos_peak_rss_bytes();
    LOG_INFO("bench-dv: peak RSS after encode %.1f MB", rss_enc / 1e6);
    free(video);
    video = NULL;

    /* whole-clip decode */
    if (!skip_decode) {
        out = malloc(sizeof(float) * (size_t)(frame_px * To));
        CHECK_ALLOC(out);
    }
    if (!skip_decode) {
        for (int r = 0; r < reps; r++) {
            double c0 = cpu_time_s(), t0 = cosmos_now_s();
            CHECK(cosmos_dv_decode(be, h5, &cfg, idx0, Tl, Hl, Wl, out));
            dec.sec[r] = cosmos_now_s() - t0;
            dec.cpu_util = (cpu_time_s() - c0) / (dec.sec[r] * n_threads);
            LOG_INFO("bench-dv: decode rep %d: %.3f s (%.3f frames/s, cpu %.0f%%)", r, dec.sec[r],
                     (double)To / dec.sec[r], 100 * dec.cpu_util);
        }
        dec.ran = 1;
        rss_dec = (double)cosmos_peak_rss_bytes();
        LOG_INFO("bench-dv: peak RSS after decode %.1f MB", rss_dec / 1e6);
    }

    /* streaming decode: one latent frame per push */
    if (!skip_stream) {
        chunk = malloc(sizeof(float) * (size_t)(frame_px * cfg.temporal_compression));
        CHECK_ALLOC(chunk);
        for (int r = 0; r < reps; r++) {
            double t0 = cosmos_now_s(), cpu = 0;
            CHECK(cosmos_dv_stream_open(be, h5, &cfg, Hl, Wl, Tl, &stream));
            const double t_open = cosmos_now_s() - t0;
            int64_t f0 = 0;
            str.sec[r] = 0;
            for (int64_t k = 0; k < Tl; k++) {
                int nf = 0;
                double c0 = cpu_time_s(), tp = cosmos_now_s();
                CHECK(cosmos_dv_stream_push(stream, idx0 + k * Hl * Wl, chunk, &nf));
                push_s[r * Tl + k] = cosmos_now_s() - tp;
                cpu += cpu_time_s() - c0;
                str.sec[r] += push_s[r * Tl + k];
                /* chunk [C, nf, H, W] against frames f0 .. f0+nf of the whole-clip output */
                if (!skip_decode && r == 0)
                    for (int64_t ch = 0; ch < out_ch; ch++)
                        for (int64_t i = 0; i < nf * Ho * Wo; i++) {
                            double d = fabs((double)chunk[ch * nf * Ho * Wo + i] -
                                            (double)out[(ch * To + f0) * Ho * Wo + i]);
                            if (!isnan(stream_diff) && !(d <= stream_diff)) stream_diff = d; /* NaN sticks */
                        }
                f0 += nf;
                LOG_INFO("bench-dv: stream rep %d push %lld: %.3f s (%d frames)", r, (long long)k,
                         push_s[r * Tl + k], nf);
            }
            CHECK_ARG(f0 == To, COSMOS_ERR_INTERNAL, "stream gave %lld frames, expected %lld", (long long)f0,
                      (long long)To);
            str.cpu_util = cpu / (str.sec[r] * n_threads);
            if (r == 0 || t_open < open_s) open_s = t_open;
            if (r == 0 || push_s[r * Tl] < first_frame_s) first_frame_s = push_s[r * Tl];
            cosmos_dv_stream_free(stream);
            stream = NULL;
            LOG_INFO("bench-dv: stream rep %d: open %.3f s, pushes %.3f s (%.3f frames/s)", r, t_open, str.sec[r],
                     (double)To / str.sec[r]);
        }
        str.ran = 1;
        rss_str = (double)cosmos_peak_rss_bytes();
    }
    const long long peak_rss = cosmos_peak_rss_bytes(); /* before the sgemm probe's buffers */

    /* GEMM rate on the shapes the conv kernel runs: the (1,3,3) convs of 256 and 512 channels,
     * column chunks as causal_conv3d.c cuts them (~16 M floats). On a host backend OpenBLAS sgemm;
     * on a device the backend's own matmul (CUDA: cuBLASLt bf16, as its conv's im2col GEMM runs:
     * positions x Cout x Cin*9) */
    const int device = !cosmos_backend_is_host(be);
    double g256 = 0, g512 = 0;
    if (device) {
        CHECK(bench_backend_matmul_gflops(be, 7168, 256, 256 * 9, 3, &g256));
        CHECK(bench_backend_matmul_gflops(be, 3584, 512, 512 * 9, 3, &g512));
    } else {
        g256 = bench_sgemm_gflops(256, 7168, 256 * 9, 3), g512 = bench_sgemm_gflops(512, 3584, 512 * 9, 3);
    }
    const double gemm = g256 > g512 ? g256 : g512;
    const double load_end = loadavg1();
    CHECK_ARG(gemm > 0, COSMOS_ERR_NOMEM, "sgemm probe failed (out of memory)");
    struct phase *ph[3] = {&enc, &dec, &str};
    for (int i = 0; i < 3; i++) {
        if (!ph[i]->ran) continue;
        ph[i]->floor_s = flops_total(&ph[i]->fl) / (gemm * 1e9);
        bench_min_p50(ph[i]->sec, reps, &ph[i]->s_min, &ph[i]->s_p50);
    }
    for (int64_t k = 0; k < Tl; k++) {
        struct flops a = decoder_flops(&cfg, k + 1, Hl, Wl), b = decoder_flops(&cfg, k, Hl, Wl);
        push_floor[k] = (flops_total(&a) - flops_total(&b)) / (gemm * 1e9);
    }

    prov = bench_provenance(cosmos_backend_name(be), n_threads);
    bench_provenance_print(prov);
    printf("# tokenizer    %s (%s%s), %.2f M encoder + %.2f M decoder parameters\n", cfg.name, weights,
           bench_tmp_weights_current() ? ", random, deleted at exit" : "",
           cosmos_dv_config_num_params(&cfg, COSMOS_DV_ENCODER) * 1e-6,
           cosmos_dv_config_num_params(&cfg, COSMOS_DV_DECODER) * 1e-6);
    printf("# clip         %d x %d x %d frames (%s) -> latent %lld x %lld x %lld = %lld tokens; %d rep(s)\n", frames,
           height, width, "random in [-1,1]", (long long)Tl, (long long)Hl, (long long)Wl, (long long)n_tok, reps);
    if (device)
        printf("# gemm         %.1f GFLOP/s (%s matmul, bf16: 7168x256x2304: %.1f, 3584x512x4608: %.1f; best of 3)\n",
               gemm, cosmos_backend_name(be), g256, g512);
    else
        printf("# sgemm        %.1f GFLOP/s (256x7168x2304: %.1f, 512x3584x4608: %.1f; best of 3, %d threads)\n", gemm,
               g256, g512, n_threads);
    printf("# load avg     %.2f at start, %.2f at end (1 min; anything else running makes the times too long)\n",
           load_start, load_end);
    printf("%-8s %10s %10s %9s %10s %9s %9s %10s %9s %8s %5s\n", "phase", "min_s", "p50_s", "frames/s", "tokens/s",
           "GFLOP", "GFLOP/s", "floor_s", "of_floor", "attn", "cpu");
    for (int i = 0; i < 3; i++) {
        const struct phase *p = ph[i];
        if (!p->ran) continue;
        const double fr = i == 0 ? frames : (double)To, F = flops_total(&p->fl);
        printf("%-8s %10.3f %10.3f %9.3f %10.1f %9.1f %9.1f %10.3f %8.1f%% %7.1f%% %4.0f%%\n", p->name, p->s_min,
               p->s_p50, fr / p->s_min, n_tok / p->s_min, F * 1e-9, F / p->s_min * 1e-9, p->floor_s,
               100.0 * p->floor_s / p->s_min, 100.0 * p->fl.attn / F, 100.0 * p->cpu_util);
    }
    printf("# GFLOP: convs as the CPU kernel computes them + attention QK^T/PV; floor = GFLOP / GEMM rate;\n"
           "# attn = attention share of the GFLOP; cpu = process CPU time / (wall * threads), last rep.\n");
    printf("# encode GFLOP: conv (1,3,3) %.1f, (3,1,1) %.1f, 1x1x1 %.1f, attention %.1f\n", enc.fl.conv_s * 1e-9,
           enc.fl.conv_t * 1e-9, enc.fl.conv_1 * 1e-9, enc.fl.attn * 1e-9);
    printf("# decode GFLOP: conv (1,3,3) %.1f, (3,1,1) %.1f, 1x1x1 %.1f, attention %.1f\n", dec.fl.conv_s * 1e-9,
           dec.fl.conv_t * 1e-9, dec.fl.conv_1 * 1e-9, dec.fl.attn * 1e-9);
    if (str.ran) {
        double pmin = 1e30, pmax = 0;
        for (int64_t k = 1; k < Tl; k++) {
            double b = 1e30;
            for (int r = 0; r < reps; r++) b = fmin(b, push_s[r * Tl + k]);
            pmin = fmin(pmin, b), pmax = fmax(pmax, b);
        }
        printf("# stream: open (weight load) %.3f s; first push (first pixel frame) %.3f s, floor %.3f s", open_s,
               first_frame_s, push_floor[0]);
        if (Tl > 1)
            printf("; later pushes (%d frames each) %.3f-%.3f s, floor %.3f s", cfg.temporal_compression, pmin, pmax,
                   push_floor[Tl - 1]);
        printf("\n");
        if (!skip_decode) printf("# stream vs whole-clip decode: max |diff| %.3g\n", stream_diff);
    }
    printf("# encode: open (weight load) %.3f s, not in the encode times\n", enc_open_s);
    if (reps > 1) printf("# encode indices identical across reps: %s\n", idx_stable ? "yes" : "NO");
    printf("# peak RSS     %.1f MB (after encode %.1f, decode %.1f, stream %.1f; before the sgemm probe)\n",
           peak_rss / 1e6, rss_enc / 1e6, rss_dec / 1e6, rss_str / 1e6);
    if (init_s > 0) printf("# weights      random, written in %.2f s (not timed in any phase)\n", init_s);
    fflush(stdout);

    if (json_out) {
        js = json_pack("{s:O, s:s, s:s, s:b, s:{s:i, s:i, s:i}, s:{s:I, s:I, s:I, s:I}, s:i, s:I, s:{s:f, s:f, s:f}, "
                       "s:{s:f, s:f}, s:I}",
                       "provenance", prov, "tokenizer", cfg.name, "weights", weights, "random_weights",
                       bench_tmp_weights_current() != NULL, "clip", "frames", frames, "height", height, "width", width, "latent", "T",
                       (json_int_t)Tl, "H", (json_int_t)Hl, "W", (json_int_t)Wl, "tokens", (json_int_t)n_tok, "reps",
                       reps, "seed", (json_int_t)seed, "sgemm_gflops", "best", gemm, "m256_n7168_k2304", g256,
                       "m512_n3584_k4608", g512, "loadavg_1min", "start", load_start, "end", load_end,
                       "peak_rss_bytes", (json_int_t)peak_rss);
        CHECK_ALLOC(js);
        /* which rate sgemm_gflops holds: OpenBLAS on a host backend, the device's matmul otherwise */
        json_object_set_new(js, "floor_rate", json_string(device ? "backend matmul, bf16" : "OpenBLAS sgemm, f32"));
        for (int i = 0; i < 3; i++) {
            if (!ph[i]->ran) continue;
            json_t *o = phase_json(ph[i], i == 0 ? frames : (double)To, (double)n_tok);
            CHECK_ALLOC(o);
            phase_fill_json(o, ph[i], reps);
            json_object_set_new(js, ph[i]->name, o);
        }
        if (enc.ran) json_object_set_new(json_object_get(js, "encode"), "open_s", json_real(enc_open_s));
        if (str.ran) {
            json_t *o = json_object_get(js, "stream"), *pa = json_array(), *pf = json_array();
            for (int64_t k = 0; k < Tl; k++) {
                double b = 1e30;
                for (int r = 0; r < reps; r++) b = fmin(b, push_s[r * Tl + k]);
                json_array_append_new(pa, json_real(b));
                json_array_append_new(pf, json_real(push_floor[k]));
            }
            json_object_set_new(o, "open_s", json_real(open_s));
            json_object_set_new(o, "first_frame_s", json_real(first_frame_s));
            json_object_set_new(o, "push_s_min", pa);
            json_object_set_new(o, "push_floor_s", pf);
            if (!skip_decode) json_object_set_new(o, "max_abs_diff_vs_decode", json_real(stream_diff));
        }
        json_object_set_new(js, "peak_rss_after_bytes",
                            json_pack("{s:f, s:f, s:f}", "encode", rss_enc, "decode", rss_dec, "stream", rss_str));
        if (reps > 1) json_object_set_new(js, "encode_indices_identical", json_boolean(idx_stable));
        if (init_s > 0) json_object_set_new(js, "random_weights_init_s", json_real(init_s));
        CHECK(cosmos_json_write(js, json_out, JSON_INDENT(2)));
    }
fail:
    json_decref(js);
    json_decref(prov);
    cosmos_dv_stream_free(stream);
    cosmos_dv_encoder_free(encoder);
    cosmos_h5_close(h5);
    bench_tmp_weights_remove();
    free(video), free(out), free(chunk), free(idx), free(idx0), free(push_s), free(push_floor);
    free(enc.sec), free(dec.sec), free(str.sec);
    cosmos_backend_free(be);
    if (st != COSMOS_OK) LOG_ERROR("bench-dv failed: %s", cosmos_status_str(st));
    return st == COSMOS_OK ? 0 : st == COSMOS_ERR_INVALID_ARG ? 2 : 1;
}
