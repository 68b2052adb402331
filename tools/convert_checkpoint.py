#!/usr/bin/env python3
"""Convert official Cosmos checkpoints into the cosmos-ar HDF5 formats.

Subcommands (more, e.g. `tokenizer`, can be added as further subparsers):

  ar   convert_checkpoint.py ar --config CONFIG.json --checkpoint model.pt --out AR.h5
       Official Cosmos-1.0 AR `model.pt` (spec ar-model.md section 8: a torch-pickled flat state
       dict of bf16 tensors, keys prefixed "model.", possibly inside an outer {"model": ...} dict,
       possibly with TransformerEngine "*_extra_state" entries, which are ignored) -> the HDF5
       weight format of docs/weights.md, written by tools/cosmos_h5.py (shared with the fixture
       generator).

  t5   convert_checkpoint.py t5 --checkpoint T5_DIR --spiece spiece.model --out T5.h5 [--dtype f32|bf16]
       Hugging Face google-t5/t5-11b (config.json + model.safetensors / pytorch_model*.bin shards,
       full T5ForConditionalGeneration or encoder-only; decoder and lm_head keys are skipped) +
       its spiece.model -> the T5 encoder file of docs/t5.md (tools/cosmos_t5_h5.py), the tokenizer
       embedded. Default f32 (what the official pipeline computes with); bf16 halves the file.

The expected key set and shapes come from the config (docs/weights.md "Expected keys"). Every
missing, unexpected or misshaped key is reported (key, expected shape, found shape, hint) and the
tool exits with status 2 without leaving an output file. The output is written to OUT.tmp-<pid>
and renamed over OUT only when complete; the temporary file is deleted on any failure.

Tensors are streamed one at a time (loaded with mmap=True where the torch version supports it),
converted to bf16 bit patterns (bf16 input is copied bit-exactly; fp32/fp16/fp64 input is rounded
to nearest even) and written, so no full copy of the model is ever built.
"""

import argparse
import inspect
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cosmos_h5  # noqa: E402

EXIT_BAD_INPUT = 2
EXTRA_STATE = "_extra_state"  # the official loader skips keys containing it
PREFIX = "model."


class ConversionError(Exception):
    """Bad input (config, checkpoint contents): reported to the user, exit status 2."""


def torch_load(path):
    """torch.load(path, map_location="cpu", mmap=True, weights_only=True) where supported."""
    import torch

    params = inspect.signature(torch.load).parameters
    kwargs = {"map_location": "cpu"}
    if "weights_only" in params:
        kwargs["weights_only"] = True
    if "mmap" in params:
        try:
            return torch.load(path, mmap=True, **kwargs)
        except RuntimeError as exc:  # e.g. a legacy (non-zip) file cannot be memory-mapped
            print(f"note: mmap load failed ({exc}); loading into memory", file=sys.stderr)
    return torch.load(path, **kwargs)


def normalize_state_dict(obj):
    """Unwrap {"model": sd}, strip the "model." prefix, drop "*_extra_state" keys.

    Entries are moved (popped) out of the loaded dict so that the returned dict holds the only
    reference to each tensor and a written tensor can be freed.
    """
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise ConversionError(f"checkpoint is a {type(obj).__name__}, expected a state dict")
    out, origin = {}, {}
    for key in list(obj.keys()):
        value = obj.pop(key)
        if not isinstance(key, str):
            raise ConversionError(f"checkpoint has a non-string key {key!r}")
        if EXTRA_STATE in key:
            continue
        name = key[len(PREFIX):] if key.startswith(PREFIX) else key
        if name in out:
            raise ConversionError(f"key {name} appears twice (as {origin[name]!r} and {key!r})")
        out[name], origin[name] = value, key
    return out


HINTS = {
    "missing": "hint (missing): the checkpoint is truncated, or the config is not this model's: "
               "cross_attention keys exist only with insert_cross_attn, q_norm/k_norm only with "
               "use_qk_normalization",
    "shape": "hint (shape): wrong config for this checkpoint? e.g. 4B vs 12B dims (dim, head_dim, "
             "ffn_hidden_size), or training_type: text_to_video models have an input embedding of "
             "roundup(vocab_size + 1, pad_to_multiple_of) rows",
    "unexpected": "hint (unexpected): the config may be for a different model, e.g. a base config "
                  "for a Video2World checkpoint (which has cross_attention keys)",
    "dtype": "hint (dtype): weights must be floating point (bfloat16 in official checkpoints)",
}
MAX_LISTED = 40


