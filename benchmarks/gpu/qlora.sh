#!/usr/bin/env bash
# The QLoRA part of the GPU check (GPU issue): a QLoRA SFT step and greedy decode of a Llama-3-8B-shaped model with
# random weights (no download), jswift (NF4 base, jswift.bench.QloraStepBench on the carried JRE) against
# transformers + PEFT (bf16 base, SDPA; qlora_peer.py), one after the other on the same GPU.
#
#   benchmarks/gpu/qlora.sh OUT [--dry-run] [--config FILE] [--seq N] [--steps N] [--limit SECONDS] [--no-peer]
#
# Writes OUT/qlora_jswift.json and OUT/qlora_peer.json (summarize.py folds them into results.json). --dry-run runs
# jswift on the CPU with a tiny config and short sequences and the peer's placeholder numbers, to check the logic
# anywhere (java on PATH; the classpath from JSWIFT_CLASSPATH, else the benchmarks' jar). --limit (default 240) is
# each side's time limit; --no-peer runs jswift's side alone. For a real CPU run of the
# peer (torch needed): qlora_peer.py --config benchmarks/gpu/models/tiny-llama.json --cpu.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="" dry_run=0 no_peer=0 config="$root/benchmarks/gpu/models/llama3-8b.json" seq=2048 steps=5 limit=240
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --config) config="$2"; shift ;;
    --seq) seq="$2"; shift ;;
    --steps) steps="$2"; shift ;;
    --limit) limit="$2"; shift ;;
    --no-peer) no_peer=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) out="$1" ;;
  esac
  shift
done
if [ -z "$out" ]; then echo "usage: $0 OUT_DIR [--dry-run] [--config FILE] [--seq N] [--steps N] [--limit S]" >&2; exit 2; fi
mkdir -p "$out"
status=0
decode=(--decode-batches 1,16 --decode-tokens 64 --prompt 128)
graph_steps=5
device=cuda
peer_mode=()
if [ $dry_run -eq 1 ]; then
  config="$root/benchmarks/gpu/models/tiny-llama.json" seq=64 steps=2 device=cpu peer_mode=(--dry-run) graph_steps=2
  export JSWIFT_DECODE_GRAPHS=1  # decode replays from graphs as on a GPU (on the CPU: a recording of the calls)
  decode=(--decode-batches 1,16 --decode-tokens 4 --prompt 8)
fi

# The JVM: the carried JRE and jars on the GPU machine; the build's for a dry run where there is one.
carry="$root/.gpu-carry"
java_bin="" classpath=""
if [ $dry_run -eq 1 ] && command -v java >/dev/null && [ -n "${JSWIFT_CLASSPATH:-}" ]; then
  java_bin="java" classpath="$JSWIFT_CLASSPATH"
elif [ $dry_run -eq 1 ] && command -v java >/dev/null && [ -f "$root/benchmarks/target/jswift-benchmarks.jar" ]; then
  java_bin="java" classpath="$root/benchmarks/target/jswift-benchmarks.jar"
elif [ -n "${JSWIFT_JAVA:-}" ]; then  # run.sh's unpacked copy of the carried JRE
  java_bin="$JSWIFT_JAVA" classpath="$carry/lib/*"
elif [ -f "$carry/jre.txz" ]; then  # see prepare-java.sh
  jre="$(mktemp -d)"
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$carry/jre.txz" "$jre"
  java_bin="$jre/jre/bin/java" classpath="$carry/lib/*"
fi
if [ -n "$java_bin" ]; then
  echo "jswift: $(basename "$config"), seq $seq, $steps steps, $device"
  timeout "$limit" "$java_bin" -Xss4m -Dorg.bytedeco.javacpp.cachedir="$(mktemp -d)" -cp "$classpath" \
    jswift.bench.QloraStepBench --config "$config" --device "$device" --seq "$seq" --steps "$steps" \
    "${decode[@]}" --profile 1 --graph-steps "$graph_steps" --json "$out/qlora_jswift.json" || { echo "!! the jswift QLoRA benchmark failed"; status=1; }
else
  echo "!! no JVM: run benchmarks/gpu/prepare-java.sh before the GPU run"; status=1
fi
if [ $no_peer -eq 1 ]; then echo "transformers + PEFT: skipped (--no-peer)"; exit $status; fi
echo "transformers + PEFT: $(basename "$config"), seq $seq, $steps steps"
timeout "$limit" python3 "$root/benchmarks/gpu/qlora_peer.py" --config "$config" --seq "$seq" --steps "$steps" \
  "${decode[@]}" "${peer_mode[@]}" --json "$out/qlora_peer.json" || { echo "!! the peer QLoRA benchmark failed"; status=1; }
exit $status
