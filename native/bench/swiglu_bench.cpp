// SwiGLU forward + backward, bf16, a Llama-3-8B MLP activation at 8192 tokens.
#include "bench.h"

using namespace jsw_bench;

JSW_BENCH(swiglu_fwd_bwd) {
  int64_t n = ctx.pick(8192, 16) * ctx.pick(14336, 100);
  DeviceBuffer g(ctx.device, JSW_BF16, n, 1), u(ctx.device, JSW_BF16, n, 2), dy(ctx.device, JSW_BF16, n, 3);
  DeviceBuffer y(ctx.device, n * 2), dg(ctx.device, n * 2), du(ctx.device, n * 2);
  double ms = time_ms(ctx.device, [&] {
    BENCH_CHECK(jsw_swiglu_fwd(ctx.device, JSW_BF16, g.get(), u.get(), n, y.get()));
    BENCH_CHECK(jsw_swiglu_bwd(ctx.device, JSW_BF16, dy.get(), g.get(), u.get(), n, dg.get(), du.get()));
  }, ctx.quick ? 5 : 50);
  Result r;
  r.name = "swiglu_fwd_bwd";
  r.shape = "n=" + std::to_string(n) + " dtype=bf16";
  r.ms = ms;
  r.peak_extra = last_peak_extra_bytes();
  r.flops = 20.0 * n;
  r.bytes = 2.0 * n * 8;  // fwd: g, u, y; bwd: dy, g, u, dg, du
  ctx.results->push_back(r);
}
