/* DV8x16x16 tokenizer ops on the CPU backend (spec components.md 2.4-2.7) against golden outputs
 * of the PyTorch reference tools/reference/dv_tokenizer_ref.py (fixtures tests/data/dv-ops.h5 from
 * tools/reference/make_dv_fixtures.py): Haar patcher/unpatcher (exact and bf16 taps, odd T),
 * causal conv3d in every configuration the tokenizer uses (f32 and bf16 weights), per-frame
 * GroupNorm, swish, FSQ quantize/dequantize (identical indices and codes), plus round trips, the
 * dispatchers' shape errors, and UNSUPPORTED from a backend without the ops.
 * Tolerances: max |c - ref| / max(1, |ref|) <= TOL_* below; FSQ results must be identical. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/backend_impl.h"
#include "core/h5file.h"
#include "cosmos_build_config.h"

#define TOL_HAAR 1e-6
/* The unpatch fixture inverts random-normal bands: each output is a signed sum of 64 values of
 * magnitude ~3, so f32 cancellation alone gives a few 1e-6 (the scale 2*sqrt(2)*tap^3 is 1 in the
 * reference's double arithmetic and 1 - 6e-8 in f32). */
#define TOL_UNPATCH 1e-5
#define TOL_CONV 1e-5
#define TOL_NORM 1e-5
#define TOL_SWISH 1e-6
#define BF16_TAP 0.70703125f

static const int LEVELS[6] = {8, 8, 8, 5, 5, 5};

static cosmos_backend_t *be;
static cosmos_h5_t *h5;

static void setup(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/dv-ops.h5", COSMOS_SOURCE_DIR);
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(path, &h5), COSMOS_OK, "cannot open %s", path);
}
static void teardown(void) {
    cosmos_h5_close(h5);
    cosmos_backend_free(be);
}

/* Reads a dataset as `dt` into a new tensor with its file shape (at most 4 dims). */
static struct cosmos_tensor load(const char *name, enum cosmos_dtype dt) {
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h5, name, &info), COSMOS_OK, "%s", name);
    cr_assert(info.ndim >= 1 && info.ndim <= COSMOS_MAX_DIMS, "%s: ndim %d", name, info.ndim);
    struct cosmos_tensor t = {NULL, dt, info.ndim, {1, 1, 1, 1}};
    for (int i = 0; i < info.ndim; i++) t.shape[i] = info.shape[i];
    t.data = malloc(cosmos_tensor_bytes(&t));
    cr_assert_eq(cosmos_h5_read(h5, name, dt, t.data), COSMOS_OK, "%s", name);
    return t;
}
static struct cosmos_tensor alloc_like(const struct cosmos_tensor *ref, enum cosmos_dtype dt) {
    struct cosmos_tensor t = *ref;
    t.dtype = dt;
    t.data = calloc(1, cosmos_tensor_bytes(&t));
    return t;
}
static struct cosmos_tensor to_bf16(const struct cosmos_tensor *f) {
    struct cosmos_tensor t = alloc_like(f, COSMOS_BF16);
    cosmos_f32_to_bf16_n(t.data, f->data, (size_t)cosmos_tensor_numel(f));
    return t;
}

/* max |a-b| / max(1,|b|); fails the test above tol. */
static double check_close(const char *what, const struct cosmos_tensor *got, const struct cosmos_tensor *want,
                          double tol) {
    cr_assert_eq(cosmos_tensor_numel(got), cosmos_tensor_numel(want), "%s: sizes differ", what);
    const float *a = got->data, *b = want->data;
    double worst = 0.0, worst_abs = 0.0;
    int64_t at = 0;
    for (int64_t i = 0; i < cosmos_tensor_numel(want); i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d / fmax(1.0, fabs((double)b[i]));
        if (!(r <= worst)) worst = r, at = i;
        if (d > worst_abs) worst_abs = d;
    }
    fprintf(stderr, "[dv_ops] %-28s max abs diff %.3g, scaled %.3g (tol %.0e)\n", what, worst_abs, worst, tol);
    cr_expect(worst <= tol, "%s: diff %.3g at %lld (got %.9g want %.9g), tol %.1g", what, worst, (long long)at,
              a[at], b[at], tol);
    return worst;
}

TestSuite(dv_ops, .init = setup, .fini = teardown);

