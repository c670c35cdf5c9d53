#!/usr/bin/env python3
"""The switches back to a previous kernel path (native/README.md, "Switches") for each new path whose CUDA twin test
failed in this run, so that one new kernel that is wrong, or faults on the GPU, costs its own measurement and not
the rest of the run: run.sh exports them before the benchmarks and the Java steps, and the report lists them.

    fallbacks.py NATIVE_TESTS_JSON OUT_JSON

Prints one VAR=VALUE line per switch to set; OUT_JSON records each with the failed tests that set it.
"""
import json
import sys

# (twin tests of a path that has a switch back, the variable, its value). A failed test of the list sets it.
FALLBACKS = [
    (("lora_rank_cuda_matches_cpu", "lora_cuda_matches_cpu"), "JSWIFT_LORA_RANK", "unfused"),
    (("nf4_gemv_cuda_matches_cpu",), "JSWIFT_NF4_GEMV", "v1"),
    (("nf4_matmul_cuda_few_rows_match_cpu", "qmatmul_cuda_matches_cpu"), "JSWIFT_NF4_MMA", "off"),
    (("gptq_gemv_cuda_matches_cpu",), "JSWIFT_GPTQ_GEMV", "v1"),
    (("awq_gemv_cuda_matches_cpu",), "JSWIFT_AWQ_GEMV", "v1"),
    (("qmatmul_cuda_pipeline_matches_cpu", "qmatmul_cuda_uneven_pipeline_matches_cpu",
      "graph_replays_a_pipelined_nf4_matmul_cuda"), "JSWIFT_QMATMUL_OVERLAP", "0"),
    # the column-panel backward (the accumulating one ran on the H200s)
    (("qmatmul_cuda_matches_cpu", "qmatmul_cuda_pipeline_matches_cpu", "qmatmul_cuda_uneven_pipeline_matches_cpu"),
     "JSWIFT_NF4_BWD", "acc"),
    (("attention_decode_cuda_matches_cpu", "attention_decode_cuda_without_lse",
      "attention_decode_cuda_chunk_rejects_bad_kv_len"), "JSWIFT_PREFILL_TC", "0"),
    (("attention_decode_cuda_matches_cpu", "attention_decode_cuda_without_lse",
      "attention_decode_cuda_staged_equals_register_loads", "attention_decode_cuda_token_by_token_matches_cpu"),
     "JSWIFT_DECODE_LOADS", "registers"),
    (("graph_replays_a_lora_training_step_bit_for_bit_cuda",
      "graph_replays_dropout_with_the_step_set_before_each_launch_cuda"), "JSWIFT_DECODE_GRAPHS", "0"),
]


def fallbacks(report):
    """[{"variable", "value", "failed_tests"}] for the switches the failed tests of a native_tests.py report set."""
    failed = {t["name"] for t in report.get("tests", []) if t.get("status") == "failed"}
    out = []
    for tests, var, value in FALLBACKS:
        hit = [t for t in tests if t in failed]
        if hit:
            out.append({"variable": var, "value": value, "failed_tests": hit})
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    try:
        with open(sys.argv[1]) as f:
            report = json.load(f)
    except (OSError, ValueError):
        report = {}
    chosen = fallbacks(report)
    with open(sys.argv[2], "w") as f:
        json.dump(chosen, f, indent=1)
    for c in chosen:
        print(f"{c['variable']}={c['value']}")


if __name__ == "__main__":
    main()
