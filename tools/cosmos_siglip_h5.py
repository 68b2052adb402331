"""The cosmos-ar video content-filter weight file (spec components.md 5.4): the SigLIP vision tower
(google/siglip-so400m-patch14-384) and the safety classifier of the official safety_filter.pt, in
one HDF5 file read by core/guardrail/siglip.c. Used by tools/convert_checkpoint.py (which wires
convert_siglip() in as a mode) and by tools/reference/make_siglip_fixtures.py.

Layout: root attributes as the AR format (cosmos_format, format_version) with model_type
"siglip_safety" and the config (configs/models/siglip-*.json) as JSON, plus hidden_size,
num_hidden_layers and num_classes as int64. One dataset per official key, in the official shape,
float32 (bf16 = uint16 + attribute dtype="bfloat16" is also read by the engine; `cosmos-ar init`
writes that):
- vision_model.*: the Hugging Face SiglipVisionModel keys (SiglipModel's vision half; the
  text_model.*, logit_scale, logit_bias and the position_ids buffer are dropped);
- network.layers.{0,3,6}.{weight,bias} (Linear) and network.layers.{1,4}.{weight,bias,
  running_mean,running_var} (BatchNorm1d): the classifier state dict (safety_filter.pt["model"])
  with num_batches_tracked dropped. The BatchNorms are kept as stored; the engine folds them into
  the preceding Linear when it loads the file.
"""

import glob
import os

import numpy as np

import cosmos_h5

MODEL_TYPE = "siglip_safety"
INT_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_channels",
            "image_size", "patch_size", "num_classes")
REQUIRED_KEYS = INT_KEYS + ("classifier_hidden_sizes", "class_names")
OPTIONAL_KEYS = ("model_type", "name", "layer_norm_eps", "hidden_act", "batch_norm_eps")
MAX_CLASSIFIER_HIDDEN = 4
MAX_CLASSES = 16
# SiglipModel keys that are not part of the vision tower's image features
DROPPED_SIGLIP = ("text_model.", "logit_scale", "logit_bias", "vision_model.embeddings.position_ids")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def validate_config(cfg, src="config"):
    """Same rules as core/guardrail/siglip.c cosmos_siglip_config_parse; returns cfg with defaults."""
    if not isinstance(cfg, dict):
        raise cosmos_h5.FormatError(f"{src}: a config must be a JSON object")
    for k in cfg:
        if k not in REQUIRED_KEYS + OPTIONAL_KEYS:
            raise cosmos_h5.FormatError(f"{src}: unknown key '{k}' in a SigLIP safety config")
    for k in REQUIRED_KEYS:
        if k not in cfg:
            raise cosmos_h5.FormatError(f"{src}: required key '{k}' is missing")
    if cfg.get("model_type", MODEL_TYPE) != MODEL_TYPE:
        raise cosmos_h5.FormatError(f"{src}: model_type must be \"{MODEL_TYPE}\"")
    for k in INT_KEYS:
        if not _is_int(cfg[k]) or cfg[k] <= 0:
            raise cosmos_h5.FormatError(f"{src}: '{k}' must be a positive integer")
    if cfg["num_channels"] != 3:
        raise cosmos_h5.FormatError(f"{src}: num_channels must be 3 (RGB frames)")
    if cfg["hidden_size"] % cfg["num_attention_heads"]:
        raise cosmos_h5.FormatError(f"{src}: hidden_size must be a multiple of num_attention_heads")
    if cfg["image_size"] < cfg["patch_size"]:  # a remainder is dropped by the stride-p conv (384 = 27*14 + 6)
        raise cosmos_h5.FormatError(f"{src}: image_size is smaller than patch_size")
    hs = cfg["classifier_hidden_sizes"]
    if not isinstance(hs, list) or not 1 <= len(hs) <= MAX_CLASSIFIER_HIDDEN or \
            not all(_is_int(v) and v > 0 for v in hs):
        raise cosmos_h5.FormatError(f"{src}: classifier_hidden_sizes must be 1 to {MAX_CLASSIFIER_HIDDEN} "
                                    f"positive integers")
    if cfg["num_classes"] < 2 or cfg["num_classes"] > MAX_CLASSES:
        raise cosmos_h5.FormatError(f"{src}: num_classes must be in [2, {MAX_CLASSES}]")
    names = cfg["class_names"]
    if not isinstance(names, list) or len(names) != cfg["num_classes"] or \
            not all(isinstance(n, str) and 0 < len(n) < 64 for n in names):
        raise cosmos_h5.FormatError(f"{src}: class_names must be num_classes strings of 1 to 63 bytes")
    if cfg.get("hidden_act", "gelu_pytorch_tanh") != "gelu_pytorch_tanh":
        raise cosmos_h5.FormatError(f"{src}: hidden_act must be \"gelu_pytorch_tanh\"")
    for k, dflt in (("layer_norm_eps", 1e-6), ("batch_norm_eps", 1e-5)):
        v = cfg.get(k, dflt)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
            raise cosmos_h5.FormatError(f"{src}: '{k}' must be a number in (0, 1)")
    return cfg


