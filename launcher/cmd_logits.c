/* `cosmos-ar logits`: teacher-forced logits for every position of a token sequence, written as
 * float32 /logits [n_tokens, vocab_size]. Default: prefill in blocks of --chunk (256) positions (each block's
 * logits written before the next, so memory stays bounded for 12800 x 64000 logits); --decode runs
 * the same sequence one token at a time through the KV cache. Both must agree (tests check it). */
#include <stdio.h>
#include <stdlib.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/ar_model.h"
#include "core/token_file.h"
#include "launcher/cli.h"
#include "parallel/comm.h"
#include "launcher/commands.h"

cosmos_status cmd_logits(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *model = NULL, *tokens_path = NULL, *ctx_path = NULL, *out = NULL, *pos[1];
    int decode = 0, chunk = 0, n_pos = 0, n = 0;
    int32_t *tokens = NULL;
    float *logits = NULL;
    cosmos_h5_t *h5 = NULL;
    char tmp[1100] = "";
    int committed = 0;
    struct cli_session sess = {0};
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"model", CLI_STR, &model, "weight file (.h5)", 0},
        {"tokens", CLI_STR, &tokens_path, "token ids, whitespace-separated", 0},
        {"context", CLI_STR, &ctx_path, "HDF5 with float32 /context (Video2World models)", 0},
        {"out", CLI_STR, &out, "output HDF5 with float32 /logits [n_tokens, vocab]", 0},
        {"decode", CLI_FLAG, &decode, "one token at a time through the KV cache instead of one prefill", 0},
        {"chunk", CLI_INT, &chunk, "prefill chunk size in tokens (default 256)", 0},
        CLI_MODEL_OPTS(common),
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("logits", argc, argv, opts, pos, 0, &n_pos, &common));
    if (common.help) return COSMOS_OK;
    CHECK_ARG(model && tokens_path && out, COSMOS_ERR_INVALID_ARG, "logits: --model, --tokens and --out are required");
    CHECK_ARG(chunk >= 0, COSMOS_ERR_INVALID_ARG, "logits: --chunk must be positive");
    CHECK(cli_session_open(&common, model, ctx_path, chunk, 1, &sess));
    cosmos_ar_model_t *m = sess.m;
    const struct cosmos_ar_config *c = cosmos_ar_model_config(m);
    CHECK(cosmos_tokens_read(tokens_path, c->max_seq_len, "the model's max_seq_len", &tokens, &n));
    for (int i = 0; i < n; i++) CHECK(cosmos_ar_check_token(m, tokens[i], i));
    /* bounded memory at any length: positions go through the model in blocks, and each block's
     * logits are written to the output (a temporary file until complete) before the next */
    const size_t V = (size_t)c->vocab_size;
    const int block = decode ? 1 : chunk > 0 ? chunk : 256; /* = the model's prefill chunk */
    logits = malloc(sizeof(float) * V * (size_t)block);
    CHECK_ALLOC(logits);
    cosmos_tmp_path(out, tmp, sizeof tmp);
    cosmos_status cst = COSMOS_OK;
    if (sess.is_writer) {
        cst = cosmos_h5_create(tmp, &h5);
        if (cst == COSMOS_OK) cst = cosmos_h5_create_f32_2d(h5, "logits", n, (int64_t)V);
    }
    if (sess.world) { /* every rank learns whether the writer could create the output (no hang) */
        int all_ok = 0;
        CHECK(cosmos_comm_all_ok(sess.world, cst == COSMOS_OK, &all_ok));
        CHECK_ARG(all_ok || cst != COSMOS_OK, COSMOS_ERR_IO, "logits: rank 0 could not create the output (see its log)");
    }
    CHECK(cst);
    for (int t0 = 0; t0 < n; t0 += block) {
        const int cnt = n - t0 < block ? n - t0 : block;
        CHECK(cosmos_ar_forward(m, tokens + t0, cnt, t0, decode ? COSMOS_LOGITS_LAST : COSMOS_LOGITS_ALL, logits));
        if (sess.is_writer) CHECK(cosmos_h5_write_f32_rows(h5, "logits", t0, cnt, logits));
    }
    if (sess.is_writer) {
        cosmos_h5_close(h5);
        h5 = NULL;
        CHECK(cosmos_commit_tmp(tmp, out));
        committed = 1;
    }
    LOG_INFO0("logits: %d positions (%s) -> %s", n, decode ? "decode" : "prefill", out);
fail:
    if (h5) cosmos_h5_close(h5);
    if (sess.is_writer && !committed && tmp[0]) remove(tmp);
    free(tokens);
    free(logits);
    cli_session_close(&sess);
    return st;
}
