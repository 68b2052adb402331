/* Paths and config variants for the unit tests (see test_files.h). */
#include "test_files.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_capture.h"

#include "cosmos_build_config.h"

void config_path(char *path, size_t n, const char *name) {
    snprintf(path, n, "%s/configs/models/%s.json", COSMOS_SOURCE_DIR, name);
}

void tmp_path(char *path, size_t n, const char *name) {
    const char *dir = getenv("COSMOS_TEST_TMP");
    snprintf(path, n, "%s/%s", dir ? dir : "/tmp", name);
}

void write_config_variant(const char *base, const char *key, const char *value, const char *out_name, char *path,
                          size_t n) {
    char src[1024];
    json_error_t err;
    config_path(src, sizeof src, base);
    json_t *root = json_load_file(src, JSON_PRESERVE_ORDER, &err);
    cr_assert(root, "%s: %s", src, err.text);
    if (value) {
        json_t *v = json_loads(value, JSON_DECODE_ANY, &err);
        cr_assert(v, "case value %s: %s", value, err.text);
        json_object_set_new(root, key, v);
    } else {
        json_object_del(root, key);
    }
    tmp_path(path, n, out_name);
    cr_assert_eq(json_dump_file(root, path, JSON_PRESERVE_ORDER), 0, "writing %s", path);
    json_decref(root);
}

void expect_config_error(const char *what, const char *value, cosmos_status st, cosmos_status want,
                         const char *needle, const char *path) {
    const char *v = value ? value : "(deleted)";
    cr_expect_eq(st, want, "%s = %s: status %s, want %s", what, v, cosmos_status_str(st), cosmos_status_str(want));
    if (want == COSMOS_OK) return;
    cr_expect(strstr(log_captured(), needle) != NULL, "%s = %s: message '%s' lacks '%s'", what, v, log_captured(),
              needle);
    cr_expect(strstr(log_captured(), path) != NULL, "%s: message does not name the file: %s", what, log_captured());
}
