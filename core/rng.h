/* Counter-based RNG: Philox4x32-10 (Salmon et al., SC'11; the generator behind cuRAND and torch's
 * CUDA RNG). A draw is a pure function of (seed, counter), so every rank, backend and process
 * layout draws the same number for the same (seed, sequence position) without any shared state. */
#ifndef COSMOS_RNG_H
#define COSMOS_RNG_H

#include <stdint.h>

/* The 4 x 32-bit Philox4x32-10 output block for key = seed, counter = (c0, c1, c2, c3). */
void cosmos_philox4x32(uint64_t seed, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t out[4]);
/* Uniform double in [0, 1) with 53 random bits, for stream `stream` at index `index`. */
double cosmos_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Standard normal (Box-Muller over one Philox block), for stream `stream` at index `index`. */
float cosmos_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);

/* dst[i] = bf16(mean + std * normal(seed, stream, i)) for i < n (OpenMP-parallel): random weights
 * of `cosmos-ar init`, a pure function of (seed, stream) whatever the thread count. */
void cosmos_rng_fill_normal_bf16(uint16_t *dst, int64_t n, uint64_t seed, uint64_t stream, float mean, float std);

/* Streams: the sampler draws at stream COSMOS_RNG_STREAM_SAMPLE, index = sequence position. */
#define COSMOS_RNG_STREAM_SAMPLE 0x53414d50u /* "SAMP" */

#endif
