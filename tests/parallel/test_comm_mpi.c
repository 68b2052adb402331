/* The MPI communicator under mpirun (-np 1, 2, 3, 4): every collective against what each rank can
 * compute itself, on awkward sizes (0, 1, fewer elements than ranks, not a multiple of the rank
 * count, more than one all-reduce round), bit-identical all-reduce results on every rank, p2p in a
 * ring, split and all_ok, all under the communication watchdog (timeout 120 s). Prints
 * "N passed, M failed" (rank 0); non-zero exit on failure. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel/comm.h"

static int g_pass, g_fail;
#define EXPECT(cond, ...)                                  \
    do {                                                   \
        if (cond)                                          \
            g_pass++;                                      \
        else {                                             \
            g_fail++;                                      \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fprintf(stderr, "\n");                         \
        }                                                  \
    } while (0)

static float val(int rank, size_t i) { return (float)sin((double)(i * 7 + (size_t)rank * 13)) * 3.0f; }
/* val as the float a rank sends: the volatile store rounds the product, so that -ffp-contract=fast
 * cannot fuse val's multiply into the expected sum below (gcc did on an AVX-512 host: 192 of 1000
 * expected sums came out one rounding away from what the ranks exchange) */
static float sent(int rank, size_t i) {
    volatile float v = val(rank, i);
    return v;
}

