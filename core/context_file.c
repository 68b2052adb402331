/* Context files: /context f32 [rows, cols] in HDF5 (see context_file.h). */
#include "core/context_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/h5file.h"
#include "core/log.h"

cosmos_status cosmos_context_read(const char *path, float **out, int *rows, int *cols) {
    *out = NULL;
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *h = NULL;
    float *buf = NULL;
    CHECK(cosmos_h5_open(path, &h));
    CHECK_ARG(cosmos_h5_has_dataset(h, "context"), COSMOS_ERR_FORMAT,
              "%s: no dataset '/context' (a context file holds float32 /context [n_ctx, context_dim])", path);
    struct cosmos_h5_info info;
    CHECK(cosmos_h5_info(h, "context", &info));
    CHECK_ARG(info.ndim == 2 && info.dtype == COSMOS_F32 && info.shape[0] > 0 && info.shape[1] > 0,
              COSMOS_ERR_FORMAT, "%s: /context must be a non-empty 2-D float32 dataset [n_ctx, context_dim]", path);
    buf = malloc(sizeof(float) * (size_t)(info.shape[0] * info.shape[1]));
    CHECK_ALLOC(buf);
    CHECK(cosmos_h5_read(h, "context", COSMOS_F32, buf));
    for (int64_t i = 0; i < info.shape[0] * info.shape[1]; i++)
        CHECK_ARG(isfinite(buf[i]), COSMOS_ERR_FORMAT, "%s: /context holds a non-finite value at flat index %lld",
                  path, (long long)i);
    *out = buf;
    *rows = (int)info.shape[0];
    *cols = (int)info.shape[1];
    buf = NULL;
fail:
    free(buf);
    cosmos_h5_close(h);
    return st;
}

cosmos_status cosmos_context_write(const char *path, const float *ctx, int64_t rows, int64_t cols) {
    cosmos_status st = COSMOS_OK;
    char tmp[4200];
    cosmos_h5_t *h = NULL;
    cosmos_tmp_path(path, tmp, sizeof tmp);
    CHECK(cosmos_h5_create(tmp, &h));
    const int64_t shape[2] = {rows, cols};
    CHECK(cosmos_h5_write(h, "context", COSMOS_F32, 2, shape, ctx));
    cosmos_h5_close(h);
    h = NULL;
    CHECK(cosmos_commit_tmp(tmp, path));
fail:
    if (h) cosmos_h5_close(h);
    if (st != COSMOS_OK) remove(tmp);
    return st;
}
