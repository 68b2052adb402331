/* cosmos-bench-guardrail: cost of the video guardrail (spec components.md 5.4, 5.5; docs/guardrail.md)
 * per generated frame on the host, or with --backend cuda on a device as the pipeline's
 * video-guardrail rank runs it there (the SigLIP tower and the RetinaFace network on the device; the
 * floor's GEMM rate is then the device's f32 matmul):
 * - content_filter: one frame through the SigLIP encoder + safety classifier (cosmos_siglip_forward:
 *   Pillow bicubic resize, vision tower, pooling head, classifier);
 * - face_blur: RetinaFace on one frame + post-processing + pixelation of the boxes found
 *   (cosmos_retinaface_detect, cosmos_face_blur_apply);
 * for each: seconds per frame (min and median over --reps x --frames), GFLOP per frame as the CPU
 * code computes it (cosmos_siglip_flops, cosmos_retinaface_flops), the floor = GFLOP / the sgemm
 * rate measured in the same run on a GEMM of the model's own shape (the better of a probe before
 * and one after the timed frames: on a shared VM one probe now and then reads half the rate, which
 * made the floor twice too long), "of floor" = floor / measured,
 * and the projection to a clip (--clip-frames, 33 by default, the official clip). Peak RSS.
 * Weights: --face-blur / --content-filter FILE.h5, or random weights for --face-blur-config /
 * --content-filter-config (default: the official RetinaFace ResNet-50 and SigLIP so400m configs),
 * written to a temporary file, loaded, and deleted. Frames: seeded smooth random images of
 * --height x --width (default 640 x 1024). Output: a table headed by provenance, and --json FILE.
 * --only aegis times the prompt check's language model instead (spec 5.3; not in the default run:
 * LlamaGuard-7b is 13.5 GB): --aegis FILE, or random weights for --aegis-config (default
 * configs/models/llamaguard-7b.json) on the CPU backend; a prefill of --prompt-tokens random ids
 * (default 2000, about the official moderation prompt), then --decode-tokens single-token steps
 * through the cache; GFLOP of the prefill (2 x parameters x tokens + causal attention) at the sgemm
 * rate of a [tokens x hidden] x [hidden x hidden] product as its floor, and the projected check:
 * the prefill plus 3 decode steps (an answer "safe" and EOS is 2-3 tokens). */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/provenance.h"
#include "benchmarks/tmp_weights.h"
#include "core/backend.h"
#include "core/guardrail/face_blur.h"
#include "core/guardrail/llama.h"
#include "core/guardrail/retinaface.h"
#include "core/guardrail/siglip.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/rng.h"
#include "cosmos_build_config.h"
#include "launcher/cli.h"

#define RNG_STREAM_FRAMES 0x47524446u /* "GRDF" */

struct result {
    const char *name;
    int ran;
    double *sec; /* [reps * frames] */
    double s_min, s_p50, gflop, gemm_gflops, floor_s;
    int64_t detections, blurred; /* face_blur */
    int unsafe_frames;           /* content_filter */
};

