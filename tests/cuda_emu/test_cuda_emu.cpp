/* The CUDA emulator itself (tests/cuda_emu, docs/cuda.md "The CUDA emulator"): the CUDA semantics
 * the backend's kernels rely on, each against a known answer, and the CUDA errors it must raise
 * where a GPU would (so a kernel bug fails the emulated suites instead of passing them). Compiled
 * like the kernels: host C++ with emu_device.h force-included. Criterion runs each test in its own
 * process, so a sticky kernel fault stays in its test. */
#include <criterion/criterion.h>
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/cuda/cp_async.cuh"
#include "kernels/cuda/mma.cuh"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <vector>

/* ---- kernels ---- */

static __global__ void rotate_kernel(int *out) { /* out[t] = the thread id of t's right neighbour */
    __shared__ int s[1024];
    const int t = threadIdx.x, n = blockDim.x;
    s[t] = t + 1000 * blockIdx.x;
    __syncthreads();
    out[blockIdx.x * n + t] = s[(t + 1) % n];
}
static __global__ void no_barrier_rotate_kernel(int *out) { /* the same without the barrier: a race */
    __shared__ int s[1024];
    const int t = threadIdx.x, n = blockDim.x;
    s[t] = t + 1000 * blockIdx.x;
    out[blockIdx.x * n + t] = s[(t + 1) % n];
}
static __global__ void warp_sum_kernel(float *out) {
    float v = (float)(threadIdx.x % 32);
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    out[threadIdx.x] = v;
}
static __global__ void vote_kernel(int *out, int who) { out[threadIdx.x] = __syncthreads_or((int)threadIdx.x == who); }
static __global__ void index_kernel(int *out) { /* every built-in at once, 3-D */
    const int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    out[b * (blockDim.x * blockDim.y * blockDim.z) + t] = b * 10000 + t;
}
static __global__ void dyn_smem_kernel(float *out, int n) {
    COSMOS_DYN_SHARED(float, buf);
    for (int i = threadIdx.x; i < n; i += blockDim.x) buf[i] = (float)i;
    __syncthreads();
    float s = 0;
    for (int i = 0; i < n; i++) s += buf[i];
    if (threadIdx.x == 0) *out = s;
}
static __global__ void divergent_kernel(int *out) {
    /* half a warp at __syncthreads, the other half at a shuffle that needs the first half */
    float v = 1.0f;
    if (threadIdx.x < 16) __syncthreads();
    else v = __shfl_xor_sync(0xffffffffu, v, 1);
    out[threadIdx.x] = (int)v;
}
static __global__ void exited_lane_kernel(float *out) {
    if (threadIdx.x == 5) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}
static __global__ void add_one_kernel(int *x) { x[threadIdx.x] += 1; }
/* out[0] = popc(t); out[1] = a * b - c rounded twice; out[2] = the warp's double sum (per thread) */
static __global__ void intrinsics_kernel(double *out, float a, float b, float c) {
    const unsigned t = threadIdx.x;
    double v = (double)t + 0.25;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    out[3 * t] = (double)__popc(t * 0x01010101u);
    out[3 * t + 1] = (double)__fsub_rn(__fmul_rn(a, b), c);
    out[3 * t + 2] = v;
}

/* D = A . B + C with one mma.sync m16n8k16 per warp (kernels/cuda/mma.cuh), warp w on its own
 * A [16,16], B [16,8] (row-major, bf16) and C [16,8] (f32). The fragments are gathered here with the
 * PTX ISA's formulas as written (element i of a lane: its row and column), the emulator scatters
 * them the other way round. */
