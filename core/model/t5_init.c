/* Random-weight T5 encoder files (`cosmos-ar init` with a T5 config; docs/t5.md): bf16 tensors with
 * the std of Hugging Face's T5 initialisation (q: (d_model*d_kv)^-1/2, other linears: fan_in^-1/2,
 * embedding 1, position bias d_model^-1/2, norms 1 +- 0.1 so the norm weights are exercised),
 * deterministic in the seed, plus the SentencePiece model embedded as "spiece_model". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/h5bytes.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/t5_model.h"
#include "core/rng.h"

cosmos_status cosmos_t5_write_header(struct cosmos_h5 *h5, const struct cosmos_t5_config *c) {
    cosmos_status st = COSMOS_OK;
    char *json = cosmos_t5_config_to_json(c);
    CHECK_ALLOC(json);
    CHECK(cosmos_h5_write_model_header(h5, "t5", json));
    CHECK(cosmos_h5_write_attr_int(h5, "d_model", c->d_model));
    CHECK(cosmos_h5_write_attr_int(h5, "num_layers", c->num_layers));
    CHECK(cosmos_h5_write_attr_int(h5, "num_heads", c->num_heads));
    CHECK(cosmos_h5_write_attr_int(h5, "d_kv", c->d_kv));
    CHECK(cosmos_h5_write_attr_int(h5, "d_ff", c->d_ff));
    CHECK(cosmos_h5_write_attr_int(h5, "vocab_size", c->vocab_size));
    CHECK(cosmos_h5_write_attr_int(h5, "max_length", c->max_length));
fail:
    free(json);
    return st;
}

cosmos_status cosmos_t5_init_random(const struct cosmos_t5_config *c, uint64_t seed, const char *spm_path,
                                    const char *out_path) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_t5_tensor_spec *specs = NULL;
    cosmos_bf16 *buf = NULL;
    cosmos_h5_t *h5 = NULL;
    cosmos_spm_t *spm = NULL;
    uint8_t *blob = NULL;
    size_t blob_n = 0;
    char tmp[1100];
    int n = 0;
    cosmos_tmp_path(out_path, tmp, sizeof tmp);
    CHECK_ARG(spm_path && spm_path[0], COSMOS_ERR_INVALID_ARG,
              "init: a T5 model needs a SentencePiece model: set \"spiece_model\" in the config or pass --spm");
    CHECK(cosmos_file_read(spm_path, "SentencePiece model", &blob, &blob_n));
    CHECK(cosmos_spm_load(blob, blob_n, spm_path, &spm));
    CHECK_ARG(cosmos_spm_piece_size(spm) <= c->vocab_size, COSMOS_ERR_INVALID_ARG,
              "init: %s has %d pieces, more than vocab_size %d", spm_path, cosmos_spm_piece_size(spm), c->vocab_size);
    CHECK(cosmos_t5_weight_specs(c, &specs, &n));
    int64_t max_numel = 0;
    for (int j = 0; j < n; j++) {
        int64_t numel = specs[j].shape[0] * (specs[j].ndim == 2 ? specs[j].shape[1] : 1);
        if (numel > max_numel) max_numel = numel;
    }
    buf = malloc(sizeof(cosmos_bf16) * (size_t)max_numel);
    CHECK_ALLOC(buf);
    CHECK(cosmos_h5_create(tmp, &h5));
    CHECK(cosmos_t5_write_header(h5, c));
    for (int j = 0; j < n; j++) {
        const struct cosmos_t5_tensor_spec *sp = &specs[j];
        const int64_t numel = sp->shape[0] * (sp->ndim == 2 ? sp->shape[1] : 1);
        float mean = 0.0f, std;
        if (sp->ndim == 1) {
            mean = 1.0f;
            std = 0.1f;
        } else if (!strcmp(sp->name, "shared.weight")) {
            std = 1.0f;
        } else if (strstr(sp->name, "relative_attention_bias")) {
            std = 1.0f / sqrtf((float)c->d_model);
        } else if (strstr(sp->name, "SelfAttention.q.")) {
            std = 1.0f / sqrtf((float)c->d_model * (float)c->d_kv);
        } else {
            std = 1.0f / sqrtf((float)sp->shape[1]);
        }
        cosmos_rng_fill_normal_bf16(buf, numel, seed, (uint64_t)j, mean, std);
        CHECK(cosmos_h5_write(h5, sp->name, COSMOS_BF16, sp->ndim, sp->shape, buf));
    }
    cosmos_h5_close(h5);
    h5 = NULL;
    CHECK(cosmos_h5_write_bytes(tmp, COSMOS_T5_SPIECE_DATASET, blob, blob_n));
    CHECK(cosmos_commit_tmp(tmp, out_path));
fail:
    if (h5) cosmos_h5_close(h5);
    if (st != COSMOS_OK) remove(tmp);
    cosmos_spm_free(spm);
    free(blob);
    free(buf);
    free(specs);
    return st;
}
