/* SigLIP image encoder + safety classifier of the video content safety filter (spec components.md
 * 5.4), in float32 (the official filter runs fp32): plain host C with OpenBLAS sgemm, or the
 * vision tower through the backend ops on a device (cosmos_siglip_use_backend).
 * Per frame uint8 RGB [H, W, 3] row-major: Pillow bicubic resize to image_size^2 (pil_resize.h),
 * x/255, (x - 0.5)/0.5, SigLIP vision tower (patch conv, + position embedding, pre-LN encoder layers,
 * post-LN, attention-pooling head) -> pooled features [hidden_size] (HF get_image_features), L2
 * normalised -> classifier (Linear, BatchNorm1d, ReLU, ..., Linear) -> logits [num_classes]; the
 * frame is unsafe iff argmax != 0 (class 0 = "Safe").
 * Weight file (tools/cosmos_siglip_h5.py): HDF5, model_type "siglip_safety", the config as JSON, one
 * float32 or bf16 dataset per official key in the official shape (vision_model.* of HF
 * SiglipVisionModel, network.layers.* of safety_filter.pt without num_batches_tracked).
 * Config JSON keys (configs/models/siglip-*.json): model_type ("siglip_safety"), name, the HF
 * SiglipVisionConfig names hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 * num_channels (3), image_size, patch_size, layer_norm_eps (1e-6), hidden_act ("gelu_pytorch_tanh"
 * only), and classifier_hidden_sizes ([512, 256]), num_classes (7), batch_norm_eps (1e-5),
 * class_names (num_classes strings). Unknown keys are errors. */
#ifndef COSMOS_SIGLIP_H
#define COSMOS_SIGLIP_H

#include <stdint.h>

#include "core/status.h"

#define COSMOS_SIGLIP_MODEL_TYPE "siglip_safety"
#define COSMOS_SIGLIP_MAX_HIDDEN 4   /* classifier hidden layers */
#define COSMOS_SIGLIP_MAX_CLASSES 16
#define COSMOS_SIGLIP_CLASS_NAME 64  /* bytes per class name, NUL included */

struct cosmos_siglip_config {
    char name[128];
    int hidden_size, intermediate_size, num_hidden_layers, num_attention_heads;
    int num_channels, image_size, patch_size;
    double layer_norm_eps;
    int n_classifier_hidden;
    int classifier_hidden_sizes[COSMOS_SIGLIP_MAX_HIDDEN];
    int num_classes;
    double batch_norm_eps;
    char class_names[COSMOS_SIGLIP_MAX_CLASSES][COSMOS_SIGLIP_CLASS_NAME];
};

/* Load / parse a config; `source` names the origin in messages. Errors: INVALID_ARG with the file,
 * the key and the rule (unknown key, missing key, bad value), UNSUPPORTED (hidden_act). */
cosmos_status cosmos_siglip_config_load(const char *path, struct cosmos_siglip_config *cfg);
cosmos_status cosmos_siglip_config_parse(const char *json, const char *source, struct cosmos_siglip_config *cfg);
/* JSON of all keys; caller frees. NULL on OOM. */
char *cosmos_siglip_config_to_json(const struct cosmos_siglip_config *cfg);
/* 1 when the JSON file at `path` has "model_type": "siglip_safety". */
int cosmos_config_file_is_siglip(const char *path);
/* Parameters of the weight file this config describes (BatchNorm statistics included). */
int64_t cosmos_siglip_config_num_params(const struct cosmos_siglip_config *cfg);

/* Floating-point operations of one frame's forward pass (patch conv, encoder GEMMs and attention,
 * pooling head, classifier; the resize not counted). For benchmarks (cosmos-bench-guardrail). */
double cosmos_siglip_flops(const struct cosmos_siglip_config *cfg);
typedef struct cosmos_siglip cosmos_siglip_t;

/* Load a weight file into host memory as float32. Strict: model_type "siglip_safety", every
 * expected dataset present with its shape (the message names the dataset and both shapes), no
 * unknown dataset, finite values, running_var >= 0. The classifier's BatchNorms (eval: running
 * statistics) are folded into the Linear before them: W' = s*W, b' = s*(b - mean) + beta with
 * s = gamma / sqrt(var + eps), in double. Caller owns *out (cosmos_siglip_free). */
cosmos_status cosmos_siglip_load(const char *path, cosmos_siglip_t **out);
void cosmos_siglip_free(cosmos_siglip_t *m); /* NULL is a no-op */
const struct cosmos_siglip_config *cosmos_siglip_get_config(const cosmos_siglip_t *m);

/* One frame, uint8 RGB [H, W, 3] (borrowed). Outputs (caller-owned, each may be NULL):
 * resized [image_size, image_size, 3] uint8 (the Pillow bicubic resize), features [hidden_size]
 * (pooled output before normalisation), embedding [hidden_size] (L2-normalised), logits
 * [num_classes]. Synchronous; scratch memory is allocated per call, m is not modified, so
 * concurrent calls on one m are fine on the host path (not with a device backend: its buffers and
 * stream are m's). Errors: INVALID_ARG, NOMEM (and a device's CUDA errors). */
cosmos_status cosmos_siglip_forward(const cosmos_siglip_t *m, const uint8_t *frame, int64_t H, int64_t W,
                                    uint8_t *resized, float *features, float *embedding, float *logits);

/* From now on, run the vision tower (patch embedding, encoder layers, post-LN, pooling head) on
 * backend `be`, in f32 as on the host (the official filter runs fp32; a bf16 backend runs the f32
 * ops of core/backend.h): the tower's weights (as loaded, 1.7 GB for so400m) and the working
 * buffers of a frame are allocated on it once, here. The resize, the patches, the L2 norm and the
 * classifier stay on the host. be NULL or a host backend: the host path (releases what an earlier
 * call put on a device). With a device backend, forward calls on m must not overlap (one stream),
 * and be must outlive m or the next call. Errors: NOMEM, CUDA (the device's message logged). */
struct cosmos_backend;
cosmos_status cosmos_siglip_use_backend(cosmos_siglip_t *m, struct cosmos_backend *be);
/* The backend the tower runs on (NULL: the host). */
struct cosmos_backend *cosmos_siglip_backend(const cosmos_siglip_t *m);

/* Random-weight file for a config (`cosmos-ar init`): float32 datasets (bf16-rounded values, the
 * dtype of an official conversion), deterministic in seed; linear weights N(0, 1/fan_in), biases
 * N(0, 0.02^2), LayerNorm/BatchNorm scales 1 +- 0.1, running_var |1 + 0.1 N|, position embedding
 * N(0, 1/hidden), probe N(0, 1), so the outputs stay bounded; the last layer's class-0 ("Safe")
 * bias gets + COSMOS_SIGLIP_RANDOM_SAFE_BIAS, so that a random model passes ordinary frames (the
 * pipeline's tests on random models would otherwise be blocked at random). Written to a temporary
 * name and renamed. */
#define COSMOS_SIGLIP_RANDOM_SAFE_BIAS 8.0f
cosmos_status cosmos_siglip_init_random(const struct cosmos_siglip_config *cfg, uint64_t seed, const char *out_path);

#endif
