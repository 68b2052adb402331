/* CUDA single-head attention of the tokenizers' AttnBlocks, the counterpart of
 * cosmos_cpu_attention_1h (kernels/cpu/attention_single_head.c; spec components.md 2.5: one head of
 * width C, scale 1/sqrt(C)); contract cosmos_op_attention_1h (core/backend.h). On the tokenizer's
 * own layout, no transposes: q, o [C, Tq, HW]; k, v [C, S, HW] (bf16 or f32, one dtype).
 * - spatial (S == Tq): per frame t, the HW tokens attend each other;
 * - temporal: per position i, causal over frames: query t is frame S-Tq+t of the keys and attends
 *   keys [0, S-Tq+t].
 * One block per (query position, query frame), grid [HW, Tq]. The query column q[:, t, i] goes to
 * shared memory (f32); the block's threads take consecutive keys m and compute
 * s_m = (q . k_m) * scale over the channels in order (for a spatial key the threads of a warp read
 * consecutive addresses of each channel row: coalesced), scores kept in shared memory; max and sum
 * by block reductions; then each thread takes channels c and sums e_m v[c, m] over the keys in order,
 * times 1/sum. f32 arithmetic, one rounding on store; the CPU op sums in its sgemm's order and
 * multiplies by 1/sum before the weighted sum, so the two differ by rounding only. Shared memory:
 * (C + keys) floats, over 48 KiB through cudaFuncSetAttribute up to the device's opt-in limit
 * (else UNSUPPORTED). A simple kernel: the V pass reads each thread's own channel row (not
 * coalesced across a warp; the L2 serves the other queries of the frame), which a GPU run should
 * weigh against the tokenizer's convs before anything faster is written. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/vec.cuh"

#define A1H_THREADS 128

static __device__ __forceinline__ float block_max(float v, float *red) {
    const int lane = threadIdx.x % COSMOS_WARP, wid = threadIdx.x / COSMOS_WARP;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) red[wid] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x / COSMOS_WARP) ? red[lane] : -INFINITY;
    return warp_max(v);
}

template <typename T, bool TEMPORAL>
static __global__ void attention_1h_kernel(T *o, const T *q, const T *k, const T *v, int64_t C, int64_t Tq, int64_t S,
                                           int64_t HW, float scale) {
    COSMOS_DYN_SHARED(float, sh); /* [C] query, then [keys] scores */
    __shared__ float red[COSMOS_WARP];
    const int64_t i = blockIdx.x, t = blockIdx.y;
    const int64_t nk = TEMPORAL ? S - Tq + t + 1 : HW;
    float *qs = sh, *sc = sh + C;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) qs[c] = ld_f32(q + (c * Tq + t) * HW + i);
    __syncthreads();
    /* key m of channel c: spatial k[c, t, m]; temporal k[c, m, i] */
    float mx = -INFINITY;
    for (int64_t m = threadIdx.x; m < nk; m += blockDim.x) {
        const T *km = TEMPORAL ? k + m * HW + i : k + t * HW + m;
        float s = 0.0f;
        for (int64_t c = 0; c < C; c++) s += qs[c] * ld_f32(km + c * S * HW);
        s *= scale;
        sc[m] = s;
        mx = fmaxf(mx, s);
    }
    mx = block_max(mx, red);
    float sum = 0.0f;
    for (int64_t m = threadIdx.x; m < nk; m += blockDim.x) {
        const float e = expf(sc[m] - mx);
        sc[m] = e;
        sum += e;
    }
    sum = block_sum(sum, red); /* its barriers also publish sc[] to every thread */
    const float inv = 1.0f / sum;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
        const T *vc = v + c * S * HW;
        float acc = 0.0f;
        if (TEMPORAL)
            for (int64_t m = 0; m < nk; m++) acc += sc[m] * ld_f32(vc + m * HW + i);
        else
            for (int64_t m = 0; m < nk; m++) acc += sc[m] * ld_f32(vc + t * HW + m);
        st_act(o + (c * Tq + t) * HW + i, acc * inv);
    }
}

template <typename T, bool TEMPORAL>
static cosmos_status launch(T *o, const T *q, const T *k, const T *v, int64_t C, int64_t Tq, int64_t S, int64_t HW,
                            cudaStream_t stream) {
    const int64_t keys = TEMPORAL ? S : HW;
    const size_t smem = sizeof(float) * (size_t)(C + keys);
    const cosmos_status st = cosmos_cuda_smem_optin(attention_1h_kernel<T, TEMPORAL>, smem);
    if (st != COSMOS_OK) return st;
    const dim3 grid((unsigned)HW, (unsigned)Tq);
    COSMOS_LAUNCH(grid, A1H_THREADS, smem, stream, attention_1h_kernel<T, TEMPORAL>)
    (o, q, k, v, C, Tq, S, HW, 1.0f / sqrtf((float)C));
    return CUDA_LAUNCH_STATUS("attention_1h_kernel");
}

template <typename T>
static cosmos_status launch_t(T *o, const T *q, const T *k, const T *v, int64_t C, int64_t Tq, int64_t S, int64_t HW,
                              int temporal, cudaStream_t stream) {
    if (temporal) return launch<T, true>(o, q, k, v, C, Tq, S, HW, stream);
    return launch<T, false>(o, q, k, v, C, Tq, S, HW, stream);
}

extern "C" cosmos_status cosmos_cuda_attention_1h(void *o, const void *q, const void *k, const void *v,
                                                  enum cosmos_dtype dtype, int64_t C, int64_t Tq, int64_t S,
                                                  int64_t HW, int temporal, cudaStream_t stream) {
    if (C <= 0 || Tq <= 0 || HW <= 0) return COSMOS_OK;
    if ((!temporal && S != Tq) || S < Tq || HW > 0x7fffffff || Tq > 65535) return COSMOS_ERR_INVALID_ARG;
    if (dtype == COSMOS_BF16)
        return launch_t((cosmos_bf16 *)o, (const cosmos_bf16 *)q, (const cosmos_bf16 *)k, (const cosmos_bf16 *)v, C, Tq,
                        S, HW, temporal, stream);
    if (dtype == COSMOS_F32)
        return launch_t((float *)o, (const float *)q, (const float *)k, (const float *)v, C, Tq, S, HW, temporal,
                        stream);
    return COSMOS_ERR_UNSUPPORTED;
}
