// A small LoRA training step replayed as a CUDA graph vs the same ops launched one by one: 16 LoRA linears
// (bf16, rank 16, 256 tokens: small enough that launches, not FLOPs, bound it, as in a decode-sized or small-model
// step), forward through all, backward in reverse, global-norm clipping, AdamW with its scalars in device memory.
// Each step ends with what a training step ends with: the next step's AdamW scalars written to the device (a host
// copy, which waits) and a host synchronize (the loss readback), in both variants, so the difference is the
// launch overhead a graph removes. Two results, "graph=0" and "graph=1"; on the CPU (a dry run) only graph=0
// (graphs are CUDA-only). summarize.py reports the ratio as "cuda_graphs".
#include <cstring>
#include <memory>
#include <vector>

#include "bench.h"

using namespace jsw_bench;

namespace {

struct Layer {
  DeviceBuffer w, a16, b16, a32, b32, ma, va, mb, vb, da, db, xa, out;
};

// Ends a capture a failing call left open, so the benchmarks after this one are not captured instead of run.
struct CaptureGuard {
  int device;
  bool open = false;
  ~CaptureGuard() {
    if (!open) return;
    void* g = nullptr;
    if (jsw_graph_end(device, &g) == JSW_OK) jsw_graph_destroy(g);
  }
};

}  // namespace

