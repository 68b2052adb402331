#!/usr/bin/env python3
"""Tests for the DV tokenizer weight file (docs/weights.md "DV tokenizer files"; spec
components.md 2.1, 2.4, 2.9, Appendix A): tools/convert_checkpoint.py `tokenizer`,
tools/cosmos_dv_h5.py, and (given the binary) `cosmos-ar init` with a dv_tokenizer config.

- key lists: tools/cosmos_dv_h5.py against the state_dict of the PyTorch reference modules
  (tools/reference/dv_tokenizer_ref.py DVEncoder / DVDecoder) for the tiny and the full config,
  and the spec's parameter counts (45 537 158 / 65 361 136);
- converter: fake encoder.jit / decoder.jit made with torch.jit.trace of wrappers around the
  reference modules for the tiny config, named like the official archives (encoder.*, quant_conv.*,
  post_quant_conv.*, decoder.*) and carrying the JIT-only buffers (encoder.patcher3d.*,
  quantizer.*, inv_quant.quantizer.*, decoder.unpatcher3d.*) and the never-called convs of CT-built
  samplers. Checks the round trip (flattened, dtype kept / converted, wavelets as stored), dropped
  buffers, single-part files, and that a missing / misshaped / unknown key, swapped archives and a
  bad config each exit 2 naming the problem and leave no output or temporary file;
- `cosmos-ar init` (argv[1]): keys and shapes equal the reference modules' state_dict, bf16 taps,
  determinism in the seed, same layout as a converted file, and the reference runs on the random
  weights with finite outputs (tiny config; full config too with --full).

Plain script: /usr/bin/python3 tests/tools/test_convert_dv.py [COSMOS_AR] [--full]
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

TINY = os.path.join(REPO, "configs", "models", "dv-tokenizer-tiny.json")
FULL = os.path.join(REPO, "configs", "models", "cosmos-1.0-tokenizer-dv8x16x16.json")
CONVERTER = os.path.join(REPO, "tools", "convert_checkpoint.py")
BF16_TAP_BITS = 0x3F35  # bf16(1/sqrt(2)) = 0.70703125


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def bits(t):
    return t.contiguous().view(torch.int16).numpy().view(np.uint16)


def ref_state_shapes(module):
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


# ---------------------------------------------------------------------------------------------
# fake official archives


class Buffers(nn.Module):
    def __init__(self, persistent=True, **bufs):
        super().__init__()
        for k, v in bufs.items():
            self.register_buffer(k, v, persistent=persistent)


def fsq_buffers(cfg):
    levels = cfg["levels"]
    basis = [int(np.prod(levels[:i])) for i in range(len(levels))]
    return dict(_levels=torch.tensor(levels, dtype=torch.int32), _basis=torch.tensor(basis, dtype=torch.int32),
                implicit_codebook=torch.zeros(4, len(levels)))


class EncoderJit(nn.Module):
    """encoder + quant_conv (+ the archive's buffers), as the official encoder.jit names them."""

    def __init__(self, cfg, seed, ct_extras=True):
        super().__init__()
        m = ref.init_random(ref.DVEncoder(cfg), seed)
        self.encoder, self.quant_conv = m.encoder, m.quant_conv
        self.encoder.patcher3d = Buffers(wavelets=torch.full((2,), 1 / math.sqrt(2)), _arange=torch.arange(2),
                                         patch_size_buffer=torch.tensor([cfg["patch_size"]], dtype=torch.int32))
        self.quantizer = Buffers(**fsq_buffers(cfg))
        if ct_extras:  # CT creates the temporal conv of a spatial-only downsampler too (never called)
            c = cfg["channels"] * cfg["channels_mult"][1]
            self.encoder.down[1].downsample.conv2 = ref.CausalConv3d(c, c, (3, 1, 1), time_stride=2)

    def forward(self, x):
        return self.quant_conv(self.encoder(x))


class DecoderJit(nn.Module):
    """post_quant_conv + decoder (+ buffers); input: FSQ codes [B, 6, T', H', W']."""

    def __init__(self, cfg, seed, tap_dtype=torch.bfloat16, persistent_taps=True, ct_extras=True):
        super().__init__()
        m = ref.init_random(ref.DVDecoder(cfg), seed)
        self.post_quant_conv, self.decoder = m.post_quant_conv, m.decoder
        self.inv_quant = nn.Module()
        self.inv_quant.quantizer = Buffers(**fsq_buffers(cfg))
        self.decoder.unpatcher3d = Buffers(wavelets=torch.full((2,), 1 / math.sqrt(2)).to(tap_dtype),
                                           persistent=persistent_taps)
        self.decoder.unpatcher3d.register_buffer("_arange", torch.arange(2))
        if ct_extras:  # CT creates the temporal conv of the spatial-only up.2 sampler too
            c = cfg["channels"] * cfg["channels_mult"][2]
            self.decoder.up[2].upsample.conv1 = ref.CausalConv3d(c, c, (3, 1, 1))

    def forward(self, z):
        return self.decoder(self.post_quant_conv(z))


def save_traced(module, example, path, dtype=None):
    with torch.no_grad():
        traced = torch.jit.trace(module.eval(), example, check_trace=False)
    if dtype is not None:
        traced = traced.to(dtype)
    traced.save(path)
    return dict(torch.jit.load(path, map_location="cpu").state_dict())


class StateHolder(nn.Module):
    """A module whose state_dict is exactly `state` (nested submodules made up from the dots)."""

    def __init__(self, state):
        super().__init__()
        for key, value in state.items():
            *path, leaf = key.split(".")
            mod = self
            for name in path:
                if name not in mod._modules:
                    mod.add_module(name, nn.Module())
                mod = mod._modules[name]
            if value.is_floating_point():
                mod.register_parameter(leaf, nn.Parameter(value.clone(), requires_grad=False))
            else:
                mod.register_buffer(leaf, value.clone())

    def forward(self, x):
        return x + 1


def save_state_archive(state, path):
    with torch.no_grad():
        torch.jit.trace(StateHolder(state), torch.zeros(1)).save(path)


def run_convert(config, out, encoder=None, decoder=None, dtype=None):
    cmd = [sys.executable, CONVERTER, "tokenizer", "--config", config, "--out", out]
    if encoder:
        cmd += ["--encoder", encoder]
    if decoder:
        cmd += ["--decoder", decoder]
    if dtype:
        cmd += ["--dtype", dtype]
    return subprocess.run(cmd, capture_output=True, text=True)


def no_output_left(out):
    d = os.path.dirname(out)
    leftovers = [n for n in os.listdir(d) if n.startswith(os.path.basename(out))]
    expect(not leftovers, f"files left behind after a failed conversion: {leftovers}")


# ---------------------------------------------------------------------------------------------
# tests


def test_key_lists():
    for path in (TINY, FULL):
        cfg = dv.load_config(path)
        enc, dec = ref.DVEncoder(cfg), ref.DVDecoder(cfg)
        expect(ref_state_shapes(enc) == [(k, tuple(s)) for k, s in dv.encoder_tensors(cfg)],
               f"{path}: encoder key list differs from the reference's state_dict")
        expect(ref_state_shapes(dec) == [(k, tuple(s)) for k, s in dv.decoder_tensors(cfg, with_wavelets=False)],
               f"{path}: decoder key list differs from the reference's state_dict")
        if path == FULL:
            n_enc = sum(int(np.prod(s)) for _, s in dv.encoder_tensors(cfg))
            n_dec = sum(int(np.prod(s)) for _, s in dv.decoder_tensors(cfg, with_wavelets=False))
            expect((n_enc, n_dec) == (45537158, 65361136), f"parameter counts {n_enc}, {n_dec} (spec 2.9)")


def test_config_rules():
    cfg = dv.load_config(TINY)
    for bad in ({"channels_multx": [1]}, {"levels": [8, 8]}, {"patch_size": 3}, {"legacy_mode": True},
                {"patch_method": "rearrange"}, {"spatial_compression": 2}, {"channels_mult": [1, 2]}):
        c = dict(cfg, **bad)
        try:
            dv.validate_config(c)
        except cosmos_h5.FormatError:
            continue
        raise AssertionError(f"config change {bad} was accepted")


def make_archives(tmp, cfg):
    x = torch.rand(1, 3, cfg["pixel_chunk_duration"], cfg["height"], cfg["width"]) * 2 - 1
    enc_path, dec_path = os.path.join(tmp, "encoder.jit"), os.path.join(tmp, "decoder.jit")
    enc_state = save_traced(EncoderJit(cfg, 1), x, enc_path, dtype=torch.bfloat16)
    z = torch.rand(1, cfg["embedding_dim"], 2, 2, 3) * 2 - 1
    dec_state = save_traced(DecoderJit(cfg, 2), z, dec_path)  # f32 weights, bf16 taps
    return enc_path, dec_path, enc_state, dec_state


def test_converter(tmp):
    cfg = dv.load_config(TINY)
    enc_path, dec_path, enc_state, dec_state = make_archives(tmp, cfg)
    expect("encoder.patcher3d.wavelets" in enc_state and "quantizer._basis" in enc_state
           and "encoder.down.1.downsample.conv2.conv3d.weight" in enc_state, "fake encoder.jit lacks its extras")
    expect(enc_state["encoder.conv_in.0.conv3d.weight"].dtype == torch.bfloat16, "fake encoder.jit is not bf16")
    out = os.path.join(tmp, "dv.h5")
    r = run_convert(TINY, out, enc_path, dec_path)
    expect(r.returncode == 0, f"conversion failed: {r.stderr}")
    for dropped in ("encoder.patcher3d._arange", "quantizer.implicit_codebook", "inv_quant.quantizer._levels",
                    "decoder.unpatcher3d._arange", "encoder.down.1.downsample.conv2.conv3d.weight",
                    "decoder.up.2.upsample.conv1.conv3d.bias"):
        expect(dropped in r.stderr, f"the notes do not mention dropping {dropped}: {r.stderr}")
    cfg2, parts, arrays, dtypes = dv.read_dv_weights(out)
    expect(parts == {"encoder", "decoder"} and cfg2 == cfg, "parts / config attribute")
    expected = dv.expected_tensors(cfg, ("encoder", "decoder"))
    with h5py.File(out, "r") as f:
        expect(set(f.keys()) == {k for k, _ in expected}, "dataset names")
        expect(int(f.attrs["has_encoder"]) == 1 and int(f.attrs["has_decoder"]) == 1, "has_* attributes")
        for key, shape in expected:
            ds = f[key]
            expect(ds.shape == dv.stored_shape(shape), f"{key}: stored shape {ds.shape}")
            if key == dv.WAVELETS_KEY:
                expect(ds.dtype == np.uint16 and ds.attrs["dtype"] == "bfloat16", "wavelets kept as bf16")
                expect(list(ds[()]) == [BF16_TAP_BITS] * 2, f"wavelet bits {list(ds[()])}")
            elif key.startswith(("encoder.", "quant_conv.")):
                expect(ds.dtype == np.uint16 and ds.attrs["dtype"] == "bfloat16", f"{key}: bf16 kept")
                expect(np.array_equal(ds[()], bits(enc_state[key]).reshape(ds.shape)), f"{key}: bits differ")
            else:
                expect(ds.dtype == np.float32 and "dtype" not in ds.attrs, f"{key}: f32 kept")
                expect(np.array_equal(ds[()], dec_state[key].numpy().reshape(ds.shape)), f"{key}: values differ")
            expect(ds.id.get_offset() % 64 == 0, f"{key}: not 64-byte aligned")
    # unflattened values load into the reference modules strictly and decode finitely
    dec = ref.DVDecoder(cfg)
    dec.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items() if k.startswith(("decoder", "post"))
                         and k != dv.WAVELETS_KEY}, strict=True)
    enc = ref.DVEncoder(cfg)
    enc.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items() if k.startswith(("encoder", "quant"))},
                        strict=True)
    with torch.no_grad():
        idx, _ = enc(torch.rand(1, 3, 9, 32, 48) * 2 - 1)
        video = dec(idx, tap=float(arrays[dv.WAVELETS_KEY][0]))
    expect(torch.isfinite(video).all(), "decoded video of the converted weights is not finite")

    # --dtype f32 / bf16 convert every weight but never the taps
    out32 = os.path.join(tmp, "dv32.h5")
    r = run_convert(TINY, out32, enc_path, dec_path, dtype="f32")
    expect(r.returncode == 0, r.stderr)
    _, _, a32, d32 = dv.read_dv_weights(out32)
    expect(all(d32[k] == "f32" for k in d32 if k != dv.WAVELETS_KEY) and d32[dv.WAVELETS_KEY] == "bf16",
           "--dtype f32 storage")
    expect(all(np.array_equal(a32[k], arrays[k]) for k in arrays), "--dtype f32 values (bf16 -> f32 is exact)")
    out16 = os.path.join(tmp, "dv16.h5")
    r = run_convert(TINY, out16, enc_path, dec_path, dtype="bf16")
    expect(r.returncode == 0, r.stderr)
    _, _, a16, d16 = dv.read_dv_weights(out16)
    key = "decoder.conv_in.0.conv3d.weight"
    expect(d16[key] == "bf16" and np.array_equal(a16[key], cosmos_h5.round_to_bf16(arrays[key])),
           "--dtype bf16 rounds f32 to nearest even")
    return out


