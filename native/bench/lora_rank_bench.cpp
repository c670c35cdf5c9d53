// The low-rank halves of a QLoRA linear with the dropout inside (jsw_lora_down, jsw_lora_up_grad), bf16, rank 16,
// p = 0.05, at 2048 tokens of a Llama-3-8B layer: in = 4096 (the inputs of q/k/v/o/gate/up) and in = 14336 (the
// down projection's). Each runs fused (path=fused: drop(x) staged in shared memory for tensor cores, one pass over
// x) and as the sequence it replaced (path=unfused, JSWIFT_LORA_RANK=unfused: jsw_dropout into a copy, cuBLAS
// products, dx masked in a pass of its own). Peer: what PEFT's autograd runs for the same halves (F.dropout then
// x A^T; g^T drop(x) from the saved drop(x) and the saved mask applied to g A).
#include <string>

#include "bench.h"

using namespace jsw_bench;

JSW_BENCH(lora_rank) {
  const int64_t tokens = ctx.pick(2048, 64), rank = 16;
  for (int64_t in : {ctx.pick(4096, 128), ctx.pick(14336, 256)}) {
    DeviceBuffer x(ctx.device, JSW_BF16, tokens * in, 1), a(ctx.device, JSW_BF16, rank * in, 2, 0.02f),
        g(ctx.device, JSW_BF16, tokens * rank, 3);
    DeviceBuffer xa(ctx.device, tokens * rank * 2), dx(ctx.device, tokens * in * 2), da(ctx.device, rank * in * 4);
    for_each_variant("JSWIFT_LORA_RANK", {"fused", "unfused"}, [&](const char* path) {
      for (const char* pass : {"down", "up_grad"}) {
        const bool down = std::string(pass) == "down";
        uint64_t seed = 1;
        double ms = time_ms(ctx.device, [&] {
          if (down)
            BENCH_CHECK(
                jsw_lora_down(ctx.device, JSW_BF16, x.get(), a.get(), tokens, in, rank, 0.05f, seed++, xa.get()));
          else
            BENCH_CHECK(jsw_lora_up_grad(ctx.device, JSW_BF16, g.get(), x.get(), a.get(), tokens, in, rank, 2.0f, 0.05f,
                                         seed++, dx.get(), da.as<float>()));
        }, ctx.quick ? 5 : 50);
        Result r;
        r.name = "lora_rank";
        r.shape = "tokens=" + std::to_string(tokens) + " in=" + std::to_string(in) + " rank=" + std::to_string(rank) +
                  " pass=" + pass + " path=" + path + " dtype=bf16";
        r.ms = ms;
        r.peak_extra = last_peak_extra_bytes();
        r.flops = (down ? 2.0 : 4.0) * tokens * in * rank;
        // x read once; up_grad also writes dx (A, g, xa and dA are small).
        r.bytes = 2.0 * tokens * in * (down ? 1 : 2);
        r.note = "peer: PEFT's autograd ops for the same half (F.dropout + matmul; saved drop(x) and mask)";
        ctx.results->push_back(r);
      }
    });
  }
}
