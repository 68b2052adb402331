#!/usr/bin/env python3
"""Generate the video content-filter fixtures (spec components.md 5.4) from
configs/models/siglip-tiny-safety.json:

- tests/data/siglip-tiny-safety.h5         random float32 weights in the format of
                                           tools/cosmos_siglip_h5.py;
- tests/data/siglip-tiny-safety.golden.h5  frames and the reference outputs of
                                           tools/reference/siglip_ref.py, per frame i:
    frame_i      uint8 [H*W*3]    input [H, W, 3] flattened (1-D: what core/h5bytes.h reads);
                                  sizes below: downscale, upscale, identity, mixed
    resized_i    uint8 [S*S*3]    Pillow bicubic resize (<= 12 pass order), flattened
    features_i   f32 [D]          pooled output of the vision tower (get_image_features)
    embedding_i  f32 [D]          L2-normalised features
    logits_i     f32 [num_classes]
  frame_shapes int64 [n_frames, 2] (H, W), classes int64 [n_frames] (argmax), and resize-only
  cases resize_src_k / resize_dst_k (flattened uint8) with resize_shapes int64 [n, 4] (H, W, oh, ow).
  Frames 0 and 1 have the same size; frame 0 is "Safe" (class 0) and frame 1 is not: the last
  classifier bias is chosen after the fact so that this holds with a margin (see arrange_bias).

Weights: numpy default_rng seeded from the model name. Linear / conv weights N(0, 1/fan_in), biases
N(0, 0.02^2), norm scales 1 + 0.1 N, position embedding N(0, 1/D), probe N(0, 1); BatchNorm
running_mean 0.1 N, running_var U(0.02, 0.1) (so the folding of BatchNorm matters).
Single-threaded torch for reproducible bytes.

Usage: /usr/bin/python3 tools/reference/make_siglip_fixtures.py [--out-dir tests/data] [--check]
(--check regenerates in a temporary folder and compares with the committed files: weights and uint8
data bit for bit, floats within 1e-5.)
"""

import os
import sys
import zlib

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import cosmos_siglip_h5  # noqa: E402
from siglip_ref import SiglipSafetyRef, pil_resize_bicubic  # noqa: E402
from fixture_check import fixture_main  # noqa: E402

NAME = "siglip-tiny-safety"
FRAME_SIZES = [(40, 64), (40, 64), (64, 48), (20, 24), (30, 30), (50, 20)]
RESIZE_CASES = [((33, 100), (17, 91)), ((7, 5), (40, 30)), ((100, 33), (91, 17)), ((61, 61), (29, 30))]
SIZE_LIMIT = 1_000_000
FLOAT_TOL = 1e-5
MIN_GAP = 0.2


def random_weights(cfg, rng):
    D = cfg["hidden_size"]
    out = {}
    for key, shape in cosmos_siglip_h5.expected_tensors(cfg):
        if key.endswith("running_var"):
            x = rng.uniform(0.02, 0.1, shape)
        elif key.endswith("running_mean"):
            x = 0.1 * rng.standard_normal(shape)
        elif key.endswith("position_embedding.weight"):
            x = rng.standard_normal(shape) / np.sqrt(D)
        elif key.endswith("probe"):
            x = rng.standard_normal(shape)
        elif len(shape) == 1 and (key.endswith("bias") or key.endswith("in_proj_bias")):
            x = 0.02 * rng.standard_normal(shape)
        elif len(shape) == 1:  # LayerNorm / BatchNorm scale
            x = 1.0 + 0.1 * rng.standard_normal(shape)
        else:  # Linear [out, in] or conv [out, c, p, p]
            x = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        out[key] = x.astype(np.float32)
    return out


