/* Encoding of RGB uint8 frames [T,H,W,3] to an H.264 yuv420p mp4 (spec components.md section 1
 * step 10: the official pipeline saves mp4 at 25 fps), incrementally: cosmos_media_writer_t
 * encodes and muxes frames as they are appended; cosmos_media_encode is open + one append + close.
 * libx264 when libavcodec has it (Debian's does), else the first H.264 encoder, else MPEG-4 part 2,
 * with a warning naming the choice. The moov atom goes first (faststart) so a truncated file is
 * detected by frame count. Written to cosmos_tmp_path(path) and renamed on close; the muxer is
 * named, not guessed from the name. libx264 runs without MB-tree (see writer_start: with it the
 * output bytes depended on uninitialised memory). The optional preview is a whole mp4 of the frames so far,
 * re-encoded after an append (every one up to COSMOS_MEDIA_PREVIEW_EVERY frames, then each time
 * the frames have grown by a quarter) by a second writer (a fragmented main file is not used: the
 * encoder's lookahead holds back the last frames until the final flush). */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "core/h5file.h"
#include "core/log.h"
#include "core/media.h"

struct cosmos_media_writer {
    char *path;         /* final name (owned copy) */
    char tmp[4096];     /* cosmos_tmp_path(path): what is written until close */
    char *preview_path; /* owned copy, NULL without a preview */
    struct cosmos_media_encode_params p; /* p.preview_path is NULL: the copy above is used */
    int W, H;
    int64_t n_frames;
    cosmos_status spoiled; /* first failure of the encoder or muxer; COSMOS_OK while usable */
    int io_open, tmp_made;
    const AVCodec *codec;
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *vs;
    AVFrame *rgb;   /* padded RGB24 copy of one input frame: swscale's SIMD reads past a row's end */
    AVFrame *frame; /* yuv420p, what the encoder gets */
    AVPacket *pkt;
    struct SwsContext *sws;
    uint8_t *kept; /* preview only: every frame so far, [n_frames, H, W, 3] */
    int64_t preview_frames; /* frames in the last preview written */
};

struct cosmos_media_encode_params cosmos_media_encode_params_default(void) {
    struct cosmos_media_encode_params p = {.fps = 25, .crf = 18, .rotation_deg = 0, .preview_path = NULL};
    return p;
}

static const char *ff_err(int e, char *buf, size_t n) {
    av_strerror(e, buf, n);
    return buf;
}

/* Close the file (unless done), remove the temporary file (unless renamed) and free everything. */
static void writer_destroy(cosmos_media_writer_t *w) {
    if (!w) return;
    if (w->io_open) avio_closep(&w->oc->pb);
    if (w->tmp_made) unlink(w->tmp);
    sws_freeContext(w->sws);
    av_packet_free(&w->pkt);
    av_frame_free(&w->rgb);
    av_frame_free(&w->frame);
    avcodec_free_context(&w->enc);
    avformat_free_context(w->oc);
    free(w->kept);
    free(w->preview_path);
    free(w->path);
    free(w);
}

/* Send one frame (NULL flushes) and write every packet the encoder returns. */
static cosmos_status encode_write(cosmos_media_writer_t *w, const AVFrame *frame) {
    cosmos_status st = COSMOS_OK;
    char eb[128];
    int e = avcodec_send_frame(w->enc, frame);
    CHECK_ARG(e >= 0, COSMOS_ERR_FFMPEG, "'%s': encoder rejected a frame (%s)", w->path, ff_err(e, eb, sizeof eb));
    for (;;) {
        e = avcodec_receive_packet(w->enc, w->pkt);
        if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) break;
        CHECK_ARG(e >= 0, COSMOS_ERR_FFMPEG, "'%s': encoding failed (%s)", w->path, ff_err(e, eb, sizeof eb));
        /* Without a duration the muxer's edit list would end at the last frame's start and
         * demuxers would drop that frame. */
        if (w->pkt->duration <= 0) w->pkt->duration = 1;
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->vs->time_base);
        w->pkt->stream_index = w->vs->index;
        e = av_interleaved_write_frame(w->oc, w->pkt);
        CHECK_ARG(e >= 0, COSMOS_ERR_IO, "'%s': cannot write a packet to '%s' (%s)", w->path, w->tmp,
                  ff_err(e, eb, sizeof eb));
    }
