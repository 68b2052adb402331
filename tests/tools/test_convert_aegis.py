#!/usr/bin/env python3
"""Tests for tools/convert_checkpoint.py `aegis` and tools/cosmos_aegis.py (spec components.md 5.3;
docs/guardrail.md "Aegis").

The moderation prompt is NVIDIA's text and never part of this repository, so the extraction is
tested on a made-up source tree with the official layout: cosmos1/models/guardrail/aegis/
categories.py (module-level dicts with category / blocked_reason / instruction strings, and
UNSAFE_CATEGORIES listing them) and aegis.py (class Aegis, get_moderation_prompt building an
f-string around the joined instructions with the user prompt in the middle, a generate(...,
max_new_tokens=N) call). Checked: prefix / suffix / categories / max_new_tokens; a prompt that
contains braces or the marker-like text comes out unchanged; missing UNSAFE_CATEGORIES, a missing
function, a category without its strings, a function that drops the user prompt: errors naming them.

Then the `aegis` mode end to end: a fake Cosmos-1.0-Guardrail/aegis/ (hub caches of a base model made
from `cosmos-ar init` of configs/models/aegis-tiny.json, with its tokenizer, and of a LoRA adapter
with zero B) converted with --cosmos-src gives the base weights bit for bit, the tokenizer and the
extracted prompt; `cosmos-ar info` loads it; a missing adapter, a missing prompt source and a missing
tokenizer exit 2 naming the path or option, leaving no output.

Plain script: /usr/bin/python3 tests/tools/test_convert_aegis.py COSMOS_AR
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cosmos_aegis  # noqa: E402
import cosmos_h5  # noqa: E402
from harness import check, summary  # noqa: E402
from test_convert_model_dir import write_aegis_folder  # noqa: E402  (the fake hub caches)

CONVERTER = os.path.join(REPO, "tools", "convert_checkpoint.py")
AEGIS_TINY = os.path.join(REPO, "configs", "models", "aegis-tiny.json")
LLAMA_CONFIG = os.path.join(REPO, "configs", "models", "llama-tiny.json")

CATEGORIES_PY = '''
"""made-up categories with the official layout"""

FIRE = {
    "category": "fire",
    "blocked_reason": """Blocked: fire.""",
    "instruction": """O1: Fire.
Should not
- Light {things}.
""",
}

WATER = {
    "category": "water",
    "blocked_reason": "Blocked: water.",
    "instruction": """O2: Water.
