/* Text guardrail, blocklist check (spec components.md 5.2): better_profanity-style censoring
 * (whole words, leetspeak, case, multi-word entries), whitelist restore, rule lemmatizer, exact-match
 * entries with difflib's ratio rule, ASCII folding, empty prompts, word-list loading errors, and the
 * runner's video hooks. Expected verdicts of the censor and exact-match passes were cross-checked
 * with better_profanity 0.7.0 and difflib (docs/guardrail.md). Lists live in $COSMOS_TEST_TMP. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/guardrail/guardrail.h"
#include "core/guardrail/lemmatize.h"
#include "core/guardrail/seqmatch.h"
#include "cosmos_build_config.h"
#include "log_capture.h"

static const char *tmp_root(void) {
    const char *t = getenv("COSMOS_TEST_TMP");
    return t ? t : "/tmp";
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Fresh folder $COSMOS_TEST_TMP/guardrail/<name>; returns its path (static buffer per call site). */
static void make_dir(char *out, size_t size, const char *name) {
    char base[512];
    snprintf(base, sizeof base, "%s/guardrail", tmp_root());
    mkdir(base, 0755);
    snprintf(out, size, "%s/%s", base, name);
    mkdir(out, 0755);
}

/* Flat layout with the three lists (NULL: file not written). */
static void write_lists(char *dir, size_t size, const char *name, const char *block, const char *white,
                        const char *exact) {
    char path[1200];
    make_dir(dir, size, name);
    const char *files[3] = {"blocklist.txt", "whitelist.txt", "exact_match.txt"};
    const char *text[3] = {block, white, exact};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        remove(path);
        if (text[k]) write_file(path, text[k]);
    }
}

static cosmos_guardrail_t *load_dir(const char *dir) {
    struct cosmos_guardrail_params p = cosmos_guardrail_params_default();
    p.blocklist_dir = dir;
    cosmos_guardrail_t *g = NULL;
    cosmos_status st = cosmos_guardrail_load(&p, &g);
    cr_assert_eq(st, COSMOS_OK, "loading %s: %s", dir, cosmos_status_str(st));
    return g;
}

static cosmos_guardrail_t *load_lists(const char *name, const char *block, const char *white, const char *exact) {
    char dir[1024];
    write_lists(dir, sizeof dir, name, block, white, exact);
    return load_dir(dir);
}

static cosmos_guardrail_t *load_shipped(void) { return load_dir(COSMOS_SOURCE_DIR "/configs/guardrail"); }

static struct cosmos_guardrail_verdict check(const cosmos_guardrail_t *g, const char *prompt) {
    struct cosmos_guardrail_verdict v;
    cr_assert_eq(cosmos_guardrail_check_text(g, prompt, &v), COSMOS_OK, "check_text(\"%s\")", prompt);
    return v;
}

static void expect_safe(const cosmos_guardrail_t *g, const char *prompt) {
    struct cosmos_guardrail_verdict v = check(g, prompt);
    cr_expect(v.safe, "\"%s\" should be safe, blocked by %s: %s", prompt, v.check, v.reason);
    cr_expect_str_empty(v.check);
}

/* Blocked by the blocklist; reason must contain `why` when given. */
static void expect_unsafe(const cosmos_guardrail_t *g, const char *prompt, const char *why) {
    struct cosmos_guardrail_verdict v = check(g, prompt);
    cr_expect(!v.safe, "\"%s\" should be blocked", prompt);
    if (v.safe) return;
    cr_expect_str_eq(v.check, "blocklist");
    if (why) cr_expect(strstr(v.reason, why) != NULL, "\"%s\": reason \"%s\" lacks \"%s\"", prompt, v.reason, why);
}

/* ---- shipped lists ----------------------------------------------------------------------------- */

