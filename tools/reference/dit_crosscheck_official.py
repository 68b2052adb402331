#!/usr/bin/env python3
"""Cross-check the diffusion-decoder reference (tools/reference/dit_ref.py) against NVIDIA's modules.

The official code (NVIDIA/Cosmos @ 71f19b0: cosmos1/models/autoregressive/diffusion_decoder/network.py
DiffusionDecoderGeneralDIT on cosmos1/models/diffusion/networks/general_dit.py GeneralDIT, the modules
of cosmos1/models/diffusion/module/, the EDM scaling diffusion/modules/denoiser_scaling.py and the RES
sampler diffusion/modules/res_sampler.py + functional/{multi_step,runge_kutta,batch_ops}.py) is
imported from a checkout outside this repository (default /tmp/cosmos-official-dd, extracted there
with `git archive` from a bare mirror when missing); this repository never contains that code and the
checkout is not modified. For configs/models/dd-tiny.json and the fixtures tests/data/dd-tiny.h5 /
dd-tiny.golden.h5 the script
  1. builds the official DiffusionDecoderGeneralDIT in float32 on the CPU with the arguments of the
     official 7B experiment (FADITV2Config + the DD experiment overrides, spec 4.4) but the tiny
     sizes, checks that its state_dict keys, shapes and order (minus the pos_embedder.seq buffer) are
     exactly cosmos_dit_h5.expected_tensors (the file format's key list), and loads our bf16 weights
     (widened to f32) with strict load_state_dict;
  2. compares the official RoPE angles (VideoRopePosition3DEmb) and timestep features (Timesteps) with
     ours, and the official token-embedding resize (torchvision bilinear, antialias=True) with ours
     (plain bilinear);
  3. runs the official forward on the golden inputs (cond and uncond branch, spec 4.3) and on two more
     cases (fps 30 with a random padding mask; another latent size with 2 samples in a batch) and
     reports max |official - ours| and max |official - golden|;
  4. runs the official EDMScaling and a guided denoiser built from the official pieces exactly as
     model_t2w.denoise / diffusion_decoder/model.py x0_fn do, and the official Sampler (solver "2ab",
     15 steps, sigma_min 0.02, sigma_max 80, final clean-up step) on the golden noise, against our
     functions and the golden /x0 and /sample; and the official schedule and sampler with an analytic
     x0 function against ours in float64 (the sampler arithmetic alone).

The official denoiser casts sigma to the model precision (bf16) before computing the EDM
coefficients (spec 4.5). In this float32 run that cast would be to float32, so the script passes the
official code sigma.to(bfloat16).float(), the value the bf16 model sees, as our reference does
(dit_ref.py header). Nothing else in the official computation is changed.

Shims (plain-torch stand-ins written at run time into --shim-dir, default /tmp/cosmos-dd-shims, or
installed into sys.modules; not edits of the official files):
  - transformer_engine: pytorch.RMSNorm (x * rsqrt(mean(x^2) + eps) * weight, weight "weight" init 1),
    pytorch.attention.DotProductAttention (qkv_format "sbhd", no mask: softmax(q k^T / sqrt(d)) v in
    float32, output [s, b, h*d]) and apply_rotary_pos_emb (TE's unfused path: t*cos(f) +
    rotate_half(t)*sin(f), non-interleaved rotate_half = cat(-x2, x1); the fused CUDA kernel computes
    the same in float32);
  - torchvision (when not installed): transforms.InterpolationMode and transforms.functional.resize
    for tensors = torch.nn.functional.interpolate (bilinear: align_corners=False, antialias=True, the
    torchvision >= 0.17 tensor default; nearest: mode "nearest");
  - einops (when not installed): rearrange / repeat / layers.torch.Rearrange for the patterns these
    files use (groups on both sides, "1" axes, "...");
  - cosmos1.utils.log (loguru) -> no-op logger; cosmos1.utils.lazy_config (omegaconf/hydra) ->
    instantiate/LazyCall/LazyDict stand-ins that are never called on this path;
    cosmos1.utils.config.make_freezable (attrs helper of the sampler's config classes) -> identity;
  - torch.Tensor.cuda -> no-op (VideoRopePosition3DEmb builds its buffers with .cuda()).

Usage:
  /usr/bin/python3 tools/reference/dit_crosscheck_official.py [--official-repo /tmp/cosmos-official-dd]
      [--mirror /work/.mirror/NVIDIA+Cosmos/repo] [--tolerance 1e-4]
Exit status 1 when any difference exceeds --tolerance (max abs difference; the compared values are O(1)).
"""

