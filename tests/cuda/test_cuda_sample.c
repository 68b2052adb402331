/* GPU sampler parity (issue 4; spec ar-model.md section 5): kernels/cuda/sample.cu against the CPU
 * sampler, token for token. The device Philox uniform against cosmos_rng_uniform bit for bit;
 * greedy with ties and NaNs; temperature 0.5 / 1 / 2 with top-p 0.05 / 0.8 / 0.9 / 1 and top-k off
 * / 1 / 5 / 40 / 100 / >= V, on V = 64000 (the real vocab) and odd small V, over random, wide,
 * peaked, quantized (many exact ties) and flat logits, at many positions; the device-position
 * variant, also replayed from a captured CUDA graph. Every GPU token must equal
 * cosmos_sampler_sample's. Without a CUDA device every test reports SKIPPED (cr_skip_test). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "core/model/sampler.h"
#include "core/rng.h"
#include "kernels/cuda/cuda_sample.h"

#define VOCAB 64000

static cudaStream_t stream;

/* Skips the calling test (visibly) when this machine has no CUDA device; else makes a stream. */
static void open_device(void) {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) cr_skip_test("no CUDA device: cudaGetDeviceCount: %s", cudaGetErrorString(err));
    if (n == 0) cr_skip_test("no CUDA device: cudaGetDeviceCount returned 0");
    cr_assert_eq(cudaSetDevice(0), cudaSuccess);
    cr_assert_eq(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
}
static void close_device(void) {
    if (stream) cudaStreamDestroy(stream);
    stream = NULL;
}

static void *dev_alloc(size_t bytes) {
    void *d = NULL;
    cudaError_t err = cudaMalloc(&d, bytes);
    cr_assert_eq(err, cudaSuccess, "cudaMalloc(%zu): %s", bytes, cudaGetErrorString(err));
    return d;
}
/* Copies on the test's stream, then waits for it (so the host buffer may be reused at once). */
static void upload(void *d, const void *h, size_t bytes) {
    cr_assert_eq(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, stream), cudaSuccess);
    cr_assert_eq(cudaStreamSynchronize(stream), cudaSuccess);
}
static void download(void *h, const void *d, size_t bytes) {
    cr_assert_eq(cudaMemcpyAsync(h, d, bytes, cudaMemcpyDeviceToHost, stream), cudaSuccess);
    cudaError_t err = cudaStreamSynchronize(stream);
    cr_assert_eq(err, cudaSuccess, "stream: %s", cudaGetErrorString(err));
}

/* ---- logits ---- */

enum logit_kind { LG_NORMAL, LG_WIDE, LG_PEAKED, LG_QUANTIZED, LG_FLAT, LG_N };
static const char *const kind_name[LG_N] = {"normal", "wide", "peaked", "quantized", "flat"};

/* normal: N(0,1); wide: N(0,30), most probabilities underflow to 0 (ties at 0); peaked: N(0,1)
 * plus two dominant tokens, so the top-p cut falls right after them; quantized: N(0,2) rounded to
 * halves, many exactly equal probabilities; flat: all equal (the sort order is the id order). */
static void make_logits(float *lg, int V, enum logit_kind kind, uint64_t seed) {
    for (int i = 0; i < V; i++) {
        const float z = cosmos_rng_normal(seed, 0x4c4f47u, (uint64_t)i);
        switch (kind) {
        case LG_NORMAL:
        case LG_PEAKED: lg[i] = z; break;
        case LG_WIDE: lg[i] = 30.0f * z; break;
        case LG_QUANTIZED: lg[i] = roundf(4.0f * z) * 0.5f; break;
        default: lg[i] = 0.25f; break;
        }
    }
    if (kind == LG_PEAKED) {
        lg[(int)(seed % (uint64_t)V)] += 12.0f;
        lg[(int)((seed * 7 + 3) % (uint64_t)V)] += 11.0f;
    }
}

/* ---- GPU vs CPU draws ---- */

static long n_draws, n_bad; /* totals over a test */

/* Draws token j from logits at position pos[j] on the GPU (all launched, then one download) and on
 * the CPU; every pair must be equal. pos_d: device copy of pos, then the device-position variant. */
