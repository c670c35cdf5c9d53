// The NF4 dequant-to-tile GEMM (jsw_nf4_matmul) of a QLoRA training step: a Llama-3-8B MLP projection (14336 x
// 4096, double-quantized NF4) at 2048 tokens, forward (x W^T) and the frozen backward (dy W). The peer multiplies
// by the same weight stored densely in bf16 (torch.matmul): what a QLoRA step pays on top of a bf16 base is the
// tile dequantization. Each runs with the 16-value tile kernel (tile=v2: panels dequantized on a side stream while
// the previous panel's GEMM runs; the backward over column panels), with the same in turn on one stream
// (tile=v2-serial, JSWIFT_QMATMUL_OVERLAP=0), and with the one-value-a-thread kernel (tile=v1); the backward also
// with tile=v2-acc, row panels that add into an fp32 accumulator (JSWIFT_NF4_BWD=acc, what the column panels
// replaced); and with tile=whole, the whole weight dequantized as one tile and multiplied by one GEMM
// (JSWIFT_QMATMUL_TILE=whole: 117 MB of workspace here, no overlap, no panel seams).
#include <cstdlib>

#include "bench.h"

using namespace jsw_bench;

JSW_BENCH(nf4_matmul) {
  int64_t tokens = ctx.pick(2048, 32), out = ctx.pick(14336, 96), in = ctx.pick(4096, 128), n = out * in;
  int64_t blocks = n / 64;
  DeviceBuffer w(ctx.device, JSW_BF16, n, 1, 0.02f), x(ctx.device, JSW_BF16, tokens * in, 2),
      dy(ctx.device, JSW_BF16, tokens * out, 3);
  DeviceBuffer packed(ctx.device, n / 2), absmax(ctx.device, blocks * 4), y(ctx.device, tokens * out * 2),
      dx(ctx.device, tokens * in * 2);
  BENCH_CHECK(jsw_nf4_quantize(ctx.device, JSW_BF16, w.get(), n, 64, packed.as<uint8_t>(), absmax.as<float>()));
  // A switch set before the run (the GPU script's fallback after a failed twin test) is left as it is: one pass,
  // tile=as-set, instead of the variants (which set and clear the switches).
  const bool forced = std::getenv("JSWIFT_QMATMUL_OVERLAP") != nullptr || std::getenv("JSWIFT_NF4_BWD") != nullptr ||
                      std::getenv("JSWIFT_NF4_TILE") != nullptr || std::getenv("JSWIFT_QMATMUL_TILE") != nullptr;
  for (const char* tile : {"v2", "v2-serial", "v2-acc", "whole", "v1", "as-set"}) {
    const std::string t = tile;
    if (forced != (t == "as-set")) continue;
    if (t == "v1") setenv("JSWIFT_NF4_TILE", "v1", 1);
    if (t == "v2-acc") setenv("JSWIFT_NF4_BWD", "acc", 1);
    else if (!forced) unsetenv("JSWIFT_NF4_BWD");
    if (t == "v2-serial") setenv("JSWIFT_QMATMUL_OVERLAP", "0", 1);
    else if (!forced) unsetenv("JSWIFT_QMATMUL_OVERLAP");
    if (t == "whole") setenv("JSWIFT_QMATMUL_TILE", "whole", 1);
    else if (!forced) unsetenv("JSWIFT_QMATMUL_TILE");
    for (bool trans : {false, true}) {
      if (t == "v2-acc" && !trans) continue;  // the forward has no accumulator
      double ms = time_ms(ctx.device, [&] {
        BENCH_CHECK(jsw_nf4_matmul(ctx.device, JSW_BF16, trans ? dy.get() : x.get(), tokens, trans ? 1 : 0,
                                   packed.as<uint8_t>(), absmax.as<float>(), nullptr, nullptr, nullptr, 0.0f, out, in,
                                   64, 0.0f, trans ? dx.get() : y.get()));
      }, ctx.quick ? 2 : 10);
      Result r;
      r.name = "nf4_matmul";
      r.shape = "tokens=" + std::to_string(tokens) + " out=" + std::to_string(out) + " in=" + std::to_string(in) +
                " pass=" + (trans ? "bwd" : "fwd") + " tile=" + tile + " dtype=bf16";
      r.ms = ms;
      r.peak_extra = last_peak_extra_bytes();
      r.flops = 2.0 * tokens * in * out;
      r.bytes = n / 2.0 + blocks * 4.0 + 2.0 * tokens * (in + out);
      r.note = "peer: torch.matmul with the weight dense in bf16";
      ctx.results->push_back(r);
    }
  }
  if (!forced) {
    unsetenv("JSWIFT_NF4_TILE");
    unsetenv("JSWIFT_NF4_BWD");
    unsetenv("JSWIFT_QMATMUL_OVERLAP");
    unsetenv("JSWIFT_QMATMUL_TILE");
  }
}

