// Decode-shaped dequant-GEMVs of the GPTQ and AutoAWQ layouts (one token through a Llama-3-8B MLP up/gate
// projection, 4 bits, group 128, f16 activations as those checkpoints run): like the NF4 GEMV, each reads its
// packed weight once, so the peer is a device-to-device copy of the same bytes (qweight + qzeros + scales). The
// values of the packed words do not change the work, so they are a fixed pattern; scales are small f16 values.
#include <algorithm>
#include <string>
#include <vector>

#include "bench.h"

using namespace jsw_bench;

namespace {

constexpr int64_t kGroup = 128;

// f16 scales around 0.004-0.008 (exponent 0x1c-0x1d), varying in the mantissa.
DeviceBuffer upload_scales(int device, int64_t n) {
  std::vector<int32_t> words(size_t((n + 1) / 2));
  for (size_t i = 0; i < words.size(); i++)
    words[i] = int32_t(((0x1C00u + (2 * i) % 1024u) & 0xFFFFu) | ((0x1C00u + (2 * i + 1) % 1024u) << 16));
  return upload_i32(device, words);
}

// A word pattern standing for packed 4-bit codes (every nibble value occurs).
std::vector<int32_t> packed_pattern(int64_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) v[size_t(i)] = int32_t(0x9E3779B9u * uint32_t(i + 1));
  return v;
}

// The bytes a 4-bit, group-128 layer's GEMV reads: qweight, qzeros and the f16 scales.
double packed_bytes(int64_t out_f, int64_t in_f) {
  const int64_t groups = in_f / kGroup;
  return in_f * out_f / 2.0 + groups * out_f / 2.0 + groups * out_f * 2.0;
}

void report(Context& ctx, const char* name, int64_t out_f, int64_t in_f, const char* kernel, double ms,
            double bytes) {
  Result r;
  r.name = name;
  r.shape = "rows=1 out=" + std::to_string(out_f) + " in=" + std::to_string(in_f) + " bits=4 group=" +
            std::to_string(kGroup) + " dtype=f16 kernel=" + kernel;
  r.ms = ms;
  r.peak_extra = last_peak_extra_bytes();
  r.flops = 2.0 * out_f * in_f;
  r.bytes = bytes;
  r.note = "peer: copy of the packed weight bytes (qweight + qzeros + scales)";
  ctx.results->push_back(r);
}

}  // namespace

// GPTQ: qweight [in / 8, out], qzeros [groups, out / 8], scales [groups, out], g_idx = k / group (no act-order).
JSW_BENCH(gptq_gemv) {
  const int64_t out_f = ctx.pick(14336, 64), in_f = ctx.pick(4096, 256), groups = in_f / kGroup;
  DeviceBuffer x(ctx.device, JSW_F16, in_f, 3, 1.0f), y(ctx.device, out_f * 2);
  DeviceBuffer qweight = upload_i32(ctx.device, packed_pattern(in_f / 8 * out_f));
  DeviceBuffer qzeros = upload_i32(ctx.device, packed_pattern(groups * out_f / 8));
  DeviceBuffer scales = upload_scales(ctx.device, groups * out_f);
  std::vector<int32_t> g_idx(static_cast<size_t>(in_f));
  for (int64_t k = 0; k < in_f; k++) g_idx[size_t(k)] = int32_t(k / kGroup);
  DeviceBuffer gi = upload_i32(ctx.device, g_idx);
  // The 4-bit kernel with a channel quad a thread (the default) and the general one it replaced (kernel=v1,
  // JSWIFT_GPTQ_GEMV=v1).
  for_each_variant("JSWIFT_GPTQ_GEMV", {"quads", "v1"}, [&](const char* kernel) {
    const double ms = time_ms(ctx.device, [&] {
      BENCH_CHECK(jsw_gptq_gemv(ctx.device, JSW_F16, x.get(), 1, qweight.as<int32_t>(), qzeros.as<int32_t>(),
                                scales.as<uint16_t>(), gi.as<int32_t>(), out_f, in_f, 4, groups, nullptr, y.get()));
    }, ctx.quick ? 5 : 50);
    report(ctx, "gptq_gemv", out_f, in_f, kernel, ms, packed_bytes(out_f, in_f));
  });
}

// AutoAWQ GEMM layout: qweight [in, out / 8], qzeros [groups, out / 8], scales [groups, out].
JSW_BENCH(awq_gemv) {
  const int64_t out_f = ctx.pick(14336, 64), in_f = ctx.pick(4096, 256), groups = in_f / kGroup;
  DeviceBuffer x(ctx.device, JSW_F16, in_f, 4, 1.0f), y(ctx.device, out_f * 2);
  DeviceBuffer qweight = upload_i32(ctx.device, packed_pattern(in_f * out_f / 8));
  DeviceBuffer qzeros = upload_i32(ctx.device, packed_pattern(groups * out_f / 8));
  DeviceBuffer scales = upload_scales(ctx.device, groups * out_f);
  // The kernel split along the inputs (the default) and the one it replaced (kernel=v1, JSWIFT_AWQ_GEMV=v1).
  for_each_variant("JSWIFT_AWQ_GEMV", {"split", "v1"}, [&](const char* kernel) {
    const double ms = time_ms(ctx.device, [&] {
      BENCH_CHECK(jsw_awq_gemv(ctx.device, JSW_F16, x.get(), 1, in_f, qweight.as<int32_t>(), qzeros.as<int32_t>(),
                               scales.as<uint16_t>(), out_f, kGroup, nullptr, y.get()));
    }, ctx.quick ? 5 : 50);
    report(ctx, "awq_gemv", out_f, in_f, kernel, ms, packed_bytes(out_f, in_f));
  });
}

