/* cosmos-bench-parallel: decode throughput of a tp x pp layout under mpirun, with one sequence and
 * with M sequences in flight (cosmos_ar_generate pipelines them over the stages), and the time per
 * decode step split into compute and communication (communication includes waiting for a peer).
 *   mpirun -np 4 cosmos-bench-parallel --model M.h5 --tp 2 --pp 2 --seqs 4 [--context C.h5]
 * The gain of M >= pp sequences over one is the point of micro-batching: with one sequence only
 * one stage works at a time. Output: table (rank 0) headed by provenance, and --json FILE. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/provenance.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/model/ar_generate.h"
#include "core/model/ar_model.h"
#include "launcher/cli.h"
#include "parallel/comm.h"

static cosmos_status run(cosmos_ar_model_t *m, int n, int prompt, int n_gen, struct cosmos_ar_gen_stats *stats) {
    const struct cosmos_ar_config *c = cosmos_ar_model_config(m);
    cosmos_status st = COSMOS_OK;
    int32_t *buf = malloc(sizeof(int32_t) * (size_t)n * (size_t)(prompt + n_gen));
    int32_t **prompts = malloc(sizeof(int32_t *) * (size_t)n), **out = malloc(sizeof(int32_t *) * (size_t)n);
    int *len = malloc(sizeof(int) * (size_t)n);
    uint64_t *seeds = malloc(sizeof(uint64_t) * (size_t)n);
    CHECK_ALLOC(buf);
    CHECK_ALLOC(prompts);
    CHECK_ALLOC(out);
    CHECK_ALLOC(len);
    CHECK_ALLOC(seeds);
    for (int i = 0; i < n; i++) {
        prompts[i] = buf + (size_t)i * (size_t)(prompt + n_gen);
        out[i] = prompts[i] + prompt;
        len[i] = prompt;
        seeds[i] = (uint64_t)i;
        for (int t = 0; t < prompt; t++) prompts[i][t] = (int32_t)((t * 7919L + i * 104729L + 13) % c->vocab_size);
    }
    struct cosmos_sampler_params sp = cosmos_sampler_params_default();
    CHECK(cosmos_ar_generate(m, n, (const int32_t *const *)prompts, len, n_gen, &sp, seeds, out, stats));
fail:
    free(buf);
    free(prompts);
    free(out);
    free(len);
    free(seeds);
    return st;
}

int main(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *model = NULL, *ctx = NULL, *json_out = NULL, *pos[1];
    int prompt = 64, n_decode = 16, seqs = 0, n_pos = 0;
    struct cli_session sess = {0};
    json_t *prov = NULL, *doc = NULL;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"model", CLI_STR, &model, "weight file (make one with cosmos-ar init)", 0},
        {"context", CLI_STR, &ctx, "context file for Video2World models", 0},
        {"prompt", CLI_INT, &prompt, "prompt length of every sequence (default 64)", 0},
        {"decode", CLI_INT, &n_decode, "decode steps per sequence (default 16)", 0},
        {"seqs", CLI_INT, &seqs, "sequences in flight for the batched run (default: pp, at least 2)", 0},
        {"json", CLI_STR, &json_out, "also write the results as JSON (rank 0)", 0},
        CLI_MODEL_OPTS(common),
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("bench-parallel", argc - 1, argv + 1, opts, pos, 0, &n_pos, &common));
    if (common.help) return 0;
    CHECK_ARG(model, COSMOS_ERR_INVALID_ARG, "--model is required");
    if (seqs <= 0) seqs = common.pp > 2 ? common.pp : 2;
    CHECK_ARG(prompt > 0 && n_decode > 0, COSMOS_ERR_INVALID_ARG, "--prompt and --decode must be positive");
    CHECK(cli_session_open(&common, model, ctx, 0, seqs, &sess));
    const int rank = sess.world ? cosmos_comm_rank(sess.world) : 0;
    struct cosmos_ar_gen_stats one, many;
    CHECK(run(sess.m, 1, prompt, 2, &one)); /* warm-up */
    CHECK(run(sess.m, 1, prompt, n_decode + 1, &one));
    CHECK(run(sess.m, seqs, prompt, n_decode + 1, &many));
    /* the slowest rank's numbers */
    double v[4] = {one.decode_s, one.comm_s, many.decode_s, many.comm_s}, w[4] = {0};
    if (sess.world) {
        float f[4] = {(float)v[0], (float)v[1], (float)v[2], (float)v[3]};
        const int ws = cosmos_comm_size(sess.world);
        float *all = malloc(sizeof f * (size_t)ws);
        CHECK_ALLOC(all);
        st = cosmos_comm_allgather(sess.world, f, all, sizeof f);
        for (int r = 0; r < ws && st == COSMOS_OK; r++)
            for (int j = 0; j < 4; j++)
                if (all[r * 4 + j] > w[j]) w[j] = all[r * 4 + j];
        free(all);
        CHECK(st);
    } else {
        memcpy(w, v, sizeof w);
    }
    const double tps1 = n_decode / w[0], tpsm = (double)seqs * n_decode / w[2];
    if (rank == 0) {
        prov = bench_provenance(cosmos_backend_name(sess.be), omp_get_max_threads());
        json_object_set_new(prov, "tp", json_integer(common.tp));
        json_object_set_new(prov, "pp", json_integer(common.pp));
        bench_provenance_print(prov);
        printf("# model        %s, tp %d x pp %d, prompt %d, %d decode steps per sequence\n",
               cosmos_ar_model_config(sess.m)->name, common.tp, common.pp, prompt, n_decode);
        printf("%-12s %6s %12s %12s %12s %12s\n", "run", "seqs", "tok/s", "ms/step", "comm_ms/step", "comm_share");
        printf("%-12s %6d %12.2f %12.2f %12.2f %11.0f%%\n", "one", 1, tps1, 1e3 * w[0] / n_decode, 1e3 * w[1] / n_decode,
               100.0 * w[1] / w[0]);
        printf("%-12s %6d %12.2f %12.2f %12.2f %11.0f%%\n", "in-flight", seqs, tpsm, 1e3 * w[2] / n_decode,
               1e3 * w[3] / n_decode, 100.0 * w[3] / w[2]);
        printf("# gain of %d sequences in flight: %.2fx tokens/s\n", seqs, tpsm / tps1);
        if (json_out) {
            doc = json_pack("{s:O, s:i, s:i, s:f, s:f, s:f, s:f, s:f}", "provenance", prov, "seqs", seqs, "decode_steps",
                            n_decode, "one_tokens_per_s", tps1, "inflight_tokens_per_s", tpsm, "one_comm_share",
                            w[1] / w[0], "inflight_comm_share", w[3] / w[2], "gain", tpsm / tps1);
            CHECK_ALLOC(doc);
            CHECK(cosmos_json_write(doc, json_out, JSON_INDENT(2)));
        }
    }
fail:
    json_decref(doc);
    json_decref(prov);
    cli_session_close(&sess);
    return st == COSMOS_OK ? 0 : st == COSMOS_ERR_INVALID_ARG ? 2 : 1;
}