import argparse
import importlib
import os
import subprocess
import sys
import types

import h5py
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import cosmos_dit_h5 as fmt  # noqa: E402
import dit_ref as ref  # noqa: E402

COMMIT = "71f19b0"
OFFICIAL_PATHS = ["cosmos1/__init__.py", "cosmos1/utils", "cosmos1/models/__init__.py",
                  "cosmos1/models/diffusion/conditioner.py", "cosmos1/models/diffusion/networks",
                  "cosmos1/models/diffusion/module", "cosmos1/models/diffusion/diffusion",
                  "cosmos1/models/autoregressive/__init__.py",
                  "cosmos1/models/autoregressive/diffusion_decoder/__init__.py",
                  "cosmos1/models/autoregressive/diffusion_decoder/network.py"]
SHIMS_USED = []

# ---------------------------------------------------------------------------------------------
# shim sources (written to --shim-dir)

TE_INIT = '''"""transformer_engine stand-in for the cosmos-ar crosscheck (plain torch, float32)."""
from . import pytorch  # noqa: F401
'''

TE_PYTORCH = '''"""transformer_engine.pytorch stand-in: RMSNorm only."""
import torch
from . import attention  # noqa: F401


class RMSNorm(torch.nn.Module):
    def __init__(self, hidden_size, eps=1e-5, **kwargs):
        super().__init__()
        if kwargs.get("zero_centered_gamma", False):
            raise NotImplementedError("zero_centered_gamma")
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(hidden_size))

    def forward(self, x):
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight.float()
        return y.to(x.dtype)
'''

TE_ATTENTION = '''"""transformer_engine.pytorch.attention stand-in: DotProductAttention (sbhd, no mask) and
apply_rotary_pos_emb (the unfused TE formula)."""
import math
import torch


class DotProductAttention(torch.nn.Module):
    def __init__(self, num_attention_heads, kv_channels, num_gqa_groups=None, attention_dropout=0.0,
                 qkv_format="sbhd", attn_mask_type="causal", softmax_scale=None, **kwargs):
        super().__init__()
        assert qkv_format == "sbhd" and attn_mask_type == "no_mask" and attention_dropout == 0
        assert num_gqa_groups in (None, num_attention_heads)
        self.scale = softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(kv_channels)

    def forward(self, q, k, v, attention_mask=None, core_attention_bias_type="no_bias",
                core_attention_bias=None, **kwargs):
        assert attention_mask is None and core_attention_bias is None
        s, b, h, d = q.shape
        scores = torch.einsum("sbhd,tbhd->bhst", q.float(), k.float()) * self.scale
        out = torch.einsum("bhst,tbhd->sbhd", torch.softmax(scores, dim=-1), v.float())
        return out.reshape(s, b, h * d).to(q.dtype)


def _rotate_half(x):
    x1, x2 = torch.chunk(x, 2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(t, freqs, tensor_format="sbhd", fused=False, **kwargs):
    assert tensor_format == "sbhd"
    freqs = freqs[: t.shape[0]].float()
    rot = freqs.shape[-1]
    t_rot, t_pass = t[..., :rot], t[..., rot:]
    out = t_rot.float() * torch.cos(freqs) + _rotate_half(t_rot.float()) * torch.sin(freqs)
    return torch.cat((out.to(t.dtype), t_pass), dim=-1)
'''