static __global__ void mma_kernel(float *d, const __nv_bfloat16 *a, const __nv_bfloat16 *b, const float *c) {
    const int lane = threadIdx.x % 32, w = threadIdx.x / 32, g = lane >> 2, t = lane % 4;
    a += w * 256, b += w * 128, c += w * 128, d += w * 128;
    uint32_t ra[4] = {0, 0, 0, 0}, rb[2] = {0, 0};
    for (int i = 0; i < 8; i++) {
        const int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8, col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
        const __nv_bfloat16 x = a[row * 16 + col];
        ra[i / 2] |= (uint32_t)*reinterpret_cast<const uint16_t *>(&x) << (16 * (i % 2));
    }
    for (int i = 0; i < 4; i++) {
        const int row = t * 2 + (i & 1) + (i >= 2 ? 8 : 0), col = g;
        const __nv_bfloat16 x = b[row * 8 + col];
        rb[i / 2] |= (uint32_t)*reinterpret_cast<const uint16_t *>(&x) << (16 * (i % 2));
    }
    float acc[4];
    for (int i = 0; i < 4; i++) acc[i] = c[(i < 2 ? g : g + 8) * 8 + t * 2 + (i & 1)];
    mma_bf16_16816(acc, ra, rb);
    for (int i = 0; i < 4; i++) d[(i < 2 ? g : g + 8) * 8 + t * 2 + (i & 1)] = acc[i];
}
/* ldmatrix (kernels/cuda/mma.cuh): matrix i (8 x 8 of 16-bit) at smem rows 8i..8i+7, element [j][k]
 * = 64 i + 8 j + k; lane 8i + j passes row j of matrix i; out[lane][i] = register i (plain), then
 * out[32 + lane][i] = register i (transposed). Rows 24 elements apart: 16-byte aligned, padded. */
static __global__ void ldmatrix_kernel(uint32_t *out) {
    __shared__ __align__(16) uint16_t m[32 * 24];
    const int lane = threadIdx.x;
    for (int r = 0; r < 32; r++)
        if (lane < 8) m[r * 24 + lane] = (uint16_t)((r / 8) * 64 + (r % 8) * 8 + lane);
    __syncthreads();
    uint32_t r[4];
    ldmatrix_x4<false>(r, &m[(8 * (lane / 8) + lane % 8) * 24]);
    for (int i = 0; i < 4; i++) out[lane * 4 + i] = r[i];
    ldmatrix_x4<true>(r, &m[(8 * (lane / 8) + lane % 8) * 24]);
    for (int i = 0; i < 4; i++) out[(32 + lane) * 4 + i] = r[i];
}
static __global__ void ldmatrix_misaligned_kernel(uint32_t *out) {
    __shared__ __align__(16) uint16_t m[32 * 24];
    uint32_t r[4];
    ldmatrix_x4<false>(r, &m[threadIdx.x * 24 + 1]);
    out[threadIdx.x] = r[0];
}
static __global__ void ldcs_kernel(uint4 *out, const uint4 *in, int off_bytes) {
    out[threadIdx.x] = __ldcs(reinterpret_cast<const uint4 *>(reinterpret_cast<const char *>(in + threadIdx.x) +
                                                              off_bytes));
}
static __global__ void mma_exited_lane_kernel(float *d, const __nv_bfloat16 *a, const __nv_bfloat16 *b) {
    if (threadIdx.x == 7) return;
    uint32_t ra[4] = {0, 0, 0, 0}, rb[2] = {0, 0};
    float acc[4] = {0, 0, 0, 0};
    (void)a, (void)b;
    mma_bf16_16816(acc, ra, rb);
    d[threadIdx.x] = acc[0];
}

/* cp.async (kernels/cuda/cp_async.cuh): each thread copies 16 bytes of src into shared memory in two
 * groups (first half of the block's rows, then the second half); out records what thread t's
 * neighbour's row holds before any wait, after waiting for all but the last group (plus a barrier)
 * and after waiting for all. */
