/* Pipeline bookkeeping without models (issue 7): rank layouts (defaults, files, rejections), batch
 * manifests (keys, bad lines, names that could escape the output directory, duplicates, stable
 * hashed names) and model-directory manifests. Files are written under $COSMOS_TEST_TMP. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/pipeline/layout.h"
#include "cosmos_build_config.h"
#include "core/pipeline/manifest.h"
#include "core/pipeline/model_dir.h"

static char *tmp_path(const char *name) {
    static char buf[4][1024];
    static int k;
    const char *dir = getenv("COSMOS_TEST_TMP");
    char *p = buf[k++ % 4];
    snprintf(p, 1024, "%s/pipeline-%s", dir ? dir : "/tmp", name);
    return p;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void quiet(void) { cosmos_log_set_level((enum cosmos_log_level)-1); }

Test(layout, defaults_by_world_size) {
    struct cosmos_layout l;
    cr_assert_eq(cosmos_layout_default(1, 0, 0, &l), COSMOS_OK);
    cr_assert(l.tp == 1 && l.pp == 1 && l.ar_ranks[0] == 0 && l.t5 == 0 && l.tokenizer == 0 && l.decoder == 0);
    cr_assert_eq(cosmos_layout_default(2, 0, 0, &l), COSMOS_OK);
    cr_assert(l.tp == 1 && l.t5 == 1 && l.guardrail == 1 && l.tokenizer == 1 && l.decoder == 1);
    cr_assert_eq(cosmos_layout_default(4, 0, 0, &l), COSMOS_OK);
    cr_assert(l.tp == 2 && l.ar_ranks[1] == 1 && l.t5 == 2 && l.guardrail == 2 && l.tokenizer == 3 && l.decoder == 3);
    cr_assert_eq(cosmos_layout_default(8, 0, 0, &l), COSMOS_OK);
    cr_assert(l.tp == 4 && l.t5 == 4 && l.tokenizer == 5 && l.decoder == 6);
    cr_assert(!cosmos_layout_has_role(&l, 7, COSMOS_ROLE_AR) && !cosmos_layout_has_role(&l, 7, COSMOS_ROLE_DECODER));
    cr_assert(cosmos_layout_has_role(&l, 7, COSMOS_ROLE_DECODER_CFG) && l.decoder == 6, "8 ranks: decoder 6, CFG half 7");
    cr_assert(l.video_guardrail == 6 && cosmos_layout_has_role(&l, 6, COSMOS_ROLE_VIDEO_GUARDRAIL),
              "8 ranks: the video guardrail on the decoder rank");
    /* 5 ranks beyond the transformer's: the video guardrail gets the 5th */
    cr_assert_eq(cosmos_layout_default(7, 2, 1, &l), COSMOS_OK);
    cr_assert(l.t5 == 2 && l.tokenizer == 3 && l.decoder == 4 && l.decoder_cfg == 5 && l.video_guardrail == 6);
    {
        char b6[2048];
        cosmos_layout_describe(&l, b6, sizeof b6);
        cr_assert(strstr(b6, "rank 6: video-guardrail\n") != NULL && strstr(b6, "rank 4: decoder\n") != NULL, "%s", b6);
    }
    cr_assert_eq(cosmos_layout_default(3, 0, 0, &l), COSMOS_OK);
    cr_assert(l.decoder == 2 && l.video_guardrail == 2);
    /* explicit tp/pp: ar first, the rest after */
    cr_assert_eq(cosmos_layout_default(4, 2, 2, &l), COSMOS_OK);
    cr_assert(l.tp == 2 && l.pp == 2 && l.t5 == 0 && l.decoder == 0);
    cr_assert_eq(cosmos_layout_default(4, 1, 2, &l), COSMOS_OK);
    cr_assert(l.pp == 2 && l.t5 == 2 && l.tokenizer == 3);
    cr_assert_eq(cosmos_layout_ar_index(&l, 1), 1);
    cr_assert_eq(cosmos_layout_ar_index(&l, 3), -1);
    char buf[2048];
    cosmos_layout_describe(&l, buf, sizeof buf);
    cr_assert(strstr(buf, "rank 1: ar(stage 1, tp 0)") != NULL, "%s", buf);
    cr_assert(strstr(buf, "rank 3: tokenizer decoder") != NULL, "%s", buf);
}