fail:
    return st;
}

/* The encoder and muxer set-up of open, from the temporary file's creation to the header. */
static cosmos_status writer_start(cosmos_media_writer_t *w) {
    cosmos_status st = COSMOS_OK;
    AVDictionary *opts = NULL;
    char eb[128];
    const char *path = w->path;
    w->codec = avcodec_find_encoder_by_name("libx264");
    if (!w->codec) {
        w->codec = avcodec_find_encoder(AV_CODEC_ID_H264);
        if (!w->codec) w->codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
        CHECK_ARG(w->codec, COSMOS_ERR_UNSUPPORTED, "'%s': this libavcodec has neither an H.264 nor an MPEG-4 encoder",
                  path);
        LOG_WARN("'%s': libx264 is not in this libavcodec; encoding with %s instead", path, w->codec->name);
    }

    int e = avformat_alloc_output_context2(&w->oc, NULL, "mp4", w->tmp);
    CHECK_ARG(e >= 0 && w->oc, COSMOS_ERR_FFMPEG, "'%s': cannot set up the mp4 muxer (%s)", path,
              ff_err(e, eb, sizeof eb));
    w->vs = avformat_new_stream(w->oc, NULL);
    CHECK_ALLOC(w->vs);
    AVCodecContext *enc = w->enc = avcodec_alloc_context3(w->codec);
    CHECK_ALLOC(w->enc);
    enc->width = w->W;
    enc->height = w->H;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = (AVRational){1, w->p.fps};
    enc->framerate = (AVRational){w->p.fps, 1};
    enc->gop_size = 2 * w->p.fps;
    enc->color_range = AVCOL_RANGE_MPEG;
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (strcmp(w->codec->name, "libx264") == 0) {
        char crf[16];
        snprintf(crf, sizeof crf, "%d", w->p.crf);
        av_dict_set(&opts, "crf", crf, 0);
        av_dict_set(&opts, "preset", "medium", 0);
        /* MB-tree off: with it, libx264 (0.164, Debian's) reads memory it never initialised, so the
         * same frames gave different bitstreams from run to run (seen at 96x64 and 960x640 with
         * MALLOC_PERTURB_; tests/e2e/test_clip_length.sh). Without it the bytes are a function of
         * the frames, which reproducible runs and the byte-for-byte tests rely on. */
        av_dict_set(&opts, "x264-params", "mbtree=0", 0);
    } else {
        enc->bit_rate = (int64_t)w->W * w->H * w->p.fps / 4; /* ~2 bits per pixel-second: generous */
    }
    e = avcodec_open2(enc, w->codec, &opts);
    CHECK_ARG(e >= 0, COSMOS_ERR_FFMPEG, "'%s': cannot open the %s encoder for %dx%d (%s)", path, w->codec->name, w->W,
              w->H, ff_err(e, eb, sizeof eb));
    av_dict_free(&opts);
    e = avcodec_parameters_from_context(w->vs->codecpar, enc);
    CHECK_ARG(e >= 0, COSMOS_ERR_FFMPEG, "'%s': stream set-up failed (%s)", path, ff_err(e, eb, sizeof eb));
    w->vs->time_base = enc->time_base;
    if (w->p.rotation_deg != 0) {
        uint8_t *m = av_stream_new_side_data(w->vs, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t));
        CHECK_ALLOC(m);
        /* av_display_rotation_set takes a clockwise angle (av_display_rotation_get returns the
         * counter-clockwise one): players then rotate clockwise by rotation_deg (ffmpeg's rotate=). */
        av_display_rotation_set((int32_t *)m, (double)w->p.rotation_deg);
    }

    e = avio_open(&w->oc->pb, w->tmp, AVIO_FLAG_WRITE);
    CHECK_ARG(e >= 0, COSMOS_ERR_IO, "'%s': cannot create '%s' (%s)", path, w->tmp, ff_err(e, eb, sizeof eb));
    w->io_open = w->tmp_made = 1;
    av_dict_set(&opts, "movflags", "+faststart", 0);
    e = avformat_write_header(w->oc, &opts);
    CHECK_ARG(e >= 0, COSMOS_ERR_IO, "'%s': cannot write the mp4 header (%s)", path, ff_err(e, eb, sizeof eb));

    w->rgb = av_frame_alloc();
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    CHECK_ALLOC(w->rgb);
    CHECK_ALLOC(w->frame);
    CHECK_ALLOC(w->pkt);
    w->rgb->format = AV_PIX_FMT_RGB24;
    w->frame->format = enc->pix_fmt;
    w->rgb->width = w->frame->width = w->W;
    w->rgb->height = w->frame->height = w->H;
    e = av_frame_get_buffer(w->rgb, 0);
    if (e >= 0) e = av_frame_get_buffer(w->frame, 0);
    CHECK_ARG(e >= 0, COSMOS_ERR_NOMEM, "'%s': cannot allocate a %dx%d frame", path, w->W, w->H);
    w->sws = sws_getContext(w->W, w->H, AV_PIX_FMT_RGB24, w->W, w->H, AV_PIX_FMT_YUV420P,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, NULL, NULL, NULL);
    CHECK_ARG(w->sws, COSMOS_ERR_FFMPEG, "'%s': cannot set up the RGB to yuv420p conversion", path);
