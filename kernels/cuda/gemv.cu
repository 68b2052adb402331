/* CUDA matrix-vector products for the decode step (spec ar-model.md 1.3; issue 4: batch-1 decode
 * at the memory-bandwidth floor): y[M,N] = x[M,K] . w[N,K]^T for M <= COSMOS_CUDA_GEMV_MAX_M rows,
 * bf16 in and out, f32 accumulate; the contract of cosmos_cuda_matmul (matmul_cublaslt.c), which
 * serves every other shape. A one-token step reads each weight once and does two FLOPs per weight
 * read, so its speed is the rate at which the weights stream from memory; this kernel is written
 * for that alone.
 *
 * Layout: w row-major [N, K] (a Linear's weight, or a view of rows of the fused wq|wk|wv and w1|w3
 * groups), x row-major [M, K], y row-major [M, N]; w and x 16-byte aligned, K a multiple of 8, so
 * that every row is a run of 16-byte vectors (8 bf16). One warp per output row n (GEMV_WARPS rows
 * per block): lane l reads vectors l, l + 32, ... of the row, GEMV_UNROLL of them issued before any
 * is used (4 x 16 B in flight per lane, 2 KiB per warp), with the streaming
 * cache hint (the weights are read once per step; x, re-read by every warp, stays in L1/L2); each
 * vector is widened to f32 (exact) and multiplied into one f32 partial per x row; the 32 partials
 * are summed by shuffles and lane 0 rounds the row's M outputs to bf16 (nearest even). The order of
 * the f32 additions differs from the CPU oracle's and from cuBLASLt's: results agree to bf16
 * rounding (tests/cuda/test_cuda_ops.c, gemv_*).
 *
 * Two epilogues fuse the op after the product into the same launch (cosmos_op_matmul_add and
 * cosmos_op_matmul_swiglu, core/backend.h): the residual add y = a + x.w^T (the output projections
 * and w2, y = a = the hidden state), and SwiGLU h = silu(x.w1^T) * (x.w3^T) over the fused w1|w3
 * (one warp sums rows n and F + n: 8 loads in flight per lane). Each is bit for bit the plain GEMV
 * followed by add.cu / silu_mul.cu: the same sums in the same order, rounded to bf16 before they
 * are combined, as the two-launch path stores and reloads them. */
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

/* What the kernel does with a row's sums (bit for bit the unfused ops after a plain GEMV: each sum
 * is rounded to bf16 first, as the GEMV stores it, then combined in f32 as add.cu / silu_mul.cu do):
 * GEMV_STORE  y[m,n] = bf16(s)
 * GEMV_ADD    y[m,n] = bf16(a[m,n] + bf16(s))                     (a may be y)
 * GEMV_SWIGLU y[m,n] = bf16(silu(bf16(s1)) * bf16(s3)), s1 over w row n, s3 over w row N + n */
enum { GEMV_STORE, GEMV_ADD, GEMV_SWIGLU };

template <int M, int EPI>
static __global__ void gemv_bf16_kernel(cosmos_bf16 *y, const cosmos_bf16 *a, const cosmos_bf16 *__restrict__ x,
                                        const cosmos_bf16 *__restrict__ w, int64_t N, int64_t K) {
    constexpr int R = EPI == GEMV_SWIGLU ? 2 : 1; /* weight rows per output: n (and N + n) */
    const int lane = (int)(threadIdx.x % COSMOS_WARP), warp = (int)(threadIdx.x / COSMOS_WARP);
    const int64_t kv = K / 8; /* 16-byte vectors per row */
    const uint4 *xv = reinterpret_cast<const uint4 *>(x);
    const int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + warp; /* this warp's output row */
    if (n >= N) return; /* whole warps leave together */
    const uint4 *wr[R];
#pragma unroll
    for (int r = 0; r < R; r++) wr[r] = reinterpret_cast<const uint4 *>(w) + (n + r * N) * kv;
    float acc[R][M];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int m = 0; m < M; m++) acc[r][m] = 0.0f;
    int64_t i = lane;
    for (; i + (GEMV_UNROLL - 1) * COSMOS_WARP < kv; i += GEMV_UNROLL * COSMOS_WARP) {
        uint4 wv[R][GEMV_UNROLL];
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int u = 0; u < GEMV_UNROLL; u++) wv[r][u] = ld_stream16(wr[r] + i + u * COSMOS_WARP);
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++)
#pragma unroll
            for (int m = 0; m < M; m++) {
                const uint4 xm = xv[m * kv + i + u * COSMOS_WARP];
#pragma unroll
                for (int r = 0; r < R; r++) acc[r][m] = dot8(acc[r][m], wv[r][u], xm);
            }
    }
    for (; i < kv; i += COSMOS_WARP) { /* the last < GEMV_UNROLL x 32 vectors of the row */
        uint4 wv[R];
#pragma unroll
        for (int r = 0; r < R; r++) wv[r] = ld_stream16(wr[r] + i);
#pragma unroll
        for (int m = 0; m < M; m++)
#pragma unroll
            for (int r = 0; r < R; r++) acc[r][m] = dot8(acc[r][m], wv[r], xv[m * kv + i]);
    }
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int m = 0; m < M; m++) acc[r][m] = warp_sum(acc[r][m]);
    if (lane == 0)
