/* Video and image in and out (FFmpeg: libavformat, libavcodec, libswscale, libavutil) and the
 * input preparation of the Video2World pipeline (spec components.md section 1, ar-model.md 6.4).
 * Decoding gives RGB uint8 frames [T,H,W,3] whatever the pixel format, with the display-matrix
 * rotation applied; encoding writes H.264 yuv420p mp4. Preparation keeps the last frames, pads to
 * the clip length, resizes (antialiased bilinear, as torchvision) and centre-crops to float32
 * [3,T,H,W] in [-1,1]. Encoding is incremental (cosmos_media_writer_t: frames appended as they are
 * ready, optional playable preview); cosmos_media_encode is the one-shot form. Not the tokenizer
 * (core/model/dv_tokenizer). Every error is logged with the file and the problem. Synchronous, CPU
 * only, no global state beyond FFmpeg's log level. */
#ifndef COSMOS_MEDIA_H
#define COSMOS_MEDIA_H

#include <stdint.h>

#include "core/status.h"

/* Limits on a decoded frame: each side at most this many pixels. */
#define COSMOS_MEDIA_MAX_SIDE 16384

/* Frames owned by the struct: rgb is malloc'd [T,H,W,3] uint8 (cosmos_frames_free). */
struct cosmos_frames {
    int T, H, W;
    int64_t n_decoded; /* frames decoded from the file (>= T when only the last T were kept) */
    int is_image;      /* the file is a still image (png, jpg, webp, ...), not a video */
    uint8_t *rgb;
};
void cosmos_frames_free(struct cosmos_frames *f); /* frees rgb and zeroes the struct; NULL-safe */

/* Decode every frame of a video or image file (mp4, mov, mkv, webm, png, jpg, webp, ...) to RGB.
 * keep_last > 0 keeps only the last keep_last frames in memory (the file is still decoded to the
 * end); 0 keeps all. Fails (logged with the path) for a missing, foreign or truncated file, no
 * video stream, zero frames, or a frame side of 0 or over COSMOS_MEDIA_MAX_SIDE. On success *out
 * owns its frames; on failure *out is zeroed. */
cosmos_status cosmos_media_decode(const char *path, int keep_last, struct cosmos_frames *out);

struct cosmos_media_encode_params {
    int fps;          /* frames per second (default 25, the official pipeline's) */
    int crf;          /* libx264 constant rate factor (default 18; lower is better) */
    int rotation_deg; /* display-matrix rotation written as metadata (0, 90, 180, 270; default 0) */
    /* Writer only (default NULL: none): after an append, a complete mp4 of every frame so far is
     * written here (temporary name + rename, so it is always whole and playable): after every
     * append while the clip has at most COSMOS_MEDIA_PREVIEW_EVERY frames, then whenever it has
     * grown by a quarter since the last preview (each preview re-encodes every frame: this keeps
     * their total work linear in the clip's length); close makes it a copy of the finished output
     * if it lags. Borrowed: the writer copies the string. Must differ from the output path. Left in
     * place by close and abort (the caller removes it). cosmos_media_encode ignores it. */
    const char *preview_path;
};
struct cosmos_media_encode_params cosmos_media_encode_params_default(void);
#define COSMOS_MEDIA_PREVIEW_EVERY 64 /* frames up to which every append rewrites the preview */

/* Incremental H.264 yuv420p mp4 writer: frames are encoded and muxed as they are appended, into
 * cosmos_tmp_path(path); close renames it to `path`, so `path` never holds a partial file. Uses
 * libx264 when libavcodec has it, otherwise the best H.264 (or, failing that, MPEG-4 part 2)
 * encoder available, with a warning naming it. Synchronous; one thread at a time per writer. */
typedef struct cosmos_media_writer cosmos_media_writer_t;

