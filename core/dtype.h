/* Element types and the bf16 <-> f32 conversions (spec ar-model.md section 10: weights are bf16,
 * the CPU oracle computes in f32). bf16 is held as its raw 16-bit pattern (uint16_t): the top half
 * of an IEEE f32. f32 -> bf16 rounds to nearest even, as torch's .to(torch.bfloat16); NaN stays NaN. */
#ifndef COSMOS_DTYPE_H
#define COSMOS_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum cosmos_dtype {
    COSMOS_F32 = 0,
    COSMOS_BF16 = 1,
    COSMOS_I32 = 2,
};

typedef uint16_t cosmos_bf16;

static inline float cosmos_bf16_to_f32(cosmos_bf16 h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline cosmos_bf16 cosmos_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (cosmos_bf16)((u >> 16) | 0x0040u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (cosmos_bf16)(u >> 16);
}

/* f32 value rounded to the nearest bf16 and widened back. */
static inline float cosmos_round_bf16(float f) { return cosmos_bf16_to_f32(cosmos_f32_to_bf16(f)); }

size_t cosmos_dtype_size(enum cosmos_dtype t);
const char *cosmos_dtype_name(enum cosmos_dtype t);

/* Bulk conversions over n elements (OpenMP-parallel for large n). */
void cosmos_bf16_to_f32_n(float *dst, const cosmos_bf16 *src, size_t n);
void cosmos_f32_to_bf16_n(cosmos_bf16 *dst, const float *src, size_t n);

#endif
