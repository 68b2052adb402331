"""Generates tests/data/t5-special.golden.h5: token ids of prompts that spell Hugging Face
T5TokenizerFast's added tokens (<pad>, </s>, <unk>, <extra_id_0> .. <extra_id_99>) literally, as the
official pipeline's tokenizer call makes them (spec components.md 3.1-3.2: truncation=True,
padding="max_length", max_length=512), with the test SentencePiece model
tests/data/t5-test-spiece.model. Left out: the same tokens spelled with characters the normaliser
maps to ASCII (full-width "\uff1c/s\uff1e"), which HF also matches, after normalisation (docs/t5.md).

Reference: transformers 4.45.0 (the version NVIDIA/Cosmos pins) with its tokenizers, sentencepiece
and protobuf, from PyPI; no torch needed. Run with that Python, not in CI (the fixture is committed):
    python -m venv /tmp/hf && /tmp/hf/bin/pip install transformers==4.45.0 sentencepiece protobuf h5py
    /tmp/hf/bin/python tools/t5/make_t5_special_fixtures.py
"""
import os
import random
import shutil
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "tests/data")

CURATED = [
    "</s>", "<pad>", "<unk>", "<extra_id_0>", "<extra_id_99>", "<extra_id_42>",
    # not added tokens: plain text
    "<extra_id_100>", "<extra_id_00>", "<extra_id_07>", "<EXTRA_ID_0>", "< /s>", "<pad", "pad>", "<extra_id_>",
    "<extra_id_5", "<s>", "\u2039/s\u203a",
    # placement and whitespace around them
    "A robot </s> picks up a cube", "a</s>b", "x <extra_id_0> y <extra_id_1> z", "<extra_id_3><extra_id_4>",
    "word<pad>word", "tab\t</s>\tnew\nline", "  </s>  ", "Caf\u00e9 </s> d\u00e9j\u00e0 vu", "emoji \U0001F642<extra_id_9>\U0001F642",
    "<<pad>>", "<</s>", "<extra_id_<extra_id_1>>", "</s></s></s>", "the <unk> word", "end with eos </s>",
    "<pad> starts it", "numbers 12<extra_id_12>34", "  leading  <unk>  and   trailing   ",
    # truncation with added tokens in the cut and in the kept part
    "</s> " * 600, "robot <extra_id_1> " * 300, "a" * 200 + "<extra_id_2>" + " b" * 400,
]

BASE = [
    "A robot arm picks up a red cube from the table and places it into a blue bowl.",
    "Caf\u00e9 d\u00e9j\u00e0 vu: 23.5 degrees at 10:45, up 12% \U0001F642!", "x", "Hello, world!",
    "  leading and   multiple   spaces  ", "Tabs\tand\nnew\nlines", "\ufb01 ligature, full-width \uff21\uff22\uff23",
    "Unknown scripts \u65e5\u672c\u8a9e \u0442\u0435\u043a\u0441\u0442", "Quotes \"a\" 'b' (c) [d] {e} -- ...",
    "CAPITALS AND lower case MiXeD", "A camera pans across a city street at night; neon signs reflect on wet asphalt.",
]
PIECES = ["<pad>", "</s>", "<unk>", "<extra_id_0>", "<extra_id_1>", "<extra_id_9>", "<extra_id_10>",
          "<extra_id_57>", "<extra_id_99>", "<extra_id_100>", "<extra_id_", "</s", "<pad", "<extra_id_07>"]


def random_prompts(n, seed=1):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = rng.choice(BASE)
        for _ in range(rng.randint(1, 4)):
            p = rng.randint(0, len(s))
            s = (s[:p] + rng.choice(["", " ", "  ", "\t", "\n"]) + rng.choice(PIECES) +
                 rng.choice(["", " ", "x", "\n"]) + s[p:])
        out.append(s)
    return out


def main():
    import tokenizers
    import transformers
    from transformers import T5TokenizerFast

    tmp = tempfile.mkdtemp()
    try:
        shutil.copy(os.path.join(DATA, "t5-test-spiece.model"), os.path.join(tmp, "spiece.model"))
        tok = T5TokenizerFast.from_pretrained(tmp)
    finally:
        shutil.rmtree(tmp)
    prompts = CURATED + random_prompts(200)
    enc = tok(prompts, truncation=True, padding="max_length", max_length=512)
    ids = np.array(enc.input_ids, dtype=np.int32)
    lens = np.array([sum(m) for m in enc.attention_mask], dtype=np.int32)
    with h5py.File(os.path.join(DATA, "t5-special.golden.h5"), "w") as f:
        f.attrs["generator"] = ("tools/t5/make_t5_special_fixtures.py (transformers %s, tokenizers %s, "
                                "T5TokenizerFast)" % (transformers.__version__, tokenizers.__version__))
        f.create_dataset("special_prompts", data=np.frombuffer("\0".join(prompts).encode() + b"\0", np.uint8))
        f.create_dataset("special_ids", data=ids, compression="gzip", compression_opts=9)
        f.create_dataset("special_lens", data=lens)
    print(len(prompts), "prompts; lens", lens.min(), "..", lens.max())


if __name__ == "__main__":
    main()
