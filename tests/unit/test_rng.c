/* Philox4x32-10 known-answer tests (Random123 kat_vectors) and the counter-based guarantees. */
#include <criterion/criterion.h>
#include <math.h>

#include "core/rng.h"

Test(rng, philox_known_answers) {
    uint32_t o[4];
    cosmos_philox4x32(0, 0, 0, 0, 0, o);
    cr_expect(o[0] == 0x6627e8d5u && o[1] == 0xe169c58du && o[2] == 0xbc57ac4cu && o[3] == 0x9b00dbd8u);
    cosmos_philox4x32(~0ull, ~0u, ~0u, ~0u, ~0u, o);
    cr_expect(o[0] == 0x408f276du && o[1] == 0x41c83b0eu && o[2] == 0xa20bc7c6u && o[3] == 0x6d5451fdu);
    cosmos_philox4x32(0x299f31d0a4093822ull, 0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, o);
    cr_expect(o[0] == 0xd16cfe09u && o[1] == 0x94fdccebu && o[2] == 0x5001e420u && o[3] == 0x24126ea1u);
}

Test(rng, pure_function_of_seed_and_counter) {
    double a = cosmos_rng_uniform(42, 7, 12345);
    for (int i = 0; i < 1000; i++) (void)cosmos_rng_uniform(42, 7, (uint64_t)i); /* no hidden state */
    cr_expect_eq(cosmos_rng_uniform(42, 7, 12345), a);
    cr_expect_neq(cosmos_rng_uniform(43, 7, 12345), a, "the seed changes the draw");
    cr_expect_neq(cosmos_rng_uniform(42, 8, 12345), a, "the stream changes the draw");
    cr_expect_neq(cosmos_rng_uniform(42, 7, 12346), a, "the index changes the draw");
}

Test(rng, uniform_and_normal_moments) {
    const int N = 200000;
    double s = 0, s2 = 0, ns = 0, ns2 = 0;
    for (int i = 0; i < N; i++) {
        double u = cosmos_rng_uniform(1, 2, (uint64_t)i);
        cr_assert(u >= 0.0 && u < 1.0);
        s += u;
        s2 += u * u;
        double z = cosmos_rng_normal(1, 3, (uint64_t)i);
        ns += z;
        ns2 += z * z;
    }
    cr_expect(fabs(s / N - 0.5) < 0.005, "uniform mean %g", s / N);
    cr_expect(fabs(s2 / N - 1.0 / 3.0) < 0.005, "uniform second moment %g", s2 / N);
    cr_expect(fabs(ns / N) < 0.01, "normal mean %g", ns / N);
    cr_expect(fabs(ns2 / N - 1.0) < 0.02, "normal variance %g", ns2 / N);
}
