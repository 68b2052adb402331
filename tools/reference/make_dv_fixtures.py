#!/usr/bin/env python3
"""Generate the DV tokenizer fixtures tests/data/dv-ops.h5, dv-tiny-encoder.h5 and dv-tiny-decoder.h5, and
the CV tokenizer fixture tests/data/cv-tiny-decoder.h5 (each < 1 MB) from the PyTorch reference
tools/reference/dv_tokenizer_ref.py (spec components.md section 2; 4.7 for CV). Read by
tests/unit/test_dv_ops.c, tests/unit/test_dv_decoder.c and tests/unit/test_cv_decoder.c.

Layout of dv-ops.h5 (root-level datasets named group.name; written below as group/name; all
float32 unless noted; videos [C,T,H,W], batch dim dropped):
  haar/x [3,9,16,24], haar/patch [192,3,4,6]            patch_size 4, tap 1/sqrt(2)
  haar/patch_bf16tap                                    same with the bf16 tap 0.70703125
  haar/y [192,3,4,6], haar/unpatch [3,9,16,24]          inverse of a random y
  haar/unpatch_bf16tap                                  same with the bf16 tap
  haar_odd/x [2,2,8,8], haar_odd/patch [128,2,2,2]      T=2: 5 frames, reflect padding in time
  conv/<case>/{x,w,b,y}, conv/<case>/params int32 [8] = kt,kh,kw,time_pad,stride_t,stride_s,pad_lo,pad_hi
      w is [Cout, Cin*kt*kh*kw] with bf16-representable values (the test also runs it as bf16)
  groupnorm/{x [6,4,5,7], gamma [6], beta [6], y}       eps 1e-6, gamma/beta bf16-representable
  swish/{x [2000], y}
  fsq/z [6,3,8,8], fsq/indices int32 [3*8*8], fsq/codes [6,3,8,8]; fsq/levels int32 [6]
  fsq/deq_indices int32 [4096], fsq/deq_codes [6,4096]
  fsq/edge_z [6,N], fsq/edge_indices int32 [N], fsq/edge_codes [6,N]   z within 4 ulp of every
      rounding boundary of every channel (the other channels random)

Layout of dv-tiny-decoder.h5: see build_decoder() (bf16 weights as uint16 with attribute
dtype="bfloat16", the convention of tools/cosmos_h5.py and core/h5file); of cv-tiny-decoder.h5: see
build_cv_decoder() (a complete CV tokenizer file of the decoder part plus test data).

Inputs: torch.Generator seeded per case; single-threaded torch. --check regenerates in memory
build and compares every dataset with the committed file (integers and bf16 bit patterns exactly,
floats within 1e-6 relative to the dataset's largest magnitude: torch versions differ in the last
bits).

Usage: python3 tools/reference/make_dv_fixtures.py [--out-dir tests/data] [--check] [--only FILE ...]
"""

import argparse
import json
import os
import sys
import tempfile

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import cosmos_h5  # noqa: E402
import dv_tokenizer_ref as ref  # noqa: E402

SIZE_LIMIT = 1_000_000
BF16_TAP = 0.70703125
LEVELS = [8, 8, 8, 5, 5, 5]

# name: (cin, cout, T, H, W, kt, kh, kw, time_pad, stride_t, stride_s, pad_lo, pad_hi)
CONV_CASES = {
    "spatial": (5, 7, 4, 6, 10, 1, 3, 3, 0, 1, 1, 1, 1),      # factorized (1,3,3), p=1
    "temporal": (5, 7, 4, 6, 10, 3, 1, 1, 2, 1, 1, 0, 0),     # factorized (3,1,1): 2 copies of frame 0
    "temporal_down": (6, 6, 5, 4, 6, 3, 1, 1, 2, 2, 1, 0, 0), # downsample conv2 after its own prepend
    "spatial_down": (6, 6, 3, 8, 10, 1, 3, 3, 0, 1, 2, 0, 1), # downsample conv1 on the (0,1)-padded input
    "pointwise": (9, 4, 3, 5, 6, 1, 1, 1, 0, 1, 1, 0, 0),     # 1x1x1 (shortcut, q/k/v, quant_conv)
    "full3d": (4, 5, 4, 5, 7, 3, 3, 3, 2, 1, 1, 1, 1),        # a non-factorized kernel, for generality
}


