#!/usr/bin/env python3
"""Convert official Cosmos checkpoints into the cosmos-ar HDF5 formats.

Subcommands:

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
       --max-length N: the prompt length the file is made for (default 512; = the AR context_len).

  tokenizer  convert_checkpoint.py tokenizer --config DV.json [--encoder encoder.jit] [--decoder decoder.jit]
             --out DV.h5 [--dtype keep|bf16|f32] [--mean-std mean_std.pt (CV configs)]
       Official Cosmos-1.0-Tokenizer-DV8x16x16 TorchScript archives (spec components.md 2.1:
       torch.jit.load(f, map_location="cpu").state_dict(); either or both) -> one DV tokenizer file
       (docs/weights.md "DV tokenizer files", tools/cosmos_dv_h5.py): conv weights flattened to
       [Cout, Cin*kt*kh*kw], dtype kept as stored unless --dtype says otherwise. The JIT-only buffers
       (encoder.patcher3d.*, quantizer.*, inv_quant.quantizer.*, decoder.unpatcher3d.* but the
       wavelets) and the never-called convs of CT-built down/up-samplers are dropped with a note;
       decoder.unpatcher3d.wavelets is kept exactly as stored (spec 2.4), whatever --dtype says.
       With a cv_tokenizer config (configs/models/cosmos-1.0-tokenizer-cv8x8x8.json): the official
       Cosmos-1.0-Tokenizer-CV8x8x8 archives instead (spec 4.7, Appendix A.3; usually --decoder only,
       the encoder is never used at inference) -> a CV tokenizer file (docs/weights.md "CV tokenizer
       files"), and --mean-std mean_std.pt adds the latent statistics (mean, std), each viewed as
       [latent_channels, N] and stored float32 (mean_std.mean, mean_std.std).

  model-dir  convert_checkpoint.py model-dir --checkpoint-dir CKPT --model NAME --out DIR
             [--dtype keep|bf16|f32] [--t5-dir T5] [--t5-max-length N] [--resume | --force]
             [--diffusion-decoder auto|yes|no]
       The official checkpoints folder (spec ar-model.md 6.2: CKPT/NAME/model.pt,
       CKPT/Cosmos-1.0-Tokenizer-DV8x16x16/{encoder,decoder}.jit and, for Video2World models,
       google-t5/t5-11b: by default where the official pipeline caches it,
       CKPT/models--google-t5--t5-11b/snapshots/<rev>/) -> a model directory for `cosmos-ar
       generate --model-dir DIR` (core/pipeline/model_dir.h): DIR/ar.h5, tokenizer.h5, t5.h5 made by
       the three modes above, then DIR/cosmos-model.json, written last (temporary name + rename),
       so a DIR with a manifest is complete. The AR config is the configs/models/ file of NAME
       (--ar-config overrides it). Every missing piece is reported with its expected path before
       anything is written. A non-empty DIR needs --resume (keep the files already there that match,
       by attributes, config, dataset names and shapes) or --force (convert everything again).
       The diffusion decoder (spec components.md 4; default auto: added when
       CKPT/Cosmos-1.0-Diffusion-7B-Decoder-DV8x16x16ToCV8x8x8 exists, yes: required, no: left out):
       its model.pt -> DIR/dd.h5 (the diffusion-decoder mode below),
       CKPT/Cosmos-1.0-Tokenizer-CV8x8x8/{decoder.jit, mean_std.pt} -> DIR/cv.h5 (the tokenizer mode
       with a cv_tokenizer config) and, for base models, the "context" of the decoder folder's
       aux_vars.pt (the generic prompt's T5 embedding; context_mask is not used, as officially) ->
       DIR/dd_context.h5 (float32 /context [rows, 1024]); manifest keys diffusion_decoder,
       cv_tokenizer, dd_context.

  face-blur  convert_checkpoint.py face-blur [--config RF.json] --checkpoint Resnet50_Final.pth --out FB.h5
       Cosmos-1.0-Guardrail face_blur_filter/Resnet50_Final.pth (spec components.md 5.5: a RetinaFace
       ResNet-50 state dict, "module." prefixes stripped) -> the face blur file of docs/guardrail.md
       (tools/cosmos_retinaface_h5.py): float32, one dataset per key, BatchNorm buffers kept
       (num_batches_tracked dropped).

  content-filter  convert_checkpoint.py content-filter [--config SG.json] --siglip SIGLIP
                  --safety-filter safety_filter.pt --out CF.h5
       Cosmos-1.0-Guardrail video_content_safety_filter/ (spec components.md 5.4): the vision tower of
       google/siglip-so400m-patch14-384 (safetensors or torch shards; a model folder or the hub cache
       the official code keeps there; text tower dropped) + the classifier of safety_filter.pt (key
       "model") -> the content filter file of docs/guardrail.md (tools/cosmos_siglip_h5.py).

  aegis  convert_checkpoint.py aegis --checkpoint GUARDRAIL/aegis (--cosmos-src COSMOS | --aegis-prompt P.json)
         --out AEGIS.h5 [--aegis-base DIR] [--aegis-adapter DIR] [--aegis-config LLAMA.json]
       Cosmos-1.0-Guardrail aegis/ (spec components.md 5.3: the hub caches of meta-llama/LlamaGuard-7b
       and of the nvidia/Aegis-AI-Content-Safety-LlamaGuard-Defensive-1.0 LoRA adapter) -> the Aegis
       file of docs/guardrail.md: the LoRA merged into the base weights (tools/cosmos_llama_h5.py), bf16,
       the base folder's tokenizer.model, and the moderation prompt (tools/cosmos_aegis.py: extracted
       from the official source, which is not part of this repository, or given as a JSON file).

  The model-dir mode adds them (--guardrail auto|yes|no; auto: when CKPT/Cosmos-1.0-Guardrail
  exists) as DIR/face_blur.h5, DIR/video_content_filter.h5 and, for Video2World models,
  DIR/aegis.h5 (manifest keys face_blur, video_content_filter, aegis); --face-blur-config /
  --content-filter-config / --aegis-config override their configs, --cosmos-src / --aegis-prompt
  give the Aegis prompt.

  diffusion-decoder  convert_checkpoint.py diffusion-decoder --config DD.json --checkpoint model.pt --out DD.h5
       Official Cosmos-1.0-Diffusion-7B-Decoder-DV8x16x16ToCV8x8x8 `model.pt` (spec components.md 4.1: a
       torch-pickled state dict of the ModuleDict {net, conditioner, logvar}, keys "net.*" / "logvar.*",
       possibly inside an outer {"model": ...} dict) -> the diffusion decoder file of docs/weights.md
       "Diffusion decoder files" (tools/cosmos_dit_h5.py): "net." stripped, every tensor bf16 (bf16 copied
       bit-exactly, other float types rounded to nearest even, with a note). logvar.*, net.pos_embedder.*
       and "*_extra_state" keys are dropped with a note; any other extra key, a missing key or a wrong
       shape is an error naming the key (exit status 2, no output file).

The expected key set and shapes come from the config (docs/weights.md "Expected keys"). Every
missing, unexpected or misshaped key is reported (key, expected shape, found shape, hint) and the
tool exits with status 2 without leaving an output file. The output is written to OUT.tmp-<pid>
and renamed over OUT only when complete; the temporary file is deleted on any failure.

Tensors are streamed one at a time (loaded with mmap=True where the torch version supports it),
converted to bf16 bit patterns (bf16 input is copied bit-exactly; fp32/fp16/fp64 input is rounded
to nearest even) and written, so no full copy of the model is ever built.
"""

import argparse
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


torch_load = cosmos_h5.torch_load


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


def format_errors(errors, ckpt, cfg_path, hints=None):
    """The message of a checkpoint that does not match its config: the first MAX_LISTED problems,
    then one hint per kind of problem (hints: kind -> text, HINTS by default). ckpt None: the
    checkpoint is not named."""
    hints = HINTS if hints is None else hints
    lines = [msg for _, msg in errors[:MAX_LISTED]]
    if len(errors) > MAX_LISTED:
        lines.append(f"... and {len(errors) - MAX_LISTED} more")
    kinds = list(dict.fromkeys(kind for kind, _ in errors))
    lines += [hints[k] for k in kinds]
    what = "checkpoint" if ckpt is None else f"checkpoint {ckpt}"
    return f"{what} does not match config {cfg_path} ({len(errors)} problem(s)):\n  " + "\n  ".join(lines)


