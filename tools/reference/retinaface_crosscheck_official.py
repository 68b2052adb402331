#!/usr/bin/env python3
"""Developer cross-check (not run by the tests): tools/reference/retinaface_ref.py against the
official code of the face-blur guardrail (spec components.md 5.5).

Needs, outside the repository (never committed):
- a work tree of NVlabs/Pytorch_Retinaface at b843f45 (--rf DIR, the folder holding models/, data/);
- optionally a work tree of NVIDIA/Cosmos at ef2ee52 (--cosmos DIR, the folder holding cosmos1/) for
  the end-to-end check through the official RetinaFaceFilter;
- torchvision and cv2 importable (e.g. /usr/bin/python3 -m venv --system-site-packages /tmp/rfvenv;
  /tmp/rfvenv/bin/pip install --no-deps torchvision opencv-python-headless pillow).

Checks, on random weights at the real config (configs/models/retinaface-resnet50.json):
1. network: official RetinaFace(cfg_re50, phase="test") vs RetinaFaceRef on the same state dict
   (BatchNorm statistics randomised), loc / conf / landmarks, max abs diff; the same through our
   HDF5 file written by convert_retinaface (tests the converter);
2. end to end (with --cosmos): official RetinaFaceFilter.postprocess (class head biased so faces
   are detected) vs RetinaFaceRef.detect + blur_frame, frames compared exactly;
3. pixelation: retinaface_ref.resize_linear / resize_nearest / pixelate vs cv2.resize on random
   ROIs (sizes 1..70, strided views, the exact 2:1 case), counts of differing outputs.

Usage: /tmp/rfvenv/bin/python tools/reference/retinaface_crosscheck_official.py --rf /tmp/rfsrc/pytorch_retinaface
       [--cosmos /tmp/cosmos_src] [--size 160x256]
"""

import argparse
import os
import sys
import tempfile
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import cosmos_retinaface_h5 as rfh5  # noqa: E402
import retinaface_ref as ref  # noqa: E402


def import_official(rf_dir):
    """Make `pytorch_retinaface` importable from the checkout (its package name in COSMOS)."""
    parent = tempfile.mkdtemp(prefix="rf_pkg_")
    os.symlink(os.path.abspath(rf_dir), os.path.join(parent, "pytorch_retinaface"))
    sys.path.insert(0, parent)
    from pytorch_retinaface.data import cfg_re50
    from pytorch_retinaface.models.retinaface import RetinaFace
    return cfg_re50, RetinaFace