static void compare_draws(const char *what, cosmos_cuda_sampler_t *gs, const float *lg, const float *lg_d, int V,
                          struct cosmos_sampler_params p, const int64_t *pos, const int64_t *pos_d, int n) {
    int32_t *tok_d = dev_alloc(sizeof(int32_t) * (size_t)n), *got = malloc(sizeof(int32_t) * (size_t)n);
    for (int j = 0; j < n; j++) {
        const cosmos_status st = pos_d ? cosmos_cuda_sample_devpos(gs, tok_d + j, NULL, lg_d, &p, pos_d + j, stream)
                                       : cosmos_cuda_sample(gs, tok_d + j, NULL, lg_d, &p, pos[j], stream);
        cr_assert_eq(st, COSMOS_OK, "%s: launch %d", what, j);
    }
    download(got, tok_d, sizeof(int32_t) * (size_t)n);
    cosmos_sampler_t *cs = NULL;
    cr_assert_eq(cosmos_sampler_init(&p, V, &cs), COSMOS_OK);
    int bad = 0;
    for (int j = 0; j < n; j++) {
        const int want = cosmos_sampler_sample(cs, lg, pos[j]);
        if (got[j] != want && bad++ < 5)
            cr_log_error("%s (T=%g top_p=%g top_k=%d seed=%llu) position %lld: cuda %d cpu %d", what, p.temperature,
                         p.top_p, p.top_k, (unsigned long long)p.seed, (long long)pos[j], got[j], want);
    }
    cr_expect_eq(bad, 0, "%s: %d of %d GPU tokens differ from the CPU sampler's", what, bad, n);
    n_draws += n;
    n_bad += bad;
    cosmos_sampler_free(cs);
    cudaFree(tok_d);
    free(got);
}

struct cfg {
    float t, top_p;
    int top_k;
};
static const struct cfg cfgs[] = {
    {1.0f, 0.8f, 0},  {1.0f, 1.0f, 0},  {1.0f, 0.05f, 0}, {1.0f, 1.0f, 1},   {1.0f, 1.0f, 5},
    {1.0f, 0.8f, 5},  {1.0f, 0.05f, 5}, {1.0f, 0.9f, 40}, {0.5f, 0.8f, 0},   {0.5f, 1.0f, 5},
    {2.0f, 0.9f, 0},  {2.0f, 1.0f, 0},  {2.0f, 0.8f, 100}, {1.0f, 0.8f, 1 << 30}, {0.0f, 0.8f, 0},
};
#define N_CFG ((int)(sizeof cfgs / sizeof cfgs[0]))

static uint64_t cfg_seed(int c) { return (c & 1) ? 0x9E3779B97F4A7C15ull * (uint64_t)(c + 1) : (uint64_t)c; }

/* n positions for configuration c: small, large and beyond 2^32 (both counter words used). */
static void make_positions(int64_t *pos, int n, int c) {
    for (int j = 0; j < n; j++) pos[j] = (int64_t)j * 1000003 + c * 7 + ((j % 4 == 3) ? (int64_t)1 << 33 : 0);
}

/* Every configuration, every logit kind, n_pos positions each, at vocab size V. */
static void check_vocab(int V, int n_pos, int devpos) {
    cosmos_cuda_sampler_t *gs = NULL;
    cr_assert_eq(cosmos_cuda_sampler_init(V, &gs), COSMOS_OK);
    float *lg = malloc(sizeof(float) * (size_t)V), *lg_d = dev_alloc(sizeof(float) * (size_t)V);
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)n_pos), *pos_d = dev_alloc(sizeof(int64_t) * (size_t)n_pos);
    for (int k = 0; k < LG_N; k++) {
        make_logits(lg, V, (enum logit_kind)k, 1000u + (uint64_t)V + (uint64_t)k);
        upload(lg_d, lg, sizeof(float) * (size_t)V);
        for (int c = 0; c < N_CFG; c++) {
            char what[96];
            snprintf(what, sizeof what, "V=%d %s logits%s", V, kind_name[k], devpos ? ", device position" : "");
            const struct cosmos_sampler_params p = {cfgs[c].t, cfgs[c].top_p, cfgs[c].top_k, cfg_seed(c)};
            make_positions(pos, n_pos, c);
            if (devpos) upload(pos_d, pos, sizeof(int64_t) * (size_t)n_pos);
            compare_draws(what, gs, lg, lg_d, V, p, pos, devpos ? pos_d : NULL, n_pos);
        }
    }
    cudaFree(pos_d);
    cudaFree(lg_d);
    free(pos);
    free(lg);
    cosmos_cuda_sampler_free(gs);
}

