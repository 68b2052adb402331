/* CUDA parity of the Aegis check's language model (core/guardrail/llama.c, spec components.md 5.3) and
 * of the check itself on "cuda:0":
 *  - llama-tiny teacher-forced logits (tests/data/llama-tiny.h5) against the PyTorch reference's
 *    golden file, within a bf16-activation tolerance;
 *  - greedy generation on the GPU against the CPU backend's: the first token equal wherever the
 *    CPU's top-2 margin at the prompt's end exceeds the tolerance, every token inside the vocabulary;
 *  - the Aegis check with its model on cuda:0 (a random tiny Aegis file: its zeroed final norm makes
 *    every logit exactly 0, so the answer is token 0 and the prompt is safe on any backend).
 * Without a CUDA device every test reports SKIPPED (cr_skip_test); tests/cuda/run_skippable.sh turns
 * that into CTest's Skipped. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/backend.h"
#include "core/guardrail/aegis.h"
#include "core/guardrail/guardrail.h"
#include "core/guardrail/llama.h"
#include "core/h5file.h"
#include "cosmos_build_config.h"
#include "cuda_test_util.h"

/* bf16 activations through 2 layers vs the f32 reference: max |diff| over max |ref| (the DiT's
 * bound, tests/cuda/test_cuda_dit.c) */
#define LOGIT_REL 2e-2

/* A file of the source tree: under COSMOS_SOURCE_DIR from the environment when set (a GPU bundle run
 * elsewhere, tools/gpu/device_checks.sh), else the tree this was built from. */
static const char *src_path(const char *rel) {
    static char buf[4][1024];
    static int k;
    const char *e = getenv("COSMOS_SOURCE_DIR");
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", e && *e ? e : COSMOS_SOURCE_DIR, rel);
    return p;
}

static void *golden(const char *name, enum cosmos_dtype dt, int64_t *n) {
    cosmos_h5_t *h = NULL;
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_open(src_path("tests/data/llama-tiny.golden.h5"), &h), COSMOS_OK);
    cr_assert_eq(cosmos_h5_info(h, name, &info), COSMOS_OK);
    *n = 1;
    for (int i = 0; i < info.ndim; i++) *n *= info.shape[i];
    void *buf = malloc((size_t)*n * 4);
    cr_assert_eq(cosmos_h5_read(h, name, dt, buf), COSMOS_OK);
    cosmos_h5_close(h);
    return buf;
}

Test(cuda_llama, logits_match_the_reference) {
    cosmos_backend_t *cpu = NULL, *gpu = NULL;
    cuda_test_open_backends(&cpu, &gpu);
    cosmos_llama_t *m = NULL;
    cr_assert_eq(cosmos_llama_load(gpu, src_path("tests/data/llama-tiny.h5"), 0, &m), COSMOS_OK);
    int64_t n = 0, nl = 0;
    int32_t *ids = golden("tf_ids", COSMOS_I32, &n);
    float *want = golden("tf_logits", COSMOS_F32, &nl);
    float *got = malloc(sizeof(float) * (size_t)nl);
    cr_assert_eq(cosmos_llama_logits(m, ids, (int)n, got), COSMOS_OK);
    double max_ref = 0, max_diff = 0;
    for (int64_t i = 0; i < nl; i++) {
        max_ref = fmax(max_ref, fabs(want[i]));
        max_diff = fmax(max_diff, isfinite(got[i]) ? fabs(got[i] - want[i]) : INFINITY);
    }
    cr_log_info("llama-tiny logits on cuda:0: max |diff| %.3g, max |ref| %.3g", max_diff, max_ref);
    cr_expect(max_diff <= LOGIT_REL * max_ref, "max |diff| %.3g > %.3g", max_diff, LOGIT_REL * max_ref);
    free(ids), free(want), free(got);
    cosmos_llama_free(m);
    cuda_test_close_backends(&cpu, &gpu);
}

Test(cuda_llama, greedy_matches_the_cpu_where_the_margin_allows) {
    cosmos_backend_t *cpu = NULL, *gpu = NULL;
    cuda_test_open_backends(&cpu, &gpu);
    cosmos_llama_t *mc = NULL, *mg = NULL;
    cr_assert_eq(cosmos_llama_load(cpu, src_path("tests/data/llama-tiny.h5"), 0, &mc), COSMOS_OK);
    cr_assert_eq(cosmos_llama_load(gpu, src_path("tests/data/llama-tiny.h5"), 0, &mg), COSMOS_OK);
    const int V = cosmos_llama_get_config(mc)->vocab_size;
    int64_t np = 0;
    int32_t *prompt = golden("gen_prompt", COSMOS_I32, &np);
    float *lg = malloc(sizeof(float) * (size_t)(np * V));
    cr_assert_eq(cosmos_llama_logits(mc, prompt, (int)np, lg), COSMOS_OK);
    const float *last = lg + (np - 1) * V;
    float top1 = -INFINITY, top2 = -INFINITY, max_abs = 0;
    for (int i = 0; i < V; i++) {
        max_abs = fmaxf(max_abs, fabsf(last[i]));
        if (last[i] > top1)
            top2 = top1, top1 = last[i];
        else if (last[i] > top2)
            top2 = last[i];
    }
    int32_t oc[16], og[16];
    int nc = 0, ng = 0;
    cr_assert_eq(cosmos_llama_generate_greedy(mc, prompt, (int)np, 16, oc, &nc), COSMOS_OK);
    cr_assert_eq(cosmos_llama_generate_greedy(mg, prompt, (int)np, 16, og, &ng), COSMOS_OK);
    for (int i = 0; i < ng; i++) cr_expect(og[i] >= 0 && og[i] < V, "token %d: %d", i, og[i]);
    int same = 0;
    while (same < nc && same < ng && oc[same] == og[same]) same++;
    cr_log_info("greedy: %d of %d tokens as the CPU's; first-token margin %.3g", same, nc, top1 - top2);
    if (top1 - top2 > 2 * LOGIT_REL * max_abs) cr_expect(same >= 1, "the first token differs despite the margin");
    free(prompt), free(lg);
    cosmos_llama_free(mc);
    cosmos_llama_free(mg);
    cuda_test_close_backends(&cpu, &gpu);
}

Test(cuda_llama, aegis_check_on_the_gpu) {
    cosmos_backend_t *cpu = NULL, *gpu = NULL;
    cuda_test_open_backends(&cpu, &gpu);
    char path[1024];
    const char *t = getenv("COSMOS_TEST_TMP");
    snprintf(path, sizeof path, "%s/cuda-aegis.h5", t ? t : "/tmp");
    cr_assert_eq(cosmos_aegis_init_random(src_path("configs/models/aegis-tiny.json"), 2, path), COSMOS_OK);
    struct cosmos_guardrail_params p = cosmos_guardrail_params_default();
    p.checks[0] = "aegis";
    p.aegis_weights = path;
    p.backend = gpu;
    cosmos_guardrail_t *g = NULL;
    cr_assert_eq(cosmos_guardrail_load(&p, &g), COSMOS_OK);
    struct cosmos_guardrail_verdict v;
    cr_assert_eq(cosmos_guardrail_check_text(g, "a robot arm picks up a red cube", &v), COSMOS_OK);
    cr_expect(v.safe && v.n_checks_run == 1, "%s %s", v.check, v.reason);
    cosmos_guardrail_free(g);
    remove(path);
    cuda_test_close_backends(&cpu, &gpu);
}
