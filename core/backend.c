/* Backend registry and op dispatchers: the shape/dtype checks of every op live here, once, so
 * each implementation can trust its arguments (see backend.h for the op contracts). */
#include "core/backend.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend_impl.h"
#include "core/log.h"

struct cosmos_backend_params cosmos_backend_params_default(void) {
    struct cosmos_backend_params p = {0};
    return p;
}

cosmos_status cosmos_backend_create(const char *name, const struct cosmos_backend_params *params,
                                    cosmos_backend_t **out) {
    struct cosmos_backend_params def = cosmos_backend_params_default();
    if (!params) params = &def;
    *out = NULL;
    if (strcmp(name, "cpu") == 0 || strcmp(name, "cpu-staged") == 0) {
        cosmos_status st = cosmos_backend_cpu_create(params, out);
        if (st != COSMOS_OK) return st;
        (*out)->device = -1;
        (*out)->stream = NULL;
        if (name[3] == '-') {
            snprintf((*out)->name, sizeof (*out)->name, "%s", name);
            (*out)->is_host = 0;
        }
        return COSMOS_OK;
    }
    if (strcmp(name, "cuda") == 0) return cosmos_backend_cuda_create(0, params, out);
    if (strncmp(name, "cuda:", 5) == 0) {
        char *end = NULL;
        long dev = strtol(name + 5, &end, 10);
        if (end == name + 5 || *end != '\0' || dev < 0 || dev > 1023) {
            LOG_ERROR("bad backend name '%s': expected cuda:N with N a device index", name);
            return COSMOS_ERR_INVALID_ARG;
        }
        return cosmos_backend_cuda_create((int)dev, params, out);
    }
    LOG_ERROR("unknown backend '%s' (known: cpu, cuda, cuda:N, cpu-staged)", name);
    return COSMOS_ERR_INVALID_ARG;
}

cosmos_status cosmos_backend_name_act_dtype(const char *name, enum cosmos_dtype *out) {
    if (strcmp(name, "cpu") == 0 || strcmp(name, "cpu-staged") == 0) { /* kernels/cpu/backend_cpu.c */
        *out = COSMOS_F32;
        return COSMOS_OK;
    }
    if (strcmp(name, "cuda") == 0 || strncmp(name, "cuda:", 5) == 0) { /* kernels/cuda/backend_cuda.c */
        *out = COSMOS_BF16;
        return COSMOS_OK;
    }
    LOG_ERROR("unknown backend '%s' (known: cpu, cuda, cuda:N, cpu-staged)", name);
    return COSMOS_ERR_INVALID_ARG;
}

void cosmos_backend_name_for_rank(const char *name, int local_rank, char *out, size_t n) {
    if (strcmp(name, "cuda") == 0)
        snprintf(out, n, "cuda:%d", local_rank);
    else
        snprintf(out, n, "%s", name);
}

void cosmos_backend_free(cosmos_backend_t *be) {
    if (!be) return;
    if (be->ops->free_ctx) be->ops->free_ctx(be->ctx);
    free(be);
}

const char *cosmos_backend_name(const cosmos_backend_t *be) { return be->name; }
enum cosmos_dtype cosmos_backend_act_dtype(const cosmos_backend_t *be) { return be->act_dtype; }
int cosmos_backend_is_host(const cosmos_backend_t *be) { return be->is_host; }
int cosmos_backend_device(const cosmos_backend_t *be) { return be->device; }
void *cosmos_backend_stream(const cosmos_backend_t *be) { return be->stream; }

cosmos_status cosmos_backend_alloc(cosmos_backend_t *be, size_t bytes, void **ptr) {
    return be->ops->alloc(be->ctx, bytes, ptr);
}
void cosmos_backend_free_mem(cosmos_backend_t *be, void *ptr) {
    if (ptr) be->ops->free_mem(be->ctx, ptr);
}
cosmos_status cosmos_backend_upload(cosmos_backend_t *be, void *dst, const void *src, size_t bytes) {
    return be->ops->upload(be->ctx, dst, src, bytes);
}
cosmos_status cosmos_backend_download(cosmos_backend_t *be, void *dst, const void *src, size_t bytes) {
    return be->ops->download(be->ctx, dst, src, bytes);
}
cosmos_status cosmos_backend_sync(cosmos_backend_t *be) { return be->ops->sync(be->ctx); }

static void shape_str(const struct cosmos_tensor *t, char *buf, size_t n) {
    size_t off = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (off < n) snprintf(buf + off, n - off, "] %s", cosmos_dtype_name(t->dtype));
}

static cosmos_status shape_error(const char *op, const char *what, const struct cosmos_tensor *a,
                                 const struct cosmos_tensor *b) {
    char sa[96], sb[96] = "";
    shape_str(a, sa, sizeof sa);
    if (b) shape_str(b, sb, sizeof sb);
    LOG_ERROR("%s: %s (%s%s%s)", op, what, sa, b ? " vs " : "", sb);
    return COSMOS_ERR_INVALID_ARG;
}

static int is_act(const cosmos_backend_t *be, const struct cosmos_tensor *t) { return t->dtype == be->act_dtype; }
static int is_f32(const struct cosmos_tensor *t) { return t->dtype == COSMOS_F32; }
/* y and x of an elementwise op that takes f32 on every backend or the backend's activations: one
 * size, one dtype, f32 or the activation dtype */
static int unary_f32_or_act(const cosmos_backend_t *be, const struct cosmos_tensor *y, const struct cosmos_tensor *x) {
    return cosmos_tensor_numel(y) == cosmos_tensor_numel(x) && y->dtype == x->dtype && (is_f32(x) || is_act(be, x));
}
static int64_t last_dim(const struct cosmos_tensor *t) { return t->shape[t->ndim - 1]; }
static int64_t outer_rows(const struct cosmos_tensor *t) { return cosmos_tensor_numel(t) / last_dim(t); }

/* A NULL slot in a backend's op table: the backend lacks the op (UNSUPPORTED, never a stub). */
static cosmos_status missing_op(const cosmos_backend_t *be, const char *op) {
    LOG_ERROR("%s: backend '%s' does not implement this op yet", op, be->name);
    return COSMOS_ERR_UNSUPPORTED;
}

cosmos_status cosmos_op_matmul(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                               struct cosmos_tensor w) {
    if (w.ndim != 2 || w.dtype != COSMOS_BF16) return shape_error("matmul", "weight must be 2-D bf16", &w, NULL);
    if (!is_act(be, &x) || !is_act(be, &y)) return shape_error("matmul", "x and y must be activations", &x, &y);
    if (last_dim(&x) != w.shape[1]) return shape_error("matmul", "x inner dim != weight in-features", &x, &w);
    if (last_dim(&y) != w.shape[0]) return shape_error("matmul", "y inner dim != weight out-features", &y, &w);
    if (outer_rows(&x) != outer_rows(&y)) return shape_error("matmul", "x and y row counts differ", &x, &y);
    struct cosmos_tensor x2 = cosmos_tensor_2d(x.data, x.dtype, outer_rows(&x), last_dim(&x));
    struct cosmos_tensor y2 = cosmos_tensor_2d(y.data, y.dtype, outer_rows(&y), last_dim(&y));
    if (!be->ops->matmul) return missing_op(be, "matmul");
    return be->ops->matmul(be->ctx, y2, x2, w);
}

