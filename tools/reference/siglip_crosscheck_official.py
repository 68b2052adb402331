#!/usr/bin/env python3
"""Dev tool (not run by the tests): checks tools/reference/siglip_ref.py and tools/cosmos_siglip_h5.py
against the official modules of the video content safety filter (spec components.md 5.4):

1. the numpy Pillow resize (pil_resize_bicubic) against real Pillow Image.resize(BICUBIC) on random
   RGB images of several sizes (upscale, downscale, mixed), counting differing bytes;
2. the whole per-frame path on random weights against Hugging Face transformers: SiglipModel
   (a tiny text tower, the vision tower of the so400m config and of a small one) with
   SiglipImageProcessor (384 or S, resample 3, rescale 1/255, mean = std = 0.5) and
   get_image_features, then the official VideoSafetyModel classifier imported from the Cosmos
   model.py of a checkout (--cosmos-repo or COSMOS_REPO; cosmos1.utils.config is stubbed), with
   random BatchNorm statistics; prints the max abs difference of the pixel values, features,
   embedding and logits, and whether the classes agree;
3. convert_siglip() on a SiglipModel model.safetensors + a safety_filter.pt saved from those
   modules, reading the result back.

Needs transformers 4.48 and Pillow (a throw-away venv, see the module's README entry in the
report); the Pillow version matters: Pillow >= 13 runs the vertical pass first when only the height
shrinks (python-pillow/Pillow #9549), so case 1 reports differences there for "mixed" sizes.

Usage: python tools/reference/siglip_crosscheck_official.py --cosmos-repo DIR [--skip-so400m]
"""

import argparse
import json
import os
import sys
import tempfile
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import cosmos_siglip_h5  # noqa: E402
from siglip_ref import SiglipSafetyRef, pil_resize_bicubic, pixel_values  # noqa: E402

CLASSES = ["Safe", "Sexual_Content", "Violence", "Drugs", "Child_Abuse", "Hate_and_Harassment", "Self-Harm"]


def check_resize(rng):
    from PIL import Image

    import PIL

    cases = [((480, 640), (384, 384)), ((640, 1024), (384, 384)), ((720, 1280), (384, 384)), ((100, 100), (384, 384)),
             ((40, 64), (30, 30)), ((7, 5), (384, 384)), ((384, 384), (384, 384)), ((383, 385), (384, 384)),
             ((33, 100), (17, 91)), ((1, 1), (5, 3)), ((500, 300), (384, 384)), ((100, 33), (17, 91))]
    print(f"[resize] Pillow {PIL.__version__}")
    total_bad = 0
    for (h, w), (oh, ow) in cases:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        want = np.asarray(Image.fromarray(img).resize((ow, oh), Image.BICUBIC))
        got = pil_resize_bicubic(img, oh, ow)
        bad = int((got != want).sum())
        total_bad += bad
        kind = "mixed" if (oh < h) != (ow < w) else ("down" if oh < h else "up")
        print(f"  {h}x{w} -> {oh}x{ow} ({kind}): {bad} differing bytes of {want.size}, max |diff| "
              f"{int(np.abs(got.astype(int) - want).max())}")
    return total_bad


