// RMSNorm forward + backward, bf16, [tokens, hidden] of a Llama-3-8B layer.
#include "bench.h"

using namespace jsw_bench;

JSW_BENCH(rmsnorm_fwd_bwd) {
  int64_t rows = ctx.pick(8192, 64), dim = ctx.pick(4096, 128);
  DeviceBuffer x(ctx.device, JSW_BF16, rows * dim, 1), w(ctx.device, JSW_BF16, dim, 2), dy(ctx.device, JSW_BF16, rows * dim, 3);
  DeviceBuffer y(ctx.device, rows * dim * 2), dx(ctx.device, rows * dim * 2), rstd(ctx.device, rows * 4),
      dw(ctx.device, dim * 4);
  double ms = time_ms(ctx.device, [&] {
    BENCH_CHECK(jsw_rmsnorm_fwd(ctx.device, JSW_BF16, x.get(), w.get(), 1e-5f, rows, dim, y.get(), rstd.as<float>()));
    BENCH_CHECK(jsw_rmsnorm_bwd(ctx.device, JSW_BF16, dy.get(), x.get(), w.get(), rstd.as<float>(), rows, dim, dx.get(),
                                dw.as<float>()));
  }, ctx.quick ? 5 : 50);
  Result r;
  r.name = "rmsnorm_fwd_bwd";
  r.shape = "rows=" + std::to_string(rows) + " dim=" + std::to_string(dim) + " dtype=bf16";
  r.ms = ms;
  r.peak_extra = last_peak_extra_bytes();
  r.flops = 12.0 * rows * dim;
  r.bytes = 2.0 * rows * dim * 5;  // x, y (fwd); dy, x, dx (bwd)
  ctx.results->push_back(r);
}
