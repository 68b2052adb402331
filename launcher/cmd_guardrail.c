/* `cosmos-ar guardrail`: the guardrail's checks on their own (spec components.md 5; docs/guardrail.md),
 * as the official per-check command lines do, for a prompt or for a video file:
 *   cosmos-ar guardrail --model-dir DIR --prompt TEXT          blocklist, then Aegis
 *   cosmos-ar guardrail --model-dir DIR --input V.mp4 [--output OUT.mp4]
 *                                                               content filter on every frame, then
 *                                                               face blur into OUT.mp4
 * The weight files come from the model directory's manifest (aegis, video_content_filter,
 * face_blur) or from --aegis / --content-filter / --face-blur; --checks picks a subset (default: all
 * checks of the input's kind, every one of them required). Prints one line to stdout, "safe" or
 * "unsafe <check>: <reason>", and with --json a record of the verdict. Exit status 0 safe, 3
 * unsafe (COSMOS_ERR_BLOCKED; no output written), 2 bad arguments or inputs, 1 other failures. The
 * output mp4 (25 fps, as the pipeline's) is written to a temporary name and renamed. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/guardrail/guardrail.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/media.h"
#include "core/pipeline/model_dir.h"
#include "cosmos_build_config.h"
#include "launcher/cli.h"
#include "launcher/commands.h"

/* Parse "a,b,c" into names[] (pointers into buf, at most COSMOS_GUARDRAIL_MAX_CHECKS). */
static cosmos_status split_checks(char *buf, const char **names, int *n) {
    cosmos_status st = COSMOS_OK;
    *n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        CHECK_ARG(*n < COSMOS_GUARDRAIL_MAX_CHECKS, COSMOS_ERR_INVALID_ARG, "guardrail: too many --checks (at most %d)",
                  COSMOS_GUARDRAIL_MAX_CHECKS);
        names[(*n)++] = tok;
    }
    CHECK_ARG(*n > 0, COSMOS_ERR_INVALID_ARG, "guardrail: --checks is empty");
fail:
    return st;
}

static int is_text_check(const char *name) { return !strcmp(name, "blocklist") || !strcmp(name, "aegis"); }
static int is_video_check(const char *name) {
    return !strcmp(name, "video_content_filter") || !strcmp(name, "face_blur");
}