fail:
    av_dict_free(&opts);
    return st;
}

cosmos_status cosmos_media_writer_open(const char *path, int W, int H, const struct cosmos_media_encode_params *params,
                                       cosmos_media_writer_t **out) {
    cosmos_status st = COSMOS_OK;
    cosmos_media_writer_t *w = NULL;
    struct cosmos_media_encode_params p = params ? *params : cosmos_media_encode_params_default();
    CHECK_ARG(out, COSMOS_ERR_INVALID_ARG, "media writer: no place for the writer given");
    *out = NULL;
    CHECK_ARG(path && path[0], COSMOS_ERR_INVALID_ARG, "media encode: no file name given");
    CHECK_ARG(H > 0 && W > 0 && H <= COSMOS_MEDIA_MAX_SIDE && W <= COSMOS_MEDIA_MAX_SIDE, COSMOS_ERR_INVALID_ARG,
              "'%s': frame size %dx%d is unusable (each side must be in 1..%d)", path, W, H, COSMOS_MEDIA_MAX_SIDE);
    CHECK_ARG(H % 2 == 0 && W % 2 == 0, COSMOS_ERR_INVALID_ARG,
              "'%s': yuv420p needs an even width and height, frames are %dx%d", path, W, H);
    CHECK_ARG(p.fps >= 1 && p.fps <= 1000, COSMOS_ERR_INVALID_ARG, "'%s': fps %d out of range 1..1000", path, p.fps);
    CHECK_ARG(p.crf >= 0 && p.crf <= 51, COSMOS_ERR_INVALID_ARG, "'%s': crf %d out of range 0..51", path, p.crf);
    CHECK_ARG(p.rotation_deg == 0 || p.rotation_deg == 90 || p.rotation_deg == 180 || p.rotation_deg == 270,
              COSMOS_ERR_INVALID_ARG, "'%s': rotation %d is not 0, 90, 180 or 270", path, p.rotation_deg);
    CHECK_ARG(!p.preview_path || (p.preview_path[0] && strcmp(p.preview_path, path) != 0), COSMOS_ERR_INVALID_ARG,
              "'%s': the preview path must be a non-empty name other than the output's", path);
    av_log_set_level(cosmos_log_get_level() >= COSMOS_LOG_DEBUG ? AV_LOG_WARNING : AV_LOG_QUIET);

    w = calloc(1, sizeof *w);
    CHECK_ALLOC(w);
    w->path = strdup(path);
    CHECK_ALLOC(w->path);
    if (p.preview_path) {
        w->preview_path = strdup(p.preview_path);
        CHECK_ALLOC(w->preview_path);
    }
    p.preview_path = NULL;
    w->p = p;
    w->W = W;
    w->H = H;
    cosmos_tmp_path(path, w->tmp, sizeof w->tmp);
    CHECK(writer_start(w));
    *out = w;
    w = NULL;
fail:
    writer_destroy(w);
    return st;
}