def test_single_parts(tmp):
    cfg = dv.load_config(TINY)
    enc_path, dec_path = os.path.join(tmp, "encoder.jit"), os.path.join(tmp, "decoder.jit")
    for name, kw, parts in (("enc-only.h5", {"encoder": enc_path}, {"encoder"}),
                            ("dec-only.h5", {"decoder": dec_path}, {"decoder"})):
        out = os.path.join(tmp, name)
        r = run_convert(TINY, out, **kw)
        expect(r.returncode == 0, r.stderr)
        _, got, arrays, _ = dv.read_dv_weights(out)
        expect(got == parts, f"{name}: parts {got}")
        expect(set(arrays) == {k for k, _ in dv.expected_tensors(cfg, parts)}, f"{name}: keys")
    # wavelets registered persistent=False: not in every state dict, taken from the module instead
    path = os.path.join(tmp, "decoder-np.jit")
    state = save_traced(DecoderJit(cfg, 3, tap_dtype=torch.float32, persistent_taps=False),
                        torch.zeros(1, cfg["embedding_dim"], 2, 2, 3), path)
    out = os.path.join(tmp, "dec-np.h5")
    r = run_convert(TINY, out, decoder=path)
    expect(r.returncode == 0, r.stderr)
    _, _, arrays, dtypes = dv.read_dv_weights(out)
    expect(dtypes[dv.WAVELETS_KEY] == "f32" and np.allclose(arrays[dv.WAVELETS_KEY], 1 / math.sqrt(2), rtol=0,
                                                            atol=1e-7),
           f"f32 taps of a non-persistent buffer (in state dict: {dv.WAVELETS_KEY in state})")


