/* cosmos-bench-gemv: the matmul op (cosmos_op_matmul, y[M,N] = x[M,K] . w[N,K]^T, bf16 weights) at
 * the decode step's shapes, where it is a matrix-vector product bound by the weights' read (spec
 * ar-model.md 1.3; issue 4: batch-1 decode at the memory-bandwidth floor). Presets, the 4B / 5B
 * transformer at tp 1 (dim 4096, 32 / 8 heads of 128, FFN 14336, vocab 64000), one token:
 *   wqkv  [6144 x 4096]   the fused q|k|v projection      wo    [4096 x 4096]   output projection
 *   w13   [28672 x 4096]  the fused SwiGLU gate|up        w2    [4096 x 14336]  down projection
 *   head  [64000 x 4096]  the logits
 * (--rows M for M tokens at once), or any M/N/K in --shapes. Each shape is timed --reps times: a rep
 * is as many back-to-back calls as stream --stream-mb of weights (one sync at the end, / calls), the
 * calls cycling over enough copies of the weight (--rotate-mb in all) that no copy is still in the
 * card's L2 cache when it comes round again, as in a decode step that reads every layer once.
 * Floor: the bytes a call must move (w, x, y) at the memory bandwidth measured in the same run
 * (bench_bandwidth_gbs: a device bf16 copy, read + write; a host read); "of floor" = floor / p50.
 * On a CUDA backend the same shapes also run on a second backend made with COSMOS_CUDA_GEMV=cublaslt
 * (every matmul on cuBLASLt, the peer of the same run): the decode GEMV kernel's speed-up over it
 * is printed. --epilogue add | swiglu times the fused ops of the decode step instead
 * (cosmos_op_matmul_add, cosmos_op_matmul_swiglu: the GEMV's epilogues on CUDA, cuBLASLt + add /
 * silu_mul on the peer). Output: a table headed by provenance, and --json FILE. */
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
#include "launcher/cli.h"

#define MAX_SHAPES 8
#define MAX_COPIES 64

struct shape {
    char name[64];
    int64_t M, N, K;
};

static const struct shape presets[] = {
    {"wqkv", 1, 6144, 4096}, {"wo", 1, 4096, 4096}, {"w13", 1, 28672, 4096},
    {"w2", 1, 4096, 14336},  {"head", 1, 64000, 4096},
};

static cosmos_status parse_shapes(const char *s, int rows, struct shape *out, int *n) {
    cosmos_status st = COSMOS_OK;
    *n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        CHECK_ARG(*n < MAX_SHAPES, COSMOS_ERR_INVALID_ARG, "--shapes: at most %d shapes", MAX_SHAPES);
        struct shape *sh = &out[*n];
        int found = 0;
        for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
            if (!strcmp(tok, presets[i].name)) *sh = presets[i], sh->M = rows, found = 1;
        if (!found) {
            long long M, N, K;
            char extra;
            CHECK_ARG(sscanf(tok, "%lld/%lld/%lld%c", &M, &N, &K, &extra) == 3 && M > 0 && N > 0 && K > 0 &&
                          M <= 1 << 20 && N <= 1 << 24 && K <= 1 << 20,
                      COSMOS_ERR_INVALID_ARG,
                      "--shapes: '%s' is neither wqkv, wo, w13, w2, head nor M/N/K (positive, M and K <= 2^20, N <= "
                      "2^24)", tok);
            *sh = (struct shape){.M = M, .N = N, .K = K};
        }
        snprintf(sh->name + strlen(sh->name), sizeof sh->name - strlen(sh->name), "%s%lld/%lld/%lld",
                 found ? " " : "", (long long)sh->M, (long long)sh->N, (long long)sh->K);
        (*n)++;
    }
    CHECK_ARG(*n > 0, COSMOS_ERR_INVALID_ARG, "--shapes: no shape given");
fail:
    return st;
}

/* The op timed: the matmul alone, or with the epilogue the decode step fuses into it */
enum epilogue { EPI_NONE, EPI_ADD, EPI_SWIGLU };
static const char *const epilogue_names[] = {"none", "add", "swiglu"};

/* bytes one call must move: the weight once, x read, the output written (activations of the
 * backend's dtype); add: the addend read too; swiglu: N / 2 outputs */
static double call_bytes(const struct shape *s, size_t act, enum epilogue epi) {
    const double out = epi == EPI_SWIGLU ? (double)(s->N / 2) : (double)s->N * (epi == EPI_ADD ? 2.0 : 1.0);
    return 2.0 * (double)s->N * (double)s->K + (double)act * (double)s->M * ((double)s->K + out);
}

/* one call of the timed op on weight copy w */
static cosmos_status call_op(cosmos_backend_t *be, enum epilogue epi, const struct shape *s, struct cosmos_tensor y,
                             struct cosmos_tensor x, void *w, struct cosmos_tensor tmp) {
    const struct cosmos_tensor tw = cosmos_tensor_2d(w, COSMOS_BF16, s->N, s->K);
    if (epi == EPI_ADD) return cosmos_op_matmul_add(be, y, y, x, tw, tmp);
    if (epi == EPI_SWIGLU) return cosmos_op_matmul_swiglu(be, y, x, tw, tmp);
    return cosmos_op_matmul(be, y, x, tw);
}

