#!/usr/bin/env python3
"""The PyTorch peer of jswift_bench: for every result in jswift_bench.json, the same work in PyTorch on the same
GPU, timed with CUDA events (median of repetitions after warm-up), written as JSON with the same names and
shapes so summarize.py can pair them.

    torch_peer.py --jswift OUT/jswift_bench.json --json OUT/torch_bench.json [--quick] [--dry-run]

--dry-run never imports torch: it emits placeholder timings so the pipeline's logic can be checked anywhere.
"""
import argparse
import json
import statistics
import sys


def parse_shape(shape):
    params = {}
    for tok in shape.split():
        k, _, v = tok.partition("=")
        params[k] = int(v) if v.lstrip("-").isdigit() else v
    return params


class Peer:
    def __init__(self, quick):
        import torch  # noqa: only on a GPU machine
        import torch.nn.functional as F
        self.torch, self.F = torch, F
        self.quick = quick
        self.last_peak_extra = -1
        self.dev = torch.device("cuda")
        torch.manual_seed(0)

    def dtype(self, p):
        t = self.torch
        return {"bf16": t.bfloat16, "f16": t.float16, "f32": t.float32}[p.get("dtype", "bf16")]

    def randn(self, *shape, dtype=None, grad=False):
        x = self.torch.randn(*shape, device=self.dev, dtype=dtype or self.torch.bfloat16)
        return x.requires_grad_(grad)

    def time(self, fn, iters):
        t = self.torch
        if self.quick:
            iters = max(1, iters // 5)
        t.cuda.synchronize()
        base = t.cuda.memory_allocated()
        t.cuda.reset_peak_memory_stats()
        for _ in range(3):
            fn()
        t.cuda.synchronize()
        times = []
        for _ in range(5):
            start, end = t.cuda.Event(enable_timing=True), t.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(iters):
                fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / iters)
        self.last_peak_extra = t.cuda.max_memory_allocated() - base
        return statistics.median(times)

    # ---- one method per jswift benchmark name ----

    def gemm_bf16(self, p):
        a = self.randn(p["m"], p["k"], dtype=self.dtype(p))
        w = self.randn(p["n"], p["k"], dtype=self.dtype(p))
        return self.time(lambda: self.torch.matmul(a, w.t()), 10), "torch.matmul(x, W.t())"

    def rmsnorm_fwd_bwd(self, p):
        x = self.randn(p["rows"], p["dim"], dtype=self.dtype(p), grad=True)
        w = self.randn(p["dim"], dtype=self.dtype(p), grad=True)
        dy = self.randn(p["rows"], p["dim"], dtype=self.dtype(p))

        def step():
            y = self.F.rms_norm(x, (p["dim"],), w, 1e-5)
            y.backward(dy)
            x.grad = None
            w.grad = None
        return self.time(step, 50), "F.rms_norm + autograd"

    def attention(self, p, backward):
        F, t = self.F, self.torch
        b, s, h, kv, d = p["batch"], p["seq"], p["heads"], p["kv_heads"], p["head_dim"]
        dt = self.dtype(p)
        q = self.randn(b, h, s, d, dtype=dt, grad=backward)
        k = self.randn(b, kv, s, d, dtype=dt, grad=backward)
        v = self.randn(b, kv, s, d, dtype=dt, grad=backward)
        do = self.randn(b, h, s, d, dtype=dt)
        causal = p.get("causal", 1) == 1

        def step():
            o = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=(h != kv))
            if backward:
                o.backward(do)
                q.grad = k.grad = v.grad = None
        return self.time(step, 10), "F.scaled_dot_product_attention(enable_gqa)" + (" + autograd" if backward else "")

    def attention_fwd(self, p):
        return self.attention(p, False)

    def attention_fwd_bwd(self, p):
        return self.attention(p, True)

    def attention_decode(self, p):
        F, t = self.F, self.torch
        b, ql, kl, cap = p["batch"], p["q_len"], p["kv_len"], p["capacity"]
        h, kv, d = p["heads"], p["kv_heads"], p["head_dim"]
        dt = self.dtype(p)
        q = self.randn(b, h, ql, d, dtype=dt)
        # the cache as transformers keeps it, [batch, kv_heads, capacity, head_dim]; its first kv_len slots are valid
        k = self.randn(b, kv, cap, d, dtype=dt)[:, :, :kl]
        v = self.randn(b, kv, cap, d, dtype=dt)[:, :, :kl]
        # query i sits at slot kv_len - q_len + i and sees the slots up to it
        pos = t.arange(ql, device=self.dev) + (kl - ql)
        mask = (t.arange(kl, device=self.dev)[None, :] <= pos[:, None]).expand(b, 1, ql, kl)

        def step():
            F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=(h != kv))
        return self.time(step, 50), "F.scaled_dot_product_attention(enable_gqa, boolean mask over the cache)"

    def lmhead_ce_fwd_bwd(self, p):
        F = self.F
        n, dim, vocab = p["tokens"], p["dim"], p["vocab"]
        dt = self.dtype(p)
        h = self.randn(n, dim, dtype=dt, grad=True)
        w = self.randn(vocab, dim, dtype=dt, grad=True)
        labels = self.torch.randint(0, vocab, (n,), device=self.dev)

        def step():
            logits = F.linear(h, w).float()
            loss = F.cross_entropy(logits, labels)
            loss.backward()
            h.grad = w.grad = None
        return self.time(step, 5), "F.linear + F.cross_entropy(fp32 logits) + autograd"

    def lora_fwd_bwd(self, p):
        F = self.F
        n, din, dout, r = p["tokens"], p["in"], p["out"], p["rank"]
        dt = self.dtype(p)
        x = self.randn(n, din, dtype=dt, grad=True)
        w = self.randn(dout, din, dtype=dt)
        a = self.randn(r, din, dtype=dt, grad=True)
        b = self.randn(dout, r, dtype=dt, grad=True)
        dy = self.randn(n, dout, dtype=dt)

        def step():
            y = F.linear(x, w) + 2.0 * F.linear(F.linear(x, a), b)
            y.backward(dy)
            x.grad = a.grad = b.grad = None
        return self.time(step, 10), "peft-style F.linear(x,W) + s*B(A x) + autograd"

    def lora_step(self, p):
        # The same training step in eager PyTorch (both jswift rows, graph=0 and graph=1, pair with it): LoRA
        # linears with fp32 A/B cast to bf16, dropout 0.05, loss sum(y^2)/2, clipping, fused AdamW, and the host
        # sync a training step's loss readback makes.
        t, F = self.torch, self.F
        n, d, r, layers = p["tokens"], p["dim"], p["rank"], p["layers"]
        x = self.randn(n, d)
        ws = [self.randn(d, d) * 0.02 for _ in range(layers)]
        params = []
        for _ in range(layers):
            params += [t.nn.Parameter(t.randn(r, d, device=self.dev) * 0.02),
                       t.nn.Parameter(t.randn(d, r, device=self.dev) * 0.02)]
        opt = t.optim.AdamW(params, lr=1e-4, weight_decay=0.0, fused=True)

        def step():
            h = x
            for i, w in enumerate(ws):
                a, b = params[2 * i].to(t.bfloat16), params[2 * i + 1].to(t.bfloat16)
                h = F.linear(h, w) + 2.0 * F.linear(F.linear(F.dropout(h, 0.05), a), b)
            (h.float().square().sum() / 2).backward()
            t.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=False)
            t.cuda.synchronize()
        return self.time(step, 10), "eager torch: F.linear LoRA + autograd + clip_grad_norm_ + AdamW(fused)"

    def dropout(self, p):
        x = self.randn(p["n"], dtype=self.dtype(p))
        return self.time(lambda: self.F.dropout(x, 0.05, training=True), 50), "F.dropout(x, 0.05, training=True)"

    def lora_rank(self, p):
        # PEFT's autograd for the same half: the forward drops x (F.dropout, which saves its mask) and multiplies
        # by A^T; the backward reads the saved drop(x) for dA and applies the saved mask to g A for dx.
        t, F = self.torch, self.F
        x = self.randn(p["tokens"], p["in"], dtype=self.dtype(p))
        a = self.randn(p["rank"], p["in"], dtype=self.dtype(p))
        if p.get("pass") == "down":
            return self.time(lambda: F.dropout(x, 0.05, training=True) @ a.t(), 50), "F.dropout(x) @ A.t()"
        g = self.randn(p["tokens"], p["rank"], dtype=self.dtype(p))
        xd = F.dropout(x, 0.05, training=True)
        mask = (xd != 0).to(x.dtype) / 0.95
        da = t.zeros(p["rank"], p["in"], device=self.dev, dtype=t.float32)

        def step():
            da.add_((g.t() @ xd).float(), alpha=2.0)
            return (g @ a).mul_(2.0).mul_(mask)
        return self.time(step, 50), "dA += 2 g.t() @ drop(x) (saved); dx = 2 (g @ A) * mask (saved)"

    def swiglu_fwd_bwd(self, p):
        F = self.F
        n = p["n"]
        g = self.randn(n, grad=True)
        u = self.randn(n, grad=True)
        dy = self.randn(n)

        def step():
            y = F.silu(g) * u
            y.backward(dy)
            g.grad = u.grad = None
        return self.time(step, 50), "F.silu(g) * u + autograd"

    def copy_bandwidth(self, p):
        n = p["bytes"]
        src = self.torch.empty(n, dtype=self.torch.uint8, device=self.dev).random_()
        dst = self.torch.empty_like(src)
        return self.time(lambda: dst.copy_(src), 20), "device-to-device copy of the same output bytes"

    def nf4_dequant(self, p):
        # torch has no NF4; the peer is the copy of the bf16 output bytes (the bandwidth ceiling).
        return self.copy_bandwidth({"bytes": 2 * p["rows"] * p["cols"]})

    def nf4_gemv(self, p):
        # The fused GEMV's ceiling: copying the packed weight bytes (4-bit codes + one fp32 absmax per 64).
        n = p["out"] * p["in"]
        return self.copy_bandwidth({"bytes": n // 2 + n // 64 * 4})

    def nf4_few_rows(self, p):
        # The same ceiling for a few rows: the packed codes + 8-bit absmax codes + fp32 nested scales, read once.
        n = p["out"] * p["in"]
        return self.copy_bandwidth({"bytes": n // 2 + n // 64 + n // 64 // 256 * 4})

    def gptq_gemv(self, p):
        # As nf4_gemv: the copy of the packed bytes, 4-bit qweight + qzeros and f16 scales per group.
        n, groups = p["out"] * p["in"], p["in"] // p["group"]
        return self.copy_bandwidth({"bytes": n // 2 + groups * p["out"] // 2 + groups * p["out"] * 2})

    def awq_gemv(self, p):
        return self.gptq_gemv(p)

    def gptq_few_rows(self, p):
        # A few rows read the same packed bytes once (the rows themselves are a few KB).
        return self.gptq_gemv(p)

    def awq_few_rows(self, p):
        return self.gptq_gemv(p)

    def nf4_matmul(self, p):
        # The same product with the weight dense in bf16 (what a bf16-base LoRA step multiplies by).
        w = self.randn(p["out"], p["in"], dtype=self.dtype(p))
        if p.get("pass") == "bwd":
            dy = self.randn(p["tokens"], p["out"], dtype=self.dtype(p))
            return self.time(lambda: self.torch.matmul(dy, w), 10), "torch.matmul(dy, W) (W bf16)"
        x = self.randn(p["tokens"], p["in"], dtype=self.dtype(p))
        return self.time(lambda: self.torch.matmul(x, w.t()), 10), "torch.matmul(x, W.t()) (W bf16)"

    def adamw_step(self, p):
        t = self.torch
        param = t.nn.Parameter(t.randn(p["n"], device=self.dev))
        param.grad = t.randn(p["n"], device=self.dev)
        opt = t.optim.AdamW([param], lr=1e-4, fused=True)
        return self.time(opt.step, 20), "torch.optim.AdamW(fused=True).step"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jswift", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    with open(args.jswift) as f:
        jswift = json.load(f)
    out = {"device": jswift.get("device"), "dry_run": args.dry_run, "results": [], "errors": []}
    peer = None
    if not args.dry_run:
        peer = Peer(args.quick)
        import torch
        out["torch"] = torch.__version__
        out["device"] = torch.cuda.get_device_name(0)
    for r in jswift["results"]:
        name, shape = r["name"], r["shape"]
        fn = None if peer is None else getattr(peer, name, None)
        if args.dry_run:
            out["results"].append({"name": name, "shape": shape, "ms": r["ms"] * 1.5, "impl": "dry-run placeholder",
                                   "peak_extra": r.get("peak_extra", -1)})
            continue
        if fn is None:
            out["errors"].append(f"no torch peer for {name}")
            continue
        try:
            peer.last_peak_extra = -1
            ms, impl = fn(parse_shape(shape))
            out["results"].append({"name": name, "shape": shape, "ms": ms, "impl": impl,
                                   "peak_extra": peer.last_peak_extra})
            print(f"torch {name:24s} {shape:48s} {ms:10.4f} ms  ({impl})", flush=True)
        except Exception as e:  # report and go on: one failing peer must not lose the others
            out["errors"].append(f"{name} [{shape}]: {type(e).__name__}: {e}")
            print(f"torch {name} failed: {e}", file=sys.stderr, flush=True)
        finally:
            if peer is not None:
                peer.torch.cuda.empty_cache()
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
