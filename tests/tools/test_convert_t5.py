#!/usr/bin/env python3
"""Tests for tools/convert_checkpoint.py `t5` (docs/t5.md; spec components.md section 3).

Builds a fake Hugging Face t5 checkpoint folder for the tiny T5 config (config.json, a
pytorch_model.bin with every encoder key plus decoder keys and the tied encoder.embed_tokens copy
that must be ignored, spiece.model), converts it to f32 and to bf16 and checks every dataset
(f32 bit-exact, bf16 = round-to-nearest-even of the f32 values) and the embedded tokenizer bytes;
then checks that a missing and a misshaped tensor exit with status 2 naming the key and leave no
file. With a cosmos-ar binary as argument, the converted file must also encode a prompt.

Plain script: /usr/bin/python3 tests/tools/test_convert_t5.py [COSMOS_AR]
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
import cosmos_h5  # noqa: E402
import cosmos_t5_h5  # noqa: E402

CONVERTER = os.path.join(REPO, "tools", "convert_checkpoint.py")
SPM = os.path.join(REPO, "tests", "data", "t5-test-spiece.model")
RESULTS = {"passed": 0, "failed": 0}


def check(cond, what):
    if cond:
        RESULTS["passed"] += 1
    else:
        RESULTS["failed"] += 1
        print(f"FAIL: {what}")


def tiny_hf_config():
    with open(os.path.join(REPO, "configs", "models", "t5-tiny.json")) as fh:
        ours = json.load(fh)
    hf = {k: ours[k] for k in cosmos_t5_h5.CONFIG_KEYS}
    hf.update({"layer_norm_epsilon": 1e-6, "feed_forward_proj": "relu", "model_type": "t5",
               "num_decoder_layers": ours["num_layers"]})
    return hf


def make_checkpoint(folder, drop=None, reshape=None):
    hf = tiny_hf_config()
    cfg = cosmos_t5_h5.config_from_hf(hf, "t5-tiny")
    gen = torch.Generator().manual_seed(3)
    sd = {}
    for key, shape in cosmos_t5_h5.expected_tensors(cfg):
        if key == drop:
            continue
        if key == reshape:
            shape = (shape[0] + 1,) + tuple(shape[1:])
        sd[key] = torch.randn(*shape, generator=gen)
    sd["encoder.embed_tokens.weight"] = sd.get("shared.weight", torch.zeros(1))
    sd["decoder.block.0.layer.0.SelfAttention.q.weight"] = torch.randn(8, 8, generator=gen)
    os.makedirs(folder, exist_ok=True)
    torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
    with open(os.path.join(folder, "config.json"), "w") as fh:
        json.dump(hf, fh)
    with open(SPM, "rb") as src, open(os.path.join(folder, "spiece.model"), "wb") as dst:
        dst.write(src.read())
    return cfg, sd


def convert(folder, out, dtype):
    return subprocess.run([sys.executable, CONVERTER, "t5", "--checkpoint", folder, "--out", out, "--dtype", dtype,
                           "--name", "t5-tiny"], capture_output=True, text=True)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "ck")
        cfg, sd = make_checkpoint(ck)
        for dtype in ("f32", "bf16"):
            out = os.path.join(tmp, f"t5-{dtype}.h5")
            r = convert(ck, out, dtype)
            check(r.returncode == 0, f"{dtype} conversion: {r.stderr}")
            if r.returncode:
                continue
            with h5py.File(out, "r") as f:
                check(f.attrs["model_type"] == "t5", "model_type attribute")
                names = set(f.keys())
                want = {k for k, _ in cosmos_t5_h5.expected_tensors(cfg)} | {cosmos_t5_h5.SPIECE_DATASET}
                check(names == want, f"{dtype}: datasets {sorted(names ^ want)[:3]} differ from the expected set")
                bad = 0
                for key, _ in cosmos_t5_h5.expected_tensors(cfg):
                    ref = sd[key].numpy().astype(np.float32)
                    got = f[key][()]
                    if dtype == "f32":
                        bad += not np.array_equal(got, ref)
                    else:
                        bad += not (f[key].attrs.get("dtype") == "bfloat16"
                                    and np.array_equal(got, cosmos_h5.f32_to_bf16_bits(ref)))
                check(bad == 0, f"{dtype}: {bad} tensors do not round-trip")
                with open(SPM, "rb") as fh:
                    check(f[cosmos_t5_h5.SPIECE_DATASET][()].tobytes() == fh.read(), "tokenizer bytes")
            if binary:
                ctx = os.path.join(tmp, f"ctx-{dtype}.h5")
                r = subprocess.run([binary, "encode-text", "--t5", out, "--prompt", "a red cube", "--out", ctx],
                                   capture_output=True, text=True)
                check(r.returncode == 0 and os.path.exists(ctx), f"cosmos-ar encode-text on the converted file: {r.stderr}")
        for case, kw, needle in [("missing", {"drop": "encoder.block.1.layer.1.DenseReluDense.wo.weight"},
                                  "encoder.block.1.layer.1.DenseReluDense.wo.weight"),
                                 ("misshaped", {"reshape": "encoder.block.0.layer.0.SelfAttention.k.weight"},
                                  "encoder.block.0.layer.0.SelfAttention.k.weight")]:
            folder = os.path.join(tmp, case)
            make_checkpoint(folder, **kw)
            out = os.path.join(tmp, f"{case}.h5")
            r = convert(folder, out, "f32")
            check(r.returncode == 2, f"{case}: exit {r.returncode}")
            check(needle in r.stderr, f"{case}: stderr lacks {needle}: {r.stderr}")
            check(not any(n.startswith(f"{case}.h5") for n in os.listdir(tmp)), f"{case}: an output file was left")
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
