"""The cosmos-ar diffusion-decoder weight file (docs/weights.md "Diffusion decoder files"; spec
components.md 4.4), shared by tools/convert_checkpoint.py `diffusion-decoder`, the fixture generator
tools/reference/make_dit_fixtures.py, the PyTorch reference tools/reference/dit_ref.py and the tests.

Layout: root attributes as the AR format (cosmos_format "cosmos-ar-weights", format_version 1) with
model_type "diffusion_decoder", the config as JSON (keys of configs/models/*diffusion*-decoder.json /
dd-tiny.json: the official DiffusionDecoderGeneralDIT argument names plus the sampling settings), and
the architecture numbers as int64 attributes (INT_ATTRS, named as the config keys). One dataset per
official state-dict key of `net.*`, "net." stripped, in PyTorch shape ([out, in] for Linear), bf16
stored as uint16 with the dataset attribute dtype="bfloat16", contiguous, 64-byte aligned.
Not stored: logvar.* (evaluated but unused by the official denoiser), the net.pos_embedder.* buffers
(RoPE tables are computed), TransformerEngine "*_extra_state" entries.
"""

import json

import numpy as np

import cosmos_h5

MODEL_TYPE = "diffusion_decoder"

# Every key of configs/models/cosmos-1.0-diffusion-7b-decoder.json / dd-tiny.json. Architecture keys are
# the official DiffusionDecoderGeneralDIT / GeneralDIT constructor arguments (spec 4.4), the rest are
# the official sampling settings (spec 4.2, 4.5, 4.6).
INT_KEYS = ("max_img_h", "max_img_w", "max_frames", "in_channels", "out_channels", "patch_spatial",
            "patch_temporal", "model_channels", "num_blocks", "num_heads", "crossattn_emb_channels",
            "adaln_lora_dim", "diffusion_decoder_token_condition_voc_size",
            "diffusion_decoder_token_condition_dim")
FLOAT_KEYS = ("mlp_ratio", "rope_h_extrapolation_ratio", "rope_w_extrapolation_ratio",
              "rope_t_extrapolation_ratio", "sigma_data", "guidance", "sigma_min", "sigma_max")
# key: the only value the reference and the engine implement (what the official 7B decoder uses)
FIXED_KEYS = {"concat_padding_mask": True, "use_cross_attn_mask": False, "pos_emb_cls": "rope3d",
              "affline_emb_norm": True, "use_adaln_lora": True, "extra_per_block_abs_pos_emb": False,
              "diffusion_decoder_condition_on_sigma": False, "diffusion_decoder_condition_on_token": True}
SAMPLING_INT_KEYS = ("num_steps", "overlap", "dd_train_num_video_frames", "fps", "height", "width")
OTHER_KEYS = ("model_type", "name", "block_config")
ALL_KEYS = INT_KEYS + FLOAT_KEYS + tuple(FIXED_KEYS) + SAMPLING_INT_KEYS + OTHER_KEYS

# int64 root attributes (for h5dump -A); each equals the config value of the same name
INT_ATTRS = ("model_channels", "num_blocks", "num_heads", "in_channels", "out_channels",
             "crossattn_emb_channels", "adaln_lora_dim", "diffusion_decoder_token_condition_voc_size",
             "diffusion_decoder_token_condition_dim")

BLOCK_TYPES = {"fa": "fa", "full_attn": "fa", "ca": "ca", "cross_attn": "ca", "mlp": "mlp", "ff": "mlp"}

# keys of an official model.pt that the format drops (with a note), after "net." is stripped
DROPPED_NOTE = {
    "logvar.": "the logvar head (FourierFeatures + Linear) is evaluated but unused (spec 4.5)",
    "pos_embedder.": "RoPE buffers are recomputed (spec 4.4 step 4)",
    "_extra_state": "TransformerEngine FP8 state",
}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def block_types(cfg):
    """["fa", "ca", "mlp"] for block_config "FA-CA-MLP" (official names, case-insensitive)."""
    out = []
    for part in str(cfg["block_config"]).split("-"):
        t = BLOCK_TYPES.get(part.strip().lower())
        if t is None:
            raise cosmos_h5.FormatError(f"block_config: unknown block type {part!r} (fa, ca, mlp)")
        out.append(t)
    return out


