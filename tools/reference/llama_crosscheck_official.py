#!/usr/bin/env python3
"""Developer cross-check (not run by the tests) of tools/reference/llama_ref.py and of the LoRA merge
in tools/cosmos_llama_h5.py against the official implementations (spec components.md 5.3):

1. Hugging Face transformers LlamaForCausalLM (float32, eager attention) with random weights for a tiny
   GQA config and a mid-size config (hidden 512, 8 layers, 8 heads, MHA, vocab 4000): the weights
   are rounded to bf16, written to our format through a fake HF folder (model.safetensors written
   with numpy) and convert_llama(), read back by llama_ref. Compared: teacher-forced logits
   (llama_ref with float32 RoPE tables, as HF in float32; and with the bf16 tables of the C engine,
   to size that difference) and greedy continuations (HF generate, do_sample=False).
2. LoRA: a fake PEFT adapter (r 4, alpha 8, every projection) merged by convert_llama() against
   (a) PEFT's merge_and_unload() when peft imports, else (b) a hand-built unmerged forward
   base(x) + B(A(x)) * alpha / r, applied by wrapping the HF model's Linear modules.

Needs transformers (and optionally peft) in a throw-away venv:
    /usr/bin/python3 -m venv --system-site-packages /tmp/llvenv
    /tmp/llvenv/bin/pip install transformers==4.48.0 peft
    /tmp/llvenv/bin/python tools/reference/llama_crosscheck_official.py
"""

import json
import os
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import cosmos_h5  # noqa: E402
import cosmos_llama_h5 as llh5  # noqa: E402
import llama_ref as ref  # noqa: E402

TINY = {"model_type": "llama", "name": "xcheck-tiny", "hidden_size": 64, "intermediate_size": 160,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 320,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "bos_token_id": 0,
        "eos_token_id": 1}
MID = dict(TINY, name="xcheck-mid", hidden_size=512, intermediate_size=1376, num_hidden_layers=8,
           num_attention_heads=8, num_key_value_heads=8, vocab_size=4000, max_position_embeddings=1024)


def write_safetensors(path, tensors):
    """float32 tensors (cosmos_h5.write_safetensors)."""
    cosmos_h5.write_safetensors(path, tensors, "F32")


def random_state(cfg, seed):
    """The fixture generator's random weights (bf16-valued float32)."""
    from make_llama_fixtures import random_weights

    bits = random_weights(cfg, np.random.default_rng(seed))
    return {k: cosmos_h5.bf16_bits_to_f32(v).reshape(v.shape) for k, v in bits.items()}


def hf_config(cfg):
    from transformers import LlamaConfig

    keys = llh5.INT_KEYS + llh5.FLOAT_KEYS
    return LlamaConfig(**{k: cfg[k] for k in keys}, hidden_act="silu", tie_word_embeddings=False,
                       attention_bias=False, mlp_bias=False, torch_dtype="float32")


def hf_model(cfg, sd):
    from transformers import LlamaForCausalLM

    hc = hf_config(cfg)
    hc._attn_implementation = "eager"
    m = LlamaForCausalLM(hc).float().eval()
    missing, unexpected = m.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
    missing = [k for k in missing if not k.endswith("rotary_emb.inv_freq")]
    assert not missing and not unexpected, (missing, unexpected)
    return m


def write_base_folder(folder, cfg, sd):
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, "model.safetensors"), sd)
    hf_config(cfg).to_json_file(os.path.join(folder, "config.json"))


def check_model(cfg, tmp, seed, T, max_new):
    sd = random_state(cfg, seed)
    base = os.path.join(tmp, cfg["name"] + "-hf")
    write_base_folder(base, cfg, sd)
    cpath = os.path.join(tmp, cfg["name"] + ".json")
    with open(cpath, "w") as fh:
        json.dump(cfg, fh)
    out = os.path.join(tmp, cfg["name"] + ".h5")
    llh5.convert_llama(base, out, cpath)
    rcfg, W = ref.load(out)
    for k, v in sd.items():  # the converter is lossless on bf16 values
        assert np.array_equal(W[k].numpy(), v), k
    m = hf_model(cfg, sd)
    rng = np.random.default_rng(seed + 1)
    ids = [int(t) for t in rng.integers(2, cfg["vocab_size"], T)]
    with torch.no_grad():
        hf = m(torch.tensor([ids])).logits[0].float()
    ours32 = ref.forward(rcfg, W, ids, bf16_tables=False)
    ours16 = ref.forward(rcfg, W, ids, bf16_tables=True)
    d32 = (ours32 - hf).abs().max().item()
    d16 = (ours16 - hf).abs().max().item()
    scale = hf.abs().max().item()
    prompt = ids[:12]
    with torch.no_grad():
        g = m.generate(torch.tensor([prompt]), max_new_tokens=max_new, do_sample=False, num_beams=1,
                       eos_token_id=cfg["eos_token_id"], pad_token_id=cfg["eos_token_id"])[0, len(prompt):].tolist()
    if g and g[-1] == cfg["eos_token_id"]:
        g = g[:-1]
    ours_g = ref.greedy(rcfg, W, prompt, max_new, bf16_tables=False)
    print(f"{cfg['name']}: T={T} max|logit|={scale:.3g}  max|ref(f32 tables) - HF| = {d32:.3g}  "
          f"max|ref(bf16 tables) - HF| = {d16:.3g}  greedy {len(g)} tokens equal: {g == ours_g}")
    return d32 < 1e-4 * max(1.0, scale) and g == ours_g, sd, base, cpath


