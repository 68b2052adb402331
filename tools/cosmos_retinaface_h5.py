"""The cosmos-ar RetinaFace weight file (face-blur guardrail, spec components.md 5.5), shared by the
converter (convert_retinaface, wired into tools/convert_checkpoint.py), the fixture generator
(tools/reference/make_retinaface_fixtures.py) and the reference (tools/reference/retinaface_ref.py).

Format: root attributes as the AR format (cosmos_format, format_version) with model_type
"retinaface" and the config JSON (configs/models/retinaface-*.json keys, validated here as
core/guardrail/retinaface.c does); one float32 dataset per key of the official RF RetinaFace
state dict (optional "module." prefix stripped; BatchNorm weight/bias/running_mean/running_var
kept, num_batches_tracked dropped), in the official shapes, e.g. "body.conv1.weight" [64, 3, 7, 7],
"body.layer2.0.downsample.1.running_var" [512], "ssh1.conv7x7_3.0.weight" [64, 64, 3, 3],
"ClassHead.0.conv1x1.bias" [4]. The C loader folds BatchNorm into the convolutions.
"""


import numpy as np

import cosmos_h5

MODEL_TYPE = "retinaface"
ARCH_KEYS = ("stem_width", "base_width", "expansion", "blocks", "out_channel", "min_sizes")
DEFAULTS = {"steps": [8, 16, 32], "variances": [0.1, 0.2], "confidence_threshold": 0.7, "nms_threshold": 0.4,
            "top_k": 5000, "keep_top_k": 750, "min_face_size": 20, "pixelate_blocks": 5}
KNOWN = {"model_type", "name"} | set(ARCH_KEYS) | set(DEFAULTS)
BN_KEYS = ("weight", "bias", "running_mean", "running_var")
SSH_CONVS = ("conv3X3", "conv5X5_1", "conv5X5_2", "conv7X7_2", "conv7x7_3")


def _pos_int(cfg, key, src):
    v = cfg[key]
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise cosmos_h5.FormatError(f"{src}: '{key}' must be a positive integer")
    return v


def validate_config(cfg, src="config"):
    """Check a config dict (same rules as the C parser); returns it with the defaults filled in."""
    if not isinstance(cfg, dict):
        raise cosmos_h5.FormatError(f"{src}: a RetinaFace config must be a JSON object")
    if cfg.get("model_type") != MODEL_TYPE:
        raise cosmos_h5.FormatError(f"{src}: model_type must be \"{MODEL_TYPE}\"")
    unknown = sorted(set(cfg) - KNOWN)
    if unknown:
        raise cosmos_h5.FormatError(f"{src}: unknown key '{unknown[0]}' in a RetinaFace config")
    missing = [k for k in ARCH_KEYS if k not in cfg]
    if missing:
        raise cosmos_h5.FormatError(f"{src}: required key '{missing[0]}' is missing")
    out = dict(DEFAULTS)
    out.update(cfg)
    for k in ("stem_width", "base_width", "expansion", "out_channel", "top_k", "keep_top_k", "pixelate_blocks"):
        _pos_int(out, k, src)
    if out["out_channel"] % 4:
        raise cosmos_h5.FormatError(f"{src}: 'out_channel' must be a multiple of 4")
    b = out["blocks"]
    if not (isinstance(b, list) and len(b) == 4 and all(isinstance(x, int) and x >= 1 for x in b)):
        raise cosmos_h5.FormatError(f"{src}: 'blocks' must be a list of 4 positive integers")
    ms = out["min_sizes"]
    if not (isinstance(ms, list) and len(ms) == 3 and all(isinstance(r, list) and 1 <= len(r) <= 4 for r in ms)
            and len({len(r) for r in ms}) == 1 and all(isinstance(x, int) and x > 0 for r in ms for x in r)):
        raise cosmos_h5.FormatError(f"{src}: 'min_sizes' must be 3 lists of 1 to 4 positive sizes, equal lengths")
    if list(out["steps"]) != [8, 16, 32]:
        raise cosmos_h5.FormatError(f"{src}: 'steps' must be [8, 16, 32] (fixed by the architecture)")
    v = out["variances"]
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and x > 0 for x in v)):
        raise cosmos_h5.FormatError(f"{src}: 'variances' must be a list of 2 positive numbers")
    if not 0 <= out["confidence_threshold"] < 1 or not 0 < out["nms_threshold"] < 1:
        raise cosmos_h5.FormatError(f"{src}: thresholds must lie in [0, 1)")
    if out["keep_top_k"] > out["top_k"]:
        raise cosmos_h5.FormatError(f"{src}: 'keep_top_k' exceeds 'top_k'")
    return out


def load_config(path):
    return validate_config(cosmos_h5.read_json(path), path)


def num_anchors(cfg):
    return len(cfg["min_sizes"][0])


def layer_out(cfg, i):
    """Output channels of ResNet layer i+1 (i = 0..3)."""
    return (cfg["base_width"] << i) * cfg["expansion"]