def test_errors(tmp):
    cfg = dv.load_config(TINY)
    base = dict(torch.jit.load(os.path.join(tmp, "encoder.jit"), map_location="cpu").state_dict())
    dec_base = dict(torch.jit.load(os.path.join(tmp, "decoder.jit"), map_location="cpu").state_dict())
    err_dir = os.path.join(tmp, "errors")
    os.makedirs(err_dir, exist_ok=True)
    out = os.path.join(err_dir, "out.h5")

    def expect_failure(what, needles, **kw):
        r = run_convert(kw.pop("config", TINY), out, **kw)
        expect(r.returncode == 2, f"{what}: exit status {r.returncode} (want 2); stderr: {r.stderr}")
        for needle in needles:
            expect(needle in r.stderr, f"{what}: stderr does not name {needle!r}: {r.stderr}")
        no_output_left(out)

    missing = dict(base)
    del missing["encoder.mid.attn_1.1.q.conv3d.bias"]
    save_state_archive(missing, os.path.join(err_dir, "missing.jit"))
    expect_failure("missing key", ["encoder.mid.attn_1.1.q.conv3d.bias", "missing"],
                   encoder=os.path.join(err_dir, "missing.jit"))

    shaped = dict(base)
    shaped["encoder.norm_out.norm.weight"] = torch.ones(15, dtype=torch.bfloat16)
    save_state_archive(shaped, os.path.join(err_dir, "shaped.jit"))
    expect_failure("misshaped key", ["encoder.norm_out.norm.weight", "[16]", "[15]"],
                   encoder=os.path.join(err_dir, "shaped.jit"))

    extra = dict(base)
    extra["encoder.down.0.attn.0.0.extra_gate"] = torch.ones(8)
    save_state_archive(extra, os.path.join(err_dir, "extra.jit"))
    expect_failure("unknown key", ["encoder.down.0.attn.0.0.extra_gate", "unexpected"],
                   encoder=os.path.join(err_dir, "extra.jit"))

    nodwt = {k: v for k, v in dec_base.items() if k != dv.WAVELETS_KEY}
    save_state_archive(nodwt, os.path.join(err_dir, "nodwt.jit"))
    expect_failure("decoder without wavelets", [dv.WAVELETS_KEY], decoder=os.path.join(err_dir, "nodwt.jit"))

    expect_failure("swapped archives", ["holds decoder keys", "--decoder"],
                   encoder=os.path.join(tmp, "decoder.jit"))
    expect_failure("no archive", ["--encoder"])
    expect_failure("not TorchScript", ["TorchScript"], encoder=TINY)
    bad_cfg = os.path.join(err_dir, "bad.json")
    with open(bad_cfg, "w") as fh:
        json.dump(dict(cfg, colour="blue"), fh)
    expect_failure("unknown config key", ["colour"], config=bad_cfg, encoder=os.path.join(tmp, "encoder.jit"))
    full_cfg_mismatch = FULL  # real config, tiny archive: shapes differ
    expect_failure("wrong config", ["wrong shape", "encoder.conv_in.0.conv3d.weight"], config=full_cfg_mismatch,
                   encoder=os.path.join(tmp, "encoder.jit"))
    # an existing output is left untouched by a failed conversion
    with open(out, "w") as fh:
        fh.write("keep me")
    r = run_convert(TINY, out, encoder=os.path.join(err_dir, "missing.jit"))
    expect(r.returncode == 2 and open(out).read() == "keep me", "a failed conversion replaced an existing output")
    os.remove(out)


