/* Sampler semantics (spec ar-model.md section 5): greedy, the top-p edge rule, top-k,
 * determinism in (seed, position), and that draws follow the kept distribution. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "core/backend.h"
#include "core/model/sampler.h"
#include "core/rng.h"

static cosmos_sampler_t *mk(float t, float p, int k, uint64_t seed, int V) {
    struct cosmos_sampler_params sp = {t, p, k, seed};
    cosmos_sampler_t *s = NULL;
    cr_assert_eq(cosmos_sampler_init(&sp, V, &s), COSMOS_OK);
    return s;
}

/* logits whose softmax is exactly probs (up to rounding) */
static void logits_from_probs(float *lg, const double *probs, int V) {
    for (int i = 0; i < V; i++) lg[i] = (float)log(probs[i]);
}

Test(sampler, greedy_is_argmax_with_lowest_index_on_ties) {
    float lg[6] = {0.1f, 3.0f, -1.0f, 3.0f, 2.9f, 0.0f};
    cosmos_sampler_t *s = mk(0.0f, 0.8f, 0, 0, 6);
    for (int pos = 0; pos < 50; pos++) cr_expect_eq(cosmos_sampler_sample(s, lg, pos), 1);
    cosmos_sampler_free(s);
}

Test(sampler, top_p_keeps_token_whose_preceding_mass_is_le_p) {
    /* sorted probs 0.5, 0.25, 0.125, 0.125 (ids 1, 3, 0, 2). With top_p = 0.76 the mass before id 0
     * is 0.75 <= top_p, so id 0 is kept although the cumulative mass including it (0.875) exceeds
     * top_p; the mass before id 2 is 0.875 > 0.76: dropped. */
    const double probs[4] = {0.125, 0.5, 0.125, 0.25}; /* ids: 1 > 3 > 0 == 2 (tie -> lower id first) */
    float lg[4];
    logits_from_probs(lg, probs, 4);
    cosmos_sampler_t *s = mk(1.0f, 0.76f, 0, 7, 4);
    int counts[4] = {0};
    const int N = 40000;
    for (int pos = 0; pos < N; pos++) counts[cosmos_sampler_sample(s, lg, pos)]++;
    cr_expect_eq(counts[2], 0, "id 2 is after id 0 in the tie order, its preceding mass 0.875 > 0.76");
    cr_expect(counts[0] > 0, "id 0: preceding mass 0.75 <= 0.76 is kept");
    /* kept mass 0.875: expect 0.5/0.875, 0.25/0.875, 0.125/0.875 */
    cr_expect(fabs(counts[1] / (double)N - 0.5 / 0.875) < 0.01, "p(1) = %g", counts[1] / (double)N);
    cr_expect(fabs(counts[3] / (double)N - 0.25 / 0.875) < 0.01, "p(3) = %g", counts[3] / (double)N);
    cr_expect(fabs(counts[0] / (double)N - 0.125 / 0.875) < 0.01, "p(0) = %g", counts[0] / (double)N);
    cosmos_sampler_free(s);
}

Test(sampler, tiny_top_p_keeps_only_top1) {
    float lg[5] = {1.0f, 1.5f, 0.2f, 1.4f, -3.0f};
    cosmos_sampler_t *s = mk(1.0f, 1e-6f, 0, 3, 5);
    for (int pos = 0; pos < 200; pos++) cr_expect_eq(cosmos_sampler_sample(s, lg, pos), 1);
    cosmos_sampler_free(s);
}

