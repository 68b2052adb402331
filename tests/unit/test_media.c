/* Media (core/media*.c): encode -> decode round trip of synthetic clips (PSNR), still images and
 * pixel formats made here with FFmpeg's own encoders (rgb24/gray/rgba png, yuvj420p jpeg, 10-bit
 * ffv1, webp when libwebp is there), rotation metadata, the input preparation against torchvision
 * (tests/data/media-resize.h5 from tools/media/make_resize_fixtures.py; max abs error <= 1e-6 on
 * [-1,1] values; measured 4.5e-8), every error case: missing, empty, foreign, truncated, zero frames, too few
 * frames, frame sides of 0 or absurdly large; and the incremental writer: appends of 1, 8, 8 frames
 * (the pipeline's pattern), nothing under the final name before close, the preview after each
 * append, abort, and its errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/crc.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "core/h5file.h"
#include "core/media.h"
#include "cosmos_build_config.h"
#include "log_capture.h"

/* Tolerance of the resize against torchvision 0.29.2 / torch 2.15 (float32 on [-1,1]; measured max
 * abs error 4.5e-8 on the downscale, 0 on the upscale and mixed cases). */
#define RESIZE_TOL 1e-6f

static void tmp_file(char *buf, size_t n, const char *name) {
    const char *tmp = getenv("COSMOS_TEST_TMP");
    snprintf(buf, n, "%s/media_%d_%s", tmp ? tmp : "/tmp", (int)getpid(), name);
}

