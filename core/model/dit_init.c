/* Random-weight diffusion-decoder DiT writer (see dit_init.h): tensors are generated and written
 * one at a time, bf16, in cosmos_dit_weight_specs order. */
#include "core/model/dit_init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/dit_weights.h"
#include "core/rng.h"

cosmos_status cosmos_dit_init_random(const struct cosmos_dit_config *c, uint64_t seed, const char *out_path) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_dit_tensor_spec *specs = NULL;
    cosmos_bf16 *buf = NULL;
    cosmos_h5_t *h5 = NULL;
    char tmp[1100];
    int n = 0;
    cosmos_tmp_path(out_path, tmp, sizeof tmp);
    CHECK(cosmos_dit_weight_specs(c, &specs, &n));
    int64_t max_numel = 0;
    for (int j = 0; j < n; j++) {
        const int64_t numel = specs[j].shape[0] * specs[j].shape[1];
        if (numel > max_numel) max_numel = numel;
    }
    buf = malloc(sizeof(cosmos_bf16) * (size_t)max_numel);
    CHECK_ALLOC(buf);
    CHECK(cosmos_h5_create(tmp, &h5));
    CHECK(cosmos_dit_write_header(h5, c));
    for (int j = 0; j < n; j++) {
        const struct cosmos_dit_tensor_spec *sp = &specs[j];
        const int64_t numel = sp->shape[0] * sp->shape[1];
        switch (sp->kind) {
        case COSMOS_DIT_LINEAR: {
            float std = 1.0f / sqrtf((float)sp->shape[1]);
            if (strstr(sp->name, "adaLN_modulation.2.")) std *= 0.5f;
            cosmos_rng_fill_normal_bf16(buf, numel, seed, (uint64_t)j, 0.0f, std);
            break;
        }
        case COSMOS_DIT_NORM:
            cosmos_rng_fill_normal_bf16(buf, numel, seed, (uint64_t)j, 1.0f, 0.1f);
            break;
        case COSMOS_DIT_EMBED:
            cosmos_rng_fill_normal_bf16(buf, numel, seed, (uint64_t)j, 0.0f, 1.0f);
            break;
        }
        CHECK(cosmos_h5_write(h5, sp->name, COSMOS_BF16, sp->ndim, sp->shape, buf));
    }
    cosmos_h5_close(h5);
    h5 = NULL;
    CHECK(cosmos_commit_tmp(tmp, out_path));
fail:
    if (h5) cosmos_h5_close(h5);
    if (st != COSMOS_OK) remove(tmp);
    free(buf);
    free(specs);
    return st;
}
