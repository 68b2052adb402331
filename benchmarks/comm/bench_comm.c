/* cosmos-bench-comm: all-reduce and all-gather latency / bandwidth sweep over cosmos_comm_t, in the
 * style of nccl-tests (same size convention and formulas, so numbers compare with theirs):
 *   size    = bytes of the result buffer (all-reduce: the buffer; all-gather: the gathered output)
 *   algbw   = size / time
 *   busbw   = algbw * 2(n-1)/n (all-reduce), algbw * (n-1)/n (all-gather)
 *   time    = mean over iterations of the slowest rank (max over ranks).
 * Every size is validated first (each rank contributes rank+1 everywhere). Run under mpirun with
 * --comm mpi (host buffers) or --comm nccl (device buffers on cuda:<local rank>, NCCL on that
 * backend's stream, bootstrapped over MPI; one GPU per rank). --dtype bf16 all-reduces bf16 as the
 * tensor-parallel model does on GPUs (the sums of rank+1 stay exact). */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/provenance.h"
#include "core/json_file.h"
#include "core/backend.h"
#include "core/log.h"
#include "launcher/cli.h"
#include "parallel/comm.h"
#include "parallel/comm_nccl.h"

/* The buffers of the run: host memory, or device memory of be (NCCL) with a host mirror. */
struct bufs {
    cosmos_backend_t *be; /* NULL: host */
    void *buf, *out;      /* what the communicator gets */
    void *hbuf, *hout;    /* host copies (the same pointers without a device) */
};

static void fill(struct bufs *b, enum cosmos_dtype dt, size_t count, float v) {
    for (size_t i = 0; i < count; i++) {
        if (dt == COSMOS_BF16)
            ((cosmos_bf16 *)b->hbuf)[i] = cosmos_f32_to_bf16(v);
        else
            ((float *)b->hbuf)[i] = v;
    }
}
static float elem(const void *p, enum cosmos_dtype dt, size_t i) {
    return dt == COSMOS_BF16 ? cosmos_bf16_to_f32(((const cosmos_bf16 *)p)[i]) : ((const float *)p)[i];
}
static cosmos_status to_dev(struct bufs *b, size_t bytes) {
    return b->be ? cosmos_backend_upload(b->be, b->buf, b->hbuf, bytes) : COSMOS_OK;
}
static cosmos_status from_dev(struct bufs *b, int which_out, size_t bytes) {
    if (!b->be) return COSMOS_OK;
    return which_out ? cosmos_backend_download(b->be, b->hout, b->out, bytes)
                     : cosmos_backend_download(b->be, b->hbuf, b->buf, bytes);
}