Test(guardrail, shipped_lists) {
    cosmos_guardrail_t *g = load_shipped();
    cr_expect_eq(cosmos_guardrail_n_checks(g), 1);
    cr_expect_str_eq(cosmos_guardrail_check_name(g, 0), "blocklist");
    struct cosmos_guardrail_verdict v = check(g, "A robot arm stacks red blocks on a wooden table, morning light.");
    cr_expect(v.safe && v.n_checks_run == 1);
    expect_unsafe(g, "a bomb goes off in the city", "entry 'bomb'");
    expect_unsafe(g, "the knight beheads the dragon", "behead");
    expect_unsafe(g, "news footage of a mass shooting", "exact-match entry 'mass shooting'");
    /* whitelist demo: "malm" spells "maim" (i written as l) and is restored */
    expect_safe(g, "a field of malm soil");
    expect_unsafe(g, "the trap could maim a deer", "entry 'maim'");
    cosmos_guardrail_free(g);
}

/* ---- censor pass ------------------------------------------------------------------------------- */

Test(guardrail, whole_words_only) {
    cosmos_guardrail_t *g = load_lists("words", "bomb\nmassacre\n", "", "");
    expect_safe(g, "a bombastic speech about Bombay");
    expect_safe(g, "photobomb: the dog jumps into the picture");
    expect_safe(g, "4 cats at 3 o'clock, $5 each @ the market");
    expect_unsafe(g, "bomb", "'bomb' matches blocklist entry 'bomb'");
    expect_unsafe(g, "drop the bomb.", "entry 'bomb'");
    expect_unsafe(g, "(bomb)", NULL);
    cosmos_guardrail_free(g);
}

Test(guardrail, leetspeak_and_case) {
    cosmos_guardrail_t *g = load_lists("leet", "bomb\nmassacre\nbehead\nmaim\nstab\nlust\n", "", "");
    expect_unsafe(g, "a b0mb here", "'b0mb' matches blocklist entry 'bomb'");
    expect_unsafe(g, "B*MB", "entry 'bomb'");
    expect_unsafe(g, "the b@mb", NULL);
    expect_unsafe(g, "m4$$acr3 at dawn", "entry 'massacre'");
    expect_unsafe(g, "B3HEAD the statue", "entry 'behead'");
    expect_unsafe(g, "m@1m", "entry 'maim'");
    expect_unsafe(g, "$7ab", "entry 'stab'");
    expect_unsafe(g, "1vst", "entry 'lust'");
    expect_unsafe(g, "BOMB", NULL);
    expect_unsafe(g, "Massacre", NULL);
    /* substitutions only go one way: the entry's letter accepts the variant, not the reverse */
    expect_safe(g, "b0m8");
    expect_safe(g, "bomp");
    cosmos_guardrail_free(g);
}

Test(guardrail, multi_word_entries) {
    /* "blow up" needs its separator; "killswitch" is matched by words joined without one */
    cosmos_guardrail_t *g = load_lists("multi", "blow up\nkillswitch\nx y z\n", "", "");
    expect_unsafe(g, "they blow up the bridge", "'blow up' matches blocklist entry 'blow up'");
    expect_unsafe(g, "BL0W UP", NULL);
    expect_safe(g, "blowup");
    expect_safe(g, "blow-up");
    /* two spaces differ from the entry's one (better_profanity), but the lemmatized prompt is
     * re-joined with single spaces, so the second pass blocks it, as the official one does */
    expect_unsafe(g, "blow  up", "lemmatized 'blow up'");
    expect_unsafe(g, "pull the kill switch now", "'kill switch' matches blocklist entry 'killswitch'");
    expect_unsafe(g, "kill-switch", NULL);
    expect_unsafe(g, "the killswitch", NULL);
    /* two separators: up to two following words are joined */
    expect_unsafe(g, "w x y z w", "entry 'x y z'");
    expect_safe(g, "x y w z");
    /* better_profanity quirk kept for parity: a one-character word that ends the text is never
     * joined to the words before it */
    expect_safe(g, "x y z");
    expect_unsafe(g, "x y z.", NULL);
    cosmos_guardrail_free(g);
}

