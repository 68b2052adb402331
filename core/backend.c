/* Backend registry and op dispatchers: the shape/dtype checks of every op live here, once, so
 * each implementation can trust its arguments (see backend.h for the op contracts). */
#include "core/backend.h"

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
    if (strcmp(name, "cpu") == 0) return cosmos_backend_cpu_create(params, out);
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
    LOG_ERROR("unknown backend '%s' (known: cpu, cuda, cuda:N)", name);
    return COSMOS_ERR_INVALID_ARG;
}

void cosmos_backend_free(cosmos_backend_t *be) {
    if (!be) return;
    if (be->ops->free_ctx) be->ops->free_ctx(be->ctx);
    free(be);
}

const char *cosmos_backend_name(const cosmos_backend_t *be) { return be->name; }
enum cosmos_dtype cosmos_backend_act_dtype(const cosmos_backend_t *be) { return be->act_dtype; }
int cosmos_backend_is_host(const cosmos_backend_t *be) { return be->is_host; }

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

cosmos_status cosmos_op_rope(cosmos_backend_t *be, struct cosmos_tensor x, struct cosmos_tensor c,
                             struct cosmos_tensor s, int pos0) {
    if (x.ndim != 3 || !is_act(be, &x)) return shape_error("rope", "x must be [T,H,Dh] activations", &x, NULL);
    if (x.shape[2] % 2) return shape_error("rope", "head dim must be even", &x, NULL);
    if (c.ndim != 2 || s.ndim != 2 || c.shape[1] * 2 != x.shape[2] || s.shape[1] != c.shape[1] ||
        s.shape[0] != c.shape[0] || c.dtype != s.dtype)
        return shape_error("rope", "tables must be [S, Dh/2]", &c, &x);
    if (pos0 < 0 || pos0 + x.shape[0] > c.shape[0])
        return shape_error("rope", "positions beyond the table", &x, &c);
    if (!be->ops->rope) return missing_op(be, "rope");
    return be->ops->rope(be->ctx, x, c, s, pos0);
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
    if (!is_act(be, &y) || !is_act(be, &a)) return shape_error("add", "y and a must be activations", &y, &a);
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
    if (causal && (pos0 < 0 || pos0 + q.shape[0] > k.shape[0]))
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

/* ---- T5 encoder ops ---- */

cosmos_status cosmos_op_matmul_f32w(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                    struct cosmos_tensor w) {
    if (w.ndim != 2 || w.dtype != COSMOS_F32) return shape_error("matmul_f32w", "weight must be 2-D f32", &w, NULL);
    if (!is_act(be, &x) || !is_act(be, &y)) return shape_error("matmul_f32w", "x and y must be activations", &x, &y);
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
    if (cosmos_tensor_numel(&x) != cosmos_tensor_numel(&y) || !is_act(be, &x) || !is_act(be, &y))
        return shape_error("rmsnorm_f32w", "x and y must be activations of one size", &x, &y);
    if (!be->ops->rmsnorm_f32w) return missing_op(be, "rmsnorm_f32w");
    struct cosmos_tensor x2 = cosmos_tensor_2d(x.data, x.dtype, outer_rows(&x), last_dim(&x));
    struct cosmos_tensor y2 = cosmos_tensor_2d(y.data, y.dtype, outer_rows(&x), last_dim(&x));
    return be->ops->rmsnorm_f32w(be->ctx, y2, x2, w, eps);
}

cosmos_status cosmos_op_relu(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x) {
    if (cosmos_tensor_numel(&y) != cosmos_tensor_numel(&x) || !is_act(be, &y) || !is_act(be, &x))
        return shape_error("relu", "x and y must be activations of one size", &x, &y);
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
    if (!is_act(be, &q) || !is_act(be, &out) || !is_act(be, &k) || !is_act(be, &v))
        return shape_error("attention_relbias", "q, k, v, out must be activations", &q, &k);
    if (rel_bias.ndim != 2 || rel_bias.dtype != COSMOS_F32 || rel_bias.shape[0] != q.shape[1] ||
        rel_bias.shape[1] != q.shape[0] + k.shape[0] - 1)
        return shape_error("attention_relbias", "rel_bias must be f32 [H, T+S-1]", &rel_bias, &q);
    if (!be->ops->attention_relbias) return missing_op(be, "attention_relbias");
    return be->ops->attention_relbias(be->ctx, out, q, k, v, rel_bias, scale);
}
