"""The cosmos-ar DV and CV tokenizer weight files (docs/weights.md "DV tokenizer files", "CV
tokenizer files"; spec components.md 2.1, 2.2, 2.4, 2.9, 4.7, Appendix A.1-A.3), shared by
tools/convert_checkpoint.py `tokenizer` and the tests. Mirrors core/model/dv_config.c (config rules)
and core/model/dv_weights.c (key list); the tests check both against each other and against the
PyTorch reference modules (tools/reference/dv_tokenizer_ref.py).

A CV file (model_type "cv_tokenizer", the continuous CV8x8x8 tokenizer of the diffusion decoder)
has the same layout with quant_conv / post_quant_conv on latent_channels instead of embedding_dim,
and may hold the latent statistics of mean_std.pt as float32 datasets mean_std.mean and
mean_std.std, each [latent_channels, N] (the official tensors viewed as (C, -1)).

Layout: root attributes as the AR format (cosmos_format, format_version) with model_type
"dv_tokenizer", the config as JSON, has_encoder / has_decoder (int64 0/1); one dataset per official
state-dict key (encoder part: encoder.*, quant_conv.*; decoder part: post_quant_conv.*, decoder.*),
bf16 (uint16 + attribute dtype="bfloat16") or float32; conv weights [Cout, Cin, kt, kh, kw] stored
flattened to [Cout, Cin*kt*kh*kw] (same bytes, row-major); plus decoder.unpatcher3d.wavelets [2]
(the decoder's Haar taps, kept as the checkpoint stores them, spec 2.4).
"""

import json
import math
import re

import numpy as np

import cosmos_h5

MODEL_TYPE = "dv_tokenizer"
CV_MODEL_TYPE = "cv_tokenizer"
MEAN_KEY, STD_KEY = "mean_std.mean", "mean_std.std"
# N written by `cosmos-ar init` (core/model/dv_weights.h COSMOS_CV_INIT_STATS_FRAMES)
CV_INIT_STATS_FRAMES = 16
WAVELETS_KEY = "decoder.unpatcher3d.wavelets"
ENCODER, DECODER = "encoder", "decoder"

COMMON_KEYS = ("in_channels", "channels", "channels_mult", "num_res_blocks", "attn_resolutions", "resolution",
               "patch_size", "z_channels", "spatial_compression", "temporal_compression")
REQUIRED_KEYS = COMMON_KEYS + ("embedding_dim", "levels")
CV_REQUIRED_KEYS = COMMON_KEYS + ("latent_channels",)
OPTIONAL_KEYS = ("model_type", "name", "out_channels", "dropout", "patch_method", "z_factor", "num_groups",
                 "legacy_mode", "pixel_chunk_duration", "height", "width")
CV_OPTIONAL_KEYS = OPTIONAL_KEYS + ("formulation",)
MAX_LEVELS = 8
MAX_FSQ_LEVELS = 16

# Buffers of the TorchScript archives that the format does not keep (spec 2.1, 2.9): the encoder's
# patcher (the official AR pipeline drops it and uses 1/sqrt(2), spec 2.4), the FSQ buffers of
# both files (recomputed from "levels"), and the decoder unpatcher's buffers except the taps.
DROPPED_PREFIXES = ("encoder.patcher3d.", "quantizer.", "inv_quant.quantizer.", "decoder.unpatcher3d.")


def _pow2(v):
    return isinstance(v, int) and v > 0 and v & (v - 1) == 0


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_cv(cfg):
    """True for a continuous (cv_tokenizer) config."""
    return cfg.get("model_type") == CV_MODEL_TYPE


def latent_channels(cfg):
    """Channels between quant_conv and post_quant_conv: embedding_dim (DV) or latent_channels (CV)."""
    return cfg["latent_channels"] if is_cv(cfg) else cfg["embedding_dim"]


def model_type(cfg):
    return CV_MODEL_TYPE if is_cv(cfg) else MODEL_TYPE


