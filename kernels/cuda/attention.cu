/* CUDA scaled dot-product attention with GQA (spec ar-model.md 1.3 steps 5-6 and section 3), the
 * counterpart of kernels/cpu/attention.c: query t at position pos0+t attends keys [0, pos0+t] when
 * causal (no cache row past pos0+t is read), all S keys otherwise; query head h reads KV head
 * h / (H/Hkv); scale 1/sqrt(Dh). Layout: q, out bf16 [T,H,Dh]; k, v [S,Hkv,Dh] bf16 or f32 (kv_dtype),
 * all row-major and contiguous. Softmax in f32 with a running max, f32 accumulation, bf16 output.
 * Dh <= 256.
 *
 * Two kernels, picked by T (att_plan):
 * - decode (T <= DEC_MAX_T, flash-decoding): grid (split, KV head x head chunk, token). A block
 *   holds HB query heads of one GQA group (HB = rep, or a divisor of rep when rep > 8) and walks a
 *   contiguous key range [split * kps, (split+1) * kps) of its token's keys; every K/V row it reads
 *   serves all HB heads. Lanes split Dh in chunks of 8 (one 16-byte load of 8 bf16 when Dh % 8 == 0
 *   and the pointers are 16-byte aligned, else element loads); a group of lpk lanes holds one key
 *   row, a warp 32/lpk rows at a time, each lane group with its own online-softmax state, merged by
 *   shuffles, then across the block's warps in shared memory. With one split the block writes the
 *   bf16 output; with several it writes (max, sum, unnormalised f32 accumulator) per (token, head,
 *   split) to the workspace, and the last block of the splits to finish (a count per block row at
 *   the front of the workspace, zero between launches) merges them: one launch. Splits (plan_splits): about
 *   one wave of resident blocks (SM count and occupancy cached per device), each a whole multiple
 *   of 128 keys; cosmos_cuda_attention_ws_bytes bounds the workspace of any such plan.
 * - prefill with mma set, bf16 K/V and Dh 16/32/64/128: the tensor-core kernel of attention_mma.cu.
 * - prefill otherwise (flash-attention, f32 FMA): grid (64-query tile, head). Q tile [64, DMAX] f32 in shared
 *   memory, K and V tiles of 32 keys staged as f32, scores [64, 32] in shared memory; online softmax
 *   per query row (one warp per row, a lane per key); each thread owns 4 rows x DMAX/16 output
 *   columns in registers. Key tiles past the block's last causal key are never loaded. DMAX is Dh
 *   rounded up to 16, 32, 64, 128 or 256 (the padding is zeros). Also the non-causal cross-attention
 *   path (T up to 256 queries over S = 512 context rows).
 * A row with no key (non-causal S = 0) gets zeros, never 0/0.
 * d_pos (COSMOS_POS_DEVICE, CUDA-graph decode): pos0 is read from device memory when the kernels
 * run; the host plans the key splits for the largest position (S - T), so the splits past the
 * actual keys are empty (max -inf, sum 0) and weigh nothing in the merge. */
#include <math.h>

#include <atomic>

#include "kernels/cuda/common.cuh"

#define ATT_MAX_DH 256

/* ---- decode (split-KV) ---- */
#define DEC_MAX_T 4       /* up to this many query tokens: the decode kernel */
#define DEC_WARPS 4
#define DEC_THREADS (DEC_WARPS * COSMOS_WARP)
#define DEC_MIN_KEYS 128  /* a split has at least this many keys (unless there are fewer in all) */

/* ---- prefill (flash) ---- */
#define PF_BQ 64          /* query rows per block */
#define PF_BK 32          /* keys per tile: one per lane in the softmax */
#define PF_THREADS 256    /* 16 x 16: thread (ty, tx) owns query rows 4ty..4ty+3 */

/* exp for softmax arguments x <= 0 (and -inf, which gives 0); ex2.approx, a few ulp. */
static __device__ __forceinline__ float att_exp(float x) { return __expf(x); }
/* exp(m - m_new) as a rescale factor: 0 when m = -inf (a state with no key yet), so that two empty
 * states never give exp(-inf - -inf) = NaN. m_new >= m. */
static __device__ __forceinline__ float att_rescale(float m, float m_new) {
    return m == -INFINITY ? 0.0f : att_exp(m - m_new);
}

/* f[e] = p[e] as f32 for e < n (n may exceed 8: 8 are read), 0 for e >= n; p is not dereferenced when
 * n <= 0. vec: p is 16-byte aligned, so 8 elements are read with vector loads when n >= 8. */