/* The fixture generator's pattern (tools/media/make_resize_fixtures.py: pattern()). */
static uint8_t *media_pattern(int h, int w) {
    uint8_t *p = malloc((size_t)h * w * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                p[((size_t)y * w + x) * 3 + c] =
                    (uint8_t)((x * 37 + y * 91 + c * 53 + (x * y) % 17 + ((x / 5 + y / 3) % 2) * 80) % 256);
    return p;
}

/* A smooth moving clip (codecs compress it well): [T,H,W,3]. */
static struct cosmos_frames smooth_clip(int T, int H, int W) {
    struct cosmos_frames f = {.T = T, .H = H, .W = W, .rgb = malloc((size_t)T * H * W * 3)};
    for (int t = 0; t < T; t++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                uint8_t *px = f.rgb + (((size_t)t * H + y) * W + x) * 3;
                px[0] = (uint8_t)(128 + 100 * sin((x + 3 * t) * 0.15));
                px[1] = (uint8_t)(128 + 100 * cos((y - 2 * t) * 0.12));
                px[2] = (uint8_t)((x * 255) / W / 2 + (y * 255) / H / 2);
            }
    return f;
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n) {
    double se = 0;
    for (size_t i = 0; i < n; i++) se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    if (se == 0) return 99.0;
    return 10.0 * log10(255.0 * 255.0 / (se / (double)n));
}

/* Write frames [T,H,W,3] through FFmpeg's own muxer/encoder in pixel format pf: the test's way
 * to make every input format. T may be 0 (a stream without frames). */
static void write_with(const char *path, const char *muxer, const char *codec_name, enum AVPixelFormat pf,
                       const struct cosmos_frames *f) {
    AVFormatContext *oc = NULL;
    cr_assert_geq(avformat_alloc_output_context2(&oc, NULL, muxer, path), 0, "muxer %s", muxer);
    const AVCodec *codec = avcodec_find_encoder_by_name(codec_name);
    cr_assert_not_null(codec, "encoder %s", codec_name);
    AVStream *vs = avformat_new_stream(oc, NULL);
    AVCodecContext *enc = avcodec_alloc_context3(codec);
    enc->width = f->W;
    enc->height = f->H;
    enc->pix_fmt = pf;
    enc->time_base = (AVRational){1, 25};
    enc->framerate = (AVRational){25, 1};
    if (strcmp(codec_name, "mjpeg") == 0) {
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        enc->global_quality = FF_QP2LAMBDA * 2;
        enc->color_range = AVCOL_RANGE_JPEG;
    }
    if (oc->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    cr_assert_geq(avcodec_open2(enc, codec, NULL), 0, "open %s", codec_name);
    avcodec_parameters_from_context(vs->codecpar, enc);
    vs->time_base = enc->time_base;
    cr_assert_geq(avio_open(&oc->pb, path, AVIO_FLAG_WRITE), 0);
    cr_assert_geq(avformat_write_header(oc, NULL), 0);
    AVFrame *fr = av_frame_alloc();
    fr->format = pf;
    fr->width = f->W;
    fr->height = f->H;
    cr_assert_geq(av_frame_get_buffer(fr, 0), 0);
    struct SwsContext *sws =
        sws_getContext(f->W, f->H, AV_PIX_FMT_RGB24, f->W, f->H, pf, SWS_BICUBIC | SWS_ACCURATE_RND, NULL, NULL, NULL);
    if (pf == AV_PIX_FMT_YUVJ420P) /* full range out */
        sws_setColorspaceDetails(sws, sws_getCoefficients(SWS_CS_DEFAULT), 1, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0,
                                 1 << 16, 1 << 16);
    AVPacket *pkt = av_packet_alloc();
    for (int t = 0; t <= f->T; t++) {
        if (t < f->T) {
            av_frame_make_writable(fr);
            const uint8_t *src[4] = {f->rgb + (size_t)t * f->H * f->W * 3, NULL, NULL, NULL};
            int ls[4] = {f->W * 3, 0, 0, 0};
            sws_scale(sws, src, ls, 0, f->H, fr->data, fr->linesize);
            fr->pts = t;
        }
        if (f->T == 0) break;
        avcodec_send_frame(enc, t < f->T ? fr : NULL);
        while (avcodec_receive_packet(enc, pkt) >= 0) {
            av_packet_rescale_ts(pkt, enc->time_base, vs->time_base);
            pkt->stream_index = 0;
            av_interleaved_write_frame(oc, pkt);
        }
    }
    av_write_trailer(oc);
    avio_closep(&oc->pb);
    av_packet_free(&pkt);
    av_frame_free(&fr);
    sws_freeContext(sws);
    avcodec_free_context(&enc);
    avformat_free_context(oc);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

/* Decode and expect failure with a message naming the file (and needle when not NULL). */
static void expect_decode_error(const char *path, const char *needle) {
    struct cosmos_frames f;
    log_capture_start();
    cosmos_status st = cosmos_media_decode(path, 0, &f);
    log_capture_stop();
    cr_expect_neq(st, COSMOS_OK, "%s decoded although it should not", path);
    cr_expect_null(f.rgb);
    cr_expect(strstr(log_captured(), path) != NULL, "message:\n%s\nlacks the path %s", log_captured(), path);
    if (needle) cr_expect(strstr(log_captured(), needle) != NULL, "message:\n%s\nlacks '%s'", log_captured(), needle);
}

Test(media, encode_decode_round_trip) {
    char path[1024];
    tmp_file(path, sizeof path, "rt.mp4");
    struct cosmos_frames in = smooth_clip(7, 48, 64), out = {0};
    struct cosmos_media_encode_params ep = cosmos_media_encode_params_default();
    cr_assert_eq(ep.fps, 25);
    cr_assert_eq(cosmos_media_encode(path, &in, &ep), COSMOS_OK);
    char tmp[1100];
    cosmos_tmp_path(path, tmp, sizeof tmp);
    cr_expect_neq(access(tmp, F_OK), 0, "temporary file %s left behind", tmp);
    cr_assert_eq(cosmos_media_decode(path, 0, &out), COSMOS_OK);
    cr_assert_eq(out.T, 7);
    cr_assert_eq(out.H, 48);
    cr_assert_eq(out.W, 64);
    cr_expect_eq(out.is_image, 0);
    double p = psnr(in.rgb, out.rgb, (size_t)7 * 48 * 64 * 3);
    cr_expect_gt(p, 35.0, "round-trip PSNR %.2f dB", p);
    /* Only the last frames kept: the same pixels as the full decode's last frames. */
    struct cosmos_frames last = {0};
    cr_assert_eq(cosmos_media_decode(path, 2, &last), COSMOS_OK);
    cr_assert_eq(last.T, 2);
    cr_expect_eq(last.n_decoded, 7);
    cr_expect_eq(memcmp(last.rgb, out.rgb + (size_t)5 * 48 * 64 * 3, (size_t)2 * 48 * 64 * 3), 0);
    /* Another frame rate is accepted; the file decodes to the same frame count. */
    ep.fps = 10;
    cr_assert_eq(cosmos_media_encode(path, &in, &ep), COSMOS_OK);
    cosmos_frames_free(&out);
    cr_assert_eq(cosmos_media_decode(path, 0, &out), COSMOS_OK);
    cr_expect_eq(out.T, 7);
    cosmos_frames_free(&last);
    cosmos_frames_free(&out);
    cosmos_frames_free(&in);
    unlink(path);
}

/* A still image in pixel format pf through encoder codec; returns the decode's PSNR vs the source
 * (gray sources compare against their gray expansion). */
static double image_case(const char *name, const char *codec, enum AVPixelFormat pf, int H, int W, int gray) {
    char path[1024];
    tmp_file(path, sizeof path, name);
    /* Lossless codecs get the harsh pattern, lossy ones a smooth image. */
    int lossy = strcmp(codec, "png") != 0;
    struct cosmos_frames in = lossy ? smooth_clip(1, H, W) : (struct cosmos_frames){.T = 1, .H = H, .W = W, .rgb = media_pattern(H, W)};
    struct cosmos_frames out = {0};
    if (gray)
        for (int i = 0; i < H * W; i++) in.rgb[3 * i + 1] = in.rgb[3 * i + 2] = in.rgb[3 * i];
    write_with(path, "image2", codec, pf, &in);
    cr_assert_eq(cosmos_media_decode(path, 0, &out), COSMOS_OK, "%s", name);
    cr_assert_eq(out.T, 1);
    cr_assert_eq(out.H, H);
    cr_assert_eq(out.W, W);
    cr_expect_eq(out.is_image, 1, "%s not seen as an image", name);
    double p = psnr(in.rgb, out.rgb, (size_t)H * W * 3);
    cosmos_frames_free(&in);
    cosmos_frames_free(&out);
    unlink(path);
    return p;
}

Test(media, image_pixel_formats) {
    /* Lossless PNGs decode exactly, odd sizes included; alpha is dropped, gray expanded. */
    cr_expect_eq(image_case("rgb.png", "png", AV_PIX_FMT_RGB24, 21, 33, 0), 99.0);
    cr_expect_eq(image_case("rgba.png", "png", AV_PIX_FMT_RGBA, 17, 12, 0), 99.0);
    cr_expect_eq(image_case("gray.png", "png", AV_PIX_FMT_GRAY8, 9, 31, 1), 99.0);
    cr_expect_eq(image_case("rgb48.png", "png", AV_PIX_FMT_RGB48BE, 10, 10, 0), 99.0);
    /* Full-range JPEG (yuvj420p, yuvj444p). */
    double pj = image_case("yuvj.jpg", "mjpeg", AV_PIX_FMT_YUVJ420P, 40, 56, 0);
    cr_expect_gt(pj, 30.0, "jpeg PSNR %.2f", pj);
    double pjg = image_case("gray.jpeg", "mjpeg", AV_PIX_FMT_YUVJ444P, 24, 24, 1);
    cr_expect_gt(pjg, 30.0, "gray yuvj444p jpeg PSNR %.2f", pjg);
    if (avcodec_find_encoder_by_name("libwebp")) {
        double pw = image_case("img.webp", "libwebp", AV_PIX_FMT_YUV420P, 32, 48, 0);
        cr_expect_gt(pw, 30.0, "webp PSNR %.2f", pw);
    }
}

Test(media, video_10bit_and_yuv444) {
    char path[1024];
    tmp_file(path, sizeof path, "ten.mkv");
    struct cosmos_frames in = smooth_clip(3, 32, 48), out = {0};
    write_with(path, "matroska", "ffv1", AV_PIX_FMT_YUV420P10LE, &in);
    cr_assert_eq(cosmos_media_decode(path, 0, &out), COSMOS_OK);
    cr_assert_eq(out.T, 3);
    double p = psnr(in.rgb, out.rgb, (size_t)3 * 32 * 48 * 3);
    cr_expect_gt(p, 35.0, "10-bit yuv420p ffv1 PSNR %.2f", p);
    cosmos_frames_free(&out);
    write_with(path, "matroska", "ffv1", AV_PIX_FMT_YUV444P, &in);
    cr_assert_eq(cosmos_media_decode(path, 0, &out), COSMOS_OK);
    p = psnr(in.rgb, out.rgb, (size_t)3 * 32 * 48 * 3);
    cr_expect_gt(p, 40.0, "yuv444p ffv1 PSNR %.2f", p);
    cosmos_frames_free(&out);
    cosmos_frames_free(&in);
    unlink(path);
}

Test(media, rotation_metadata) {
    char path[1024];
    tmp_file(path, sizeof path, "rot.mp4");
    const int H = 32, W = 64;
    struct cosmos_frames in = smooth_clip(2, H, W);
    struct cosmos_media_encode_params ep = cosmos_media_encode_params_default();
    for (int rot = 90; rot <= 270; rot += 90) {
        ep.rotation_deg = rot;
        cr_assert_eq(cosmos_media_encode(path, &in, &ep), COSMOS_OK);
        struct cosmos_frames out = {0};
        cr_assert_eq(cosmos_media_decode(path, 0, &out), COSMOS_OK);
        int oh = rot == 180 ? H : W, ow = rot == 180 ? W : H;
        cr_assert_eq(out.H, oh, "rotation %d", rot);
        cr_assert_eq(out.W, ow, "rotation %d", rot);
        /* Expected: the source rotated clockwise by rot. */
        uint8_t *exp = malloc((size_t)2 * H * W * 3);
        for (int t = 0; t < 2; t++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++) {
                    int sy = rot == 90 ? H - 1 - x : rot == 180 ? H - 1 - y : x;
                    int sx = rot == 90 ? y : rot == 180 ? W - 1 - x : W - 1 - y;
                    memcpy(exp + (((size_t)t * oh + y) * ow + x) * 3, in.rgb + (((size_t)t * H + sy) * W + sx) * 3, 3);
                }
        double p = psnr(exp, out.rgb, (size_t)2 * H * W * 3);
        cr_expect_gt(p, 35.0, "rotation %d: PSNR %.2f vs the rotated source", rot, p);
        free(exp);
        cosmos_frames_free(&out);
    }
    cosmos_frames_free(&in);
    unlink(path);
}

/* Max abs difference, printing the first mismatch. */
static float max_abs(const float *a, const float *b, size_t n, const char *what) {
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > RESIZE_TOL && m <= RESIZE_TOL) cr_log_error("%s: first mismatch at %zu: %g vs %g", what, i, a[i], b[i]);
        if (d > m) m = d;
    }
    return m;
}

static float *read_fixture(const char *name, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/media-resize.h5", COSMOS_SOURCE_DIR);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK);
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h, name, &info), COSMOS_OK);
    cr_assert_eq(info.bytes, n * sizeof(float), "%s", name);
    float *d = malloc(n * sizeof(float));
    cr_assert_eq(cosmos_h5_read(h, name, COSMOS_F32, d), COSMOS_OK);
    cosmos_h5_close(h);
    return d;
}

