#!/usr/bin/env python3
"""Combines the GPU run's pieces into OUT/results.json and OUT/results.md:
native test results (CUDA twins vs CPU), jswift kernel timings, PyTorch peer timings (paired by benchmark name
and shape), the ratios the issues set as targets, and the environment.

    summarize.py --out OUT
"""
import argparse
import datetime
import json
import os

# name -> (description, predicate on speedup = torch_ms / jswift_ms)
TARGETS = {
    "attention_fwd_bwd": ("flash attention fwd+bwd at least as fast as torch SDPA", lambda s: s >= 1.0),
    "attention_fwd": ("flash attention fwd at least as fast as torch SDPA", lambda s: s >= 1.0),
    "gemm_bf16": ("GEMM within 10% of torch.matmul (both cuBLAS)", lambda s: s >= 0.9),
    "nf4_dequant": ("NF4 dequant >= 85% of device copy bandwidth", lambda s: s >= 0.85),
    "nf4_gemv": ("NF4 dequant-GEMV >= 85% of the copy bandwidth of its packed weight", lambda s: s >= 0.85),
}


def mib(b):
    return None if b is None or b < 0 else b / 1048576.0


def load(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        default = dict(default)
        default["load_error"] = f"{path}: {e}"
        return default


def qlora_summary(mine, peer):
    """The QLoRA step and decode (qlora.sh): both sides, the ratios and the GPU issue's targets (step >= 2.5x the
    peer's tokens/s at <= 0.5x its peak memory)."""
    if "load_error" in mine and "load_error" in peer:
        return None
    s = {"jswift": mine, "peer": peer}
    if "tokens_per_s" in mine and "tokens_per_s" in peer:
        s["step_speedup"] = mine["tokens_per_s"] / peer["tokens_per_s"]
        s["step_speedup_target_met"] = s["step_speedup"] >= 2.5
        if mine.get("graph_tokens_per_s"):
            s["graph_step_speedup"] = mine["graph_tokens_per_s"] / peer["tokens_per_s"]
        if mine.get("peak_memory_gib") and peer.get("peak_memory_gib"):
            s["memory_ratio"] = mine["peak_memory_gib"] / peer["peak_memory_gib"]
            s["memory_target_met"] = s["memory_ratio"] <= 0.5
    peer_decode = {d["batch"]: d for d in peer.get("decode", [])}
    s["decode"] = []
    for d in mine.get("decode", []):
        p = peer_decode.get(d["batch"], {})
        s["decode"].append({"batch": d["batch"], "jswift": d["tokens_per_s"], "peer": p.get("tokens_per_s"),
                            "speedup": d["tokens_per_s"] / p["tokens_per_s"] if p.get("tokens_per_s") else None,
                            "jswift_first_token_s": d.get("first_token_s"), "peer_first_token_s": p.get("first_token_s")})
    return s


def qlora_lines(q):
    if not q:
        return []
    j, p = q["jswift"], q["peer"]
    lines = ["", f"QLoRA step, seq {j.get('seq', p.get('seq'))}, LoRA r={j.get('rank', p.get('rank'))} on all linear "
             f"layers (jswift {j.get('base', '?')} base; peer {p.get('base', '?')}):", ""]
    for name, r in (("jswift", j), ("peer", p)):
        if "load_error" in r:
            lines.append(f"- {name}: no result ({r['load_error']})")
        else:
            lines.append(f"- {name} ({r.get('impl')}): {r.get('tokens_per_s')} tokens/s, step {r.get('step_s')} s, "
                         f"peak memory {r.get('peak_memory_gib')} GiB, loss {r.get('loss')}")
    if "step_speedup" in q:
        lines.append(f"- step speed jswift/peer: {q['step_speedup']:.2f}x (target >= 2.5x: "
                     f"{'met' if q['step_speedup_target_met'] else 'NOT met'})")
    if j.get("graph_step_s"):
        vs_peer = f", {q['graph_step_speedup']:.2f}x the peer" if "graph_step_speedup" in q else ""
        lines.append(f"- jswift step replayed from a graph (--cuda_graphs): {j['graph_tokens_per_s']} tokens/s, step "
                     f"{j['graph_step_s']} s ({j['graph_speedup']:.2f}x the eager step{vs_peer}), peak memory "
                     f"{j.get('graph_peak_memory_gib')} GiB")
    if "memory_ratio" in q:
        lines.append(f"- peak memory jswift/peer: {q['memory_ratio']:.2f}x (target <= 0.5x: "
                     f"{'met' if q['memory_target_met'] else 'NOT met'})")
    for d in q["decode"]:
        sp = f"{d['speedup']:.2f}x" if d["speedup"] else "-"
        lines.append(f"- decode batch {d['batch']}: jswift {d['jswift']} tokens/s"
                     f"{' (replayed from a graph)' if j.get('decode_graphs') else ''}, peer {d['peer']} tokens/s ({sp})"
                     f"; first token (prefill of the prompts): jswift {d.get('jswift_first_token_s')} s, peer "
                     f"{d.get('peer_first_token_s')} s")
    return lines


def cuda_graphs_summary(rows):
    """The lora_step benchmark with and without a CUDA graph (graph=0 / graph=1 rows of the same shape): the
    speedup of replaying the captured step over launching its ops one by one. No graph row (a CPU dry run, or a
    capture that failed: see benchmark_errors) leaves graph_ms None and says why."""
    eager = {r["shape"][:-len(" graph=0")]: r for r in rows
             if r["name"] == "lora_step" and r["shape"].endswith(" graph=0")}
    graph = {r["shape"][:-len(" graph=1")]: r for r in rows
             if r["name"] == "lora_step" and r["shape"].endswith(" graph=1")}
    if not eager:
        return {"note": "no lora_step benchmark result"}
    shape, e = next(iter(eager.items()))
    g = graph.get(shape)
    s = {"shape": shape, "eager_ms": e["jswift_ms"], "graph_ms": g["jswift_ms"] if g else None,
         "torch_eager_ms": e.get("torch_ms")}
    if g and g["jswift_ms"] > 0:
        s["speedup"] = e["jswift_ms"] / g["jswift_ms"]
    else:
        s["speedup"] = None
        s["note"] = "no graph=1 result (CUDA graphs run on a GPU only; on a GPU see benchmark_errors)"
    return s


def cuda_graphs_lines(c):
    lines = ["", "CUDA graphs (lora_step: a LoRA training step replayed as one graph vs its ops launched one by one):"]
    if c.get("speedup") is not None:
        lines.append(f"- {c['shape']}: eager {c['eager_ms']:.4f} ms, graph {c['graph_ms']:.4f} ms, "
                     f"{c['speedup']:.2f}x")
    else:
        lines.append(f"- {c.get('note')}")
    return lines


def variants_summary(rows):
    """Before / after pairs within one run: the same benchmark with one switch of its kernels flipped (the shape's
    tile=..., absmax=..., kernel=... or path=... token), each variant's time against the default's, so the effect
    of a change that no GPU has run yet reads straight off the report."""
    groups = {}
    for r in rows:
        params = r["shape"].split()
        variant = [p for p in params if p.startswith(("tile=", "absmax=", "kernel=", "path="))]
        base = " ".join(p for p in params if p not in variant)
        groups.setdefault((r["name"], base), []).append((" ".join(variant) or "default", r["jswift_ms"]))
    out = []
    for (name, base), vs in groups.items():
        if len(vs) < 2:
            continue
        ref = vs[0][1]
        out.append({"name": name, "shape": base, "variants": [
            {"variant": v, "ms": ms, "vs_first": ref / ms if ms else None} for v, ms in vs]})
    return out


def variants_lines(groups):
    if not groups:
        return []
    lines = ["", "Kernel variants in this run (time of the first listed / time of each: above 1, that variant is faster):"]
    for g in groups:
        parts = ", ".join(f"{v['variant']} {v['ms']:.4f} ms" + (f" ({v['vs_first']:.2f}x)" if v["vs_first"] else "")
                          for v in g["variants"])
        lines.append(f"- {g['name']} {g['shape']}: {parts}")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = args.out
    tests = load(os.path.join(out, "native_tests.json"), {"tests": [], "passed": 0, "failed": 0, "skipped": 0})
    mine = load(os.path.join(out, "jswift_bench.json"), {"results": []})
    peer = load(os.path.join(out, "torch_bench.json"), {"results": []})
    env = load(os.path.join(out, "env.json"), {})
    fallbacks = load(os.path.join(out, "fallbacks.json"), [])
    java = load(os.path.join(out, "java_cuda_check.json"), {})
    qlora = qlora_summary(load(os.path.join(out, "qlora_jswift.json"), {}), load(os.path.join(out, "qlora_peer.json"), {}))

    peer_by_key = {(r["name"], r["shape"]): r for r in peer.get("results", [])}
    rows = []
    for r in mine.get("results", []):
        p = peer_by_key.get((r["name"], r["shape"]))
        row = {
            "name": r["name"], "shape": r["shape"], "jswift_ms": r["ms"],
            "jswift_tflops": r["flops"] / r["ms"] / 1e9 if r["ms"] > 0 else None,
            "jswift_gbps": r["bytes"] / r["ms"] / 1e6 if r["ms"] > 0 else None,
            "torch_ms": p["ms"] if p else None, "torch_impl": p.get("impl") if p else None,
            "jswift_peak_extra_mib": mib(r.get("peak_extra")),
            "torch_peak_extra_mib": mib(p.get("peak_extra")) if p else None,
        }
        row["speedup_vs_torch"] = (p["ms"] / r["ms"]) if p and r["ms"] > 0 else None
        if r["name"] in TARGETS and row["speedup_vs_torch"] is not None:
            desc, ok = TARGETS[r["name"]]
            row["target"] = desc
            row["target_met"] = bool(ok(row["speedup_vs_torch"]))
        rows.append(row)

    failed_tests = [t for t in tests.get("tests", []) if t.get("status") == "failed"]
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dry_run": bool(peer.get("dry_run")),
        "device": peer.get("device") or mine.get("device"),
        "torch": peer.get("torch"),
        "jswift_build": mine.get("build"),
        "environment": env,
        "native_tests": {k: tests.get(k) for k in ("passed", "failed", "skipped")},
        "native_test_failures": failed_tests,
        "fallbacks": fallbacks if isinstance(fallbacks, list) else [],
        "benchmarks": rows,
        "benchmark_errors": [e for e in [mine.get("errors"), *peer.get("errors", [])] if e],
        "load_errors": [d["load_error"] for d in (tests, mine, peer, env) if "load_error" in d],
        "java_cuda_check": java if "load_error" not in java else None,
        "qlora": qlora,
        "cuda_graphs": cuda_graphs_summary(rows),
        "kernel_variants": variants_summary(rows),
        "raw": {"native_tests": tests, "jswift_bench": mine, "torch_bench": peer},
    }
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)

    lines = [f"# jswift GPU run: {result['device']} ({result['date']})", ""]
    if result["dry_run"]:
        lines += ["**DRY RUN**: placeholder peer timings, not measurements.", ""]
    nt = result["native_tests"]
    lines += [f"Native tests (CUDA twins vs CPU): {nt['passed']} passed, {nt['failed']} failed, {nt['skipped']} skipped.", ""]
    for t in failed_tests:
        lines.append(f"- FAILED {t['name']}: {t.get('detail', '')}")
    for fb in result["fallbacks"]:
        lines.append(f"- switched back for the benchmarks and Java steps: {fb['variable']}={fb['value']} "
                     f"({', '.join(fb['failed_tests'])} failed)")
    lines += ["", "| bench | shape | jswift ms | torch ms | torch/jswift | jswift TFLOP/s | jswift GB/s | "
              "peak extra MiB jswift / torch | target |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def f(v, fmt):
            return fmt.format(v) if v is not None else "-"
        tgt = "" if "target" not in r else ("met" if r["target_met"] else "NOT met") + ": " + r["target"]
        lines.append(f"| {r['name']} | {r['shape']} | {f(r['jswift_ms'], '{:.4f}')} | {f(r['torch_ms'], '{:.4f}')} | "
                     f"{f(r['speedup_vs_torch'], '{:.2f}x')} | {f(r['jswift_tflops'], '{:.1f}')} | "
                     f"{f(r['jswift_gbps'], '{:.0f}')} | {f(r['jswift_peak_extra_mib'], '{:.0f}')} / "
                     f"{f(r['torch_peak_extra_mib'], '{:.0f}')} | {tgt} |")
    if result["java_cuda_check"]:
        j = result["java_cuda_check"]
        lines += ["", f"Java CausalLM on CUDA vs CPU (llama-gqa fixture): {'all checks pass' if j.get('ok') else 'CHECKS FAILED'}", ""]
        for k, v in j.items():
            if k.endswith(".pass") or k.endswith(".limit") or k in ("ok", "build"):
                continue
            limit = j.get(k + ".limit")
            lines.append(f"- {k}: {v}" + (f" (limit {limit}, {'pass' if j.get(k + '.pass') else 'FAIL'})" if limit is not None else ""))
    lines += qlora_lines(qlora)
    lines += cuda_graphs_lines(result["cuda_graphs"])
    lines += variants_lines(result["kernel_variants"])
    for e in result["benchmark_errors"] + result["load_errors"]:
        lines.append(f"- error: {e}")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