Test(layout, impossible_requests_rejected) {
    quiet();
    struct cosmos_layout l;
    cr_assert_eq(cosmos_layout_default(2, 2, 2, &l), COSMOS_ERR_INVALID_ARG);
    cr_assert_eq(cosmos_layout_default(0, 0, 0, &l), COSMOS_ERR_INVALID_ARG);
}

Test(layout, file) {
    quiet();
    struct cosmos_layout l;
    const char *p = tmp_path("layout.json");
    write_file(p, "{\"name\": \"x\", \"ranks\": 4, \"ar\": {\"ranks\": [2, 3], \"tp\": 2},"
                  " \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0}");
    cr_assert_eq(cosmos_layout_load(p, 4, &l), COSMOS_OK);
    cr_assert(l.tp == 2 && l.pp == 1 && l.ar_ranks[0] == 2 && l.ar_ranks[1] == 3 && l.decoder == 1);
    cr_assert(cosmos_layout_has_role(&l, 3, COSMOS_ROLE_AR) && cosmos_layout_has_role(&l, 0, COSMOS_ROLE_T5));
    cr_assert_eq(l.decoder_cfg, -1, "no decoder_cfg key: none");
    cr_assert_eq(l.video_guardrail, 1, "no video_guardrail key: the decoder rank");
    /* the video guardrail on a rank of its own, or sharing one without ar / decoder_cfg roles */
    write_file(p, "{\"name\": \"x\", \"ranks\": 4, \"ar\": {\"ranks\": [2], \"tp\": 1},"
                  " \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0, \"video_guardrail\": 3}");
    cr_assert_eq(cosmos_layout_load(p, 4, &l), COSMOS_OK);
    cr_assert(cosmos_layout_has_role(&l, 3, COSMOS_ROLE_VIDEO_GUARDRAIL) &&
              !cosmos_layout_has_role(&l, 1, COSMOS_ROLE_VIDEO_GUARDRAIL));
    write_file(p, "{\"name\": \"x\", \"ranks\": 4, \"ar\": {\"ranks\": [2], \"tp\": 1},"
                  " \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0, \"video_guardrail\": 0}");
    cr_assert_eq(cosmos_layout_load(p, 4, &l), COSMOS_OK);
    cr_assert_eq(cosmos_layout_load(p, 2, &l), COSMOS_ERR_INVALID_ARG, "world size differs from the file's");
    write_file(p, "{\"name\": \"x\", \"ranks\": 4, \"ar\": {\"ranks\": [2], \"tp\": 1},"
                  " \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0, \"decoder_cfg\": 3}");
    cr_assert_eq(cosmos_layout_load(p, 4, &l), COSMOS_OK);
    cr_assert(l.decoder_cfg == 3 && cosmos_layout_has_role(&l, 3, COSMOS_ROLE_DECODER_CFG) &&
              !cosmos_layout_has_role(&l, 1, COSMOS_ROLE_DECODER_CFG));
    const char *bad[] = {
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2, 2], \"tp\": 2}, \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0}",
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2], \"tp\": 2}, \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0}",
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2, 3], \"tp\": 2}, \"t5\": 7, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0}",
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2, 3], \"tp\": 2}, \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1}",
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2, 3], \"tp\": 2}, \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0, \"vae\": 1}",
        /* decoder_cfg: a rank of its own, inside the job */
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2, 3], \"tp\": 2}, \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0, \"decoder_cfg\": 1}",
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2, 3], \"tp\": 2}, \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0, \"decoder_cfg\": 3}",
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2, 3], \"tp\": 2}, \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0, \"decoder_cfg\": 4}",
        /* video_guardrail: inside the job, not on an ar or decoder_cfg rank unless it is the decoder's */
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2, 3], \"tp\": 2}, \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0, \"video_guardrail\": 4}",
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2, 3], \"tp\": 2}, \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0, \"video_guardrail\": 3}",
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2], \"tp\": 1}, \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0, \"decoder_cfg\": 3, \"video_guardrail\": 3}",
        "{\"ranks\": 4, \"ar\": {\"ranks\": [2, 3], \"tp\": 2}, \"t5\": 0, \"tokenizer\": 1, \"decoder\": 1, \"guardrail\": 0, \"video_guardrail\": \"x\"}",
        "[1, 2]",
        "{\"ranks\": 4,",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(p, bad[i]);
        cosmos_status st = cosmos_layout_load(p, 4, &l);
        cr_assert(st == COSMOS_ERR_FORMAT || st == COSMOS_ERR_INVALID_ARG, "bad layout %zu accepted: %s", i, bad[i]);
    }
    cr_assert_neq(cosmos_layout_load(tmp_path("no-such-layout.json"), 4, &l), COSMOS_OK);
}

