/* CUDA 2-D convolution in f32, the counterpart of cosmos_cpu_conv2d (kernels/cpu/conv2d.c; the
 * RetinaFace face detector's convs, spec components.md 5.5, fp32 officially); contract
 * cosmos_op_conv2d (core/backend.h): x [Cin, H, W], y [Cout, Ho, Wo], w [Cout, K = Cin*k*k],
 * bias [Cout], all f32, zero padding `pad`, stride `stride`. As an im2col GEMM on cuBLASLt in f32
 * (CUBLAS_COMPUTE_32F, matmul_cublaslt.c): the output positions p = (oy, ox) are cut into chunks of
 * Pc; per chunk im2col_f32_kernel gathers cols [Pc, K] (row p: the inputs under the kernel at p in
 * the weight's (ci, ky, kx) order, 0 in the padding), cosmos_cuda_matmul_f32 gives
 * tmp [Pc, Cout] = cols . w^T, and bias_store_f32_kernel writes y[co, p] = tmp[p, co] + bias[co].
 * Scratch is stream-ordered (cudaMallocAsync / cudaFreeAsync), cols under CONV2D_COLS_BYTES (at
 * least one row). The CPU op multiplies w by its im2col matrix the other way round (sgemm, another
 * summation order): the two differ by f32 rounding only. */
extern "C" { /* a C header without its own extern "C" */
#include "core/log.h"
}
#include "kernels/cuda/common.cuh"

#define CONV2D_THREADS 256
#define CONV2D_COLS_BYTES ((int64_t)64 << 20)

static __global__ void im2col_f32_kernel(float *cols, const float *x, int64_t p0, int64_t np, int64_t H, int64_t W,
                                         int k, int stride, int pad, int64_t Wo, int64_t K) {
    const int64_t n = np * K, kk2 = (int64_t)k * k;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t q = i % K, p = p0 + i / K;
        const int64_t ci = q / kk2, r = q % kk2, ky = r / k, kx = r % k;
        const int64_t iy = (p / Wo) * stride - pad + ky, ix = (p % Wo) * stride - pad + kx;
        cols[i] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[(ci * H + iy) * W + ix] : 0.0f;
    }
}

/* y [Cout, P] (positions p0 .. p0 + np) = tmp [np, Cout] + bias */
static __global__ void bias_store_f32_kernel(float *y, const float *tmp, const float *bias, int64_t p0, int64_t np,
                                             int64_t P, int64_t Cout) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < Cout * np;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t co = i / np, pl = i % np;
        y[co * P + p0 + pl] = tmp[pl * Cout + co] + bias[co];
    }
}

extern "C" cosmos_status cosmos_cuda_conv2d(cosmos_cublaslt_t *lt, float *y, const float *x, const float *w,
                                            const float *bias, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int k,
                                            int stride, int pad, cudaStream_t stream) {
    cosmos_status st = COSMOS_OK;
    const int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1, P = Ho * Wo;
    const int64_t K = Cin * k * k;
    if (Cout <= 0 || P <= 0) return COSMOS_OK;
    int64_t Pc = CONV2D_COLS_BYTES / (int64_t)(sizeof(float) * (K > 0 ? K : 1));
    if (Pc < 1) Pc = 1;
    if (Pc > P) Pc = P;
    float *cols = NULL, *tmp = NULL;
    CUDA_CHECK(cudaMallocAsync((void **)&cols, sizeof(float) * (size_t)(Pc * K), stream));
    CUDA_CHECK(cudaMallocAsync((void **)&tmp, sizeof(float) * (size_t)(Pc * Cout), stream));
    for (int64_t p0 = 0; p0 < P; p0 += Pc) {
        const int64_t np = P - p0 < Pc ? P - p0 : Pc;
        COSMOS_LAUNCH(cosmos_grid_1d(np * K, CONV2D_THREADS), CONV2D_THREADS, 0, stream, im2col_f32_kernel)
        (cols, x, p0, np, H, W, k, stride, pad, Wo, K);
        CHECK(CUDA_LAUNCH_STATUS("im2col_f32_kernel"));
        CHECK(cosmos_cuda_matmul_f32(lt, tmp, cols, w, np, Cout, K, stream));
        COSMOS_LAUNCH(cosmos_grid_1d(Cout * np, CONV2D_THREADS), CONV2D_THREADS, 0, stream, bias_store_f32_kernel)
        (y, tmp, bias, p0, np, P, Cout);
        CHECK(CUDA_LAUNCH_STATUS("bias_store_f32_kernel"));
    }
fail:
    if (cols) cudaFreeAsync(cols, stream);
    if (tmp) cudaFreeAsync(tmp, stream);
    return st;
}
