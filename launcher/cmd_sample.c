/* `cosmos-ar sample`: prefill the prompt, then decode N tokens one at a time through the KV cache,
 * sampling each (core/model/sampler.h) with the counter-based RNG at (seed, position): the same
 * seed gives the same tokens whatever the process layout. Writes the N generated ids. */
#include <stdlib.h>
#include <time.h>

#include "core/process.h"
#include "core/backend.h"
#include "core/log.h"
#include "core/model/ar_model.h"
#include "core/model/sampler.h"
#include "core/token_file.h"
#include "launcher/cli.h"
#include "launcher/commands.h"


cosmos_status cmd_sample(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *model = NULL, *tokens_path = NULL, *ctx_path = NULL, *out = NULL, *pos[1];
    int chunk = 0, n_pos = 0, n = 0, num_gen = -1;
    int32_t *prompt = NULL, *gen = NULL;
    float *logits = NULL;
    struct cli_session sess = {0};
    cosmos_sampler_t *sampler = NULL;
    struct cosmos_sampler_params sp = cosmos_sampler_params_default();
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"model", CLI_STR, &model, "weight file (.h5)", 0},
        {"tokens", CLI_STR, &tokens_path, "prompt token ids, whitespace-separated", 0},
        {"num-gen", CLI_INT, &num_gen, "number of tokens to generate", 0},
        {"context", CLI_STR, &ctx_path, "HDF5 with float32 /context (Video2World models)", 0},
        {"temperature", CLI_FLOAT, &sp.temperature, "softmax temperature (default 1.0; 0 = greedy)", 0},
        {"top-p", CLI_FLOAT, &sp.top_p, "nucleus mass (default: the model's, e.g. 0.8 for 4B)", 0},
        {"top-k", CLI_INT, &sp.top_k, "keep the k most likely tokens (default 0 = off)", 0},
        {"seed", CLI_U64, &sp.seed, "random seed (default 0)", 0},
        {"out", CLI_STR, &out, "output file: the generated ids, one per line", 0},
        {"chunk", CLI_INT, &chunk, "prefill chunk size in tokens (default 256)", 0},
        CLI_MODEL_OPTS(common),
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("sample", argc, argv, opts, pos, 0, &n_pos, &common));
    if (common.help) return COSMOS_OK;
    CHECK_ARG(model && tokens_path && out && num_gen >= 0, COSMOS_ERR_INVALID_ARG,
              "sample: --model, --tokens, --num-gen and --out are required");
    CHECK_ARG(num_gen > 0, COSMOS_ERR_INVALID_ARG, "sample: --num-gen must be positive");
    CHECK_ARG(chunk >= 0, COSMOS_ERR_INVALID_ARG, "sample: --chunk must be positive");
    int top_p_seen = 0;
    for (struct cli_opt *o = opts; o->name; o++)
        if (o->ptr == &sp.top_p) top_p_seen = o->seen;
    CHECK(cosmos_sampler_params_check(&sp));
    CHECK(cli_session_open(&common, model, ctx_path, chunk, 1, &sess));
    cosmos_ar_model_t *m = sess.m;
    const struct cosmos_ar_config *c = cosmos_ar_model_config(m);
    if (!top_p_seen) sp.top_p = (float)c->default_top_p;
    CHECK(cosmos_tokens_read(tokens_path, c->max_seq_len, "the model's max_seq_len", &prompt, &n));
    CHECK_ARG((int64_t)n + num_gen - 1 <= c->max_seq_len, COSMOS_ERR_INVALID_ARG,
              "sample: %d prompt + %d generated tokens exceed max_seq_len %d (the last generated token is never "
              "fed back, so at most %d)",
              n, num_gen, c->max_seq_len, c->max_seq_len - n + 1);
    for (int i = 0; i < n; i++) CHECK(cosmos_ar_check_token(m, prompt[i], i));
    CHECK(cosmos_sampler_init(&sp, c->vocab_size, &sampler));
    logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    gen = malloc(sizeof(int32_t) * (size_t)num_gen);
    CHECK_ALLOC(logits);
    CHECK_ALLOC(gen);
    LOG_INFO0("sample: prompt %d tokens, generating %d (temperature %g, top-p %g, top-k %d, seed %llu)", n, num_gen,
              sp.temperature, sp.top_p, sp.top_k, (unsigned long long)sp.seed);
    double t0 = cosmos_now_s();
    CHECK(cosmos_ar_forward(m, prompt, n, 0, COSMOS_LOGITS_LAST, logits));
    CHECK(cosmos_ar_check_logits(m, logits, n));
    gen[0] = cosmos_sampler_sample(sampler, logits, n);
    double t1 = cosmos_now_s();
    for (int i = 1; i < num_gen; i++) {
        CHECK(cosmos_ar_forward(m, &gen[i - 1], 1, n + i - 1, COSMOS_LOGITS_LAST, logits));
        CHECK(cosmos_ar_check_logits(m, logits, (int64_t)n + i));
        gen[i] = cosmos_sampler_sample(sampler, logits, (int64_t)n + i);
    }
    double t2 = cosmos_now_s();
    LOG_INFO0("sample: prefill %d tokens in %.3f s (%.1f tok/s); decode %d tokens in %.3f s (%.2f tok/s)", n, t1 - t0,
              n / (t1 - t0), num_gen - 1, t2 - t1, num_gen > 1 ? (num_gen - 1) / (t2 - t1) : 0.0);
    if (sess.is_writer) CHECK(cosmos_tokens_write(out, gen, num_gen));
fail:
    free(prompt);
    free(gen);
    free(logits);
    cosmos_sampler_free(sampler);
    cli_session_close(&sess);
    return st;
}
