/* RetinaFace face detector of the face-blur guardrail (spec components.md 5.5; RF models/retinaface.py,
 * models/net.py, layers/functions/prior_box.py, COSMOS face_blur_filter/retinaface_utils.py): config,
 * weight file, forward pass on one frame and the detection post-processing, in plain host C (f32;
 * convolutions as im2col + cblas_sgemm). Not implemented: the landmark head output (its weights are
 * loaded and checked, never used), batching, MobileNet backbones.
 *
 * Architecture (generalised from cfg_re50 so that a tiny config exists): torchvision-style
 * bottleneck ResNet (stem conv 7x7/2 of stem_width channels + BN + ReLU + max-pool 3x3/2; four layers
 * of blocks[i] bottlenecks with width base_width<<i, output (base_width<<i)*expansion, stride 2 in
 * the 3x3 conv of the first block of layers 2-4: ResNet v1.5), FPN and SSH of out_channel channels
 * on layers 2, 3, 4 (strides 8, 16, 32), per-level 1x1 heads (num_anchors x {2, 4, 10} channels).
 * ResNet-50 is stem_width 64, base_width 64, expansion 4, blocks [3, 4, 6, 3], out_channel 256.
 * Activations in FPN/SSH are LeakyReLU(0.1) when out_channel <= 64, else ReLU (RF net.py's rule).
 *
 * Layouts: frames uint8 RGB [H, W, 3] row-major; activations f32 [C, H, W]; head outputs in the
 * official flattening order: prior p = level offset + (y * Wl + x) * num_anchors + a; loc [P, 4]
 * (dx, dy, dw, dh), conf [P, 2] (softmax over {background, face}); priors [P, 4] (cx, cy, w, h)
 * relative to the frame; boxes in pixels (x1, y1, x2, y2). */
#ifndef COSMOS_RETINAFACE_H
#define COSMOS_RETINAFACE_H

#include <stdint.h>

#include "core/status.h"

#define COSMOS_RETINAFACE_LEVELS 3      /* FPN levels: ResNet layers 2, 3, 4 */
#define COSMOS_RETINAFACE_MAX_ANCHORS 4 /* min sizes per level */

/* JSON keys (all required except name and the post-processing ones, whose defaults are the
 * official values): model_type ("retinaface"), name, stem_width, base_width, expansion,
 * blocks [4], out_channel, min_sizes [3][num_anchors] (px), steps (must be [8, 16, 32]: fixed by
 * the architecture), variances [2], confidence_threshold (0.7), nms_threshold (0.4), top_k (5000),
 * keep_top_k (750), min_face_size (20 px; smaller boxes are not blurred), pixelate_blocks (5).
 * num_anchors is the length of each min_sizes row. Unknown keys are errors. */
struct cosmos_retinaface_config {
    char name[128];
    int stem_width, base_width, expansion;
    int blocks[4];
    int out_channel;
    int num_anchors;
    int min_sizes[COSMOS_RETINAFACE_LEVELS][COSMOS_RETINAFACE_MAX_ANCHORS];
    int steps[COSMOS_RETINAFACE_LEVELS];
    float variances[2];
    float confidence_threshold, nms_threshold; /* compared in f32 as the official numpy code */
    int top_k, keep_top_k;
    int min_face_size, pixelate_blocks;
};

/* Load / parse a config; `source` names the origin in messages. INVALID_ARG with the key named
 * for anything unknown, missing or out of range. */
cosmos_status cosmos_retinaface_config_load(const char *path, struct cosmos_retinaface_config *cfg);
cosmos_status cosmos_retinaface_config_parse(const char *json, const char *source,
                                             struct cosmos_retinaface_config *cfg);
/* JSON of every key (parse() reads it back to the same config); caller frees. NULL on OOM. */
char *cosmos_retinaface_config_to_json(const struct cosmos_retinaface_config *cfg);
/* 1 when the JSON file at `path` has "model_type": "retinaface". */
int cosmos_config_file_is_retinaface(const char *path);
/* LeakyReLU slope of the FPN/SSH activations: 0.1 when out_channel <= 64, else 0 (ReLU). */
float cosmos_retinaface_leaky(const struct cosmos_retinaface_config *cfg);

/* Weight file (HDF5, docs: one f32 dataset per official state-dict key, "module." stripped, BN
 * buffers included, num_batches_tracked dropped; root attributes model_type "retinaface" + config).
 * Names and shapes of a config, in file order; *specs malloc'd. */
struct cosmos_retinaface_tensor_spec {
    char name[96];
    int ndim;
    int64_t shape[4];
};
cosmos_status cosmos_retinaface_weight_specs(const struct cosmos_retinaface_config *cfg,
                                             struct cosmos_retinaface_tensor_spec **specs, int *n);

typedef struct cosmos_retinaface cosmos_retinaface_t;

/* Load a weight file. Strict: model_type "retinaface", a valid config, every expected dataset
 * present with its shape, stored float32, no unknown dataset; the message names the dataset
 * and both shapes. BatchNorm (eval, eps 1e-5) is folded into the preceding conv at load:
 * w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps), so the forward pass
 * has conv + bias only. Caller owns *out. */