def load_config(path):
    try:
        return validate_config(cosmos_h5.read_json(path), path)
    except OSError as exc:
        raise cosmos_h5.FormatError(f"{path}: {exc}") from exc


def layer_norm_eps(cfg):
    return float(cfg.get("layer_norm_eps", 1e-6))


def batch_norm_eps(cfg):
    return float(cfg.get("batch_norm_eps", 1e-5))


def classifier_linear_indices(cfg):
    """Indices of the Linear layers in network.layers (Linear, BatchNorm1d, ReLU per hidden size)."""
    n = len(cfg["classifier_hidden_sizes"])
    return [3 * i for i in range(n + 1)]


def expected_tensors(cfg):
    """[(key, shape)] in file order, as core/guardrail/siglip.c siglip_weight_specs."""
    D, F, P, C = cfg["hidden_size"], cfg["intermediate_size"], cfg["patch_size"], cfg["num_channels"]
    n_patch = (cfg["image_size"] // P) ** 2
    out = [("vision_model.embeddings.patch_embedding.weight", (D, C, P, P)),
           ("vision_model.embeddings.patch_embedding.bias", (D,)),
           ("vision_model.embeddings.position_embedding.weight", (n_patch, D))]

    def mlp(p):
        return [(p + "fc1.weight", (F, D)), (p + "fc1.bias", (F,)), (p + "fc2.weight", (D, F)), (p + "fc2.bias", (D,))]

    for i in range(cfg["num_hidden_layers"]):
        p = f"vision_model.encoder.layers.{i}."
        out += [(p + "layer_norm1.weight", (D,)), (p + "layer_norm1.bias", (D,))]
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out += [(p + f"self_attn.{proj}.weight", (D, D)), (p + f"self_attn.{proj}.bias", (D,))]
        out += [(p + "layer_norm2.weight", (D,)), (p + "layer_norm2.bias", (D,))]
        out += mlp(p + "mlp.")
    out += [("vision_model.post_layernorm.weight", (D,)), ("vision_model.post_layernorm.bias", (D,)),
            ("vision_model.head.probe", (1, 1, D)),
            ("vision_model.head.attention.in_proj_weight", (3 * D, D)),
            ("vision_model.head.attention.in_proj_bias", (3 * D,)),
            ("vision_model.head.attention.out_proj.weight", (D, D)),
            ("vision_model.head.attention.out_proj.bias", (D,)),
            ("vision_model.head.layernorm.weight", (D,)), ("vision_model.head.layernorm.bias", (D,))]
    out += mlp("vision_model.head.mlp.")
    sizes = [D] + list(cfg["classifier_hidden_sizes"]) + [cfg["num_classes"]]
    for j, li in enumerate(classifier_linear_indices(cfg)):
        fin, fout = sizes[j], sizes[j + 1]
        out += [(f"network.layers.{li}.weight", (fout, fin)), (f"network.layers.{li}.bias", (fout,))]
        if j < len(sizes) - 2:
            for s in ("weight", "bias", "running_mean", "running_var"):
                out.append((f"network.layers.{li + 1}.{s}", (fout,)))
    return out


class SiglipWeightsWriter(cosmos_h5.WeightsWriter):
    """Writes one content-filter file: attributes, then add(key, float32 array) for every key."""

    what = "SigLIP safety model"

    def __init__(self, path, cfg):
        validate_config(cfg)
        super().__init__(path, expected_tensors(cfg), cosmos_h5.model_attributes(
            MODEL_TYPE, cfg, ("hidden_size", "num_hidden_layers", "num_classes")))

    add = cosmos_h5.WeightsWriter.add_f32


def read_siglip_weights(path):
    """Strict reader: (cfg, {key: float32 array in the official shape}). FormatError on mismatch."""
    return cosmos_h5.read_f32_weights(path, MODEL_TYPE, validate_config, expected_tensors)


# ----------------------------------------------------------------------------------------------
# reading the official files

def read_safetensors(path, keep=None):
    """{key: float32 numpy array} of a .safetensors file (cosmos_h5.SafetensorsFile), only the
    tensors whose key passes keep(key)."""
    f = cosmos_h5.SafetensorsFile(path)
    return {k: f.get(k) for k in f.keys() if keep is None or keep(k)}


def _to_numpy(t):
    import torch

    if isinstance(t, torch.Tensor):
        return t.detach().float().cpu().numpy() if t.is_floating_point() else t.cpu().numpy()
    return np.asarray(t)


def find_siglip_files(siglip_path):
    """The weight files of a SigLIP checkpoint: a .safetensors / .bin file, a Hugging Face model
    folder (model.safetensors, model-*.safetensors shards or pytorch_model*.bin), or a hub cache
    folder (the official checkpoint_dir: models--google--siglip-so400m-patch14-384/snapshots/<rev>/)."""
    if os.path.isfile(siglip_path):
        return [siglip_path]
    if not os.path.isdir(siglip_path):
        raise cosmos_h5.FormatError(f"SigLIP checkpoint {siglip_path} not found")
    for d in [siglip_path] + sorted(glob.glob(os.path.join(siglip_path, "models--google--siglip*", "snapshots",
                                                           "*"))) + sorted(glob.glob(os.path.join(siglip_path,
                                                                                                  "snapshots", "*"))):
        st = sorted(glob.glob(os.path.join(d, "*.safetensors")))
        if st:
            return st
        bins = sorted(glob.glob(os.path.join(d, "pytorch_model*.bin")))
        if bins:
            return bins
    raise cosmos_h5.FormatError(f"{siglip_path}: no *.safetensors or pytorch_model*.bin (also looked for a hub cache "
                                f"models--google--siglip*/snapshots/*/)")


def load_siglip_vision(siglip_path):
    """{vision_model.* key: float32 array} from a SiglipModel or SiglipVisionModel checkpoint."""
    state = {}
    for path in find_siglip_files(siglip_path):
        if path.endswith(".safetensors"):
            part = read_safetensors(path, keep=lambda k: not k.startswith(DROPPED_SIGLIP))
        else:
            part = cosmos_h5.torch_load(path)
        if not isinstance(part, dict):
            raise cosmos_h5.FormatError(f"{path}: not a state dict")
        for k, v in part.items():
            if k.startswith(DROPPED_SIGLIP):
                continue
            if not k.startswith("vision_model."):
                raise cosmos_h5.FormatError(f"{path}: unexpected tensor {k} (not a SigLIP vision/text key)")
            state[k] = np.asarray(_to_numpy(v), dtype=np.float32)
    return state


def load_classifier(safety_filter_pt):
    """{network.layers.* key: float32 array} of safety_filter.pt (a dict whose "model" is the state
    dict of the official VideoSafetyModel); num_batches_tracked dropped."""
    if not os.path.isfile(safety_filter_pt):
        raise cosmos_h5.FormatError(f"classifier {safety_filter_pt} not found")
    obj = cosmos_h5.torch_load(safety_filter_pt)
    if not isinstance(obj, dict) or "model" not in obj or not isinstance(obj["model"], dict):
        raise cosmos_h5.FormatError(f"{safety_filter_pt}: expected a dict with key \"model\" (the classifier state "
                                    f"dict), found {type(obj).__name__} with keys "
                                    f"{sorted(obj)[:5] if isinstance(obj, dict) else '-'}")
    out = {}
    for k, v in obj["model"].items():
        if k.endswith("num_batches_tracked"):
            continue
        if not k.startswith("network.layers."):
            raise cosmos_h5.FormatError(f"{safety_filter_pt}: unexpected key {k} (want network.layers.*)")
        out[k] = np.asarray(_to_numpy(v), dtype=np.float32)
    return out


def check_state(state, cfg, sources):
    """List of problems (missing, misshaped, unexpected keys) of state against cfg."""
    expected = dict(expected_tensors(cfg))
    errors = cosmos_h5.shape_errors(state, expected)
    for key in sorted(set(state) - set(expected)):
        errors.append(f"unexpected tensor {key} {list(state[key].shape)} (in {sources})")
    for key in state:
        if key.endswith("running_var") and key in expected and (state[key] < 0).any():
            errors.append(f"{key}: negative running variance")
    return errors


def convert_siglip(siglip_path, safety_filter_pt, out_path, config_path):
    """SigLIP checkpoint (see find_siglip_files) + safety_filter.pt -> our HDF5 file at out_path
    (written to a temporary name and renamed), checked against the config at config_path
    (configs/models/siglip-so400m-safety.json). Raises cosmos_h5.FormatError naming the problems."""
    cfg = load_config(config_path)
    state = load_siglip_vision(siglip_path)
    state.update(load_classifier(safety_filter_pt))
    errors = check_state(state, cfg, f"{siglip_path} + {safety_filter_pt}")
    if errors:
        raise cosmos_h5.FormatError(f"the checkpoint does not match {config_path}:\n  " + "\n  ".join(errors))
    expected = expected_tensors(cfg)
    with cosmos_h5.atomic_output(out_path) as tmp:
        with SiglipWeightsWriter(tmp, cfg) as w:
            for key, _ in expected:
                w.add(key, state[key])
    return len(expected)