def init_file(binary, config, seed, out):
    r = subprocess.run([binary, "init", "--config", config, "--seed", str(seed), "--out", out], capture_output=True,
                       text=True)
    expect(r.returncode == 0, f"cosmos-ar init failed: {r.stderr}")
    return out


def run_reference_on(path, cfg, T, H, W):
    """Load a tokenizer file into the reference modules (strictly) and encode + decode a clip."""
    _, parts, arrays, _ = dv.read_dv_weights(path)
    enc, dec = ref.DVEncoder(cfg), ref.DVDecoder(cfg)
    enc.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items() if k.startswith(("encoder", "quant"))},
                        strict=True)
    dec.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()
                         if k.startswith(("decoder", "post")) and k != dv.WAVELETS_KEY}, strict=True)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, T, H, W, generator=gen) * 2 - 1
    with torch.no_grad():
        z = enc.latent(x)
        idx, _ = enc.fsq.quantize(z)
        y = dec(idx, tap=float(arrays[dv.WAVELETS_KEY][0]))
    return z, idx, y


def test_init(binary, tmp, converted, full):
    cfg = dv.load_config(TINY)
    a = init_file(binary, TINY, 7, os.path.join(tmp, "init-a.h5"))
    b = init_file(binary, TINY, 7, os.path.join(tmp, "init-b.h5"))
    c = init_file(binary, TINY, 8, os.path.join(tmp, "init-c.h5"))
    cfg_a, parts, arrays, dtypes = dv.read_dv_weights(a)
    expect(parts == {"encoder", "decoder"}, "init writes both parts")
    expect(all(d == "bf16" for d in dtypes.values()), "init writes bf16")
    # keys and shapes exactly as the reference modules' state_dict (+ the taps)
    expect(sorted((k, tuple(v.shape)) for k, v in arrays.items())
           == sorted(ref_state_shapes(ref.DVEncoder(cfg)) + ref_state_shapes(ref.DVDecoder(cfg))
                     + [(dv.WAVELETS_KEY, (2,))]), "init keys/shapes differ from the reference state_dict")
    with h5py.File(a, "r") as f:
        expect(list(f[dv.WAVELETS_KEY][()]) == [BF16_TAP_BITS] * 2, "init taps are bf16(1/sqrt(2))")
    _, _, arrays_b, _ = dv.read_dv_weights(b)
    _, _, arrays_c, _ = dv.read_dv_weights(c)
    expect(all(np.array_equal(arrays[k], arrays_b[k]) for k in arrays), "same seed, different weights")
    expect(not np.array_equal(arrays["encoder.conv_in.0.conv3d.weight"], arrays_c["encoder.conv_in.0.conv3d.weight"]),
           "different seeds, same weights")
    # distribution: conv weights std 1/sqrt(fan_in), norm gamma ~ 1, biases small
    w = arrays["decoder.mid.block_1.conv1.0.conv3d.weight"]
    fan_in = int(np.prod(w.shape[1:]))
    expect(abs(w.std() * math.sqrt(fan_in) - 1) < 0.1, f"conv weight std {w.std()} for fan_in {fan_in}")
    g = np.concatenate([v for k, v in arrays.items() if k.endswith("norm.weight")])
    expect(abs(g.mean() - 1) < 0.05 and 0.05 < g.std() < 0.15, f"norm gamma mean {g.mean()} std {g.std()}")
    # same layout as a converted file: attributes, names, stored shapes
    with h5py.File(a, "r") as fi, h5py.File(converted, "r") as fc:
        expect({k: fi[k].shape for k in fi} == {k: fc[k].shape for k in fc}, "init vs converter layout")
        for attr in ("cosmos_format", "format_version", "model_type", "has_encoder", "has_decoder"):
            expect(fi.attrs[attr] == fc.attrs[attr], f"attribute {attr}")
        expect(json.loads(fi.attrs["config"]) == cfg, f"config attribute {fi.attrs['config']} differs from {cfg}")
    z, idx, y = run_reference_on(a, cfg, 9, 32, 48)
    expect(torch.isfinite(z).all() and torch.isfinite(y).all(), "reference on init weights: not finite")
    print(f"     tiny init: latent std {z.std():.3f}, {idx.unique().numel()} distinct codes, "
          f"decoded std {y.std():.3f} max {y.abs().max():.3f}")
    if full:
        t0 = time.time()
        fcfg = dv.load_config(FULL)
        p = init_file(binary, FULL, 0, os.path.join(tmp, "init-full.h5"))
        z, idx, y = run_reference_on(p, fcfg, 17, 64, 96)
        expect(torch.isfinite(z).all() and torch.isfinite(y).all(), "reference on full init weights: not finite")
        expect(y.abs().max() < 1e4 and z.abs().max() < 1e4, "full init: activations explode")
        print(f"     full init ({time.time() - t0:.0f} s): latent std {z.std():.3f} max {z.abs().max():.2f}, "
              f"{idx.unique().numel()} distinct codes of {idx.numel()}, decoded std {y.std():.3f} "
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
        check("key lists vs reference modules and spec counts", test_key_lists)
        check("python config rules", test_config_rules)

        def conv():
            converted[0] = test_converter(tmp)
        check("converter round trip", conv)
        check("converter single parts and non-persistent taps", lambda: test_single_parts(tmp))
        check("converter errors", lambda: test_errors(tmp))
        if binary and converted[0]:
            check("cosmos-ar init", lambda: test_init(binary, tmp, converted[0], full))
        elif not binary:
            print("note: no cosmos-ar binary given; init checks skipped")
    return summary(need_a_pass=True)


if __name__ == "__main__":
    sys.exit(main())