def random_official(cfg_re50, RetinaFace, seed):
    torch.manual_seed(seed)
    cfg = dict(cfg_re50)
    cfg["pretrain"] = False
    net = RetinaFace(cfg=cfg, phase="test")
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, m in net.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(1 + 0.1 * torch.randn(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
                if name == "body.bn1":
                    m.running_var.fill_(3600.0)
                if name.endswith("bn3"):
                    m.weight.mul_(0.25)
    return net.eval()


def test_frame(h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) % 97) * 2], -1)
    for _ in range(6):  # bright ellipses ("faces")
        cy, cx, ry, rx = rng.integers(0, h), rng.integers(0, w), rng.integers(8, 40), rng.integers(8, 30)
        mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        img[mask] = rng.integers(0, 256, 3)
    img = img + rng.integers(-10, 11, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def check_network(cfg_re50, RetinaFace, h, w):
    net = random_official(cfg_re50, RetinaFace, 1234)
    sd = {k: v.detach().numpy() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    cfg = rfh5.load_config(os.path.join(REPO, "configs", "models", "retinaface-resnet50.json"))
    exp = dict(rfh5.expected_tensors(cfg))
    assert set(exp) == set(sd), (sorted(set(exp) ^ set(sd)))[:5]
    for k, shape in exp.items():
        assert tuple(sd[k].shape) == tuple(shape), k
    print(f"state dict: {len(sd)} tensors, keys and shapes equal expected_tensors(retinaface-resnet50)")
    frame = test_frame(h, w, 7)
    x = torch.from_numpy(frame).float().permute(2, 0, 1)[[2, 1, 0]] - torch.tensor([104.0, 117.0, 123.0]).view(3, 1, 1)
    with torch.no_grad():
        oloc, oconf, oldm = (t[0] for t in net(x.unsqueeze(0)))
    r = ref.RetinaFaceRef(cfg, sd)
    loc, conf, ldm = r.forward(frame, with_landmarks=True)
    print(f"network {h}x{w}: P={loc.shape[0]}  |loc| max {oloc.abs().max():.3g}  "
          f"max|d loc| {float((loc - oloc).abs().max()):.3g}  max|d conf| {float((conf - oconf).abs().max()):.3g}  "
          f"max|d landmarks| {float((ldm - oldm).abs().max()):.3g}")
    with tempfile.TemporaryDirectory() as tmp:
        pth, h5 = os.path.join(tmp, "rf.pth"), os.path.join(tmp, "rf.h5")
        torch.save({"module." + k: v for k, v in net.state_dict().items()}, pth)
        n = rfh5.convert_retinaface(pth, h5, os.path.join(REPO, "configs", "models", "retinaface-resnet50.json"))
        r2 = ref.RetinaFaceRef.from_h5(h5)
        loc2, conf2 = r2.forward(frame)
        print(f"via convert_retinaface ({n} tensors, 'module.' prefix): max|d loc| "
              f"{float((loc2 - oloc).abs().max()):.3g}  max|d conf| {float((conf2 - oconf).abs().max()):.3g}")
    return net, cfg, sd


def check_end_to_end(cosmos_dir, net, cfg, sd, h, w):
    for name in ("cosmos1.utils", "cosmos1.utils.log", "cosmos1.utils.misc",
                 "cosmos1.models.guardrail.common.io_utils", "tqdm"):
        mod = types.ModuleType(name)
        mod.debug = mod.info = mod.warning = mod.error = lambda *a, **k: None
        mod.tqdm = lambda x, *a, **k: x
        mod.get_video_filepaths = mod.read_video = mod.save_video = None
        sys.modules[name] = mod
    sys.path.insert(0, os.path.abspath(cosmos_dir))
    from cosmos1.models.guardrail.face_blur_filter.face_blur_filter import RetinaFaceFilter

    # Bias the face class so that detections occur on random weights.
    a = rfh5.num_anchors(cfg)
    bias = {}
    with torch.no_grad():
        frames = np.stack([test_frame(h, w, 11 + i) for i in range(3)])
        x = torch.from_numpy(frames).float().permute(0, 3, 1, 2)[:, [2, 1, 0]] - \
            torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1)
        _, conf, _ = net(x)
        logit = torch.log(conf[..., 1]) - torch.log(conf[..., 0])
        n0 = a * ((h + 7) // 8) * ((w + 7) // 8)
        biased = torch.ones(logit.shape[1], dtype=torch.bool)
        biased[:n0] = torch.arange(n0) % a == a - 1
        delta = float(np.log(0.7 / 0.3) - torch.quantile(logit[:, biased].flatten(), 0.99))
        for i in range(3):
            k = f"ClassHead.{i}.conv1x1.bias"
            b = net.state_dict()[k].clone()
            if i == 0:
                b[2 * a - 1] += delta  # level /8: only the largest anchor (16 px boxes are never blurred)
            else:
                b[1::2] += delta
            bias[k] = b
    state = {k: v for k, v in net.state_dict().items()}
    state.update(bias)
    sd = dict(sd)
    sd.update({k: v.numpy() for k, v in bias.items()})
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "rf.pth")
        torch.save(state, pth)
        filt = RetinaFaceFilter(checkpoint=pth, device="cpu")
        official = filt.postprocess(frames.copy())
    r = ref.RetinaFaceRef(cfg, sd)
    total_boxes = total_blur = 0
    same = True
    for t in range(frames.shape[0]):
        dets = r.detect(frames[t])
        out, n = ref.blur_frame(frames[t], dets, cfg["min_face_size"], cfg["pixelate_blocks"])
        total_boxes += len(dets)
        total_blur += n
        diff = int((out != official[t]).any(axis=-1).sum())
        same &= diff == 0
        print(f"end to end frame {t}: {len(dets)} detections, {n} blurred, pixels differing from official: {diff}")
    print(f"end to end: {'IDENTICAL' if same else 'DIFFERENT'} frames ({total_boxes} detections, {total_blur} ROIs)")


def check_pixelation(seed=5, n=3000):
    import cv2

    rng = np.random.default_rng(seed)
    bad_lin = bad_nn = bad_pix = 0
    cases = [(10, 10), (5, 5), (1, 1), (1, 7), (3, 2), (20, 20), (11, 10), (2, 2), (4, 4), (6, 6)]
    cases += [tuple(int(v) for v in rng.integers(1, 71, 2)) for _ in range(n)]
    for i, (hh, ww) in enumerate(cases):
        big = rng.integers(0, 256, (hh + 6, ww + 9, 3), dtype=np.uint8)
        roi = big[3:3 + hh, 4:4 + ww]  # strided view, as a frame ROI
        blocks = 5 if i % 4 else int(rng.integers(1, 9))
        a = cv2.resize(roi, (blocks, blocks), interpolation=cv2.INTER_LINEAR)
        b = ref.resize_linear(roi, blocks, blocks)
        bad_lin += not np.array_equal(a, b)
        c = cv2.resize(a, (ww, hh), interpolation=cv2.INTER_NEAREST)
        d = ref.resize_nearest(a, ww, hh)
        bad_nn += not np.array_equal(c, d)
        bad_pix += not np.array_equal(c, ref.pixelate(roi, blocks))
        dw, dh = (int(v) for v in rng.integers(1, 40, 2))  # general sizes, up and down
        bad_lin += not np.array_equal(cv2.resize(roi, (dw, dh), interpolation=cv2.INTER_LINEAR),
                                      ref.resize_linear(roi, dw, dh))
        bad_nn += not np.array_equal(cv2.resize(roi, (dw, dh), interpolation=cv2.INTER_NEAREST),
                                     ref.resize_nearest(roi, dw, dh))
    print(f"pixelation vs cv2 {cv2.__version__}: {len(cases)} ROIs x 2 resizes; INTER_LINEAR mismatches {bad_lin}, "
          f"INTER_NEAREST mismatches {bad_nn}, pixelate mismatches {bad_pix}")
    return bad_lin + bad_nn + bad_pix


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rf", required=True, help="Pytorch_Retinaface work tree (b843f45)")
    ap.add_argument("--cosmos", help="NVIDIA/Cosmos work tree (ef2ee52), for the end-to-end check")
    ap.add_argument("--size", default="160x256", help="HxW of the network test frame")
    ap.add_argument("--skip-network", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    h, w = (int(v) for v in args.size.split("x"))
    bad = check_pixelation()
    if not args.skip_network:
        cfg_re50, RetinaFace = import_official(args.rf)
        net, cfg, sd = check_network(cfg_re50, RetinaFace, h, w)
        check_network(cfg_re50, RetinaFace, 100, 150)
        if args.cosmos:
            check_end_to_end(args.cosmos, net, cfg, sd, h, w)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
