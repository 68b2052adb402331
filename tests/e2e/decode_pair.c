/* The fused-vs-separate decode pair of the test suites (decode_pair.h). */
#include "tests/e2e/decode_pair.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/ar_model.h"

int decode_fused_and_unfused(const char *path, cosmos_backend_t *be, const int32_t *tokens, int n, const float *ctx,
                             int ctx_rows, int ctx_cols, float *out[2]) {
    int V = 0;
    for (int i = 0; i < 2; i++) {
        struct cosmos_ar_load_params lp = cosmos_ar_load_params_default();
        lp.unfused_decode = i;
        cosmos_ar_model_t *m = NULL;
        cr_assert_eq(cosmos_ar_model_load(path, be, &lp, &m), COSMOS_OK, "%s", path);
        const int layers = cosmos_ar_model_config(m)->n_layers;
        cr_assert_eq(cosmos_ar_model_fused_layers(m), i ? 0 : layers, "%s: fused layers (unfused_decode %d)", path, i);
        V = cosmos_ar_model_config(m)->vocab_size;
        if (ctx) cr_assert_eq(cosmos_ar_set_context(m, ctx, ctx_rows, ctx_cols), COSMOS_OK);
        out[i] = malloc(sizeof(float) * (size_t)n * (size_t)V);
        cr_assert_not_null(out[i]);
        for (int t = 0; t < n; t++)
            cr_assert_eq(cosmos_ar_forward(m, tokens + t, 1, t, COSMOS_LOGITS_LAST, out[i] + (size_t)t * (size_t)V),
                         COSMOS_OK, "%s step %d (unfused_decode %d)", path, t, i);
        cosmos_ar_model_free(m);
    }
    return V;
}

int64_t first_bit_difference(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float))) return i;
    return -1;
}