TV_INIT = '''"""torchvision stand-in: transforms.functional.resize for tensors only."""
from . import transforms  # noqa: F401
'''

TV_TRANSFORMS = '''import enum
from . import functional  # noqa: F401


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


functional.InterpolationMode = InterpolationMode
'''

TV_FUNCTIONAL = '''"""resize() of torchvision >= 0.17 for float tensors: F.interpolate with antialias=True for
bilinear (its default for tensors), legacy "nearest" for NEAREST."""
import torch
import torch.nn.functional as F


def resize(img, size, interpolation=None, max_size=None, antialias=True):
    mode = "bilinear" if interpolation is None else interpolation.value
    shape = img.shape
    x = img.reshape(-1, 1, shape[-2], shape[-1]) if img.dim() != 4 else img
    if mode == "bilinear":
        y = F.interpolate(x.float(), size=list(size), mode="bilinear", align_corners=False,
                          antialias=bool(antialias))
    elif mode == "nearest":
        y = F.interpolate(x.float(), size=list(size), mode="nearest")
    else:
        raise NotImplementedError(mode)
    y = y.to(img.dtype)
    return y.reshape(*shape[:-2], *y.shape[-2:])
'''

EINOPS_INIT = '''"""einops stand-in: rearrange / repeat for the patterns of the official diffusion code."""
import math
import torch


def _parse(side):
    items, group = [], None
    for tok in side.replace("(", " ( ").replace(")", " ) ").split():
        if tok == "(":
            group = []
        elif tok == ")":
            items.append(group)
            group = None
        elif group is not None:
            group.append(tok)
        else:
            items.append([tok])
    return items


def _apply(x, pattern, sizes, allow_new):
    left, right = (s.strip() for s in pattern.split("->"))
    litems, ritems = _parse(left), _parse(right)
    n_ell = x.dim() - (len(litems) - (1 if ["..."] in litems else 0))
    ell = ["_ell%d" % i for i in range(n_ell)]

    def expand(items):
        out = []
        for it in items:
            if it == ["..."]:
                out += [[e] for e in ell]
            else:
                out.append([n for n in it if n != "1"])
        return out

    litems, ritems = expand(litems), expand(ritems)
    assert len(litems) == x.dim(), (pattern, x.shape)
    dims = dict(sizes)
    lnames = []
    for it, n in zip(litems, x.shape):
        unknown = [m for m in it if m not in dims]
        known = math.prod(dims[m] for m in it if m in dims)
        if len(unknown) == 1:
            dims[unknown[0]] = n // known
        elif len(unknown) > 1:
            raise ValueError("cannot infer %s in %s" % (unknown, pattern))
        assert math.prod(dims[m] for m in it) == n, (pattern, it, n)
        lnames += it
    x = x.reshape([dims[m] for m in lnames])
    rflat = [m for it in ritems for m in it]
    for m in rflat:
        if m not in lnames and not allow_new:
            raise ValueError("new axis %s in rearrange %s" % (m, pattern))
    x = x.permute([lnames.index(m) for m in rflat if m in lnames])
    shape, j = [], 0
    for m in rflat:
        if m in lnames:
            shape.append(x.shape[j])
            j += 1
        else:
            shape.append(1)
    x = x.reshape(shape).expand([dims[m] for m in rflat])
    return x.reshape([math.prod(dims[m] for m in it) for it in ritems])


def rearrange(x, pattern, **sizes):
    return _apply(x, pattern, sizes, False)


def repeat(x, pattern, **sizes):
    return _apply(x, pattern, sizes, True).contiguous()
'''

EINOPS_LAYERS_TORCH = '''import torch
from .. import rearrange


class Rearrange(torch.nn.Module):
    def __init__(self, pattern, **sizes):
        super().__init__()
        self.pattern, self.sizes = pattern, sizes

    def forward(self, x):
        return rearrange(x, self.pattern, **self.sizes)
'''


