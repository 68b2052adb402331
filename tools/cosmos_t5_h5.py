"""The cosmos-ar T5 encoder weight file (docs/t5.md), shared by tools/convert_checkpoint.py t5 and
the T5 fixture generator (tools/t5/make_t5_fixtures.py).

One dataset per Hugging Face T5EncoderModel key (spec components.md 3.4; "encoder.embed_tokens.weight"
is stored once, as "shared.weight"), each float32 or bf16 (uint16 + attribute dtype="bfloat16");
the SentencePiece model as the uint8 dataset "spiece_model"; root attributes as the AR format
(cosmos_format, format_version) with model_type "t5" and the architecture as a JSON "config".
"""

import json

import numpy as np

import cosmos_h5

SPIECE_DATASET = "spiece_model"
CONFIG_KEYS = ("d_model", "d_kv", "num_heads", "d_ff", "num_layers", "vocab_size",
               "relative_attention_num_buckets", "relative_attention_max_distance")


def config_from_hf(hf, name):
    """Our T5 config dict from a Hugging Face config.json dict (encoder keys only)."""
    if hf.get("feed_forward_proj", "relu") != "relu" or hf.get("is_gated_act", False):
        raise cosmos_h5.FormatError("only T5 v1.0 (feed_forward_proj \"relu\", not gated) is supported")
    cfg = {"model_type": "t5", "name": name}
    for k in CONFIG_KEYS:
        if k == "relative_attention_max_distance":
            cfg[k] = int(hf.get(k, 128))
        elif k not in hf:
            raise cosmos_h5.FormatError(f"config.json lacks '{k}'")
        else:
            cfg[k] = int(hf[k])
    cfg["layer_norm_epsilon"] = float(hf.get("layer_norm_epsilon", 1e-6))
    cfg["feed_forward_proj"] = "relu"
    cfg["max_length"] = 512
    return cfg


def expected_tensors(cfg):
    """[(key, shape)] in file order, as core/model/t5_model.c cosmos_t5_weight_specs."""
    D, Inner, F = cfg["d_model"], cfg["num_heads"] * cfg["d_kv"], cfg["d_ff"]
    out = [("shared.weight", (cfg["vocab_size"], D)),
           ("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
            (cfg["relative_attention_num_buckets"], cfg["num_heads"]))]
    for i in range(cfg["num_layers"]):
        p = f"encoder.block.{i}.layer."
        out += [(p + "0.layer_norm.weight", (D,)),
                (p + "0.SelfAttention.q.weight", (Inner, D)),
                (p + "0.SelfAttention.k.weight", (Inner, D)),
                (p + "0.SelfAttention.v.weight", (Inner, D)),
                (p + "0.SelfAttention.o.weight", (D, Inner)),
                (p + "1.layer_norm.weight", (D,)),
                (p + "1.DenseReluDense.wi.weight", (F, D)),
                (p + "1.DenseReluDense.wo.weight", (D, F))]
    out.append(("encoder.final_layer_norm.weight", (D,)))
    return out


class T5WeightsWriter:
    """Writes one T5 encoder file: attributes, then add(key, float32 array), then the tokenizer."""

    def __init__(self, path, cfg, dtype="f32"):
        if dtype not in ("f32", "bf16"):
            raise ValueError(dtype)
        self.expected = dict(expected_tensors(cfg))
        self.dtype = dtype
        self.written = set()
        self.f = cosmos_h5.open_aligned(path, "w")
        attrs = {"cosmos_format": cosmos_h5.FORMAT_NAME, "format_version": np.int64(cosmos_h5.FORMAT_VERSION),
                 "model_type": "t5", "config": json.dumps(cfg)}
        for k in ("d_model", "num_layers", "num_heads", "d_kv", "d_ff", "vocab_size", "max_length"):
            attrs[k] = np.int64(cfg[k])
        for k, v in attrs.items():
            self.f.attrs[k] = v

    def add(self, key, arr):
        if key not in self.expected:
            raise cosmos_h5.FormatError(f"{key}: not a key of this model")
        if key in self.written:
            raise cosmos_h5.FormatError(f"{key}: written twice")
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if tuple(arr.shape) != tuple(self.expected[key]):
            raise cosmos_h5.FormatError(f"{key}: expected shape {list(self.expected[key])}, got {list(arr.shape)}")
        if self.dtype == "bf16":
            ds = self.f.create_dataset(key, data=cosmos_h5.f32_to_bf16_bits(arr), dtype="<u2", track_times=False)
            ds.attrs["dtype"] = "bfloat16"
        else:
            self.f.create_dataset(key, data=arr, dtype="<f4", track_times=False)
        self.written.add(key)

    def add_spiece(self, model_bytes):
        self.f.create_dataset(SPIECE_DATASET, data=np.frombuffer(model_bytes, dtype=np.uint8), dtype="u1",
                              track_times=False)

    def close(self, check=True):
        if self.f is None:
            return
        f, self.f = self.f, None
        has_spm = SPIECE_DATASET in f
        f.close()
        if check:
            missing = [k for k in self.expected if k not in self.written]
            if missing:
                raise cosmos_h5.FormatError(f"{len(missing)} keys were not written, first: {missing[0]}")
            if not has_spm:
                raise cosmos_h5.FormatError("the SentencePiece model was not written")