/* ---- tests ---- */

Test(cuda_sample, philox_uniform_matches_cpu, .init = open_device, .fini = close_device) {
    enum { N = 8192 };
    const uint64_t seeds[8] = {0, 1, 42, 0xFFFFFFFFull, 0x100000000ull, 0x123456789ABCDEF0ull, UINT64_MAX,
                               0x9E3779B97F4A7C15ull};
    const uint64_t streams[3] = {COSMOS_RNG_STREAM_SAMPLE, 0, 0xFEDCBA9876543210ull};
    uint64_t *seed = malloc(sizeof(uint64_t) * N), *index = malloc(sizeof(uint64_t) * N);
    double *got = malloc(sizeof(double) * N);
    for (int i = 0; i < N; i++) {
        seed[i] = seeds[i % 8];
        if (i % 9 == 8) /* 64 scrambled bits */
            seed[i] = ((uint64_t)(cosmos_rng_uniform(5, 6, (uint64_t)i) * 9007199254740992.0) << 11) ^ (uint64_t)i;
        switch ((i / 8) % 4) {
        case 0: index[i] = (uint64_t)i; break;
        case 1: index[i] = (uint64_t)i * 0x9E3779B97F4A7C15ull; break;
        case 2: index[i] = 0xFFFFFFFFull - 50 + (uint64_t)i; break; /* across the 32-bit word boundary */
        default: index[i] = UINT64_MAX - (uint64_t)i; break;
        }
    }
    uint64_t *seed_d = dev_alloc(sizeof(uint64_t) * N), *index_d = dev_alloc(sizeof(uint64_t) * N);
    double *out_d = dev_alloc(sizeof(double) * N);
    upload(seed_d, seed, sizeof(uint64_t) * N);
    upload(index_d, index, sizeof(uint64_t) * N);
    for (int s = 0; s < 3; s++) {
        cr_assert_eq(cosmos_cuda_rng_uniform_test(out_d, seed_d, index_d, N, streams[s], stream), COSMOS_OK);
        download(got, out_d, sizeof(double) * N);
        int bad = 0;
        for (int i = 0; i < N; i++) {
            const double want = cosmos_rng_uniform(seed[i], streams[s], index[i]);
            if (memcmp(&got[i], &want, sizeof want) != 0 && bad++ < 5)
                cr_log_error("uniform(seed %llu, stream %llu, index %llu): cuda %.17g cpu %.17g",
                             (unsigned long long)seed[i], (unsigned long long)streams[s], (unsigned long long)index[i],
                             got[i], want);
        }
        cr_expect_eq(bad, 0, "stream %llu: %d of %d device uniforms differ from cosmos_rng_uniform",
                     (unsigned long long)streams[s], bad, N);
    }
    cudaFree(seed_d);
    cudaFree(index_d);
    cudaFree(out_d);
    free(seed), free(index), free(got);
}