def check_keys(state, expected):
    """All mismatches between the state dict and the expected (key, shape) list.

    Returns a list of (kind, message) with kind in HINTS.
    """
    import torch

    errors = []
    exp = dict(expected)
    for key, shape in expected:
        if key not in state:
            errors.append(("missing", f"missing key {key}: expected shape {list(shape)}, "
                                      f"found nothing"))
            continue
        value = state[key]
        if not isinstance(value, torch.Tensor):
            errors.append(("dtype", f"key {key}: expected a tensor of shape {list(shape)}, "
                                    f"found a {type(value).__name__}"))
        elif tuple(value.shape) != tuple(shape):
            errors.append(("shape", f"wrong shape for key {key}: expected {list(shape)}, "
                                    f"found {list(value.shape)}"))
        elif value.dtype not in (torch.bfloat16, torch.float32, torch.float16, torch.float64):
            errors.append(("dtype", f"key {key}: unsupported dtype {value.dtype}"))
    for key in state:
        if key not in exp:
            value = state[key]
            found = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            errors.append(("unexpected", f"unexpected key {key}: expected nothing, found {found}"))
    return errors


def format_errors(errors, ckpt, cfg_path):
    lines = [msg for _, msg in errors[:MAX_LISTED]]
    if len(errors) > MAX_LISTED:
        lines.append(f"... and {len(errors) - MAX_LISTED} more")
    kinds = []
    for kind, _ in errors:
        if kind not in kinds:
            kinds.append(kind)
    lines += [HINTS[k] for k in kinds]
    return (f"checkpoint {ckpt} does not match config {cfg_path} ({len(errors)} problem(s)):\n  "
            + "\n  ".join(lines))


def tensor_to_bf16_bits(t):
    """A CPU tensor -> uint16 numpy array of bf16 bit patterns (exact for bf16 input)."""
    import torch

    if t.dtype != torch.bfloat16:
        t = t.to(torch.bfloat16)  # round to nearest even
    return t.contiguous().view(torch.int16).numpy().view(np.uint16)


def convert_ar(args):
    try:
        cfg = cosmos_h5.load_config(args.config)
    except (OSError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"config {args.config}: {exc}") from exc
    expected = cosmos_h5.expected_tensors(cfg)
    if not os.path.isfile(args.checkpoint):
        raise ConversionError(f"checkpoint {args.checkpoint} not found")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise ConversionError(f"output folder {out_dir} does not exist")

    try:
        obj = torch_load(args.checkpoint)
    except Exception as exc:  # unpickling errors of all kinds: report, exit 2
        raise ConversionError(f"cannot load checkpoint {args.checkpoint}: {exc}") from exc
    state = normalize_state_dict(obj)
    del obj
    errors = check_keys(state, expected)
    if errors:
        raise ConversionError(format_errors(errors, args.checkpoint, args.config))
    converted = sorted({str(state[k].dtype) for k, _ in expected} - {"torch.bfloat16"})
    if converted:
        print(f"note: rounding {', '.join(converted)} tensors to bfloat16", file=sys.stderr)

    with cosmos_h5.atomic_output(args.out) as tmp:
        with cosmos_h5.ArWeightsWriter(tmp, cfg) as writer:
            for key, _ in expected:
                writer.add(key, tensor_to_bf16_bits(state[key]))
                state[key] = None  # let a non-mmap tensor be freed once written
    print(f"wrote {args.out}: {len(expected)} tensors")
    return 0