// A batch of decode tokens through a Llama-3-8B MLP projection against its double-quantized NF4 weight (QLoRA's
// base): jsw_nf4_matmul with 4, 8 and 16 rows, on the tensor-core kernel for few rows (path=mma, the default),
// on the tile GEMM it replaced for them (path=tile, JSWIFT_NF4_MMA=off: the whole weight dequantized to bf16 and
// multiplied by cuBLAS), and, up to 8 rows, on the fused GEMV (path=gemv, jsw_nf4_gemv: the crossover between the
// two fused kernels). Both projections' shapes: gate / up (14336 x 4096) and down (4096 x 14336, whose long input
// the kernel splits across blocks). The peer copies the packed bytes: the ceiling of a kernel that reads the 4-bit
// weight once.
JSW_BENCH(nf4_few_rows) {
  struct Shape {
    int64_t out, in;
  };
  for (Shape sh : {Shape{ctx.pick(14336, 96), ctx.pick(4096, 256)}, Shape{ctx.pick(4096, 64), ctx.pick(14336, 384)}}) {
    const int64_t n = sh.out * sh.in, blocks = n / 64;
    const Nf4Weight q(ctx.device, sh.out, sh.in, 5);
    DeviceBuffer x(ctx.device, JSW_BF16, 16 * sh.in, 6, 1.0f), y(ctx.device, 16 * sh.out * 2);
    for (int64_t rows : {16, 8, 4}) {
      for_each_variant("JSWIFT_NF4_MMA", {"on", "off", "gemv"}, [&](const char* variant) {
        const std::string v = variant;
        if (v == "gemv" && rows > 8) return;
        double ms = time_ms(ctx.device, [&] {
          if (v == "gemv") {
            BENCH_CHECK(jsw_nf4_gemv(ctx.device, JSW_BF16, x.get(), rows, sh.in, q.packed.as<uint8_t>(), nullptr,
                                     q.absmax_q.as<uint8_t>(), q.nested.as<float>(), q.code256.as<float>(), q.offset,
                                     sh.out, 64, nullptr, y.get()));
          } else {
            BENCH_CHECK(jsw_nf4_matmul(ctx.device, JSW_BF16, x.get(), rows, 0, q.packed.as<uint8_t>(), nullptr,
                                       q.absmax_q.as<uint8_t>(), q.nested.as<float>(), q.code256.as<float>(),
                                       q.offset, sh.out, sh.in, 64, 0.0f, y.get()));
          }
        }, ctx.quick ? 5 : 50);
        Result r;
        r.name = "nf4_few_rows";
        r.shape = "rows=" + std::to_string(rows) + " out=" + std::to_string(sh.out) + " in=" +
                  std::to_string(sh.in) + " dtype=bf16 absmax=dq path=" +
                  (v == "on" ? "mma" : v == "off" ? "tile" : v);  // gemv, or as-set (a fallback's switch)
        r.ms = ms;
        r.peak_extra = last_peak_extra_bytes();
        r.flops = 2.0 * rows * n;
        r.bytes = n / 2.0 + blocks + blocks / 256 * 4.0 + 2.0 * rows * (sh.in + sh.out);
        r.note = "peer: copy of the packed weight bytes (NF4 codes + 8-bit absmax codes)";
        ctx.results->push_back(r);
      });
    }
  }
}
