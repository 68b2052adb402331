#!/usr/bin/env python3
"""Cross-check our reference (tools/reference/cosmos_ar_ref.py) against NVIDIA's official modules.

The official Cosmos-1.0 AR network (NVIDIA/Cosmos @ 71f19b0, spec ar-model.md section 0 [C]:
cosmos1/models/autoregressive/networks/transformer.py::Transformer and the modules it imports) is
imported from a checkout the user provides with --official-repo; this repository never contains
that code, and the checkout is not modified. For every tiny config with fixtures in tests/data/
the script
  1. builds the official Transformer from the config in fp32 on the CPU (precision "float32",
     the parameters create_video2world_model_config would pass, spec 1.1), expands the input
     vocabulary for text_to_video exactly like the official loader (spec 1.2), and loads
     tests/data/<name>.h5 (bf16 values as fp32) with a strict load_state_dict;
  2. compares the position tables: the official RoPE cos/sin (fp32 buffers in an fp32 model)
     rounded to bf16 against ours, and the official APE (built in bf16 by the official code)
     against ours, bit for bit;
  3. rounds the official RoPE buffers to bf16 (the trained model's values, spec 10.1; our
     reference uses bf16-rounded tables) and the golden context to bf16 (the official model
     casts the context to its precision: bf16 in the trained model, spec 10.1, but fp32 here),
     runs a teacher-forced forward over the golden tokens
     (positions 0..n-1, context with an all-true mask as the pipeline does, spec 3) and a
     one-token-at-a-time KV-cache decode, and reports max |official - ours| for each, plus the
     difference with unrounded fp32 RoPE tables for information.

To run on a CPU-only machine with only torch/numpy/h5py installed, this script (not the
official files) installs shims before importing the official code:
  - torch.Tensor.cuda -> no-op and torch.cuda.current_device -> "cpu"; SinCosPosEmbAxisTE's
    default device "cuda" -> "cpu";
  - torch.nn.functional.scaled_dot_product_attention with `scale=` (torch < 2.1 lacks it): a
    plain fp32 softmax(q k^T * scale, boolean mask) v;
  - minimal stand-ins for einops (rearrange/repeat), omegaconf and cosmos1.utils.log (loguru)
    when those packages are not installed;
  - the official Transformer.load_state_dict passes `assign=` (torch >= 2.1), so weights are
    loaded with nn.Module.load_state_dict(strict=True) directly (the override only filters
    "_extra_state" keys, which our files do not have).

Usage:
  mkdir -p /tmp/cosmos-official
  git -C /work/.mirror/NVIDIA+Cosmos/repo archive 71f19b0 cosmos1/__init__.py cosmos1/utils \
      cosmos1/models/__init__.py cosmos1/models/autoregressive | tar -x -C /tmp/cosmos-official
  /usr/bin/python3 tools/reference/crosscheck_official.py --official-repo /tmp/cosmos-official
"""

import argparse
import datetime
import glob
import math
import os
import sys
import types

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import cosmos_h5  # noqa: E402
import cosmos_ar_ref as ref  # noqa: E402

SHIMS_USED = []


# ----------------------------------------------------------------------------------------------
# Shims


def _parse_side(side):
    """'t h w d' / '(t h w) 1 1 d' -> list of items: name, '1', or list of names (group)."""
    toks = side.replace("(", " ( ").replace(")", " ) ").split()
    items, group = [], None
    for tok in toks:
        if tok == "(":
            group = []
        elif tok == ")":
            items.append(group)
            group = None
        elif group is not None:
            group.append(tok)
        else:
            items.append(tok)
    return items


