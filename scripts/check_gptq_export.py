#!/usr/bin/env python3
"""Developer check (not part of the build): a `jswift export --quant_method gptq` folder, read by the Python stack
it is meant for.

1. Let the Java test write a quantized folder and the model it came from (the tiny Qwen3 of TinyModels, 4 bits,
   group_size 16):
       mvn -B test -pl java -am -Djswift.native.tests=false -Dtest='GptqExportTest' \
           -Dsurefire.failIfNoSpecifiedTests=false -Djswift.gptq.export=$PWD/java/target/gptq-export
   (or point it at any `jswift export --quant_method gptq` output and its --model folder).
2. python3 scripts/check_gptq_export.py java/target/gptq-export/quantized java/target/gptq-export/model

Always (torch + safetensors): every quantized linear is dequantized with AutoGPTQ's own reference formula
(QuantLinear of qlinear_cuda_old, its torch path: shifts by wf, `zeros + 1` then `& (2**bits - 1)`, g_idx
gather of scales and zeros), and must be close to the original weight (relative Frobenius error below 0.25 at 4
bits, 0.02 at 8 bits: GPTQ trades weight error for output error); the keys, dtypes and shapes must be AutoGPTQ's. When gptqmodel or auto_gptq is
installed, transformers also loads the folder (AutoModelForCausalLM) and its logits must match those of the fp32
model whose linears hold the dequantized weights (1e-2 absolute: the GPTQ kernels run in fp16). Says what it
could not run. Exits 1 if any comparison fails.
"""
import importlib.util
import json
import os
import sys

import torch
from safetensors.torch import load_file


def load_dir(d):
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            out.update(load_file(os.path.join(d, f)))
    return out


def autogptq_dequant(qweight, qzeros, scales, g_idx, bits):
    """AutoGPTQ qlinear_cuda_old's torch dequantization, written out for one layer: W^T [in, out] in fp32."""
    wf = torch.tensor(list(range(0, 32, bits)), dtype=torch.int32).unsqueeze(0)
    small = torch.int16 if bits == 8 else torch.int8
    zeros = torch.bitwise_right_shift(torch.unsqueeze(qzeros, 2).expand(-1, -1, 32 // bits), wf.unsqueeze(0)).to(small)
    zeros = zeros + 1
    zeros = torch.bitwise_and(zeros, (2 ** bits) - 1)
    zeros = zeros.reshape(zeros.shape[0], zeros.shape[1] * zeros.shape[2])
    weight = torch.bitwise_right_shift(torch.unsqueeze(qweight, 1).expand(-1, 32 // bits, -1), wf.unsqueeze(-1)).to(small)
    weight = torch.bitwise_and(weight, (2 ** bits) - 1)
    weight = weight.reshape(weight.shape[0] * weight.shape[1], weight.shape[2])
    g = g_idx.long()
    return scales.float()[g] * (weight.float() - zeros.float()[g])


def main(quantized, original):
    cfg = json.load(open(os.path.join(quantized, "config.json")))
    qc = cfg["quantization_config"]
    assert qc["quant_method"] == "gptq" and qc.get("checkpoint_format", "gptq") == "gptq", qc
    bits, group = qc["bits"], qc["group_size"]
    qcfg = json.load(open(os.path.join(quantized, "quantize_config.json")))
    for k in ("bits", "group_size", "desc_act", "sym", "damp_percent"):
        assert qcfg[k] == qc[k], (k, qcfg[k], qc[k])
    q, base = load_dir(quantized), load_dir(original)
    failures, worst = 0, 0.0
    tol = 0.25 if bits == 4 else 0.02
    modules = sorted(k[: -len(".qweight")] for k in q if k.endswith(".qweight"))
    dequantized = {}
    for m in modules:
        qw, qz, sc, gi = q[m + ".qweight"], q[m + ".qzeros"], q[m + ".scales"], q[m + ".g_idx"]
        w = base[m + ".weight"].float()
        out_f, in_f = w.shape
        groups = 1 if group == -1 else -(-in_f // group)
        shapes_ok = (qw.dtype == torch.int32 and tuple(qw.shape) == (in_f * bits // 32, out_f)
                     and qz.dtype == torch.int32 and tuple(qz.shape) == (groups, out_f * bits // 32)
                     and sc.dtype == torch.float16 and tuple(sc.shape) == (groups, out_f)
                     and gi.dtype == torch.int32 and tuple(gi.shape) == (in_f,))
        deq = autogptq_dequant(qw, qz, sc, gi, bits).t()
        dequantized[m] = deq
        rel = ((deq - w).norm() / w.norm()).item()
        worst = max(worst, rel)
        if not shapes_ok or not rel < tol:
            failures += 1
            print(f"FAIL {m}: shapes ok {shapes_ok}, relative error {rel:.4f} (tolerance {tol})")
    print(f"{len(modules)} GPTQ linears: keys/dtypes/shapes checked, AutoGPTQ dequantization within "
          f"{worst:.4f} relative of the original weights")

    if importlib.util.find_spec("gptqmodel") is None and importlib.util.find_spec("auto_gptq") is None:
        print("NOT RUN: transformers loading (neither gptqmodel nor auto_gptq is installed)")
    else:
        from transformers import AutoModelForCausalLM
        qm = AutoModelForCausalLM.from_pretrained(quantized, device_map="auto")
        ref = AutoModelForCausalLM.from_pretrained(original, torch_dtype=torch.float32)
        sd = ref.state_dict()
        for m, deq in dequantized.items():
            sd[m + ".weight"].copy_(deq.to(sd[m + ".weight"].dtype))
        ids = torch.arange(1, 17).unsqueeze(0)
        with torch.no_grad():
            a = qm(ids.to(qm.device)).logits.float().cpu()
            b = ref(ids).logits.float()
        diff = (a - b).abs().max().item()
        print(f"transformers logits vs the dequantized fp32 model: max |diff| {diff:.3g}")
        if not diff < 1e-2:
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
