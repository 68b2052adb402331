/* DV tokenizer configuration (spec components.md 2.2): the official DV8x16x16 numbers and the
 * latent shape arithmetic (patcher, then one halving per spatial / temporal downsample). */
#include "core/model/dv_config.h"

static int ilog2(int v) {
    int n = 0;
    while ((1 << (n + 1)) <= v) n++;
    return n;
}

struct cosmos_dv_config cosmos_dv_config_dv8x16x16(void) {
    struct cosmos_dv_config c = {
        .in_channels = 3, .channels = 128, .n_levels = 3, .channels_mult = {2, 4, 4}, .num_res_blocks = 2,
        .n_attn_resolutions = 1, .attn_resolutions = {32}, .resolution = 1024, .patch_size = 4, .z_channels = 16,
        .embedding_dim = 6, .fsq_levels = {8, 8, 8, 5, 5, 5}, .spatial_compression = 16, .temporal_compression = 8,
    };
    return c;
}

void cosmos_dv_latent_shape(const struct cosmos_dv_config *cfg, int64_t T, int64_t H, int64_t W, int64_t *Tl,
                            int64_t *Hl, int64_t *Wl) {
    int64_t t = T + cfg->patch_size - 1, h = H / cfg->patch_size, w = W / cfg->patch_size;
    for (int p = cfg->patch_size; p > 1; p /= 2) t = (t + 1) / 2;
    const int n_sd = ilog2(cfg->spatial_compression) - ilog2(cfg->patch_size);
    const int n_td = ilog2(cfg->temporal_compression) - ilog2(cfg->patch_size);
    for (int l = 0; l < cfg->n_levels - 1; l++) {
        if (l < n_sd) h /= 2, w /= 2;
        if (l < n_td) t = (t + 1) / 2;
    }
    *Tl = t, *Hl = h, *Wl = w;
}