Test(dv_ops, haar_patch_matches_reference) {
    struct cosmos_tensor x = load("haar.x", COSMOS_F32), want = load("haar.patch", COSMOS_F32);
    struct cosmos_tensor want_b = load("haar.patch_bf16tap", COSMOS_F32);
    struct cosmos_tensor y = alloc_like(&want, COSMOS_F32);
    cr_assert_eq(cosmos_op_haar_patch(be, y, x, 4, COSMOS_HAAR_TAP), COSMOS_OK);
    check_close("haar_patch", &y, &want, TOL_HAAR);
    cr_assert_eq(cosmos_op_haar_patch(be, y, x, 4, BF16_TAP), COSMOS_OK);
    check_close("haar_patch bf16 tap", &y, &want_b, TOL_HAAR);
    /* round trip (issue 5: exact to 1e-6) */
    cr_assert_eq(cosmos_op_haar_patch(be, y, x, 4, COSMOS_HAAR_TAP), COSMOS_OK);
    struct cosmos_tensor back = alloc_like(&x, COSMOS_F32);
    cr_assert_eq(cosmos_op_haar_unpatch(be, back, y, 4, COSMOS_HAAR_TAP), COSMOS_OK);
    check_close("haar round trip", &back, &x, TOL_HAAR);
    free(x.data), free(want.data), free(want_b.data), free(y.data), free(back.data);
}

Test(dv_ops, haar_patch_odd_frames_reflect) {
    struct cosmos_tensor x = load("haar_odd.x", COSMOS_F32), want = load("haar_odd.patch", COSMOS_F32);
    struct cosmos_tensor y = alloc_like(&want, COSMOS_F32);
    cr_assert_eq(cosmos_op_haar_patch(be, y, x, 4, COSMOS_HAAR_TAP), COSMOS_OK);
    check_close("haar_patch T=2", &y, &want, TOL_HAAR);
    free(x.data), free(want.data), free(y.data);
}

Test(dv_ops, haar_unpatch_matches_reference) {
    struct cosmos_tensor y = load("haar.y", COSMOS_F32), want = load("haar.unpatch", COSMOS_F32);
    struct cosmos_tensor want_b = load("haar.unpatch_bf16tap", COSMOS_F32);
    struct cosmos_tensor x = alloc_like(&want, COSMOS_F32);
    cr_assert_eq(cosmos_op_haar_unpatch(be, x, y, 4, COSMOS_HAAR_TAP), COSMOS_OK);
    check_close("haar_unpatch", &x, &want, TOL_UNPATCH);
    cr_assert_eq(cosmos_op_haar_unpatch(be, x, y, 4, BF16_TAP), COSMOS_OK);
    check_close("haar_unpatch bf16 tap", &x, &want_b, TOL_UNPATCH);
    free(x.data), free(y.data), free(want.data), free(want_b.data);
}

static void conv_case(const char *name) {
    char k[128];
    snprintf(k, sizeof k, "conv.%s.x", name);
    struct cosmos_tensor x = load(k, COSMOS_F32);
    snprintf(k, sizeof k, "conv.%s.w", name);
    struct cosmos_tensor w = load(k, COSMOS_F32);
    snprintf(k, sizeof k, "conv.%s.b", name);
    struct cosmos_tensor b = load(k, COSMOS_F32);
    snprintf(k, sizeof k, "conv.%s.y", name);
    struct cosmos_tensor want = load(k, COSMOS_F32);
    snprintf(k, sizeof k, "conv.%s.params", name);
    struct cosmos_tensor pt = load(k, COSMOS_I32);
    const int32_t *pv = pt.data;
    struct cosmos_conv3d_params p = {pv[0], pv[1], pv[2], pv[3], pv[4], pv[5], pv[6], pv[7]};
    struct cosmos_tensor y = alloc_like(&want, COSMOS_F32);
    cr_assert_eq(cosmos_op_causal_conv3d(be, y, x, w, b, &p), COSMOS_OK, "%s", name);
    snprintf(k, sizeof k, "conv %s", name);
    check_close(k, &y, &want, TOL_CONV);
    /* the same weights stored as bf16 (the fixture's weights are bf16-representable) */
    struct cosmos_tensor wb = to_bf16(&w), bb = to_bf16(&b);
    memset(y.data, 0, cosmos_tensor_bytes(&y));
    cr_assert_eq(cosmos_op_causal_conv3d(be, y, x, wb, bb, &p), COSMOS_OK, "%s bf16", name);
    snprintf(k, sizeof k, "conv %s bf16 w", name);
    check_close(k, &y, &want, TOL_CONV);
    free(x.data), free(w.data), free(b.data), free(want.data), free(pt.data), free(y.data), free(wb.data),
        free(bb.data);
}

