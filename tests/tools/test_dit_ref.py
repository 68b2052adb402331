#!/usr/bin/env python3
"""Tests for the diffusion-decoder reference tools/reference/dit_ref.py and its fixtures
(spec components.md 4.3-4.6; docs/diffusion-decoder.md).

- Golden consistency: the reference loaded from tests/data/dd-tiny.h5 reproduces every output of
  tests/data/dd-tiny.golden.h5 (network cond/uncond, guided denoiser, full sampler) from the stored
  inputs, and the golden file has exactly the datasets of the fixture contract.
- Spec numbers: the Karras schedule of spec 4.6, sigma_min rounded to bf16 = 0.02001953125, the EDM
  coefficients at sigma_data 0.5, the AB2 coefficients against the exact solution for a constant x0.
- Conditioning: the unconditional branch is zero context and all-zero token indices (row 0 of the
  token table, not a zero vector); context rows that are zero do not change the cross-attention's
  keys/values beyond adding weight (padding rows matter: spec 4.4 "no mask").
- Structure: RoPE is applied in self-attention only; the patch embedding feature order is
  (c, r, m, n); the output of a permuted input is not the permuted output (positions matter).

Plain script: /usr/bin/python3 tests/tools/test_dit_ref.py   (prints "N passed, M failed")
"""

import os
import sys

import h5py
import numpy as np
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, os.path.join(REPO, "tools", "reference"))
import cosmos_dit_h5 as fmt  # noqa: E402
import dit_ref as ref  # noqa: E402
from harness import check, summary  # noqa: E402

WEIGHTS = os.path.join(REPO, "tests", "data", "dd-tiny.h5")
GOLDEN = os.path.join(REPO, "tests", "data", "dd-tiny.golden.h5")
CONTRACT = {"x": ("f4", (4, 3, 4, 6)), "c_noise": ("f4", (1,)), "fps": ("f4", (1,)), "context": ("f4", (16, 64)),
            "tokens": ("i4", (3, 2, 3)), "out_cond": ("f4", (4, 3, 4, 6)), "out_uncond": ("f4", (4, 3, 4, 6)),
            "x_t": ("f4", (4, 3, 4, 6)), "sigma": ("f4", (1,)), "x0": ("f4", (4, 3, 4, 6)),
            "noise": ("f4", (4, 3, 4, 6)), "sample": ("f4", (4, 3, 4, 6))}
REL_TOL = 1e-5


def close(a, b, what, rel=REL_TOL):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    err, scale = float((a - b).abs().max()), float(b.abs().max())
    assert err <= rel * max(scale, 1e-30), f"{what}: max diff {err:.3g} > {rel} * {scale:.3g}"


