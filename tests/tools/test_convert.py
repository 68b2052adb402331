#!/usr/bin/env python3
"""Tests for tools/convert_checkpoint.py `ar` (docs/weights.md; spec ar-model.md section 8).

Builds a fake official checkpoint for configs/models/tiny-ar-5b-video2world.json (random bf16
tensors under "model."-prefixed keys plus a TransformerEngine "_extra_state" entry, saved with
torch.save), converts it and checks that every dataset round-trips bit-exactly with the format's
attributes and layout; then checks that a missing key, an unexpected key and a wrong shape each
exit with status 2, name the key on stderr and leave no output (or temporary) file.

Plain script, no pytest needed:  /usr/bin/python3 tests/tools/test_convert.py
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
from harness import check, summary  # noqa: E402

CONFIG = os.path.join(REPO, "configs", "models", "tiny-ar-5b-video2world.json")
CONVERTER = os.path.join(REPO, "tools", "convert_checkpoint.py")


def fake_state_dict(cfg, seed=0, dtype=torch.bfloat16):
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in cosmos_h5.expected_tensors(cfg):
        sd["model." + key] = torch.randn(shape, generator=gen).to(dtype)
    sd["model.layers.0.attention.wq._extra_state"] = torch.zeros(4, dtype=torch.uint8)
    return sd


def bits(t):
    return t.to(torch.bfloat16).contiguous().view(torch.int16).numpy().view(np.uint16)


def run_converter(ckpt, out, config=CONFIG):
    return subprocess.run([sys.executable, CONVERTER, "ar", "--config", config,
                           "--checkpoint", ckpt, "--out", out],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_no_output(tmpdir, out):
    assert not os.path.exists(out), f"{out} exists after a failed conversion"
    leftovers = [f for f in os.listdir(tmpdir) if ".tmp-" in f]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def verify_file(path, cfg, sd):
    expected = cosmos_h5.expected_tensors(cfg)
    d = cosmos_h5.derive(cfg)
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert a["cosmos_format"] == "cosmos-ar-weights"
        assert int(a["format_version"]) == 1 and a["model_type"] == "ar"
        assert json.loads(a["config"])["name"] == cfg["name"]
        for k in cosmos_h5.INT_ATTRS:
            assert a[k].dtype == np.int64 and int(a[k]) == d[k], k
        assert sorted(f.keys()) == sorted(k for k, _ in expected), "dataset set differs"
        for key, shape in expected:
            ds = f[key]
            assert ds.dtype == np.dtype("<u2"), f"{key}: {ds.dtype}"
            assert ds.attrs["dtype"] == "bfloat16", key
            assert tuple(ds.shape) == tuple(shape), key
            assert ds.id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS, key
            assert ds.compression is None and ds.chunks is None, key
            assert ds.id.get_offset() % 64 == 0, f"{key} not 64-byte aligned"
            assert np.array_equal(ds[()], bits(sd["model." + key])), f"{key}: bits differ"


def main():
    cfg = cosmos_h5.load_config(CONFIG)
    with tempfile.TemporaryDirectory() as tmp:
        sd = fake_state_dict(cfg)
        ckpt = os.path.join(tmp, "model.pt")
        torch.save(sd, ckpt)

        def roundtrip():
            out = os.path.join(tmp, "ok.h5")
            r = run_converter(ckpt, out)
            assert r.returncode == 0, f"rc {r.returncode}\n{r.stderr}"
            verify_file(out, cfg, sd)
            assert not [f for f in os.listdir(tmp) if ".tmp-" in f]
            # the reference reader accepts it too
            got_cfg, got = cosmos_h5.read_ar_weights(out)
            assert got_cfg == cfg and len(got) == len(cosmos_h5.expected_tensors(cfg))

        def outer_model_dict_no_prefix():
            plain = {k[len("model."):]: v for k, v in sd.items()}
            p = os.path.join(tmp, "outer.pt")
            torch.save({"model": plain, "optimizer": None}, p)
            out = os.path.join(tmp, "outer.h5")
            r = run_converter(p, out)
            assert r.returncode == 0, r.stderr
            verify_file(out, cfg, sd)

        def fp32_input_rounds_to_nearest_even():
            sd32 = fake_state_dict(cfg, seed=1, dtype=torch.float32)
            p = os.path.join(tmp, "fp32.pt")
            torch.save(sd32, p)
            out = os.path.join(tmp, "fp32.h5")
            r = run_converter(p, out)
            assert r.returncode == 0, r.stderr
            verify_file(out, cfg, sd32)  # bits() rounds with torch's RNE

        def failure_case(label, mutate, key):
            def fn():
                bad = dict(sd)
                mutate(bad)
                p = os.path.join(tmp, f"{label}.pt")
                torch.save(bad, p)
                out = os.path.join(tmp, f"{label}.h5")
                r = run_converter(p, out)
                assert r.returncode == 2, f"rc {r.returncode}, stderr:\n{r.stderr}"
                assert key in r.stderr, f"{key} not named in stderr:\n{r.stderr}"
                assert_no_output(tmp, out)
            return fn

        check("roundtrip bit-exact", roundtrip)
        check("outer {'model': ...} dict without prefix", outer_model_dict_no_prefix)
        check("fp32 checkpoint rounds to bf16 (RNE)", fp32_input_rounds_to_nearest_even)
        miss = "layers.1.feed_forward.w2.weight"
        check("missing key -> exit 2", failure_case(
            "missing", lambda s: s.pop("model." + miss), miss))
        extra = "layers.0.attention.bogus.weight"
        check("unexpected key -> exit 2", failure_case(
            "extra", lambda s: s.__setitem__("model." + extra, torch.zeros(4, dtype=torch.bfloat16)),
            extra))
        shaped = "layers.0.cross_attention.wk.weight"
        check("wrong shape -> exit 2", failure_case(
            "shape", lambda s: s.__setitem__("model." + shaped, torch.zeros(64, 65, dtype=torch.bfloat16)),
            shaped))

        def existing_output_kept_on_failure():
            out = os.path.join(tmp, "keep.h5")
            with open(out, "w") as fh:
                fh.write("old")
            bad = dict(sd)
            bad.pop("model.norm.weight")
            p = os.path.join(tmp, "keep.pt")
            torch.save(bad, p)
            r = run_converter(p, out)
            assert r.returncode == 2 and "norm.weight" in r.stderr
            assert open(out).read() == "old", "existing output was touched"
            assert not [f for f in os.listdir(tmp) if ".tmp-" in f]

        check("failed conversion leaves an existing OUT untouched", existing_output_kept_on_failure)

    return summary()


if __name__ == "__main__":
    sys.exit(main())
