#!/usr/bin/env bash
# CPU SFT-step benchmark (sft issue): one LoRA and one QLoRA (NF4 base) step, batch 1, seq 512, r=8 on all linear
# layers, on a Qwen2.5-0.5B-shaped random model, jswift vs transformers + PEFT (LoRA, fp32), 2 threads, in one
# invocation; tokens/s and peak RSS of each process, and the ratios.
#   benchmarks/train/run.sh [MODEL_DIR] [STEPS]   (after mvn -B -DskipTests package; needs python3 with torch,
#                                                   transformers and peft; MODEL_DIR is created if missing, ~2 GB)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
model="${1:-$root/target/qwen2.5-0.5b-random}"
steps="${2:-5}"
cp="$root/benchmarks/target/jswift-benchmarks.jar"
java_opts=(-Xss4m -Dorg.bytedeco.javacpp.cachedir="$root/target/javacpp-cache")
out="$root/target/sft-step"
mkdir -p "$out"
if [ ! -f "$model/model.safetensors" ]; then
  java "${java_opts[@]}" -cp "$cp" jswift.bench.RandomModel "$model"
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
for ckpt in false true; do
  OMP_NUM_THREADS=2 java "${java_opts[@]}" -cp "$cp" jswift.bench.SftStepBench "$model" lora 512 "$steps" "$ckpt" \
    | tail -n 1 | tee "$out/jswift-lora-$ckpt.json"
  OMP_NUM_THREADS=2 java "${java_opts[@]}" -cp "$cp" jswift.bench.SftStepBench "$model" qlora 512 "$steps" "$ckpt" \
    | tail -n 1 | tee "$out/jswift-qlora-$ckpt.json"
  python3 "$root/benchmarks/train/sft_step_peer.py" "$model" 512 "$steps" 2 "$ckpt" | tail -n 1 | tee "$out/peer-$ckpt.json"
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
load = lambda n: json.loads(open(f"{out}/{n}.json").read())
for ckpt in ("false", "true"):
    p = load(f"peer-{ckpt}")
    for mode in ("lora", "qlora"):
        j = load(f"jswift-{mode}-{ckpt}")
        print(f"{mode:5s} checkpointing={ckpt:5s}: jswift {j['tokens_per_s']:.1f} tok/s at {j['peak_rss_gib']:.2f} GiB,"
              f" peer (LoRA) {p['tokens_per_s']:.1f} tok/s at {p['peak_rss_gib']:.2f} GiB ->"
              f" speed {j['tokens_per_s'] / p['tokens_per_s']:.2f}x, RSS {j['peak_rss_gib'] / p['peak_rss_gib']:.2f}x")
PY
