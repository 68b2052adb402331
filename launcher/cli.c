/* Command-line helpers (see cli.h). */
#define _POSIX_C_SOURCE 200809L
#include "launcher/cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/context_file.h"
#include "core/backend.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/process.h"
#include "core/model/ar_model.h"
#include "parallel/comm.h"

static cosmos_status set_value(const char *cmd, struct cli_opt *o, const char *val) {
    char *end = NULL;
    errno = 0;
    switch (o->type) {
    case CLI_STR:
        *(const char **)o->ptr = val;
        return COSMOS_OK;
    case CLI_INT: {
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < -2147483647L || v > 2147483647L) break;
        *(int *)o->ptr = (int)v;
        return COSMOS_OK;
    }
    case CLI_U64: {
        if (val[0] == '-') break;
        unsigned long long v = strtoull(val, &end, 10);
        if (errno || end == val || *end) break;
        *(uint64_t *)o->ptr = v;
        return COSMOS_OK;
    }
    case CLI_FLOAT: {
        float v = strtof(val, &end);
        if (errno || end == val || *end || !isfinite(v)) break;
        *(float *)o->ptr = v;
        return COSMOS_OK;
    }
    case CLI_FLAG:
        break;
    }
    LOG_ERROR("%s: bad value '%s' for --%s (%s)", cmd, val, o->name,
              o->type == CLI_INT ? "an integer" : o->type == CLI_U64 ? "a non-negative integer" : "a number");
    return COSMOS_ERR_INVALID_ARG;
}

cosmos_status cli_parse(const char *cmd, int argc, char **argv, struct cli_opt *opts, const char **pos, int max_pos,
                        int *n_pos) {
    *n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (*n_pos >= max_pos) {
                LOG_ERROR("%s: unexpected argument '%s' (see `cosmos-ar %s --help`)", cmd, a, cmd);
                return COSMOS_ERR_INVALID_ARG;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        struct cli_opt *o = NULL;
        for (struct cli_opt *p = opts; p->name; p++)
            if (strlen(p->name) == len && strncmp(p->name, name, len) == 0) o = p;
        if (!o) {
            LOG_ERROR("%s: unknown option '%.*s' (see `cosmos-ar %s --help`)", cmd, (int)(len + 2), a, cmd);
            return COSMOS_ERR_INVALID_ARG;
        }
        o->seen = 1;
        if (o->type == CLI_FLAG) {
            if (eq) {
                LOG_ERROR("%s: --%s takes no value", cmd, o->name);
                return COSMOS_ERR_INVALID_ARG;
            }
            *(int *)o->ptr = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            LOG_ERROR("%s: --%s needs a value", cmd, o->name);
            return COSMOS_ERR_INVALID_ARG;
        }
        cosmos_status st = set_value(cmd, o, val);
        if (st != COSMOS_OK) return st;
    }
    return COSMOS_OK;
}

void cli_print_opts(const struct cli_opt *opts) {
    for (const struct cli_opt *p = opts; p->name; p++)
        fprintf(stderr, "  --%-16s %s\n", p->name, p->help ? p->help : "");
}

void cli_common_default(struct cli_common *c) {
    c->backend = "cpu";
    c->threads = 0;
    c->log_level = NULL;
    c->help = 0;
    c->tp = 1;
    c->pp = 1;
    c->pp_layers = NULL;
    c->comm_timeout = NULL;
}

static cosmos_status apply_comm_timeout(const char *flag) {
    const char *env = getenv("COSMOS_COMM_TIMEOUT");
    const char *v = flag ? flag : (env && env[0] ? env : NULL);
    if (!v) return COSMOS_OK;
    const char *what = flag ? "--comm-timeout" : "COSMOS_COMM_TIMEOUT";
    char *end = NULL;
    errno = 0;
    const double t = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !(t >= 0) || t > 1e7) {
        LOG_ERROR("%s '%s': expected a number of seconds >= 0 (0 = no timeout), at most 1e7", what, v);
        return COSMOS_ERR_INVALID_ARG;
    }
    return cosmos_comm_set_timeout(t);
}

cosmos_status cli_common_apply(const struct cli_common *c) {
    if (c->log_level) {
        enum cosmos_log_level lv;
        if (cosmos_log_level_parse(c->log_level, &lv) != COSMOS_OK) {
            LOG_ERROR("bad --log-level '%s' (error, warn, info or debug)", c->log_level);
            return COSMOS_ERR_INVALID_ARG;
        }
        cosmos_log_set_level(lv);
    }
    if (c->threads < 0) {
        LOG_ERROR("--threads must be >= 0 (got %d)", c->threads);
        return COSMOS_ERR_INVALID_ARG;
    }
    return apply_comm_timeout(c->comm_timeout);
}

