/* The Aegis prompt check of the text guardrail (spec components.md 5.3; official
 * guardrail/aegis/aegis.py): LlamaGuard-7b with NVIDIA's Aegis LoRA merged in (core/guardrail/llama.h)
 * reads a moderation prompt built around the user's prompt and greedily writes up to
 * max_new_tokens (100) tokens; the prompt is unsafe iff the lower-cased output contains "unsafe".
 *
 * The moderation prompt is data of the weight file, not of this code: the official
 * get_moderation_prompt builds  prefix + "User: " + prompt + "\n\n" + suffix  around fixed text (the
 * task sentence, the policy of every category, the answer instructions, with the indentation of the
 * official triple-quoted f-string); tools/convert_checkpoint.py `aegis` extracts prefix and suffix
 * from the official source and stores them with the categories as the JSON uint8 dataset
 * "aegis_prompt" of the Aegis weight file:
 *   {"format": "cosmos-ar-aegis-prompt", "prompt_prefix": "...User: ", "prompt_suffix": "\n\n<END...",
 *    "categories": [{"category": "violence", "blocked_reason": "..."}, ...], "max_new_tokens": 100}
 * (the prefix ends with "User: " and the suffix starts with "\n\n", so the full prompt is
 * prefix + prompt + suffix). The file also embeds the SentencePiece model ("tokenizer_model").
 * The prompt is tokenized without BOS (add_special_tokens=False), as officially, and like the
 * official Hugging Face tokenizer call (cosmos_aegis_tokenize) with its added tokens <unk>, <s>,
 * </s> matched where a prompt spells them. */
#ifndef COSMOS_GUARDRAIL_AEGIS_H
#define COSMOS_GUARDRAIL_AEGIS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/text_tokenizer.h"

#define COSMOS_AEGIS_PROMPT_DATASET "aegis_prompt" /* = COSMOS_LLAMA_AEGIS_PROMPT_DATASET */
#define COSMOS_AEGIS_TOKENIZER_DATASET "tokenizer_model"
#define COSMOS_AEGIS_MAX_CATEGORIES 32

struct cosmos_aegis_prompt {
    char *prefix, *suffix; /* malloc'd */
    int n_categories;
    char category[COSMOS_AEGIS_MAX_CATEGORIES][64];
    char blocked_reason[COSMOS_AEGIS_MAX_CATEGORIES][256];
    int max_new_tokens;
};

/* Parse the "aegis_prompt" JSON (src names it in messages). FORMAT error naming the key for a
 * missing or wrong value, or an unknown key. Caller frees with cosmos_aegis_prompt_free. */
cosmos_status cosmos_aegis_prompt_parse(const char *json, const char *src, struct cosmos_aegis_prompt *p);
void cosmos_aegis_prompt_free(struct cosmos_aegis_prompt *p);

/* prefix + user_prompt + suffix, malloc'd (NULL when out of memory). */
char *cosmos_aegis_moderation_prompt(const struct cosmos_aegis_prompt *p, const char *user_prompt);

/* The verdict on the model's decoded output (official filter_aegis_output and
 * get_aegis_block_message): *safe = 0 iff "unsafe" occurs in the ASCII-lower-cased output; then
 * reason = "<category>: <blocked_reason>" of category k - 1 when the output's second line
 * ("\n"-split) is "O<k>" as Python's int(line.lstrip("O")) reads it (ASCII whitespace, sign,
 * digits, single underscores between digits) and 1 <= k <= n_categories, else
 * "Prompt blocked by Aegis.". The reason is truncated to reason_size - 1 bytes. */
void cosmos_aegis_verdict(const struct cosmos_aegis_prompt *p, const char *output, int *safe, char *reason,
                          size_t reason_size);

/* Ids of text as the official tokenizer call makes them (add_special_tokens=False, legacy Llama
 * tokenizer): "<unk>", "<s>", "</s>" spelled in the text are their pieces' ids (0, 1, 2) and the
 * text between two of them is encoded on its own (cosmos_spm_encode_split). *ids malloc'd. */
cosmos_status cosmos_aegis_tokenize(const cosmos_spm_t *spm, const char *text, int32_t **ids, int *n);

/* `cosmos-ar init` of an Aegis config (configs/models/aegis-tiny.json: {"model_type": "aegis",
 * "name", "llm": a llama config, "spiece_model": a SentencePiece model, "prompt": an aegis_prompt
 * JSON file; paths relative to the config}): random llama weights (seed), the tokenizer and the
 * prompt embedded, and the final norm weight zeroed, so a random model's logits are all zero, its
 * greedy answer is token 0 (a control piece, decoded to nothing) and every prompt passes: random
 * pipelines are not blocked at random (tests that need "unsafe" build their own model). Written to
 * a temporary name and renamed. */
cosmos_status cosmos_aegis_init_random(const char *config_path, uint64_t seed, const char *out_path);

#endif