def _einops_apply(x, pattern, sizes):
    """rearrange/repeat for patterns without groups on the left side."""
    left, right = (s.strip() for s in pattern.split("->"))
    litems, ritems = _parse_side(left), _parse_side(right)
    if any(isinstance(i, list) for i in litems):
        raise NotImplementedError(f"mini-einops: groups on the left side: {pattern}")
    # drop unit axes on the left
    keep = [i for i, n in enumerate(litems) if n != "1"]
    x = x.reshape([x.shape[i] for i in keep])
    lnames = [litems[i] for i in keep]
    dims = dict(zip(lnames, x.shape))
    dims.update(sizes)
    rflat = []
    for it in ritems:
        rflat += it if isinstance(it, list) else ([] if it == "1" else [it])
    # permute existing axes into right-hand order, insert new (repeated) axes
    x = x.permute([lnames.index(n) for n in rflat if n in lnames])
    shape, j = [], 0
    for n in rflat:
        if n in lnames:
            shape.append(x.shape[j])
            j += 1
        else:
            shape.append(1)
    x = x.reshape(shape).expand([dims[n] for n in rflat])
    out_shape = []
    for it in ritems:
        if isinstance(it, list):
            out_shape.append(int(np.prod([dims[n] for n in it])))
        elif it == "1":
            out_shape.append(1)
        else:
            out_shape.append(dims[it])
    return x.reshape(out_shape).contiguous()


def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, scale=None, is_causal=False):
    """scaled_dot_product_attention in plain fp32 math (boolean mask: True = attend)."""
    assert dropout_p == 0.0
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale
    if is_causal:
        causal = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def install_shims(official_repo):
    if not os.path.isfile(os.path.join(official_repo, "cosmos1", "models", "autoregressive",
                                       "networks", "transformer.py")):
        raise SystemExit(f"{official_repo} is not a NVIDIA/Cosmos checkout (no cosmos1/models/"
                         f"autoregressive/networks/transformer.py)")
    sys.path.insert(0, os.path.abspath(official_repo))

    try:
        import einops  # noqa: F401
    except ImportError:
        mod = types.ModuleType("einops")
        mod.rearrange = lambda x, pattern, **sizes: _einops_apply(x, pattern, sizes)
        mod.repeat = lambda x, pattern, **sizes: _einops_apply(x, pattern, sizes)
        sys.modules["einops"] = mod
        SHIMS_USED.append("mini-einops")
    try:
        import omegaconf  # noqa: F401
    except ImportError:
        mod = types.ModuleType("omegaconf")

        class DictConfig:  # never instantiated: only used for isinstance checks
            pass

        class OmegaConf:
            @staticmethod
            def to_container(cfg, resolve=True):
                return dict(cfg)

        mod.DictConfig, mod.OmegaConf = DictConfig, OmegaConf
        sys.modules["omegaconf"] = mod
        SHIMS_USED.append("omegaconf stub")
    try:
        import loguru  # noqa: F401
    except ImportError:
        log = types.ModuleType("cosmos1.utils.log")
        for lvl in ("trace", "debug", "info", "success", "warning", "error", "critical",
                    "exception"):
            setattr(log, lvl, lambda message, rank0_only=True: None)
        sys.modules["cosmos1.utils.log"] = log
        SHIMS_USED.append("cosmos1.utils.log stub")

    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.cuda.current_device = lambda: "cpu"
    if _native_sdpa_has_scale():
        SHIMS_USED.append("torch native SDPA")
    else:
        torch.nn.functional.scaled_dot_product_attention = _sdpa
        SHIMS_USED.append("fp32 SDPA stand-in")

    from cosmos1.models.autoregressive.modules import embedding

    init = embedding.SinCosPosEmbAxisTE.__init__
    init.__defaults__ = tuple("cpu" if (isinstance(v, str) and v == "cuda") else v
                              for v in init.__defaults__)


def _native_sdpa_has_scale():
    """Whether torch has scaled_dot_product_attention accepting `scale=` (torch >= 2.1)."""
    fn = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    if fn is None:
        return False
    x = torch.zeros(1, 1, 2, 4)
    try:
        fn(x, x, x, attn_mask=None, dropout_p=0.0, scale=0.5, is_causal=False)
    except TypeError:
        return False
    return True


