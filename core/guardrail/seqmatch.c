/* difflib.SequenceMatcher(None, a, b).ratio() (CPython Lib/difflib.py semantics) for the
 * blocklist's near-match rule, spec components.md 5.2 step 6.
 * isjunk is None, so the only junk is autojunk's "popular" set: when len(b) >= 200, a byte that
 * occurs more than len(b)/100 + 1 times in b cannot start a match (it can still extend one, as in
 * find_longest_match's first extension loops). Below 200 bytes of b, as for every blocklist entry in
 * practice, autojunk changes nothing.
 * Layout: the longest-match DP keeps two rows of run lengths indexed by j + 1 (difflib's j2len);
 * the ranges still to split sit on an explicit stack (the order in which blocks are found does not
 * change their total, which is all ratio() needs). O(la * lb) per block: fine for short strings. */
#include "core/guardrail/seqmatch.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct range {
    size_t alo, ahi, blo, bhi;
};

/* find_longest_match(alo, ahi, blo, bhi): writes the block start in a and b and its size. */
static void longest_match(const unsigned char *a, const unsigned char *b, const unsigned char *popular,
                          struct range r, size_t *row0, size_t *row1, size_t *bi, size_t *bj, size_t *bk) {
    size_t besti = r.alo, bestj = r.blo, best = 0;
    size_t *prev = row0, *cur = row1;
    for (size_t j = r.blo; j <= r.bhi; j++) prev[j] = cur[j] = 0;
    for (size_t i = r.alo; i < r.ahi; i++) {
        for (size_t j = r.blo; j < r.bhi; j++) {
            /* cur[j + 1]: length of the run of equal bytes ending at a[i], b[j] */
            size_t k = (a[i] == b[j] && !popular[b[j]]) ? prev[j] + 1 : 0;
            cur[j + 1] = k;
            if (k > best) besti = i + 1 - k, bestj = j + 1 - k, best = k;
        }
        size_t *t = prev;
        prev = cur, cur = t;
    }
    /* a popular byte never starts a run, but equal bytes next to the best block still join it */
    while (besti > r.alo && bestj > r.blo && a[besti - 1] == b[bestj - 1]) besti--, bestj--, best++;
    while (besti + best < r.ahi && bestj + best < r.bhi && a[besti + best] == b[bestj + best]) best++;
    *bi = besti, *bj = bestj, *bk = best;
}

cosmos_status cosmos_seqmatch_matches(const char *a_, size_t la, const char *b_, size_t lb, size_t *matches) {
    cosmos_status st = COSMOS_OK;
    const unsigned char *a = (const unsigned char *)a_, *b = (const unsigned char *)b_;
    size_t *rows = NULL;
    struct range *stack = NULL;
    unsigned char popular[256] = {0};
    size_t total = 0;
    *matches = 0;
    if (la == 0 || lb == 0) return COSMOS_OK;

    if (lb >= 200) {
        size_t count[256] = {0}, ntest = lb / 100 + 1;
        for (size_t j = 0; j < lb; j++) count[b[j]]++;
        for (int c = 0; c < 256; c++) popular[c] = count[c] > ntest;
    }
    rows = malloc(2 * (lb + 1) * sizeof *rows);
    CHECK_ALLOC(rows);
    size_t cap = (la < lb ? la : lb) + 2, n = 0; /* each block adds at most one pending range */
    stack = malloc(cap * sizeof *stack);
    CHECK_ALLOC(stack);
    stack[n++] = (struct range){0, la, 0, lb};
    while (n > 0) {
        struct range r = stack[--n];
        size_t i, j, k;
        longest_match(a, b, popular, r, rows, rows + lb + 1, &i, &j, &k);
        if (k == 0) continue;
        total += k;
        CHECK_ARG(n + 2 <= cap, COSMOS_ERR_INTERNAL, "seqmatch: range stack overflow");
        if (r.alo < i && r.blo < j) stack[n++] = (struct range){r.alo, i, r.blo, j};
        if (i + k < r.ahi && j + k < r.bhi) stack[n++] = (struct range){i + k, r.ahi, j + k, r.bhi};
    }
    *matches = total;
fail:
    free(rows);
    free(stack);
    return st;
}

cosmos_status cosmos_seqmatch_ratio(const char *a, size_t la, const char *b, size_t lb, double *ratio) {
    size_t m = 0;
    cosmos_status st = cosmos_seqmatch_matches(a, la, b, lb, &m);
    if (st != COSMOS_OK) return st;
    *ratio = (la + lb) ? 2.0 * (double)m / (double)(la + lb) : 1.0;
    return COSMOS_OK;
}