/* The fused matmul ops check everything first, then try the backend's fusion, which answers
 * UNSUPPORTED (having done nothing) for a call it does not fuse; then they compose the ops. */
cosmos_status cosmos_op_matmul_add(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor a,
                                   struct cosmos_tensor x, struct cosmos_tensor w, struct cosmos_tensor tmp) {
    if (w.ndim != 2 || w.dtype != COSMOS_BF16) return shape_error("matmul_add", "weight must be 2-D bf16", &w, NULL);
    const int64_t M = outer_rows(&x), N = w.shape[0];
    if (!is_act(be, &x) || last_dim(&x) != w.shape[1])
        return shape_error("matmul_add", "x must be [M, K] activations, the weight bf16 [N, K]", &x, &w);
    if (!is_act(be, &y) || !is_act(be, &a) || !is_act(be, &tmp) || cosmos_tensor_numel(&y) != M * N ||
        cosmos_tensor_numel(&a) != M * N || cosmos_tensor_numel(&tmp) != M * N || last_dim(&y) != N)
        return shape_error("matmul_add", "y, a and tmp must be [M, N] activations", &y, &w);
    const struct cosmos_tensor y2 = cosmos_tensor_2d(y.data, y.dtype, M, N), a2 = cosmos_tensor_2d(a.data, a.dtype, M, N),
                               x2 = cosmos_tensor_2d(x.data, x.dtype, M, last_dim(&x));
    if (be->ops->matmul_add) {
        const cosmos_status st = be->ops->matmul_add(be->ctx, y2, a2, x2, w);
        if (st != COSMOS_ERR_UNSUPPORTED) return st;
    }
    const cosmos_status st = cosmos_op_matmul(be, tmp, x2, w);
    return st != COSMOS_OK ? st : cosmos_op_add(be, y2, a2, tmp);
}

cosmos_status cosmos_op_matmul_swiglu(cosmos_backend_t *be, struct cosmos_tensor h, struct cosmos_tensor x,
                                      struct cosmos_tensor w13, struct cosmos_tensor h13) {
    if (w13.ndim != 2 || w13.dtype != COSMOS_BF16 || w13.shape[0] % 2)
        return shape_error("matmul_swiglu", "w13 must be 2-D bf16 [2F, K]", &w13, NULL);
    const int64_t M = outer_rows(&x), F = w13.shape[0] / 2, K = w13.shape[1];
    if (!is_act(be, &x) || last_dim(&x) != K)
        return shape_error("matmul_swiglu", "x must be [M, K] activations, w13 bf16 [2F, K]", &x, &w13);
    if (!is_act(be, &h) || !is_act(be, &h13) || cosmos_tensor_numel(&h) != M * F || last_dim(&h) != F ||
        cosmos_tensor_numel(&h13) != 2 * M * F)
        return shape_error("matmul_swiglu", "h must be [M, F] activations, h13 [2, M, F]", &h, &w13);
    const struct cosmos_tensor x2 = cosmos_tensor_2d(x.data, x.dtype, M, K), h2 = cosmos_tensor_2d(h.data, h.dtype, M, F);
    if (be->ops->matmul_swiglu) {
        const cosmos_status st = be->ops->matmul_swiglu(be->ctx, h2, x2, w13);
        if (st != COSMOS_ERR_UNSUPPORTED) return st;
    }
    const size_t es = cosmos_dtype_size(w13.dtype), hs = cosmos_dtype_size(h13.dtype);
    const struct cosmos_tensor w1 = cosmos_tensor_2d(w13.data, w13.dtype, F, K),
                               w3 = cosmos_tensor_2d((char *)w13.data + es * (size_t)(F * K), w13.dtype, F, K),
                               h1 = cosmos_tensor_2d(h13.data, h13.dtype, M, F),
                               h3 = cosmos_tensor_2d((char *)h13.data + hs * (size_t)(M * F), h13.dtype, M, F);
    /* one row: [h1 | h3] by one product over all of w13 (one weight stream); else one per half */
    cosmos_status st = M == 1 ? cosmos_op_matmul(be, cosmos_tensor_2d(h13.data, h13.dtype, 1, 2 * F), x2, w13)
                              : cosmos_op_matmul(be, h1, x2, w1);
    if (st == COSMOS_OK && M > 1) st = cosmos_op_matmul(be, h3, x2, w3);
    return st != COSMOS_OK ? st : cosmos_op_silu_mul(be, h2, h1, h3);
}

cosmos_status cosmos_op_rmsnorm(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                struct cosmos_tensor w, float eps) {
    if (w.ndim != 1 || w.dtype != COSMOS_BF16) return shape_error("rmsnorm", "weight must be 1-D bf16", &w, NULL);
    if (last_dim(&x) != w.shape[0]) return shape_error("rmsnorm", "x last dim != weight size", &x, &w);
    if (cosmos_tensor_numel(&x) != cosmos_tensor_numel(&y) || !is_act(be, &x) || !is_act(be, &y))
        return shape_error("rmsnorm", "x and y must be activations of one size", &x, &y);
    struct cosmos_tensor x2 = cosmos_tensor_2d(x.data, x.dtype, outer_rows(&x), last_dim(&x));
    struct cosmos_tensor y2 = cosmos_tensor_2d(y.data, y.dtype, outer_rows(&x), last_dim(&x));
    if (!be->ops->rmsnorm) return missing_op(be, "rmsnorm");
    return be->ops->rmsnorm(be->ctx, y2, x2, w, eps);
}