/* Prepare a clip of T copies of the pattern at HxW with the 64x96 resolution; every output frame
 * must equal the fixture. */
static void prep_case(int H, int W, const char *name) {
    const int T = 3, OT = 5, OH = 64, OW = 96;
    uint8_t *pat = media_pattern(H, W);
    struct cosmos_frames in = {.T = T, .H = H, .W = W, .rgb = calloc((size_t)T * H * W * 3, 1)};
    memcpy(in.rgb + (size_t)(T - 1) * H * W * 3, pat, (size_t)H * W * 3); /* only the last frame matters */
    struct cosmos_media_prep_params pp = {.num_input_frames = 1, .num_frames = OT, .height = OH, .width = OW};
    float *out = NULL, *exp = read_fixture(name, (size_t)3 * OH * OW);
    cr_assert_eq(cosmos_media_prepare(&in, &pp, name, &out), COSMOS_OK);
    float worst = 0;
    for (int t = 0; t < OT; t++) {
        float frame[3 * 64 * 96];
        for (int c = 0; c < 3; c++)
            memcpy(frame + (size_t)c * OH * OW, out + ((size_t)c * OT + t) * OH * OW, sizeof(float) * OH * OW);
        float m = max_abs(frame, exp, (size_t)3 * OH * OW, name);
        if (m > worst) worst = m;
    }
    cr_log_info("prepare %s (%dx%d -> %dx%d): max abs error vs torchvision %.3g", name, H, W, OH, OW, worst);
    cr_expect_leq(worst, RESIZE_TOL, "%s: max abs error %g vs torchvision", name, worst);
    free(out);
    free(exp);
    free(pat);
    cosmos_frames_free(&in);
}