# ----------------------------------------------------------------------------------------------
# Official model


def official_params(cfg):
    d = cosmos_h5.derive(cfg)
    return {
        "dim": d["dim"], "n_layers": d["n_layers"], "n_heads": d["n_heads"],
        "n_kv_heads": d["n_kv_heads"], "head_dim": cfg.get("head_dim"),
        "ffn_hidden_size": d["ffn_hidden_size"], "norm_type": cfg.get("norm_type", "rmsnorm"),
        "norm_eps": cfg["norm_eps"], "rope_theta": cfg["rope_theta"],
        "vocab_size": d["vocab_size"], "use_qk_normalization": d["qk_norm"],
        "rope_dim": "3D", "pytorch_rope_version": "v2",
        "apply_yarn": cfg.get("apply_yarn", False), "yarn_scale": cfg.get("yarn_scale"),
        "yarn_beta_fast": cfg.get("yarn_beta_fast"), "yarn_beta_slow": cfg.get("yarn_beta_slow"),
        "original_latent_shape": cfg.get("original_latent_shape"),
        "video_latent_shape": list(d["latent_shape"]), "original_seq_len": 8192,
        "insert_cross_attn": d["cross_attn"],
        "insert_cross_attn_every_k_layers": cfg.get("insert_cross_attn_every_k_layers", 1),
        "context_dim": cfg.get("context_dim"), "apply_abs_pos_emb": cfg.get("apply_abs_pos_emb"),
        "pad_to_multiple_of": cfg.get("pad_to_multiple_of"), "precision": "float32",
        "max_batch_size": 1, "max_seq_len": d["max_seq_len"], "causal_mask": True,
        "num_video_frames": 33, "fuse_qkv": False, "attn_type": "self",
    }


def build_official(cfg, weights_path):
    from cosmos1.models.autoregressive.networks.transformer import Transformer

    d = cosmos_h5.derive(cfg)
    torch.set_default_dtype(torch.float32)
    model = Transformer(params=official_params(cfg),
                        tokenizer_config=types.SimpleNamespace(training_type=cfg["training_type"]))
    if d["text_to_video"]:  # as model.py::load_ar_model: embedding only, output stays
        model.expand_vocab(d["vocab_size"] + 1, init_method="gaussian", expand_output_layer=False)
    _, bits = cosmos_h5.read_ar_weights(weights_path)
    state = {k: torch.from_numpy(cosmos_h5.bf16_bits_to_f32(v)) for k, v in bits.items()}
    torch.nn.Module.load_state_dict(model, state, strict=True)
    return model.eval()


def official_logits(model, tokens, context, decode):
    tok = torch.tensor(tokens, dtype=torch.long)[None]
    kwargs = {}
    if context is not None:
        ctx = torch.from_numpy(context)[None]
        kwargs = {"context": ctx, "context_mask": torch.ones(ctx.shape[:2], dtype=torch.bool)}
    with torch.no_grad():
        if not decode:
            return model(tok, input_pos=torch.arange(tok.shape[1]), **kwargs)[0]
        rows = [model(tok[:, p:p + 1], input_pos=torch.tensor([p]), **kwargs)[0]
                for p in range(tok.shape[1])]
        return torch.cat(rows, dim=0)


def maxdiff(a, b):
    return float(torch.max(torch.abs(torch.as_tensor(a) - torch.as_tensor(b))))


