/* CUDA row ops at a position that may live in device memory (CUDA-graph decode; backend.h
 * COSMOS_POS_DEVICE), the counterparts of cpu_store_rows / cpu_add_rows in kernels/cpu/backend_cpu.c:
 * store_rows writes a step's K or V rows [T, row] into the cache at rows [pos, pos+T) (a plain copy,
 * 4-byte words when the row size and pointers allow, else bytes); add_rows adds the APE table rows
 * [pos, pos+T) to bf16 activations [T, D] (f32 math, one rounding, as add.cu). pos = *d_pos when
 * d_pos is not NULL, read when the kernel runs. */
#include "kernels/cuda/common.cuh"

#define ROWS_THREADS 256

template <typename W>
static __global__ void store_rows_kernel(W *dst, const W *src, int64_t n_words, int64_t row_words, int64_t pos,
                                         const int64_t *d_pos) {
    if (d_pos) pos = *d_pos;
    W *d = dst + pos * row_words;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n_words; i += (int64_t)gridDim.x * blockDim.x)
        d[i] = src[i];
}

extern "C" cosmos_status cosmos_cuda_store_rows(void *dst, const void *src, int64_t n_rows, int64_t row_bytes,
                                                int64_t pos, const int64_t *d_pos, cudaStream_t stream) {
    const int64_t n = n_rows * row_bytes;
    if (n <= 0) return COSMOS_OK;
    if (row_bytes % 4 == 0 && ((uintptr_t)dst & 3u) == 0 && ((uintptr_t)src & 3u) == 0) {
        COSMOS_LAUNCH(cosmos_grid_1d(n / 4, ROWS_THREADS), ROWS_THREADS, 0, stream, store_rows_kernel<uint32_t>)
        ((uint32_t *)dst, (const uint32_t *)src, n / 4, row_bytes / 4, pos, d_pos);
    } else {
        COSMOS_LAUNCH(cosmos_grid_1d(n, ROWS_THREADS), ROWS_THREADS, 0, stream, store_rows_kernel<uint8_t>)
        ((uint8_t *)dst, (const uint8_t *)src, n, row_bytes, pos, d_pos);
    }
    return CUDA_LAUNCH_STATUS("store_rows_kernel");
}

template <typename TB>
static __global__ void add_rows_kernel(cosmos_bf16 *y, const cosmos_bf16 *a, const TB *table, int64_t n, int64_t D,
                                       int64_t pos, const int64_t *d_pos) {
    if (d_pos) pos = *d_pos;
    const TB *b = table + pos * D;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        st_bf16(y + i, ld_f32(a + i) + ld_f32(b + i));
}

extern "C" cosmos_status cosmos_cuda_add_rows(cosmos_bf16 *y, const cosmos_bf16 *a, const void *table,
                                              enum cosmos_dtype table_dtype, int64_t T, int64_t D, int64_t pos,
                                              const int64_t *d_pos, cudaStream_t stream) {
    const int64_t n = T * D;
    if (n <= 0) return COSMOS_OK;
    const unsigned grid = cosmos_grid_1d(n, ROWS_THREADS);
    if (table_dtype == COSMOS_BF16)
        COSMOS_LAUNCH(grid, ROWS_THREADS, 0, stream, add_rows_kernel<cosmos_bf16>)
        (y, a, (const cosmos_bf16 *)table, n, D, pos, d_pos);
    else if (table_dtype == COSMOS_F32)
        COSMOS_LAUNCH(grid, ROWS_THREADS, 0, stream, add_rows_kernel<float>)
        (y, a, (const float *)table, n, D, pos, d_pos);
    else
        return COSMOS_ERR_UNSUPPORTED;
    return CUDA_LAUNCH_STATUS("add_rows_kernel");
}
