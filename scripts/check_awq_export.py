#!/usr/bin/env python3
"""Developer check (not part of the build): a `jswift export --quant_method awq` folder, read by the Python stack
it is meant for.

    ./jswift export --model models/jswift-tiny-chat --quant_method awq --quant_bits 4 --group_size 64 \
        --dataset calib.jsonl --max_length 256 --output_dir /tmp/tiny-awq
    python3 scripts/check_awq_export.py /tmp/tiny-awq models/jswift-tiny-chat

Always (torch + safetensors + transformers): the keys, dtypes and shapes must be AutoAWQ's GEMM layout
(qweight int32 [in, out/8], qzeros int32 [in/group, out/8], scales f16 [in/group, out], no dense weight), and
config.json's quantization_config AutoAWQ's. Every linear is dequantized with AutoAWQ's own torch formula
(awq/utils/packing_utils.py: unpack by shifts 0, 4, ..., 28, undo the [0, 2, 4, 6, 1, 3, 5, 7] interleave with
the reverse order [0, 4, 1, 5, 2, 6, 3, 7], (q - z) * s); a transformers model of the original architecture then
gets those weights plus the folder's f16 norms (which carry AWQ's folded scales) and embeddings, and its logits
must stay close to the original model's (relative RMS error below 0.15 at 4 bits): a wrong interleave, zero
packing or scale folding gives unrelated logits. When gptqmodel (what transformers 5 needs for AWQ) is installed,
transformers also loads the folder itself and its logits must match the dequantized model's (1e-2 absolute: the
AWQ kernels run in f16). Says what it could not run. Exits 1 if any comparison fails.
"""
import importlib.util
import json
import os
import sys

import torch
from safetensors.torch import load_file

REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]


def load_dir(d):
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            out.update(load_file(os.path.join(d, f)))
    return out


def unpack(words):
    """AutoAWQ's unpack_awq + reverse_awq_order: int32 [r, c] -> int [r, 8c] in natural output order."""
    shifts = torch.arange(0, 32, 4, dtype=torch.int32)
    x = torch.bitwise_right_shift(words[:, :, None], shifts[None, None, :]).to(torch.int8)
    x = x.view(words.shape[0], -1)
    idx = torch.arange(x.shape[-1], dtype=torch.int64).view(-1, 8)[:, REVERSE_ORDER].view(-1)
    return torch.bitwise_and(x[:, idx], 0xF).to(torch.int64)


def dequantize(qweight, qzeros, scales, group):
    q, z = unpack(qweight), unpack(qzeros)
    z = z.repeat_interleave(group, dim=0)
    s = scales.float().repeat_interleave(group, dim=0)
    return ((q - z).float() * s).t().contiguous()  # [out, in]


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    qdir, mdir = sys.argv[1], sys.argv[2]
    failures = []
    cfg = json.load(open(os.path.join(qdir, "config.json")))
    qc = cfg["quantization_config"]
    for k, v in {"quant_method": "awq", "bits": 4, "zero_point": True, "version": "gemm"}.items():
        if qc.get(k) != v:
            failures.append(f"quantization_config.{k} = {qc.get(k)!r}, want {v!r}")
    group = qc["group_size"]
    q = load_dir(qdir)
    base = load_dir(mdir)
    state = {}
    linears = 0
    for name, t in base.items():
        if name.endswith("_proj.weight"):
            p = name[: -len(".weight")]
            out_f, in_f = t.shape
            want = {".qweight": (torch.int32, (in_f, out_f // 8)), ".qzeros": (torch.int32, (in_f // group, out_f // 8)),
                    ".scales": (torch.float16, (in_f // group, out_f))}
            for suf, (dt, shape) in want.items():
                got = q.get(p + suf)
                if got is None or got.dtype != dt or tuple(got.shape) != shape:
                    failures.append(f"{p + suf}: {None if got is None else (got.dtype, tuple(got.shape))}, want {(dt, shape)}")
            if p + ".weight" in q:
                failures.append(f"{p}.weight is stored dense")
            state[name] = dequantize(q[p + ".qweight"], q[p + ".qzeros"], q[p + ".scales"], group)
            linears += 1
        else:
            if q[name].dtype != torch.float16:
                failures.append(f"{name} is {q[name].dtype}, want float16")
            state[name] = q[name].float()
    print(f"{linears} linears dequantized with AutoAWQ's formula (group_size {group})")

    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.from_pretrained(mdir)
    ref = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32).eval()
    deq = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    missing, unexpected = deq.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        failures.append(f"state dict: missing {missing}, unexpected {unexpected}")
    if config.tie_word_embeddings:
        deq.tie_weights()
    ids = torch.randint(0, config.vocab_size, (2, 48), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want, got = ref(ids).logits, deq(ids).logits
    rel = ((got - want).pow(2).mean().sqrt() / want.pow(2).mean().sqrt()).item()
    print(f"transformers, dequantized AWQ folder vs original model: relative RMS logit error {rel:.4f}")
    if not rel < 0.15:
        failures.append(f"relative RMS logit error {rel:.4f} >= 0.15")

    if importlib.util.find_spec("gptqmodel") is None:
        print("not run: loading the folder with transformers' AWQ integration (gptqmodel is not installed)")
    else:
        awq = AutoModelForCausalLM.from_pretrained(qdir).eval()
        with torch.no_grad():
            direct = awq(ids.to(awq.device)).logits.float().cpu()
        diff = (direct - got).abs().max().item()
        print(f"transformers AWQ loader vs dequantized model: max |logit diff| {diff:.3g}")
        if diff > 1e-2:
            failures.append(f"transformers' AWQ loader differs by {diff:.3g}")
    for f in failures:
        print("FAIL:", f)
    print("OK" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
