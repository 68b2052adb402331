#!/usr/bin/env python3
"""Tests for tools/convert_checkpoint.py `diffusion-decoder` (docs/weights.md "Diffusion decoder
files"; spec components.md 4.1, 4.4).

Builds a fake official model.pt for configs/models/dd-tiny.json from the reference modules of
tools/reference/dit_ref.py (their state_dict, bf16, under the official "net." prefix) plus the keys an
official file also holds and the format drops (net.pos_embedder.seq, logvar.0.freqs/phases,
logvar.1.weight, a TransformerEngine "_extra_state" entry); converts it and checks the attributes,
layout and every dataset bit for bit, and that the reference loaded from the converted file computes
exactly what the original module computes. Then: an outer {"model": ...} dict, float32 input (rounded
to nearest even), and bad inputs (missing, unexpected and misshaped keys, a bad config, a missing
checkpoint), each exit status 2 naming the problem and leaving no output or temporary file. Also checks
the format's key list against the reference modules for dd-tiny and the numbers of the 7B config.

Plain script: /usr/bin/python3 tests/tools/test_convert_dd.py   (prints "N passed, M failed")
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
sys.path.insert(0, os.path.join(REPO, "tools", "reference"))
import cosmos_dit_h5 as fmt  # noqa: E402
import dit_ref  # noqa: E402
from harness import check, summary  # noqa: E402

CONFIG = os.path.join(REPO, "configs", "models", "dd-tiny.json")
FULL_CONFIG = os.path.join(REPO, "configs", "models", "cosmos-1.0-diffusion-7b-decoder.json")
CONVERTER = os.path.join(REPO, "tools", "convert_checkpoint.py")
EXTRA_STATE = "net.blocks.block0.blocks.0.block.attn.attn_op._extra_state"


def reference_module(cfg, seed=0):
    torch.manual_seed(seed)
    net = dit_ref.DiffusionDecoderDiT(cfg)
    with torch.no_grad():  # torch's default init leaves RMSNorm weights at 1: perturb them
        for name, p in net.named_parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net.eval()


def fake_checkpoint(net, dtype=torch.bfloat16):
    sd = {"net." + k: v.detach().clone().to(dtype) for k, v in net.state_dict().items()}
    sd["net.pos_embedder.seq"] = torch.arange(128, dtype=torch.float32)
    sd["logvar.0.freqs"] = torch.randn(128)
    sd["logvar.0.phases"] = torch.rand(128)
    sd["logvar.1.weight"] = torch.randn(1, 128)
    sd[EXTRA_STATE] = torch.zeros(0, dtype=torch.uint8)
    return sd


def bits(t):
    return t.to(torch.bfloat16).contiguous().view(torch.int16).numpy().view(np.uint16)


def run_converter(ckpt, out, config=CONFIG):
    return subprocess.run([sys.executable, CONVERTER, "diffusion-decoder", "--config", config,
                           "--checkpoint", ckpt, "--out", out], capture_output=True, text=True)


def assert_no_output(tmpdir, out):
    assert not os.path.exists(out), f"{out} exists after a failed conversion"
    leftovers = [f for f in os.listdir(tmpdir) if ".tmp-" in f]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def verify_file(path, cfg, sd):
    expected = fmt.expected_tensors(cfg)
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert a["cosmos_format"] == "cosmos-ar-weights" and int(a["format_version"]) == 1
        assert a["model_type"] == "diffusion_decoder"
        assert json.loads(a["config"]) == cfg
        for k in fmt.INT_ATTRS:
            assert a[k].dtype == np.int64 and int(a[k]) == cfg[k], k
        assert sorted(f.keys()) == sorted(k for k, _ in expected), "dataset set differs"
        for key, shape in expected:
            ds = f[key]
            assert ds.dtype == np.dtype("<u2") and ds.attrs["dtype"] == "bfloat16", key
            assert tuple(ds.shape) == tuple(shape), key
            assert ds.id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS, key
            assert ds.compression is None and ds.chunks is None, key
            assert ds.id.get_offset() % 64 == 0, f"{key} not 64-byte aligned"
            assert np.array_equal(ds[()], bits(sd["net." + key])), f"{key}: bits differ"


def main():
    cfg = fmt.load_config(CONFIG)
    net = reference_module(cfg)
    sd = fake_checkpoint(net)

    def key_list_matches_reference():
        got = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
        assert got == [(k, tuple(s)) for k, s in fmt.expected_tensors(cfg)], "reference state_dict != format keys"

    def full_config_numbers():
        full = fmt.load_config(FULL_CONFIG)
        exp = fmt.expected_tensors(full)
        assert len(exp) == 568, len(exp)
        assert fmt.n_params(full) == 7_237_257_216, fmt.n_params(full)
        per_block = sum(int(np.prod(s)) for k, s in exp if k.startswith("blocks.block0."))
        assert per_block == 255_853_056, per_block  # spec 4.4
        shapes = dict(exp)
        assert shapes["x_embedder.proj.1.weight"] == (4096, 196)
        assert shapes["final_layer.linear.weight"] == (64, 4096)
        assert shapes["blocks.block27.blocks.1.block.attn.to_k.0.weight"] == (4096, 1024)
        assert shapes["token_embedder.weight"] == (64000, 32)

    check("format key list = reference state_dict (dd-tiny)", key_list_matches_reference)
    check("7B config: 568 datasets, 7 237 257 216 parameters", full_config_numbers)

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "model.pt")
        torch.save(sd, ckpt)

        def roundtrip():
            out = os.path.join(tmp, "ok.h5")
            r = run_converter(ckpt, out)
            assert r.returncode == 0, f"rc {r.returncode}\n{r.stderr}"
            for dropped in ("logvar.0.freqs", "net.pos_embedder.seq", "_extra_state"):
                assert dropped in r.stderr, f"no note about {dropped}:\n{r.stderr}"
            verify_file(out, cfg, sd)
            assert not [f for f in os.listdir(tmp) if ".tmp-" in f]
            got = dit_ref.DiffusionDecoderDiT.from_h5(out)
            want = dit_ref.DiffusionDecoderDiT(cfg)
            want.load_state_dict({k[4:]: v.float() for k, v in sd.items()
                                  if k.startswith("net.") and fmt.dropped_reason(k[4:]) is None})
            g = torch.Generator().manual_seed(1)
            x = torch.randn(4, 2, 4, 6, generator=g)
            ctx = torch.randn(5, 64, generator=g)
            tok = torch.randint(0, 512, (2, 2, 3), generator=g)
            with torch.no_grad():
                a, b = got(x, 0.3, ctx, tok), want.eval()(x, 0.3, ctx, tok)
            assert torch.equal(a, b), f"forward differs by {(a - b).abs().max()}"

        def outer_model_dict():
            p = os.path.join(tmp, "outer.pt")
            torch.save({"model": dict(sd)}, p)
            out = os.path.join(tmp, "outer.h5")
            r = run_converter(p, out)
            assert r.returncode == 0, r.stderr
            verify_file(out, cfg, sd)

        def fp32_rounds_to_nearest_even():
            sd32 = fake_checkpoint(reference_module(cfg, seed=1), dtype=torch.float32)
            p = os.path.join(tmp, "fp32.pt")
            torch.save(sd32, p)
            out = os.path.join(tmp, "fp32.h5")
            r = run_converter(p, out)
            assert r.returncode == 0, r.stderr
            assert "rounding torch.float32" in r.stderr, r.stderr
            verify_file(out, cfg, sd32)

        def failure_case(label, mutate, needle, config=CONFIG, path=None):
            def fn():
                p = path
                if p is None:
                    bad = dict(sd)
                    mutate(bad)
                    p = os.path.join(tmp, f"{label}.pt")
                    torch.save(bad, p)
                out = os.path.join(tmp, f"{label}.h5")
                r = run_converter(p, out, config)
                assert r.returncode == 2, f"rc {r.returncode}, stderr:\n{r.stderr}"
                assert needle in r.stderr, f"{needle!r} not in stderr:\n{r.stderr}"
                assert_no_output(tmp, out)
            return fn

        check("roundtrip bit-exact, dropped keys noted, same forward", roundtrip)
        check("outer {'model': ...} dict", outer_model_dict)
        check("float32 checkpoint rounds to bf16 (RNE)", fp32_rounds_to_nearest_even)
        miss = "blocks.block1.blocks.2.block.layer2.weight"
        check("missing key -> exit 2", failure_case("missing", lambda s: s.pop("net." + miss), miss))
        extra = "blocks.block0.blocks.0.block.attn.to_v.1.weight"
        check("unexpected net key -> exit 2", failure_case(
            "extra", lambda s: s.__setitem__("net." + extra, torch.ones(16, dtype=torch.bfloat16)), extra))
        check("unexpected non-net key -> exit 2", failure_case(
            "conditioner", lambda s: s.__setitem__("conditioner.text.weight", torch.ones(2)),
            "conditioner.text.weight"))
        shaped = "blocks.block0.blocks.1.block.attn.to_k.0.weight"
        check("wrong shape -> exit 2", failure_case(
            "shape", lambda s: s.__setitem__("net." + shaped, torch.zeros(64, 65, dtype=torch.bfloat16)), shaped))
        check("integer tensor -> exit 2", failure_case(
            "dtype", lambda s: s.__setitem__("net.affline_norm.weight", torch.ones(64, dtype=torch.int32)),
            "affline_norm.weight"))
        badcfg = os.path.join(tmp, "bad.json")
        with open(CONFIG) as fh:
            c = json.load(fh)
        c["use_adaln_lora"] = False
        with open(badcfg, "w") as fh:
            json.dump(c, fh)
        check("unsupported config -> exit 2", failure_case("badcfg", None, "use_adaln_lora", badcfg, ckpt))
        check("missing checkpoint -> exit 2", failure_case("nockpt", None, "not found", CONFIG,
                                                           os.path.join(tmp, "nope.pt")))
        garbage = os.path.join(tmp, "garbage.pt")
        with open(garbage, "wb") as fh:
            fh.write(b"not a torch file")
        check("unreadable checkpoint -> exit 2", failure_case("garbage", None, "cannot load", CONFIG, garbage))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
