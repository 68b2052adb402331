"""Shared helpers for the cosmos-ar HDF5 weight format (docs/weights.md, format_version 1).

Used by tools/convert_checkpoint.py (official model.pt -> HDF5), tools/reference/make_fixtures.py
(random tiny models) and tools/reference/cosmos_ar_ref.py (reader), so that every writer produces
the same root attributes, dataset layout and alignment.

What lives here:
- config handling: load a configs/models/*.json file and derive the numbers the format stores
  (head_dim, input_vocab_size, max_seq_len, ...), spec ar-model.md sections 1.1, 1.2 and 4;
- expected_tensors(cfg): the exact key set and shapes, in a fixed order (docs/weights.md
  "Expected keys", spec section 8);
- bfloat16 <-> float32 bit conversion (round-to-nearest-even);
- ArWeightsWriter: opens a file with 64-byte alignment, writes the root attributes and one
  contiguous uint16 dataset per key with attribute dtype="bfloat16";
- read_ar_weights(): strict reader used by the reference.
"""

import contextlib
import inspect
import json
import os
import struct
import sys

import h5py
import numpy as np

FORMAT_NAME = "cosmos-ar-weights"
FORMAT_VERSION = 1
ALIGNMENT = 64
INT_ATTRS = ("dim", "n_layers", "n_heads", "n_kv_heads", "head_dim", "ffn_hidden_size",
             "vocab_size", "input_vocab_size", "context_dim", "max_seq_len")
NORM_SUFFIXES = ("attention_norm.weight", "ffn_norm.weight", "cross_attention_norm.weight",
                 "q_norm.weight", "k_norm.weight")


class FormatError(Exception):
    """A config, checkpoint or weight file does not match what the format expects."""


def roundup(x, multiple):
    """Round x up to a multiple of `multiple` (no rounding when multiple is None/0)."""
    if not multiple:
        return x
    return (x + multiple - 1) // multiple * multiple


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


def read_json(path):
    """The JSON of a config file (key order kept); FormatError naming the file when it is not JSON.
    Shared by the component formats' load_config (tokenizer, DiT, RetinaFace, SigLIP)."""
    with open(path, "r", encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path}: not valid JSON: {exc}") from exc


def load_config(path):
    """Read a model config JSON file (configs/models/*.json) into a dict, keeping key order."""
    cfg = read_json(path)
    if not isinstance(cfg, dict):
        raise FormatError(f"{path}: config must be a JSON object")
    derive(cfg)  # validates
    return cfg


