/* Philox4x32-10 (Salmon et al., SC'11; constants from the Random123 reference) and the 53-bit
 * uniform double of core/rng.h, as inline functions that compile both as C and as CUDA device code
 * (COSMOS_HD), so the host sampler (core/rng.c) and the GPU sampler (kernels/cuda/sample.cu) draw
 * from one definition. Key = seed; counter = (index lo, index hi, stream lo, stream hi). */
#ifndef COSMOS_PHILOX_H
#define COSMOS_PHILOX_H

#include <stdint.h>

#ifdef __CUDACC__
#define COSMOS_HD __host__ __device__
#else
#define COSMOS_HD
#endif

static inline COSMOS_HD void cosmos_philox4x32_10(uint64_t seed, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                                  uint32_t out[4]) {
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    uint32_t x0 = c0, x1 = c1, x2 = c2, x3 = c3;
    for (int r = 0; r < 10; r++) {
        const uint64_t p0 = (uint64_t)0xD2511F53u * x0;
        const uint64_t p1 = (uint64_t)0xCD9E8D57u * x2;
        const uint32_t y0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0;
        const uint32_t y1 = (uint32_t)p1;
        const uint32_t y2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1;
        const uint32_t y3 = (uint32_t)p0;
        x0 = y0;
        x1 = y1;
        x2 = y2;
        x3 = y3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = x0;
    out[1] = x1;
    out[2] = x2;
    out[3] = x3;
}

/* Uniform double in [0, 1) with 53 random bits: (o0 << 21) ^ (o1 >> 11) of the block at
 * (seed; index, stream). */
static inline COSMOS_HD double cosmos_philox_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t o[4];
    cosmos_philox4x32_10(seed, (uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream, (uint32_t)(stream >> 32),
                         o);
    const uint64_t bits = ((uint64_t)o[0] << 21) ^ ((uint64_t)o[1] >> 11);
    return (double)(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

#endif
