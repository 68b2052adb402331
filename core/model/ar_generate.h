/* Generation of several sequences at once over the model's pipeline (issue: "several sequences in
 * flight"). Every rank calls it with the same arguments. Each sequence i (its own KV cache slot i,
 * so the model must be loaded with n_seq >= n) is prefilled, then decoded for n_gen tokens:
 * with one pipeline stage the sequences take turns; with pp stages the decode steps of different
 * sequences are in different stages at the same time (micro-batching): stage 0 embeds sequence i's
 * last token and passes it on while later stages work on sequences i-1, i-2, ...; the last stage
 * samples and returns each token to stage 0. With n >= pp every stage is busy. Tokens are sampled
 * with the counter-based RNG at (seeds[i], position), so the result does not depend on the layout.
 * spec ar-model.md section 5 (sampling), section 7 (multi-GPU). */
#ifndef COSMOS_AR_GENERATE_H
#define COSMOS_AR_GENERATE_H

#include <stdint.h>

#include "core/model/ar_model.h"
#include "core/model/sampler.h"

struct cosmos_ar_gen_stats {
    double prefill_s, decode_s; /* wall time of the two phases on this rank */
    double comm_s;              /* of which spent in communication or waiting for a peer */
};

/* prompts[i][0..prompt_len[i]) -> out[i][0..n_gen); for V2W models set each sequence's context
 * first (cosmos_ar_use_seq + cosmos_ar_set_context). params.seed is replaced by seeds[i] for
 * sequence i. On return every rank holds all generated tokens. */
cosmos_status cosmos_ar_generate(cosmos_ar_model_t *m, int n, const int32_t *const *prompts, const int *prompt_len,
                                 int n_gen, const struct cosmos_sampler_params *params, const uint64_t *seeds,
                                 int32_t **out, struct cosmos_ar_gen_stats *stats);

/* Streaming: on_token(ud, i, k, token) is called on the ranks of the first pipeline stage (all
 * ranks when pp = 1) for every generated token, in order of k for each sequence, as soon as that
 * stage knows it (with pp > 1 stage 0 learns token k when it needs it as the next input, one step
 * later). A status other than OK stops generation and is returned. Here every sequence has its own
 * number of generated tokens n_gens[i] (a batch of clips with 1 or 9 input frames); n_gens[i] = 0
 * leaves sequence i out of this call (not prefilled, its cache slot untouched: clips of several
 * lengths continued in windows). */
typedef cosmos_status (*cosmos_ar_token_fn)(void *ud, int seq, int k, int32_t token);
cosmos_status cosmos_ar_generate_cb(cosmos_ar_model_t *m, int n, const int32_t *const *prompts, const int *prompt_len,
                                    const int *n_gens, const struct cosmos_sampler_params *params,
                                    const uint64_t *seeds, int32_t **out, struct cosmos_ar_gen_stats *stats,
                                    cosmos_ar_token_fn on_token, void *ud);

#endif
