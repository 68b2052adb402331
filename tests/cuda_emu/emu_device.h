/* Device-side half of the CUDA emulator (emu.h): force-included (-include) before anything else
 * into the .cu files of kernels/cuda when they are compiled as host C++ for the emulated backend. It gives
 * the CUDA built-ins the kernels use a host meaning: threadIdx & co. read the running fiber,
 * __shared__ variables are static (blocks run one at a time, their threads share them),
 * __syncthreads / __syncthreads_or / __shfl_xor_sync are barriers of the emulator, and
 * COSMOS_LAUNCH / COSMOS_DYN_SHARED (common.cuh) become calls into it. The cub headers the
 * kernels include are this directory's include/cub (block reduce / scan, device radix sort). */
#ifndef COSMOS_CUDA_EMU_DEVICE_H
#define COSMOS_CUDA_EMU_DEVICE_H

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <string.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/cuda_emu/emu.h"

#define COSMOS_CUDA_EMU 1

/* host C++ knows __global__, __device__, __host__ as nothing already (host_defines.h) */
#undef __shared__
#define __shared__ static
#define __launch_bounds__(...)

#define threadIdx (::cosmos_emu::g_cur->tid)
#define blockIdx (::cosmos_emu::g_block_idx)
#define blockDim (::cosmos_emu::g_block_dim)
#define gridDim (::cosmos_emu::g_grid_dim)

