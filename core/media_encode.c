/* Encoding of RGB uint8 frames [T,H,W,3] to an H.264 yuv420p mp4 (spec components.md section 1
 * step 10: the official pipeline saves mp4 at 25 fps). libx264 when libavcodec has it (Debian's
 * does), else the first H.264 encoder, else MPEG-4 part 2, with a warning naming the choice. The
 * moov atom goes first (faststart) so a truncated file is detected by frame count. Written to
 * cosmos_tmp_path(path) and renamed when complete; the muxer is named, not guessed from the name. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "core/h5file.h"
#include "core/log.h"
#include "core/media.h"

struct cosmos_media_encode_params cosmos_media_encode_params_default(void) {
    struct cosmos_media_encode_params p = {.fps = 25, .crf = 18, .rotation_deg = 0};
    return p;
}

static const char *ff_err(int e, char *buf, size_t n) {
    av_strerror(e, buf, n);
    return buf;
}

/* Send one frame (NULL flushes) and write every packet the encoder returns. */
static cosmos_status encode_write(const char *path, AVCodecContext *enc, AVFormatContext *oc, AVStream *vs,
                                  const AVFrame *frame, AVPacket *pkt) {
    cosmos_status st = COSMOS_OK;
    char eb[128];
    int e = avcodec_send_frame(enc, frame);
    CHECK_ARG(e >= 0, COSMOS_ERR_FFMPEG, "'%s': encoder rejected a frame (%s)", path, ff_err(e, eb, sizeof eb));
    for (;;) {
        e = avcodec_receive_packet(enc, pkt);
        if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) break;
        CHECK_ARG(e >= 0, COSMOS_ERR_FFMPEG, "'%s': encoding failed (%s)", path, ff_err(e, eb, sizeof eb));
        /* Without a duration the muxer's edit list would end at the last frame's start and
         * demuxers would drop that frame. */
        if (pkt->duration <= 0) pkt->duration = 1;
        av_packet_rescale_ts(pkt, enc->time_base, vs->time_base);
        pkt->stream_index = vs->index;
        e = av_interleaved_write_frame(oc, pkt);
        CHECK_ARG(e >= 0, COSMOS_ERR_IO, "'%s': cannot write a packet (%s)", path, ff_err(e, eb, sizeof eb));
    }
fail:
    return st;
}

