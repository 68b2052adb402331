/* CUDA gated residual of the DiT blocks, the counterpart of cosmos_cpu_add_gated
 * (kernels/cpu/add_gated.c): y[r, i] = a[r, i] + gate[i] * b[r, i] (spec components.md 4.4 step 6,
 * x = x + gate * F(...)); contract cosmos_op_add_gated (core/backend.h). Rows [R, D] row-major,
 * gate [D] per channel shared by every row; y, a, b, gate all of one activation dtype (bf16 or f32),
 * f32 math (one fused multiply-add), one rounding on store. y may alias a (each element is read
 * before it is written, by the same thread).
 * Grid: x over channel groups (8 bf16 / 4 f32 per 16-byte vector when D and every pointer allow,
 * else single channels), y over row slices; a thread keeps its gate values in registers and walks
 * the rows r = blockIdx.y, blockIdx.y + gridDim.y, ... */
#include "kernels/cuda/vec.cuh"

#define ADD_GATED_MAX_THREADS 256
#define ADD_GATED_TARGET_BLOCKS 4096 /* enough blocks to fill any current GPU several times */

template <typename T, bool VEC>
static __global__ void add_gated_kernel(T *y, const T *a, const T *b, const T *gate, int64_t rows, int64_t D) {
    constexpr int N = VEC ? vec16<T>::N : 1;
    const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; /* channel group */
    if (c >= D / N) return;
    float g[N];
    if constexpr (VEC)
        ld_vec16(g, gate + c * N);
    else
        g[0] = ld_f32(gate + c);
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const int64_t off = r * D + c * N;
        float fa[N], fb[N];
        if constexpr (VEC) {
            ld_vec16(fa, a + off);
            ld_vec16(fb, b + off);
        } else {
            fa[0] = ld_f32(a + off);
            fb[0] = ld_f32(b + off);
        }
#pragma unroll
        for (int e = 0; e < N; e++) fa[e] = fmaf(g[e], fb[e], fa[e]);
        if constexpr (VEC)
            st_vec16(y + off, fa);
        else
            st_act(y + off, fa[0]);
    }
}

template <typename T>
static cosmos_status launch(T *y, const T *a, const T *b, const T *gate, int64_t rows, int64_t D,
                            cudaStream_t stream) {
    const bool vec = D % vec16<T>::N == 0 && vec16_ok(y) && vec16_ok(a) && vec16_ok(b) && vec16_ok(gate);
    const int64_t groups = vec ? D / vec16<T>::N : D;
    int threads = (int)((groups + COSMOS_WARP - 1) / COSMOS_WARP * COSMOS_WARP);
    if (threads > ADD_GATED_MAX_THREADS) threads = ADD_GATED_MAX_THREADS;
    const int64_t gx = (groups + threads - 1) / threads;
    if (gx > 0x7fffffff) return COSMOS_ERR_UNSUPPORTED;
    int64_t gy = ADD_GATED_TARGET_BLOCKS / gx;
    if (gy < 1) gy = 1;
    if (gy > rows) gy = rows;
    if (gy > 65535) gy = 65535;
    const dim3 grid((unsigned)gx, (unsigned)gy);
    if (vec)
        COSMOS_LAUNCH(grid, threads, 0, stream, add_gated_kernel<T, true>)(y, a, b, gate, rows, D);
    else
        COSMOS_LAUNCH(grid, threads, 0, stream, add_gated_kernel<T, false>)(y, a, b, gate, rows, D);
    return CUDA_LAUNCH_STATUS("add_gated_kernel");
}

extern "C" cosmos_status cosmos_cuda_add_gated(void *y, const void *a, const void *b, const void *gate,
                                               enum cosmos_dtype dtype, int64_t rows, int64_t D, cudaStream_t stream) {
    if (rows <= 0 || D <= 0) return COSMOS_OK;
    if (dtype == COSMOS_BF16)
        return launch((cosmos_bf16 *)y, (const cosmos_bf16 *)a, (const cosmos_bf16 *)b, (const cosmos_bf16 *)gate,
                      rows, D, stream);
    if (dtype == COSMOS_F32)
        return launch((float *)y, (const float *)a, (const float *)b, (const float *)gate, rows, D, stream);
    return COSMOS_ERR_UNSUPPORTED;
}
