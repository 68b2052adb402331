/* Model config: the four official architectures (spec ar-model.md 1.2), derived values, and the
 * errors a user gets for a bad file. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "cosmos_build_config.h"
#include "log_capture.h"

static struct cosmos_ar_config load(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/models/%s.json", COSMOS_SOURCE_DIR, name);
    struct cosmos_ar_config c;
    cr_assert_eq(cosmos_ar_config_load(path, &c), COSMOS_OK, "loading %s", path);
    return c;
}

Test(config, official_4b) {
    struct cosmos_ar_config c = load("cosmos-1.0-ar-4b");
    cr_expect_eq(c.dim, 4096);
    cr_expect_eq(c.n_layers, 16);
    cr_expect_eq(c.head_dim, 128);
    cr_expect_eq(c.max_seq_len, 12800);
    cr_expect_eq(c.input_vocab_size, 64000);
    cr_expect_eq(c.bov_token_id, -1);
    cr_expect(!c.apply_yarn && !c.insert_cross_attn && !c.apply_abs_pos_emb && c.use_qk_normalization);
    /* spec 1.2: 4.014 B parameters */
    cr_expect(llabs(cosmos_ar_config_num_params(&c) - 4014000000ll) < 1000000ll, "params %lld",
              (long long)cosmos_ar_config_num_params(&c));
}

Test(config, official_5b_video2world) {
    struct cosmos_ar_config c = load("cosmos-1.0-ar-5b-video2world");
    cr_expect_eq(c.max_seq_len, 12864);
    cr_expect_eq(c.input_vocab_size, 64064);
    cr_expect_eq(c.bov_token_id, 64000);
    cr_expect(c.insert_cross_attn && c.apply_abs_pos_emb);
    cr_expect_eq(c.context_dim, 1024);
    cr_expect_eq(c.context_len, 512);
    /* spec 1.2: 4.585 B parameters */
    cr_expect(llabs(cosmos_ar_config_num_params(&c) - 4585000000ll) < 1000000ll, "params %lld",
              (long long)cosmos_ar_config_num_params(&c));
}

Test(config, official_12b_13b) {
    struct cosmos_ar_config c = load("cosmos-1.0-ar-12b");
    cr_expect_eq(c.dim, 5120);
    cr_expect_eq(c.n_heads * c.head_dim, 4096, "q width differs from dim on 12B");
    cr_expect(c.apply_yarn);
    cr_expect_eq(c.original_latent_shape[0], 3);
    cr_expect(llabs(cosmos_ar_config_num_params(&c) - 11561000000ll) < 1000000ll, "12B params %lld",
              (long long)cosmos_ar_config_num_params(&c));
    struct cosmos_ar_config d = load("cosmos-1.0-ar-13b-video2world");
    cr_expect(d.apply_yarn && d.insert_cross_attn, "13B maps to arch 12b: YaRN and cross-attention");
    cr_expect_eq(d.max_seq_len, 12864);
    cr_expect(llabs(cosmos_ar_config_num_params(&d) - 13323000000ll) < 1000000ll, "13B params %lld",
              (long long)cosmos_ar_config_num_params(&d));
}

Test(config, tiny_configs_keep_every_feature) {
    const char *names[] = {"tiny-ar-4b", "tiny-ar-5b-video2world", "tiny-ar-12b", "tiny-ar-13b-video2world"};
    for (int i = 0; i < 4; i++) {
        struct cosmos_ar_config c = load(names[i]);
        cr_expect(c.n_kv_heads < c.n_heads, "%s: GQA", names[i]);
        cr_expect(c.use_qk_normalization, "%s: QK-norm", names[i]);
        cr_expect(c.vocab_size >= 512, "%s: vocab", names[i]);
        if (i >= 2) cr_expect(c.apply_yarn, "%s: YaRN", names[i]);
        if (i % 2) {
            cr_expect(c.insert_cross_attn && c.apply_abs_pos_emb, "%s: cross-attention + APE", names[i]);
            cr_expect(c.input_vocab_size > c.vocab_size + 1, "%s: padded input embedding", names[i]);
            cr_expect_eq(c.bov_token_id, c.vocab_size);
        }
    }
}

Test(config, explicit_derived_values_win) {
    struct cosmos_ar_config c;
    const char *j = "{\"dim\": 64, \"n_layers\": 1, \"n_heads\": 2, \"ffn_hidden_size\": 32, \"vocab_size\": 100,"
                    " \"video_latent_shape\": [1, 2, 3], \"max_seq_len\": 20, \"training_type\": \"text_to_video\","
                    " \"insert_cross_attn\": true, \"context_dim\": 8, \"context_len\": 4}";
    cr_assert_eq(cosmos_ar_config_parse(j, "inline", &c), COSMOS_OK);
    cr_expect_eq(c.max_seq_len, 20);
    cr_expect_eq(c.head_dim, 32, "head_dim defaults to dim / n_heads");
    cr_expect_eq(c.n_kv_heads, 2, "n_kv_heads defaults to n_heads");
    cr_expect_eq(c.input_vocab_size, 128, "roundup(100 + 1, 64)");
    /* round trip through our serialisation */
    char *s = cosmos_ar_config_to_json(&c);
    struct cosmos_ar_config d;
    cr_assert_eq(cosmos_ar_config_parse(s, "roundtrip", &d), COSMOS_OK);
    free(s);
    cr_expect_eq(memcmp(&c, &d, sizeof c), 0, "config survives a JSON round trip");
}

static void expect_error(const char *json, const char *needle) {
    struct cosmos_ar_config c;
    log_capture_start();
    cosmos_status st = cosmos_ar_config_parse(json, "bad.json", &c);
    log_capture_stop();
    cr_expect_neq(st, COSMOS_OK, "accepted: %s", json);
    cr_expect(strstr(log_captured(), needle) != NULL, "message '%s' lacks '%s'", log_captured(), needle);
}

Test(config, errors_name_the_problem) {
    expect_error("{\"dim\": 64,\n \"n_layers\": }", "line 2");
    expect_error("{\"dim\": 64, \"n_layerz\": 2}", "unknown key 'n_layerz'");
    expect_error("{\"dim\": \"big\"}", "'dim' must be an integer");
    expect_error("{\"dim\": 64, \"n_layers\": 1, \"n_heads\": 3, \"n_kv_heads\": 2, \"ffn_hidden_size\": 8,"
                 " \"vocab_size\": 10, \"video_latent_shape\": [1,1,1]}",
                 "multiple of n_kv_heads");
    expect_error("{\"dim\": 64, \"n_layers\": 1, \"n_heads\": 2, \"ffn_hidden_size\": 8, \"vocab_size\": 10}",
                 "video_latent_shape");
    expect_error("{\"dim\": 64, \"n_layers\": 1, \"n_heads\": 2, \"ffn_hidden_size\": 8, \"vocab_size\": 10,"
                 " \"video_latent_shape\": [1,1,1], \"apply_yarn\": true}",
                 "original_latent_shape");
    expect_error("{\"rope_dim\": \"1D\"}", "rope_dim");
    expect_error("[1, 2]", "JSON object");
    struct cosmos_ar_config c;
    log_capture_start();
    cr_expect_eq(cosmos_ar_config_load("/nonexistent/x.json", &c), COSMOS_ERR_IO);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "/nonexistent/x.json") != NULL);
}