Test(media, prepare_matches_torchvision) {
    prep_case(50, 70, "up");
    prep_case(210, 300, "down");
    /* The resize alone, down in height and up in width. */
    uint8_t *pat = media_pattern(50, 70);
    float *src = malloc(sizeof(float) * 3 * 50 * 70), *dst = malloc(sizeof(float) * 3 * 30 * 100);
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 50 * 70; k++) src[c * 50 * 70 + k] = (float)pat[k * 3 + c] / 255.0f * 2.0f - 1.0f;
    cr_assert_eq(cosmos_resize_bilinear_aa(src, 3, 50, 70, dst, 30, 100), COSMOS_OK);
    float *exp = read_fixture("mixed", (size_t)3 * 30 * 100);
    float m = max_abs(dst, exp, (size_t)3 * 30 * 100, "mixed");
    cr_log_info("resize 50x70 -> 30x100: max abs error vs torchvision %.3g", m);
    cr_expect_leq(m, RESIZE_TOL, "mixed: max abs error %g", m);
    free(exp);
    free(src);
    free(dst);
    free(pat);
}

Test(media, prepare_keeps_last_frames_and_pads) {
    /* 12 frames, frame t filled with value 10*t: keep the last 9, pad with the last to 33. */
    const int T = 12, H = 16, W = 16;
    struct cosmos_frames in = {.T = T, .H = H, .W = W, .rgb = malloc((size_t)T * H * W * 3)};
    for (int t = 0; t < T; t++) memset(in.rgb + (size_t)t * H * W * 3, 10 * t, (size_t)H * W * 3);
    struct cosmos_media_prep_params pp = cosmos_media_prep_params_default();
    cr_assert_eq(pp.num_input_frames, 9);
    cr_assert_eq(pp.num_frames, 33);
    cr_assert_eq(pp.height, 640);
    cr_assert_eq(pp.width, 1024);
    pp.height = 32;
    pp.width = 48;
    float *out = NULL;
    cr_assert_eq(cosmos_media_prepare(&in, &pp, "clip", &out), COSMOS_OK);
    for (int c = 0; c < 3; c++)
        for (int t = 0; t < 33; t++) {
            int src_t = t < 9 ? T - 9 + t : T - 1;
            float want = (float)(10 * src_t) / 255.0f * 2.0f - 1.0f;
            const float *pl = out + ((size_t)c * 33 + t) * 32 * 48;
            cr_expect_float_eq(pl[0], want, 1e-6, "c %d t %d", c, t);
            cr_expect_float_eq(pl[32 * 48 - 1], want, 1e-6, "c %d t %d", c, t);
        }
    free(out);
    /* Resolution must be multiples of 16. */
    pp.height = 30;
    log_capture_start();
    cr_expect_neq(cosmos_media_prepare(&in, &pp, "clip", &out), COSMOS_OK);
    log_capture_stop();
    cosmos_frames_free(&in);
}

