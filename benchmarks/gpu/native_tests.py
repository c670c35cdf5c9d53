#!/usr/bin/env python3
"""Runs jswift_tests for the GPU script so that one bad kernel cannot hide the others.

A CUDA kernel that faults leaves the process's CUDA context broken (every later CUDA test then fails too) or kills
the process outright, and a kernel that hangs stops the run. So the whole suite runs once under a time limit; then
every CUDA test that failed or was never reached runs again alone in its own process, each under its own limit,
and those verdicts replace the first run's. Writes OUT_JSON in jswift_tests' --json form, plus
"first_run" (exit status, whether it timed out) and, per re-run test, "isolated": true.

    native_tests.py JSWIFT_TESTS OUT_JSON [--limit SECONDS] [--each SECONDS] [--budget SECONDS]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

LINE = re.compile(r"^(PASS|FAIL|SKIPPED)\s+(\S+?)(?::\s(.*?))?(?: \((\d+\.\d+) s\))?$")


def run(cmd, limit):
    """(exit status or 'timeout', output) of cmd, echoing its output as it comes."""
    lines = []
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    deadline = time.monotonic() + limit
    timed_out = False
    try:
        for line in p.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line.rstrip("\n"))
            if time.monotonic() > deadline:
                timed_out = True
                break
        p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
    if timed_out:
        p.kill()
        p.wait()
        return "timeout", lines
    return p.returncode, lines


def parse(lines):
    """{name: (status, detail, seconds)} from the driver's PASS / FAIL / SKIPPED lines."""
    found = {}
    for line in lines:
        m = LINE.match(line)
        if m:
            word, name, detail, secs = m.groups()
            status = {"PASS": "passed", "FAIL": "failed", "SKIPPED": "skipped"}[word]
            found[name] = (status, detail or "", float(secs) if secs else None)
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("out_json")
    ap.add_argument("--limit", type=float, default=180, help="seconds for the whole first run")
    ap.add_argument("--each", type=float, default=40, help="seconds for one isolated re-run")
    ap.add_argument("--budget", type=float, default=120, help="seconds for all isolated re-runs together")
    a = ap.parse_args()

    listed = []
    for line in subprocess.run([a.binary, "--list"], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if parts:
            listed.append((parts[0], len(parts) > 1 and parts[1] == "cuda"))

    with tempfile.TemporaryDirectory() as tmp:
        first_json = os.path.join(tmp, "first.json")
        rc, lines = run([a.binary, "--json", first_json], a.limit)
        first = parse(lines)
        clean = rc in (0, 1) and os.path.exists(first_json)
        results = {}
        for name, _ in listed:
            if name in first:
                status, detail, secs = first[name]
                results[name] = {"name": name, "status": status, "detail": detail, "seconds": secs}

        again = [name for name, cuda in listed if cuda and results.get(name, {}).get("status") not in ("passed", "skipped")]
        if again:
            print(f"\n-- the first run ended with {rc}: re-running alone each of the {len(again)} CUDA tests that "
                  "failed or were not reached (a faulting kernel breaks the CUDA context for every later test)")
            spent = time.monotonic()
            for name in again:
                left = a.budget - (time.monotonic() - spent)
                if left < 5:
                    results.setdefault(name, {"name": name, "status": "not run", "detail": "re-run budget spent"})
                    continue
                rc1, out1 = run([a.binary, "--exact", name], min(a.each, left))
                got = parse(out1).get(name)
                if got is not None:
                    status, detail, secs = got
                else:
                    tail = " | ".join(out1[-3:])
                    status, detail, secs = "failed", f"process ended with {rc1} before reporting: {tail}", None
                results[name] = {"name": name, "status": status, "detail": detail, "seconds": secs, "isolated": True}

    for name, _ in listed:
        results.setdefault(name, {"name": name, "status": "not run", "detail": "the first run stopped before it"})
    tests = [results[name] for name, _ in listed]
    count = lambda s: sum(1 for t in tests if t["status"] == s)
    failed = count("failed") + (count("not run") if not clean else 0)
    report = {"tests": tests, "passed": count("passed"), "failed": failed, "skipped": count("skipped"),
              "first_run": {"exit": rc, "clean": clean}}
    with open(a.out_json, "w") as f:
        json.dump(report, f, indent=1)
    print(f"native tests: {report['passed']} passed, {report['failed']} failed, {report['skipped']} skipped"
          + ("" if not again else f" (first run ended with {rc}; {len(again)} CUDA tests re-run alone)"))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
