/* cosmos-bench-attention: the attention op (cosmos_op_attention, spec ar-model.md 1.3 steps 5-6; the
 * DiT's self- and cross-attention, components.md 4.4) alone, at the shapes where it costs most:
 * - dit-self:   the diffusion decoder's self-attention over one chunk, 20480 x 20480 keys, 32 heads of
 *               128, non-causal (thirty per block per chunk: the pipeline's largest FLOP count);
 * - dit-cross:  its cross-attention, 20480 queries over 512 context rows;
 * - ar-prefill: the 4B/5B transformer's prefill of two latent frames, 5120 tokens, causal, 32 query
 *               heads over 8 KV heads of 128;
 * or any T/S/H/Hkv/Dh/causal|full given in --shapes. Each is timed --reps times after one warm-up
 * (min and median; each call followed by a sync) on --backend. Floor: the FLOPs (QK^T and PV,
 * 4 Dh H per query-key pair; causal counts only the pairs it computes) at the rate of the backend's
 * own matmul measured in the same run (cuBLASLt bf16 on CUDA, [N x N] x [N x N], --gemm N, 4096); "of
 * floor" = floor / p50. On a CUDA backend the same shapes also run on a second backend made with
 * COSMOS_CUDA_ATTENTION=f32 (the f32 prefill kernel, the peer of the same run): the tensor-core
 * kernel's speed-up over it is printed. Output: a table headed by provenance, and --json FILE. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/provenance.h"
#include "core/backend.h"
#include "core/dtype.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/rng.h"
#include "launcher/cli.h"

#define MAX_SHAPES 8

struct shape {
    char name[128];
    int64_t T, S, H, Hkv, Dh;
    int causal; /* from position 0 (pos0 = S - T) */
};

static const struct shape presets[] = {
    {"dit-self", 20480, 20480, 32, 32, 128, 0},
    {"dit-cross", 20480, 512, 32, 32, 128, 0},
    {"ar-prefill", 5120, 5120, 32, 8, 128, 1},
};

static cosmos_status parse_shapes(const char *s, struct shape *out, int *n) {
    cosmos_status st = COSMOS_OK;
    *n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        CHECK_ARG(*n < MAX_SHAPES, COSMOS_ERR_INVALID_ARG, "--shapes: at most %d shapes", MAX_SHAPES);
        struct shape *sh = &out[*n];
        int found = 0;
        for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
            if (!strcmp(tok, presets[i].name)) *sh = presets[i], found = 1;
        if (!found) {
            long long T, S, H, Hkv, Dh;
            char mode[8] = "", extra;
            const int got = sscanf(tok, "%lld/%lld/%lld/%lld/%lld/%7[a-z]%c", &T, &S, &H, &Hkv, &Dh, mode, &extra);
            CHECK_ARG(got == 6 && (!strcmp(mode, "causal") || !strcmp(mode, "full")) && T > 0 && S >= T && H > 0 &&
                          Hkv > 0 && H % Hkv == 0 && Dh > 0 && Dh <= 256,
                      COSMOS_ERR_INVALID_ARG,
                      "--shapes: '%s' is neither dit-self, dit-cross, ar-prefill nor T/S/H/Hkv/Dh/causal|full "
                      "(T <= S, H a multiple of Hkv, Dh <= 256)", tok);
            *sh = (struct shape){.T = T, .S = S, .H = H, .Hkv = Hkv, .Dh = Dh, .causal = !strcmp(mode, "causal")};
            snprintf(sh->name, sizeof sh->name, "%lld/%lld/%lld/%lld/%lld/%s", T, S, H, Hkv, Dh, mode);
        }
        (*n)++;
    }
    CHECK_ARG(*n > 0, COSMOS_ERR_INVALID_ARG, "--shapes: no shape given");
fail:
    return st;
}

/* FLOPs of QK^T and PV over the query-key pairs the op computes. */
static double attention_flops(const struct shape *s) {
    const double pos0 = (double)(s->S - s->T), T = (double)s->T;
    const double pairs = s->causal ? T * pos0 + T * (T + 1) / 2 : T * (double)s->S;
    return 4.0 * (double)s->Dh * (double)s->H * pairs;
}

/* min and p50 seconds of reps calls after one warm-up */
static cosmos_status time_shape(cosmos_backend_t *be, const struct shape *s, int reps, double *mn, double *p50) {
    cosmos_status st = COSMOS_OK;
    const enum cosmos_dtype dt = cosmos_backend_act_dtype(be);
    void *q = NULL, *k = NULL, *v = NULL, *o = NULL;
    double *t = calloc((size_t)reps, sizeof *t);
    CHECK_ALLOC(t);
    CHECK(bench_upload_random(be, dt, s->T * s->H * s->Dh, 1, &q));
    CHECK(bench_upload_random(be, dt, s->S * s->Hkv * s->Dh, 2, &k));
    CHECK(bench_upload_random(be, dt, s->S * s->Hkv * s->Dh, 3, &v));
    CHECK(cosmos_backend_alloc(be, cosmos_dtype_size(dt) * (size_t)(s->T * s->H * s->Dh), &o));
    const struct cosmos_tensor to = cosmos_tensor_3d(o, dt, s->T, s->H, s->Dh),
                               tq = cosmos_tensor_3d(q, dt, s->T, s->H, s->Dh),
                               tk = cosmos_tensor_3d(k, dt, s->S, s->Hkv, s->Dh),
                               tv = cosmos_tensor_3d(v, dt, s->S, s->Hkv, s->Dh);
    const int pos0 = s->causal ? (int)(s->S - s->T) : 0;
    for (int r = -1; r < reps; r++) {
        const double t0 = cosmos_now_s();
        CHECK(cosmos_op_attention(be, to, tq, tk, tv, pos0, s->causal));
        CHECK(cosmos_backend_sync(be));
        if (r >= 0) t[r] = cosmos_now_s() - t0;
    }
    bench_min_p50(t, reps, mn, p50);
fail:
    cosmos_backend_free_mem(be, q);
    cosmos_backend_free_mem(be, k);
    cosmos_backend_free_mem(be, v);
    cosmos_backend_free_mem(be, o);
    free(t);
    return st;
}

