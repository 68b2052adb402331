/* CUDA finite scalar quantization of the DV tokenizer, the counterpart of cosmos_cpu_fsq_quantize /
 * _dequantize (kernels/cpu/fsq.c; spec components.md 2.7); contracts cosmos_op_fsq_quantize /
 * _dequantize (core/backend.h). z, codes [D, N] activations (bf16 or f32), indices int32 [N];
 * levels L_d passed by value (at most 16). One thread per position n, the CPU
 * op's arithmetic: half_l, offset, shift computed on the host exactly as the CPU op computes them,
 * t = f32(tanh(double(z + shift))), q = rint(t * half_l - offset) (ties to even, as torch.round),
 * with the multiply and the subtract rounded separately (__fmul_rn / __fsub_rn: nvcc would fuse
 * them, and a fused multiply-subtract moves values near a rounding boundary to the other index, as
 * the CPU op's -ffp-contract=off note says), code = q / hw, index = sum_d (q + hw) * basis_d.
 * Codes (multiples of 1/hw) are exact in bf16. Dequantize: digit = (index / basis_d) mod L_d,
 * code = (digit - hw) / hw; an index outside [0, prod L) leaves its codes unwritten and is reported
 * (the launcher waits for the stream to read the flag: INVALID_ARG naming one such position). */
#include <math.h>

extern "C" { /* a C header without its own extern "C" */
#include "core/log.h"
}
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/vec.cuh"

#define FSQ_THREADS 256
#define FSQ_MAX_LEVELS 16 /* as cosmos_op_fsq_* check (core/backend.c) */

struct fsq_params {
    int D;
    float half_l[FSQ_MAX_LEVELS], offset[FSQ_MAX_LEVELS], shift[FSQ_MAX_LEVELS];
    int levels[FSQ_MAX_LEVELS], hw[FSQ_MAX_LEVELS];
    int64_t basis[FSQ_MAX_LEVELS], vocab;
};

static void make_params(struct fsq_params *p, const int *levels, int D) {
    p->D = D;
    p->vocab = 1;
    for (int d = 0; d < D; d++) {
        p->levels[d] = levels[d];
        p->half_l[d] = (float)(levels[d] - 1) * 1.001f / 2.0f;
        p->offset[d] = (levels[d] % 2 == 0) ? 0.5f : 0.0f;
        p->shift[d] = atanhf(p->offset[d] / p->half_l[d]);
        p->hw[d] = levels[d] / 2;
        p->basis[d] = p->vocab;
        p->vocab *= levels[d];
    }
}

template <typename T>
static __global__ void fsq_quantize_kernel(int32_t *indices, T *codes, const T *z, int64_t N, struct fsq_params p) {
    for (int64_t n = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += (int64_t)gridDim.x * blockDim.x) {
        int64_t index = 0;
        for (int d = 0; d < p.D; d++) {
            const float t = (float)tanh((double)__fadd_rn(ld_f32(z + d * N + n), p.shift[d]));
            const float q = rintf(__fsub_rn(__fmul_rn(t, p.half_l[d]), p.offset[d]));
            st_act(codes + d * N + n, q / (float)p.hw[d]);
            index += (int64_t)((int)q + p.hw[d]) * p.basis[d];
        }
        indices[n] = (int32_t)index;
    }
}

template <typename T>
static __global__ void fsq_dequantize_kernel(T *codes, const int32_t *indices, int64_t N, struct fsq_params p,
                                             int64_t *bad) {
    for (int64_t n = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += (int64_t)gridDim.x * blockDim.x) {
        const int64_t idx = indices[n];
        if (idx < 0 || idx >= p.vocab) {
            *bad = n; /* any one of the bad positions */
            continue;
        }
        for (int d = 0; d < p.D; d++) {
            const int digit = (int)((idx / p.basis[d]) % p.levels[d]);
            st_act(codes + d * N + n, (float)(digit - p.hw[d]) / (float)p.hw[d]);
        }
    }
}

extern "C" cosmos_status cosmos_cuda_fsq_quantize(int32_t *indices, void *codes, const void *z, enum cosmos_dtype dtype,
                                                  const int *levels, int D, int64_t N, cudaStream_t stream) {
    if (N <= 0) return COSMOS_OK;
    if (D < 1 || D > FSQ_MAX_LEVELS) return COSMOS_ERR_INVALID_ARG;
    struct fsq_params p;
    make_params(&p, levels, D);
    const unsigned grid = cosmos_grid_1d(N, FSQ_THREADS);
    if (dtype == COSMOS_BF16)
        COSMOS_LAUNCH(grid, FSQ_THREADS, 0, stream, fsq_quantize_kernel<cosmos_bf16>)
        (indices, (cosmos_bf16 *)codes, (const cosmos_bf16 *)z, N, p);
    else if (dtype == COSMOS_F32)
        COSMOS_LAUNCH(grid, FSQ_THREADS, 0, stream, fsq_quantize_kernel<float>)
        (indices, (float *)codes, (const float *)z, N, p);
    else
        return COSMOS_ERR_UNSUPPORTED;
    return CUDA_LAUNCH_STATUS("fsq_quantize_kernel");
}

extern "C" cosmos_status cosmos_cuda_fsq_dequantize(void *codes, const int32_t *indices, enum cosmos_dtype dtype,
                                                    const int *levels, int D, int64_t N, cudaStream_t stream) {
    cosmos_status st = COSMOS_OK;
    if (N <= 0) return COSMOS_OK;
    if (D < 1 || D > FSQ_MAX_LEVELS) return COSMOS_ERR_INVALID_ARG;
    if (dtype != COSMOS_BF16 && dtype != COSMOS_F32) return COSMOS_ERR_UNSUPPORTED;
    struct fsq_params p;
    make_params(&p, levels, D);
    int64_t *bad = NULL, bad_h = -1;
    int32_t idx_h = 0;
    const unsigned grid = cosmos_grid_1d(N, FSQ_THREADS);
    CUDA_CHECK(cudaMallocAsync((void **)&bad, sizeof *bad, stream));
    CUDA_CHECK(cudaMemsetAsync(bad, 0xff, sizeof *bad, stream)); /* -1: none */
    if (dtype == COSMOS_BF16)
        COSMOS_LAUNCH(grid, FSQ_THREADS, 0, stream, fsq_dequantize_kernel<cosmos_bf16>)
        ((cosmos_bf16 *)codes, indices, N, p, bad);
    else
        COSMOS_LAUNCH(grid, FSQ_THREADS, 0, stream, fsq_dequantize_kernel<float>)((float *)codes, indices, N, p, bad);
    CHECK(CUDA_LAUNCH_STATUS("fsq_dequantize_kernel"));
    CUDA_CHECK(cudaMemcpyAsync(&bad_h, bad, sizeof bad_h, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (bad_h >= 0) {
        CUDA_CHECK(cudaMemcpy(&idx_h, indices + bad_h, sizeof idx_h, cudaMemcpyDeviceToHost));
        LOG_ERROR("fsq_dequantize: index %d at position %lld is outside [0, %lld)", idx_h, (long long)bad_h,
                  (long long)p.vocab);
        st = COSMOS_ERR_INVALID_ARG;
    }
fail:
    if (bad) cudaFreeAsync(bad, stream);
    return st;
}