cosmos_status cli_parse_command(const char *cmd, int argc, char **argv, struct cli_opt *opts, const char **pos,
                                int max_pos, int *n_pos, struct cli_common *common) {
    cosmos_status st = cli_parse(cmd, argc, argv, opts, pos, max_pos, n_pos);
    if (st != COSMOS_OK) return st;
    if (common->help) {
        fprintf(stderr, "options of %s:\n", cmd);
        cli_print_opts(opts);
        return COSMOS_OK;
    }
    return cli_common_apply(common);
}

int cli_launched_by_mpi(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int cli_launcher_rank(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && v[0]) return atoi(v);
    }
    return 0;
}

cosmos_status cli_cpu_sharers(struct cosmos_comm *world, int *n_sharing) {
    cosmos_status st = COSMOS_OK;
    struct cpus {
        char host[256];
        unsigned char mask[128];
    } me, *all = NULL;
    *n_sharing = 1;
    if (!world || cosmos_comm_size(world) <= 1) return COSMOS_OK;
    memset(&me, 0, sizeof me);
    gethostname(me.host, sizeof me.host - 1);
    cosmos_cpu_affinity(me.mask, sizeof me.mask);
    const int n = cosmos_comm_size(world);
    all = malloc(sizeof *all * (size_t)n);
    CHECK_ALLOC(all);
    CHECK(cosmos_comm_allgather(world, &me, all, sizeof me));
    int count = 0;
    for (int r = 0; r < n; r++) {
        int overlap = 0;
        for (size_t b = 0; b < sizeof me.mask && !overlap; b++) overlap = (all[r].mask[b] & me.mask[b]) != 0;
        count += overlap && strcmp(all[r].host, me.host) == 0;
    }
    *n_sharing = count > 0 ? count : 1;
fail:
    free(all);
    return st;
}

cosmos_status cli_rank_threads(struct cosmos_comm *world, int requested, int *threads) {
    cosmos_status st = COSMOS_OK;
    int sharing = 1;
    CHECK(cli_cpu_sharers(world, &sharing));
    int split = 0;
    *threads = cosmos_threads_for_process(requested, sharing, &split);
    if (split)
        LOG_INFO0("%d ranks share this node's CPUs: %d CPU thread(s) each (--threads or OMP_NUM_THREADS to choose)",
                  sharing, *threads);
fail:
    return st;
}

cosmos_status cli_parse_pp_layers(const char *s, int pp, int *out) {
    cosmos_status st = COSMOS_OK;
    int n = 0;
    CHECK_ARG(pp >= 1 && pp <= 256, COSMOS_ERR_INVALID_ARG, "--pp-layers: --pp must be in [1, 256] (got %d)", pp);
    const char *p = s;
    while (*p && n < 256) {
        char *end = NULL;
        const long v = strtol(p, &end, 10);
        CHECK_ARG(end != p && v > 0 && v < 100000 && (*end == ',' || *end == '\0'), COSMOS_ERR_INVALID_ARG,
                  "--pp-layers '%s': expected positive layer counts separated by commas", s);
        if (n < pp) out[n] = (int)v;
        n++;
        p = *end ? end + 1 : end;
    }
    CHECK_ARG(n == pp, COSMOS_ERR_INVALID_ARG, "--pp-layers gives %d stages, --pp is %d", n, pp);
fail:
    return st;
}

