#!/usr/bin/env python3
"""Writes java/src/test/resources/fixtures/safetensors-golden/: files saved by safetensors and transformers
themselves, which jswift's SafetensorsWriter / CheckpointWriter must reproduce byte for byte.

Needs torch, safetensors and transformers (developer machine only; the Java build never runs this):
    python3 -m pip install torch safetensors transformers
    python3 scripts/make_safetensors_golden.py

Outputs (see the README.md it writes next to them):
  mixed.safetensors      one tensor of every byte-sized dtype, odd names, a 0-d and an empty tensor, {"format": "pt"}
  nometa.safetensors     two float tensors, no metadata (no __metadata__ key at all)
  values.safetensors     float32 / bfloat16 / float16 tensors whose values the Java test rebuilds from the formula
  sharded/               llama-gqa's model.save_pretrained(max_shard_size="200KB"): the index and the sha256 of
                         each shard
"""
import hashlib
import json
import os
import sys
import tempfile

import safetensors
import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "java/src/test/resources/fixtures/safetensors-golden")
LLAMA = os.path.join(ROOT, "java/src/test/resources/fixtures/hf-tiny/llama-gqa")


def counting(n, dtype):
    """Distinct, deterministic bytes per tensor: 0, 1, 2, ... wrapped to the dtype's range."""
    if dtype == torch.bool:
        return (torch.arange(n) % 2).to(torch.bool)
    if dtype.is_floating_point and dtype.itemsize == 1:
        return (torch.arange(n, dtype=torch.float32) / 8).to(dtype)
    if dtype == torch.complex64:
        return torch.complex(torch.arange(n, dtype=torch.float32), -torch.arange(n, dtype=torch.float32))
    if dtype.is_floating_point:
        return (torch.arange(n, dtype=torch.float64) * 0.25 - 1).to(dtype)
    return (torch.arange(n, dtype=torch.int64) * 37 - 50).remainder(100).to(dtype)


def main():
    os.makedirs(os.path.join(OUT, "sharded"), exist_ok=True)
    dtypes = {
        "bool": torch.bool, "u8": torch.uint8, "i8": torch.int8, "f8_e5m2": torch.float8_e5m2,
        "f8_e4m3": torch.float8_e4m3fn, "f8_e8m0": torch.float8_e8m0fnu, "f8_e4m3fnuz": torch.float8_e4m3fnuz,
        "f8_e5m2fnuz": torch.float8_e5m2fnuz, "i16": torch.int16, "u16": torch.uint16, "f16": torch.float16,
        "bf16": torch.bfloat16, "i32": torch.int32, "u32": torch.uint32, "f32": torch.float32,
        "c64": torch.complex64, "f64": torch.float64, "i64": torch.int64, "u64": torch.uint64,
    }
    mixed = {}
    for i, (name, dt) in enumerate(dtypes.items()):
        shape = (2, 3) if i % 2 == 0 else (5,)
        # Names out of order, with characters JSON must escape and non-ASCII ones, so both orders are exercised.
        key = {"f32": "z.layer.10.w", "bf16": "a\"quote\\back", "i64": "é.unicode", "u8": "ctl\tchar"}.get(name, name)
        mixed[key] = counting(shape[0] * (shape[1] if len(shape) > 1 else 1), dt).reshape(shape)
    mixed["scalar"] = torch.tensor(1.5, dtype=torch.float32)
    mixed["empty"] = torch.zeros((2, 0), dtype=torch.float32)
    mixed["z.layer.9.w"] = counting(3, torch.float32)
    save_file(mixed, os.path.join(OUT, "mixed.safetensors"), metadata={"format": "pt"})

    save_file({"b": counting(4, torch.float32), "a": counting(3, torch.float16)}, os.path.join(OUT, "nometa.safetensors"))

    values = {
        "w.f32": counting(12, torch.float32).reshape(3, 4),
        "w.bf16": counting(10, torch.bfloat16).reshape(2, 5),
        "w.f16": counting(7, torch.float16),
    }
    save_file(values, os.path.join(OUT, "values.safetensors"), metadata={"format": "pt"})

    model = AutoModelForCausalLM.from_pretrained(LLAMA)
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d, max_shard_size="200KB")
        shards = sorted(f for f in os.listdir(d) if f.startswith("model-"))
        digests = {f: hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest() for f in shards}
        index = open(os.path.join(d, "model.safetensors.index.json"), "rb").read()
    open(os.path.join(OUT, "sharded/model.safetensors.index.json"), "wb").write(index)
    json.dump({"max_shard_size": "200KB", "sha256": digests},
              open(os.path.join(OUT, "sharded/shards.json"), "w"), indent=2)

    readme = f"""# safetensors-golden

Files written by safetensors {safetensors.__version__} and transformers {transformers.__version__} (torch
{torch.__version__}), which jswift's `SafetensorsWriter` and `CheckpointWriter` must reproduce byte for byte
(`SafetensorsWriterTest`, `CheckpointWriterTest`). Regenerate with `python3 scripts/make_safetensors_golden.py`.

| file | what |
|---|---|
| `mixed.safetensors` | `save_file` of one tensor per byte-sized dtype (BOOL ... U64, F8 variants, C64), names that need JSON escapes or are non-ASCII, a 0-d and an empty tensor; metadata `{{"format": "pt"}}` |
| `nometa.safetensors` | `save_file` without metadata (no `__metadata__` key) |
| `values.safetensors` | f32 / bf16 / f16 tensors with values `0.25 * i - 1` (i = 0, 1, ...), rebuilt by the test from jswift Tensors |
| `sharded/model.safetensors.index.json` | `save_pretrained(max_shard_size="200KB")` of the llama-gqa fixture model |
| `sharded/shards.json` | the sha256 of each shard file of that call (the shards themselves are not stored) |

transformers 5 sorts the state dict by `dot_natural_key` (dot-separated parts, numbers compared as numbers)
before it splits it into shards, which is why `lm_head.weight` lands in the first shard.
"""
    open(os.path.join(OUT, "README.md"), "w").write(readme)
    print("wrote", OUT)


if __name__ == "__main__":
    sys.exit(main())
