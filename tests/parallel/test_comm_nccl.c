/* The NCCL communicator under mpirun (one process per GPU): all-reduce, all-gather, broadcast and a
 * send/recv ring on device buffers, checked on the host against what every rank can compute.
 * Without a CUDA device (or with fewer devices than ranks) it prints SKIPPED and exits 77, which
 * CTest reports as skipped, never as passed. Prints "N passed, M failed" (rank 0) otherwise. */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel/comm.h"
#include "parallel/comm_nccl.h"

int main(void) {
    cosmos_comm_t *w = NULL, *nc = NULL;
    if (cosmos_comm_mpi_world(&w) != COSMOS_OK) return 1;
    const int rank = cosmos_comm_rank(w), n = cosmos_comm_size(w);
    int n_dev = 0, local = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess) n_dev = 0;
    cosmos_comm_local_rank(w, &local);
    int have = n_dev > local, all = 0;
    cosmos_comm_all_ok(w, have, &all);
    if (!all) {
        if (rank == 0) printf("SKIPPED: %d CUDA device(s) visible, %d rank(s) need one each\n", n_dev, n);
        cosmos_comm_free(w);
        return 77;
    }
    int pass = 0, fail = 0;
#define EXPECT(c, what)                                       \
    do {                                                      \
        if (c) pass++;                                        \
        else {                                                \
            fail++;                                           \
            fprintf(stderr, "[rank %d] FAIL: %s\n", rank, what); \
        }                                                     \
    } while (0)
    cudaSetDevice(local);
    EXPECT(cosmos_comm_nccl_create(w, local, NULL, &nc) == COSMOS_OK, "create");
    if (nc) {
        enum { N = 1000003 };
        float *h = malloc(sizeof(float) * N * (size_t)n), *d = NULL, *d2 = NULL;
        cudaMalloc((void **)&d, sizeof(float) * N);
        cudaMalloc((void **)&d2, sizeof(float) * N * (size_t)n);
        for (int i = 0; i < N; i++) h[i] = (float)(rank + 1) * (float)(i % 7);
        cudaMemcpy(d, h, sizeof(float) * N, cudaMemcpyHostToDevice);
        EXPECT(cosmos_comm_allreduce_sum(nc, d, N) == COSMOS_OK, "allreduce");
        cudaMemcpy(h, d, sizeof(float) * N, cudaMemcpyDeviceToHost);
        int bad = 0;
        for (int i = 0; i < N; i++) bad += h[i] != (float)(n * (n + 1) / 2) * (float)(i % 7);
        EXPECT(bad == 0, "allreduce values");
        for (int i = 0; i < N; i++) h[i] = (float)rank;
        cudaMemcpy(d, h, sizeof(float) * N, cudaMemcpyHostToDevice);
        EXPECT(cosmos_comm_allgather(nc, d, d2, sizeof(float) * N) == COSMOS_OK, "allgather");
        cudaMemcpy(h, d2, sizeof(float) * N * (size_t)n, cudaMemcpyDeviceToHost);
        bad = 0;
        for (int r = 0; r < n; r++) bad += h[(size_t)r * N + 17] != (float)r;
        EXPECT(bad == 0, "allgather values");
        float v = rank == n - 1 ? 42.0f : 0.0f;
        cudaMemcpy(d, &v, sizeof v, cudaMemcpyHostToDevice);
        EXPECT(cosmos_comm_broadcast(nc, d, sizeof v, n - 1) == COSMOS_OK, "broadcast");
        cudaMemcpy(&v, d, sizeof v, cudaMemcpyDeviceToHost);
        EXPECT(v == 42.0f, "broadcast value");
        if (n > 1) {
            float mine = (float)rank, got = -1;
            cudaMemcpy(d, &mine, sizeof mine, cudaMemcpyHostToDevice);
            const int next = (rank + 1) % n, prev = (rank + n - 1) % n;
            if (rank % 2 == 0) {
                cosmos_comm_send(nc, d, sizeof mine, next, 0);
                cosmos_comm_recv(nc, d2, sizeof got, prev, 0);
            } else {
                cosmos_comm_recv(nc, d2, sizeof got, prev, 0);
                cosmos_comm_send(nc, d, sizeof mine, next, 0);
            }
            cudaMemcpy(&got, d2, sizeof got, cudaMemcpyDeviceToHost);
            EXPECT(got == (float)prev, "ring send/recv");
        }
        cudaFree(d);
        cudaFree(d2);
        free(h);
    }
    float t[2] = {(float)pass, (float)fail};
    cosmos_comm_allreduce_sum(w, t, 2);
    if (rank == 0) printf("%d passed, %d failed\n", (int)t[0], (int)t[1]);
    cosmos_comm_free(nc);
    cosmos_comm_free(w);
    return t[1] != 0.0f;
}