Test(media, load_input_video_and_image) {
    char mp4[1024], png[1024];
    tmp_file(mp4, sizeof mp4, "in.mp4");
    tmp_file(png, sizeof png, "in.png");
    struct cosmos_frames clip = smooth_clip(3, 32, 48);
    cr_assert_eq(cosmos_media_encode(mp4, &clip, NULL), COSMOS_OK);
    struct cosmos_media_prep_params pp = {.num_input_frames = 1, .num_frames = 9, .height = 32, .width = 48};
    float *out = NULL;
    cr_assert_eq(cosmos_media_load_input(mp4, &pp, &out), COSMOS_OK);
    free(out);
    /* Fewer frames than asked. */
    pp.num_input_frames = 9;
    log_capture_start();
    cosmos_status st = cosmos_media_load_input(mp4, &pp, &out);
    log_capture_stop();
    cr_expect_neq(st, COSMOS_OK);
    cr_expect_null(out);
    cr_expect(strstr(log_captured(), mp4) && strstr(log_captured(), "fewer"), "message:\n%s", log_captured());
    /* An image is one frame repeated whatever num_input_frames (the official image path). */
    struct cosmos_frames img = {.T = 1, .H = 20, .W = 30, .rgb = media_pattern(20, 30)};
    write_with(png, "image2", "png", AV_PIX_FMT_RGB24, &img);
    cr_assert_eq(cosmos_media_load_input(png, &pp, &out), COSMOS_OK);
    free(out);
    cosmos_frames_free(&img);
    cosmos_frames_free(&clip);
    unlink(mp4);
    unlink(png);
}

/* A PNG with only a header claiming w x h (CRCs right, no image data). */
static void write_png_header(const char *path, uint32_t w, uint32_t h) {
    uint8_t b[8 + 25 + 12];
    const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(b, sig, 8);
    uint8_t *c = b + 8;
    const uint8_t ihdr[25] = {0, 0, 0, 13, 'I', 'H', 'D', 'R', w >> 24, w >> 16, w >> 8, w, h >> 24, h >> 16, h >> 8, h,
                              8, 2, 0, 0, 0};
    memcpy(c, ihdr, 21);
    uint32_t crc = av_crc(av_crc_get_table(AV_CRC_32_IEEE_LE), 0xFFFFFFFFu, c + 4, 17) ^ 0xFFFFFFFFu;
    c[21] = crc >> 24, c[22] = crc >> 16, c[23] = crc >> 8, c[24] = crc;
    const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    memcpy(c + 25, iend, 12);
    write_bytes(path, b, sizeof b);
}

