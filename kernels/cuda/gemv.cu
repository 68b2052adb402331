/* CUDA matrix-vector products for the decode step (spec ar-model.md 1.3; issue 4: batch-1 decode
 * at the memory-bandwidth floor): y[M,N] = x[M,K] . w[N,K]^T for M <= COSMOS_CUDA_GEMV_MAX_M rows,
 * bf16 in and out, f32 accumulate; the contract of cosmos_cuda_matmul (matmul_cublaslt.c), which
 * serves every other shape. A one-token step reads each weight once and does two FLOPs per weight
 * read, so its speed is the rate at which the weights stream from memory; this kernel is written
 * for that alone.
 *
 * Layout: w row-major [N, K] (a Linear's weight, or a view of rows of the fused wq|wk|wv and w1|w3
 * groups), x row-major [M, K], y row-major [M, N]; w and x 16-byte aligned, K a multiple of 8, so
 * that every row is a run of 16-byte vectors (8 bf16). One warp per output row n (grid-stride over
 * one row per warp: GEMV_WARPS rows per block): lane l reads vectors l, l + 32, ... of the row, GEMV_UNROLL of
 * them issued before any is used (4 x 16 B in flight per lane, 2 KiB per warp), with the streaming
 * cache hint (the weights are read once per step; x, re-read by every warp, stays in L1/L2); each
 * vector is widened to f32 (exact) and multiplied into one f32 partial per x row; the 32 partials
 * are summed by shuffles and lane 0 rounds the row's M outputs to bf16 (nearest even). The order of
 * the f32 additions differs from the CPU oracle's and from cuBLASLt's: results agree to bf16
 * rounding (tests/cuda/test_cuda_ops.c, gemv_*). */
#include "kernels/cuda/common.cuh"

#define GEMV_THREADS 256
#define GEMV_WARPS (GEMV_THREADS / COSMOS_WARP)
#define GEMV_UNROLL 4

/* a 16-byte load of weights that will not be read again this step (ld.global.cs) */
static __device__ __forceinline__ uint4 ld_stream16(const uint4 *p) { return __ldcs(p); }

/* acc += dot(w, x) over the 8 bf16 pairs of two 16-byte vectors (little-endian: element 2i in the
 * low half of word i; bf16 -> f32 is a shift) */
static __device__ __forceinline__ float dot8(float acc, uint4 w, uint4 x) {
    const uint32_t ww[4] = {w.x, w.y, w.z, w.w}, xx[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        acc = fmaf(__uint_as_float(ww[i] << 16), __uint_as_float(xx[i] << 16), acc);
        acc = fmaf(__uint_as_float(ww[i] & 0xffff0000u), __uint_as_float(xx[i] & 0xffff0000u), acc);
    }
    return acc;
}

template <int M>
static __global__ void __launch_bounds__(GEMV_THREADS) gemv_bf16_kernel(cosmos_bf16 *__restrict__ y, const cosmos_bf16 *__restrict__ x,
                                                                        const cosmos_bf16 *__restrict__ w, int64_t N, int64_t K) {
    const int lane = (int)(threadIdx.x % COSMOS_WARP), warp = (int)(threadIdx.x / COSMOS_WARP);
    const int64_t kv = K / 8; /* 16-byte vectors per row */
    const uint4 *xv = reinterpret_cast<const uint4 *>(x);
    for (int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + warp; n < N; n += (int64_t)gridDim.x * GEMV_WARPS) {
        const uint4 *wr = reinterpret_cast<const uint4 *>(w) + n * kv;
        float acc[M];
#pragma unroll
        for (int m = 0; m < M; m++) acc[m] = 0.0f;
        int64_t i = lane;
        for (; i + (GEMV_UNROLL - 1) * COSMOS_WARP < kv; i += GEMV_UNROLL * COSMOS_WARP) {
            uint4 wv[GEMV_UNROLL];
#pragma unroll
            for (int u = 0; u < GEMV_UNROLL; u++) wv[u] = ld_stream16(wr + i + u * COSMOS_WARP);
#pragma unroll
            for (int u = 0; u < GEMV_UNROLL; u++)
#pragma unroll
                for (int m = 0; m < M; m++) acc[m] = dot8(acc[m], wv[u], xv[m * kv + i + u * COSMOS_WARP]);
        }
        for (; i < kv; i += COSMOS_WARP) { /* the last < GEMV_UNROLL x 32 vectors of the row */
            const uint4 wv = ld_stream16(wr + i);
#pragma unroll
            for (int m = 0; m < M; m++) acc[m] = dot8(acc[m], wv, xv[m * kv + i]);
        }
#pragma unroll
        for (int m = 0; m < M; m++) acc[m] = warp_sum(acc[m]);
        if (lane == 0)
#pragma unroll
            for (int m = 0; m < M; m++) st_bf16(y + m * N + n, acc[m]);
    }
}

extern "C" int cosmos_cuda_gemv_serves(int64_t M, int64_t K, const void *x, const void *w) {
    return M >= 1 && M <= COSMOS_CUDA_GEMV_MAX_M && K > 0 && K % 8 == 0 && ((uintptr_t)x & 15u) == 0 &&
           ((uintptr_t)w & 15u) == 0;
}

extern "C" cosmos_status cosmos_cuda_gemv(cosmos_bf16 *y, const cosmos_bf16 *x, const cosmos_bf16 *w, int64_t M,
                                          int64_t N, int64_t K, cudaStream_t stream) {
    if (!cosmos_cuda_gemv_serves(M, K, x, w)) return COSMOS_ERR_UNSUPPORTED;
    if (N <= 0) return COSMOS_OK;
    const int64_t blocks = (N + GEMV_WARPS - 1) / GEMV_WARPS; /* one warp per row: N < 2^34 */
    if (blocks > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    const unsigned grid = (unsigned)blocks;
    switch (M) {
    case 1: COSMOS_LAUNCH(grid, GEMV_THREADS, 0, stream, gemv_bf16_kernel<1>)(y, x, w, N, K); break;
    case 2: COSMOS_LAUNCH(grid, GEMV_THREADS, 0, stream, gemv_bf16_kernel<2>)(y, x, w, N, K); break;
    case 3: COSMOS_LAUNCH(grid, GEMV_THREADS, 0, stream, gemv_bf16_kernel<3>)(y, x, w, N, K); break;
    default: COSMOS_LAUNCH(grid, GEMV_THREADS, 0, stream, gemv_bf16_kernel<4>)(y, x, w, N, K); break;
    }
    return CUDA_LAUNCH_STATUS("gemv_bf16_kernel");
}
