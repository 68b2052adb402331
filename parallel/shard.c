/* Shard arithmetic (see shard.h). */
#include "parallel/shard.h"

#include "core/log.h"

struct cosmos_range cosmos_shard_even(int64_t total, int parts, int index) {
    struct cosmos_range r = {total / parts * index, total / parts};
    return r;
}

static cosmos_status need_divides(int tp, int64_t n, const char *what, const char *name) {
    if (n % tp == 0) return COSMOS_OK;
    LOG_ERROR("tensor parallelism %d cannot split model '%s': %s = %lld is not a multiple of %d", tp, name, what,
              (long long)n, tp);
    return COSMOS_ERR_INVALID_ARG;
}

cosmos_status cosmos_tp_check(const struct cosmos_ar_config *c, int tp) {
    if (tp < 1) {
        LOG_ERROR("tensor parallelism must be >= 1 (got %d)", tp);
        return COSMOS_ERR_INVALID_ARG;
    }
    cosmos_status st;
    if ((st = need_divides(tp, c->n_heads, "n_heads", c->name)) != COSMOS_OK) return st;
    if ((st = need_divides(tp, c->n_kv_heads, "n_kv_heads", c->name)) != COSMOS_OK) return st;
    if ((st = need_divides(tp, c->ffn_hidden_size, "ffn_hidden_size", c->name)) != COSMOS_OK) return st;
    if ((st = need_divides(tp, c->vocab_size, "vocab_size", c->name)) != COSMOS_OK) return st;
    return need_divides(tp, c->input_vocab_size, "input_vocab_size", c->name);
}

cosmos_status cosmos_layout_check(const struct cosmos_ar_config *c, int tp, int pp, int world_size) {
    if (pp < 1) {
        LOG_ERROR("pipeline parallelism must be >= 1 (got %d)", pp);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (pp > c->n_layers) {
        LOG_ERROR("pipeline parallelism %d exceeds the %d layers of model '%s'", pp, c->n_layers, c->name);
        return COSMOS_ERR_INVALID_ARG;
    }
    cosmos_status st = cosmos_tp_check(c, tp);
    if (st != COSMOS_OK) return st;
    if ((int64_t)tp * pp != world_size) {
        LOG_ERROR("layout tp %d x pp %d = %d ranks, but %d ranks were started (mpirun -np %d)", tp, pp, tp * pp,
                  world_size, tp * pp);
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}

cosmos_status cosmos_pp_stage_layers(const struct cosmos_ar_config *c, int pp, const int *stage_layers, int stage,
                                     int *l0, int *l1) {
    if (pp < 1 || pp > c->n_layers) {
        LOG_ERROR("pipeline parallelism %d: model '%s' has %d layers (1 <= pp <= n_layers)", pp, c->name, c->n_layers);
        return COSMOS_ERR_INVALID_ARG;
    }
    int start = 0, sum = 0;
    for (int s = 0; s < pp; s++) {
        int n = stage_layers ? stage_layers[s] : c->n_layers / pp + (s < c->n_layers % pp);
        if (n < 1) {
            LOG_ERROR("pipeline stage %d has %d layers: every stage needs at least one", s, n);
            return COSMOS_ERR_INVALID_ARG;
        }
        if (s == stage) {
            *l0 = start;
            *l1 = start + n;
        }
        start += n;
        sum += n;
    }
    if (sum != c->n_layers) {
        LOG_ERROR("pipeline stage layers sum to %d, but model '%s' has %d layers", sum, c->name, c->n_layers);
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}
