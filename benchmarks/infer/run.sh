#!/usr/bin/env bash
# CPU inference benchmark (models issue): prefill (512 tokens) and greedy decode (64 tokens, KV cache) tokens/s
# for a Qwen2.5-0.5B-shaped random model, jswift vs transformers, fp32, 2 threads, in one invocation.
#   benchmarks/infer/run.sh [MODEL_DIR]       (after mvn -B -DskipTests package; needs python3 with torch +
#                                              transformers; MODEL_DIR is created if missing, ~2 GB)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
model="${1:-$root/target/qwen2.5-0.5b-random}"
cp="$root/benchmarks/target/jswift-benchmarks.jar"
java_opts=(-Xss4m -Dorg.bytedeco.javacpp.cachedir="$root/target/javacpp-cache")
if [ ! -f "$model/model.safetensors" ]; then
  java "${java_opts[@]}" -cp "$cp" jswift.bench.RandomModel "$model"
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
OMP_NUM_THREADS=2 java "${java_opts[@]}" -cp "$cp" jswift.bench.InferenceBench "$model" | tee "$root/target/infer-jswift.json"
python3 "$root/benchmarks/infer/transformers_peer.py" "$model" 512 64 2 | tee "$root/target/infer-peer.json"
python3 - "$root/target/infer-jswift.json" "$root/target/infer-peer.json" <<'PY'
import json, sys
j, p = (json.loads(open(f).read().strip().splitlines()[-1]) for f in sys.argv[1:3])
for k in ("prefill_tokens_per_s", "decode_tokens_per_s"):
    print(f"{k}: jswift {j[k]:.2f}, {p['impl']} {p[k]:.2f}, ratio {j[k] / p[k]:.2f}x")
PY
