/* Sampler implementation (see sampler.h). Top-p and top-k need the tokens in sorted order only up
 * to the cut: a histogram of the probabilities picks the candidates that can be in it, which are
 * sorted alone (select_candidates); the full sort of V tokens remains for top_p = 1 without top-k
 * and for the rare case where the candidates turn out too few. The token drawn is the same as with
 * a full sort (tests/unit/test_sampler.c checks it against one). */
#include "core/model/sampler.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"

#define HIST_SHIFT 19 /* candidate histogram: buckets of the float bits >> HIST_SHIFT */
#define HIST_BUCKETS (1 << (32 - HIST_SHIFT))
#define MASS_MARGIN 1e-6 /* bucket sums vs the sorted running sum: far above their rounding gap */

struct prob_idx {
    float p;
    int id;
};

struct cosmos_sampler {
    struct cosmos_sampler_params p;
    int n_vocab;
    struct prob_idx *sorted; /* [n_vocab] */
    float *probs;            /* [n_vocab] */
    uint32_t *hist_count;    /* [HIST_BUCKETS] candidate selection */
    double *hist_mass;       /* [HIST_BUCKETS] */
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
    s->probs = malloc(sizeof *s->probs * (size_t)n_vocab);
    s->hist_count = malloc(sizeof *s->hist_count * (size_t)HIST_BUCKETS);
    s->hist_mass = malloc(sizeof *s->hist_mass * (size_t)HIST_BUCKETS);
    if (!s->sorted || !s->probs || !s->hist_count || !s->hist_mass) {
        cosmos_sampler_free(s);
        return COSMOS_ERR_NOMEM;
    }
    *out = s;
    return COSMOS_OK;
}

cosmos_status cosmos_sampler_set_params(cosmos_sampler_t *s, const struct cosmos_sampler_params *p) {
    cosmos_status st = cosmos_sampler_params_check(p);
    if (st == COSMOS_OK) s->p = *p;
    return st;
}
int cosmos_sampler_n_vocab(const cosmos_sampler_t *s) { return s->n_vocab; }

void cosmos_sampler_free(cosmos_sampler_t *s) {
    if (!s) return;
    free(s->sorted);
    free(s->probs);
    free(s->hist_count);
    free(s->hist_mass);
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

/* Candidates: the tokens whose probability is at least the lower edge of a histogram bucket of the
 * probabilities' float bits (HIST_SHIFT: exponent and 4 mantissa bits), walking down from the top
 * bucket until the candidates hold more than top_p of the mass (with a margin for the summation
 * order) and at least top_k tokens. Every token outside is strictly smaller than every candidate,
 * so the candidates, sorted, are exactly the first entries of the full sort: the sampler sorts
 * them only (usually hundreds to a few thousand of 64000) and checks that top-p stopped inside
 * them, or falls back to the full sort. Returns the number of candidates written to q, or V when
 * every token must be sorted. */

static int select_candidates(cosmos_sampler_t *s, const float *p, int V, struct prob_idx *q) {
    if (s->p.top_p >= 1.0f && s->p.top_k == 0) return V;
    uint32_t *count = s->hist_count;
    double *mass = s->hist_mass;
    memset(count, 0, sizeof(uint32_t) * HIST_BUCKETS);
    memset(mass, 0, sizeof(double) * HIST_BUCKETS);
    for (int i = 0; i < V; i++) {
        uint32_t u;
        memcpy(&u, &p[i], sizeof u);
        count[u >> HIST_SHIFT]++;
        mass[u >> HIST_SHIFT] += p[i];
    }
    const int need_k = s->p.top_k > 0 && s->p.top_k < V ? s->p.top_k : 0;
    const double need_mass = s->p.top_p >= 1.0f ? 2.0 : (double)s->p.top_p + MASS_MARGIN;
    int64_t n = 0;
    double m = 0.0;
    int b = HIST_BUCKETS - 1;
    for (; b > 0; b--) {
        n += count[b];
        m += mass[b];
        if (need_k ? n >= need_k : m > need_mass) break; /* top-p only sees the top-k when both are set */
    }
    if (b == 0 || n >= V) return V;
    const uint32_t edge = (uint32_t)b << HIST_SHIFT;
    int c = 0;
    for (int i = 0; i < V; i++) {
        uint32_t u;
        memcpy(&u, &p[i], sizeof u);
        if (u >= edge) {
            q[c].p = p[i];
            q[c].id = i;
            c++;
        }
    }
    return c;
}

/* The draw from the first n_sorted entries of the sorted order (n_sorted < V: candidates only).
 * Returns -1 when the candidates did not reach the top-p cut (the caller sorts everything). */
static int draw_sorted(cosmos_sampler_t *s, struct prob_idx *q, int n_sorted, int V, int64_t position) {
    int n_keep = n_sorted;
    if (s->p.top_k > 0 && s->p.top_k < V) {
        if (n_sorted < s->p.top_k) return -1;
        n_keep = s->p.top_k;
        double kept = 0.0; /* renormalise over the top-k before top-p sees them */
        for (int i = 0; i < n_keep; i++) kept += q[i].p;
        for (int i = 0; i < n_keep; i++) q[i].p = (float)(q[i].p / kept);
    }
    double before = 0.0;
    int kept_n = 0, cut = 0;
    for (int i = 0; i < n_keep; i++) {
        if (before > (double)s->p.top_p) { /* mass before token i exceeds top_p: drop it and the rest */
            cut = 1;
            break;
        }
        before += q[i].p;
        kept_n = i + 1;
    }
    /* all candidates kept: fine when they are all the tokens top-k allows, or when the mass before
     * the next (unsorted) token already exceeds top_p; else the candidates were too few */
    if (!cut && n_keep == n_sorted && n_sorted < V && (s->p.top_k == 0 || s->p.top_k >= V) &&
        !(before > (double)s->p.top_p))
        return -1;
    const double u = cosmos_sampler_draw(s, position) * before;
    double c = 0.0;
    for (int i = 0; i < kept_n; i++) {
        c += q[i].p;
        if (u < c) return q[i].id;
    }
    return q[kept_n - 1].id;
}

int cosmos_sampler_sample(cosmos_sampler_t *s, const float *logits, int64_t position) {
    const int V = s->n_vocab;
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (s->p.temperature == 0.0f) return best;

    const float inv_t = 1.0f / s->p.temperature, mx = logits[best];
    float *p = s->probs;
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        p[i] = (float)exp((double)((logits[i] - mx) * inv_t)); /* correctly rounded: the GPU sampler agrees */
        sum += p[i];
    }
    for (int i = 0; i < V; i++) p[i] = (float)(p[i] / sum);
    struct prob_idx *q = s->sorted;
    if (isfinite(sum)) {
        const int n = select_candidates(s, p, V, q);
        if (n < V) {
            qsort(q, (size_t)n, sizeof *q, cmp_desc);
            const int tok = draw_sorted(s, q, n, V, position);
            if (tok >= 0) return tok;
        }
    }
    for (int i = 0; i < V; i++) { /* every token sorted */
        q[i].p = p[i];
        q[i].id = i;
    }
    qsort(q, (size_t)V, sizeof *q, cmp_desc);
    return draw_sorted(s, q, V, V, position);
}
