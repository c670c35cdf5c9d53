#!/usr/bin/env python3
"""The transformers + PEFT peer of jswift.bench.QloraStepBench, on the GPU: a model with random weights built
from a config.json (no download), a LoRA SFT step (batch 1, SEQ tokens all labelled, r=16 alpha=32 dropout 0.05 on
all linear layers, gradient checkpointing, AdamW) and greedy decode at several batch sizes. The base is bf16 with
torch's SDPA attention: bitsandbytes is not installed on the GPU machine, so the peer cannot run an NF4 base.
Prints (and with --json writes) one JSON object: step tokens/s, peak GPU memory, decode tokens/s per batch.

    qlora_peer.py --config models/llama3-8b.json [--seq 2048] [--rank 16] [--steps 5] [--decode-batches 1,16]
                  [--decode-tokens 64] [--json OUT] [--cpu | --dry-run]
--cpu runs it on the CPU in fp32 (with a tiny config: a check of the peer itself where torch is installed);
--dry-run never imports torch and writes placeholder numbers, so the GPU script's logic can be checked anywhere.
"""
import argparse
import json
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--decode-batches", default="1,16")
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--json")
    ap.add_argument("--cpu", action="store_true")
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args()
    if a.dry_run:
        emit(a, {"impl": "dry-run placeholder", "base": "none", "device": "none", "seq": a.seq, "rank": a.rank,
                 "step_s": 1.0, "tokens_per_s": float(a.seq), "loss": None, "peak_memory_gib": 1.0,
                 "decode": [{"batch": int(b), "tokens_per_s": 1.0, "first_token_s": 1.0}
                            for b in a.decode_batches.split(",") if b]})
        return

    import torch
    import transformers
    import peft
    from transformers import AutoConfig, AutoModelForCausalLM

    dev = torch.device("cpu" if a.cpu else "cuda")
    dtype = torch.float32 if a.cpu else torch.bfloat16
    sync = (lambda: None) if a.cpu else torch.cuda.synchronize
    torch.manual_seed(0)
    cfg = AutoConfig.from_pretrained(a.config)
    with dev:
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype, attn_implementation="sdpa")
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model = peft.get_peft_model(model, peft.LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.05,
                                                       target_modules="all-linear", task_type="CAUSAL_LM"))
    # fp32 master weights for what is trained (what jswift keeps too)
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.1, fused=not a.cpu)
    vocab = cfg.vocab_size
    ids = torch.tensor([[(1000 + i * 7919) % vocab for i in range(a.seq)]], device=dev)
    if not a.cpu:
        torch.cuda.reset_peak_memory_stats()
    times, loss = [], None
    for step in range(a.steps + 2):
        sync()
        t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=dtype, enabled=not a.cpu):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        took = time.perf_counter() - t0
        if step >= 2:
            times.append(took)
        print(f"{'timed' if step >= 2 else 'warm-up'} step {step - 1 if step >= 2 else step + 1}: {took:.3f} s, "
              f"loss {loss.item():.4f}", file=sys.stderr, flush=True)
    step_s = statistics.median(times)
    out = {"impl": f"transformers {transformers.__version__} + peft {peft.__version__}, torch {torch.__version__}",
           "base": "bf16 (no bitsandbytes on this machine)" if not a.cpu else "fp32 (cpu dry run)",
           "device": torch.cuda.get_device_name() if not a.cpu else "cpu",
           "seq": a.seq, "rank": a.rank, "step_s": round(step_s, 4), "tokens_per_s": round(a.seq / step_s, 2),
           "loss": round(loss.item(), 4),
           "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if not a.cpu else None,
           "decode": []}
    emit(a, out, quiet=True)  # now too, so a run stopped during decode keeps the step's numbers

    model.eval()
    with torch.inference_mode():
        for b in [int(x) for x in a.decode_batches.split(",") if x]:
            prompt = torch.tensor([[(7 + r * 131 + i * 7919) % vocab for i in range(a.prompt)] for r in range(b)],
                                  device=dev)
            runs, first_token = [], None
            for run in range(2):
                sync()
                t0 = time.perf_counter()
                o = model(input_ids=prompt, use_cache=True)
                sync()
                t1 = time.perf_counter()
                past, nxt = o.past_key_values, o.logits[:, -1:].argmax(-1)
                for _ in range(a.decode_tokens - 1):
                    with torch.autocast(dev.type, dtype=dtype, enabled=not a.cpu):
                        o = model(input_ids=nxt, past_key_values=past, use_cache=True)
                    past, nxt = o.past_key_values, o.logits[:, -1:].argmax(-1)
                sync()
                t2 = time.perf_counter()
                if run > 0:
                    runs.append(b * (a.decode_tokens - 1) / (t2 - t1))
                    first_token = t1 - t0  # the prompts' prefill, whose logits give the first token
            out["decode"].append({"batch": b, "tokens_per_s": round(statistics.median(runs), 2),
                                  "first_token_s": round(first_token, 4)})
            print(f"decode batch {b}: {out['decode'][-1]['tokens_per_s']} tokens/s", file=sys.stderr, flush=True)
            emit(a, out, quiet=True)
    emit(a, out)


def emit(a, out, quiet=False):
    text = json.dumps(out)
    if not quiet:
        print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