static __device__ __forceinline__ void load8(float f[8], const cosmos_bf16 *p, int n, bool vec) {
    if (vec && n >= 8) {
        const uint4 raw = *reinterpret_cast<const uint4 *>(p);
        const unsigned w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
        for (int i = 0; i < 4; i++) { /* little-endian: element 2i in the low half */
            f[2 * i] = __uint_as_float(w[i] << 16);
            f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
        }
    } else {
#pragma unroll
        for (int e = 0; e < 8; e++) f[e] = e < n ? ld_f32(p + e) : 0.0f;
    }
}
static __device__ __forceinline__ void load8(float f[8], const float *p, int n, bool vec) {
    if (vec && n >= 8) {
        const float4 a = reinterpret_cast<const float4 *>(p)[0], b = reinterpret_cast<const float4 *>(p)[1];
        f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w;
        f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
    } else {
#pragma unroll
        for (int e = 0; e < 8; e++) f[e] = e < n ? p[e] : 0.0f;
    }
}

/* Partial attention of heads h0..h0+HB-1 (h0 = g*rep + hc*HB) of token t over keys [j0, j1) of
 * split blockIdx.x. Lane layout: lane = sg * lpk + c; chunk c covers dims [8c, 8c+8) (lanes with
 * 8c >= Dh hold zeros); lane group sg holds key jb + (w*U + u)*kpw + sg in iteration jb.
 * ws_acc [T*H, n_splits, Dh], ws_ml [T*H, n_splits, 2] (max, sum); unused when n_splits == 1. */
template <typename TKV, int HB>
static __global__ void __launch_bounds__(DEC_THREADS)
    attention_decode_kernel(cosmos_bf16 *__restrict__ out, float *__restrict__ ws_acc, float *__restrict__ ws_ml,
                            unsigned *__restrict__ done, const cosmos_bf16 *__restrict__ q,
                            const TKV *__restrict__ k, const TKV *__restrict__ v,
                            int H, int Hkv, int Dh, int64_t S, int64_t pos0, int causal, int64_t kps, int n_hc,
                            int lpk, int vec, float scale, const int64_t *__restrict__ d_pos) {
    if (d_pos) pos0 = *d_pos; /* COSMOS_POS_DEVICE: the backend's position cell */
    constexpr int U = HB > 4 ? 2 : 4; /* keys per lane group per iteration (loads in flight) */
    __shared__ float sm_acc[DEC_WARPS][HB][ATT_MAX_DH];
    __shared__ float sm_m[DEC_WARPS][HB], sm_l[DEC_WARPS][HB];

    const int split = blockIdx.x, n_splits = gridDim.x;
    const int g = blockIdx.y / n_hc, hc = blockIdx.y % n_hc;
    const int64_t t = blockIdx.z;
    const int rep = H / Hkv, h0 = g * rep + hc * HB;
    const int64_t n_keys = causal ? pos0 + t + 1 : S;
    const int64_t j0 = min((int64_t)split * kps, n_keys), j1 = min(j0 + kps, n_keys);

    const int lane = threadIdx.x % COSMOS_WARP, w = threadIdx.x / COSMOS_WARP;
    const int kpw = COSMOS_WARP / lpk, sg = lane / lpk, c = lane % lpk;
    const int d0 = 8 * c, nd = Dh - d0; /* this lane's dims [d0, d0 + min(nd, 8)); none if nd <= 0 */
    const bool vec_ok = vec != 0;

    float qf[HB][8], acc[HB][8], m[HB], l[HB];
#pragma unroll
    for (int hh = 0; hh < HB; hh++) {
        const cosmos_bf16 *qr = q + ((t * H + h0 + hh) * Dh);
        load8(qf[hh], nd > 0 ? qr + d0 : qr, nd, vec_ok);
        m[hh] = -INFINITY;
        l[hh] = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; e++) acc[hh][e] = 0.0f;
    }

    const int64_t row = (int64_t)Hkv * Dh; /* elements between consecutive keys of one KV head */
    const TKV *kg = k + (int64_t)g * Dh, *vg = v + (int64_t)g * Dh;
    const int64_t step = (int64_t)DEC_WARPS * U * kpw;
    for (int64_t jb = j0; jb < j1; jb += step) { /* uniform over the block: shuffles below are safe */
        float kf[U][8], vf[U][8];
        bool ok[U];
#pragma unroll
        for (int u = 0; u < U; u++) { /* issue all K and V loads of the iteration first */
            const int64_t j = jb + (int64_t)(w * U + u) * kpw + sg;
            ok[u] = j < j1;
            const int n = ok[u] ? nd : 0;
            const int64_t off = ok[u] && nd > 0 ? j * row + d0 : 0;
            load8(kf[u], kg + off, n, vec_ok);
            load8(vf[u], vg + off, n, vec_ok);
        }
        float s[U][HB];
#pragma unroll
        for (int u = 0; u < U; u++) {
#pragma unroll
            for (int hh = 0; hh < HB; hh++) {
                float d = 0.0f;
#pragma unroll
                for (int e = 0; e < 8; e++) d = fmaf(qf[hh][e], kf[u][e], d);
                for (int o = lpk / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o); /* within the group */
                s[u][hh] = ok[u] ? d * scale : -INFINITY;
            }
        }
#pragma unroll
        for (int hh = 0; hh < HB; hh++) { /* online softmax of this lane group's keys */
            float mx = m[hh];
#pragma unroll
            for (int u = 0; u < U; u++) mx = fmaxf(mx, s[u][hh]);
            if (mx == -INFINITY) continue; /* no key yet: state stays empty */
            const float corr = att_rescale(m[hh], mx);
            l[hh] *= corr;
#pragma unroll
            for (int e = 0; e < 8; e++) acc[hh][e] *= corr;
#pragma unroll
            for (int u = 0; u < U; u++) {
                const float p = att_exp(s[u][hh] - mx); /* 0 for a masked key */
                l[hh] += p;
#pragma unroll
                for (int e = 0; e < 8; e++) acc[hh][e] = fmaf(p, vf[u][e], acc[hh][e]);
            }
            m[hh] = mx;
        }
    }

    /* merge the warp's lane groups: partners lane ^ o (o >= lpk) hold the same chunk */