def load_checkpoint(path, out):
    """torch.load of a checkpoint file, after checking that it exists and that out's folder does."""
    if not os.path.isfile(path):
        raise ConversionError(f"checkpoint {path} not found")
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise ConversionError(f"output folder {out_dir} does not exist")
    try:
        return torch_load(path)
    except Exception as exc:  # unpickling errors of all kinds: report, exit 2
        raise ConversionError(f"cannot load checkpoint {path}: {exc}") from exc


def write_bf16_weights(out, writer_class, cfg, state, expected):
    """Writes state[key] for every (key, shape) of expected as bf16 through writer_class(tmp, cfg),
    to a temporary name renamed at the end; a note names the dtypes that were rounded. Frees each
    tensor of state once written."""
    converted = sorted({str(state[k].dtype) for k, _ in expected} - {"torch.bfloat16"})
    if converted:
        print(f"note: rounding {', '.join(converted)} tensors to bfloat16", file=sys.stderr)
    with cosmos_h5.atomic_output(out) as tmp:
        with writer_class(tmp, cfg) as writer:
            for key, _ in expected:
                writer.add(key, tensor_to_bf16_bits(state[key]))
                state[key] = None  # let a non-mmap tensor be freed once written
    print(f"wrote {out}: {len(expected)} tensors")


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
    obj = load_checkpoint(args.checkpoint, args.out)
    state = normalize_state_dict(obj)
    del obj
    errors = check_keys(state, expected)
    if errors:
        raise ConversionError(format_errors(errors, args.checkpoint, args.config))
    write_bf16_weights(args.out, cosmos_h5.ArWeightsWriter, cfg, state, expected)
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
    cfg["max_length"] = t5_max_length(getattr(args, "max_length", None) or 512)
    expected = dict(cosmos_t5_h5.expected_tensors(cfg))
    state = {}
    for key, t in load_hf_shards(args.checkpoint):
        if key == "encoder.embed_tokens.weight":
            key = "shared.weight" if "shared.weight" not in state else None
        if key in expected:
            state[key] = t
    errors = cosmos_h5.shape_errors(state, expected)
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


def t5_max_length(n):
    """The prompt length the T5 file is made for (the official pipeline: 512 = the AR context_len)."""
    if not 2 <= int(n) <= 65536:
        raise ConversionError(f"T5 max_length {n} must be in [2, 65536] (official: 512)")
    return int(n)


def load_jit_state(path, what):
    """(state dict, module) of a TorchScript archive, loaded on the CPU."""
    import torch

    if not os.path.isfile(path):
        raise ConversionError(f"{what} {path} not found")
    try:
        module = torch.jit.load(path, map_location="cpu")
    except Exception as exc:  # not a TorchScript zip, truncated, ...: report, exit 2
        raise ConversionError(f"cannot load {what} {path} as TorchScript: {exc}") from exc
    return dict(module.state_dict()), module


def jit_attribute(module, key):
    """module.a.b.c for key "a.b.c", or None (a buffer registered persistent=False is not in the
    state dict of every torch version, but still an attribute of the scripted module)."""
    obj = module
    for name in key.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def classify_tokenizer_keys(cfg, state, part, expected, path):
    """Split one JIT state dict into the expected tensors, notes and errors (kind, message)."""
    import torch

    import cosmos_dv_h5 as dv

    errors, notes = [], []
    other = dv.DECODER if part == dv.ENCODER else dv.ENCODER
    other_keys = {k for k, _ in (dv.decoder_tensors(cfg) if other == dv.DECODER else dv.encoder_tensors(cfg))}
    if not any(k in state for k, _ in expected) and any(k in other_keys for k in state):
        sample = sorted(k for k in state if k in other_keys)[:2]
        return [("swapped", f"{path} holds {other} keys ({', '.join(sample)}, ...) and no {part} key: "
                            f"pass it as --{other}")], notes
    for key, shape in expected:
        if key not in state:
            errors.append(("missing", f"{path}: missing key {key}: expected shape {list(shape)}, found nothing"))
            continue
        value = state[key]
        if not isinstance(value, torch.Tensor):
            errors.append(("dtype", f"{path}: key {key}: expected a tensor, found a {type(value).__name__}"))
        elif tuple(value.shape) != tuple(shape):
            errors.append(("shape", f"{path}: wrong shape for key {key}: expected {list(shape)}, "
                                    f"found {list(value.shape)}"))
        elif value.dtype not in (torch.bfloat16, torch.float32, torch.float16, torch.float64):
            errors.append(("dtype", f"{path}: key {key}: unsupported dtype {value.dtype}"))
    exp = dict(expected)
    dropped, unused = [], []
    for key, value in state.items():
        if key in exp:
            continue
        if dv.is_dropped_buffer(key):
            dropped.append(key)
        elif dv.is_unused_ct_conv(cfg, key):
            unused.append(key)
        else:
            found = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            hint = f" (a {other} key: pass this file as --{other}?)" if key in other_keys else ""
            errors.append(("unexpected", f"{path}: unexpected key {key}{hint}: expected nothing, found {found}"))
    if dropped:
        notes.append(f"{path}: dropped {len(dropped)} JIT-only buffer(s): {', '.join(sorted(dropped))}")
    if unused:
        notes.append(f"{path}: dropped {len(unused)} never-called down/up-sampler weight(s) of CT-built modules "
                     f"(spec 2.9): {', '.join(sorted(unused))}")
    return errors, notes


TOKENIZER_HINTS = {
    "missing": "hint (missing): a truncated file, the wrong config (channels, channels_mult, num_res_blocks, "
               "attn_resolutions), or --encoder / --decoder swapped",
    "shape": "hint (shape): the config is not this checkpoint's (channels, channels_mult, z_channels, "
             "embedding_dim, patch_size)",
    "unexpected": "hint (unexpected): the config may describe another tokenizer (e.g. more levels or attention "
                  "resolutions, DV vs CV), or the file is not a tokenizer archive",
    "dtype": "hint (dtype): weights must be floating point tensors",
    "swapped": "hint (swapped): --encoder takes encoder.jit, --decoder takes decoder.jit",
}


def tokenizer_array(t, dtype):
    """(numpy array, is_bf16) of a tensor stored as `dtype` ("bf16" or "f32")."""
    import torch

    if dtype == "bf16":
        return tensor_to_bf16_bits(t), True
    return t.to(torch.float32).contiguous().numpy(), False


def convert_tokenizer(args):
    import torch

    import cosmos_dv_h5 as dv

    try:
        cfg = dv.load_config(args.config)
    except (OSError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"config {args.config}: {exc}") from exc
    if not args.encoder and not args.decoder:
        raise ConversionError("give --encoder encoder.jit, --decoder decoder.jit, or both")
    mean_std = getattr(args, "mean_std", None)
    if mean_std and not dv.is_cv(cfg):
        raise ConversionError(f"--mean-std is for cv_tokenizer configs; {args.config} is a {dv.model_type(cfg)} "
                              "config")
    stats = load_mean_std(mean_std, cfg) if mean_std else None
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise ConversionError(f"output folder {out_dir} does not exist")

    parts, tensors, errors, notes = [], [], [], []
    for part, path, expected in ((dv.ENCODER, args.encoder, dv.encoder_tensors(cfg)),
                                 (dv.DECODER, args.decoder, dv.decoder_tensors(cfg))):
        if not path:
            continue
        parts.append(part)
        state, module = load_jit_state(path, f"{part} archive")
        if part == dv.DECODER and dv.WAVELETS_KEY not in state:
            taps = jit_attribute(module, dv.WAVELETS_KEY)
            if isinstance(taps, torch.Tensor):
                state[dv.WAVELETS_KEY] = taps
                notes.append(f"{path}: {dv.WAVELETS_KEY} is not in the state dict (a non-persistent buffer); "
                             "taken from the scripted module")
        del module
        e, n = classify_tokenizer_keys(cfg, state, part, expected, path)
        errors += e
        notes += n
        if not e:
            tensors += [(key, shape, state[key]) for key, shape in expected]
    if errors:
        raise ConversionError(format_errors(errors, None, args.config, TOKENIZER_HINTS))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)

    def storage(key, t):
        if key == dv.WAVELETS_KEY:  # spec 2.4: the decoder uses the stored taps, never re-rounded
            return "bf16" if t.dtype == torch.bfloat16 else "f32"
        if args.dtype != "keep":
            return args.dtype
        return "bf16" if t.dtype == torch.bfloat16 else "f32"

    widened = sorted({str(t.dtype) for key, _, t in tensors
                      if args.dtype == "keep" and t.dtype in (torch.float16, torch.float64)})
    if widened:
        print(f"note: storing {', '.join(widened)} tensors as float32", file=sys.stderr)
    counts = {}
    n_stats = 0
    with cosmos_h5.atomic_output(args.out) as tmp:
        with dv.DVWeightsWriter(tmp, cfg, parts) as writer:
            for key, _, t in tensors:
                kind = storage(key, t)
                arr, is_bf16 = tokenizer_array(t, kind)
                writer.add(key, arr, is_bf16)
                counts[kind] = counts.get(kind, 0) + 1
            if stats is not None:
                n_stats = writer.add_stats(*stats)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    extra = f" + latent statistics [{cfg['latent_channels']}, {n_stats}]" if stats is not None else ""
    print(f"wrote {args.out} ({dv.model_type(cfg)}): {' + '.join(parts)}, {len(tensors)} tensors ({summary}){extra}")
    if dv.is_cv(cfg) and stats is None:
        print("note: no --mean-std: the file has no latent statistics (the diffusion decoder needs them)",
              file=sys.stderr)
    return 0


