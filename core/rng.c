/* Philox4x32-10 (see rng.h). Constants from the Random123 reference. */
#include "core/rng.h"

#include <math.h>

#include "core/dtype.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void cosmos_philox4x32(uint64_t seed, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t out[4]) {
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    uint32_t x0 = c0, x1 = c1, x2 = c2, x3 = c3;
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * x0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * x2;
        uint32_t y0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0;
        uint32_t y1 = (uint32_t)p1;
        uint32_t y2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1;
        uint32_t y3 = (uint32_t)p0;
        x0 = y0;
        x1 = y1;
        x2 = y2;
        x3 = y3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = x0;
    out[1] = x1;
    out[2] = x2;
    out[3] = x3;
}

double cosmos_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t o[4];
    cosmos_philox4x32(seed, (uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream, (uint32_t)(stream >> 32), o);
    uint64_t bits = ((uint64_t)o[0] << 21) ^ ((uint64_t)o[1] >> 11);
    return (double)(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

float cosmos_rng_normal(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t o[4];
    cosmos_philox4x32(seed, (uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream, (uint32_t)(stream >> 32), o);
    double u1 = ((double)o[0] + 1.0) * (1.0 / 4294967296.0); /* (0, 1] */
    double u2 = (double)o[1] * (1.0 / 4294967296.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void cosmos_rng_fill_normal_bf16(uint16_t *dst, int64_t n, uint64_t seed, uint64_t stream, float mean, float std) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) dst[i] = cosmos_f32_to_bf16(mean + std * cosmos_rng_normal(seed, stream, (uint64_t)i));
}