def validate_config(cfg, src="config"):
    """Raise cosmos_h5.FormatError naming the key and the problem (the rules of dv_config.c)."""
    if not isinstance(cfg, dict):
        raise cosmos_h5.FormatError(f"{src}: a DV tokenizer config must be a JSON object")
    if cfg.get("model_type", MODEL_TYPE) not in (MODEL_TYPE, CV_MODEL_TYPE):
        raise cosmos_h5.FormatError(f"{src}: model_type must be \"{MODEL_TYPE}\" or \"{CV_MODEL_TYPE}\"")
    cv = is_cv(cfg)
    required, optional = (CV_REQUIRED_KEYS, CV_OPTIONAL_KEYS) if cv else (REQUIRED_KEYS, OPTIONAL_KEYS)
    for key in cfg:
        if cv and key in ("levels", "embedding_dim"):
            raise cosmos_h5.FormatError(f"{src}: '{key}' is an FSQ key: a cv_tokenizer has a continuous latent "
                                        "of 'latent_channels' channels and no quantizer")
        if not cv and key in ("latent_channels", "formulation"):
            raise cosmos_h5.FormatError(f"{src}: '{key}' is a key of continuous tokenizer configs "
                                        f"(model_type \"{CV_MODEL_TYPE}\")")
        if key not in required and key not in optional:
            raise cosmos_h5.FormatError(f"{src}: unknown key '{key}' in a {'CV' if cv else 'DV'} tokenizer config")
    for key in required:
        if key not in cfg:
            raise cosmos_h5.FormatError(f"{src}: required key '{key}' is missing")
    for key in ("in_channels", "out_channels", "channels", "num_res_blocks", "resolution", "patch_size",
                "z_channels", "embedding_dim", "latent_channels", "spatial_compression", "temporal_compression",
                "pixel_chunk_duration", "height", "width"):
        if key in cfg and (not _is_int(cfg[key]) or cfg[key] <= 0):
            raise cosmos_h5.FormatError(f"{src}: '{key}' must be a positive integer")
    if cv and cfg.get("formulation", "AE") != "AE":
        raise cosmos_h5.FormatError(f"{src}: 'formulation' must be \"AE\" (CV8x8x8, spec 4.7)")
    if cv and cfg["temporal_compression"] == 4:
        raise cosmos_h5.FormatError(f"{src}: a cv_tokenizer with 'temporal_compression' 4 is not supported (the "
                                    "official continuous tokenizer then rewrites its decoder's channels_mult)")
    lists = [("channels_mult", 1, MAX_LEVELS, 1), ("attn_resolutions", 0, MAX_LEVELS, 1)]
    if not cv:
        lists.append(("levels", 1, MAX_FSQ_LEVELS, 2))
    for key, lo_n, hi_n, lo in lists:
        v = cfg[key]
        if not isinstance(v, list) or not lo_n <= len(v) <= hi_n or not all(_is_int(e) and e >= lo for e in v):
            raise cosmos_h5.FormatError(f"{src}: '{key}' must be a list of {lo_n} to {hi_n} integers >= {lo}")
    if cfg.get("patch_method", "haar") != "haar":
        raise cosmos_h5.FormatError(f"{src}: 'patch_method' must be \"haar\"")
    if cfg.get("legacy_mode", False) is not False:
        raise cosmos_h5.FormatError(f"{src}: 'legacy_mode' must be false")
    for key in ("num_groups", "z_factor"):
        if cfg.get(key, 1) != 1:
            raise cosmos_h5.FormatError(f"{src}: '{key}' must be 1")
    p = cfg["patch_size"]
    if not _pow2(p):
        raise cosmos_h5.FormatError(f"{src}: 'patch_size' {p} must be a power of 2")
    for key in ("spatial_compression", "temporal_compression"):
        if not _pow2(cfg[key]) or cfg[key] < p:
            raise cosmos_h5.FormatError(f"{src}: '{key}' {cfg[key]} must be a power of 2 >= patch_size {p}")
    if not cv and len(cfg["levels"]) != cfg["embedding_dim"]:
        raise cosmos_h5.FormatError(f"{src}: 'levels' has {len(cfg['levels'])} entries but 'embedding_dim' is "
                                    f"{cfg['embedding_dim']}")
    n = len(cfg["channels_mult"])
    n_sd, n_td = n_downs(cfg)
    if max(n_sd, n_td) > n - 1:
        raise cosmos_h5.FormatError(f"{src}: {n_sd} spatial / {n_td} temporal halvings need at least "
                                    f"{max(n_sd, n_td) + 1} levels in 'channels_mult'")
    ups = [up_flags(cfg, lv) for lv in range(1, n)]
    if sum(s for s, _ in ups) != n_sd or sum(t for _, t in ups) != n_td:
        raise cosmos_h5.FormatError(f"{src}: the decoder would not undo the encoder's compression "
                                    "(official non-legacy flag rule, spec 2.8)")
    if "pixel_chunk_duration" in cfg and (cfg["pixel_chunk_duration"] - 1) % cfg["temporal_compression"]:
        raise cosmos_h5.FormatError(f"{src}: 'pixel_chunk_duration' must be 1 + temporal_compression * k")
    for key in ("height", "width"):
        if key in cfg and cfg[key] % cfg["spatial_compression"]:
            raise cosmos_h5.FormatError(f"{src}: '{key}' must be a multiple of spatial_compression")
    return cfg


