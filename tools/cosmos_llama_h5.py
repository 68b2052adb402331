"""The cosmos-ar Llama weight file (core/guardrail/llama.h; spec components.md 5.3: LlamaGuard-7b with
the Aegis LoRA merged in), shared by the converter, the fixture generator
(tools/reference/make_llama_fixtures.py) and the reference (tools/reference/llama_ref.py).

Layout: root attributes as every cosmos-ar weight file (cosmos_format, format_version, model_type
"llama", config = our JSON config with Hugging Face LlamaConfig key names, and the int attributes
INT_ATTRS), one bf16 dataset (uint16 + attribute dtype="bfloat16") per HF LlamaForCausalLM key in
expected_tensors() order, optionally the SentencePiece model as the uint8 dataset "tokenizer_model",
and any extra string attributes the caller adds (the Aegis prompt template).

convert_llama() reads a Hugging Face checkpoint folder (model*.safetensors, read with numpy, or
pytorch_model*.bin) and, optionally, a PEFT LoRA adapter, which it merges in float32:
W' = bf16(W + (lora_alpha / r) * B @ A) (alpha / sqrt(r) with use_rslora), PEFT's merge formula.
"""

import glob
import os
import re
import sys

import numpy as np

import cosmos_h5

MODEL_TYPE = "llama"
TOKENIZER_DATASET = "tokenizer_model"
INT_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "vocab_size", "max_position_embeddings", "bos_token_id", "eos_token_id")
FLOAT_KEYS = ("rms_norm_eps", "rope_theta")
INT_ATTRS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
             "num_key_value_heads", "vocab_size")
RESERVED_ATTRS = ("cosmos_format", "format_version", "model_type", "config") + INT_ATTRS
LINEAR_MODULES = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                  "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
FormatError = cosmos_h5.FormatError


# ----------------------------------------------------------------------------------------------
# config


def validate_config(cfg, src="config"):
    """Check a config dict as core/guardrail/llama.c does (unknown / missing keys, ranges); returns it."""
    if not isinstance(cfg, dict):
        raise FormatError(f"{src}: a Llama config must be a JSON object")
    known = set(INT_KEYS) | set(FLOAT_KEYS) | {"model_type", "name"}
    for k in cfg:
        if k not in known:
            raise FormatError(f"{src}: unknown key '{k}' in a Llama config")
    if cfg.get("model_type") != MODEL_TYPE:
        raise FormatError(f"{src}: model_type must be \"llama\"")
    for k in INT_KEYS + FLOAT_KEYS:
        if k not in cfg:
            raise FormatError(f"{src}: required key '{k}' is missing from the Llama config")
    for k in INT_KEYS:
        if not isinstance(cfg[k], int) or isinstance(cfg[k], bool) or cfg[k] < 0:
            raise FormatError(f"{src}: '{k}' must be a non-negative integer")
    d, h, kv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    if h <= 0 or kv <= 0 or d % h or (d // h) % 2 or h % kv:
        raise FormatError(f"{src}: hidden_size {d} / num_attention_heads {h} / num_key_value_heads {kv} "
                          "do not give an even head_dim with whole query groups")
    for k in ("bos_token_id", "eos_token_id"):
        if cfg[k] >= cfg["vocab_size"]:
            raise FormatError(f"{src}: '{k}' {cfg[k]} is outside the vocabulary [0, {cfg['vocab_size']})")
    if not 0 < float(cfg["rms_norm_eps"]) < 1 or not float(cfg["rope_theta"]) > 1:
        raise FormatError(f"{src}: rms_norm_eps must be in (0, 1) and rope_theta > 1")
    return cfg


def load_config(path):
    return validate_config(cosmos_h5.read_json(path), path)


def head_dim(cfg):
    return cfg["hidden_size"] // cfg["num_attention_heads"]


def check_hf_config(hf, cfg, src):
    """A Hugging Face config.json dict against our config: same numbers, no unsupported feature."""
    if hf.get("model_type", "llama") != "llama":
        raise FormatError(f"{src}: model_type {hf.get('model_type')!r} is not llama")
    unsupported = {"hidden_act": "silu", "rope_scaling": None, "attention_bias": False, "mlp_bias": False,
                   "tie_word_embeddings": False}
    for k, want in unsupported.items():
        if k in hf and hf[k] != want:
            raise FormatError(f"{src}: {k}={hf[k]!r} is not supported (only {want!r})")
    if hf.get("head_dim") not in (None, head_dim(cfg)):
        raise FormatError(f"{src}: head_dim {hf['head_dim']} != hidden_size / num_attention_heads")
    defaults = {"num_key_value_heads": hf.get("num_attention_heads"), "rope_theta": 10000.0}
    for k in INT_KEYS + FLOAT_KEYS:
        v = hf.get(k, defaults.get(k))
        if v is None:
            continue
        if (float(v) != float(cfg[k])) if k in FLOAT_KEYS else (int(v) != int(cfg[k])):
            raise FormatError(f"{src}: {k} is {v}, the cosmos-ar config says {cfg[k]}")


def expected_tensors(cfg):
    """[(key, shape)] in file order, as core/guardrail/llama.c cosmos_llama_weight_specs."""
    D, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    Dh = head_dim(cfg)
    Q, KV = cfg["num_attention_heads"] * Dh, cfg["num_key_value_heads"] * Dh
    out = [("model.embed_tokens.weight", (V, D))]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", (D,)),
                (p + "self_attn.q_proj.weight", (Q, D)),
                (p + "self_attn.k_proj.weight", (KV, D)),
                (p + "self_attn.v_proj.weight", (KV, D)),
                (p + "self_attn.o_proj.weight", (D, Q)),
                (p + "post_attention_layernorm.weight", (D,)),
                (p + "mlp.gate_proj.weight", (F, D)),
                (p + "mlp.up_proj.weight", (F, D)),
                (p + "mlp.down_proj.weight", (D, F))]
    out += [("model.norm.weight", (D,)), ("lm_head.weight", (V, D))]
    return out


