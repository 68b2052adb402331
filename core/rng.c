/* Philox4x32-10 draws (see rng.h); the generator itself is core/philox.h. */
#include "core/rng.h"

#include <math.h>

#include "core/dtype.h"
#include "core/philox.h"

void cosmos_philox4x32(uint64_t seed, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t out[4]) {
    cosmos_philox4x32_10(seed, c0, c1, c2, c3, out);
}

double cosmos_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return cosmos_philox_uniform(seed, stream, index);
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
