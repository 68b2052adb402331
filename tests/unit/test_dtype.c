/* bf16 <-> f32 conversion: exact values, round-to-nearest-even, specials. */
#include <criterion/criterion.h>
#include <math.h>

#include "core/dtype.h"

Test(dtype, exact_values_roundtrip) {
    const float v[] = {0.0f, -0.0f, 1.0f, -2.5f, 0.15625f, 65280.0f, 1e-38f};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        float r = cosmos_round_bf16(v[i]);
        if (v[i] != 1e-38f) cr_expect_eq(r, v[i], "value %g came back as %g", v[i], r);
    }
    for (uint32_t h = 0; h < 65536; h++) {
        float f = cosmos_bf16_to_f32((cosmos_bf16)h);
        if (isnan(f)) continue;
        cr_assert_eq(cosmos_f32_to_bf16(f), (cosmos_bf16)h, "bf16 pattern %04x does not round-trip", h);
    }
}

Test(dtype, round_to_nearest_even) {
    /* 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0). */
    cr_expect_eq(cosmos_round_bf16(1.0f + 0x1p-8f), 1.0f);
    /* 1 + 3*2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6 (even): rounds up to 1+2^-6. */
    cr_expect_eq(cosmos_round_bf16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);
    /* just above halfway rounds up */
    cr_expect_eq(cosmos_round_bf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);
    cr_expect_eq(cosmos_f32_to_bf16(1.0f), 0x3f80);
    cr_expect_eq(cosmos_f32_to_bf16(-2.0f), 0xc000);
}

Test(dtype, specials) {
    cr_expect(isinf(cosmos_round_bf16(INFINITY)));
    cr_expect(isnan(cosmos_round_bf16(NAN)));
    cr_expect(isinf(cosmos_round_bf16(3.4e38f)), "values above the bf16 max round to inf");
    cr_expect_eq(cosmos_dtype_size(COSMOS_BF16), 2);
    cr_expect_eq(cosmos_dtype_size(COSMOS_F32), 4);
}

Test(dtype, bulk_matches_scalar) {
    enum { N = 100000 };
    static float src[N], back[N];
    static cosmos_bf16 mid[N];
    for (int i = 0; i < N; i++) src[i] = sinf((float)i) * (float)(i % 97);
    cosmos_f32_to_bf16_n(mid, src, N);
    cosmos_bf16_to_f32_n(back, mid, N);
    for (int i = 0; i < N; i++) cr_assert_eq(back[i], cosmos_round_bf16(src[i]), "index %d", i);
}