Test(dv_ops, conv_spatial) { conv_case("spatial"); }
Test(dv_ops, conv_temporal) { conv_case("temporal"); }
Test(dv_ops, conv_temporal_down) { conv_case("temporal_down"); }
Test(dv_ops, conv_spatial_down) { conv_case("spatial_down"); }
Test(dv_ops, conv_pointwise) { conv_case("pointwise"); }
Test(dv_ops, conv_full3d) { conv_case("full3d"); }

Test(dv_ops, conv_params_causal_matches_official_time_pad) {
    struct cosmos_conv3d_params p = cosmos_conv3d_params_causal(3, 1, 1, 1, 1, 0);
    cr_expect_eq(p.time_pad, 2);
    p = cosmos_conv3d_params_causal(3, 1, 1, 2, 1, 0);
    cr_expect_eq(p.time_pad, 1);
    p = cosmos_conv3d_params_causal(1, 3, 3, 1, 1, 1);
    cr_expect(p.time_pad == 0 && p.pad_lo == 1 && p.pad_hi == 1);
}

Test(dv_ops, groupnorm_frames) {
    struct cosmos_tensor x = load("groupnorm.x", COSMOS_F32), g = load("groupnorm.gamma", COSMOS_F32);
    struct cosmos_tensor bt = load("groupnorm.beta", COSMOS_F32), want = load("groupnorm.y", COSMOS_F32);
    struct cosmos_tensor y = alloc_like(&want, COSMOS_F32);
    cr_assert_eq(cosmos_op_groupnorm_frames(be, y, x, g, bt, 1e-6f), COSMOS_OK);
    check_close("groupnorm_frames", &y, &want, TOL_NORM);
    struct cosmos_tensor gb = to_bf16(&g), bb = to_bf16(&bt);
    cr_assert_eq(cosmos_op_groupnorm_frames(be, x, x, gb, bb, 1e-6f), COSMOS_OK); /* in place, bf16 params */
    check_close("groupnorm_frames bf16 inplace", &x, &want, TOL_NORM);
    free(x.data), free(g.data), free(bt.data), free(want.data), free(y.data), free(gb.data), free(bb.data);
}

Test(dv_ops, swish) {
    struct cosmos_tensor x = load("swish.x", COSMOS_F32), want = load("swish.y", COSMOS_F32);
    struct cosmos_tensor y = alloc_like(&want, COSMOS_F32);
    cr_assert_eq(cosmos_op_swish(be, y, x), COSMOS_OK);
    check_close("swish", &y, &want, TOL_SWISH);
    free(x.data), free(want.data), free(y.data);
}

Test(dv_ops, fsq_quantize_identical) {
    struct cosmos_tensor z = load("fsq.z", COSMOS_F32), want_c = load("fsq.codes", COSMOS_F32);
    struct cosmos_tensor want_i = load("fsq.indices", COSMOS_I32), lv = load("fsq.levels", COSMOS_I32);
    cr_assert_eq(memcmp(lv.data, LEVELS, sizeof LEVELS), 0, "fixture levels differ from [8,8,8,5,5,5]");
    struct cosmos_tensor codes = alloc_like(&want_c, COSMOS_F32), idx = alloc_like(&want_i, COSMOS_I32);
    cr_assert_eq(cosmos_op_fsq_quantize(be, idx, codes, z, LEVELS, 6), COSMOS_OK);
    const int32_t *gi = idx.data, *wi = want_i.data;
    int64_t bad = 0;
    for (int64_t i = 0; i < cosmos_tensor_numel(&idx); i++) bad += gi[i] != wi[i];
    cr_expect_eq(bad, 0, "%lld of %lld indices differ", (long long)bad, (long long)cosmos_tensor_numel(&idx));
    cr_expect_eq(memcmp(codes.data, want_c.data, cosmos_tensor_bytes(&codes)), 0, "codes differ");
    fprintf(stderr, "[dv_ops] fsq_quantize: %lld index mismatches of %lld\n", (long long)bad,
            (long long)cosmos_tensor_numel(&idx));
    free(z.data), free(want_c.data), free(want_i.data), free(lv.data), free(codes.data), free(idx.data);
}

