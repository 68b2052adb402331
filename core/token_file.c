/* Token files (see token_file.h). */
#include "core/token_file.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/h5file.h"
#include "core/log.h"

cosmos_status cosmos_tokens_read(const char *path, int64_t max_n, const char *limit, int32_t **out, int *n) {
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        LOG_ERROR("cannot open token file '%s'", path);
        return COSMOS_ERR_IO;
    }
    cosmos_status st = COSMOS_OK;
    int cap = 1024, cnt = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);
    char word[64];
    CHECK_ALLOC(ids);
    for (;;) {
        int c;
        while ((c = fgetc(f)) != EOF && isspace(c)) {
        }
        if (c == EOF) break;
        size_t len = 0;
        int too_long = 0;
        do {
            if (len + 1 < sizeof word)
                word[len++] = (char)c;
            else
                too_long = 1;
        } while ((c = fgetc(f)) != EOF && !isspace(c));
        word[len] = '\0';
        char *end = NULL;
        errno = 0;
        long long v = strtoll(word, &end, 10);
        CHECK_ARG(!too_long && !errno && end != word && *end == '\0' && v >= INT32_MIN && v <= INT32_MAX,
                  COSMOS_ERR_FORMAT, "%s: token %d is '%s%s', not an integer id", path, cnt, word,
                  too_long ? "..." : "");
        CHECK_ARG(cnt < max_n, COSMOS_ERR_INVALID_ARG, "%s: more than %lld tokens (%s)", path,
                  (long long)max_n, limit);
        if (cnt == cap) {
            cap *= 2;
            int32_t *nn = realloc(ids, sizeof(int32_t) * (size_t)cap);
            CHECK_ALLOC(nn);
            ids = nn;
        }
        ids[cnt++] = (int32_t)v;
    }
    CHECK_ARG(!ferror(f), COSMOS_ERR_IO, "cannot read token file '%s' (%s)", path, strerror(errno));
    CHECK_ARG(cnt > 0, COSMOS_ERR_FORMAT, "%s: the token file is empty", path);
    *out = ids;
    *n = cnt;
    ids = NULL;
fail:
    free(ids);
    fclose(f);
    return st;
}

cosmos_status cosmos_tokens_write(const char *path, const int32_t *ids, int64_t n) {
    char tmp[4200];
    cosmos_tmp_path(path, tmp, sizeof tmp);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        LOG_ERROR("cannot create '%s' (does the folder exist?)", path);
        return COSMOS_ERR_IO;
    }
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad |= fprintf(f, "%d\n", ids[i]) < 0;
    bad |= fclose(f) != 0;
    if (bad) {
        remove(tmp);
        LOG_ERROR("writing '%s' failed (disk full?)", path);
        return COSMOS_ERR_IO;
    }
    return cosmos_commit_tmp(tmp, path);
}