/* Seeded smooth frames [n, H, W, 3]: a colour gradient per frame plus low-amplitude noise. */
static void make_frames(uint8_t *rgb, int n, int H, int W, uint64_t seed) {
    for (int t = 0; t < n; t++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) {
                    const size_t i = (((size_t)t * H + y) * W + x) * 3 + c;
                    const double g = 128.0 + 100.0 * sin(0.013 * (x + 37 * c) + 0.021 * (y + 11 * t));
                    const double v = g + 12.0 * cosmos_rng_normal(seed, RNG_STREAM_FRAMES, i);
                    rgb[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
}

/* The weight file of one model: `file` as given, or random weights for the config (temporary). */
static cosmos_status weights_for(const char *file, const char *kind, int face_blur, const char *config,
                                 uint64_t seed, const char **path, int *random) {
    cosmos_status st = COSMOS_OK;
    *random = !file;
    if (file) {
        *path = file;
        return COSMOS_OK;
    }
    CHECK(bench_tmp_weights_path("cosmos-bench-guardrail", kind, path));
    const double t0 = cosmos_now_s();
    if (face_blur) {
        struct cosmos_retinaface_config c;
        CHECK(cosmos_retinaface_config_load(config, &c));
        CHECK(cosmos_retinaface_init_random(&c, seed, *path));
    } else {
        struct cosmos_siglip_config c;
        CHECK(cosmos_siglip_config_load(config, &c));
        CHECK(cosmos_siglip_init_random(&c, seed, *path));
    }
    LOG_INFO("bench-guardrail: random weights for %s -> %s in %.1f s (deleted after loading)", config, *path,
             cosmos_now_s() - t0);
fail:
    return st;
}

static void finish(struct result *r, int n, int clip_frames) {
    bench_min_p50(r->sec, n, &r->s_min, &r->s_p50);
    r->floor_s = r->gemm_gflops > 0 ? r->gflop / r->gemm_gflops : 0;
    printf("%-15s %10.4f %10.4f %9.2f %9.1f %10.4f %8.3f %12.2f\n", r->name, r->s_min, r->s_p50, r->gflop,
           r->gemm_gflops, r->floor_s, r->floor_s / r->s_p50, r->s_p50 * clip_frames);
}

static json_t *result_json(const struct result *r, int clip_frames) {
    json_t *o = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "seconds_per_frame_min", r->s_min,
                          "seconds_per_frame_p50", r->s_p50, "gflop_per_frame", r->gflop, "sgemm_gflops",
                          r->gemm_gflops, "floor_s", r->floor_s, "fraction_of_floor", r->floor_s / r->s_p50,
                          "clip_projected_s", r->s_p50 * clip_frames);
    if (o && !strcmp(r->name, "face_blur")) {
        json_object_set_new(o, "detections", json_integer(r->detections));
        json_object_set_new(o, "regions_blurred", json_integer(r->blurred));
    }
    if (o && !strcmp(r->name, "content_filter")) json_object_set_new(o, "unsafe_frames", json_integer(r->unsafe_frames));
    return o;
}

/* The aegis phase (see the header comment). */
static cosmos_status bench_aegis(const char *file, const char *config, int prompt_tokens, int decode_tokens,
                                 int threads, uint64_t seed, json_t *js) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = NULL;
    cosmos_llama_t *m = NULL;
    int32_t *ids = NULL;
    double *step = NULL;
    const char *path = file;
    int random = 0;
    if (!file) {
        struct cosmos_llama_config c;
        CHECK(cosmos_llama_config_load(config, &c));
        CHECK(bench_tmp_weights_path("cosmos-bench-guardrail", "aegis.h5", &path));
        random = 1;
        const double t0 = cosmos_now_s();
        CHECK(cosmos_llama_init_random(&c, seed, NULL, path));
        LOG_INFO("bench-guardrail: random weights for %s -> %s in %.1f s (deleted after the run)", config, path,
                 cosmos_now_s() - t0);
    }
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = threads;
    CHECK(cosmos_backend_create("cpu", &bp, &be));
    CHECK(cosmos_llama_load(be, path, prompt_tokens + decode_tokens, &m));
    const struct cosmos_llama_config *c = cosmos_llama_get_config(m);
    ids = malloc(sizeof(int32_t) * (size_t)(prompt_tokens + decode_tokens));
    step = calloc((size_t)(decode_tokens > 0 ? decode_tokens : 1), sizeof(double));
    CHECK_ALLOC(ids);
    CHECK_ALLOC(step);
    for (int i = 0; i < prompt_tokens + decode_tokens; i++)
        ids[i] = (int32_t)(cosmos_rng_uniform(seed, RNG_STREAM_FRAMES, (uint64_t)i) * c->vocab_size) % c->vocab_size;
    double t0 = cosmos_now_s();
    CHECK(cosmos_llama_forward(m, ids, prompt_tokens, 0, NULL));
    const double prefill_s = cosmos_now_s() - t0;
    for (int k = 0; k < decode_tokens; k++) {
        t0 = cosmos_now_s();
        CHECK(cosmos_llama_forward(m, ids + prompt_tokens + k, 1, prompt_tokens + k, NULL));
        step[k] = cosmos_now_s() - t0;
    }
    double s_min = 0, s_p50 = 0;
    if (decode_tokens > 0) bench_min_p50(step, decode_tokens, &s_min, &s_p50);
    const double P = (double)cosmos_llama_config_num_params(c), N = prompt_tokens, D = c->hidden_size;
    const double gflop = (2.0 * P * N + 2.0 * c->num_hidden_layers * N * N * D) * 1e-9; /* causal QK^T + PV */
    const double gemm = bench_sgemm_gflops(prompt_tokens < 4096 ? prompt_tokens : 4096, c->hidden_size,
                                           c->hidden_size, 3);
    const struct cosmos_llama_memory mem = cosmos_llama_memory(m);
    printf("# aegis        %s (%s)%s, %.2f B parameters, %.1f GB weights, %d threads\n", c->name,
           file ? file : config, random ? ", random weights" : "", P * 1e-9, mem.weight_bytes * 1e-9,
           threads > 0 ? threads : omp_get_max_threads());
    printf("%-15s %10s %10s %9s %9s %10s %8s %12s\n", "aegis", "prefill s", "decode s", "GFLOP", "sgemm/s",
           "floor s", "of floor", "check s");
    printf("%-15s %10.2f %10.3f %9.1f %9.1f %10.2f %8.3f %12.2f\n", "", prefill_s, s_p50, gflop, gemm,
           gemm > 0 ? gflop / gemm : 0, gemm > 0 ? gflop / gemm / prefill_s : 0, prefill_s + 3 * s_p50);
    printf("# %d prompt tokens, %d decode steps (p50 %.3f s, min %.3f s); check = prefill + 3 steps\n",
           prompt_tokens, decode_tokens, s_p50, s_min);
    json_object_set_new(js, "aegis",
                        json_pack("{s:s, s:f, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f}", "model", c->name,
                                  "parameters", P, "prompt_tokens", prompt_tokens, "decode_tokens", decode_tokens,
                                  "prefill_s", prefill_s, "decode_s_p50", s_p50, "prefill_gflop", gflop,
                                  "sgemm_gflops", gemm, "fraction_of_floor", gemm > 0 ? gflop / gemm / prefill_s : 0,
                                  "check_projected_s", prefill_s + 3 * s_p50));
fail:
    free(ids);
    free(step);
    cosmos_llama_free(m);
    cosmos_backend_free(be);
    if (random) bench_tmp_weights_remove();
    return st;
}

