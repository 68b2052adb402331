"""Plain-PyTorch reference of the Llama-2 language model (core/guardrail/llama.h; spec components.md 5.3),
written from the architecture description: float32 math on the bf16 weights of our HDF5 file
(tools/cosmos_llama_h5.py), no KV cache (every step recomputes the whole sequence, so the C cache
path is checked against an independent computation).

    h = E[ids]
    per layer: a = RMSNorm(h) ; q, k, v = a Wq^T, a Wk^T, a Wv^T split into heads (Dh = D / H)
               q, k rotated (rotate-half: pair (i, i + Dh/2), angle p * theta^(-2i/Dh))
               h += softmax(q k^T / sqrt(Dh) + causal mask) v  (KV head h // (H / Hkv)), then Wo
               m = RMSNorm(h) ; h += (silu(m Wgate^T) * (m Wup^T)) Wdown^T
    logits = RMSNorm(h) Wlm^T ;  RMSNorm(x) = x * rsqrt(mean(x^2) + eps) * w

bf16_tables (default True) rounds the cos/sin tables to bf16 as the bf16 run (and the C engine) do;
False keeps them float32 (Hugging Face in float32).
"""

import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import cosmos_llama_h5 as llh5  # noqa: E402


def load(path):
    """(cfg, {key: float32 torch tensor}) of a Llama weight file."""
    cfg, w, _ = llh5.read_llama_weights(path)
    return cfg, {k: torch.from_numpy(v.copy()) for k, v in w.items()}


def rope_tables(cfg, n, bf16_tables=True):
    """cos, sin [n, Dh/2] float32."""
    Dh = llh5.head_dim(cfg)
    expo = torch.arange(0, Dh, 2, dtype=torch.int64).float() / Dh
    inv = 1.0 / (float(cfg["rope_theta"]) ** expo)
    ang = torch.arange(n, dtype=torch.float32)[:, None] * inv[None, :]
    cos, sin = ang.cos(), ang.sin()
    if bf16_tables:
        cos, sin = cos.bfloat16().float(), sin.bfloat16().float()
    return cos, sin


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate(x, cos, sin):
    """x [T, n, Dh]; rotate-half with cos/sin [T, Dh/2]."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[:, None, :], sin[:, None, :]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


@torch.no_grad()
def forward(cfg, W, ids, bf16_tables=True):
    """Logits float32 [T, V] of ids (list / 1-D tensor) at positions 0..T-1."""
    ids = torch.as_tensor(ids, dtype=torch.int64)
    T = ids.shape[0]
    D, H, Hkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    Dh, eps = D // H, float(cfg["rms_norm_eps"])
    cos, sin = rope_tables(cfg, T, bf16_tables)
    mask = torch.full((T, T), float("-inf")).triu(1)
    h = W["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = rmsnorm(h, W[p + "input_layernorm.weight"], eps)
        q = (a @ W[p + "self_attn.q_proj.weight"].T).view(T, H, Dh)
        k = (a @ W[p + "self_attn.k_proj.weight"].T).view(T, Hkv, Dh)
        v = (a @ W[p + "self_attn.v_proj.weight"].T).view(T, Hkv, Dh)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        g = H // Hkv
        k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
        s = torch.einsum("thd,shd->hts", q, k) / (Dh ** 0.5) + mask
        o = torch.einsum("hts,shd->thd", s.softmax(-1), v).reshape(T, H * Dh)
        h = h + o @ W[p + "self_attn.o_proj.weight"].T
        m = rmsnorm(h, W[p + "post_attention_layernorm.weight"], eps)
        f = torch.nn.functional.silu(m @ W[p + "mlp.gate_proj.weight"].T) * (m @ W[p + "mlp.up_proj.weight"].T)
        h = h + f @ W[p + "mlp.down_proj.weight"].T
    return rmsnorm(h, W["model.norm.weight"], eps) @ W["lm_head.weight"].T


@torch.no_grad()
def greedy(cfg, W, ids, max_new, bf16_tables=True, with_margins=False):
    """New tokens by greedy argmax (ties: lowest id), stopping at max_new or at eos_token_id (not
    returned). with_margins: also the top-1 minus top-2 logit gap of every step."""
    seq, out, gaps = list(int(t) for t in ids), [], []
    for _ in range(max_new):
        last = forward(cfg, W, seq, bf16_tables)[-1]
        tok = int(torch.argmax(last))
        top2 = torch.topk(last, 2).values
        gaps.append(float(top2[0] - top2[1]))
        if tok == cfg["eos_token_id"]:
            break
        out.append(tok)
        seq.append(tok)
    return (out, gaps) if with_margins else out