def validate_config(cfg, src="config"):
    """Raise cosmos_h5.FormatError naming the key and the problem; returns cfg."""
    E = cosmos_h5.FormatError
    if not isinstance(cfg, dict):
        raise E(f"{src}: a diffusion decoder config must be a JSON object")
    for key in cfg:
        if key not in ALL_KEYS:
            raise E(f"{src}: unknown key '{key}' in a diffusion decoder config")
    for key in INT_KEYS + FLOAT_KEYS + ("block_config",):
        if key not in cfg:
            raise E(f"{src}: required key '{key}' is missing")
    if cfg.get("model_type", MODEL_TYPE) != MODEL_TYPE:
        raise E(f"{src}: model_type must be \"{MODEL_TYPE}\"")
    for key in INT_KEYS + tuple(k for k in SAMPLING_INT_KEYS if k in cfg):
        if not _is_int(cfg[key]) or cfg[key] <= 0:
            raise E(f"{src}: '{key}' must be a positive integer")
    for key in FLOAT_KEYS:
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise E(f"{src}: '{key}' must be a positive number")
    for key, want in FIXED_KEYS.items():
        if key in cfg and cfg[key] != want:
            raise E(f"{src}: '{key}' must be {json.dumps(want)} (the only setting implemented: the official "
                    f"7B diffusion decoder's)")
    d, h = cfg["model_channels"], cfg["num_heads"]
    if d % h:
        raise E(f"{src}: model_channels {d} is not a multiple of num_heads {h}")
    hd = d // h
    if hd % 2 or hd // 6 * 2 <= 2 or (hd - 2 * (hd // 6 * 2)) <= 2:
        raise E(f"{src}: head dim {hd} too small for the 3-D RoPE split (dim_h = head_dim//6*2 > 2)")
    mlp = cfg["mlp_ratio"] * d
    if int(mlp) != mlp:
        raise E(f"{src}: mlp_ratio * model_channels must be an integer")
    block_types(cfg)
    if cfg["sigma_min"] >= cfg["sigma_max"]:
        raise E(f"{src}: sigma_min must be < sigma_max")
    return cfg


def load_config(path):
    return validate_config(cosmos_h5.read_json(path), path)


def derive(cfg):
    """Numbers derived from the config."""
    d = cfg["model_channels"]
    ps, pt = cfg["patch_spatial"], cfg["patch_temporal"]
    tok = cfg["diffusion_decoder_token_condition_dim"]
    # official build_patch_embed with condition_on_token, no condition_on_sigma, concat_padding_mask:
    # x (in_channels) + token embedding (token dim) + padding mask (1)
    embed_in = cfg["in_channels"] + tok + 1
    return {
        "head_dim": d // cfg["num_heads"],
        "mlp_hidden": int(cfg["mlp_ratio"] * d),
        "embed_in_channels": embed_in,
        "patch_in": embed_in * ps * ps * pt,
        "patch_out": ps * ps * pt * cfg["out_channels"],
        "block_types": block_types(cfg),
    }


def expected_tensors(cfg):
    """[(key, shape)] of the format, in the official state_dict order (module registration order:
    x_embedder, token_embedder, t_embedder, blocks, final_layer, affline_norm)."""
    dv = derive(cfg)
    d, lora, hd = cfg["model_channels"], cfg["adaln_lora_dim"], dv["head_dim"]
    ctx = cfg["crossattn_emb_channels"]
    out = [("x_embedder.proj.1.weight", (d, dv["patch_in"])),
           ("token_embedder.weight", (cfg["diffusion_decoder_token_condition_voc_size"],
                                      cfg["diffusion_decoder_token_condition_dim"])),
           ("t_embedder.1.linear_1.weight", (d, d)),
           ("t_embedder.1.linear_2.weight", (3 * d, d))]
    for i in range(cfg["num_blocks"]):
        for k, bt in enumerate(dv["block_types"]):
            p = f"blocks.block{i}.blocks.{k}."
            if bt in ("fa", "ca"):
                kv_in = d if bt == "fa" else ctx
                out += [(p + "block.attn.to_q.0.weight", (d, d)),
                        (p + "block.attn.to_q.1.weight", (hd,)),
                        (p + "block.attn.to_k.0.weight", (d, kv_in)),
                        (p + "block.attn.to_k.1.weight", (hd,)),
                        (p + "block.attn.to_v.0.weight", (d, kv_in)),
                        (p + "block.attn.to_out.0.weight", (d, d))]
            else:
                out += [(p + "block.layer1.weight", (dv["mlp_hidden"], d)),
                        (p + "block.layer2.weight", (d, dv["mlp_hidden"]))]
            out += [(p + "adaLN_modulation.1.weight", (lora, d)),
                    (p + "adaLN_modulation.2.weight", (3 * d, lora))]
    out += [("final_layer.linear.weight", (dv["patch_out"], d)),
            ("final_layer.adaLN_modulation.1.weight", (lora, d)),
            ("final_layer.adaLN_modulation.2.weight", (2 * d, lora)),
            ("affline_norm.weight", (d,))]
    return out


