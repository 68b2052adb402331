/* Tensor and pipeline parallelism under mpirun (-np 1, 2, 4 --oversubscribe): for the tiny config of
 * each of the four architectures and every layout tp x pp = world size with pp <= 2 (the tiny models
 * have two layers), every rank loads its part and must produce
 *   - teacher-forced prefill logits equal to a single-process run (computed by every rank itself
 *     with the whole model) within 1e-5,
 *   - the same logits through the decode path,
 *   - identical greedy and seeded top-p token streams;
 * and hold only its share of the weights. A layout that cannot split a model is rejected on every
 * rank, and a rank that fails to load is seen by all (cosmos_comm_all_ok, as cli_session_open does).
 * cosmos_ar_memory_plan gives each load's allocations byte for byte. Prints "N passed, M failed" (rank 0) and exits non-zero on any failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/ar_generate.h"
#include "core/model/ar_model.h"
#include "core/model/ar_weights.h"
#include "core/model/sampler.h"
#include "cosmos_build_config.h"
#include "parallel/comm.h"
#include "parallel/shard.h"

static int g_pass, g_fail, g_rank;
enum { N_SEQ = 3 }; /* sequences each model holds (cosmos_ar_generate) */

#define EXPECT(cond, ...)                                          \
    do {                                                           \
        if (cond)                                                  \
            g_pass++;                                              \
        else {                                                     \
            g_fail++;                                              \
            fprintf(stderr, "[rank %d] FAIL %s:%d: ", g_rank, __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                          \
            fprintf(stderr, "\n");                                 \
        }                                                          \
    } while (0)

struct golden {
    int32_t *tokens;
    int n;
    float *ctx;
    int ctx_rows, ctx_cols;
};

static int load_golden(const char *name, struct golden *g) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/%s.golden.h5", COSMOS_SOURCE_DIR, name);
    cosmos_h5_t *h = NULL;
    if (cosmos_h5_open(path, &h) != COSMOS_OK) return -1;
    struct cosmos_h5_info ti;
    cosmos_h5_info(h, "tokens", &ti);
    g->n = (int)ti.shape[0];
    g->tokens = malloc(sizeof(int32_t) * (size_t)g->n);
    cosmos_h5_read(h, "tokens", COSMOS_I32, g->tokens);
    g->ctx = NULL;
    if (cosmos_h5_has_dataset(h, "context")) {
        struct cosmos_h5_info ci;
        cosmos_h5_info(h, "context", &ci);
        g->ctx_rows = (int)ci.shape[0];
        g->ctx_cols = (int)ci.shape[1];
        g->ctx = malloc(sizeof(float) * (size_t)(g->ctx_rows * g->ctx_cols));
        cosmos_h5_read(h, "context", COSMOS_F32, g->ctx);
    }
    cosmos_h5_close(h);
    return 0;
}

static cosmos_ar_model_t *load_pp(const char *name, cosmos_backend_t *be, cosmos_comm_t *tp, cosmos_comm_t *pp,
                                  const struct golden *g) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/%s.h5", COSMOS_SOURCE_DIR, name);
    struct cosmos_ar_load_params lp = cosmos_ar_load_params_default();
    lp.tp_comm = tp;
    lp.pp_comm = pp;
    lp.max_chunk = 16; /* several chunks per prefill */
    lp.n_seq = N_SEQ;
    cosmos_ar_model_t *m = NULL;
    if (cosmos_ar_model_load(path, be, &lp, &m) != COSMOS_OK) return NULL;
    for (int sq = N_SEQ - 1; g->ctx && sq >= 0; sq--) {
        if (cosmos_ar_use_seq(m, sq) != COSMOS_OK || cosmos_ar_set_context(m, g->ctx, g->ctx_rows, g->ctx_cols) != COSMOS_OK) {
            cosmos_ar_model_free(m);
            return NULL;
        }
    }
    return m;
}