Test(sampler, top_k_restricts_support) {
    float lg[6] = {0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
    cosmos_sampler_t *s = mk(1.0f, 1.0f, 2, 9, 6);
    int seen[6] = {0};
    for (int pos = 0; pos < 2000; pos++) seen[cosmos_sampler_sample(s, lg, pos)]++;
    cr_expect(seen[5] > 0 && seen[4] > 0);
    for (int i = 0; i < 4; i++) cr_expect_eq(seen[i], 0, "id %d outside the top-2", i);
    cosmos_sampler_free(s);
}

Test(sampler, temperature_sharpens) {
    float lg[2] = {0.0f, 1.0f};
    cosmos_sampler_t *hot = mk(2.0f, 1.0f, 0, 1, 2), *cold = mk(0.25f, 1.0f, 0, 1, 2);
    int nh = 0, nc = 0;
    for (int pos = 0; pos < 20000; pos++) {
        nh += cosmos_sampler_sample(hot, lg, pos);
        nc += cosmos_sampler_sample(cold, lg, pos);
    }
    double ph = 1.0 / (1.0 + exp(-0.5)), pc = 1.0 / (1.0 + exp(-4.0));
    cr_expect(fabs(nh / 20000.0 - ph) < 0.012, "T=2: %g vs %g", nh / 20000.0, ph);
    cr_expect(fabs(nc / 20000.0 - pc) < 0.012, "T=0.25: %g vs %g", nc / 20000.0, pc);
    cosmos_sampler_free(hot);
    cosmos_sampler_free(cold);
}

Test(sampler, deterministic_in_seed_and_position) {
    enum { V = 64 };
    float lg[V];
    for (int i = 0; i < V; i++) lg[i] = sinf((float)i);
    cosmos_sampler_t *a = mk(1.0f, 0.9f, 0, 1234, V), *b = mk(1.0f, 0.9f, 0, 1234, V), *c = mk(1.0f, 0.9f, 0, 99, V);
    int differ = 0;
    /* b draws positions in reverse order: no hidden state, same answers */
    int ra[300], rb[300];
    for (int pos = 0; pos < 300; pos++) ra[pos] = cosmos_sampler_sample(a, lg, pos);
    for (int pos = 299; pos >= 0; pos--) rb[pos] = cosmos_sampler_sample(b, lg, pos);
    for (int pos = 0; pos < 300; pos++) {
        cr_assert_eq(ra[pos], rb[pos], "position %d", pos);
        differ += ra[pos] != cosmos_sampler_sample(c, lg, pos);
    }
    cr_expect(differ > 100, "another seed gives another stream (%d of 300 differ)", differ);
    cosmos_sampler_free(a);
    cosmos_sampler_free(b);
    cosmos_sampler_free(c);
}

Test(sampler, rejects_bad_params) {
    struct cosmos_sampler_params bad[] = {{-1.0f, 0.8f, 0, 0}, {1.0f, 0.0f, 0, 0}, {1.0f, 1.5f, 0, 0}, {1.0f, 0.8f, -2, 0}};
    for (int i = 0; i < 4; i++) {
        cosmos_sampler_t *s = NULL;
        cr_expect_eq(cosmos_sampler_init(&bad[i], 10, &s), COSMOS_ERR_INVALID_ARG, "case %d", i);
        cr_expect_null(s);
    }
}

/* The token the sampler draws at `pos`. */
static int32_t tok_at(const float *lg, int V, const struct cosmos_sampler_params *p, int64_t pos) {
    cosmos_sampler_t *s = NULL;
    cr_assert_eq(cosmos_sampler_init(p, V, &s), COSMOS_OK);
    const int32_t t = cosmos_sampler_sample(s, lg, pos);
    cosmos_sampler_free(s);
    return t;
}

/* The backend op (cosmos_op_sample, what the decode loop calls so that GPU logits stay on the GPU)
 * draws the same token as the sampler on the CPU backend; bad shapes and params are refused. */
Test(sampler, backend_op_matches_sampler) {
    enum { V = 4099 };
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    float *lg = malloc(sizeof(float) * V);
    for (int i = 0; i < V; i++) lg[i] = 4.0f * cosmos_rng_normal(7, 1, (uint64_t)i);
    const struct cosmos_sampler_params cases[] = {
        {0.0f, 1.0f, 0, 1}, {1.0f, 0.8f, 0, 2}, {1.0f, 1.0f, 0, 3}, {0.5f, 0.9f, 40, 4}, {2.0f, 0.05f, 0, 5}};
    int32_t tok = -1;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cosmos_sampler_t *s = NULL;
        cr_assert_eq(cosmos_sampler_init(&cases[c], V, &s), COSMOS_OK);
        for (int64_t pos = 0; pos < 300; pos += 7) {
            cr_assert_eq(cosmos_op_sample(be, cosmos_tensor_1d(&tok, COSMOS_I32, 1),
                                          cosmos_tensor_1d(lg, COSMOS_F32, V), &cases[c], pos),
                         COSMOS_OK);
            cr_expect_eq(tok, cosmos_sampler_sample(s, lg, pos), "case %zu position %lld", c, (long long)pos);
        }
        cosmos_sampler_free(s);
    }
    const struct cosmos_sampler_params bad = {1.0f, 0.0f, 0, 0};
    cr_expect_eq(cosmos_op_sample(be, cosmos_tensor_1d(&tok, COSMOS_I32, 1), cosmos_tensor_1d(lg, COSMOS_F32, V),
                                  &bad, 0),
                 COSMOS_ERR_INVALID_ARG, "top_p 0 is refused");
    cr_expect_neq(cosmos_op_sample(be, cosmos_tensor_1d(lg, COSMOS_F32, 1), cosmos_tensor_1d(lg, COSMOS_F32, V),
                                   &cases[0], 0),
                  COSMOS_OK, "an f32 token is refused");
    cr_expect_neq(cosmos_op_sample(be, cosmos_tensor_1d(&tok, COSMOS_I32, 1), cosmos_tensor_1d(lg, COSMOS_F32, V),
                                   &cases[0], -2),
                  COSMOS_OK, "a negative position is refused");
    /* a two-element token also gets the non-finite flag: 0 for these logits, 1 with a NaN or an
     * infinity anywhere; the token itself is the sampler's either way */
    int32_t tf[3] = {-1, -1, -7};
    cr_assert_eq(cosmos_op_sample(be, cosmos_tensor_1d(tf, COSMOS_I32, 2), cosmos_tensor_1d(lg, COSMOS_F32, V),
                                  &cases[1], 11),
                 COSMOS_OK);
    cr_expect(tf[0] == tok_at(lg, V, &cases[1], 11) && tf[1] == 0 && tf[2] == -7, "finite: %d %d %d", tf[0], tf[1], tf[2]);
    const float bad_values[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        const float keep = lg[V - 5];
        lg[V - 5] = bad_values[k];
        tf[1] = -1;
        cr_assert_eq(cosmos_op_sample(be, cosmos_tensor_1d(tf, COSMOS_I32, 2), cosmos_tensor_1d(lg, COSMOS_F32, V),
                                      &cases[0], 11),
                     COSMOS_OK);
        cr_expect_eq(tf[1], 1, "a %g logit sets the flag", (double)bad_values[k]);
        lg[V - 5] = keep;
    }
    cr_expect_neq(cosmos_op_sample(be, cosmos_tensor_1d(tf, COSMOS_I32, 3), cosmos_tensor_1d(lg, COSMOS_F32, V),
                                   &cases[0], 0),
                  COSMOS_OK, "a three-element token is refused");
    free(lg);
    cosmos_backend_free(be);
}

