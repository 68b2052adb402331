#!/usr/bin/env python3
"""PyTorch peer of the decode benchmark: a straightforward KV-cached Cosmos-1.0 AR transformer.

The model is written from /work/shared/spec/ar-model.md (sections 1.3, 2, 3 and 11) as plain
PyTorch, in the style of the official decode path (gpt-fast style: static KV cache, one-token
decode step, optionally torch.compile(mode="reduce-overhead")), so that `cosmos-bench` on the CUDA
backend can be compared with it on the same card and the same weights (docs/benchmarks.md).

- Weights: our HDF5 file (docs/weights.md; read with tools/cosmos_h5.py, bf16 stored as uint16)
  and the config embedded in it. The RoPE (+YaRN) and APE tables come from the reference
  (tools/reference/cosmos_ar_ref.py: bf16-valued tables, spec 10.1), the context is rounded to bf16
  like the official model does.
- Compute in --dtype: bf16 (the benchmark; RMSNorm in f32 then cast, softmax in f32, everything
  else bf16 with f32 GEMM accumulation as in spec 10.1) or f32 (the correctness check against the
  f32 golden fixtures; every op then equals the reference's).
- Block (spec 1.3): h = E[x]; per layer [h += APE[p]] (Video2World, before EVERY layer);
  h += SelfAttn(RMSNorm(h)) with QK-norm, 3D RoPE (rotate-half), GQA (query head h -> KV head
  h // n_rep, without copying K/V: q is grouped per KV head); [h += CrossAttn(RMSNorm(h), ctx)]
  over all context rows, no mask, no RoPE, with QK-norm; h += w2(silu(w1 a) * w3 a);
  logits = RMSNorm(h) @ W_out^T.
- KV cache: preallocated per layer, K and V of shape [max_seq_len, n_kv_heads, head_dim] in
  --dtype (post-norm, post-RoPE K). Cross-attention K/V of the context are computed once per prompt
  (the official code recomputes them every step; the result is identical).
- Prefill: one pass over the prompt (SDPA with is_causal on torch >= 2, else chunked matmul
  attention), logits of the last position only. Decode: one token per step; the next token is the
  argmax of the logits (greedy: no top-p sampling, which is irrelevant to the timing; the official
  pipeline samples top-p).
- Attention window of a decode step (--attn-window): `filled` attends to cache rows [0, p] only
  (shapes change every step: eager only); `full` attends to all max_seq_len rows with a causal
  mask, as the official decode does, so the step has static shapes and CUDA graphs apply (the
  only window of --mode compile). Default: filled for eager, full for compile.

Timing run (defaults: prompt = BOV + 2 latent frames = 5121 tokens for the 5B, 7680 generated):
    torch_decode.py --model M.h5 [--mode eager|compile] [--device cuda|cpu] [--dtype bf16|f32]
                    [--prompt-len P] [--gen G] [--context C.h5] [--warmup W] [--json OUT]
ms/token is measured over the G-1 decode steps (the first generated token comes from prefill),
per step with CUDA events (time.perf_counter on CPU); the JSON holds provenance, prefill time,
ms/token mean/p50/p90, tokens/s and peak memory.

Correctness check (teacher-forced logits vs tools/reference/make_fixtures.py golden files):
    torch_decode.py --model tests/data/NAME.h5 --check-logits tests/data/NAME.golden.h5
                    [--tokens NAME.tokens.txt] [--context NAME.context.h5] --device cpu --dtype f32
compares the prefill logits with /logits and the token-by-token decode logits (both attention
windows) with /logits_decode; fails (exit 1) when max |diff| > --tol (default 1e-4 absolute in f32,
as tests/e2e/test_golden.c; with bf16 the errors are only reported unless --tol is given).
Exit status: 0 ok, 1 check failed, 2 usage / file / format error.
"""

