/* Warp-level tensor-core matrix multiply (PTX mma.sync, sm_80 and later) for the kernels of
 * kernels/cuda: D[16x8] += A[16x16] . B[16x8], A and B bf16, D f32, one instruction per warp.
 *
 * Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type"), with
 * g = lane / 4 and c = lane % 4, each 32-bit register holding two bf16, the lower column (A) or
 * row (B) in the low half:
 *   a[0] = A[g][2c, 2c+1]      a[1] = A[g+8][2c, 2c+1]
 *   a[2] = A[g][2c+8, 2c+9]    a[3] = A[g+8][2c+8, 2c+9]
 *   b[0] = B[2c, 2c+1][g]      b[1] = B[2c+8, 2c+9][g]
 *   d[0], d[1] = D[g][2c, 2c+1]   d[2], d[3] = D[g+8][2c, 2c+1]
 * (ldmatrix_x4 below loads such registers from shared memory.) Every lane of the warp must execute the call together (no lane may have exited or diverged).
 * The CUDA emulator (tests/cuda_emu/emu_device.h) implements the same contract as a warp
 * collective, so a kernel using it runs there too; the caller checks the device's compute
 * capability (>= 8.0) before launching such a kernel. */
#ifndef COSMOS_CUDA_MMA_CUH
#define COSMOS_CUDA_MMA_CUH

#include <cuda_bf16.h>
#include <stdint.h>

#ifdef COSMOS_CUDA_EMU
static inline void mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    ::cosmos_emu::mma_bf16_m16n8k16(d, a, b);
}
#else
static __device__ __forceinline__ void mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    (void)d, (void)a, (void)b;
    __trap(); /* unreachable: the launchers refuse devices below sm_80 */
#endif
}
#endif

/* ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16: four 8 x 8 matrices of 16-bit elements from
 * shared memory, matrix i's row j at the address lane 8i + j passes (16-byte aligned; the 8
 * elements of the row contiguous). Lane (g = lane / 4, c = lane % 4) receives in r[i] matrix i's
 * elements [g][2c], [g][2c+1] (an mma A or B fragment register of a row-major operand), or with
 * trans its elements [2c][g], [2c+1][g] (the B fragment of a matrix stored k-major, as V). */
#ifdef COSMOS_CUDA_EMU
template <bool TRANS>
static inline void ldmatrix_x4(uint32_t r[4], const void *row) {
    ::cosmos_emu::ldmatrix_x4(r, row, TRANS);
}
#else
template <bool TRANS>
static __device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *row) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const unsigned a = (unsigned)__cvta_generic_to_shared(row);
    if constexpr (TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
#else
    (void)r, (void)row;
    __trap();
#endif
}
#endif

/* Two f32 values rounded to bf16 (nearest even) in one register, lo in the low half. */
static __device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    const __nv_bfloat16 l = __float2bfloat16_rn(lo), h = __float2bfloat16_rn(hi);
    return (uint32_t)*reinterpret_cast<const uint16_t *>(&l) | ((uint32_t)*reinterpret_cast<const uint16_t *>(&h) << 16);
}
/* The bf16 in the low (hi = 0) or high half of a register, as f32. */
static __device__ __forceinline__ float bf16x2_half(uint32_t r, int hi) {
    return __uint_as_float(hi ? r & 0xffff0000u : r << 16);
}

#endif
