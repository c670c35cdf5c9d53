// NF4 dequantization (bitsandbytes layout, blocksize 64) of a Llama-3-8B MLP weight to bf16; the peer is a
// device-to-device copy of the output bytes, the bandwidth ceiling of a memory-bound kernel.
#include "bench.h"

using namespace jsw_bench;

JSW_BENCH(nf4_dequant) {
  int64_t rows = ctx.pick(14336, 64), cols = ctx.pick(4096, 128), n = rows * cols;
  DeviceBuffer w(ctx.device, JSW_BF16, n, 1, 0.02f);
  DeviceBuffer packed(ctx.device, n / 2), absmax(ctx.device, n / 64 * 4), out(ctx.device, n * 2);
  BENCH_CHECK(jsw_nf4_quantize(ctx.device, JSW_BF16, w.get(), n, 64, packed.as<uint8_t>(), absmax.as<float>()));
  double ms = time_ms(ctx.device, [&] {
    BENCH_CHECK(jsw_nf4_dequantize(ctx.device, JSW_BF16, packed.as<uint8_t>(), absmax.as<float>(), n, 64, out.get()));
  }, ctx.quick ? 5 : 50);
  Result r;
  r.name = "nf4_dequant";
  r.shape = "rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) + " dtype=bf16";
  r.ms = ms;
  r.peak_extra = last_peak_extra_bytes();
  r.flops = 2.0 * n;
  r.bytes = n / 2.0 + n / 64.0 * 4 + 2.0 * n;
  r.note = "peer: copy of the bf16 output bytes";
  ctx.results->push_back(r);
}