import argparse
import datetime
import json
import math
import os
import platform
import resource
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.abspath(os.path.join(HERE, ".."))
REPO = os.path.abspath(os.path.join(TOOLS, ".."))
sys.path.insert(0, TOOLS)
sys.path.insert(0, os.path.join(TOOLS, "reference"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import cosmos_h5  # noqa: E402  (tools/cosmos_h5.py)
from cosmos_ar_ref import ape_table, read_context, read_tokens, rope_tables  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "f32": torch.float32}
HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")
PREFILL_CHUNK = 256  # query rows per chunk of the matmul attention (bounds the score matrix)


class UsageError(Exception):
    """Bad arguments or inputs: exit status 2."""


def torch_major():
    return int(torch.__version__.split(".")[0])


def _param(t):
    return nn.Parameter(t, requires_grad=False)


def rms_norm(x, weight, eps):
    """RMSNorm as the official module: fp32 statistics, cast to the input dtype, times weight."""
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return y.to(x.dtype) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Layer(nn.Module):
    """Weights of one transformer block (parameters, so torch.compile treats them as static)."""

    def __init__(self, w, i, d):
        super().__init__()
        p = f"layers.{i}."
        self.attn_norm = _param(w.pop(p + "attention_norm.weight"))
        self.wq = _param(w.pop(p + "attention.wq.weight"))
        self.wk = _param(w.pop(p + "attention.wk.weight"))
        self.wv = _param(w.pop(p + "attention.wv.weight"))
        self.wo = _param(w.pop(p + "attention.wo.weight"))
        if d["qk_norm"]:
            self.q_norm = _param(w.pop(p + "attention.q_norm.weight"))
            self.k_norm = _param(w.pop(p + "attention.k_norm.weight"))
        self.cross = cosmos_h5.has_cross_attention(d, i)
        if self.cross:
            x = p + "cross_attention."
            self.x_norm = _param(w.pop(p + "cross_attention_norm.weight"))
            self.xwq = _param(w.pop(x + "wq.weight"))
            self.xwk = _param(w.pop(x + "wk.weight"))
            self.xwv = _param(w.pop(x + "wv.weight"))
            self.xwo = _param(w.pop(x + "wo.weight"))
            if d["qk_norm"]:
                self.xq_norm = _param(w.pop(x + "q_norm.weight"))
                self.xk_norm = _param(w.pop(x + "k_norm.weight"))
        self.ffn_norm = _param(w.pop(p + "ffn_norm.weight"))
        self.w1 = _param(w.pop(p + "feed_forward.w1.weight"))
        self.w3 = _param(w.pop(p + "feed_forward.w3.weight"))
        self.w2 = _param(w.pop(p + "feed_forward.w2.weight"))


class CosmosARTorch(nn.Module):
    """The AR transformer with a static KV cache, in one dtype on one device."""

    def __init__(self, cfg, weights, dtype, device):
        """weights: {key: tensor already in `dtype` on `device`}; consumed (popped)."""
        super().__init__()
        d = cosmos_h5.derive(cfg)
        self.cfg, self.d, self.dtype = cfg, d, dtype
        self.eps = float(cfg["norm_eps"])
        self.n_heads, self.n_kv, self.hd = d["n_heads"], d["n_kv_heads"], d["head_dim"]
        self.rep = self.n_heads // self.n_kv
        self.scale = 1.0 / math.sqrt(self.hd)
        self.S = d["max_seq_len"]
        self.emb = _param(weights.pop("tok_embeddings.weight"))
        self.layers = nn.ModuleList([Layer(weights, i, d) for i in range(d["n_layers"])])
        self.norm = _param(weights.pop("norm.weight"))
        self.out = _param(weights.pop("output.weight"))
        if weights:
            raise cosmos_h5.FormatError(f"unused weight {sorted(weights)[0]}")
        cos, sin = rope_tables(cfg)  # bf16-valued f32 [S, hd] (spec 2.1, 2.2, 10.1)
        self.register_buffer("cos", cos.to(device=device, dtype=dtype))
        self.register_buffer("sin", sin.to(device=device, dtype=dtype))
        self.has_ape = bool(cfg.get("apply_abs_pos_emb", False))
        if self.has_ape:  # spec 2.3: bf16 values, zero row for BOV and the padding
            self.register_buffer("ape", ape_table(cfg).to(device=device, dtype=dtype))
        self.register_buffer("positions", torch.arange(self.S, device=device))
        shape = (self.S, self.n_kv, self.hd)
        for i in range(d["n_layers"]):
            self.register_buffer(f"cache_k{i}", torch.zeros(shape, device=device, dtype=dtype))
            self.register_buffer(f"cache_v{i}", torch.zeros(shape, device=device, dtype=dtype))
            if self.layers[i].cross:
                cshape = (d["context_len"], self.n_kv, self.hd)
                self.register_buffer(f"ctx_k{i}", torch.zeros(cshape, device=device, dtype=dtype))
                self.register_buffer(f"ctx_v{i}", torch.zeros(cshape, device=device, dtype=dtype))
        self.context_set = not d["cross_attn"]

    # -- setup --------------------------------------------------------------------------------
    def kv_cache(self, i):
        return getattr(self, f"cache_k{i}"), getattr(self, f"cache_v{i}")

    def reset_cache(self):
        for i in range(self.d["n_layers"]):
            for t in self.kv_cache(i):
                t.zero_()

    @torch.no_grad()
    def set_context(self, context):
        """Cross-attention K/V of a [context_len, context_dim] f32 context, once per prompt. The
        context is rounded to bf16 first (spec 10.1: the model casts the f32 T5 output to bf16)."""
        if not self.d["cross_attn"]:
            return
        ctx = torch.as_tensor(np.asarray(context, dtype=np.float32))
        want = (self.d["context_len"], self.d["context_dim"])
        if tuple(ctx.shape) != want:
            raise UsageError(f"context must be {list(want)}, got {list(ctx.shape)}")
        ctx = ctx.to(torch.bfloat16).to(device=self.emb.device, dtype=self.dtype)
        for i, lay in enumerate(self.layers):
            if not lay.cross:
                continue
            k = F.linear(ctx, lay.xwk).view(-1, self.n_kv, self.hd)
            if self.d["qk_norm"]:
                k = rms_norm(k, lay.xk_norm, self.eps)
            v = F.linear(ctx, lay.xwv).view(-1, self.n_kv, self.hd)
            getattr(self, f"ctx_k{i}").copy_(k)
            getattr(self, f"ctx_v{i}").copy_(v)
        self.context_set = True

    # -- attention ----------------------------------------------------------------------------
    def _attend(self, q, k, v, mask):
        """q [n, Hq, D]; k, v [L, Hkv, D] (views of the cache, not copied); mask [n, L] bool (True
        = attend) or None -> [n, Hq*D]. GQA by grouping the n_rep query heads of each KV head."""
        n, L = q.shape[0], k.shape[0]
        qg = q.view(n, self.n_kv, self.rep, self.hd).permute(1, 0, 2, 3)
        qg = qg.reshape(self.n_kv, n * self.rep, self.hd)  # rows (query, rep) per KV head
        kt = k.permute(1, 2, 0)  # [Hkv, D, L]
        vt = v.permute(1, 0, 2)  # [Hkv, L, D]
        s = torch.matmul(qg, kt).float() * self.scale  # [Hkv, n*rep, L]
        if mask is not None:
            m = mask[:, None, :].expand(n, self.rep, L).reshape(1, n * self.rep, L)
            s = s.masked_fill(~m, float("-inf"))
        p = torch.softmax(s, dim=-1).to(q.dtype)
        o = torch.matmul(p, vt)  # [Hkv, n*rep, D]
        o = o.view(self.n_kv, n, self.rep, self.hd).permute(1, 0, 2, 3)
        return o.reshape(n, self.n_heads * self.hd)

    def _attend_prefill(self, q, k, v, causal_from_zero, mask):
        """Multi-token self-attention: SDPA (flash / efficient kernels) when torch has it and the
        block starts at position 0, else the matmul attention in chunks of query rows."""
        n = q.shape[0]
        if HAVE_SDPA and causal_from_zero:
            kk = k.repeat_interleave(self.rep, dim=1).transpose(0, 1)[None]  # [1, Hq, L, D]
            vv = v.repeat_interleave(self.rep, dim=1).transpose(0, 1)[None]
            o = F.scaled_dot_product_attention(q.transpose(0, 1)[None], kk, vv, is_causal=True)
            return o[0].transpose(0, 1).reshape(n, self.n_heads * self.hd)
        return torch.cat([self._attend(q[c:c + PREFILL_CHUNK], k, v, mask[c:c + PREFILL_CHUNK])
                          for c in range(0, n, PREFILL_CHUNK)], dim=0)

    # -- forward ------------------------------------------------------------------------------
    def forward(self, tokens, pos, window=None, last_only=False):
        """Logits [n or 1, vocab] for `tokens` [n] at positions `pos` [n] (consecutive), writing
        their K/V into the cache. window=None: attend over all max_seq_len cache rows with a causal
        mask (static shapes); window=W (int): over rows [0, W) with W = last position + 1."""
        if not self.context_set:
            raise UsageError("this model has cross-attention: call set_context first")
        n = tokens.shape[0]
        if window is None:
            L = self.S
            mask = self.positions[None, :] <= pos[:, None]  # [n, S]
        else:
            L = window
            mask = self.positions[None, :L] <= pos[:, None] if n > 1 else None
        prefill0 = window is not None and n > 1 and window == n  # block at positions 0..n-1
        cos, sin = self.cos[pos][:, None, :], self.sin[pos][:, None, :]
        ape = self.ape[pos] if self.has_ape else None
        eps, hd = self.eps, self.hd
        h = F.embedding(tokens, self.emb)
        for i, lay in enumerate(self.layers):
            if ape is not None:
                h = h + ape  # spec 1.3: before every layer
            a = rms_norm(h, lay.attn_norm, eps)
            q = F.linear(a, lay.wq).view(n, self.n_heads, hd)
            k = F.linear(a, lay.wk).view(n, self.n_kv, hd)
            v = F.linear(a, lay.wv).view(n, self.n_kv, hd)
            if self.d["qk_norm"]:
                q = rms_norm(q, lay.q_norm, eps)
                k = rms_norm(k, lay.k_norm, eps)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            ck, cv = self.kv_cache(i)
            ck[pos] = k
            cv[pos] = v
            if n > 1:
                o = self._attend_prefill(q, ck[:L], cv[:L], prefill0, mask)
            else:
                o = self._attend(q, ck[:L], cv[:L], mask)
            h = h + F.linear(o, lay.wo)
            if lay.cross:
                a = rms_norm(h, lay.x_norm, eps)
                q = F.linear(a, lay.xwq).view(n, self.n_heads, hd)
                if self.d["qk_norm"]:
                    q = rms_norm(q, lay.xq_norm, eps)
                o = self._attend(q, getattr(self, f"ctx_k{i}"), getattr(self, f"ctx_v{i}"), None)
                h = h + F.linear(o, lay.xwo)
            a = rms_norm(h, lay.ffn_norm, eps)
            h = h + F.linear(F.silu(F.linear(a, lay.w1)) * F.linear(a, lay.w3), lay.w2)
        if last_only:
            h = h[-1:]
        return F.linear(rms_norm(h, self.norm, eps), self.out)

    # decode steps: token [1] long, pos [1] long
    def step_logits_full(self, token, pos):
        return self.forward(token, pos, None, True)

    def step_next_full(self, token, pos):
        return self.forward(token, pos, None, True).argmax(dim=-1)


# ----------------------------------------------------------------------------------------------
# loading


def load_model(path, dtype, device):
    """Read our HDF5 weights strictly (tools/cosmos_h5.py) and build the model on `device`."""
    t0 = time.perf_counter()
    cfg, bits = cosmos_h5.read_ar_weights(path)
    weights, n_params, n_bytes = {}, 0, 0
    for key in list(bits):
        b = bits.pop(key)
        t = torch.from_numpy(np.ascontiguousarray(b).view(np.int16)).view(torch.bfloat16)
        n_params += t.numel()
        n_bytes += t.numel() * 2
        weights[key] = t.to(device=device, dtype=dtype)
    model = CosmosARTorch(cfg, weights, dtype, torch.device(device))
    model.eval()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return model, cfg, {"load_s": time.perf_counter() - t0, "params": n_params,
                        "weight_bytes_bf16": n_bytes}


# ----------------------------------------------------------------------------------------------
# decode steps, eager and compiled


def make_step(model, mode, window, want_logits=False):
    """A function (token [1], p int) -> next token [1] (or logits [1, V] with want_logits)."""
    pos_all = model.positions
    if mode == "compile":
        # positions as a tensor outside the module: a CUDA-graph input must not alias a buffer
        pos_all = torch.arange(model.S, device=model.positions.device)
        fn = model.step_logits_full if want_logits else model.step_next_full
        compiled = torch.compile(fn, mode="reduce-overhead", fullgraph=True)
        mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)

        def step(token, p):
            if mark is not None:
                mark()
            # clone: a CUDA-graph output is overwritten by the next replay
            return compiled(token, pos_all[p:p + 1]).clone()
        return step
    if window == "full":
        fn = model.step_logits_full if want_logits else model.step_next_full
        return lambda token, p: fn(token, pos_all[p:p + 1])

    def step_filled(token, p):
        logits = model.forward(token, pos_all[p:p + 1], p + 1, True)
        return logits if want_logits else logits.argmax(dim=-1)
    return step_filled


