#!/usr/bin/env python3
"""fp32 PyTorch reference of the Cosmos-1.0 autoregressive transformer (oracle for the C engine).

Written from the specification /work/shared/spec/ar-model.md (not from NVIDIA's code):
- section 1.3: block order  h = E[x];  per layer: [h += APE[p]];  h += SelfAttn(RMSNorm(h));
  [h += CrossAttn(RMSNorm(h), ctx)];  h += FFN(RMSNorm(h));  logits = RMSNorm(h) @ W_out^T;
  RMSNorm = x * rsqrt(mean(x^2) + eps) * weight; QK-norm = RMSNorm over head_dim; GQA with query
  head h using KV head h // (n_heads / n_kv_heads); causal softmax with scale 1/sqrt(head_dim);
  SwiGLU FFN w2(silu(w1 x) * w3 x);
- section 2.1: 3D RoPE, rotate-half pairing (i, i + head_dim/2), angle vector
  [t*inv_t, h*inv_s, w*inv_s] repeated twice, tables built in fp32; for text_to_video row 0 (BOV)
  is the identity and video token n sits at position n + 1; rows past the video are identity;
- section 2.2: YaRN frequency scaling (spatial uses original_latent_shape[1], temporal [0]);
- section 2.3: absolute 3D sin/cos embedding built in float64 numpy, added before every layer;
- section 3: cross-attention (no mask, no RoPE, q_norm/k_norm applied, GQA);
- section 4: token n -> (t, h, w) = (n // (H*W), (n // W) % H, n % W);
- section 10.1: the RoPE cos/sin and APE tables are bf16 values in the trained model, so they are
  built as specified and then rounded to bf16 once (APE: float64 -> float32 -> bf16, which is the
  conversion torch's .to(bfloat16) performs on a float64 tensor); the cross-attention context is
  likewise rounded to bf16 (the official model casts the fp32 T5 output to bf16).
Everything else is computed in fp32 from the bf16 weights (no intermediate bf16 rounding).

Two paths that must agree: `prefill_logits` (teacher-forced logits for positions 0..n-1) and
`decode_logits` (one token at a time through a KV cache).

CLI:
    cosmos_ar_ref.py logits --model M.h5 --tokens T.txt [--context C.h5] --out L.h5 [--decode]
writes float32 /logits [n, vocab_size] (file formats of docs/weights.md).
"""

import argparse
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import cosmos_h5  # noqa: E402  (tools/cosmos_h5.py)


def _bf16(t):
    """Round an fp32 tensor to bf16 values (round-to-nearest-even), keeping fp32 storage."""
    return t.to(torch.bfloat16).to(torch.float32)


# ----------------------------------------------------------------------------------------------
# Position tables (spec 2.1 - 2.3)


