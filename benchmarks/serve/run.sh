#!/usr/bin/env bash
# Serving throughput (jswift deploy) under concurrent clients: generated tokens/s and mean latency with requests
# batched (--max_batch_size = clients) against one request at a time (the peer: max_batch_size 1), same run.
#   benchmarks/serve/run.sh [MODEL_DIR [CLIENTS [REQUESTS_PER_CLIENT [MAX_TOKENS]]]]
# after mvn -B -DskipTests package. MODEL_DIR defaults to a Qwen2.5-0.5B-shaped random model (created if missing,
# ~2 GB) with the Qwen3 tokenizer the build fetched; any model folder with a tokenizer works
# (models/jswift-tiny-chat for a quick look).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
model="${1:-$root/target/qwen2.5-0.5b-random-chat}"
clients="${2:-8}" requests="${3:-1}" max_tokens="${4:-32}"
cp="$root/benchmarks/target/jswift-benchmarks.jar"
java_opts=(-Xss4m -Dorg.bytedeco.javacpp.cachedir="$root/target/javacpp-cache")
if [ ! -f "$model/model.safetensors" ]; then
  java "${java_opts[@]}" -cp "$cp" jswift.bench.RandomModel "$model"
fi
if [ ! -f "$model/tokenizer.json" ]; then
  tokenizer="$root/java/target/test-fixtures/tokenizers/qwen3"
  [ -f "$tokenizer/tokenizer.json" ] || { echo "no tokenizer in $model, and $tokenizer is missing (mvn verify fetches it)" >&2; exit 1; }
  cp "$tokenizer"/tokenizer*.json "$model/"
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
java "${java_opts[@]}" -cp "$cp" jswift.bench.ServeBench "$model" "$clients" "$requests" "$max_tokens"