/* Greedy: the expected token and the CPU's agree, for each logits vector below. */
static void check_greedy(const char *what, const float *lg, int V, int want) {
    cosmos_cuda_sampler_t *gs = NULL;
    cr_assert_eq(cosmos_cuda_sampler_init(V, &gs), COSMOS_OK);
    float *lg_d = dev_alloc(sizeof(float) * (size_t)V);
    int32_t *tok_d = dev_alloc(sizeof(int32_t));
    int32_t got = -1;
    upload(lg_d, lg, sizeof(float) * (size_t)V);
    const struct cosmos_sampler_params p = {0.0f, 0.8f, 0, 0};
    cr_assert_eq(cosmos_cuda_sample(gs, tok_d, NULL, lg_d, &p, 123, stream), COSMOS_OK);
    download(&got, tok_d, sizeof got);
    cosmos_sampler_t *cs = NULL;
    cr_assert_eq(cosmos_sampler_init(&p, V, &cs), COSMOS_OK);
    const int cpu = cosmos_sampler_sample(cs, lg, 123);
    cr_expect_eq(cpu, want, "%s: the CPU sampler gives %d, expected %d", what, cpu, want);
    cr_expect_eq(got, want, "%s: cuda %d, expected %d", what, got, want);
    cosmos_sampler_free(cs);
    cudaFree(lg_d);
    cudaFree(tok_d);
    cosmos_cuda_sampler_free(gs);
}

