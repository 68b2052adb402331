/* CUDA embedding gather, the counterpart of cosmos_cpu_embedding (kernels/cpu/elementwise.c):
 * y[t] = table[ids[t]] for ids in [0, V), a zero row otherwise (a vocab-parallel rank holds only
 * its shard). bf16 table and output, ids int32 in device memory. One block per token. */
#include "kernels/cuda/common.cuh"

#define EMBEDDING_THREADS 256

static __global__ void embedding_bf16_kernel(cosmos_bf16 *y, const cosmos_bf16 *table, int64_t V,
                                             const int32_t *ids, int64_t D) {
    const int64_t t = blockIdx.x;
    const int32_t id = ids[t];
    cosmos_bf16 *yr = y + t * D;
    if (id >= 0 && id < V) {
        const cosmos_bf16 *tr = table + (int64_t)id * D;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) yr[i] = tr[i];
    } else {
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) yr[i] = 0;
    }
}

extern "C" cosmos_status cosmos_cuda_embedding(cosmos_bf16 *y, const cosmos_bf16 *table, int64_t V, const int32_t *ids,
                                               int64_t T, int64_t D, cudaStream_t stream) {
    if (T <= 0 || D <= 0) return COSMOS_OK;
    if (T > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    COSMOS_LAUNCH((unsigned)T, EMBEDDING_THREADS, 0, stream, embedding_bf16_kernel)(y, table, V, ids, D);
    return CUDA_LAUNCH_STATUS("embedding_bf16_kernel");
}