int main(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *comm_kind = "mpi", *json_out = NULL, *dtype_name = "f32", *pos[1];
    int min_bytes = 8, max_mb = 64, iters = 20, warmup = 5, n_pos = 0;
    cosmos_comm_t *c = NULL, *world = NULL;
    struct bufs b = {0};
    json_t *rows = json_array(), *prov = NULL, *doc = NULL;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"comm", CLI_STR, &comm_kind, "communicator: mpi (default), nccl (device buffers) or self", 0},
        {"dtype", CLI_STR, &dtype_name, "all-reduce element type: f32 (default) or bf16", 0},
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
    CHECK_ARG(!strcmp(dtype_name, "f32") || !strcmp(dtype_name, "bf16"), COSMOS_ERR_INVALID_ARG,
              "unknown --dtype '%s' (f32 or bf16)", dtype_name);
    const enum cosmos_dtype dt = !strcmp(dtype_name, "bf16") ? COSMOS_BF16 : COSMOS_F32;
    const size_t es = cosmos_dtype_size(dt);
    const size_t max_bytes = (size_t)max_mb << 20;
    if (!strcmp(comm_kind, "mpi")) {
        CHECK(cosmos_comm_mpi_world(&c));
    } else if (!strcmp(comm_kind, "self")) {
        CHECK(cosmos_comm_self_create(&c));
    } else if (!strcmp(comm_kind, "nccl")) {
        CHECK(cosmos_comm_mpi_world(&world));
        int local = 0;
        CHECK(cosmos_comm_local_rank(world, &local));
        char be_name[32];
        cosmos_backend_name_for_rank("cuda", local, be_name, sizeof be_name);
        CHECK(cosmos_backend_create(be_name, NULL, &b.be));
        CHECK(cosmos_comm_nccl_create(world, cosmos_backend_device(b.be), cosmos_backend_stream(b.be), &c));
    } else {
        CHECK_ARG(0, COSMOS_ERR_INVALID_ARG, "unknown --comm '%s' (mpi, nccl or self)", comm_kind);
    }
    const int n = cosmos_comm_size(c), rank = cosmos_comm_rank(c);
    b.hbuf = malloc(max_bytes);
    b.hout = malloc(max_bytes);
    CHECK_ALLOC(b.hbuf);
    CHECK_ALLOC(b.hout);
    if (b.be) {
        CHECK(cosmos_backend_alloc(b.be, max_bytes, &b.buf));
        CHECK(cosmos_backend_alloc(b.be, max_bytes, &b.out));
    } else {
        b.buf = b.hbuf;
        b.out = b.hout;
    }
    prov = bench_provenance(cosmos_comm_kind(c), 1);
    json_object_set_new(prov, "world_size", json_integer(n));
    json_object_set_new(prov, "dtype", json_string(dtype_name));
    if (rank == 0) {
        bench_provenance_print(prov);
        printf("# world_size   %d, all-reduce dtype %s%s\n", n, dtype_name, b.be ? ", device buffers" : "");
        printf("%12s %10s | %10s %10s %10s | %10s %10s %10s\n", "size(B)", "count", "ar_us", "ar_algbw", "ar_busbw",
               "ag_us", "ag_algbw", "ag_busbw");
    }
    for (size_t bytes = (size_t)min_bytes; bytes <= max_bytes; bytes *= 4) {
        const size_t count = bytes / es;
        const size_t per_rank = bytes / (size_t)n / es; /* all-gather: elements contributed */
        if (count == 0) continue;
        double t_ar = 0, t_ag = 0;
        /* validate */
        fill(&b, dt, count, (float)(rank + 1));
        CHECK(to_dev(&b, count * es));
        CHECK(cosmos_comm_allreduce(c, b.buf, count, dt));
        CHECK(from_dev(&b, 0, count * es));
        const float want = (float)n * (n + 1) / 2;
        for (size_t i = 0; i < count; i++)
            CHECK_ARG(elem(b.hbuf, dt, i) == want, COSMOS_ERR_INTERNAL,
                      "all-reduce of %zu bytes: element %zu is %g, expected %g", bytes, i, elem(b.hbuf, dt, i), want);
        if (per_rank > 0) {
            fill(&b, dt, per_rank, (float)(rank + 1));
            CHECK(to_dev(&b, per_rank * es));
            CHECK(cosmos_comm_allgather(c, b.buf, b.out, per_rank * es));
            CHECK(from_dev(&b, 1, per_rank * es * (size_t)n));
            for (int r = 0; r < n; r++)
                CHECK_ARG(elem(b.hout, dt, (size_t)r * per_rank) == (float)(r + 1), COSMOS_ERR_INTERNAL,
                          "all-gather of %zu bytes: block %d is wrong", bytes, r);
        }
        for (int phase = 0; phase < 2; phase++) {
            if (phase == 1 && per_rank == 0) break;
            for (int i = 0; i < warmup; i++) {
                if (phase == 0) CHECK(cosmos_comm_allreduce(c, b.buf, count, dt));
                else CHECK(cosmos_comm_allgather(c, b.buf, b.out, per_rank * es));
            }
            CHECK(cosmos_comm_barrier(c));
            double t0 = cosmos_now_s();
            for (int i = 0; i < iters; i++) {
                if (phase == 0) CHECK(cosmos_comm_allreduce(c, b.buf, count, dt));
                else CHECK(cosmos_comm_allgather(c, b.buf, b.out, per_rank * es));
            }
            float dt_s = (float)((cosmos_now_s() - t0) / iters), all[1024];
            CHECK_ARG(n <= 1024, COSMOS_ERR_UNSUPPORTED, "more than 1024 ranks");
            /* the slowest rank, over the host channel (MPI, or NCCL's bootstrap) */
            CHECK(cosmos_comm_allgather(world ? world : c, &dt_s, all, sizeof dt_s));
            double worst = 0;
            for (int r = 0; r < n; r++) worst = fmax(worst, all[r]);
            if (phase == 0) t_ar = worst;
            else t_ag = worst;
        }
        const double ar_alg = bytes / t_ar / 1e9, ar_bus = ar_alg * 2.0 * (n - 1) / n;
        const size_t ag_bytes = per_rank * es * (size_t)n;
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
        CHECK_ALLOC(doc);
        CHECK(cosmos_json_write(doc, json_out, JSON_INDENT(2)));
    }
fail:
    json_decref(doc);
    json_decref(rows);
    json_decref(prov);
    if (b.be) {
        cosmos_backend_free_mem(b.be, b.buf);
        cosmos_backend_free_mem(b.be, b.out);
    }
    free(b.hbuf);
    free(b.hout);
    cosmos_comm_free(c);
    cosmos_backend_free(b.be);
    cosmos_comm_free(world);
    return st == COSMOS_OK ? 0 : st == COSMOS_ERR_INVALID_ARG ? 2 : 1;
}