static __global__ void cp_async_kernel(int *out, const int4 *src) {
    __shared__ int4 buf[64];
    const int t = threadIdx.x, n = blockDim.x, peer = (t + 1) % n;
    buf[t] = make_int4(0, 0, 0, 0);
    buf[t + n] = make_int4(0, 0, 0, 0);
    __syncthreads();
    cp_async16(&buf[t], &src[blockIdx.x * 2 * n + t]);
    cp_async_commit();
    cp_async16(&buf[t + n], &src[blockIdx.x * 2 * n + n + t]);
    cp_async_commit();
    __syncthreads();
    out[(blockIdx.x * n + t) * 4 + 0] = buf[peer].x;
    __syncthreads();
    cp_async_wait<1>();
    __syncthreads();
    out[(blockIdx.x * n + t) * 4 + 1] = buf[peer].x;
    out[(blockIdx.x * n + t) * 4 + 2] = buf[peer + n].x;
    __syncthreads();
    cp_async_wait<0>();
    __syncthreads();
    out[(blockIdx.x * n + t) * 4 + 3] = buf[peer + n].x;
}

typedef cub::BlockReduce<double, 256> reduce256;
typedef cub::BlockScan<int, 256> scan256;
static __global__ void reduce_scan_kernel(double *sum, int *excl) {
    __shared__ reduce256::TempStorage rt;
    __shared__ scan256::TempStorage st;
    const double s = reduce256(rt).Sum((double)threadIdx.x);
    if (threadIdx.x == 0) *sum = s;
    int e;
    scan256(st).ExclusiveSum((int)threadIdx.x + 1, e);
    excl[threadIdx.x] = e;
}

/* ---- helpers ---- */