/* z within 4 ulp of every rounding boundary: tanhf, the f32 constants and half-to-even rounding
 * must agree with PyTorch's f32 arithmetic exactly. */
Test(dv_ops, fsq_quantize_boundaries_identical) {
    struct cosmos_tensor z = load("fsq.edge_z", COSMOS_F32), want_c = load("fsq.edge_codes", COSMOS_F32);
    struct cosmos_tensor want_i = load("fsq.edge_indices", COSMOS_I32);
    struct cosmos_tensor codes = alloc_like(&want_c, COSMOS_F32), idx = alloc_like(&want_i, COSMOS_I32);
    cr_assert_eq(cosmos_op_fsq_quantize(be, idx, codes, z, LEVELS, 6), COSMOS_OK);
    const int32_t *gi = idx.data, *wi = want_i.data;
    int64_t bad = 0;
    for (int64_t i = 0; i < cosmos_tensor_numel(&idx); i++) bad += gi[i] != wi[i];
    fprintf(stderr, "[dv_ops] fsq_quantize boundaries: %lld index mismatches of %lld\n", (long long)bad,
            (long long)cosmos_tensor_numel(&idx));
    cr_expect_eq(bad, 0, "%lld of %lld indices differ", (long long)bad, (long long)cosmos_tensor_numel(&idx));
    cr_expect_eq(memcmp(codes.data, want_c.data, cosmos_tensor_bytes(&codes)), 0, "codes differ");
    free(z.data), free(want_c.data), free(want_i.data), free(codes.data), free(idx.data);
}

Test(dv_ops, fsq_dequantize_identical) {
    struct cosmos_tensor idx = load("fsq.deq_indices", COSMOS_I32), want = load("fsq.deq_codes", COSMOS_F32);
    struct cosmos_tensor codes = alloc_like(&want, COSMOS_F32);
    cr_assert_eq(cosmos_op_fsq_dequantize(be, codes, idx, LEVELS, 6), COSMOS_OK);
    cr_expect_eq(memcmp(codes.data, want.data, cosmos_tensor_bytes(&codes)), 0, "codes differ");
    free(idx.data), free(want.data), free(codes.data);
}

/* Every index of the 64000-entry vocabulary: dequantize, then the spec's index formula on the
 * codes gives the index back, and codes are on the grid {-1..(hw-1)/hw}. */
Test(dv_ops, fsq_full_vocab_round_trip) {
    const int64_t V = 64000;
    int32_t *ids = malloc(sizeof(int32_t) * V);
    float *codes = malloc(sizeof(float) * 6 * V);
    for (int64_t i = 0; i < V; i++) ids[i] = (int32_t)i;
    struct cosmos_tensor ti = cosmos_tensor_1d(ids, COSMOS_I32, V), tc = cosmos_tensor_2d(codes, COSMOS_F32, 6, V);
    cr_assert_eq(cosmos_op_fsq_dequantize(be, tc, ti, LEVELS, 6), COSMOS_OK);
    static const int basis[6] = {1, 8, 64, 512, 2560, 12800};
    for (int64_t i = 0; i < V; i++) {
        int64_t idx = 0;
        for (int d = 0; d < 6; d++) {
            int hw = LEVELS[d] / 2;
            float c = codes[d * V + i];
            cr_assert(c >= -1.0f && c <= 1.0f);
            idx += (int64_t)lrintf(c * (float)hw + (float)hw) * basis[d];
        }
        cr_assert_eq(idx, i, "index %lld -> %lld", (long long)i, (long long)idx);
    }
    free(ids), free(codes);
}

