"""Plain numpy / PyTorch reference of the video content safety filter (spec components.md 5.4),
written from the spec, used by tools/reference/make_siglip_fixtures.py and checked against the
official modules (Hugging Face SiglipVisionModel, the Cosmos classifier, Pillow) by
tools/reference/siglip_crosscheck_official.py.

Per frame (uint8 RGB [H, W, 3]):
1. pil_resize_bicubic(): Pillow's Image.resize(..., BICUBIC) for 8-bit images, reimplemented in
   numpy: separable two-pass (horizontal, then vertical) convolution with the cubic a = -0.5 kernel
   stretched by the downscale factor (antialiasing), per output pixel normalised weights turned into
   22-bit fixed point ("PRECISION_BITS" = 32 - 8 - 2), a rounding half added, clipped to [0, 255];
2. x / 255 (float64, then float32) -> (x - 0.5) / 0.5, channels first;
3. SigLIP vision tower -> pooled features (get_image_features, the attention-pooling head output);
4. L2 normalisation; 5. the classifier (Linear, BatchNorm1d (eval), ReLU, ..., Linear) -> logits.
Weights are {key: float32 array} as tools/cosmos_siglip_h5.py stores them.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

PRECISION_BITS = 32 - 8 - 2


def _bicubic(x):
    a = -0.5
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def _coeffs(in_size, out_size):
    """(bounds [out, 2] = (first input index, count), int32 weights [out, ksize]) of one axis."""
    scale = float(np.float32(in_size)) / out_size  # the box edges are floats in Pillow
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    bounds = np.zeros((out_size, 2), dtype=np.int64)
    kk = np.zeros((out_size, ksize), dtype=np.int64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        w = [_bicubic((x + xmin - center + 0.5) / filterscale) for x in range(xmax)]
        ww = sum(w)
        if ww != 0.0:
            w = [v / ww for v in w]
        for x, v in enumerate(w):
            kk[xx, x] = int(-0.5 + v * (1 << PRECISION_BITS)) if v < 0 else int(0.5 + v * (1 << PRECISION_BITS))
        bounds[xx] = (xmin, xmax)
    return bounds, kk


def _pass(img, bounds, kk):
    """Resample axis 0 of img (int64 [N, ..., C]) -> uint8 [len(bounds), ..., C]."""
    out = np.empty((len(bounds),) + img.shape[1:], dtype=np.int64)
    for i, (xmin, n) in enumerate(bounds):
        acc = np.full(img.shape[1:], 1 << (PRECISION_BITS - 1), dtype=np.int64)
        for x in range(n):
            acc += img[xmin + x] * kk[i, x]
        out[i] = np.clip(acc >> PRECISION_BITS, 0, 255)
    return out


def pil_resize_bicubic(img, out_h, out_w):
    """uint8 [H, W, C] -> uint8 [out_h, out_w, C], as Pillow's Image.resize((out_w, out_h), BICUBIC)."""
    img = np.asarray(img)
    assert img.dtype == np.uint8 and img.ndim == 3
    H, W = img.shape[:2]
    if (H, W) == (out_h, out_w):
        return img.copy()
    x = img.astype(np.int64)
    if W != out_w:  # horizontal pass first, on every row (Pillow restricts it to the rows used)
        bw, kw = _coeffs(W, out_w)
        x = _pass(x.transpose(1, 0, 2), bw, kw).transpose(1, 0, 2)
    if H != out_h:
        bh, kh = _coeffs(H, out_h)
        x = _pass(x, bh, kh)
    return x.astype(np.uint8)