/* min and p50 seconds per call over reps reps (after one warm-up rep), and the calls per rep */
static cosmos_status time_shape(cosmos_backend_t *be, const struct shape *s, enum epilogue epi, int reps,
                                double stream_mb, double rotate_mb, double *mn, double *p50, int *calls_out) {
    cosmos_status st = COSMOS_OK;
    const enum cosmos_dtype dt = cosmos_backend_act_dtype(be);
    const double wbytes = 2.0 * (double)s->N * (double)s->K;
    int copies = (int)(rotate_mb * 1e6 / wbytes) + 1;
    if (copies > MAX_COPIES) copies = MAX_COPIES;
    int calls = (int)(stream_mb * 1e6 / wbytes);
    if (calls < copies) calls = copies;
    void *w[MAX_COPIES] = {0}, *x = NULL, *y = NULL, *tmp = NULL;
    double *t = calloc((size_t)reps, sizeof *t);
    CHECK_ALLOC(t);
    CHECK(bench_upload_random(be, COSMOS_BF16, s->N * s->K, 1, &w[0]));
    for (int i = 1; i < copies; i++) { /* device copies of the first (no second upload) */
        CHECK(cosmos_backend_alloc(be, (size_t)wbytes, &w[i]));
        CHECK(cosmos_op_copy(be, cosmos_tensor_1d(w[i], COSMOS_BF16, s->N * s->K),
                             cosmos_tensor_1d(w[0], COSMOS_BF16, s->N * s->K)));
    }
    CHECK(bench_upload_random(be, dt, s->M * s->K, 2, &x));
    CHECK(bench_upload_random(be, dt, s->M * s->N, 3, &y)); /* the addend of EPI_ADD */
    CHECK(cosmos_backend_alloc(be, cosmos_dtype_size(dt) * (size_t)(s->M * s->N), &tmp));
    const int64_t ny = epi == EPI_SWIGLU ? s->N / 2 : s->N;
    const struct cosmos_tensor tx = cosmos_tensor_2d(x, dt, s->M, s->K), ty = cosmos_tensor_2d(y, dt, s->M, ny),
                               tt = epi == EPI_SWIGLU ? cosmos_tensor_2d(tmp, dt, 2 * s->M, ny)
                                                      : cosmos_tensor_2d(tmp, dt, s->M, s->N);
    CHECK(cosmos_backend_sync(be));
    for (int r = -1; r < reps; r++) {
        const double t0 = cosmos_now_s();
        for (int i = 0; i < calls; i++) CHECK(call_op(be, epi, s, ty, tx, w[i % copies], tt));
        CHECK(cosmos_backend_sync(be));
        if (r >= 0) t[r] = (cosmos_now_s() - t0) / calls;
    }
    bench_min_p50(t, reps, mn, p50);
    *calls_out = calls;
fail:
    for (int i = 0; i < copies; i++) cosmos_backend_free_mem(be, w[i]);
    cosmos_backend_free_mem(be, x);
    cosmos_backend_free_mem(be, y);
    cosmos_backend_free_mem(be, tmp);
    free(t);
    return st;
}