Test(media, decode_errors) {
    char path[1024];
    tmp_file(path, sizeof path, "does-not-exist.mp4");
    expect_decode_error(path, "No such file");

    tmp_file(path, sizeof path, "empty.mp4");
    write_bytes(path, "", 0);
    expect_decode_error(path, "empty");
    unlink(path);

    tmp_file(path, sizeof path, "text.mp4");
    const char *txt = "this is not a video, just some text that no demuxer should accept\n";
    write_bytes(path, txt, strlen(txt));
    expect_decode_error(path, NULL);
    unlink(path);

    /* Truncated: the moov atom is first (faststart), the frame data is cut short. */
    tmp_file(path, sizeof path, "trunc.mp4");
    struct cosmos_frames clip = smooth_clip(20, 64, 96);
    cr_assert_eq(cosmos_media_encode(path, &clip, NULL), COSMOS_OK);
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    char *buf = malloc((size_t)n);
    cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    write_bytes(path, buf, (size_t)n * 6 / 10);
    expect_decode_error(path, "truncated");
    /* Truncated into the header. */
    write_bytes(path, buf, 200);
    expect_decode_error(path, NULL);
    free(buf);
    unlink(path);
    cosmos_frames_free(&clip);

    /* Zero frames: a valid Matroska file with a video stream and no packets. */
    tmp_file(path, sizeof path, "zero.mkv");
    struct cosmos_frames none = {.T = 0, .H = 32, .W = 32, .rgb = NULL};
    write_with(path, "matroska", "ffv1", AV_PIX_FMT_YUV420P, &none);
    expect_decode_error(path, "zero");
    unlink(path);

    /* Absurd and zero frame sizes. */
    tmp_file(path, sizeof path, "huge.png");
    write_png_header(path, 30000, 8);
    expect_decode_error(path, NULL);
    write_png_header(path, 0, 0);
    expect_decode_error(path, NULL);
    unlink(path);
}

Test(media, encode_errors) {
    char path[1024];
    tmp_file(path, sizeof path, "bad.mp4");
    struct cosmos_frames odd = smooth_clip(1, 15, 20);
    log_capture_start();
    cr_expect_neq(cosmos_media_encode(path, &odd, NULL), COSMOS_OK);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "even"), "message:\n%s", log_captured());
    struct cosmos_frames empty = {0};
    log_capture_start();
    cr_expect_neq(cosmos_media_encode(path, &empty, NULL), COSMOS_OK);
    log_capture_stop();
    cr_expect_neq(access(path, F_OK), 0);
    /* Unwritable destination. */
    struct cosmos_frames ok = smooth_clip(1, 16, 16);
    log_capture_start();
    cr_expect_neq(cosmos_media_encode("/nonexistent-dir/x.mp4", &ok, NULL), COSMOS_OK);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "/nonexistent-dir/x.mp4"), "message:\n%s", log_captured());
    cosmos_frames_free(&odd);
    cosmos_frames_free(&ok);
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Decode path and expect T frames of H x W close to ref [T,H,W,3] (PSNR as the round trip). */
static void expect_clip(const char *path, const uint8_t *ref, int T, int H, int W, const char *what) {
    struct cosmos_frames out = {0};
    cr_assert_eq(cosmos_media_decode(path, 0, &out), COSMOS_OK, "%s: %s does not decode", what, path);
    cr_expect_eq(out.T, T, "%s: %d frames, want %d", what, out.T, T);
    cr_expect_eq(out.H, H, "%s", what);
    cr_expect_eq(out.W, W, "%s", what);
    if (out.T == T && out.H == H && out.W == W) {
        double p = psnr(ref, out.rgb, (size_t)T * H * W * 3);
        cr_expect_gt(p, 35.0, "%s: PSNR %.2f dB vs the input", what, p);
    }
    cosmos_frames_free(&out);
}