def pixel_values(resized):
    """uint8 [S, S, 3] -> float32 [3, S, S] in [-1, 1] (SiglipImageProcessor rescale + normalize)."""
    x = (resized.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _ln(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def _mlp(x, w, p):
    h = F.linear(x, w[p + "fc1.weight"], w[p + "fc1.bias"])
    h = F.gelu(h, approximate="tanh")
    return F.linear(h, w[p + "fc2.weight"], w[p + "fc2.bias"])


def _attention(q, k, v, n_head):
    """q [Tq, D], k/v [Tk, D] -> [Tq, D]: softmax(q k^T / sqrt(Dh)) v per head."""
    Tq, D = q.shape
    Dh = D // n_head
    q = q.view(Tq, n_head, Dh).transpose(0, 1)
    k = k.view(-1, n_head, Dh).transpose(0, 1)
    v = v.view(-1, n_head, Dh).transpose(0, 1)
    s = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(Dh)
    return torch.matmul(torch.softmax(s, dim=-1), v).transpose(0, 1).reshape(Tq, D)


class SiglipSafetyRef:
    def __init__(self, cfg, weights):
        self.cfg = cfg
        self.w = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in weights.items()}

    def image_features(self, pix):
        """float32 [3, S, S] -> pooled features [D] (SiglipModel.get_image_features)."""
        c, w = self.cfg, self.w
        D, H = c["hidden_size"], c["num_attention_heads"]
        eps = float(c.get("layer_norm_eps", 1e-6))
        x = torch.from_numpy(pix)[None]
        x = F.conv2d(x, w["vision_model.embeddings.patch_embedding.weight"],
                     w["vision_model.embeddings.patch_embedding.bias"], stride=c["patch_size"])
        x = x.flatten(2)[0].transpose(0, 1)  # [N, D], patches in row-major (gy, gx) order
        x = x + w["vision_model.embeddings.position_embedding.weight"]
        for i in range(c["num_hidden_layers"]):
            p = f"vision_model.encoder.layers.{i}."
            h = _ln(x, w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"], eps)
            q, k, v = (F.linear(h, w[p + f"self_attn.{n}_proj.weight"], w[p + f"self_attn.{n}_proj.bias"])
                       for n in ("q", "k", "v"))
            a = _attention(q, k, v, H)
            x = x + F.linear(a, w[p + "self_attn.out_proj.weight"], w[p + "self_attn.out_proj.bias"])
            h = _ln(x, w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"], eps)
            x = x + _mlp(h, w, p + "mlp.")
        x = _ln(x, w["vision_model.post_layernorm.weight"], w["vision_model.post_layernorm.bias"], eps)
        # attention-pooling head: the probe queries the tokens (nn.MultiheadAttention in_proj/out_proj)
        hp = "vision_model.head."
        wq, wk, wv = w[hp + "attention.in_proj_weight"].split(D)
        bq, bk, bv = w[hp + "attention.in_proj_bias"].split(D)
        probe = w[hp + "probe"].reshape(1, D)
        a = _attention(F.linear(probe, wq, bq), F.linear(x, wk, bk), F.linear(x, wv, bv), H)
        h = F.linear(a, w[hp + "attention.out_proj.weight"], w[hp + "attention.out_proj.bias"])
        h = h + _mlp(_ln(h, w[hp + "layernorm.weight"], w[hp + "layernorm.bias"], eps), w, hp + "mlp.")
        return h[0]

    def classify(self, emb):
        """L2-normalised embedding [D] -> logits [num_classes] (BatchNorm in eval mode, not folded)."""
        c, w = self.cfg, self.w
        n_hidden = len(c["classifier_hidden_sizes"])
        x = emb[None]
        for j in range(n_hidden + 1):
            li = 3 * j
            x = F.linear(x, w[f"network.layers.{li}.weight"], w[f"network.layers.{li}.bias"])
            if j < n_hidden:
                b = f"network.layers.{li + 1}."
                x = F.batch_norm(x, w[b + "running_mean"], w[b + "running_var"], w[b + "weight"], w[b + "bias"],
                                 training=False, eps=float(c.get("batch_norm_eps", 1e-5)))
                x = torch.relu(x)
        return x[0]

    @torch.no_grad()
    def frame(self, rgb):
        """uint8 [H, W, 3] -> dict(resized, features, embedding, logits, cls, prob)."""
        S = self.cfg["image_size"]
        resized = pil_resize_bicubic(rgb, S, S)
        feats = self.image_features(pixel_values(resized))
        emb = feats / feats.norm(dim=-1, keepdim=True)
        logits = self.classify(emb)
        probs = torch.softmax(logits, dim=-1)
        cls = int(torch.argmax(probs))
        return {"resized": resized, "features": feats.numpy(), "embedding": emb.numpy(), "logits": logits.numpy(),
                "cls": cls, "prob": float(probs[cls])}