def is_norm_key(key):
    """RMSNorm weights (per-head q/k norms, affline_norm)."""
    return key == "affline_norm.weight" or key.endswith((".to_q.1.weight", ".to_k.1.weight"))


def dropped_reason(key):
    """Why a checkpoint key (prefix "net." already stripped, "logvar." kept) is dropped, or None."""
    if "_extra_state" in key:
        return DROPPED_NOTE["_extra_state"]
    for prefix in ("logvar.", "pos_embedder."):
        if key.startswith(prefix):
            return DROPPED_NOTE[prefix]
    return None


def n_params(cfg):
    return sum(int(np.prod(s)) for _, s in expected_tensors(cfg))


def root_attributes(cfg):
    attrs = [("cosmos_format", cosmos_h5.FORMAT_NAME),
             ("format_version", np.int64(cosmos_h5.FORMAT_VERSION)),
             ("model_type", MODEL_TYPE),
             ("config", json.dumps(cfg))]
    attrs += [(k, np.int64(cfg[k])) for k in INT_ATTRS]
    return attrs


class DiTWeightsWriter(cosmos_h5.WeightsWriter):
    """Writes one diffusion decoder file: attributes, then add(key, uint16 bf16 bits) per expected key;
    close() checks that every key was written. Use as a context manager."""

    what = "diffusion decoder"

    def __init__(self, path, cfg):
        validate_config(cfg)
        super().__init__(path, expected_tensors(cfg), root_attributes(cfg))


def read_dit_weights(path):
    """Strict reader: (cfg, {key: uint16 bf16 bits}). FormatError on any mismatch."""
    import h5py

    E = cosmos_h5.FormatError

    def s(v):
        return v.decode() if isinstance(v, bytes) else v

    with h5py.File(path, "r") as f:
        a = f.attrs
        if s(a.get("cosmos_format")) != cosmos_h5.FORMAT_NAME or int(a.get("format_version", -1)) != 1:
            raise E(f"{path}: not a cosmos-ar-weights version 1 file")
        if s(a.get("model_type")) != MODEL_TYPE:
            raise E(f"{path}: model_type is {s(a.get('model_type'))!r}, expected {MODEL_TYPE!r}")
        cfg = validate_config(json.loads(s(a["config"])), f"{path}: config")
        for k in INT_ATTRS:
            if k not in a or int(a[k]) != cfg[k]:
                raise E(f"{path}: attribute {k}={a.get(k)} disagrees with the config ({cfg[k]})")
        expected = dict(expected_tensors(cfg))
        extra = sorted(set(f.keys()) - set(expected))
        if extra:
            raise E(f"{path}: unexpected dataset {extra[0]} (file written for another config?)")
        out = {}
        for key, shape in expected.items():
            if key not in f:
                raise E(f"{path}: missing dataset {key}, expected shape {list(shape)}")
            ds = f[key]
            if tuple(ds.shape) != tuple(shape):
                raise E(f"{path}: dataset {key} has shape {list(ds.shape)}, expected {list(shape)}")
            if ds.dtype != np.uint16 or s(ds.attrs.get("dtype")) != "bfloat16":
                raise E(f"{path}: dataset {key} is {ds.dtype} with dtype attribute "
                        f"{s(ds.attrs.get('dtype'))!r}, expected uint16 with dtype='bfloat16'")
            out[key] = ds[()]
        return cfg, out
