/* The "video_content_filter" guardrail check (spec components.md 5.4): the official
 * VideoContentSafetyFilter.is_safe_frames on the final frames. Every frame, in order, goes through
 * the SigLIP encoder + safety classifier (siglip.h); the first frame whose argmax class is not 0
 * ("Safe") makes the video unsafe and stops the run. The reason names the frame index within the
 * call, the class name, its softmax probability and logit. Frames are uint8 RGB [T, H, W, 3].
 * The SigLIP tower runs on the params' backend when it is a device one (f32, as the host path).
 * Deviation: the official code logs and skips a frame whose classification raises; here an error
 * (out of memory) fails the whole check, so the video is never passed unexamined. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/guardrail/guardrail_impl.h"
#include "core/guardrail/siglip.h"
#include "core/log.h"

static cosmos_status check_video(const void *ctx, const uint8_t *frames, int64_t T, int64_t H, int64_t W, int *safe,
                                 char *reason, size_t reason_size) {
    cosmos_status st = COSMOS_OK;
    const cosmos_siglip_t *m = ctx;
    const struct cosmos_siglip_config *c = cosmos_siglip_get_config(m);
    float logits[COSMOS_SIGLIP_MAX_CLASSES];
    *safe = 1;
    for (int64_t t = 0; t < T; t++) {
        CHECK(cosmos_siglip_forward(m, frames + (size_t)t * (size_t)(H * W * 3), H, W, NULL, NULL, NULL, logits));
        int best = 0; /* first maximum, as torch.argmax */
        for (int j = 1; j < c->num_classes; j++)
            if (logits[j] > logits[best]) best = j;
        if (best == 0) continue;
        double sum = 0;
        for (int j = 0; j < c->num_classes; j++) sum += exp((double)logits[j] - logits[best]);
        *safe = 0;
        snprintf(reason, reason_size, "frame %lld: %s (class %d, probability %.3f, logit %.3f)", (long long)t,
                 c->class_names[best], best, 1.0 / sum, (double)logits[best]);
        LOG_DEBUG("video_content_filter: %s", reason);
        return COSMOS_OK;
    }
fail:
    return st;
}

static void free_ctx(void *ctx) { cosmos_siglip_free(ctx); }

static const struct cosmos_guardrail_check_ops g_ops = {
    .name = "video_content_filter",
    .check_text = NULL,
    .check_video = check_video,
    .filter_video = NULL,
    .free_ctx = free_ctx,
};

cosmos_status cosmos_guardrail_content_filter_create(const struct cosmos_guardrail_params *p,
                                                     const struct cosmos_guardrail_check_ops **ops, void **ctx) {
    cosmos_status st = COSMOS_OK;
    cosmos_siglip_t *m = NULL;
    CHECK_ARG(p && ops && ctx, COSMOS_ERR_INVALID_ARG, "video_content_filter: NULL argument");
    CHECK_ARG(p->content_filter_weights && p->content_filter_weights[0], COSMOS_ERR_INVALID_ARG,
              "guardrail: check 'video_content_filter' needs its weight file (content_filter_weights: the SigLIP "
              "safety file from tools/convert_checkpoint.py or `cosmos-ar init`)");
    CHECK(cosmos_siglip_load(p->content_filter_weights, &m));
    if (p->backend) CHECK(cosmos_siglip_use_backend(m, p->backend)); /* a host backend: a no-op */
    *ops = &g_ops;
    *ctx = m;
    return COSMOS_OK;
fail:
    cosmos_siglip_free(m);
    return st;
}