cosmos_status cosmos_retinaface_load(const char *path, cosmos_retinaface_t **out);
void cosmos_retinaface_free(cosmos_retinaface_t *m); /* NULL is a no-op */
const struct cosmos_retinaface_config *cosmos_retinaface_get_config(const cosmos_retinaface_t *m);

/* Floating-point operations of one forward pass on an H x W frame as the CPU code computes it:
 * every convolution 2 * Cout * Cin * k * k * Ho * Wo (im2col + sgemm), landmark head excluded;
 * 0 for a bad size. For benchmarks (cosmos-bench-guardrail). */
double cosmos_retinaface_flops(const struct cosmos_retinaface_config *cfg, int H, int W);
/* Number of priors for an H x W frame: sum over levels of num_anchors * ceil(H/step) * ceil(W/step). */
int64_t cosmos_retinaface_num_priors(const struct cosmos_retinaface_config *cfg, int H, int W);
/* Priors (RF PriorBox, clip off) into priors [P, 4], computed in double and rounded to f32. */
void cosmos_retinaface_priors(const struct cosmos_retinaface_config *cfg, int H, int W, float *priors);

/* Forward pass on one uint8 RGB frame [H, W, 3] (borrowed): BGR minus (104, 117, 123), network,
 * softmax. Writes loc [P, 4] and conf [P, 2] (caller-allocated, P = num_priors). Synchronous;
 * m is not modified (concurrent calls are fine on the host path). H, W >= 1 and <= 16384. */
cosmos_status cosmos_retinaface_forward(const cosmos_retinaface_t *m, const uint8_t *rgb, int H, int W, float *loc,
                                        float *conf);

/* From now on, run the network (the convolutions through the heads) on backend `be`, in f32 as on
 * the host (the official detector runs fp32; a bf16 backend runs the f32 ops of core/backend.h):
 * the folded weights are uploaded once, here; per frame the host converts the pixels, uploads them,
 * and gets the heads' outputs back for the softmax and the post-processing. be NULL or a host
 * backend: the host path (releases what an earlier call put on a device). With a device backend,
 * forward calls on m must not overlap (one stream), and be must outlive m or the next call. */
struct cosmos_backend;
cosmos_status cosmos_retinaface_use_backend(cosmos_retinaface_t *m, struct cosmos_backend *be);
struct cosmos_backend *cosmos_retinaface_backend(const cosmos_retinaface_t *m); /* NULL: the host */
/* Device feature maps allocated so far (released maps are kept for the next request of their size,
 * so a clip's later frames allocate none); 0 on the host path. Diagnostics and tests. */
int64_t cosmos_retinaface_device_allocs(const cosmos_retinaface_t *m);

struct cosmos_retinaface_box {
    float x1, y1, x2, y2, score; /* pixels, f32 as the official numpy dets */
};

/* Greedy NMS of RF py_cpu_nms on dets already sorted by descending score (f32 arithmetic, "+1"
 * areas, suppress when IoU > thresh). Compacts the kept boxes to the front in order; returns the
 * count. */
int cosmos_retinaface_nms(struct cosmos_retinaface_box *dets, int n, float thresh);

/* Post-processing of one frame's head outputs (COSMOS decode_batch + filter_detected_boxes):
 * decode against the priors (f32, variances), scale by (W, H, W, H), keep score > threshold, sort
 * by descending score (ties: higher prior index first, as numpy's argsort()[::-1] of a stable
 * sort), top_k, NMS, keep_top_k. *boxes malloc'd (NULL when *n = 0); caller frees. */
cosmos_status cosmos_retinaface_postprocess(const struct cosmos_retinaface_config *cfg, int H, int W, const float *loc,
                                            const float *conf, struct cosmos_retinaface_box **boxes, int *n);

/* forward + postprocess. */
cosmos_status cosmos_retinaface_detect(const cosmos_retinaface_t *m, const uint8_t *rgb, int H, int W,
                                       struct cosmos_retinaface_box **boxes, int *n);

/* Root attributes of a RetinaFace weight file (model_type "retinaface", config JSON). */
struct cosmos_h5;
cosmos_status cosmos_retinaface_write_header(struct cosmos_h5 *h5, const struct cosmos_retinaface_config *cfg);

/* Random-weight file for a config (`cosmos-ar init`), deterministic in seed, written via a temporary
 * name: conv weights N(0, 2/fan_in) (Kaiming; heads x 0.05 so their outputs stay O(1)), BN gamma
 * 1 +- 0.1 (0.25 on the last BN of each bottleneck so the residual stream stays bounded), beta and
 * running_mean N(0, 0.1^2), running_var in [0.5, 1.5]; the stem BN has running_var 60^2 to
 * normalise the pixel scale. Head biases are 0 except ClassHead's: +B for background and -B for
 * face (B = COSMOS_RETINAFACE_RANDOM_BACKGROUND_BIAS), so a random model finds no face in ordinary
 * frames and the pipeline's frames stay those of its decoder (tests that want faces change it). */
#define COSMOS_RETINAFACE_RANDOM_BACKGROUND_BIAS 3.0f
cosmos_status cosmos_retinaface_init_random(const struct cosmos_retinaface_config *cfg, uint64_t seed,
                                            const char *out_path);

#endif
