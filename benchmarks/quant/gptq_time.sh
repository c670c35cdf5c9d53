#!/usr/bin/env bash
# GPTQ export time for a Qwen2.5-0.5B-shaped model (random weights: GPTQ's cost does not depend on the values) on
# this machine: the per-layer progress lines, the per-linear table and the total, as `jswift export` prints them.
#
#   benchmarks/quant/gptq_time.sh [N_SAMPLES] [MAX_LENGTH]     (defaults 32 and 512)
#
# Needs the benchmarks jar (mvn -DskipTests package) for the random model and the fetched Qwen3 tokenizer
# (java/target/test-fixtures, fetched by the build) for the calibration rows of jswift/quickstart-sft.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
samples="${1:-32}"
length="${2:-512}"
random="$root/target/qwen2.5-0.5b-random"
model="$root/target/qwen2.5-0.5b-gptq-src"
out="$root/target/qwen2.5-0.5b-gptq-int4"
if [ ! -f "$random/model.safetensors" ]; then
  java -Xss4m -Dorg.bytedeco.javacpp.cachedir="$root/target/javacpp-cache" \
    -cp "$root/benchmarks/target/jswift-benchmarks.jar" jswift.bench.RandomModel "$random"
fi
mkdir -p "$model"
cp "$random/config.json" "$model/"
ln -sf "$random/model.safetensors" "$model/model.safetensors"
cp "$root/java/target/test-fixtures/tokenizers/qwen3/"tokenizer*.json "$model/"
rm -rf "$out"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
"$root/jswift" export --model "$model" --quant_method gptq --quant_bits 4 --group_size 128 \
  --dataset jswift/quickstart-sft --quant_n_samples "$samples" --max_length "$length" --output_dir "$out" --device cpu
