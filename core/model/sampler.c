/* Sampler implementation (see sampler.h). Work is O(V log V) per token for top-p (a full sort),
 * which is small next to a forward pass of the real models. */
#include "core/model/sampler.h"

#include <math.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/rng.h"

struct prob_idx {
    float p;
    int id;
};

struct cosmos_sampler {
    struct cosmos_sampler_params p;
    int n_vocab;
    struct prob_idx *sorted; /* [n_vocab] */
};

struct cosmos_sampler_params cosmos_sampler_params_default(void) {
    struct cosmos_sampler_params p = {1.0f, 0.8f, 0, 0};
    return p;
}

cosmos_status cosmos_sampler_params_check(const struct cosmos_sampler_params *p) {
    if (!(p->temperature >= 0.0f) || !isfinite(p->temperature)) {
        LOG_ERROR("temperature must be >= 0 (got %g)", p->temperature);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f)) {
        LOG_ERROR("top-p must be in (0, 1] (got %g)", p->top_p);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (p->top_k < 0) {
        LOG_ERROR("top-k must be >= 0 (got %d; 0 turns it off)", p->top_k);
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}

cosmos_status cosmos_sampler_init(const struct cosmos_sampler_params *p, int n_vocab, cosmos_sampler_t **out) {
    *out = NULL;
    cosmos_status st = cosmos_sampler_params_check(p);
    if (st != COSMOS_OK) return st;
    if (n_vocab <= 0) return COSMOS_ERR_INVALID_ARG;
    cosmos_sampler_t *s = calloc(1, sizeof *s);
    if (!s) return COSMOS_ERR_NOMEM;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->sorted = malloc(sizeof *s->sorted * (size_t)n_vocab);
    if (!s->sorted) {
        cosmos_sampler_free(s);
        return COSMOS_ERR_NOMEM;
    }
    *out = s;
    return COSMOS_OK;
}

void cosmos_sampler_free(cosmos_sampler_t *s) {
    if (!s) return;
    free(s->sorted);
    free(s);
}

/* descending probability, then ascending id */
static int cmp_desc(const void *a, const void *b) {
    const struct prob_idx *x = a, *y = b;
    if (x->p > y->p) return -1;
    if (x->p < y->p) return 1;
    return (x->id > y->id) - (x->id < y->id);
}

double cosmos_sampler_draw(const cosmos_sampler_t *s, int64_t position) {
    return cosmos_rng_uniform(s->p.seed, COSMOS_RNG_STREAM_SAMPLE, (uint64_t)position);
}

int cosmos_sampler_sample(cosmos_sampler_t *s, const float *logits, int64_t position) {
    const int V = s->n_vocab;
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (s->p.temperature == 0.0f) return best;

    const float inv_t = 1.0f / s->p.temperature, mx = logits[best];
    struct prob_idx *q = s->sorted;
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        q[i].p = (float)exp((double)((logits[i] - mx) * inv_t)); /* correctly rounded: the GPU sampler agrees */
        q[i].id = i;
        sum += q[i].p;
    }
    for (int i = 0; i < V; i++) q[i].p = (float)(q[i].p / sum);
    qsort(q, (size_t)V, sizeof *q, cmp_desc);

    int n_keep = V;
    if (s->p.top_k > 0 && s->p.top_k < n_keep) {
        n_keep = s->p.top_k;
        double kept = 0.0; /* renormalise over the top-k before top-p sees them */
        for (int i = 0; i < n_keep; i++) kept += q[i].p;
        for (int i = 0; i < n_keep; i++) q[i].p = (float)(q[i].p / kept);
    }
    double before = 0.0;
    int kept_n = 0;
    for (int i = 0; i < n_keep; i++) {
        if (before > (double)s->p.top_p) break; /* mass before token i exceeds top_p: drop it and the rest */
        before += q[i].p;
        kept_n = i + 1;
    }
    const double u = cosmos_sampler_draw(s, position) * before;
    double c = 0.0;
    for (int i = 0; i < kept_n; i++) {
        c += q[i].p;
        if (u < c) return q[i].id;
    }
    return q[kept_n - 1].id;
}