def load_mean_std(path, cfg):
    """(mean, std) float32 numpy arrays of the official mean_std.pt (spec 4.7: a pair of tensors, each
    viewed as (latent_channels, -1) by the pipeline)."""
    import torch

    if not os.path.isfile(path):
        raise ConversionError(f"mean_std file {path} not found")
    try:
        obj = torch_load(path)
    except Exception as exc:  # not a torch file, truncated, ...: report, exit 2
        raise ConversionError(f"cannot load mean_std file {path} with torch.load: {exc}") from exc
    if not isinstance(obj, (tuple, list)) or len(obj) != 2 or not all(isinstance(t, torch.Tensor) for t in obj):
        found = type(obj).__name__ + (f" of {len(obj)}" if isinstance(obj, (tuple, list, dict)) else "")
        raise ConversionError(f"mean_std file {path}: expected a pair of tensors (mean, std), found a {found}")
    c = cfg["latent_channels"]
    out = []
    for name, t in zip(("mean", "std"), obj):
        if not t.is_floating_point():
            raise ConversionError(f"mean_std file {path}: {name} is {t.dtype}, expected floating point")
        if t.numel() == 0 or t.numel() % c:
            raise ConversionError(f"mean_std file {path}: {name} has shape {list(t.shape)} ({t.numel()} values), "
                                  f"which does not view as [latent_channels={c}, N]")
        a = t.detach().to(torch.float32).reshape(c, -1).numpy()
        if not np.isfinite(a).all():
            raise ConversionError(f"mean_std file {path}: {name} has non-finite values")
        out.append(a)
    if out[0].shape != out[1].shape:
        raise ConversionError(f"mean_std file {path}: mean views as {list(out[0].shape)} but std as "
                              f"{list(out[1].shape)}")
    return out


# ---------------------------------------------------------------------------------------------
# model-dir: the official checkpoints folder -> a model directory (core/pipeline/model_dir.h)

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "models")
AR_MODELS = {  # official model (= folder under checkpoints/) -> its configs/models/ file
    "Cosmos-1.0-Autoregressive-4B": "cosmos-1.0-ar-4b.json",
    "Cosmos-1.0-Autoregressive-5B-Video2World": "cosmos-1.0-ar-5b-video2world.json",
    "Cosmos-1.0-Autoregressive-12B": "cosmos-1.0-ar-12b.json",
    "Cosmos-1.0-Autoregressive-13B-Video2World": "cosmos-1.0-ar-13b-video2world.json",
}
AR_ALIASES = {"4B": "Cosmos-1.0-Autoregressive-4B", "5B": "Cosmos-1.0-Autoregressive-5B-Video2World",
              "12B": "Cosmos-1.0-Autoregressive-12B", "13B": "Cosmos-1.0-Autoregressive-13B-Video2World"}
TOKENIZER_DIR = "Cosmos-1.0-Tokenizer-DV8x16x16"
TOKENIZER_CONFIG = "cosmos-1.0-tokenizer-dv8x16x16.json"
T5_REPO = "google-t5/t5-11b"
T5_CACHE_ENTRY = "models--" + T5_REPO.replace("/", "--")  # Hugging Face hub cache folder name
DD_DIR = "Cosmos-1.0-Diffusion-7B-Decoder-DV8x16x16ToCV8x8x8"  # model.pt, aux_vars.pt (spec components.md 4.1)
DD_CONFIG = "cosmos-1.0-diffusion-7b-decoder.json"
CV_DIR = "Cosmos-1.0-Tokenizer-CV8x8x8"  # decoder.jit, mean_std.pt (encoder.jit: never used at inference)
CV_CONFIG = "cosmos-1.0-tokenizer-cv8x8x8.json"
MODEL_DIR_MANIFEST = "cosmos-model.json"
# part (= manifest key) -> file name in the model directory (the names `cosmos-ar init` writes)
MODEL_DIR_FILES = {"ar": "ar.h5", "tokenizer": "tokenizer.h5", "t5": "t5.h5", "diffusion_decoder": "dd.h5",
                   "cv_tokenizer": "cv.h5", "dd_context": "dd_context.h5", "face_blur": "face_blur.h5",
                   "video_content_filter": "video_content_filter.h5", "aegis": "aegis.h5"}
# the video guardrail (spec components.md 5.1, 5.4, 5.5): CKPT/Cosmos-1.0-Guardrail/
GUARDRAIL_DIR = "Cosmos-1.0-Guardrail"
FACE_BLUR_PTH = os.path.join("face_blur_filter", "Resnet50_Final.pth")
CONTENT_FILTER_DIR = "video_content_safety_filter"  # safety_filter.pt + the hub cache of SigLIP
AEGIS_DIR = "aegis"  # the hub caches of the base model and the adapter (official aegis.py cache_dir)
AEGIS_BASE_ENTRY = "models--meta-llama--LlamaGuard-7b"
AEGIS_ADAPTER_ENTRY = "models--nvidia--Aegis-AI-Content-Safety-LlamaGuard-Defensive-1.0"
AEGIS_CONFIG = "llamaguard-7b.json"
FACE_BLUR_CONFIG = "retinaface-resnet50.json"
CONTENT_FILTER_CONFIG = "siglip-so400m-safety.json"
CONTEXT_DATASET = "context"  # context files: float32 /context [rows, cols] (core/context_file.h)


def pick_ar_config(args):
    """(model name, AR config path): --model names the checkpoints/ folder; the config comes from
    the table above unless --ar-config overrides it (a renamed or post-trained model)."""
    name = AR_ALIASES.get(args.model.upper(), args.model)
    if args.ar_config:
        return name, args.ar_config
    if name not in AR_MODELS:
        raise ConversionError(f"unknown model {args.model!r}: known models are {', '.join(AR_MODELS)} "
                              f"(or 4B, 5B, 12B, 13B); for another folder name pass its config with --ar-config")
    return name, os.path.join(CONFIG_DIR, AR_MODELS[name])


def hf_cache_snapshot(entry, marker="config.json", flag="--t5-dir"):
    """The snapshot folder of a Hugging Face hub cache entry (models--ORG--NAME/) that holds `marker`:
    the revision in refs/main, else the only snapshot; None when there is none."""
    snaps = os.path.join(entry, "snapshots")
    ref = os.path.join(entry, "refs", "main")
    if os.path.isfile(ref):
        with open(ref, "r", encoding="utf-8") as fh:
            path = os.path.join(snaps, fh.read().strip())
        if os.path.isfile(os.path.join(path, marker)):
            return path
    found = sorted(n for n in os.listdir(snaps) if os.path.isfile(os.path.join(snaps, n, marker))) \
        if os.path.isdir(snaps) else []
    if len(found) > 1:
        raise ConversionError(f"{snaps} holds several snapshots ({', '.join(found)}) and no usable refs/main: "
                              f"pass one with {flag}")
    return os.path.join(snaps, found[0]) if found else None