using std::isfinite;
using std::isnan;
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline long min(long a, long b) { return a < b ? a : b; }
static inline long max(long a, long b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
/* __expf (glibc declares it, without exporting it): expf */
#define __expf(x) expf(x)
static inline float __uint_as_float(unsigned u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static inline unsigned __float_as_uint(float f) {
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
/* __ldcs / __ldcg (loads with the streaming / L2-only cache hints) are plain loads here; an address
 * not aligned to the access size is a fault, as on a GPU */
namespace cosmos_emu {
template <typename T>
inline T hinted_load(const T *p, const char *fault) {
    if ((uintptr_t)p % sizeof(T)) {
        kernel_fault(fault);
        return T();
    }
    return *p;
}
} // namespace cosmos_emu
template <typename T>
static inline T __ldcs(const T *p) {
    return ::cosmos_emu::hinted_load(p, "__ldcs of an address not aligned to its size");
}
template <typename T>
static inline T __ldcg(const T *p) {
    return ::cosmos_emu::hinted_load(p, "__ldcg of an address not aligned to its size");
}
/* device-wide atomics and fences: blocks run one after another here, so these order nothing that
 * is not ordered already; they exist so that the kernels that need them on a GPU compile */
static inline unsigned atomicAdd(unsigned *p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
/* the rounded-once f32 operations nvcc never fuses into an FMA: the volatile store rounds each
 * result to f32 here too, whatever -ffp-contract the host compiler was given */
static inline float __fadd_rn(float a, float b) {
    volatile float r = a + b;
    return r;
}
static inline float __fsub_rn(float a, float b) {
    volatile float r = a - b;
    return r;
}
static inline float __fmul_rn(float a, float b) {
    volatile float r = a * b;
    return r;
}

static inline void __syncthreads() { ::cosmos_emu::block_barrier(); }

/* Nonzero when pred is nonzero on any thread of the block (every thread gets it): thread 0 folds
 * the votes between two barriers. */
static inline int __syncthreads_or(int pred) {
    static int result;
    uint64_t *slot = ::cosmos_emu::exchange_slots();
    const unsigned me = ::cosmos_emu::g_cur->lin, n = blockDim.x * blockDim.y * blockDim.z;
    slot[me] = pred != 0;
    ::cosmos_emu::block_barrier();
    if (me == 0) {
        result = 0;
        for (unsigned i = 0; i < n; i++) result |= !::cosmos_emu::lane_exited(i) && slot[i] != 0;
    }
    ::cosmos_emu::block_barrier(); /* a later vote folds only after every thread has passed its first barrier */
    return result;
}

/* The value of lane (lane ^ lane_mask) of the warp; every lane of the warp must take part. */
template <typename T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    static_assert(sizeof(T) <= sizeof(uint64_t), "__shfl_xor_sync: at most 8 bytes");
    if (mask != 0xffffffffu) ::cosmos_emu::kernel_fault("__shfl_xor_sync with a partial mask (not emulated)");
    uint64_t *slot = ::cosmos_emu::exchange_slots();
    const unsigned me = ::cosmos_emu::g_cur->lin, lane = me % 32, base = me - lane;
    const unsigned src_lane = (lane ^ (unsigned)lane_mask) % 32;
    const unsigned src = (int)src_lane / width == (int)lane / width ? base + src_lane : me;
    memcpy(&slot[me], &v, sizeof v);
    ::cosmos_emu::warp_barrier();
    T r;
    if (src >= blockDim.x * blockDim.y * blockDim.z || ::cosmos_emu::lane_exited(src))
        ::cosmos_emu::kernel_fault("__shfl_xor_sync reads a lane that has exited or does not exist");
    memcpy(&r, &slot[src], sizeof r);
    ::cosmos_emu::warp_barrier(); /* nobody overwrites a slot before every lane has read */
    return r;
}

namespace cosmos_emu {
/* A warp-wide instruction needs all 32 lanes of the warp starting at thread `base` (of n in the
 * block) live: a fault (`what`) and false otherwise. */
inline bool require_full_warp(unsigned base, unsigned n, const char *what) {
    for (unsigned l = 0; l < 32; l++)
        if (base + l >= n || lane_exited(base + l)) {
            kernel_fault(what);
            return false;
        }
    return true;
}

/* mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (kernels/cuda/mma.cuh) as a warp collective:
 * every lane posts its A and B registers, then computes its four D elements from the whole warp's,
 * reading the fragment layout of the PTX ISA backwards (which lane and register hold A[r][k] and
 * B[k][n]). Products of two bf16 are exact in f32; they are added to d in k order, in f32. */
inline void mma_bf16_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    static thread_local uint32_t frag[1024][6]; /* [thread of the block][a0..a3, b0, b1] */
    const unsigned me = g_cur->lin, lane = me % 32, base = me - lane;
    const unsigned n = g_block_dim.x * g_block_dim.y * g_block_dim.z;
    for (int i = 0; i < 4; i++) frag[me][i] = a[i];
    frag[me][4] = b[0];
    frag[me][5] = b[1];
    warp_barrier();
    require_full_warp(base, n, "mma.sync with a lane of the warp exited or missing");
    const auto half = [](uint32_t r, int k) { return __uint_as_float(k & 1 ? r & 0xffff0000u : r << 16); };
    const unsigned g = lane / 4, c = lane % 4;
    for (int e = 0; e < 4; e++) {
        const int r = (int)g + (e >= 2 ? 8 : 0), col = 2 * (int)c + (e & 1);
        float acc = d[e];
        for (int k = 0; k < 16; k++) {
            const uint32_t *fa = frag[base + (r % 8) * 4 + (k % 8) / 2];
            const uint32_t *fb = frag[base + col * 4 + (k % 8) / 2];
            const float x = half(fa[(r >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0)], k);
            const float y = half(fb[4 + (k >= 8 ? 1 : 0)], k);
            acc += x * y;
        }
        d[e] = acc;
    }
    warp_barrier(); /* nobody posts the next fragments before every lane has read these */
}

/* ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16 (kernels/cuda/mma.cuh) as a warp collective:
 * every lane posts its row address, then reads its four registers from the rows the warp posted
 * (matrix i's row j from lane 8i + j). A row address not 16-byte aligned is a fault, as on a GPU. */
inline void ldmatrix_x4(uint32_t r[4], const void *row, bool trans) {
    uint64_t *slot = exchange_slots(); /* one per thread, as for shuffles: the row addresses */
    const unsigned me = g_cur->lin, lane = me % 32, base = me - lane;
    if ((uintptr_t)row % 16) kernel_fault("ldmatrix with a row address not 16-byte aligned");
    slot[me] = (uint64_t)(uintptr_t)row;
    warp_barrier();
    const bool full = require_full_warp(base, g_block_dim.x * g_block_dim.y * g_block_dim.z,
                                        "ldmatrix with a lane of the warp exited or missing");
    const unsigned g = lane / 4, c = lane % 4;
    for (int i = 0; i < 4; i++) {
        uint16_t e[2] = {0, 0};
        for (int h = 0; h < 2 && full; h++) { /* element [g][2c+h], or [2c+h][g] transposed */
            const unsigned rowi = trans ? 2 * c + (unsigned)h : g, col = trans ? g : 2 * c + (unsigned)h;
            const unsigned char *p = (const unsigned char *)(uintptr_t)slot[base + 8 * (unsigned)i + rowi];
            memcpy(&e[h], p + 2 * col, 2);
        }
        r[i] = (uint32_t)e[0] | ((uint32_t)e[1] << 16);
    }
    warp_barrier(); /* nobody posts the next addresses before every lane has read these */
}

/* cp.async (kernels/cuda/cp_async.cuh): the hardware may land a copy any time between its issue and
 * the wait that covers it; the emulator takes both ends. In even blocks (those whose threads run in
 * ascending order) a thread's copy lands only when that thread waits for its group: a kernel that
 * reads the destination before the wait (and a barrier) sees the old bytes. In odd blocks it lands
 * at the issue: a kernel that overwrites a buffer other threads still read (a missing barrier
 * before the next copy into it) corrupts their reads. Either fails its tests here. The source is
 * read at the issue. Per thread of the block: the copies not yet landed, the groups committed. */
struct async_copy {
    void *dst;
    unsigned char data[16];
    size_t n;
    uint64_t group;
};
struct async_state {
    uint64_t serial = 0, committed = 0;
    std::vector<async_copy> pending;
};
inline async_state &async_of_thread() {
    static thread_local std::vector<async_state> st(1024);
    async_state &a = st[g_cur->lin];
    if (a.serial != g_block_serial) { /* a new block: the previous one's state is gone */
        a.serial = g_block_serial;
        a.committed = 0;
        a.pending.clear();
    }
    return a;
}
inline void cp_async(void *dst, const void *src, size_t n) {
    if ((g_block_idx.x + g_block_idx.y + g_block_idx.z) & 1) { /* odd block: lands now */
        memcpy(dst, src, n);
        return;
    }
    async_state &a = async_of_thread();
    async_copy c;
    c.dst = dst;
    c.n = n;
    c.group = a.committed;
    memcpy(c.data, src, n);
    a.pending.push_back(c);
}
inline void cp_async_commit() { async_of_thread().committed++; }
/* lands every copy except those of the n_keep most recently committed groups (and uncommitted ones) */
inline void cp_async_wait(unsigned n_keep) {
    async_state &a = async_of_thread();
    size_t kept = 0;
    for (size_t i = 0; i < a.pending.size(); i++) {
        async_copy &c = a.pending[i];
        if (c.group + n_keep < a.committed) memcpy(c.dst, c.data, c.n);
        else a.pending[kept++] = c;
    }
    a.pending.resize(kept);
}
} // namespace cosmos_emu

/* cuda_runtime.h declares these kernel-typed overloads for nvcc only */
template <typename F>
static inline cudaError_t cudaFuncSetAttribute(F *kernel, enum cudaFuncAttribute attr, int value) {
    return ::cudaFuncSetAttribute((const void *)kernel, attr, value);
}
template <typename F>
static inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *n, F *kernel, int block, size_t smem) {
    return ::cudaOccupancyMaxActiveBlocksPerMultiprocessor(n, (const void *)kernel, block, smem);
}

namespace cosmos_emu {
template <typename... P>
struct launcher {
    const char *name;
    void (*fn)(P...);
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    template <typename... A>
    void operator()(A &&...a) const {
        auto f = fn;
        /* the arguments convert to the parameter types at the launch, as CUDA copies them */
        std::tuple<P...> args(std::forward<A>(a)...);
        launch(name, (const void *)f, grid, block, smem, stream, [f, args]() { std::apply(f, args); });
    }
};
template <typename... P>
launcher<P...> make_launcher(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, const char *name,
                             void (*fn)(P...)) {
    return launcher<P...>{name, fn, grid, block, smem, stream};
}
} // namespace cosmos_emu

#define COSMOS_LAUNCH(grid, block, smem, stream, ...) \
    ::cosmos_emu::make_launcher((grid), (block), (smem), (stream), #__VA_ARGS__, __VA_ARGS__)
#define COSMOS_DYN_SHARED(type, name) type *name = static_cast<type *>(::cosmos_emu::dynamic_smem())

#endif
