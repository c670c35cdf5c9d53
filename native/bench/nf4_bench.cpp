// NF4 dequantization (bitsandbytes layout, blocksize 64) of a Llama-3-8B MLP weight to bf16; the peer is a
// device-to-device copy of the output bytes, the bandwidth ceiling of a memory-bound kernel.
#include <string>

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

// Decode-shaped NF4 GEMV (one token through a Llama-3-8B MLP up/gate projection, bf16 activations): the fused
// kernel reads the 4-bit weight once, so its ceiling is the copy bandwidth of the packed bytes, which is the
// peer (the GPU issue's target: >= 85% of it). Plain fp32 absmax, and double-quantized (QLoRA's bases: 8-bit
// absmax codes, recovered in the kernel; the peer still copies the plain layout's bytes, a few % more).
JSW_BENCH(nf4_gemv) {
  int64_t out_f = ctx.pick(14336, 64), in_f = ctx.pick(4096, 128), n = out_f * in_f, blocks = n / 64;
  const Nf4Weight q(ctx.device, out_f, in_f, 2);
  DeviceBuffer x(ctx.device, JSW_BF16, in_f, 3, 1.0f), y(ctx.device, out_f * 2);
  // The streamed 32-value kernel (the default), the one-row-a-warp kernel it replaced (kernel=v2) and the 16-value
  // one (kernel=v1), each switched by JSWIFT_NF4_GEMV.
  for_each_variant("JSWIFT_NF4_GEMV", {"streamed", "v2", "v1"}, [&](const char* kernel) {
    for (bool dq : {false, true}) {
      double ms = time_ms(ctx.device, [&] {
        BENCH_CHECK(jsw_nf4_gemv(ctx.device, JSW_BF16, x.get(), 1, in_f, q.packed.as<uint8_t>(),
                                 dq ? nullptr : q.absmax.as<float>(), dq ? q.absmax_q.as<uint8_t>() : nullptr,
                                 dq ? q.nested.as<float>() : nullptr, dq ? q.code256.as<float>() : nullptr, q.offset,
                                 out_f, 64, nullptr, y.get()));
      }, ctx.quick ? 5 : 50);
      Result r;
      r.name = "nf4_gemv";
      r.shape = "rows=1 out=" + std::to_string(out_f) + " in=" + std::to_string(in_f) + " dtype=bf16" +
                (dq ? " absmax=dq" : "") + " kernel=" + kernel;
      r.ms = ms;
      r.peak_extra = last_peak_extra_bytes();
      r.flops = 2.0 * n;
      r.bytes = n / 2.0 + (dq ? blocks + blocks / 256 * 4.0 : blocks * 4.0);
      r.note = "peer: copy of the packed weight bytes (NF4 codes + fp32 absmax)";
      ctx.results->push_back(r);
    }
  });
}
