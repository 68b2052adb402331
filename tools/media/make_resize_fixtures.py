#!/usr/bin/env python3
"""Fixtures for core/media_prep.c: torchvision's resize (antialiased bilinear on the [-1,1] floats)
and center_crop as the official resize_input (spec components.md section 1, ar-model.md 6.4).

Writes tests/data/media-resize.h5 with float32 datasets:
  /up    [3,64,96]  resize_input of the 50x70 pattern to 64x96 (upscaling)
  /down  [3,64,96]  resize_input of the 210x300 pattern to 64x96 (downscaling)
  /mixed [3,30,100] plain resize of the 50x70 pattern to 30x100 (down in H, up in W)
The source pattern is a formula (pattern() here, media_pattern() in tests/unit/test_media.c).
Usage: python3 tools/media/make_resize_fixtures.py [--out PATH]   (needs torch, torchvision, h5py)
"""
import argparse
import math
import os

import h5py
import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as TF


def pattern(h, w):
    """uint8 [h, w, 3]: gradients, a checkerboard and a product term (high frequencies for the
    antialiasing filter)."""
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    out = np.zeros((h, w, 3), np.int64)
    for c in range(3):
        out[..., c] = (x * 37 + y * 91 + c * 53 + (x * y) % 17 + ((x // 5 + y // 3) % 2) * 80) % 256
    return out.astype(np.uint8)


def to_float(img):
    """uint8 HWC -> float32 CHW in [-1,1], as the official loader (x/255*2-1)."""
    t = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    return t * 2 - 1


def resize_input(video, resolution):
    """The official cosmos1 utils/inference.py resize_input."""
    orig_h, orig_w = video.shape[-2], video.shape[-1]
    target_h, target_w = resolution
    s = max(target_w / orig_w, target_h / orig_h)
    shape = (int(math.ceil(s * orig_h)), int(math.ceil(s * orig_w)))
    return TF.center_crop(TF.resize(video, list(shape), antialias=True), list(resolution))


def main():
    ap = argparse.ArgumentParser()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--out", default=os.path.join(root, "tests/data/media-resize.h5"))
    a = ap.parse_args()
    up = resize_input(to_float(pattern(50, 70))[None], (64, 96))[0]
    down = resize_input(to_float(pattern(210, 300))[None], (64, 96))[0]
    mixed = TF.resize(to_float(pattern(50, 70))[None], [30, 100], antialias=True)[0]
    with h5py.File(a.out, "w") as f:
        f.attrs["torch"] = str(torch.__version__)
        f.attrs["torchvision"] = str(torchvision.__version__)
        for name, t in (("up", up), ("down", down), ("mixed", mixed)):
            f.create_dataset(name, data=t.numpy().astype(np.float32))
    print(f"wrote {a.out} (torch {torch.__version__}, torchvision {torchvision.__version__})")


if __name__ == "__main__":
    main()