int main(void) {
    cosmos_comm_t *w = NULL;
    if (cosmos_comm_mpi_world(&w) != COSMOS_OK) return 1;
    const int rank = cosmos_comm_rank(w), n = cosmos_comm_size(w);
    /* the watchdog (comm_watchdog.c): bad timeouts refused; every operation below runs under one */
    EXPECT(cosmos_comm_set_timeout(-1) == COSMOS_ERR_INVALID_ARG, "timeout -1 accepted");
    EXPECT(cosmos_comm_set_timeout(NAN) == COSMOS_ERR_INVALID_ARG, "timeout NaN accepted");
    EXPECT(cosmos_comm_set_timeout(1e8) == COSMOS_ERR_INVALID_ARG, "timeout 1e8 accepted");
    EXPECT(cosmos_comm_timeout() == 0, "a refused timeout was kept");
    EXPECT(cosmos_comm_set_timeout(120) == COSMOS_OK && cosmos_comm_timeout() == 120, "timeout 120");
    const size_t sizes[] = {0, 1, 3, 1000, 4194305, 9000001};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const size_t cnt = sizes[si];
        float *b = malloc(sizeof(float) * (cnt + 1)), *all = malloc(sizeof(float) * (cnt + 1) * (size_t)n);
        for (size_t i = 0; i < cnt; i++) b[i] = val(rank, i);
        EXPECT(cosmos_comm_allreduce_sum(w, b, cnt) == 0, "allreduce %zu", cnt);
        int bad = 0;
        for (size_t i = 0; i < cnt; i++) {
            float s = sent(0, i); /* the sum in rank order, as the implementation promises */
            for (int r = 1; r < n; r++) s += sent(r, i);
            bad += b[i] != s;
        }
        EXPECT(bad == 0, "allreduce of %zu floats: %d elements differ from the rank-order sum", cnt, bad);
        if (cnt) {
            cosmos_comm_allgather(w, b, all, sizeof(float) * cnt);
            for (int r = 1; r < n; r++)
                EXPECT(memcmp(all, all + (size_t)r * cnt, sizeof(float) * cnt) == 0, "rank %d result differs", r);
        }
        free(b);
        free(all);
    }
    /* bf16: the rank-order sum in f32, rounded once; more than one widening piece (4194304) */
    const size_t bsizes[] = {0, 5, 4194305};
    for (size_t si = 0; si < sizeof bsizes / sizeof bsizes[0]; si++) {
        const size_t cnt = bsizes[si];
        cosmos_bf16 *b = malloc(sizeof(cosmos_bf16) * (cnt + 1));
        for (size_t i = 0; i < cnt; i++) b[i] = cosmos_f32_to_bf16(val(rank, i));
        EXPECT(cosmos_comm_allreduce(w, b, cnt, COSMOS_BF16) == 0, "bf16 allreduce %zu", cnt);
        int bad = 0;
        for (size_t i = 0; i < cnt; i++) {
            float s = cosmos_bf16_to_f32(cosmos_f32_to_bf16(val(0, i)));
            for (int r = 1; r < n; r++) s += cosmos_bf16_to_f32(cosmos_f32_to_bf16(val(r, i)));
            bad += b[i] != cosmos_f32_to_bf16(s);
        }
        EXPECT(bad == 0, "bf16 allreduce of %zu values: %d differ from the rounded rank-order sum", cnt, bad);
        free(b);
    }
    int32_t ints[2] = {1, 2};
    EXPECT(cosmos_comm_allreduce(w, ints, 2, COSMOS_I32) == COSMOS_ERR_UNSUPPORTED, "int32 allreduce is refused");
    EXPECT(!cosmos_comm_device_memory(w), "MPI buffers are host memory");
    int x = rank == n - 1 ? 4242 : -1;
    EXPECT(cosmos_comm_broadcast(w, &x, sizeof x, n - 1) == 0 && x == 4242, "broadcast from the last rank");
    if (n > 1) {
        int token = rank, got = -1;
        const int next = (rank + 1) % n, prev = (rank + n - 1) % n;
        if (rank % 2 == 0) {
            cosmos_comm_send(w, &token, sizeof token, next, 7);
            cosmos_comm_recv(w, &got, sizeof got, prev, 7);
        } else {
            cosmos_comm_recv(w, &got, sizeof got, prev, 7);
            cosmos_comm_send(w, &token, sizeof token, next, 7);
        }
        EXPECT(got == prev, "ring: got %d from %d", got, prev);
    }
    EXPECT(cosmos_comm_send(w, &x, sizeof x, rank, 1) != 0, "sending to oneself is rejected");
    cosmos_comm_t *half = NULL;
    EXPECT(cosmos_comm_split(w, rank % 2, rank, &half) == 0, "split");
    EXPECT(cosmos_comm_size(half) == (n + 1 - rank % 2) / 2 && cosmos_comm_rank(half) == rank / 2, "split shape");
    float one = 1.0f;
    cosmos_comm_allreduce_sum(half, &one, 1);
    EXPECT(one == (float)cosmos_comm_size(half), "allreduce inside the split");
    cosmos_comm_free(half);
    int all_ok = -1, lr = -1;
    EXPECT(cosmos_comm_all_ok(w, 1, &all_ok) == 0 && all_ok == 1, "all ok");
    EXPECT(cosmos_comm_all_ok(w, rank != n - 1, &all_ok) == 0 && all_ok == 0, "one rank not ok");
    EXPECT(cosmos_comm_local_rank(w, &lr) == 0 && lr == rank, "one node: local rank = rank");
    EXPECT(cosmos_comm_barrier(w) == 0, "barrier");
    if (n >= 2) { /* probe: nothing waiting, then rank 0's message to the last rank shows up */
        int flag = -1;
        if (rank == n - 1) {
            EXPECT(cosmos_comm_probe(w, 0, 99, &flag) == 0 && flag == 0, "probe before any send");
        }
        EXPECT(cosmos_comm_barrier(w) == 0, "barrier");
        int32_t v = 77, got = 0;
        if (rank == 0) cosmos_comm_send(w, &v, sizeof v, n - 1, 99);
        if (rank == n - 1) {
            for (int i = 0; i < 200000 && !flag; i++) EXPECT(cosmos_comm_probe(w, 0, 99, &flag) == 0, "probe");
            EXPECT(flag == 1, "probe sees the waiting message");
            EXPECT(cosmos_comm_probe(w, 0, 98, &flag) == 0 && flag == 0, "probe of another tag");
            cosmos_comm_recv(w, &got, sizeof got, 0, 99);
            EXPECT(got == 77, "probe then recv");
            EXPECT(cosmos_comm_probe(w, 0, 99, &flag) == 0 && flag == 0, "nothing left after the recv");
        }
    }
    float t[2] = {(float)g_pass, (float)g_fail};
    cosmos_comm_allreduce_sum(w, t, 2);
    if (rank == 0) printf("%d passed, %d failed\n", (int)t[0], (int)t[1]);
    cosmos_comm_free(w);
    return t[1] != 0.0f;
}