#pragma unroll
    for (int hh = 0; hh < HB; hh++) {
        for (int o = lpk; o < COSMOS_WARP; o <<= 1) {
            const float mo = __shfl_xor_sync(0xffffffffu, m[hh], o), lo = __shfl_xor_sync(0xffffffffu, l[hh], o);
            const float mn = fmaxf(m[hh], mo), c1 = att_rescale(m[hh], mn), c2 = att_rescale(mo, mn);
#pragma unroll
            for (int e = 0; e < 8; e++) {
                const float ao = __shfl_xor_sync(0xffffffffu, acc[hh][e], o);
                acc[hh][e] = acc[hh][e] * c1 + ao * c2;
            }
            l[hh] = l[hh] * c1 + lo * c2;
            m[hh] = mn;
        }
    }
    /* then the block's warps, through shared memory */
    if (sg == 0) {
#pragma unroll
        for (int hh = 0; hh < HB; hh++) {
#pragma unroll
            for (int e = 0; e < 8; e++)
                if (e < nd) sm_acc[w][hh][d0 + e] = acc[hh][e];
            if (lane == 0) {
                sm_m[w][hh] = m[hh];
                sm_l[w][hh] = l[hh];
            }
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < HB * Dh; i += DEC_THREADS) {
        const int hh = i / Dh, d = i % Dh;
        float M = -INFINITY;
        for (int ww = 0; ww < DEC_WARPS; ww++) M = fmaxf(M, sm_m[ww][hh]);
        float L = 0.0f, A = 0.0f;
        for (int ww = 0; ww < DEC_WARPS; ww++) {
            const float f = att_rescale(sm_m[ww][hh], M);
            L += sm_l[ww][hh] * f;
            A += sm_acc[ww][hh][d] * f;
        }
        const int64_t r = t * H + h0 + hh; /* (token, head) row */
        if (n_splits == 1) {
            st_bf16(out + r * Dh + d, L > 0.0f ? A / L : 0.0f);
        } else {
            const int64_t p = r * n_splits + split;
            ws_acc[p * Dh + d] = A;
            if (d == 0) {
                ws_ml[2 * p] = M;
                ws_ml[2 * p + 1] = L;
            }
        }
    }
    if (n_splits == 1) return;

    /* The last of the n_splits blocks of this (token, head chunk) to finish merges their partial
     * states (the threadfence-reduction pattern of the CUDA programming guide): every thread's
     * partials are made visible device-wide before thread 0 counts the block in; the block that
     * counts last reads them all (from L2: __ldcg) and resets the count for the next launch. */
    __shared__ int merge;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned *cnt = done + (t * gridDim.y + blockIdx.y);
        merge = atomicAdd(cnt, 1u) == (unsigned)n_splits - 1;
        if (merge) *cnt = 0u;
    }
    __syncthreads();
    if (!merge) return;
    __threadfence();
    /* out row r: the splits' states weighted by exp(m_b - max_b m_b), in split order (the result
     * does not depend on which block merges); empty splits (m = -inf, sum 0) weigh nothing */
    for (int i = threadIdx.x; i < HB * Dh; i += DEC_THREADS) {
        const int hh = i / Dh, d = i % Dh;
        const int64_t r = t * H + h0 + hh;
        const float *ml = ws_ml + r * n_splits * 2, *a = ws_acc + r * n_splits * Dh;
        float M = -INFINITY;
        for (int b = 0; b < n_splits; b++) M = fmaxf(M, __ldcg(ml + 2 * b));
        float L = 0.0f, A = 0.0f;
        for (int b = 0; b < n_splits; b++) {
            const float f = att_rescale(__ldcg(ml + 2 * b), M);
            L += __ldcg(ml + 2 * b + 1) * f;
            A += __ldcg(a + (int64_t)b * Dh + d) * f;
        }
        st_bf16(out + r * Dh + d, L > 0.0f ? A / L : 0.0f);
    }
}