def load_config(path):
    return validate_config(cosmos_h5.read_json(path), path)


def n_downs(cfg):
    """(spatial, temporal) halvings: log2(compression) - log2(patch_size)."""
    p = int(math.log2(cfg["patch_size"]))
    return (int(math.log2(cfg["spatial_compression"])) - p, int(math.log2(cfg["temporal_compression"])) - p)


def down_flags(cfg, level):
    n_sd, n_td = n_downs(cfg)
    last = level >= len(cfg["channels_mult"]) - 1
    return (not last and level < n_sd, not last and level < n_td)


def up_flags(cfg, level):
    """(spatial, temporal) for decoder module up.{level}; non-legacy rule of spec 2.8."""
    n = len(cfg["channels_mult"])
    if level <= 0 or level >= n:
        return (False, False)
    n_su, n_tu = n_downs(cfg)
    r = n - 1 - level
    t = 0 < r < n_tu + 1
    return (t or (r < n_su and n_su > n_tu), t)


# ----------------------------------------------------------------------------------------------
# expected keys (state_dict order of the reference / official modules)


def _conv(out, prefix, cin, cout, k):
    out.append((f"{prefix}.conv3d.weight", (cout, cin) + tuple(k)))
    out.append((f"{prefix}.conv3d.bias", (cout,)))


def _norm(out, prefix, c):
    out += [(f"{prefix}.norm.weight", (c,)), (f"{prefix}.norm.bias", (c,))]


def _fact(out, prefix, cin, cout):
    _conv(out, prefix + ".0", cin, cout, (1, 3, 3))
    _conv(out, prefix + ".1", cout, cout, (3, 1, 1))


def _res(out, prefix, cin, cout):
    _norm(out, prefix + ".norm1", cin)
    _fact(out, prefix + ".conv1", cin, cout)
    _norm(out, prefix + ".norm2", cout)
    _fact(out, prefix + ".conv2", cout, cout)
    if cin != cout:
        _conv(out, prefix + ".nin_shortcut", cin, cout, (1, 1, 1))


def _attn_pair(out, prefix, c):
    for a in range(2):
        _norm(out, f"{prefix}.{a}.norm", c)
        for proj in ("q", "k", "v", "proj_out"):
            _conv(out, f"{prefix}.{a}.{proj}", c, c, (1, 1, 1))


def _mid(out, prefix, c):
    _res(out, prefix + ".mid.block_1", c, c)
    _attn_pair(out, prefix + ".mid.attn_1", c)
    _res(out, prefix + ".mid.block_2", c, c)