Test(media, preview_of_a_long_clip) {
    /* One frame per append, 200 appends: the preview has every frame up to
     * COSMOS_MEDIA_PREVIEW_EVERY, then lags by less than a fifth (rewritten when the frames grew by
     * a quarter: a handful of rewrites, not one per append); close brings it to the whole clip. */
    char path[1024], prev[1024];
    tmp_file(path, sizeof path, "long.mp4");
    tmp_file(prev, sizeof prev, "long-preview.mp4");
    const int H = 16, W = 16, T = 200;
    struct cosmos_frames in = smooth_clip(T, H, W);
    struct cosmos_media_encode_params ep = cosmos_media_encode_params_default();
    ep.preview_path = prev;
    cosmos_media_writer_t *w = NULL;
    cr_assert_eq(cosmos_media_writer_open(path, W, H, &ep, &w), COSMOS_OK);
    int rewrites = 0, last = 0;
    for (int n = 1; n <= T; n++) {
        cr_assert_eq(cosmos_media_writer_append(w, in.rgb + (size_t)(n - 1) * H * W * 3, 1), COSMOS_OK, "append %d", n);
        struct cosmos_frames p = {0};
        cr_assert_eq(cosmos_media_decode(prev, 0, &p), COSMOS_OK, "preview after %d frames", n);
        if (n <= COSMOS_MEDIA_PREVIEW_EVERY)
            cr_expect_eq(p.T, n, "preview after %d frames has %d", n, p.T);
        else
            cr_expect(p.T <= n && 4 * n < 5 * p.T + 5, "preview after %d frames has %d", n, p.T);
        if (n > COSMOS_MEDIA_PREVIEW_EVERY && p.T != last) rewrites++;
        last = p.T;
        cosmos_frames_free(&p);
    }
    cr_expect(rewrites >= 2 && rewrites <= 8, "%d preview rewrites for frames %d..%d", rewrites,
              COSMOS_MEDIA_PREVIEW_EVERY + 1, T);
    cr_assert_eq(cosmos_media_writer_close(w), COSMOS_OK);
    expect_clip(prev, in.rgb, T, H, W, "preview after close");
    cosmos_frames_free(&in);
    unlink(path);
    unlink(prev);
}

Test(media, writer_appends_like_the_pipeline) {
    /* 1 frame, then 8, then 8: the video pipeline's pattern (first latent frame, then 8 each). */
    char path[1024], tmp[1100], prev[1024], prev_tmp[1100];
    tmp_file(path, sizeof path, "w.mp4");
    tmp_file(prev, sizeof prev, "w-preview.mp4");
    cosmos_tmp_path(path, tmp, sizeof tmp);
    cosmos_tmp_path(prev, prev_tmp, sizeof prev_tmp);
    const int H = 48, W = 64, counts[3] = {1, 8, 8};
    struct cosmos_frames in = smooth_clip(17, H, W);
    const size_t fb = (size_t)H * W * 3;
    struct cosmos_media_encode_params ep = cosmos_media_encode_params_default();
    cr_expect_null(ep.preview_path);
    ep.preview_path = prev;
    cosmos_media_writer_t *w = NULL;
    cr_assert_eq(cosmos_media_writer_open(path, W, H, &ep, &w), COSMOS_OK);
    cr_assert_not_null(w);
    cr_expect_eq(cosmos_media_writer_frames(w), 0);
    cr_expect(exists(tmp), "temporary file %s not made by open", tmp);
    int done = 0;
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(cosmos_media_writer_append(w, in.rgb + (size_t)done * fb, counts[k]), COSMOS_OK, "append %d", k);
        done += counts[k];
        cr_expect_eq(cosmos_media_writer_frames(w), done);
        cr_expect(!exists(path), "%s exists after append %d, before close", path, k);
        cr_expect(!exists(prev_tmp), "preview temporary %s left behind", prev_tmp);
        char what[64];
        snprintf(what, sizeof what, "preview after append %d", k);
        expect_clip(prev, in.rgb, done, H, W, what);
    }
    cr_assert_eq(cosmos_media_writer_close(w), COSMOS_OK);
    cr_expect(!exists(tmp), "temporary file %s left behind", tmp);
    expect_clip(path, in.rgb, 17, H, W, "final file");
    /* The one-shot encoder is the same writer: same frames, same file size. */
    struct stat s_inc, s_one;
    cr_assert_eq(stat(path, &s_inc), 0);
    char one[1024];
    tmp_file(one, sizeof one, "w-one.mp4");
    ep.preview_path = NULL;
    cr_assert_eq(cosmos_media_encode(one, &in, &ep), COSMOS_OK);
    cr_assert_eq(stat(one, &s_one), 0);
    cr_expect_eq(s_inc.st_size, s_one.st_size, "incremental %lld bytes, one-shot %lld", (long long)s_inc.st_size,
                 (long long)s_one.st_size);
    cosmos_frames_free(&in);
    unlink(path);
    unlink(prev);
    unlink(one);
}

