/* Multi-sequence, pipelined generation (see ar_generate.h).
 * Decode schedule with pp stages, step k = 1..n_gen-1, sequences i = 0..n-1 in the same order on
 * every stage:
 *   stage 0:    tok = out[i][k-1] (from the last stage for k >= 2); forward_stage(tok) -> sends x
 *   stage s:    forward_stage: receive x from s-1, run the layers, send x to s+1
 *   last stage: forward_stage: receive x, logits; sample out[i][k]; send it to stage 0
 * Stage 0 needs out[i][k-1] only after it has sent the whole of step k-1, i.e. n forward passes
 * later, so with n >= pp it never waits. Token messages are 4 bytes (eager), so no cycle blocks.
 * Without TP the last stage samples decode tokens on the backend (cosmos_ar_forward_sample: on a GPU
 * the logits stay there); with TP on the host from the gathered logits. Both draw the same token.
 * The first token of each sequence comes from the prefill's logits on every rank (host sampler). */
#define _POSIX_C_SOURCE 200809L
#include "core/process.h"
#include "core/model/ar_generate.h"

#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "parallel/comm.h"

#define TAG_TOKEN 23


cosmos_status cosmos_ar_generate(cosmos_ar_model_t *m, int n, const int32_t *const *prompts, const int *prompt_len,
                                 int n_gen, const struct cosmos_sampler_params *params, const uint64_t *seeds,
                                 int32_t **out, struct cosmos_ar_gen_stats *stats) {
    cosmos_status st = COSMOS_OK;
    int *n_gens = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    CHECK_ALLOC(n_gens);
    for (int i = 0; i < n; i++) n_gens[i] = n_gen;
    st = cosmos_ar_generate_cb(m, n, prompts, prompt_len, n_gens, params, seeds, out, stats, NULL, NULL);
fail:
    free(n_gens);
    return st;
}

