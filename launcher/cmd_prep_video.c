/* `cosmos-ar prep-video --input FILE [--num-input-frames 1|9] [--height H --width W] --out OUT.h5`:
 * the input stage of the Video2World pipeline on its own (core/media.h; spec components.md 1,
 * ar-model.md 6.4): decode a video or image, keep the last frames, pad to 33, resize and crop, and
 * write float32 /video [3, 33, H, W] in [-1, 1] (lossless, for data pipelines and for checking the
 * preparation against the official code). Written to a temporary name and renamed. */
#include <stdio.h>
#include <stdlib.h>

#include "core/h5file.h"
#include "core/log.h"
#include "core/media.h"
#include "launcher/cli.h"
#include "launcher/commands.h"

cosmos_status cmd_prep_video(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *input = NULL, *out = NULL, *pos[1];
    int n_pos = 0;
    float *video = NULL;
    cosmos_h5_t *h5 = NULL;
    char tmp[1100] = "";
    struct cosmos_media_prep_params p = cosmos_media_prep_params_default();
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"input", CLI_STR, &input, "video (mp4, ...) or image (png, jpg, jpeg, webp)", 0},
        {"num-input-frames", CLI_INT, &p.num_input_frames, "frames kept from the end: 1 or 9 (default 9)", 0},
        {"height", CLI_INT, &p.height, "output height, a multiple of 16 (default 640)", 0},
        {"width", CLI_INT, &p.width, "output width, a multiple of 16 (default 1024)", 0},
        {"out", CLI_STR, &out, "output HDF5 with float32 /video [3, 33, H, W]", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("prep-video", argc, argv, opts, pos, 0, &n_pos, &common));
    if (common.help) return COSMOS_OK;
    CHECK_ARG(input && out, COSMOS_ERR_INVALID_ARG, "prep-video: --input and --out are required");
    CHECK_ARG(p.num_input_frames == 1 || p.num_input_frames == 9, COSMOS_ERR_INVALID_ARG,
              "prep-video: --num-input-frames must be 1 or 9 (got %d)", p.num_input_frames);
    CHECK_ARG(p.height > 0 && p.width > 0 && p.height % 16 == 0 && p.width % 16 == 0 && p.height <= 8192 &&
                  p.width <= 8192,
              COSMOS_ERR_INVALID_ARG, "prep-video: --height and --width must be positive multiples of 16 (<= 8192)");
    CHECK(cosmos_media_load_input(input, &p, &video));
    cosmos_tmp_path(out, tmp, sizeof tmp);
    const int64_t shape[4] = {3, p.num_frames, p.height, p.width};
    CHECK(cosmos_h5_create(tmp, &h5));
    CHECK(cosmos_h5_write(h5, "video", COSMOS_F32, 4, shape, video));
    cosmos_h5_close(h5);
    h5 = NULL;
    CHECK(cosmos_commit_tmp(tmp, out));
    tmp[0] = '\0';
    LOG_INFO0("prep-video: %s -> %s /video [3, %d, %d, %d]", input, out, p.num_frames, p.height, p.width);
fail:
    if (h5) cosmos_h5_close(h5);
    if (tmp[0]) remove(tmp);
    free(video);
    return st;
}