def load_hf_shards(ckpt_dir):
    """Iterator of (key, tensor) over every safetensors / pytorch_model*.bin shard in ckpt_dir."""
    names = sorted(os.listdir(ckpt_dir))
    st_files = [n for n in names if n.endswith(".safetensors")]
    bin_files = [n for n in names if n.startswith("pytorch_model") and n.endswith(".bin")]
    if st_files:
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise ConversionError("reading .safetensors needs the `safetensors` Python package") from exc
        for n in st_files:
            yield from load_file(os.path.join(ckpt_dir, n)).items()
    elif bin_files:
        for n in bin_files:
            obj = torch_load(os.path.join(ckpt_dir, n))
            if not isinstance(obj, dict):
                raise ConversionError(f"{n}: not a state dict")
            yield from obj.items()
    else:
        raise ConversionError(f"{ckpt_dir}: no *.safetensors or pytorch_model*.bin files")


def convert_t5(args):
    import json

    import cosmos_t5_h5

    if not os.path.isdir(args.checkpoint):
        raise ConversionError(f"checkpoint folder {args.checkpoint} not found")
    cfg_path = os.path.join(args.checkpoint, "config.json")
    if not os.path.isfile(cfg_path):
        raise ConversionError(f"{cfg_path} not found (the Hugging Face config of the model)")
    spiece = args.spiece or os.path.join(args.checkpoint, "spiece.model")
    if not os.path.isfile(spiece):
        raise ConversionError(f"SentencePiece model {spiece} not found (pass --spiece)")
    with open(spiece, "rb") as fh:
        spm_bytes = fh.read()
    try:
        with open(cfg_path, "r", encoding="utf-8") as fh:
            cfg = cosmos_t5_h5.config_from_hf(json.load(fh), args.name)
    except (OSError, ValueError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"{cfg_path}: {exc}") from exc
    expected = dict(cosmos_t5_h5.expected_tensors(cfg))
    state = {}
    for key, t in load_hf_shards(args.checkpoint):
        if key == "encoder.embed_tokens.weight":
            key = "shared.weight" if "shared.weight" not in state else None
        if key in expected:
            state[key] = t
    errors = []
    for key, shape in expected.items():
        if key not in state:
            errors.append(f"missing tensor {key} {list(shape)}")
        elif tuple(state[key].shape) != tuple(shape):
            errors.append(f"{key}: expected shape {list(shape)}, found {list(state[key].shape)}")
    if errors:
        raise ConversionError("checkpoint does not match its config.json:\n  " + "\n  ".join(errors))
    with cosmos_h5.atomic_output(args.out) as tmp:
        w = cosmos_t5_h5.T5WeightsWriter(tmp, cfg, args.dtype)
        for key in expected:
            w.add(key, state[key].float().numpy())
            state[key] = None
        w.add_spiece(spm_bytes)
        w.close()
    print(f"wrote {args.out}: {len(expected)} tensors ({args.dtype}) + tokenizer")
    return 0


def build_parser():
    ap = argparse.ArgumentParser(prog="convert_checkpoint.py",
                                 description="Convert official Cosmos checkpoints to cosmos-ar HDF5.")
    sub = ap.add_subparsers(dest="mode", metavar="MODE", required=True)
    ar = sub.add_parser("ar", help="Cosmos-1.0 AR transformer model.pt -> HDF5 (docs/weights.md)")
    ar.add_argument("--config", required=True, help="model config JSON (configs/models/*.json)")
    ar.add_argument("--checkpoint", required=True, help="official model.pt")
    ar.add_argument("--out", required=True, help="output .h5 file")
    ar.set_defaults(func=convert_ar)
    t5 = sub.add_parser("t5", help="Hugging Face t5-11b encoder + spiece.model -> HDF5 (docs/t5.md)")
    t5.add_argument("--checkpoint", required=True, help="folder with config.json and the weight shards")
    t5.add_argument("--spiece", help="spiece.model (default: CHECKPOINT/spiece.model)")
    t5.add_argument("--out", required=True, help="output .h5 file")
    t5.add_argument("--dtype", choices=("f32", "bf16"), default="f32", help="weight storage (default f32)")
    t5.add_argument("--name", default="t5-11b", help="model name stored in the file (default t5-11b)")
    t5.set_defaults(func=convert_t5)
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConversionError as exc:
        print(f"convert_checkpoint.py {args.mode}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
