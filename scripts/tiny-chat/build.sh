#!/usr/bin/env bash
# Rebuilds models/jswift-tiny-chat from scratch on the CPU, with jswift itself: corpus, tokenizer, random
# initialisation, pre-training (jswift pt --train_type full), then a short full-parameter chat fine-tune (jswift sft)
# on the bundled jswift/quickstart-sft. models/jswift-tiny-chat/README.md records the run that made the shipped
# model (losses, times). Needs npm (the corpus), python3 with `tokenizers` (the tokenizer) and the jswift build.
#
#   scripts/tiny-chat/build.sh [WORK_DIR [OUT_DIR]]    (defaults: build/tiny-chat, models/jswift-tiny-chat)
#
# Every stage whose output already exists is skipped, so an interrupted build continues where it stopped (pt and
# sft resume from their last checkpoint). One OpenMP thread: on a small shared machine, two threads that keep
# waiting for each other in OpenMP barriers were several times slower than one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/scripts/tiny-chat"
work="$(realpath -m "${1:-$root/build/tiny-chat}")"
out="$(realpath -m "${2:-$root/models/jswift-tiny-chat}")"
jswift=("$root/jswift")
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

PT_STEPS="${PT_STEPS:-2400}"
SFT_STEPS="${SFT_STEPS:-300}"

last_checkpoint() {  # the newest checkpoint-K of a run folder, or nothing
  { ls -d "$1"/checkpoint-* 2>/dev/null || true; } | { grep -E 'checkpoint-[0-9]+$' || true; } | sort -V | tail -n 1
}

# 1. Corpus: Moby-Dick and the State of the Union addresses (public domain), one paragraph per line.
"$here/fetch-corpus.sh" "$work/corpus"

# 2. Tokenizer (byte-level BPE, 8192 tokens) and 3. random weights for config.json.
if [ ! -f "$work/init/model.safetensors" ]; then
  rm -rf "$work/init"
  python3 "$here/train_tokenizer.py" --out "$work/init" --vocab-size 8192 --eos '<|endoftext|>' \
    "$work/corpus/train.txt" "$root/java/src/main/resources/jswift/data/quickstart-sft.jsonl"
  cp "$here/config.json" "$work/init/config.json"
  printf '{\n  "bos_token_id": 0,\n  "eos_token_id": 0,\n  "pad_token_id": 0\n}\n' > "$work/init/generation_config.json"
  "${jswift[@]}" init-model --model "$work/init" --seed 0
fi

# 4. Pre-training: every weight, plain text, 256-token packed rows, 8 rows (2048 tokens) a step.
pt_run="$work/pt/init"
if [ ! -d "$pt_run/checkpoint-$PT_STEPS" ]; then
  resume=()
  ckpt="$(last_checkpoint "$pt_run")"
  [ -n "$ckpt" ] && resume=(--resume_from_checkpoint "$ckpt")
  "${jswift[@]}" pt --model "$work/init" --train_type full --device cpu \
    --dataset "$work/corpus/train.txt" --val_dataset "$work/corpus/valid.txt" \
    --max_length 256 --packing true --per_device_train_batch_size 8 --gradient_accumulation_steps 1 \
    --learning_rate 2e-3 --warmup_steps 100 --lr_scheduler_type cosine --weight_decay 0.1 \
    --max_steps "$PT_STEPS" --save_steps 400 --save_total_limit 2 --logging_steps 50 \
    --gradient_checkpointing false --output_dir "$work/pt" --add_version false "${resume[@]}"
fi
[ "${STOP_AFTER:-}" = pt ] && exit 0

# 5. The pre-trained base as a chat model's folder: same weights, <|im_end|> ends a turn (Qwen2.5 base -> instruct).
if [ ! -f "$work/base-chat/model.safetensors" ]; then
  python3 "$here/chat_folder.py" "$pt_run/checkpoint-$PT_STEPS" "$work/base-chat"
fi

# 6. Chat fine-tune: every weight, the bundled English conversations (template qwen, loss on the answers).
sft_run="$work/sft/base-chat"
if [ ! -d "$sft_run/checkpoint-$SFT_STEPS" ]; then
  resume=()
  ckpt="$(last_checkpoint "$sft_run")"
  [ -n "$ckpt" ] && resume=(--resume_from_checkpoint "$ckpt")
  "${jswift[@]}" sft --model "$work/base-chat" --train_type full --device cpu --dataset jswift/quickstart-sft \
    --per_device_train_batch_size 8 --gradient_accumulation_steps 1 --learning_rate 5e-4 --warmup_steps 20 \
    --max_steps "$SFT_STEPS" --save_steps 100 --save_total_limit 1 --logging_steps 20 \
    --gradient_checkpointing false --output_dir "$work/sft" --add_version false "${resume[@]}"
fi

# 7. The shipped folder: the Hugging Face files of the last checkpoint (no optimizer state or run records).
python3 "$here/chat_folder.py" --export "$sft_run/checkpoint-$SFT_STEPS" "$out"
echo "build: $out"