/* ---- prefill ---- */

template <int DMAX>
struct prefill_cfg {
    static constexpr int QS = DMAX + 4; /* row strides in floats: multiples of 4 (float4 reads); the +4 */
    static constexpr int KS = DMAX + 4; /* staggers the banks of the 16 K rows a warp reads at once */
    static constexpr int VS = DMAX;
    static constexpr int PS = PF_BK + 4;
    static constexpr int CPT = DMAX / 16;            /* output columns per thread */
    static constexpr int VW = CPT < 4 ? CPT : 4;      /* ... read from V as vectors of VW floats */
    static constexpr int NJ = CPT / VW;               /* ... at columns (jj*16 + tx)*VW + e */
    static constexpr size_t SMEM_FLOATS = (size_t)PF_BQ * QS + (size_t)PF_BK * KS + (size_t)PF_BK * VS +
                                          (size_t)PF_BQ * PS + 3 * (size_t)PF_BQ;
    static_assert(DMAX % 16 == 0 && CPT % VW == 0, "DMAX: 16, 32, 64, 128 or 256");
};

static_assert(PF_BK == COSMOS_WARP, "the softmax gives each key of a tile one lane");
static_assert(PF_BQ == 4 * (PF_THREADS / 16) && PF_BQ % (PF_THREADS / COSMOS_WARP) == 0, "prefill tiling");
static_assert(PF_BK % 16 == 0 && PF_BK % 4 == 0, "prefill tiling");

template <int VW>
static __device__ __forceinline__ void lds_vec(float *dst, const float *src) {
    if constexpr (VW == 4) {
        const float4 x = *reinterpret_cast<const float4 *>(src);
        dst[0] = x.x, dst[1] = x.y, dst[2] = x.z, dst[3] = x.w;
    } else if constexpr (VW == 2) {
        const float2 x = *reinterpret_cast<const float2 *>(src);
        dst[0] = x.x, dst[1] = x.y;
    } else {
        dst[0] = src[0];
    }
}

/* Query tokens [t0, t0 + 64) of head h (blockIdx.y); tiles are taken in reverse order of blockIdx.x,
 * so the longest causal rows start first. */
template <typename TKV, int DMAX>
static __global__ void __launch_bounds__(PF_THREADS)
    attention_prefill_kernel(cosmos_bf16 *__restrict__ out, const cosmos_bf16 *__restrict__ q,
                             const TKV *__restrict__ k, const TKV *__restrict__ v, int H, int Hkv, int Dh, int64_t T,
                             int64_t S, int64_t pos0, int causal, float scale,
                             const int64_t *__restrict__ d_pos) {
    using C = prefill_cfg<DMAX>;
    COSMOS_DYN_SHARED(float4, pf_smem4);             /* float4: 16-byte alignment of every region below */
    float *qs = reinterpret_cast<float *>(pf_smem4); /* [PF_BQ][QS] queries, zero past Dh and T */
    float *ks = qs + PF_BQ * C::QS;                  /* [PF_BK][KS] key tile, zero past Dh and the keys read */
    float *vs = ks + PF_BK * C::KS;                  /* [PF_BK][VS] value tile, likewise */
    float *ps = vs + PF_BK * C::VS;                  /* [PF_BQ][PS] scores, then probabilities */
    float *m_s = ps + PF_BQ * C::PS, *l_s = m_s + PF_BQ, *c_s = l_s + PF_BQ; /* per row: max, sum, rescale */

    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int lane = tid % COSMOS_WARP, wid = tid / COSMOS_WARP;
    const int64_t t0 = (int64_t)(gridDim.x - 1 - blockIdx.x) * PF_BQ;
    const int h = blockIdx.y, g = h / (H / Hkv);
    const int64_t t_end = min(t0 + PF_BQ, T);
    if (d_pos) pos0 = *d_pos; /* COSMOS_POS_DEVICE: the backend's position cell */
    const int64_t kend = causal ? pos0 + t_end : S; /* the keys of the block's last row: [0, kend) */
    const int64_t row = (int64_t)Hkv * Dh;

    for (int i = tid; i < PF_BQ * DMAX; i += PF_THREADS) {
        const int r = i / DMAX, d = i % DMAX;
        const int64_t t = t0 + r;
        qs[r * C::QS + d] = t < T && d < Dh ? ld_f32(q + (t * H + h) * Dh + d) : 0.0f;
    }
    if (tid < PF_BQ) {
        m_s[tid] = -INFINITY;
        l_s[tid] = 0.0f;
    }
    /* this thread's query rows: 4ty + i; their key counts (0 for rows past T) */
    int64_t nk[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int64_t t = t0 + 4 * ty + i;
        nk[i] = t >= T ? 0 : causal ? pos0 + t + 1 : S;
    }
    float o[4][C::CPT];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int e = 0; e < C::CPT; e++) o[i][e] = 0.0f;
    __syncthreads();

    for (int64_t kt0 = 0; kt0 < kend; kt0 += PF_BK) {
        for (int i = tid; i < PF_BK * DMAX; i += PF_THREADS) {
            const int r = i / DMAX, d = i % DMAX;
            const int64_t j = kt0 + r;
            const bool in = j < kend && d < Dh;
            const int64_t off = in ? (j * row + (int64_t)g * Dh + d) : 0;
            ks[r * C::KS + d] = in ? ld_f32(k + off) : 0.0f;
            vs[r * C::VS + d] = in ? ld_f32(v + off) : 0.0f;
        }
        __syncthreads();
        /* scores of rows 4ty+i, keys tx and tx+16 of the tile */
        float s[4][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}, {0.0f, 0.0f}, {0.0f, 0.0f}};
