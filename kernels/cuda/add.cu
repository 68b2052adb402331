/* CUDA elementwise add, the counterpart of cosmos_cpu_add: y = a + b with y, a bf16 activations and
 * b bf16 (residuals, the bf16-valued APE table) or f32; f32 math, one rounding. And the all-f32 add
 * of the T5 encoder's residuals (it runs in f32 on every backend). y may alias a. */
#include "kernels/cuda/vec.cuh" /* st_act */

#define ADD_THREADS 256

template <typename TB>
static __global__ void add_bf16_kernel(cosmos_bf16 *y, const cosmos_bf16 *a, const TB *b, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        st_bf16(y + i, ld_f32(a + i) + ld_f32(b + i));
}

extern "C" cosmos_status cosmos_cuda_add(cosmos_bf16 *y, const cosmos_bf16 *a, const void *b,
                                         enum cosmos_dtype b_dtype, int64_t n, cudaStream_t stream) {
    if (n <= 0) return COSMOS_OK;
    const unsigned grid = cosmos_grid_1d(n, ADD_THREADS);
    if (b_dtype == COSMOS_BF16)
        COSMOS_LAUNCH(grid, ADD_THREADS, 0, stream, add_bf16_kernel<cosmos_bf16>)(y, a, (const cosmos_bf16 *)b, n);
    else if (b_dtype == COSMOS_F32)
        COSMOS_LAUNCH(grid, ADD_THREADS, 0, stream, add_bf16_kernel<float>)(y, a, (const float *)b, n);
    else
        return COSMOS_ERR_UNSUPPORTED;
    return CUDA_LAUNCH_STATUS("add_bf16_kernel");
}

static __global__ void add_f32_kernel(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = a[i] + b[i];
}

extern "C" cosmos_status cosmos_cuda_add_f32(float *y, const float *a, const float *b, int64_t n, cudaStream_t stream) {
    if (n <= 0) return COSMOS_OK;
    COSMOS_LAUNCH(cosmos_grid_1d(n, ADD_THREADS), ADD_THREADS, 0, stream, add_f32_kernel)(y, a, b, n);
    return CUDA_LAUNCH_STATUS("add_f32_kernel");
}

/* y[r, i] += b[i] for rows of D (a Linear's bias), y f32 or bf16, b f32 */
template <typename T>
static __global__ void add_bias_kernel(T *y, const float *b, int64_t n, int64_t D) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        st_act(y + i, ld_f32(y + i) + b[i % D]);
}

extern "C" cosmos_status cosmos_cuda_add_bias(void *y, enum cosmos_dtype dtype, const float *b, int64_t rows, int64_t D,
                                              cudaStream_t stream) {
    const int64_t n = rows * D;
    if (n <= 0) return COSMOS_OK;
    const unsigned grid = cosmos_grid_1d(n, ADD_THREADS);
    if (dtype == COSMOS_F32)
        COSMOS_LAUNCH(grid, ADD_THREADS, 0, stream, add_bias_kernel<float>)((float *)y, b, n, D);
    else if (dtype == COSMOS_BF16)
        COSMOS_LAUNCH(grid, ADD_THREADS, 0, stream, add_bias_kernel<cosmos_bf16>)((cosmos_bf16 *)y, b, n, D);
    else
        return COSMOS_ERR_UNSUPPORTED;
    return CUDA_LAUNCH_STATUS("add_bias_kernel");
}