#pragma unroll
        for (int m = 0; m < M; m++) {
            cosmos_bf16 *out = y + m * N + n;
            if (EPI == GEMV_STORE) {
                st_bf16(out, acc[0][m]);
            } else if (EPI == GEMV_ADD) {
                st_bf16(out, ld_f32(a + m * N + n) + round_bf16(acc[0][m]));
            } else {
                const float v = round_bf16(acc[0][m]), u = round_bf16(acc[1][m]);
                st_bf16(out, (v / (1.0f + expf(-v))) * u);
            }
        }
}

extern "C" int cosmos_cuda_gemv_serves(int64_t M, int64_t K, const void *x, const void *w) {
    return M >= 1 && M <= COSMOS_CUDA_GEMV_MAX_M && K > 0 && K % 8 == 0 && ((uintptr_t)x & 15u) == 0 &&
           ((uintptr_t)w & 15u) == 0;
}

template <int EPI>
static cosmos_status launch(cosmos_bf16 *y, const cosmos_bf16 *a, const cosmos_bf16 *x, const cosmos_bf16 *w,
                            int64_t M, int64_t N, int64_t K, cudaStream_t stream) {
    if (!cosmos_cuda_gemv_serves(M, K, x, w)) return COSMOS_ERR_UNSUPPORTED;
    if (N <= 0) return COSMOS_OK;
    const int64_t blocks = (N + GEMV_WARPS - 1) / GEMV_WARPS; /* one warp per output: N < 2^34 */
    if (blocks > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    const unsigned grid = (unsigned)blocks;
    switch (M) {
    case 1: COSMOS_LAUNCH(grid, GEMV_THREADS, 0, stream, gemv_bf16_kernel<1, EPI>)(y, a, x, w, N, K); break;
    case 2: COSMOS_LAUNCH(grid, GEMV_THREADS, 0, stream, gemv_bf16_kernel<2, EPI>)(y, a, x, w, N, K); break;
    case 3: COSMOS_LAUNCH(grid, GEMV_THREADS, 0, stream, gemv_bf16_kernel<3, EPI>)(y, a, x, w, N, K); break;
    default: COSMOS_LAUNCH(grid, GEMV_THREADS, 0, stream, gemv_bf16_kernel<4, EPI>)(y, a, x, w, N, K); break;
    }
    return CUDA_LAUNCH_STATUS("gemv_bf16_kernel");
}

extern "C" cosmos_status cosmos_cuda_gemv(cosmos_bf16 *y, const cosmos_bf16 *x, const cosmos_bf16 *w, int64_t M,
                                          int64_t N, int64_t K, cudaStream_t stream) {
    return launch<GEMV_STORE>(y, NULL, x, w, M, N, K, stream);
}
extern "C" cosmos_status cosmos_cuda_gemv_add(cosmos_bf16 *y, const cosmos_bf16 *a, const cosmos_bf16 *x,
                                              const cosmos_bf16 *w, int64_t M, int64_t N, int64_t K,
                                              cudaStream_t stream) {
    return launch<GEMV_ADD>(y, a, x, w, M, N, K, stream);
}
extern "C" cosmos_status cosmos_cuda_gemv_swiglu(cosmos_bf16 *h, const cosmos_bf16 *x, const cosmos_bf16 *w13,
                                                 int64_t M, int64_t F, int64_t K, cudaStream_t stream) {
    return launch<GEMV_SWIGLU>(h, NULL, x, w13, M, F, K, stream);
}