# ----------------------------------------------------------------------------------------------
# writer / reader


class LlamaWeightsWriter(cosmos_h5.WeightsWriter):
    """One Llama file: root attributes (plus extra_attrs: {name: str}), then add(key, bf16 bits) or
    add_f32(key, float array, rounded to bf16), then optionally add_tokenizer(bytes)."""

    what = "Llama model"

    def __init__(self, path, cfg, extra_attrs=None):
        validate_config(cfg)
        attrs = cosmos_h5.model_attributes(MODEL_TYPE, cfg, INT_ATTRS)
        for name, value in (extra_attrs or {}).items():
            if name in RESERVED_ATTRS:
                raise FormatError(f"extra attribute {name!r} would overwrite a format attribute")
            if not isinstance(value, str):
                raise FormatError(f"extra attribute {name!r} must be a string")
            attrs.append((name, value))
        super().__init__(path, expected_tensors(cfg), attrs)

    def add_f32(self, key, arr):
        arr = np.asarray(arr, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise FormatError(f"{key}: non-finite values")
        self.add(key, cosmos_h5.f32_to_bf16_bits(arr))

    def add_tokenizer(self, model_bytes):
        if not model_bytes:
            raise FormatError("the SentencePiece model is empty")
        self.f.create_dataset(TOKENIZER_DATASET, data=np.frombuffer(model_bytes, dtype=np.uint8), dtype="u1",
                              track_times=False)


def read_llama_weights(path):
    """Strict reader: (cfg, {key: float32 array}, tokenizer bytes or None)."""
    import h5py

    cfg, out = cosmos_h5.read_f32_weights(path, MODEL_TYPE, validate_config, expected_tensors,
                                          extra=(TOKENIZER_DATASET, "aegis_prompt"))
    with h5py.File(path, "r") as f:
        tok = bytes(f[TOKENIZER_DATASET][()]) if TOKENIZER_DATASET in f else None
    return cfg, out, tok


# ----------------------------------------------------------------------------------------------
# checkpoint readers

class TorchFile:
    """pytorch_model*.bin through cosmos_h5.torch_load: get(key) -> float32 array."""

    def __init__(self, path):
        self.path = path
        self.sd = cosmos_h5.torch_load(path)
        if not isinstance(self.sd, dict):
            raise FormatError(f"{path}: not a state dict")

    def keys(self):
        return list(self.sd)

    def shape(self, key):
        return tuple(self.sd[key].shape)

    def get(self, key):
        import torch

        return self.sd[key].detach().to(torch.float32).numpy()


def open_checkpoint(folder, stem):
    """{key: reader} over the shards `stem`*.safetensors (preferred) or the .bin variant in folder."""
    if stem == "model":
        st_files = sorted(glob.glob(os.path.join(folder, "model*.safetensors")))
        bin_files = sorted(glob.glob(os.path.join(folder, "pytorch_model*.bin")))
    else:
        st_files = sorted(glob.glob(os.path.join(folder, stem + ".safetensors")))
        bin_files = sorted(glob.glob(os.path.join(folder, stem + ".bin")))
    readers = [cosmos_h5.SafetensorsFile(p) for p in st_files] or [TorchFile(p) for p in bin_files]
    if not readers:
        what = "model*.safetensors or pytorch_model*.bin" if stem == "model" else f"{stem}.safetensors/.bin"
        raise FormatError(f"{folder}: no {what} found")
    index = {}
    for r in readers:
        for k in r.keys():
            if k in index:
                raise FormatError(f"{folder}: tensor {k} appears in two shards ({index[k].path}, {r.path})")
            index[k] = r
    return index


# ----------------------------------------------------------------------------------------------
# LoRA


def _matches_target(module, targets):
    """PEFT's rule: a regex string must fullmatch the module name; a list entry must equal it or be
    its last dotted part(s)."""
    if isinstance(targets, str):
        return re.fullmatch(targets, module) is not None
    return any(module == t or module.endswith("." + t) for t in targets)


def lora_delta(entry, scaling):
    """float32 (scaling * B @ A) of one load_lora entry, computed when needed (a 7B model's deltas
    together would take tens of GB)."""
    ra, ka, rb, kb = entry
    A = ra.get(ka).astype(np.float32)
    B = rb.get(kb).astype(np.float32)
    return (B @ A) * np.float32(scaling)


def load_lora(adapter_dir, cfg, base_shapes):
    """Checked PEFT LoRA adapter: ({base weight key: entry for lora_delta}, summary dict)."""
    cpath = os.path.join(adapter_dir, "adapter_config.json")
    if not os.path.exists(cpath):
        raise FormatError(f"{adapter_dir}: no adapter_config.json")
    ac = cosmos_h5.read_json(cpath)
    if ac.get("peft_type", "LORA") != "LORA":
        raise FormatError(f"{cpath}: peft_type {ac.get('peft_type')!r} is not LORA")
    for k in ("r", "lora_alpha", "target_modules"):
        if k not in ac:
            raise FormatError(f"{cpath}: '{k}' is missing")
    r, alpha, targets = ac["r"], ac["lora_alpha"], ac["target_modules"]
    if not isinstance(r, int) or r <= 0 or not isinstance(alpha, (int, float)):
        raise FormatError(f"{cpath}: r must be a positive integer and lora_alpha a number")
    if not isinstance(targets, (str, list)) or not targets:
        raise FormatError(f"{cpath}: target_modules must be a module-name list or a regex string")
    if ac.get("bias", "none") != "none":
        raise FormatError(f"{cpath}: bias {ac['bias']!r} is not supported (only \"none\")")
    if ac.get("use_dora"):
        raise FormatError(f"{cpath}: use_dora is not supported")
    for k in ("rank_pattern", "alpha_pattern"):
        if ac.get(k):
            raise FormatError(f"{cpath}: per-module {k} is not supported")
    for k in ("layers_to_transform", "modules_to_save"):
        if ac.get(k):
            raise FormatError(f"{cpath}: {k} is not supported")
    if ac.get("fan_in_fan_out"):
        # PEFT resets it for torch.nn.Linear targets (every Llama projection) and warns; so do we
        print(f"note: {cpath}: fan_in_fan_out is true, but the targets are nn.Linear: treated as false "
              "(as PEFT does)", file=sys.stderr)
    scaling = alpha / (r ** 0.5 if ac.get("use_rslora") else r)

    index = open_checkpoint(adapter_dir, "adapter_model")
    pat = re.compile(r"^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$")
    pairs = {}
    for key in index:
        m = pat.match(key)
        if not m:
            raise FormatError(f"{adapter_dir}: unexpected adapter tensor {key} (only LoRA "
                              "base_model.model.<module>.lora_A/lora_B.weight are supported)")
        module, ab = m.group(1), m.group(2)
        if module + ".weight" not in base_shapes or len(base_shapes[module + ".weight"]) != 2 \
                or module in ("model.embed_tokens",):
            raise FormatError(f"{adapter_dir}: adapter tensor {key}: {module} is not a linear layer of the model")
        if not _matches_target(module, targets):
            raise FormatError(f"{adapter_dir}: adapter tensor {key}: {module} is not in target_modules {targets}")
        pairs.setdefault(module, {})[ab] = key
    # every linear module the targets select must be adapted (PEFT would have saved it)
    for wkey, shape in base_shapes.items():
        module = wkey[:-len(".weight")]
        if len(shape) == 2 and module != "model.embed_tokens" and _matches_target(module, targets) \
                and module not in pairs:
            raise FormatError(f"{adapter_dir}: target module {module} has no LoRA weights in the adapter")
    deltas = {}
    for module, ab in sorted(pairs.items()):
        for x in "AB":
            if x not in ab:
                raise FormatError(f"{adapter_dir}: {module} has lora_{'B' if x == 'A' else 'A'} but no lora_{x}")
        out_f, in_f = base_shapes[module + ".weight"]
        a_shape, b_shape = index[ab["A"]].shape(ab["A"]), index[ab["B"]].shape(ab["B"])
        if a_shape != (r, in_f):
            raise FormatError(f"{adapter_dir}: {ab['A']} has shape {list(a_shape)}, expected {[r, in_f]}")
        if b_shape != (out_f, r):
            raise FormatError(f"{adapter_dir}: {ab['B']} has shape {list(b_shape)}, expected {[out_f, r]}")
        deltas[module + ".weight"] = (index[ab["A"]], ab["A"], index[ab["B"]], ab["B"])
    kinds = sorted({m.rsplit(".", 1)[-1] for m in pairs})
    summary = {"r": r, "lora_alpha": alpha, "scaling": scaling, "use_rslora": bool(ac.get("use_rslora")),
               "n_modules": len(pairs), "module_kinds": kinds, "modules": sorted(pairs)}
    return deltas, summary


# ----------------------------------------------------------------------------------------------
# converter


def convert_llama(base_dir, out_path, config_path, adapter_dir=None, spm_path=None, extra_attrs=None):
    """Convert a HF LlamaForCausalLM folder (+ optional PEFT LoRA adapter, merged) to our HDF5 file at
    out_path (temp name + rename). Checks: the config (ours, and the folder's config.json against
    it), every checkpoint key present with its shape and no unknown key (rotary_emb.inv_freq buffers
    are skipped), every adapter key and shape. Returns a summary dict (LoRA modules merged)."""
    cfg = load_config(config_path)
    hf_cfg = os.path.join(base_dir, "config.json")
    if os.path.exists(hf_cfg):
        check_hf_config(cosmos_h5.read_json(hf_cfg), cfg, hf_cfg)
    expected = dict(expected_tensors(cfg))
    index = open_checkpoint(base_dir, "model")
    skipped = []
    for key in index:
        if key.endswith("rotary_emb.inv_freq"):
            skipped.append(key)
        elif key not in expected:
            raise FormatError(f"{base_dir}: unexpected checkpoint tensor {key} (hint: not a LlamaForCausalLM "
                              f"checkpoint, or num_hidden_layers differs from {config_path})")
    for key, shape in expected.items():
        if key not in index:
            raise FormatError(f"{base_dir}: checkpoint tensor {key} is missing (expected shape {list(shape)})")
        got = index[key].shape(key)
        if got != tuple(shape):
            raise FormatError(f"{base_dir}: checkpoint tensor {key} has shape {list(got)}, expected {list(shape)}")
    deltas, lora = ({}, None)
    if adapter_dir:
        deltas, lora = load_lora(adapter_dir, cfg, expected)
    tok = None
    if spm_path:
        with open(spm_path, "rb") as fh:
            tok = fh.read()
    with cosmos_h5.atomic_output(out_path) as tmp:
        with LlamaWeightsWriter(tmp, cfg, extra_attrs) as wr:
            for key in expected:
                w = index[key].get(key).astype(np.float32)
                if key in deltas:
                    w = w + lora_delta(deltas[key], lora["scaling"])
                wr.add_f32(key, w)
            if tok is not None:
                wr.add_tokenizer(tok)
    if lora:
        print(f"merged LoRA (r={lora['r']}, lora_alpha={lora['lora_alpha']}, scaling {lora['scaling']:g}) into "
              f"{lora['n_modules']} modules: {', '.join(lora['module_kinds'])}", file=sys.stderr)
    return {"config": cfg["name"] if "name" in cfg else "llama", "skipped": skipped, "lora": lora,
            "tokenizer_bytes": len(tok) if tok else 0}


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="HF Llama checkpoint (+ PEFT LoRA) -> cosmos-ar HDF5")
    ap.add_argument("--base", required=True, help="HF LlamaForCausalLM folder")
    ap.add_argument("--config", required=True, help="configs/models/<llama>.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--adapter", help="PEFT LoRA adapter folder (merged)")
    ap.add_argument("--spm", help="SentencePiece tokenizer.model to embed")
    args = ap.parse_args(argv)
    try:
        info = convert_llama(args.base, args.out, args.config, args.adapter, args.spm)
    except (FormatError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({info})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
