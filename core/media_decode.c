/* Decoding of video and image files to RGB uint8 frames [T,H,W,3] with FFmpeg (spec components.md
 * section 1 step 1: the official pipeline reads uint8 THWC frames). Any pixel format goes through
 * libswscale to RGB24 (alpha dropped, gray expanded, full-range yuvj and 10-bit handled); the
 * stream's display matrix (phone "rotate" metadata) is applied by rotating the frames, as the ffmpeg
 * CLI does (90/180/270 degrees; flips ignored). Only the last keep_last frames are held in memory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "core/log.h"
#include "core/media.h"

/* Memory held for all frames when the caller keeps every frame (keep_last == 0). */
#define MEDIA_MAX_HELD_BYTES ((int64_t)8 << 30)

void cosmos_frames_free(struct cosmos_frames *f) {
    if (!f) return;
    free(f->rgb);
    memset(f, 0, sizeof *f);
}

static const char *ff_err(int e, char *buf, size_t n) {
    av_strerror(e, buf, n);
    return buf;
}

/* FFmpeg's own messages only at debug level; ours name the file and the problem. */
static void media_quiet_ffmpeg(void) {
    av_log_set_level(cosmos_log_get_level() >= COSMOS_LOG_DEBUG ? AV_LOG_WARNING : AV_LOG_QUIET);
}

/* Clockwise rotation in {0, 90, 180, 270} from the stream's or the frame's display matrix. */
static int media_rotation(const uint8_t *matrix, size_t size) {
    if (!matrix || size < 9 * sizeof(int32_t)) return 0;
    double theta = -av_display_rotation_get((const int32_t *)matrix);
    if (theta != theta) return 0; /* NaN: degenerate matrix */
    int r = (int)((theta >= 0 ? theta + 45.0 : theta - 45.0) / 90.0) * 90;
    r %= 360;
    return r < 0 ? r + 360 : r;
}

/* The decoder's state between frames: rotation, the size frames must keep, the ring of kept
 * frames, the RGB conversion context and its aligned scratch buffer. */
struct decode_state {
    const char *path;
    int rot, fh, fw;         /* decoded (pre-rotation) frame size of the first frame */
    int oh, ow;              /* output size after rotation */
    int keep_last, cap;      /* cap: slots allocated in ring */
    int64_t n;               /* frames decoded so far */
    uint8_t *ring;           /* [cap, oh, ow, 3] */
    struct SwsContext *sws;
    uint8_t *scratch;        /* av_malloc'd RGB24 [fh, stride] */
    int stride;
};