Test(guardrail, whitelist) {
    /* with the whitelist, the leetspeak twin "malm" is restored; without it, it is blocked */
    cosmos_guardrail_t *g = load_lists("white", "maim\nbomb\nshell\n", "malm\nBOMB\n", "");
    expect_safe(g, "malm soil");
    expect_safe(g, "Malm, soil");
    expect_unsafe(g, "maim", NULL);
    expect_safe(g, "a bomb"); /* a whitelisted entry is dropped from the blocklist... */
    expect_safe(g, "a b0mb"); /* ...so its leetspeak forms pass too (restore alone would not do that) */
    expect_unsafe(g, "a sea shell", "entry 'shell'");
    cosmos_guardrail_free(g);
    g = load_lists("nowhite", "maim\n", "", "");
    expect_unsafe(g, "malm soil", "'malm' matches blocklist entry 'maim'");
    cosmos_guardrail_free(g);
}

Test(guardrail, comments_and_blank_lines) {
    cosmos_guardrail_t *g =
        load_lists("comments", "# tnt is only a comment\n\n   \n  bomb  \n#\n", "", "\n#tnt crate\n");
    expect_safe(g, "tnt");
    expect_safe(g, "#tnt crate!"); /* would be an exact (near) match if the '#' line were an entry */
    expect_unsafe(g, "bomb", NULL);
    cosmos_guardrail_free(g);
}

/* ---- lemmatized pass --------------------------------------------------------------------------- */

Test(guardrail, inflected_forms) {
    cosmos_guardrail_t *g = load_lists("lemma", "bomb\nmassacre\nbehead\nstab\nknife\nchild\nblow up\n", "", "");
    const char *blocked[] = {"bombs",   "bombed",      "bombing",  "massacres", "massacred", "massacring",
                             "beheads", "beheading",   "stabbing", "stabbed",   "knives",    "children",
                             "b0mbs",   "the bomb's",  "Bombs!",   "blows up"};
    for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++)
        expect_unsafe(g, blocked[i], "lemmatized");
    expect_safe(g, "bombastic");
    expect_safe(g, "bombings are not a lemma of a listed word here, bombers neither");
    cosmos_guardrail_free(g);
}

static int known_words(const char *w, size_t n, const void *user) {
    for (const char *const *k = user; *k; k++)
        if (strlen(*k) == n && memcmp(*k, w, n) == 0) return 1;
    return 0;
}

Test(guardrail, lemmatizer_rules) {
    static const char *known[] = {"bomb", "blast", "massacre", "child", "shoot", "stab", "die", "knife", "body", NULL};
    char *out = NULL;
    cr_assert_eq(cosmos_lemmatize_text("The bombs' blasts, massacring! Children shot; stabbing knives dying bodies.",
                                       known_words, known, &out),
                 COSMOS_OK);
    cr_expect_str_eq(out, "The bomb ' blast , massacre ! child shoot ; stab knife die body .");
    free(out);
    /* unknown forms stay as written; clitics, $ and : split like word_tokenize; 1,000 stays */
    cr_assert_eq(cosmos_lemmatize_text("Cats don't sing; it's $5 a:b 1,000", known_words, known, &out), COSMOS_OK);
    cr_expect_str_eq(out, "Cats do n't sing ; it 's $ 5 a : b 1,000");
    free(out);
    cr_assert_eq(cosmos_lemmatize_text("'bombs' \"bombs\" (bombs)", known_words, known, &out), COSMOS_OK);
    cr_expect_str_eq(out, "' bomb ' \" bomb \" ( bomb )");
    free(out);
    cr_assert_eq(cosmos_lemmatize_text(" \t ", known_words, known, &out), COSMOS_OK);
    cr_expect_str_eq(out, "");
    free(out);
    /* a known word is never reduced further: "news" stays, although -s would give a known "new" */
    static const char *news[] = {"news", "new", NULL};
    cr_assert_eq(cosmos_lemmatize_text("news", known_words, news, &out), COSMOS_OK);
    cr_expect_str_eq(out, "news");
    free(out);
    char lemma[COSMOS_LEMMA_OUT_SIZE(8)];
    cosmos_lemmatize_token("Bombings", 8, known_words, known, lemma);
    cr_expect_str_eq(lemma, "Bombings", "no rule strips two suffixes");
}

/* ---- exact-match entries ----------------------------------------------------------------------- */