#pragma unroll 4
        for (int d = 0; d < DMAX; d += 4) {
            float4 a[4], b[2];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = *reinterpret_cast<const float4 *>(qs + (4 * ty + i) * C::QS + d);
#pragma unroll
            for (int jj = 0; jj < 2; jj++) b[jj] = *reinterpret_cast<const float4 *>(ks + (tx + 16 * jj) * C::KS + d);
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int jj = 0; jj < 2; jj++) {
                    float x = s[i][jj];
                    x = fmaf(a[i].x, b[jj].x, x);
                    x = fmaf(a[i].y, b[jj].y, x);
                    x = fmaf(a[i].z, b[jj].z, x);
                    x = fmaf(a[i].w, b[jj].w, x);
                    s[i][jj] = x;
                }
        }
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int jj = 0; jj < 2; jj++) {
                const int cidx = tx + 16 * jj;
                ps[(4 * ty + i) * C::PS + cidx] = kt0 + cidx < nk[i] ? s[i][jj] * scale : -INFINITY;
            }
        __syncthreads();
        /* online softmax: warp wid takes rows wid*8 .. wid*8+7, lane = key of the tile */
        for (int rr = 0; rr < PF_BQ / (PF_THREADS / COSMOS_WARP); rr++) {
            const int r = wid * (PF_BQ / (PF_THREADS / COSMOS_WARP)) + rr;
            const float x = ps[r * C::PS + lane];
            const float m_old = m_s[r], mn = fmaxf(m_old, warp_max(x));
            const float p = mn == -INFINITY ? 0.0f : att_exp(x - mn); /* x = -inf (masked) gives 0 */
            ps[r * C::PS + lane] = p;
            const float sum = warp_sum(p);
            if (lane == 0) {
                const float corr = att_rescale(m_old, mn);
                l_s[r] = l_s[r] * corr + sum;
                m_s[r] = mn;
                c_s[r] = corr;
            }
        }
        __syncthreads();
        /* o = o * corr + P . V over the tile's keys */
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const float corr = c_s[4 * ty + i];
#pragma unroll
            for (int e = 0; e < C::CPT; e++) o[i][e] *= corr;
        }
        for (int c0 = 0; c0 < PF_BK; c0 += 4) {
            float pr[4][4];
#pragma unroll
            for (int i = 0; i < 4; i++) lds_vec<4>(pr[i], ps + (4 * ty + i) * C::PS + c0);
#pragma unroll
            for (int cc = 0; cc < 4; cc++) {
                const float *vr = vs + (c0 + cc) * C::VS;
#pragma unroll
                for (int jj = 0; jj < C::NJ; jj++) {
                    float vv[C::VW];
                    lds_vec<C::VW>(vv, vr + (jj * 16 + tx) * C::VW);
#pragma unroll
                    for (int i = 0; i < 4; i++)
#pragma unroll
                        for (int e = 0; e < C::VW; e++)
                            o[i][jj * C::VW + e] = fmaf(pr[i][cc], vv[e], o[i][jj * C::VW + e]);
                }
            }
        }
        __syncthreads(); /* ks, vs, ps and c_s are rewritten by the next tile */
    }

#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int64_t t = t0 + 4 * ty + i;
        if (t >= T) continue;
        const float L = l_s[4 * ty + i], inv = L > 0.0f ? 1.0f / L : 0.0f;
        cosmos_bf16 *orow = out + (t * H + h) * Dh;
#pragma unroll
        for (int jj = 0; jj < C::NJ; jj++)
#pragma unroll
            for (int e = 0; e < C::VW; e++) {
                const int d = (jj * 16 + tx) * C::VW + e;
                if (d < Dh) st_bf16(orow + d, o[i][jj * C::VW + e] * inv);
            }
    }
}