def encoder_tensors(cfg):
    """[(key, official shape)] of encoder.jit (encoder + quant_conv), spec Appendix A.1."""
    out = []
    ch, mult, nrb, p = cfg["channels"], cfg["channels_mult"], cfg["num_res_blocks"], cfg["patch_size"]
    _fact(out, "encoder.conv_in", cfg["in_channels"] * p ** 3, ch)
    cin, res = ch, cfg["resolution"] // p
    for lv, m in enumerate(mult):
        cout = ch * m
        for b in range(nrb):
            _res(out, f"encoder.down.{lv}.block.{b}", cin if b == 0 else cout, cout)
        cin = cout
        if res in cfg["attn_resolutions"]:
            for b in range(nrb):
                _attn_pair(out, f"encoder.down.{lv}.attn.{b}", cout)
        s, t = down_flags(cfg, lv)
        if s:
            _conv(out, f"encoder.down.{lv}.downsample.conv1", cin, cin, (1, 3, 3))
        if t:
            _conv(out, f"encoder.down.{lv}.downsample.conv2", cin, cin, (3, 1, 1))
        if s or t:
            _conv(out, f"encoder.down.{lv}.downsample.conv3", cin, cin, (1, 1, 1))
        if lv != len(mult) - 1:
            res //= 2
    _mid(out, "encoder", cin)
    _norm(out, "encoder.norm_out", cin)
    _fact(out, "encoder.conv_out", cin, cfg["z_channels"])
    _conv(out, "quant_conv", cfg["z_channels"], latent_channels(cfg), (1, 1, 1))
    return out


