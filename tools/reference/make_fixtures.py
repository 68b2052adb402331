#!/usr/bin/env python3
"""Generate the tiny-model test fixtures in tests/data/ from configs/models/tiny-*.json.

For each tiny config NAME this writes:
- tests/data/NAME.h5           random bf16 weights in the cosmos-ar HDF5 format (docs/weights.md;
                               spec ar-model.md section 8 for keys/shapes), 64-byte aligned,
                               contiguous uint16 datasets with attribute dtype="bfloat16";
- tests/data/NAME.golden.h5    int64 /tokens, float32 /context (cross-attention models),
                               float32 /logits (reference prefill, positions 0..n-1) and
                               float32 /logits_decode (reference one-token KV-cache decode);
- tests/data/NAME.tokens.txt   the same tokens, whitespace-separated decimals;
- tests/data/NAME.context.h5   the same context as float32 /context (cross-attention models).

Weights: numpy default_rng seeded from the model name. Linear weights ~ N(0, 1/sqrt(in_features)),
norm weights 1 + 0.1*N(0,1), embeddings N(0,1); all rounded to bf16 (round-to-nearest-even).
Tokens: all T*H*W video ids uniform in [0, vocab_size) (spec section 4), preceded by the BOV id
(= vocab_size) for text_to_video models. Context: N(0,1) in full fp32 precision (not bf16 values,
so the fixture checks that an engine casts the context to bf16 as the model does, spec 10.1), last
5 rows zero like T5 padding (spec section 3).

Logits come from tools/reference/cosmos_ar_ref.py, which reads the weight file just written; the
prefill and decode paths must agree within 1e-5. Single-threaded torch for reproducible bytes.

Usage: /usr/bin/python3 tools/reference/make_fixtures.py [--out-dir tests/data] [--check]
(--check regenerates in a temporary folder and compares against the committed files.)
"""

import argparse
import glob
import os
import sys
import tempfile
import zlib

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import cosmos_h5  # noqa: E402
from cosmos_ar_ref import CosmosARReference  # noqa: E402
from fixture_check import compare_regenerated  # noqa: E402

DECODE_TOL = 1e-5
SIZE_LIMIT = 1_000_000
N_PAD_ROWS = 5


def random_weights(cfg, rng):
    """{key: uint16 bf16 bits} for every expected tensor, drawn in expected_tensors() order."""
    out = {}
    for key, shape in cosmos_h5.expected_tensors(cfg):
        if key == "tok_embeddings.weight":
            x = rng.standard_normal(shape)
        elif cosmos_h5.is_norm_key(key):
            x = 1.0 + 0.1 * rng.standard_normal(shape)
        else:  # Linear [out, in]
            x = rng.standard_normal(shape) / np.sqrt(shape[1])
        out[key] = cosmos_h5.f32_to_bf16_bits(x.astype(np.float32))
    return out


def make_one(cfg_path, out_dir):
    cfg = cosmos_h5.load_config(cfg_path)
    d = cosmos_h5.derive(cfg)
    name = cfg.get("name") or os.path.splitext(os.path.basename(cfg_path))[0]
    seed = zlib.crc32(name.encode())
    rng = np.random.default_rng(seed)

    weights_path = os.path.join(out_dir, f"{name}.h5")
    with cosmos_h5.ArWeightsWriter(weights_path, cfg) as wr:
        for key, bits in random_weights(cfg, rng).items():
            wr.add(key, bits)

    tokens = rng.integers(0, d["vocab_size"], size=d["n_video_tokens"], dtype=np.int64)
    if d["text_to_video"]:
        tokens = np.concatenate([np.array([d["bov_id"]], dtype=np.int64), tokens])
    context = None
    if d["cross_attn"]:
        context = rng.standard_normal((d["context_len"], d["context_dim"])).astype(np.float32)
        context[-N_PAD_ROWS:] = 0.0

    model = CosmosARReference.from_h5(weights_path)  # round trip through the file
    logits = model.prefill_logits(tokens.tolist(), context).numpy()
    logits_dec = model.decode_logits(tokens.tolist(), context).numpy()
    diff = float(np.max(np.abs(logits - logits_dec)))
    if not diff <= DECODE_TOL:
        raise SystemExit(f"{name}: prefill and decode disagree by {diff:g} > {DECODE_TOL:g}")

    golden_path = os.path.join(out_dir, f"{name}.golden.h5")
    with h5py.File(golden_path, "w") as f:
        f.attrs["model"] = name
        f.attrs["generator"] = "tools/reference/make_fixtures.py"
        f.create_dataset("tokens", data=tokens, track_times=False)
        if context is not None:
            f.create_dataset("context", data=context, track_times=False)
        f.create_dataset("logits", data=logits.astype(np.float32), track_times=False)
        f.create_dataset("logits_decode", data=logits_dec.astype(np.float32), track_times=False)
    with open(os.path.join(out_dir, f"{name}.tokens.txt"), "w", encoding="ascii") as fh:
        fh.write(" ".join(str(int(t)) for t in tokens) + "\n")
    paths = [weights_path, golden_path, os.path.join(out_dir, f"{name}.tokens.txt")]
    if context is not None:
        ctx_path = os.path.join(out_dir, f"{name}.context.h5")
        with h5py.File(ctx_path, "w") as f:
            f.create_dataset("context", data=context, track_times=False)
        paths.append(ctx_path)
    print(f"{name}: {len(tokens)} tokens, logits {list(logits.shape)}, "
          f"|prefill-decode| max {diff:.3g}, |logit| max {np.abs(logits).max():.3g}")
    return paths


def golden_tolerance(key, ref):
    """Inputs must reproduce bit for bit; golden logits within 1e-5, since fp32 matmul rounding may
    differ in the last bits across CPUs and BLAS builds."""
    return 1e-5 if key.startswith("logits") else None


def main(argv=None):
    ap = argparse.ArgumentParser(description="generate tiny-model fixtures (see module docstring)")
    ap.add_argument("--configs", default=os.path.join(REPO, "configs", "models"))
    ap.add_argument("--out-dir", default=os.path.join(REPO, "tests", "data"))
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temporary folder and compare with --out-dir")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfgs = sorted(glob.glob(os.path.join(args.configs, "tiny-*.json")))
    if not cfgs:
        raise SystemExit(f"no tiny-*.json in {args.configs}")
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            paths = [p for c in cfgs for p in make_one(c, tmp)]
            return compare_regenerated(paths, args.out_dir, golden_tolerance,
                                       "weights, tokens, context bit for bit; logits within 1e-5")
    os.makedirs(args.out_dir, exist_ok=True)
    for c in cfgs:
        for p in make_one(c, args.out_dir):
            size = os.path.getsize(p)
            flag = "" if size < SIZE_LIMIT else f"   WARNING: >= {SIZE_LIMIT} bytes"
            print(f"  {os.path.relpath(p, REPO)}: {size} bytes{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
