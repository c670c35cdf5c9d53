#!/usr/bin/env python3
"""Developer check (not part of the build): jswift-saved PEFT adapters and jswift-merged models, loaded by the
Python stack they are meant for, must give jswift's logits.

1. Let the Java tests write the inputs (a jswift-trained adapter saved by PeftAdapterWriter, the model LoraMerge
   merged from it, and jswift's logits for both), for the fixture's lora and rslora adapters:
       mvn -B test -pl java -am -Djswift.native.tests=false -Dtest='LoraMergeTest' \
           -Dsurefire.failIfNoSpecifiedTests=false -Djswift.export.parity=$PWD/java/target/export-parity
2. Run this with torch, transformers, peft and safetensors installed:
       python3 scripts/check_export_with_hf.py java/target/export-parity

Per adapter it loads the base named in adapter_config.json with transformers (fp32, eager attention),
applies the adapter with PeftModel.from_pretrained, loads the merged folder with AutoModelForCausalLM, and
compares logits on the fixture batch. It also checks that PEFT took every tensor of the adapter file (none
dropped as unexpected) and compares jswift's merged weights with PEFT's merge_and_unload(). Tolerance: the
llama-gqa fixture README's 1e-4 absolute for fp32 logits. Exits 1 if any comparison fails.
"""
import json
import os
import sys

import torch
from peft import PeftModel
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

TOL = 1e-4


def diff(name, got, want):
    got, want = got.double(), want.double()
    max_abs = (got - want).abs().max().item()
    rel = ((got - want).norm() / want.norm()).item()
    ok = max_abs <= TOL
    print(f"  {name:52s} max|diff| {max_abs:.3e}  rel-norm {rel:.3e}  {'ok' if ok else 'FAIL'}")
    return ok


def load(path):
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager").eval()


def check(case_dir):
    adapter, merged = os.path.join(case_dir, "adapter"), os.path.join(case_dir, "merged")
    base = json.load(open(os.path.join(adapter, "adapter_config.json")))["base_model_name_or_path"]
    ref = load_file(os.path.join(case_dir, "jswift_logits.safetensors"))
    ids, mask = ref["input_ids"], ref["attention_mask"]
    print(f"{os.path.basename(case_dir)}: base {base}")
    ok = True
    with torch.no_grad():
        peft_model = PeftModel.from_pretrained(load(base), adapter).eval()
        saved = load_file(os.path.join(adapter, "adapter_model.safetensors"))
        loaded = get_peft_model_state_dict(peft_model)
        same_keys = sorted(saved) == sorted(loaded)
        exact = same_keys and all(torch.equal(saved[k], loaded[k].cpu()) for k in saved)
        print(f"  adapter tensors loaded by PEFT: {len(loaded)} of {len(saved)}, bit-exact: {exact}")
        ok &= exact
        peft_logits = peft_model(input_ids=ids, attention_mask=mask).logits
        ok &= diff("jswift adapter logits vs transformers+PEFT", ref["adapter_logits"], peft_logits)
        hf_merged_logits = load(merged)(input_ids=ids, attention_mask=mask).logits
        ok &= diff("jswift merged logits vs transformers(merged folder)", ref["merged_logits"], hf_merged_logits)
        ok &= diff("transformers(merged folder) vs transformers+PEFT", hf_merged_logits, peft_logits)
        peft_merged = peft_model.merge_and_unload().state_dict()
        ours = {}
        for f in sorted(os.listdir(merged)):
            if f.endswith(".safetensors"):
                ours.update(load_file(os.path.join(merged, f)))
        worst = max((ours[k].double() - v.double()).abs().max().item() for k, v in peft_merged.items())
        names_ok = sorted(ours) == sorted(peft_merged)
        print(f"  merged weights vs PEFT merge_and_unload: same names {names_ok}, max|diff| {worst:.3e}")
        ok &= names_ok and worst <= 1e-6
    return ok


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "java/target/export-parity"
    cases = sorted(d for d in os.listdir(root) if os.path.exists(os.path.join(root, d, "jswift_logits.safetensors")))
    if not cases:
        print(f"no parity files under {root}: run the Java tests with -Djswift.export.parity first")
        return 1
    results = [check(os.path.join(root, c)) for c in cases]
    print("all checks passed" if all(results) else "SOME CHECKS FAILED")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