Test(media, writer_abort_and_errors) {
    char path[1024], tmp[1100];
    tmp_file(path, sizeof path, "wa.mp4");
    cosmos_tmp_path(path, tmp, sizeof tmp);
    struct cosmos_frames in = smooth_clip(2, 16, 16);
    cosmos_media_writer_t *w = NULL;
    /* Abort after frames: nothing left; abort(NULL) is a no-op. */
    cr_assert_eq(cosmos_media_writer_open(path, 16, 16, NULL, &w), COSMOS_OK);
    cr_assert_eq(cosmos_media_writer_append(w, in.rgb, 2), COSMOS_OK);
    cr_expect(exists(tmp));
    cosmos_media_writer_abort(w);
    cosmos_media_writer_abort(NULL);
    cr_expect(!exists(tmp), "abort left %s", tmp);
    cr_expect(!exists(path), "abort made %s", path);

    /* Appends without frames are refused and change nothing; closing without frames fails and
     * leaves no file. */
    cr_assert_eq(cosmos_media_writer_open(path, 16, 16, NULL, &w), COSMOS_OK);
    log_capture_start();
    cr_expect_eq(cosmos_media_writer_append(w, in.rgb, 0), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_media_writer_append(w, in.rgb, -3), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_media_writer_append(w, NULL, 1), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    cr_expect(strstr(log_captured(), path) && strstr(log_captured(), "-3"), "message:\n%s", log_captured());
    cr_expect_eq(cosmos_media_writer_frames(w), 0);
    log_capture_start();
    cr_expect_neq(cosmos_media_writer_close(w), COSMOS_OK);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "no frames"), "message:\n%s", log_captured());
    cr_expect(!exists(tmp) && !exists(path), "a failed close left a file");

    /* Odd, zero and absurd sizes; bad parameters; the preview on the output itself. */
    const int sizes[4][2] = {{15, 16}, {16, 9}, {0, 16}, {16, COSMOS_MEDIA_MAX_SIDE + 2}};
    for (int k = 0; k < 4; k++) {
        w = (cosmos_media_writer_t *)&in; /* must be reset to NULL */
        log_capture_start();
        cr_expect_eq(cosmos_media_writer_open(path, sizes[k][0], sizes[k][1], NULL, &w), COSMOS_ERR_INVALID_ARG);
        log_capture_stop();
        cr_expect_null(w);
        cr_expect(strstr(log_captured(), path), "message:\n%s", log_captured());
        if (k < 2) cr_expect(strstr(log_captured(), "even"), "message:\n%s", log_captured());
    }
    struct cosmos_media_encode_params ep = cosmos_media_encode_params_default();
    ep.preview_path = path;
    log_capture_start();
    cr_expect_eq(cosmos_media_writer_open(path, 16, 16, &ep, &w), COSMOS_ERR_INVALID_ARG);
    ep = cosmos_media_encode_params_default();
    ep.crf = 60;
    cr_expect_eq(cosmos_media_writer_open(path, 16, 16, &ep, &w), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "preview") && strstr(log_captured(), "crf"), "message:\n%s", log_captured());
    cr_expect(!exists(tmp) && !exists(path), "a refused open left a file");

    /* Unwritable directory: a clear error naming the path, no writer. */
    log_capture_start();
    cr_expect_eq(cosmos_media_writer_open("/nonexistent-dir/w.mp4", 16, 16, NULL, &w), COSMOS_ERR_IO);
    log_capture_stop();
    cr_expect_null(w);
    cr_expect(strstr(log_captured(), "/nonexistent-dir/w.mp4") && strstr(log_captured(), "No such file"),
              "message:\n%s", log_captured());

    /* A preview that cannot be written fails the append, but the frames are in the output and the
     * writer goes on. */
    ep = cosmos_media_encode_params_default();
    ep.preview_path = "/nonexistent-dir/preview.mp4";
    cr_assert_eq(cosmos_media_writer_open(path, 16, 16, &ep, &w), COSMOS_OK);
    log_capture_start();
    cr_expect_eq(cosmos_media_writer_append(w, in.rgb, 1), COSMOS_ERR_IO);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "preview") && strstr(log_captured(), "/nonexistent-dir/preview.mp4"),
              "message:\n%s", log_captured());
    cr_expect_eq(cosmos_media_writer_frames(w), 1);
    log_capture_start();
    cr_expect_eq(cosmos_media_writer_append(w, in.rgb + 16 * 16 * 3, 1), COSMOS_ERR_IO);
    log_capture_stop();
    cr_assert_eq(cosmos_media_writer_close(w), COSMOS_OK);
    expect_clip(path, in.rgb, 2, 16, 16, "output of a writer whose preview failed");
    unlink(path);
    cosmos_frames_free(&in);
}