int main(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *fb_file = NULL, *cf_file = NULL, *json_out = NULL, *only = NULL, *ag_file = NULL;
    const char *ag_config = COSMOS_SOURCE_DIR "/configs/models/llamaguard-7b.json";
    int prompt_tokens = 2000, decode_tokens = 4;
    const char *fb_config = COSMOS_SOURCE_DIR "/configs/models/retinaface-resnet50.json";
    const char *cf_config = COSMOS_SOURCE_DIR "/configs/models/siglip-so400m-safety.json";
    int height = 640, width = 1024, frames = 2, reps = 1, clip_frames = 33, n_pos = 0;
    uint64_t seed = 0;
    const char *pos[1];
    cosmos_retinaface_t *rf = NULL;
    cosmos_siglip_t *sg = NULL;
    cosmos_backend_t *dev = NULL; /* --backend other than cpu: the two networks run on it */
    uint8_t *rgb = NULL, *work = NULL;
    json_t *prov = NULL, *js = NULL;
    struct result res[2] = {{.name = "content_filter"}, {.name = "face_blur"}};
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"content-filter", CLI_STR, &cf_file, "an existing content-filter .h5 (default: random weights)", 0},
        {"content-filter-config", CLI_STR, &cf_config,
         "config of the random content filter (default configs/models/siglip-so400m-safety.json)", 0},
        {"face-blur", CLI_STR, &fb_file, "an existing face-blur .h5 (default: random weights)", 0},
        {"face-blur-config", CLI_STR, &fb_config,
         "config of the random face detector (default configs/models/retinaface-resnet50.json)", 0},
        {"only", CLI_STR, &only, "time one check only: content_filter, face_blur, or aegis (not in the default run)", 0},
        {"aegis", CLI_STR, &ag_file, "--only aegis: an existing Aegis / llama .h5 (default: random weights)", 0},
        {"aegis-config", CLI_STR, &ag_config,
         "--only aegis: llama config of the random model (default configs/models/llamaguard-7b.json)", 0},
        {"prompt-tokens", CLI_INT, &prompt_tokens, "--only aegis: prefill length (default 2000)", 0},
        {"decode-tokens", CLI_INT, &decode_tokens, "--only aegis: single-token steps timed (default 4)", 0},
        {"height", CLI_INT, &height, "frame height (default 640)", 0},
        {"width", CLI_INT, &width, "frame width (default 1024)", 0},
        {"frames", CLI_INT, &frames, "distinct frames per repetition (default 2)", 0},
        {"reps", CLI_INT, &reps, "repetitions (default 1; no warm-up run)", 0},
        {"clip-frames", CLI_INT, &clip_frames, "frames of the projected clip (default 33)", 0},
        {"seed", CLI_U64, &seed, "seed of the frames and random weights (default 0)", 0},
        {"json", CLI_STR, &json_out, "also write the results as JSON to this file", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("bench-guardrail", argc - 1, argv + 1, opts, pos, 0, &n_pos, &common));
    if (common.help) return 0;
    CHECK_ARG(height >= 1 && height <= 16384 && width >= 1 && width <= 16384, COSMOS_ERR_INVALID_ARG,
              "--height and --width must be in [1, 16384]");
    CHECK_ARG(frames >= 1 && reps >= 1 && clip_frames >= 1, COSMOS_ERR_INVALID_ARG,
              "--frames, --reps and --clip-frames must be >= 1");
    CHECK_ARG(!only || !strcmp(only, "content_filter") || !strcmp(only, "face_blur") || !strcmp(only, "aegis"),
              COSMOS_ERR_INVALID_ARG, "--only takes content_filter, face_blur or aegis, not '%s'", only);
    if (only && !strcmp(only, "aegis")) {
        CHECK_ARG(prompt_tokens >= 1 && decode_tokens >= 0 && prompt_tokens + decode_tokens <= 1 << 20,
                  COSMOS_ERR_INVALID_ARG, "--prompt-tokens must be >= 1 and --decode-tokens >= 0");
        prov = bench_provenance("cpu", common.threads > 0 ? common.threads : omp_get_max_threads());
        bench_provenance_print(prov);
        js = json_pack("{s:O}", "provenance", prov);
        CHECK_ALLOC(js);
        CHECK(bench_aegis(ag_file, ag_config, prompt_tokens, decode_tokens, common.threads, seed, js));
        printf("# peak RSS     %.1f MB\n", cosmos_peak_rss_bytes() * 1e-6);
        if (json_out) CHECK(cosmos_json_write(js, json_out, JSON_INDENT(2)));
        goto fail;
    }
    if (common.threads > 0) omp_set_num_threads(common.threads); /* the GEMMs are the work (kernels/cpu/sgemm.c) */
    if (strcmp(common.backend, "cpu") != 0) {
        struct cosmos_backend_params bp = cosmos_backend_params_default();
        bp.n_threads = common.threads;
        CHECK(cosmos_backend_create(common.backend, &bp, &dev));
        if (cosmos_backend_is_host(dev)) cosmos_backend_free(dev), dev = NULL; /* cpu-staged: the host code */
    }
    res[0].ran = !only || !strcmp(only, "content_filter");
    res[1].ran = !only || !strcmp(only, "face_blur");

    const size_t frame_bytes = (size_t)height * (size_t)width * 3;
    rgb = malloc(frame_bytes * (size_t)frames);
    work = malloc(frame_bytes);
    CHECK_ALLOC(rgb);
    CHECK_ALLOC(work);
    make_frames(rgb, frames, height, width, seed);
    const int n = reps * frames;
    int random_cf = 0, random_fb = 0;
    if (res[0].ran) {
        const char *path = NULL;
        CHECK(weights_for(cf_file, "content_filter.h5", 0, cf_config, seed, &path, &random_cf));
        st = cosmos_siglip_load(path, &sg);
        if (random_cf) bench_tmp_weights_remove();
        CHECK(st);
        if (dev) CHECK(cosmos_siglip_use_backend(sg, dev));
        const struct cosmos_siglip_config *c = cosmos_siglip_get_config(sg);
        const int tokens = (c->image_size / c->patch_size) * (c->image_size / c->patch_size);
        res[0].gflop = cosmos_siglip_flops(c) * 1e-9;
        /* q, k, v; probed again after the frames */
        CHECK(bench_f32_gemm_gflops(dev, tokens, 3 * c->hidden_size, c->hidden_size, &res[0].gemm_gflops));
        res[0].sec = calloc((size_t)n, sizeof(double));
        CHECK_ALLOC(res[0].sec);
        float logits[COSMOS_SIGLIP_MAX_CLASSES];
        for (int i = 0; i < n; i++) {
            const double t0 = cosmos_now_s();
            CHECK(cosmos_siglip_forward(sg, rgb + frame_bytes * (size_t)(i % frames), height, width, NULL, NULL, NULL,
                                        logits));
            res[0].sec[i] = cosmos_now_s() - t0;
            int best = 0;
            for (int j = 1; j < c->num_classes; j++)
                if (logits[j] > logits[best]) best = j;
            res[0].unsafe_frames += best != 0;
        }
        double again = 0;
        CHECK(bench_f32_gemm_gflops(dev, tokens, 3 * c->hidden_size, c->hidden_size, &again));
        res[0].gemm_gflops = fmax(res[0].gemm_gflops, again);
    }
    if (res[1].ran) {
        const char *path = NULL;
        CHECK(weights_for(fb_file, "face_blur.h5", 1, fb_config, seed, &path, &random_fb));
        st = cosmos_retinaface_load(path, &rf);
        if (random_fb) bench_tmp_weights_remove();
        CHECK(st);
        if (dev) CHECK(cosmos_retinaface_use_backend(rf, dev));
        const struct cosmos_retinaface_config *c = cosmos_retinaface_get_config(rf);
        const int l3 = ((height + 7) / 8) * ((width + 7) / 8);
        res[1].gflop = cosmos_retinaface_flops(c, height, width) * 1e-9;
        /* an FPN/SSH 3x3; probed again after the frames */
        CHECK(bench_f32_gemm_gflops(dev, c->out_channel, l3, 9 * c->out_channel, &res[1].gemm_gflops));
        res[1].sec = calloc((size_t)n, sizeof(double));
        CHECK_ALLOC(res[1].sec);
        for (int i = 0; i < n; i++) {
            struct cosmos_retinaface_box *boxes = NULL;
            int nb = 0, blurred = 0;
            memcpy(work, rgb + frame_bytes * (size_t)(i % frames), frame_bytes);
            const double t0 = cosmos_now_s();
            st = cosmos_retinaface_detect(rf, work, height, width, &boxes, &nb);
            if (st == COSMOS_OK)
                st = cosmos_face_blur_apply(work, height, width, boxes, nb, c->min_face_size, c->pixelate_blocks,
                                            &blurred);
            res[1].sec[i] = cosmos_now_s() - t0;
            free(boxes);
            CHECK(st);
            res[1].detections += nb, res[1].blurred += blurred;
        }
        double again = 0;
        CHECK(bench_f32_gemm_gflops(dev, c->out_channel, l3, 9 * c->out_channel, &again));
        res[1].gemm_gflops = fmax(res[1].gemm_gflops, again);
    }

    prov = bench_provenance(dev ? cosmos_backend_name(dev) : "cpu (host code)", omp_get_max_threads());
    bench_provenance_print(prov);
    printf("# frames       %d of %dx%d (WxH), %d rep(s); clip projection: %d frames\n", frames, width, height, reps,
           clip_frames);
    if (res[0].ran)
        printf("# content      %s (%s)%s\n", cosmos_siglip_get_config(sg)->name, cf_file ? cf_file : cf_config,
               random_cf ? ", random weights" : "");
    if (res[1].ran)
        printf("# face blur    %s (%s)%s\n", cosmos_retinaface_get_config(rf)->name, fb_file ? fb_file : fb_config,
               random_fb ? ", random weights" : "");
    printf("# GFLOP per frame as the CPU code computes it; floor = GFLOP / %s rate on the model's own GEMM\n"
           "# shape (best of 3, before and after the frames); of floor = floor / p50 (1.0 = every FLOP at the\n"
           "# GEMM rate)%s\n",
           dev ? "the device's f32 matmul" : "sgemm",
           dev ? "; the networks on the device, resizes / classifier / NMS / pixelation on the host" : "");
    printf("%-15s %10s %10s %9s %9s %10s %8s %12s\n", "check", "s/frame", "p50", "GFLOP", "GEMM/s", "floor s",
           "of floor", "clip p50 s");
    for (int k = 0; k < 2; k++)
        if (res[k].ran) finish(&res[k], n, clip_frames);
    if (res[1].ran)
        printf("# face blur: %lld detections, %lld regions pixelated over %d frames\n", (long long)res[1].detections,
               (long long)res[1].blurred, n);
    const double rss = (double)cosmos_peak_rss_bytes();
    printf("# peak RSS     %.1f MB\n", rss * 1e-6);
    if (json_out) {
        js = json_pack("{s:O, s:{s:i, s:i, s:i, s:i, s:i}, s:f}", "provenance", prov, "frames", "count", frames,
                       "height", height, "width", width, "reps", reps, "clip_frames", clip_frames, "peak_rss_bytes",
                       rss);
        CHECK_ALLOC(js);
        json_object_set_new(js, "floor_rate", json_string(dev ? "backend matmul, f32" : "OpenBLAS sgemm, f32"));
        for (int k = 0; k < 2; k++)
            if (res[k].ran) json_object_set_new(js, res[k].name, result_json(&res[k], clip_frames));
        CHECK(cosmos_json_write(js, json_out, JSON_INDENT(2)));
    }
fail:
    json_decref(js);
    json_decref(prov);
    cosmos_siglip_free(sg);
    cosmos_retinaface_free(rf);
    cosmos_backend_free(dev);
    bench_tmp_weights_remove();
    free(rgb), free(work), free(res[0].sec), free(res[1].sec);
    if (st != COSMOS_OK) LOG_ERROR("bench-guardrail failed: %s", cosmos_status_str(st));
    return st == COSMOS_OK ? 0 : st == COSMOS_ERR_INVALID_ARG ? 2 : 1;
}