def check_compile_available(mode):
    if mode == "compile" and (torch_major() < 2 or not hasattr(torch, "compile")):
        raise UsageError(f"--mode compile needs torch >= 2 (torch.compile); this is torch "
                         f"{torch.__version__}: use --mode eager or another Python")


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------------------------
# correctness check against the golden fixtures


def compare(got, want):
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    max_abs = float(diff.max())
    scale = float(np.abs(want).max())
    return {"max_abs": max_abs, "max_rel": max_abs / scale if scale > 0 else max_abs,
            "max_abs_golden": scale,
            "argmax_agree": int((got.argmax(-1) == want.argmax(-1)).sum()),
            "rows": int(want.shape[0]), "finite": bool(np.isfinite(got).all())}


@torch.no_grad()
def run_check(args, model, device):
    with h5py.File(args.check_logits, "r") as f:
        g_tokens = [int(x) for x in f["tokens"][()]]
        g_logits = np.asarray(f["logits"][()], dtype=np.float32)
        g_decode = np.asarray(f["logits_decode"][()], dtype=np.float32)
        g_context = np.asarray(f["context"][()], dtype=np.float32) if "context" in f else None
    tokens = g_tokens
    if args.tokens:
        tokens = read_tokens(args.tokens)
        if tokens != g_tokens:
            raise UsageError(f"{args.tokens}: tokens differ from /tokens of {args.check_logits}")
    context = read_context(args.context) if args.context else g_context
    d = model.d
    if d["cross_attn"] and context is None:
        raise UsageError("cross-attention model: the golden file has no /context and no --context")
    if g_logits.shape != (len(tokens), d["vocab_size"]):
        raise UsageError(f"{args.check_logits}: /logits is {list(g_logits.shape)}, expected "
                         f"{[len(tokens), d['vocab_size']]} (golden file of another model?)")
    if len(tokens) > d["max_seq_len"] or min(tokens) < 0 or max(tokens) >= d["input_vocab_size"]:
        raise UsageError("tokens out of range for this model")
    if context is not None:
        model.set_context(context)
    tok = torch.tensor(tokens, dtype=torch.long, device=device)
    n = len(tokens)
    results = {}
    model.reset_cache()
    got = model.forward(tok, model.positions[:n], n, False).float().cpu().numpy()
    results["prefill"] = compare(got, g_logits)
    windows = ["full"] if args.mode == "compile" else ["filled", "full"]
    for w in windows:
        model.reset_cache()
        step = make_step(model, args.mode, w, want_logits=True)
        rows = [step(tok[p:p + 1], p).float().cpu() for p in range(n)]
        got = torch.cat(rows, dim=0).numpy()
        results[f"decode_{w}" + ("_compiled" if args.mode == "compile" else "")] = \
            compare(got, g_decode)
    tol = args.tol if args.tol is not None else (1e-4 if args.dtype == "f32" else None)
    ok = True
    for name, r in results.items():
        bad = (not r["finite"]) or (tol is not None and r["max_abs"] > tol)
        ok = ok and not bad
        print(f"{name:22s} max|diff| {r['max_abs']:.3g}  rel {r['max_rel']:.3g} "
              f"(max|golden| {r['max_abs_golden']:.3g})  argmax {r['argmax_agree']}/{r['rows']}"
              f"{'  FAIL' if bad else ''}")
    verdict = ("PASS" if ok else "FAIL") if tol is not None else "REPORTED (no tolerance for bf16)"
    print(f"check {os.path.basename(args.check_logits)} ({args.dtype}, {args.device}, "
          f"{args.mode}): {verdict}" + (f", tolerance {tol:g} absolute" if tol is not None else ""))
    return ok, {"golden": os.path.abspath(args.check_logits), "tolerance_abs": tol,
                "passed": ok if tol is not None else None, "results": results}