/* ---- host side ---- */

/* Cached per-device attributes (cosmos_cuda_device_attr): the SM count and the opt-in shared memory
 * per block. */
#define ATT_MAX_DEVICES COSMOS_CUDA_MAX_DEVICES
static std::atomic<int> g_sm_count[ATT_MAX_DEVICES], g_smem_optin[ATT_MAX_DEVICES];


/* How a shape is served: the decode kernel (with its head chunking and key splits) or prefill. */
struct att_plan {
    int decode;
    int hb, n_hc, lpk;      /* decode: heads per block, chunks per group, lanes per key row */
    int64_t n_splits, kps;  /* decode: key splits, keys per split (plan_splits) */
    size_t ws_bytes;        /* decode with n_splits > 1: the blocks' counts, then [T*H, n_splits, Dh + 2] f32 */
};

static struct att_plan make_plan(int64_t T, int64_t H, int64_t Hkv, int64_t Dh) {
    struct att_plan p = {0, 0, 0, 0, 1, 0, 0};
    if (T > DEC_MAX_T) return p;
    p.decode = 1;
    const int64_t rep = H / Hkv;
    p.hb = rep % 8 == 0 ? 8 : rep % 5 == 0 ? 5 : rep % 4 == 0 ? 4 : rep % 2 == 0 ? 2 : 1;
    p.n_hc = (int)(rep / p.hb);
    const int64_t chunks = (Dh + 7) / 8; /* <= 32 */
    p.lpk = 1;
    while (p.lpk < chunks) p.lpk *= 2;
    return p;
}

/* Key splits of a decode plan for blocks_per_sm resident blocks per SM: about one full wave of
 * blocks, each split a whole multiple of DEC_MIN_KEYS keys (so split boundaries sit at multiples of
 * 128 keys), never more splits than that allows. The split count only grows with blocks_per_sm, so
 * the plan for DEC_MAX_RESIDENT bounds the workspace of every real one. */
#define DEC_MAX_RESIDENT (2048 / DEC_THREADS) /* threads per SM / threads per block */
/* The front of a decode workspace: one unsigned count per (token, KV head, head chunk) <= T*H,
 * rounded to 256 bytes; zero between launches (the merging block resets its count) */
static size_t ws_count_bytes(int64_t T, int64_t H) { return ((size_t)(T * H) * sizeof(unsigned) + 255) / 256 * 256; }
static void plan_splits(struct att_plan *p, int64_t T, int64_t H, int64_t Hkv, int64_t Dh, int64_t S, int64_t pos0,
                        int causal, int blocks_per_sm) {
    int64_t max_keys = causal ? pos0 + T : S; /* keys of the last token */
    if (max_keys < 1) max_keys = 1;           /* S = 0: one empty split */
    const int64_t blocks = T * Hkv * p->n_hc;
    const int64_t target = (int64_t)blocks_per_sm * cosmos_cuda_device_attr(g_sm_count, cudaDevAttrMultiProcessorCount, 132);
    int64_t n = target / blocks;
    if (n > max_keys / DEC_MIN_KEYS) n = max_keys / DEC_MIN_KEYS;
    if (n < 1) n = 1;
    p->kps = ((max_keys + n - 1) / n + DEC_MIN_KEYS - 1) / DEC_MIN_KEYS * DEC_MIN_KEYS;
    p->n_splits = (max_keys + p->kps - 1) / p->kps; /* <= n */
    p->ws_bytes = p->n_splits > 1 ? ws_count_bytes(T, H) + sizeof(float) * (size_t)(T * H) * (size_t)p->n_splits *
                                        (size_t)(Dh + 2)
                                  : 0;
}

extern "C" size_t cosmos_cuda_attention_ws_bytes(int64_t T, int64_t H, int64_t Hkv, int64_t Dh, int64_t S,
                                                 int64_t pos0, int causal) {
    if (T <= 0 || H <= 0 || Dh <= 0 || Hkv <= 0 || H % Hkv != 0 || Dh > ATT_MAX_DH) return 0;
    struct att_plan p = make_plan(T, H, Hkv, Dh);
    if (!p.decode) return 0;
    plan_splits(&p, T, H, Hkv, Dh, S, pos0, causal, DEC_MAX_RESIDENT);
    return p.ws_bytes;
}

/* The most any query length 1..T_max needs (causal: at the last position, which bounds the rest:
 * the split count never falls as the keys grow); only the decode lengths need any. */
extern "C" size_t cosmos_cuda_attention_ws_bytes_max(int64_t T_max, int64_t H, int64_t Hkv, int64_t Dh, int64_t S,
                                                     int causal) {
    size_t most = 0;
    for (int64_t T = 1; T <= T_max && T <= DEC_MAX_T; T++) {
        if (causal && T > S) break;
        const size_t b = cosmos_cuda_attention_ws_bytes(T, H, Hkv, Dh, S, causal ? S - T : 0, causal);
        if (b > most) most = b;
    }
    return most;
}

