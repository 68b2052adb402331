/* T5-11B text encoder (T5 v1.0 encoder stack, spec components.md section 3): weight file loading
 * (docs/t5.md: one dataset per Hugging Face key, bf16 or f32 each, plus the SentencePiece model as
 * the uint8 dataset "spiece_model"), tokenization, and the forward pass in f32 on a backend.
 * Rows of real tokens only are computed: with the official padding mask a real token never attends
 * a pad key, so the real rows are the same; pad rows are exactly zero in the official output. */
#ifndef COSMOS_T5_MODEL_H
#define COSMOS_T5_MODEL_H

#include <stdint.h>

#include "core/backend.h"
#include "core/model/t5_config.h"
#include "core/text_tokenizer.h"

#define COSMOS_T5_SPIECE_DATASET "spiece_model"

typedef struct cosmos_t5 cosmos_t5_t;

/* Weight names and shapes of a config, in file order (HF key names). *specs malloc'd. */
struct cosmos_t5_tensor_spec {
    char name[96];
    int ndim;
    int64_t shape[2];
};
cosmos_status cosmos_t5_weight_specs(const struct cosmos_t5_config *c, struct cosmos_t5_tensor_spec **specs, int *n);

/* Load a T5 weight file for backend `be` (kept by reference; must outlive the model). Strict: the
 * model_type attribute must be "t5", every expected tensor present with its shape (bf16 or f32),
 * no unknown tensor, and a loadable SentencePiece model. Caller owns *out (cosmos_t5_free). */
cosmos_status cosmos_t5_load(cosmos_backend_t *be, const char *path, cosmos_t5_t **out);
void cosmos_t5_free(cosmos_t5_t *m); /* NULL is a no-op */
/* Bytes of the weights cosmos_t5_load holds for a backend of activation dtype act, from the file's
 * header and dataset dtypes (nothing read): the matmul weights widened to f32 where act is not F32.
 * For memory plans; errors name the file. */
cosmos_status cosmos_t5_weight_bytes(const char *path, enum cosmos_dtype act, int64_t *out);
const struct cosmos_t5_config *cosmos_t5_get_config(const cosmos_t5_t *m);
const cosmos_spm_t *cosmos_t5_tokenizer(const cosmos_t5_t *m);

/* Encoder forward: ids[0..len) are real tokens (EOS included), 1 <= len <= max_length; host
 * `out` [max_length, d_model] f32 receives last_hidden_state with rows >= len set to 0. */
cosmos_status cosmos_t5_forward(cosmos_t5_t *m, const int32_t *ids, int len, float *out);
/* Tokenize (cosmos_t5_tokenize) then forward. ids (may be NULL) receives the max_length padded
 * ids, *len (may be NULL) the real length. */
cosmos_status cosmos_t5_encode_prompt(cosmos_t5_t *m, const char *prompt, float *out, int32_t *ids, int *len);

/* Bucket of relative position rel = key - query (bidirectional, spec 3.4). */
int cosmos_t5_rel_bucket(int rel, int num_buckets, int max_distance);

/* Random-weight file for a config (`cosmos-ar init`): bf16 weights, deterministic in seed, and the
 * SentencePiece model read from spm_path embedded. */
cosmos_status cosmos_t5_init_random(const struct cosmos_t5_config *c, uint64_t seed, const char *spm_path,
                                    const char *out_path);
/* Root attributes of a T5 weight file. */
struct cosmos_h5;
cosmos_status cosmos_t5_write_header(struct cosmos_h5 *h5, const struct cosmos_t5_config *c);

#endif
