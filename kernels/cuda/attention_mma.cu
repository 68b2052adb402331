/* CUDA attention on the tensor cores (mma.sync m16n8k16, bf16 in, f32 accumulate), FlashAttention-2
 * style: the prefill / full-sequence path of cosmos_cuda_attention (attention.cu, same contract as
 * cosmos_op_attention, spec ar-model.md 1.3 steps 5-6 and section 3; the diffusion decoder's
 * self- and cross-attention, components.md 4) for bf16 K/V and Dh in {16, 32, 64, 128}.
 * Layout: q, out bf16 [T,H,Dh]; k, v bf16 [S,Hkv,Dh], rows contiguous, every pointer 16-byte
 * aligned. Query t (position pos0+t) attends keys [0, pos0+t] when causal, all S otherwise;
 * query head h reads KV head h / (H/Hkv); scale 1/sqrt(Dh).
 *
 * Grid (ceil(T/64), H), 128 threads: a block takes 64 queries of one head (tiles in reverse order
 * of blockIdx.x, so the longest causal rows start first), each of its 4 warps 16 of them. The
 * warp keeps its Q rows as mma A fragments in registers for the whole kernel (staged once through
 * shared memory), then walks the keys in tiles of 64, double-buffered: while the warps work on one
 * tile, the next one's K and V rows travel into the other buffers by cp.async (16-byte copies;
 * rows padded to Dh+8 bf16, so the fragment reads of the 8 row groups fall in different banks; rows
 * past the last key are zeros), and each warp
 *  - computes its 16 x 64 scores S = Q K^T with Dh/16 x 8 mma (K rows are B's columns; their
 *    fragments come by ldmatrix, two 8-key blocks per instruction),
 *  - masks (causal: key > pos0+t; keys past S) to -inf and scales by log2(e)/sqrt(Dh),
 *  - updates the online softmax per row in registers: the row max over the quad of lanes that
 *    holds the row (two shuffles), rescale of the running sum and of the output accumulators,
 *    p = exp2(s - max) rounded to bf16 (the running sum adds the rounded p, so the output is a
 *    convex combination of V rows whatever the rounding),
 *  - multiplies P V with 4 x Dh/8 mma: the score accumulators of two adjacent 8-key blocks are, as
 *    registers, an A fragment of 16 keys (the FlashAttention-2 identity of the C and A layouts);
 *    V's B fragments come by the transposing ldmatrix (V is stored key-major).
 * The output rows are divided by their sums (a row with no key, non-causal S = 0, gets zeros) and
 * stored as bf16 pairs. Shared memory: 4 x 64 x (Dh+8) bf16 (68 KiB at Dh = 128, past 48 KiB by
 * cudaFuncSetAttribute; three blocks fit an SM, as the registers allow).
 *
 * Against the f32 prefill kernel (attention.cu): the same softmax, but Q K^T and P V on the tensor
 * cores, P in bf16 as FlashAttention rounds it; within the parity suite's bf16 tolerance of the
 * CPU oracle. Not served (UNSUPPORTED, the caller falls back to the f32 kernel): f32 K/V, other
 * Dh, unaligned pointers, a device below sm_80. */
#include <math.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cp_async.cuh"
#include "kernels/cuda/mma.cuh"

#define AM_BQ 64      /* query rows per block: 16 per warp */
#define AM_BK 64      /* keys per tile */
#define AM_WARPS 4
#define AM_THREADS (AM_WARPS * COSMOS_WARP)

template <int DH>
struct am_cfg {
    static constexpr int LD = DH + 8;    /* shared-memory row stride in bf16 elements (16-byte multiple) */
    static constexpr int KC = DH / 16;   /* k chunks of Q K^T */
    static constexpr int NT = AM_BK / 8; /* 8-key blocks of a score tile */
    static constexpr int DT = DH / 8;    /* 8-column blocks of the output */
    static constexpr int CH = DH / 8;    /* 16-byte chunks per row */
    static constexpr size_t SMEM = sizeof(uint16_t) * (size_t)4 * AM_BK * LD; /* K and V, two tiles each */
    static_assert(DH % 16 == 0 && DH <= 128, "Dh: 16, 32, 64 or 128");
    static_assert(AM_BQ == AM_WARPS * 16 && AM_BQ <= AM_BK, "Q tile: 16 rows per warp, staged in a K buffer");
};

/* rows [r0, r0 + n) of a [rows, row_stride] bf16 matrix (column offset col) into dst [64][LD]
 * (16-byte chunks; rows past n are zeros). */