cosmos_status cosmos_backend_set_pos(cosmos_backend_t *be, int64_t pos) {
    if (pos < 0) {
        LOG_ERROR("set_pos: negative position %lld", (long long)pos);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (!be->ops->set_pos) return missing_op(be, "set_pos");
    return be->ops->set_pos(be->ctx, pos);
}

cosmos_status cosmos_backend_memory(cosmos_backend_t *be, struct cosmos_backend_memory *out) {
    memset(out, 0, sizeof *out);
    return be->ops->memory ? be->ops->memory(be->ctx, out) : COSMOS_OK;
}

cosmos_status cosmos_backend_reserve_attention(cosmos_backend_t *be, int64_t T_max, int64_t H, int64_t Hkv,
                                               int64_t Dh, int64_t S, int causal) {
    if (!(T_max >= 1 && H >= 1 && Hkv >= 1 && H % Hkv == 0 && Dh >= 1 && S >= 0)) {
        LOG_ERROR("reserve_attention: bad shape T_max %lld, H %lld, Hkv %lld, Dh %lld, S %lld", (long long)T_max,
                  (long long)H, (long long)Hkv, (long long)Dh, (long long)S);
        return COSMOS_ERR_INVALID_ARG;
    }
    return be->ops->reserve_attention ? be->ops->reserve_attention(be->ctx, T_max, H, Hkv, Dh, S, causal) : COSMOS_OK;
}
cosmos_status cosmos_backend_reserve_sampler(cosmos_backend_t *be, int64_t V) {
    if (V < 1 || V > INT32_MAX) {
        LOG_ERROR("reserve_sampler: bad vocab size %lld", (long long)V);
        return COSMOS_ERR_INVALID_ARG;
    }
    return be->ops->reserve_sampler ? be->ops->reserve_sampler(be->ctx, V) : COSMOS_OK;
}

int cosmos_backend_has_graphs(const cosmos_backend_t *be) { return be->ops->graph_begin != NULL; }
cosmos_status cosmos_backend_graph_begin(cosmos_backend_t *be) {
    if (!be->ops->graph_begin) return missing_op(be, "graph_begin");
    return be->ops->graph_begin(be->ctx);
}
cosmos_status cosmos_backend_graph_end(cosmos_backend_t *be, cosmos_graph_t **out) {
    *out = NULL;
    if (!be->ops->graph_end) return missing_op(be, "graph_end");
    void *g = NULL;
    cosmos_status st = be->ops->graph_end(be->ctx, &g);
    *out = g;
    return st;
}
cosmos_status cosmos_backend_graph_launch(cosmos_backend_t *be, cosmos_graph_t *g) {
    if (!be->ops->graph_launch) return missing_op(be, "graph_launch");
    if (!g) {
        LOG_ERROR("graph_launch: no graph");
        return COSMOS_ERR_INVALID_ARG;
    }
    return be->ops->graph_launch(be->ctx, g);
}
void cosmos_backend_graph_free(cosmos_backend_t *be, cosmos_graph_t *g) {
    if (g && be->ops->graph_free) be->ops->graph_free(be->ctx, g);
}

/* A position argument: COSMOS_POS_DEVICE (unchecked: read when the op runs) or [0, S - T]. */
static int pos_ok(int pos0, int64_t T, int64_t S) { return pos0 == COSMOS_POS_DEVICE || (pos0 >= 0 && pos0 + T <= S); }

cosmos_status cosmos_op_store_rows(cosmos_backend_t *be, struct cosmos_tensor dst, struct cosmos_tensor src,
                                   int pos0) {
    if (dst.dtype != src.dtype || dst.ndim < 1 || src.ndim != dst.ndim ||
        memcmp(dst.shape + 1, src.shape + 1, sizeof(int64_t) * (size_t)(dst.ndim - 1)) != 0)
        return shape_error("store_rows", "dst and src rows differ", &dst, &src);
    if (!pos_ok(pos0, src.shape[0], dst.shape[0])) return shape_error("store_rows", "rows beyond dst", &src, &dst);
    if (!be->ops->store_rows) return missing_op(be, "store_rows");
    return be->ops->store_rows(be->ctx, dst, src, pos0);
}

cosmos_status cosmos_op_add_rows(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor a,
                                 struct cosmos_tensor table, int pos0) {
    if (y.ndim != 2 || a.ndim != 2 || table.ndim != 2 || memcmp(y.shape, a.shape, sizeof y.shape) != 0 ||
        table.shape[1] != y.shape[1] || (table.dtype != COSMOS_BF16 && table.dtype != COSMOS_F32))
        return shape_error("add_rows", "y, a must be [T, D], table [S, D] bf16 or f32", &y, &table);
    if (!is_act(be, &y) || !is_act(be, &a)) return shape_error("add_rows", "y and a must be activations", &y, &a);
    if (!pos_ok(pos0, y.shape[0], table.shape[0])) return shape_error("add_rows", "rows beyond the table", &y, &table);
    if (!be->ops->add_rows) return missing_op(be, "add_rows");
    return be->ops->add_rows(be->ctx, y, a, table, pos0);
}

cosmos_status cosmos_op_rope(cosmos_backend_t *be, struct cosmos_tensor x, struct cosmos_tensor c,
                             struct cosmos_tensor s, int pos0) {
    if (x.ndim != 3 || !is_act(be, &x)) return shape_error("rope", "x must be [T,H,Dh] activations", &x, NULL);
    if (x.shape[2] % 2) return shape_error("rope", "head dim must be even", &x, NULL);
    if (c.ndim != 2 || s.ndim != 2 || c.shape[1] * 2 != x.shape[2] || s.shape[1] != c.shape[1] ||
        s.shape[0] != c.shape[0] || c.dtype != s.dtype)
        return shape_error("rope", "tables must be [S, Dh/2]", &c, &x);
    if (!pos_ok(pos0, x.shape[0], c.shape[0])) return shape_error("rope", "positions beyond the table", &x, &c);
    if (!be->ops->rope) return missing_op(be, "rope");
    return be->ops->rope(be->ctx, x, c, s, pos0);
}

cosmos_status cosmos_op_qk_norm_rope(cosmos_backend_t *be, struct cosmos_tensor x, struct cosmos_tensor w, float eps,
                                     struct cosmos_tensor c, struct cosmos_tensor s, int pos0) {
    if (!be->ops->qk_norm_rope) { /* composed: the dispatchers below check the shapes */
        cosmos_status st = cosmos_op_rmsnorm(be, x, x, w, eps);
        return st != COSMOS_OK ? st : cosmos_op_rope(be, x, c, s, pos0);
    }
    if (x.ndim != 3 || !is_act(be, &x) || x.shape[2] % 2)
        return shape_error("qk_norm_rope", "x must be [T,H,Dh] activations, Dh even", &x, NULL);
    if (w.ndim != 1 || w.dtype != COSMOS_BF16 || w.shape[0] != x.shape[2])
        return shape_error("qk_norm_rope", "weight must be bf16 [Dh]", &w, &x);
    if (c.ndim != 2 || s.ndim != 2 || c.shape[1] * 2 != x.shape[2] || s.shape[1] != c.shape[1] ||
        s.shape[0] != c.shape[0] || c.dtype != s.dtype)
        return shape_error("qk_norm_rope", "tables must be [S, Dh/2]", &c, &x);
    if (!pos_ok(pos0, x.shape[0], c.shape[0])) return shape_error("qk_norm_rope", "positions beyond the table", &x, &c);
    return be->ops->qk_norm_rope(be->ctx, x, w, eps, c, s, pos0);
}

cosmos_status cosmos_op_add_rows_rmsnorm(cosmos_backend_t *be, struct cosmos_tensor x, struct cosmos_tensor table,
                                         int pos0, struct cosmos_tensor y, struct cosmos_tensor w, float eps) {
    if (x.ndim != 2 || y.ndim != 2 || table.ndim != 2 || memcmp(x.shape, y.shape, sizeof x.shape) != 0 ||
        table.shape[1] != x.shape[1] || (table.dtype != COSMOS_BF16 && table.dtype != COSMOS_F32) ||
        !is_act(be, &x) || !is_act(be, &y) || x.data == y.data)
        return shape_error("add_rows_rmsnorm", "x, y must be distinct [T, D] activations, table [S, D] bf16 or f32",
                           &x, &table);
    if (w.ndim != 1 || w.dtype != COSMOS_BF16 || w.shape[0] != x.shape[1])
        return shape_error("add_rows_rmsnorm", "weight must be bf16 [D]", &w, &x);
    if (!pos_ok(pos0, x.shape[0], table.shape[0]))
        return shape_error("add_rows_rmsnorm", "rows beyond the table", &x, &table);
    if (!be->ops->add_rows_rmsnorm) {
        const cosmos_status st = cosmos_op_add_rows(be, x, x, table, pos0);
        return st != COSMOS_OK ? st : cosmos_op_rmsnorm(be, y, x, w, eps);
    }
    return be->ops->add_rows_rmsnorm(be->ctx, x, table, pos0, y, w, eps);
}

cosmos_status cosmos_op_qkv_rope_store(cosmos_backend_t *be, struct cosmos_tensor q, struct cosmos_tensor k,
                                       struct cosmos_tensor v, struct cosmos_tensor qw, struct cosmos_tensor kw,
                                       float eps, struct cosmos_tensor c, struct cosmos_tensor s,
                                       struct cosmos_tensor kc, struct cosmos_tensor vc, int pos0) {
    if (q.ndim != 3 || k.ndim != 3 || v.ndim != 3 || !is_act(be, &q) || !is_act(be, &k) || !is_act(be, &v) ||
        memcmp(k.shape, v.shape, sizeof k.shape) != 0 || q.shape[0] != k.shape[0] || q.shape[2] != k.shape[2] ||
        q.shape[2] % 2)
        return shape_error("qkv_rope_store", "q must be [T,H,Dh], k and v [T,Hkv,Dh] activations, Dh even", &q, &k);
    const int64_t T = q.shape[0], Dh = q.shape[2];
    if (qw.ndim != 1 || kw.ndim != 1 || qw.dtype != COSMOS_BF16 || kw.dtype != COSMOS_BF16 || qw.shape[0] != Dh ||
        kw.shape[0] != Dh)
        return shape_error("qkv_rope_store", "the QK-norm weights must be bf16 [Dh]", &qw, &kw);
    if (c.ndim != 2 || s.ndim != 2 || c.shape[1] * 2 != Dh || s.shape[1] != c.shape[1] || s.shape[0] != c.shape[0] ||
        c.dtype != s.dtype)
        return shape_error("qkv_rope_store", "tables must be [S, Dh/2]", &c, &q);
    if (kc.ndim != 3 || vc.ndim != 3 || kc.dtype != k.dtype || vc.dtype != k.dtype ||
        memcmp(kc.shape, vc.shape, sizeof kc.shape) != 0 || kc.shape[1] != k.shape[1] || kc.shape[2] != Dh)
        return shape_error("qkv_rope_store", "the caches must be [S, Hkv, Dh] of k's dtype", &kc, &k);
    if (!pos_ok(pos0, T, c.shape[0]) || !pos_ok(pos0, T, kc.shape[0]))
        return shape_error("qkv_rope_store", "positions beyond the tables or the cache", &q, &kc);
    if (!be->ops->qkv_rope_store) {
        cosmos_status st = cosmos_op_qk_norm_rope(be, q, qw, eps, c, s, pos0);
        if (st == COSMOS_OK) st = cosmos_op_qk_norm_rope(be, k, kw, eps, c, s, pos0);
        if (st == COSMOS_OK) st = cosmos_op_store_rows(be, kc, k, pos0);
        return st != COSMOS_OK ? st : cosmos_op_store_rows(be, vc, v, pos0);
    }
    return be->ops->qkv_rope_store(be->ctx, q, k, v, qw, kw, eps, c, s, kc, vc, pos0);
}

cosmos_status cosmos_op_embedding(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor table,
                                  struct cosmos_tensor ids) {
    if (table.ndim != 2 || table.dtype != COSMOS_BF16)
        return shape_error("embedding", "table must be 2-D bf16", &table, NULL);
    if (ids.dtype != COSMOS_I32 || ids.ndim != 1) return shape_error("embedding", "ids must be 1-D int32", &ids, NULL);
    if (y.ndim != 2 || !is_act(be, &y) || y.shape[0] != ids.shape[0] || y.shape[1] != table.shape[1])
        return shape_error("embedding", "y must be [T, D] activations", &y, &table);
    if (!be->ops->embedding) return missing_op(be, "embedding");
    return be->ops->embedding(be->ctx, y, table, ids);
}

cosmos_status cosmos_op_add(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor a,
                            struct cosmos_tensor b) {
    if (cosmos_tensor_numel(&y) != cosmos_tensor_numel(&a) || cosmos_tensor_numel(&a) != cosmos_tensor_numel(&b))
        return shape_error("add", "operands differ in size", &a, &b);
    const int all_f32 = y.dtype == COSMOS_F32 && a.dtype == COSMOS_F32 && b.dtype == COSMOS_F32; /* T5's residuals */
    if (!all_f32 && (!is_act(be, &y) || !is_act(be, &a)))
        return shape_error("add", "y and a must be activations (or y, a, b all f32)", &y, &a);
    if (!be->ops->add) return missing_op(be, "add");
    return be->ops->add(be->ctx, y, a, b);
}

cosmos_status cosmos_op_silu_mul(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor a,
                                 struct cosmos_tensor b) {
    if (cosmos_tensor_numel(&y) != cosmos_tensor_numel(&a) || cosmos_tensor_numel(&a) != cosmos_tensor_numel(&b) ||
        !is_act(be, &y) || !is_act(be, &a) || !is_act(be, &b))
        return shape_error("silu_mul", "operands must be activations of one size", &a, &b);
    if (!be->ops->silu_mul) return missing_op(be, "silu_mul");
    return be->ops->silu_mul(be->ctx, y, a, b);
}

cosmos_status cosmos_op_attention(cosmos_backend_t *be, struct cosmos_tensor out, struct cosmos_tensor q,
                                  struct cosmos_tensor k, struct cosmos_tensor v, int pos0, int causal) {
    if (q.ndim != 3 || out.ndim != 3 || k.ndim != 3 || v.ndim != 3)
        return shape_error("attention", "q, out, k, v must be 3-D", &q, &k);
    if (memcmp(q.shape, out.shape, sizeof q.shape) != 0) return shape_error("attention", "out != q shape", &out, &q);
    if (memcmp(k.shape, v.shape, sizeof k.shape) != 0 || k.dtype != v.dtype)
        return shape_error("attention", "k and v differ", &k, &v);
    if (k.shape[2] != q.shape[2] || k.shape[1] <= 0 || q.shape[1] % k.shape[1] != 0)
        return shape_error("attention", "head dims differ or H not a multiple of Hkv", &q, &k);
    if (!is_act(be, &q) || !is_act(be, &out)) return shape_error("attention", "q/out must be activations", &q, &out);
    if (causal && !pos_ok(pos0, q.shape[0], k.shape[0]))
        return shape_error("attention", "query positions beyond the cache", &q, &k);
    if (!be->ops->attention) return missing_op(be, "attention");
    return be->ops->attention(be->ctx, out, q, k, v, pos0, causal);
}

cosmos_status cosmos_op_copy(cosmos_backend_t *be, struct cosmos_tensor dst, struct cosmos_tensor src) {
    if (cosmos_tensor_numel(&dst) != cosmos_tensor_numel(&src)) return shape_error("copy", "sizes differ", &dst, &src);
    if (dst.dtype == COSMOS_I32 || src.dtype == COSMOS_I32) {
        if (dst.dtype != src.dtype) return shape_error("copy", "int32 copies need equal dtypes", &dst, &src);
    }
    if (!be->ops->copy) return missing_op(be, "copy");
    return be->ops->copy(be->ctx, dst, src);
}

cosmos_status cosmos_op_sample(cosmos_backend_t *be, struct cosmos_tensor token, struct cosmos_tensor logits,
                               const struct cosmos_sampler_params *p, int64_t position) {
    if (token.dtype != COSMOS_I32 || cosmos_tensor_numel(&token) < 1 || cosmos_tensor_numel(&token) > 2)
        return shape_error("sample", "token must be one int32 (or two: token, non-finite flag)", &token, NULL);
    if (logits.dtype != COSMOS_F32 || cosmos_tensor_numel(&logits) < 1 || cosmos_tensor_numel(&logits) > INT32_MAX)
        return shape_error("sample", "logits must be f32 [V]", &logits, NULL);
    if (position < 0 && position != COSMOS_POS_DEVICE) {
        LOG_ERROR("sample: negative position %lld", (long long)position);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (!be->ops->sample) return missing_op(be, "sample");
    return be->ops->sample(be->ctx, token, logits, p, position);
}

/* ---- T5 encoder ops ---- */

cosmos_status cosmos_op_matmul_f32w(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                    struct cosmos_tensor w) {
    if (w.ndim != 2 || w.dtype != COSMOS_F32) return shape_error("matmul_f32w", "weight must be 2-D f32", &w, NULL);
    if (!is_f32(&x) || !is_f32(&y)) return shape_error("matmul_f32w", "x and y must be f32", &x, &y);
    if (last_dim(&x) != w.shape[1]) return shape_error("matmul_f32w", "x inner dim != weight in-features", &x, &w);
    if (last_dim(&y) != w.shape[0]) return shape_error("matmul_f32w", "y inner dim != weight out-features", &y, &w);
    if (outer_rows(&x) != outer_rows(&y)) return shape_error("matmul_f32w", "x and y row counts differ", &x, &y);
    if (!be->ops->matmul_f32w) return missing_op(be, "matmul_f32w");
    struct cosmos_tensor x2 = cosmos_tensor_2d(x.data, x.dtype, outer_rows(&x), last_dim(&x));
    struct cosmos_tensor y2 = cosmos_tensor_2d(y.data, y.dtype, outer_rows(&y), last_dim(&y));
    return be->ops->matmul_f32w(be->ctx, y2, x2, w);
}

cosmos_status cosmos_op_rmsnorm_f32w(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                     struct cosmos_tensor w, float eps) {
    if (w.ndim != 1 || w.dtype != COSMOS_F32) return shape_error("rmsnorm_f32w", "weight must be 1-D f32", &w, NULL);
    if (last_dim(&x) != w.shape[0]) return shape_error("rmsnorm_f32w", "x last dim != weight size", &x, &w);
    if (cosmos_tensor_numel(&x) != cosmos_tensor_numel(&y) || !is_f32(&x) || !is_f32(&y))
        return shape_error("rmsnorm_f32w", "x and y must be f32 of one size", &x, &y);
    if (!be->ops->rmsnorm_f32w) return missing_op(be, "rmsnorm_f32w");
    struct cosmos_tensor x2 = cosmos_tensor_2d(x.data, x.dtype, outer_rows(&x), last_dim(&x));
    struct cosmos_tensor y2 = cosmos_tensor_2d(y.data, y.dtype, outer_rows(&x), last_dim(&x));
    return be->ops->rmsnorm_f32w(be->ctx, y2, x2, w, eps);
}

cosmos_status cosmos_op_relu(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x) {
    if (!unary_f32_or_act(be, &y, &x))
        return shape_error("relu", "x and y must be f32 or activations, of one size and dtype", &x, &y);
    if (!be->ops->relu) return missing_op(be, "relu");
    return be->ops->relu(be->ctx, y, x);
}

cosmos_status cosmos_op_attention_relbias(cosmos_backend_t *be, struct cosmos_tensor out, struct cosmos_tensor q,
                                          struct cosmos_tensor k, struct cosmos_tensor v,
                                          struct cosmos_tensor rel_bias, float scale) {
    if (q.ndim != 3 || out.ndim != 3 || k.ndim != 3 || v.ndim != 3)
        return shape_error("attention_relbias", "q, out, k, v must be 3-D", &q, &k);
    if (memcmp(q.shape, out.shape, sizeof q.shape) != 0)
        return shape_error("attention_relbias", "out != q shape", &out, &q);
    if (memcmp(k.shape, v.shape, sizeof k.shape) != 0)
        return shape_error("attention_relbias", "k and v shapes differ", &k, &v);
    if (k.shape[1] != q.shape[1] || k.shape[2] != q.shape[2])
        return shape_error("attention_relbias", "k must be [S,H,Dh] with q's H and Dh", &k, &q);
    if (!is_f32(&q) || !is_f32(&out) || !is_f32(&k) || !is_f32(&v))
        return shape_error("attention_relbias", "q, k, v, out must be f32", &q, &k);
    if (rel_bias.ndim != 2 || rel_bias.dtype != COSMOS_F32 || rel_bias.shape[0] != q.shape[1] ||
        rel_bias.shape[1] != q.shape[0] + k.shape[0] - 1)
        return shape_error("attention_relbias", "rel_bias must be f32 [H, T+S-1]", &rel_bias, &q);
    if (!be->ops->attention_relbias) return missing_op(be, "attention_relbias");
    return be->ops->attention_relbias(be->ctx, out, q, k, v, rel_bias, scale);
}

/* ---- DV tokenizer ops (spec components.md 2.4-2.7) ---- */

static int is_pow2(int p) { return p >= 1 && (p & (p - 1)) == 0; }
static int is_weight_dtype(enum cosmos_dtype d) { return d == COSMOS_F32 || d == COSMOS_BF16; }

cosmos_status cosmos_op_haar_patch(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                   int patch_size, float tap) {
    if (!is_pow2(patch_size)) {
        LOG_ERROR("haar_patch: patch_size %d is not a power of two", patch_size);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (x.ndim != 4 || !is_act(be, &x) || !is_act(be, &y) || y.ndim != 4)
        return shape_error("haar_patch", "x and y must be [C,T,H,W] activations", &x, &y);
    if (x.shape[1] < 1 || x.shape[2] % patch_size || x.shape[3] % patch_size || x.shape[2] == 0 || x.shape[3] == 0)
        return shape_error("haar_patch", "T must be >= 1 and H, W positive multiples of patch_size", &x, NULL);
    int64_t C = x.shape[0], T = x.shape[1] + patch_size - 1;
    for (int p = patch_size; p > 1; p /= 2) C *= 8, T = (T + 1) / 2;
    if (y.shape[0] != C || y.shape[1] != T || y.shape[2] != x.shape[2] / patch_size ||
        y.shape[3] != x.shape[3] / patch_size)
        return shape_error("haar_patch", "y must be [C*p^3, T', H/p, W/p]", &y, &x);
    if (!be->ops->haar_patch) return missing_op(be, "haar_patch");
    return be->ops->haar_patch(be->ctx, y, x, patch_size, tap);
}

cosmos_status cosmos_op_haar_unpatch(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                     int patch_size, float tap) {
    if (!is_pow2(patch_size)) {
        LOG_ERROR("haar_unpatch: patch_size %d is not a power of two", patch_size);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (x.ndim != 4 || !is_act(be, &x) || !is_act(be, &y) || y.ndim != 4)
        return shape_error("haar_unpatch", "x and y must be [C,T,H,W] activations", &x, &y);
    const int64_t p3 = (int64_t)patch_size * patch_size * patch_size;
    if (x.shape[0] % p3 || x.shape[1] < 1)
        return shape_error("haar_unpatch", "C must be a multiple of patch_size^3 and T >= 1", &x, NULL);
    if (y.shape[0] != x.shape[0] / p3 || y.shape[1] != x.shape[1] * patch_size - (patch_size - 1) ||
        y.shape[2] != x.shape[2] * patch_size || y.shape[3] != x.shape[3] * patch_size)
        return shape_error("haar_unpatch", "y must be [C/p^3, T*p-(p-1), H*p, W*p]", &y, &x);
    if (!be->ops->haar_unpatch) return missing_op(be, "haar_unpatch");
    return be->ops->haar_unpatch(be->ctx, y, x, patch_size, tap);
}

struct cosmos_conv3d_params cosmos_conv3d_params_causal(int kt, int kh, int kw, int stride_t, int stride_s, int pad) {
    struct cosmos_conv3d_params p = {kt, kh, kw, (kt - 1) + (1 - stride_t), stride_t, stride_s, pad, pad};
    return p;
}

cosmos_status cosmos_op_causal_conv3d(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                      struct cosmos_tensor w, struct cosmos_tensor bias,
                                      const struct cosmos_conv3d_params *p) {
    if (p->kt < 1 || p->kh < 1 || p->kw < 1 || p->stride_t < 1 || p->stride_s < 1 || p->time_pad < 0 ||
        p->pad_lo < 0 || p->pad_hi < 0) {
        LOG_ERROR("causal_conv3d: bad params (kernel %dx%dx%d, time_pad %d, strides %d/%d, pad %d/%d)", p->kt, p->kh,
                  p->kw, p->time_pad, p->stride_t, p->stride_s, p->pad_lo, p->pad_hi);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (x.ndim != 4 || y.ndim != 4 || !is_act(be, &x) || !is_act(be, &y))
        return shape_error("causal_conv3d", "x and y must be [C,T,H,W] activations", &x, &y);
    if (x.data == y.data) return shape_error("causal_conv3d", "y must not alias x", &y, &x);
    const int64_t Cin = x.shape[0], T = x.shape[1], H = x.shape[2], W = x.shape[3];
    if (w.ndim != 2 || !is_weight_dtype(w.dtype) || w.shape[1] != Cin * p->kt * p->kh * p->kw)
        return shape_error("causal_conv3d", "weight must be [Cout, Cin*kt*kh*kw] f32/bf16", &w, &x);
    if (bias.ndim != 1 || bias.shape[0] != w.shape[0] || bias.dtype != w.dtype)
        return shape_error("causal_conv3d", "bias must be [Cout] in the weight dtype", &bias, &w);
    if (T + p->time_pad < p->kt || H + p->pad_lo + p->pad_hi < p->kh || W + p->pad_lo + p->pad_hi < p->kw)
        return shape_error("causal_conv3d", "input (with padding) smaller than the kernel", &x, NULL);
    const int64_t To = (T + p->time_pad - p->kt) / p->stride_t + 1;
    const int64_t Ho = (H + p->pad_lo + p->pad_hi - p->kh) / p->stride_s + 1;
    const int64_t Wo = (W + p->pad_lo + p->pad_hi - p->kw) / p->stride_s + 1;
    if (y.shape[0] != w.shape[0] || y.shape[1] != To || y.shape[2] != Ho || y.shape[3] != Wo)
        return shape_error("causal_conv3d", "y must be [Cout, To, Ho, Wo] for these params", &y, &x);
    if (!be->ops->causal_conv3d) return missing_op(be, "causal_conv3d");
    return be->ops->causal_conv3d(be->ctx, y, x, w, bias, p);
}

cosmos_status cosmos_op_groupnorm_frames(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                         struct cosmos_tensor gamma, struct cosmos_tensor beta, float eps) {
    if (x.ndim != 4 || y.ndim != 4 || memcmp(x.shape, y.shape, sizeof x.shape) != 0 || !is_act(be, &x) ||
        !is_act(be, &y))
        return shape_error("groupnorm_frames", "x and y must be [C,T,H,W] activations of one shape", &x, &y);
    if (gamma.ndim != 1 || gamma.shape[0] != x.shape[0] || !is_weight_dtype(gamma.dtype))
        return shape_error("groupnorm_frames", "gamma must be [C] f32/bf16", &gamma, &x);
    if (beta.ndim != 1 || beta.shape[0] != x.shape[0] || beta.dtype != gamma.dtype)
        return shape_error("groupnorm_frames", "beta must be [C] in gamma's dtype", &beta, &gamma);
    if (!be->ops->groupnorm_frames) return missing_op(be, "groupnorm_frames");
    return be->ops->groupnorm_frames(be->ctx, y, x, gamma, beta, eps);
}

cosmos_status cosmos_op_copy_frames(cosmos_backend_t *be, struct cosmos_tensor dst, int64_t dst_t0,
                                    struct cosmos_tensor src, int64_t src_t0, int64_t n) {
    if (dst.ndim != 4 || src.ndim != 4 || !is_act(be, &dst) || !is_act(be, &src) || dst.shape[0] != src.shape[0] ||
        dst.shape[2] != src.shape[2] || dst.shape[3] != src.shape[3])
        return shape_error("copy_frames", "dst and src must be [C,T,H,W] activations of one C, H, W", &dst, &src);
    if (n < 0 || dst_t0 < 0 || src_t0 < 0 || dst_t0 + n > dst.shape[1] || src_t0 + n > src.shape[1]) {
        LOG_ERROR("copy_frames: %lld frames from %lld of %lld into %lld of %lld: out of range", (long long)n,
                  (long long)src_t0, (long long)src.shape[1], (long long)dst_t0, (long long)dst.shape[1]);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (dst.data == src.data) return shape_error("copy_frames", "dst must not be src", &dst, &src);
    if (!be->ops->copy_frames) return missing_op(be, "copy_frames");
    return be->ops->copy_frames(be->ctx, dst, dst_t0, src, src_t0, n);
}

cosmos_status cosmos_op_upsample_nearest2x(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x) {
    if (x.ndim != 4 || y.ndim != 4 || !is_act(be, &x) || !is_act(be, &y) || y.shape[0] != x.shape[0] ||
        y.shape[1] != x.shape[1] || y.shape[2] != 2 * x.shape[2] || y.shape[3] != 2 * x.shape[3])
        return shape_error("upsample_nearest2x", "y must be [C,T,2H,2W] for x [C,T,H,W] (activations)", &y, &x);
    if (x.data == y.data) return shape_error("upsample_nearest2x", "y must not alias x", &y, &x);
    if (!be->ops->upsample_nearest2x) return missing_op(be, "upsample_nearest2x");
    return be->ops->upsample_nearest2x(be->ctx, y, x);
}

cosmos_status cosmos_op_pool_add(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x, int temporal) {
    if (x.ndim != 4 || y.ndim != 4 || !is_act(be, &x) || !is_act(be, &y) || x.shape[0] != y.shape[0])
        return shape_error("pool_add", "x and y must be [C,T,H,W] activations of one C", &x, &y);
    const int ok = temporal ? y.shape[1] == (x.shape[1] + 1) / 2 && y.shape[2] == x.shape[2] && y.shape[3] == x.shape[3]
                            : x.shape[2] >= 2 && x.shape[3] >= 2 && y.shape[1] == x.shape[1] &&
                                  y.shape[2] == x.shape[2] / 2 && y.shape[3] == x.shape[3] / 2;
    if (!ok || x.shape[1] < 1)
        return shape_error("pool_add",
                           temporal ? "y must be [C, (T+1)/2, H, W]" : "y must be [C, T, H/2, W/2], H, W >= 2", &y, &x);
    if (x.data == y.data) return shape_error("pool_add", "y must not alias x", &y, &x);
    if (!be->ops->pool_add) return missing_op(be, "pool_add");
    return be->ops->pool_add(be->ctx, y, x, temporal);
}

cosmos_status cosmos_op_attention_1h(cosmos_backend_t *be, struct cosmos_tensor out, struct cosmos_tensor q,
                                     struct cosmos_tensor k, struct cosmos_tensor v, int temporal) {
    if (q.ndim != 4 || k.ndim != 4 || v.ndim != 4 || out.ndim != 4 || !is_act(be, &q) || !is_act(be, &k) ||
        !is_act(be, &v) || !is_act(be, &out))
        return shape_error("attention_1h", "q, k, v, out must be [C,T,H,W] activations", &q, &k);
    if (memcmp(out.shape, q.shape, sizeof q.shape) != 0 || memcmp(k.shape, v.shape, sizeof k.shape) != 0)
        return shape_error("attention_1h", "out must be shaped like q, and v like k", &out, &v);
    if (k.shape[0] != q.shape[0] || k.shape[2] != q.shape[2] || k.shape[3] != q.shape[3] || q.shape[1] < 1 ||
        (temporal ? k.shape[1] < q.shape[1] : k.shape[1] != q.shape[1]))
        return shape_error("attention_1h",
                           "k must be [C, S, H, W] with S == Tq (spatial) or S >= Tq (temporal) for q [C, Tq, H, W]",
                           &k, &q);
    if (out.data == q.data || out.data == k.data || out.data == v.data)
        return shape_error("attention_1h", "out must not alias q, k or v", &out, &q);
    if (!be->ops->attention_1h) return missing_op(be, "attention_1h");
    return be->ops->attention_1h(be->ctx, out, q, k, v, temporal);
}

cosmos_status cosmos_op_swish(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x) {
    if (cosmos_tensor_numel(&y) != cosmos_tensor_numel(&x) || !is_act(be, &y) || !is_act(be, &x))
        return shape_error("swish", "x and y must be activations of one size", &x, &y);
    if (!be->ops->swish) return missing_op(be, "swish");
    return be->ops->swish(be->ctx, y, x);
}

static cosmos_status check_levels(const char *op, const int *levels, int n_levels) {
    int64_t vocab = 1;
    if (!levels || n_levels < 1 || n_levels > 16) {
        LOG_ERROR("%s: need 1..16 levels (got %d)", op, n_levels);
        return COSMOS_ERR_INVALID_ARG;
    }
    for (int d = 0; d < n_levels; d++) {
        if (levels[d] < 2) {
            LOG_ERROR("%s: level %d is %d; every level must be >= 2", op, d, levels[d]);
            return COSMOS_ERR_INVALID_ARG;
        }
        vocab *= levels[d];
        if (vocab > INT32_MAX) {
            LOG_ERROR("%s: the product of the levels exceeds int32 indices", op);
            return COSMOS_ERR_INVALID_ARG;
        }
    }
    return COSMOS_OK;
}

cosmos_status cosmos_op_fsq_quantize(cosmos_backend_t *be, struct cosmos_tensor indices, struct cosmos_tensor codes,
                                     struct cosmos_tensor z, const int *levels, int n_levels) {
    cosmos_status st = check_levels("fsq_quantize", levels, n_levels);
    if (st != COSMOS_OK) return st;
    if (z.ndim < 1 || z.shape[0] != n_levels || !is_act(be, &z))
        return shape_error("fsq_quantize", "z must be [n_levels, ...] activations", &z, NULL);
    if (!is_act(be, &codes) || codes.ndim != z.ndim || memcmp(codes.shape, z.shape, sizeof z.shape) != 0)
        return shape_error("fsq_quantize", "codes must be activations shaped like z", &codes, &z);
    if (indices.dtype != COSMOS_I32 || cosmos_tensor_numel(&indices) * n_levels != cosmos_tensor_numel(&z))
        return shape_error("fsq_quantize", "indices must be int32 with numel(z)/n_levels elements", &indices, &z);
    if (!be->ops->fsq_quantize) return missing_op(be, "fsq_quantize");
    return be->ops->fsq_quantize(be->ctx, indices, codes, z, levels, n_levels);
}

cosmos_status cosmos_op_fsq_dequantize(cosmos_backend_t *be, struct cosmos_tensor codes, struct cosmos_tensor indices,
                                       const int *levels, int n_levels) {
    cosmos_status st = check_levels("fsq_dequantize", levels, n_levels);
    if (st != COSMOS_OK) return st;
    if (indices.dtype != COSMOS_I32) return shape_error("fsq_dequantize", "indices must be int32", &indices, NULL);
    if (codes.ndim < 1 || codes.shape[0] != n_levels || !is_act(be, &codes) ||
        cosmos_tensor_numel(&codes) != cosmos_tensor_numel(&indices) * n_levels)
        return shape_error("fsq_dequantize", "codes must be [n_levels, numel(indices)...] activations", &codes,
                           &indices);
    if (!be->ops->fsq_dequantize) return missing_op(be, "fsq_dequantize");
    return be->ops->fsq_dequantize(be->ctx, codes, indices, levels, n_levels);
}

/* ---- diffusion-decoder DiT ops (spec components.md 4.4) ---- */

/* A per-channel vector for rows of width D: activations [D] (any shape with D elements). */
static int is_channel_vec(const cosmos_backend_t *be, const struct cosmos_tensor *v, int64_t D) {
    return is_act(be, v) && cosmos_tensor_numel(v) == D;
}

cosmos_status cosmos_op_layernorm_modulate(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                           struct cosmos_tensor shift, struct cosmos_tensor scale, float eps) {
    if (x.ndim < 1 || !is_act(be, &x) || !is_act(be, &y) || cosmos_tensor_numel(&x) != cosmos_tensor_numel(&y) ||
        last_dim(&x) < 1)
        return shape_error("layernorm_modulate", "x and y must be activations of one size", &x, &y);
    if (!is_channel_vec(be, &shift, last_dim(&x)) || !is_channel_vec(be, &scale, last_dim(&x)))
        return shape_error("layernorm_modulate", "shift and scale must be activations [D], D = x's last dim", &shift,
                           &x);
    if (!(eps >= 0.0f)) {
        LOG_ERROR("layernorm_modulate: eps %g must be >= 0", (double)eps);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (!be->ops->layernorm_modulate) return missing_op(be, "layernorm_modulate");
    struct cosmos_tensor x2 = cosmos_tensor_2d(x.data, x.dtype, outer_rows(&x), last_dim(&x));
    struct cosmos_tensor y2 = cosmos_tensor_2d(y.data, y.dtype, outer_rows(&x), last_dim(&x));
    return be->ops->layernorm_modulate(be->ctx, y2, x2, shift, scale, eps);
}

cosmos_status cosmos_op_gelu(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x) {
    if (cosmos_tensor_numel(&y) != cosmos_tensor_numel(&x) || !is_act(be, &y) || !is_act(be, &x))
        return shape_error("gelu", "x and y must be activations of one size", &x, &y);
    if (!be->ops->gelu) return missing_op(be, "gelu");
    return be->ops->gelu(be->ctx, y, x);
}

/* ---- the guardrail's vision models (spec components.md 5.4, 5.5) ---- */

cosmos_status cosmos_op_layernorm(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                  struct cosmos_tensor w, struct cosmos_tensor b, float eps) {
    if (x.ndim < 1 || !is_f32(&x) || !is_f32(&y) || cosmos_tensor_numel(&x) != cosmos_tensor_numel(&y) ||
        last_dim(&x) < 1)
        return shape_error("layernorm", "x and y must be f32 of one size", &x, &y);
    if (!is_f32(&w) || !is_f32(&b) || cosmos_tensor_numel(&w) != last_dim(&x) ||
        cosmos_tensor_numel(&b) != last_dim(&x))
        return shape_error("layernorm", "w and b must be f32 [D], D = x's last dim", &w, &x);
    if (!(eps >= 0.0f)) {
        LOG_ERROR("layernorm: eps %g must be >= 0", (double)eps);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (!be->ops->layernorm) return missing_op(be, "layernorm");
    struct cosmos_tensor x2 = cosmos_tensor_2d(x.data, x.dtype, outer_rows(&x), last_dim(&x));
    struct cosmos_tensor y2 = cosmos_tensor_2d(y.data, y.dtype, outer_rows(&x), last_dim(&x));
    return be->ops->layernorm(be->ctx, y2, x2, w, b, eps);
}

cosmos_status cosmos_op_gelu_tanh(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x) {
    if (!unary_f32_or_act(be, &y, &x))
        return shape_error("gelu_tanh", "x and y must be f32 or activations, of one size and dtype", &x, &y);
    if (!be->ops->gelu_tanh) return missing_op(be, "gelu_tanh");
    return be->ops->gelu_tanh(be->ctx, y, x);
}

cosmos_status cosmos_op_add_bias(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor b) {
    if (y.ndim < 1 || last_dim(&y) < 1 || (!is_f32(&y) && !is_act(be, &y)))
        return shape_error("add_bias", "y must be f32 or activations", &y, NULL);
    if (!is_f32(&b) || cosmos_tensor_numel(&b) != last_dim(&y))
        return shape_error("add_bias", "b must be f32 [D], D = y's last dim", &b, &y);
    if (!be->ops->add_bias) return missing_op(be, "add_bias");
    return be->ops->add_bias(be->ctx, cosmos_tensor_2d(y.data, y.dtype, outer_rows(&y), last_dim(&y)), b);
}

static int is_fmap(const struct cosmos_tensor *t) { return t->ndim == 3 && t->dtype == COSMOS_F32; }

cosmos_status cosmos_op_conv2d(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                               struct cosmos_tensor w, struct cosmos_tensor b, int k, int stride, int pad) {
    if (k < 1 || stride < 1 || pad < 0) {
        LOG_ERROR("conv2d: kernel %d, stride %d, padding %d (need k, stride >= 1, padding >= 0)", k, stride, pad);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (!is_fmap(&x) || !is_fmap(&y)) return shape_error("conv2d", "x and y must be f32 [C, H, W]", &x, &y);
    if (x.shape[1] + 2 * pad < k || x.shape[2] + 2 * pad < k ||
        y.shape[1] != (x.shape[1] + 2 * pad - k) / stride + 1 || y.shape[2] != (x.shape[2] + 2 * pad - k) / stride + 1)
        return shape_error("conv2d", "y is not the conv's output size", &y, &x);
    if (w.ndim != 2 || !is_f32(&w) || w.shape[0] != y.shape[0] || w.shape[1] != x.shape[0] * k * k)
        return shape_error("conv2d", "w must be f32 [Cout, Cin*k*k]", &w, &x);
    if (!is_f32(&b) || cosmos_tensor_numel(&b) != y.shape[0])
        return shape_error("conv2d", "b must be f32 [Cout]", &b, &y);
    if (x.data == y.data) return shape_error("conv2d", "y must not alias x", &y, &x);
    if (!be->ops->conv2d) return missing_op(be, "conv2d");
    return be->ops->conv2d(be->ctx, y, x, w, b, k, stride, pad);
}

cosmos_status cosmos_op_leaky_relu(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x, float slope) {
    if (!unary_f32_or_act(be, &y, &x))
        return shape_error("leaky_relu", "x and y must be f32 or activations, of one size and dtype", &x, &y);
    if (!be->ops->leaky_relu) return missing_op(be, "leaky_relu");
    return be->ops->leaky_relu(be->ctx, y, x, slope);
}

cosmos_status cosmos_op_maxpool2d(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x, int k,
                                  int stride, int pad) {
    if (k < 1 || stride < 1 || pad < 0 || pad >= k) {
        LOG_ERROR("maxpool2d: kernel %d, stride %d, padding %d (need k, stride >= 1, 0 <= padding < k)", k, stride,
                  pad);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (!is_fmap(&x) || !is_fmap(&y) || x.shape[0] != y.shape[0] || x.shape[1] + 2 * pad < k ||
        x.shape[2] + 2 * pad < k || y.shape[1] != (x.shape[1] + 2 * pad - k) / stride + 1 ||
        y.shape[2] != (x.shape[2] + 2 * pad - k) / stride + 1)
        return shape_error("maxpool2d", "x, y must be f32 [C, H, W] and [C, Ho, Wo]", &x, &y);
    if (!be->ops->maxpool2d) return missing_op(be, "maxpool2d");
    return be->ops->maxpool2d(be->ctx, y, x, k, stride, pad);
}

cosmos_status cosmos_op_add_upsampled_nearest(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x) {
    if (!is_fmap(&x) || !is_fmap(&y) || x.shape[0] != y.shape[0] || x.data == y.data)
        return shape_error("add_upsampled_nearest", "x, y must be f32 [C, Hs, Ws] and [C, Hd, Wd], not aliased", &x,
                           &y);
    if (!be->ops->add_upsampled_nearest) return missing_op(be, "add_upsampled_nearest");
    return be->ops->add_upsampled_nearest(be->ctx, y, x);
}

cosmos_status cosmos_op_add_gated(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor a,
                                  struct cosmos_tensor b, struct cosmos_tensor gate) {
    if (a.ndim < 1 || !is_act(be, &y) || !is_act(be, &a) || !is_act(be, &b) ||
        cosmos_tensor_numel(&y) != cosmos_tensor_numel(&a) || cosmos_tensor_numel(&b) != cosmos_tensor_numel(&a) ||
        last_dim(&a) < 1)
        return shape_error("add_gated", "y, a, b must be activations of one size", &a, &b);
    if (!is_channel_vec(be, &gate, last_dim(&a)))
        return shape_error("add_gated", "gate must be activations [D], D = a's last dim", &gate, &a);
    if (!be->ops->add_gated) return missing_op(be, "add_gated");
    struct cosmos_tensor a2 = cosmos_tensor_2d(a.data, a.dtype, outer_rows(&a), last_dim(&a));
    struct cosmos_tensor b2 = cosmos_tensor_2d(b.data, b.dtype, outer_rows(&a), last_dim(&a));
    struct cosmos_tensor y2 = cosmos_tensor_2d(y.data, y.dtype, outer_rows(&a), last_dim(&a));
    return be->ops->add_gated(be->ctx, y2, a2, b2, gate);
}