static cosmos_status take_frame(struct decode_state *d, const AVFrame *fr) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(fr->width > 0 && fr->height > 0 && fr->width <= COSMOS_MEDIA_MAX_SIDE && fr->height <= COSMOS_MEDIA_MAX_SIDE,
              COSMOS_ERR_FORMAT, "'%s': frame %lld has size %dx%d (each side must be in 1..%d)", d->path,
              (long long)d->n, fr->width, fr->height, COSMOS_MEDIA_MAX_SIDE);
    if (d->n == 0) {
        const AVFrameSideData *sd = av_frame_get_side_data(fr, AV_FRAME_DATA_DISPLAYMATRIX);
        if (sd && d->rot == 0) d->rot = media_rotation(sd->data, sd->size);
        d->fh = fr->height;
        d->fw = fr->width;
        d->oh = (d->rot == 90 || d->rot == 270) ? d->fw : d->fh;
        d->ow = (d->rot == 90 || d->rot == 270) ? d->fh : d->fw;
        d->stride = FFALIGN(d->fw * 3, 64);
        d->scratch = av_malloc((size_t)d->stride * (size_t)d->fh);
        CHECK_ALLOC(d->scratch);
    }
    CHECK_ARG(fr->width == d->fw && fr->height == d->fh, COSMOS_ERR_UNSUPPORTED,
              "'%s': frame %lld is %dx%d but the first frame was %dx%d (size changes are not supported)", d->path,
              (long long)d->n, fr->width, fr->height, d->fw, d->fh);
    enum AVPixelFormat pf = (enum AVPixelFormat)fr->format;
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(pf);
    CHECK_ARG(desc, COSMOS_ERR_FORMAT, "'%s': frame %lld has no pixel format", d->path, (long long)d->n);
    d->sws = sws_getCachedContext(d->sws, d->fw, d->fh, pf, d->fw, d->fh, AV_PIX_FMT_RGB24,
                                  SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    CHECK_ARG(d->sws, COSMOS_ERR_FFMPEG, "'%s': cannot convert pixel format %s to RGB24", d->path, desc->name);
    if (!(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3) {
        /* YUV: range from the frame (yuvj* formats are full range by definition), matrix from the
         * frame's colour space, BT.601 when unspecified (swscale's and PyAV's default). */
        int full = fr->color_range == AVCOL_RANGE_JPEG || pf == AV_PIX_FMT_YUVJ420P || pf == AV_PIX_FMT_YUVJ422P ||
                   pf == AV_PIX_FMT_YUVJ444P || pf == AV_PIX_FMT_YUVJ440P || pf == AV_PIX_FMT_YUVJ411P;
        int cs = fr->colorspace == AVCOL_SPC_UNSPECIFIED || fr->colorspace == AVCOL_SPC_RGB ? SWS_CS_DEFAULT
                                                                                             : (int)fr->colorspace;
        sws_setColorspaceDetails(d->sws, sws_getCoefficients(cs), full, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0,
                                 1 << 16, 1 << 16);
    }
    uint8_t *dst[4] = {d->scratch, NULL, NULL, NULL};
    int dst_ls[4] = {d->stride, 0, 0, 0};
    int rows = sws_scale(d->sws, (const uint8_t *const *)fr->data, fr->linesize, 0, d->fh, dst, dst_ls);
    CHECK_ARG(rows == d->fh, COSMOS_ERR_FFMPEG, "'%s': pixel conversion of frame %lld failed", d->path, (long long)d->n);

    /* Slot in the ring (or grow the array when every frame is kept). */
    const size_t fbytes = (size_t)d->oh * d->ow * 3;
    int64_t slot;
    if (d->keep_last > 0) {
        if (!d->ring) {
            d->cap = d->keep_last;
            d->ring = malloc(fbytes * (size_t)d->cap);
            CHECK_ALLOC(d->ring);
        }
        slot = d->n % d->cap;
    } else {
        if (d->n >= d->cap) {
            int ncap = d->cap ? d->cap * 2 : 16;
            CHECK_ARG((int64_t)fbytes * ncap <= MEDIA_MAX_HELD_BYTES, COSMOS_ERR_NOMEM,
                      "'%s': more than %lld frames of %dx%d would exceed %lld GiB; keep only the last frames",
                      d->path, (long long)d->n, d->ow, d->oh, (long long)(MEDIA_MAX_HELD_BYTES >> 30));
            uint8_t *r = realloc(d->ring, fbytes * (size_t)ncap);
            CHECK_ALLOC(r);
            d->ring = r;
            d->cap = ncap;
        }
        slot = d->n;
    }
    uint8_t *out = d->ring + (size_t)slot * fbytes;
    const int fh = d->fh, fw = d->fw, ow = d->ow, oh = d->oh;
    if (d->rot == 0) {
        for (int y = 0; y < fh; y++) memcpy(out + (size_t)y * fw * 3, d->scratch + (size_t)y * d->stride, (size_t)fw * 3);
    } else {
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                int sy, sx;
                if (d->rot == 90) { /* clockwise: out(y,x) = in(fh-1-x, y) */
                    sy = fh - 1 - x;
                    sx = y;
                } else if (d->rot == 180) {
                    sy = fh - 1 - y;
                    sx = fw - 1 - x;
                } else { /* 270 clockwise: out(y,x) = in(x, fw-1-y) */
                    sy = x;
                    sx = fw - 1 - y;
                }
                memcpy(out + ((size_t)y * ow + x) * 3, d->scratch + (size_t)sy * d->stride + (size_t)sx * 3, 3);
            }
    }
    d->n++;
fail:
    return st;
}

/* Receive every frame the decoder has ready. */
static cosmos_status drain(struct decode_state *d, AVCodecContext *dec, AVFrame *fr) {
    cosmos_status st = COSMOS_OK;
    char eb[128];
    for (;;) {
        int e = avcodec_receive_frame(dec, fr);
        if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) break;
        CHECK_ARG(e >= 0, COSMOS_ERR_FORMAT, "'%s': cannot decode frame %lld (%s): corrupt or truncated file", d->path,
                  (long long)d->n, ff_err(e, eb, sizeof eb));
        st = take_frame(d, fr);
        av_frame_unref(fr);
        if (st != COSMOS_OK) goto fail;
    }
fail:
    return st;
}