def check_model(name, data_dir):
    weights = os.path.join(data_dir, f"{name}.h5")
    with h5py.File(os.path.join(data_dir, f"{name}.golden.h5"), "r") as f:
        tokens = f["tokens"][()].tolist()
        context = f["context"][()] if "context" in f else None
        golden = torch.from_numpy(f["logits"][()])
    ours_model = ref.CosmosARReference.from_h5(weights)
    cfg = ours_model.cfg
    off = build_official(cfg, weights)

    res = {"name": name, "n_tokens": len(tokens)}
    cos_off = off.rope.cos_cached[0, :, 0, :]
    sin_off = off.rope.sin_cached[0, :, 0, :]
    res["rope_fp32_vs_ours_maxdiff"] = max(maxdiff(cos_off, ours_model.cos),
                                           maxdiff(sin_off, ours_model.sin))
    res["rope_bf16_mismatches"] = int((ref._bf16(cos_off) != ours_model.cos).sum()
                                      + (ref._bf16(sin_off) != ours_model.sin).sum())
    if ours_model.ape is not None:
        res["ape_bf16_mismatches"] = int((off.abs_pos_emb[0].float() != ours_model.ape).sum())

    # The official Transformer casts the context to its precision (context.to(self.precision));
    # the trained bf16 model thus rounds the fp32 T5 context to bf16 (spec 10.1), and our
    # reference does so too. In this fp32 run that cast keeps fp32, so the bf16 cast is emulated
    # here, as for the RoPE tables. No-op for bf16-valued contexts.
    off_context = None if context is None else ref._bf16(torch.from_numpy(context)).numpy()

    res["unrounded_rope_prefill_vs_ours"] = maxdiff(
        official_logits(off, tokens, off_context, decode=False), golden)
    off.rope.cos_cached = ref._bf16(off.rope.cos_cached)  # trained model's bf16 tables
    off.rope.sin_cached = ref._bf16(off.rope.sin_cached)
    off_prefill = official_logits(off, tokens, off_context, decode=False)
    off_decode = official_logits(off, tokens, off_context, decode=True)
    ours_prefill = ours_model.prefill_logits(tokens, context)
    ours_decode = ours_model.decode_logits(tokens, context)
    res["prefill_vs_ours"] = maxdiff(off_prefill, ours_prefill)
    res["prefill_vs_golden"] = maxdiff(off_prefill, golden)
    res["decode_vs_ours_decode"] = maxdiff(off_decode, ours_decode)
    res["logit_absmax"] = float(golden.abs().max())
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description="compare our reference with the official modules")
    ap.add_argument("--official-repo", required=True, help="checkout of NVIDIA/Cosmos @ 71f19b0")
    ap.add_argument("--data-dir", default=os.path.join(REPO, "tests", "data"))
    ap.add_argument("--models", nargs="*", help="tiny model names (default: all with fixtures)")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    install_shims(args.official_repo)
    names = args.models or sorted(os.path.basename(p)[:-len(".golden.h5")] for p in
                                  glob.glob(os.path.join(args.data_dir, "tiny-*.golden.h5")))
    if not names:
        raise SystemExit(f"no fixtures in {args.data_dir}: run make_fixtures.py first")
    print(f"date {datetime.date.today()}, torch {torch.__version__}, shims: {', '.join(SHIMS_USED)}")
    worst = 0.0
    for name in names:
        r = check_model(name, args.data_dir)
        worst = max(worst, r["prefill_vs_ours"], r["decode_vs_ours_decode"], r["prefill_vs_golden"])
        print(f"{name}: {r['n_tokens']} tokens, |logit| max {r['logit_absmax']:.3g}\n"
              f"  max|official - ours|: prefill {r['prefill_vs_ours']:.3g}, "
              f"decode {r['decode_vs_ours_decode']:.3g}, "
              f"prefill vs golden file {r['prefill_vs_golden']:.3g}\n"
              f"  tables: RoPE bf16 mismatches {r['rope_bf16_mismatches']}, "
              f"APE bf16 mismatches {r.get('ape_bf16_mismatches', 'n/a')}, "
              f"official fp32 RoPE vs ours max {r['rope_fp32_vs_ours_maxdiff']:.3g}\n"
              f"  (info) official with unrounded fp32 RoPE vs golden: "
              f"{r['unrounded_rope_prefill_vs_ours']:.3g}")
    ok = worst <= args.tolerance
    print(f"worst max abs diff {worst:.3g}: {'OK' if ok else 'FAIL'} (tolerance {args.tolerance:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