Test(dv_ops, fsq_dequantize_rejects_out_of_range) {
    int32_t ids[3] = {0, 64000, 5};
    float codes[18];
    struct cosmos_tensor ti = cosmos_tensor_1d(ids, COSMOS_I32, 3), tc = cosmos_tensor_2d(codes, COSMOS_F32, 6, 3);
    cr_expect_eq(cosmos_op_fsq_dequantize(be, tc, ti, LEVELS, 6), COSMOS_ERR_INVALID_ARG);
    ids[1] = -1;
    cr_expect_eq(cosmos_op_fsq_dequantize(be, tc, ti, LEVELS, 6), COSMOS_ERR_INVALID_ARG);
}

Test(dv_ops, dispatchers_reject_bad_shapes) {
    float buf[4096] = {0};
    int32_t ibuf[64];
    struct cosmos_tensor x = {buf, COSMOS_F32, 4, {3, 9, 16, 24}};
    struct cosmos_tensor y = {buf + 2048, COSMOS_F32, 4, {192, 3, 4, 5}}; /* W' wrong */
    cr_expect_eq(cosmos_op_haar_patch(be, y, x, 4, COSMOS_HAAR_TAP), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_op_haar_patch(be, y, x, 3, COSMOS_HAAR_TAP), COSMOS_ERR_INVALID_ARG);
    struct cosmos_tensor xs = {buf, COSMOS_F32, 4, {3, 9, 18, 24}}; /* H not a multiple of 4 */
    struct cosmos_tensor ys = {buf + 2048, COSMOS_F32, 4, {192, 3, 4, 6}};
    cr_expect_eq(cosmos_op_haar_patch(be, ys, xs, 4, COSMOS_HAAR_TAP), COSMOS_ERR_INVALID_ARG);
    struct cosmos_tensor u = {buf, COSMOS_F32, 4, {100, 3, 4, 6}}; /* C not a multiple of 64 */
    cr_expect_eq(cosmos_op_haar_unpatch(be, x, u, 4, COSMOS_HAAR_TAP), COSMOS_ERR_INVALID_ARG);

    struct cosmos_tensor cx = {buf, COSMOS_F32, 4, {2, 3, 4, 4}};
    struct cosmos_tensor w = cosmos_tensor_2d(buf + 1000, COSMOS_F32, 5, 2 * 9);
    struct cosmos_tensor b = cosmos_tensor_1d(buf + 1200, COSMOS_F32, 5);
    struct cosmos_tensor cy = {buf + 1300, COSMOS_F32, 4, {5, 3, 4, 4}};
    struct cosmos_conv3d_params p = cosmos_conv3d_params_causal(1, 3, 3, 1, 1, 1);
    cr_expect_eq(cosmos_op_causal_conv3d(be, cy, cx, w, b, &p), COSMOS_OK);
    struct cosmos_tensor cy_bad = cy;
    cy_bad.shape[1] = 2;
    cr_expect_eq(cosmos_op_causal_conv3d(be, cy_bad, cx, w, b, &p), COSMOS_ERR_INVALID_ARG);
    struct cosmos_tensor w_bad = cosmos_tensor_2d(buf + 1000, COSMOS_F32, 5, 2 * 9 + 1);
    cr_expect_eq(cosmos_op_causal_conv3d(be, cy, cx, w_bad, b, &p), COSMOS_ERR_INVALID_ARG);
    struct cosmos_tensor b_bf = cosmos_tensor_1d(buf + 1200, COSMOS_BF16, 5);
    cr_expect_eq(cosmos_op_causal_conv3d(be, cy, cx, w, b_bf, &p), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_op_causal_conv3d(be, cx, cx, w, b, &p), COSMOS_ERR_INVALID_ARG); /* alias */

    struct cosmos_tensor g = cosmos_tensor_1d(buf + 1000, COSMOS_F32, 3);
    cr_expect_eq(cosmos_op_groupnorm_frames(be, cx, cx, g, g, 1e-6f), COSMOS_ERR_INVALID_ARG);

    struct cosmos_tensor z = {buf, COSMOS_F32, 4, {6, 1, 2, 4}};
    struct cosmos_tensor codes = {buf + 100, COSMOS_F32, 4, {6, 1, 2, 4}};
    struct cosmos_tensor idx = cosmos_tensor_1d(ibuf, COSMOS_I32, 8);
    cr_expect_eq(cosmos_op_fsq_quantize(be, idx, codes, z, LEVELS, 6), COSMOS_OK);
    cr_expect_eq(cosmos_op_fsq_quantize(be, idx, codes, z, LEVELS, 5), COSMOS_ERR_INVALID_ARG);
    struct cosmos_tensor idx_bad = cosmos_tensor_1d(ibuf, COSMOS_I32, 7);
    cr_expect_eq(cosmos_op_fsq_quantize(be, idx_bad, codes, z, LEVELS, 6), COSMOS_ERR_INVALID_ARG);
    const int bad_levels[6] = {8, 8, 8, 5, 5, 1};
    cr_expect_eq(cosmos_op_fsq_quantize(be, idx, codes, z, bad_levels, 6), COSMOS_ERR_INVALID_ARG);
}

