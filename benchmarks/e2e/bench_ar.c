/* cosmos-bench: AR transformer throughput on a backend, for any config or weight file.
 * - prefill: tokens/s of a P-token prompt (chunked as the engine runs it);
 * - decode: ms/token over D single-token steps after the prompt (min / p50 / p99), and the same
 *   shown against the memory-bandwidth floor: bytes a step must read (every weight except the
 *   input embedding table, of which one row, plus the KV cache over [0, p] and the context K/V)
 *   divided by the read bandwidth measured in the same run with the same threads;
 * - peak RSS. Output: a table headed by provenance, and --json FILE.
 * Weights: --model M.h5, or --config C.json (random weights written to --weights-dir, reused if
 * present). Validation of the numbers themselves is the job of tests/ (golden, kernels). */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "benchmarks/provenance.h"
#include "core/json_file.h"
#include "core/backend.h"
#include "core/log.h"
#include "core/model/ar_init.h"
#include "core/model/ar_model.h"
#include "core/model/sampler.h"
#include "launcher/cli.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *model = NULL, *config = NULL, *json_out = NULL, *wdir = "build/bench-weights";
    int prompt = 256, n_decode = 32, n_pos = 0, start_pos = -1, bw_mb = 1024, sample_step = 0, graphs = 0,
        unfused = 0;
    const char *pos[1];
    cosmos_backend_t *be = NULL;
    cosmos_ar_model_t *m = NULL;
    int32_t *tokens = NULL;
    float *logits = NULL;
    double *step_ms = NULL;
    json_t *prov = NULL, *out = NULL;
    char path[1024];
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"model", CLI_STR, &model, "weight file to benchmark", 0},
        {"config", CLI_STR, &config, "or: a config; random weights are created (and cached) for it", 0},
        {"weights-dir", CLI_STR, &wdir, "where --config weights are cached (default build/bench-weights)", 0},
        {"prompt", CLI_INT, &prompt, "prefill length in tokens (default 256)", 0},
        {"decode", CLI_INT, &n_decode, "decode steps to time (default 32)", 0},
        {"start", CLI_INT, &start_pos, "position of the first decode step (default: after the prompt)", 0},
        {"bw-mb", CLI_INT, &bw_mb, "buffer size of the bandwidth probe in MB (default 1024)", 0},
        {"json", CLI_STR, &json_out, "also write the results as JSON to this file", 0},
        {"sample", CLI_FLAG, &sample_step,
         "time the generation step: the token drawn on the backend (top-p 0.8), only it comes back (default: the "
         "step returns the logits to the host)", 0},
        {"cuda-graphs", CLI_FLAG, &graphs, "with --sample: replay the step as a CUDA graph (also COSMOS_CUDA_GRAPHS=1)",
         0},
        {"unfused", CLI_FLAG, &unfused,
         "every op of the step on its own: no fused wq|wk|wv, w1|w3 products, no fused epilogues or prologues "
         "(docs/cuda.md \"Decode-step fusions\"), the comparison for the fused step", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("bench", argc - 1, argv + 1, opts, pos, 0, &n_pos, &common));
    if (common.help) return 0;
    CHECK_ARG((model != NULL) != (config != NULL), COSMOS_ERR_INVALID_ARG, "give exactly one of --model, --config");
    CHECK_ARG(prompt > 0 && n_decode > 0 && bw_mb > 0, COSMOS_ERR_INVALID_ARG,
              "--prompt, --decode and --bw-mb must be positive");
    if (config) {
        struct cosmos_ar_config cfg;
        CHECK(cosmos_ar_config_load(config, &cfg));
        mkdir(wdir, 0755);
        snprintf(path, sizeof path, "%s/%s.seed0.h5", wdir, cfg.name);
        struct stat sb;
        if (stat(path, &sb) != 0) {
            LOG_INFO("bench: creating random weights for %s in %s", cfg.name, path);
            CHECK(cosmos_ar_init_random(&cfg, 0, path));
        }
        model = path;
    }
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = common.threads;
    CHECK(cosmos_backend_create(common.backend, &bp, &be));
    const int n_threads = omp_get_max_threads();
    struct cosmos_ar_load_params lp = cosmos_ar_load_params_default();
    if (graphs) lp.decode_graphs = 1;
    lp.unfused_decode = unfused;
    CHECK_ARG(!lp.decode_graphs || sample_step, COSMOS_ERR_INVALID_ARG, "--cuda-graphs needs --sample (the graph is "
              "the sampling step)");
    double t_load = cosmos_now_s();
    CHECK(cosmos_ar_model_load(model, be, &lp, &m));
    t_load = cosmos_now_s() - t_load;
    const struct cosmos_ar_config *c = cosmos_ar_model_config(m);
    if (start_pos < 0) start_pos = prompt;
    CHECK_ARG(prompt <= c->max_seq_len && start_pos + n_decode <= c->max_seq_len, COSMOS_ERR_INVALID_ARG,
              "prompt %d / decode window [%d, %d) exceed max_seq_len %d", prompt, start_pos, start_pos + n_decode,
              c->max_seq_len);
    if (c->insert_cross_attn) {
        size_t nctx = (size_t)c->context_len * (size_t)c->context_dim;
        float *ctx = malloc(sizeof(float) * nctx);
        CHECK_ALLOC(ctx);
        for (size_t i = 0; i < nctx; i++) ctx[i] = (float)sin((double)i);
        st = cosmos_ar_set_context(m, ctx, c->context_len, c->context_dim);
        free(ctx);
        CHECK(st);
    }
    const int n_tok = prompt > start_pos + n_decode ? prompt : start_pos + n_decode;
    tokens = malloc(sizeof(int32_t) * (size_t)n_tok);
    logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    step_ms = malloc(sizeof(double) * (size_t)n_decode);
    CHECK_ALLOC(tokens);
    CHECK_ALLOC(logits);
    CHECK_ALLOC(step_ms);
    for (int i = 0; i < n_tok; i++) tokens[i] = (int32_t)((i * 7919L + 13) % c->vocab_size);

    /* prefill: one warm-up, then the best of 3 */
    CHECK(cosmos_ar_forward(m, tokens, prompt, 0, COSMOS_LOGITS_LAST, logits));
    double prefill_s = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = cosmos_now_s();
        CHECK(cosmos_ar_forward(m, tokens, prompt, 0, COSMOS_LOGITS_LAST, logits));
        double dt = cosmos_now_s() - t0;
        if (dt < prefill_s) prefill_s = dt;
    }
    /* decode: fill the cache up to start_pos (positions past the prompt get teacher-forced tokens) */
    if (start_pos > prompt)
        CHECK(cosmos_ar_forward(m, tokens + prompt, start_pos - prompt, prompt, COSMOS_LOGITS_NONE, NULL));
    /* the inputs are teacher-forced either way; with --sample the drawn token is timed, not fed back */
    const struct cosmos_sampler_params sp = {1.0f, 0.8f, 0, 0};
    int32_t drawn = 0;
    if (sample_step) /* warm-up (records the graph with --cuda-graphs) */
        CHECK(cosmos_ar_forward_sample(m, tokens + start_pos, 1, start_pos, &sp, &drawn));
    else
        CHECK(cosmos_ar_forward(m, tokens + start_pos, 1, start_pos, COSMOS_LOGITS_LAST, logits));
    for (int i = 0; i < n_decode; i++) {
        double t0 = cosmos_now_s();
        if (sample_step)
            CHECK(cosmos_ar_forward_sample(m, tokens + start_pos + i, 1, start_pos + i, &sp, &drawn));
        else
            CHECK(cosmos_ar_forward(m, tokens + start_pos + i, 1, start_pos + i, COSMOS_LOGITS_LAST, logits));
        step_ms[i] = (cosmos_now_s() - t0) * 1e3;
    }
    qsort(step_ms, (size_t)n_decode, sizeof(double), cmp_double);
    const long long peak_rss = cosmos_peak_rss_bytes(); /* before the bandwidth probe's buffer */
    const int host = cosmos_backend_is_host(be);
    const double bw = bench_bandwidth_gbs(be, (size_t)bw_mb << 20);
    CHECK_ARG(bw > 0, COSMOS_ERR_INTERNAL, "cosmos-bench: the bandwidth probe failed on %s", cosmos_backend_name(be));
    double mean_ms = 0;
    for (int i = 0; i < n_decode; i++) mean_ms += step_ms[i] / n_decode;
    const double ms_min = step_ms[0], ms_p50 = step_ms[n_decode / 2];
    const double ms_p99 = step_ms[(int)floor(0.99 * (n_decode - 1))];

    /* bytes one decode step must read */
    struct cosmos_ar_memory mem = cosmos_ar_model_memory(m);
    const double act = (double)cosmos_dtype_size(cosmos_backend_act_dtype(be));
    const double emb_bytes = 2.0 * c->input_vocab_size * c->dim;
    const double kv_row = 2.0 * c->n_kv_heads * c->head_dim * act; /* K and V of one position, one layer */
    const double mean_pos = start_pos + (n_decode - 1) / 2.0;
    int n_cross = 0;
    for (int l = 0; l < c->n_layers; l++) n_cross += cosmos_ar_layer_has_cross(c, l);
    const double weight_read = (double)mem.weight_bytes - emb_bytes + 2.0 * c->dim;
    const double kv_read = c->n_layers * (mean_pos + 1) * kv_row + (double)n_cross * c->context_len * kv_row;
    const double floor_ms = (weight_read + kv_read) / (bw * 1e9) * 1e3;

    prov = bench_provenance(cosmos_backend_name(be), n_threads);
    bench_provenance_print(prov);
    printf("# model        %s (%s), %.3f B params, max_seq_len %d\n", c->name, model,
           cosmos_ar_config_num_params(c) * 1e-9, c->max_seq_len);
    printf("# load         %.2f s (%.0f MB weights, %.0f MB mapped, kv cache %.0f MB)\n", t_load,
           mem.weight_bytes / 1e6, mem.weight_mapped_bytes / 1e6, mem.kv_bytes / 1e6);
    if (host)
        printf("# bandwidth    %.2f GB/s read (%d MB buffer, best of 5, %d threads)\n", bw, bw_mb, n_threads);
    else
        printf("# bandwidth    %.2f GB/s device copy, read + write (%d MB bf16 copy, best of 10)\n", bw, bw_mb);
    printf("%-10s %8s %10s %10s %10s %10s %12s %10s\n", "phase", "tokens", "min_ms", "p50_ms", "p99_ms", "tok/s",
           "floor_ms", "of_floor");
    printf("%-10s %8d %10.2f %10s %10s %10.1f %12s %10s\n", "prefill", prompt, prefill_s * 1e3, "-", "-",
           prompt / prefill_s, "-", "-");
    printf("%-10s %8d %10.2f %10.2f %10.2f %10.2f %12.2f %9.0f%%\n", "decode", n_decode, ms_min, ms_p50, ms_p99,
           1e3 / ms_p50, floor_ms, 100.0 * floor_ms / ms_p50);
    printf("# decode floor: %.1f MB weights + %.1f MB KV/context per step at mean position %.0f\n",
           weight_read / 1e6, kv_read / 1e6, mean_pos);
    struct cosmos_backend_memory bm;
    if (cosmos_backend_memory(be, &bm) == COSMOS_OK && bm.device_total)
        printf("# memory       model %.2f GB (weights %.2f, kv %.2f, context %.2f, tables %.2f, scratch %.2f) + "
               "backend workspaces %.1f MB; device in use %.2f of %.2f GB\n",
               (mem.weight_bytes + mem.kv_bytes + mem.context_bytes + mem.table_bytes + mem.scratch_bytes) / 1e9,
               mem.weight_bytes / 1e9, mem.kv_bytes / 1e9, mem.context_bytes / 1e9, mem.table_bytes / 1e9,
               mem.scratch_bytes / 1e9, bm.workspace_bytes / 1e6, (bm.device_total - bm.device_free) / 1e9,
               bm.device_total / 1e9);
    printf("# decode step  %s%s%s\n",
           sample_step ? "forward + token drawn on the backend (top-p 0.8), 4 bytes back" : "forward + logits to the host",
           lp.decode_graphs && sample_step ? (cosmos_backend_has_graphs(be) ? ", replayed CUDA graph" : ", graphs asked for "
                                                                                                     "but not on this backend")
                                          : "",
           unfused ? ", every op on its own (--unfused)" : "");
    printf("# peak RSS     %.1f MB (model run, before the bandwidth probe)\n", peak_rss / 1e6);
    if (json_out) {
        out = json_pack("{s:O, s:s, s:s, s:f, s:f, s:{s:i, s:f, s:f}, s:{s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, "
                        "s:f, s:f}, s:I}",
                        "provenance", prov, "model", c->name, "weights", model, "load_s", t_load, "read_bw_gbs", bw,
                        "prefill", "tokens", prompt, "seconds", prefill_s, "tokens_per_s", prompt / prefill_s,
                        "decode", "steps", n_decode, "start_pos", start_pos, "ms_min", ms_min, "ms_p50", ms_p50,
                        "ms_p99", ms_p99, "tokens_per_s", 1e3 / ms_p50, "weight_bytes_per_step", weight_read,
                        "kv_bytes_per_step", kv_read, "floor_ms", floor_ms, "fraction_of_floor", floor_ms / ms_p50,
                        "peak_rss_bytes", (json_int_t)peak_rss);
        CHECK_ALLOC(out);
        json_object_set_new(out, "bandwidth_method",
                            json_string(host ? "host read (sum over a buffer)" : "device bf16 copy, read + write"));
        json_object_set_new(out, "decode_step", json_string(sample_step ? "sample_on_backend" : "logits_to_host"));
        json_object_set_new(out, "unfused", json_boolean(unfused));
        json_object_set_new(out, "cuda_graphs", json_boolean(lp.decode_graphs && sample_step &&
                                                             cosmos_backend_has_graphs(be)));
        json_object_set_new(out, "mean_ms", json_real(mean_ms));
        CHECK(cosmos_json_write(out, json_out, JSON_INDENT(2)));
    }
fail:
    json_decref(out);
    json_decref(prov);
    free(tokens);
    free(logits);
    free(step_ms);
    cosmos_ar_model_free(m);
    cosmos_backend_free(be);
    if (st != COSMOS_OK) LOG_ERROR("bench failed: %s", cosmos_status_str(st));
    return st == COSMOS_OK ? 0 : st == COSMOS_ERR_INVALID_ARG ? 2 : 1;
}
