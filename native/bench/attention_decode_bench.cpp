// KV-cache decode attention, bf16, Llama-3-8B attention (32 query heads, 8 KV heads, head_dim 128): one decoding
// step of 16 sequences over 4096 cached tokens and one step of a single sequence over a long cache (the keys split
// over the GPU: flash-decoding), each with K / V staged in shared memory (path=decode-staged) and loaded into
// registers (path=decode-registers), and a 128-token prefill chunk, on the flash kernel over the cache (path=flash) and
// on the decode kernel it replaced for chunks (path=decode-kernel, JSWIFT_PREFILL_TC=0). Decoding is memory-bound:
// bytes counts the K and V rows of the valid cache, read once.
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench.h"

using namespace jsw_bench;

namespace {

void run(Context& ctx, int64_t batch, int64_t q_len, int64_t kv_len, int64_t capacity, const char* path = nullptr) {
  const int64_t heads = ctx.pick(32, 4), kv = ctx.pick(8, 2), hd = ctx.pick(128, 32);
  DeviceBuffer q(ctx.device, JSW_BF16, batch * q_len * heads * hd, 1);
  DeviceBuffer k(ctx.device, JSW_BF16, batch * capacity * kv * hd, 2);
  DeviceBuffer v(ctx.device, JSW_BF16, batch * capacity * kv * hd, 3);
  DeviceBuffer out(ctx.device, batch * q_len * heads * hd * 2), lse(ctx.device, batch * q_len * heads * 4);
  DeviceBuffer len = upload_i32(ctx.device, std::vector<int32_t>(size_t(batch), int32_t(kv_len)));
  const float scale = 1.0f / std::sqrt(float(hd));
  double ms = time_ms(ctx.device, [&] {
    BENCH_CHECK(jsw_attention_decode(ctx.device, JSW_BF16, q.get(), k.get(), v.get(), len.as<int32_t>(), nullptr,
                                     batch, q_len, capacity, heads, kv, hd, 0, scale, out.get(), lse.as<float>()));
  }, ctx.quick ? 5 : 50);
  Result r;
  r.name = "attention_decode";
  r.shape = "batch=" + std::to_string(batch) + " q_len=" + std::to_string(q_len) + " kv_len=" + std::to_string(kv_len) +
            " capacity=" + std::to_string(capacity) + " heads=" + std::to_string(heads) +
            " kv_heads=" + std::to_string(kv) + " head_dim=" + std::to_string(hd) + " dtype=bf16" +
            (path ? std::string(" path=") + path : std::string());
  r.ms = ms;
  r.peak_extra = last_peak_extra_bytes();
  // QK^T and PV: 2 * 2 * head_dim flops per (query, visible key); query i of the chunk sees kv_len - q_len + i + 1
  const double pairs = double(q_len) * (kv_len - q_len) + double(q_len) * (q_len + 1) / 2;
  r.flops = 4.0 * batch * heads * pairs * hd;
  r.bytes = 2.0 * 2 * batch * kv_len * kv * hd + 2.0 * 2 * batch * q_len * heads * hd;  // K, V; q and out
  ctx.results->push_back(r);
}

}  // namespace

JSW_BENCH(attention_decode) {
  // decoding: K / V staged in shared memory (the default) and loaded into registers (JSWIFT_DECODE_LOADS=registers)
  for_each_variant("JSWIFT_DECODE_LOADS", {"staged", "registers"}, [&](const char* loads) {
    const std::string path = std::string("decode-") + loads;
    run(ctx, ctx.pick(16, 2), 1, ctx.pick(4000, 60), ctx.pick(4096, 64), path.c_str());
    run(ctx, 1, 1, ctx.pick(16384, 200), ctx.pick(16384, 256), path.c_str());
  });
  const bool forced = std::getenv("JSWIFT_PREFILL_TC") != nullptr;  // the GPU script switched the flash path off
  run(ctx, ctx.pick(4, 2), ctx.pick(128, 8), ctx.pick(2048, 40), ctx.pick(4096, 64), forced ? "as-set" : "flash");
  if (!forced) {
    setenv("JSWIFT_PREFILL_TC", "0", 1);
    run(ctx, ctx.pick(4, 2), ctx.pick(128, 8), ctx.pick(2048, 40), ctx.pick(4096, 64), "decode-kernel");
    unsetenv("JSWIFT_PREFILL_TC");
  }
}