cosmos_status cmd_guardrail(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *model_dir = NULL, *prompt = NULL, *input = NULL, *output = NULL, *json_out = NULL, *checks = NULL;
    const char *guard_dir = NULL, *aegis = NULL, *content = NULL, *face = NULL, *pos[1];
    int n_pos = 0;
    char check_buf[256], default_dir[4096];
    struct cosmos_model_dir md;
    struct cosmos_frames frames = {0};
    cosmos_backend_t *be = NULL;
    cosmos_guardrail_t *g = NULL;
    json_t *js = NULL;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"model-dir", CLI_STR, &model_dir, "model directory whose guardrail files to use", 0},
        {"prompt", CLI_STR, &prompt, "check this prompt (blocklist, aegis)", 0},
        {"input", CLI_STR, &input, "check this video or image (video_content_filter, face_blur)", 0},
        {"output", CLI_STR, &output, "with --input: write the face-blurred video here (.mp4) when it is safe", 0},
        {"checks", CLI_STR, &checks, "comma-separated checks to run (default: all of the input's kind)", 0},
        {"guardrail-dir", CLI_STR, &guard_dir, "blocklist word lists (default: configs/guardrail of the source tree)", 0},
        {"aegis", CLI_STR, &aegis, "Aegis weight file (default: the model directory's)", 0},
        {"content-filter", CLI_STR, &content, "content-filter weight file (default: the model directory's)", 0},
        {"face-blur", CLI_STR, &face, "face-blur weight file (default: the model directory's)", 0},
        {"json", CLI_STR, &json_out, "also write the verdict as JSON to this file", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    memset(&md, 0, sizeof md);
    CHECK(cli_parse_command("guardrail", argc, argv, opts, pos, 0, &n_pos, &common));
    if (common.help) return COSMOS_OK;
    CHECK_ARG(!prompt != !input, COSMOS_ERR_INVALID_ARG, "guardrail: give exactly one of --prompt and --input");
    CHECK_ARG(!output || input, COSMOS_ERR_INVALID_ARG, "guardrail: --output goes with --input");
    if (model_dir) CHECK(cosmos_model_dir_load(model_dir, &md));
    if (!aegis && md.aegis[0]) aegis = md.aegis;
    if (!content && md.video_content_filter[0]) content = md.video_content_filter;
    if (!face && md.face_blur[0]) face = md.face_blur;
    if (!guard_dir) {
        snprintf(default_dir, sizeof default_dir, "%s/configs/guardrail", COSMOS_SOURCE_DIR);
        guard_dir = default_dir;
    }
    snprintf(check_buf, sizeof check_buf, "%s",
             checks ? checks : prompt ? "blocklist,aegis" : "video_content_filter,face_blur");
    struct cosmos_guardrail_params gp = cosmos_guardrail_params_default();
    CHECK(split_checks(check_buf, gp.checks, &gp.n_checks));
    for (int i = 0; i < gp.n_checks; i++)
        CHECK_ARG(!(prompt ? is_video_check(gp.checks[i]) : is_text_check(gp.checks[i])), COSMOS_ERR_INVALID_ARG,
                  "guardrail: check '%s' does not look at %s (prompt checks: blocklist, aegis; video checks: "
                  "video_content_filter, face_blur)",
                  gp.checks[i], prompt ? "a prompt" : "frames");
    gp.blocklist_dir = guard_dir;
    gp.aegis_weights = aegis;
    gp.content_filter_weights = content;
    gp.face_blur_weights = face;
    if (aegis || ((content || face) && strcmp(common.backend, "cpu") != 0)) { /* Aegis, SigLIP, RetinaFace */
        struct cosmos_backend_params bp = cosmos_backend_params_default();
        bp.n_threads = common.threads;
        CHECK(cosmos_backend_create(common.backend, &bp, &be));
        gp.backend = be;
    }
    CHECK(cosmos_guardrail_load(&gp, &g)); /* a check without its file: INVALID_ARG naming it */

    struct cosmos_guardrail_verdict v;
    if (prompt) {
        CHECK(cosmos_guardrail_check_text(g, prompt, &v));
    } else {
        CHECK(cosmos_media_decode(input, 0, &frames));
        CHECK(cosmos_guardrail_check_video(g, frames.rgb, frames.T, frames.H, frames.W, &v));
        if (v.safe) CHECK(cosmos_guardrail_filter_video(g, frames.rgb, frames.T, frames.H, frames.W));
        if (v.safe && output) {
            struct cosmos_media_encode_params ep = cosmos_media_encode_params_default();
            CHECK(cosmos_media_encode(output, &frames, &ep));
        }
    }
    if (v.safe)
        printf("safe\n");
    else
        printf("unsafe %s: %s\n", v.check, v.reason);
    fflush(stdout);
    if (json_out) {
        js = json_pack("{s:s, s:s, s:b, s:i}", prompt ? "prompt" : "input", prompt ? prompt : input, "kind",
                       prompt ? "prompt" : "video", "safe", v.safe, "checks_run", v.n_checks_run);
        CHECK_ALLOC(js);
        if (!v.safe) {
            json_object_set_new(js, "check", json_string(v.check));
            json_object_set_new(js, "reason", json_string(v.reason));
        }
        if (!prompt) json_object_set_new(js, "frames", json_integer(frames.T));
        if (v.safe && output) json_object_set_new(js, "output", json_string(output));
        CHECK(cosmos_json_write(js, json_out, JSON_INDENT(2)));
    }
    if (!v.safe) st = COSMOS_ERR_BLOCKED;
fail:
    json_decref(js);
    cosmos_frames_free(&frames);
    cosmos_guardrail_free(g);
    cosmos_backend_free(be);
    return st;
}