int main(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *shapes_arg = "wqkv,wo,w13,w2,head", *json_out = NULL, *epi_arg = "none";
    const char *pos[1];
    int reps = 5, rows = 1, bw_mb = 1024, stream_mb = 2048, rotate_mb = 256, n_pos = 0, n = 0;
    struct shape shapes[MAX_SHAPES];
    cosmos_backend_t *be = NULL, *peer = NULL;
    json_t *prov = NULL, *js = NULL, *jrows = NULL;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"shapes", CLI_STR, &shapes_arg,
         "comma-separated shapes: wqkv, wo, w13, w2, head (4B/5B decode) or M/N/K (default: the five)", 0},
        {"rows", CLI_INT, &rows, "M of the preset shapes: tokens per step (default 1)", 0},
        {"epilogue", CLI_STR, &epi_arg,
         "none (the matmul), add (cosmos_op_matmul_add: y += x w^T) or swiglu (cosmos_op_matmul_swiglu over the N "
         "rows as w1|w3) (default none)", 0},
        {"reps", CLI_INT, &reps, "timed reps per shape after one warm-up rep (default 5)", 0},
        {"stream-mb", CLI_INT, &stream_mb, "MB of weights one rep streams, in back-to-back calls (default 2048)", 0},
        {"rotate-mb", CLI_INT, &rotate_mb,
         "MB of weight copies the calls cycle over, beyond the card's L2 cache (default 256)", 0},
        {"bw-mb", CLI_INT, &bw_mb, "buffer size of the bandwidth probe in MB (default 1024)", 0},
        {"json", CLI_STR, &json_out, "also write the results as JSON to this file", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("bench-gemv", argc - 1, argv + 1, opts, pos, 0, &n_pos, &common));
    if (common.help) return 0;
    CHECK_ARG(reps >= 1 && rows >= 1 && rows <= 4096 && stream_mb >= 1 && rotate_mb >= 0 && bw_mb >= 1,
              COSMOS_ERR_INVALID_ARG,
              "--reps, --stream-mb and --bw-mb must be >= 1, --rows in 1..4096, --rotate-mb >= 0");
    CHECK(parse_shapes(shapes_arg, rows, shapes, &n));
    enum epilogue epi = EPI_NONE;
    for (int e = 0; e < 3; e++)
        if (!strcmp(epi_arg, epilogue_names[e])) epi = (enum epilogue)e;
    CHECK_ARG(!strcmp(epi_arg, epilogue_names[epi]), COSMOS_ERR_INVALID_ARG,
              "--epilogue is '%s': none, add or swiglu", epi_arg);
    for (int i = 0; i < n; i++)
        CHECK_ARG(epi != EPI_SWIGLU || shapes[i].N % 2 == 0, COSMOS_ERR_INVALID_ARG,
                  "--epilogue swiglu: shape %s has an odd N (its rows are w1 then w3)", shapes[i].name);

    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = common.threads;
    CHECK(cosmos_backend_create(common.backend, &bp, &be));
    if (!strncmp(cosmos_backend_name(be), "cuda", 4)) /* every matmul on cuBLASLt: the peer */
        CHECK(bench_backend_create_with_env(cosmos_backend_name(be), &bp, "COSMOS_CUDA_GEMV", "cublaslt", &peer));
    prov = bench_provenance(cosmos_backend_name(be), omp_get_max_threads());
    bench_provenance_print(prov);
    const double bw = bench_bandwidth_gbs(be, (size_t)bw_mb << 20);
    CHECK_ARG(bw > 0, COSMOS_ERR_INTERNAL, "bench-gemv: the bandwidth probe failed on %s", cosmos_backend_name(be));
    const int host = cosmos_backend_is_host(be);
    printf("# bandwidth %.2f GB/s %s (%d MB buffer; the floor's rate)\n", bw,
           host ? "read, best of 5" : "device bf16 copy, read + write, best of 10", bw_mb);
    if (epi != EPI_NONE)
        printf("# op         %s\n", epi == EPI_ADD ? "cosmos_op_matmul_add (y += x w^T)"
                                                   : "cosmos_op_matmul_swiglu (h = silu(x w1^T) * x w3^T)");
    printf("%-22s %9s %9s %9s %9s %9s %9s %11s %8s\n", "shape", "MB", "min_us", "p50_us", "GB/s", "floor_us",
           "of_floor", peer ? "lt_p50_us" : "", peer ? "speedup" : "");
    jrows = json_array();
    CHECK_ALLOC(jrows);
    const size_t act = cosmos_dtype_size(cosmos_backend_act_dtype(be));
    for (int i = 0; i < n; i++) {
        const struct shape *s = &shapes[i];
        double mn = 0, p50 = 0, pmn = 0, pp50 = 0;
        int calls = 0, pcalls = 0;
        CHECK(time_shape(be, s, epi, reps, stream_mb, rotate_mb, &mn, &p50, &calls));
        if (peer) CHECK(time_shape(peer, s, epi, reps, stream_mb, rotate_mb, &pmn, &pp50, &pcalls));
        const double bytes = call_bytes(s, act, epi), floor_s = bytes / (bw * 1e9);
        printf("%-22s %9.1f %9.1f %9.1f %9.1f %9.1f %8.1f%%", s->name, bytes / 1e6, mn * 1e6, p50 * 1e6,
               bytes / p50 * 1e-9, floor_s * 1e6, 100.0 * floor_s / p50);
        if (peer) printf(" %11.1f %7.2fx", pp50 * 1e6, pp50 / p50);
        printf("\n");
        json_t *row = json_pack("{s:s, s:I, s:I, s:I, s:f, s:i, s:f, s:f, s:f}", "shape", s->name, "M",
                                (json_int_t)s->M, "N", (json_int_t)s->N, "K", (json_int_t)s->K, "bytes", bytes,
                                "calls_per_rep", calls, "min_s", mn, "p50_s", p50, "floor_s", floor_s);
        CHECK_ALLOC(row);
        if (peer) {
            json_object_set_new(row, "cublaslt_min_s", json_real(pmn));
            json_object_set_new(row, "cublaslt_p50_s", json_real(pp50));
        }
        json_array_append_new(jrows, row);
    }
    if (json_out) {
        js = json_pack("{s:O, s:i, s:i, s:i, s:f, s:s, s:s, s:O}", "provenance", prov, "reps", reps, "stream_mb",
                       stream_mb, "rotate_mb", rotate_mb, "bandwidth_gbs", bw, "bandwidth_method",
                       host ? "host read (sum over a buffer)" : "device bf16 copy, read + write", "epilogue",
                       epilogue_names[epi], "shapes", jrows);
        CHECK_ALLOC(js);
        CHECK(cosmos_json_write(js, json_out, JSON_INDENT(2)));
    }
fail:
    json_decref(js);
    json_decref(jrows);
    json_decref(prov);
    cosmos_backend_free(peer);
    cosmos_backend_free(be);
    return st == COSMOS_OK ? 0 : 1;
}
