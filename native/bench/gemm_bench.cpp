// GEMM on tensor cores: bf16 inputs, fp32 accumulation, the shapes of a Llama-3-8B linear layer at 8192 tokens.
#include <vector>

#include "bench.h"

using namespace jsw_bench;

JSW_BENCH(gemm_bf16) {
  struct Shape { int64_t m, n, k; };
  std::vector<Shape> shapes = {{8192, 4096, 4096}, {8192, 14336, 4096}, {8192, 4096, 14336}};
  if (ctx.tiny) shapes = {{64, 96, 80}};
  for (Shape s : shapes) {
    DeviceBuffer a(ctx.device, JSW_BF16, s.m * s.k, 1), b(ctx.device, JSW_BF16, s.n * s.k, 2);
    DeviceBuffer c(ctx.device, JSW_BF16, s.m * s.n, 3);
    // y = x W^T, as a linear layer computes it
    double ms = time_ms(ctx.device, [&] {
      BENCH_CHECK(jsw_gemm(ctx.device, JSW_BF16, JSW_BF16, 0, 1, s.m, s.n, s.k, 1.0f, a.get(), s.k, b.get(), s.k, 0.0f,
                           c.get(), s.n, 1, 0, 0, 0));
    }, ctx.quick ? 2 : 10);
    Result r;
    r.name = "gemm_bf16";
    r.shape = "m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) + " dtype=bf16";
    r.ms = ms;
  r.peak_extra = last_peak_extra_bytes();
    r.flops = 2.0 * s.m * s.n * s.k;
    r.bytes = 2.0 * (s.m * s.k + s.n * s.k + s.m * s.n);
    ctx.results->push_back(r);
  }
}
