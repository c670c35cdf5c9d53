// Flash attention forward and forward+backward, bf16, Llama-3-8B attention (32 query heads, 8 KV heads,
// head_dim 128), causal, 4 sequences of 2048 tokens.
#include <cmath>

#include "bench.h"

using namespace jsw_bench;

namespace {

void run(Context& ctx, bool backward) {
  int64_t batch = ctx.pick(4, 2), seq = ctx.pick(2048, 64), heads = ctx.pick(32, 4), kv = ctx.pick(8, 2),
          hd = ctx.pick(128, 32);
  int64_t tokens = batch * seq;
  DeviceBuffer q(ctx.device, JSW_BF16, tokens * heads * hd, 1), k(ctx.device, JSW_BF16, tokens * kv * hd, 2),
      v(ctx.device, JSW_BF16, tokens * kv * hd, 3), dout(ctx.device, JSW_BF16, tokens * heads * hd, 4);
  DeviceBuffer out(ctx.device, tokens * heads * hd * 2), lse(ctx.device, tokens * heads * 4);
  DeviceBuffer dq(ctx.device, tokens * heads * hd * 2), dk(ctx.device, tokens * kv * hd * 2),
      dv(ctx.device, tokens * kv * hd * 2);
  float scale = 1.0f / std::sqrt(float(hd));
  auto fwd = [&] {
    BENCH_CHECK(jsw_attention_fwd(ctx.device, JSW_BF16, q.get(), k.get(), v.get(), batch, seq, heads, kv, hd, nullptr,
                                  nullptr, 1, 0, scale, out.get(), lse.as<float>()));
  };
  double ms = time_ms(ctx.device, [&] {
    fwd();
    if (backward)
      BENCH_CHECK(jsw_attention_bwd(ctx.device, JSW_BF16, q.get(), k.get(), v.get(), out.get(), dout.get(),
                                    lse.as<float>(), batch, seq, heads, kv, hd, nullptr, nullptr, 1, 0, scale, dq.get(),
                                    dk.get(), dv.get()));
  }, ctx.quick ? 2 : 10);
  Result r;
  r.name = backward ? "attention_fwd_bwd" : "attention_fwd";
  r.shape = "batch=" + std::to_string(batch) + " seq=" + std::to_string(seq) + " heads=" + std::to_string(heads) +
            " kv_heads=" + std::to_string(kv) + " head_dim=" + std::to_string(hd) + " causal=1 dtype=bf16";
  r.ms = ms;
  r.peak_extra = last_peak_extra_bytes();
  // causal: half of the 4*T*T*d multiply-adds per head for QK^T and PV; backward 2.5x forward (FA2 convention)
  double fwd_flops = 4.0 * batch * heads * double(seq) * seq * hd / 2;
  r.flops = backward ? 3.5 * fwd_flops : fwd_flops;
  r.bytes = 2.0 * (2 * tokens * heads * hd + 2 * tokens * kv * hd) * (backward ? 2.5 : 1.0);
  ctx.results->push_back(r);
}

}  // namespace

JSW_BENCH(attention_fwd) { run(ctx, false); }
JSW_BENCH(attention_fwd_bwd) { run(ctx, true); }