def main():
    torch.set_num_threads(1)
    net = ref.DiffusionDecoderDiT.from_h5(WEIGHTS)
    cfg = net.cfg
    with h5py.File(GOLDEN, "r") as f:
        g = {k: torch.from_numpy(f[k][()]) for k in f.keys()}
        layout = {k: (f[k].dtype.str[1:], f[k].shape) for k in f.keys()}

    def contract():
        assert layout == CONTRACT, f"golden datasets {layout} != contract"
        assert float(g["fps"][0]) == 24.0
        assert torch.all(g["context"][12:] == 0) and torch.all(g["context"][:12].abs().sum(1) > 0)
        assert int(g["tokens"].min()) >= 0 and int(g["tokens"].max()) < 512
        for k in ("x", "x_t", "noise", "context"):  # bf16-representable inputs
            v = g[k]
            assert torch.equal(v, v.to(torch.bfloat16).float()), k

    def golden_network():
        with torch.no_grad():
            close(net(g["x"], g["c_noise"], g["context"], g["tokens"], fps=float(g["fps"][0])), g["out_cond"],
                  "out_cond")
            close(net(g["x"], g["c_noise"], *ref.uncond_inputs(g["context"], g["tokens"])), g["out_uncond"],
                  "out_uncond")

    def golden_denoiser():
        with torch.no_grad():
            close(ref.guided_x0(net, g["x_t"], g["sigma"], g["context"], g["tokens"], cfg["guidance"],
                                cfg["sigma_data"]), g["x0"], "x0")

    def golden_sampler():
        close(ref.sample_from_config(net, g["noise"], g["context"], g["tokens"]), g["sample"], "sample")

    def golden_not_degenerate():
        d = (g["out_cond"] - g["out_uncond"]).abs().max()
        assert d > 0.5, f"cond and uncond outputs too close ({d})"
        cs, co, ci, cn = ref.edm_coefficients(g["sigma"])
        with torch.no_grad():
            skip = (cs * g["x_t"]).std()
            outp = (co * net(ci * g["x_t"], cn, g["context"], g["tokens"])).std()
        assert 0.3 < skip / outp < 3, f"x0 dominated by one term: c_skip*x_t {skip:.3g} vs c_out*F {outp:.3g}"
        assert 0.5 < float(g["sample"].std()) < 5

    def karras_schedule():
        s = ref.karras_sigmas(0.02, 80.0, 15).numpy()
        spec = [80, 57.4161, 40.5331, 28.0975, 19.0868, 12.6758, 8.20685, 5.16263, 3.14256, 1.84176, 1.03275,
                0.549679, 0.274842, 0.127332, 0.053639, 0.02]
        assert np.allclose(s, spec, rtol=1e-5), s
        assert s.dtype == np.float64

    def sigma_rounding_and_edm():
        assert float(ref.sigma_to_bf16(0.02)[0]) == 0.02001953125
        assert float(ref.sigma_to_bf16(0.7)[0]) == 0.69921875
        s = 0.69921875
        c = [float(v[0]) for v in ref.edm_coefficients(0.7, 0.5)]
        want = [0.25 / (s * s + 0.25), 0.5 * s / np.sqrt(s * s + 0.25), 1 / np.sqrt(s * s + 0.25), 0.25 * np.log(s)]
        assert np.allclose(c, want, rtol=1e-6), (c, want)

    def ab2_exact_for_constant_x0():
        # x' = (x - x0)/sigma with constant x0 has x_t = x0 + (x_s - x0) t/s; AB2 and Euler are exact for it
        sig = ref.karras_sigmas(0.02, 80.0, 15)
        for i in range(1, 15):
            ea, h, b1, b2 = ref.ab2_coefficients(sig[i], sig[i + 1], sig[i - 1])
            assert abs(float(ea) - float(sig[i + 1] / sig[i])) < 1e-14
            assert abs(float(h * (b1 + b2)) - float(1 - sig[i + 1] / sig[i])) < 1e-14
        x0 = torch.full((2, 3), 0.7, dtype=torch.float64)
        x = torch.randn(2, 3, dtype=torch.float64) * 80
        calls = []

        def fn(xx, s):
            calls.append(float(s))
            return x0.clone()
        out = ref.sampler_2ab(fn, x, sig)
        assert len(calls) == 16 and abs(calls[-1] - 0.02) < 1e-15, calls  # fp64 schedule: 0.020000000000000014
        assert torch.allclose(out, x0)

    def uncond_is_index_zero():
        ctx_u, tok_u = ref.uncond_inputs(g["context"], g["tokens"])
        assert torch.all(ctx_u == 0) and torch.all(tok_u == 0) and tok_u.dtype == g["tokens"].dtype
        with torch.no_grad():
            a = net(g["x"], g["c_noise"], ctx_u, tok_u)
            saved = net.token_embedder.weight[0].clone()
            net.token_embedder.weight[0] = 0
            b = net(g["x"], g["c_noise"], ctx_u, tok_u)
            net.token_embedder.weight[0] = saved
        assert (a - b).abs().max() > 1e-3, "row 0 of the token table must matter in the uncond branch"

    def padding_rows_matter():
        with torch.no_grad():
            a = net(g["x"], g["c_noise"], g["context"], g["tokens"])
            b = net(g["x"], g["c_noise"], g["context"][:12], g["tokens"])
        assert (a - b).abs().max() > 1e-4, "zero context rows must still take softmax weight (no mask)"

    def rope_only_in_self_attention():
        hits = {"fa": 0, "ca": 0}
        orig = ref.apply_rope

        def counting(x, cos, sin):
            hits["fa" if x.shape[1] == 18 else "ca"] += 1
            return orig(x, cos, sin)
        ref.apply_rope = counting
        try:
            with torch.no_grad():
                net(g["x"], g["c_noise"], g["context"], g["tokens"])
        finally:
            ref.apply_rope = orig
        assert hits == {"fa": 2 * cfg["num_blocks"], "ca": 0}, hits

    def patch_feature_order():
        # feature ((c*pt + r)*ps + m)*ps + n of token (t, h, w) = z[c, t*pt + r, h*ps + m, w*ps + n]
        x = torch.randn(1, 4, 3, 4, 6)
        tok = torch.randint(0, 512, (1, 3, 2, 3))
        with torch.no_grad():
            lin = net.x_embedder.proj[1]
            saved = lin.weight.clone()
            lin.weight.zero_()
            c, m, n = 2, 1, 0
            lin.weight[0, (c * 2 + m) * 2 + n] = 1.0
            h = net.embed_input(x, tok)
            lin.weight.copy_(saved)
        assert torch.equal(h[0, :, :, :, 0], x[0, c, :, m::2, n::2]), "patch feature order"

    check("golden file layout = fixture contract", contract)
    check("reference reproduces /out_cond and /out_uncond", golden_network)
    check("reference reproduces /x0 (guided denoiser)", golden_denoiser)
    check("reference reproduces /sample (2ab sampler)", golden_sampler)
    check("golden outputs not dominated by one term", golden_not_degenerate)
    check("Karras schedule = spec 4.6 values (float64)", karras_schedule)
    check("sigma rounded to bf16 before the EDM coefficients", sigma_rounding_and_edm)
    check("AB2 / Euler exact for a constant x0; 16 denoiser calls", ab2_exact_for_constant_x0)
    check("uncond = zero context + token index 0 (row 0 matters)", uncond_is_index_zero)
    check("zero context rows are attended (no mask)", padding_rows_matter)
    check("RoPE only in self-attention", rope_only_in_self_attention)
    check("patch embedding feature order (c, r, m, n)", patch_feature_order)
    def key_list():
        got = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
        assert got == [(k, tuple(s)) for k, s in fmt.expected_tensors(cfg)], "state_dict keys != format keys"

    check("format key list = reference state_dict", key_list)
    return summary(need_a_pass=True)


if __name__ == "__main__":
    sys.exit(main())