def load_official_classifier(repo):
    """VideoSafetyModel from the checkout's model.py, with cosmos1.utils.config stubbed."""
    path = os.path.join(repo, "cosmos1", "models", "guardrail", "video_content_safety_filter", "model.py")
    stub = types.ModuleType("cosmos1.utils.config")
    stub.make_freezable = lambda cls: cls
    for name in ("cosmos1", "cosmos1.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["cosmos1.utils.config"] = stub
    mod = types.ModuleType("official_safety_model")
    with open(path, "r", encoding="utf-8") as fh:
        exec(compile(fh.read(), path, "exec"), mod.__dict__)  # noqa: S102 (a dev tool on a local checkout)
    return mod


def check_model(official, vision_cfg, rng, n_frames, tmp):
    from PIL import Image
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    torch.manual_seed(int(rng.integers(1 << 30)))
    text_cfg = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=64,
                    max_position_embeddings=16)
    model = SiglipModel(SiglipConfig(text_config=text_cfg, vision_config=vision_cfg)).eval()
    # SiglipModel._init_weights leaves some tensors tiny / constant; draw every vision tensor afresh
    with torch.no_grad():
        for k, p in model.vision_model.named_parameters():
            if p.ndim == 1 and ("norm" in k and k.endswith("weight")):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif p.ndim == 1:
                p.copy_(0.02 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / np.sqrt(p[0].numel()))
    D = vision_cfg["hidden_size"]
    clf = official.VideoSafetyModel(official.ModelConfig(input_size=D, num_classes=7)).eval()
    with torch.no_grad():
        for m in clf.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(0.1 * torch.randn_like(m.running_mean))
                m.running_var.copy_(torch.rand_like(m.running_var) * 0.08 + 0.02)
                m.weight.copy_(1 + 0.1 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
    S = vision_cfg["image_size"]
    proc = SiglipImageProcessor(do_resize=True, size={"height": S, "width": S}, resample=3, do_rescale=True,
                                rescale_factor=1 / 255, do_normalize=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)

    # our file, through the converter: model.safetensors (SiglipModel keys) + safety_filter.pt
    from safetensors.torch import save_file

    st_path = os.path.join(tmp, "model.safetensors")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, st_path)
    pt_path = os.path.join(tmp, "safety_filter.pt")
    torch.save({"model": clf.state_dict()}, pt_path)
    cfg = {"model_type": "siglip_safety", "name": "crosscheck", "classifier_hidden_sizes": [512, 256], "num_classes": 7,
           "class_names": CLASSES, "num_channels": 3, "hidden_act": "gelu_pytorch_tanh",
           "layer_norm_eps": vision_cfg.get("layer_norm_eps", 1e-6), "batch_norm_eps": 1e-5}
    for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "image_size",
              "patch_size"):
        cfg[k] = vision_cfg[k]
    cfg_path = os.path.join(tmp, "cfg.json")
    with open(cfg_path, "w", encoding="utf-8") as fh:
        json.dump(cfg, fh)
    out = os.path.join(tmp, "siglip.h5")
    n = cosmos_siglip_h5.convert_siglip(tmp, pt_path, out, cfg_path)
    rcfg, weights = cosmos_siglip_h5.read_siglip_weights(out)
    sd = {**{k: v for k, v in model.state_dict().items() if k.startswith("vision_model.")}, **clf.state_dict()}
    conv_diff = max(float(np.abs(weights[k] - sd[k].numpy()).max()) for k in weights)
    n_params_hf = sum(p.numel() for p in model.vision_model.parameters())
    n_params_ours = sum(int(np.prod(s)) for k, s in cosmos_siglip_h5.expected_tensors(rcfg) if k.startswith("vision"))
    print(f"  converter: {n} tensors, max |ours - official| {conv_diff:g}; vision parameters HF {n_params_hf}, "
          f"ours {n_params_ours}")
    ref = SiglipSafetyRef(rcfg, weights)

    worst = {"pixels": 0.0, "features": 0.0, "embedding": 0.0, "logits": 0.0}
    agree = 0
    sizes = [(480, 640), (640, 1024), (S // 2 + 3, S + 5), (97, 61)]
    for i in range(n_frames):
        h, w = sizes[i % len(sizes)]
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        with torch.no_grad():
            inputs = proc(images=Image.fromarray(frame), return_tensors="pt")
            feats = model.get_image_features(**inputs)
            emb = feats / feats.norm(dim=-1, keepdim=True)
            logits = clf.network(emb)
            cls = int(torch.argmax(torch.softmax(logits, dim=-1), dim=-1))
        r = ref.frame(frame)
        ours_pix = pixel_values(pil_resize_bicubic(frame, S, S))
        worst["pixels"] = max(worst["pixels"], float(np.abs(ours_pix - inputs["pixel_values"][0].numpy()).max()))
        for k, v in (("features", feats), ("embedding", emb), ("logits", logits)):
            worst[k] = max(worst[k], float(np.abs(r[k] - v[0].numpy()).max()))
        agree += r["cls"] == cls
        print(f"  frame {i} {h}x{w}: official class {cls}, ours {r['cls']}; |features| {float(feats.norm()):.3g}")
    print("  max |ours - official|: " + ", ".join(f"{k} {v:.3g}" for k, v in worst.items()) +
          f"; classes agree {agree}/{n_frames}")
    return worst, agree == n_frames


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cosmos-repo", default=os.environ.get("COSMOS_REPO"),
                    help="a checkout of NVIDIA/Cosmos (for the official classifier model.py)")
    ap.add_argument("--skip-so400m", action="store_true", help="only the small vision config")
    ap.add_argument("--frames", type=int, default=4)
    args = ap.parse_args()
    if not args.cosmos_repo:
        ap.error("--cosmos-repo (or COSMOS_REPO) is required")
    rng = np.random.default_rng(1234)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    bad_bytes = check_resize(rng)
    official = load_official_classifier(args.cosmos_repo)
    small = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, image_size=30,
                 patch_size=7, layer_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh")
    so400m = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                  image_size=384, patch_size=14, layer_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh")
    ok = True
    for name, vc, nf in (("small", small, args.frames), ("so400m", so400m, 2)):
        if name == "so400m" and args.skip_so400m:
            continue
        print(f"[model] {name}: {json.dumps(vc)}")
        with tempfile.TemporaryDirectory() as tmp:
            _, agree = check_model(official, vc, rng, nf, tmp)
        ok &= agree
    print(f"resize: {bad_bytes} differing bytes in total; classes agree: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