// A few decode rows (batched decode, 4 and 8 sequences) through the same GPTQ / AWQ projection: the fused GEMV
// (path=gemv; AWQ's takes at most 4 rows, so 8 rows are two calls, as Linear.inRowSlices makes them) against the
// tile GEMM (path=tile: jsw_gptq_matmul / jsw_awq_matmul dequantize the weight to a dtype tile that cuBLAS
// multiplies). On CUDA, Linear sends at most 4 rows to the GEMVs (Linear.gemvRows): these numbers say whether 5-8
// rows should go there too, as they do on the CPU. The peer copies the packed bytes, as for the one-row GEMVs.
JSW_BENCH(packed_few_rows) {
  const int64_t out_f = ctx.pick(14336, 64), in_f = ctx.pick(4096, 256), groups = in_f / kGroup;
  DeviceBuffer x(ctx.device, JSW_F16, 8 * in_f, 7, 1.0f), y(ctx.device, 8 * out_f * 2);
  std::vector<int32_t> g_idx(static_cast<size_t>(in_f));
  for (int64_t k = 0; k < in_f; k++) g_idx[size_t(k)] = int32_t(k / kGroup);
  DeviceBuffer gi = upload_i32(ctx.device, g_idx);
  DeviceBuffer gptq_w = upload_i32(ctx.device, packed_pattern(in_f / 8 * out_f));
  DeviceBuffer awq_w = upload_i32(ctx.device, packed_pattern(in_f * out_f / 8));
  DeviceBuffer qzeros = upload_i32(ctx.device, packed_pattern(groups * out_f / 8));
  DeviceBuffer scales = upload_scales(ctx.device, groups * out_f);
  for (const char* format : {"gptq", "awq"}) {
    const bool gptq = std::string(format) == "gptq";
    for (int64_t rows : {4, 8}) {
      for (const char* path : {"tile", "gemv"}) {
        const bool tile = std::string(path) == "tile";
        const double ms = time_ms(ctx.device, [&] {
          if (gptq && tile) {
            BENCH_CHECK(jsw_gptq_matmul(ctx.device, JSW_F16, x.get(), rows, 0, gptq_w.as<int32_t>(),
                                        qzeros.as<int32_t>(), scales.as<uint16_t>(), gi.as<int32_t>(), out_f, in_f, 4,
                                        groups, 0.0f, y.get()));
          } else if (gptq) {
            BENCH_CHECK(jsw_gptq_gemv(ctx.device, JSW_F16, x.get(), rows, gptq_w.as<int32_t>(), qzeros.as<int32_t>(),
                                      scales.as<uint16_t>(), gi.as<int32_t>(), out_f, in_f, 4, groups, nullptr,
                                      y.get()));
          } else if (tile) {
            BENCH_CHECK(jsw_awq_matmul(ctx.device, JSW_F16, x.get(), rows, 0, awq_w.as<int32_t>(), qzeros.as<int32_t>(),
                                       scales.as<uint16_t>(), out_f, in_f, kGroup, 0.0f, y.get()));
          } else {
            for (int64_t r0 = 0; r0 < rows; r0 += 4)  // the AWQ GEMV's most rows a call
              BENCH_CHECK(jsw_awq_gemv(ctx.device, JSW_F16, static_cast<const uint16_t*>(x.get()) + r0 * in_f,
                                       std::min<int64_t>(4, rows - r0), in_f, awq_w.as<int32_t>(),
                                       qzeros.as<int32_t>(), scales.as<uint16_t>(), out_f, kGroup, nullptr,
                                       static_cast<uint16_t*>(y.get()) + r0 * out_f));
          }
        }, ctx.quick ? 5 : 50);
        Result r;
        r.name = std::string(format) + "_few_rows";
        r.shape = "rows=" + std::to_string(rows) + " out=" + std::to_string(out_f) + " in=" + std::to_string(in_f) +
                  " bits=4 group=" + std::to_string(kGroup) + " dtype=f16 path=" + path;
        r.ms = ms;
        r.peak_extra = last_peak_extra_bytes();
        r.flops = 2.0 * rows * out_f * in_f;
        r.bytes = packed_bytes(out_f, in_f) + 2.0 * rows * (in_f + out_f);
        r.note = "peer: copy of the packed weight bytes (qweight + qzeros + scales)";
        ctx.results->push_back(r);
      }
    }
  }
}