cosmos_status cosmos_media_decode(const char *path, int keep_last, struct cosmos_frames *out) {
    cosmos_status st = COSMOS_OK;
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = NULL;
    AVFrame *fr = NULL;
    struct decode_state d = {.path = path, .keep_last = keep_last};
    char eb[128];
    struct stat sb;
    memset(out, 0, sizeof *out);
    CHECK_ARG(path && path[0], COSMOS_ERR_INVALID_ARG, "media decode: no file name given");
    CHECK_ARG(keep_last >= 0, COSMOS_ERR_INVALID_ARG, "media decode '%s': keep_last %d < 0", path, keep_last);
    CHECK_ARG(stat(path, &sb) == 0, COSMOS_ERR_IO, "cannot open media file '%s': %s", path, strerror(errno));
    CHECK_ARG(S_ISREG(sb.st_mode), COSMOS_ERR_IO, "media file '%s' is not a regular file", path);
    CHECK_ARG(sb.st_size > 0, COSMOS_ERR_FORMAT, "media file '%s' is empty (0 bytes)", path);
    media_quiet_ffmpeg();

    int e = avformat_open_input(&fmt, path, NULL, NULL);
    CHECK_ARG(e >= 0, COSMOS_ERR_FORMAT, "'%s' is not a media file FFmpeg can read (%s)", path, ff_err(e, eb, sizeof eb));
    e = avformat_find_stream_info(fmt, NULL);
    CHECK_ARG(e >= 0, COSMOS_ERR_FORMAT, "'%s': cannot read the stream information (%s): truncated or not a media file",
              path, ff_err(e, eb, sizeof eb));
    const AVCodec *codec = NULL;
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    CHECK_ARG(si >= 0 && codec, COSMOS_ERR_FORMAT, "'%s' has no decodable video or image stream (%s)", path,
              si >= 0 ? "no decoder for its codec" : ff_err(si, eb, sizeof eb));
    AVStream *vs = fmt->streams[si];
    const AVCodecParameters *par = vs->codecpar;
    CHECK_ARG(par->width > 0 && par->height > 0 && par->width <= COSMOS_MEDIA_MAX_SIDE &&
                  par->height <= COSMOS_MEDIA_MAX_SIDE,
              COSMOS_ERR_FORMAT, "'%s': frame size %dx%d is unusable (each side must be in 1..%d)", path, par->width,
              par->height, COSMOS_MEDIA_MAX_SIDE);
    size_t sd_size = 0;
    const uint8_t *sd = av_stream_get_side_data(vs, AV_PKT_DATA_DISPLAYMATRIX, &sd_size);
    d.rot = media_rotation(sd, sd_size);
    const char *fname = fmt->iformat->name;
    out->is_image = strstr(fname, "_pipe") != NULL || strcmp(fname, "image2") == 0;

    dec = avcodec_alloc_context3(codec);
    CHECK_ALLOC(dec);
    e = avcodec_parameters_to_context(dec, par);
    CHECK_ARG(e >= 0, COSMOS_ERR_FFMPEG, "'%s': decoder set-up failed (%s)", path, ff_err(e, eb, sizeof eb));
    dec->thread_count = 0; /* automatic */
    e = avcodec_open2(dec, codec, NULL);
    CHECK_ARG(e >= 0, COSMOS_ERR_FFMPEG, "'%s': cannot open the %s decoder (%s)", path, codec->name,
              ff_err(e, eb, sizeof eb));
    pkt = av_packet_alloc();
    fr = av_frame_alloc();
    CHECK_ALLOC(pkt);
    CHECK_ALLOC(fr);

    for (;;) {
        e = av_read_frame(fmt, pkt);
        if (e == AVERROR_EOF) break;
        CHECK_ARG(e >= 0, COSMOS_ERR_FORMAT, "'%s': read error after %lld frame(s) (%s): truncated or corrupt file",
                  path, (long long)d.n, ff_err(e, eb, sizeof eb));
        if (pkt->stream_index == si) {
            CHECK_ARG(!(pkt->flags & AV_PKT_FLAG_CORRUPT), COSMOS_ERR_FORMAT,
                      "'%s': packet %lld is corrupt: truncated file", path, (long long)d.n);
            e = avcodec_send_packet(dec, pkt);
            CHECK_ARG(e >= 0 || e == AVERROR(EAGAIN), COSMOS_ERR_FORMAT,
                      "'%s': cannot decode after frame %lld (%s): corrupt or truncated file", path, (long long)d.n,
                      ff_err(e, eb, sizeof eb));
        }
        av_packet_unref(pkt);
        CHECK(drain(&d, dec, fr));
    }
    e = avcodec_send_packet(dec, NULL);
    CHECK_ARG(e >= 0 || e == AVERROR_EOF, COSMOS_ERR_FORMAT, "'%s': decoder flush failed (%s)", path,
              ff_err(e, eb, sizeof eb));
    CHECK(drain(&d, dec, fr));

    CHECK_ARG(d.n > 0, COSMOS_ERR_FORMAT, "'%s' holds zero decodable video frames", path);
    CHECK_ARG(vs->nb_frames <= 0 || d.n >= vs->nb_frames, COSMOS_ERR_FORMAT,
              "'%s' is truncated: decoded %lld of the %lld frames its header announces", path, (long long)d.n,
              (long long)vs->nb_frames);

    /* Kept frames in decoding order. */
    const size_t fbytes = (size_t)d.oh * d.ow * 3;
    const int64_t T = (keep_last > 0 && d.n > keep_last) ? keep_last : d.n;
    if (keep_last > 0 && d.n > keep_last) {
        uint8_t *ordered = malloc(fbytes * (size_t)T);
        CHECK_ALLOC(ordered);
        for (int64_t t = 0; t < T; t++)
            memcpy(ordered + (size_t)t * fbytes, d.ring + (size_t)((d.n - T + t) % d.cap) * fbytes, fbytes);
        free(d.ring);
        d.ring = ordered;
    }
    out->T = (int)T;
    out->H = d.oh;
    out->W = d.ow;
    out->n_decoded = d.n;
    out->rgb = d.ring;
    d.ring = NULL;
    LOG_DEBUG("decoded '%s': %lld frame(s) %dx%d (%s, %s), rotation %d, kept %d", path, (long long)d.n, d.ow, d.oh,
              fname, codec->name, d.rot, out->T);
fail:
    if (st != COSMOS_OK) memset(out, 0, sizeof *out);
    free(d.ring);
    av_free(d.scratch);
    sws_freeContext(d.sws);
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return st;
}