template <typename TKV, int HB>
static cosmos_status launch_decode(struct att_plan *p, cosmos_bf16 *out, void *ws, size_t ws_bytes,
                                   const cosmos_bf16 *q, const TKV *k, const TKV *v, int64_t T, int64_t H, int64_t Hkv,
                                   int64_t Dh, int64_t S, int64_t pos0, int causal, int vec, float scale,
                                   const int64_t *d_pos, cudaStream_t stream) {
    /* resident blocks per SM of this instantiation, per device (0: not yet queried) */
    static std::atomic<int> occ_cache[ATT_MAX_DEVICES];
    int dev = -1, occ = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) {
        (void)cudaGetLastError();
        dev = -1;
    }
    if (dev >= 0 && dev < ATT_MAX_DEVICES) occ = occ_cache[dev].load(std::memory_order_relaxed);
    if (occ <= 0) {
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, attention_decode_kernel<TKV, HB>, DEC_THREADS, 0) !=
                cudaSuccess || occ <= 0) {
            (void)cudaGetLastError(); /* a launch will report what is wrong */
            occ = 2;
        } else if (dev >= 0 && dev < ATT_MAX_DEVICES) {
            occ_cache[dev].store(occ, std::memory_order_relaxed);
        }
    }
    if (occ > DEC_MAX_RESIDENT) occ = DEC_MAX_RESIDENT;
    plan_splits(p, T, H, Hkv, Dh, S, pos0, causal, occ);
    if (p->ws_bytes > 0 && (!ws || ws_bytes < p->ws_bytes)) return COSMOS_ERR_INVALID_ARG;
    unsigned *done = NULL;
    float *ws_acc = NULL, *ws_ml = NULL;
    if (p->n_splits > 1) {
        done = (unsigned *)ws;
        ws_acc = (float *)((char *)ws + ws_count_bytes(T, H));
        ws_ml = ws_acc + (size_t)(T * H) * (size_t)p->n_splits * (size_t)Dh;
    }
    const dim3 grid((unsigned)p->n_splits, (unsigned)(Hkv * p->n_hc), (unsigned)T);
    COSMOS_LAUNCH(grid, DEC_THREADS, 0, stream, attention_decode_kernel<TKV, HB>)
    (out, ws_acc, ws_ml, done, q, k, v, (int)H, (int)Hkv, (int)Dh, S, pos0, causal, p->kps, p->n_hc, p->lpk, vec,
     scale, d_pos);
    return CUDA_LAUNCH_STATUS("attention_decode_kernel");
}

template <typename TKV>
static cosmos_status decode_hb(struct att_plan *p, cosmos_bf16 *out, void *ws, size_t ws_bytes, const cosmos_bf16 *q,
                               const TKV *k, const TKV *v, int64_t T, int64_t H, int64_t Hkv, int64_t Dh, int64_t S,
                               int64_t pos0, int causal, int vec, float scale, const int64_t *d_pos,
                               cudaStream_t stream) {
#define ATT_DECODE_ARGS p, out, ws, ws_bytes, q, k, v, T, H, Hkv, Dh, S, pos0, causal, vec, scale, d_pos, stream
    switch (p->hb) {
    case 8: return launch_decode<TKV, 8>(ATT_DECODE_ARGS);
    case 5: return launch_decode<TKV, 5>(ATT_DECODE_ARGS);
    case 4: return launch_decode<TKV, 4>(ATT_DECODE_ARGS);
    case 2: return launch_decode<TKV, 2>(ATT_DECODE_ARGS);
    default: return launch_decode<TKV, 1>(ATT_DECODE_ARGS);
    }
#undef ATT_DECODE_ARGS
}