Test(manifest, names) {
    cr_assert(cosmos_manifest_name_ok("clip_01.a-b"));
    cr_assert(!cosmos_manifest_name_ok("../evil"));
    cr_assert(!cosmos_manifest_name_ok("a/b"));
    cr_assert(!cosmos_manifest_name_ok(".hidden"));
    cr_assert(!cosmos_manifest_name_ok("-rf"));
    cr_assert(!cosmos_manifest_name_ok(""));
    cr_assert(!cosmos_manifest_name_ok("sp ace"));
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_assert(!cosmos_manifest_name_ok(longname));
}

Test(manifest, lines) {
    quiet();
    const char *p = tmp_path("manifest.jsonl");
    write_file(p, "{\"input\": \"a.mp4\", \"prompt\": \"a robot\", \"seed\": 3, \"name\": \"first\"}\n"
                  "\n"
                  "# a comment\n"
                  "{\"visual_input\": \"b.png\", \"prompt\": \"x\"}\n"
                  "not json\n"
                  "{\"input\": \"c.mp4\", \"name\": \"../../etc/passwd\"}\n"
                  "{\"input\": \"d.mp4\", \"name\": \"first\"}\n"
                  "{\"prompt\": \"no input\"}\n"
                  "{\"input\": \"e.mp4\", \"seed\": -1}\n"
                  "{\"input\": \"f.mp4\", \"num_input_frames\": 5}\n"
                  "{\"input\": \"g.mp4\", \"colour\": \"red\"}\n"
                  "{\"input\": \"b.png\", \"prompt\": \"x\", \"num_input_frames\": 1}\n");
    struct cosmos_manifest_defaults d = {7, 9, "settings"};
    struct cosmos_manifest_item *it = NULL;
    int n = 0;
    cr_assert_eq(cosmos_manifest_load(p, &d, &it, &n), COSMOS_OK);
    cr_assert_eq(n, 10);
    cr_assert_eq(it[0].status, COSMOS_OK);
    cr_assert_str_eq(it[0].name, "first");
    cr_assert_eq(it[0].seed, 3);
    cr_assert_eq(it[0].line, 1);
    cr_assert_eq(it[1].status, COSMOS_OK, "visual_input accepted");
    cr_assert_str_eq(it[1].input, "b.png");
    cr_assert_eq(it[1].seed, 7, "default seed");
    cr_assert_eq(it[1].num_input_frames, 9);
    cr_assert(strncmp(it[1].name, "clip-", 5) == 0 && strlen(it[1].name) == 21, "%s", it[1].name);
    cr_assert_eq(it[1].line, 4);
    for (int i = 2; i <= 8; i++) {
        cr_assert_neq(it[i].status, COSMOS_OK, "line %d should be bad", it[i].line);
        cr_assert(it[i].reason[0] != '\0');
    }
    cr_assert(strstr(it[3].reason, "bad \"name\"") != NULL, "%s", it[3].reason);
    cr_assert(strstr(it[4].reason, "unique") != NULL, "duplicate name: %s", it[4].reason);
    cr_assert(strstr(it[8].reason, "colour") != NULL, "%s", it[8].reason);
    /* the hashed name depends on the settings that change the output */
    cr_assert_eq(it[9].status, COSMOS_OK);
    cr_assert_str_neq(it[9].name, it[1].name, "num_input_frames is part of the hash");
    char name1[128];
    snprintf(name1, sizeof name1, "%s", it[1].name);
    cosmos_manifest_free(it, n);
    /* same settings -> same name on a rerun; other settings -> another name */
    cr_assert_eq(cosmos_manifest_load(p, &d, &it, &n), COSMOS_OK);
    cr_assert_str_eq(it[1].name, name1);
    cosmos_manifest_free(it, n);
    struct cosmos_manifest_defaults d2 = {7, 9, "other settings"};
    cr_assert_eq(cosmos_manifest_load(p, &d2, &it, &n), COSMOS_OK);
    cr_assert_str_neq(it[1].name, name1);
    cosmos_manifest_free(it, n);
}