Test(guardrail, exact_match_whole_words) {
    cosmos_guardrail_t *g = load_lists("exact", "", "", "mass shooting\nTNT\n");
    expect_unsafe(g, "Footage of a MASS   Shooting.", "exact-match entry 'mass shooting'");
    expect_unsafe(g, "tnt", "exact-match entry 'tnt'");
    expect_unsafe(g, "a tnt-crate", "exact-match entry 'tnt'");
    expect_safe(g, "tnts"); /* 3 characters: whole word only, no near match */
    expect_safe(g, "stnt");
    expect_safe(g, "a mass of people shooting hoops");
    cosmos_guardrail_free(g);
}

Test(guardrail, exact_match_near_ratio) {
    /* "mass shooting" (13 chars) needs ratio >= 12.5/13 = 0.9615: one extra character passes
     * (26/27 = 0.963), one missing or changed character does not (24/25, 24/26) */
    cosmos_guardrail_t *g = load_lists("near", "", "", "mass shooting\n");
    expect_unsafe(g, "the mass shootings", "nearly matches exact-match entry 'mass shooting'");
    expect_unsafe(g, "amass shooting", "ratio 0.963");
    expect_safe(g, "mass shoting");
    expect_safe(g, "mass shootinq");
    expect_safe(g, "mass shootingss");
    expect_safe(g, "mass-shootings"); /* one word: the window has two */
    cosmos_guardrail_free(g);
}

Test(guardrail, seqmatch_ratio) {
    double r;
    cr_assert_eq(cosmos_seqmatch_ratio("abcd", 4, "bcde", 4, &r), COSMOS_OK);
    cr_expect_float_eq(r, 0.75, 1e-12);
    cosmos_seqmatch_ratio("mass shootings", 14, "mass shooting", 13, &r);
    cr_expect_float_eq(r, 26.0 / 27.0, 1e-12);
    /* Ratcliff/Obershelp, not the longest common subsequence (which would give 2/3) */
    cosmos_seqmatch_ratio("bcb", 3, "cab", 3, &r);
    cr_expect_float_eq(r, 1.0 / 3.0, 1e-12);
    cosmos_seqmatch_ratio("", 0, "", 0, &r);
    cr_expect_float_eq(r, 1.0, 0.0);
    cosmos_seqmatch_ratio("abc", 3, "", 0, &r);
    cr_expect_float_eq(r, 0.0, 0.0);
    /* autojunk: b of >= 200 bytes, 'a' popular -> only the extension from the empty match
     * counts: 10 matches, 20/210 (difflib gives 0.0952...) */
    char a[10], b[200];
    memset(a, 'a', sizeof a);
    memset(b, 'a', sizeof b);
    cosmos_seqmatch_ratio(a, sizeof a, b, sizeof b, &r);
    cr_expect_float_eq(r, 20.0 / 210.0, 1e-12);
    cosmos_seqmatch_ratio(a, sizeof a, b, 199, &r); /* below 200: no autojunk, 20/209 */
    cr_expect_float_eq(r, 20.0 / 209.0, 1e-12);
    /* no extension possible from the start: nothing matches with autojunk, 3 bytes without */
    cosmos_seqmatch_ratio("xaaay", 5, b, 200, &r);
    cr_expect_float_eq(r, 0.0, 0.0);
    cosmos_seqmatch_ratio("xaaay", 5, b, 199, &r);
    cr_expect_float_eq(r, 6.0 / 204.0, 1e-12);
}

/* ---- input normalisation ----------------------------------------------------------------------- */

