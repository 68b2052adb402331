#!/usr/bin/env python3
"""Cross-check tools/reference/dv_tokenizer_ref.py against NVIDIA's official Cosmos-Tokenizer
modules (github.com/NVIDIA/Cosmos-Tokenizer, cosmos_tokenizer/modules/{layers3d,patching,
quantizers}.py, networks/continuous_video.py), fp32 on the CPU (spec components.md 2, 4.7). The
official code is NOT part of this repo: check it out somewhere else and pass its root:

    git clone https://github.com/NVIDIA/Cosmos-Tokenizer /tmp/ct   # needs einops, loguru, einx
    python3 tools/reference/dv_crosscheck_official.py --official /tmp/ct [--config dv-tokenizer-tiny] [--frames 17] [--size 64x96]

DV configs: builds the official EncoderFactorized / DecoderFactorized / FSQuantizer / Patcher3D /
UnPatcher3D for the config, copies our random weights into them (ours are strict; the official
modules may have extra unused resampling convs, which are listed and left untouched), and prints
the max abs differences of patcher, unpatcher, encoder latent, FSQ indices/codes and decoded video.

CV configs (model_type "cv_tokenizer", e.g. --config cv-tokenizer-tiny or
cosmos-1.0-tokenizer-cv8x8x8): builds the official CausalContinuousVideoTokenizer from the config
(the official continuous_video keys; AE formulation) and compares its decoder_jit() (= what the
official decoder.jit holds: post_quant_conv + decoder) with our CVDecoder on a random latent, and
its encoder_jit() latent with our CVEncoder. --export DIR also writes DIR/decoder.jit
(torch.jit.trace of the official decoder_jit, f32, our weights), DIR/mean_std.pt (a random
(mean, std) pair [C*16]), DIR/latent.npy [C,T',H',W'] and DIR/video.npy (the official decode), for
a conversion + C decode check outside the test suite (docs/dv-tokenizer.md).

Exit status 1 when any difference exceeds its tolerance (indices must be identical).
"""

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import dv_tokenizer_ref as ref  # noqa: E402

TOL = 1e-4


def copy_weights(ours, theirs, prefix_map):
    """Copy every parameter of `ours` into `theirs` (name mapped by prefix_map); return the official
    parameter names left unset."""
    dst = dict(theirs.named_parameters())
    used = set()
    for name, p in ours.named_parameters():
        tname = name
        for a, b in prefix_map:
            if tname.startswith(a):
                tname = b + tname[len(a):]
        if tname not in dst:
            raise KeyError(f"official module lacks {tname} (ours {name})")
        if dst[tname].shape != p.shape:
            raise ValueError(f"{tname}: shape {tuple(dst[tname].shape)} vs ours {tuple(p.shape)}")
        with torch.no_grad():
            dst[tname].copy_(p)
        used.add(tname)
    return sorted(set(dst) - used)


