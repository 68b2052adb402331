/* cosmos-bench-comm: all-reduce and all-gather latency / bandwidth sweep over cosmos_comm_t, in the
 * style of nccl-tests (same size convention and formulas, so numbers compare with theirs):
 *   size    = bytes of the result buffer (all-reduce: the buffer; all-gather: the gathered output)
 *   algbw   = size / time
 *   busbw   = algbw * 2(n-1)/n (all-reduce), algbw * (n-1)/n (all-gather)
 *   time    = mean over iterations of the slowest rank (max over ranks).
 * Every size is validated first (each rank contributes rank+1 everywhere). Run under mpirun with
 * --comm mpi (default when started by mpirun with more than one rank is not guessed: say it). */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/provenance.h"
#include "core/log.h"
#include "launcher/cli.h"
#include "parallel/comm.h"

int main(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *comm_kind = "mpi", *json_out = NULL, *pos[1];
    int min_bytes = 8, max_mb = 64, iters = 20, warmup = 5, n_pos = 0;
    cosmos_comm_t *c = NULL;
    float *buf = NULL, *out = NULL;
    json_t *rows = json_array(), *prov = NULL, *doc = NULL;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"comm", CLI_STR, &comm_kind, "communicator: mpi (default) or self", 0},
        {"min-bytes", CLI_INT, &min_bytes, "smallest size (default 8)", 0},
        {"max-mb", CLI_INT, &max_mb, "largest size in MiB (default 64)", 0},
        {"iters", CLI_INT, &iters, "timed iterations per size (default 20)", 0},
        {"warmup", CLI_INT, &warmup, "untimed iterations per size (default 5)", 0},
        {"json", CLI_STR, &json_out, "also write the results as JSON (rank 0)", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("bench-comm", argc - 1, argv + 1, opts, pos, 0, &n_pos, &common));
    if (common.help) return 0;
    CHECK_ARG(min_bytes >= 4 && max_mb >= 1 && iters >= 1 && warmup >= 0, COSMOS_ERR_INVALID_ARG,
              "sizes and iteration counts must be positive");
    if (!strcmp(comm_kind, "mpi"))
        CHECK(cosmos_comm_mpi_world(&c));
    else if (!strcmp(comm_kind, "self"))
        CHECK(cosmos_comm_self_create(&c));
    else
        CHECK_ARG(0, COSMOS_ERR_INVALID_ARG, "unknown --comm '%s' (mpi or self)", comm_kind);
    const int n = cosmos_comm_size(c), rank = cosmos_comm_rank(c);
    const size_t max_bytes = (size_t)max_mb << 20;
    buf = malloc(max_bytes);
    out = malloc(max_bytes);
    CHECK_ALLOC(buf);
    CHECK_ALLOC(out);
    prov = bench_provenance(cosmos_comm_kind(c), 1);
    json_object_set_new(prov, "world_size", json_integer(n));
    if (rank == 0) {
        bench_provenance_print(prov);
        printf("# world_size   %d\n", n);
        printf("%12s %10s | %10s %10s %10s | %10s %10s %10s\n", "size(B)", "count", "ar_us", "ar_algbw", "ar_busbw",
               "ag_us", "ag_algbw", "ag_busbw");
    }
    for (size_t bytes = (size_t)min_bytes; bytes <= max_bytes; bytes *= 4) {
        const size_t count = bytes / sizeof(float);
        const size_t per_rank = bytes / (size_t)n / sizeof(float); /* all-gather: elements contributed */
        double t_ar = 0, t_ag = 0;
        /* validate */
        for (size_t i = 0; i < count; i++) buf[i] = (float)(rank + 1);
        CHECK(cosmos_comm_allreduce_sum(c, buf, count));
        const float want = (float)n * (n + 1) / 2;
        for (size_t i = 0; i < count; i++)
            CHECK_ARG(buf[i] == want, COSMOS_ERR_INTERNAL, "all-reduce of %zu bytes: element %zu is %g, expected %g",
                      bytes, i, buf[i], want);
        if (per_rank > 0) {
            for (size_t i = 0; i < per_rank; i++) buf[i] = (float)(rank + 1);
            CHECK(cosmos_comm_allgather(c, buf, out, per_rank * sizeof(float)));
            for (int r = 0; r < n; r++)
                CHECK_ARG(out[(size_t)r * per_rank] == (float)(r + 1), COSMOS_ERR_INTERNAL,
                          "all-gather of %zu bytes: block %d is wrong", bytes, r);
        }
        for (int phase = 0; phase < 2; phase++) {
            if (phase == 1 && per_rank == 0) break;
            for (int i = 0; i < warmup; i++) {
                if (phase == 0) CHECK(cosmos_comm_allreduce_sum(c, buf, count));
                else CHECK(cosmos_comm_allgather(c, buf, out, per_rank * sizeof(float)));
            }
            CHECK(cosmos_comm_barrier(c));
            double t0 = bench_now_s();
            for (int i = 0; i < iters; i++) {
                if (phase == 0) CHECK(cosmos_comm_allreduce_sum(c, buf, count));
                else CHECK(cosmos_comm_allgather(c, buf, out, per_rank * sizeof(float)));
            }
            float dt = (float)((bench_now_s() - t0) / iters), all[1024];
            CHECK_ARG(n <= 1024, COSMOS_ERR_UNSUPPORTED, "more than 1024 ranks");
            CHECK(cosmos_comm_allgather(c, &dt, all, sizeof dt));
            double worst = 0;
            for (int r = 0; r < n; r++) worst = fmax(worst, all[r]);
            if (phase == 0) t_ar = worst;
            else t_ag = worst;
        }
        const double ar_alg = bytes / t_ar / 1e9, ar_bus = ar_alg * 2.0 * (n - 1) / n;
        const size_t ag_bytes = per_rank * sizeof(float) * (size_t)n;
        const double ag_alg = t_ag > 0 ? ag_bytes / t_ag / 1e9 : 0, ag_bus = ag_alg * (n - 1) / n;
        if (rank == 0) {
            printf("%12zu %10zu | %10.1f %10.3f %10.3f | %10.1f %10.3f %10.3f\n", bytes, count, t_ar * 1e6, ar_alg,
                   ar_bus, t_ag * 1e6, ag_alg, ag_bus);
            json_array_append_new(rows, json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "bytes", (json_int_t)bytes,
                                                  "allreduce_us", t_ar * 1e6, "allreduce_algbw_gbs", ar_alg,
                                                  "allreduce_busbw_gbs", ar_bus, "allgather_us", t_ag * 1e6,
                                                  "allgather_algbw_gbs", ag_alg, "allgather_busbw_gbs", ag_bus));
        }
    }
    if (rank == 0 && json_out) {
        doc = json_pack("{s:O, s:O}", "provenance", prov, "sizes", rows);
        CHECK_ARG(doc && json_dump_file(doc, json_out, JSON_INDENT(2)) == 0, COSMOS_ERR_IO, "cannot write %s", json_out);
    }
fail:
    json_decref(doc);
    json_decref(rows);
    json_decref(prov);
    free(buf);
    free(out);
    cosmos_comm_free(c);
    return st == COSMOS_OK ? 0 : st == COSMOS_ERR_INVALID_ARG ? 2 : 1;
}