template <typename TKV, int DMAX>
static cosmos_status launch_prefill(cosmos_bf16 *out, const cosmos_bf16 *q, const TKV *k, const TKV *v, int64_t T,
                                    int64_t H, int64_t Hkv, int64_t Dh, int64_t S, int64_t pos0, int causal,
                                    float scale, const int64_t *d_pos, cudaStream_t stream) {
    const size_t smem = sizeof(float) * prefill_cfg<DMAX>::SMEM_FLOATS;
    if (smem > (size_t)cosmos_cuda_device_attr(g_smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 48 * 1024))
        return COSMOS_ERR_UNSUPPORTED; /* Dh 129..256 on a GPU with under 140 KiB per block */
    cosmos_status st = COSMOS_OK;
    if (smem > 48 * 1024) {
        st = cosmos_cuda_check(cudaFuncSetAttribute(attention_prefill_kernel<TKV, DMAX>,
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
                               "cudaFuncSetAttribute(attention_prefill_kernel)", __FILE__, __LINE__);
        if (st != COSMOS_OK) return st;
    }
    const dim3 grid((unsigned)((T + PF_BQ - 1) / PF_BQ), (unsigned)H);
    COSMOS_LAUNCH(grid, PF_THREADS, smem, stream, attention_prefill_kernel<TKV, DMAX>)
    (out, q, k, v, (int)H, (int)Hkv, (int)Dh, T, S, pos0, causal, scale, d_pos);
    return CUDA_LAUNCH_STATUS("attention_prefill_kernel");
}

template <typename TKV>
static cosmos_status prefill_dmax(cosmos_bf16 *out, const cosmos_bf16 *q, const TKV *k, const TKV *v, int64_t T,
                                  int64_t H, int64_t Hkv, int64_t Dh, int64_t S, int64_t pos0, int causal, float scale,
                                  const int64_t *d_pos, cudaStream_t stream) {
    if (Dh <= 16) return launch_prefill<TKV, 16>(out, q, k, v, T, H, Hkv, Dh, S, pos0, causal, scale, d_pos, stream);
    if (Dh <= 32) return launch_prefill<TKV, 32>(out, q, k, v, T, H, Hkv, Dh, S, pos0, causal, scale, d_pos, stream);
    if (Dh <= 64) return launch_prefill<TKV, 64>(out, q, k, v, T, H, Hkv, Dh, S, pos0, causal, scale, d_pos, stream);
    if (Dh <= 128) return launch_prefill<TKV, 128>(out, q, k, v, T, H, Hkv, Dh, S, pos0, causal, scale, d_pos, stream);
    return launch_prefill<TKV, 256>(out, q, k, v, T, H, Hkv, Dh, S, pos0, causal, scale, d_pos, stream);
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

extern "C" cosmos_status cosmos_cuda_attention(cosmos_bf16 *out, const cosmos_bf16 *q, const void *k, const void *v,
                                               enum cosmos_dtype kv_dtype, int64_t T, int64_t H, int64_t Hkv,
                                               int64_t Dh, int64_t S, int64_t pos0, int causal, int mma, void *ws,
                                               size_t ws_bytes, const int64_t *d_pos, cudaStream_t stream) {
    if (T <= 0 || H <= 0 || Dh <= 0) return COSMOS_OK;
    if (d_pos) { /* the position is read when the kernels run: plan (key splits) for the last one */
        if (!causal || T > S) return COSMOS_ERR_INVALID_ARG;
        pos0 = S - T;
    }
    if (Hkv <= 0 || H % Hkv != 0 || S < 0 || (causal && (pos0 < 0 || pos0 + T > S))) return COSMOS_ERR_INVALID_ARG;
    if (kv_dtype != COSMOS_BF16 && kv_dtype != COSMOS_F32) return COSMOS_ERR_UNSUPPORTED;
    /* grid limits (y: heads <= 65535) and int head/row indices in the kernels */
    if (Dh > ATT_MAX_DH || H > 65535 || T > 0x7fffffffLL / H) return COSMOS_ERR_UNSUPPORTED;
    const float scale = 1.0f / sqrtf((float)Dh);
    struct att_plan p = make_plan(T, H, Hkv, Dh);
    if (p.decode) {
        const int vec = Dh % 8 == 0 && aligned16(q) && aligned16(k) && aligned16(v);
        if (kv_dtype == COSMOS_BF16)
            return decode_hb<cosmos_bf16>(&p, out, ws, ws_bytes, q, (const cosmos_bf16 *)k, (const cosmos_bf16 *)v, T,
                                          H, Hkv, Dh, S, pos0, causal, vec, scale, d_pos, stream);
        return decode_hb<float>(&p, out, ws, ws_bytes, q, (const float *)k, (const float *)v, T, H, Hkv, Dh, S, pos0,
                                causal, vec, scale, d_pos, stream);
    }
    if (mma && kv_dtype == COSMOS_BF16) { /* the tensor-core kernel where it serves the shape */
        const cosmos_status st = cosmos_cuda_attention_mma(out, q, (const cosmos_bf16 *)k, (const cosmos_bf16 *)v, T,
                                                           H, Hkv, Dh, S, pos0, causal, d_pos, stream);
        if (st != COSMOS_ERR_UNSUPPORTED) return st;
    }
    if (kv_dtype == COSMOS_BF16)
        return prefill_dmax<cosmos_bf16>(out, q, (const cosmos_bf16 *)k, (const cosmos_bf16 *)v, T, H, Hkv, Dh, S,
                                         pos0, causal, scale, d_pos, stream);
    return prefill_dmax<float>(out, q, (const float *)k, (const float *)v, T, H, Hkv, Dh, S, pos0, causal, scale,
                               d_pos, stream);
}
