/* Face pixelation of the face-blur guardrail (spec components.md 5.5; COSMOS face_blur_filter.py
 * blur_detected_faces and blur_utils.py pixelate_face), bit-exact with OpenCV: cv2.resize of a uint8
 * 3-channel image with INTER_LINEAR (fixed point, INTER_RESIZE_COEF_BITS = 11; an exact 2:1
 * downscale in both axes takes OpenCV's INTER_AREA fast path, as cv::resize does) and INTER_NEAREST.
 * Images are uint8 RGB [h, w, 3] with a row stride in elements (a frame ROI is a strided view). */
#ifndef COSMOS_FACE_BLUR_H
#define COSMOS_FACE_BLUR_H

#include <stdint.h>

#include "core/guardrail/retinaface.h"
#include "core/status.h"

/* cv2.resize(src [sh, sw, 3], (dw, dh), interpolation=cv2.INTER_LINEAR) into dst [dh, dw, 3]
 * (contiguous). All sizes >= 1; NOMEM is the only error. */
cosmos_status cosmos_resize_linear_u8c3(const uint8_t *src, int sh, int sw, int64_t src_stride, uint8_t *dst, int dh,
                                        int dw);
/* cv2.resize(src [sh, sw, 3], (dw, dh), interpolation=cv2.INTER_NEAREST) into dst [dh, dw, 3] with
 * row stride dst_stride (elements). All sizes >= 1. */
void cosmos_resize_nearest_u8c3(const uint8_t *src, int sh, int sw, int64_t src_stride, uint8_t *dst, int dh, int dw,
                                int64_t dst_stride);

/* pixelate_face on the ROI frame[y0:y1, x0:x1] (0 <= y0 < y1 <= H, 0 <= x0 < x1 <= W), in place:
 * resize to blocks x blocks with INTER_LINEAR, back with INTER_NEAREST. INVALID_ARG for an empty or
 * out-of-frame ROI. */
cosmos_status cosmos_face_blur_pixelate(uint8_t *frame, int H, int W, int x0, int y0, int x1, int y1, int blocks);

/* The per-box loop of blur_detected_faces on one frame [H, W, 3], in place: coordinates truncated
 * toward zero (Python int()), boxes with x2 - x1 < min_size or y2 - y1 < min_size skipped (tested
 * before clipping), the rest clipped to the frame with Python slice semantics
 * frame[max(y1,0):min(y2,H), max(x1,0):min(x2,W)] (a negative end counts from the far edge) and
 * pixelated. Deviations: a box with a non-finite coordinate, or whose clipped ROI is empty, is
 * skipped (the official code raises: int(nan), cv2.resize of an empty image). *n_blurred (may be
 * NULL) receives the number of ROIs pixelated. */
cosmos_status cosmos_face_blur_apply(uint8_t *frame, int H, int W, const struct cosmos_retinaface_box *boxes, int n,
                                     int min_size, int blocks, int *n_blurred);

#endif