Test(manifest, num_frames) {
    quiet();
    const char *p = tmp_path("manifest-nf.jsonl");
    write_file(p, "{\"input\": \"b.png\", \"prompt\": \"x\"}\n"
                  "{\"input\": \"b.png\", \"prompt\": \"x\", \"num_frames\": 57}\n"
                  "{\"input\": \"b.png\", \"prompt\": \"x\", \"num_frames\": 0}\n"
                  "{\"input\": \"b.png\", \"prompt\": \"x\", \"num_frames\": \"long\"}\n"
                  "{\"input\": \"b.png\", \"prompt\": \"x\", \"num_frames\": 25, \"name\": \"n25\"}\n");
    struct cosmos_manifest_defaults d = {7, 9, "settings"};
    struct cosmos_manifest_item *it = NULL;
    int n = 0;
    cr_assert_eq(cosmos_manifest_load(p, &d, &it, &n), COSMOS_OK);
    cr_assert_eq(n, 5);
    cr_expect_eq(it[0].status, COSMOS_OK);
    cr_expect_eq(it[0].num_frames, 0, "not given: the run's");
    cr_expect_eq(it[1].status, COSMOS_OK);
    cr_expect_eq(it[1].num_frames, 57);
    cr_expect_str_neq(it[1].name, it[0].name, "a given num_frames is part of the hash");
    for (int i = 2; i <= 3; i++) {
        cr_expect_neq(it[i].status, COSMOS_OK, "line %d", it[i].line);
        cr_expect(strstr(it[i].reason, "num_frames") != NULL, "%s", it[i].reason);
    }
    cr_expect_eq(it[4].num_frames, 25);
    cr_expect_str_eq(it[4].name, "n25");
    cosmos_manifest_free(it, n);
}

/* Seeds: integers in [0, 2^63), and all of [0, 2^64) as strings of digits; a bigger integer (which
 * jansson cannot hold) says to write it as a string. */
Test(manifest, seeds) {
    quiet();
    const char *p = tmp_path("manifest-seeds.jsonl");
    write_file(p, "{\"input\": \"a.png\", \"seed\": 9223372036854775807}\n"
                  "{\"input\": \"a.png\", \"seed\": \"18446744073709551615\"}\n"
                  "{\"input\": \"a.png\", \"seed\": \"42\"}\n"
                  "{\"input\": \"a.png\", \"seed\": 18446744073709551615}\n"
                  "{\"input\": \"a.png\", \"seed\": \"18446744073709551616\"}\n"
                  "{\"input\": \"a.png\", \"seed\": \"-1\"}\n"
                  "{\"input\": \"a.png\", \"seed\": \"12x\"}\n"
                  "{\"input\": \"a.png\", \"seed\": \"\"}\n"
                  "{\"input\": \"a.png\", \"seed\": 1.5}\n");
    struct cosmos_manifest_defaults d = {7, 9, "settings"};
    struct cosmos_manifest_item *it = NULL;
    int n = 0;
    cr_assert_eq(cosmos_manifest_load(p, &d, &it, &n), COSMOS_OK);
    cr_assert_eq(n, 9);
    cr_expect(it[0].status == COSMOS_OK && it[0].seed == 9223372036854775807ull);
    cr_expect(it[1].status == COSMOS_OK && it[1].seed == 18446744073709551615ull);
    cr_expect(it[2].status == COSMOS_OK && it[2].seed == 42);
    cr_expect_neq(it[3].status, COSMOS_OK);
    cr_expect(strstr(it[3].reason, "written as a string") != NULL, "%s", it[3].reason);
    for (int i = 4; i < 9; i++) {
        cr_expect_neq(it[i].status, COSMOS_OK, "line %d", it[i].line);
        cr_expect(strstr(it[i].reason, "\"seed\" must be") != NULL, "line %d: %s", it[i].line, it[i].reason);
    }
    cosmos_manifest_free(it, n);
}