/* The reference: softmax, a full sort of all V tokens, top-k, the top-p edge rule, the inverse-CDF
 * draw, written as plainly as possible. The sampler sorts only the candidates that can be kept; it
 * must draw exactly the same token. */
struct ref_pi {
    float p;
    int id;
};
static int ref_cmp(const void *a, const void *b) {
    const struct ref_pi *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}
static int ref_sample(const struct cosmos_sampler_params *sp, const float *lg, int V, int64_t pos) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (lg[i] > lg[best]) best = i;
    if (sp->temperature == 0.0f) return best;
    struct ref_pi *q = malloc(sizeof *q * (size_t)V);
    const float inv_t = 1.0f / sp->temperature;
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        q[i].p = (float)exp((double)((lg[i] - lg[best]) * inv_t));
        q[i].id = i;
        sum += q[i].p;
    }
    for (int i = 0; i < V; i++) q[i].p = (float)(q[i].p / sum);
    qsort(q, (size_t)V, sizeof *q, ref_cmp);
    int n = V;
    if (sp->top_k > 0 && sp->top_k < V) {
        n = sp->top_k;
        double kept = 0.0;
        for (int i = 0; i < n; i++) kept += q[i].p;
        for (int i = 0; i < n; i++) q[i].p = (float)(q[i].p / kept);
    }
    double before = 0.0;
    int kept_n = 0;
    for (int i = 0; i < n && !(before > (double)sp->top_p); i++) {
        before += q[i].p;
        kept_n = i + 1;
    }
    const double u = cosmos_rng_uniform(sp->seed, COSMOS_RNG_STREAM_SAMPLE, (uint64_t)pos) * before;
    double c = 0.0;
    int tok = q[kept_n - 1].id;
    for (int i = 0; i < kept_n; i++) {
        c += q[i].p;
        if (u < c) {
            tok = q[i].id;
            break;
        }
    }
    free(q);
    return tok;
}

Test(sampler, candidates_draw_what_a_full_sort_draws) {
    const int Vs[] = {7, 513, 64000};
    const float temps[] = {0.5f, 1.0f, 2.0f};
    const float top_ps[] = {0.05f, 0.5f, 0.8f, 0.95f, 0.999f, 1.0f};
    const int top_ks[] = {0, 1, 5, 100, 70000};
    int checked = 0;
    for (int vi = 0; vi < 3; vi++) {
        const int V = Vs[vi];
        float *lg = malloc(sizeof(float) * (size_t)V);
        for (int kind = 0; kind < 5; kind++) {
            for (int i = 0; i < V; i++) {
                const float z = cosmos_rng_normal(11, (uint64_t)kind, (uint64_t)i);
                lg[i] = kind == 0   ? 3.0f * z                        /* broad */
                        : kind == 1 ? 0.1f * z                        /* nearly flat */
                        : kind == 2 ? (i % 97 == 0 ? 12.0f : z)       /* a few peaks */
                        : kind == 3 ? roundf(2.0f * z)                /* many exact ties */
                                    : (i == V / 2 ? 40.0f : -40.0f);  /* one token holds everything */
            }
            for (int ti = 0; ti < 3; ti++)
                for (int pi = 0; pi < 6; pi++)
                    for (int ki = 0; ki < 5; ki++) {
                        const struct cosmos_sampler_params sp = {temps[ti], top_ps[pi], top_ks[ki],
                                                                 (uint64_t)(vi * 100 + kind)};
                        cosmos_sampler_t *s = NULL;
                        cr_assert_eq(cosmos_sampler_init(&sp, V, &s), COSMOS_OK);
                        const int n_pos = V > 10000 ? 2 : 6;
                        for (int64_t pos = 0; pos < n_pos; pos++) {
                            const int got = cosmos_sampler_sample(s, lg, pos * 7919), want = ref_sample(&sp, lg, V, pos * 7919);
                            cr_expect_eq(got, want, "V %d kind %d T %g top_p %g top_k %d pos %lld: %d vs %d", V, kind,
                                         (double)sp.temperature, (double)sp.top_p, sp.top_k, (long long)pos, got, want);
                            checked++;
                        }
                        cosmos_sampler_free(s);
                    }
        }
        free(lg);
    }
    cr_log_info("%d draws equal to the full-sort reference", checked);
}