def check_lora(cfg, sd, base, cpath, tmp):
    r, alpha = 4, 8
    rng = np.random.default_rng(99)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    adapter = {}
    shapes = dict(llh5.expected_tensors(cfg))
    for k, (o, i) in ((k, s) for k, s in shapes.items() if len(s) == 2 and k.split(".")[-2] in targets):
        mod = k[:-len(".weight")]
        adapter[f"base_model.model.{mod}.lora_A.weight"] = (rng.standard_normal((r, i)) / np.sqrt(i)).astype(np.float32)
        adapter[f"base_model.model.{mod}.lora_B.weight"] = (0.05 * rng.standard_normal((o, r))).astype(np.float32)
    adir = os.path.join(tmp, "adapter")
    os.makedirs(adir, exist_ok=True)
    write_safetensors(os.path.join(adir, "adapter_model.safetensors"), adapter)
    acfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "lora_dropout": 0.0,
            "target_modules": targets, "fan_in_fan_out": False, "bias": "none", "base_model_name_or_path": base,
            "inference_mode": True}
    with open(os.path.join(adir, "adapter_config.json"), "w") as fh:
        json.dump(acfg, fh)
    out = os.path.join(tmp, "merged.h5")
    info = llh5.convert_llama(base, out, cpath, adapter_dir=adir)
    rcfg, W = ref.load(out)
    ids = [int(t) for t in rng.integers(2, cfg["vocab_size"], 32)]
    ours = ref.forward(rcfg, W, ids, bf16_tables=False)
    try:
        from peft import PeftModel

        m = hf_model(cfg, sd)
        pm = PeftModel.from_pretrained(m, adir).eval()
        with torch.no_grad():
            unmerged = pm(torch.tensor([ids])).logits[0].float()
        merged_model = pm.merge_and_unload()
        msd = merged_model.state_dict()
        wdiff = max((torch.from_numpy(cosmos_h5.round_to_bf16(msd[k].numpy())) - W[k]).abs().max().item()
                    for k in shapes)
        wdiff_ulp = sum(int((torch.from_numpy(cosmos_h5.round_to_bf16(msd[k].numpy())) != W[k]).sum()) for k in shapes)
        with torch.no_grad():
            merged = merged_model(torch.tensor([ids])).logits[0].float()
        what = "PEFT"
        print(f"LoRA vs PEFT: bf16(merge_and_unload weights) vs ours: max|dW| = {wdiff:.3g} "
              f"({wdiff_ulp} values differ)")
        print(f"LoRA vs PEFT: max|ours(merged, bf16) - PEFT merged f32| = {(ours - merged).abs().max().item():.3g}; "
              f"max|ours - PEFT unmerged f32| = {(ours - unmerged).abs().max().item():.3g}  "
              f"(max|logit| {unmerged.abs().max().item():.3g})")
        ok = (ours - unmerged).abs().max().item() < 0.05 * max(1.0, unmerged.abs().max().item())
    except ImportError as exc:
        what = f"hand-built PEFT-style forward (peft unavailable: {exc})"
        m = hf_model(cfg, sd)
        scaling = alpha / r
        for name, mod in m.named_modules():
            if isinstance(mod, torch.nn.Linear) and name.split(".")[-1] in targets:
                A = torch.from_numpy(adapter[f"base_model.model.{name}.lora_A.weight"])
                B = torch.from_numpy(adapter[f"base_model.model.{name}.lora_B.weight"])
                mod.forward = (lambda mod, A, B: lambda x: torch.nn.functional.linear(x, mod.weight)
                               + (x @ A.T @ B.T) * scaling)(mod, A, B)
        with torch.no_grad():
            unmerged = m(torch.tensor([ids])).logits[0].float()
        print(f"LoRA vs {what}: max|ours(merged, bf16) - unmerged f32| = {(ours - unmerged).abs().max().item():.3g} "
              f"(max|logit| {unmerged.abs().max().item():.3g})")
        ok = (ours - unmerged).abs().max().item() < 0.05 * max(1.0, unmerged.abs().max().item())
    # the merge with the bf16 rounding removed: exact in f32 up to summation order
    exact = {k: v + (np.asarray(adapter[f"base_model.model.{k[:-7]}.lora_B.weight"])
                     @ np.asarray(adapter[f"base_model.model.{k[:-7]}.lora_A.weight"])) * (alpha / r)
             if f"base_model.model.{k[:-7]}.lora_A.weight" in adapter else v for k, v in sd.items()}
    mism = sum(int((cosmos_h5.round_to_bf16(exact[k].astype(np.float32)) != W[k].numpy()).sum()) for k in shapes)
    print(f"LoRA: merged {info['lora']['n_modules']} modules ({', '.join(info['lora']['module_kinds'])}); "
          f"bf16(W + alpha/r B A) recomputed in numpy differs from the file in {mism} values")
    return ok


def main():
    try:
        import transformers
    except ImportError as exc:
        print(f"needs transformers: {exc}")
        return 77
    torch.manual_seed(0)
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        r1, sd, base, cpath = check_model(TINY, tmp, 1, 40, 20)
        r2, _, _, _ = check_model(MID, tmp, 2, 128, 16)
        ok = r1 and r2 and check_lora(TINY, sd, base, cpath, tmp)
    print("cross-check", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