def hf_folder(path, marker, flag):
    """A Hugging Face model folder holding `marker` for path: itself, or the snapshot of a hub cache
    entry; None when neither."""
    if os.path.isfile(os.path.join(path, marker)):
        return path
    if os.path.isdir(os.path.join(path, "snapshots")):
        return hf_cache_snapshot(path, marker, flag)
    return None


def t5_search_paths(ckpt_dir):
    """Where the official pipeline finds google-t5/t5-11b, in its order:
    T5EncoderModel.from_pretrained("google-t5/t5-11b", cache_dir=checkpoint_dir) (cosmos1/models/common/
    base_world_generation_pipeline.py, t5_text_encoder.py) = a hub cache entry in the checkpoints
    folder; a plain download (huggingface-cli download --local-dir checkpoints/google-t5/t5-11b); the
    default hub cache, the official code's fallback."""
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    return [os.path.join(ckpt_dir, T5_CACHE_ENTRY), os.path.join(ckpt_dir, *T5_REPO.split("/")),
            os.path.join(hub, T5_CACHE_ENTRY)]


def t5_folder(path):
    """A Hugging Face model folder (config.json) for path: itself, or the snapshot of a hub cache entry."""
    if os.path.isfile(os.path.join(path, "config.json")):
        return path
    if os.path.isdir(os.path.join(path, "snapshots")):
        return hf_cache_snapshot(path)
    return None


def locate_t5(args):
    """(folder, problems): the T5 model folder and what is missing in it, each with its path."""
    tried = [args.t5_dir] if args.t5_dir else t5_search_paths(args.checkpoint_dir)
    folder = next((f for f in (t5_folder(p) for p in tried) if f), None)
    if folder is None:
        where = " or ".join(tried)
        return None, [f"T5 text encoder ({T5_REPO}, Video2World models): no config.json in {where} (a Hugging "
                      f"Face model folder, or a hub cache entry with snapshots/; pass --t5-dir)"]
    problems = []
    for what, name in (("T5 config", "config.json"), ("T5 tokenizer", "spiece.model")):
        if not os.path.isfile(os.path.join(folder, name)):
            problems.append(f"{what}: {os.path.join(folder, name)} not found")
    names = os.listdir(folder)
    shards = [n for n in names if n.endswith(".safetensors") or (n.startswith("pytorch_model") and n.endswith(".bin"))]
    if not shards:
        problems.append(f"T5 weights: {os.path.join(folder, 'model.safetensors')} (or pytorch_model*.bin) not found")
    elif any(n.endswith(".safetensors") for n in shards):
        try:
            import safetensors.torch  # noqa: F401  (load_hf_shards prefers .safetensors)
        except ImportError:
            problems.append(f"T5 weights: {folder} holds .safetensors files: install the `safetensors` package")
    return folder, problems


def h5_file_problem(path, model_type, cfg, expected, int_attrs=None):
    """None when path is a finished cosmos-ar HDF5 file of this model (root attributes, config,
    dataset names and shapes; no tensor data is read), else the reason it is not."""
    import json

    import h5py

    def s(v):
        return v.decode() if isinstance(v, bytes) else v

    try:
        with h5py.File(path, "r") as f:
            a = f.attrs
            if s(a.get("cosmos_format")) != cosmos_h5.FORMAT_NAME or int(a.get("format_version", -1)) != 1:
                return "not a cosmos-ar-weights version 1 file"
            if s(a.get("model_type")) != model_type:
                return f"model_type is {s(a.get('model_type'))!r}, not {model_type!r}"
            if json.loads(s(a.get("config", "null"))) != cfg:
                return "written for another config"
            for k, v in (int_attrs or {}).items():
                if int(a.get(k, -1)) != v:
                    return f"attribute {k} is {a.get(k)}, not {v}"
            want = dict(expected)
            diff = sorted(set(f.keys()) ^ set(want))
            if diff:
                return f"datasets differ from the expected set ({diff[0]}, ...)"
            for key, shape in want.items():
                if shape is not None and tuple(f[key].shape) != tuple(shape):
                    return f"dataset {key} has shape {list(f[key].shape)}, not {list(shape)}"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"cannot read it ({exc})"
    return None


def load_dd_context(path, cols):
    """The generic-prompt context of the official aux_vars.pt (spec components.md 4.1: a dict with
    "context", the T5 embedding of "high quality, 4k, high definition, smooth video", and
    "context_mask") -> float32 numpy [rows, cols]. The official base pipeline passes only "context" to
    the diffusion decoder, which attends to every row (t5_text_mask = ones, no cross-attention mask):
    context_mask is not used."""
    import torch

    try:
        obj = torch_load(path)
    except Exception as exc:  # not a torch file, truncated, ...: report, exit 2
        raise ConversionError(f"cannot load {path} with torch.load: {exc}") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("context"), torch.Tensor):
        found = (f"a dict with keys {sorted(map(str, obj))}" if isinstance(obj, dict) else f"a {type(obj).__name__}")
        raise ConversionError(f"{path}: expected a dict with a tensor \"context\" (and \"context_mask\"), "
                              f"found {found}")
    t = obj["context"]
    shape = list(t.shape)
    if t.dim() == 3 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 2 or t.shape[0] < 1 or t.shape[1] != cols:
        raise ConversionError(f"{path}: context has shape {shape}, expected [rows, {cols}] or [1, rows, {cols}] "
                              f"({cols} = crossattn_emb_channels of the diffusion decoder config)")
    if not t.is_floating_point():
        raise ConversionError(f"{path}: context is {t.dtype}, expected floating point")
    if t.dtype == torch.float64:
        print(f"note: {path}: rounding the float64 context to float32", file=sys.stderr)
    ctx = t.detach().to(torch.float32).contiguous().numpy()
    if not np.isfinite(ctx).all():
        raise ConversionError(f"{path}: context has non-finite values")
    mask = obj.get("context_mask")
    if isinstance(mask, torch.Tensor) and mask.numel() and not bool((mask != 0).all()):
        n = int((mask == 0).sum())
        print(f"note: {path}: context_mask marks {n} of {mask.numel()} rows as padding; like the official pipeline "
              f"(the diffusion decoder has no cross-attention mask) all {ctx.shape[0]} rows are kept",
              file=sys.stderr)
    return np.ascontiguousarray(ctx)


def write_context_file(path, ctx):
    """A context file (core/context_file.h: float32 /context [rows, cols]), temporary name + rename."""
    import h5py

    with cosmos_h5.atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(CONTEXT_DATASET, data=np.ascontiguousarray(ctx, dtype=np.float32), dtype="<f4",
                             track_times=False)
    print(f"wrote {path}: context [{ctx.shape[0]}, {ctx.shape[1]}] float32")
    return 0