def decoder_tensors(cfg, with_wavelets=True):
    """[(key, official shape)] of decoder.jit (post_quant_conv + decoder), spec Appendix A.2, plus
    the wavelets buffer [2]."""
    out = []
    ch, mult, nrb, p = cfg["channels"], cfg["channels_mult"], cfg["num_res_blocks"], cfg["patch_size"]
    n = len(mult)
    level_in, level_res = [0] * n, [0] * n
    cin, res = ch * mult[-1], (cfg["resolution"] // p) // 2 ** (n - 1)
    for lv in reversed(range(n)):
        level_in[lv], level_res[lv] = cin, res
        cin = ch * mult[lv]
        if lv:
            res *= 2
    _conv(out, "post_quant_conv", latent_channels(cfg), cfg["z_channels"], (1, 1, 1))
    _fact(out, "decoder.conv_in", cfg["z_channels"], ch * mult[-1])
    _mid(out, "decoder", ch * mult[-1])
    for lv in range(n):
        cout = ch * mult[lv]
        for b in range(nrb + 1):
            _res(out, f"decoder.up.{lv}.block.{b}", level_in[lv] if b == 0 else cout, cout)
        if level_res[lv] in cfg["attn_resolutions"]:
            for b in range(nrb + 1):
                _attn_pair(out, f"decoder.up.{lv}.attn.{b}", cout)
        s, t = up_flags(cfg, lv)
        if t:
            _conv(out, f"decoder.up.{lv}.upsample.conv1", cout, cout, (3, 1, 1))
        if s:
            _conv(out, f"decoder.up.{lv}.upsample.conv2", cout, cout, (1, 3, 3))
        if s or t:
            _conv(out, f"decoder.up.{lv}.upsample.conv3", cout, cout, (1, 1, 1))
    _norm(out, "decoder.norm_out", ch * mult[0])
    _fact(out, "decoder.conv_out", ch * mult[0], cfg.get("out_channels", cfg["in_channels"]) * p ** 3)
    if with_wavelets:
        out.append((WAVELETS_KEY, (2,)))
    return out


def expected_tensors(cfg, parts):
    """[(key, official shape)] for parts, a subset of {"encoder", "decoder"}."""
    out = []
    if ENCODER in parts:
        out += encoder_tensors(cfg)
    if DECODER in parts:
        out += decoder_tensors(cfg)
    return out


def stored_shape(shape):
    """Shape in the file: conv weights (rank 5) flattened to [Cout, Cin*kt*kh*kw]."""
    shape = tuple(shape)
    return (shape[0], int(np.prod(shape[1:]))) if len(shape) == 5 else shape


_UNUSED_CT = re.compile(r"^(encoder\.down\.(\d+)\.downsample|decoder\.up\.(\d+)\.upsample)\.conv([123])\.conv3d\."
                        r"(weight|bias)$")


def is_unused_ct_conv(cfg, key):
    """True for a conv of a down/up-sampler whose flag is off: CT-built modules create conv1, conv2
    and conv3 unconditionally, the forward never calls them (spec 2.9, Appendix A.3 note)."""
    m = _UNUSED_CT.match(key)
    if not m:
        return False
    n = len(cfg["channels_mult"])
    conv = int(m.group(4))
    if m.group(2) is not None:
        lv = int(m.group(2))
        if lv >= n - 1:
            return False  # the last level has no downsample module at all
        s, t = down_flags(cfg, lv)
        used = {1: s, 2: t, 3: s or t}[conv]
    else:
        lv = int(m.group(3))
        if lv < 1 or lv >= n:
            return False  # up.0 has no upsample module
        s, t = up_flags(cfg, lv)
        used = {1: t, 2: s, 3: s or t}[conv]
    return not used


def is_dropped_buffer(key):
    """JIT-only buffers the format drops (the decoder's wavelets are kept)."""
    return key != WAVELETS_KEY and key.startswith(DROPPED_PREFIXES)


# ----------------------------------------------------------------------------------------------
# writer / reader


class DVWeightsWriter(cosmos_h5.WeightsWriter):
    """Writes one tokenizer file: attributes, then add(key, array) for every expected key.

    add() takes the official (unflattened) shape and a numpy array that is either float32 or a
    uint16 array of bf16 bit patterns (is_bf16=True). close() checks that every key was written.
    CV files: add_stats(mean, std) writes the latent statistics (optional).
    """

    what = "tokenizer"

    def __init__(self, path, cfg, parts):
        self.cfg = cfg
        attrs = [("cosmos_format", cosmos_h5.FORMAT_NAME), ("format_version", np.int64(cosmos_h5.FORMAT_VERSION)),
                 ("model_type", model_type(cfg)), ("config", json.dumps(cfg)),
                 ("has_encoder", np.int64(ENCODER in parts)), ("has_decoder", np.int64(DECODER in parts))]
        super().__init__(path, expected_tensors(cfg, parts), attrs)

    def add(self, key, arr, is_bf16):
        self._check_key(key)
        arr = np.ascontiguousarray(arr)
        if tuple(arr.shape) != tuple(self.expected[key]):
            raise cosmos_h5.FormatError(f"{key}: expected shape {list(self.expected[key])}, got {list(arr.shape)}")
        want = np.uint16 if is_bf16 else np.float32
        if arr.dtype != want:
            raise cosmos_h5.FormatError(f"{key}: expected {np.dtype(want).name} data, got {arr.dtype}")
        arr = arr.reshape(stored_shape(arr.shape))
        ds = self.f.create_dataset(key, data=arr, dtype="<u2" if is_bf16 else "<f4", track_times=False)
        if is_bf16:
            ds.attrs["dtype"] = "bfloat16"
        self.written.add(key)

    def add_stats(self, mean, std):
        """mean_std.pt of a CV tokenizer: two arrays of latent_channels * N values (any shape that
        views as (C, -1), as the official register_mean_std does), stored f32 [C, N]."""
        if not is_cv(self.cfg):
            raise cosmos_h5.FormatError("latent statistics belong to cv_tokenizer files")
        c = self.cfg["latent_channels"]
        arrs = []
        for name, a in (("mean", mean), ("std", std)):
            a = np.asarray(a, dtype=np.float32)
            if a.size == 0 or a.size % c:
                raise cosmos_h5.FormatError(f"mean_std {name}: {a.size} values (shape {list(a.shape)}) do not view "
                                            f"as [latent_channels={c}, N]")
            if not np.isfinite(a).all():
                raise cosmos_h5.FormatError(f"mean_std {name}: non-finite values")
            arrs.append(np.ascontiguousarray(a.reshape(c, -1)))
        if arrs[0].shape != arrs[1].shape:
            raise cosmos_h5.FormatError(f"mean_std: mean is {list(arrs[0].shape)} but std is {list(arrs[1].shape)}")
        for key, a in ((MEAN_KEY, arrs[0]), (STD_KEY, arrs[1])):
            self.f.create_dataset(key, data=a, dtype="<f4", track_times=False)
        return arrs[0].shape[1]


def read_dv_weights(path):
    """Strict reader: returns (cfg, parts, {key: float32 array in the official shape},
    {key: "bf16" | "f32"}). FormatError on any mismatch."""
    import h5py

    with h5py.File(path, "r") as f:
        a = f.attrs

        def s(v):
            return v.decode() if isinstance(v, bytes) else v

        if s(a.get("cosmos_format")) != cosmos_h5.FORMAT_NAME or int(a.get("format_version", -1)) != 1:
            raise cosmos_h5.FormatError(f"{path}: not a cosmos-ar-weights version 1 file")
        kind = s(a.get("model_type"))
        if kind not in (MODEL_TYPE, CV_MODEL_TYPE):
            raise cosmos_h5.FormatError(f"{path}: model_type is {kind!r}, expected {MODEL_TYPE!r} or "
                                        f"{CV_MODEL_TYPE!r}")
        cfg = validate_config(json.loads(s(a["config"])), f"{path}: config")
        if model_type(cfg) != kind:
            raise cosmos_h5.FormatError(f"{path}: model_type {kind!r} but a {model_type(cfg)} config")
        parts = {p for p, k in ((ENCODER, "has_encoder"), (DECODER, "has_decoder")) if int(a[k])}
        expected = dict(expected_tensors(cfg, parts))
        stats = [k for k in (MEAN_KEY, STD_KEY) if is_cv(cfg) and k in f]
        extra = sorted(set(f.keys()) - set(expected) - set(stats))
        if extra:
            raise cosmos_h5.FormatError(f"{path}: unexpected dataset {extra[0]}")
        out, dtypes = {}, {}
        for key, shape in expected.items():
            if key not in f:
                raise cosmos_h5.FormatError(f"{path}: missing dataset {key}")
            ds = f[key]
            if tuple(ds.shape) != stored_shape(shape):
                raise cosmos_h5.FormatError(f"{path}: {key} has shape {list(ds.shape)}, "
                                            f"expected {list(stored_shape(shape))}")
            tag = s(ds.attrs.get("dtype"))
            if ds.dtype == np.uint16 and tag == "bfloat16":
                out[key], dtypes[key] = cosmos_h5.bf16_bits_to_f32(ds[()]).reshape(shape), "bf16"
            elif ds.dtype == np.float32 and tag is None:
                out[key], dtypes[key] = ds[()].reshape(shape), "f32"
            else:
                raise cosmos_h5.FormatError(f"{path}: {key} is {ds.dtype} (dtype attribute {tag!r})")
        if stats:
            if len(stats) != 2:
                raise cosmos_h5.FormatError(f"{path}: {stats[0]} without its other half")
            for key in stats:
                ds = f[key]
                if ds.dtype != np.float32 or ds.ndim != 2 or ds.shape[0] != cfg["latent_channels"]:
                    raise cosmos_h5.FormatError(f"{path}: {key} is {ds.dtype} {list(ds.shape)}, expected float32 "
                                                f"[{cfg['latent_channels']}, N]")
                out[key], dtypes[key] = ds[()], "f32"
            if out[MEAN_KEY].shape != out[STD_KEY].shape:
                raise cosmos_h5.FormatError(f"{path}: {MEAN_KEY} and {STD_KEY} differ in shape")
        return cfg, parts, out, dtypes
