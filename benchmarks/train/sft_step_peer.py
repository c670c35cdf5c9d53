#!/usr/bin/env python3
"""The transformers + PEFT peer of jswift.bench.SftStepBench: one LoRA SFT step (batch 1, a SEQ-token row with
every token labelled, LoRA r=8 alpha=32 dropout 0.05 on all linear layers, forward + backward + AdamW) on the same
model folder, fp32 on the CPU with the same thread count. Median step time of STEPS steps after 2 warm-up steps;
peak RSS of the process (ru_maxrss, model load included). Prints one JSON line.
    sft_step_peer.py MODEL_DIR [seq] [steps] [threads] [checkpointing]"""
import json
import resource
import statistics
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

model_dir = sys.argv[1]
seq = int(sys.argv[2]) if len(sys.argv) > 2 else 512
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 2)
checkpointing = len(sys.argv) > 5 and sys.argv[5] == "true"
torch.manual_seed(42)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
if checkpointing:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                         task_type="CAUSAL_LM"))
model.train()
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.1)
vocab = model.config.vocab_size
ids = torch.tensor([[(1000 + i * 7919) % vocab for i in range(seq)]])
times = []
for step in range(steps + 2):
    t0 = time.perf_counter()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    t1 = time.perf_counter()
    if step >= 2:
        times.append(t1 - t0)
median = statistics.median(times)
print(json.dumps({"impl": "transformers " + __import__("transformers").__version__ + " + peft "
                  + __import__("peft").__version__ + ", torch " + torch.__version__, "mode": "lora",
                  "checkpointing": checkpointing, "tokens_per_s": round(seq / median, 2), "step_s": round(median, 3),
                  "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1048576, 3),
                  "loss": round(loss.item(), 4)}))
