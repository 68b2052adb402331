/* DV tokenizer weight files (docs/weights.md "DV tokenizer files"; spec components.md 2.1, 2.4,
 * 2.9, Appendix A.1/A.2): the expected tensors of a config, the root attributes, and a strict check
 * of a file. Datasets are named by the official state-dict keys (encoder.jit: encoder.*,
 * quant_conv.*; decoder.jit: post_quant_conv.*, decoder.*) and hold bf16 (uint16 + dtype
 * attribute) or f32. Conv weights [Cout, Cin, kt, kh, kw] are stored flattened to
 * [Cout, Cin*kt*kh*kw] (core/h5file reads rank <= 4), row-major, so the bytes are PyTorch's.
 * The one buffer kept is decoder.unpatcher3d.wavelets [2] (the decoder's Haar taps as stored,
 * spec 2.4). A file holds the encoder part, the decoder part or both (root attributes has_encoder,
 * has_decoder). Loading the tensors into a model is the encoder's / decoder's business. */
#ifndef COSMOS_DV_WEIGHTS_H
#define COSMOS_DV_WEIGHTS_H

#include <stdint.h>

#include "core/h5file.h"
#include "core/model/dv_config.h"
#include "core/status.h"

#define COSMOS_DV_MODEL_TYPE "dv_tokenizer"
#define COSMOS_DV_WAVELETS_KEY "decoder.unpatcher3d.wavelets"

enum cosmos_dv_tensor_kind {
    COSMOS_DV_CONV_WEIGHT = 0, /* [Cout, Cin, kt, kh, kw], stored [Cout, Cin*kt*kh*kw] */
    COSMOS_DV_CONV_BIAS = 1,   /* [Cout] */
    COSMOS_DV_NORM_WEIGHT = 2, /* GroupNorm gamma [C] */
    COSMOS_DV_NORM_BIAS = 3,   /* GroupNorm beta [C] */
    COSMOS_DV_WAVELETS = 4,    /* Haar taps [2] (a, a), a = 1/sqrt(2) in the checkpoint's dtype */
};

struct cosmos_dv_tensor_spec {
    char name[96];
    enum cosmos_dv_tensor_kind kind;
    enum cosmos_dv_part part; /* COSMOS_DV_ENCODER or COSMOS_DV_DECODER */
    int ndim;                 /* official rank: 5 for conv weights, 1 otherwise */
    int64_t shape[5];         /* official PyTorch shape */
    int stored_ndim;          /* rank in the file: 2 for conv weights, 1 otherwise */
    int64_t stored_shape[2];
};

/* Every tensor of `parts`, in state_dict order (encoder part: encoder.* then quant_conv.*;
 * decoder part: post_quant_conv.*, decoder.*, then the wavelets buffer). *specs is malloc'd
 * (caller frees); the config must have passed cosmos_dv_config_parse's validation. */
cosmos_status cosmos_dv_weight_specs(const struct cosmos_dv_config *cfg, enum cosmos_dv_part parts,
                                     struct cosmos_dv_tensor_spec **specs, int *n);

/* Root attributes: cosmos_format, format_version, model_type "dv_tokenizer", config (JSON of cfg),
 * has_encoder, has_decoder (int64 0/1). */
cosmos_status cosmos_dv_write_header(cosmos_h5_t *h5, const struct cosmos_dv_config *cfg, enum cosmos_dv_part parts);
/* Reads and checks the root attributes of an open file: marker, version, model_type, the config
 * (parsed and validated) and which parts the file holds (at least one). */
cosmos_status cosmos_dv_read_header(cosmos_h5_t *h5, struct cosmos_dv_config *cfg, enum cosmos_dv_part *parts);
/* Strict check of the datasets against the specs of `parts`: each present with its stored shape
 * and a bf16 or f32 element type, and no other dataset. Errors name the dataset, both shapes and a
 * hint. Reads no tensor data. */
cosmos_status cosmos_dv_check_weights(cosmos_h5_t *h5, const struct cosmos_dv_config *cfg, enum cosmos_dv_part parts);

#endif