/* A backend whose op table lacks the tokenizer ops (as the CUDA backend today) reports
 * UNSUPPORTED for each of them, never a wrong result. */
Test(dv_ops, missing_ops_are_unsupported) {
    static const struct cosmos_backend_ops empty = {0};
    struct cosmos_backend fake = {"fake", &empty, NULL, COSMOS_F32, 1, -1, NULL};
    float buf[8192] = {0};
    int32_t ibuf[8] = {0};
    struct cosmos_tensor x = {buf, COSMOS_F32, 4, {3, 1, 4, 4}};
    struct cosmos_tensor y = {buf + 4096, COSMOS_F32, 4, {192, 1, 1, 1}};
    cr_expect_eq(cosmos_op_haar_patch(&fake, y, x, 4, COSMOS_HAAR_TAP), COSMOS_ERR_UNSUPPORTED);
    cr_expect_eq(cosmos_op_haar_unpatch(&fake, x, y, 4, COSMOS_HAAR_TAP), COSMOS_ERR_UNSUPPORTED);
    struct cosmos_tensor w = cosmos_tensor_2d(buf + 1000, COSMOS_F32, 3, 3);
    struct cosmos_tensor b = cosmos_tensor_1d(buf + 1100, COSMOS_F32, 3);
    struct cosmos_conv3d_params p = cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0);
    struct cosmos_tensor x2 = {buf + 2000, COSMOS_F32, 4, {3, 1, 4, 4}};
    cr_expect_eq(cosmos_op_causal_conv3d(&fake, x2, x, w, b, &p), COSMOS_ERR_UNSUPPORTED);
    cr_expect_eq(cosmos_op_groupnorm_frames(&fake, x, x, b, b, 1e-6f), COSMOS_ERR_UNSUPPORTED);
    cr_expect_eq(cosmos_op_swish(&fake, x, x), COSMOS_ERR_UNSUPPORTED);
    struct cosmos_tensor z = {buf, COSMOS_F32, 4, {6, 1, 1, 1}};
    struct cosmos_tensor idx = cosmos_tensor_1d(ibuf, COSMOS_I32, 1);
    cr_expect_eq(cosmos_op_fsq_quantize(&fake, idx, z, z, LEVELS, 6), COSMOS_ERR_UNSUPPORTED);
    cr_expect_eq(cosmos_op_fsq_dequantize(&fake, z, idx, LEVELS, 6), COSMOS_ERR_UNSUPPORTED);
}

/* ---- The encoder forward (core/model/dv_encoder.c) on configs/models/dv-tokenizer-tiny.json
 * against the reference (tests/data/dv-tiny-encoder.h5): latent within TOL_LATENT, identical FSQ
 * indices and codes. ---- */
#include "core/model/dv_encoder.h"

#define TOL_LATENT 1e-4

static struct cosmos_dv_config tiny_config(void) {
    struct cosmos_dv_config c = {
        .in_channels = 3, .channels = 8, .n_levels = 3, .channels_mult = {1, 2, 2}, .num_res_blocks = 1,
        .n_attn_resolutions = 1, .attn_resolutions = {4}, .resolution = 16, .patch_size = 4, .z_channels = 4,
        .embedding_dim = 6, .fsq_levels = {8, 8, 8, 5, 5, 5}, .spatial_compression = 16, .temporal_compression = 8,
    };
    return c;
}

