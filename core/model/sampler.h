/* Next-token sampler (spec ar-model.md section 5). Temperature 0 = greedy argmax. Otherwise
 * probs = softmax(logits / temperature), optionally restricted to the top_k largest, then top-p
 * with the official edge rule: after a descending sort, a token is kept when the probability mass
 * BEFORE it is <= top_p (so the top-1 token is always kept); the kept mass is renormalised and one
 * token is drawn by inverse CDF with the counter-based RNG at (seed, position). The official code
 * rejects top_k together with top_p; here both may be set (top-k first, then top-p).
 * Ties sort by lower token id first, so the result is deterministic. */
#ifndef COSMOS_SAMPLER_H
#define COSMOS_SAMPLER_H

#include <stdint.h>

#include "core/status.h"

struct cosmos_sampler_params {
    float temperature; /* 0 = greedy */
    float top_p;       /* (0, 1]; 1 = off */
    int top_k;         /* 0 = off */
    uint64_t seed;
};
struct cosmos_sampler_params cosmos_sampler_params_default(void); /* T=1, top_p=0.8, top_k=0, seed 0 */
/* Checks ranges; logs what is wrong. */
cosmos_status cosmos_sampler_params_check(const struct cosmos_sampler_params *p);

typedef struct cosmos_sampler cosmos_sampler_t;
/* A sampler for vocab size n_vocab; it owns its scratch buffers. */
cosmos_status cosmos_sampler_init(const struct cosmos_sampler_params *p, int n_vocab, cosmos_sampler_t **out);
void cosmos_sampler_free(cosmos_sampler_t *s);
/* New params for an existing sampler (checked as in init); its buffers are kept. */
cosmos_status cosmos_sampler_set_params(cosmos_sampler_t *s, const struct cosmos_sampler_params *p);
int cosmos_sampler_n_vocab(const cosmos_sampler_t *s);
/* Sample one token from logits[n_vocab] for the token at sequence position `position` (the RNG
 * counter). Returns the token id. */
int cosmos_sampler_sample(cosmos_sampler_t *s, const float *logits, int64_t position);
/* Uniform draw used for `position` (exposed for tests). */
double cosmos_sampler_draw(const cosmos_sampler_t *s, int64_t position);

#endif