# ----------------------------------------------------------------------------------------------
# timing run


def percentile(xs, q):
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q))


@torch.no_grad()
def run_timing(args, model, device):
    d = model.d
    frame = d["latent_shape"][1] * d["latent_shape"][2]
    bov = 1 if d["text_to_video"] else 0
    P = args.prompt_len if args.prompt_len is not None else bov + 2 * frame
    G = args.gen if args.gen is not None else (d["latent_shape"][0] - 2) * frame
    if P < 1 + bov or G < 2:
        raise UsageError("--prompt-len must hold at least one video token and --gen must be >= 2")
    if P + G > d["max_seq_len"]:
        raise UsageError(f"--prompt-len {P} + --gen {G} exceeds max_seq_len {d['max_seq_len']}")
    rng = np.random.default_rng(args.seed)
    prompt = rng.integers(0, d["vocab_size"], size=P, dtype=np.int64)
    if bov:
        prompt[0] = d["bov_id"]
    if d["cross_attn"]:
        if args.context:
            context, ctx_src = read_context(args.context), os.path.abspath(args.context)
        else:
            context = rng.standard_normal((d["context_len"], d["context_dim"])).astype(np.float32)
            ctx_src = f"random N(0,1), seed {args.seed}"
        model.set_context(context)
    else:
        ctx_src = None
    prompt_t = torch.from_numpy(prompt).to(device)
    cuda = device.startswith("cuda")
    step = make_step(model, args.mode, args.attn_window)

    def prefill():
        logits = model.forward(prompt_t, model.positions[:P], P, True)
        return logits.argmax(dim=-1)

    # warmup: one prefill and W decode steps (compiles and records the CUDA graph in compile mode)
    t0 = time.perf_counter()
    tok = prefill()
    sync(device)
    compile_s = None
    for i in range(args.warmup):
        t1 = time.perf_counter()
        tok = step(tok, P + i)
        sync(device)
        if i == 0 and args.mode == "compile":
            compile_s = time.perf_counter() - t1
    warmup_s = time.perf_counter() - t0

    # timed: prefill, then G-1 decode steps at positions P .. P+G-2
    n_steps = G - 1
    sync(device)
    t0 = time.perf_counter()
    tok = prefill()
    sync(device)
    prefill_s = time.perf_counter() - t0
    out = [tok]
    if cuda:
        events = [torch.cuda.Event(enable_timing=True) for _ in range(n_steps + 1)]
        events[0].record()
    else:
        stamps = [time.perf_counter()]
    t0 = time.perf_counter()
    for i in range(n_steps):
        tok = step(tok, P + i)
        out.append(tok)
        if cuda:
            events[i + 1].record()
        else:
            stamps.append(time.perf_counter())
    sync(device)
    decode_s = time.perf_counter() - t0
    if cuda:
        step_ms = [events[i].elapsed_time(events[i + 1]) for i in range(n_steps)]
    else:
        step_ms = [(stamps[i + 1] - stamps[i]) * 1e3 for i in range(n_steps)]
    generated = torch.cat(out).cpu().tolist()
    mean = float(np.mean(step_ms))
    res = {
        "prompt_len": P, "gen": G, "decode_steps": n_steps,
        "first_decode_position": P, "last_decode_position": P + n_steps - 1,
        "context": ctx_src, "seed": args.seed, "warmup_steps": args.warmup,
        "warmup_s": warmup_s, "compile_s": compile_s,
        "prefill": {"s": prefill_s, "tokens_per_s": P / prefill_s, "mode": "eager"},
        "decode": {"ms_per_token": {"mean": mean, "p50": percentile(step_ms, 50),
                                    "p90": percentile(step_ms, 90), "min": float(min(step_ms)),
                                    "max": float(max(step_ms))},
                   "tokens_per_s": 1e3 / mean, "wall_s": decode_s},
        "generation_s": prefill_s + decode_s,
        "generation_ms_per_token": (prefill_s + decode_s) * 1e3 / G,
        "generated_first": generated[:8],
    }
    print(f"prefill {P} tokens: {prefill_s * 1e3:.1f} ms ({P / prefill_s:.0f} tok/s)")
    print(f"decode {n_steps} steps at positions {P}..{P + n_steps - 1}: ms/token mean "
          f"{mean:.3f}, p50 {res['decode']['ms_per_token']['p50']:.3f}, p90 "
          f"{res['decode']['ms_per_token']['p90']:.3f} ({1e3 / mean:.1f} tok/s); wall "
          f"{decode_s:.2f} s")
    print(f"generation of {G} tokens (prefill + decode): {res['generation_s']:.2f} s, "
          f"{res['generation_ms_per_token']:.3f} ms/token")
    return res


