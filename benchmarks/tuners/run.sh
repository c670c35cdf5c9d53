#!/usr/bin/env bash
# The tuner table (memory-efficient training issue): every tuning method jswift has, on the same small model and
# data, on the CPU: trainable parameters, optimizer state, peak memory (weights + training), tokens/s and the
# training loss after N steps, as ms-swift's README tabulates its tuners.
#
#   benchmarks/tuners/run.sh [MODEL_DIR] [STEPS] [METHOD...]
#       MODEL_DIR  default models/jswift-tiny-chat (the bundled quick-start model)
#       STEPS      default 40 (batch 8, seq <= 512, swift/self-cognition: data the bundled model has not seen)
#       METHOD     any of: lora lora+ rslora dora pissa olora vera adalora ia3 boft fourierft bone lora-neftune
#                  lora-embedding longlora adapter reft full
#                  galore galore-per-param q-galore lisa llamapro (default: all)
#
# Prints a Markdown table (and writes target/tuners/table.md). Every method runs at the same learning rate
# (LR, default 1e-3: ms-swift's defaults, 1e-4 / 1e-5, barely move anything in 40 steps), the same seed and data.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
model="${1:-$root/models/jswift-tiny-chat}"
steps="${2:-40}"
lr="${LR:-1e-3}"
shift $(( $# > 2 ? 2 : $# )) || true
methods=("$@")
[ ${#methods[@]} -eq 0 ] && methods=(lora lora+ rslora dora pissa olora vera adalora ia3 boft fourierft bone lora-neftune
  lora-embedding longlora adapter reft full galore
  galore-per-param q-galore lisa llamapro)
out="$root/target/tuners"
rm -rf "$out"
mkdir -p "$out"
layers="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['num_hidden_layers'])" "$model/config.json")"

flags() {  # the flags of one method
  case "$1" in
    lora) echo "--train_type lora" ;;
    lora+) echo "--train_type lora --lorap_lr_ratio 16" ;;
    rslora) echo "--train_type lora --use_rslora true" ;;
    dora) echo "--train_type lora --use_dora true" ;;
    pissa) echo "--train_type lora --init_weights pissa" ;;
    olora) echo "--train_type lora --init_weights olora" ;;
    vera) echo "--train_type vera" ;;
    adalora) echo "--train_type adalora" ;;
    ia3) echo "--train_type ia3" ;;
    boft) echo "--train_type boft" ;;
    fourierft) echo "--train_type fourierft" ;;
    bone) echo "--train_type bone" ;;
    lora-neftune) echo "--train_type lora --neftune_noise_alpha 5" ;;
    lora-embedding) echo "--train_type lora --target_modules all-linear all-embedding" ;;
    longlora) echo "--train_type longlora" ;;
    adapter) echo "--train_type adapter" ;;
    reft) echo "--train_type reft" ;;
    full) echo "--train_type full" ;;
    galore) echo "--train_type full --use_galore true --galore_rank 64 --galore_update_proj_gap 20" ;;
    # GaLore's per-layer update: no clipping (the global norm would need every gradient first)
    galore-per-param) echo "--train_type full --use_galore true --galore_rank 64 --galore_update_proj_gap 20 \
--galore_optim_per_parameter true --max_grad_norm 0" ;;
    q-galore) echo "--train_type full --use_galore true --galore_rank 64 --galore_update_proj_gap 20 \
--galore_quantization true --galore_proj_quant true" ;;
    lisa) echo "--train_type full --lisa_activated_layers $(( layers / 2 > 0 ? layers / 2 : 1 )) --lisa_step_interval 10" ;;
    llamapro) echo "--train_type llamapro --llamapro_num_new_blocks $(( layers / 2 > 0 ? layers / 2 : 1 ))" ;;
    *) echo "unknown method $1" >&2; return 1 ;;
  esac
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)" | tee "$out/machine.txt"
for m in "${methods[@]}"; do
  read -r -a f <<< "$(flags "$m")"
  echo "== $m: ${f[*]}"
  if OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" "$root/jswift" sft --model "$model" --dataset swift/self-cognition \
      --model_name jswift-bot --model_author "the jswift team" --learning_rate "$lr" \
      --max_steps "$steps" --per_device_train_batch_size 8 --gradient_accumulation_steps 1 --max_length 512 \
      --logging_steps 5 --save_steps 100000 --eval_steps 100000 --gradient_checkpointing false --device cpu \
      --report_memory true --output_dir "$out/$m" --add_version false --seed 42 "${f[@]}" > "$out/$m.log" 2>&1; then
    echo ok > "$out/$m.status"
  else
    echo "failed: $(tail -n 1 "$out/$m.log")" > "$out/$m.status"
  fi
  tail -n 2 "$out/$m.log"
done
python3 "$root/benchmarks/tuners/table.py" "$out" "${methods[@]}" | tee "$out/table.md"
