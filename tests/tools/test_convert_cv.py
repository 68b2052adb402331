#!/usr/bin/env python3
"""Tests for the CV tokenizer weight file (docs/weights.md "CV tokenizer files"; spec components.md
4.7, Appendix A.3): tools/convert_checkpoint.py `tokenizer` with a cv_tokenizer config,
tools/cosmos_dv_h5.py, and (given the binary) `cosmos-ar init` / `info` with a cv_tokenizer config.

- key lists: tools/cosmos_dv_h5.py against the state_dict of the reference modules
  (tools/reference/dv_tokenizer_ref.py CVEncoder / CVDecoder), tiny and full config, and the spec's
  parameter counts (decoder 62 738 832; encoder 42 914 864, spec 4.7's "42.9M");
- converter: fake decoder.jit / encoder.jit made with torch.jit.trace of wrappers around the
  reference modules, named like the official archives and carrying the JIT-only buffers
  (decoder.unpatcher3d.*, encoder.patcher3d.*) and the never-called convs of the CT-built samplers
  (decoder.up.2.upsample.conv{1,2,3}, encoder.down.1.downsample.conv{1,2,3}), plus a fake
  mean_std.pt (torch.save of a (mean, std) pair). Round trip (flattened, dtype kept, taps as
  stored, statistics viewed as [C, N]), the converted weights decode like the traced module, and
  a missing / unknown key, a bad mean_std.pt, --mean-std with a DV config and a DV archive under a
  CV config each exit 2 naming the problem and leave no output;
- `cosmos-ar init` (argv[1]): keys and shapes equal the reference CVDecoder's state_dict (+ taps),
  decoder part only, statistics [C, 16] with std > 0, determinism in the seed, the reference runs
  on the weights with finite outputs; `cosmos-ar info` describes the file (tiny; full with --full:
  62 738 832 parameters).

Plain script: /usr/bin/python3 tests/tools/test_convert_cv.py [COSMOS_AR] [--full]
Prints "N passed, M failed" and exits non-zero on any failure.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings

import h5py
import numpy as np
import torch
import torch.nn as nn

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, os.path.join(REPO, "tools", "reference"))
import cosmos_dv_h5 as dv  # noqa: E402
import cosmos_h5  # noqa: E402
import dv_tokenizer_ref as ref  # noqa: E402
from harness import check, summary  # noqa: E402
from test_convert_dv import (BF16_TAP_BITS, Buffers, bits, expect, no_output_left, save_state_archive,  # noqa: E402
                             save_traced)

TINY = os.path.join(REPO, "configs", "models", "cv-tokenizer-tiny.json")
FULL = os.path.join(REPO, "configs", "models", "cosmos-1.0-tokenizer-cv8x8x8.json")
DV_TINY = os.path.join(REPO, "configs", "models", "dv-tokenizer-tiny.json")
CONVERTER = os.path.join(REPO, "tools", "convert_checkpoint.py")
UNUSED_UP2 = [f"decoder.up.2.upsample.conv{i}.conv3d.{p}" for i in (1, 2, 3) for p in ("weight", "bias")]
UNUSED_DOWN1 = [f"encoder.down.1.downsample.conv{i}.conv3d.{p}" for i in (1, 2, 3) for p in ("weight", "bias")]


def ref_state_shapes(module):
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


class CVDecoderJit(nn.Module):
    """post_quant_conv + decoder as the official CV decoder.jit names them (+ buffers and the three
    never-called convs of the CT-built up.2 sampler, whose flags are both off)."""

    def __init__(self, cfg, seed):
        super().__init__()
        m = ref.init_random(ref.CVDecoder(cfg), seed)
        self.post_quant_conv, self.decoder = m.post_quant_conv, m.decoder
        self.decoder.unpatcher3d = Buffers(wavelets=torch.full((2,), 1 / math.sqrt(2)).to(torch.bfloat16))
        self.decoder.unpatcher3d.register_buffer("_arange", torch.arange(2))
        c = cfg["channels"] * cfg["channels_mult"][2]
        up2 = self.decoder.up[2]
        up2.upsample = ref.Upsample(c, False, False)
        up2.upsample.conv1 = ref.CausalConv3d(c, c, (3, 1, 1))
        up2.upsample.conv2 = ref.CausalConv3d(c, c, (1, 3, 3), padding=1)
        up2.upsample.conv3 = ref.CausalConv3d(c, c)

    def forward(self, z):
        return self.decoder(self.post_quant_conv(z), tap=0.70703125)


class CVEncoderJit(nn.Module):
    """encoder + quant_conv (+ patcher buffers, the never-called convs of the CT down.1 sampler)."""

    def __init__(self, cfg, seed):
        super().__init__()
        m = ref.init_random(ref.CVEncoder(cfg), seed)
        self.encoder, self.quant_conv = m.encoder, m.quant_conv
        self.encoder.patcher3d = Buffers(wavelets=torch.full((2,), 1 / math.sqrt(2)), _arange=torch.arange(2))
        c = cfg["channels"] * cfg["channels_mult"][1]
        down1 = self.encoder.down[1]
        down1.downsample = ref.Downsample(c, False, False)
        down1.downsample.conv1 = ref.CausalConv3d(c, c, (1, 3, 3), stride=2)
        down1.downsample.conv2 = ref.CausalConv3d(c, c, (3, 1, 1), time_stride=2)
        down1.downsample.conv3 = ref.CausalConv3d(c, c)

    def forward(self, x):
        return self.quant_conv(self.encoder(x))


def run_convert(config, out, encoder=None, decoder=None, mean_std=None, dtype=None):
    cmd = [sys.executable, CONVERTER, "tokenizer", "--config", config, "--out", out]
    for flag, v in (("--encoder", encoder), ("--decoder", decoder), ("--mean-std", mean_std), ("--dtype", dtype)):
        if v:
            cmd += [flag, v]
    return subprocess.run(cmd, capture_output=True, text=True)


# ---------------------------------------------------------------------------------------------


def test_key_lists():
    for path in (TINY, FULL):
        cfg = dv.load_config(path)
        expect(dv.is_cv(cfg) and dv.latent_channels(cfg) == cfg["latent_channels"], f"{path}: not a CV config")
        enc, dec = ref.CVEncoder(cfg), ref.CVDecoder(cfg)
        expect(ref_state_shapes(dec) == [(k, tuple(s)) for k, s in dv.decoder_tensors(cfg, with_wavelets=False)],
               f"{path}: decoder key list differs from the reference's state_dict")
        expect(ref_state_shapes(enc) == [(k, tuple(s)) for k, s in dv.encoder_tensors(cfg)],
               f"{path}: encoder key list differs from the reference's state_dict")
        if path == FULL:
            n_dec = sum(int(np.prod(s)) for _, s in dv.decoder_tensors(cfg, with_wavelets=False))
            n_enc = sum(int(np.prod(s)) for _, s in dv.encoder_tensors(cfg))
            expect((n_dec, n_enc) == (62738832, 42914864), f"parameter counts {n_dec}, {n_enc} (spec 4.7)")
            keys = {k for k, _ in dv.decoder_tensors(cfg)}
            expect(not any(k.startswith("decoder.up.2.upsample") for k in keys), "up.2 has no sampler weights")
            expect(all(dv.is_unused_ct_conv(cfg, k) for k in UNUSED_UP2 + UNUSED_DOWN1), "CT extras not recognised")
            expect(not dv.is_unused_ct_conv(cfg, "decoder.up.1.upsample.conv1.conv3d.weight"), "up.1 conv1 is used")


def test_config_rules():
    cfg = dv.load_config(TINY)
    for bad in ({"levels": [8, 8]}, {"embedding_dim": 6}, {"formulation": "VAE"}, {"temporal_compression": 4},
                {"latent_channels": 0}, {"model_type": "cv"}, {"quantizer": "FSQ"}):
        try:
            dv.validate_config(dict(cfg, **bad))
        except cosmos_h5.FormatError:
            continue
        raise AssertionError(f"config change {bad} was accepted")
    c = dict(cfg)
    del c["latent_channels"]
    try:
        dv.validate_config(c)
    except cosmos_h5.FormatError as exc:
        expect("latent_channels" in str(exc), str(exc))
    else:
        raise AssertionError("a CV config without latent_channels was accepted")
    try:
        dv.validate_config(dict(dv.load_config(DV_TINY), latent_channels=4))
    except cosmos_h5.FormatError as exc:
        expect("continuous" in str(exc), str(exc))
    else:
        raise AssertionError("a DV config with latent_channels was accepted")


def make_archives(tmp, cfg):
    dec_path, enc_path = os.path.join(tmp, "cv-decoder.jit"), os.path.join(tmp, "cv-encoder.jit")
    z = torch.randn(1, cfg["latent_channels"], 2, 3, 4)
    dec_state = save_traced(CVDecoderJit(cfg, 21), z, dec_path, dtype=torch.bfloat16)
    x = torch.rand(1, 3, cfg["pixel_chunk_duration"], cfg["height"], cfg["width"]) * 2 - 1
    enc_state = save_traced(CVEncoderJit(cfg, 22), x, enc_path)  # f32
    return dec_path, enc_path, dec_state, enc_state


def test_converter(tmp):
    cfg = dv.load_config(TINY)
    dec_path, enc_path, dec_state, enc_state = make_archives(tmp, cfg)
    expect(all(k in dec_state for k in UNUSED_UP2) and all(k in enc_state for k in UNUSED_DOWN1),
           "fake archives lack the CT extras")
    expect(dec_state[dv.WAVELETS_KEY].dtype == torch.bfloat16, "fake decoder taps are not bf16")
    C = cfg["latent_channels"]
    mean = 0.1 * torch.randn(1, C, 16, 1, 1)  # the official shape is unknown; any view-able (C, -1) works
    std = 0.5 + torch.rand(C * 16)
    ms_path = os.path.join(tmp, "mean_std.pt")
    torch.save((mean, std), ms_path)
    out = os.path.join(tmp, "cv.h5")
    r = run_convert(TINY, out, decoder=dec_path, encoder=enc_path, mean_std=ms_path)
    expect(r.returncode == 0, f"conversion failed: {r.stderr}")
    for dropped in UNUSED_UP2 + UNUSED_DOWN1 + ["decoder.unpatcher3d._arange", "encoder.patcher3d.wavelets"]:
        expect(dropped in r.stderr, f"the notes do not mention dropping {dropped}: {r.stderr}")
    expect("cv_tokenizer" in r.stdout and f"[{C}, 16]" in r.stdout, r.stdout)
    cfg2, parts, arrays, dtypes = dv.read_dv_weights(out)
    expect(cfg2 == cfg and parts == {"encoder", "decoder"}, "config / parts")
    with h5py.File(out, "r") as f:
        expect(f.attrs["model_type"] == "cv_tokenizer", f"model_type {f.attrs['model_type']}")
        for key, shape in dv.expected_tensors(cfg, ("encoder", "decoder")):
            ds = f[key]
            expect(ds.shape == dv.stored_shape(shape), f"{key}: stored shape {ds.shape}")
            if key == dv.WAVELETS_KEY:
                expect(list(ds[()]) == [BF16_TAP_BITS] * 2, f"wavelet bits {list(ds[()])}")
            elif key.startswith(("decoder.", "post_quant_conv.")):
                expect(ds.attrs.get("dtype") == "bfloat16", f"{key}: bf16 kept")
                expect(np.array_equal(ds[()], bits(dec_state[key]).reshape(ds.shape)), f"{key}: bits differ")
            else:
                expect(ds.dtype == np.float32, f"{key}: f32 kept")
                expect(np.array_equal(ds[()], enc_state[key].numpy().reshape(ds.shape)), f"{key}: values differ")
        for key, want in ((dv.MEAN_KEY, mean), (dv.STD_KEY, std)):
            ds = f[key]
            expect(ds.dtype == np.float32 and ds.shape == (C, 16), f"{key}: {ds.dtype} {ds.shape}")
            expect(np.array_equal(ds[()], want.numpy().reshape(C, -1)), f"{key}: values differ")
            expect(ds.id.get_offset() % 64 == 0, f"{key}: not 64-byte aligned")
    # the converted decoder decodes like the traced archive
    dec = ref.CVDecoder(cfg)
    dec.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()
                         if k.startswith(("decoder", "post")) and k != dv.WAVELETS_KEY}, strict=True)
    traced = torch.jit.load(dec_path, map_location="cpu").to(torch.float32)
    z = torch.randn(1, C, 3, 3, 4)
    with torch.no_grad():
        a, b = dec(z, tap=float(arrays[dv.WAVELETS_KEY][0])), traced(z)
    expect(a.shape == (1, 3, 17, 24, 32), f"decoded shape {tuple(a.shape)}")
    expect((a - b).abs().max() < 1e-4, f"converted vs traced decode differ by {(a - b).abs().max()}")
    # decoder only, no statistics: allowed, with a note
    out2 = os.path.join(tmp, "cv-dec.h5")
    r = run_convert(TINY, out2, decoder=dec_path)
    expect(r.returncode == 0 and "no --mean-std" in r.stderr, r.stderr)
    _, parts, arrays2, _ = dv.read_dv_weights(out2)
    expect(parts == {"decoder"} and dv.MEAN_KEY not in arrays2, "decoder-only file")
    return out


def test_errors(tmp):
    cfg = dv.load_config(TINY)
    C = cfg["latent_channels"]
    base = dict(torch.jit.load(os.path.join(tmp, "cv-decoder.jit"), map_location="cpu").state_dict())
    err_dir = os.path.join(tmp, "cv-errors")
    os.makedirs(err_dir, exist_ok=True)
    out = os.path.join(err_dir, "out.h5")
    dec = os.path.join(tmp, "cv-decoder.jit")

    def expect_failure(what, needles, **kw):
        r = run_convert(kw.pop("config", TINY), out, **kw)
        expect(r.returncode == 2, f"{what}: exit status {r.returncode} (want 2); stderr: {r.stderr}")
        for needle in needles:
            expect(needle in r.stderr, f"{what}: stderr does not name {needle!r}: {r.stderr}")
        no_output_left(out)

    missing = dict(base)
    del missing["decoder.up.1.upsample.conv1.conv3d.bias"]
    save_state_archive(missing, os.path.join(err_dir, "missing.jit"))
    expect_failure("missing key", ["decoder.up.1.upsample.conv1.conv3d.bias", "missing"],
                   decoder=os.path.join(err_dir, "missing.jit"))
    extra = dict(base)
    extra["decoder.up.2.upsample.conv4.conv3d.weight"] = torch.ones(16, 16, 1, 1, 1)
    save_state_archive(extra, os.path.join(err_dir, "extra.jit"))
    expect_failure("unknown key", ["decoder.up.2.upsample.conv4.conv3d.weight", "unexpected"],
                   decoder=os.path.join(err_dir, "extra.jit"))
    used = dict(base)
    del used["decoder.up.2.upsample.conv1.conv3d.weight"]  # fine: unused, its bias alone is dropped too
    save_state_archive(used, os.path.join(err_dir, "partial-unused.jit"))
    r = run_convert(TINY, out, decoder=os.path.join(err_dir, "partial-unused.jit"))
    expect(r.returncode == 0, f"an archive without one unused conv weight: {r.stderr}")
    os.remove(out)

    for name, obj, needle in (("dict", {"mean": torch.zeros(C), "std": torch.ones(C)}, "pair of tensors"),
                              ("triple", (torch.zeros(C), torch.ones(C), torch.ones(C)), "pair of tensors"),
                              ("indivisible", (torch.zeros(C * 3 + 1), torch.ones(C * 3 + 1)), "latent_channels=4"),
                              ("mismatch", (torch.zeros(C * 3), torch.ones(C * 4)), "std as"),
                              ("nan", (torch.zeros(C * 3), torch.full((C * 3,), float("nan"))), "non-finite"),
                              ("int", (torch.zeros(C * 3, dtype=torch.int64), torch.ones(C * 3)), "floating")):
        p = os.path.join(err_dir, f"ms-{name}.pt")
        torch.save(obj, p)
        expect_failure(f"mean_std {name}", ["mean_std", needle], decoder=dec, mean_std=p)
    expect_failure("mean_std missing", ["not found"], decoder=dec, mean_std=os.path.join(err_dir, "none.pt"))
    expect_failure("mean_std not torch", ["cannot load mean_std"], decoder=dec, mean_std=TINY)
    ok_ms = os.path.join(tmp, "mean_std.pt")
    expect_failure("--mean-std with a DV config", ["--mean-std is for cv_tokenizer"], config=DV_TINY,
                   decoder=dec, mean_std=ok_ms)
    # a DV archive under the CV config (and the reverse): post_quant_conv shapes differ
    dv_dec = os.path.join(tmp, "dv-decoder.jit")
    from test_convert_dv import DecoderJit
    save_traced(DecoderJit(dv.load_config(DV_TINY), 2), torch.zeros(1, 6, 2, 2, 3), dv_dec)
    expect_failure("DV archive, CV config", ["post_quant_conv.conv3d.weight", "wrong shape"], decoder=dv_dec)
    expect_failure("CV archive, DV config", ["post_quant_conv.conv3d.weight"], config=DV_TINY, decoder=dec)


def init_file(binary, config, seed, out):
    r = subprocess.run([binary, "init", "--config", config, "--seed", str(seed), "--out", out], capture_output=True,
                       text=True)
    expect(r.returncode == 0, f"cosmos-ar init failed: {r.stderr}")
    return out


def info(binary, path):
    r = subprocess.run([binary, "info", path], capture_output=True, text=True)
    expect(r.returncode == 0, f"cosmos-ar info failed: {r.stderr}")
    return r.stdout


def decode_with_reference(path, cfg, Tl, Hl, Wl):
    _, parts, arrays, _ = dv.read_dv_weights(path)
    dec = ref.CVDecoder(cfg)
    dec.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()
                         if k.startswith(("decoder", "post")) and k != dv.WAVELETS_KEY}, strict=True)
    gen = torch.Generator().manual_seed(0)
    x = 0.5 * torch.randn(1, cfg["latent_channels"], Tl, Hl, Wl, generator=gen)
    with torch.no_grad():
        z = ref.denormalize(x, arrays[dv.MEAN_KEY], arrays[dv.STD_KEY])
        return dec(z, tap=float(arrays[dv.WAVELETS_KEY][0]))


def test_init(binary, tmp, converted, full):
    cfg = dv.load_config(TINY)
    a = init_file(binary, TINY, 7, os.path.join(tmp, "cv-init-a.h5"))
    b = init_file(binary, TINY, 7, os.path.join(tmp, "cv-init-b.h5"))
    c = init_file(binary, TINY, 8, os.path.join(tmp, "cv-init-c.h5"))
    cfg_a, parts, arrays, dtypes = dv.read_dv_weights(a)
    expect(parts == {"decoder"} and cfg_a == cfg, f"init parts {parts}")
    weights = {k: v for k, v in arrays.items() if k not in (dv.MEAN_KEY, dv.STD_KEY)}
    expect(all(dtypes[k] == "bf16" for k in weights), "init writes bf16 weights")
    expect(sorted((k, tuple(v.shape)) for k, v in weights.items())
           == sorted(ref_state_shapes(ref.CVDecoder(cfg)) + [(dv.WAVELETS_KEY, (2,))]),
           "init keys/shapes differ from the reference state_dict")
    m, s = arrays[dv.MEAN_KEY], arrays[dv.STD_KEY]
    expect(m.shape == s.shape == (cfg["latent_channels"], dv.CV_INIT_STATS_FRAMES), f"stats shape {m.shape}")
    expect((s >= 0.5).all() and (s < 1.5).all() and abs(m.mean()) < 0.05 and 0.05 < m.std() < 0.15,
           f"stats: mean {m.mean()} +- {m.std()}, std in [{s.min()}, {s.max()}]")
    _, _, arrays_b, _ = dv.read_dv_weights(b)
    _, _, arrays_c, _ = dv.read_dv_weights(c)
    expect(all(np.array_equal(arrays[k], arrays_b[k]) for k in arrays), "same seed, different weights")
    expect(not np.array_equal(arrays[dv.MEAN_KEY], arrays_c[dv.MEAN_KEY]), "different seeds, same statistics")
    with h5py.File(a, "r") as fi, h5py.File(converted, "r") as fc:
        expect(fi.attrs["model_type"] == fc.attrs["model_type"] == "cv_tokenizer", "model_type attribute")
        expect(int(fi.attrs["has_encoder"]) == 0 and int(fi.attrs["has_decoder"]) == 1, "has_* attributes")
        dec_keys = {k for k in fc if not k.startswith(("encoder.", "quant_conv."))}
        expect({k: fi[k].shape for k in fi if not k.startswith("mean_std")}
               == {k: fc[k].shape for k in dec_keys if not k.startswith("mean_std")}, "init vs converter layout")
    y = decode_with_reference(a, cfg, 3, 2, 3)
    expect(y.shape == (1, 3, 17, 16, 24) and torch.isfinite(y).all(), "reference on init weights")
    text = info(binary, a)
    for needle in ("cv_tokenizer", "decoder only", "latent          continuous, 4 channels",
                   "mean_std [4, 16]", "8 x 8 x 8", "17 frames of 96x64"):
        expect(needle in text, f"info lacks {needle!r}:\n{text}")
    print(f"     tiny init: decoded std {y.std():.3f} max {y.abs().max():.3f}")
    if full:
        t0 = time.time()
        fcfg = dv.load_config(FULL)
        p = init_file(binary, FULL, 0, os.path.join(tmp, "cv-init-full.h5"))
        text = info(binary, p)
        expect("decoder 62738832" in text and "[8, 80, 128]" in text, f"full info:\n{text}")
        y = decode_with_reference(p, fcfg, 2, 2, 3)
        expect(torch.isfinite(y).all() and y.abs().max() < 1e4, "full init: not finite or exploding")
        print(f"     full init ({time.time() - t0:.0f} s): decoded {tuple(y.shape)} std {y.std():.3f} "
              f"max {y.abs().max():.2f}")
        os.remove(p)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    binary = args[0] if args else None
    full = "--full" in sys.argv
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    with tempfile.TemporaryDirectory() as tmp:
        converted = [None]
        check("CV key lists vs reference modules and spec counts", test_key_lists)
        check("python CV config rules", test_config_rules)

        def conv():
            converted[0] = test_converter(tmp)
        check("CV converter round trip", conv)
        check("CV converter errors", lambda: test_errors(tmp))
        if binary and converted[0]:
            check("cosmos-ar init / info, cv_tokenizer", lambda: test_init(binary, tmp, converted[0], full))
        elif not binary:
            print("note: no cosmos-ar binary given; init checks skipped")
    return summary(need_a_pass=True)


if __name__ == "__main__":
    sys.exit(main())
