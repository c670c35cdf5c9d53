// Fused LoRA linear forward + backward (frozen W, rank 16), bf16, a Llama-3-8B MLP projection at 8192 tokens.
#include "bench.h"

using namespace jsw_bench;

JSW_BENCH(lora_fwd_bwd) {
  int64_t tokens = ctx.pick(8192, 64), in = ctx.pick(4096, 96), out = ctx.pick(14336, 160), rank = 16;
  DeviceBuffer x(ctx.device, JSW_BF16, tokens * in, 1), w(ctx.device, JSW_BF16, out * in, 2, 0.02f),
      a(ctx.device, JSW_BF16, rank * in, 3, 0.02f), b(ctx.device, JSW_BF16, out * rank, 4, 0.02f),
      dy(ctx.device, JSW_BF16, tokens * out, 5);
  DeviceBuffer y(ctx.device, tokens * out * 2), xa(ctx.device, tokens * rank * 2), dx(ctx.device, tokens * in * 2),
      da(ctx.device, rank * in * 4), db(ctx.device, out * rank * 4);
  double ms = time_ms(ctx.device, [&] {
    BENCH_CHECK(jsw_lora_fwd(ctx.device, JSW_BF16, x.get(), w.get(), nullptr, a.get(), b.get(), tokens, in, out, rank,
                             2.0f, 0.0f, 0, y.get(), xa.get()));
    BENCH_CHECK(jsw_lora_bwd(ctx.device, JSW_BF16, dy.get(), x.get(), w.get(), a.get(), b.get(), xa.get(), tokens, in,
                             out, rank, 2.0f, 0.0f, 0, dx.get(), da.as<float>(), db.as<float>()));
  }, ctx.quick ? 2 : 10);
  Result r;
  r.name = "lora_fwd_bwd";
  r.shape = "tokens=" + std::to_string(tokens) + " in=" + std::to_string(in) + " out=" + std::to_string(out) +
            " rank=" + std::to_string(rank) + " dtype=bf16";
  r.ms = ms;
  r.peak_extra = last_peak_extra_bytes();
  r.flops = 2.0 * tokens * in * out * 2 + 2.0 * tokens * rank * (in + out) * 3;
  r.bytes = 2.0 * (2 * tokens * in + 2 * tokens * out + out * in);
  ctx.results->push_back(r);
}
