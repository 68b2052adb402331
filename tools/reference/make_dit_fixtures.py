#!/usr/bin/env python3
"""Generate the diffusion-decoder fixtures tests/data/dd-tiny.h5 and tests/data/dd-tiny.golden.h5 from
configs/models/dd-tiny.json with the PyTorch reference tools/reference/dit_ref.py (spec
components.md section 4; numerics in docs/diffusion-decoder.md).

dd-tiny.h5: random bf16 weights in the diffusion decoder format (docs/weights.md "Diffusion decoder
files", tools/cosmos_dit_h5.py). numpy default_rng seeded with crc32("dd-tiny"), tensors drawn in
the format's key order: Linear weights N(0, 1/in_features) except the second adaLN Linear of every
modulation (0.5^2/in_features, so shift/scale/gate stay ~0.3 and no sub-block dominates), RMSNorm
weights 1 + 0.1 N(0,1), token embedding N(0,1); rounded to bf16 (nearest even).

dd-tiny.golden.h5 (root datasets; float32 unless noted; T=3 latent frames, token grid 2x3, latent
4x6, in/out channels 4, context 16 x 64):
  /x [4,3,4,6]        network input (already c_in-scaled), N(0,1), bf16-representable
  /c_noise [1]        0.25*ln(bf16(3.0)) (float32)
  /fps [1]            24
  /context [16,64]    N(0,1), bf16-representable, rows 12..15 zero (like T5 padding)
  /tokens int32 [3,2,3] uniform in [0, 512)
  /out_cond [4,3,4,6]   net(x, c_noise, context, tokens)
  /out_uncond [4,3,4,6] net(x, c_noise, zero context, all-zero tokens)
  /x_t [4,3,4,6]      N(0, 0.25 + 0.7^2), bf16-representable
  /sigma [1]          0.7 (NOT bf16-representable: the denoiser must round it to 0.69921875 first)
  /x0 [4,3,4,6]       guided denoiser D(x_t, sigma) = x0_c + 1.8 (x0_c - x0_u), sigma_data 0.5
  /noise [4,3,4,6]    N(0,1), bf16-representable
  /sample [4,3,4,6]   the "2ab" sampler from noise*80, 15 steps to sigma_min 0.02, final D at 0.02
The inputs are bf16-representable so that an engine that casts its inputs to bf16 (as the official
pipeline does) sees the same numbers. Root attributes record the generator and the scalars.

--check regenerates in memory and compares with the committed files: the weight file byte for byte,
integers exactly, float datasets within 1e-5 of the dataset's largest magnitude (float32 matmul
rounding differs across CPUs / BLAS builds; the sampler runs 32 network passes).

Usage: /usr/bin/python3 tools/reference/make_dit_fixtures.py [--out-dir tests/data] [--check]
"""

import argparse
import filecmp
import os
import sys
import tempfile
import zlib

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import cosmos_dit_h5 as fmt  # noqa: E402
import cosmos_h5  # noqa: E402
import dit_ref as ref  # noqa: E402

CONFIG = os.path.join(REPO, "configs", "models", "dd-tiny.json")
NAME = "dd-tiny"
T, HT, WT, H, W = 3, 2, 3, 4, 6
CTX_LEN, CTX_VALID = 16, 12
SIGMA_NET = 3.0     # c_noise of /x, /out_*
SIGMA_X0 = 0.7      # /sigma
FPS = 24.0
SIZE_LIMIT = 1_000_000
REL_TOL = 1e-5
GOLDEN_FLOAT = ("out_cond", "out_uncond", "x0", "sample")


def bf16(a):
    return cosmos_h5.round_to_bf16(np.asarray(a, dtype=np.float32))


