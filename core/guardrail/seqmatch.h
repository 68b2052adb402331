/* difflib.SequenceMatcher(None, a, b).ratio() in C, for the blocklist's near-match rule (spec
 * components.md 5.2 step 6). Byte strings (the blocklist only compares ASCII-folded text). */
#ifndef COSMOS_GUARDRAIL_SEQMATCH_H
#define COSMOS_GUARDRAIL_SEQMATCH_H

#include <stddef.h>

#include "core/status.h"

/* Sum of the sizes of the matching blocks Python's SequenceMatcher(None, a, b) finds (Ratcliff /
 * Obershelp: longest block, ties to the earliest in a then in b, recursing on both sides), with
 * its autojunk rule on b. Allocates scratch memory: NOMEM is the only error. */
cosmos_status cosmos_seqmatch_matches(const char *a, size_t la, const char *b, size_t lb, size_t *matches);

/* ratio() = 2 * matches / (la + lb), 1.0 when both are empty. */
cosmos_status cosmos_seqmatch_ratio(const char *a, size_t la, const char *b, size_t lb, double *ratio);

#endif
