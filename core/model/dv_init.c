/* Random-weight DV / CV tokenizer writer (see dv_init.h; spec 2.9, 4.7): tensors are generated and
 * written one at a time, bf16, conv weights flattened to [Cout, Cin*kt*kh*kw] (dv_weights.h); CV
 * files get their latent statistics last. */
#include "core/model/dv_init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/dtype.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/dv_weights.h"
#include "core/rng.h"

/* CV latent statistics mean_std.{mean,std} [latent_channels, COSMOS_CV_INIT_STATS_FRAMES] f32. */
static cosmos_status write_stats(cosmos_h5_t *h5, const struct cosmos_dv_config *c, uint64_t seed, uint64_t stream) {
    cosmos_status st = COSMOS_OK;
    const int64_t shape[2] = {c->latent_channels, COSMOS_CV_INIT_STATS_FRAMES}, n = shape[0] * shape[1];
    float *v = malloc(sizeof(float) * (size_t)n);
    CHECK_ALLOC(v);
    for (int64_t i = 0; i < n; i++) v[i] = 0.1f * cosmos_rng_normal(seed, stream, (uint64_t)i);
    CHECK(cosmos_h5_write(h5, COSMOS_CV_MEAN_KEY, COSMOS_F32, 2, shape, v));
    for (int64_t i = 0; i < n; i++) v[i] = (float)(0.5 + cosmos_rng_uniform(seed, stream + 1, (uint64_t)i));
    CHECK(cosmos_h5_write(h5, COSMOS_CV_STD_KEY, COSMOS_F32, 2, shape, v));
fail:
    free(v);
    return st;
}

cosmos_status cosmos_dv_init_random(const struct cosmos_dv_config *c, uint64_t seed, enum cosmos_dv_part parts,
                                    const char *out_path) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_dv_tensor_spec *specs = NULL;
    cosmos_bf16 *buf = NULL;
    cosmos_h5_t *h5 = NULL;
    char tmp[1100];
    int n = 0;
    cosmos_tmp_path(out_path, tmp, sizeof tmp);
    CHECK(cosmos_dv_weight_specs(c, parts, &specs, &n));
    int64_t max_numel = 0;
    for (int j = 0; j < n; j++) {
        const int64_t numel = specs[j].stored_shape[0] * (specs[j].stored_ndim == 2 ? specs[j].stored_shape[1] : 1);
        if (numel > max_numel) max_numel = numel;
    }
    buf = malloc(sizeof(cosmos_bf16) * (size_t)max_numel);
    CHECK_ALLOC(buf);
    CHECK(cosmos_h5_create(tmp, &h5));
    CHECK(cosmos_dv_write_header(h5, c, parts));
    for (int j = 0; j < n; j++) {
        const struct cosmos_dv_tensor_spec *sp = &specs[j];
        const int64_t numel = sp->stored_shape[0] * (sp->stored_ndim == 2 ? sp->stored_shape[1] : 1);
        switch (sp->kind) {
        case COSMOS_DV_CONV_WEIGHT:
            cosmos_rng_fill_normal_bf16(buf, numel, seed, (uint64_t)j, 0.0f, 1.0f / sqrtf((float)sp->stored_shape[1]));
            break;
        case COSMOS_DV_NORM_WEIGHT:
            cosmos_rng_fill_normal_bf16(buf, numel, seed, (uint64_t)j, 1.0f, 0.1f);
            break;
        case COSMOS_DV_CONV_BIAS:
        case COSMOS_DV_NORM_BIAS:
            cosmos_rng_fill_normal_bf16(buf, numel, seed, (uint64_t)j, 0.0f, 0.1f);
            break;
        case COSMOS_DV_WAVELETS:
            for (int64_t i = 0; i < numel; i++) buf[i] = cosmos_f32_to_bf16(0.70710678118654752f);
            break;
        }
        CHECK(cosmos_h5_write(h5, sp->name, COSMOS_BF16, sp->stored_ndim, sp->stored_shape, buf));
    }
    if (c->continuous) CHECK(write_stats(h5, c, seed, (uint64_t)n));
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