/* Validate (path non-empty; W and H even, in 2..COSMOS_MEDIA_MAX_SIDE; fps 1..1000; crf 0..51;
 * rotation 0/90/180/270; preview_path, when set, non-empty and not `path`), then create the
 * temporary file, open the encoder and write the mp4 header. params NULL means the defaults.
 * On success *out owns the writer (end it with close or abort); on failure *out is NULL and no
 * file is left. */
cosmos_status cosmos_media_writer_open(const char *path, int W, int H, const struct cosmos_media_encode_params *params,
                                       cosmos_media_writer_t **out);

/* Encode and mux n_frames >= 1 frames now: rgb is [n_frames, H, W, 3] uint8 (the layout of
 * struct cosmos_frames.rgb) at the writer's H and W; borrowed, not kept after the call unless a
 * preview is set (then the writer keeps a copy of every frame to re-encode the preview). Errors:
 * a NULL rgb or n_frames <= 0 changes nothing; a failed preview leaves the frames in the output
 * and the writer usable; any other failure spoils the writer (later appends fail, close removes
 * the temporary file and fails): abort it. */
cosmos_status cosmos_media_writer_append(cosmos_media_writer_t *w, const uint8_t *rgb, int n_frames);

/* Flush the encoder, write the trailer (moov first: faststart), rename the temporary file to the
 * path. Always frees w. On any failure (no frame appended, a spoiled writer, I/O) the temporary
 * file is removed, `path` is not created, and the error is returned. */
cosmos_status cosmos_media_writer_close(cosmos_media_writer_t *w);

/* Remove the temporary file and free w; `path` is not created. NULL is a no-op. */
void cosmos_media_writer_abort(cosmos_media_writer_t *w);

/* Frames appended so far (0 for NULL). */
int64_t cosmos_media_writer_frames(const cosmos_media_writer_t *w);

/* Encode frames (rgb [T,H,W,3], T >= 1, H and W even) to `path` in one go: open, one append,
 * close (so the same rules and temporary-file handling). Borrows frames. */
cosmos_status cosmos_media_encode(const char *path, const struct cosmos_frames *frames,
                                  const struct cosmos_media_encode_params *params);

struct cosmos_media_prep_params {
    int num_input_frames; /* frames kept from the end of the input: 1 or 9 (default 9) */
    int num_frames;       /* clip length after padding with the last frame (default 33) */
    int height, width;    /* output resolution, multiples of 16 (default 640 x 1024) */
};
struct cosmos_media_prep_params cosmos_media_prep_params_default(void);

/* Prepare decoded frames as the official pipeline: keep the last num_input_frames, repeat the last
 * to num_frames, map uint8 to x/255*2-1, resize so both sides cover height x width with
 * s = max(width/W, height/H) to (ceil(s*H), ceil(s*W)), centre-crop. *out is malloc'd float32
 * [3, num_frames, height, width] (caller frees). Fails when in has fewer than num_input_frames. */
cosmos_status cosmos_media_prepare(const struct cosmos_frames *in, const struct cosmos_media_prep_params *p,
                                   const char *name, float **out);

/* cosmos_media_decode (keeping the last num_input_frames) followed by cosmos_media_prepare. A still
 * image is one frame repeated, whatever num_input_frames (as the official image path). */
cosmos_status cosmos_media_load_input(const char *path, const struct cosmos_media_prep_params *p, float **out);
/* The same, also telling whether the file was a still image (*is_image 1: one input frame was
 * used); is_image may be NULL. */
cosmos_status cosmos_media_load_clip(const char *path, const struct cosmos_media_prep_params *p, float **out,
                                     int *is_image);

/* Antialiased bilinear resize of C planes src [C,H,W] to dst [C,oh,ow], as PyTorch's
 * interpolate(mode="bilinear", align_corners=False, antialias=True) (what torchvision's resize
 * runs on tensors): separable triangle filter whose support grows with the downscale factor,
 * width pass first, a pass skipped when that side keeps its size. */
cosmos_status cosmos_resize_bilinear_aa(const float *src, int C, int H, int W, float *dst, int oh, int ow);

#endif
