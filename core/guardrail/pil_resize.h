/* Pillow's Image.resize(size, Image.BICUBIC) for 8-bit images (what SiglipImageProcessor does to a
 * frame before the SigLIP encoder, spec components.md 5.4), bit-exact with Pillow <= 12 (Pillow's
 * src/libImaging/Resample.c, "8bpc" path; see pil_resize.c for the algorithm and the Pillow 13
 * difference). Images are uint8 [H, W, C] row-major, channels interleaved. */
#ifndef COSMOS_PIL_RESIZE_H
#define COSMOS_PIL_RESIZE_H

#include <stdint.h>

#include "core/status.h"

/* src [H, W, C] -> dst [out_h, out_w, C] (caller-owned, distinct buffers), 1 <= C <= 4. Equal sizes
 * copy. Errors: INVALID_ARG (NULL, non-positive or too large sizes), NOMEM. Synchronous, reentrant. */
cosmos_status cosmos_pil_resize_bicubic_u8(const uint8_t *src, int64_t H, int64_t W, int C, uint8_t *dst,
                                           int64_t out_h, int64_t out_w);

#endif