def make_frame(rng, h, w):
    """A noisy gradient, so the resize sees both smooth areas and clipping at 0 / 255."""
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    base = np.stack([255 * yy, 255 * xx, 255 * (1 - yy * xx)], axis=-1)
    noise = rng.integers(-90, 91, (h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def arrange_bias(cfg, weights, frames):
    """Set the last classifier bias so that frame 0 is class 0 and frame 1 another class, with a
    margin of at least gap/4 logits (gap = how much more frame 1 prefers that class than frame 0)."""
    last = f"network.layers.{3 * len(cfg['classifier_hidden_sizes'])}.bias"
    weights[last] = np.zeros_like(weights[last])
    ref = SiglipSafetyRef(cfg, weights)
    z = [ref.frame(f)["logits"].astype(np.float64) for f in frames[:2]]
    d = [zi - zi[0] for zi in z]
    k = 1 + int(np.argmax((d[1] - d[0])[1:]))
    gap = d[1][k] - d[0][k]
    if gap < MIN_GAP:
        raise SystemExit(f"frames 0 and 1 are too alike for the classifier (gap {gap:.3g} < {MIN_GAP})")
    b = np.zeros(cfg["num_classes"])
    b[k] = -(d[0][k] + d[1][k]) / 2
    for j in range(1, cfg["num_classes"]):
        if j != k:
            b[j] = -max(d[0][j], d[1][j]) - gap / 4
    weights[last] = b.astype(np.float32)
    return k, gap


def make(out_dir):
    cfg_path = os.path.join(REPO, "configs", "models", f"{NAME}.json")
    cfg = cosmos_siglip_h5.load_config(cfg_path)
    rng = np.random.default_rng(zlib.crc32(NAME.encode()))
    weights = random_weights(cfg, rng)
    frames = [make_frame(rng, h, w) for h, w in FRAME_SIZES]
    k, gap = arrange_bias(cfg, weights, frames)

    weights_path = os.path.join(out_dir, f"{NAME}.h5")
    with cosmos_siglip_h5.SiglipWeightsWriter(weights_path, cfg) as wr:
        for key, _ in cosmos_siglip_h5.expected_tensors(cfg):
            wr.add(key, weights[key])
    rcfg, rweights = cosmos_siglip_h5.read_siglip_weights(weights_path)  # round trip through the file
    ref = SiglipSafetyRef(rcfg, rweights)

    golden_path = os.path.join(out_dir, f"{NAME}.golden.h5")
    classes = []
    with h5py.File(golden_path, "w") as f:
        f.attrs["model"] = NAME
        f.attrs["generator"] = "tools/reference/make_siglip_fixtures.py"
        f.attrs["n_frames"] = np.int64(len(frames))
        f.attrs["n_resize_cases"] = np.int64(len(RESIZE_CASES))
        for i, fr in enumerate(frames):
            r = ref.frame(fr)
            classes.append(r["cls"])
            f.create_dataset(f"frame_{i}", data=fr.reshape(-1), track_times=False)
            f.create_dataset(f"resized_{i}", data=r["resized"].reshape(-1), track_times=False)
            for n in ("features", "embedding", "logits"):
                f.create_dataset(f"{n}_{i}", data=r[n].astype(np.float32), track_times=False)
            print(f"frame {i} {list(fr.shape)}: class {r['cls']} p={r['prob']:.3f} logits {np.round(r['logits'], 3)}")
        f.create_dataset("classes", data=np.array(classes, dtype=np.int64), track_times=False)
        f.create_dataset("frame_shapes", data=np.array(FRAME_SIZES, dtype=np.int64), track_times=False)
        f.create_dataset("resize_shapes", data=np.array([a + b for a, b in RESIZE_CASES], dtype=np.int64),
                         track_times=False)
        for c, ((h, w), (oh, ow)) in enumerate(RESIZE_CASES):
            src = make_frame(rng, h, w)
            f.create_dataset(f"resize_src_{c}", data=src.reshape(-1), track_times=False)
            f.create_dataset(f"resize_dst_{c}", data=pil_resize_bicubic(src, oh, ow).reshape(-1), track_times=False)
    if classes[0] != 0 or classes[1] == 0:
        raise SystemExit(f"bias arrangement failed: classes {classes}")
    print(f"{NAME}: unsafe class of frame 1 = {k} (gap {gap:.3f}), classes {classes}")
    return [weights_path, golden_path]


def golden_tolerance(key, ref):
    """float32 outputs within FLOAT_TOL; uint8 frames and resizes exactly."""
    return FLOAT_TOL if ref.dtype == np.float32 else None


def main(argv=None):
    torch.set_num_threads(1)
    return fixture_main(argv, "SigLIP content-filter", make, golden_tolerance,
                        f"weights and uint8 bit for bit; floats within {FLOAT_TOL:g}", REPO, SIZE_LIMIT)


if __name__ == "__main__":
    sys.exit(main())
