/* DV and CV tokenizer weight files (docs/weights.md "DV tokenizer files", "CV tokenizer files";
 * spec components.md 2.1, 2.4, 2.9, 4.7, Appendix A.1-A.3): the expected tensors of a config, the
 * root attributes, a strict check of a file, and the CV latent statistics (mean_std.pt).
 * Datasets are named by the official state-dict keys (encoder.jit: encoder.*, quant_conv.*;
 * decoder.jit: post_quant_conv.*, decoder.*) and hold bf16 (uint16 + dtype attribute) or f32.
 * Conv weights [Cout, Cin, kt, kh, kw] are stored flattened to [Cout, Cin*kt*kh*kw] (core/h5file
 * reads rank <= 4), row-major, so the bytes are PyTorch's.
 * The one buffer kept is decoder.unpatcher3d.wavelets [2] (the decoder's Haar taps as stored,
 * spec 2.4). A file holds the encoder part, the decoder part or both (root attributes has_encoder,
 * has_decoder). Loading the tensors into a model is the encoder's / decoder's business. */
#ifndef COSMOS_DV_WEIGHTS_H
#define COSMOS_DV_WEIGHTS_H

#include <stdint.h>

#include "core/h5file.h"
#include "core/model/dv_config.h"
#include "core/status.h"

#define COSMOS_DV_WAVELETS_KEY "decoder.unpatcher3d.wavelets"
/* CV files: the official mean_std.pt = (mean, std), each viewed as [latent_channels, N], f32 */
#define COSMOS_CV_MEAN_KEY "mean_std.mean"
#define COSMOS_CV_STD_KEY "mean_std.std"
/* N written by `cosmos-ar init`: latent frames of the CV tokenizer's own 121-frame training chunk
 * (1 + 120/8; "t121" in the official tokenizer name); the converter keeps the file's N */
#define COSMOS_CV_INIT_STATS_FRAMES 16

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

/* Root attributes: cosmos_format, format_version, model_type "dv_tokenizer" ("cv_tokenizer" for a
 * continuous config), config (JSON of cfg), has_encoder, has_decoder (int64 0/1). */
cosmos_status cosmos_dv_write_header(cosmos_h5_t *h5, const struct cosmos_dv_config *cfg, enum cosmos_dv_part parts);
/* Reads and checks the root attributes of an open file: marker, version, model_type, the config
 * (parsed and validated) and which parts the file holds (at least one). cosmos_dv_read_header takes
 * "dv_tokenizer" files only (what tokenize / detokenize / the AR pipeline need), cosmos_cv_read_header
 * "cv_tokenizer" files only; the other kind is a FORMAT error naming both. cosmos_tok_read_header
 * takes either (cfg->continuous tells which). */
cosmos_status cosmos_dv_read_header(cosmos_h5_t *h5, struct cosmos_dv_config *cfg, enum cosmos_dv_part *parts);
cosmos_status cosmos_cv_read_header(cosmos_h5_t *h5, struct cosmos_dv_config *cfg, enum cosmos_dv_part *parts);
cosmos_status cosmos_tok_read_header(cosmos_h5_t *h5, struct cosmos_dv_config *cfg, enum cosmos_dv_part *parts);
/* Strict check of the datasets against the specs of `parts`: each present with its stored shape
 * and a bf16 or f32 element type, and no other dataset. Errors name the dataset, both shapes and a
 * hint. Reads no tensor data. A CV file may also hold mean_std.mean and mean_std.std (both or
 * neither), f32 [latent_channels, N] with the same N >= 1. */
cosmos_status cosmos_dv_check_weights(cosmos_h5_t *h5, const struct cosmos_dv_config *cfg, enum cosmos_dv_part parts);

/* N of the CV latent statistics in the file (0 when the file has none); checks them as
 * cosmos_dv_check_weights does. */
cosmos_status cosmos_cv_stats_frames(cosmos_h5_t *h5, const struct cosmos_dv_config *cfg, int64_t *n_frames);

/* The CV latent statistics of the first Tl latent frames (spec 4.7: the diffusion decoder's
 * de-normalisation z = x / sigma_data * std + mean uses mean_std viewed as [latent_channels, N],
 * columns [:Tl], broadcast over H and W). mean, std: caller-owned f32 [latent_channels * Tl],
 * element c*Tl + t = dataset[c, t]. Synchronous. A config that is not continuous is INVALID_ARG; a
 * missing dataset, a wrong shape or dtype, N < Tl or a non-finite value is FORMAT, naming the
 * dataset (hint: tools/convert_checkpoint.py tokenizer --mean-std mean_std.pt). */
cosmos_status cosmos_cv_latent_stats(cosmos_h5_t *h5, const struct cosmos_dv_config *cfg, int64_t Tl, float *mean,
                                     float *std);

#endif
