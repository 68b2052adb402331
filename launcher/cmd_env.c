/* `cosmos-ar env [--json F]`: what this build contains and the machine it runs on (engine version
 * and features, host, library versions, CUDA runtime/driver and devices, the environment variables
 * that change the engine's behaviour), for bug reports and for checking a node before a job
 * (core/system_info.h). Printed as "section key: value" lines; --json writes the same object. */
#include <stdio.h>
#include <string.h>

#include "core/json_file.h"
#include "core/log.h"
#include "core/system_info.h"
#include "launcher/cli.h"
#include "launcher/commands.h"

static void print_value(const char *section, const char *key, json_t *v) {
    if (json_is_string(v))
        printf("%-12s %-20s %s\n", section, key, json_string_value(v));
    else if (json_is_integer(v))
        printf("%-12s %-20s %lld\n", section, key, (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        printf("%-12s %-20s %s\n", section, key, json_is_true(v) ? "yes" : "no");
}

cosmos_status cmd_env(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *json_out = NULL, *pos[1];
    int n_pos = 0;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"json", CLI_STR, &json_out, "also write the report as JSON", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    json_t *info = NULL;
    CHECK(cli_parse_command("env", argc, argv, opts, pos, 0, &n_pos, &common));
    if (common.help) return COSMOS_OK;
    info = cosmos_system_info();
    CHECK_ALLOC(info);
    const char *section;
    json_t *obj;
    json_object_foreach(info, section, obj) {
        const char *key;
        json_t *v;
        json_object_foreach(obj, key, v) {
            if (!json_is_array(v)) {
                print_value(section, key, v);
                continue;
            }
            size_t i;
            json_t *d;
            if (json_array_size(v) == 0) printf("%-12s %-20s none\n", section, key);
            json_array_foreach(v, i, d) { /* CUDA devices */
                printf("%-12s %-20s %zu: %s, %.1f GB, compute capability %s\n", section, key, i,
                       json_string_value(json_object_get(d, "name")),
                       (double)json_integer_value(json_object_get(d, "memory_bytes")) * 1e-9,
                       json_string_value(json_object_get(d, "compute_capability")));
            }
        }
        if (!strcmp(section, "environment") && json_object_size(obj) == 0)
            printf("%-12s %-20s (none of the variables the engine reads is set)\n", section, "-");
    }
    fflush(stdout);
    if (json_out) CHECK(cosmos_json_write(info, json_out, JSON_INDENT(2)));
fail:
    json_decref(info);
    return st;
}