def rope_inv_freq(dim_x, theta):
    """inv[k] = 1 / theta^(2k/dim_x), k < dim_x//2, in fp32 (spec 2.1)."""
    expo = torch.arange(0, dim_x, 2)[: dim_x // 2].float() / dim_x
    return 1.0 / (theta ** expo)


def yarn_factors(inv, original_len, beta_fast, beta_slow, scale):
    """YaRN scale factors (1 - m)/scale + m, m = clamp((f - lo)/(hi - lo), 0, 1) (spec 2.2)."""
    hi = 2 * math.pi * beta_fast / original_len
    lo = 2 * math.pi * beta_slow / original_len
    m = torch.clamp((inv - lo) / (hi - lo), min=0, max=1)
    return (1 - m) / scale + m


def rope_inv_freqs(cfg, head_dim):
    """(inv_t, inv_s) for the 3D RoPE, YaRN-scaled when apply_yarn."""
    dim_h = head_dim // 6 * 2
    dim_t = head_dim - 2 * dim_h
    theta = cfg["rope_theta"]
    inv_s = rope_inv_freq(dim_h, theta)
    inv_t = rope_inv_freq(dim_t, theta)
    if cfg.get("apply_yarn", False):
        orig = cfg["original_latent_shape"]
        args = (cfg["yarn_beta_fast"], cfg["yarn_beta_slow"], cfg["yarn_scale"])
        inv_s = inv_s * yarn_factors(inv_s, orig[1], *args)
        inv_t = inv_t * yarn_factors(inv_t, orig[0], *args)
    return inv_t, inv_s


def video_coords(n_tokens, latent_shape):
    """Video token n -> (t, h, w) = (n // (H*W), (n // W) % H, n % W) (spec 2.1 / 4)."""
    _, h_, w_ = latent_shape
    n = torch.arange(n_tokens)
    return n // (h_ * w_), (n // w_) % h_, n % w_


def rope_tables(cfg):
    """bf16-valued fp32 cos/sin tables [max_seq_len, head_dim] indexed by sequence position."""
    d = cosmos_h5.derive(cfg)
    hd = d["head_dim"]
    inv_t, inv_s = rope_inv_freqs(cfg, hd)
    t, h, w = (c.float() for c in video_coords(d["n_video_tokens"], d["latent_shape"]))
    ang = torch.cat([t[:, None] * inv_t[None, :],
                     h[:, None] * inv_s[None, :],
                     w[:, None] * inv_s[None, :]], dim=1)  # [N, hd/2]
    emb = torch.cat([ang, ang], dim=1)  # [N, hd]
    off = 1 if d["text_to_video"] else 0  # BOV row 0 = identity
    cos = torch.ones(d["max_seq_len"], hd)
    sin = torch.zeros(d["max_seq_len"], hd)
    cos[off:off + emb.shape[0]] = torch.cos(emb)
    sin[off:off + emb.shape[0]] = torch.sin(emb)
    return _bf16(cos), _bf16(sin)


def sincos_1d(dim, n_pos):
    """float64 [n_pos, dim]: [sin(p*omega), cos(p*omega)], omega[i] = 1/10000^(i/(dim/2))."""
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    ang = np.arange(n_pos, dtype=np.float64)[:, None] * omega[None, :]
    return np.concatenate([np.sin(ang), np.cos(ang)], axis=1)


def ape_table(cfg):
    """bf16-valued fp32 absolute position table [max_seq_len, dim] (spec 2.3)."""
    d = cosmos_h5.derive(cfg)
    dim = d["dim"]
    dim_h = dim // 6 * 2
    dim_t = dim - 2 * dim_h
    T, H, W = d["latent_shape"]
    e_t, e_h, e_w = sincos_1d(dim_t, T), sincos_1d(dim_h, H), sincos_1d(dim_h, W)
    t, h, w = (c.numpy() for c in video_coords(d["n_video_tokens"], d["latent_shape"]))
    rows = np.concatenate([e_t[t], e_h[h], e_w[w]], axis=1)  # float64 [N, dim]
    rows = cosmos_h5.round_to_bf16(rows.astype(np.float32))  # f64 -> f32 -> bf16 (RNE both)
    table = np.zeros((d["max_seq_len"], dim), dtype=np.float32)
    off = 1 if d["text_to_video"] else 0  # BOV row 0 and padding rows are zero
    table[off:off + rows.shape[0]] = rows
    return torch.from_numpy(table)


# ----------------------------------------------------------------------------------------------
# Model


def rms_norm(x, weight, eps):
    """x * rsqrt(mean(x^2) + eps) * weight over the last axis, fp32."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    """[x1, x2] -> [-x2, x1] on the last axis (pairs i, i + D/2)."""
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class CosmosARReference:
    """The AR transformer with fp32 compute. weights: {key: fp32 tensor} (bf16 values)."""

    def __init__(self, cfg, weights):
        self.cfg = cfg
        self.d = cosmos_h5.derive(cfg)
        self.eps = float(cfg["norm_eps"])
        self.w = weights
        self.cos, self.sin = rope_tables(cfg)
        self.ape = ape_table(cfg) if cfg.get("apply_abs_pos_emb", False) else None
        self.scale = 1.0 / math.sqrt(self.d["head_dim"])

    @classmethod
    def from_h5(cls, path):
        cfg, bits = cosmos_h5.read_ar_weights(path)
        return cls(cfg, {k: torch.from_numpy(cosmos_h5.bf16_bits_to_f32(v)) for k, v in bits.items()})

    # -- helpers ----------------------------------------------------------------------------
    def _linear(self, x, key):
        return x @ self.w[key].t()

    def _heads(self, x, n_heads):
        return x.reshape(x.shape[0], n_heads, self.d["head_dim"])

    def _attend(self, q, k, v, mask):
        """q [n, Hq, D], k/v [L, Hkv, D], mask [n, L] bool or None -> [n, Hq*D]."""
        rep = self.d["n_heads"] // self.d["n_kv_heads"]
        k = k.repeat_interleave(rep, dim=1)  # query head h -> kv head h // rep
        v = v.repeat_interleave(rep, dim=1)
        scores = torch.einsum("qhd,khd->hqk", q, k) * self.scale
        if mask is not None:
            scores = scores.masked_fill(~mask[None, :, :], float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        out = torch.einsum("hqk,khd->qhd", probs, v)
        return out.reshape(q.shape[0], -1)

    def _rope(self, x, pos):
        cos = self.cos[pos][:, None, :]
        sin = self.sin[pos][:, None, :]
        return x * cos + rotate_half(x) * sin

    # -- context / cache ----------------------------------------------------------------------
    def context_kv(self, context):
        """Per-layer cross-attention (K, V) for a [context_len, context_dim] context, else None."""
        if not self.d["cross_attn"]:
            return None
        if context is None:
            raise ValueError("this model has cross-attention: a context is required")
        ctx = torch.as_tensor(context, dtype=torch.float32)
        if ctx.ndim != 2 or ctx.shape[1] != self.d["context_dim"]:
            raise ValueError(f"context must be [len, {self.d['context_dim']}], got {list(ctx.shape)}")
        ctx = _bf16(ctx)  # spec 10.1: the model casts the fp32 T5 context to bf16
        kv = {}
        for i in range(self.d["n_layers"]):
            if not cosmos_h5.has_cross_attention(self.d, i):
                continue
            p = f"layers.{i}.cross_attention."
            k = self._heads(self._linear(ctx, p + "wk.weight"), self.d["n_kv_heads"])
            if self.d["qk_norm"]:
                k = rms_norm(k, self.w[p + "k_norm.weight"], self.eps)
            v = self._heads(self._linear(ctx, p + "wv.weight"), self.d["n_kv_heads"])
            kv[i] = (k, v)
        return kv

    def new_cache(self):
        shape = (self.d["max_seq_len"], self.d["n_kv_heads"], self.d["head_dim"])
        return [(torch.zeros(shape), torch.zeros(shape)) for _ in range(self.d["n_layers"])]

    # -- forward ------------------------------------------------------------------------------
    def forward(self, tokens, positions, cache, ctx_kv):
        """Logits [n, vocab_size] for `tokens` at absolute `positions` (increasing), writing K/V
        of these positions into `cache`; keys at positions <= each query's position are attended.
        """
        d, w, eps = self.d, self.w, self.eps
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        pos = torch.as_tensor(positions, dtype=torch.long)
        if tokens.min() < 0 or tokens.max() >= d["input_vocab_size"]:
            raise ValueError(f"token ids must be in [0, {d['input_vocab_size']})")
        if pos.min() < 0 or pos.max() >= d["max_seq_len"]:
            raise ValueError(f"positions must be in [0, {d['max_seq_len']})")
        n_keys = int(pos.max()) + 1
        mask = torch.arange(n_keys)[None, :] <= pos[:, None]  # [n, n_keys]

        h = w["tok_embeddings.weight"][tokens]
        for i in range(d["n_layers"]):
            p = f"layers.{i}."
            if self.ape is not None:
                h = h + self.ape[pos]
            # self-attention
            a = rms_norm(h, w[p + "attention_norm.weight"], eps)
            q = self._heads(self._linear(a, p + "attention.wq.weight"), d["n_heads"])
            k = self._heads(self._linear(a, p + "attention.wk.weight"), d["n_kv_heads"])
            v = self._heads(self._linear(a, p + "attention.wv.weight"), d["n_kv_heads"])
            if d["qk_norm"]:
                q = rms_norm(q, w[p + "attention.q_norm.weight"], eps)
                k = rms_norm(k, w[p + "attention.k_norm.weight"], eps)
            q, k = self._rope(q, pos), self._rope(k, pos)
            cache_k, cache_v = cache[i]
            cache_k[pos], cache_v[pos] = k, v
            o = self._attend(q, cache_k[:n_keys], cache_v[:n_keys], mask)
            h = h + self._linear(o, p + "attention.wo.weight")
            # cross-attention
            if cosmos_h5.has_cross_attention(d, i):
                a = rms_norm(h, w[p + "cross_attention_norm.weight"], eps)
                q = self._heads(self._linear(a, p + "cross_attention.wq.weight"), d["n_heads"])
                if d["qk_norm"]:
                    q = rms_norm(q, w[p + "cross_attention.q_norm.weight"], eps)
                kc, vc = ctx_kv[i]
                o = self._attend(q, kc, vc, None)
                h = h + self._linear(o, p + "cross_attention.wo.weight")
            # SwiGLU FFN
            a = rms_norm(h, w[p + "ffn_norm.weight"], eps)
            g = F.silu(self._linear(a, p + "feed_forward.w1.weight"))
            h = h + self._linear(g * self._linear(a, p + "feed_forward.w3.weight"),
                                 p + "feed_forward.w2.weight")
        h = rms_norm(h, w["norm.weight"], eps)
        return self._linear(h, "output.weight")

    @torch.no_grad()
    def prefill_logits(self, tokens, context=None):
        """Teacher-forced logits [n, vocab_size] for tokens at positions 0..n-1 (one pass)."""
        n = len(tokens)
        return self.forward(tokens, torch.arange(n), self.new_cache(), self.context_kv(context))

    @torch.no_grad()
    def decode_logits(self, tokens, context=None):
        """Same logits computed one token at a time through the KV cache."""
        cache, ctx_kv = self.new_cache(), self.context_kv(context)
        rows = [self.forward(tokens[p:p + 1], torch.tensor([p]), cache, ctx_kv)
                for p in range(len(tokens))]
        return torch.cat(rows, dim=0)


# ----------------------------------------------------------------------------------------------
# File helpers and CLI


def read_tokens(path):
    with open(path, "r", encoding="ascii") as fh:
        return [int(x) for x in fh.read().split()]


def read_context(path):
    with h5py.File(path, "r") as f:
        return np.asarray(f["context"][()], dtype=np.float32)


def write_logits(path, logits):
    with h5py.File(path, "w") as f:
        f.create_dataset("logits", data=np.asarray(logits, dtype=np.float32), track_times=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    lg = sub.add_parser("logits", help="teacher-forced logits for a token file")
    lg.add_argument("--model", required=True, help="weights in the cosmos-ar HDF5 format")
    lg.add_argument("--tokens", required=True, help="whitespace-separated token ids")
    lg.add_argument("--context", help="HDF5 with float32 /context (cross-attention models)")
    lg.add_argument("--out", required=True, help="output HDF5 with float32 /logits")
    lg.add_argument("--decode", action="store_true", help="use the one-token KV-cache path")
    args = ap.parse_args(argv)
    try:
        model = CosmosARReference.from_h5(args.model)
        tokens = read_tokens(args.tokens)
        if not tokens:
            raise ValueError(f"{args.tokens}: no tokens")
        ctx = read_context(args.context) if args.context else None
        run = model.decode_logits if args.decode else model.prefill_logits
        logits = run(tokens, ctx)
    except (cosmos_h5.FormatError, ValueError, OSError, KeyError) as exc:
        print(f"cosmos_ar_ref: error: {exc}", file=sys.stderr)
        return 2
    write_logits(args.out, logits.numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main())
