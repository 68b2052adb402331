#!/usr/bin/env python3
"""PyTorch fp32 reference of the Cosmos DV8x16x16 discrete video tokenizer, written from
/work/shared/spec/components.md section 2 (2.2 config, 2.4 Haar patcher, 2.5 building blocks,
2.6 encoder, 2.7 FSQ, 2.8 decoder), and of the CV8x8x8 continuous tokenizer (section 4.7: the same
encoder / decoder modules without FSQ, quant_conv / post_quant_conv on latent_channels; CVDecoder
plus the diffusion decoder's de-normalisation `denormalize`). Not a copy of the official code:
module names only mirror the official state-dict keys (spec 2.9, Appendix A) so converted
checkpoints load strictly.

Works for any config with the keys of configs/models/*dv*.json: in_channels, out_channels,
channels, channels_mult, num_res_blocks, attn_resolutions, resolution, patch_size, z_channels,
embedding_dim, levels, spatial_compression, temporal_compression, legacy_mode; CV configs
(configs/models/*cv*.json) have latent_channels instead of embedding_dim and levels.

Layouts: videos [B, C, T, H, W] (PyTorch NCDHW), indices [B, T', H', W'] int64, codes
[B, len(levels), T', H', W'].

Usage as a library:
    cfg = load_config("configs/models/dv-tokenizer-tiny.json")
    enc, dec = DVEncoder(cfg), DVDecoder(cfg)
    indices, codes = enc(video)      # video in [-1, 1], T = 1 + 8k
    video2 = dec(indices)
    cv = CVDecoder(load_config("configs/models/cv-tokenizer-tiny.json"))
    video3 = cv(latent)              # latent [B, latent_channels, T', H', W'] -> [B, 3, 1+8(T'-1), 8H', 8W']
"""

import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

HAAR_TAP = 1.0 / math.sqrt(2.0)


def load_config(path):
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------- Haar patcher (spec 2.4)