Test(guardrail, non_ascii_folding) {
    cosmos_guardrail_t *g = load_lists("ascii", "bomb\nmass murder\n", "", "mass shooting\n");
    /* curly quotes fold to spaces, so the word is "bomb" */
    expect_unsafe(g, "\xe2\x80\x9c" "bomb" "\xe2\x80\x9d", "entry 'bomb'");
    /* a run of non-ASCII (two 2-byte characters) is one space: the entry's single separator */
    struct cosmos_guardrail_verdict v = check(g, "mass\xc2\xa0\xc2\xa0murder");
    cr_expect(!v.safe && strncmp(v.reason, "'mass murder' matches", 21) == 0, "first pass should block: %s",
              v.reason);
    expect_unsafe(g, "mass\xe3\x80\x80shooting", "exact-match");
    expect_safe(g, "b\xc3\xb6mb");
    expect_safe(g, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"); /* only non-ASCII: not the empty rule */
    cosmos_guardrail_free(g);
}

Test(guardrail, empty_prompt) {
    cosmos_guardrail_t *g = load_lists("empty", "bomb\n", "", "");
    struct cosmos_guardrail_verdict v = check(g, "");
    cr_expect(!v.safe);
    cr_expect_str_eq(v.check, "blocklist");
    cr_expect(strstr(v.reason, "empty") != NULL, "reason: %s", v.reason);
    v = check(g, " \t\n ");
    cr_expect(!v.safe, "whitespace-only prompt must be blocked");
    expect_safe(g, "a");
    cosmos_guardrail_free(g);
}

/* ---- loading ----------------------------------------------------------------------------------- */

static cosmos_status try_load(const char *dir, const char *expect_in_log) {
    struct cosmos_guardrail_params p = cosmos_guardrail_params_default();
    p.blocklist_dir = dir;
    cosmos_guardrail_t *sentinel = (cosmos_guardrail_t *)&p, *g = sentinel; /* must become NULL on failure */
    log_capture_start();
    cosmos_status st = cosmos_guardrail_load(&p, &g);
    log_capture_stop();
    cr_expect_null(g);
    if (g == sentinel) g = NULL;
    if (expect_in_log)
        cr_expect(strstr(log_captured(), expect_in_log) != NULL, "log lacks \"%s\":\n%s", expect_in_log,
                  log_captured());
    cosmos_guardrail_free(g);
    return st;
}

Test(guardrail, load_errors) {
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/guardrail/does-not-exist", tmp_root());
    cr_expect_eq(try_load(dir, "does-not-exist"), COSMOS_ERR_IO);
    cr_expect_eq(try_load(NULL, "--guardrail-dir"), COSMOS_ERR_INVALID_ARG);

    write_lists(dir, sizeof dir, "no-exact", "bomb\n", "", NULL);
    cr_expect_eq(try_load(dir, "exact_match.txt"), COSMOS_ERR_IO);

    write_lists(dir, sizeof dir, "dir-as-file", NULL, "", "");
    snprintf(path, sizeof path, "%s/blocklist.txt", dir);
    mkdir(path, 0755);
    cr_expect_eq(try_load(dir, "not a regular file"), COSMOS_ERR_IO);

    char *long_list = malloc(3000);
    memset(long_list, 'x', 3000);
    memcpy(long_list, "bomb\n# ok\n", 10);
    long_list[2999] = '\0';
    write_lists(dir, sizeof dir, "long-line", long_list, "", "");
    free(long_list);
    cr_expect_eq(try_load(dir, "blocklist.txt:3: line longer than 1024 bytes"), COSMOS_ERR_FORMAT);

    /* exactly 1024 bytes is fine, with or without the final newline */
    char *edge = malloc(1026);
    memset(edge, 'y', 1024);
    strcpy(edge + 1024, "\n");
    write_lists(dir, sizeof dir, "edge-line", edge, "", edge);
    memset(edge, 'z', 1024);
    edge[1024] = '\0';
    snprintf(path, sizeof path, "%s/whitelist.txt", dir);
    write_file(path, edge);
    free(edge);
    cosmos_guardrail_free(load_dir(dir));
}

Test(guardrail, check_names) {
    struct cosmos_guardrail_params p = cosmos_guardrail_params_default();
    p.blocklist_dir = COSMOS_SOURCE_DIR "/configs/guardrail";
    cosmos_guardrail_t *g = NULL;
    log_capture_start();
    p.checks[0] = "aegis";
    cr_expect_eq(cosmos_guardrail_load(&p, &g), COSMOS_ERR_INVALID_ARG);
    cr_expect(strstr(log_captured(), "aegis_weights") != NULL, "%s", log_captured());
    p.checks[0] = "blocklst";
    cr_expect_eq(cosmos_guardrail_load(&p, &g), COSMOS_ERR_INVALID_ARG);
    cr_expect(strstr(log_captured(), "unknown check 'blocklst'") != NULL, "%s", log_captured());
    p.n_checks = 0;
    cr_expect_eq(cosmos_guardrail_load(&p, &g), COSMOS_ERR_INVALID_ARG);
    /* a check that cannot be made after a good one (a model check without its weights): the good
     * one is freed, nothing leaks out */
    p.checks[0] = "blocklist", p.checks[1] = "aegis", p.n_checks = 2;
    cr_expect_eq(cosmos_guardrail_load(&p, &g), COSMOS_ERR_INVALID_ARG);
    cr_expect_null(g);
    p.checks[1] = "face_blur";
    cr_expect_eq(cosmos_guardrail_load(&p, &g), COSMOS_ERR_INVALID_ARG);
    cr_expect(strstr(log_captured(), "face_blur_weights") != NULL, "%s", log_captured());
    cr_expect_null(g);
    p.checks[1] = "video_content_filter";
    cr_expect_eq(cosmos_guardrail_load(&p, &g), COSMOS_ERR_INVALID_ARG);
    cr_expect(strstr(log_captured(), "content_filter_weights") != NULL, "%s", log_captured());
    log_capture_stop();
    cr_expect_null(g);
}

Test(guardrail, checkpoint_layout) {
    char dir[1024], sub[1200], path[1300];
    make_dir(dir, sizeof dir, "checkpoint");
    const char *subs[3] = {"custom", "whitelist", "exact_match"};
    for (int k = 0; k < 3; k++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, subs[k]);
        mkdir(sub, 0755);
    }
    snprintf(path, sizeof path, "%s/custom/a.txt", dir);
    write_file(path, "bomb\n");
    snprintf(path, sizeof path, "%s/custom/b", dir);
    write_file(path, "maim\n");
    snprintf(path, sizeof path, "%s/whitelist/w.txt", dir);
    write_file(path, "malm\n");
    snprintf(path, sizeof path, "%s/exact_match/e.txt", dir);
    write_file(path, "mass shooting\n");
    cosmos_guardrail_t *g = load_dir(dir);
    expect_unsafe(g, "bomb", NULL);
    expect_unsafe(g, "maim", NULL);
    expect_safe(g, "malm");
    expect_unsafe(g, "mass shooting", "exact-match");
    cosmos_guardrail_free(g);
    snprintf(sub, sizeof sub, "%s/exact_match/e.txt", dir);
    remove(sub);
    snprintf(sub, sizeof sub, "%s/exact_match", dir);
    rmdir(sub);
    cr_expect_eq(try_load(dir, "no exact_match/ folder"), COSMOS_ERR_IO);
}

/* ---- runner hooks ------------------------------------------------------------------------------ */

Test(guardrail, video_hooks_skip_blocklist) {
    cosmos_guardrail_t *g = load_shipped();
    uint8_t frames[2 * 4 * 4 * 3];
    for (size_t i = 0; i < sizeof frames; i++) frames[i] = (uint8_t)(i * 7);
    struct cosmos_guardrail_verdict v;
    v.safe = 0, v.n_checks_run = 99;
    cr_expect_eq(cosmos_guardrail_check_video(g, frames, 2, 4, 4, &v), COSMOS_OK);
    cr_expect(v.safe);
    cr_expect_eq(v.n_checks_run, 0, "the blocklist has no video hook");
    cr_expect_eq(cosmos_guardrail_filter_video(g, frames, 2, 4, 4), COSMOS_OK);
    for (size_t i = 0; i < sizeof frames; i++) cr_assert_eq(frames[i], (uint8_t)(i * 7), "frame byte %zu changed", i);
    log_capture_start();
    cr_expect_eq(cosmos_guardrail_check_video(g, frames, 0, 4, 4, &v), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_guardrail_check_text(g, NULL, &v), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    cosmos_guardrail_free(g);
    cosmos_guardrail_free(NULL);
}