JSW_BENCH(lora_step) {
  const int dev = ctx.device;
  const int64_t layers = ctx.pick(16, 2), tokens = ctx.pick(256, 16), dim = ctx.pick(1024, 32), rank = ctx.pick(16, 4);
  DeviceBuffer x(dev, JSW_BF16, tokens * dim, 1), grad_a(dev, tokens * dim * 2), grad_b(dev, tokens * dim * 2);
  DeviceBuffer scalars(dev, 8 * 4), sumsq(dev, 4), norm(dev, 4), coef(dev, 4);
  std::vector<std::unique_ptr<Layer>> net;
  for (int64_t l = 0; l < layers; l++) {
    uint64_t s = 10 + 20 * uint64_t(l);
    net.push_back(std::unique_ptr<Layer>(new Layer{
        DeviceBuffer(dev, JSW_BF16, dim * dim, s, 0.02f), DeviceBuffer(dev, JSW_BF16, rank * dim, s + 1, 0.02f),
        DeviceBuffer(dev, JSW_BF16, dim * rank, s + 2, 0.02f), DeviceBuffer(dev, JSW_F32, rank * dim, s + 3, 0.02f),
        DeviceBuffer(dev, JSW_F32, dim * rank, s + 4, 0.02f), DeviceBuffer(dev, rank * dim * 4),
        DeviceBuffer(dev, rank * dim * 4), DeviceBuffer(dev, dim * rank * 4), DeviceBuffer(dev, dim * rank * 4),
        DeviceBuffer(dev, rank * dim * 4),
        DeviceBuffer(dev, dim * rank * 4), DeviceBuffer(dev, tokens * rank * 2), DeviceBuffer(dev, tokens * dim * 2)}));
  }
  for (auto& l : net) {  // moments: m = 0, v a small positive value (it is never negative)
    BENCH_CHECK(jsw_memset(dev, l->ma.get(), 0, rank * dim * 4));
    BENCH_CHECK(jsw_memset(dev, l->mb.get(), 0, dim * rank * 4));
    BENCH_CHECK(jsw_fill(dev, JSW_F32, l->va.get(), 1e-6f, rank * dim));
    BENCH_CHECK(jsw_fill(dev, JSW_F32, l->vb.get(), 1e-6f, dim * rank));
  }
  // Everything queued on the stream for one step (no host sync inside: it is what a graph captures).
  auto queue_step = [&] {
    const void* h = x.get();
    for (auto& l : net) {
      BENCH_CHECK(jsw_memset(dev, l->da.get(), 0, rank * dim * 4));
      BENCH_CHECK(jsw_memset(dev, l->db.get(), 0, dim * rank * 4));
      BENCH_CHECK(jsw_lora_fwd(dev, JSW_BF16, h, l->w.get(), nullptr, l->a16.get(), l->b16.get(), tokens, dim, dim,
                               rank, 2.0f, 0.05f, 7, l->out.get(), l->xa.get()));
      h = l->out.get();
    }
    const void* dy = net.back()->out.get();  // d(sum y^2 / 2)/dy = y: a loss gradient that depends on the weights
    void* bufs[2] = {grad_a.get(), grad_b.get()};
    for (int64_t i = layers - 1; i >= 0; i--) {
      Layer& l = *net[size_t(i)];
      const void* in = i == 0 ? x.get() : net[size_t(i - 1)]->out.get();
      void* dx = i == 0 ? nullptr : bufs[i % 2];
      BENCH_CHECK(jsw_lora_bwd(dev, JSW_BF16, dy, in, l.w.get(), l.a16.get(), l.b16.get(), l.xa.get(), tokens, dim,
                               dim, rank, 2.0f, 0.05f, 7, dx, l.da.as<float>(), l.db.as<float>()));
      dy = dx;
    }
    BENCH_CHECK(jsw_memset(dev, sumsq.get(), 0, 4));
    for (auto& l : net) {
      BENCH_CHECK(jsw_sumsq(dev, JSW_F32, l->da.get(), rank * dim, sumsq.as<float>()));
      BENCH_CHECK(jsw_sumsq(dev, JSW_F32, l->db.get(), dim * rank, sumsq.as<float>()));
    }
    BENCH_CHECK(jsw_clip_coef(dev, sumsq.as<float>(), 1.0f, norm.as<float>(), coef.as<float>()));
    for (auto& l : net) {
      BENCH_CHECK(jsw_adamw_step_dev(dev, l->a32.as<float>(), l->da.as<float>(), l->ma.as<float>(), l->va.as<float>(),
                                     rank * dim, scalars.as<float>(), coef.as<float>(), JSW_BF16, l->a16.get()));
      BENCH_CHECK(jsw_adamw_step_dev(dev, l->b32.as<float>(), l->db.as<float>(), l->mb.as<float>(), l->vb.as<float>(),
                                     dim * rank, scalars.as<float>(), coef.as<float>(), JSW_BF16, l->b16.get()));
    }
  };
  int64_t step = 0;
  auto write_scalars = [&] {  // the next step's learning rate (a cosine-like decay) and bias corrections
    float k[8];
    step++;
    BENCH_CHECK(jsw_adamw_scalars(1e-4f / (1.0f + 0.01f * float(step)), 0.9f, 0.999f, 1e-8f, 0.0f, step, k));
    BENCH_CHECK(jsw_memcpy(scalars.get(), dev, k, JSW_CPU, sizeof k));
  };
  int iters = ctx.quick ? 3 : 10;
  std::string shape = "layers=" + std::to_string(layers) + " tokens=" + std::to_string(tokens) +
                      " dim=" + std::to_string(dim) + " rank=" + std::to_string(rank) + " dtype=bf16";
  double flops = double(layers) * (2.0 * tokens * dim * dim * 3 + 2.0 * tokens * rank * dim * 6);
  double eager_ms = time_ms(dev, [&] {
    write_scalars();
    queue_step();
    BENCH_CHECK(jsw_synchronize(dev));
  }, iters);
  Result r;
  r.name = "lora_step";
  r.shape = shape + " graph=0";
  r.ms = eager_ms;
  r.peak_extra = last_peak_extra_bytes();
  r.flops = flops;
  r.bytes = 2.0 * layers * (dim * dim + 4 * tokens * dim);
  r.note = "ops launched one by one";
  ctx.results->push_back(r);
  if (dev < 0) return;  // CUDA graphs capture a CUDA stream: nothing to compare on the CPU

  void* graph = nullptr;
  {
    CaptureGuard guard{dev};
    BENCH_CHECK(jsw_graph_begin(dev));  // the eager steps above were the warm-up that filled the cache
    guard.open = true;
    queue_step();
    guard.open = false;
    BENCH_CHECK(jsw_graph_end(dev, &graph));
  }
  std::shared_ptr<void> destroy(graph, [](void* g) { jsw_graph_destroy(g); });
  double graph_ms = time_ms(dev, [&] {
    write_scalars();
    BENCH_CHECK(jsw_graph_launch(graph));
    BENCH_CHECK(jsw_synchronize(dev));
  }, iters);
  r.shape = shape + " graph=1";
  r.ms = graph_ms;
  r.peak_extra = last_peak_extra_bytes();
  r.note = "one CUDA graph replay per step";
  ctx.results->push_back(r);
}