def derive(cfg):
    """Numbers derived from a config (spec 1.1/1.2/4, docs/weights.md).

    Returns a dict with head_dim (dim // n_heads when null), input_vocab_size (vocab_size for
    video_to_video, roundup(vocab_size + 1, pad_to_multiple_of) for text_to_video), bov_id,
    max_seq_len (roundup(T*H*W + [1 if text_to_video], pad_to_multiple_of)), n_video_tokens,
    context_dim / context_len (0 when there is no cross-attention) and cross_every_k.
    """
    required = ("dim", "n_layers", "n_heads", "ffn_hidden_size", "vocab_size", "norm_eps",
                "rope_theta", "video_latent_shape", "training_type")
    missing = [k for k in required if k not in cfg]
    if missing:
        raise FormatError(f"config lacks required keys: {', '.join(missing)}")
    if cfg.get("norm_type", "rmsnorm") != "rmsnorm":
        raise FormatError(f"norm_type {cfg.get('norm_type')!r} unsupported (only rmsnorm)")
    if cfg.get("rope_dim", "3D") != "3D" or cfg.get("pytorch_rope_version", "v2") != "v2":
        raise FormatError("only rope_dim 3D with pytorch_rope_version v2 is supported")
    training_type = cfg["training_type"]
    if training_type not in ("video_to_video", "text_to_video"):
        raise FormatError(f"training_type {training_type!r} unsupported")
    dim, n_heads = int(cfg["dim"]), int(cfg["n_heads"])
    n_kv_heads = cfg.get("n_kv_heads")
    n_kv_heads = n_heads if n_kv_heads is None else int(n_kv_heads)
    head_dim = cfg.get("head_dim")
    head_dim = dim // n_heads if head_dim is None else int(head_dim)
    if n_heads % n_kv_heads != 0:
        raise FormatError(f"n_heads {n_heads} is not a multiple of n_kv_heads {n_kv_heads}")
    if head_dim % 2 != 0 or dim % 2 != 0:
        raise FormatError("head_dim and dim must be even")
    shape = [int(v) for v in cfg["video_latent_shape"]]
    if len(shape) != 3:
        raise FormatError("video_latent_shape must be [T, H, W]")
    t, h, w = shape
    pad = cfg.get("pad_to_multiple_of")
    t2v = training_type == "text_to_video"
    vocab = int(cfg["vocab_size"])
    cross = bool(cfg.get("insert_cross_attn", False))
    if cross and ("context_dim" not in cfg or "context_len" not in cfg):
        raise FormatError("insert_cross_attn needs context_dim and context_len")
    if cfg.get("apply_yarn", False):
        for k in ("yarn_scale", "yarn_beta_fast", "yarn_beta_slow", "original_latent_shape"):
            if k not in cfg:
                raise FormatError(f"apply_yarn needs {k}")
    return {
        "dim": dim,
        "n_layers": int(cfg["n_layers"]),
        "n_heads": n_heads,
        "n_kv_heads": n_kv_heads,
        "head_dim": head_dim,
        "ffn_hidden_size": int(cfg["ffn_hidden_size"]),
        "vocab_size": vocab,
        "input_vocab_size": roundup(vocab + 1, pad) if t2v else vocab,
        "bov_id": vocab,
        "text_to_video": t2v,
        "latent_shape": (t, h, w),
        "n_video_tokens": t * h * w,
        "max_seq_len": roundup(t * h * w + (1 if t2v else 0), pad),
        "cross_attn": cross,
        "cross_every_k": int(cfg.get("insert_cross_attn_every_k_layers", 1)) if cross else 0,
        "context_dim": int(cfg["context_dim"]) if cross else 0,
        "context_len": int(cfg["context_len"]) if cross else 0,
        "qk_norm": bool(cfg.get("use_qk_normalization", False)),
    }


def has_cross_attention(d, layer):
    """Whether layer `layer` has cross-attention (layer_id % every_k == 0)."""
    return d["cross_attn"] and layer % d["cross_every_k"] == 0


def expected_tensors(cfg):
    """Ordered list of (key, shape) the format holds for this config (docs/weights.md)."""
    d = derive(cfg)
    dim, hd = d["dim"], d["head_dim"]
    q_w, kv_w, ffn = d["n_heads"] * hd, d["n_kv_heads"] * hd, d["ffn_hidden_size"]
    out = [("tok_embeddings.weight", (d["input_vocab_size"], dim))]
    for i in range(d["n_layers"]):
        p = f"layers.{i}."
        out += [(p + "attention_norm.weight", (dim,)),
                (p + "attention.wq.weight", (q_w, dim)),
                (p + "attention.wk.weight", (kv_w, dim)),
                (p + "attention.wv.weight", (kv_w, dim)),
                (p + "attention.wo.weight", (dim, q_w))]
        if d["qk_norm"]:
            out += [(p + "attention.q_norm.weight", (hd,)), (p + "attention.k_norm.weight", (hd,))]
        if has_cross_attention(d, i):
            cd = d["context_dim"]
            out += [(p + "cross_attention_norm.weight", (dim,)),
                    (p + "cross_attention.wq.weight", (q_w, dim)),
                    (p + "cross_attention.wk.weight", (kv_w, cd)),
                    (p + "cross_attention.wv.weight", (kv_w, cd)),
                    (p + "cross_attention.wo.weight", (dim, q_w))]
            if d["qk_norm"]:
                out += [(p + "cross_attention.q_norm.weight", (hd,)),
                        (p + "cross_attention.k_norm.weight", (hd,))]
        out += [(p + "ffn_norm.weight", (dim,)),
                (p + "feed_forward.w1.weight", (ffn, dim)),
                (p + "feed_forward.w3.weight", (ffn, dim)),
                (p + "feed_forward.w2.weight", (dim, ffn))]
    out += [("norm.weight", (dim,)), ("output.weight", (d["vocab_size"], dim))]
    return out


