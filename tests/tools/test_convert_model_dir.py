#!/usr/bin/env python3
"""Tests for tools/convert_checkpoint.py `model-dir` (official checkpoints folder -> a model directory
for `cosmos-ar generate --model-dir`; core/pipeline/model_dir.h).

`cosmos-ar init` of configs/pipelines/tiny-5b-video2world.json gives a reference model directory;
its weights are written back out as a fake official checkpoints folder (spec ar-model.md 6.2):
  CKPT/tiny-ar-5b-video2world/model.pt                  "model."-prefixed bf16 state dict
  CKPT/Cosmos-1.0-Tokenizer-DV8x16x16/{encoder,decoder}.jit   TorchScript archives (+ a JIT-only buffer)
  CKPT/models--google-t5--t5-11b/{refs/main, snapshots/REV/{config.json, pytorch_model.bin,
      spiece.model}}                                    where the official pipeline caches t5-11b
The conversion (--dtype bf16, --ar-config / --tokenizer-config for the tiny model) must give every
dataset of the reference bit for bit, a manifest naming the three files, and `cosmos-ar generate`
on it the same tokens as on the reference (17 frames of 96x64). Then: --resume keeps finished files
and redoes a missing one; a non-empty DIR without --force/--resume, a missing model.pt, a missing
T5, an unknown model name and a T5 length that is not the AR context_len all exit 2 naming the
problem, with no manifest written. A base model (tiny-ar-4b) gets no T5.

Plain script: /usr/bin/python3 tests/tools/test_convert_model_dir.py COSMOS_AR
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import h5py
import numpy as np
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cosmos_dv_h5 as dv  # noqa: E402
import cosmos_h5  # noqa: E402
import cosmos_t5_h5  # noqa: E402
from test_convert_dv import save_state_archive  # noqa: E402  (a TorchScript archive of a given state dict)
from harness import check, summary  # noqa: E402

CONVERTER = os.path.join(REPO, "tools", "convert_checkpoint.py")
PIPELINE = os.path.join(REPO, "configs", "pipelines", "tiny-5b-video2world.json")
AR_CONFIG = os.path.join(REPO, "configs", "models", "tiny-ar-5b-video2world.json")
TOK_CONFIG = os.path.join(REPO, "configs", "models", "dv-tokenizer-tiny-v512.json")
IMAGE = os.path.join(REPO, "tests", "data", "media-tiny.png")
MODEL = "tiny-ar-5b-video2world"


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def bf16_tensor(bits):
    return torch.from_numpy(np.ascontiguousarray(bits).view(np.int16)).view(torch.bfloat16)


# ---------------------------------------------------------------------------------------------
# a fake official checkpoints folder made of a reference model directory's weights


def write_ar_checkpoint(ref_ar, path):
    _, arrays = cosmos_h5.read_ar_weights(ref_ar)
    sd = {"model." + k: bf16_tensor(v) for k, v in arrays.items()}
    sd["model.layers.0.attention.wq._extra_state"] = torch.zeros(4, dtype=torch.uint8)  # TransformerEngine
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(sd, path)


def write_tokenizer_archives(ref_tok, folder):
    cfg, _, arrays, dtypes = dv.read_dv_weights(ref_tok)
    os.makedirs(folder, exist_ok=True)
    for part, extra in ((dv.ENCODER, {"quantizer._levels": torch.tensor(cfg["levels"], dtype=torch.int32)}),
                        (dv.DECODER, {"inv_quant.quantizer._levels": torch.tensor(cfg["levels"], dtype=torch.int32)})):
        state = {}
        for key, _ in dv.expected_tensors(cfg, (part,)):
            t = torch.from_numpy(arrays[key])
            state[key] = t.to(torch.bfloat16) if dtypes[key] == "bf16" else t
        state.update(extra)  # a JIT-only buffer the converter drops
        save_state_archive(state, os.path.join(folder, f"{part}.jit"))


def write_t5_cache(ref_t5, ckpt):
    """The hub cache entry T5EncoderModel.from_pretrained("google-t5/t5-11b", cache_dir=ckpt) makes."""
    entry = os.path.join(ckpt, "models--google-t5--t5-11b")
    snap = os.path.join(entry, "snapshots", "0123abcd")
    os.makedirs(snap)
    os.makedirs(os.path.join(entry, "refs"))
    with open(os.path.join(entry, "refs", "main"), "w") as fh:
        fh.write("0123abcd")
    with h5py.File(ref_t5, "r") as f:
        cfg = json.loads(f.attrs["config"])
        sd = {}
        for key, _ in cosmos_t5_h5.expected_tensors(cfg):
            ds = f[key]
            v = ds[()]
            sd[key] = torch.from_numpy(cosmos_h5.bf16_bits_to_f32(v) if ds.attrs.get("dtype") == "bfloat16"
                                       else v.astype(np.float32))
        spm = f[cosmos_t5_h5.SPIECE_DATASET][()].tobytes()
    sd["encoder.embed_tokens.weight"] = sd["shared.weight"]
    sd["decoder.final_layer_norm.weight"] = torch.ones(cfg["d_model"])  # decoder keys are skipped
    torch.save(sd, os.path.join(snap, "pytorch_model.bin"))
    hf = {k: cfg[k] for k in cosmos_t5_h5.CONFIG_KEYS}
    hf.update({"layer_norm_epsilon": cfg["layer_norm_epsilon"], "feed_forward_proj": "relu", "model_type": "t5",
               "num_decoder_layers": cfg["num_layers"], "n_positions": 512})
    with open(os.path.join(snap, "config.json"), "w") as fh:
        json.dump(hf, fh)
    with open(os.path.join(snap, "spiece.model"), "wb") as fh:
        fh.write(spm)


# ---------------------------------------------------------------------------------------------


class Env:
    def __init__(self, tmp, binary):
        self.tmp, self.binary = tmp, binary
        self.env = dict(os.environ, HF_HOME=os.path.join(tmp, "hf-home"), OMP_NUM_THREADS="2")
        self.env.pop("HF_HUB_CACHE", None)

    def convert(self, ckpt, out, *extra, model=MODEL, ar_config=AR_CONFIG, tiny=True):
        cmd = [sys.executable, CONVERTER, "model-dir", "--checkpoint-dir", ckpt, "--model", model, "--out", out]
        if tiny:
            cmd += ["--ar-config", ar_config, "--tokenizer-config", TOK_CONFIG]
        return subprocess.run(cmd + list(extra), capture_output=True, text=True, env=self.env)

    def generate(self, model_dir, out):
        tokens = out + ".tokens.txt"
        r = subprocess.run([self.binary, "generate", "--model-dir", model_dir, "--input", IMAGE, "--prompt",
                            "a red cube", "--seed", "3", "--output", out, "--save-tokens", tokens],
                           capture_output=True, text=True, env=self.env)
        expect(r.returncode == 0, f"generate --model-dir {model_dir}: exit {r.returncode}\n{r.stderr[-2000:]}")
        r = subprocess.run([self.binary, "info", out], capture_output=True, text=True, env=self.env)
        media = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("media")]
        expect(r.returncode == 0 and media and media[0][2] == "17" and media[0][5] == "96x64",
               f"cosmos-ar info {out}: {r.stdout} {r.stderr}")
        with open(tokens) as fh:
            return fh.read().split()


def same_datasets(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        expect(set(fa.keys()) == set(fb.keys()), f"{b}: datasets {sorted(set(fa.keys()) ^ set(fb.keys()))[:3]}")
        for k in fa.keys():
            expect(fa[k].dtype == fb[k].dtype and fa[k].attrs.get("dtype") == fb[k].attrs.get("dtype")
                   and np.array_equal(fa[k][()], fb[k][()]), f"{b}: dataset {k} differs from {a}")


def expect_refused(r, what, needles):
    expect(r.returncode == 2, f"{what}: exit {r.returncode} (want 2)\n{r.stdout}\n{r.stderr}")
    for n in needles:
        expect(n in r.stderr, f"{what}: stderr does not name {n!r}:\n{r.stderr}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else None
    if not binary:
        print("usage: test_convert_model_dir.py COSMOS_AR")
        return 2
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    with tempfile.TemporaryDirectory() as tmp:
        e = Env(tmp, binary)
        ref = os.path.join(tmp, "ref")
        r = subprocess.run([binary, "init", "--config", PIPELINE, "--seed", "1", "--out", ref], capture_output=True,
                           text=True, env=e.env)
        if r.returncode:
            print(f"FAIL cosmos-ar init {PIPELINE}: {r.stderr}")
            return 1
        ckpt = os.path.join(tmp, "checkpoints")
        write_ar_checkpoint(os.path.join(ref, "ar.h5"), os.path.join(ckpt, MODEL, "model.pt"))
        write_tokenizer_archives(os.path.join(ref, "tokenizer.h5"), os.path.join(ckpt, "Cosmos-1.0-Tokenizer-DV8x16x16"))
        write_t5_cache(os.path.join(ref, "t5.h5"), ckpt)
        out = os.path.join(tmp, "model")
        manifest = os.path.join(out, "cosmos-model.json")

        def convert_and_generate():
            r = e.convert(ckpt, out, "--dtype", "bf16")
            expect(r.returncode == 0, f"model-dir: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
            with open(manifest) as fh:
                m = json.load(fh)
            expect({k: m[k] for k in ("format", "format_version", "name", "ar", "tokenizer", "t5")}
                   == {"format": "cosmos-ar-model-dir", "format_version": 1, "name": MODEL, "ar": "ar.h5",
                       "tokenizer": "tokenizer.h5", "t5": "t5.h5"}, f"manifest {m}")
            expect(sorted(os.listdir(out)) == ["ar.h5", "cosmos-model.json", "t5.h5", "tokenizer.h5"],
                   f"files in {out}: {os.listdir(out)}")
            for name in ("ar.h5", "tokenizer.h5", "t5.h5"):
                same_datasets(os.path.join(ref, name), os.path.join(out, name))
                expect(os.stat(os.path.join(out, name)).st_mtime_ns <= os.stat(manifest).st_mtime_ns,
                       f"the manifest was written before {name}")
            with h5py.File(os.path.join(out, "t5.h5"), "r") as f:
                expect(int(f.attrs["max_length"]) == 16 and json.loads(f.attrs["config"])["max_length"] == 16,
                       "T5 max_length is not the AR context_len (16)")
            expect(e.generate(out, os.path.join(tmp, "conv.mp4")) == e.generate(ref, os.path.join(tmp, "ref.mp4")),
                   "generate: the converted model directory gives other tokens than the reference")

        def resume():
            stamps = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in ("ar.h5", "tokenizer.h5", "t5.h5")}
            os.remove(os.path.join(out, "t5.h5"))
            with open(os.path.join(out, "t5.h5.tmp-99999"), "w") as fh:
                fh.write("left by a killed run")
            r = e.convert(ckpt, out, "--dtype", "bf16", "--resume")
            expect(r.returncode == 0, f"--resume: exit {r.returncode}\n{r.stderr}")
            expect(r.stdout.count("resume: keeping") == 2 and "t5: converting" in r.stdout, f"--resume: {r.stdout}")
            for n in ("ar.h5", "tokenizer.h5"):
                expect(os.stat(os.path.join(out, n)).st_mtime_ns == stamps[n], f"--resume rewrote {n}")
            expect(sorted(os.listdir(out)) == ["ar.h5", "cosmos-model.json", "t5.h5", "tokenizer.h5"],
                   f"files after --resume: {os.listdir(out)}")
            same_datasets(os.path.join(ref, "t5.h5"), os.path.join(out, "t5.h5"))
            # a file of another config is converted again
            shutil.copy(os.path.join(ref, "t5.h5"), os.path.join(out, "t5.h5"))  # name t5-tiny-ctx16, not t5-11b
            r = e.convert(ckpt, out, "--dtype", "bf16", "--resume")
            expect(r.returncode == 0 and "another config" in r.stderr and "t5: converting" in r.stdout,
                   f"--resume over a foreign t5.h5: {r.stdout}\n{r.stderr}")

        def refused_not_empty():
            before = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
            r = e.convert(ckpt, out)
            expect_refused(r, "non-empty DIR", ["not empty", "--force"])
            expect({n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)} == before,
                   "a refused conversion touched the model directory")
            r = e.convert(ckpt, out, "--force")  # default dtype: T5 f32
            expect(r.returncode == 0, f"--force: {r.stderr}")
            with h5py.File(os.path.join(out, "t5.h5"), "r") as f:
                expect(f["shared.weight"].dtype == np.float32, "--force --dtype keep: T5 not f32")

        def missing_pieces():
            broken = os.path.join(tmp, "ckpt-no-model")
            shutil.copytree(ckpt, broken, symlinks=True)
            os.remove(os.path.join(broken, MODEL, "model.pt"))
            out2 = os.path.join(tmp, "model-missing")
            r = e.convert(broken, out2)
            expect_refused(r, "missing model.pt", [os.path.join(broken, MODEL, "model.pt")])
            expect(not os.path.exists(os.path.join(out2, "cosmos-model.json")), "manifest written without model.pt")
            shutil.rmtree(os.path.join(broken, "models--google-t5--t5-11b"))
            os.remove(os.path.join(broken, "Cosmos-1.0-Tokenizer-DV8x16x16", "decoder.jit"))
            r = e.convert(broken, out2)
            expect_refused(r, "missing model.pt, decoder.jit and T5",
                           [os.path.join(broken, MODEL, "model.pt"),
                            os.path.join(broken, "Cosmos-1.0-Tokenizer-DV8x16x16", "decoder.jit"),
                            os.path.join(broken, "models--google-t5--t5-11b"), "--t5-dir"])
            expect(not os.path.exists(os.path.join(out2, "cosmos-model.json")), "manifest written with pieces missing")
            # --t5-dir: a plain Hugging Face folder
            t5_plain = os.path.join(ckpt, "models--google-t5--t5-11b", "snapshots", "0123abcd")
            shutil.copy(os.path.join(ckpt, "Cosmos-1.0-Tokenizer-DV8x16x16", "decoder.jit"),
                        os.path.join(broken, "Cosmos-1.0-Tokenizer-DV8x16x16", "decoder.jit"))
            shutil.copy(os.path.join(ckpt, MODEL, "model.pt"), os.path.join(broken, MODEL, "model.pt"))
            r = e.convert(broken, out2, "--t5-dir", t5_plain)
            expect(r.returncode == 0 and os.path.exists(os.path.join(out2, "cosmos-model.json")),
                   f"--t5-dir {t5_plain}: exit {r.returncode}\n{r.stderr}")

        def bad_options():
            out3 = os.path.join(tmp, "model-bad")
            r = e.convert(ckpt, out3, model="Cosmos-1.0-Autoregressive-7B", tiny=False)
            expect_refused(r, "unknown model name", ["Cosmos-1.0-Autoregressive-7B", "Cosmos-1.0-Autoregressive-5B-"
                                                     "Video2World", "--ar-config"])
            r = e.convert(ckpt, out3, "--t5-max-length", "512")
            expect_refused(r, "T5 length != context_len", ["[512, 64]", "[16, 64]"])
            r = e.convert(ckpt, out3, model="Cosmos-1.0-Autoregressive-5B-Video2World", tiny=False)
            expect_refused(r, "real model name, tiny checkpoints folder",
                           [os.path.join(ckpt, "Cosmos-1.0-Autoregressive-5B-Video2World", "model.pt")])
            expect(not os.path.exists(os.path.join(out3, "cosmos-model.json")), "manifest written after an error")

        def base_model():
            ref4 = os.path.join(tmp, "ref-4b")
            r = subprocess.run([binary, "init", "--config", PIPELINE.replace("tiny-5b-video2world", "tiny-4b"),
                                "--seed", "1", "--out", ref4], capture_output=True, text=True, env=e.env)
            expect(r.returncode == 0, f"init tiny-4b: {r.stderr}")
            write_ar_checkpoint(os.path.join(ref4, "ar.h5"), os.path.join(ckpt, "tiny-ar-4b", "model.pt"))
            out4 = os.path.join(tmp, "model-4b")
            r = e.convert(ckpt, out4, model="tiny-ar-4b",
                          ar_config=AR_CONFIG.replace("tiny-ar-5b-video2world", "tiny-ar-4b"))
            expect(r.returncode == 0, f"base model: exit {r.returncode}\n{r.stderr}")
            with open(os.path.join(out4, "cosmos-model.json")) as fh:
                m = json.load(fh)
            expect("t5" not in m and sorted(os.listdir(out4)) == ["ar.h5", "cosmos-model.json", "tokenizer.h5"],
                   f"base model: manifest {m}, files {os.listdir(out4)}")
            same_datasets(os.path.join(ref4, "ar.h5"), os.path.join(out4, "ar.h5"))

        check("convert a checkpoints folder, generate from it", convert_and_generate)
        check("base model: no T5", base_model)
        check("--resume keeps finished files, redoes the others", resume)
        check("non-empty DIR refused without --force", refused_not_empty)
        check("missing pieces named with their paths, no manifest", missing_pieces)
        check("unknown model, T5 length mismatch", bad_options)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
