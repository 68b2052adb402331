/* Random-weight model writer (see ar_init.h). Tensors are generated and written one at a time,
 * so memory stays at the size of the largest tensor. */
#include "core/model/ar_init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/h5file.h"
#include "core/log.h"
#include "core/model/ar_weights.h"
#include "core/rng.h"

cosmos_status cosmos_ar_write_header(cosmos_h5_t *h5, const struct cosmos_ar_config *c) {
    cosmos_status st = COSMOS_OK;
    char *json = cosmos_ar_config_to_json(c);
    CHECK_ALLOC(json);
    CHECK(cosmos_h5_write_model_header(h5, "ar", json));
    CHECK(cosmos_h5_write_attr_int(h5, "dim", c->dim));
    CHECK(cosmos_h5_write_attr_int(h5, "n_layers", c->n_layers));
    CHECK(cosmos_h5_write_attr_int(h5, "n_heads", c->n_heads));
    CHECK(cosmos_h5_write_attr_int(h5, "n_kv_heads", c->n_kv_heads));
    CHECK(cosmos_h5_write_attr_int(h5, "head_dim", c->head_dim));
    CHECK(cosmos_h5_write_attr_int(h5, "ffn_hidden_size", c->ffn_hidden_size));
    CHECK(cosmos_h5_write_attr_int(h5, "vocab_size", c->vocab_size));
    CHECK(cosmos_h5_write_attr_int(h5, "input_vocab_size", c->input_vocab_size));
    CHECK(cosmos_h5_write_attr_int(h5, "context_dim", c->insert_cross_attn ? c->context_dim : 0));
    CHECK(cosmos_h5_write_attr_int(h5, "max_seq_len", c->max_seq_len));
fail:
    free(json);
    return st;
}

static int is_norm(const char *name) { return strstr(name, "norm") != NULL; }

cosmos_status cosmos_ar_init_random(const struct cosmos_ar_config *c, uint64_t seed, const char *out_path) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_ar_weights w = {0};
    struct cosmos_ar_tensor_spec *specs = NULL;
    cosmos_bf16 *buf = NULL;
    cosmos_h5_t *h5 = NULL;
    char tmp[1100];
    int n = 0;
    cosmos_tmp_path(out_path, tmp, sizeof tmp);
    w.layers = calloc((size_t)c->n_layers, sizeof *w.layers);
    CHECK_ALLOC(w.layers);
    const struct cosmos_ar_part whole = cosmos_ar_part_whole(c);
    CHECK(cosmos_ar_weight_specs(c, &whole, &w, &specs, &n));
    int64_t max_numel = 0;
    for (int j = 0; j < n; j++) {
        int64_t numel = specs[j].shape[0] * (specs[j].ndim == 2 ? specs[j].shape[1] : 1);
        if (numel > max_numel) max_numel = numel;
    }
    buf = malloc(sizeof(cosmos_bf16) * (size_t)max_numel);
    CHECK_ALLOC(buf);
    CHECK(cosmos_h5_create(tmp, &h5));
    CHECK(cosmos_ar_write_header(h5, c));
    for (int j = 0; j < n; j++) {
        const struct cosmos_ar_tensor_spec *sp = &specs[j];
        const int64_t numel = sp->shape[0] * (sp->ndim == 2 ? sp->shape[1] : 1);
        const int norm = is_norm(sp->name), emb = strcmp(sp->name, "tok_embeddings.weight") == 0;
        const float std = norm ? 0.1f : emb ? 1.0f : 1.0f / sqrtf((float)sp->shape[1]);
        const float mean = norm ? 1.0f : 0.0f;
        cosmos_rng_fill_normal_bf16(buf, numel, seed, (uint64_t)j, mean, std);
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
    free(w.layers);
    return st;
}