def conv_table(cfg):
    """[(conv_prefix, bn_prefix or None, cout, cin, k, stride)] in state-dict order (= the C table)."""
    t = [("body.conv1", "body.bn1", cfg["stem_width"], 3, 7, 2)]
    inpl = cfg["stem_width"]
    for li in range(4):
        w, stride = cfg["base_width"] << li, 1 if li == 0 else 2
        out = w * cfg["expansion"]
        for bi in range(cfg["blocks"][li]):
            p = f"body.layer{li + 1}.{bi}."
            t.append((p + "conv1", p + "bn1", w, inpl, 1, 1))
            t.append((p + "conv2", p + "bn2", w, w, 3, stride if bi == 0 else 1))
            t.append((p + "conv3", p + "bn3", out, w, 1, 1))
            if bi == 0 and (stride != 1 or inpl != out):
                t.append((p + "downsample.0", p + "downsample.1", out, inpl, 1, stride))
            inpl = out
    oc = cfg["out_channel"]
    for i in range(1, 4):
        t.append((f"fpn.output{i}.0", f"fpn.output{i}.1", oc, layer_out(cfg, i), 1, 1))
    for i in range(1, 3):
        t.append((f"fpn.merge{i}.0", f"fpn.merge{i}.1", oc, oc, 3, 1))
    for s in range(1, 4):
        for j, name in enumerate(SSH_CONVS):
            t.append((f"ssh{s}.{name}.0", f"ssh{s}.{name}.1", oc // 2 if j == 0 else oc // 4,
                      oc if j <= 1 else oc // 4, 3, 1))
    a = num_anchors(cfg)
    for head, per in (("ClassHead", 2), ("BboxHead", 4), ("LandmarkHead", 10)):
        for i in range(3):
            t.append((f"{head}.{i}.conv1x1", None, a * per, oc, 1, 1))
    return t


def expected_tensors(cfg):
    """[(key, shape)] in file order, as cosmos_retinaface_weight_specs in C."""
    out = []
    for conv, bn, cout, cin, k, _ in conv_table(cfg):
        out.append((conv + ".weight", (cout, cin, k, k)))
        if bn:
            out += [(f"{bn}.{x}", (cout,)) for x in BN_KEYS]
        else:
            out.append((conv + ".bias", (cout,)))
    return out


class RetinaFaceWeightsWriter(cosmos_h5.WeightsWriter):
    """Writes one RetinaFace file: attributes, then add(key, float32 array) for every expected key."""

    what = "RetinaFace model"

    def __init__(self, path, cfg):
        cfg = validate_config(cfg)
        super().__init__(path, expected_tensors(cfg), cosmos_h5.model_attributes(MODEL_TYPE, cfg))

    add = cosmos_h5.WeightsWriter.add_f32


def read_retinaface_weights(path):
    """Strict reader: (cfg with defaults, {key: float32 array}). FormatError on any mismatch."""
    return cosmos_h5.read_f32_weights(path, MODEL_TYPE, validate_config, expected_tensors)


def state_dict_from_pth(pth_path):
    """The official checkpoint's tensors as {key: float32 numpy}: torch.load on CPU, a top-level
    "state_dict" entry unwrapped, "module." prefixes stripped, num_batches_tracked dropped."""
    sd = cosmos_h5.torch_load(pth_path)
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise cosmos_h5.FormatError(f"{pth_path}: not a state dict (got {type(sd).__name__})")
    out = {}
    for k, v in sd.items():
        key = k[len("module."):] if k.startswith("module.") else k
        if key.endswith("num_batches_tracked"):
            continue
        if not hasattr(v, "detach"):
            raise cosmos_h5.FormatError(f"{pth_path}: entry '{k}' is not a tensor")
        out[key] = v.detach().float().cpu().numpy()
    return out


def convert_retinaface(pth_path, out_path, config_path):
    """Official Resnet50_Final.pth -> our HDF5 file at out_path (written to a temporary name and
    renamed). The config (configs/models/retinaface-resnet50.json) fixes the expected keys and
    shapes; a missing, unexpected or misshaped key is a FormatError naming it. Returns the number
    of tensors written."""
    cfg = load_config(config_path)
    sd = state_dict_from_pth(pth_path)
    exp = expected_tensors(cfg)
    names = {k for k, _ in exp}
    missing = [k for k, _ in exp if k not in sd]
    if missing:
        raise cosmos_h5.FormatError(f"{pth_path}: {len(missing)} keys missing for {config_path}, "
                                    f"first: '{missing[0]}'")
    extra = sorted(k for k in sd if k not in names)
    if extra:
        raise cosmos_h5.FormatError(f"{pth_path}: {len(extra)} unexpected keys (not RetinaFace with this "
                                    f"config), first: '{extra[0]}'")
    for k, shape in exp:
        if tuple(sd[k].shape) != tuple(shape):
            raise cosmos_h5.FormatError(f"{pth_path}: '{k}' has shape {list(sd[k].shape)}, expected {list(shape)}")
        if not np.isfinite(sd[k]).all():
            raise cosmos_h5.FormatError(f"{pth_path}: '{k}' has non-finite values")
    with cosmos_h5.atomic_output(out_path) as tmp:
        with RetinaFaceWeightsWriter(tmp, cfg) as wr:
            for k, _ in exp:
                wr.add(k, sd[k])
    return len(exp)