Test(manifest, unusable_files) {
    quiet();
    struct cosmos_manifest_defaults d = {0, 9, ""};
    struct cosmos_manifest_item *it = NULL;
    int n = 0;
    cr_assert_eq(cosmos_manifest_load(tmp_path("missing.jsonl"), &d, &it, &n), COSMOS_ERR_IO);
    const char *p = tmp_path("empty.jsonl");
    write_file(p, "\n# nothing\n\n");
    cr_assert_eq(cosmos_manifest_load(p, &d, &it, &n), COSMOS_ERR_INVALID_ARG);
    cr_assert_null(it);
}

Test(model_dir, manifest) {
    quiet();
    const char *dir = tmp_path("modeldir");
    mkdir(dir, 0777);
    char path[1200];
    struct cosmos_model_dir md;
    snprintf(path, sizeof path, "%s/%s", dir, COSMOS_MODEL_DIR_MANIFEST);
    remove(path); /* from an earlier run */
    cr_assert_eq(cosmos_model_dir_load(dir, &md), COSMOS_ERR_IO, "no manifest");
    snprintf(path, sizeof path, "%s/ar.h5", dir);
    write_file(path, "x");
    snprintf(path, sizeof path, "%s/tok.h5", dir);
    write_file(path, "x");
    cr_assert_eq(cosmos_model_dir_write(dir, &(struct cosmos_model_dir_names){.name = "m", .ar = "ar.h5", .tokenizer = "tok.h5"}), COSMOS_OK);
    cr_assert_eq(cosmos_model_dir_load(dir, &md), COSMOS_OK);
    cr_assert_str_eq(md.name, "m");
    snprintf(path, sizeof path, "%s/ar.h5", dir);
    cr_assert_str_eq(md.ar, path);
    cr_assert_str_eq(md.t5, "");
    cr_assert_eq(cosmos_model_dir_write(dir, &(struct cosmos_model_dir_names){.name = "m", .ar = "ar.h5", .tokenizer = "tok.h5", .t5 = "t5.h5"}), COSMOS_OK);
    cr_assert_eq(cosmos_model_dir_load(dir, &md), COSMOS_ERR_IO, "t5.h5 does not exist");
    snprintf(path, sizeof path, "%s/%s", dir, COSMOS_MODEL_DIR_MANIFEST);
    write_file(path, "{\"format\": \"cosmos-ar-model-dir\", \"format_version\": 2, \"ar\": \"ar.h5\", \"tokenizer\": \"tok.h5\"}");
    cr_assert_eq(cosmos_model_dir_load(dir, &md), COSMOS_ERR_FORMAT, "version 2");
    write_file(path, "{\"format\": \"cosmos-ar-model-dir\", \"format_version\": 1, \"ar\": \"ar.h5\"}");
    cr_assert_eq(cosmos_model_dir_load(dir, &md), COSMOS_ERR_FORMAT, "no tokenizer");
    write_file(path, "{\"format\": \"cosmos-ar-model-dir\", \"format_version\": 1, \"ar\": \"ar.h5\", \"tokenizer\": \"tok.h5\", \"vae\": 1}");
    cr_assert_eq(cosmos_model_dir_load(dir, &md), COSMOS_ERR_FORMAT, "unknown key");
    /* the diffusion decoder: DiT and CV tokenizer together, dd_context only with them */
    snprintf(path, sizeof path, "%s/dd.h5", dir);
    write_file(path, "x");
    snprintf(path, sizeof path, "%s/cv.h5", dir);
    write_file(path, "x");
    snprintf(path, sizeof path, "%s/ddc.h5", dir);
    write_file(path, "x");
    cr_assert_eq(cosmos_model_dir_write(dir, &(struct cosmos_model_dir_names){.name = "m", .ar = "ar.h5",
                                                                              .tokenizer = "tok.h5",
                                                                              .diffusion_decoder = "dd.h5",
                                                                              .cv_tokenizer = "cv.h5",
                                                                              .dd_context = "ddc.h5"}),
                 COSMOS_OK);
    cr_assert_eq(cosmos_model_dir_load(dir, &md), COSMOS_OK);
    snprintf(path, sizeof path, "%s/cv.h5", dir);
    cr_expect_str_eq(md.cv_tokenizer, path);
    snprintf(path, sizeof path, "%s/ddc.h5", dir);
    cr_expect_str_eq(md.dd_context, path);
    cr_assert_eq(cosmos_model_dir_write(dir, &(struct cosmos_model_dir_names){.name = "m", .ar = "ar.h5",
                                                                              .tokenizer = "tok.h5",
                                                                              .diffusion_decoder = "dd.h5"}),
                 COSMOS_OK);
    cr_expect_eq(cosmos_model_dir_load(dir, &md), COSMOS_ERR_FORMAT, "diffusion_decoder without cv_tokenizer");
    cr_assert_eq(cosmos_model_dir_write(dir, &(struct cosmos_model_dir_names){.name = "m", .ar = "ar.h5",
                                                                              .tokenizer = "tok.h5",
                                                                              .dd_context = "ddc.h5"}),
                 COSMOS_OK);
    cr_expect_eq(cosmos_model_dir_load(dir, &md), COSMOS_ERR_FORMAT, "dd_context without a diffusion decoder");
    /* the video guardrail's two files come together; both absent is allowed (the pipeline then
     * needs --disable-guardrail) */
    snprintf(path, sizeof path, "%s/fb.h5", dir);
    write_file(path, "x");
    snprintf(path, sizeof path, "%s/vcf.h5", dir);
    write_file(path, "x");
    cr_assert_eq(cosmos_model_dir_write(dir, &(struct cosmos_model_dir_names){.name = "m", .ar = "ar.h5",
                                                                              .tokenizer = "tok.h5",
                                                                              .face_blur = "fb.h5",
                                                                              .video_content_filter = "vcf.h5"}),
                 COSMOS_OK);
    cr_assert_eq(cosmos_model_dir_load(dir, &md), COSMOS_OK);
    cr_expect_str_eq(md.video_content_filter, path);
    snprintf(path, sizeof path, "%s/fb.h5", dir);
    cr_expect_str_eq(md.face_blur, path);
    cr_assert_eq(cosmos_model_dir_write(dir, &(struct cosmos_model_dir_names){.name = "m", .ar = "ar.h5",
                                                                              .tokenizer = "tok.h5",
                                                                              .face_blur = "fb.h5"}),
                 COSMOS_OK);
    cr_expect_eq(cosmos_model_dir_load(dir, &md), COSMOS_ERR_FORMAT, "face_blur without video_content_filter");
    cr_assert_eq(cosmos_model_dir_write(dir, &(struct cosmos_model_dir_names){.name = "m", .ar = "ar.h5",
                                                                              .tokenizer = "tok.h5",
                                                                              .face_blur = "fb.h5",
                                                                              .video_content_filter = "no.h5"}),
                 COSMOS_OK);
    cr_expect_eq(cosmos_model_dir_load(dir, &md), COSMOS_ERR_IO, "video_content_filter file missing");
}

Test(layout, shipped_layout_files_load) {
    const struct {
        const char *file;
        int ranks, decoder_cfg;
        int video_guardrail;
    } files[] = {{"2-ranks", 2, -1, 1}, {"4-ranks-tp2", 4, -1, 3}, {"8-ranks-tp2-pp2", 8, 7, 6},
                 {"8-ranks-tp4-video-guardrail", 8, -1, 7}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1200];
        struct cosmos_layout l;
        snprintf(path, sizeof path, "%s/configs/layouts/%s.json", COSMOS_SOURCE_DIR, files[i].file);
        cr_assert_eq(cosmos_layout_load(path, files[i].ranks, &l), COSMOS_OK, "%s", path);
        cr_expect_eq(l.decoder_cfg, files[i].decoder_cfg, "%s", path);
        cr_expect_eq(l.video_guardrail, files[i].video_guardrail, "%s", path);
    }
}