def gen(seed):
    return torch.Generator().manual_seed(seed)


def bf16_round(t):
    return t.to(torch.bfloat16).to(torch.float32)


def build():
    torch.set_num_threads(1)
    d = {}
    g = gen(1)
    x = torch.rand(1, 3, 9, 16, 24, generator=g) * 2 - 1
    d["haar.x"] = x[0]
    d["haar.patch"] = ref.haar_patch(x, 4)[0]
    d["haar.patch_bf16tap"] = ref.haar_patch(x, 4, BF16_TAP)[0]
    y = torch.randn(1, 192, 3, 4, 6, generator=g)
    d["haar.y"] = y[0]
    d["haar.unpatch"] = ref.haar_unpatch(y, 4)[0]
    d["haar.unpatch_bf16tap"] = ref.haar_unpatch(y, 4, BF16_TAP)[0]
    xo = torch.rand(1, 2, 2, 8, 8, generator=g) * 2 - 1
    d["haar_odd.x"] = xo[0]
    d["haar_odd.patch"] = ref.haar_patch(xo, 4)[0]

    for i, (name, c) in enumerate(sorted(CONV_CASES.items())):
        cin, cout, T, H, W, kt, kh, kw, tpad, st, ss, plo, phi = c
        g = gen(100 + i)
        x = torch.randn(1, cin, T, H, W, generator=g)
        w = bf16_round(torch.randn(cout, cin, kt, kh, kw, generator=g) / (cin * kt * kh * kw) ** 0.5)
        b = bf16_round(0.1 * torch.randn(cout, generator=g))
        y = ref.causal_conv3d(x, w, b, tpad, st, ss, plo, phi)
        d[f"conv.{name}.x"] = x[0]
        d[f"conv.{name}.w"] = w.reshape(cout, -1)
        d[f"conv.{name}.b"] = b
        d[f"conv.{name}.y"] = y[0]
        d[f"conv.{name}.params"] = np.array([kt, kh, kw, tpad, st, ss, plo, phi], dtype=np.int32)

    g = gen(200)
    x = torch.randn(1, 6, 4, 5, 7, generator=g) * 3 + 2
    gamma = bf16_round(1 + 0.1 * torch.randn(6, generator=g))
    beta = bf16_round(0.1 * torch.randn(6, generator=g))
    d["groupnorm.x"], d["groupnorm.gamma"], d["groupnorm.beta"] = x[0], gamma, beta
    d["groupnorm.y"] = ref.group_norm_frames(x, gamma, beta, 1e-6)[0]

    g = gen(300)
    xs = torch.linspace(-20, 20, 2000) + 0.01 * torch.randn(2000, generator=g)
    d["swish.x"], d["swish.y"] = xs, ref.swish(xs)

    g = gen(400)
    fsq = ref.FSQ(LEVELS)
    z = torch.randn(1, 6, 3, 8, 8, generator=g) * 1.5
    z[0, :, 0, 0, 0] = 0.0
    z[0, :, 0, 0, 1] = 50.0
    z[0, :, 0, 0, 2] = -50.0
    idx, codes = fsq.quantize(z)
    d["fsq.z"], d["fsq.codes"] = z[0], codes[0]
    d["fsq.indices"] = idx[0].reshape(-1).to(torch.int32)
    d["fsq.levels"] = np.array(LEVELS, dtype=np.int32)
    di = torch.randint(0, 64000, (4096,), generator=g)
    di[:4] = torch.tensor([0, 1, 63999, 12800])
    d["fsq.deq_indices"] = di.to(torch.int32)
    d["fsq.deq_codes"] = fsq.dequantize(di.unsqueeze(0))[0]
    # z at the rounding boundaries: for every channel and every half-integer k+0.5 of the bounded
    # range, the f32 pre-image atanh((k+0.5+offset)/half_l) - shift and its 1..4-ulp neighbours
    zs = []
    for c, L in enumerate(LEVELS):
        hl, off, sh = fsq.half_l[c].item(), fsq.offset[c].item(), fsq.shift[c].item()
        for k in range(-(L // 2), (L - 1) // 2):  # boundaries between consecutive q values
            z0 = np.float32(np.arctanh((k + 0.5 + off) / hl) - sh)
            for u in range(-4, 5):
                zs.append((c, np.float32(z0 + np.float32(u) * np.spacing(z0))))
    ze = torch.zeros(6, len(zs))
    for j, (c, v) in enumerate(zs):
        ze[:, j] = torch.randn(6, generator=g)
        ze[c, j] = float(v)
    ie, ce = fsq.quantize(ze.unsqueeze(0))
    d["fsq.edge_z"], d["fsq.edge_indices"], d["fsq.edge_codes"] = ze, ie[0].to(torch.int32), ce[0]
    return {k: (v.detach().numpy() if torch.is_tensor(v) else v) for k, v in d.items()}


def build_encoder():
    """dv-tiny-encoder.h5: random weights of configs/models/dv-tokenizer-tiny.json under their
    official state-dict names (encoder.*, quant_conv.*; f32; conv weights flattened to 2-D), a clip /video [3,9,32,48] in [-1,1],
    and the reference's /latent [6,2,2,3] (quant_conv output), /indices int32 [2,2,3], /codes."""
    torch.set_num_threads(1)
    cfg = ref.load_config(os.path.join(REPO, "configs", "models", "dv-tokenizer-tiny.json"))
    enc = ref.init_random(ref.DVEncoder(cfg), 11).eval()
    g = gen(500)
    video = torch.rand(1, 3, cfg["pixel_chunk_duration"], cfg["height"], cfg["width"], generator=g) * 2 - 1
    with torch.no_grad():
        z = enc.latent(video)
        idx, codes = enc.fsq.quantize(z)
    # 5-D conv weights flattened to [Cout, Cin*kt*kh*kw] (the HDF5 reader takes rank <= 4)
    d = {k: (v.detach().reshape(v.shape[0], -1) if v.ndim == 5 else v.detach()) for k, v in enc.state_dict().items()}
    d["video"], d["latent"], d["codes"] = video[0], z[0], codes[0]
    d["indices"] = idx[0].to(torch.int32)
    return {k: v.numpy() for k, v in d.items()}


class BF16:
    """A dataset stored as bf16: uint16 bit patterns + attribute dtype="bfloat16"."""

    def __init__(self, t):
        self.bits = cosmos_h5.f32_to_bf16_bits(np.asarray(t, dtype=np.float32))


DEC_LATENT = (3, 2, 3)  # Tl, Hl, Wl: 17 frames of 32x48; two latent frames after the first


def build_decoder():
    """dv-tiny-decoder.h5: the decoder of configs/models/dv-tokenizer-tiny.json with random weights
    rounded to bf16 and stored as bf16 under their official names (post_quant_conv.*, decoder.*;
    conv weights flattened to [Cout, Cin*kt*kh*kw]), plus what a converted official decoder.jit
    carries besides: the unpatcher's taps /decoder.unpatcher3d.wavelets bf16 [2] = [a, a] with
    a = bf16(1/sqrt(2)) = 0.70703125 (spec 2.4), and an unused CT-style
    decoder.up.2.upsample.conv1 (up.2 has no temporal upsample; spec 2.9).
    Data: /indices int32 [3,2,3] uniform in [0, 64000) with 0 and 63999 at the first two positions,
    /video f32 [3,17,32,48]: the reference decode (before clamping) with the bf16 tap."""
    torch.set_num_threads(1)
    cfg = ref.load_config(os.path.join(REPO, "configs", "models", "dv-tokenizer-tiny.json"))
    dec = ref.init_random(ref.DVDecoder(cfg), 12).eval()
    with torch.no_grad():
        for p in dec.parameters():
            p.copy_(bf16_round(p))
    g = gen(600)
    idx = torch.randint(0, 64000, (1,) + DEC_LATENT, generator=g)
    idx[0, 0, 0, 0], idx[0, 0, 0, 1] = 0, 63999
    with torch.no_grad():
        video = dec(idx, tap=BF16_TAP)
    d = {k: BF16(v.detach().reshape(v.shape[0], -1) if v.ndim == 5 else v.detach()) for k, v in dec.state_dict().items()}
    c = cfg["channels"] * cfg["channels_mult"][-1]
    d["decoder.up.2.upsample.conv1.conv3d.weight"] = BF16(torch.randn(c, c * 3, generator=g))
    d["decoder.up.2.upsample.conv1.conv3d.bias"] = BF16(torch.randn(c, generator=g))
    d["decoder.unpatcher3d.wavelets"] = BF16(np.array([BF16_TAP, BF16_TAP], dtype=np.float32))
    d["indices"] = idx[0].to(torch.int32).numpy()
    d["video"] = video[0].numpy()
    return d


CV_LATENT = (3, 3, 4)  # Tl, Hl, Wl: 17 frames of 24x32


def build_cv_decoder():
    """cv-tiny-decoder.h5: the root attributes of a CV tokenizer file (docs/weights.md "CV tokenizer
    files": model_type "cv_tokenizer", the config of configs/models/cv-tokenizer-tiny.json,
    has_encoder 0, has_decoder 1) over the decoder of that config with random weights rounded to bf16
    and stored as bf16 under their official names (post_quant_conv.*, decoder.*; conv weights
    flattened to [Cout, Cin*kt*kh*kw]), the bf16 taps decoder.unpatcher3d.wavelets, the latent
    statistics mean_std.mean / mean_std.std f32 [4, 16] (mean 0.1 N(0,1), std uniform [0.5, 1.5)),
    and what makes it a test file rather than a strict one: the three never-called convs of the
    CT-built up.2 sampler (decoder.up.2.upsample.conv{1,2,3}: both flags off, spec 4.7 / A.3), and
    the data /x f32 [4,3,3,4] (a diffusion-decoder output, 0.5 N(0,1)), /latent f32 [4,3,3,4] (the
    reference's de-normalisation x / 0.5 * std[:, :3] + mean[:, :3], spec 4.7) and /video f32
    [3,17,24,32] (the reference decode of /latent with the bf16 tap, before clamping)."""
    torch.set_num_threads(1)
    cfg = ref.load_config(os.path.join(REPO, "configs", "models", "cv-tokenizer-tiny.json"))
    dec = ref.init_random(ref.CVDecoder(cfg), 13).eval()
    with torch.no_grad():
        for p in dec.parameters():
            p.copy_(bf16_round(p))
    g = gen(700)
    C, (Tl, Hl, Wl) = cfg["latent_channels"], CV_LATENT
    mean = 0.1 * torch.randn(C, 16, generator=g)
    std = 0.5 + torch.rand(C, 16, generator=g)
    x = 0.5 * torch.randn(1, C, Tl, Hl, Wl, generator=g)
    with torch.no_grad():
        z = ref.denormalize(x, mean, std)
        video = dec(z, tap=BF16_TAP)
    d = {k: BF16(v.detach().reshape(v.shape[0], -1) if v.ndim == 5 else v.detach()) for k, v in dec.state_dict().items()}
    c = cfg["channels"] * cfg["channels_mult"][2]
    for conv, k in ((1, 3), (2, 9), (3, 1)):
        d[f"decoder.up.2.upsample.conv{conv}.conv3d.weight"] = BF16(torch.randn(c, c * k, generator=g))
        d[f"decoder.up.2.upsample.conv{conv}.conv3d.bias"] = BF16(torch.randn(c, generator=g))
    d["decoder.unpatcher3d.wavelets"] = BF16(np.array([BF16_TAP, BF16_TAP], dtype=np.float32))
    d["mean_std.mean"], d["mean_std.std"] = mean.numpy(), std.numpy()
    d["x"], d["latent"], d["video"] = x[0].numpy(), z[0].numpy(), video[0].numpy()
    attrs = {"cosmos_format": cosmos_h5.FORMAT_NAME, "format_version": np.int64(cosmos_h5.FORMAT_VERSION),
             "model_type": "cv_tokenizer", "config": json.dumps(cfg), "has_encoder": np.int64(0),
             "has_decoder": np.int64(1)}
    return d, attrs


FILES = {"dv-ops.h5": build, "dv-tiny-encoder.h5": build_encoder, "dv-tiny-decoder.h5": build_decoder,
         "cv-tiny-decoder.h5": build_cv_decoder}


def write(path, d, attrs=None):
    with h5py.File(path, "w") as f:
        f.attrs["generator"] = "tools/reference/make_dv_fixtures.py"
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
        for k, v in d.items():
            if isinstance(v, BF16):
                f.create_dataset(k, data=v.bits).attrs["dtype"] = "bfloat16"
            else:
                f.create_dataset(k, data=v)
    size = os.path.getsize(path)
    if size > SIZE_LIMIT:
        raise SystemExit(f"{path}: {size} bytes > {SIZE_LIMIT}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", default=os.path.join(REPO, "tests", "data"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--only", choices=sorted(FILES), action="append",
                    help="write (or check) just this file; repeatable")
    args = ap.parse_args()
    bad = 0
    for fname, fn in FILES.items():
        if args.only and fname not in args.only:
            continue
        d = fn()
        d, attrs = d if isinstance(d, tuple) else (d, None)
        if not args.check:
            path = os.path.join(args.out_dir, fname)
            write(path, d, attrs)
            print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(d)} datasets)")
        else:
            bad += check(os.path.join(REPO, "tests", "data", fname), d, attrs)
    if args.check:
        print("dv fixtures reproducible" if not bad else f"{bad} datasets differ")
    return 1 if bad else 0


def check(committed, d, attrs=None):
    bad = 0
    with h5py.File(committed, "r") as f:
        for k, v in (attrs or {}).items():
            got = f.attrs.get(k)
            got = got.decode() if isinstance(got, bytes) else got
            if got != v:
                print(f"{committed}: attribute {k} is {got!r}, expected {v!r}")
                bad += 1
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        if sorted(names) != sorted(d):
            print(f"{committed}: dataset sets differ:", sorted(set(names) ^ set(d)))
            return 1
        for k, v in d.items():
            if isinstance(v, BF16):
                if f[k].attrs.get("dtype") != "bfloat16":
                    print(f"{committed} {k}: not tagged dtype=bfloat16")
                    bad += 1
                    continue
                v = v.bits
            old = f[k][()]
            if old.shape != v.shape or old.dtype != v.dtype:
                print(f"{k}: shape/dtype {old.shape} {old.dtype} vs {v.shape} {v.dtype}")
                bad += 1
                continue
            diff = np.abs(old.astype(np.float64) - v.astype(np.float64)).max() if v.size else 0.0
            # torch versions differ in the last bits of sums and linspace: allow 1e-6 relative to the
            # dataset's largest magnitude for floats, nothing for integers
            tol = 0 if v.dtype.kind in "iu" else 1e-6 * max(1.0, float(np.abs(v).max()))
            if diff > tol:
                print(f"{committed} {k}: differs by {diff}")
                bad += 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
