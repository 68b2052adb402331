#!/usr/bin/env python3
"""Generate the Llama fixtures (core/guardrail/llama.h; spec components.md 5.3) in tests/data/ from
configs/models/llama-tiny.json:

- tests/data/llama-tiny.h5         random bf16 weights in our Llama format (tools/cosmos_llama_h5.py),
                                   no tokenizer blob (the test SentencePiece model alone is 245 KB);
- tests/data/llama-tiny.golden.h5  from tools/reference/llama_ref.py (f32 math on those weights):
    tf_ids     int32 [T]            a random token sequence (T = 24),
    tf_logits  f32 [T, V]           its teacher-forced logits from position 0;
    gen_prompt int32 [P]            a prompt, gen_max_new int32 [1] = 20,
    gen_tokens int32 [N]            its greedy continuation (N = 20: no EOS met);
    eos_prompt int32 [P2], eos_max_new int32 [1], eos_tokens int32 [N2]
                                    a prompt whose greedy continuation ends with eos_token_id (the
                                    EOS itself is not stored, as cosmos_llama_generate_greedy).

Weights: numpy default_rng seeded from the config name; norms 1 + 0.1 N, embedding N(0, 1), other
matrices N(0, 1/fan_in), then rounded to bf16. Every greedy step must have a top-1 / top-2 logit gap
of at least MIN_GAP (so the C engine's last-bit differences cannot flip a token); prompts are redrawn
otherwise. Single-threaded torch.

Usage: /usr/bin/python3 tools/reference/make_llama_fixtures.py [--out-dir tests/data] [--check]
(--check regenerates in a temporary folder and compares with the committed files: weights bit for
bit, logits within 1e-5 absolute, tokens exactly.) Exit 77 without torch/h5py.
"""

import os
import sys
import zlib

try:
    import h5py
    import numpy as np
    import torch
except ImportError as exc:  # the CTest wrapper treats 77 as "skipped"
    print(f"skipping: {exc}")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import cosmos_h5  # noqa: E402
import cosmos_llama_h5 as llh5  # noqa: E402
import llama_ref as ref  # noqa: E402
from fixture_check import fixture_main  # noqa: E402

CONFIG = os.path.join(REPO, "configs", "models", "llama-tiny.json")
SIZE_LIMIT = 500_000
TF_LEN, PROMPT_LEN, MAX_NEW = 24, 10, 20
MIN_GAP = 1e-3


def random_weights(cfg, rng):
    out = {}
    for i, (key, shape) in enumerate(llh5.expected_tensors(cfg)):
        if len(shape) == 1:
            x = 1.0 + 0.1 * rng.standard_normal(shape)
        elif i == 0:
            x = rng.standard_normal(shape)
        else:
            x = rng.standard_normal(shape) / np.sqrt(shape[1])
        out[key] = cosmos_h5.f32_to_bf16_bits(x.astype(np.float32))
    return out


def find_prompt(cfg, W, rng, want_eos, tries=400):
    """A random prompt whose greedy run has margins everywhere and ends (want_eos) or not in EOS."""
    V, eos = cfg["vocab_size"], cfg["eos_token_id"]
    for _ in range(tries):
        prompt = [int(t) for t in rng.integers(2, V, PROMPT_LEN)]
        toks, gaps = ref.greedy(cfg, W, prompt, MAX_NEW, with_margins=True)
        if min(gaps) < MIN_GAP:
            continue
        ended = len(toks) < MAX_NEW
        if ended == want_eos and (not want_eos or len(toks) >= 2):
            return prompt, toks
    raise RuntimeError(f"no prompt with want_eos={want_eos} found (eos id {eos})")


def make(out_dir):
    torch.set_num_threads(1)
    cfg = llh5.load_config(CONFIG)
    rng = np.random.default_rng(zlib.crc32(cfg["name"].encode()))
    bits = random_weights(cfg, rng)
    wpath = os.path.join(out_dir, "llama-tiny.h5")
    with cosmos_h5.atomic_output(wpath) as tmp:
        with llh5.LlamaWeightsWriter(tmp, cfg) as wr:
            for key, _ in llh5.expected_tensors(cfg):
                wr.add(key, bits[key])
    cfg, W = ref.load(wpath)
    V = cfg["vocab_size"]
    tf_ids = [int(t) for t in rng.integers(0, V, TF_LEN)]
    tf_logits = ref.forward(cfg, W, tf_ids).numpy().astype(np.float32)
    gen_prompt, gen_tokens = find_prompt(cfg, W, rng, want_eos=False)
    eos_prompt, eos_tokens = find_prompt(cfg, W, rng, want_eos=True)
    gpath = os.path.join(out_dir, "llama-tiny.golden.h5")
    with cosmos_h5.atomic_output(gpath) as tmp:
        with h5py.File(tmp, "w") as f:
            i32 = lambda v: np.asarray(v, dtype=np.int32)  # noqa: E731
            f.create_dataset("tf_ids", data=i32(tf_ids), track_times=False)
            f.create_dataset("tf_logits", data=tf_logits, track_times=False)
            f.create_dataset("gen_prompt", data=i32(gen_prompt), track_times=False)
            f.create_dataset("gen_max_new", data=i32([MAX_NEW]), track_times=False)
            f.create_dataset("gen_tokens", data=i32(gen_tokens), track_times=False)
            f.create_dataset("eos_prompt", data=i32(eos_prompt), track_times=False)
            f.create_dataset("eos_max_new", data=i32([MAX_NEW]), track_times=False)
            f.create_dataset("eos_tokens", data=i32(eos_tokens), track_times=False)
    print(f"greedy: {len(gen_tokens)} tokens without EOS; {len(eos_tokens)} tokens then EOS")
    return [wpath, gpath]


def golden_tolerance(key, ref_arr):
    return 1e-5 if key == "tf_logits" else None


def main(argv=None):
    return fixture_main(argv, "Llama", make, golden_tolerance,
                        "weights bit for bit, logits within 1e-5, tokens exactly", REPO, SIZE_LIMIT)


if __name__ == "__main__":
    sys.exit(main())
