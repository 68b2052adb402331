#!/usr/bin/env python3
"""Tests for tools/convert_checkpoint.py `model-dir` (official checkpoints folder -> a model directory
for `cosmos-ar generate --model-dir`; core/pipeline/model_dir.h).

`cosmos-ar init` of configs/pipelines/tiny-5b-video2world.json (and tiny-4b.json, a base model) gives
reference model directories; their weights are written back out as a fake official checkpoints folder
(spec ar-model.md 6.2, components.md 4.1):
  CKPT/tiny-ar-5b-video2world/model.pt, CKPT/tiny-ar-4b/model.pt   "model."-prefixed bf16 state dicts
  CKPT/Cosmos-1.0-Tokenizer-DV8x16x16/{encoder,decoder}.jit   TorchScript archives (+ a JIT-only buffer)
  CKPT/models--google-t5--t5-11b/{refs/main, snapshots/REV/{config.json, pytorch_model.bin,
      spiece.model}}                                    where the official pipeline caches t5-11b
  CKPT/Cosmos-1.0-Diffusion-7B-Decoder-DV8x16x16ToCV8x8x8/model.pt   the dd-tiny DiT, "net."-prefixed
      bf16 + the logvar.* / net.pos_embedder.seq extras of an official file
  CKPT/Cosmos-1.0-Diffusion-7B-Decoder-DV8x16x16ToCV8x8x8/aux_vars.pt {"context": [1, 16, 64] f32,
      "context_mask"} (the base model's dd_context)
  CKPT/Cosmos-1.0-Tokenizer-CV8x8x8/{decoder.jit, mean_std.pt}   a traced CV decoder (+ its JIT-only
      buffers and never-called CT convs) and a (mean, std) pair
  CKPT/Cosmos-1.0-Guardrail/face_blur_filter/Resnet50_Final.pth   the tiny RetinaFace, "module."-prefixed
      f32 state dict with num_batches_tracked (spec components.md 5.5)
  CKPT/Cosmos-1.0-Guardrail/video_content_safety_filter/{safety_filter.pt ({"model": classifier}),
      models--google--siglip-so400m-patch14-384/snapshots/REV/{config.json, model.safetensors}}
      the tiny SigLIP (vision keys + a text key and logit_scale, which are dropped) (spec 5.4)
The conversion (--dtype bf16, --ar-config / --tokenizer-config / --dd-config / --cv-config /
--face-blur-config / --content-filter-config for the tiny model) must give every dataset of the reference bit for bit, a manifest naming the files, and
`cosmos-ar generate` on it the same tokens and video as on the reference (17 frames of 96x64), through
the diffusion decoder. Then: --resume keeps finished files (the diffusion decoder's too) and redoes a
missing or broken one; a non-empty DIR without --force/--resume, a missing model.pt, a missing T5,
an unknown model name and a T5 length that is not the AR context_len all exit 2 naming the problem,
with no manifest written. A base model (tiny-ar-4b) gets no T5 and a dd_context.h5 from aux_vars.pt.
--diffusion-decoder: auto without the decoder folder leaves it out (saying so), yes without it (or
without aux_vars.pt for a base model) exits 2 listing the expected paths and writes nothing, no
leaves it out. --guardrail: auto without Cosmos-1.0-Guardrail leaves the video guardrail out (and
`generate` then refuses the directory unless --disable-guardrail), yes without it (or without one of
its files) exits 2 naming the expected paths.

Plain script: /usr/bin/python3 tests/tools/test_convert_model_dir.py COSMOS_AR
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import h5py
import numpy as np
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cosmos_dit_h5 as dit  # noqa: E402
import cosmos_dv_h5 as dv  # noqa: E402
import cosmos_h5  # noqa: E402
import cosmos_t5_h5  # noqa: E402
from test_convert_cv import CVDecoderJit  # noqa: E402  (a CV decoder.jit as the official archive names it)
from test_convert_dv import save_state_archive, save_traced  # noqa: E402  (TorchScript archives)
from harness import check, summary  # noqa: E402

CONVERTER = os.path.join(REPO, "tools", "convert_checkpoint.py")
PIPELINE = os.path.join(REPO, "configs", "pipelines", "tiny-5b-video2world.json")
AR_CONFIG = os.path.join(REPO, "configs", "models", "tiny-ar-5b-video2world.json")
TOK_CONFIG = os.path.join(REPO, "configs", "models", "dv-tokenizer-tiny-v512.json")
DD_CONFIG = os.path.join(REPO, "configs", "models", "dd-tiny.json")
CV_CONFIG = os.path.join(REPO, "configs", "models", "cv-tokenizer-tiny.json")
DD_DIR = "Cosmos-1.0-Diffusion-7B-Decoder-DV8x16x16ToCV8x8x8"
CV_DIR = "Cosmos-1.0-Tokenizer-CV8x8x8"
DD_FILES = ["cv.h5", "dd.h5"]
IMAGE = os.path.join(REPO, "tests", "data", "media-tiny.png")
MODEL = "tiny-ar-5b-video2world"
FB_CONFIG = os.path.join(REPO, "configs", "models", "retinaface-tiny.json")
CF_CONFIG = os.path.join(REPO, "configs", "models", "siglip-tiny-safety.json")
GUARD_DIR = "Cosmos-1.0-Guardrail"
GUARD_FILES = ["face_blur.h5", "video_content_filter.h5"]
V2W_GUARD = GUARD_FILES + ["aegis.h5"]  # Video2World models also check the prompt (spec 5.3)
LLAMA_CONFIG = os.path.join(REPO, "configs", "models", "llama-tiny.json")
AEGIS_PROMPT = os.path.join(REPO, "configs", "guardrail", "aegis-prompt-demo.json")


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def bf16_tensor(bits):
    return torch.from_numpy(np.ascontiguousarray(bits).view(np.int16)).view(torch.bfloat16)


# ---------------------------------------------------------------------------------------------
# a fake official checkpoints folder made of a reference model directory's weights


def write_ar_checkpoint(ref_ar, path):
    _, arrays = cosmos_h5.read_ar_weights(ref_ar)
    sd = {"model." + k: bf16_tensor(v) for k, v in arrays.items()}
    sd["model.layers.0.attention.wq._extra_state"] = torch.zeros(4, dtype=torch.uint8)  # TransformerEngine
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(sd, path)


def write_tokenizer_archives(ref_tok, folder):
    cfg, _, arrays, dtypes = dv.read_dv_weights(ref_tok)
    os.makedirs(folder, exist_ok=True)
    for part, extra in ((dv.ENCODER, {"quantizer._levels": torch.tensor(cfg["levels"], dtype=torch.int32)}),
                        (dv.DECODER, {"inv_quant.quantizer._levels": torch.tensor(cfg["levels"], dtype=torch.int32)})):
        state = {}
        for key, _ in dv.expected_tensors(cfg, (part,)):
            t = torch.from_numpy(arrays[key])
            state[key] = t.to(torch.bfloat16) if dtypes[key] == "bf16" else t
        state.update(extra)  # a JIT-only buffer the converter drops
        save_state_archive(state, os.path.join(folder, f"{part}.jit"))


def write_t5_cache(ref_t5, ckpt):
    """The hub cache entry T5EncoderModel.from_pretrained("google-t5/t5-11b", cache_dir=ckpt) makes."""
    entry = os.path.join(ckpt, "models--google-t5--t5-11b")
    snap = os.path.join(entry, "snapshots", "0123abcd")
    os.makedirs(snap)
    os.makedirs(os.path.join(entry, "refs"))
    with open(os.path.join(entry, "refs", "main"), "w") as fh:
        fh.write("0123abcd")
    with h5py.File(ref_t5, "r") as f:
        cfg = json.loads(f.attrs["config"])
        sd = {}
        for key, _ in cosmos_t5_h5.expected_tensors(cfg):
            ds = f[key]
            v = ds[()]
            sd[key] = torch.from_numpy(cosmos_h5.bf16_bits_to_f32(v) if ds.attrs.get("dtype") == "bfloat16"
                                       else v.astype(np.float32))
        spm = f[cosmos_t5_h5.SPIECE_DATASET][()].tobytes()
    sd["encoder.embed_tokens.weight"] = sd["shared.weight"]
    sd["decoder.final_layer_norm.weight"] = torch.ones(cfg["d_model"])  # decoder keys are skipped
    torch.save(sd, os.path.join(snap, "pytorch_model.bin"))
    hf = {k: cfg[k] for k in cosmos_t5_h5.CONFIG_KEYS}
    hf.update({"layer_norm_epsilon": cfg["layer_norm_epsilon"], "feed_forward_proj": "relu", "model_type": "t5",
               "num_decoder_layers": cfg["num_layers"], "n_positions": 512})
    with open(os.path.join(snap, "config.json"), "w") as fh:
        json.dump(hf, fh)
    with open(os.path.join(snap, "spiece.model"), "wb") as fh:
        fh.write(spm)


def write_dd_checkpoint(ref_dd, path):
    """The official diffusion decoder model.pt: the ModuleDict {net, conditioner, logvar} state dict."""
    _, arrays = dit.read_dit_weights(ref_dd)
    sd = {"net." + k: bf16_tensor(v) for k, v in arrays.items()}
    sd["net.pos_embedder.seq"] = torch.arange(128, dtype=torch.float32)  # dropped by the converter
    sd["logvar.0.freqs"] = torch.randn(128)
    sd["logvar.0.phases"] = torch.rand(128)
    sd["logvar.1.weight"] = torch.randn(1, 128)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(sd, path)


def write_aux_vars(ref_ctx, path):
    """aux_vars.pt: {"context": [1, rows, cols], "context_mask": [1, rows]} (the converter keeps the
    context as it is, every row, like the official pipeline)."""
    with h5py.File(ref_ctx, "r") as f:
        ctx = f["context"][()]
    mask = torch.ones(1, ctx.shape[0], dtype=torch.bool)
    mask[0, -3:] = False
    torch.save({"context": torch.from_numpy(ctx).unsqueeze(0), "context_mask": mask}, path)


def write_cv_folder(ref_cv, folder):
    """decoder.jit (traced, bf16, with the reference file's weights) and mean_std.pt of the CV8x8x8."""
    cfg, parts, arrays, dtypes = dv.read_dv_weights(ref_cv)
    expect(parts == {"decoder"} and all(dtypes[k] == "bf16" for k in arrays if not k.startswith("mean_std")),
           f"{ref_cv}: not a bf16 decoder-only file")
    module = CVDecoderJit(cfg, 5)
    weights = {k: torch.from_numpy(v) for k, v in arrays.items()
               if k.startswith(("decoder.", "post_quant_conv.")) and k != dv.WAVELETS_KEY}
    missing, unexpected = module.load_state_dict(weights, strict=False)
    expect(not unexpected and all(k.startswith(("decoder.up.2.upsample.", "decoder.unpatcher3d.")) for k in missing),
           f"CV decoder module: missing {missing}, unexpected {unexpected}")
    os.makedirs(folder, exist_ok=True)
    z = torch.randn(1, cfg["latent_channels"], 2, 3, 4)
    save_traced(module, z, os.path.join(folder, "decoder.jit"), dtype=torch.bfloat16)
    C = cfg["latent_channels"]  # mean in an official-looking [1, C, N, 1, 1], std flat: both view as (C, -1)
    torch.save((torch.from_numpy(arrays[dv.MEAN_KEY]).reshape(1, C, -1, 1, 1),
                torch.from_numpy(arrays[dv.STD_KEY]).reshape(-1)), os.path.join(folder, "mean_std.pt"))


def h5_arrays(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys()}


def write_safetensors(path, arrays):
    cosmos_h5.write_safetensors(path, arrays, "F32")


def write_aegis_folder(ref_aegis, ckpt):
    """CKPT/Cosmos-1.0-Guardrail/aegis/ from the reference's aegis.h5: the hub caches of the base model
    (config.json, f32 model.safetensors, tokenizer.model) and of a LoRA adapter whose B matrices are
    zero (the merge must give the base weights back, bit for bit)."""
    a = os.path.join(ckpt, GUARD_DIR, "aegis")
    base = os.path.join(a, "models--meta-llama--LlamaGuard-7b", "snapshots", "1a2b")
    adapter = os.path.join(a, "models--nvidia--Aegis-AI-Content-Safety-LlamaGuard-Defensive-1.0", "snapshots", "3c4d")
    os.makedirs(base)
    os.makedirs(adapter)
    weights = {}
    with h5py.File(ref_aegis, "r") as f:
        for k in f.keys():
            if k == "tokenizer_model":
                with open(os.path.join(base, "tokenizer.model"), "wb") as fh:
                    fh.write(bytes(f[k][()]))
            elif k != "aegis_prompt":
                weights[k] = cosmos_h5.bf16_bits_to_f32(f[k][()])
    write_safetensors(os.path.join(base, "model.safetensors"), weights)
    with open(LLAMA_CONFIG) as fh:
        cfg = json.load(fh)
    with open(os.path.join(base, "config.json"), "w") as fh:
        json.dump(dict(cfg, architectures=["LlamaForCausalLM"]), fh)
    with open(os.path.join(adapter, "adapter_config.json"), "w") as fh:
        json.dump({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"],
                   "bias": "none", "fan_in_fan_out": False}, fh)
    lora, d = {}, cfg["hidden_size"]
    for li in range(cfg["num_hidden_layers"]):
        for m, out in (("q_proj", d), ("v_proj", d * cfg["num_key_value_heads"] // cfg["num_attention_heads"])):
            pre = f"base_model.model.model.layers.{li}.self_attn.{m}"
            lora[f"{pre}.lora_A.weight"] = np.random.default_rng(li).normal(size=(2, d)).astype(np.float32)
            lora[f"{pre}.lora_B.weight"] = np.zeros((out, 2), np.float32)
    write_safetensors(os.path.join(adapter, "adapter_model.safetensors"), lora)


def write_guardrail_folder(ref_fb, ref_cf, ckpt):
    """CKPT/Cosmos-1.0-Guardrail from the reference's face_blur.h5 and video_content_filter.h5."""
    g = os.path.join(ckpt, GUARD_DIR)
    os.makedirs(os.path.join(g, "face_blur_filter"))
    sd = {}
    for k, v in h5_arrays(ref_fb).items():
        sd["module." + k] = torch.from_numpy(v)
        if k.endswith(".running_var"):
            sd["module." + k[:-len("running_var")] + "num_batches_tracked"] = torch.tensor(7)
    torch.save(sd, os.path.join(g, "face_blur_filter", "Resnet50_Final.pth"))
    arrays = h5_arrays(ref_cf)
    vcf = os.path.join(g, "video_content_safety_filter")
    snap = os.path.join(vcf, "models--google--siglip-so400m-patch14-384", "snapshots", "0abc")
    os.makedirs(snap)
    vision = {k: v for k, v in arrays.items() if k.startswith("vision_model.")}
    vision["text_model.embeddings.token_embedding.weight"] = np.zeros((4, 8), np.float32)
    vision["logit_scale"] = np.ones(1, np.float32)
    write_safetensors(os.path.join(snap, "model.safetensors"), vision)
    with open(os.path.join(snap, "config.json"), "w") as fh:
        json.dump({"model_type": "siglip"}, fh)
    cls = {k: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("network.")}
    for k in list(cls):
        if k.endswith(".running_var"):
            cls[k[:-len("running_var")] + "num_batches_tracked"] = torch.tensor(3)
    torch.save({"model": cls}, os.path.join(vcf, "safety_filter.pt"))


# ---------------------------------------------------------------------------------------------


class Env:
    def __init__(self, tmp, binary):
        self.tmp, self.binary = tmp, binary
        self.env = dict(os.environ, HF_HOME=os.path.join(tmp, "hf-home"), OMP_NUM_THREADS="2")
        self.env.pop("HF_HUB_CACHE", None)

    def convert(self, ckpt, out, *extra, model=MODEL, ar_config=AR_CONFIG, tiny=True):
        cmd = [sys.executable, CONVERTER, "model-dir", "--checkpoint-dir", ckpt, "--model", model, "--out", out]
        if tiny:
            cmd += ["--ar-config", ar_config, "--tokenizer-config", TOK_CONFIG, "--dd-config", DD_CONFIG,
                    "--cv-config", CV_CONFIG, "--face-blur-config", FB_CONFIG, "--content-filter-config", CF_CONFIG,
                    "--aegis-config", LLAMA_CONFIG, "--aegis-prompt", AEGIS_PROMPT]
        return subprocess.run(cmd + list(extra), capture_output=True, text=True, env=self.env)

    def generate(self, model_dir, out, prompt=True):
        """(tokens, video bytes) of `cosmos-ar generate`; it must run the diffusion decoder."""
        tokens = out + ".tokens.txt"
        r = subprocess.run([self.binary, "generate", "--model-dir", model_dir, "--input", IMAGE, "--seed", "3",
                            "--output", out, "--save-tokens", tokens] + (["--prompt", "a red cube"] if prompt else []),
                           capture_output=True, text=True, env=self.env)
        expect(r.returncode == 0, f"generate --model-dir {model_dir}: exit {r.returncode}\n{r.stderr[-2000:]}")
        expect("diffusion decoder 'dd-tiny'" in r.stderr and "no diffusion decoder" not in r.stderr,
               f"generate --model-dir {model_dir} did not use the diffusion decoder:\n{r.stderr[-2000:]}")
        r = subprocess.run([self.binary, "info", out], capture_output=True, text=True, env=self.env)
        media = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("media")]
        expect(r.returncode == 0 and media and media[0][2] == "17" and media[0][5] == "96x64",
               f"cosmos-ar info {out}: {r.stdout} {r.stderr}")
        with open(tokens) as fh, open(out, "rb") as fv:
            return fh.read().split(), fv.read()


def same_datasets(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        expect(set(fa.keys()) == set(fb.keys()), f"{b}: datasets {sorted(set(fa.keys()) ^ set(fb.keys()))[:3]}")
        for k in fa.keys():
            if k == "aegis_prompt":  # JSON text: the same data, not necessarily the same bytes
                expect(json.loads(bytes(fa[k][()])) == json.loads(bytes(fb[k][()])), f"{b}: {k} differs from {a}")
                continue
            expect(fa[k].dtype == fb[k].dtype and fa[k].attrs.get("dtype") == fb[k].attrs.get("dtype")
                   and np.array_equal(fa[k][()], fb[k][()]), f"{b}: dataset {k} differs from {a}")


def expect_refused(r, what, needles):
    expect(r.returncode == 2, f"{what}: exit {r.returncode} (want 2)\n{r.stdout}\n{r.stderr}")
    for n in needles:
        expect(n in r.stderr, f"{what}: stderr does not name {n!r}:\n{r.stderr}")


def aux_vars_checks(tmp):
    """convert_checkpoint.load_dd_context on made-up aux_vars.pt files (in-process: no subprocess)."""
    import convert_checkpoint as cc

    path = os.path.join(tmp, "aux.pt")
    ctx = torch.randn(5, 8)
    for what, obj, want in (("[rows, cols] f32", {"context": ctx}, ctx),
                            ("[1, rows, cols] bf16", {"context": ctx[None].to(torch.bfloat16),
                                                      "context_mask": torch.ones(1, 5)}, ctx.to(torch.bfloat16))):
        torch.save(obj, path)
        got = cc.load_dd_context(path, 8)
        expect(got.dtype == np.float32 and got.shape == (5, 8) and np.array_equal(got, want.float().numpy()),
               f"aux_vars {what}: {got.dtype} {got.shape}")
    bad = ctx.clone()
    bad[2, 3] = float("inf")
    for what, obj, needle in (("no context", {"ctx": ctx}, "expected a dict with a tensor \"context\""),
                              ("a tensor", ctx, "found a Tensor"),
                              ("batch of 2", {"context": torch.stack([ctx, ctx])}, "[2, 5, 8]"),
                              ("wrong width", {"context": ctx[:, :4]}, "expected [rows, 8]"),
                              ("integer", {"context": ctx.long()}, "floating point"),
                              ("not finite", {"context": bad}, "non-finite")):
        torch.save(obj, path)
        try:
            cc.load_dd_context(path, 8)
        except cc.ConversionError as exc:
            expect(needle in str(exc), f"aux_vars {what}: {exc}")
        else:
            raise AssertionError(f"aux_vars {what} was accepted")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else None
    if not binary:
        print("usage: test_convert_model_dir.py COSMOS_AR")
        return 2
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        e = Env(tmp, binary)
        ref, ref4 = os.path.join(tmp, "ref"), os.path.join(tmp, "ref-4b")
        for config, where in ((PIPELINE, ref), (PIPELINE.replace("tiny-5b-video2world", "tiny-4b"), ref4)):
            r = subprocess.run([binary, "init", "--config", config, "--seed", "1", "--out", where],
                               capture_output=True, text=True, env=e.env)
            if r.returncode:
                print(f"FAIL cosmos-ar init {config}: {r.stderr}")
                return 1
        ckpt = os.path.join(tmp, "checkpoints")
        write_ar_checkpoint(os.path.join(ref, "ar.h5"), os.path.join(ckpt, MODEL, "model.pt"))
        write_ar_checkpoint(os.path.join(ref4, "ar.h5"), os.path.join(ckpt, "tiny-ar-4b", "model.pt"))
        write_tokenizer_archives(os.path.join(ref, "tokenizer.h5"), os.path.join(ckpt, "Cosmos-1.0-Tokenizer-DV8x16x16"))
        write_t5_cache(os.path.join(ref, "t5.h5"), ckpt)
        # one diffusion decoder folder serves both models: same configs and seed, so the same weights
        for name in DD_FILES:
            same_datasets(os.path.join(ref, name), os.path.join(ref4, name))
        write_dd_checkpoint(os.path.join(ref, "dd.h5"), os.path.join(ckpt, DD_DIR, "model.pt"))
        write_aux_vars(os.path.join(ref4, "dd_context.h5"), os.path.join(ckpt, DD_DIR, "aux_vars.pt"))
        write_cv_folder(os.path.join(ref, "cv.h5"), os.path.join(ckpt, CV_DIR))
        for name in GUARD_FILES:  # one guardrail folder serves both models, as officially
            same_datasets(os.path.join(ref, name), os.path.join(ref4, name))
        write_guardrail_folder(os.path.join(ref, "face_blur.h5"), os.path.join(ref, "video_content_filter.h5"), ckpt)
        write_aegis_folder(os.path.join(ref, "aegis.h5"), ckpt)
        out = os.path.join(tmp, "model")
        manifest = os.path.join(out, "cosmos-model.json")
        v2w_files = sorted(["ar.h5", "cosmos-model.json", "t5.h5", "tokenizer.h5"] + DD_FILES + V2W_GUARD)

        def convert_and_generate():
            r = e.convert(ckpt, out, "--dtype", "bf16")
            expect(r.returncode == 0, f"model-dir: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
            expect(f"diffusion decoder: found {os.path.join(ckpt, DD_DIR)}" in r.stdout, f"model-dir: {r.stdout}")
            with open(manifest) as fh:
                m = json.load(fh)
            expect({k: v for k, v in m.items() if k != "comment"}
                   == {"format": "cosmos-ar-model-dir", "format_version": 1, "name": MODEL, "ar": "ar.h5",
                       "tokenizer": "tokenizer.h5", "t5": "t5.h5", "diffusion_decoder": "dd.h5",
                       "cv_tokenizer": "cv.h5", "face_blur": "face_blur.h5",
                       "video_content_filter": "video_content_filter.h5", "aegis": "aegis.h5"}, f"manifest {m}")
            expect(f"guardrail: found {os.path.join(ckpt, GUARD_DIR)}" in r.stdout, f"model-dir: {r.stdout}")
            expect(sorted(os.listdir(out)) == v2w_files, f"files in {out}: {os.listdir(out)}")
            for name in ["ar.h5", "tokenizer.h5", "t5.h5", "dd.h5", "cv.h5"] + V2W_GUARD:
                same_datasets(os.path.join(ref, name), os.path.join(out, name))
                expect(os.stat(os.path.join(out, name)).st_mtime_ns <= os.stat(manifest).st_mtime_ns,
                       f"the manifest was written before {name}")
            with h5py.File(os.path.join(out, "t5.h5"), "r") as f:
                expect(int(f.attrs["max_length"]) == 16 and json.loads(f.attrs["config"])["max_length"] == 16,
                       "T5 max_length is not the AR context_len (16)")
            expect(e.generate(out, os.path.join(tmp, "conv.mp4")) == e.generate(ref, os.path.join(tmp, "ref.mp4")),
                   "generate: the converted model directory gives other tokens or frames than the reference")

        def resume():
            names = ["ar.h5", "tokenizer.h5", "t5.h5", "dd.h5", "cv.h5"] + V2W_GUARD
            stamps = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in names}
            os.remove(os.path.join(out, "t5.h5"))
            for n in ("t5.h5", "dd.h5"):
                with open(os.path.join(out, f"{n}.tmp-99999"), "w") as fh:
                    fh.write("left by a killed run")
            r = e.convert(ckpt, out, "--dtype", "bf16", "--resume")
            expect(r.returncode == 0, f"--resume: exit {r.returncode}\n{r.stderr}")
            expect(r.stdout.count("resume: keeping") == 7 and "t5: converting" in r.stdout, f"--resume: {r.stdout}")
            for n in ["ar.h5", "tokenizer.h5", "dd.h5", "cv.h5"] + V2W_GUARD:
                expect(os.stat(os.path.join(out, n)).st_mtime_ns == stamps[n], f"--resume rewrote {n}")
            expect(sorted(os.listdir(out)) == v2w_files, f"files after --resume: {os.listdir(out)}")
            same_datasets(os.path.join(ref, "t5.h5"), os.path.join(out, "t5.h5"))
            # a file of another config, a broken file and a CV file of other statistics are converted again
            shutil.copy(os.path.join(ref, "t5.h5"), os.path.join(out, "t5.h5"))  # name t5-tiny-ctx16, not t5-11b
            with open(os.path.join(out, "dd.h5"), "wb") as fh:
                fh.write(b"\0" * 100)
            with h5py.File(os.path.join(out, "cv.h5"), "a") as f:
                del f[dv.MEAN_KEY]
            r = e.convert(ckpt, out, "--dtype", "bf16", "--resume")
            expect(r.returncode == 0 and "another config" in r.stderr and "t5: converting" in r.stdout
                   and "diffusion_decoder: converting" in r.stdout and "cv_tokenizer: converting" in r.stdout
                   and r.stdout.count("resume: keeping") == 5, f"--resume over foreign files: {r.stdout}\n{r.stderr}")
            for name in DD_FILES:
                same_datasets(os.path.join(ref, name), os.path.join(out, name))

        def refused_not_empty():
            before = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
            r = e.convert(ckpt, out)
            expect_refused(r, "non-empty DIR", ["not empty", "--force"])
            expect({n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)} == before,
                   "a refused conversion touched the model directory")
            r = e.convert(ckpt, out, "--force")  # default dtype: T5 f32, tokenizers as stored (bf16)
            expect(r.returncode == 0, f"--force: {r.stderr}")
            with h5py.File(os.path.join(out, "t5.h5"), "r") as f:
                expect(f["shared.weight"].dtype == np.float32, "--force --dtype keep: T5 not f32")
            same_datasets(os.path.join(ref, "cv.h5"), os.path.join(out, "cv.h5"))

        def missing_pieces():
            broken = os.path.join(tmp, "ckpt-no-model")
            shutil.copytree(ckpt, broken, symlinks=True)
            os.remove(os.path.join(broken, MODEL, "model.pt"))
            out2 = os.path.join(tmp, "model-missing")
            r = e.convert(broken, out2)
            expect_refused(r, "missing model.pt", [os.path.join(broken, MODEL, "model.pt")])
            expect(not os.path.exists(os.path.join(out2, "cosmos-model.json")), "manifest written without model.pt")
            shutil.rmtree(os.path.join(broken, "models--google-t5--t5-11b"))
            os.remove(os.path.join(broken, "Cosmos-1.0-Tokenizer-DV8x16x16", "decoder.jit"))
            os.remove(os.path.join(broken, CV_DIR, "mean_std.pt"))
            r = e.convert(broken, out2)
            expect_refused(r, "missing model.pt, decoder.jit, T5 and mean_std.pt",
                           [os.path.join(broken, MODEL, "model.pt"),
                            os.path.join(broken, "Cosmos-1.0-Tokenizer-DV8x16x16", "decoder.jit"),
                            os.path.join(broken, "models--google-t5--t5-11b"), "--t5-dir",
                            os.path.join(broken, CV_DIR, "mean_std.pt"), "--diffusion-decoder no"])
            expect(not os.path.exists(os.path.join(out2, "cosmos-model.json")), "manifest written with pieces missing")
            # --t5-dir: a plain Hugging Face folder; --diffusion-decoder no: the incomplete CV folder is not read
            t5_plain = os.path.join(ckpt, "models--google-t5--t5-11b", "snapshots", "0123abcd")
            shutil.copy(os.path.join(ckpt, "Cosmos-1.0-Tokenizer-DV8x16x16", "decoder.jit"),
                        os.path.join(broken, "Cosmos-1.0-Tokenizer-DV8x16x16", "decoder.jit"))
            shutil.copy(os.path.join(ckpt, MODEL, "model.pt"), os.path.join(broken, MODEL, "model.pt"))
            r = e.convert(broken, out2, "--t5-dir", t5_plain, "--diffusion-decoder", "no")
            expect(r.returncode == 0 and os.path.exists(os.path.join(out2, "cosmos-model.json")),
                   f"--t5-dir {t5_plain}: exit {r.returncode}\n{r.stderr}")
            expect("not included (--diffusion-decoder no)" in r.stdout
                   and sorted(os.listdir(out2)) == sorted(["ar.h5", "cosmos-model.json", "t5.h5", "tokenizer.h5"]
                                                          + V2W_GUARD),
                   f"--diffusion-decoder no: {r.stdout}, files {os.listdir(out2)}")

        def diffusion_decoder_modes():
            bare = os.path.join(tmp, "ckpt-no-dd")  # the checkpoints folder without the two decoder folders
            shutil.copytree(ckpt, bare, symlinks=True, ignore=shutil.ignore_patterns(DD_DIR, CV_DIR))
            out5 = os.path.join(tmp, "model-auto")
            r = e.convert(bare, out5, "--dtype", "bf16")
            expect(r.returncode == 0, f"auto without the decoder folders: exit {r.returncode}\n{r.stderr}")
            expect(f"diffusion decoder: not included ({os.path.join(bare, DD_DIR)} not found)" in r.stdout,
                   f"auto without the folders does not say so: {r.stdout}")
            with open(os.path.join(out5, "cosmos-model.json")) as fh:
                m = json.load(fh)
            expect(not {"diffusion_decoder", "cv_tokenizer", "dd_context"} & set(m)
                   and sorted(os.listdir(out5)) == sorted(["ar.h5", "cosmos-model.json", "t5.h5", "tokenizer.h5"]
                                                          + V2W_GUARD),
                   f"auto without the folders: manifest {m}, files {os.listdir(out5)}")
            out6 = os.path.join(tmp, "model-yes")
            r = e.convert(bare, out6, "--diffusion-decoder", "yes")
            expect_refused(r, "--diffusion-decoder yes without the folders",
                           [os.path.join(bare, DD_DIR, "model.pt"), os.path.join(bare, CV_DIR, "decoder.jit"),
                            os.path.join(bare, CV_DIR, "mean_std.pt")])
            expect("aux_vars.pt" not in r.stderr, f"a Video2World model needs no aux_vars.pt: {r.stderr}")
            expect(not os.path.exists(out6), "--diffusion-decoder yes wrote something with pieces missing")
            # a base model needs aux_vars.pt
            shutil.copytree(os.path.join(ckpt, DD_DIR), os.path.join(bare, DD_DIR), ignore=shutil.ignore_patterns(
                "aux_vars.pt"))
            shutil.copytree(os.path.join(ckpt, CV_DIR), os.path.join(bare, CV_DIR))
            r = e.convert(bare, out6, "--diffusion-decoder", "yes", model="tiny-ar-4b",
                          ar_config=AR_CONFIG.replace("tiny-ar-5b-video2world", "tiny-ar-4b"))
            expect_refused(r, "base model without aux_vars.pt", [os.path.join(bare, DD_DIR, "aux_vars.pt")])
            expect(not os.path.exists(out6), "--diffusion-decoder yes wrote something without aux_vars.pt")

        def guardrail_modes():
            bare = os.path.join(tmp, "ckpt-no-guard")  # without Cosmos-1.0-Guardrail
            shutil.copytree(ckpt, bare, symlinks=True, ignore=shutil.ignore_patterns(GUARD_DIR))
            out7 = os.path.join(tmp, "model-no-guard")
            r = e.convert(bare, out7, "--diffusion-decoder", "no")
            expect(r.returncode == 0 and f"guardrail: not included ({os.path.join(bare, GUARD_DIR)} not found)"
                   in r.stdout, f"--guardrail auto without the folder: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
            with open(os.path.join(out7, "cosmos-model.json")) as fh:
                m = json.load(fh)
            expect(not {"face_blur", "video_content_filter", "aegis"} & set(m), f"manifest {m}")
            # the engine refuses a directory without the video guardrail, unless it is disabled
            g = [e.binary, "generate", "--model-dir", out7, "--input", IMAGE, "--prompt", "a red cube", "--output"]
            r = subprocess.run(g + [os.path.join(tmp, "ng.mp4")], capture_output=True, text=True, env=e.env)
            expect(r.returncode != 0 and "video_content_filter" in r.stderr and "--disable-guardrail" in r.stderr
                   and not os.path.exists(os.path.join(tmp, "ng.mp4")), f"generate without the guardrail: {r.stderr}")
            r = subprocess.run(g + [os.path.join(tmp, "ng.mp4"), "--disable-guardrail"], capture_output=True, text=True,
                               env=e.env)
            expect(r.returncode == 0 and os.path.exists(os.path.join(tmp, "ng.mp4")),
                   f"generate --disable-guardrail: {r.stderr[-2000:]}")
            out8 = os.path.join(tmp, "model-guard-yes")
            r = e.convert(bare, out8, "--guardrail", "yes")
            expect_refused(r, "--guardrail yes without the folder",
                           [os.path.join(bare, GUARD_DIR, "face_blur_filter", "Resnet50_Final.pth"),
                            os.path.join(bare, GUARD_DIR, "video_content_safety_filter", "safety_filter.pt"),
                            "siglip", os.path.join(bare, GUARD_DIR, "aegis", "models--meta-llama--LlamaGuard-7b"),
                            "Aegis adapter"])
            expect(not os.path.exists(out8), "--guardrail yes wrote something with pieces missing")
            r = e.convert(ckpt, out8, "--guardrail", "no", "--diffusion-decoder", "no")
            expect(r.returncode == 0 and "guardrail: not included (--guardrail no)" in r.stdout
                   and not set(V2W_GUARD) & set(os.listdir(out8)), f"--guardrail no: {r.stdout} {os.listdir(out8)}")
            # a classifier of another shape is named
            broken = os.path.join(tmp, "ckpt-bad-guard")
            shutil.copytree(ckpt, broken, symlinks=True, ignore=shutil.ignore_patterns(DD_DIR, CV_DIR))
            pt = os.path.join(broken, GUARD_DIR, "video_content_safety_filter", "safety_filter.pt")
            obj = torch.load(pt)
            obj["model"]["network.layers.0.weight"] = obj["model"]["network.layers.0.weight"][:, :-1].clone()
            torch.save(obj, pt)
            r = e.convert(broken, os.path.join(tmp, "model-bad-guard"))
            expect_refused(r, "misshaped classifier", ["network.layers.0.weight"])
            expect(not os.path.exists(os.path.join(tmp, "model-bad-guard", "cosmos-model.json")),
                   "manifest written after a bad classifier")

        def bad_options():
            out3 = os.path.join(tmp, "model-bad")
            r = e.convert(ckpt, out3, model="Cosmos-1.0-Autoregressive-7B", tiny=False)
            expect_refused(r, "unknown model name", ["Cosmos-1.0-Autoregressive-7B", "Cosmos-1.0-Autoregressive-5B-"
                                                     "Video2World", "--ar-config"])
            r = e.convert(ckpt, out3, "--t5-max-length", "512")
            expect_refused(r, "T5 length != context_len", ["[512, 64]", "[16, 64]"])
            r = e.convert(ckpt, out3, model="Cosmos-1.0-Autoregressive-5B-Video2World", tiny=False)
            expect_refused(r, "real model name, tiny checkpoints folder",
                           [os.path.join(ckpt, "Cosmos-1.0-Autoregressive-5B-Video2World", "model.pt")])
            expect(not os.path.exists(os.path.join(out3, "cosmos-model.json")), "manifest written after an error")

        def base_model():
            out4 = os.path.join(tmp, "model-4b")
            base = dict(model="tiny-ar-4b", ar_config=AR_CONFIG.replace("tiny-ar-5b-video2world", "tiny-ar-4b"))
            r = e.convert(ckpt, out4, **base)
            expect(r.returncode == 0, f"base model: exit {r.returncode}\n{r.stderr}")
            expect("context_mask marks 3 of 16 rows" in r.stderr, f"no note on the context_mask: {r.stderr}")
            with open(os.path.join(out4, "cosmos-model.json")) as fh:
                m = json.load(fh)
            files = sorted(["ar.h5", "cosmos-model.json", "cv.h5", "dd.h5", "dd_context.h5", "tokenizer.h5"]
                           + GUARD_FILES)
            expect("t5" not in m and m["diffusion_decoder"] == "dd.h5" and m["cv_tokenizer"] == "cv.h5"
                   and m["dd_context"] == "dd_context.h5" and sorted(os.listdir(out4)) == files,
                   f"base model: manifest {m}, files {os.listdir(out4)}")
            for name in ["ar.h5", "tokenizer.h5", "dd.h5", "cv.h5", "dd_context.h5"] + GUARD_FILES:
                same_datasets(os.path.join(ref4, name), os.path.join(out4, name))
            expect(e.generate(out4, os.path.join(tmp, "conv4.mp4"), prompt=False)
                   == e.generate(ref4, os.path.join(tmp, "ref4.mp4"), prompt=False),
                   "generate: the converted base model gives other tokens or frames than the reference")
            stamp = os.stat(os.path.join(out4, "dd_context.h5")).st_mtime_ns
            r = e.convert(ckpt, out4, "--resume", **base)
            expect(r.returncode == 0 and r.stdout.count("resume: keeping") == 7, f"base --resume: {r.stdout}")
            expect(os.stat(os.path.join(out4, "dd_context.h5")).st_mtime_ns == stamp, "--resume rewrote dd_context.h5")
            # --force --diffusion-decoder no: the manifest drops the decoder, its old files stay (with a note)
            r = e.convert(ckpt, out4, "--force", "--diffusion-decoder", "no", **base)
            expect(r.returncode == 0 and "dd.h5 (diffusion_decoder) is not part of this model directory" in r.stderr,
                   f"--force --diffusion-decoder no: {r.stdout}\n{r.stderr}")
            with open(os.path.join(out4, "cosmos-model.json")) as fh:
                m = json.load(fh)
            expect(not {"diffusion_decoder", "cv_tokenizer", "dd_context"} & set(m), f"manifest {m}")

        check("convert a checkpoints folder (with the diffusion decoder), generate from it", convert_and_generate)
        check("base model: no T5, dd_context from aux_vars.pt", base_model)
        check("--resume keeps finished files, redoes the others", resume)
        check("non-empty DIR refused without --force", refused_not_empty)
        check("missing pieces named with their paths, no manifest", missing_pieces)
        check("--diffusion-decoder auto / yes without the decoder folders", diffusion_decoder_modes)
        check("--guardrail auto / yes / no, a misshaped classifier", guardrail_modes)
        check("unknown model, T5 length mismatch", bad_options)
        check("aux_vars.pt: accepted layouts and errors", lambda: aux_vars_checks(tmp))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