/* Re-encode every frame so far into the preview path (a whole mp4, renamed into place). */
static cosmos_status write_preview(const cosmos_media_writer_t *w) {
    cosmos_status st = COSMOS_OK;
    cosmos_media_writer_t *pw = NULL;
    CHECK(cosmos_media_writer_open(w->preview_path, w->W, w->H, &w->p, &pw));
    for (int64_t done = 0; done < w->n_frames;) {
        int n = w->n_frames - done > 1024 ? 1024 : (int)(w->n_frames - done);
        CHECK(cosmos_media_writer_append(pw, w->kept + (size_t)done * w->H * w->W * 3, n));
        done += n;
    }
    st = cosmos_media_writer_close(pw);
    pw = NULL;
    CHECK(st);
fail:
    cosmos_media_writer_abort(pw);
    if (st != COSMOS_OK) LOG_ERROR("'%s': cannot write the preview '%s'", w->path, w->preview_path);
    return st;
}

cosmos_status cosmos_media_writer_append(cosmos_media_writer_t *w, const uint8_t *rgb, int n_frames) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(w, COSMOS_ERR_INVALID_ARG, "media writer append: no writer given");
    CHECK_ARG(rgb && n_frames >= 1, COSMOS_ERR_INVALID_ARG, "'%s': append needs frames (got %d%s)", w->path, n_frames,
              rgb ? "" : " and no pixels");
    CHECK_ARG(w->spoiled == COSMOS_OK, w->spoiled, "'%s': an earlier append failed; abort the writer", w->path);
    const size_t frame_bytes = (size_t)w->H * w->W * 3;
    if (w->preview_path) { /* kept before encoding: a failed allocation spoils nothing */
        uint8_t *k = realloc(w->kept, (size_t)(w->n_frames + n_frames) * frame_bytes);
        CHECK_ALLOC(k);
        w->kept = k;
        memcpy(k + (size_t)w->n_frames * frame_bytes, rgb, (size_t)n_frames * frame_bytes);
    }
    for (int t = 0; t < n_frames; t++) {
        int e = av_frame_make_writable(w->frame);
        if (e < 0) {
            LOG_ERROR("'%s': frame buffer not writable", w->path);
            w->spoiled = COSMOS_ERR_NOMEM;
        } else {
            av_image_copy_plane(w->rgb->data[0], w->rgb->linesize[0], rgb + (size_t)t * frame_bytes, w->W * 3,
                                w->W * 3, w->H);
            sws_scale(w->sws, (const uint8_t *const *)w->rgb->data, w->rgb->linesize, 0, w->H, w->frame->data,
                      w->frame->linesize);
            w->frame->pts = w->n_frames;
            w->spoiled = encode_write(w, w->frame);
        }
        CHECK(w->spoiled);
        w->n_frames++;
    }
    /* every append up to COSMOS_MEDIA_PREVIEW_EVERY frames; beyond, once the frames have grown by
     * a quarter since the last preview: each re-encodes every frame, so this bounds the previews'
     * total work by about 5x the clip's own encode (a long clip would be quadratic otherwise) */
    if (w->preview_path &&
        (w->n_frames <= COSMOS_MEDIA_PREVIEW_EVERY || 4 * w->n_frames >= 5 * w->preview_frames)) {
        CHECK(write_preview(w));
        w->preview_frames = w->n_frames;
    }
fail:
    return st;
}

