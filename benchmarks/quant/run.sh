#!/usr/bin/env bash
# The quantization table (quantize issue): each method jswift exports, applied to the same model and scored on the
# same data: export time, size of the weights, and perplexity next to the unquantized model's.
#
#   benchmarks/quant/run.sh [MODEL_DIR] [METHOD...]
#       MODEL_DIR  default models/jswift-tiny-chat (the bundled quick-start model)
#       METHOD     any of: bnb bnb-nodq gptq4 gptq4-g128 gptq8 awq fp8 (default: all)
#
# Calibration (GPTQ, AWQ): 128 rows of jswift/quickstart-sft in 512-token blocks. Perplexity: every row of
# jswift/quickstart-sft in 512-token blocks (`jswift eval`), every token scored (system prompt and questions too,
# not only the answers). The bundled model was chat-tuned on that dataset and GPTQ/AWQ calibrate on part of it:
# what the table compares is how far each method moves the model's perplexity, not how good the model is.
# Group size 64 by default, because the bundled model's intermediate size (704) is not a multiple of 128, which
# AWQ requires. Prints a Markdown table and writes it to target/quant/table.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
model="${1:-$root/models/jswift-tiny-chat}"
shift $(( $# > 0 ? 1 : 0 )) || true
methods=("$@")
[ ${#methods[@]} -eq 0 ] && methods=(bnb bnb-nodq gptq4 gptq4-g128 gptq8 awq fp8)
out="$root/target/quant"
rm -rf "$out"
mkdir -p "$out"
calib=(--dataset jswift/quickstart-sft --quant_n_samples 128 --max_length 512)
evaluate() {  # evaluate NAME DIR: perplexity JSON into $out/NAME.ppl.json
  "$root/jswift" eval --model "$2" --eval_dataset jswift/quickstart-sft --max_length 512 --device cpu \
    --result_path "$out/$1.ppl.json" > "$out/$1.eval.log"
}
flags() {
  case "$1" in
    bnb) echo "--quant_method bnb --quant_bits 4 --bnb_4bit_use_double_quant true" ;;
    bnb-nodq) echo "--quant_method bnb --quant_bits 4 --bnb_4bit_use_double_quant false" ;;
    gptq4) echo "--quant_method gptq --quant_bits 4 --group_size 64 ${calib[*]}" ;;
    gptq4-g128) echo "--quant_method gptq --quant_bits 4 --group_size 128 ${calib[*]}" ;;
    gptq8) echo "--quant_method gptq --quant_bits 8 --group_size 64 ${calib[*]}" ;;
    awq) echo "--quant_method awq --quant_bits 4 --group_size 64 ${calib[*]}" ;;
    fp8) echo "--quant_method fp8" ;;
    *) echo "unknown method $1" >&2; return 1 ;;
  esac
}

echo "== fp (unquantized) =="
evaluate fp "$model"
for m in "${methods[@]}"; do
  echo "== $m =="
  f="$(flags "$m")"
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$root/jswift" export --model "$model" $f --output_dir "$out/$m" --device cpu > "$out/$m.export.log" 2>&1 \
    || { echo "export $m failed:"; tail -5 "$out/$m.export.log"; continue; }
  end=$(date +%s.%N)
  echo "$start $end" > "$out/$m.time"
  evaluate "$m" "$out/$m"
done

python3 - "$out" "$model" "${methods[@]}" <<'PY'
import json, os, sys
out, model, methods = sys.argv[1], sys.argv[2], sys.argv[3:]
def weights_mb(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".safetensors")) / 1e6
fp = json.load(open(f"{out}/fp.ppl.json"))
rows = ["| method | export (s) | weights (MB) | perplexity | mean NLL (nats) | vs fp |", "|---|---|---|---|---|---|",
        f"| fp ({os.path.basename(model.rstrip('/'))}) | – | {weights_mb(model):.2f} | {fp['perplexity']:.4f} | "
        f"{fp['mean_nll']:.5f} | – |"]
for m in methods:
    p = f"{out}/{m}.ppl.json"
    if not os.path.exists(p):
        rows.append(f"| {m} | failed | | | | |")
        continue
    r = json.load(open(p))
    start, end = map(float, open(f"{out}/{m}.time").read().split())
    rows.append(f"| {m} | {end - start:.1f} | {weights_mb(f'{out}/{m}'):.2f} | {r['perplexity']:.4f} | "
                f"{r['mean_nll']:.5f} | {r['perplexity'] / fp['perplexity']:.4f}x |")
table = "\n".join(rows)
print(table)
open(f"{out}/table.md", "w").write(table + "\n")
PY
echo "export time includes the JVM start and loading the model (one process per export)"
