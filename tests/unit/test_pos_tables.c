/* Position tables against the spec's printed values (ar-model.md 2.1-2.3). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>

#include "core/config.h"
#include "core/model/pos_tables.h"
#include "cosmos_build_config.h"

static struct cosmos_ar_config load(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/models/%s.json", COSMOS_SOURCE_DIR, name);
    struct cosmos_ar_config c;
    cr_assert_eq(cosmos_ar_config_load(path, &c), COSMOS_OK);
    return c;
}

static void expect_close(const float *got, const double *want, int n, const char *what) {
    for (int i = 0; i < n; i++) {
        double rel = fabs(got[i] - want[i]) / fabs(want[i]);
        cr_expect(rel < 2e-5, "%s[%d] = %.7g, spec says %.7g", what, i, got[i], want[i]);
    }
}

Test(pos_tables, inv_freq_4b_matches_spec) {
    struct cosmos_ar_config c = load("cosmos-1.0-ar-4b");
    float inv_t[22], inv_s[21];
    cr_assert_eq(cosmos_split3d_hw(128), 42);
    cr_assert_eq(cosmos_split3d_t(128), 44);
    cosmos_rope_inv_freq(&c, inv_t, inv_s);
    const double s[21] = {1,          0.535329,   0.286577,   0.153413,   0.0821262,  0.0439645,  0.0235355,
                          0.0125992,  0.00674472, 0.00361064, 0.00193288, 0.00103473, 5.53918e-4, 2.96528e-4,
                          1.5874e-4,  8.49781e-5, 4.54912e-5, 2.43528e-5, 1.30367e-5, 6.97893e-6, 3.73602e-6};
    const double t[22] = {1,          0.550752,   0.303328,   0.167058,   0.0920076,  0.0506733,
                          0.0279084,  0.0153706,  0.00846539, 0.00466233, 0.00256779, 0.00141421,
                          7.7888e-4,  4.2897e-4,  2.36256e-4, 1.30118e-4, 7.16629e-5, 3.94685e-5,
                          2.17373e-5, 1.19719e-5, 6.59353e-6, 3.6314e-6};
    expect_close(inv_s, s, 21, "inv_s");
    expect_close(inv_t, t, 22, "inv_t");
}

Test(pos_tables, inv_freq_12b_yarn_matches_spec) {
    struct cosmos_ar_config c = load("cosmos-1.0-ar-12b");
    struct cosmos_ar_config base = load("cosmos-1.0-ar-4b");
    float inv_t[22], inv_s[21], bt[22], bs[21];
    cosmos_rope_inv_freq(&c, inv_t, inv_s);
    cosmos_rope_inv_freq(&base, bt, bs);
    const double s[21] = {1,          0.48251,    0.182664,   0.0767064,  0.0410631,  0.0219823,  0.0117677,
                          0.0062996,  0.00337236, 0.00180532, 9.6644e-4,  5.17363e-4, 2.76959e-4, 1.48264e-4,
                          7.937e-5,   4.24891e-5, 2.27456e-5, 1.21764e-5, 6.51836e-6, 3.48947e-6, 1.86801e-6};
    expect_close(inv_s, s, 21, "yarn inv_s");
    for (int k = 0; k < 22; k++) cr_expect_eq(inv_t[k], 0.5f * bt[k], "temporal frequencies are halved (k=%d)", k);
}

Test(pos_tables, rope_rows_bov_padding_and_rounding) {
    struct cosmos_ar_config c = load("cosmos-1.0-ar-5b-video2world");
    const int half = c.head_dim / 2, S = c.max_seq_len;
    float *cs = malloc(sizeof(float) * (size_t)(S * half)), *sn = malloc(sizeof(float) * (size_t)(S * half));
    cosmos_rope_tables(&c, cs, sn);
    for (int i = 0; i < half; i++) {
        cr_expect(cs[i] == 1.0f && sn[i] == 0.0f, "row 0 (BOV) is the identity");
        cr_expect(cs[(size_t)(S - 1) * half + i] == 1.0f && sn[(size_t)(S - 1) * half + i] == 0.0f,
                  "padded rows are the identity");
    }
    /* video token n = 1 sits in row 2 at (t,h,w) = (0,0,1): only the w part rotates */
    for (int i = 0; i < 43; i++) cr_expect_eq(cs[2 * half + i], 1.0f, "t/h part of token 1, i=%d", i);
    cr_expect_eq(cs[2 * half + 43], cosmos_round_bf16(cosf(1.0f)));
    /* token n = 2560 + 64 + 3 -> (1,1,3) in row 2628 */
    const int r = 1 + 2560 + 64 + 3;
    cr_expect_eq(sn[(size_t)r * half + 1], cosmos_round_bf16(sinf(0.550752f)), "t=1, k=1");
    for (size_t i = 0; i < (size_t)S * half; i++) cr_assert_eq(cs[i], cosmos_round_bf16(cs[i]), "bf16-valued");
    free(cs);
    free(sn);
}

Test(pos_tables, ape_5b_layout) {
    struct cosmos_ar_config c = load("cosmos-1.0-ar-5b-video2world");
    const int D = c.dim;
    cr_assert_eq(cosmos_split3d_hw(D), 1364);
    cr_assert_eq(cosmos_split3d_t(D), 1368);
    cosmos_bf16 *ape = malloc(sizeof(cosmos_bf16) * (size_t)c.max_seq_len * (size_t)D);
    cosmos_ape_table(&c, ape);
    for (int i = 0; i < D; i++) cr_assert_eq(ape[i], 0, "BOV row is zero");
    /* row 1 = token (0,0,0): sin parts 0, cos parts 1 */
    const cosmos_bf16 *r1 = ape + D;
    cr_expect_eq(cosmos_bf16_to_f32(r1[0]), 0.0f);
    cr_expect_eq(cosmos_bf16_to_f32(r1[684]), 1.0f, "cos half of the t part");
    /* token (t,h,w) = (2,3,5): w part, first sin entry = sin(5 * omega_0) = sin(5) */
    const int n = 2 * 2560 + 3 * 64 + 5;
    const cosmos_bf16 *rw = ape + (size_t)(n + 1) * D + 1368 + 1364;
    cr_expect_eq(rw[0], cosmos_f32_to_bf16((float)sin(5.0)));
    cr_expect_eq(rw[682], cosmos_f32_to_bf16((float)cos(5.0)));
    const cosmos_bf16 *rt = ape + (size_t)(n + 1) * D;
    cr_expect_eq(rt[1], cosmos_f32_to_bf16((float)sin(2.0 / pow(10000.0, 1.0 / 684.0))));
    for (int i = 0; i < D; i++) cr_assert_eq(ape[(size_t)(c.max_seq_len - 1) * D + i], 0, "padding rows are zero");
    free(ape);
}
