// Fused LM head + cross-entropy, forward and backward in one pass, bf16, Llama-3-8B head (vocab 128256) at
// 8192 tokens: the full logits would take 4 GiB in fp32.
#include <random>
#include <vector>

#include "bench.h"

using namespace jsw_bench;

JSW_BENCH(lmhead_ce_fwd_bwd) {
  int64_t tokens = ctx.pick(8192, 64), dim = ctx.pick(4096, 64), vocab = ctx.pick(128256, 1000);
  DeviceBuffer h(ctx.device, JSW_BF16, tokens * dim, 1, 0.1f), w(ctx.device, JSW_BF16, vocab * dim, 2, 0.02f);
  std::vector<int32_t> labels(static_cast<size_t>(tokens));
  std::mt19937 rng(3);
  for (auto& l : labels) l = int32_t(rng() % uint32_t(vocab));
  std::vector<float> dl(static_cast<size_t>(tokens), 1.0f / float(tokens));
  DeviceBuffer lab = upload_i32(ctx.device, labels);
  DeviceBuffer dloss(ctx.device, tokens * 4);
  BENCH_CHECK(jsw_memcpy(dloss.get(), ctx.device, dl.data(), JSW_CPU, tokens * 4));
  DeviceBuffer loss(ctx.device, tokens * 4), lse(ctx.device, tokens * 4), dh(ctx.device, tokens * dim * 2),
      dw(ctx.device, vocab * dim * 4);
  double ms = time_ms(ctx.device, [&] {
    BENCH_CHECK(jsw_lmhead_ce_fwd_bwd(ctx.device, JSW_BF16, h.get(), w.get(), lab.as<int32_t>(), dloss.as<float>(),
                                      tokens, dim, vocab, -100, 0, loss.as<float>(), lse.as<float>(), nullptr,
                                      dh.get(), dw.as<float>()));
  }, ctx.quick ? 1 : 5);
  Result r;
  r.name = "lmhead_ce_fwd_bwd";
  r.shape = "tokens=" + std::to_string(tokens) + " dim=" + std::to_string(dim) + " vocab=" + std::to_string(vocab) +
            " dtype=bf16";
  r.ms = ms;
  r.peak_extra = last_peak_extra_bytes();
  r.flops = 6.0 * tokens * dim * vocab;  // logits, dhidden, dweight
  r.bytes = 2.0 * (tokens * dim * 2) + vocab * dim * (2.0 + 8.0);
  ctx.results->push_back(r);
}
