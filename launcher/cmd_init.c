/* `cosmos-ar init --config C.json --seed N --out M.h5`: a random-weight model for any config
 * (core/model/ar_init.h), how tests, the demo and full-size benchmarks get weights. */
#include <string.h>

#include "core/log.h"
#include "core/model/ar_init.h"
#include "launcher/cli.h"
#include "launcher/commands.h"

cosmos_status cmd_init(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *config = NULL, *out = NULL, *pos[1];
    uint64_t seed = 0;
    int n_pos = 0;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"config", CLI_STR, &config, "model config JSON (configs/models/*.json)", 0},
        {"seed", CLI_U64, &seed, "random seed (default 0)", 0},
        {"out", CLI_STR, &out, "output weight file (.h5)", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("init", argc, argv, opts, pos, 0, &n_pos, &common));
    if (common.help) return COSMOS_OK;
    CHECK_ARG(config && out, COSMOS_ERR_INVALID_ARG, "init: --config and --out are required");
    struct cosmos_ar_config cfg;
    CHECK(cosmos_ar_config_load(config, &cfg));
    LOG_INFO0("init: %s, %.3f B parameters, seed %llu -> %s", cfg.name, cosmos_ar_config_num_params(&cfg) * 1e-9,
              (unsigned long long)seed, out);
    CHECK(cosmos_ar_init_random(&cfg, seed, out));
fail:
    return st;
}