template <typename T>
static T *dalloc(size_t n) {
    void *p = nullptr;
    cr_assert_eq(cudaMalloc(&p, sizeof(T) * n), cudaSuccess);
    return (T *)p;
}
template <typename T>
static std::vector<T> fetch(const T *d, size_t n) {
    std::vector<T> h(n);
    cr_assert_eq(cudaMemcpy(h.data(), d, sizeof(T) * n, cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
}

/* ---- semantics ---- */

Test(cuda_emu, barrier_shares_shared_memory_per_block) {
    int *d = dalloc<int>(3 * 256);
    COSMOS_LAUNCH(3, 256, 0, (cudaStream_t)0, rotate_kernel)(d);
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
    std::vector<int> h = fetch(d, 3 * 256);
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < 256; t++) cr_assert_eq(h[b * 256 + t], (t + 1) % 256 + 1000 * b, "block %d thread %d", b, t);
}

Test(cuda_emu, a_missing_barrier_reads_stale_shared_memory) {
    /* threads run in order up to a barrier (ascending in block 0, descending in block 1): without
     * one, in block 0 thread t reads s[t+1] before t+1 wrote it; in block 1, thread 63 reads s[0]
     * before thread 0 wrote it (s still holds block 0's values) */
    int *d = dalloc<int>(2 * 64);
    COSMOS_LAUNCH(2, 64, 0, (cudaStream_t)0, no_barrier_rotate_kernel)(d);
    std::vector<int> h = fetch(d, 2 * 64);
    cr_expect_neq(h[0], 1, "block 0 thread 0 saw thread 1's write without a barrier");
    cr_expect_neq(h[64 + 63], 1000, "block 1 thread 63 saw thread 0's write without a barrier");
}

Test(cuda_emu, shuffle_xor_butterfly) {
    float *d = dalloc<float>(96);
    COSMOS_LAUNCH(1, 96, 0, (cudaStream_t)0, warp_sum_kernel)(d);
    std::vector<float> h = fetch(d, 96);
    for (int t = 0; t < 96; t++) cr_assert_eq(h[t], 496.0f, "thread %d: %g", t, h[t]);
}

Test(cuda_emu, syncthreads_or_votes_across_the_block) {
    int *d = dalloc<int>(1024);
    COSMOS_LAUNCH(1, 1024, 0, (cudaStream_t)0, vote_kernel)(d, 777);
    std::vector<int> h = fetch(d, 1024);
    for (int t = 0; t < 1024; t++) cr_assert_eq(h[t], 1);
    COSMOS_LAUNCH(1, 1024, 0, (cudaStream_t)0, vote_kernel)(d, -1);
    h = fetch(d, 1024);
    for (int t = 0; t < 1024; t++) cr_assert_eq(h[t], 0);
}

/* __popc; __fmul_rn / __fsub_rn round each result to f32 (never one fused rounding: the FSQ kernel
 * relies on it); a warp shuffle of doubles (the GroupNorm's statistics). */
Test(cuda_emu, popc_separate_rounding_double_shuffle) {
    double *d = dalloc<double>(3 * 32);
    const float a = 1.0f + 0x1p-12f; /* a * a = 1 + 2^-11 + 2^-24: a tie, rounded down to 1 + 2^-11 */
    COSMOS_LAUNCH(1, 32, 0, (cudaStream_t)0, intrinsics_kernel)(d, a, a, 1.0f);
    std::vector<double> h = fetch(d, 3 * 32);
    for (int t = 0; t < 32; t++) {
        cr_expect_eq(h[3 * t], 4.0 * __builtin_popcount((unsigned)t), "popc thread %d", t);
        cr_expect_eq(h[3 * t + 1], 0x1p-11, "separately rounded a*a - 1: %a (fused: 2^-11 + 2^-24)", h[3 * t + 1]);
        cr_expect_eq(h[3 * t + 2], 496.0 + 8.0, "double warp sum: %g", h[3 * t + 2]);
    }
}

Test(cuda_emu, three_dimensional_indices) {
    const dim3 grid(3, 2, 2), block(4, 3, 2);
    int *d = dalloc<int>(12 * 24);
    COSMOS_LAUNCH(grid, block, 0, (cudaStream_t)0, index_kernel)(d);
    std::vector<int> h = fetch(d, 12 * 24);
    for (int b = 0; b < 12; b++)
        for (int t = 0; t < 24; t++) cr_assert_eq(h[b * 24 + t], b * 10000 + t);
}

Test(cuda_emu, cub_block_reduce_and_scan) {
    double *s = dalloc<double>(1);
    int *e = dalloc<int>(256);
    COSMOS_LAUNCH(1, 256, 0, (cudaStream_t)0, reduce_scan_kernel)(s, e);
    cr_assert_eq(fetch(s, 1)[0], 255.0 * 256 / 2);
    std::vector<int> h = fetch(e, 256);
    for (int t = 0; t < 256; t++) cr_assert_eq(h[t], t * (t + 1) / 2, "exclusive sum at %d", t);
}

Test(cuda_emu, cub_radix_sort_descending_is_stable) {
    const float keys[8] = {1.0f, 3.0f, -0.0f, 3.0f, 0.0f, -2.0f, 1.0f, INFINITY};
    const int vals[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    float *k = dalloc<float>(8), *ko = dalloc<float>(8);
    int *v = dalloc<int>(8), *vo = dalloc<int>(8);
    cudaMemcpy(k, keys, sizeof keys, cudaMemcpyHostToDevice);
    cudaMemcpy(v, vals, sizeof vals, cudaMemcpyHostToDevice);
    size_t bytes = 0;
    cr_assert_eq(cub::DeviceRadixSort::SortPairsDescending(nullptr, bytes, (const float *)k, ko, (const int *)v, vo, 8),
                 cudaSuccess);
    void *tmp = dalloc<char>(bytes);
    cr_assert_eq(cub::DeviceRadixSort::SortPairsDescending(tmp, bytes, (const float *)k, ko, (const int *)v, vo, 8),
                 cudaSuccess);
    const int want[8] = {7, 1, 3, 0, 6, 4, 2, 5}; /* inf, 3, 3, 1, 1, +0, -0, -2: ties in input order */
    std::vector<int> h = fetch(vo, 8);
    for (int i = 0; i < 8; i++) cr_assert_eq(h[i], want[i], "position %d: id %d", i, h[i]);
}

/* ---- errors a GPU raises ---- */

Test(cuda_emu, bad_launch_configuration_is_reported_once) {
    int *d = dalloc<int>(2048);
    COSMOS_LAUNCH(1, 1025, 0, (cudaStream_t)0, add_one_kernel)(d);
    cr_assert_eq(cudaGetLastError(), cudaErrorInvalidConfiguration);
    cr_assert_eq(cudaGetLastError(), cudaSuccess, "a launch error is not sticky");
    COSMOS_LAUNCH(dim3(1, 65536), 32, 0, (cudaStream_t)0, add_one_kernel)(d);
    cr_assert_eq(cudaGetLastError(), cudaErrorInvalidConfiguration);
}

Test(cuda_emu, dynamic_shared_memory_over_48k_needs_the_attribute) {
    float *d = dalloc<float>(1);
    const int n = 16384; /* 64 KiB */
    COSMOS_LAUNCH(1, 128, sizeof(float) * n, (cudaStream_t)0, dyn_smem_kernel)(d, n);
    cr_assert_eq(cudaGetLastError(), cudaErrorInvalidValue);
    cr_assert_eq(cudaFuncSetAttribute(dyn_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sizeof(float) * n),
                 cudaSuccess);
    COSMOS_LAUNCH(1, 128, sizeof(float) * n, (cudaStream_t)0, dyn_smem_kernel)(d, n);
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
    float want = 0;
    for (int i = 0; i < n; i++) want += (float)i;
    cr_assert_eq(fetch(d, 1)[0], want);
}

Test(cuda_emu, divergent_barrier_is_a_sticky_fault) {
    int *d = dalloc<int>(64);
    COSMOS_LAUNCH(1, 32, 0, (cudaStream_t)0, divergent_kernel)(d);
    cr_assert_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
    void *p = nullptr;
    cr_assert_eq(cudaMalloc(&p, 16), cudaErrorLaunchFailure, "the fault stays, as a device fault does");
}

Test(cuda_emu, shuffle_with_an_exited_lane_is_a_fault) {
    float *d = dalloc<float>(32);
    COSMOS_LAUNCH(1, 32, 0, (cudaStream_t)0, exited_lane_kernel)(d);
    cr_assert_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
}

Test(cuda_emu, mma_bf16_m16n8k16_matches_a_matmul) {
    const int W = 2; /* two warps, each its own product */
    std::vector<__nv_bfloat16> ha(W * 256), hb(W * 128);
    std::vector<float> hc(W * 128), fa(W * 256), fb(W * 128);
    for (int i = 0; i < W * 256; i++) { /* small integers and halves: every sum below is exact */
        fa[i] = (float)((i * 7 + i / 16 * 3) % 13 - 6) * 0.5f;
        ha[i] = __float2bfloat16_rn(fa[i]);
    }
    for (int i = 0; i < W * 128; i++) {
        fb[i] = (float)((i * 5 + i / 8) % 11 - 5);
        hb[i] = __float2bfloat16_rn(fb[i]);
        hc[i] = (float)(i % 9) - 4.0f;
    }
    __nv_bfloat16 *da = dalloc<__nv_bfloat16>(W * 256), *db = dalloc<__nv_bfloat16>(W * 128);
    float *dc = dalloc<float>(W * 128), *dd = dalloc<float>(W * 128);
    cr_assert_eq(cudaMemcpy(da, ha.data(), sizeof(__nv_bfloat16) * W * 256, cudaMemcpyHostToDevice), cudaSuccess);
    cr_assert_eq(cudaMemcpy(db, hb.data(), sizeof(__nv_bfloat16) * W * 128, cudaMemcpyHostToDevice), cudaSuccess);
    cr_assert_eq(cudaMemcpy(dc, hc.data(), sizeof(float) * W * 128, cudaMemcpyHostToDevice), cudaSuccess);
    COSMOS_LAUNCH(1, 32 * W, 0, (cudaStream_t)0, mma_kernel)(dd, da, db, dc);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<float> h = fetch(dd, W * 128);
    for (int w = 0; w < W; w++)
        for (int r = 0; r < 16; r++)
            for (int n = 0; n < 8; n++) {
                double ref = hc[w * 128 + r * 8 + n];
                for (int k = 0; k < 16; k++) ref += (double)fa[w * 256 + r * 16 + k] * fb[w * 128 + k * 8 + n];
                cr_assert_eq(h[w * 128 + r * 8 + n], (float)ref, "warp %d D[%d][%d]: %g, want %g", w, r, n,
                             h[w * 128 + r * 8 + n], ref);
            }
}

Test(cuda_emu, ldmatrix_gives_the_ptx_fragments) {
    uint32_t *d = dalloc<uint32_t>(64 * 4);
    COSMOS_LAUNCH(1, 32, 0, (cudaStream_t)0, ldmatrix_kernel)(d);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<uint32_t> h = fetch(d, 64 * 4);
    for (int lane = 0; lane < 32; lane++) {
        const int g = lane / 4, c = lane % 4; /* the PTX ISA: "row = groupID, col = threadID_in_group * 2 + i" */
        for (int i = 0; i < 4; i++) {
            const uint32_t plain = (uint32_t)(64 * i + 8 * g + 2 * c) | (uint32_t)(64 * i + 8 * g + 2 * c + 1) << 16;
            const uint32_t trans = (uint32_t)(64 * i + 8 * (2 * c) + g) | (uint32_t)(64 * i + 8 * (2 * c + 1) + g) << 16;
            cr_assert_eq(h[lane * 4 + i], plain, "lane %d register %d: %#x, want %#x", lane, i, h[lane * 4 + i], plain);
            cr_assert_eq(h[(32 + lane) * 4 + i], trans, "lane %d register %d (trans): %#x, want %#x", lane, i,
                         h[(32 + lane) * 4 + i], trans);
        }
    }
}

Test(cuda_emu, ldmatrix_with_a_misaligned_row_is_a_fault) {
    uint32_t *d = dalloc<uint32_t>(32);
    COSMOS_LAUNCH(1, 32, 0, (cudaStream_t)0, ldmatrix_misaligned_kernel)(d);
    cr_assert_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
}

/* __ldcs (the decode GEMV's weight loads) reads what a plain load reads, and faults on an address
 * that is not 16-byte aligned for a 16-byte vector, as a GPU does */
Test(cuda_emu, ldcs_loads_and_faults_when_misaligned) {
    uint4 *in = dalloc<uint4>(33), *out = dalloc<uint4>(32);
    uint4 h[33];
    for (unsigned i = 0; i < 33; i++) h[i] = make_uint4(4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3);
    cr_assert_eq(cudaMemcpy(in, h, sizeof h, cudaMemcpyHostToDevice), cudaSuccess);
    COSMOS_LAUNCH(1, 32, 0, (cudaStream_t)0, ldcs_kernel)(out, in, 0);
    uint4 back[32];
    cr_assert_eq(cudaMemcpy(back, out, sizeof back, cudaMemcpyDeviceToHost), cudaSuccess);
    for (int i = 0; i < 32; i++) cr_expect(!memcmp(&back[i], &h[i], sizeof back[i]), "lane %d", i);
    COSMOS_LAUNCH(1, 32, 0, (cudaStream_t)0, ldcs_kernel)(out, in, 8);
    cr_assert_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
}

Test(cuda_emu, mma_with_an_exited_lane_is_a_fault) {
    float *d = dalloc<float>(32);
    COSMOS_LAUNCH(1, 32, 0, (cudaStream_t)0, mma_exited_lane_kernel)(d, nullptr, nullptr);
    cr_assert_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
}

Test(cuda_emu, cp_async_lands_at_the_wait) {
    const int B = 3, N = 32; /* three blocks: block 2's copies are not block 0's, still pending */
    std::vector<int4> hs(B * 2 * N);
    for (int i = 0; i < B * 2 * N; i++) hs[i] = make_int4(100 + i, 0, 0, 0);
    int4 *ds = dalloc<int4>(B * 2 * N);
    int *d = dalloc<int>(B * N * 4);
    cr_assert_eq(cudaMemcpy(ds, hs.data(), sizeof(int4) * B * 2 * N, cudaMemcpyHostToDevice), cudaSuccess);
    COSMOS_LAUNCH(B, N, 0, (cudaStream_t)0, cp_async_kernel)(d, ds);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<int> h = fetch(d, B * N * 4);
    for (int b = 0; b < B; b++) /* even blocks: copies land at the wait; odd ones: at the issue */
        for (int t = 0; t < N; t++) {
            const int *r = &h[(b * N + t) * 4], peer = (t + 1) % N, g0 = 100 + b * 2 * N + peer, g1 = g0 + N;
            cr_assert_eq(r[0], (b & 1) ? g0 : 0, "block %d thread %d: before any wait", b, t);
            cr_assert_eq(r[1], g0, "block %d thread %d: group 0 after wait_group 1", b, t);
            cr_assert_eq(r[2], (b & 1) ? g1 : 0, "block %d thread %d: group 1 before its wait", b, t);
            cr_assert_eq(r[3], g1, "block %d thread %d: group 1 after wait_group 0", b, t);
        }
}

Test(cuda_emu, graph_records_then_replays) {
    cudaStream_t s;
    cr_assert_eq(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    int *d = dalloc<int>(32);
    cr_assert_eq(cudaMemsetAsync(d, 0, sizeof(int) * 32, s), cudaSuccess);
    cr_assert_eq(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    COSMOS_LAUNCH(1, 32, 0, s, add_one_kernel)(d);
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
    cudaGraph_t g = nullptr;
    cr_assert_eq(cudaStreamEndCapture(s, &g), cudaSuccess);
    cr_assert_eq(fetch(d, 32)[7], 0, "a captured launch does not run");
    cudaGraphExec_t ge = nullptr;
    cr_assert_eq(cudaGraphInstantiate(&ge, g, 0), cudaSuccess);
    for (int i = 0; i < 3; i++) cr_assert_eq(cudaGraphLaunch(ge, s), cudaSuccess);
    cr_assert_eq(cudaStreamSynchronize(s), cudaSuccess);
    cr_assert_eq(fetch(d, 32)[7], 3);
    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
    cudaStreamDestroy(s);
}

Test(cuda_emu, synchronising_call_inside_a_capture_invalidates_it) {
    cudaStream_t s;
    cr_assert_eq(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    cr_assert_eq(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    void *p = nullptr;
    cr_assert_eq(cudaMalloc(&p, 64), cudaErrorStreamCaptureUnsupported);
    cr_assert_eq(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
    cudaGraph_t g = nullptr;
    cr_assert_eq(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
    cr_assert_null(g);
    cr_assert_eq(cudaMalloc(&p, 64), cudaSuccess, "after the capture, allowed again");
    cudaStreamDestroy(s);
}

/* ---- cuBLASLt ---- */

static float bf(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

/* D[m,n] = A^T B with A stored k x m (lda > k) and B k x n (ldb > k), bf16, column-major */
Test(cuda_emu, cublaslt_matmul_transposed_a_with_padding) {
    const int m = 5, n = 3, k = 7, lda = 9, ldb = 8;
    std::vector<__nv_bfloat16> A((size_t)lda * m), B((size_t)ldb * n), D((size_t)m * n);
    for (int i = 0; i < lda * m; i++) A[i] = __float2bfloat16_rn(0.25f * (float)((i * 7) % 11) - 1.0f);
    for (int i = 0; i < ldb * n; i++) B[i] = __float2bfloat16_rn(0.5f * (float)((i * 5) % 7) - 1.5f);
    __nv_bfloat16 *dA = dalloc<__nv_bfloat16>(A.size()), *dB = dalloc<__nv_bfloat16>(B.size()),
                  *dD = dalloc<__nv_bfloat16>(D.size());
    cudaMemcpy(dA, A.data(), sizeof(A[0]) * A.size(), cudaMemcpyHostToDevice);
    cudaMemcpy(dB, B.data(), sizeof(B[0]) * B.size(), cudaMemcpyHostToDevice);
    cublasLtHandle_t h;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulPreference_t pref;
    const cublasOperation_t T = CUBLAS_OP_T;
    cr_assert_eq(cublasLtCreate(&h), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &T, sizeof T), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, k, m, lda), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, k, n, ldb), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasLtMatrixLayoutCreate(&ld, CUDA_R_16BF, m, n, m), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasLtMatmulPreferenceCreate(&pref), CUBLAS_STATUS_SUCCESS);
    const uint32_t al = 2;
    for (auto a : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                   CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
        cr_assert_eq(cublasLtMatmulPreferenceSetAttribute(pref, a, &al, sizeof al), CUBLAS_STATUS_SUCCESS);
    cublasLtMatmulHeuristicResult_t res;
    int nres = 0;
    cr_assert_eq(cublasLtMatmulAlgoGetHeuristic(h, op, la, lb, ld, ld, pref, 1, &res, &nres), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(nres, 1);
    const float alpha = 1.0f, beta = 0.0f;
    cr_assert_eq(cublasLtMatmul(h, op, &alpha, dA, la, dB, lb, &beta, dD, ld, dD, ld, &res.algo, nullptr, 0, 0),
                 CUBLAS_STATUS_SUCCESS);
    D = fetch(dD, D.size());
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float acc = 0;
            for (int l = 0; l < k; l++) acc += __bfloat162float(A[l + i * lda]) * __bfloat162float(B[l + j * ldb]);
            cr_assert_eq(__bfloat162float(D[i + j * m]), bf(acc), "D[%d,%d]", i, j);
        }
    /* shapes that do not chain are refused by the heuristic */
    cublasLtMatrixLayout_t bad;
    cr_assert_eq(cublasLtMatrixLayoutCreate(&bad, CUDA_R_16BF, k + 1, n, ldb), CUBLAS_STATUS_SUCCESS);
    cr_assert_neq(cublasLtMatmulAlgoGetHeuristic(h, op, la, bad, ld, ld, pref, 1, &res, &nres), CUBLAS_STATUS_SUCCESS);
    cublasLtMatrixLayoutDestroy(bad);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(ld);
    cublasLtMatmulDescDestroy(op);
    cublasLtDestroy(h);
}

Test(cuda_emu, cublaslt_refuses_pointers_less_aligned_than_its_algorithm) {
    const int m = 8, n = 8, k = 8;
    __nv_bfloat16 *buf = dalloc<__nv_bfloat16>(4 * 128); /* 256-byte aligned; 128 elements = 256 bytes */
    cudaMemset(buf, 0, sizeof(__nv_bfloat16) * 4 * 128);
    cublasLtHandle_t h;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t l;
    cublasLtMatmulPreference_t pref; /* default: 256-byte alignment assumed */
    cublasLtCreate(&h);
    cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    cublasLtMatrixLayoutCreate(&l, CUDA_R_16BF, m, n, m);
    cublasLtMatmulPreferenceCreate(&pref);
    cublasLtMatmulHeuristicResult_t res;
    int nres = 0;
    cr_assert_eq(cublasLtMatmulAlgoGetHeuristic(h, op, l, l, l, l, pref, 1, &res, &nres), CUBLAS_STATUS_SUCCESS);
    const float alpha = 1.0f, beta = 0.0f;
    (void)k;
    cr_assert_eq(cublasLtMatmul(h, op, &alpha, buf, l, buf + 128, l, &beta, buf + 256, l, buf + 256, l, &res.algo,
                                nullptr, 0, 0),
                 CUBLAS_STATUS_SUCCESS, "256-byte aligned: accepted");
    cr_assert_eq(cublasLtMatmul(h, op, &alpha, buf + 1, l, buf + 128, l, &beta, buf + 256, l, buf + 256, l, &res.algo,
                                nullptr, 0, 0),
                 CUBLAS_STATUS_INVALID_VALUE, "A 2 bytes past a 256-byte boundary: refused");
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(l);
    cublasLtMatmulDescDestroy(op);
    cublasLtDestroy(h);
}