/* dst = a copy of src, through dst's temporary name. */
static cosmos_status copy_file(const char *src, const char *dst) {
    cosmos_status st = COSMOS_OK;
    char tmp[4096], buf[1 << 16];
    cosmos_tmp_path(dst, tmp, sizeof tmp);
    FILE *in = fopen(src, "rb"), *out = in ? fopen(tmp, "wb") : NULL;
    CHECK_ARG(in && out, COSMOS_ERR_IO, "cannot copy '%s' to '%s'", src, tmp);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        CHECK_ARG(fwrite(buf, 1, n, out) == n, COSMOS_ERR_IO, "cannot write '%s'", tmp);
    CHECK_ARG(!ferror(in), COSMOS_ERR_IO, "cannot read '%s'", src);
    const int closed = fclose(out);
    out = NULL;
    CHECK_ARG(closed == 0, COSMOS_ERR_IO, "cannot write '%s'", tmp);
    CHECK(cosmos_commit_tmp(tmp, dst));
fail:
    if (in) fclose(in);
    if (out) fclose(out);
    if (st != COSMOS_OK) unlink(tmp);
    return st;
}

cosmos_status cosmos_media_writer_close(cosmos_media_writer_t *w) {
    cosmos_status st = COSMOS_OK;
    char eb[128];
    CHECK_ARG(w, COSMOS_ERR_INVALID_ARG, "media writer close: no writer given");
    CHECK_ARG(w->spoiled == COSMOS_OK, w->spoiled, "'%s': not written: an append failed", w->path);
    CHECK_ARG(w->n_frames >= 1, COSMOS_ERR_INVALID_ARG, "'%s': no frames to encode", w->path);
    CHECK(encode_write(w, NULL));
    int e = av_write_trailer(w->oc);
    CHECK_ARG(e >= 0, COSMOS_ERR_IO, "'%s': cannot finish the mp4 (%s)", w->path, ff_err(e, eb, sizeof eb));
    e = avio_closep(&w->oc->pb);
    w->io_open = 0;
    CHECK_ARG(e >= 0, COSMOS_ERR_IO, "'%s': cannot close '%s' (%s)", w->path, w->tmp, ff_err(e, eb, sizeof eb));
    CHECK(cosmos_commit_tmp(w->tmp, w->path));
    w->tmp_made = 0;
    if (w->preview_path && w->preview_frames < w->n_frames && copy_file(w->path, w->preview_path) != COSMOS_OK)
        LOG_WARN("'%s': the preview '%s' keeps its first %lld frames", w->path, w->preview_path,
                 (long long)w->preview_frames); /* the output itself is complete */
    LOG_DEBUG("wrote '%s': %lld frame(s) %dx%d at %d fps with %s", w->path, (long long)w->n_frames, w->W, w->H,
              w->p.fps, w->codec->name);
fail:
    writer_destroy(w);
    return st;
}

void cosmos_media_writer_abort(cosmos_media_writer_t *w) { writer_destroy(w); }

int64_t cosmos_media_writer_frames(const cosmos_media_writer_t *w) { return w ? w->n_frames : 0; }

cosmos_status cosmos_media_encode(const char *path, const struct cosmos_frames *f,
                                  const struct cosmos_media_encode_params *params) {
    cosmos_status st = COSMOS_OK;
    cosmos_media_writer_t *w = NULL;
    struct cosmos_media_encode_params p = params ? *params : cosmos_media_encode_params_default();
    p.preview_path = NULL; /* the finished file is its own preview */
    CHECK_ARG(path && path[0], COSMOS_ERR_INVALID_ARG, "media encode: no file name given");
    CHECK_ARG(f && f->rgb && f->T >= 1, COSMOS_ERR_INVALID_ARG, "'%s': no frames to encode", path);
    CHECK(cosmos_media_writer_open(path, f->W, f->H, &p, &w));
    CHECK(cosmos_media_writer_append(w, f->rgb, f->T));
    st = cosmos_media_writer_close(w);
    w = NULL;
fail:
    cosmos_media_writer_abort(w);
    return st;
}
