/* dtype helpers: sizes, names and bulk bf16 conversions (see dtype.h). */
#include "core/dtype.h"

size_t cosmos_dtype_size(enum cosmos_dtype t) {
    switch (t) {
    case COSMOS_F32: return 4;
    case COSMOS_BF16: return 2;
    case COSMOS_I32: return 4;
    }
    return 0;
}

const char *cosmos_dtype_name(enum cosmos_dtype t) {
    switch (t) {
    case COSMOS_F32: return "float32";
    case COSMOS_BF16: return "bfloat16";
    case COSMOS_I32: return "int32";
    }
    return "?";
}

void cosmos_bf16_to_f32_n(float *dst, const cosmos_bf16 *src, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > (1u << 16))
    for (size_t i = 0; i < n; i++) dst[i] = cosmos_bf16_to_f32(src[i]);
}

void cosmos_f32_to_bf16_n(cosmos_bf16 *dst, const float *src, size_t n) {
#pragma omp parallel for schedule(static) if (n > (1u << 16))
    for (size_t i = 0; i < n; i++) dst[i] = cosmos_f32_to_bf16(src[i]);
}
