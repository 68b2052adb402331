/* Position tables of the Cosmos AR transformer, built at load time (spec ar-model.md 2.1-2.3, 10.1):
 * - 3D RoPE inverse frequencies (temporal dim_t = Dh - 2*dim_h, spatial dim_h = Dh//6*2), with the
 *   YaRN rescaling of 12B/13B (no mscale), computed in f32 as the official code does;
 * - cos/sin tables [max_seq_len, Dh/2] (entry i serves the rotate-half pair (i, i+Dh/2));
 * - the absolute 3D sin/cos table [max_seq_len, dim] of the Video2World models (float64, then bf16).
 * Row p holds token position p: for text_to_video row 0 is BOV (identity RoPE, zero APE) and video
 * token n sits in row n+1; rows past the clip are identity/zero. Every cos/sin/APE entry is rounded
 * to bf16, as the trained model holds them. */
#ifndef COSMOS_POS_TABLES_H
#define COSMOS_POS_TABLES_H

#include "core/config.h"
#include "core/dtype.h"

/* Split of head_dim (RoPE) or dim (APE) into (t, h, w) parts: h = w = d//6*2, t = d - 2h. */
static inline int cosmos_split3d_hw(int d) { return d / 6 * 2; }
static inline int cosmos_split3d_t(int d) { return d - 2 * cosmos_split3d_hw(d); }

/* inv_t[dim_t/2] and inv_s[dim_h/2] for head_dim, YaRN applied when cfg->apply_yarn. */
void cosmos_rope_inv_freq(const struct cosmos_ar_config *cfg, float *inv_t, float *inv_s);
/* cos_tab, sin_tab: [max_seq_len, head_dim/2] f32 holding bf16-rounded values. */
void cosmos_rope_tables(const struct cosmos_ar_config *cfg, float *cos_tab, float *sin_tab);
/* ape: [max_seq_len, dim] bf16. */
void cosmos_ape_table(const struct cosmos_ar_config *cfg, cosmos_bf16 *ape);

#endif