def build(cfg):
    """(weight bits {key: uint16}, golden {name: array}, attrs)."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(zlib.crc32(NAME.encode()))
    bits = ref.random_bits(cfg, rng)
    net = ref.DiffusionDecoderDiT(cfg).load_bits(bits).eval()
    C = cfg["in_channels"]
    g = {}
    g["x"] = bf16(rng.standard_normal((C, T, H, W)))
    g["c_noise"] = ref.edm_coefficients(SIGMA_NET, cfg["sigma_data"])[3].numpy().astype(np.float32)
    g["fps"] = np.array([FPS], dtype=np.float32)
    ctx = bf16(rng.standard_normal((CTX_LEN, cfg["crossattn_emb_channels"])))
    ctx[CTX_VALID:] = 0.0
    g["context"] = ctx
    g["tokens"] = rng.integers(0, cfg["diffusion_decoder_token_condition_voc_size"], size=(T, HT, WT)).astype(np.int32)
    g["x_t"] = bf16(rng.standard_normal((C, T, H, W)) * np.sqrt(cfg["sigma_data"] ** 2 + SIGMA_X0 ** 2))
    g["sigma"] = np.array([SIGMA_X0], dtype=np.float32)
    g["noise"] = bf16(rng.standard_normal((C, T, H, W)))

    t = {k: torch.from_numpy(v) for k, v in g.items()}
    with torch.no_grad():
        g["out_cond"] = net(t["x"], t["c_noise"], t["context"], t["tokens"], fps=FPS).numpy()
        ctx_u, tok_u = ref.uncond_inputs(t["context"], t["tokens"])
        g["out_uncond"] = net(t["x"], t["c_noise"], ctx_u, tok_u, fps=FPS).numpy()
        g["x0"] = ref.guided_x0(net, t["x_t"], SIGMA_X0, t["context"], t["tokens"], cfg["guidance"],
                                cfg["sigma_data"], FPS).numpy()
        g["sample"] = ref.sample_from_config(net, t["noise"], t["context"], t["tokens"], fps=FPS).numpy()
    for k in GOLDEN_FLOAT:
        g[k] = g[k].astype(np.float32)
    attrs = {"model": NAME, "generator": "tools/reference/make_dit_fixtures.py",
             "sigma_of_c_noise": SIGMA_NET, "sigma_bf16": float(ref.sigma_to_bf16(SIGMA_X0)[0]),
             "guidance": float(cfg["guidance"]), "sigma_data": float(cfg["sigma_data"]),
             "sigma_min": float(cfg["sigma_min"]), "sigma_max": float(cfg["sigma_max"]),
             "num_steps": int(cfg["num_steps"]),
             "numerics": "float32 from bf16 weights, sigma rounded to bf16 before the EDM coefficients, "
                         "no bf16 rounding of activations; sampler state float64"}
    return bits, g, attrs


ORDER = ("x", "c_noise", "fps", "context", "tokens", "out_cond", "out_uncond", "x_t", "sigma", "x0", "noise",
         "sample")


def write(out_dir, cfg, bits, golden, attrs):
    wpath = os.path.join(out_dir, f"{NAME}.h5")
    with fmt.DiTWeightsWriter(wpath, cfg) as wr:
        for key, _ in fmt.expected_tensors(cfg):
            wr.add(key, bits[key])
    gpath = os.path.join(out_dir, f"{NAME}.golden.h5")
    with h5py.File(gpath, "w", track_order=True) as f:
        for k, v in attrs.items():
            f.attrs[k] = v
        for k in ORDER:
            f.create_dataset(k, data=golden[k], track_times=False)
    return wpath, gpath


def compare_golden(golden, path):
    """List of problems between the in-memory golden and the file at path."""
    bad = []
    with h5py.File(path, "r") as f:
        if sorted(f.keys()) != sorted(ORDER):
            return [f"datasets {sorted(f.keys())} != {sorted(ORDER)}"]
        for k in ORDER:
            a, b = golden[k], f[k][()]
            if a.shape != b.shape or a.dtype != b.dtype:
                bad.append(f"{k}: {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}")
            elif k in GOLDEN_FLOAT:
                err = float(np.abs(a.astype(np.float64) - b).max())
                scale = float(np.abs(b).max())
                if not err <= REL_TOL * scale:
                    bad.append(f"{k}: max diff {err:.3g} > {REL_TOL} * {scale:.3g}")
            elif not np.array_equal(a, b):
                bad.append(f"{k}: differs")
    return bad


def main(argv=None):
    ap = argparse.ArgumentParser(description="generate the dd-tiny fixtures (see module docstring)")
    ap.add_argument("--out-dir", default=os.path.join(REPO, "tests", "data"))
    ap.add_argument("--check", action="store_true", help="regenerate and compare with --out-dir")
    args = ap.parse_args(argv)
    cfg = fmt.load_config(CONFIG)
    bits, golden, attrs = build(cfg)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            wpath, _ = write(tmp, cfg, bits, golden, attrs)
            ref_w = os.path.join(args.out_dir, f"{NAME}.h5")
            ref_g = os.path.join(args.out_dir, f"{NAME}.golden.h5")
            bad = []
            if not os.path.exists(ref_w) or not filecmp.cmp(wpath, ref_w, shallow=False):
                bad.append(f"{NAME}.h5 differs")
            bad += [f"{NAME}.golden.h5: {p}" for p in
                    (compare_golden(golden, ref_g) if os.path.exists(ref_g) else ["missing"])]
        if bad:
            print("differs from the committed fixtures:\n  " + "\n  ".join(bad))
            return 1
        print("dd-tiny fixtures reproduce (weights byte for byte, inputs exactly, outputs within "
              f"{REL_TOL} relative)")
        return 0
    os.makedirs(args.out_dir, exist_ok=True)
    for p in write(args.out_dir, cfg, bits, golden, attrs):
        size = os.path.getsize(p)
        flag = "" if size < SIZE_LIMIT else f"   WARNING: >= {SIZE_LIMIT} bytes"
        print(f"  {os.path.relpath(p, REPO)}: {size} bytes{flag}")
    for k in ("out_cond", "out_uncond", "x0", "sample"):
        print(f"  {k}: std {golden[k].std():.3f}, max |.| {np.abs(golden[k]).max():.3f}")
    print(f"  |out_cond - out_uncond| max {np.abs(golden['out_cond'] - golden['out_uncond']).max():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
