// Fused AdamW over 100M fp32 parameters (a LoRA run's trainable set is far smaller; a full fine-tune of a
// small model is this size).
#include "bench.h"

using namespace jsw_bench;

JSW_BENCH(adamw_step) {
  int64_t n = ctx.pick(100000000, 10000);
  DeviceBuffer p(ctx.device, JSW_F32, n, 1), g(ctx.device, JSW_F32, n, 2), m(ctx.device, JSW_F32, n, 3, 0.01f),
      v(ctx.device, JSW_F32, n, 4, 0.01f);
  // v must be non-negative: square it once via axpby-free trick: fill with a constant
  BENCH_CHECK(jsw_fill(ctx.device, JSW_F32, v.get(), 1e-4f, n));
  int64_t step = 1;
  double ms = time_ms(ctx.device, [&] {
    BENCH_CHECK(jsw_adamw_step(ctx.device, p.as<float>(), g.as<float>(), m.as<float>(), v.as<float>(), n, 1e-4f, 0.9f,
                               0.999f, 1e-8f, 0.01f, step++, nullptr, JSW_BF16, nullptr));
  }, ctx.quick ? 5 : 20);
  Result r;
  r.name = "adamw_step";
  r.shape = "n=" + std::to_string(n) + " dtype=f32";
  r.ms = ms;
  r.peak_extra = last_peak_extra_bytes();
  r.flops = 15.0 * n;
  r.bytes = 4.0 * n * 7;  // read p, g, m, v; write p, m, v
  ctx.results->push_back(r);
}