cosmos_status cli_session_open(const struct cli_common *common, const char *model_path, const char *ctx_path,
                               int max_chunk, int n_seq, struct cli_session *s) {
    cosmos_status st = COSMOS_OK;
    float *ctx = NULL;
    memset(s, 0, sizeof *s);
    s->is_writer = 1;
    int stage_layers[256];
    CHECK_ARG(common->tp >= 1 && common->pp >= 1 && common->pp <= 256, COSMOS_ERR_INVALID_ARG,
              "--tp must be >= 1 and --pp in [1, 256]");
    if (common->pp_layers) CHECK(cli_parse_pp_layers(common->pp_layers, common->pp, stage_layers));
    if (common->tp * common->pp > 1) {
        CHECK(cosmos_comm_mpi_world(&s->world));
        const int rank = cosmos_comm_rank(s->world);
        s->is_writer = rank == 0;
        CHECK_ARG(cosmos_comm_size(s->world) == common->tp * common->pp, COSMOS_ERR_INVALID_ARG,
                  "layout tp %d x pp %d needs %d ranks, but %d were started (mpirun -np %d)", common->tp, common->pp,
                  common->tp * common->pp, cosmos_comm_size(s->world), common->tp * common->pp);
        CHECK(cosmos_comm_split(s->world, rank / common->tp, rank, &s->tp_comm));
        CHECK(cosmos_comm_split(s->world, rank % common->tp, rank, &s->pp_comm));
    }
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    char be_name[64];
    int local_rank = 0;
    if (s->world) CHECK(cosmos_comm_local_rank(s->world, &local_rank));
    CHECK(cli_rank_threads(s->world, common->threads, &bp.n_threads)); /* ranks share a node's CPUs */
    if (s->world)
        cosmos_backend_name_for_rank(common->backend, local_rank, be_name, sizeof be_name);
    else
        snprintf(be_name, sizeof be_name, "%s", common->backend);
    st = cosmos_backend_create(be_name, &bp, &s->be);
    if (st == COSMOS_OK) {
        struct cosmos_ar_load_params lp = cosmos_ar_load_params_default();
        if (max_chunk > 0) lp.max_chunk = max_chunk;
        lp.n_seq = n_seq;
        lp.tp_comm = common->tp > 1 ? s->tp_comm : NULL;
        lp.pp_comm = common->pp > 1 ? s->pp_comm : NULL;
        lp.stage_layers = common->pp_layers ? stage_layers : NULL;
        st = cosmos_ar_model_load(model_path, s->be, &lp, &s->m);
    }
    if (s->world) { /* every rank learns whether all loaded, so none waits in a collective forever */
        int all_ok = 0;
        cosmos_status cst = cosmos_comm_all_ok(s->world, st == COSMOS_OK, &all_ok);
        if (st == COSMOS_OK && (cst != COSMOS_OK || !all_ok)) {
            LOG_ERROR("another rank failed to load the model; stopping");
            st = COSMOS_ERR_IO;
        }
    }
    CHECK(st);
    const struct cosmos_ar_config *c = cosmos_ar_model_config(s->m);
    struct cosmos_ar_memory mem = cosmos_ar_model_memory(s->m);
    if (s->world)
        LOG_INFO("model %s, pp stage %d of %d, tp rank %d of %d: holds %.1f MB of weights (%.1f MB mapped from the file, %.1f MB copied), kv cache "
                 "%.1f MB",
                 c->name, cosmos_comm_rank(s->world) / common->tp, common->pp, cosmos_comm_rank(s->world) % common->tp,
                 common->tp, mem.weight_bytes / 1e6,
                 mem.weight_mapped_bytes / 1e6, (mem.weight_bytes - mem.weight_mapped_bytes) / 1e6, mem.kv_bytes / 1e6);
    else
        LOG_INFO("model %s on %s: weights %.1f MB (%.1f MB mapped), kv cache %.1f MB, context %.1f MB, "
                 "tables %.1f MB, scratch %.1f MB",
                 c->name, cosmos_backend_name(s->be), mem.weight_bytes / 1e6, mem.weight_mapped_bytes / 1e6,
                 mem.kv_bytes / 1e6, mem.context_bytes / 1e6, mem.table_bytes / 1e6, mem.scratch_bytes / 1e6);
    if (!cosmos_backend_is_host(s->be)) {
        struct cosmos_backend_memory bm;
        if (cosmos_backend_memory(s->be, &bm) == COSMOS_OK && bm.device_total)
            LOG_INFO("%s: model %.2f GB + backend workspaces %.1f MB; device memory in use %.2f of %.2f GB",
                     cosmos_backend_name(s->be),
                     (mem.weight_bytes + mem.kv_bytes + mem.context_bytes + mem.table_bytes + mem.scratch_bytes) / 1e9,
                     bm.workspace_bytes / 1e6, (bm.device_total - bm.device_free) / 1e9, bm.device_total / 1e9);
    }
    if (cosmos_log_is_rank0() && cosmos_log_get_level() >= COSMOS_LOG_DEBUG) {
        char *json = cosmos_ar_config_to_json(c);
        if (json) LOG_DEBUG("effective model config:\n%s", json);
        free(json);
    }
    if (c->insert_cross_attn) {
        CHECK_ARG(ctx_path, COSMOS_ERR_INVALID_ARG,
                  "model '%s' is a Video2World model: it needs --context C.h5 (float32 /context [%d, %d], the T5 "
                  "embedding of the prompt)",
                  c->name, c->context_len, c->context_dim);
        int rows = 0, cols = 0;
        CHECK(cosmos_context_read(ctx_path, &ctx, &rows, &cols));
        for (int i = n_seq - 1; i >= 0; i--) {
            CHECK(cosmos_ar_use_seq(s->m, i));
            CHECK(cosmos_ar_set_context(s->m, ctx, rows, cols));
        }
    } else {
        CHECK_ARG(!ctx_path, COSMOS_ERR_INVALID_ARG,
                  "model '%s' has no cross-attention: it takes no --context (base models are video-only)", c->name);
    }
fail:
    free(ctx);
    return st;
}

void cli_session_close(struct cli_session *s) {
    cosmos_ar_model_free(s->m);
    cosmos_backend_free(s->be);
    cosmos_comm_free(s->tp_comm);
    cosmos_comm_free(s->pp_comm);
    cosmos_comm_free(s->world);
    memset(s, 0, sizeof *s);
}
