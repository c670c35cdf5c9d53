#!/usr/bin/env python3
"""Folds the runs of benchmarks/tuners/run.sh into one Markdown table: OUT/<method>.log (console),
OUT/<method>/<model>/logging.jsonl, OUT/<method>.status.    table.py OUT METHOD..."""
import glob
import json
import os
import re
import sys


def gib(b):
    return f"{b / 2**30:.3f}" if b is not None else "-"


def mib(b):
    return f"{b / 2**20:.1f}" if b is not None else "-"


def main():
    out, methods = sys.argv[1], sys.argv[2:]
    print("| method | trainable params | optimizer state MiB | peak memory GiB (weights / act.+workspace) |"
          " tokens/s | train loss first -> last |")
    print("|---|---|---|---|---|---|")
    for m in methods:
        status = open(os.path.join(out, m + ".status")).read().strip()
        if status != "ok":
            reason = status.replace("|", "/")[:120]
            print(f"| {m} | - | - | - | - | {reason} |")
            continue
        console = open(os.path.join(out, m + ".log")).read()
        params = re.search(r"(\d+) trainable (?:[A-Za-z0-9]+ )*parameters", console)
        logs = glob.glob(os.path.join(out, m, "**", "logging.jsonl"), recursive=True)
        rows = [json.loads(line) for line in open(logs[0])] if logs else []
        steps = [r for r in rows if "loss" in r]
        mem = [r for r in rows if "memory_peak" in r]
        speeds = [r["tokens/s"] for r in steps[1:]] or [r["tokens/s"] for r in steps]
        last_mem = mem[-1] if mem else {}
        print(f"| {m} | {int(params.group(1)):,} | {mib(last_mem.get('memory_optimizer'))} | "
              f"{gib(last_mem.get('memory_peak'))} ({gib(last_mem.get('memory_weights'))} / "
              f"{gib(last_mem.get('memory_activations_workspace'))}) | "
              f"{sum(speeds) / len(speeds):.0f} | {steps[0]['loss']:.3f} -> {steps[-1]['loss']:.3f} |"
              if params and steps else f"| {m} | ? | ? | ? | ? | no log |")


if __name__ == "__main__":
    main()