def context_file_problem(path, ctx):
    """None when path is a context file holding exactly ctx, else the reason it is not."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if sorted(f.keys()) != [CONTEXT_DATASET]:
                return f"datasets {sorted(f.keys())[:3]}, not [{CONTEXT_DATASET!r}]"
            ds = f[CONTEXT_DATASET]
            if ds.dtype != np.float32 or tuple(ds.shape) != ctx.shape:
                return f"/{CONTEXT_DATASET} is {ds.dtype} {list(ds.shape)}, not float32 {list(ctx.shape)}"
            if not np.array_equal(ds[()], ctx):
                return f"/{CONTEXT_DATASET} holds other values"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"cannot read it ({exc})"
    return None


def include_part(mode, what, flag, folder, outputs, without, why):
    """Whether an optional part of the model directory (the diffusion decoder, the video guardrail)
    is converted, saying so on stdout: flag `no` leaves it out, `yes` requires it, `auto` adds it when
    its checkpoint folder exists. without: what leaving it out means; why: what it is for."""
    if mode == "no":
        print(f"{what}: not included ({flag} no): {without}")
        return False
    if mode == "auto":
        if not os.path.isdir(folder):
            print(f"{what}: not included ({folder} not found): {without}; download it {why} ({flag} yes requires "
                  f"it)")
            return False
        print(f"{what}: found {folder}: adding it ({outputs}; {flag} no leaves it out)")
    else:
        print(f"{what}: adding it ({outputs}; {flag} yes)")
    return True


def plan_diffusion_decoder(args, ckpt, ar_config, ar_cfg, derived):
    """What the diffusion decoder adds to the model directory: (plan or None, problems). The plan has
    the configs, the input paths and their checks; problems lists each missing piece with its path."""
    import cosmos_dit_h5 as dit
    import cosmos_dv_h5 as dv

    mode = args.diffusion_decoder
    v2w = derived["cross_attn"]
    dd_dir, cv_dir = os.path.join(ckpt, DD_DIR), os.path.join(ckpt, CV_DIR)
    files = [("diffusion decoder", os.path.join(dd_dir, "model.pt")),
             ("CV8x8x8 tokenizer decoder", os.path.join(cv_dir, "decoder.jit")),
             ("CV8x8x8 latent statistics", os.path.join(cv_dir, "mean_std.pt"))]
    if not v2w:
        files.append(("generic-prompt context of base models", os.path.join(dd_dir, "aux_vars.pt")))
    outputs = "dd.h5, cv.h5" + ("" if v2w else ", dd_context.h5")
    if not include_part(mode, "diffusion decoder", "--diffusion-decoder", dd_dir, outputs,
                        "the DV decoder makes the video", "for the official default output"):
        return None, []
    hint = " (or pass --diffusion-decoder no)" if mode == "auto" else ""
    problems = [f"{what}: {path} not found{hint}" for what, path in files if not os.path.isfile(path)]

    dd_config = args.dd_config or os.path.join(CONFIG_DIR, DD_CONFIG)
    cv_config = args.cv_config or os.path.join(CONFIG_DIR, CV_CONFIG)
    try:
        dd_cfg = dit.load_config(dd_config)
    except (OSError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"diffusion decoder config {dd_config}: {exc}") from exc
    try:
        cv_cfg = dv.load_config(cv_config)
    except (OSError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"CV tokenizer config {cv_config}: {exc}") from exc
    if not dv.is_cv(cv_cfg):
        raise ConversionError(f"CV tokenizer config {cv_config} is a {dv.model_type(cv_cfg)} config; the diffusion "
                              "decoder needs the CV8x8x8 tokenizer (cv_tokenizer)")
    # what the engine checks when it loads the model directory (core/pipeline/v2w.c, diffusion_decoder.c)
    mismatch = []
    if dd_cfg["diffusion_decoder_token_condition_voc_size"] < ar_cfg["vocab_size"]:
        mismatch.append(f"it embeds {dd_cfg['diffusion_decoder_token_condition_voc_size']} token ids, the AR model "
                        f"emits {ar_cfg['vocab_size']} ({ar_config})")
    if v2w and dd_cfg["crossattn_emb_channels"] != derived["context_dim"]:
        mismatch.append(f"it attends to {dd_cfg['crossattn_emb_channels']}-wide text embeddings, the AR model's T5 "
                        f"context is {derived['context_dim']} wide")
    if not dd_cfg["in_channels"] == dd_cfg["out_channels"] == cv_cfg["latent_channels"]:
        mismatch.append(f"it works on {dd_cfg['in_channels']} -> {dd_cfg['out_channels']} latent channels, the CV "
                        f"tokenizer ({cv_config}) decodes {cv_cfg['latent_channels']}")
    if mismatch:
        raise ConversionError(f"the diffusion decoder config {dd_config} does not fit this model: "
                              + "; ".join(mismatch))
    plan = {"dd_config": dd_config, "dd_cfg": dd_cfg, "cv_config": cv_config, "cv_cfg": cv_cfg,
            "dd_ckpt": files[0][1], "cv_decoder": files[1][1], "cv_mean_std": files[2][1],
            "aux_vars": None if v2w else files[3][1]}
    return plan, problems


def load_diffusion_decoder_inputs(plan):
    """Reads and checks the small inputs (mean_std.pt, aux_vars.pt) before anything is written."""
    import cosmos_dv_h5 as dv

    cv_cfg, dd_cfg = plan["cv_cfg"], plan["dd_cfg"]
    mean, _ = load_mean_std(plan["cv_mean_std"], cv_cfg)
    # the diffusion decoder de-normalises a chunk's latent frames with the first columns (spec 4.7)
    chunk = (dd_cfg["dd_train_num_video_frames"] - 1) // cv_cfg["temporal_compression"] + 1
    if mean.shape[1] < chunk:
        raise ConversionError(f"{plan['cv_mean_std']}: the statistics view as {list(mean.shape)}, but a diffusion "
                              f"decoder chunk has {chunk} latent frames (dd_train_num_video_frames "
                              f"{dd_cfg['dd_train_num_video_frames']} of {plan['dd_config']})")
    plan["stats_shape"] = tuple(mean.shape)
    plan["cv_expected"] = ([(k, dv.stored_shape(s)) for k, s in dv.expected_tensors(cv_cfg, (dv.DECODER,))]
                           + [(dv.MEAN_KEY, mean.shape), (dv.STD_KEY, mean.shape)])
    plan["context"] = (load_dd_context(plan["aux_vars"], dd_cfg["crossattn_emb_channels"])
                       if plan["aux_vars"] else None)


def plan_guardrail(args, ckpt, v2w):
    """What the guardrail adds to the model directory: (plan or None, problems), like
    plan_diffusion_decoder. auto: added when CKPT/Cosmos-1.0-Guardrail exists. The video checks for
    every model, the Aegis prompt check for Video2World models (as the official pipelines)."""
    import cosmos_retinaface_h5 as rf
    import cosmos_siglip_h5 as sg

    mode = args.guardrail
    gdir = os.path.join(ckpt, GUARDRAIL_DIR)
    outputs = "face_blur.h5, video_content_filter.h5" + (", aegis.h5" if v2w else "")
    if not include_part(mode, "guardrail", "--guardrail", gdir, outputs, "generate then needs --disable-guardrail",
                        "for the official prompt check, content filter and face blur"):
        return None, []
    hint = " (or pass --guardrail no)" if mode == "auto" else ""
    pth = os.path.join(gdir, FACE_BLUR_PTH)
    vcf = os.path.join(gdir, CONTENT_FILTER_DIR)
    safety_pt = os.path.join(vcf, "safety_filter.pt")
    problems = [f"{what}: {path} not found{hint}" for what, path in
                (("face blur (RetinaFace)", pth), ("content filter classifier", safety_pt)) if not os.path.isfile(path)]
    try:
        sg.find_siglip_files(vcf)
    except cosmos_h5.FormatError as exc:
        problems.append(f"content filter encoder (google/siglip-so400m-patch14-384): {exc}{hint}")
    rf_config = args.face_blur_config or os.path.join(CONFIG_DIR, FACE_BLUR_CONFIG)
    sg_config = args.content_filter_config or os.path.join(CONFIG_DIR, CONTENT_FILTER_CONFIG)
    try:
        rf_cfg = rf.load_config(rf_config)
    except (OSError, ValueError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"face blur config {rf_config}: {exc}") from exc
    try:
        sg_cfg = sg.load_config(sg_config)
    except (OSError, ValueError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"content filter config {sg_config}: {exc}") from exc
    plan = {"rf_config": rf_config, "rf_cfg": rf_cfg, "pth": pth, "sg_config": sg_config, "sg_cfg": sg_cfg,
            "siglip": vcf, "safety_pt": safety_pt, "aegis": None}
    if v2w:
        aegis, aegis_problems = locate_aegis(os.path.join(gdir, AEGIS_DIR), args, hint)
        plan["aegis"] = aegis
        problems += aegis_problems
    return plan, problems


def locate_aegis(aegis_dir, args, hint=""):
    """(inputs of the Aegis file or None, problems): the LlamaGuard-7b and adapter folders (plain or
    hub-cache entries under aegis_dir, as the official code caches them), the tokenizer, the prompt
    source (--cosmos-src or --aegis-prompt) and the config."""
    import cosmos_llama_h5 as ll

    base = getattr(args, "aegis_base", None) or os.path.join(aegis_dir, AEGIS_BASE_ENTRY)
    adapter = getattr(args, "aegis_adapter", None) or os.path.join(aegis_dir, AEGIS_ADAPTER_ENTRY)
    problems = []
    base_dir = hf_folder(base, "config.json", "--aegis-base") if os.path.isdir(base) else None
    adapter_dir = hf_folder(adapter, "adapter_config.json", "--aegis-adapter") if os.path.isdir(adapter) else None
    if base_dir is None:
        problems.append(f"Aegis base model (meta-llama/LlamaGuard-7b): no config.json in {base}{hint}")
    elif not os.path.isfile(os.path.join(base_dir, "tokenizer.model")):
        problems.append(f"Aegis tokenizer: {os.path.join(base_dir, 'tokenizer.model')} not found{hint}")
    if adapter_dir is None:
        problems.append(f"Aegis adapter (nvidia/Aegis-AI-Content-Safety-LlamaGuard-Defensive-1.0): no "
                        f"adapter_config.json in {adapter}{hint}")
    src, prompt_file = getattr(args, "cosmos_src", None), getattr(args, "aegis_prompt", None)
    if not src and not prompt_file:
        problems.append("Aegis moderation prompt: pass --cosmos-src (a checkout of NVIDIA/Cosmos: the prompt is read "
                        "from cosmos1/models/guardrail/aegis/) or --aegis-prompt FILE.json" + hint)
    config = getattr(args, "aegis_config", None) or os.path.join(CONFIG_DIR, AEGIS_CONFIG)
    try:
        cfg = ll.load_config(config)
    except (OSError, ValueError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"Aegis config {config}: {exc}") from exc
    return {"base": base_dir, "adapter": adapter_dir, "config": config, "cfg": cfg, "cosmos_src": src,
            "prompt_file": prompt_file}, problems


def aegis_prompt(inputs):
    """The moderation prompt data: extracted from the official source, or read from a file."""
    import cosmos_aegis

    try:
        if inputs["cosmos_src"]:
            return cosmos_aegis.extract_prompt(inputs["cosmos_src"])
        return cosmos_aegis.load_prompt(inputs["prompt_file"])
    except (OSError, SyntaxError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"Aegis moderation prompt: {exc}") from exc


def write_aegis(inputs, prompt, out):
    """LlamaGuard + the merged LoRA + tokenizer + prompt -> the Aegis file at out (temp + rename)."""
    import cosmos_aegis
    import cosmos_llama_h5 as ll

    tmp = f"{out}.tmp-{os.getpid()}"
    try:
        ll.convert_llama(inputs["base"], tmp, inputs["config"], adapter_dir=inputs["adapter"],
                         spm_path=os.path.join(inputs["base"], "tokenizer.model"))
        cosmos_aegis.add_prompt(tmp, prompt)
        os.replace(tmp, out)
    except (OSError, ValueError, cosmos_h5.FormatError) as exc:
        raise ConversionError(str(exc)) from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"wrote {out}: LlamaGuard + Aegis LoRA (merged), tokenizer, moderation prompt "
          f"({len(prompt['categories'])} categories)")


def convert_aegis(args):
    """Cosmos-1.0-Guardrail aegis/ (LlamaGuard-7b + the Aegis LoRA) -> the Aegis file."""
    inputs, problems = locate_aegis(args.checkpoint or "", args)
    if problems:
        raise ConversionError("missing pieces of the Aegis check:\n  " + "\n  ".join(problems))
    write_aegis(inputs, aegis_prompt(inputs), args.out)
    return 0


def convert_model_dir(args):
    import json

    import cosmos_dit_h5 as dit
    import cosmos_dv_h5 as dv
    import cosmos_t5_h5

    # 1. everything is checked before anything is written
    name, ar_config = pick_ar_config(args)
    tok_config = args.tokenizer_config or os.path.join(CONFIG_DIR, TOKENIZER_CONFIG)
    try:
        ar_cfg = cosmos_h5.load_config(ar_config)
    except (OSError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"AR config {ar_config}: {exc}") from exc
    try:
        tok_cfg = dv.load_config(tok_config)
    except (OSError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"tokenizer config {tok_config}: {exc}") from exc
    if dv.is_cv(tok_cfg):
        raise ConversionError(f"tokenizer config {tok_config} is a cv_tokenizer; the AR model directory needs the "
                              "DV8x16x16 tokenizer (dv_tokenizer)")
    derived = cosmos_h5.derive(ar_cfg)
    v2w = derived["cross_attn"]
    ckpt = args.checkpoint_dir
    if not os.path.isdir(ckpt):
        raise ConversionError(f"checkpoints folder {ckpt} not found")
    ar_ckpt = os.path.join(ckpt, name, "model.pt")
    encoder = os.path.join(ckpt, TOKENIZER_DIR, "encoder.jit")
    decoder = os.path.join(ckpt, TOKENIZER_DIR, "decoder.jit")
    problems = [f"{what}: {path} not found" for what, path in
                ((f"AR model {name}", ar_ckpt), ("tokenizer encoder", encoder), ("tokenizer decoder", decoder))
                if not os.path.isfile(path)]
    t5_dir, t5_cfg = None, None
    if v2w:
        t5_dir, t5_problems = locate_t5(args)
        problems += t5_problems
    elif args.t5_dir:
        print(f"note: {name} is a base model (no cross-attention): --t5-dir is not used", file=sys.stderr)
    dd, dd_problems = plan_diffusion_decoder(args, ckpt, ar_config, ar_cfg, derived)
    problems += dd_problems
    guard, guard_problems = plan_guardrail(args, ckpt, v2w)
    problems += guard_problems
    if problems:
        raise ConversionError(f"missing pieces of the checkpoints folder {ckpt}:\n  " + "\n  ".join(problems))
    if dd:
        load_diffusion_decoder_inputs(dd)
    if v2w:
        max_length = t5_max_length(args.t5_max_length or derived["context_len"])
        cfg_path = os.path.join(t5_dir, "config.json")
        try:
            with open(cfg_path, "r", encoding="utf-8") as fh:
                t5_cfg = cosmos_t5_h5.config_from_hf(json.load(fh), T5_REPO.split("/")[1])
        except (OSError, ValueError, cosmos_h5.FormatError) as exc:
            raise ConversionError(f"{cfg_path}: {exc}") from exc
        t5_cfg["max_length"] = max_length
        if (max_length, t5_cfg["d_model"]) != (derived["context_len"], derived["context_dim"]):
            raise ConversionError(
                f"the T5 gives [{max_length}, {t5_cfg['d_model']}] embeddings (--t5-max-length, d_model of "
                f"{cfg_path}) but {name} takes [{derived['context_len']}, {derived['context_dim']}] "
                f"(context_len x context_dim of {ar_config})")
        print(f"note: T5 from {t5_dir}", file=sys.stderr)

    out = args.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConversionError(f"output {out} exists and is not a folder")
    existing = sorted(os.listdir(out)) if os.path.isdir(out) else []
    if existing and not (args.force or args.resume):
        raise ConversionError(f"output folder {out} is not empty ({', '.join(existing[:3])}"
                              f"{', ...' if len(existing) > 3 else ''}): pass --resume to keep its finished "
                              f"files or --force to convert everything again")

    # 2. the manifest goes first (the folder is incomplete until it is written again, last)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise ConversionError(f"cannot create the output folder {out}: {exc}") from exc
    manifest = os.path.join(out, MODEL_DIR_MANIFEST)
    if os.path.lexists(manifest):
        os.remove(manifest)
    ours = tuple(MODEL_DIR_FILES.values()) + (MODEL_DIR_MANIFEST,)
    for n in existing:  # temporary files of an interrupted (killed) run
        if n.startswith(tuple(f"{o}.tmp-" for o in ours)):
            print(f"note: removing {os.path.join(out, n)} (left by an interrupted run)", file=sys.stderr)
            os.remove(os.path.join(out, n))

    def ns(**kw):
        return argparse.Namespace(**kw)

    keep = args.dtype == "keep"
    jobs = [("ar", lambda p: convert_ar(ns(config=ar_config, checkpoint=ar_ckpt, out=p)),
             lambda p: h5_file_problem(p, "ar", ar_cfg, cosmos_h5.expected_tensors(ar_cfg))),
            ("tokenizer", lambda p: convert_tokenizer(ns(config=tok_config, encoder=encoder, decoder=decoder, out=p,
                                                         dtype=args.dtype)),
             lambda p: h5_file_problem(p, dv.MODEL_TYPE, tok_cfg,
                                       [(k, dv.stored_shape(s)) for k, s in
                                        dv.expected_tensors(tok_cfg, (dv.ENCODER, dv.DECODER))],
                                       {"has_encoder": 1, "has_decoder": 1}))]
    if v2w:
        jobs.append(("t5", lambda p: convert_t5(ns(checkpoint=t5_dir, spiece=os.path.join(t5_dir, "spiece.model"),
                                                   out=p, dtype="f32" if keep else args.dtype,
                                                   name=t5_cfg["name"], max_length=t5_cfg["max_length"])),
                     lambda p: h5_file_problem(p, "t5", t5_cfg, cosmos_t5_h5.expected_tensors(t5_cfg)
                                               + [(cosmos_t5_h5.SPIECE_DATASET, None)])))
    if dd:
        jobs.append(("diffusion_decoder",
                     lambda p: convert_diffusion_decoder(ns(config=dd["dd_config"], checkpoint=dd["dd_ckpt"], out=p)),
                     lambda p: h5_file_problem(p, dit.MODEL_TYPE, dd["dd_cfg"], dit.expected_tensors(dd["dd_cfg"]),
                                               {k: dd["dd_cfg"][k] for k in dit.INT_ATTRS})))
        jobs.append(("cv_tokenizer",
                     lambda p: convert_tokenizer(ns(config=dd["cv_config"], encoder=None, decoder=dd["cv_decoder"],
                                                    mean_std=dd["cv_mean_std"], out=p, dtype=args.dtype)),
                     lambda p: h5_file_problem(p, dv.CV_MODEL_TYPE, dd["cv_cfg"], dd["cv_expected"],
                                               {"has_encoder": 0, "has_decoder": 1})))
        if dd["context"] is not None:
            jobs.append(("dd_context", lambda p: write_context_file(p, dd["context"]),
                         lambda p: context_file_problem(p, dd["context"])))
    if guard:
        import cosmos_retinaface_h5 as rf
        import cosmos_siglip_h5 as sg

        jobs.append(("face_blur", lambda p: convert_face_blur(ns(config=guard["rf_config"], checkpoint=guard["pth"],
                                                                 out=p)),
                     lambda p: h5_file_problem(p, rf.MODEL_TYPE, guard["rf_cfg"], rf.expected_tensors(guard["rf_cfg"]))))
        jobs.append(("video_content_filter",
                     lambda p: convert_content_filter(ns(config=guard["sg_config"], siglip=guard["siglip"],
                                                         safety_filter=guard["safety_pt"], out=p)),
                     lambda p: h5_file_problem(p, sg.MODEL_TYPE, guard["sg_cfg"], sg.expected_tensors(guard["sg_cfg"]))))
        if guard["aegis"]:
            import cosmos_aegis
            import cosmos_llama_h5 as ll

            a = guard["aegis"]
            prompt = aegis_prompt(a)  # read before anything is written
            jobs.append(("aegis", lambda p: write_aegis(a, prompt, p),
                         lambda p: h5_file_problem(p, ll.MODEL_TYPE, a["cfg"], ll.expected_tensors(a["cfg"])
                                                   + [(ll.TOKENIZER_DATASET, None),
                                                      (cosmos_aegis.PROMPT_DATASET, None)])))
    parts = [part for part, _, _ in jobs]
    for part, fname in MODEL_DIR_FILES.items():
        if part not in parts and os.path.exists(os.path.join(out, fname)):
            print(f"note: {os.path.join(out, fname)} ({part}) is not part of this model directory now: it is left "
                  f"as it is and not named in the manifest (remove it to free the space)", file=sys.stderr)
    for part, convert, problem in jobs:
        path = os.path.join(out, MODEL_DIR_FILES[part])
        if args.resume and os.path.exists(path):
            why = problem(path)
            if why is None:
                print(f"resume: keeping {path}")
                continue
            print(f"note: {path} is not a finished {part} file of this model ({why}): converting it again",
                  file=sys.stderr)
        print(f"{part}: converting into {path}", flush=True)
        convert(path)

    # 3. the manifest, last and atomically: a folder with a manifest is complete
    entry = {"format": "cosmos-ar-model-dir", "format_version": 1, "name": name,
             "comment": f"tools/convert_checkpoint.py model-dir from {os.path.abspath(ckpt)}"}
    entry.update({part: MODEL_DIR_FILES[part] for part, _, _ in jobs})
    with cosmos_h5.atomic_output(manifest) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(entry, fh, indent=2, sort_keys=True)
            fh.write("\n")
    print(f"wrote {manifest}: {name} ({', '.join(MODEL_DIR_FILES[p] for p, _, _ in jobs)})")
    return 0


DD_HINTS = {
    "missing": "hint (missing): the checkpoint is truncated, or the config is not this model's (num_blocks, "
               "block_config)",
    "shape": "hint (shape): wrong config for this checkpoint? (model_channels, num_heads, adaln_lora_dim, "
             "crossattn_emb_channels, in/out_channels, patch sizes, token vocabulary/dim)",
    "unexpected": "hint (unexpected): not a key of the diffusion decoder's net (only net.*, logvar.* and "
                  "*_extra_state keys are known); a checkpoint of another model?",
    "dtype": "hint (dtype): weights must be floating point (bfloat16 in official checkpoints)",
}


def convert_diffusion_decoder(args):
    """Official diffusion decoder model.pt -> the diffusion decoder HDF5 file (docs/weights.md)."""
    import cosmos_dit_h5 as dit

    try:
        cfg = dit.load_config(args.config)
    except (OSError, cosmos_h5.FormatError) as exc:
        raise ConversionError(f"config {args.config}: {exc}") from exc
    expected = dit.expected_tensors(cfg)
    obj = load_checkpoint(args.checkpoint, args.out)
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise ConversionError(f"checkpoint is a {type(obj).__name__}, expected a state dict")
    state, origin, dropped = {}, {}, {}
    for key in list(obj.keys()):
        value = obj.pop(key)
        if not isinstance(key, str):
            raise ConversionError(f"checkpoint has a non-string key {key!r}")
        name = key[len("net."):] if key.startswith("net.") else key
        reason = dit.dropped_reason(name)
        if reason is not None:
            dropped.setdefault(reason, []).append(key)
            continue
        if name in state:
            raise ConversionError(f"key {name} appears twice (as {origin[name]!r} and {key!r})")
        state[name], origin[name] = value, key
    errors = check_keys(state, expected)
    if errors:
        raise ConversionError(format_errors(errors, args.checkpoint, args.config, DD_HINTS))
    for reason, keys in dropped.items():
        print(f"note: dropping {len(keys)} key(s) ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}): "
              f"{reason}", file=sys.stderr)
    write_bf16_weights(args.out, dit.DiTWeightsWriter, cfg, state, expected)
    return 0


def convert_face_blur(args):
    """Official Cosmos-1.0-Guardrail face_blur_filter/Resnet50_Final.pth -> the face blur file
    (tools/cosmos_retinaface_h5.py, docs/guardrail.md "Weight files")."""
    import cosmos_retinaface_h5 as rf

    try:
        n = rf.convert_retinaface(args.checkpoint, args.out, args.config)
    except (OSError, ValueError, cosmos_h5.FormatError) as exc:
        raise ConversionError(str(exc)) from exc
    print(f"wrote {args.out}: {n} tensors (RetinaFace, float32)")
    return 0


def convert_content_filter(args):
    """Official Cosmos-1.0-Guardrail video_content_safety_filter/ (SigLIP hub cache + safety_filter.pt)
    -> the content filter file (tools/cosmos_siglip_h5.py, docs/guardrail.md "Weight files")."""
    import cosmos_siglip_h5 as sg

    try:
        n = sg.convert_siglip(args.siglip, args.safety_filter, args.out, args.config)
    except (OSError, ValueError, cosmos_h5.FormatError) as exc:
        raise ConversionError(str(exc)) from exc
    print(f"wrote {args.out}: {n} tensors (SigLIP vision tower + safety classifier)")
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
    t5.add_argument("--max-length", type=int, default=512,
                    help="prompt length in tokens the file is made for: pad/truncate to it (default 512, the "
                         "official value; it must equal the AR model's context_len)")
    t5.set_defaults(func=convert_t5)
    tok = sub.add_parser("tokenizer", help="DV8x16x16 or CV8x8x8 encoder.jit / decoder.jit -> HDF5 (docs/weights.md)")
    tok.add_argument("--config", required=True, help="tokenizer config JSON (configs/models/*tokenizer*.json)")
    tok.add_argument("--encoder", help="official encoder.jit (TorchScript)")
    tok.add_argument("--decoder", help="official decoder.jit (TorchScript)")
    tok.add_argument("--mean-std", help="cv_tokenizer configs: the official mean_std.pt (latent mean and std)")
    tok.add_argument("--out", required=True, help="output .h5 file")
    tok.add_argument("--dtype", choices=("keep", "bf16", "f32"), default="keep",
                     help="weight storage: keep the stored dtype (default; f16/f64 become f32), or convert "
                          "every weight (never the wavelets buffer) to bf16 or f32")
    tok.set_defaults(func=convert_tokenizer)
    md = sub.add_parser("model-dir", help="the official checkpoints folder -> a model directory for "
                                          "`cosmos-ar generate --model-dir` (AR + tokenizer [+ T5] [+ diffusion "
                                          "decoder] + manifest)")
    md.add_argument("--checkpoint-dir", required=True,
                    help="the official checkpoints folder: <MODEL>/model.pt, Cosmos-1.0-Tokenizer-DV8x16x16/"
                         "{encoder,decoder}.jit and, for Video2World, google-t5/t5-11b (see --t5-dir)")
    md.add_argument("--model", required=True,
                    help=f"official model name = its folder: {', '.join(AR_MODELS)} (or 4B, 5B, 12B, 13B)")
    md.add_argument("--out", required=True, help="model directory to write (created if needed)")
    md.add_argument("--dtype", choices=("keep", "bf16", "f32"), default="keep",
                    help="storage of the tokenizer (DV and CV) and T5 weights: keep (default: tokenizers as stored, "
                         "T5 f32 as the official pipeline computes), or bf16 / f32 for all; the AR model and the "
                         "diffusion decoder are always bf16")
    md.add_argument("--t5-dir", help="the google-t5/t5-11b Hugging Face folder (config.json, spiece.model, "
                                     "weights) or its hub cache entry (models--google-t5--t5-11b); default: "
                                     "CHECKPOINT_DIR/models--google-t5--t5-11b (where the official pipeline "
                                     "caches it), CHECKPOINT_DIR/google-t5/t5-11b, then the default HF cache")
    md.add_argument("--t5-max-length", type=int,
                    help="T5 prompt length (default: the AR model's context_len, 512 for the official models)")
    md.add_argument("--resume", action="store_true",
                    help="keep component files already in OUT that match this model (attributes, config, "
                         "dataset names and shapes); convert the others")
    md.add_argument("--force", action="store_true", help="convert into a non-empty OUT, replacing its files")
    md.add_argument("--ar-config", help="AR config to use instead of the one --model names (tests, renamed or "
                                        "post-trained models)")
    md.add_argument("--tokenizer-config", help=f"tokenizer config (default configs/models/{TOKENIZER_CONFIG})")
    md.add_argument("--diffusion-decoder", choices=("auto", "yes", "no"), default="auto",
                    help=f"add the diffusion decoder the official pipeline uses by default (spec components.md 4): "
                         f"CHECKPOINT_DIR/{DD_DIR}/model.pt (+ aux_vars.pt for base models) and {CV_DIR}/"
                         f"{{decoder.jit, mean_std.pt}} -> dd.h5, cv.h5 (+ dd_context.h5). auto (default): when "
                         f"CHECKPOINT_DIR/{DD_DIR} exists; yes: required; no: leave it out (the DV decoder makes "
                         f"the video, spec 4.9)")
    md.add_argument("--dd-config", help=f"diffusion decoder config (default configs/models/{DD_CONFIG})")
    md.add_argument("--guardrail", choices=("auto", "yes", "no"), default="auto",
                    help=f"add the video guardrail (spec components.md 5.4, 5.5): CHECKPOINT_DIR/{GUARDRAIL_DIR}/"
                         f"{FACE_BLUR_PTH} -> face_blur.h5 and {CONTENT_FILTER_DIR}/ (safety_filter.pt + the "
                         f"SigLIP hub cache) -> video_content_filter.h5. auto (default): when CHECKPOINT_DIR/"
                         f"{GUARDRAIL_DIR} exists; yes: required; no: leave it out (generate then needs "
                         f"--disable-guardrail)")
    md.add_argument("--face-blur-config", help=f"face blur config (default configs/models/{FACE_BLUR_CONFIG})")
    md.add_argument("--aegis-config", help=f"Aegis language model config (default configs/models/{AEGIS_CONFIG})")
    md.add_argument("--cosmos-src", help="a checkout of NVIDIA/Cosmos: the Aegis moderation prompt is read from its "
                                         "cosmos1/models/guardrail/aegis/ (Video2World models with the guardrail)")
    md.add_argument("--aegis-prompt", help="the Aegis moderation prompt as an aegis_prompt JSON file instead")
    md.add_argument("--content-filter-config",
                    help=f"content filter config (default configs/models/{CONTENT_FILTER_CONFIG})")
    md.add_argument("--cv-config", help=f"CV8x8x8 tokenizer config (default configs/models/{CV_CONFIG})")
    md.set_defaults(func=convert_model_dir)
    dd = sub.add_parser("diffusion-decoder", help="Cosmos-1.0 diffusion decoder (7B DiT) model.pt -> HDF5 "
                                                  "(docs/weights.md \"Diffusion decoder files\")")
    dd.add_argument("--config", required=True,
                    help="diffusion decoder config JSON (configs/models/cosmos-1.0-diffusion-7b-decoder.json)")
    dd.add_argument("--checkpoint", required=True, help="official model.pt (keys net.*, logvar.*)")
    dd.add_argument("--out", required=True, help="output .h5 file")
    dd.set_defaults(func=convert_diffusion_decoder)
    fb = sub.add_parser("face-blur", help="Cosmos-1.0-Guardrail RetinaFace Resnet50_Final.pth -> HDF5 "
                                          "(docs/guardrail.md)")
    fb.add_argument("--config", default=os.path.join(CONFIG_DIR, FACE_BLUR_CONFIG),
                    help=f"RetinaFace config (default configs/models/{FACE_BLUR_CONFIG})")
    fb.add_argument("--checkpoint", required=True, help="official face_blur_filter/Resnet50_Final.pth")
    fb.add_argument("--out", required=True, help="output .h5 file")
    fb.set_defaults(func=convert_face_blur)
    cf = sub.add_parser("content-filter", help="Cosmos-1.0-Guardrail video content safety filter (SigLIP + "
                                               "safety_filter.pt) -> HDF5 (docs/guardrail.md)")
    cf.add_argument("--config", default=os.path.join(CONFIG_DIR, CONTENT_FILTER_CONFIG),
                    help=f"content filter config (default configs/models/{CONTENT_FILTER_CONFIG})")
    cf.add_argument("--siglip", required=True,
                    help="google/siglip-so400m-patch14-384: a .safetensors file, a model folder, or the hub cache "
                         "folder (the official video_content_safety_filter/)")
    cf.add_argument("--safety-filter", required=True, help="official video_content_safety_filter/safety_filter.pt")
    cf.add_argument("--out", required=True, help="output .h5 file")
    cf.set_defaults(func=convert_content_filter)
    ag = sub.add_parser("aegis", help="Cosmos-1.0-Guardrail aegis/ (LlamaGuard-7b + the Aegis LoRA) -> HDF5 "
                                      "(docs/guardrail.md)")
    ag.add_argument("--checkpoint", help="the official Cosmos-1.0-Guardrail/aegis/ folder (the two hub caches)")
    ag.add_argument("--aegis-base", help="meta-llama/LlamaGuard-7b: a model folder or hub cache entry "
                                         "(default: CHECKPOINT/models--meta-llama--LlamaGuard-7b)")
    ag.add_argument("--aegis-adapter", help="the Aegis PEFT adapter folder or hub cache entry (default: CHECKPOINT/"
                                            "models--nvidia--Aegis-AI-Content-Safety-LlamaGuard-Defensive-1.0)")
    ag.add_argument("--aegis-config", help=f"language model config (default configs/models/{AEGIS_CONFIG})")
    ag.add_argument("--cosmos-src", help="a checkout of NVIDIA/Cosmos (the moderation prompt's source)")
    ag.add_argument("--aegis-prompt", help="the moderation prompt as an aegis_prompt JSON file instead")
    ag.add_argument("--out", required=True, help="output .h5 file")
    ag.set_defaults(func=convert_aegis)
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
