#!/usr/bin/env python3
"""Tests for tools/cosmos_llama_h5.py convert_llama (core/guardrail/llama.h; spec components.md 5.3).

Builds a fake Hugging Face LlamaForCausalLM folder from tests/data/llama-tiny.h5 (model.safetensors
written with numpy in two shards, plus a rotary_emb.inv_freq buffer that must be skipped, and a
config.json), and a fake PEFT LoRA adapter (r 4, alpha 8, q/v/down projections); converts with and
without the adapter and checks every dataset (without: bit-exact; with: bf16 of W + alpha/r B A in
float64, at most a few last-bit differences from the float32 merge), the embedded tokenizer and the
extra attributes; then checks that a missing key, a misshaped key, an unknown key, a bad adapter
key / shape and bias != "none" fail with the key named, leaving no output file. Also the
pytorch_model.bin path.

Plain script: /usr/bin/python3 tests/tools/test_convert_llama.py
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import json
import os
import shutil
import sys
import tempfile

import h5py
import numpy as np
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
import cosmos_h5  # noqa: E402
import cosmos_llama_h5 as llh5  # noqa: E402

TINY = os.path.join(REPO, "tests", "data", "llama-tiny.h5")
CONFIG = os.path.join(REPO, "configs", "models", "llama-tiny.json")
SPM = os.path.join(REPO, "tests", "data", "t5-test-spiece.model")
RESULTS = {"passed": 0, "failed": 0}


def check(cond, what):
    if cond:
        RESULTS["passed"] += 1
    else:
        RESULTS["failed"] += 1
        print(f"FAIL: {what}")


def write_safetensors(path, tensors, dtype="BF16"):
    cosmos_h5.write_safetensors(path, tensors, dtype)


def make_base(folder, sd, fmt="safetensors"):
    os.makedirs(folder, exist_ok=True)
    cfg = llh5.load_config(CONFIG)
    hf = {k: cfg[k] for k in llh5.INT_KEYS + llh5.FLOAT_KEYS}
    hf.update({"model_type": "llama", "hidden_act": "silu", "tie_word_embeddings": False,
               "architectures": ["LlamaForCausalLM"]})
    with open(os.path.join(folder, "config.json"), "w") as fh:
        json.dump(hf, fh)
    keys = list(sd)
    if fmt == "safetensors":
        half = len(keys) // 2
        write_safetensors(os.path.join(folder, "model-00001-of-00002.safetensors"), {k: sd[k] for k in keys[:half]})
        write_safetensors(os.path.join(folder, "model-00002-of-00002.safetensors"), {k: sd[k] for k in keys[half:]})
    else:
        torch.save({k: torch.from_numpy(v).to(torch.bfloat16) for k, v in sd.items()},
                   os.path.join(folder, "pytorch_model.bin"))


def make_adapter(folder, cfg, r=4, alpha=8, targets=("q_proj", "v_proj", "down_proj"), bias="none", tweak=None):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(5)
    ad = {}
    for k, (o, i) in ((k, s) for k, s in llh5.expected_tensors(cfg) if len(s) == 2):
        if k.split(".")[-2] not in targets:
            continue
        mod = k[:-len(".weight")]
        ad[f"base_model.model.{mod}.lora_A.weight"] = rng.standard_normal((r, i)).astype(np.float32) / np.sqrt(i)
        ad[f"base_model.model.{mod}.lora_B.weight"] = 0.05 * rng.standard_normal((o, r)).astype(np.float32)
    if tweak:
        tweak(ad)
    write_safetensors(os.path.join(folder, "adapter_model.safetensors"), ad, dtype="F32")
    with open(os.path.join(folder, "adapter_config.json"), "w") as fh:
        json.dump({"peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": list(targets),
                   "fan_in_fan_out": False, "bias": bias, "lora_dropout": 0.05}, fh)
    return ad


def expect_error(what, needle, fn, out):
    try:
        fn()
        check(False, f"{what}: no error")
    except llh5.FormatError as exc:
        check(needle in str(exc), f"{what}: message {exc!r} lacks {needle!r}")
    check(not os.path.exists(out), f"{what}: output left behind")


def main():
    cfg, W, _ = llh5.read_llama_weights(TINY)
    with tempfile.TemporaryDirectory() as tmp:
        sd = dict(W)
        sd_inv = dict(sd)
        sd_inv["model.layers.0.self_attn.rotary_emb.inv_freq"] = np.ones(8, np.float32)
        base = os.path.join(tmp, "base")
        make_base(base, sd_inv)
        out = os.path.join(tmp, "out.h5")

        # plain conversion: bit-exact, tokenizer and extra attributes embedded
        info = llh5.convert_llama(base, out, CONFIG, spm_path=SPM, extra_attrs={"aegis_prompt": "[INST] {x}"})
        c2, W2, tok = llh5.read_llama_weights(out)
        check(c2 == cfg, "config round trip")
        check(all(np.array_equal(W2[k], W[k]) for k in W), "weights bit-exact without an adapter")
        with open(SPM, "rb") as fh:
            check(tok == fh.read(), "tokenizer bytes")
        with h5py.File(out, "r") as f:
            check(f.attrs["aegis_prompt"] == "[INST] {x}", "extra attribute")
        check(info["skipped"] == ["model.layers.0.self_attn.rotary_emb.inv_freq"], f"skipped {info['skipped']}")

        # with a LoRA adapter: W + (alpha / r) B A, rounded once to bf16
        adir = os.path.join(tmp, "adapter")
        ad = make_adapter(adir, cfg)
        info = llh5.convert_llama(base, out, CONFIG, adapter_dir=adir)
        _, W3, tok3 = llh5.read_llama_weights(out)
        check(tok3 is None, "no tokenizer without spm")
        check(info["lora"]["n_modules"] == 3 * cfg["num_hidden_layers"], f"modules {info['lora']['n_modules']}")
        check(info["lora"]["module_kinds"] == ["down_proj", "q_proj", "v_proj"], str(info["lora"]["module_kinds"]))
        ndiff, nmerged = 0, 0
        for k in W:
            a = f"base_model.model.{k[:-7]}.lora_A.weight"
            if a in ad:
                nmerged += 1
                want = W[k].astype(np.float64) + 2.0 * (ad[a.replace("lora_A", "lora_B")].astype(np.float64)
                                                        @ ad[a].astype(np.float64))
                want = cosmos_h5.round_to_bf16(want.astype(np.float32))
                ndiff += int((want != W3[k]).sum())
                check(not np.array_equal(W3[k], W[k]), f"{k} unchanged by the merge")
            else:
                check(np.array_equal(W3[k], W[k]), f"{k} changed without LoRA")
        check(nmerged == 6 and ndiff <= 5, f"merged {nmerged} tensors, {ndiff} values off the f64 merge")

        # the pytorch_model.bin path
        base_bin = os.path.join(tmp, "base-bin")
        make_base(base_bin, sd, fmt="bin")
        llh5.convert_llama(base_bin, out, CONFIG)
        _, W4, _ = llh5.read_llama_weights(out)
        check(all(np.array_equal(W4[k], W[k]) for k in W), "pytorch_model.bin conversion bit-exact")

        # errors name the key and leave no file
        os.remove(out)
        bad = os.path.join(tmp, "bad")

        def remake(mut):
            shutil.rmtree(bad, ignore_errors=True)
            s = dict(sd)
            mut(s)
            make_base(bad, s)

        remake(lambda s: s.pop("model.layers.1.mlp.up_proj.weight"))
        expect_error("missing key", "model.layers.1.mlp.up_proj.weight is missing",
                     lambda: llh5.convert_llama(bad, out, CONFIG), out)
        remake(lambda s: s.__setitem__("model.layers.0.self_attn.k_proj.weight", np.zeros((33, 64), np.float32)))
        expect_error("misshaped key", "model.layers.0.self_attn.k_proj.weight has shape [33, 64], expected [32, 64]",
                     lambda: llh5.convert_llama(bad, out, CONFIG), out)
        remake(lambda s: s.__setitem__("model.layers.2.input_layernorm.weight", np.ones(64, np.float32)))
        expect_error("unknown key", "unexpected checkpoint tensor model.layers.2.input_layernorm.weight",
                     lambda: llh5.convert_llama(bad, out, CONFIG), out)
        bad_ad = os.path.join(tmp, "bad-adapter")
        make_adapter(bad_ad, cfg, tweak=lambda a: a.__setitem__(
            "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", np.zeros((64, 5), np.float32)))
        expect_error("adapter shape", "lora_B.weight has shape [64, 5], expected [64, 4]",
                     lambda: llh5.convert_llama(base, out, CONFIG, adapter_dir=bad_ad), out)
        make_adapter(bad_ad, cfg, tweak=lambda a: a.pop("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"))
        expect_error("adapter missing A", "model.layers.1.mlp.down_proj has lora_B but no lora_A",
                     lambda: llh5.convert_llama(base, out, CONFIG, adapter_dir=bad_ad), out)
        make_adapter(bad_ad, cfg, tweak=lambda a: a.__setitem__("base_model.model.model.layers.0.mlp.gate_proj."
                                                                "lora_magnitude_vector", np.zeros(160, np.float32)))
        expect_error("adapter unknown key", "unexpected adapter tensor",
                     lambda: llh5.convert_llama(base, out, CONFIG, adapter_dir=bad_ad), out)
        make_adapter(bad_ad, cfg, bias="lora_only")
        expect_error("adapter bias", "bias 'lora_only' is not supported",
                     lambda: llh5.convert_llama(base, out, CONFIG, adapter_dir=bad_ad), out)
        make_adapter(bad_ad, cfg, targets=("q_proj", "v_proj"),
                     tweak=lambda a: [a.pop(f"base_model.model.model.layers.1.self_attn.v_proj.lora_{x}.weight")
                                      for x in "AB"])
        expect_error("adapter target without weights", "target module model.layers.1.self_attn.v_proj has no LoRA",
                     lambda: llh5.convert_llama(base, out, CONFIG, adapter_dir=bad_ad), out)
        with open(os.path.join(base, "config.json")) as fh:
            hf = json.load(fh)
        hf["rope_scaling"] = {"type": "linear", "factor": 2.0}
        with open(os.path.join(base, "config.json"), "w") as fh:
            json.dump(hf, fh)
        expect_error("rope_scaling", "rope_scaling", lambda: llh5.convert_llama(base, out, CONFIG), out)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
