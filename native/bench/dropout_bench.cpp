// LoRA dropout (jsw_dropout), bf16, p = 0.05, of a Llama-3-8B MLP down-projection input at 2048 tokens: a LoRA
// step drops each linear's input (and the LoRA part of its input gradient) several times, a memory-bound pass
// whose mask comes from a hash of (seed, step, index). Peer: torch's dropout (Philox) on the same tensor.
#include "bench.h"

using namespace jsw_bench;

JSW_BENCH(dropout) {
  int64_t n = ctx.pick(2048, 16) * ctx.pick(14336, 100);
  DeviceBuffer x(ctx.device, JSW_BF16, n, 1), y(ctx.device, n * 2);
  uint64_t seed = 1;
  double ms = time_ms(ctx.device, [&] {
    BENCH_CHECK(jsw_dropout(ctx.device, JSW_BF16, x.get(), n, 0.05f, seed++, y.get()));
  }, ctx.quick ? 5 : 50);
  Result r;
  r.name = "dropout";
  r.shape = "n=" + std::to_string(n) + " p=0.05 dtype=bf16";
  r.ms = ms;
  r.peak_extra = last_peak_extra_bytes();
  r.flops = double(n);  // one multiply an element
  r.bytes = 2.0 * n * 2;  // read x, write y
  r.note = "peer: torch.nn.functional.dropout(x, 0.05, training=True)";
  ctx.results->push_back(r);
}