def haar_level(x, tap=HAAR_TAP):
    """One 3D Haar level on [B, g, T, H, W] -> [B, 8g, ceil(T/2), ceil(H/2), ceil(W/2)].
    Odd axes are reflect-padded by one on the right. Band b = 4*t_bit + 2*h_bit + w_bit,
    output channel = b*g + c; value = tap^3 * sum_p s_b(p) x(p) / (2*sqrt(2))."""
    pads = [0, x.shape[4] % 2, 0, x.shape[3] % 2, 0, x.shape[2] % 2]
    if any(pads):
        x = F.pad(x, pads, mode="reflect")
    B, g, T, H, W = x.shape
    xb = x.reshape(B, g, T // 2, 2, H // 2, 2, W // 2, 2)
    scale = tap ** 3 / (2.0 * math.sqrt(2.0))
    bands = []
    for b in range(8):
        bt, bh, bw = (b >> 2) & 1, (b >> 1) & 1, b & 1
        acc = 0
        for pt in range(2):
            for ph in range(2):
                for pw in range(2):
                    s = (-1) ** (bt * pt + bh * ph + bw * pw)
                    acc = acc + s * xb[:, :, :, pt, :, ph, :, pw]
        bands.append(acc * scale)
    return torch.cat(bands, dim=1)


def ihaar_level(y, tap=HAAR_TAP):
    """Inverse of haar_level on even-sized outputs: [B, 8g, T, H, W] -> [B, g, 2T, 2H, 2W],
    x(p) = 2*sqrt(2) * tap^3 * sum_b s_b(p) band_b."""
    B, C, T, H, W = y.shape
    g = C // 8
    yb = y.reshape(B, 8, g, T, H, W)
    scale = 2.0 * math.sqrt(2.0) * tap ** 3
    out = y.new_zeros(B, g, T, 2, H, 2, W, 2)
    for pt in range(2):
        for ph in range(2):
            for pw in range(2):
                acc = 0
                for b in range(8):
                    bt, bh, bw = (b >> 2) & 1, (b >> 1) & 1, b & 1
                    s = (-1) ** (bt * pt + bh * ph + bw * pw)
                    acc = acc + s * yb[:, b]
                out[:, :, :, pt, :, ph, :, pw] = acc * scale
    return out.reshape(B, g, 2 * T, 2 * H, 2 * W)


def haar_patch(x, patch_size=4, tap=HAAR_TAP):
    """Patcher3D: frame 0 repeated patch_size times in front of frames 1.., then log2(p) levels."""
    x = torch.cat([x[:, :, :1].repeat(1, 1, patch_size, 1, 1), x[:, :, 1:]], dim=2)
    for _ in range(int(round(math.log2(patch_size)))):
        x = haar_level(x, tap)
    return x


def haar_unpatch(y, patch_size=4, tap=HAAR_TAP):
    """UnPatcher3D: log2(p) inverse levels, then drop the first patch_size-1 frames."""
    for _ in range(int(round(math.log2(patch_size)))):
        y = ihaar_level(y, tap)
    return y[:, :, patch_size - 1:]


# ---------------------------------------------------------------- building blocks (spec 2.5)

def replicate_first(x, n):
    if n <= 0:
        return x
    return torch.cat([x[:, :, :1].repeat(1, 1, n, 1, 1), x], dim=2)


def causal_conv3d(x, w, b, time_pad, stride_t=1, stride_s=1, pad_lo=0, pad_hi=0):
    """Functional causal conv: time_pad copies of frame 0 in front, zero pad H and W by pad_lo
    (top/left) and pad_hi (bottom/right), then a plain Conv3d with stride (stride_t, s, s)."""
    x = replicate_first(x, time_pad)
    if pad_lo or pad_hi:
        x = F.pad(x, (pad_lo, pad_hi, pad_lo, pad_hi, 0, 0))
    return F.conv3d(x, w, b, stride=(stride_t, stride_s, stride_s))


class CausalConv3d(nn.Module):
    def __init__(self, cin, cout, kernel=(1, 1, 1), stride=1, time_stride=1, padding=0):
        super().__init__()
        self.conv3d = nn.Conv3d(cin, cout, kernel)
        self.time_pad = (kernel[0] - 1) + (1 - time_stride)
        self.stride, self.time_stride, self.padding = stride, time_stride, padding

    def forward(self, x, extra_time_pad=0):
        return causal_conv3d(x, self.conv3d.weight, self.conv3d.bias, self.time_pad + extra_time_pad,
                             self.time_stride, self.stride, self.padding, self.padding)


def group_norm_frames(x, weight, bias, eps=1e-6):
    """GroupNorm(1 group) per frame: statistics over C*H*W of each (b, t)."""
    B, C, T, H, W = x.shape
    y = x.permute(0, 2, 1, 3, 4).reshape(B * T, C, H, W)
    y = F.group_norm(y, 1, weight, bias, eps)
    return y.reshape(B, T, C, H, W).permute(0, 2, 1, 3, 4)


class CausalNormalize(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(1, c, eps=1e-6, affine=True)

    def forward(self, x):
        return group_norm_frames(x, self.norm.weight, self.norm.bias, self.norm.eps)


def swish(x):
    return x * torch.sigmoid(x)


def factorized(cin, cout):
    return nn.Sequential(CausalConv3d(cin, cout, (1, 3, 3), padding=1), CausalConv3d(cout, cout, (3, 1, 1)))


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = CausalNormalize(cin)
        self.conv1 = factorized(cin, cout)
        self.norm2 = CausalNormalize(cout)
        self.conv2 = factorized(cout, cout)
        self.nin_shortcut = CausalConv3d(cin, cout) if cin != cout else None

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        return (self.nin_shortcut(x) if self.nin_shortcut is not None else x) + h


class SpatialAttn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = CausalNormalize(c)
        self.q, self.k, self.v, self.proj_out = (CausalConv3d(c, c) for _ in range(4))

    def forward(self, x):
        B, C, T, H, W = x.shape
        h = self.norm(x)
        def tok(t):  # [B*T, HW, C]
            return t.permute(0, 2, 3, 4, 1).reshape(B * T, H * W, C)
        q, k, v = tok(self.q(h)), tok(self.k(h)), tok(self.v(h))
        a = torch.softmax(q @ k.transpose(1, 2) * (C ** -0.5), dim=-1)
        o = (a @ v).reshape(B, T, H, W, C).permute(0, 4, 1, 2, 3)
        return x + self.proj_out(o)


class TemporalAttn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = CausalNormalize(c)
        self.q, self.k, self.v, self.proj_out = (CausalConv3d(c, c) for _ in range(4))

    def forward(self, x):
        B, C, T, H, W = x.shape
        h = self.norm(x)
        def tok(t):  # [B*H*W, T, C]
            return t.permute(0, 3, 4, 2, 1).reshape(B * H * W, T, C)
        q, k, v = tok(self.q(h)), tok(self.k(h)), tok(self.v(h))
        s = q @ k.transpose(1, 2) * (C ** -0.5)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        a = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
        o = (a @ v).reshape(B, H, W, T, C).permute(0, 4, 3, 1, 2)
        return x + self.proj_out(o)


def attn_pair(c):
    return nn.Sequential(SpatialAttn(c), TemporalAttn(c))


class Downsample(nn.Module):
    """CausalHybridDownsample3d (spec 2.5). Unused convs are absent (COSMOS copy)."""
    def __init__(self, c, spatial, temporal):
        super().__init__()
        self.spatial, self.temporal = spatial, temporal
        if spatial:
            self.conv1 = CausalConv3d(c, c, (1, 3, 3), stride=2)
        if temporal:
            self.conv2 = CausalConv3d(c, c, (3, 1, 1), time_stride=2)
        if spatial or temporal:
            self.conv3 = CausalConv3d(c, c)

    def forward(self, x):
        if not (self.spatial or self.temporal):
            return x
        if self.spatial:
            xp = F.pad(x, (0, 1, 0, 1, 0, 0))
            x = self.conv1(xp) + F.avg_pool3d(xp, (1, 2, 2), (1, 2, 2))
        if self.temporal:
            xp = replicate_first(x, 1)
            x = self.conv2(xp) + F.avg_pool3d(xp, (2, 1, 1), (2, 1, 1))
        return self.conv3(x)


class Upsample(nn.Module):
    """CausalHybridUpsample3d (spec 2.5). The temporal branch's conv+residual also runs when T == 1
    (only the frame repetition is skipped), as the official module does."""
    def __init__(self, c, spatial, temporal):
        super().__init__()
        self.spatial, self.temporal = spatial, temporal
        if temporal:
            self.conv1 = CausalConv3d(c, c, (3, 1, 1))
        if spatial:
            self.conv2 = CausalConv3d(c, c, (1, 3, 3), padding=1)
        if spatial or temporal:
            self.conv3 = CausalConv3d(c, c)

    def forward(self, x):
        if not (self.spatial or self.temporal):
            return x
        if self.temporal:
            if x.shape[2] > 1:
                x = x.repeat_interleave(2, dim=2)[:, :, 1:]
            x = self.conv1(x) + x
        if self.spatial:
            x = x.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)
            x = self.conv2(x) + x
        return self.conv3(x)


def _n_downs(cfg):
    p = int(math.log2(cfg["patch_size"]))
    return int(math.log2(cfg["spatial_compression"])) - p, int(math.log2(cfg["temporal_compression"])) - p


# ---------------------------------------------------------------- FSQ (spec 2.7)

class FSQ:
    def __init__(self, levels):
        self.levels = torch.tensor(levels, dtype=torch.int64)
        basis = [1]
        for L in levels[:-1]:
            basis.append(basis[-1] * L)
        self.basis = torch.tensor(basis, dtype=torch.int64)
        lv = torch.tensor(levels, dtype=torch.float32)
        self.half_l = (lv - 1) * torch.tensor(1.001, dtype=torch.float32) / 2
        self.offset = torch.where(self.levels % 2 == 0, 0.5, 0.0).to(torch.float32)
        self.shift = torch.atanh(self.offset / self.half_l)
        self.half_w = self.levels // 2

    def _bc(self, t, ndim):  # per-channel constant broadcast along dim 1
        return t.reshape((1, -1) + (1,) * (ndim - 2))

    def quantize(self, z):
        """z [B, D, ...] fp32 -> (indices [B, ...] int64, codes [B, D, ...] fp32)."""
        n = z.ndim
        bounded = torch.tanh(z + self._bc(self.shift, n)) * self._bc(self.half_l, n) - self._bc(self.offset, n)
        q = torch.round(bounded)  # half-to-even
        hw = self._bc(self.half_w, n)
        codes = q / hw.to(torch.float32)
        digits = (q + hw).to(torch.int64)
        indices = (digits * self._bc(self.basis, n)).sum(dim=1)
        return indices, codes

    def dequantize(self, indices):
        """indices [B, ...] -> codes [B, D, ...] fp32."""
        idx = indices.to(torch.int64).unsqueeze(1)
        n = idx.ndim
        digits = (idx // self._bc(self.basis, n)) % self._bc(self.levels, n)
        hw = self._bc(self.half_w, n)
        return ((digits - hw).to(torch.float32)) / hw.to(torch.float32)


# ---------------------------------------------------------------- encoder / decoder (2.6, 2.8)

class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, mult, nrb = cfg["channels"], cfg["channels_mult"], cfg["num_res_blocks"]
        p = cfg["patch_size"]
        self.patch_size = p
        n_sd, n_td = _n_downs(cfg)
        self.conv_in = factorized(cfg["in_channels"] * p ** 3, ch)
        curr_res = cfg["resolution"] // p
        in_mult = (1,) + tuple(mult)
        self.down = nn.ModuleList()
        for i, m in enumerate(mult):
            lvl = nn.Module()
            lvl.block, lvl.attn = nn.ModuleList(), nn.ModuleList()
            cin = ch * in_mult[i]
            for _ in range(nrb):
                lvl.block.append(ResBlock(cin, ch * m))
                cin = ch * m
                if curr_res in cfg["attn_resolutions"]:
                    lvl.attn.append(attn_pair(cin))
            if i != len(mult) - 1:
                lvl.downsample = Downsample(cin, i < n_sd, i < n_td)
                curr_res //= 2
            self.down.append(lvl)
        self.mid = nn.Module()
        self.mid.block_1, self.mid.attn_1, self.mid.block_2 = ResBlock(cin, cin), attn_pair(cin), ResBlock(cin, cin)
        self.norm_out = CausalNormalize(cin)
        self.conv_out = factorized(cin, cfg["z_channels"])

    def forward(self, x, tap=HAAR_TAP):
        h = self.conv_in(haar_patch(x, self.patch_size, tap))
        for i, lvl in enumerate(self.down):
            for j, blk in enumerate(lvl.block):
                h = blk(h)
                if len(lvl.attn):
                    h = lvl.attn[j](h)
            if i != len(self.down) - 1:
                h = lvl.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, mult, nrb = cfg["channels"], cfg["channels_mult"], cfg["num_res_blocks"]
        p = cfg["patch_size"]
        self.patch_size = p
        n_su, n_tu = _n_downs(cfg)
        n = len(mult)
        cin = ch * mult[-1]
        curr_res = (cfg["resolution"] // p) // 2 ** (n - 1)
        self.conv_in = factorized(cfg["z_channels"], cin)
        self.mid = nn.Module()
        self.mid.block_1, self.mid.attn_1, self.mid.block_2 = ResBlock(cin, cin), attn_pair(cin), ResBlock(cin, cin)
        ups = []
        for i in reversed(range(n)):
            lvl = nn.Module()
            lvl.block, lvl.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(nrb + 1):
                lvl.block.append(ResBlock(cin, ch * mult[i]))
                cin = ch * mult[i]
                if curr_res in cfg["attn_resolutions"]:
                    lvl.attn.append(attn_pair(cin))
            if i != 0:
                r = n - 1 - i
                if cfg.get("legacy_mode", False):
                    t_up = r < n_tu
                else:
                    t_up = 0 < r < n_tu + 1
                s_up = t_up or (r < n_su and n_su > n_tu)
                lvl.upsample = Upsample(cin, s_up, t_up)
                curr_res *= 2
            ups.insert(0, lvl)
        self.up = nn.ModuleList(ups)
        self.norm_out = CausalNormalize(cin)
        self.conv_out = factorized(cin, cfg["out_channels"] * p ** 3)

    def forward(self, z, tap=HAAR_TAP):
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for i in reversed(range(len(self.up))):
            lvl = self.up[i]
            for j, blk in enumerate(lvl.block):
                h = blk(h)
                if len(lvl.attn):
                    h = lvl.attn[j](h)
            if i != 0:
                h = lvl.upsample(h)
        h = self.conv_out(swish(self.norm_out(h)))
        return haar_unpatch(h, self.patch_size, tap)


class DVEncoder(nn.Module):
    """encoder + quant_conv + FSQ: video [B,3,T,H,W] in [-1,1] -> (indices, codes)."""
    def __init__(self, cfg):
        super().__init__()
        self.encoder = Encoder(cfg)
        self.quant_conv = CausalConv3d(cfg["z_channels"], cfg["embedding_dim"])
        self.fsq = FSQ(cfg["levels"])

    def latent(self, x, tap=HAAR_TAP):
        return self.quant_conv(self.encoder(x, tap))

    def forward(self, x, tap=HAAR_TAP):
        return self.fsq.quantize(self.latent(x, tap))


class DVDecoder(nn.Module):
    """FSQ inverse + post_quant_conv + decoder: indices [B,T',H',W'] -> video [B,3,T,H,W]."""
    def __init__(self, cfg):
        super().__init__()
        self.post_quant_conv = CausalConv3d(cfg["embedding_dim"], cfg["z_channels"])
        self.decoder = Decoder(cfg)
        self.fsq = FSQ(cfg["levels"])

    def forward(self, indices, tap=HAAR_TAP):
        return self.decoder(self.post_quant_conv(self.fsq.dequantize(indices)), tap)


class CVEncoder(nn.Module):
    """encoder + quant_conv of a continuous tokenizer (AE formulation: the identity distribution):
    video [B,3,T,H,W] in [-1,1] -> latent [B, latent_channels, T', H', W']. Spec 4.7 (unused at
    inference; here for the key list of an encoder.jit)."""
    def __init__(self, cfg):
        super().__init__()
        self.encoder = Encoder(cfg)
        self.quant_conv = CausalConv3d(cfg["z_channels"], cfg["latent_channels"])

    def forward(self, x, tap=HAAR_TAP):
        return self.quant_conv(self.encoder(x, tap))


class CVDecoder(nn.Module):
    """post_quant_conv + decoder of a continuous tokenizer (spec 4.7, Appendix A.3): latent
    [B, latent_channels, T', H', W'] (what decoder.jit takes, after de-normalisation) ->
    video [B, 3, 1 + tc*(T'-1), sc*H', sc*W']."""
    def __init__(self, cfg):
        super().__init__()
        self.post_quant_conv = CausalConv3d(cfg["latent_channels"], cfg["z_channels"])
        self.decoder = Decoder(cfg)

    def forward(self, z, tap=HAAR_TAP):
        return self.decoder(self.post_quant_conv(z), tap)


def denormalize(x, mean, std, sigma_data=0.5):
    """The diffusion decoder's latent de-normalisation before the CV decoder (spec 4.7):
    z = x / sigma_data * std + mean, mean / std = mean_std.pt viewed as (C, -1), columns [:T']
    (x [B, C, T', H', W'])."""
    C, T = x.shape[1], x.shape[2]
    m = torch.as_tensor(mean, dtype=x.dtype).reshape(C, -1)[:, :T].reshape(1, C, T, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype).reshape(C, -1)[:, :T].reshape(1, C, T, 1, 1)
    return x / sigma_data * s + m


def init_random(module, seed):
    """Deterministic random weights: conv weights N(0, 1/sqrt(fan_in)), biases 0.1*N(0,1),
    norm weights 1 + 0.1*N(0,1), norm biases 0.1*N(0,1). Returns the module."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
    return module