template <int DH>
static __device__ __forceinline__ void stage_rows(uint16_t *dst, const cosmos_bf16 *src, int64_t r0, int64_t n,
                                                  int64_t row_stride) {
    using C = am_cfg<DH>;
    for (int i = threadIdx.x; i < 64 * C::CH; i += AM_THREADS) {
        const int r = i / C::CH, c = i % C::CH;
        uint4 x = make_uint4(0u, 0u, 0u, 0u);
        if (r < n) x = *reinterpret_cast<const uint4 *>(src + (r0 + r) * row_stride + c * 8);
        *reinterpret_cast<uint4 *>(dst + r * C::LD + c * 8) = x;
    }
}

/* Starts copying key rows [r0, r0 + n) (n <= AM_BK) of K and V (column offset applied, row stride
 * row_stride) into the tile buffers ks, vs [AM_BK][LD] with cp.async and commits them as one group;
 * rows past n are zeroed with plain stores. */
template <int DH>
static __device__ __forceinline__ void issue_kv_tile(uint16_t *ks, uint16_t *vs, const cosmos_bf16 *k,
                                                     const cosmos_bf16 *v, int64_t r0, int64_t n, int64_t row_stride) {
    using C = am_cfg<DH>;
    for (int i = threadIdx.x; i < AM_BK * C::CH; i += AM_THREADS) {
        const int r = i / C::CH, c = i % C::CH;
        uint16_t *dk = ks + r * C::LD + c * 8, *dv = vs + r * C::LD + c * 8;
        if (r < n) {
            const int64_t off = (r0 + r) * row_stride + c * 8;
            cp_async16(dk, k + off);
            cp_async16(dv, v + off);
        } else {
            *reinterpret_cast<uint4 *>(dk) = make_uint4(0u, 0u, 0u, 0u);
            *reinterpret_cast<uint4 *>(dv) = make_uint4(0u, 0u, 0u, 0u);
        }
    }
    cp_async_commit();
}

static __device__ __forceinline__ uint32_t lds32(const uint16_t *p) { return *reinterpret_cast<const uint32_t *>(p); }

