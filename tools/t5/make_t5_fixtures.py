"""Generates the T5 golden fixtures (tests/data/t5-tiny.h5, tests/data/t5-tiny.golden.h5).

Reference: Hugging Face transformers T5EncoderModel + T5TokenizerFast (the official pipeline's
classes, spec components.md 3.1) with the tiny config configs/models/t5-tiny.json, random weights
rounded to bf16 (so the bf16 weight file is exact), and the test SentencePiece model
tests/data/t5-test-spiece.model. The weight file is made by tools/convert_checkpoint.py t5 from a
saved HF checkpoint (so the converter is exercised). Needs PyPI transformers, sentencepiece,
protobuf, safetensors and torch: run with the tools Python, not in CI (fixtures are committed).
"""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "tests/data")

# Golden prompts (encoder parity) and tokenizer-parity prompts (ids only).
GOLDEN = [
    "A robot arm picks up a red cube from the table and places it into a blue bowl.",
    "Café déjà vu: 23.5 degrees at 10:45, up 12% 🙂!",
    "x",
    " ".join(["The drone flies over the ocean at sunrise, waves crashing against the rocks below."] * 12),
    " ".join(["Numbers 0 1 2 3 4 5 6 7 8 9 10 100 1000 3.14159 and emoji 🚗🤖✨ Straße Größe."] * 40),
]
PARITY = GOLDEN + [
    "Hello, world!", "  leading and   multiple   spaces  ", "trailing space ", "Tabs\tand\nnew\nlines",
    "Über den Wolken; ¿Dónde está la estación? ¡Qué bien!", "ﬁ ligature, full-width ＡＢＣ１２３, ½ and ²",
    "Unknown scripts 日本語 текст עברית", "Quotes \"a\" 'b' (c) [d] {e} -- ... — – ‘’ “”",
    "1,000,000 and 2024-03-15 and 3.14e-5", "emoji only 🙂🙂🙂", "a" * 300, "robot " * 350,
    "CAPITALS AND lower case MiXeD", "e\u0301 combining accent vs é", "zero\u200bwidth space",
    "A camera pans across a city street at night; neon signs reflect on wet asphalt.",
]


def main():
    from transformers import T5Config, T5EncoderModel, T5TokenizerFast

    cfg = json.load(open(os.path.join(ROOT, "configs/models/t5-tiny.json")))
    spm_path = os.path.join(DATA, "t5-test-spiece.model")
    tmp = tempfile.mkdtemp()
    ckpt = os.path.join(tmp, "ckpt")
    os.makedirs(ckpt)
    with open(spm_path, "rb") as fh:
        open(os.path.join(ckpt, "spiece.model"), "wb").write(fh.read())
    tok = T5TokenizerFast.from_pretrained(ckpt)
    hf_cfg = T5Config(vocab_size=cfg["vocab_size"], d_model=cfg["d_model"], d_kv=cfg["d_kv"], d_ff=cfg["d_ff"],
                      num_layers=cfg["num_layers"], num_heads=cfg["num_heads"],
                      relative_attention_num_buckets=cfg["relative_attention_num_buckets"],
                      relative_attention_max_distance=cfg["relative_attention_max_distance"],
                      dropout_rate=0.0, layer_norm_epsilon=cfg["layer_norm_epsilon"], feed_forward_proj="relu",
                      is_encoder_decoder=False, use_cache=False)
    torch.manual_seed(1234)
    model = T5EncoderModel(hf_cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif "relative_attention_bias" in name:
                p.copy_(0.5 * torch.randn_like(p))
            p.copy_(p.to(torch.bfloat16).float())  # bf16-exact: the bf16 file holds the same values
    model.save_pretrained(ckpt)  # config.json + model.safetensors
    out_w = os.path.join(DATA, "t5-tiny.h5")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools/convert_checkpoint.py"), "t5", "--checkpoint", ckpt,
                    "--out", out_w, "--dtype", "bf16", "--name", "t5-tiny"], check=True)

    enc = tok(GOLDEN, truncation=True, padding="max_length", max_length=512, return_tensors="pt")
    with torch.no_grad():
        hid = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).last_hidden_state
    lens = enc.attention_mask.sum(1)
    rows = [hid[b, :lens[b]].numpy() for b in range(len(GOLDEN))]
    penc = tok(PARITY, truncation=True, padding="max_length", max_length=512)
    from transformers.models.t5.modeling_t5 import T5Attention
    rel = torch.arange(-600, 601)
    buckets = T5Attention._relative_position_bucket(rel, bidirectional=True, num_buckets=32, max_distance=128)
    with h5py.File(os.path.join(DATA, "t5-tiny.golden.h5"), "w") as f:
        f.attrs["generator"] = "tools/t5/make_t5_fixtures.py (transformers T5EncoderModel + T5TokenizerFast)"
        f.create_dataset("golden_prompts", data=np.frombuffer("\0".join(GOLDEN).encode() + b"\0", np.uint8))
        f.create_dataset("golden_ids", data=enc.input_ids.numpy().astype(np.int32))
        f.create_dataset("golden_lens", data=lens.numpy().astype(np.int32))
        f.create_dataset("golden_hidden", data=np.concatenate(rows).astype(np.float32))
        f.create_dataset("parity_prompts", data=np.frombuffer("\0".join(PARITY).encode() + b"\0", np.uint8))
        f.create_dataset("parity_ids", data=np.array(penc.input_ids, dtype=np.int32))
        f.create_dataset("bucket_rel", data=rel.numpy().astype(np.int32))
        f.create_dataset("bucket_val", data=buckets.numpy().astype(np.int32))
    print("golden lens", lens.tolist(), "parity lens", [sum(m) for m in penc.attention_mask])


if __name__ == "__main__":
    main()