def shape_errors(state, expected):
    """Problems of state (name -> array) against expected (name -> shape), in expected's order: a
    line per missing tensor and per tensor of another shape. Tensors beyond expected are the
    caller's to judge."""
    errors = []
    for key, shape in expected.items():
        if key not in state:
            errors.append(f"missing tensor {key} {list(shape)}")
        elif tuple(state[key].shape) != tuple(shape):
            errors.append(f"{key}: expected shape {list(shape)}, found {list(state[key].shape)}")
    return errors


def is_norm_key(key):
    """True for RMSNorm weight vectors (including the final norm.weight)."""
    return key == "norm.weight" or key.endswith(NORM_SUFFIXES)


# ----------------------------------------------------------------------------------------------
# bfloat16 bit patterns


def f32_to_bf16_bits(x):
    """float32 array -> uint16 bf16 bit patterns, round-to-nearest-even (NaN -> quiet NaN)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        rounded[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return rounded


def bf16_bits_to_f32(u16):
    """uint16 bf16 bit patterns -> float32 array (exact)."""
    u16 = np.ascontiguousarray(u16, dtype=np.uint16)
    return (u16.astype(np.uint32) << 16).view(np.float32)


def round_to_bf16(x):
    """float32 array -> float32 array holding the nearest bf16 values (RNE)."""
    return bf16_bits_to_f32(f32_to_bf16_bits(x))


# ----------------------------------------------------------------------------------------------
# writer / reader


def open_aligned(path, mode="w"):
    """Create an HDF5 file whose allocations are aligned to ALIGNMENT bytes (H5Pset_alignment)."""
    try:
        return h5py.File(path, mode, alignment_threshold=1, alignment_interval=ALIGNMENT)
    except TypeError:  # h5py < 3.5: no keyword, use a low-level file access property list
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_alignment(1, ALIGNMENT)
        flag = h5py.h5f.ACC_TRUNC if mode == "w" else h5py.h5f.ACC_EXCL
        fid = h5py.h5f.create(str(path).encode(), flag, fapl=fapl)
        return h5py.File(fid)


def root_attributes(cfg):
    """The root attributes of docs/weights.md for this config, as (name, value) pairs."""
    d = derive(cfg)
    attrs = [("cosmos_format", FORMAT_NAME),
             ("format_version", np.int64(FORMAT_VERSION)),
             ("model_type", "ar"),
             ("config", json.dumps(cfg))]
    attrs += [(k, np.int64(d[k])) for k in INT_ATTRS]
    return attrs


# safetensors without the safetensors package: an 8-byte little-endian header length, a JSON header
# {key: {dtype, shape, data_offsets}}, then raw little-endian data.
_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64, "I64": np.int64}


def read_safetensors_header(path):
    """(header dict without __metadata__, data offset) of a .safetensors file."""
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise FormatError(f"{path}: not a safetensors file (shorter than 8 bytes)")
        (n,) = struct.unpack("<Q", raw)
        if n > 100_000_000:
            raise FormatError(f"{path}: not a safetensors file (header length {n})")
        try:
            header = json.loads(fh.read(n))
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path}: bad safetensors header: {exc}") from exc
    header.pop("__metadata__", None)
    return header, 8 + n


class SafetensorsFile:
    """Lazy numpy reader of one .safetensors file: get(key) -> float32 array."""

    def __init__(self, path):
        self.path = path
        self.header, self.offset = read_safetensors_header(path)
        self.size = os.path.getsize(path)

    def keys(self):
        return list(self.header)

    def shape(self, key):
        return tuple(self.header[key]["shape"])

    def get(self, key):
        e = self.header[key]
        if e["dtype"] not in _ST_DTYPES:
            raise FormatError(f"{self.path}: tensor {key} has unsupported dtype {e['dtype']}")
        b0, b1 = e["data_offsets"]
        dt = np.dtype(_ST_DTYPES[e["dtype"]]).newbyteorder("<")
        count = int(np.prod(e["shape"], dtype=np.int64))
        if self.offset + b1 > self.size or b1 - b0 != count * dt.itemsize:
            raise FormatError(f"{self.path}: tensor {key} lies outside the file or has the wrong byte count")
        arr = np.fromfile(self.path, dtype=dt, count=count, offset=self.offset + b0).reshape(e["shape"])
        if e["dtype"] == "BF16":
            return bf16_bits_to_f32(arr).reshape(e["shape"])
        return arr.astype(np.float32)


def write_safetensors(path, tensors, dtype="F32"):
    """A .safetensors file of float arrays stored as F32 or BF16 (test fixtures: fake checkpoints)."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for k, v in tensors.items():
        b = (f32_to_bf16_bits(np.asarray(v, np.float32)) if dtype == "BF16" else np.asarray(v, "<f4")).tobytes()
        header[k] = {"dtype": dtype, "shape": list(np.shape(v)), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class WeightsWriter:
    """Base of the weight-file writers (AR, DiT, tokenizer): opens the file with 64-byte alignment,
    writes the root attributes, then one dataset per expected key via add(); close() checks that
    exactly the expected keys were written. Use as a context manager. `what` names the file's
    model in messages."""

    what = "model"

    def __init__(self, path, expected, attrs):
        self.path = path
        self.expected = dict(expected)
        self.written = set()
        self.f = open_aligned(path, "w")
        for name, value in attrs:
            self.f.attrs[name] = value

    def _check_key(self, key):
        if key not in self.expected:
            raise FormatError(f"{key}: not a key of this {self.what}")
        if key in self.written:
            raise FormatError(f"{key}: written twice")

    def add(self, key, bits):
        """Write dataset `key` from a uint16 array of bf16 bit patterns with the expected shape."""
        self._check_key(key)
        bits = np.ascontiguousarray(bits)
        if bits.dtype != np.uint16:
            raise FormatError(f"{key}: expected uint16 bf16 bits, got {bits.dtype}")
        if tuple(bits.shape) != tuple(self.expected[key]):
            raise FormatError(f"{key}: expected shape {list(self.expected[key])}, "
                              f"got {list(bits.shape)}")
        ds = self.f.create_dataset(key, data=bits, dtype="<u2", track_times=False)
        ds.attrs["dtype"] = "bfloat16"
        self.written.add(key)

    def add_f32(self, key, arr):
        """Write dataset `key` as float32 (formats stored in f32: RetinaFace, SigLIP): expected shape,
        finite values."""
        self._check_key(key)
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if tuple(arr.shape) != tuple(self.expected[key]):
            raise FormatError(f"{key}: expected shape {list(self.expected[key])}, got {list(arr.shape)}")
        if not np.isfinite(arr).all():
            raise FormatError(f"{key}: non-finite values")
        self.f.create_dataset(key, data=arr, dtype="<f4", track_times=False)
        self.written.add(key)

    def close(self, check=True):
        if self.f is None:
            return
        f, self.f = self.f, None
        f.close()
        if check:
            missing = [k for k in self.expected if k not in self.written]
            if missing:
                raise FormatError(f"{len(missing)} keys were not written, first: {missing[0]}")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(check=exc_type is None)
        return False


def model_attributes(model_type, cfg, int_keys=()):
    """Root attributes of a component file (format, model_type, the config as JSON, and the config's
    int_keys as int64 attributes), as (name, value) pairs."""
    return ([("cosmos_format", FORMAT_NAME), ("format_version", np.int64(FORMAT_VERSION)),
             ("model_type", model_type), ("config", json.dumps(cfg))]
            + [(k, np.int64(cfg[k])) for k in int_keys])


def read_f32_weights(path, model_type, validate_config, expected_tensors, extra=()):
    """Strict reader of a component file (model_type, a config validate_config accepts, exactly the
    datasets expected_tensors(cfg) names with their shapes, plus the optional datasets in `extra`,
    not read; float32 or bf16 stored): (cfg, {key: float32 array}). FormatError naming the file and
    the dataset."""
    import h5py

    def s(v):
        return v.decode() if isinstance(v, bytes) else v

    with h5py.File(path, "r") as f:
        a = f.attrs
        if s(a.get("cosmos_format")) != FORMAT_NAME or int(a.get("format_version", -1)) != FORMAT_VERSION:
            raise FormatError(f"{path}: not a cosmos-ar-weights version {FORMAT_VERSION} file")
        if s(a.get("model_type")) != model_type:
            raise FormatError(f"{path}: model_type is {s(a.get('model_type'))!r}, want {model_type!r}")
        cfg = validate_config(json.loads(s(a["config"])), f"{path} (config attribute)")
        expected = dict(expected_tensors(cfg))
        unknown = sorted(set(f.keys()) - set(expected) - set(extra))
        if unknown:
            raise FormatError(f"{path}: unexpected dataset {unknown[0]}")
        out = {}
        for key, shape in expected.items():
            if key not in f:
                raise FormatError(f"{path}: missing dataset {key} {list(shape)}")
            ds = f[key]
            if tuple(ds.shape) != tuple(shape):
                raise FormatError(f"{path}: dataset {key} has shape {list(ds.shape)}, want {list(shape)}")
            x = ds[()]
            if s(ds.attrs.get("dtype")) == "bfloat16":
                x = bf16_bits_to_f32(x)
            out[key] = np.asarray(x, dtype=np.float32)
        return cfg, out


class ArWeightsWriter(WeightsWriter):
    """Writes one AR model: root attributes first, then bf16 datasets in any order via add()."""

    def __init__(self, path, cfg):
        super().__init__(path, expected_tensors(cfg), root_attributes(cfg))


def read_ar_weights(path):
    """Strict reader: returns (cfg, {key: uint16 bits array}).

    Fails (FormatError) on a wrong format tag, attribute mismatch, missing/extra/misshaped
    dataset, or a dataset that is not uint16 with attribute dtype="bfloat16".
    """
    with h5py.File(path, "r") as f:
        a = f.attrs
        fmt = a.get("cosmos_format")
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt != FORMAT_NAME:
            raise FormatError(f"{path}: cosmos_format is {fmt!r}, expected {FORMAT_NAME!r}")
        if int(a.get("format_version", -1)) != FORMAT_VERSION:
            raise FormatError(f"{path}: unsupported format_version {a.get('format_version')}")
        cfg_text = a["config"]
        cfg = json.loads(cfg_text.decode() if isinstance(cfg_text, bytes) else cfg_text)
        d = derive(cfg)
        for k in INT_ATTRS:
            if k in a and int(a[k]) != d[k]:
                raise FormatError(f"{path}: attribute {k}={int(a[k])} disagrees with config ({d[k]})")
        expected = dict(expected_tensors(cfg))
        present = set(f.keys())
        extra = sorted(present - set(expected))
        if extra:
            raise FormatError(f"{path}: unexpected dataset {extra[0]} "
                              f"(hint: file written for another config?)")
        out = {}
        for key, shape in expected.items():
            if key not in f:
                raise FormatError(f"{path}: missing dataset {key}, expected shape {list(shape)} "
                                  f"(hint: truncated conversion or wrong config?)")
            ds = f[key]
            if tuple(ds.shape) != tuple(shape):
                raise FormatError(f"{path}: dataset {key} has shape {list(ds.shape)}, "
                                  f"expected {list(shape)} (hint: wrong config?)")
            tag = ds.attrs.get("dtype")
            tag = tag.decode() if isinstance(tag, bytes) else tag
            if ds.dtype != np.uint16 or tag != "bfloat16":
                raise FormatError(f"{path}: dataset {key} is {ds.dtype} with dtype attribute "
                                  f"{tag!r}, expected uint16 with dtype='bfloat16'")
            out[key] = ds[()]
        return cfg, out


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary name next to `path`; on success rename it to `path`, on any failure
    (exception or interrupt) delete it, so a half-written output never appears under `path`."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
