/* `cosmos-ar logits`: teacher-forced logits for every position of a token sequence, written as
 * float32 /logits [n_tokens, vocab_size]. Default: one prefill (chunked); --decode runs the same
 * sequence one token at a time through the KV cache. Both must agree (tests check it). */
#include <stdlib.h>

#include "core/backend.h"
#include "core/log.h"
#include "core/model/ar_model.h"
#include "launcher/cli.h"
#include "launcher/commands.h"

cosmos_status cmd_logits(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *model = NULL, *tokens_path = NULL, *ctx_path = NULL, *out = NULL, *pos[1];
    int decode = 0, chunk = 0, n_pos = 0, n = 0;
    int32_t *tokens = NULL;
    float *logits = NULL;
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
    CHECK(cli_read_tokens(tokens_path, c->max_seq_len, &tokens, &n));
    for (int i = 0; i < n; i++) CHECK(cosmos_ar_check_token(m, tokens[i], i));
    const size_t V = (size_t)c->vocab_size;
    logits = malloc(sizeof(float) * V * (size_t)n);
    CHECK_ARG(logits, COSMOS_ERR_NOMEM, "logits: cannot allocate %zu bytes for [%d, %zu] logits",
              sizeof(float) * V * (size_t)n, n, V);
    if (decode) {
        for (int t = 0; t < n; t++) CHECK(cosmos_ar_forward(m, tokens + t, 1, t, COSMOS_LOGITS_LAST, logits + V * t));
    } else {
        CHECK(cosmos_ar_forward(m, tokens, n, 0, COSMOS_LOGITS_ALL, logits));
    }
    if (sess.is_writer) CHECK(cli_write_logits(out, logits, n, (int64_t)V));
    LOG_INFO0("logits: %d positions (%s) -> %s", n, decode ? "decode" : "prefill", out);
fail:
    free(tokens);
    free(logits);
    cli_session_close(&sess);
    return st;
}