Test(cuda_sample, greedy_argmax_lowest_index_on_ties, .init = open_device, .fini = close_device) {
    const float ties[6] = {0.1f, 3.0f, -1.0f, 3.0f, 2.9f, 0.0f};
    check_greedy("ties", ties, 6, 1);
    const float one[1] = {-5.0f};
    check_greedy("V=1", one, 1, 0);
    const float zeros[5] = {-0.0f, 0.0f, -0.0f, 0.0f, -1.0f}; /* -0 == +0: the first one */
    check_greedy("signed zeros", zeros, 5, 0);
    const float ninf[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    check_greedy("all -inf", ninf, 4, 0);
    const float nan_first[4] = {NAN, 1.0f, 5.0f, 2.0f}; /* nothing compares greater than x[0] */
    check_greedy("NaN at 0", nan_first, 4, 0);
    const float nan_mid[5] = {1.0f, NAN, 5.0f, NAN, 5.0f};
    check_greedy("NaN inside", nan_mid, 5, 2);

    float *lg = malloc(sizeof(float) * VOCAB);
    make_logits(lg, VOCAB, LG_NORMAL, 77);
    lg[40000] = lg[1234] = lg[63999] = 9.0f;
    check_greedy("V=64000, max at 1234, 40000, 63999", lg, VOCAB, 1234);
    lg[1234] = 8.0f;
    lg[63999] = 9.5f;
    check_greedy("V=64000, max at the last index", lg, VOCAB, 63999);
    make_logits(lg, 513, LG_QUANTIZED, 78);
    int best = 0;
    for (int i = 1; i < 513; i++)
        if (lg[i] > lg[best]) best = i;
    check_greedy("V=513 quantized (ties)", lg, 513, best);
    free(lg);
}

/* The non-finite flag (cosmos_op_sample with a two-element token): 0 for finite logits, 1 with a
 * NaN or an infinity anywhere, greedy and sampled alike; the token is the one without the flag. */
Test(cuda_sample, nonfinite_flag, .init = open_device, .fini = close_device) {
    enum { V = 4099 };
    cosmos_cuda_sampler_t *gs = NULL;
    cr_assert_eq(cosmos_cuda_sampler_init(V, &gs), COSMOS_OK);
    float *lg = malloc(sizeof(float) * V), *lg_d = dev_alloc(sizeof(float) * V);
    int32_t *tok_d = dev_alloc(2 * sizeof(int32_t)), got[2], plain = -1;
    make_logits(lg, V, LG_NORMAL, 91);
    const struct cosmos_sampler_params ps[2] = {{0.0f, 0.8f, 0, 3}, {1.0f, 0.9f, 0, 3}};
    const float bad_values[3] = {NAN, INFINITY, -INFINITY};
    for (int k = -1; k < 3; k++) {
        if (k >= 0) lg[777] = bad_values[k];
        upload(lg_d, lg, sizeof(float) * V);
        for (int j = 0; j < 2; j++) {
            cr_assert_eq(cosmos_cuda_sample(gs, tok_d, tok_d + 1, lg_d, &ps[j], 40, stream), COSMOS_OK);
            download(got, tok_d, sizeof got);
            cr_expect_eq(got[1], k >= 0, "value %d, temperature %g: flag %d", k, (double)ps[j].temperature, got[1]);
            cr_assert_eq(cosmos_cuda_sample(gs, tok_d, NULL, lg_d, &ps[j], 40, stream), COSMOS_OK);
            download(&plain, tok_d, sizeof plain);
            cr_expect_eq(got[0], plain, "the flag changed the token (value %d)", k);
        }
    }
    free(lg);
    cudaFree(lg_d);
    cudaFree(tok_d);
    cosmos_cuda_sampler_free(gs);
}

Test(cuda_sample, top_p_edge_rule, .init = open_device, .fini = close_device) {
    /* sorted probs 0.5, 0.25, 0.125, 0.125 (ids 1, 3, 0, 2): with top_p 0.76 id 0 (mass before it
     * 0.75) is kept and id 2 (0.875) is not; top_p 0.75 is the exact edge. */
    const double probs[4] = {0.125, 0.5, 0.125, 0.25};
    float lg[4];
    for (int i = 0; i < 4; i++) lg[i] = (float)log(probs[i]);
    cosmos_cuda_sampler_t *gs = NULL;
    cr_assert_eq(cosmos_cuda_sampler_init(4, &gs), COSMOS_OK);
    float *lg_d = dev_alloc(sizeof lg);
    upload(lg_d, lg, sizeof lg);
    enum { N = 2000 };
    int64_t *pos = malloc(sizeof(int64_t) * N);
    for (int j = 0; j < N; j++) pos[j] = j;
    const float tps[4] = {0.76f, 0.75f, 0.5f, 1e-6f};
    n_draws = n_bad = 0;
    for (int t = 0; t < 4; t++) {
        const struct cosmos_sampler_params p = {1.0f, tps[t], 0, 7};
        compare_draws("4-token edge rule", gs, lg, lg_d, 4, p, pos, NULL, N);
    }
    cr_log_info("%ld draws compared, %ld differ", n_draws, n_bad);
    free(pos);
    cudaFree(lg_d);
    cosmos_cuda_sampler_free(gs);
}

Test(cuda_sample, matches_cpu_small_odd_vocab, .init = open_device, .fini = close_device) {
    n_draws = n_bad = 0;
    check_vocab(7, 16, 0);
    check_vocab(513, 8, 0);
    cr_log_info("%ld draws compared, %ld differ", n_draws, n_bad);
    cr_expect(n_draws >= 200, "only %ld draws", n_draws);
}

Test(cuda_sample, matches_cpu_vocab_64000, .init = open_device, .fini = close_device) {
    n_draws = n_bad = 0;
    check_vocab(VOCAB, 4, 0);
    cr_log_info("%ld draws compared, %ld differ", n_draws, n_bad);
    cr_expect(n_draws >= 200, "only %ld draws", n_draws);
}

Test(cuda_sample, device_position, .init = open_device, .fini = close_device) {
    n_draws = n_bad = 0;
    check_vocab(513, 4, 1);
    check_vocab(VOCAB, 2, 1);
    cr_log_info("%ld draws compared, %ld differ", n_draws, n_bad);
}

/* One sampling call captured into a CUDA graph (no allocation or sync inside, or the capture
 * fails), replayed with the position rewritten in device memory before each launch. */
static void check_graph(int V, struct cosmos_sampler_params p, enum logit_kind kind) {
    cosmos_cuda_sampler_t *gs = NULL;
    cr_assert_eq(cosmos_cuda_sampler_init(V, &gs), COSMOS_OK);
    float *lg = malloc(sizeof(float) * (size_t)V), *lg_d = dev_alloc(sizeof(float) * (size_t)V);
    make_logits(lg, V, kind, 4242u + (uint64_t)V);
    upload(lg_d, lg, sizeof(float) * (size_t)V);
    int64_t *pos_d = dev_alloc(sizeof(int64_t));
    int32_t *tok_d = dev_alloc(sizeof(int32_t));
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    /* one eager call first, as the prefill's sample is in the decode loop: kernels loaded (lazy
     * module loading) before the capture */
    cr_assert_eq(cosmos_cuda_sample(gs, tok_d, NULL, lg_d, &p, 0, stream), COSMOS_OK);
    cr_assert_eq(cudaStreamSynchronize(stream), cudaSuccess);
    cr_assert_eq(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
    const cosmos_status st = cosmos_cuda_sample_devpos(gs, tok_d, NULL, lg_d, &p, pos_d, stream);
    const cudaError_t end = cudaStreamEndCapture(stream, &graph);
    cr_assert_eq(st, COSMOS_OK, "sampling call under stream capture");
    cr_assert_eq(end, cudaSuccess, "cudaStreamEndCapture: %s", cudaGetErrorString(end));
    cr_assert_eq(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    cosmos_sampler_t *cs = NULL;
    cr_assert_eq(cosmos_sampler_init(&p, V, &cs), COSMOS_OK);
    int bad = 0;
    for (int j = 0; j < 40; j++) {
        const int64_t pos = 17 + (int64_t)j * 9973 + (j % 5 == 4 ? (int64_t)1 << 35 : 0);
        int32_t got = -1;
        cr_assert_eq(cudaMemcpyAsync(pos_d, &pos, sizeof pos, cudaMemcpyHostToDevice, stream), cudaSuccess);
        cr_assert_eq(cudaGraphLaunch(exec, stream), cudaSuccess);
        download(&got, tok_d, sizeof got);
        const int want = cosmos_sampler_sample(cs, lg, pos);
        if (got != want && bad++ < 5)
            cr_log_error("graph V=%d T=%g top_p=%g top_k=%d position %lld: cuda %d cpu %d", V, p.temperature, p.top_p,
                         p.top_k, (long long)pos, got, want);
        n_draws++;
    }
    cr_expect_eq(bad, 0, "graph replay V=%d T=%g top_p=%g top_k=%d: %d of 40 tokens differ", V, p.temperature, p.top_p,
                 p.top_k, bad);
    cosmos_sampler_free(cs);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaFree(tok_d);
    cudaFree(pos_d);
    cudaFree(lg_d);
    free(lg);
    cosmos_cuda_sampler_free(gs);
}

Test(cuda_sample, graph_replay_with_device_position, .init = open_device, .fini = close_device) {
    n_draws = 0;
    check_graph(VOCAB, (struct cosmos_sampler_params){1.0f, 0.8f, 0, 0}, LG_NORMAL);
    check_graph(VOCAB, (struct cosmos_sampler_params){1.0f, 0.9f, 0, 11}, LG_PEAKED);
    check_graph(513, (struct cosmos_sampler_params){2.0f, 1.0f, 5, 12}, LG_QUANTIZED);
    check_graph(VOCAB, (struct cosmos_sampler_params){0.0f, 0.8f, 0, 0}, LG_NORMAL);
    cr_log_info("%ld graph replays compared", n_draws);
}

Test(cuda_sample, rejects_bad_params, .init = open_device, .fini = close_device) {
    cosmos_cuda_sampler_t *gs = NULL;
    cr_expect_eq(cosmos_cuda_sampler_init(0, &gs), COSMOS_ERR_INVALID_ARG);
    cr_expect_null(gs);
    cr_assert_eq(cosmos_cuda_sampler_init(16, &gs), COSMOS_OK);
    float *lg_d = dev_alloc(sizeof(float) * 16);
    int32_t *tok_d = dev_alloc(sizeof(int32_t));
    const struct cosmos_sampler_params bad[] = {
        {-1.0f, 0.8f, 0, 0}, {1.0f, 0.0f, 0, 0}, {1.0f, 1.5f, 0, 0}, {1.0f, 0.8f, -2, 0}, {NAN, 0.8f, 0, 0}};
    for (int i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++)
        cr_expect_eq(cosmos_cuda_sample(gs, tok_d, NULL, lg_d, &bad[i], 0, stream), COSMOS_ERR_INVALID_ARG, "case %d", i);
    cr_expect_eq(cosmos_cuda_sample_devpos(gs, tok_d, NULL, lg_d, &(struct cosmos_sampler_params){1.0f, 0.8f, 0, 0}, NULL,
                                           stream),
                 COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cudaStreamSynchronize(stream), cudaSuccess);
    cudaFree(lg_d);
    cudaFree(tok_d);
    cosmos_cuda_sampler_free(gs);
}
