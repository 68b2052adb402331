/* Rule-based stand-in for the blocklist's NLTK step (spec components.md 5.2 step 5:
 * word_tokenize + WordNetLemmatizer, tokens re-joined with spaces). See lemmatize.c for the rules
 * and docs/guardrail.md for how they differ from WordNet. */
#ifndef COSMOS_GUARDRAIL_LEMMATIZE_H
#define COSMOS_GUARDRAIL_LEMMATIZE_H

#include <stddef.h>

#include "core/status.h"

/* The lemmatizer's dictionary: does this lower-case form (len bytes, not NUL-terminated) name a
 * known word? WordNet accepts a rule-derived form only when it is a dictionary word; here the
 * caller supplies the dictionary (the blocklist passes the words of its entries). */
typedef int (*cosmos_lemma_known_fn)(const char *word, size_t len, const void *user);

/* Lemma of one token (len bytes): the token itself (original case) when it is known or no rule
 * gives a known form, else the first known rule-derived form, lower-case. Writes a NUL-terminated
 * string into out, which must hold COSMOS_LEMMA_OUT_SIZE(len) bytes. */
#define COSMOS_LEMMA_OUT_SIZE(len) ((len) + 8)
void cosmos_lemmatize_token(const char *tok, size_t len, cosmos_lemma_known_fn known, const void *user, char *out);

/* Tokenize text (an approximation of nltk.word_tokenize), lemmatize every token and join them
 * with single spaces. The caller owns *out (free). NOMEM is the only error. */
cosmos_status cosmos_lemmatize_text(const char *text, cosmos_lemma_known_fn known, const void *user, char **out);

#endif
