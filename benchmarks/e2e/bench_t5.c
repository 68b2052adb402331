/* cosmos-bench-t5: the T5 text encoder's forward (spec components.md 3; docs/t5.md) on a backend, in
 * f32 as the official encoder runs, per prompt length:
 * - for each --tokens T (default 16,128,512: a short prompt, a typical one, the cap), a forward of T
 *   random token ids (EOS last) through cosmos_t5_forward, timed --reps times after one warm-up
 *   (min and median; the result downloaded, so a device's work is included);
 * - the FLOP of those T rows (q, k, v, o, wi, wo GEMMs: 2 T D (4 H d_kv + 2 d_ff) per layer, plus the
 *   attention's 4 T^2 H d_kv), the floor = FLOP / the f32 GEMM rate measured in the same run on the
 *   wi shape [T x D] x [d_ff x D] (the host's sgemm on the CPU backend, the device's f32 matmul on
 *   CUDA: cuBLASLt f32, no TF32, as PyTorch's default fp32), "of floor" = floor / p50;
 * - with --layers L below the config's layer count (random weights only: a full-width model whose
 *   file and memory stay small), the times projected to the config's layers (x layers / L; the
 *   embedding gather and the final norm are a negligible rest).
 * Weights: --weights FILE.h5 (its own config), or random weights for --config (default
 * configs/models/t5-11b.json), written to a temporary file, loaded, and deleted. Output: a table
 * headed by provenance, and --json FILE. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/provenance.h"
#include "benchmarks/tmp_weights.h"
#include "core/backend.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/model/t5_config.h"
#include "core/model/t5_model.h"
#include "core/rng.h"
#include "cosmos_build_config.h"
#include "launcher/cli.h"

#define MAX_LENGTHS 16

static cosmos_status parse_tokens(const char *s, int max_length, int *out, int *n) {
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end = NULL;
        const long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > max_length || *n == MAX_LENGTHS || (*end && *end != ',')) {
            LOG_ERROR("--tokens: '%s' must be up to %d comma-separated lengths in [1, %d]", s, MAX_LENGTHS,
                      max_length);
            return COSMOS_ERR_INVALID_ARG;
        }
        out[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (!*n) {
        LOG_ERROR("--tokens: no length given");
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}

int main(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *config = COSMOS_SOURCE_DIR "/configs/models/t5-11b.json", *weights = NULL, *json_out = NULL;
    const char *tokens_arg = "16,128,512", *pos[1];
    int layers = 0, reps = 3, n_pos = 0;
    uint64_t seed = 0;
    cosmos_backend_t *be = NULL;
    cosmos_t5_t *m = NULL;
    json_t *prov = NULL, *js = NULL, *rows = NULL;
    int32_t *ids = NULL;
    float *out = NULL;
    double *sec = NULL;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"config", CLI_STR, &config, "T5 config of the random weights (default configs/models/t5-11b.json)", 0},
        {"weights", CLI_STR, &weights, "an existing T5 .h5 instead of random weights", 0},
        {"layers", CLI_INT, &layers, "random weights: this many layers of the config's width (default: all)", 0},
        {"tokens", CLI_STR, &tokens_arg, "prompt lengths, comma-separated (default 16,128,512)", 0},
        {"reps", CLI_INT, &reps, "timed forwards per length, after one warm-up (default 3)", 0},
        {"seed", CLI_U64, &seed, "seed of the ids and random weights (default 0)", 0},
        {"json", CLI_STR, &json_out, "also write the results as JSON to this file", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("bench-t5", argc - 1, argv + 1, opts, pos, 0, &n_pos, &common));
    if (common.help) return 0;
    CHECK_ARG(reps >= 1 && reps <= 1000, COSMOS_ERR_INVALID_ARG, "--reps must be in [1, 1000]");
    CHECK_ARG(!weights || !layers, COSMOS_ERR_INVALID_ARG, "--layers shapes random weights; not with --weights");
    if (common.threads > 0) omp_set_num_threads(common.threads);
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = common.threads;
    CHECK(cosmos_backend_create(common.backend, &bp, &be));

    int full_layers = 0;
    const char *path = weights;
    double init_s = 0;
    if (!weights) {
        struct cosmos_t5_config c;
        CHECK(cosmos_t5_config_load(config, &c));
        full_layers = c.num_layers;
        CHECK_ARG(layers >= 0 && layers <= c.num_layers, COSMOS_ERR_INVALID_ARG, "--layers must be in [1, %d]",
                  c.num_layers);
        if (layers) c.num_layers = layers;
        CHECK(bench_tmp_weights_path("cosmos-bench-t5", "t5.h5", &path));
        const double t0 = cosmos_now_s();
        CHECK(cosmos_t5_init_random(&c, seed, c.spiece_model, path));
        init_s = cosmos_now_s() - t0;
        LOG_INFO("bench-t5: random weights (%s, %d of %d layers) -> %s in %.1f s", c.name, c.num_layers, full_layers,
                 path, init_s);
    }
    const double l0 = cosmos_now_s();
    st = cosmos_t5_load(be, path, &m);
    if (!weights) bench_tmp_weights_remove(); /* loaded: the file is not needed (mapped pages stay valid) */
    CHECK(st);
    const double load_s = cosmos_now_s() - l0;
    const struct cosmos_t5_config *c = cosmos_t5_get_config(m);
    if (!full_layers) full_layers = c->num_layers;
    const double D = c->d_model, I = (double)c->num_heads * c->d_kv, F = c->d_ff, L = c->num_layers;
    int lengths[MAX_LENGTHS], n_len = 0;
    CHECK(parse_tokens(tokens_arg, c->max_length, lengths, &n_len));
    ids = malloc(sizeof(int32_t) * (size_t)c->max_length);
    out = malloc(sizeof(float) * (size_t)c->max_length * (size_t)c->d_model);
    sec = malloc(sizeof(double) * (size_t)reps);
    rows = json_array();
    CHECK_ALLOC(ids);
    CHECK_ALLOC(out);
    CHECK_ALLOC(sec);
    CHECK_ALLOC(rows);
    const int device = !cosmos_backend_is_host(be);
    prov = bench_provenance(cosmos_backend_name(be), omp_get_max_threads());
    bench_provenance_print(prov);
    printf("# model        %s: %d layer(s)%s, d_model %d, %d heads x %d, d_ff %d; loaded in %.2f s%s\n", c->name,
           c->num_layers, full_layers != c->num_layers ? " (times projected to the config's layers below)" : "",
           c->d_model, c->num_heads, c->d_kv, c->d_ff, load_s, weights ? "" : ", random weights");
    printf("# f32 throughout; GFLOP of the T rows (GEMMs + attention); floor = GFLOP / the f32 GEMM rate of\n"
           "# [T x d_model] x [d_ff x d_model] (%s) measured here; of floor = floor / p50\n",
           device ? "the device's matmul, cuBLASLt f32" : "OpenBLAS sgemm");
    printf("%-7s %10s %10s %10s %10s %10s %8s %14s\n", "tokens", "s min", "p50", "GFLOP", "GEMM/s", "floor s",
           "of floor", "all layers p50");
    for (int li = 0; li < n_len; li++) {
        const int T = lengths[li];
        for (int t = 0; t < T - 1; t++)
            ids[t] = 2 + (int32_t)(cosmos_rng_uniform(seed, 7, (uint64_t)(li * 1000 + t)) * (c->vocab_size - 3));
        ids[T - 1] = 1; /* EOS */
        CHECK(cosmos_t5_forward(m, ids, T, out)); /* warm-up: plans, first-touch memory */
        for (int r = 0; r < reps; r++) {
            const double t0 = cosmos_now_s();
            CHECK(cosmos_t5_forward(m, ids, T, out));
            sec[r] = cosmos_now_s() - t0;
        }
        double mn = 0, p50 = 0;
        bench_min_p50(sec, reps, &mn, &p50);
        for (int64_t i = 0; i < (int64_t)T * c->d_model; i++)
            CHECK_ARG(isfinite(out[i]), COSMOS_ERR_INTERNAL, "bench-t5: a non-finite output at %lld (T %d)",
                      (long long)i, T);
        const double gflop = L * (2.0 * T * D * (4.0 * I + 2.0 * F) + 4.0 * (double)T * T * I) * 1e-9;
        double rate = 0;
        CHECK(bench_f32_gemm_gflops(be, T, c->d_ff, c->d_model, &rate));
        const double floor_s = rate > 0 ? gflop / rate : 0, proj = p50 * full_layers / L;
        printf("%-7d %10.4f %10.4f %10.3f %10.1f %10.4f %8.3f %14.3f\n", T, mn, p50, gflop, rate, floor_s,
               floor_s / p50, proj);
        json_array_append_new(rows, json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "tokens", T, "seconds_min",
                                              mn, "seconds_p50", p50, "gflop", gflop, "gemm_gflops", rate, "floor_s",
                                              floor_s, "fraction_of_floor", floor_s / p50, "projected_all_layers_s",
                                              proj));
    }
    printf("# peak RSS     %.1f MB\n", cosmos_peak_rss_bytes() * 1e-6);
    if (json_out) {
        js = json_pack("{s:O, s:s, s:i, s:i, s:b, s:f, s:f, s:s, s:O}", "provenance", prov, "model", c->name, "layers",
                       c->num_layers, "config_layers", full_layers, "random_weights", !weights, "init_s", init_s,
                       "load_s", load_s, "floor_rate", device ? "backend matmul, f32" : "OpenBLAS sgemm, f32",
                       "lengths", rows);
        CHECK_ALLOC(js);
        CHECK(cosmos_json_write(js, json_out, JSON_INDENT(2)));
    }
fail:
    json_decref(js);
    json_decref(rows);
    json_decref(prov);
    cosmos_t5_free(m);
    cosmos_backend_free(be);
    bench_tmp_weights_remove();
    free(ids), free(out), free(sec);
    if (st != COSMOS_OK) LOG_ERROR("bench-t5 failed: %s", cosmos_status_str(st));
    return st == COSMOS_OK ? 0 : st == COSMOS_ERR_INVALID_ARG ? 2 : 1;
}