Test(dv_encoder, tiny_matches_reference) {
    char path[1024];
    cosmos_backend_t *cpu = NULL;
    cosmos_h5_t *h = NULL;
    snprintf(path, sizeof path, "%s/tests/data/dv-tiny-encoder.h5", COSMOS_SOURCE_DIR);
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &cpu), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK);
    h5 = h;
    struct cosmos_tensor video = load("video", COSMOS_F32), want_z = load("latent", COSMOS_F32);
    struct cosmos_tensor want_i = load("indices", COSMOS_I32), want_c = load("codes", COSMOS_F32);
    struct cosmos_dv_config cfg = tiny_config();
    int64_t Tl, Hl, Wl;
    cosmos_dv_latent_shape(&cfg, video.shape[1], video.shape[2], video.shape[3], &Tl, &Hl, &Wl);
    cr_assert(Tl == want_i.shape[0] && Hl == want_i.shape[1] && Wl == want_i.shape[2], "latent shape %lldx%lldx%lld",
              (long long)Tl, (long long)Hl, (long long)Wl);
    struct cosmos_tensor z = alloc_like(&want_z, COSMOS_F32), c = alloc_like(&want_c, COSMOS_F32);
    struct cosmos_tensor idx = alloc_like(&want_i, COSMOS_I32);
    cr_assert_eq(cosmos_dv_encode(cpu, h, &cfg, video.data, video.shape[1], video.shape[2], video.shape[3], z.data,
                                  idx.data, c.data),
                 COSMOS_OK);
    check_close("tiny encoder latent", &z, &want_z, TOL_LATENT);
    cr_expect_eq(memcmp(idx.data, want_i.data, cosmos_tensor_bytes(&idx)), 0, "indices differ");
    cr_expect_eq(memcmp(c.data, want_c.data, cosmos_tensor_bytes(&c)), 0, "codes differ");
    /* a frame count that is not 1 + 8k is rejected */
    cr_expect_eq(cosmos_dv_encode(cpu, h, &cfg, video.data, 8, video.shape[2], video.shape[3], z.data, idx.data, NULL),
                 COSMOS_ERR_INVALID_ARG);
    free(video.data), free(want_z.data), free(want_i.data), free(want_c.data), free(z.data), free(c.data),
        free(idx.data);
    cosmos_h5_close(h);
    h5 = NULL;
    cosmos_backend_free(cpu);
}

Test(dv_encoder, full_config_latent_shape) {
    struct cosmos_dv_config cfg = cosmos_dv_config_dv8x16x16();
    int64_t Tl, Hl, Wl;
    cosmos_dv_latent_shape(&cfg, 33, 640, 1024, &Tl, &Hl, &Wl);
    cr_expect(Tl == 5 && Hl == 40 && Wl == 64, "got %lldx%lldx%lld", (long long)Tl, (long long)Hl, (long long)Wl);
}

/* ---- Single-head attention of the DV blocks (kernels/cpu/attention_single_head.c) on [C, T, HW]
 * against a double-precision evaluation of the reference's formula on random data: spatial
 * (including a frame of more tokens than one 64 MB score block holds, so the query rows are
 * blocked) and causal temporal; frame-by-frame calls, as the streamed decoder makes them (the
 * spatial frame alone, the temporal query over keys [0, t]), give bitwise the whole-clip values. ---- */
#include "kernels/cpu/cpu_ops.h"

#define TOL_ATTN 1e-5

static void fill_uniform(float *x, int64_t n, uint32_t seed, float amp) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = amp * ((float)(seed >> 8) / 16777216.0f * 2.0f - 1.0f);
    }
}

/* o [C,T,HW] = softmax(q.k / sqrt(C)) v in double; the sequences as cosmos_cpu_attention_1h. */
static void attn_1h_ref(double *o, const float *q, const float *k, const float *v, int64_t C, int64_t T, int64_t HW,
                        int temporal) {
    const int64_t n_seq = temporal ? HW : T, L = temporal ? T : HW;
    double *s = malloc(sizeof(double) * (size_t)L);
#define AT(a, ch, l) (a)[((ch) * T + (temporal ? (l) : seq)) * HW + (temporal ? seq : (l))]
    for (int64_t seq = 0; seq < n_seq; seq++)
        for (int64_t i = 0; i < L; i++) {
            const int64_t n_keys = temporal ? i + 1 : L;
            double m = -INFINITY, sum = 0.0;
            for (int64_t j = 0; j < n_keys; j++) {
                double d = 0.0;
                for (int64_t ch = 0; ch < C; ch++) d += (double)AT(q, ch, i) * (double)AT(k, ch, j);
                s[j] = d / sqrt((double)C);
                m = fmax(m, s[j]);
            }
            for (int64_t j = 0; j < n_keys; j++) {
                s[j] = exp(s[j] - m);
                sum += s[j];
            }
            for (int64_t ch = 0; ch < C; ch++) {
                double acc = 0.0;
                for (int64_t j = 0; j < n_keys; j++) acc += s[j] / sum * (double)AT(v, ch, j);
                AT(o, ch, i) = acc;
            }
        }
#undef AT
    free(s);
}