template <int DH>
static __global__ void __launch_bounds__(AM_THREADS, 2)
    attention_mma_kernel(cosmos_bf16 *__restrict__ out, const cosmos_bf16 *__restrict__ q,
                         const cosmos_bf16 *__restrict__ k, const cosmos_bf16 *__restrict__ v, int H, int Hkv,
                         int64_t T, int64_t S, int64_t pos0, int causal, float scale_log2,
                         const int64_t *__restrict__ d_pos) {
    using C = am_cfg<DH>;
    COSMOS_DYN_SHARED(uint4, am_smem4);
    /* K tiles 0 and 1, then V tiles 0 and 1, [AM_BK][LD] each: the tile being read and the one loading */
    uint16_t *const sm = reinterpret_cast<uint16_t *>(am_smem4);
    constexpr int TILE = AM_BK * C::LD;
    const int lane = threadIdx.x % COSMOS_WARP, wid = threadIdx.x / COSMOS_WARP;
    const int g = lane / 4, c = lane % 4;
    const int64_t t0 = (int64_t)(gridDim.x - 1 - blockIdx.x) * AM_BQ;
    const int h = blockIdx.y, hk = h / (H / Hkv);
    if (d_pos) pos0 = *d_pos; /* COSMOS_POS_DEVICE: the backend's position cell */
    const int64_t t_end = min(t0 + AM_BQ, T);
    const int64_t kend = causal ? pos0 + t_end : S; /* keys of the block's last row: [0, kend) */
    const int64_t n_tiles = (kend + AM_BK - 1) / AM_BK;
    const int64_t krow = (int64_t)Hkv * DH;
    const cosmos_bf16 *kh = k + (int64_t)hk * DH, *vh = v + (int64_t)hk * DH;

    /* the first K/V tile starts loading into buffer 0 while Q's rows go through buffer 1 */
    if (n_tiles > 0) issue_kv_tile<DH>(sm, sm + 2 * TILE, kh, vh, 0, min((int64_t)AM_BK, kend), krow);
    stage_rows<DH>(sm + TILE, q + (int64_t)h * DH, t0, t_end - t0, (int64_t)H * DH);
    __syncthreads();
    uint32_t qa[C::KC][4];
    {
        const uint16_t *r0 = sm + TILE + (wid * 16 + g) * C::LD, *r1 = r0 + 8 * C::LD;
#pragma unroll
        for (int kc = 0; kc < C::KC; kc++) {
            qa[kc][0] = lds32(r0 + kc * 16 + 2 * c);
            qa[kc][1] = lds32(r1 + kc * 16 + 2 * c);
            qa[kc][2] = lds32(r0 + kc * 16 + 2 * c + 8);
            qa[kc][3] = lds32(r1 + kc * 16 + 2 * c + 8);
        }
    }
    __syncthreads(); /* buffer 1 is free for the second tile */
    /* this lane's two rows: t0 + wid*16 + g (+8); causal: keys [0, lim) */
    int64_t lim[2];
#pragma unroll
    for (int i = 0; i < 2; i++) lim[i] = causal ? min(pos0 + t0 + wid * 16 + g + 8 * i + 1, kend) : S;
    float o[C::DT][4];
#pragma unroll
    for (int dt = 0; dt < C::DT; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

    for (int64_t it = 0; it < n_tiles; it++) {
        const int b = (int)(it & 1);
        const int64_t kt0 = it * AM_BK;
        if (it + 1 < n_tiles) { /* the next tile loads while this one is used */
            const int64_t k1 = kt0 + AM_BK;
            issue_kv_tile<DH>(sm + (b ^ 1) * TILE, sm + (2 + (b ^ 1)) * TILE, kh, vh, k1,
                              min((int64_t)AM_BK, kend - k1), krow);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads(); /* every thread's copies of this tile have landed */
        const uint16_t *ks = sm + b * TILE, *vs = sm + (2 + b) * TILE;

        /* S = Q K^T: 16 rows x 64 keys */
        float s[C::NT][4];
#pragma unroll
        for (int nt = 0; nt < C::NT; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
        /* B fragments of two 8-key blocks per ldmatrix: matrix j (lanes 8j..8j+7) holds keys
         * (nt + j/2)*8 + 0..7, dims kc*16 + (j%2)*8 + 0..7 */
        const uint16_t *kl = ks + ((lane / 16) * 8 + lane % 8) * C::LD + ((lane / 8) % 2) * 8;
#pragma unroll
        for (int nt = 0; nt < C::NT; nt += 2)
#pragma unroll
            for (int kc = 0; kc < C::KC; kc++) {
                uint32_t bk[4];
                ldmatrix_x4<false>(bk, kl + nt * 8 * C::LD + kc * 16);
                mma_bf16_16816(s[nt], qa[kc], bk);
                mma_bf16_16816(s[nt + 1], qa[kc], bk + 2);
            }
        /* mask, scale, row maxima (rows g: elements 0, 1; g+8: elements 2, 3) */
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nt = 0; nt < C::NT; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int64_t j = kt0 + nt * 8 + 2 * c + (e & 1);
                const float x = j < lim[e / 2] ? s[nt][e] * scale_log2 : -INFINITY;
                s[nt][e] = x;
                mx[e / 2] = fmaxf(mx[e / 2], x);
            }
        float corr[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
            const float mn = fmaxf(m[i], mx[i]);
            corr[i] = mn == -INFINITY ? 1.0f : exp2f(m[i] - mn); /* m = -inf, mn finite: 0 */
            m[i] = mn;
            l[i] *= corr[i];
        }
#pragma unroll
        for (int dt = 0; dt < C::DT; dt++) {
            o[dt][0] *= corr[0], o[dt][1] *= corr[0];
            o[dt][2] *= corr[1], o[dt][3] *= corr[1];
        }
        /* P (bf16) . V, 16 keys at a time */
#pragma unroll
        for (int kc = 0; kc < AM_BK / 16; kc++) {
            uint32_t pa[4];
#pragma unroll
            for (int half = 0; half < 2; half++) { /* keys kc*16 + half*8 + ..: a[2*half], a[2*half + 1] */
                const float *sv = s[2 * kc + half];
#pragma unroll
                for (int r = 0; r < 2; r++) {
                    const float p0 = m[r] == -INFINITY ? 0.0f : exp2f(sv[2 * r] - m[r]);
                    const float p1 = m[r] == -INFINITY ? 0.0f : exp2f(sv[2 * r + 1] - m[r]);
                    const uint32_t pk = pack_bf16x2(p0, p1);
                    l[r] += bf16x2_half(pk, 0) + bf16x2_half(pk, 1);
                    pa[2 * half + r] = pk;
                }
            }
            /* V's B fragments, two 8-column blocks per transposing ldmatrix: matrix j holds keys
             * kc*16 + (j%2)*8 + 0..7, dims (dt + j/2)*8 + 0..7 */
            const uint16_t *vl = vs + (kc * 16 + ((lane / 8) % 2) * 8 + lane % 8) * C::LD + (lane / 16) * 8;
#pragma unroll
            for (int dt = 0; dt < C::DT; dt += 2) {
                uint32_t bv[4];
                ldmatrix_x4<true>(bv, vl + dt * 8);
                mma_bf16_16816(o[dt], pa, bv);
                mma_bf16_16816(o[dt + 1], pa, bv + 2);
            }
        }
        __syncthreads(); /* this tile's buffers are free for the tile after next */
    }

    /* the row sums over the quad, then the bf16 output */
#pragma unroll
    for (int i = 0; i < 2; i++) {
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int64_t t = t0 + wid * 16 + g + 8 * i;
        if (t >= T) continue;
        const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
        cosmos_bf16 *orow = out + (t * H + h) * DH + 2 * c;
#pragma unroll
        for (int dt = 0; dt < C::DT; dt++)
            *reinterpret_cast<uint32_t *>(orow + dt * 8) = pack_bf16x2(o[dt][2 * i] * inv, o[dt][2 * i + 1] * inv);
    }
}

template <int DH>
static cosmos_status launch_mma(cosmos_bf16 *out, const cosmos_bf16 *q, const cosmos_bf16 *k, const cosmos_bf16 *v,
                                int64_t T, int64_t H, int64_t Hkv, int64_t S, int64_t pos0, int causal,
                                const int64_t *d_pos, cudaStream_t stream) {
    const size_t smem = am_cfg<DH>::SMEM;
    const cosmos_status st = cosmos_cuda_smem_optin(attention_mma_kernel<DH>, smem);
    if (st != COSMOS_OK) return st;
    const float scale_log2 = 1.4426950408889634f / sqrtf((float)DH);
    const dim3 grid((unsigned)((T + AM_BQ - 1) / AM_BQ), (unsigned)H);
    COSMOS_LAUNCH(grid, AM_THREADS, smem, stream, attention_mma_kernel<DH>)
    (out, q, k, v, (int)H, (int)Hkv, T, S, pos0, causal, scale_log2, d_pos);
    return CUDA_LAUNCH_STATUS("attention_mma_kernel");
}

static std::atomic<int> g_am_major[COSMOS_CUDA_MAX_DEVICES]; /* compute capability major per device */

extern "C" int cosmos_cuda_attention_mma_serves(enum cosmos_dtype kv_dtype, int64_t Dh, const void *out, const void *q,
                                                 const void *k, const void *v) {
    if (kv_dtype != COSMOS_BF16 || (Dh != 16 && Dh != 32 && Dh != 64 && Dh != 128)) return 0;
    if ((((uintptr_t)out | (uintptr_t)q | (uintptr_t)k | (uintptr_t)v) & 15u) != 0) return 0;
    return cosmos_cuda_device_attr(g_am_major, cudaDevAttrComputeCapabilityMajor, 0) >= 8;
}

extern "C" cosmos_status cosmos_cuda_attention_mma(cosmos_bf16 *out, const cosmos_bf16 *q, const cosmos_bf16 *k,
                                                   const cosmos_bf16 *v, int64_t T, int64_t H, int64_t Hkv, int64_t Dh,
                                                   int64_t S, int64_t pos0, int causal, const int64_t *d_pos,
                                                   cudaStream_t stream) {
    if (T <= 0 || H <= 0) return COSMOS_OK;
    if (!cosmos_cuda_attention_mma_serves(COSMOS_BF16, Dh, out, q, k, v) || H > 65535 || T > 0x7fffffffLL / H)
        return COSMOS_ERR_UNSUPPORTED;
    if (Hkv <= 0 || H % Hkv != 0 || S < 0 || (causal && (pos0 < 0 || pos0 + T > S))) return COSMOS_ERR_INVALID_ARG;
    switch (Dh) {
    case 16: return launch_mma<16>(out, q, k, v, T, H, Hkv, S, pos0, causal, d_pos, stream);
    case 32: return launch_mma<32>(out, q, k, v, T, H, Hkv, S, pos0, causal, d_pos, stream);
    case 64: return launch_mma<64>(out, q, k, v, T, H, Hkv, S, pos0, causal, d_pos, stream);
    default: return launch_mma<128>(out, q, k, v, T, H, Hkv, S, pos0, causal, d_pos, stream);
    }
}
