#!/usr/bin/env python3
"""Tests for tools/bench/torch_decode.py, the PyTorch peer of the decode benchmark.

- For each tiny config (tiny-ar-4b, tiny-ar-12b, tiny-ar-5b-video2world, tiny-ar-13b-video2world):
  `--check-logits tests/data/NAME.golden.h5` in f32 on the CPU (eager) passes: teacher-forced
  logits through prefill and through token-by-token decode (both attention windows) within 1e-4
  absolute of the reference's golden logits (tools/reference/make_fixtures.py); the JSON holds the
  errors.
- The check can fail: the weights of one tiny model against the golden file of another exit 1.
- A short timing run (--device cpu --dtype f32 --prompt-len 24 --gen 8) writes its JSON with
  provenance and ms/token statistics, for a base and a Video2World model.
- Errors exit 2 with a message: a prompt that does not fit max_seq_len; --mode compile on
  torch < 2 (on torch >= 2, a compiled check of one tiny model runs instead).

Plain script, no pytest needed: /usr/bin/python3 tests/tools/test_torch_decode.py
(tests/tools/run_py.sh skips it, exit 77, when that Python lacks torch/h5py/numpy).
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import json
import os
import subprocess
import sys
import tempfile

import torch
from harness import check, summary  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(REPO, "tools", "bench", "torch_decode.py")
DATA = os.path.join(REPO, "tests", "data")
MODELS = ("tiny-ar-4b", "tiny-ar-12b", "tiny-ar-5b-video2world", "tiny-ar-13b-video2world")
TOL = 1e-4


def run(args, timeout=600):
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    r = subprocess.run([sys.executable, SCRIPT] + args, capture_output=True, text=True,
                       timeout=timeout, env=env)
    return r


def show(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def golden_args(name, golden=None):
    args = ["--model", os.path.join(DATA, f"{name}.h5"),
            "--check-logits", os.path.join(DATA, f"{golden or name}.golden.h5"),
            "--device", "cpu", "--dtype", "f32"]
    if golden is None:
        args += ["--tokens", os.path.join(DATA, f"{name}.tokens.txt")]
        ctx = os.path.join(DATA, f"{name}.context.h5")
        if os.path.exists(ctx):
            args += ["--context", ctx]
    return args


def golden_case(name, tmp, mode="eager"):
    def fn():
        out = os.path.join(tmp, f"{name}-{mode}-check.json")
        r = run(golden_args(name) + ["--mode", mode, "--json", out])
        assert r.returncode == 0, show(r)
        with open(out, encoding="utf-8") as fh:
            doc = json.load(fh)
        assert doc["kind"] == "check_logits" and doc["passed"] is True, doc
        want = {"prefill", "decode_full_compiled"} if mode == "compile" else \
            {"prefill", "decode_filled", "decode_full"}
        assert set(doc["results"]) == want, doc["results"].keys()
        for path, res in doc["results"].items():
            assert res["finite"], (path, res)
            assert res["max_abs"] <= TOL, (path, res)
            assert res["argmax_agree"] == res["rows"], (path, res)
            print(f"     {name} {path}: max|diff| {res['max_abs']:.3g}, rel {res['max_rel']:.3g}")
    return fn


def wrong_golden_fails():
    r = run(golden_args("tiny-ar-4b", golden="tiny-ar-12b"))
    assert r.returncode == 1, show(r)
    assert "FAIL" in r.stdout, show(r)


def timing_case(name, tmp):
    def fn():
        out = os.path.join(tmp, f"{name}-timing.json")
        r = run(["--model", os.path.join(DATA, f"{name}.h5"), "--device", "cpu", "--dtype", "f32",
                 "--prompt-len", "24", "--gen", "8", "--warmup", "2", "--json", out])
        assert r.returncode == 0, show(r)
        with open(out, encoding="utf-8") as fh:
            doc = json.load(fh)
        assert doc["kind"] == "decode_timing", doc
        prov = doc["provenance"]
        for k in ("torch", "device", "device_name", "date", "python"):
            assert prov.get(k), (k, prov)
        assert prov["torch"] == torch.__version__
        assert doc["run"]["mode"] == "eager" and doc["run"]["dtype"] == "f32"
        assert doc["prompt_len"] == 24 and doc["gen"] == 8 and doc["decode_steps"] == 7
        ms = doc["decode"]["ms_per_token"]
        assert 0 < ms["min"] <= ms["p50"] <= ms["p90"] <= ms["max"], ms
        assert ms["min"] <= ms["mean"] <= ms["max"], ms
        assert doc["decode"]["tokens_per_s"] > 0 and doc["prefill"]["s"] > 0
        assert doc["memory"]["kv_cache_bytes"] > 0 and doc["memory"]["host_peak_rss_bytes"] > 0
        assert len(doc["generated_first"]) == 8
        assert all(0 <= t < 512 for t in doc["generated_first"]), doc["generated_first"]
    return fn


def too_long_fails():
    r = run(["--model", os.path.join(DATA, "tiny-ar-4b.h5"), "--device", "cpu",
             "--prompt-len", "100", "--gen", "100"])
    assert r.returncode == 2 and "max_seq_len" in r.stderr, show(r)


def compile_without_torch2():
    r = run(golden_args("tiny-ar-4b") + ["--mode", "compile"])
    assert r.returncode == 2 and "torch.compile" in r.stderr, show(r)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            check(f"{name}: --check-logits f32 eager within {TOL:g}", golden_case(name, tmp))
        check("weights of another model -> check fails (exit 1)", wrong_golden_fails)
        for name in ("tiny-ar-4b", "tiny-ar-5b-video2world"):
            check(f"{name}: timing run writes JSON", timing_case(name, tmp))
        check("prompt + gen > max_seq_len -> exit 2", too_long_fails)
        if int(torch.__version__.split(".")[0]) < 2 or not hasattr(torch, "compile"):
            check("--mode compile on torch < 2 -> exit 2 with a message", compile_without_torch2)
        else:
            check("tiny-ar-13b-video2world: --check-logits compiled",
                  golden_case("tiny-ar-13b-video2world", tmp, mode="compile"))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