static void attn_1h_case(int64_t C, int64_t T, int64_t HW, int temporal) {
    const int64_t n = C * T * HW;
    float *q = malloc(sizeof(float) * (size_t)n), *k = malloc(sizeof(float) * (size_t)n);
    float *v = malloc(sizeof(float) * (size_t)n), *o = malloc(sizeof(float) * (size_t)n);
    float *o_frames = malloc(sizeof(float) * (size_t)n);
    double *want = malloc(sizeof(double) * (size_t)n);
    /* scores of a few units: a peaked softmax, as trained attention has */
    fill_uniform(q, n, 1u, 2.0f), fill_uniform(k, n, 2u, 2.0f), fill_uniform(v, n, 3u, 1.0f);
    cr_assert_eq(cosmos_cpu_attention_1h(o, q, k, v, C, T, T, HW, temporal), COSMOS_OK);
    attn_1h_ref(want, q, k, v, C, T, HW, temporal);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)o[i] - want[i]) / fmax(1.0, fabs(want[i])));
    fprintf(stderr, "[dv_ops] attention_1h %s C %lld T %lld HW %lld: scaled diff %.3g (tol %.0e)\n",
            temporal ? "temporal" : "spatial", (long long)C, (long long)T, (long long)HW, worst, TOL_ATTN);
    cr_expect(worst <= TOL_ATTN, "attention_1h differs from the reference by %.3g", worst);
    /* frame by frame: query frame t alone, keys frame t (spatial) or frames [0, t] (temporal) */
    for (int64_t t = 0; t < T; t++) {
        const int64_t S = temporal ? t + 1 : 1, k0 = temporal ? 0 : t;
        float *qt = malloc(sizeof(float) * (size_t)(C * HW)), *ot = malloc(sizeof(float) * (size_t)(C * HW));
        float *kt = malloc(sizeof(float) * (size_t)(C * S * HW)), *vt = malloc(sizeof(float) * (size_t)(C * S * HW));
        for (int64_t ch = 0; ch < C; ch++) {
            memcpy(qt + ch * HW, q + (ch * T + t) * HW, sizeof(float) * (size_t)HW);
            memcpy(kt + ch * S * HW, k + (ch * T + k0) * HW, sizeof(float) * (size_t)(S * HW));
            memcpy(vt + ch * S * HW, v + (ch * T + k0) * HW, sizeof(float) * (size_t)(S * HW));
        }
        cr_assert_eq(cosmos_cpu_attention_1h(ot, qt, kt, vt, C, 1, S, HW, temporal), COSMOS_OK);
        for (int64_t ch = 0; ch < C; ch++)
            memcpy(o_frames + (ch * T + t) * HW, ot + ch * HW, sizeof(float) * (size_t)HW);
        free(qt), free(ot), free(kt), free(vt);
    }
    cr_expect_eq(memcmp(o, o_frames, sizeof(float) * (size_t)n), 0,
                 "frame-by-frame attention is not bitwise the clip's");
    free(q), free(k), free(v), free(o), free(o_frames), free(want);
}

Test(dv_ops, attention_1h_spatial) { attn_1h_case(24, 3, 70, 0); }
Test(dv_ops, attention_1h_spatial_blocked_rows) { attn_1h_case(4, 1, 4100, 0); }
Test(dv_ops, attention_1h_temporal_causal) { attn_1h_case(24, 5, 70, 1); }
Test(dv_ops, attention_1h_spatial_needs_as_many_key_frames) {
    float buf[16] = {0};
    cr_expect_eq(cosmos_cpu_attention_1h(buf, buf, buf, buf, 1, 1, 2, 4, 0), COSMOS_ERR_INTERNAL);
}
