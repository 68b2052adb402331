/* CUDA rotate-half RoPE (spec ar-model.md 2.1), the counterpart of kernels/cpu/rope.c: pairs
 * (i, i+Dh/2), out[i] = x[i] cos - x[i+h] sin, out[i+h] = x[i+h] cos + x[i] sin, with the f32 table
 * row of the token's absolute position pos0+t (pos0 read from d_pos when that is not NULL). bf16 x
 * in place, f32 math. One thread per pair. */
#include "kernels/cuda/common.cuh"

#define ROPE_THREADS 256

static __global__ void rope_bf16_kernel(cosmos_bf16 *x, const float *cos_tab, const float *sin_tab, int64_t T,
                                        int64_t H, int64_t half, int64_t pos0, const int64_t *d_pos) {
    if (d_pos) pos0 = *d_pos;
    const int64_t n = T * H * half;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = e % half, th = e / half, t = th / H;
        cosmos_bf16 *v = x + th * 2 * half;
        const float c = cos_tab[(pos0 + t) * half + i], s = sin_tab[(pos0 + t) * half + i];
        const float a = ld_f32(v + i), b = ld_f32(v + i + half);
        st_bf16(v + i, a * c - b * s);
        st_bf16(v + i + half, b * c + a * s);
    }
}

extern "C" cosmos_status cosmos_cuda_rope(cosmos_bf16 *x, const float *cos_tab, const float *sin_tab, int64_t T,
                                          int64_t H, int64_t Dh, int64_t pos0, const int64_t *d_pos,
                                          cudaStream_t stream) {
    const int64_t n = T * H * (Dh / 2);
    if (n <= 0) return COSMOS_OK;
    COSMOS_LAUNCH(cosmos_grid_1d(n, ROPE_THREADS), ROPE_THREADS, 0, stream, rope_bf16_kernel)
    (x, cos_tab, sin_tab, T, H, Dh / 2, pos0, d_pos);
    return CUDA_LAUNCH_STATUS("rope_bf16_kernel");
}