cosmos_status cosmos_media_encode(const char *path, const struct cosmos_frames *f,
                                  const struct cosmos_media_encode_params *params) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_media_encode_params p = params ? *params : cosmos_media_encode_params_default();
    AVFormatContext *oc = NULL;
    AVCodecContext *enc = NULL;
    AVFrame *frame = NULL;
    AVPacket *pkt = NULL;
    struct SwsContext *sws = NULL;
    AVDictionary *opts = NULL;
    int io_open = 0, tmp_made = 0;
    char tmp[4096], eb[128];
    CHECK_ARG(path && path[0], COSMOS_ERR_INVALID_ARG, "media encode: no file name given");
    CHECK_ARG(f && f->rgb && f->T >= 1, COSMOS_ERR_INVALID_ARG, "'%s': no frames to encode", path);
    CHECK_ARG(f->H > 0 && f->W > 0 && f->H <= COSMOS_MEDIA_MAX_SIDE && f->W <= COSMOS_MEDIA_MAX_SIDE,
              COSMOS_ERR_INVALID_ARG, "'%s': frame size %dx%d is unusable (each side must be in 1..%d)", path, f->W,
              f->H, COSMOS_MEDIA_MAX_SIDE);
    CHECK_ARG(f->H % 2 == 0 && f->W % 2 == 0, COSMOS_ERR_INVALID_ARG,
              "'%s': yuv420p needs an even width and height, frames are %dx%d", path, f->W, f->H);
    CHECK_ARG(p.fps >= 1 && p.fps <= 1000, COSMOS_ERR_INVALID_ARG, "'%s': fps %d out of range 1..1000", path, p.fps);
    CHECK_ARG(p.crf >= 0 && p.crf <= 51, COSMOS_ERR_INVALID_ARG, "'%s': crf %d out of range 0..51", path, p.crf);
    CHECK_ARG(p.rotation_deg == 0 || p.rotation_deg == 90 || p.rotation_deg == 180 || p.rotation_deg == 270,
              COSMOS_ERR_INVALID_ARG, "'%s': rotation %d is not 0, 90, 180 or 270", path, p.rotation_deg);
    av_log_set_level(cosmos_log_get_level() >= COSMOS_LOG_DEBUG ? AV_LOG_WARNING : AV_LOG_QUIET);

    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) {
        codec = avcodec_find_encoder(AV_CODEC_ID_H264);
        if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
        CHECK_ARG(codec, COSMOS_ERR_UNSUPPORTED, "'%s': this libavcodec has neither an H.264 nor an MPEG-4 encoder", path);
        LOG_WARN("'%s': libx264 is not in this libavcodec; encoding with %s instead", path, codec->name);
    }

    cosmos_tmp_path(path, tmp, sizeof tmp);
    int e = avformat_alloc_output_context2(&oc, NULL, "mp4", tmp);
    CHECK_ARG(e >= 0 && oc, COSMOS_ERR_FFMPEG, "'%s': cannot set up the mp4 muxer (%s)", path, ff_err(e, eb, sizeof eb));
    AVStream *vs = avformat_new_stream(oc, NULL);
    CHECK_ALLOC(vs);
    enc = avcodec_alloc_context3(codec);
    CHECK_ALLOC(enc);
    enc->width = f->W;
    enc->height = f->H;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = (AVRational){1, p.fps};
    enc->framerate = (AVRational){p.fps, 1};
    enc->gop_size = 2 * p.fps;
    enc->color_range = AVCOL_RANGE_MPEG;
    if (oc->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (strcmp(codec->name, "libx264") == 0) {
        char crf[16];
        snprintf(crf, sizeof crf, "%d", p.crf);
        av_dict_set(&opts, "crf", crf, 0);
        av_dict_set(&opts, "preset", "medium", 0);
    } else {
        enc->bit_rate = (int64_t)f->W * f->H * p.fps / 4; /* ~2 bits per pixel-second: generous */
    }
    e = avcodec_open2(enc, codec, &opts);
    CHECK_ARG(e >= 0, COSMOS_ERR_FFMPEG, "'%s': cannot open the %s encoder for %dx%d (%s)", path, codec->name, f->W,
              f->H, ff_err(e, eb, sizeof eb));
    e = avcodec_parameters_from_context(vs->codecpar, enc);
    CHECK_ARG(e >= 0, COSMOS_ERR_FFMPEG, "'%s': stream set-up failed (%s)", path, ff_err(e, eb, sizeof eb));
    vs->time_base = enc->time_base;
    if (p.rotation_deg != 0) {
        uint8_t *m = av_stream_new_side_data(vs, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t));
        CHECK_ALLOC(m);
        /* av_display_rotation_set takes a clockwise angle (av_display_rotation_get returns the
         * counter-clockwise one): players then rotate clockwise by rotation_deg (ffmpeg's rotate=). */
        av_display_rotation_set((int32_t *)m, (double)p.rotation_deg);
    }

    e = avio_open(&oc->pb, tmp, AVIO_FLAG_WRITE);
    CHECK_ARG(e >= 0, COSMOS_ERR_IO, "cannot create '%s' (%s)", tmp, ff_err(e, eb, sizeof eb));
    io_open = tmp_made = 1;
    av_dict_set(&opts, "movflags", "+faststart", 0);
    e = avformat_write_header(oc, &opts);
    CHECK_ARG(e >= 0, COSMOS_ERR_IO, "'%s': cannot write the mp4 header (%s)", path, ff_err(e, eb, sizeof eb));

    frame = av_frame_alloc();
    pkt = av_packet_alloc();
    CHECK_ALLOC(frame);
    CHECK_ALLOC(pkt);
    frame->format = enc->pix_fmt;
    frame->width = f->W;
    frame->height = f->H;
    e = av_frame_get_buffer(frame, 0);
    CHECK_ARG(e >= 0, COSMOS_ERR_NOMEM, "'%s': cannot allocate a %dx%d frame", path, f->W, f->H);
    sws = sws_getContext(f->W, f->H, AV_PIX_FMT_RGB24, f->W, f->H, AV_PIX_FMT_YUV420P,
                         SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, NULL, NULL, NULL);
    CHECK_ARG(sws, COSMOS_ERR_FFMPEG, "'%s': cannot set up the RGB to yuv420p conversion", path);
    for (int t = 0; t < f->T; t++) {
        e = av_frame_make_writable(frame);
        CHECK_ARG(e >= 0, COSMOS_ERR_NOMEM, "'%s': frame buffer not writable", path);
        const uint8_t *src[4] = {f->rgb + (size_t)t * f->H * f->W * 3, NULL, NULL, NULL};
        int src_ls[4] = {f->W * 3, 0, 0, 0};
        sws_scale(sws, src, src_ls, 0, f->H, frame->data, frame->linesize);
        frame->pts = t;
        CHECK(encode_write(path, enc, oc, vs, frame, pkt));
    }
    CHECK(encode_write(path, enc, oc, vs, NULL, pkt));
    e = av_write_trailer(oc);
    CHECK_ARG(e >= 0, COSMOS_ERR_IO, "'%s': cannot finish the mp4 (%s)", path, ff_err(e, eb, sizeof eb));
    e = avio_closep(&oc->pb);
    io_open = 0;
    CHECK_ARG(e >= 0, COSMOS_ERR_IO, "'%s': cannot close '%s' (%s)", path, tmp, ff_err(e, eb, sizeof eb));
    CHECK(cosmos_commit_tmp(tmp, path));
    tmp_made = 0;
    LOG_DEBUG("wrote '%s': %d frame(s) %dx%d at %d fps with %s", path, f->T, f->W, f->H, p.fps, codec->name);
fail:
    if (io_open) avio_closep(&oc->pb);
    if (tmp_made) unlink(tmp);
    av_dict_free(&opts);
    sws_freeContext(sws);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&enc);
    avformat_free_context(oc);
    return st;
}
