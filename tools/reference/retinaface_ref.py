"""Plain-PyTorch/numpy reference of the face-blur guardrail (spec components.md 5.5), written from the
spec, for the fixtures of core/guardrail/{retinaface,face_blur}.c.

Network: generalised RF RetinaFace (config keys of tools/cosmos_retinaface_h5.py): torchvision-style
bottleneck ResNet (v1.5), FPN with nearest upsampling, SSH, 1x1 heads; BatchNorm in eval mode with
running statistics (eps 1e-5), not folded. LeakyReLU(0.1) in FPN/SSH when out_channel <= 64, else
ReLU. Input: uint8 RGB [H, W, 3] -> float32 BGR minus (104, 117, 123).
Post-processing: priors, decode (f32 torch ops), score > threshold, descending sort, top_k, greedy
NMS with "+1" areas, keep_top_k (numpy f32, as COSMOS retinaface_utils + RF py_cpu_nms).
Pixelation: numpy re-implementation of OpenCV's cv2.resize for uint8 3-channel images,
INTER_LINEAR (fixed point, 11 coefficient bits, the INTER_AREA fast path for an exact 2:1
reduction) and INTER_NEAREST, and the per-box loop of COSMOS blur_detected_faces.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

import cosmos_retinaface_h5 as rfh5

BN_EPS = 1e-5
MEAN_BGR = (104.0, 117.0, 123.0)


class RetinaFaceRef:
    """Forward pass from a weight dict {state-dict key: float32 array} (see cosmos_retinaface_h5)."""

    def __init__(self, cfg, weights):
        self.cfg = rfh5.validate_config(cfg)
        self.w = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in weights.items()}
        self.slope = 0.1 if self.cfg["out_channel"] <= 64 else 0.0

    @classmethod
    def from_h5(cls, path):
        cfg, w = rfh5.read_retinaface_weights(path)
        return cls(cfg, w)

    # building blocks -------------------------------------------------------------------------
    def conv_bn(self, x, conv, bn, stride=1, act=None):
        w = self.w[conv + ".weight"]
        k = w.shape[-1]
        y = F.conv2d(x, w, self.w.get(conv + ".bias"), stride=stride, padding=k // 2)
        if bn is not None:
            y = F.batch_norm(y, self.w[bn + ".running_mean"], self.w[bn + ".running_var"], self.w[bn + ".weight"],
                             self.w[bn + ".bias"], training=False, eps=BN_EPS)
        if act == "relu":
            y = F.relu(y)
        elif act == "leaky":
            y = F.leaky_relu(y, self.slope) if self.slope > 0 else F.relu(y)
        return y

    def bottleneck(self, x, p, stride, downsample):
        y = self.conv_bn(x, p + "conv1", p + "bn1", 1, "relu")
        y = self.conv_bn(y, p + "conv2", p + "bn2", stride, "relu")
        y = self.conv_bn(y, p + "conv3", p + "bn3", 1, None)
        idn = self.conv_bn(x, p + "downsample.0", p + "downsample.1", stride, None) if downsample else x
        return F.relu(y + idn)

    def backbone(self, x):
        c = self.cfg
        x = self.conv_bn(x, "body.conv1", "body.bn1", 2, "relu")
        x = F.max_pool2d(x, 3, 2, 1)
        inpl, feats = c["stem_width"], []
        for li in range(4):
            out, stride = rfh5.layer_out(c, li), 1 if li == 0 else 2
            for bi in range(c["blocks"][li]):
                ds = bi == 0 and (stride != 1 or inpl != out)
                x = self.bottleneck(x, f"body.layer{li + 1}.{bi}.", stride if bi == 0 else 1, ds)
                inpl = out
            if li >= 1:
                feats.append(x)
        return feats

    def fpn(self, feats):
        o = [self.conv_bn(f, f"fpn.output{i + 1}.0", f"fpn.output{i + 1}.1", 1, "leaky") for i, f in enumerate(feats)]
        o[1] = o[1] + F.interpolate(o[2], size=list(o[1].shape[2:]), mode="nearest")
        o[1] = self.conv_bn(o[1], "fpn.merge2.0", "fpn.merge2.1", 1, "leaky")
        o[0] = o[0] + F.interpolate(o[1], size=list(o[0].shape[2:]), mode="nearest")
        o[0] = self.conv_bn(o[0], "fpn.merge1.0", "fpn.merge1.1", 1, "leaky")
        return o

    def ssh(self, x, s):
        p = f"ssh{s}."
        a = self.conv_bn(x, p + "conv3X3.0", p + "conv3X3.1")
        b1 = self.conv_bn(x, p + "conv5X5_1.0", p + "conv5X5_1.1", 1, "leaky")
        b = self.conv_bn(b1, p + "conv5X5_2.0", p + "conv5X5_2.1")
        c1 = self.conv_bn(b1, p + "conv7X7_2.0", p + "conv7X7_2.1", 1, "leaky")
        cc = self.conv_bn(c1, p + "conv7x7_3.0", p + "conv7x7_3.1")
        return F.relu(torch.cat([a, b, cc], dim=1))

    def head(self, feats, name, per):
        outs = []
        for i, f in enumerate(feats):
            y = self.conv_bn(f, f"{name}.{i}.conv1x1", None)
            outs.append(y.permute(0, 2, 3, 1).reshape(y.shape[0], -1, per))
        return torch.cat(outs, dim=1)

    @staticmethod
    def preprocess(frame):
        x = torch.from_numpy(np.ascontiguousarray(frame)).to(torch.float32).permute(2, 0, 1)[[2, 1, 0]]
        return (x - torch.tensor(MEAN_BGR).view(3, 1, 1)).unsqueeze(0)

    @torch.no_grad()
    def forward(self, frame, with_landmarks=False):
        """uint8 RGB [H, W, 3] -> loc [P, 4], conf [P, 2] (softmax) as float32 torch tensors."""
        feats = [self.ssh(f, i + 1) for i, f in enumerate(self.fpn(self.backbone(self.preprocess(frame))))]
        loc = self.head(feats, "BboxHead", 4)[0]
        conf = F.softmax(self.head(feats, "ClassHead", 2), dim=-1)[0]
        if with_landmarks:
            return loc, conf, self.head(feats, "LandmarkHead", 10)[0]
        return loc, conf

    def detect(self, frame):
        loc, conf = self.forward(frame)
        h, w = frame.shape[:2]
        return postprocess(self.cfg, h, w, loc, conf)


# post-processing ------------------------------------------------------------------------------
def priors(cfg, h, w):
    """[P, 4] (cx, cy, w, h) relative to the frame, level by level, row-major, anchors innermost."""
    rows = []
    for step, sizes in zip(cfg["steps"], cfg["min_sizes"]):
        for i in range(math.ceil(h / step)):
            for j in range(math.ceil(w / step)):
                for m in sizes:
                    rows.append([(j + 0.5) * step / w, (i + 0.5) * step / h, m / w, m / h])
    return torch.tensor(rows, dtype=torch.float32).view(-1, 4)


def decode(loc, pri, variances):
    """Boxes (x1, y1, x2, y2) relative to the frame, f32 torch ops in the official order."""
    centre = pri[:, :2] + loc[:, :2] * variances[0] * pri[:, 2:]
    size = pri[:, 2:] * torch.exp(loc[:, 2:] * variances[1])
    top_left = centre - size / 2
    return torch.cat([top_left, size + top_left], dim=1)


def nms(dets, thresh):
    """Greedy NMS on dets [n, 5] f32 (x1, y1, x2, y2, score); returns kept row indices."""
    x1, y1, x2, y2, s = (dets[:, i] for i in range(5))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = s.argsort(kind="stable")[::-1]
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[np.where(iou <= thresh)[0]]
    return keep


def postprocess(cfg, h, w, loc, conf):
    """Head outputs of one frame -> dets [n, 5] float32 in pixels (x1, y1, x2, y2, score)."""
    boxes = decode(loc, priors(cfg, h, w), cfg["variances"]) * torch.tensor([w, h, w, h], dtype=torch.float32)
    boxes = boxes.numpy()
    scores = conf[:, 1].numpy()
    idx = np.where(scores > np.float32(cfg["confidence_threshold"]))[0]
    order = idx[scores[idx].argsort(kind="stable")[::-1]][: cfg["top_k"]]
    dets = np.hstack([boxes[order], scores[order, None]]).astype(np.float32)
    keep = nms(dets, np.float32(cfg["nms_threshold"]))
    return dets[keep][: cfg["keep_top_k"]]


# OpenCV resize, uint8, 3 channels ---------------------------------------------------------------
COEF_BITS = 11
COEF_ONE = 1 << COEF_BITS


def _coef(v):
    """saturate_cast<short>(float(v) * 2048): round half to even in f32."""
    return int(np.rint(np.float32(v) * np.float32(COEF_ONE)))


def resize_linear(src, dw, dh):
    """cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR) for uint8 [sh, sw, C]."""
    src = np.asarray(src, dtype=np.uint8)
    sh, sw, cn = src.shape
    if (sh, sw) == (dh, dw):
        return src.copy()
    sx_scale, sy_scale = 1.0 / (dw / sw), 1.0 / (dh / sh)
    ix, iy = int(np.rint(sx_scale)), int(np.rint(sy_scale))
    if abs(sx_scale - ix) < np.finfo(np.float64).eps and abs(sy_scale - iy) < np.finfo(np.float64).eps \
            and ix == 2 and iy == 2:
        s = src.astype(np.int32)
        return ((s[0::2, 0::2] + s[0::2, 1::2] + s[1::2, 0::2] + s[1::2, 1::2] + 2) >> 2)[:dh, :dw].astype(np.uint8)
    xofs, alpha, xmax = [], [], dw
    for dx in range(dw):
        fx = np.float32((dx + 0.5) * sx_scale - 0.5)
        sx = int(math.floor(fx))
        fx = np.float32(fx - np.float32(sx))
        if sx < 0:
            fx, sx = np.float32(0), 0
        if sx + 1 >= sw:
            xmax = min(xmax, dx)
            if sx >= sw - 1:
                fx, sx = np.float32(0), sw - 1
        xofs.append(sx)
        alpha.append((_coef(np.float32(1) - fx), _coef(fx)))
    out = np.empty((dh, dw, cn), dtype=np.uint8)
    s32 = src.astype(np.int64)
    for dy in range(dh):
        fy = np.float32((dy + 0.5) * sy_scale - 0.5)
        sy = int(math.floor(fy))
        fy = np.float32(fy - np.float32(sy))
        b0, b1 = _coef(np.float32(1) - fy), _coef(fy)
        rows = []
        for k in range(2):
            r = s32[min(max(sy + k, 0), sh - 1)]
            d = np.empty((dw, cn), dtype=np.int64)
            for dx in range(dw):
                sx = xofs[dx]
                d[dx] = r[sx] * alpha[dx][0] + r[sx + 1] * alpha[dx][1] if dx < xmax else r[sx] * COEF_ONE
            rows.append(d)
        out[dy] = ((((b0 * (rows[0] >> 4)) >> 16) + ((b1 * (rows[1] >> 4)) >> 16) + 2) >> 2).astype(np.uint8)
    return out


def resize_nearest(src, dw, dh):
    """cv2.resize(src, (dw, dh), interpolation=cv2.INTER_NEAREST)."""
    sh, sw = src.shape[:2]
    ifx, ify = 1.0 / (dw / sw), 1.0 / (dh / sh)
    xs = [min(int(math.floor(x * ifx)), sw - 1) for x in range(dw)]
    ys = [min(int(math.floor(y * ify)), sh - 1) for y in range(dh)]
    return src[np.array(ys)][:, np.array(xs)].copy()


def pixelate(roi, blocks):
    h, w = roi.shape[:2]
    return resize_nearest(resize_linear(roi, blocks, blocks), w, h)


def blur_frame(frame, dets, min_size, blocks):
    """COSMOS blur_detected_faces' per-box loop on a copy of frame; returns (frame, n_blurred).
    Boxes with non-finite coordinates or an empty clipped ROI are skipped (the official code raises)."""
    frame = frame.copy()
    n = 0
    H, W = frame.shape[:2]
    for box in dets:
        if not np.isfinite(box[:4]).all():
            continue
        x1, y1, x2, y2 = (int(v) for v in box[:4])
        if x2 - x1 < min_size or y2 - y1 < min_size:
            continue
        roi = frame[max(y1, 0):min(y2, H), max(x1, 0):min(x2, W)]
        if roi.shape[0] == 0 or roi.shape[1] == 0:
            continue
        frame[max(y1, 0):min(y2, H), max(x1, 0):min(x2, W)] = pixelate(roi, blocks)
        n += 1
    return frame, n