static cosmos_ar_model_t *load(const char *name, cosmos_backend_t *be, cosmos_comm_t *tp, const struct golden *g) {
    return load_pp(name, be, tp, NULL, g);
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* Prompt of half the sequence, then n_gen sampled tokens. */
static void generate(cosmos_ar_model_t *m, const struct golden *g, float temperature, float top_p, int n_gen,
                     int32_t *out) {
    const int V = cosmos_ar_model_config(m)->vocab_size, P = g->n / 2;
    struct cosmos_sampler_params sp = {temperature, top_p, 0, 1234};
    cosmos_sampler_t *s = NULL;
    cosmos_sampler_init(&sp, V, &s);
    float *lg = malloc(sizeof(float) * (size_t)V);
    cosmos_ar_forward(m, g->tokens, P, 0, COSMOS_LOGITS_LAST, lg);
    out[0] = cosmos_sampler_sample(s, lg, P);
    for (int i = 1; i < n_gen; i++) {
        cosmos_ar_forward(m, &out[i - 1], 1, P + i - 1, COSMOS_LOGITS_LAST, lg);
        out[i] = cosmos_sampler_sample(s, lg, P + i);
    }
    free(lg);
    cosmos_sampler_free(s);
}

/* world = tp x pp ranks: world rank r is pipeline stage r / tp, tensor rank r % tp */
static void check_model(const char *name, cosmos_comm_t *world, int tp, int pp, cosmos_backend_t *be) {
    struct golden g;
    EXPECT(load_golden(name, &g) == 0, "%s: golden file", name);
    cosmos_comm_t *tpc = NULL, *ppc = NULL;
    cosmos_comm_split(world, g_rank / tp, g_rank, &tpc);
    cosmos_comm_split(world, g_rank % tp, g_rank, &ppc);
    cosmos_ar_model_t *full = load(name, be, NULL, &g);
    cosmos_ar_model_t *part = load_pp(name, be, tp > 1 ? tpc : NULL, pp > 1 ? ppc : NULL, &g);
    EXPECT(full && part, "%s: load (tp %d, pp %d)", name, tp, pp);
    if (!full || !part) return;
    { /* the memory plan (from the config alone) is what the loads allocated, byte for byte */
        const struct cosmos_ar_config *c = cosmos_ar_model_config(full);
        struct cosmos_ar_part whole = cosmos_ar_part_whole(c), mine = {tp, g_rank % tp, 0, 0, 0, 0};
        const int stage = g_rank / tp;
        EXPECT(cosmos_pp_stage_layers(c, pp, NULL, stage, &mine.layer0, &mine.layer1) == COSMOS_OK, "stage layers");
        mine.first_stage = stage == 0, mine.last_stage = stage == pp - 1;
        const struct cosmos_ar_part *parts[2] = {&whole, &mine};
        cosmos_ar_model_t *models[2] = {full, part};
        for (int k = 0; k < 2; k++) {
            struct cosmos_ar_memory pl, got = cosmos_ar_model_memory(models[k]);
            EXPECT(cosmos_ar_memory_plan(c, parts[k], N_SEQ, 16, cosmos_backend_act_dtype(be), &pl) == COSMOS_OK,
                   "%s: memory plan", name);
            EXPECT(pl.weight_bytes == got.weight_bytes && pl.kv_bytes == got.kv_bytes &&
                       pl.context_bytes == got.context_bytes && pl.table_bytes == got.table_bytes &&
                       pl.scratch_bytes == got.scratch_bytes,
                   "%s tp %d pp %d (%s): planned weights %zu kv %zu context %zu tables %zu scratch %zu, loaded %zu %zu "
                   "%zu %zu %zu",
                   name, tp, pp, k ? "this rank's part" : "whole", pl.weight_bytes, pl.kv_bytes, pl.context_bytes,
                   pl.table_bytes, pl.scratch_bytes, got.weight_bytes, got.kv_bytes, got.context_bytes,
                   got.table_bytes, got.scratch_bytes);
        }
    }
    const int V = cosmos_ar_model_config(full)->vocab_size, n = g.n;
    float *a = malloc(sizeof(float) * (size_t)(n * V)), *b = malloc(sizeof(float) * (size_t)(n * V));
    EXPECT(cosmos_ar_forward(full, g.tokens, n, 0, COSMOS_LOGITS_ALL, a) == COSMOS_OK, "%s: full forward", name);
    EXPECT(cosmos_ar_forward(part, g.tokens, n, 0, COSMOS_LOGITS_ALL, b) == COSMOS_OK, "%s: tp forward", name);
    double d = max_diff(a, b, (size_t)(n * V));
    EXPECT(d <= 1e-5, "%s: tp %d pp %d prefill logits differ from one process by %.3g", name, tp, pp, d);
    for (int t = 0; t < n; t++) cosmos_ar_forward(part, g.tokens + t, 1, t, COSMOS_LOGITS_LAST, b + (size_t)t * V);
    d = max_diff(a, b, (size_t)(n * V));
    EXPECT(d <= 1e-5, "%s: tp %d pp %d decode logits differ from one process by %.3g", name, tp, pp, d);
    /* every rank must hold bit-identical logits (they sample independently) */
    float *all = malloc(sizeof(float) * (size_t)(n * V) * (size_t)cosmos_comm_size(world));
    cosmos_comm_allgather(world, b, all, sizeof(float) * (size_t)(n * V));
    for (int r = 1; r < cosmos_comm_size(world); r++)
        EXPECT(memcmp(all, all + (size_t)r * n * V, sizeof(float) * (size_t)(n * V)) == 0,
               "%s: rank %d logits are not bit-identical to rank 0", name, r);
    free(all);
    enum { NG = 20 };
    int32_t ga[NG], gb[NG];
    generate(full, &g, 0.0f, 1.0f, NG, ga);
    generate(part, &g, 0.0f, 1.0f, NG, gb);
    EXPECT(memcmp(ga, gb, sizeof ga) == 0, "%s: greedy tokens differ under tp %d pp %d", name, tp, pp);
    generate(full, &g, 1.0f, 0.9f, NG, ga);
    generate(part, &g, 1.0f, 0.9f, NG, gb);
    EXPECT(memcmp(ga, gb, sizeof ga) == 0, "%s: seeded top-p tokens differ under tp %d pp %d", name, tp, pp);
    /* several sequences in flight (pipelined when pp > 1): each must equal its own single run */
    {
        enum { NB = 12 };
        int32_t o_full[N_SEQ][NB], o_part[N_SEQ][NB];
        int32_t *pf[N_SEQ], *pq[N_SEQ];
        const int32_t *pr[N_SEQ];
        int plen[N_SEQ];
        uint64_t seeds[N_SEQ];
        for (int i = 0; i < N_SEQ; i++) {
            pf[i] = o_full[i];
            pq[i] = o_part[i];
            pr[i] = g.tokens;
            plen[i] = g.n / 2 - 5 * i; /* different prompts (prefixes) and seeds */
            seeds[i] = 1234 + (uint64_t)i;
        }
        struct cosmos_sampler_params sp = {1.0f, 0.9f, 0, 0};
        EXPECT(cosmos_ar_generate(full, N_SEQ, pr, plen, NB, &sp, seeds, pf, NULL) == COSMOS_OK, "%s: generate", name);
        EXPECT(cosmos_ar_generate(part, N_SEQ, pr, plen, NB, &sp, seeds, pq, NULL) == COSMOS_OK,
               "%s: generate tp %d pp %d", name, tp, pp);
        EXPECT(memcmp(o_full, o_part, sizeof o_full) == 0, "%s: %d sequences in flight differ under tp %d pp %d", name,
               N_SEQ, tp, pp);
        /* sequence 0 of the batch == the plain one-sequence loop (same prompt g.n/2 and seed 1234) */
        cosmos_ar_use_seq(full, 0);
        int32_t one[NB];
        generate(full, &g, 1.0f, 0.9f, NB, one);
        EXPECT(memcmp(one, o_full[0], sizeof one) == 0, "%s: batched sequence 0 differs from a single run", name);
    }
    size_t wf = cosmos_ar_model_memory(full).weight_bytes, wp = cosmos_ar_model_memory(part).weight_bytes;
    const int share = tp * pp;
    EXPECT(share == 1 ? wp == wf : wp < wf / share + wf / 3, "%s: rank holds %zu of %zu weight bytes at tp %d pp %d",
           name, wp, wf, tp, pp);
    if (g_rank == 0)
        printf("%s: tp %d pp %d, max |parallel - single| %.3g, rank 0 holds %zu of %zu weight bytes\n", name, tp, pp,
               d, wp, wf);
    free(a);
    free(b);
    free(g.tokens);
    free(g.ctx);
    cosmos_ar_model_free(full);
    cosmos_ar_model_free(part);
    cosmos_comm_free(tpc);
    cosmos_comm_free(ppc);
}

int main(void) {
    cosmos_comm_t *world = NULL;
    if (cosmos_comm_mpi_world(&world) != COSMOS_OK) return 1;
    g_rank = cosmos_comm_rank(world);
    cosmos_log_set_level(COSMOS_LOG_WARN);
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = 1;
    cosmos_backend_t *be = NULL;
    cosmos_backend_create("cpu", &bp, &be);
    const char *names[] = {"tiny-ar-4b", "tiny-ar-5b-video2world", "tiny-ar-12b", "tiny-ar-13b-video2world"};
    const int n = cosmos_comm_size(world);
    for (int pp = 1; pp <= 2 && pp <= n; pp++) { /* the tiny models have 2 layers */
        if (n % pp) continue;
        for (int i = 0; i < 4; i++) check_model(names[i], world, n / pp, pp, be);
    }

    /* a layout that cannot work is rejected on every rank, with no hang: 3 ranks cannot split 8 heads */
    if (cosmos_comm_size(world) >= 3) {
        cosmos_comm_t *sub = NULL;
        const int in3 = g_rank < 3;
        cosmos_comm_split(world, in3, g_rank, &sub);
        if (in3) {
            struct golden g = {0};
            cosmos_ar_model_t *m = load("tiny-ar-4b", be, sub, &g);
            EXPECT(m == NULL, "tp 3 over 8 heads must be rejected");
            cosmos_ar_model_free(m);
        }
        cosmos_comm_free(sub);
    }
    /* a rank that fails to load: every rank learns it through all_ok instead of hanging later */
    if (cosmos_comm_size(world) >= 2) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/data/%s.h5", COSMOS_SOURCE_DIR, g_rank == 1 ? "no-such-model" : "tiny-ar-4b");
        struct cosmos_ar_load_params lp = cosmos_ar_load_params_default();
        lp.tp_comm = world;
        cosmos_ar_model_t *m = NULL;
        cosmos_status st = cosmos_ar_model_load(path, be, &lp, &m);
        int all_ok = 1;
        EXPECT(cosmos_comm_all_ok(world, st == COSMOS_OK, &all_ok) == COSMOS_OK, "all_ok");
        EXPECT(!all_ok, "rank 1's load failure is seen by every rank");
        EXPECT((g_rank == 1) == (st != COSMOS_OK), "only rank 1 failed to load");
        cosmos_ar_model_free(m);
    }
    int pass = g_pass, fail = g_fail, sums[2] = {0, 0};
    float loc[2] = {(float)pass, (float)fail};
    cosmos_comm_allreduce_sum(world, loc, 2);
    sums[0] = (int)loc[0];
    sums[1] = (int)loc[1];
    if (g_rank == 0) printf("%d passed, %d failed\n", sums[0], sums[1]);
    cosmos_backend_free(be);
    cosmos_comm_free(world);
    return sums[1] ? 1 : 0;
}