def cv_main(args, cfg):
    """The continuous tokenizer (spec 4.7) against CausalContinuousVideoTokenizer."""
    from cosmos_tokenizer.networks.continuous_video import CausalContinuousVideoTokenizer  # noqa

    T = args.frames or cfg["pixel_chunk_duration"]
    H, W = (int(v) for v in args.size.split("x")) if args.size else (cfg["height"], cfg["width"])
    sc, tc = cfg["spatial_compression"], cfg["temporal_compression"]
    Tl, Hl, Wl = 1 + (T - 1) // tc, H // sc, W // sc
    kw = {k: cfg[k] for k in ("channels", "channels_mult", "num_res_blocks", "attn_resolutions", "dropout",
                              "resolution", "z_channels", "latent_channels", "z_factor", "spatial_compression",
                              "temporal_compression", "patch_size", "patch_method", "legacy_mode", "num_groups",
                              "in_channels", "out_channels")}
    kw.update(formulation=cfg.get("formulation", "AE"), encoder="FACTORIZED", decoder="FACTORIZED", name="CV")
    official = CausalContinuousVideoTokenizer(**kw).eval()
    odec, oenc = official.decoder_jit().eval(), official.encoder_jit().eval()
    dec = ref.init_random(ref.CVDecoder(cfg), 3).eval()
    enc = ref.init_random(ref.CVEncoder(cfg), 4).eval()
    left = copy_weights(dec, odec, [])
    print("official decoder params not in ours (unused):", left)
    left_e = copy_weights(enc, oenc, [])
    print("official encoder params not in ours (unused):", left_e)
    res = {}
    g = torch.Generator().manual_seed(args.seed)
    z = torch.randn(1, cfg["latent_channels"], Tl, Hl, Wl, generator=g)
    x = torch.rand(1, cfg["in_channels"], T, H, W, generator=g) * 2 - 1
    with torch.no_grad():
        v_off, v_our = odec(z), dec(z)
        res["decoded video"] = (v_off - v_our).abs().max().item()
        res["decoded video max |value|"] = f"{v_our.abs().max().item():.3g}"
        res["decoded shape"] = f"{tuple(v_our.shape)} vs official {tuple(v_off.shape)}"
        lat_off, _ = oenc(x)
        lat_our = enc(x)
        res["encoder latent"] = (lat_off - lat_our).abs().max().item()
        res["latent shape"] = f"{tuple(lat_our.shape)} vs official {tuple(lat_off.shape)}"
        # the official de-normalisation (pretrained_vae.py) vs ours
        mean, std = torch.randn(cfg["latent_channels"] * 16, generator=g) * 0.1, torch.rand(
            cfg["latent_channels"] * 16, generator=g) + 0.5
        m = mean.view(cfg["latent_channels"], -1)[:, :Tl].reshape(1, -1, Tl, 1, 1)
        s_ = std.view(cfg["latent_channels"], -1)[:, :Tl].reshape(1, -1, Tl, 1, 1)
        res["de-normalisation"] = ((z / 0.5 * s_ + m) - ref.denormalize(z, mean, std)).abs().max().item()
    ok = v_off.shape == v_our.shape and lat_off.shape == lat_our.shape
    if args.export:
        import numpy as np

        os.makedirs(args.export, exist_ok=True)
        # traced: torch.jit.script of the CT UnPatcher3D fails on its `range` attribute in torch 2.x
        with torch.no_grad():
            torch.jit.trace(odec, z, check_trace=False).save(os.path.join(args.export, "decoder.jit"))
        torch.save((mean, std), os.path.join(args.export, "mean_std.pt"))
        np.save(os.path.join(args.export, "latent.npy"), z[0].numpy())
        with torch.no_grad():
            v_jit = torch.jit.load(os.path.join(args.export, "decoder.jit"))(z)
        np.save(os.path.join(args.export, "video.npy"), v_jit[0].numpy())
        res["traced decoder.jit vs module"] = (v_jit - v_off).abs().max().item()
        print(f"exported {args.export}: decoder.jit, mean_std.pt, latent.npy {tuple(z[0].shape)}, "
              f"video.npy {tuple(v_jit[0].shape)}")
    return res, ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", required=True, help="root of a Cosmos-Tokenizer checkout")
    ap.add_argument("--config", default="dv-tokenizer-tiny")
    ap.add_argument("--frames", type=int, default=0, help="T (1+8k); 0 = config pixel_chunk_duration")
    ap.add_argument("--size", default="", help="HxW (multiples of 16); default = config height x width")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export", default="", help="CV configs: write decoder.jit, mean_std.pt, latent/video .npy here")
    args = ap.parse_args()
    sys.path.insert(0, args.official)
    from cosmos_tokenizer.modules.layers3d import DecoderFactorized, EncoderFactorized  # noqa
    from cosmos_tokenizer.modules.patching import Patcher3D, UnPatcher3D  # noqa
    from cosmos_tokenizer.modules.quantizers import FSQuantizer  # noqa

    torch.manual_seed(args.seed)
    torch.set_num_threads(4)
    cfg = ref.load_config(os.path.join(REPO, "configs", "models", args.config + ".json"))
    if cfg.get("model_type") == "cv_tokenizer":
        res, ok = cv_main(args, cfg)
        for k, v in res.items():
            print(f"{k:32s} {v}")
            if isinstance(v, float) and v > TOL:
                ok = False
        return 0 if ok else 1
    T = args.frames or cfg["pixel_chunk_duration"]
    H, W = (int(v) for v in args.size.split("x")) if args.size else (cfg["height"], cfg["width"])
    x = torch.rand(1, cfg["in_channels"], T, H, W) * 2 - 1
    kw = {k: cfg[k] for k in ("channels", "channels_mult", "num_res_blocks", "attn_resolutions", "dropout",
                              "resolution", "z_channels", "spatial_compression", "temporal_compression",
                              "patch_size", "patch_method", "legacy_mode")}
    res = {}
    ok = True

    with torch.no_grad():
        p = cfg["patch_size"]
        off_patch = Patcher3D(p, "haar")(x)
        our_patch = ref.haar_patch(x, p)
        res["patcher"] = (off_patch - our_patch).abs().max().item()
        res["unpatcher"] = (UnPatcher3D(p, "haar")(our_patch) - ref.haar_unpatch(our_patch, p)).abs().max().item()
        res["patch round trip (ours)"] = (ref.haar_unpatch(our_patch, p) - x).abs().max().item()

        enc = ref.init_random(ref.DVEncoder(cfg), 1).eval()
        dec = ref.init_random(ref.DVDecoder(cfg), 2).eval()
        oenc = EncoderFactorized(in_channels=cfg["in_channels"], **kw).eval()
        left = copy_weights(enc.encoder, oenc, [])
        print("official encoder params not in ours (unused):", left)
        oquant_conv = torch.nn.Conv3d(cfg["z_channels"], cfg["embedding_dim"], 1)
        oquant_conv.weight.copy_(enc.quant_conv.conv3d.weight)
        oquant_conv.bias.copy_(enc.quant_conv.conv3d.bias)
        ofsq = FSQuantizer(levels=cfg["levels"], dtype=torch.float32)
        z_off = oquant_conv(oenc(x))
        z_our = enc.latent(x)
        res["encoder latent"] = (z_off - z_our).abs().max().item()
        oidx, ocodes, _ = ofsq(z_off)
        idx, codes = enc.fsq.quantize(z_our)
        res["fsq index mismatches"] = int((oidx.squeeze(1).long() if oidx.ndim == 5 else oidx.long()).ne(idx).sum())
        res["fsq codes"] = (ocodes - codes).abs().max().item()
        # FSQ alone on identical inputs, including values near rounding boundaries
        zz = torch.randn(1, len(cfg["levels"]), 64, 16, 16) * 2
        a_idx, a_codes, _ = ofsq(zz)
        b_idx, b_codes = enc.fsq.quantize(zz)
        res["fsq-only index mismatches"] = int(a_idx.reshape(b_idx.shape).long().ne(b_idx).sum())
        res["fsq-only codes"] = (a_codes - b_codes).abs().max().item()
        oinv = ofsq.indices_to_codes(b_idx)
        res["fsq inverse"] = (oinv - enc.fsq.dequantize(b_idx)).abs().max().item()

        odec = DecoderFactorized(out_channels=cfg["out_channels"], **kw).eval()
        left = copy_weights(dec.decoder, odec, [])
        print("official decoder params not in ours (unused):", left)
        opq = torch.nn.Conv3d(cfg["embedding_dim"], cfg["z_channels"], 1)
        opq.weight.copy_(dec.post_quant_conv.conv3d.weight)
        opq.bias.copy_(dec.post_quant_conv.conv3d.bias)
        v_off = odec(opq(ofsq.indices_to_codes(idx)))
        v_our = dec(idx)
        res["decoded video"] = (v_off - v_our).abs().max().item()
        res["decoded shape"] = f"{tuple(v_our.shape)} vs official {tuple(v_off.shape)}"

    for k, v in res.items():
        print(f"{k:28s} {v}")
        if isinstance(v, float) and v > TOL:
            ok = False
        if isinstance(v, int) and v != 0:
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