cosmos_status cosmos_ar_generate_cb(cosmos_ar_model_t *m, int n, const int32_t *const *prompts, const int *prompt_len,
                                    const int *n_gens, const struct cosmos_sampler_params *params,
                                    const uint64_t *seeds, int32_t **out, struct cosmos_ar_gen_stats *stats,
                                    cosmos_ar_token_fn on_token, void *ud) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_ar_config *c = cosmos_ar_model_config(m);
    cosmos_sampler_t **samplers = NULL;
    float *logits = NULL;
    int stage = 0, pp = 1, max_gen = 0;
    cosmos_ar_model_stage(m, &stage, &pp);
    cosmos_comm_t *ppc = cosmos_ar_model_pp_comm(m);
    const double comm0 = cosmos_ar_model_comm_seconds(m);
    double tok_comm = 0;
    CHECK_ARG(n >= 1 && n <= cosmos_ar_model_n_seq(m), COSMOS_ERR_INVALID_ARG,
              "generate: %d sequences, but the model holds %d (load param n_seq)", n, cosmos_ar_model_n_seq(m));
    for (int i = 0; i < n; i++) {
        CHECK_ARG(n_gens[i] >= 0, COSMOS_ERR_INVALID_ARG, "generate: sequence %d: n_gen must be >= 0", i);
        if (n_gens[i] == 0) continue; /* sits this call out */
        CHECK_ARG(prompt_len[i] >= 1 && (int64_t)prompt_len[i] + n_gens[i] - 1 <= c->max_seq_len,
                  COSMOS_ERR_INVALID_ARG, "generate: sequence %d: %d prompt + %d generated tokens exceed max_seq_len %d",
                  i, prompt_len[i], n_gens[i], c->max_seq_len);
        if (n_gens[i] > max_gen) max_gen = n_gens[i];
    }
    samplers = calloc((size_t)n, sizeof *samplers);
    logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    CHECK_ALLOC(samplers);
    CHECK_ALLOC(logits);
    for (int i = 0; i < n; i++) {
        struct cosmos_sampler_params sp = *params;
        sp.seed = seeds[i];
        CHECK(cosmos_sampler_init(&sp, c->vocab_size, &samplers[i]));
    }
    /* prefill: every rank gets the logits (broadcast) and samples the first token */
    double t0 = cosmos_now_s();
    for (int i = 0; i < n; i++) {
        if (n_gens[i] == 0) continue;
        CHECK(cosmos_ar_use_seq(m, i));
        CHECK(cosmos_ar_forward(m, prompts[i], prompt_len[i], 0, COSMOS_LOGITS_LAST, logits));
        CHECK(cosmos_ar_check_logits(m, logits, prompt_len[i]));
        out[i][0] = cosmos_sampler_sample(samplers[i], logits, prompt_len[i]);
        if (on_token && stage == 0) CHECK(on_token(ud, i, 0, out[i][0]));
    }
    double t1 = cosmos_now_s();
    const int last = pp - 1;
    /* the last stage draws decode tokens on the backend (GPU sampling) unless TP splits the logits */
    const int on_backend = stage == last && cosmos_ar_samples_on_backend(m);
    struct cosmos_sampler_params sp = *params;
    /* Step k of sequence i feeds out[i][k-1] and samples out[i][k] (k < n_gens[i]). With pp > 1,
     * stage 0 receives out[i][k-1] at step k, also at k == n_gens[i] where nothing more is run:
     * so it receives tokens in the order the last stage sent them, whatever the lengths. */
    for (int k = 1; k <= max_gen; k++) {
        for (int i = 0; i < n; i++) {
            if (k > n_gens[i]) continue;
            const int pos = prompt_len[i] + k - 1;
            if (pp > 1 && stage == 0 && k >= 2) {
                const double tw = cosmos_now_s();
                CHECK(cosmos_comm_recv(ppc, &out[i][k - 1], sizeof(int32_t), last, TAG_TOKEN));
                tok_comm += cosmos_now_s() - tw;
                if (on_token) CHECK(on_token(ud, i, k - 1, out[i][k - 1]));
            }
            if (k == n_gens[i]) continue;
            CHECK(cosmos_ar_use_seq(m, i));
            if (on_backend) { /* the logits never leave the device */
                sp.seed = seeds[i];
                CHECK(cosmos_ar_forward_sample(m, &out[i][k - 1], 1, pos, &sp, &out[i][k]));
            } else {
                CHECK(cosmos_ar_forward_stage(m, &out[i][k - 1], 1, pos,
                                              stage == last ? COSMOS_LOGITS_LAST : COSMOS_LOGITS_NONE, logits));
                if (stage == last) {
                    CHECK(cosmos_ar_check_logits(m, logits, pos + 1));
                    out[i][k] = cosmos_sampler_sample(samplers[i], logits, pos + 1);
                }
            }
            if (stage == last) {
                if (on_token && pp == 1) CHECK(on_token(ud, i, k, out[i][k]));
                if (pp > 1) {
                    const double tw = cosmos_now_s();
                    CHECK(cosmos_comm_send(ppc, &out[i][k], sizeof(int32_t), 0, TAG_TOKEN));
                    tok_comm += cosmos_now_s() - tw;
                }
            }
        }
    }
    if (pp > 1) /* stage 0 has every token now; it shares them with the other stages */
        for (int i = 0; i < n; i++)
            if (n_gens[i] > 0) CHECK(cosmos_comm_broadcast(ppc, out[i], sizeof(int32_t) * (size_t)n_gens[i], 0));
    double t2 = cosmos_now_s();
    if (stats) {
        stats->prefill_s = t1 - t0;
        stats->decode_s = t2 - t1;
        stats->comm_s = cosmos_ar_model_comm_seconds(m) - comm0 + tok_comm;
    }
fail:
    if (samplers)
        for (int i = 0; i < n; i++) cosmos_sampler_free(samplers[i]);
    free(samplers);
    free(logits);
    return st;
}