def write_file(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def have(module):
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False


def install_shims(shim_dir, official_repo):
    files = {"transformer_engine/__init__.py": TE_INIT,
             "transformer_engine/pytorch/__init__.py": TE_PYTORCH,
             "transformer_engine/pytorch/attention.py": TE_ATTENTION}
    SHIMS_USED.append("transformer_engine (RMSNorm, DotProductAttention, apply_rotary_pos_emb)")
    if not have("torchvision"):
        files.update({"torchvision/__init__.py": TV_INIT, "torchvision/transforms/__init__.py": TV_TRANSFORMS,
                      "torchvision/transforms/functional.py": TV_FUNCTIONAL})
        SHIMS_USED.append("torchvision resize (F.interpolate, antialias=True)")
    if not have("einops"):
        files.update({"einops/__init__.py": EINOPS_INIT, "einops/layers/__init__.py": "",
                      "einops/layers/torch.py": EINOPS_LAYERS_TORCH})
        SHIMS_USED.append("mini-einops")
    else:
        SHIMS_USED.append("(real einops %s)" % importlib.import_module("einops").__version__)
    for rel, text in files.items():
        write_file(os.path.join(shim_dir, rel), text)
    sys.path.insert(0, os.path.abspath(shim_dir))
    sys.path.insert(0, os.path.abspath(official_repo))

    torch.Tensor.cuda = lambda self, *a, **k: self
    # cosmos1.utils.* stand-ins (their real dependencies: loguru, omegaconf, hydra, termcolor)
    log = types.ModuleType("cosmos1.utils.log")
    for name in ("debug", "info", "warning", "error", "critical", "success", "trace"):
        setattr(log, name, lambda *a, **k: None)
    lazy = types.ModuleType("cosmos1.utils.lazy_config")

    def _never(*a, **k):
        raise RuntimeError("lazy_config stand-in called")

    lazy.instantiate = lazy.LazyCall = _never
    lazy.LazyDict = dict
    config = types.ModuleType("cosmos1.utils.config")
    config.make_freezable = lambda cls: cls
    import cosmos1.utils  # noqa: F401  (the official, empty package)

    for mod in (log, lazy, config):
        sys.modules[mod.__name__] = mod
        setattr(sys.modules["cosmos1.utils"], mod.__name__.rsplit(".", 1)[1], mod)
    SHIMS_USED.append("cosmos1.utils.{log,lazy_config,config} stand-ins, Tensor.cuda no-op")


def extract(mirror, dest):
    os.makedirs(dest, exist_ok=True)
    archive = subprocess.run(["git", "--git-dir", mirror, "archive", COMMIT] + OFFICIAL_PATHS,
                             stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)


# ---------------------------------------------------------------------------------------------


def official_kwargs(cfg):
    """The official 7B experiment's DiffusionDecoderGeneralDIT arguments (FADITV2Config + DD overrides,
    spec 4.4) with the sizes of cfg."""
    keys = ("max_img_h", "max_img_w", "max_frames", "in_channels", "out_channels", "patch_spatial",
            "patch_temporal", "model_channels", "block_config", "num_blocks", "num_heads", "mlp_ratio",
            "crossattn_emb_channels", "use_cross_attn_mask", "concat_padding_mask", "pos_emb_cls",
            "affline_emb_norm", "use_adaln_lora", "adaln_lora_dim", "rope_h_extrapolation_ratio",
            "rope_w_extrapolation_ratio", "rope_t_extrapolation_ratio", "extra_per_block_abs_pos_emb",
            "diffusion_decoder_condition_on_sigma", "diffusion_decoder_condition_on_token",
            "diffusion_decoder_token_condition_voc_size", "diffusion_decoder_token_condition_dim")
    kw = {k: cfg[k] for k in keys}
    kw.update(pos_emb_learnable=False, pos_emb_interpolation="crop", block_x_format="THWBD",
              is_diffusion_decoder=True)
    return kw


def _inject_rope_interleaved():
    def apply_rope(x, cos, sin):  # pairs (2i, 2i+1) instead of (i, i + hd/2)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        c, s_ = cos[None, :, None, 0::2], sin[None, :, None, 0::2]
        return torch.stack([x1 * c - x2 * s_, x2 * c + x1 * s_], dim=-1).flatten(-2)
    ref.apply_rope = apply_rope


def _inject_no_sigma_rounding():
    ref.sigma_to_bf16 = lambda s: torch.as_tensor(s, dtype=torch.float64).reshape(-1).to(torch.float32)


def _inject_unpatchify_channel_major():
    def unpatchify(self, y, T, H, W):
        B, p, C = y.shape[0], self.cfg["patch_spatial"], self.cfg["out_channels"]
        y = y.reshape(B, T, H // p, W // p, C, p, p)  # (C, p1, p2) like the input side
        return y.permute(0, 4, 1, 2, 5, 3, 6).reshape(B, C, T, H, W)
    ref.DiffusionDecoderDiT.unpatchify = unpatchify


def _inject_uncond_keeps_tokens():
    ref.uncond_inputs = lambda context, tokens: (torch.zeros_like(context), tokens)


def _inject_timestep_sin_first():
    orig = ref.timestep_features

    def feats(c, dim):
        f = orig(c, dim)
        return torch.cat([f[:, dim // 2:], f[:, : dim // 2]], dim=-1)
    ref.timestep_features = feats


def _inject_ca_with_rope():
    orig = ref.Attn.forward

    def forward(self, x, context=None, rope=None):
        if context is not None:  # rotate q of the cross-attention too
            self.is_self, saved = True, self.is_self
            try:
                B, L, _ = x.shape
                q = self.to_q[1](self.to_q[0](x).reshape(B, L, self.heads, self.hd))
                k = self.to_k[1](self.to_k[0](context).reshape(B, context.shape[1], self.heads, self.hd))
                v = self.to_v[0](context).reshape(B, context.shape[1], self.heads, self.hd)
                q = ref.apply_rope(q, *_LAST_ROPE)
                return self.to_out[0](ref.attention(q, k, v))
            finally:
                self.is_self = saved
        _LAST_ROPE[:] = list(rope) if rope is not None else _LAST_ROPE
        return orig(self, x, context, rope)
    ref.Attn.forward = forward


_LAST_ROPE = []
INJECTIONS = {"rope-interleaved": _inject_rope_interleaved, "no-sigma-rounding": _inject_no_sigma_rounding,
              "unpatchify-channel-major": _inject_unpatchify_channel_major,
              "uncond-keeps-tokens": _inject_uncond_keeps_tokens, "timestep-sin-first": _inject_timestep_sin_first,
              "ca-with-rope": _inject_ca_with_rope}


class Report:
    def __init__(self, tol):
        self.tol, self.rows, self.failed = tol, [], False

    def add(self, what, a, b, must=True):
        a64 = torch.as_tensor(a).double()
        b64 = torch.as_tensor(b).double()
        diff = float((a64 - b64).abs().max()) if a64.numel() else 0.0
        scale = float(b64.abs().max()) if b64.numel() else 0.0
        rel = diff / scale if scale else 0.0
        bad = must and not diff <= self.tol
        self.failed |= bad
        self.rows.append((what, diff, rel, scale, bad))
        print(f"{'FAIL' if bad else 'ok  '} {what:60s} max|diff| {diff:.3e}  rel {rel:.3e}  (max|ref| {scale:.3g})")


def main(argv=None):
    ap = argparse.ArgumentParser(description="diffusion decoder reference vs official modules (see docstring)")
    ap.add_argument("--official-repo", default="/tmp/cosmos-official-dd")
    ap.add_argument("--mirror", default="/work/.mirror/NVIDIA+Cosmos/repo")
    ap.add_argument("--shim-dir", default="/tmp/cosmos-dd-shims")
    ap.add_argument("--config", default=os.path.join(REPO, "configs", "models", "dd-tiny.json"))
    ap.add_argument("--weights", default=os.path.join(REPO, "tests", "data", "dd-tiny.h5"))
    ap.add_argument("--golden", default=os.path.join(REPO, "tests", "data", "dd-tiny.golden.h5"))
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--inject", choices=sorted(INJECTIONS),
                    help="deliberately break our reference in one way, to show that the check fails")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.inject:
        INJECTIONS[args.inject]()
        print(f"injected reference bug: {args.inject}")

    if not os.path.isfile(os.path.join(args.official_repo, "cosmos1/models/diffusion/networks/general_dit.py")):
        print(f"extracting NVIDIA/Cosmos @ {COMMIT} from {args.mirror} into {args.official_repo}")
        extract(args.mirror, args.official_repo)
    install_shims(args.shim_dir, args.official_repo)
    from cosmos1.models.autoregressive.diffusion_decoder.network import DiffusionDecoderGeneralDIT
    from cosmos1.models.diffusion.conditioner import BaseConditionEntry, DataType
    from cosmos1.models.diffusion.diffusion.functional.batch_ops import batch_mul
    from cosmos1.models.diffusion.diffusion.modules.denoiser_scaling import EDMScaling
    from cosmos1.models.diffusion.diffusion.modules.res_sampler import Sampler, get_rev_ts
    from cosmos1.models.diffusion.module.blocks import Timesteps

    rep = Report(args.tolerance)
    cfg = fmt.load_config(args.config)
    ours = ref.DiffusionDecoderDiT.from_h5(args.weights)
    off = DiffusionDecoderGeneralDIT(**official_kwargs(cfg)).float().eval()

    # 1. key list and weights
    off_sd = off.state_dict()
    off_keys = [(k, tuple(v.shape)) for k, v in off_sd.items() if not k.startswith("pos_embedder.")]
    exp_keys = [(k, tuple(s)) for k, s in fmt.expected_tensors(cfg)]
    if off_keys != exp_keys:
        a, b = set(off_keys), set(exp_keys)
        print(f"FAIL key list: official-only {sorted(a - b)[:5]}, ours-only {sorted(b - a)[:5]}, "
              f"same set but other order: {a == b}")
        rep.failed = True
    else:
        print(f"ok   key list: the official state_dict has exactly the format's {len(exp_keys)} keys, shapes and "
              f"order (+ buffers {[k for k in off_sd if k.startswith('pos_embedder.')]})")
    weights = {k: v.detach().clone() for k, v in ours.state_dict().items()}
    weights.update({k: v for k, v in off_sd.items() if k.startswith("pos_embedder.")})
    off.load_state_dict(weights, strict=True)

    with h5py.File(args.golden, "r") as f:
        g = {k: torch.from_numpy(f[k][()]) for k in f.keys()}
    C, T, H, W = g["x"].shape
    ps = cfg["patch_spatial"]

    def off_net(x, c_noise, context, tokens, fps, padding_mask=None):
        """Official forward for batched inputs x [B,C,T,H,W], tokens [B,T,Ht,Wt]."""
        B = x.shape[0]
        if padding_mask is None:
            padding_mask = torch.zeros(B, 1, x.shape[3] * 8, x.shape[4] * 8)
        with torch.no_grad():
            return off(x=x, timesteps=torch.as_tensor(c_noise, dtype=torch.float32).reshape(-1).expand(B),
                       crossattn_emb=context, crossattn_mask=torch.ones(B, context.shape[1]),
                       fps=torch.tensor([float(fps)] * B), padding_mask=padding_mask,
                       latent_condition=tokens[:, None].to(torch.int32), data_type=DataType.VIDEO)

    # 2. position tables, timestep features, token resize
    Tp, Hp, Wp = T // cfg["patch_temporal"], H // ps, W // ps
    for fps in (24.0, 30.0):
        off_rope = off.pos_embedder(torch.zeros(1, Tp, Hp, Wp, cfg["model_channels"]), fps=torch.tensor([fps]))
        rep.add(f"RoPE angles fps {fps:g} ({Tp}x{Hp}x{Wp} tokens)", ref.rope_angles(cfg, Tp, Hp, Wp, fps),
                off_rope.reshape(Tp * Hp * Wp, -1))
    cn = torch.tensor([-2.5, -0.98, 0.0, 0.27, 1.1])
    rep.add("timestep features (5 c_noise values)", ref.timestep_features(cn, cfg["model_channels"]),
            Timesteps(cfg["model_channels"])(cn))
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode
    emb = ours.token_embedder(g["tokens"].long()).permute(0, 3, 1, 2)  # [T, Dt, Ht, Wt]
    with torch.no_grad():
        rep.add("token resize: torch bilinear vs torchvision(antialias)",
                torch.nn.functional.interpolate(emb, size=(H, W), mode="bilinear", align_corners=False),
                TF.resize(emb, [H, W], interpolation=InterpolationMode.BILINEAR))

    # 3. forward passes
    ctx, tok = g["context"], g["tokens"]
    # the official unconditional branch: the conditioner's dropout with rate 1.0 (spec 4.3)
    ctx_u = BaseConditionEntry().random_dropout_input(ctx[None], dropout_rate=1.0)[0]
    tok_u = BaseConditionEntry().random_dropout_input(tok[None, None], dropout_rate=1.0)[0, 0]
    assert tok_u.dtype == tok.dtype
    with torch.no_grad():
        for name, c_, t_ in (("cond", ctx, tok), ("uncond", ctx_u, tok_u)):
            o = off_net(g["x"][None], g["c_noise"], c_[None], t_[None], 24.0)[0]
            mine = (c_, t_) if name == "cond" else ref.uncond_inputs(ctx, tok)
            rep.add(f"forward {name}: official - ours", ours(g["x"], g["c_noise"], *mine), o)
            rep.add(f"forward {name}: official - golden /out_{name}", g[f"out_{name}"], o)
        gen = torch.Generator().manual_seed(7)
        x2 = torch.randn(C, T, H, W, generator=gen)
        pm = (torch.rand(1, 1, H * 8, W * 8, generator=gen) > 0.5).float()
        o = off_net(x2[None], 0.6, ctx[None], tok[None], 30.0, pm)[0]
        rep.add("forward fps 30 + random padding mask", ours(x2, 0.6, ctx, tok, fps=30.0, padding_mask=pm[0]), o)
        T3, H3, W3 = 2, 6, 8
        x3 = torch.randn(2, C, T3, H3, W3, generator=gen)
        t3 = torch.randint(0, cfg["diffusion_decoder_token_condition_voc_size"], (2, T3, H3 // 2, W3 // 2),
                           generator=gen)
        c3 = torch.randn(2, 16, cfg["crossattn_emb_channels"], generator=gen)
        o = off_net(x3, torch.tensor([-0.4, 0.9]), c3, t3, 24.0)
        rep.add(f"forward batch 2, latent {T3}x{H3}x{W3}", ours(x3, torch.tensor([-0.4, 0.9]), c3, t3), o)

    # 4. EDM scaling, guided denoiser, sampler
    scaling = EDMScaling(cfg["sigma_data"])
    sig = torch.tensor([0.02, 0.7, 3.0, 80.0], dtype=torch.float64)
    off_c = scaling(sig.to(torch.bfloat16).float())
    for name, a, b in zip(("c_skip", "c_out", "c_in", "c_noise"), ref.edm_coefficients(sig, cfg["sigma_data"]), off_c):
        rep.add(f"EDM {name} (sigma 0.02, 0.7, 3, 80)", a, b)

    def off_x0_fn(noise_x, sigma):
        """diffusion_decoder/model.py x0_fn + model_t2w.denoise, with sigma rounded as the bf16 model does."""
        sigma = sigma.to(torch.bfloat16).float()
        noise_x = noise_x.float()

        def den(context, tokens):
            c_skip, c_out, c_in, c_noise = scaling(sigma=sigma)
            net_output = off_net(batch_mul(c_in, noise_x), c_noise, context, tokens, 24.0)
            return batch_mul(c_skip, noise_x) + batch_mul(c_out, net_output)

        cond_x0 = den(ctx[None], tok[None])
        uncond_x0 = den(ctx_u[None], tok_u[None])
        return cond_x0 + cfg["guidance"] * (cond_x0 - uncond_x0)

    with torch.no_grad():
        o = off_x0_fn(g["x_t"][None], g["sigma"].double())[0]
        rep.add("guided x0: official - ours", ref.guided_x0(ours, g["x_t"], g["sigma"], ctx, tok, cfg["guidance"],
                                                           cfg["sigma_data"]), o)
        rep.add("guided x0: official - golden /x0", g["x0"], o)
        rep.add("Karras sigmas (float64)", ref.karras_sigmas(cfg["sigma_min"], cfg["sigma_max"], cfg["num_steps"]),
                get_rev_ts(cfg["sigma_min"], cfg["sigma_max"], cfg["num_steps"], 7.0))
        x_init = g["noise"][None] * cfg["sigma_max"]  # float32: the official sampler's in_dtype
        o = Sampler()(off_x0_fn, x_init, num_steps=cfg["num_steps"], sigma_min=cfg["sigma_min"],
                      sigma_max=cfg["sigma_max"], solver_option="2ab")[0]
        rep.add("sampler 2ab (32 forwards): official - ours",
                ref.sample_from_config(ours, g["noise"], ctx, tok, fps=24.0), o)
        rep.add("sampler 2ab: official - golden /sample", g["sample"], o)

        def analytic(x, s):
            s = s.reshape(-1, *([1] * (x.dim() - 1))) if torch.is_tensor(s) and s.dim() else s
            return (0.3 * x / (1.0 + s) + torch.sin(x)).to(torch.float64)

        xa = torch.randn(1, 3, 5, generator=gen, dtype=torch.float64) * 80
        o = Sampler()(analytic, xa, num_steps=15, sigma_min=0.02, sigma_max=80.0, solver_option="2ab")
        mine = ref.sampler_2ab(lambda x, s: analytic(x, torch.as_tensor(s)), xa, ref.karras_sigmas(0.02, 80.0, 15))
        rep.add("sampler 2ab, analytic x0, float64 (arithmetic only)", mine, o)

    # 5. for information: the official network in bf16 (as the pipeline runs it; CPU bf16 kernels here)
    try:
        off_bf = DiffusionDecoderGeneralDIT(**official_kwargs(cfg)).eval()
        off_bf.load_state_dict(weights, strict=True)
        off_bf = off_bf.to(torch.bfloat16)
        with torch.no_grad():
            o = off_bf(x=g["x"][None].bfloat16(), timesteps=g["c_noise"].bfloat16(),
                       crossattn_emb=ctx[None].bfloat16(), crossattn_mask=torch.ones(1, ctx.shape[0]),
                       fps=torch.tensor([24.0], dtype=torch.bfloat16),
                       padding_mask=torch.zeros(1, 1, H * 8, W * 8, dtype=torch.bfloat16),
                       latent_condition=tok[None, None].to(torch.int32), data_type=DataType.VIDEO)[0]
        rep.add("(info) official forward cond in bf16 - golden /out_cond", o.float(), g["out_cond"], must=False)
    except RuntimeError as exc:  # a CPU bf16 kernel missing in this torch build
        print(f"(info) bf16 run skipped: {exc}")

    print("shims: " + "; ".join(SHIMS_USED))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); tolerance {args.tolerance:g}")
    if rep.failed:
        print("CROSSCHECK FAILED")
        return 1
    print("crosscheck passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