- Flood "rooms".
""",
}

UNSAFE_CATEGORIES = [FIRE, WATER]
'''

AEGIS_PY = '''
import torch  # never imported by the extraction
from somewhere import UNSAFE_CATEGORIES


class Aegis(object):
    def __init__(self):
        raise RuntimeError("the extraction must not build the model")

    def get_moderation_prompt(self, user_prompt: str) -> str:
        full_prompt = f"""[INST] Task: made-up task.

        <BEGIN>
        {"".join([f"{category['instruction']}" for category in UNSAFE_CATEGORIES])}
        <END>

        """
        full_prompt += f"User: {user_prompt}\\n\\n"
        full_prompt += """<AFTER>
        answer. [/INST]"""
        return full_prompt

    def filter(self, prompt):
        return self.model.generate(**prompt, max_new_tokens=77, pad_token_id=2)
'''


def write_source(root, categories=CATEGORIES_PY, aegis=AEGIS_PY):
    folder = os.path.join(root, "cosmos1", "models", "guardrail", "aegis")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "categories.py"), "w") as fh:
        fh.write(categories)
    with open(os.path.join(folder, "aegis.py"), "w") as fh:
        fh.write(aegis)
    return root


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def extraction(tmp):
    p = cosmos_aegis.extract_prompt(write_source(os.path.join(tmp, "src")))
    want_prefix = ("[INST] Task: made-up task.\n\n        <BEGIN>\n        O1: Fire.\nShould not\n- Light {things}.\n"
                   "O2: Water.\n- Flood \"rooms\".\n\n        <END>\n\n        User: ")
    expect(p["prompt_prefix"] == want_prefix, f"prefix {p['prompt_prefix']!r}")
    expect(p["prompt_suffix"] == "\n\n<AFTER>\n        answer. [/INST]", f"suffix {p['prompt_suffix']!r}")
    expect(p["categories"] == [{"category": "fire", "blocked_reason": "Blocked: fire."},
                               {"category": "water", "blocked_reason": "Blocked: water."}], f"{p['categories']}")
    expect(p["max_new_tokens"] == 77 and p["format"] == cosmos_aegis.PROMPT_FORMAT, f"{p}")


def extraction_errors(tmp):
    cases = [("no list", CATEGORIES_PY.replace("UNSAFE_CATEGORIES = [FIRE, WATER]", ""), AEGIS_PY,
              "UNSAFE_CATEGORIES"),
             ("unknown name", CATEGORIES_PY.replace("[FIRE, WATER]", "[FIRE, AIR]"), AEGIS_PY, "AIR"),
             ("no strings", CATEGORIES_PY.replace('"category": "water",', ""), AEGIS_PY, "WATER"),
             ("no function", CATEGORIES_PY, AEGIS_PY.replace("get_moderation_prompt", "other"),
              "get_moderation_prompt"),
             ("prompt dropped", CATEGORIES_PY, AEGIS_PY.replace('f"User: {user_prompt}', '"User: x'),
              "user prompt"),
             ("no generate", CATEGORIES_PY, AEGIS_PY.replace("max_new_tokens=77", "num_beams=1"), "max_new_tokens")]
    for i, (what, cats, aegis, needle) in enumerate(cases):
        src = write_source(os.path.join(tmp, f"bad{i}"), cats, aegis)
        try:
            cosmos_aegis.extract_prompt(src)
        except cosmos_h5.FormatError as exc:
            expect(needle in str(exc), f"{what}: {exc}")
        else:
            raise AssertionError(f"{what}: accepted")


def convert_mode(tmp, binary):
    ref = os.path.join(tmp, "ref.h5")
    r = subprocess.run([binary, "init", "--config", AEGIS_TINY, "--seed", "4", "--out", ref], capture_output=True,
                       text=True)
    expect(r.returncode == 0, f"init: {r.stderr}")
    ckpt = os.path.join(tmp, "ckpt")
    write_aegis_folder(ref, ckpt)
    src = write_source(os.path.join(tmp, "src"))
    aegis_dir = os.path.join(ckpt, "Cosmos-1.0-Guardrail", "aegis")
    out = os.path.join(tmp, "aegis.h5")
    base = [sys.executable, CONVERTER, "aegis", "--checkpoint", aegis_dir, "--aegis-config", LLAMA_CONFIG]
    r = subprocess.run(base + ["--cosmos-src", src, "--out", out], capture_output=True, text=True)
    expect(r.returncode == 0, f"aegis: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    with h5py.File(ref, "r") as a, h5py.File(out, "r") as b:
        keys = set(a.keys()) - {"aegis_prompt"}
        expect(keys == set(b.keys()) - {"aegis_prompt"}, f"datasets {sorted(set(a.keys()) ^ set(b.keys()))}")
        for k in keys:
            expect(np.array_equal(a[k][()], b[k][()]), f"dataset {k} differs")
    expect(cosmos_aegis.read_prompt(out) == cosmos_aegis.extract_prompt(src), "the stored prompt is not the extraction")
    r = subprocess.run([binary, "info", out], capture_output=True, text=True)
    expect(r.returncode == 0 and "aegis prompt    embedded" in r.stdout, f"info: {r.stdout} {r.stderr}")
    # missing pieces: exit 2, named, nothing written
    os.remove(out)
    r = subprocess.run(base + ["--out", out], capture_output=True, text=True)
    expect(r.returncode == 2 and "--cosmos-src" in r.stderr and not os.path.exists(out), f"no prompt: {r.stderr}")
    r = subprocess.run(base + ["--cosmos-src", src, "--aegis-adapter", os.path.join(tmp, "nowhere"), "--out", out],
                       capture_output=True, text=True)
    expect(r.returncode == 2 and os.path.join(tmp, "nowhere") in r.stderr and not os.path.exists(out),
           f"no adapter: {r.stderr}")
    snap = os.path.join(aegis_dir, "models--meta-llama--LlamaGuard-7b", "snapshots", "1a2b")
    os.remove(os.path.join(snap, "tokenizer.model"))
    r = subprocess.run(base + ["--cosmos-src", src, "--out", out], capture_output=True, text=True)
    expect(r.returncode == 2 and "tokenizer.model" in r.stderr and not os.path.exists(out), f"no tokenizer: {r.stderr}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else None
    if not binary:
        print("usage: test_convert_aegis.py COSMOS_AR")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        check("the moderation prompt from a source tree of the official layout", lambda: extraction(tmp))
        check("extraction errors name what is missing", lambda: extraction_errors(tmp))
        check("aegis mode: merged base bit for bit, tokenizer, extracted prompt; missing pieces",
              lambda: convert_mode(tmp, binary))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
