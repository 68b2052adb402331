"""The Aegis weight file (docs/guardrail.md "Aegis"; spec components.md 5.3): LlamaGuard-7b with the
Aegis LoRA merged in (tools/cosmos_llama_h5.py), its SentencePiece model ("tokenizer_model") and the
moderation prompt data ("aegis_prompt", a JSON uint8 dataset read by core/guardrail/aegis.c).

The moderation prompt is NVIDIA's text, built by `Aegis.get_moderation_prompt` of the official
cosmos1/models/guardrail/aegis/aegis.py from the category policies of categories.py. It is not
copied into this repository: extract_prompt() reads it from the user's checkout of the official
source. categories.py is read as data (its module-level dict literals and the UNSAFE_CATEGORIES list
of their names, with ast.literal_eval); get_moderation_prompt is compiled alone from aegis.py and
called with a marker as the user prompt, which splits the result into prefix and suffix
(full prompt = prefix + user prompt + suffix); max_new_tokens is the literal of the
`generate(..., max_new_tokens=N)` call in aegis.py.
"""

import ast
import json
import os

import cosmos_h5

PROMPT_DATASET = "aegis_prompt"
PROMPT_FORMAT = "cosmos-ar-aegis-prompt"
AEGIS_SOURCE = os.path.join("cosmos1", "models", "guardrail", "aegis")
MARKER = "\x00cosmos-ar user prompt\x00"


def _read(path):
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise cosmos_h5.FormatError(f"{path}: {exc}") from exc


def _categories(path):
    """UNSAFE_CATEGORIES of categories.py as data: [{"category", "blocked_reason", "instruction"}, ...]."""
    tree = ast.parse(_read(path), path)
    dicts, names = {}, None
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        target = node.targets[0].id
        if isinstance(node.value, ast.Dict):
            try:
                dicts[target] = ast.literal_eval(node.value)
            except ValueError as exc:
                raise cosmos_h5.FormatError(f"{path}: {target} is not a literal dict ({exc})") from exc
        elif target == "UNSAFE_CATEGORIES" and isinstance(node.value, ast.List):
            if not all(isinstance(e, ast.Name) for e in node.value.elts):
                raise cosmos_h5.FormatError(f"{path}: UNSAFE_CATEGORIES is not a list of names")
            names = [e.id for e in node.value.elts]
    if names is None:
        raise cosmos_h5.FormatError(f"{path}: no UNSAFE_CATEGORIES = [...] list")
    missing = [n for n in names if n not in dicts]
    if missing:
        raise cosmos_h5.FormatError(f"{path}: UNSAFE_CATEGORIES names {missing[0]}, which is not a dict of the file")
    cats = [dicts[n] for n in names]
    for n, c in zip(names, cats):
        if not all(isinstance(c.get(k), str) for k in ("category", "blocked_reason", "instruction")):
            raise cosmos_h5.FormatError(f"{path}: {n} lacks a string category / blocked_reason / instruction")
    return cats


def _function(tree, path, cls, name):
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for f in node.body:
                if isinstance(f, ast.FunctionDef) and f.name == name:
                    return f
    raise cosmos_h5.FormatError(f"{path}: no {cls}.{name}")


def _max_new_tokens(tree, path):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "generate":
            for kw in node.keywords:
                if kw.arg == "max_new_tokens" and isinstance(kw.value, ast.Constant):
                    return int(kw.value.value)
    raise cosmos_h5.FormatError(f"{path}: no generate(..., max_new_tokens=N) call")


def extract_prompt(cosmos_src):
    """The aegis_prompt dict from an official source checkout (the folder holding cosmos1/)."""
    folder = os.path.join(cosmos_src, AEGIS_SOURCE)
    aegis_py, cats_py = os.path.join(folder, "aegis.py"), os.path.join(folder, "categories.py")
    cats = _categories(cats_py)
    source = _read(aegis_py)
    tree = ast.parse(source, aegis_py)
    fn = _function(tree, aegis_py, "Aegis", "get_moderation_prompt")
    fn.decorator_list = []
    module = ast.Module(body=[fn], type_ignores=[])
    namespace = {"UNSAFE_CATEGORIES": cats}
    exec(compile(module, aegis_py, "exec"), namespace)  # noqa: S102 (the user's official checkout)
    full = namespace["get_moderation_prompt"](None, MARKER)
    if not isinstance(full, str) or full.count(MARKER) != 1:
        raise cosmos_h5.FormatError(f"{aegis_py}: get_moderation_prompt does not place the user prompt once")
    prefix, suffix = full.split(MARKER)
    return {"format": PROMPT_FORMAT,
            "comment": f"extracted from {os.path.abspath(folder)} by tools/cosmos_aegis.py",
            "prompt_prefix": prefix, "prompt_suffix": suffix,
            "categories": [{"category": c["category"], "blocked_reason": c["blocked_reason"]} for c in cats],
            "max_new_tokens": _max_new_tokens(tree, aegis_py)}


def load_prompt(path):
    """An aegis_prompt JSON file (e.g. configs/guardrail/aegis-prompt-demo.json, or a saved extraction)."""
    d = cosmos_h5.read_json(path)
    if not isinstance(d, dict) or d.get("format") != PROMPT_FORMAT:
        raise cosmos_h5.FormatError(f"{path}: not an aegis_prompt file (\"format\": \"{PROMPT_FORMAT}\")")
    for k in ("prompt_prefix", "prompt_suffix"):
        if not isinstance(d.get(k), str):
            raise cosmos_h5.FormatError(f"{path}: '{k}' must be a string")
    if not isinstance(d.get("max_new_tokens"), int) or not isinstance(d.get("categories"), list):
        raise cosmos_h5.FormatError(f"{path}: needs 'max_new_tokens' (int) and 'categories' (list)")
    return d


def add_prompt(h5_path, prompt):
    """Adds the aegis_prompt dataset (JSON bytes, uint8) to an open-able weight file."""
    import h5py
    import numpy as np

    data = np.frombuffer(json.dumps(prompt, indent=1).encode("utf-8"), dtype=np.uint8)
    with h5py.File(h5_path, "a") as f:
        if PROMPT_DATASET in f:
            del f[PROMPT_DATASET]
        f.create_dataset(PROMPT_DATASET, data=data, track_times=False)


def read_prompt(h5_path):
    import h5py

    with h5py.File(h5_path, "r") as f:
        return json.loads(bytes(f[PROMPT_DATASET][()]).decode("utf-8"))
