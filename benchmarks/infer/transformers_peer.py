#!/usr/bin/env python3
"""The transformers peer of jswift.bench.InferenceBench: prefill of a 512-token prompt and 64 greedily decoded
tokens (KV cache) for the same model folder, fp32 on the CPU with the same thread count; median of 3 after a
warm-up. Prints one JSON line.   transformers_peer.py MODEL_DIR [prompt] [new] [threads]"""
import json
import statistics
import sys
import time

import torch
from transformers import AutoModelForCausalLM

model_dir = sys.argv[1]
prompt_len = int(sys.argv[2]) if len(sys.argv) > 2 else 512
new_tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 64
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 2)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
prompt = torch.tensor([[1000 + (i * 7919) % 100000 for i in range(prompt_len)]])
prefill, decode = [], []
with torch.inference_mode():
    for run in range(4):
        t0 = time.perf_counter()
        out = model(prompt, use_cache=True)
        t1 = time.perf_counter()
        past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
        for _ in range(new_tokens - 1):
            out = model(nxt, past_key_values=past, use_cache=True)
            past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
        t2 = time.perf_counter()
        if run > 0:
            prefill.append(prompt_len / (t1 - t0))
            decode.append((new_tokens - 1) / (t2 - t1))
print(json.dumps({"impl": "transformers " + __import__("transformers").__version__ + ", torch " + torch.__version__,
                  "prefill_tokens_per_s": round(statistics.median(prefill), 2),
                  "decode_tokens_per_s": round(statistics.median(decode), 2)}))
