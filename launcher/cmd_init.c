/* `cosmos-ar init --config C.json --seed N --out M.h5`: a random-weight model for any config
 * (core/model/ar_init.h), how tests, the demo and full-size benchmarks get weights. A config with
 * "model_type": "t5" makes a T5 encoder file instead (core/model/t5_model.h), embedding the
 * SentencePiece model named by --spm or the config's "spiece_model"; one with "model_type":
 * "dv_tokenizer" makes a DV tokenizer file (encoder and decoder parts, core/model/dv_init.h), one
 * with "cv_tokenizer" a CV tokenizer file (decoder part + latent statistics, spec 4.7), one with
 * "diffusion_decoder" a diffusion decoder DiT file (core/model/dit_init.h, spec 4.4); "retinaface" and
 * "siglip_safety" the video guardrail's face detector and content-safety filter (spec 5.5, 5.4); "aegis"
 * the prompt check's model (a random llama + tokenizer + moderation prompt, spec 5.3). */
#include <string.h>

#include "core/config.h"
#include "core/guardrail/aegis.h"
#include "core/guardrail/llama.h"
#include "core/guardrail/retinaface.h"
#include "core/guardrail/siglip.h"
#include "core/log.h"
#include "core/model/ar_init.h"
#include "core/model/dv_init.h"
#include "core/model/dit_init.h"
#include "core/pipeline/model_dir.h"
#include "core/model/t5_model.h"
#include "launcher/cli.h"
#include "launcher/commands.h"

cosmos_status cmd_init(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *config = NULL, *out = NULL, *spm = NULL, *pos[1];
    uint64_t seed = 0;
    int n_pos = 0;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"config", CLI_STR, &config, "model config JSON (configs/models/*.json)", 0},
        {"seed", CLI_U64, &seed, "random seed (default 0)", 0},
        {"out", CLI_STR, &out, "output weight file (.h5), or a folder for a pipeline config", 0},
        {"spm", CLI_STR, &spm, "T5 configs: SentencePiece model to embed (default: the config's spiece_model)", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("init", argc, argv, opts, pos, 0, &n_pos, &common));
    if (common.help) return COSMOS_OK;
    CHECK_ARG(config && out, COSMOS_ERR_INVALID_ARG, "init: --config and --out are required");
    if (cosmos_config_file_is_t5(config)) {
        struct cosmos_t5_config t5;
        CHECK(cosmos_t5_config_load(config, &t5));
        LOG_INFO0("init: %s (T5 encoder), %.3f B parameters, seed %llu -> %s", t5.name,
                  cosmos_t5_config_num_params(&t5) * 1e-9, (unsigned long long)seed, out);
        CHECK(cosmos_t5_init_random(&t5, seed, spm ? spm : t5.spiece_model, out));
        return COSMOS_OK;
    }
    CHECK_ARG(!spm, COSMOS_ERR_INVALID_ARG, "init: --spm is for T5 configs only");
    if (cosmos_config_file_is_pipeline(config)) { /* a whole model directory (core/pipeline/model_dir.h) */
        CHECK(cosmos_model_dir_init_random(config, seed, out));
        LOG_INFO0("init: model directory %s ready (cosmos-ar generate --model-dir %s ...)", out, out);
        return COSMOS_OK;
    }
    if (cosmos_config_file_is_dv(config)) {
        struct cosmos_dv_config dv;
        CHECK(cosmos_dv_config_load(config, &dv));
        LOG_INFO0("init: %s (DV tokenizer), %.3f M encoder + %.3f M decoder parameters, seed %llu -> %s", dv.name,
                  cosmos_dv_config_num_params(&dv, COSMOS_DV_ENCODER) * 1e-6,
                  cosmos_dv_config_num_params(&dv, COSMOS_DV_DECODER) * 1e-6, (unsigned long long)seed, out);
        CHECK(cosmos_dv_init_random(&dv, seed, COSMOS_DV_BOTH, out));
        return COSMOS_OK;
    }
    if (cosmos_config_file_is_cv(config)) { /* the decoder part only: the CV encoder is never used */
        struct cosmos_dv_config cv;
        CHECK(cosmos_dv_config_load(config, &cv));
        LOG_INFO0("init: %s (CV tokenizer), %.3f M decoder parameters + latent statistics, seed %llu -> %s", cv.name,
                  cosmos_dv_config_num_params(&cv, COSMOS_DV_DECODER) * 1e-6, (unsigned long long)seed, out);
        CHECK(cosmos_dv_init_random(&cv, seed, COSMOS_DV_DECODER, out));
        return COSMOS_OK;
    }
    if (cosmos_config_file_is_dit(config)) { /* diffusion decoder DiT (core/model/dit_init.h) */
        struct cosmos_dit_config dit;
        CHECK(cosmos_dit_config_load(config, &dit));
        LOG_INFO0("init: %s (diffusion decoder DiT), %.3f M parameters, seed %llu -> %s", dit.name,
                  cosmos_dit_config_num_params(&dit) * 1e-6, (unsigned long long)seed, out);
        CHECK(cosmos_dit_init_random(&dit, seed, out));
        return COSMOS_OK;
    }
    if (cosmos_config_file_is_llama(config)) { /* a plain Llama-2 language model (Aegis's, spec 5.3) */
        struct cosmos_llama_config lc;
        CHECK(cosmos_llama_config_load(config, &lc));
        LOG_INFO0("init: %s (llama), %.3f B parameters, seed %llu -> %s", lc.name,
                  cosmos_llama_config_num_params(&lc) * 1e-9, (unsigned long long)seed, out);
        CHECK(cosmos_llama_init_random(&lc, seed, NULL, out));
        return COSMOS_OK;
    }
    if (cosmos_config_file_has_model_type(config, "aegis")) { /* the Aegis prompt check (spec 5.3) */
        LOG_INFO0("init: %s (Aegis: a random llama with the config's tokenizer and prompt), seed %llu -> %s", config,
                  (unsigned long long)seed, out);
        CHECK(cosmos_aegis_init_random(config, seed, out));
        return COSMOS_OK;
    }
    if (cosmos_config_file_has_model_type(config, "retinaface")) { /* face blur detector (spec 5.5) */
        struct cosmos_retinaface_config rf;
        CHECK(cosmos_retinaface_config_load(config, &rf));
        LOG_INFO0("init: %s (RetinaFace, video guardrail face blur), seed %llu -> %s", rf.name,
                  (unsigned long long)seed, out);
        CHECK(cosmos_retinaface_init_random(&rf, seed, out));
        return COSMOS_OK;
    }
    if (cosmos_config_file_has_model_type(config, "siglip_safety")) { /* content filter (spec 5.4) */
        struct cosmos_siglip_config sg;
        CHECK(cosmos_siglip_config_load(config, &sg));
        LOG_INFO0("init: %s (SigLIP + safety classifier, video guardrail), seed %llu -> %s", sg.name,
                  (unsigned long long)seed, out);
        CHECK(cosmos_siglip_init_random(&sg, seed, out));
        return COSMOS_OK;
    }
    struct cosmos_ar_config cfg;
    CHECK(cosmos_ar_config_load(config, &cfg));
    LOG_INFO0("init: %s, %.3f B parameters, seed %llu -> %s", cfg.name, cosmos_ar_config_num_params(&cfg) * 1e-9,
              (unsigned long long)seed, out);
    CHECK(cosmos_ar_init_random(&cfg, seed, out));
fail:
    return st;
}