int main(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *shapes_arg = "dit-self,dit-cross,ar-prefill", *json_out = NULL;
    const char *pos[1];
    int reps = 5, gemm_n = 4096, n_pos = 0, n = 0;
    struct shape shapes[MAX_SHAPES];
    cosmos_backend_t *be = NULL, *peer = NULL;
    json_t *prov = NULL, *js = NULL, *rows = NULL;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"shapes", CLI_STR, &shapes_arg,
         "comma-separated shapes: dit-self, dit-cross, ar-prefill or T/S/H/Hkv/Dh/causal|full (default: the three)",
         0},
        {"reps", CLI_INT, &reps, "timed calls per shape after one warm-up (default 5)", 0},
        {"gemm", CLI_INT, &gemm_n, "size N of the floor's [N x N] x [N x N] matmul (default 4096)", 0},
        {"json", CLI_STR, &json_out, "also write the results as JSON to this file", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("bench-attention", argc - 1, argv + 1, opts, pos, 0, &n_pos, &common));
    if (common.help) return 0;
    CHECK_ARG(reps >= 1 && gemm_n >= 16, COSMOS_ERR_INVALID_ARG, "--reps must be >= 1, --gemm >= 16");
    CHECK(parse_shapes(shapes_arg, shapes, &n));

    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = common.threads;
    CHECK(cosmos_backend_create(common.backend, &bp, &be));
    if (!strncmp(cosmos_backend_name(be), "cuda", 4)) /* the f32 kernel on a second backend: the peer */
        CHECK(bench_backend_create_with_env(cosmos_backend_name(be), &bp, "COSMOS_CUDA_ATTENTION", "f32", &peer));
    prov = bench_provenance(cosmos_backend_name(be), omp_get_max_threads());
    bench_provenance_print(prov);
    double gemm = 0;
    CHECK(bench_backend_matmul_gflops(be, gemm_n, gemm_n, gemm_n, 3, &gemm));
    printf("# matmul [%d x %d] x [%d x %d] on %s: %.1f GFLOP/s (the floor's rate)\n", gemm_n, gemm_n, gemm_n, gemm_n,
           cosmos_backend_name(be), gemm);
    printf("%-28s %10s %10s %10s %10s %9s %12s %9s\n", "shape", "min_ms", "p50_ms", "TFLOP/s", "floor_ms", "of_floor",
           peer ? "f32_p50_ms" : "", peer ? "speedup" : "");
    rows = json_array();
    CHECK_ALLOC(rows);
    for (int i = 0; i < n; i++) {
        const struct shape *s = &shapes[i];
        double mn = 0, p50 = 0, pmn = 0, pp50 = 0;
        CHECK(time_shape(be, s, reps, &mn, &p50));
        if (peer) CHECK(time_shape(peer, s, reps, &pmn, &pp50));
        const double fl = attention_flops(s), floor_s = fl / (gemm * 1e9);
        printf("%-28s %10.3f %10.3f %10.2f %10.3f %8.1f%%", s->name, mn * 1e3, p50 * 1e3, fl / p50 * 1e-12,
               floor_s * 1e3, 100.0 * floor_s / p50);
        if (peer) printf(" %12.3f %8.2fx", pp50 * 1e3, pp50 / p50);
        printf("\n");
        json_t *row = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:f, s:f, s:f, s:f}", "shape", s->name, "T",
                                (json_int_t)s->T, "S", (json_int_t)s->S, "H", (json_int_t)s->H, "Hkv",
                                (json_int_t)s->Hkv, "Dh", (json_int_t)s->Dh, "causal", s->causal, "gflop", fl * 1e-9,
                                "min_s", mn, "p50_s", p50, "floor_s", floor_s);
        CHECK_ALLOC(row);
        if (peer) {
            json_object_set_new(row, "f32_kernel_min_s", json_real(pmn));
            json_object_set_new(row, "f32_kernel_p50_s", json_real(pp50));
        }
        json_array_append_new(rows, row);
    }
    if (json_out) {
        js = json_pack("{s:O, s:i, s:i, s:f, s:O}", "provenance", prov, "reps", reps, "matmul_n", gemm_n,
                       "matmul_gflops", gemm, "shapes", rows);
        CHECK_ALLOC(js);
        CHECK(cosmos_json_write(js, json_out, JSON_INDENT(2)));
    }
fail:
    json_decref(js);
    json_decref(rows);
    json_decref(prov);
    cosmos_backend_free(peer);
    cosmos_backend_free(be);
    return st == COSMOS_OK ? 0 : 1;
}
