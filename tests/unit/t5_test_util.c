/* See t5_test_util.h. */
#include "t5_test_util.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/h5bytes.h"
#include "core/h5file.h"
#include "core/model/t5_model.h"

void t5_test_write_f32_copy(const char *in_path, const char *out_path) {
    cosmos_h5_t *in = NULL, *o = NULL;
    cr_assert_eq(cosmos_h5_open(in_path, &in), COSMOS_OK);
    cr_assert_eq(cosmos_h5_create(out_path, &o), COSMOS_OK);
    char *cfg_json = NULL, **names = NULL;
    int nn = 0;
    cr_assert_eq(cosmos_h5_attr_string(in, "config", &cfg_json), COSMOS_OK);
    cr_assert_eq(cosmos_h5_write_model_header(o, "t5", cfg_json), COSMOS_OK);
    cr_assert_eq(cosmos_h5_list(in, &names, &nn), COSMOS_OK);
    for (int i = 0; i < nn; i++) {
        if (!strcmp(names[i], COSMOS_T5_SPIECE_DATASET)) continue;
        struct cosmos_h5_info info;
        cr_assert_eq(cosmos_h5_info(in, names[i], &info), COSMOS_OK);
        const int64_t numel = info.shape[0] * (info.ndim == 2 ? info.shape[1] : 1);
        cosmos_bf16 *b = malloc(sizeof(cosmos_bf16) * (size_t)numel);
        float *f = malloc(sizeof(float) * (size_t)numel);
        cr_assert(b && f);
        cr_assert_eq(cosmos_h5_read(in, names[i], COSMOS_BF16, b), COSMOS_OK);
        cosmos_bf16_to_f32_n(f, b, (size_t)numel);
        cr_assert_eq(cosmos_h5_write(o, names[i], COSMOS_F32, info.ndim, info.shape, f), COSMOS_OK);
        free(b), free(f);
    }
    cosmos_h5_free_names(names, nn);
    free(cfg_json);
    cosmos_h5_close(o);
    cosmos_h5_close(in);
    uint8_t *blob = NULL;
    size_t bn = 0;
    cr_assert_eq(cosmos_h5_read_bytes(in_path, COSMOS_T5_SPIECE_DATASET, &blob, &bn), COSMOS_OK);
    cr_assert_eq(cosmos_h5_write_bytes(out_path, COSMOS_T5_SPIECE_DATASET, blob, bn), COSMOS_OK);
    free(blob);
}