# ----------------------------------------------------------------------------------------------
# provenance and CLI


def git_sha():
    try:
        r = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True,
                           text=True, timeout=10)
        if r.returncode != 0:
            return None
        sha = r.stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def provenance(device):
    prov = {"tool": "tools/bench/torch_decode.py",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": socket.gethostname(), "git_sha": git_sha(),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_cuda": torch.version.cuda, "numpy": np.__version__, "h5py": h5py.__version__,
            "device": device, "cpu": cpu_name(), "threads": torch.get_num_threads(),
            "sdpa": HAVE_SDPA}
    if device.startswith("cuda"):
        idx = torch.device(device).index or 0
        p = torch.cuda.get_device_properties(idx)
        prov.update({"device_name": torch.cuda.get_device_name(idx),
                     "device_memory_bytes": int(p.total_memory),
                     "compute_capability": f"{p.major}.{p.minor}",
                     "cudnn": torch.backends.cudnn.version(),
                     "allow_tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32)})
    else:
        prov["device_name"] = prov["cpu"]
    return prov


def memory_report(device, model):
    kv = sum(t.numel() * t.element_size() for i in range(model.d["n_layers"])
             for t in model.kv_cache(i))
    mem = {"kv_cache_bytes": kv,
           "host_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if device.startswith("cuda"):
        mem["cuda_max_allocated_bytes"] = int(torch.cuda.max_memory_allocated())
        mem["cuda_max_reserved_bytes"] = int(torch.cuda.max_memory_reserved())
    return mem


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="PyTorch KV-cached decode of a cosmos-ar weight file: timing peer of "
                    "cosmos-bench, and a logits check against the golden fixtures")
    ap.add_argument("--model", required=True, help="weights in the cosmos-ar HDF5 format")
    ap.add_argument("--mode", choices=("eager", "compile"), default="eager",
                    help="eager, or torch.compile(decode step, mode='reduce-overhead'), "
                         "torch >= 2")
    ap.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda if present)")
    ap.add_argument("--dtype", choices=tuple(DTYPES), default=None,
                    help="compute/cache dtype (default: bf16 on cuda, f32 on cpu)")
    ap.add_argument("--attn-window", choices=("filled", "full"), default=None,
                    help="decode attention over cache rows [0, p] (filled) or all max_seq_len rows "
                         "with a mask (full, static shapes); default: filled (eager), full "
                         "(compile)")
    ap.add_argument("--prompt-len", type=int, default=None,
                    help="prompt tokens (default: [BOV] + 2 latent frames = 5121 for the 5B, "
                         "5120 for the base models)")
    ap.add_argument("--gen", type=int, default=None,
                    help="tokens to generate (default: the other T-2 frames = 7680)")
    ap.add_argument("--context", help="HDF5 with float32 /context (default: random, --seed)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random prompt and context")
    ap.add_argument("--warmup", type=int, default=5, help="untimed decode steps first (default 5)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", help="write the results with provenance to this file")
    ap.add_argument("--check-logits", metavar="GOLDEN.h5",
                    help="instead of timing: compare teacher-forced logits with a golden file")
    ap.add_argument("--tokens", help="with --check-logits: token file (must equal /tokens)")
    ap.add_argument("--tol", type=float, default=None,
                    help="with --check-logits: max |diff| allowed (default 1e-4 for f32)")
    args = ap.parse_args(argv)
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.dtype is None:
        args.dtype = "bf16" if args.device.startswith("cuda") else "f32"
    if args.attn_window is None:
        args.attn_window = "full" if args.mode == "compile" else "filled"
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        check_compile_available(args.mode)
        if args.mode == "compile" and args.attn_window != "full":
            raise UsageError("--mode compile needs --attn-window full (static shapes for CUDA "
                             "graphs)")
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"--device {args.device}: torch {torch.__version__} sees no CUDA "
                             "device")
        if args.device != "cpu" and not args.device.startswith("cuda"):
            raise UsageError(f"--device must be cuda, cuda:N or cpu, got {args.device!r}")
        if args.warmup < 0:
            raise UsageError("--warmup must be >= 0")
        if args.mode == "compile" and args.warmup < 3 and not args.check_logits:
            print("note: CUDA graphs are recorded on the first calls; --warmup >= 3 recommended",
                  file=sys.stderr)
        if args.threads:
            torch.set_num_threads(args.threads)
        if args.device.startswith("cuda") and torch.device(args.device).index is not None:
            torch.cuda.set_device(torch.device(args.device))
        model, cfg, load = load_model(args.model, DTYPES[args.dtype], args.device)
        print(f"{cfg.get('name', os.path.basename(args.model))}: {load['params'] / 1e6:.1f} M "
              f"parameters, loaded in {load['load_s']:.1f} s; torch {torch.__version__}, "
              f"{args.device}, {args.dtype}, {args.mode}, attention window {args.attn_window}")
        if args.check_logits:
            ok, res = run_check(args, model, args.device)
            kind = "check_logits"
        else:
            res = run_timing(args, model, args.device)
            ok, kind = True, "decode_timing"
    except (UsageError, cosmos_h5.FormatError, OSError, KeyError, ValueError) as exc:
        print(f"torch_decode: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        doc = {"kind": kind, "provenance": provenance(args.device),
               "model": {"path": os.path.abspath(args.model), "name": cfg.get("name"),
                         "params": load["params"], "weight_bytes_bf16": load["weight_bytes_bf16"],
                         "max_seq_len": model.d["max_seq_len"]},
               "run": {"mode": args.mode, "dtype": args.dtype, "attn_window": args.attn_window,
                       "sampling": "greedy argmax (no top-p; timing only)",
                       "cross_attention_kv": "computed once per prompt",
                       "load_s": load["load_s"]},
               "memory": memory_report(args.device, model)}
        doc.update(res)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
