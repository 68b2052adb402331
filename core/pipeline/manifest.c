/* Batch manifest reader (see manifest.h): line by line with getline, each line parsed by jansson;
 * per-line errors are recorded in the item, never fatal. */
#define _POSIX_C_SOURCE 200809L
#include "core/pipeline/manifest.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"

int cosmos_manifest_name_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 100 || name[0] == '.' || name[0] == '-') return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-') return 0;
    return 1;
}

static uint64_t fnv1a(uint64_t h, const char *s) {
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull; /* field separator */
}

static void item_fail(struct cosmos_manifest_item *it, const char *fmt, const char *detail) {
    it->status = COSMOS_ERR_INVALID_ARG;
    snprintf(it->reason, sizeof it->reason, fmt, detail);
    it->name[0] = '\0';
}

static void parse_line(const char *text, const struct cosmos_manifest_defaults *d, struct cosmos_manifest_item *it) {
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    it->seed = d->seed;
    it->num_input_frames = d->num_input_frames;
    if (!o && strstr(err.text, "too big integer")) { /* jansson's integers are int64 */
        item_fail(it, "not a JSON object (%.100s): a seed above 9223372036854775807 is written as a string, e.g. "
                      "\"seed\": \"18446744073709551615\"", err.text);
        return;
    }
    if (!o || !json_is_object(o)) {
        item_fail(it, "not a JSON object (%s)", o ? "wrong type" : err.text);
        json_decref(o);
        return;
    }
    static const char *const known[] = {"input", "visual_input", "prompt", "seed", "name", "num_input_frames",
                                        "num_frames"};
    const char *unknown = cosmos_config_json_unknown_key(o, known, sizeof known / sizeof known[0]);
    if (unknown) {
        item_fail(it, "unknown key '%s' (keys: input, prompt, seed, name, num_input_frames, num_frames)", unknown);
        goto done;
    }
    json_t *v;
    json_t *in = json_object_get(o, "input");
    if (!in) in = json_object_get(o, "visual_input");
    if (!json_is_string(in) || json_string_length(in) == 0) {
        item_fail(it, "%s", "no \"input\" (or \"visual_input\") file name");
        goto done;
    }
    it->input = strdup(json_string_value(in));
    v = json_object_get(o, "prompt");
    if (v && !json_is_string(v)) {
        item_fail(it, "%s", "\"prompt\" must be a string");
        goto done;
    }
    if (v) it->prompt = strdup(json_string_value(v));
    v = json_object_get(o, "seed");
    if (v) { /* an integer >= 0, or a string of decimal digits: all of [0, 2^64) */
        const char *sv = json_is_string(v) ? json_string_value(v) : NULL;
        char *end = NULL;
        errno = 0;
        const unsigned long long u = sv && isdigit((unsigned char)sv[0]) ? strtoull(sv, &end, 10) : 0;
        if (sv ? !end || *end || errno : !json_is_integer(v) || json_integer_value(v) < 0) {
            item_fail(it, "%s", "\"seed\" must be a non-negative integer (or a string of decimal digits below 2^64)");
            goto done;
        }
        it->seed = sv ? (uint64_t)u : (uint64_t)json_integer_value(v);
    }
    v = json_object_get(o, "num_input_frames");
    if (v) {
        if (!json_is_integer(v) || (json_integer_value(v) != 1 && json_integer_value(v) != 9)) {
            item_fail(it, "%s", "\"num_input_frames\" must be 1 or 9");
            goto done;
        }
        it->num_input_frames = (int)json_integer_value(v);
    }
    v = json_object_get(o, "num_frames");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100000) {
            item_fail(it, "%s", "\"num_frames\" must be a positive integer (1 + 8k frames)");
            goto done;
        }
        it->num_frames = (int)json_integer_value(v);
    }
    v = json_object_get(o, "name");
    if (v) {
        if (!json_is_string(v) || !cosmos_manifest_name_ok(json_string_value(v))) {
            item_fail(it,
                      "bad \"name\" '%s' (letters, digits, '.', '_', '-', at most 100, not starting with '.' or '-')",
                      json_is_string(v) ? json_string_value(v) : "(not a string)");
            goto done;
        }
        snprintf(it->name, sizeof it->name, "%s", json_string_value(v));
    } else {
        char num[64];
        uint64_t h = 14695981039346656037ull;
        h = fnv1a(h, it->input);
        h = fnv1a(h, it->prompt ? it->prompt : "");
        if (it->num_frames > 0) /* hashed only when given: names of older manifests stay */
            snprintf(num, sizeof num, "%llu/%d/f%d", (unsigned long long)it->seed, it->num_input_frames,
                     it->num_frames);
        else
            snprintf(num, sizeof num, "%llu/%d", (unsigned long long)it->seed, it->num_input_frames);
        h = fnv1a(h, num);
        h = fnv1a(h, d->settings);
        snprintf(it->name, sizeof it->name, "clip-%016llx", (unsigned long long)h);
    }
done:
    json_decref(o);
}

cosmos_status cosmos_manifest_load(const char *path, const struct cosmos_manifest_defaults *d,
                                   struct cosmos_manifest_item **items, int *n) {
    cosmos_status st = COSMOS_OK;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    struct cosmos_manifest_item *v = NULL;
    int count = 0, size = 0, lineno = 0;
    *items = NULL, *n = 0;
    f = fopen(path, "r");
    CHECK_ARG(f, COSMOS_ERR_IO, "cannot open the manifest '%s'", path);
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && isspace((unsigned char)line[len - 1])) line[--len] = '\0';
        const char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '\0' || *p == '#') continue;
        if (count == size) {
            size = size ? 2 * size : 64;
            struct cosmos_manifest_item *nv = realloc(v, sizeof *v * (size_t)size);
            CHECK_ALLOC(nv);
            v = nv;
        }
        struct cosmos_manifest_item *it = &v[count++];
        memset(it, 0, sizeof *it);
        it->line = lineno;
        parse_line(p, d, it);
        for (int j = 0; j < count - 1 && it->status == COSMOS_OK; j++)
            if (v[j].status == COSMOS_OK && !strcmp(v[j].name, it->name)) {
                char dup[160];
                snprintf(dup, sizeof dup, "%s' (also on line %d", it->name, v[j].line);
                item_fail(it, "output name '%s) : names must be unique", dup);
            }
    }
    CHECK_ARG(!ferror(f), COSMOS_ERR_IO, "reading the manifest '%s' failed", path);
    CHECK_ARG(count > 0, COSMOS_ERR_INVALID_ARG, "manifest '%s' has no items (one JSON object per line)", path);
    *items = v, *n = count;
    v = NULL;
fail:
    if (f) fclose(f);
    free(line);
    cosmos_manifest_free(v, count);
    return st;
}

void cosmos_manifest_free(struct cosmos_manifest_item *items, int n) {
    if (!items) return;
    for (int i = 0; i < n; i++) free(items[i].input), free(items[i].prompt);
    free(items);
}
