// CUDA graphs (jsw_graph_*) and the device-scalar AdamW they need (jsw_adamw_step_dev): a captured LoRA training
// step (forward, loss gradient, backward, global-norm clipping, AdamW with a per-step learning rate) replayed for
// several steps gives bit for bit what the same steps give eagerly; a capture refuses, with a clear message and
// without breaking the stream, what cannot be captured; the blocks a graph uses stay its own until it is
// destroyed; the dropout step in device memory gives each replay its own mask. The CPU runs the same rules with a
// recording of its calls (core/cpu_graph.h), so each behaviour is checked on the CPU here and on CUDA on a GPU.
#include <cstring>
#include <set>

#include "test.h"

using namespace jsw_test;

namespace {

bool message_has(const char* needle) { return std::strstr(jsw_last_error(), needle) != nullptr; }

// Bit-exact comparison (memcmp of the fp32 values, so -0.0 vs 0.0 or two NaN payloads would count as different).
void expect_bits(const std::string& what, const std::vector<float>& got, const std::vector<float>& want) {
  JSW_EXPECT(got.size() == want.size(), "%s: %zu values, want %zu", what.c_str(), got.size(), want.size());
  for (size_t i = 0; i < got.size(); i++)
    JSW_EXPECT(std::memcmp(&got[i], &want[i], 4) == 0, "%s[%zu]: %.9g, eager %.9g", what.c_str(), i, double(got[i]),
               double(want[i]));
}

// A capture that a failing check leaves open is ended on scope exit: the tests that follow (other families' CUDA
// tests in the same process) must not be captured instead of run.
class Capture {
 public:
  explicit Capture(int device) : device_(device) { JSW_CHECK(jsw_graph_begin(device)); }
  ~Capture() {
    if (!open_) return;
    void* g = nullptr;
    if (jsw_graph_end(device_, &g) == JSW_OK) jsw_graph_destroy(g);
  }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  // jsw_graph_end's status; *graph is the graph (or NULL).
  int end(void** graph) {
    open_ = false;
    return jsw_graph_end(device_, graph);
  }

 private:
  int device_;
  bool open_ = true;
};

}  // namespace

JSW_TEST(graph_calls_check_their_arguments) {
  void* g = reinterpret_cast<void*>(1);
  JSW_EXPECT(jsw_graph_end(JSW_CPU, &g) == JSW_ERR_INVALID_ARGUMENT, "end without begin: %s", jsw_last_error());
  JSW_EXPECT(message_has("not capturing"), "message: %s", jsw_last_error());
  JSW_EXPECT(g == nullptr, "a failed end leaves no handle");
  JSW_EXPECT(jsw_graph_end(JSW_CPU, nullptr) == JSW_ERR_INVALID_ARGUMENT, "null out: %s", jsw_last_error());
  JSW_EXPECT(jsw_graph_launch(nullptr) != JSW_OK, "launching nothing must fail");
  JSW_EXPECT(jsw_graph_destroy(nullptr) == JSW_OK, "destroying NULL is a no-op: %s", jsw_last_error());
  JSW_EXPECT(jsw_graph_begin(-2) == JSW_ERR_INVALID_ARGUMENT, "device -2: %s", jsw_last_error());
  if (!jsw_cuda_compiled()) {
    // a CUDA device index in a CPU-only build: refused, saying why
    JSW_EXPECT(jsw_graph_begin(0) != JSW_OK, "begin(0) without CUDA: %s", jsw_last_error());
    JSW_EXPECT(message_has("without CUDA"), "message: %s", jsw_last_error());
  }
}

JSW_TEST(adamw_step_dev_is_adamw_step_with_its_scalars_in_memory_cpu) {
  const int64_t n = 37;
  std::vector<float> p0 = randn(n, 5), copy_a(n), copy_b(n);
  std::vector<float> pa = p0, ma(n, 0.0f), va(n, 0.0f), pb = p0, mb(n, 0.0f), vb(n, 0.0f);
  std::vector<uint16_t> bf_a(n), bf_b(n);
  for (int64_t step = 1; step <= 4; step++) {
    std::vector<float> g = randn(n, 100 + uint64_t(step), 0.3f);
    float lr = 1e-2f / float(step);  // a schedule: the scalars differ every step
    JSW_CHECK(jsw_adamw_step(JSW_CPU, pa.data(), g.data(), ma.data(), va.data(), n, lr, 0.9f, 0.95f, 1e-8f, 0.1f,
                             step, nullptr, JSW_BF16, bf_a.data()));
    float k[8];
    JSW_CHECK(jsw_adamw_scalars(lr, 0.9f, 0.95f, 1e-8f, 0.1f, step, k));
    JSW_CHECK(jsw_adamw_step_dev(JSW_CPU, pb.data(), g.data(), mb.data(), vb.data(), n, k, nullptr, JSW_BF16,
                                 bf_b.data()));
  }
  expect_bits("param", pb, pa);
  expect_bits("m", mb, ma);
  expect_bits("v", vb, va);
  JSW_EXPECT(std::memcmp(bf_a.data(), bf_b.data(), size_t(n) * 2) == 0, "bf16 copies differ");
  float k[8];
  JSW_EXPECT(jsw_adamw_scalars(1e-3f, 0.9f, 0.95f, 1e-8f, 0.0f, 0, k) == JSW_ERR_INVALID_ARGUMENT, "step 0");
  JSW_EXPECT(message_has("step counts from 1"), "message: %s", jsw_last_error());
  JSW_EXPECT(jsw_adamw_scalars(std::nanf(""), 0.9f, 0.95f, 1e-8f, 0.0f, 1, k) == JSW_ERR_INVALID_ARGUMENT, "NaN lr");
  JSW_EXPECT(jsw_adamw_step_dev(JSW_CPU, pb.data(), pb.data(), mb.data(), vb.data(), n, nullptr, nullptr, JSW_F32,
                                nullptr) == JSW_ERR_INVALID_ARGUMENT, "null scalars");
  JSW_EXPECT(message_has("scalars"), "message: %s", jsw_last_error());
}

namespace {

// One LoRA linear layer in training: bf16 activations and compute copies of A and B, fp32 masters, gradients and
// moments, a fixed input and regression target (the "packed to a fixed length" step whose shapes repeat).
//
// Sizes: jsw_sumsq adds one atomic partial per block, and the order of atomics within one kernel varies from run to
// run; with at most 256 elements per gradient (one block per call, and the calls ordered on the stream) the norm,
// the clip coefficient and so every update are deterministic, which a bit-for-bit comparison needs. The clip is
// active (the gradients' norm is far above 1).
struct LoraLayer {
  static constexpr int64_t kTokens = 64, kIn = 48, kOut = 40, kRank = 4;  // dA: 192 elements, dB: 160
  static constexpr float kScale = 2.0f, kDropout = 0.1f;
  static constexpr uint64_t kSeed = 1234;  // baked into a capture; the mask changes with the dropout step
  int dev;
  Buffer x, w, target, a32, b32, a16, b16, da, db, ma, va, mb, vb, y, sumsq, norm, coef;

  explicit LoraLayer(int device)
      : dev(device),
        x(upload(device, JSW_BF16, randn(kTokens * kIn, 1))),
        w(upload(device, JSW_BF16, randn(kOut * kIn, 2, 0.1f))),
        target(upload(device, JSW_BF16, randn(kTokens * kOut, 3))),
        a32(upload(device, JSW_F32, randn(kRank * kIn, 4, 0.1f))),
        b32(upload(device, JSW_F32, randn(kOut * kRank, 5, 0.1f))),  // non-zero B: A gets gradients at step 1
        a16(upload(device, JSW_BF16, round_to(randn(kRank * kIn, 4, 0.1f), JSW_BF16))),
        b16(upload(device, JSW_BF16, round_to(randn(kOut * kRank, 5, 0.1f), JSW_BF16))),
        da(zeros(device, JSW_F32, kRank * kIn)),
        db(zeros(device, JSW_F32, kOut * kRank)),
        ma(zeros(device, JSW_F32, kRank * kIn)),
        va(zeros(device, JSW_F32, kRank * kIn)),
        mb(zeros(device, JSW_F32, kOut * kRank)),
        vb(zeros(device, JSW_F32, kOut * kRank)),
        y(zeros(device, JSW_BF16, kTokens * kOut)),
        sumsq(zeros(device, JSW_F32, 1)),
        norm(zeros(device, JSW_F32, 1)),
        coef(zeros(device, JSW_F32, 1)) {}

  // The step up to the optimizer: temporaries are allocated and freed inside it, as the model's arena does.
  void forward_backward() {
    JSW_CHECK(jsw_memset(dev, da.get(), 0, da.bytes()));
    JSW_CHECK(jsw_memset(dev, db.get(), 0, db.bytes()));
    void* xa = nullptr;
    void* dy = nullptr;
    JSW_CHECK(jsw_malloc(dev, kTokens * kRank * 2, &xa));
    JSW_CHECK(jsw_malloc(dev, kTokens * kOut * 2, &dy));
    JSW_CHECK(jsw_lora_fwd(dev, JSW_BF16, x.get(), w.get(), nullptr, a16.get(), b16.get(), kTokens, kIn, kOut, kRank,
                           kScale, kDropout, kSeed, y.get(), xa));
    // dy = y - target: the gradient of a squared error (its factor 2/n is the learning rate's business)
    JSW_CHECK(jsw_fill(dev, JSW_BF16, dy, 0.0f, kTokens * kOut));
    JSW_CHECK(jsw_axpby(dev, JSW_BF16, kTokens * kOut, 1.0f, y.get(), 0.0f, dy));
    JSW_CHECK(jsw_axpby(dev, JSW_BF16, kTokens * kOut, -1.0f, target.get(), 1.0f, dy));
    JSW_CHECK(jsw_lora_bwd(dev, JSW_BF16, dy, x.get(), w.get(), a16.get(), b16.get(), xa, kTokens, kIn, kOut, kRank,
                           kScale, kDropout, kSeed, nullptr, da.as<float>(), db.as<float>()));
    JSW_CHECK(jsw_free(dev, dy));
    JSW_CHECK(jsw_free(dev, xa));
    JSW_CHECK(jsw_memset(dev, sumsq.get(), 0, 4));
    JSW_CHECK(jsw_sumsq(dev, JSW_F32, da.get(), kRank * kIn, sumsq.as<float>()));
    JSW_CHECK(jsw_sumsq(dev, JSW_F32, db.get(), kOut * kRank, sumsq.as<float>()));
    JSW_CHECK(jsw_clip_coef(dev, sumsq.as<float>(), 1.0f, norm.as<float>(), coef.as<float>()));
  }

  // Eager: the step's learning rate and count as kernel arguments.
  void adamw(float lr, int64_t step) {
    JSW_CHECK(jsw_adamw_step(dev, a32.as<float>(), da.as<float>(), ma.as<float>(), va.as<float>(), kRank * kIn, lr,
                             0.9f, 0.95f, 1e-8f, 0.1f, step, coef.as<float>(), JSW_BF16, a16.get()));
    JSW_CHECK(jsw_adamw_step(dev, b32.as<float>(), db.as<float>(), mb.as<float>(), vb.as<float>(), kOut * kRank, lr,
                             0.9f, 0.95f, 1e-8f, 0.1f, step, coef.as<float>(), JSW_BF16, b16.get()));
  }

  // Graph form: the scalars are read from device memory, rewritten before each replay.
  void adamw_dev(const float* scalars) {
    JSW_CHECK(jsw_adamw_step_dev(dev, a32.as<float>(), da.as<float>(), ma.as<float>(), va.as<float>(), kRank * kIn,
                                 scalars, coef.as<float>(), JSW_BF16, a16.get()));
    JSW_CHECK(jsw_adamw_step_dev(dev, b32.as<float>(), db.as<float>(), mb.as<float>(), vb.as<float>(), kOut * kRank,
                                 scalars, coef.as<float>(), JSW_BF16, b16.get()));
  }
};

float lr_at(int64_t step) { return 1e-2f * (1.0f + 0.25f * float(step)); }  // changes every step

void write_scalars(int dev, const Buffer& scalars, int64_t step) {
  float k[8];
  JSW_CHECK(jsw_adamw_scalars(lr_at(step), 0.9f, 0.95f, 1e-8f, 0.1f, step, k));
  JSW_CHECK(jsw_memcpy(scalars.get(), dev, k, JSW_CPU, sizeof k));  // outside the capture, ordered before a replay
}

// Sets the device's dropout step back to 0 on scope exit: the other tests' masks assume step 0.
class DropoutStepReset {
 public:
  explicit DropoutStepReset(int device) : device_(device) {}
  ~DropoutStepReset() { jsw_set_dropout_step(device_, 0); }
  DropoutStepReset(const DropoutStepReset&) = delete;
  DropoutStepReset& operator=(const DropoutStepReset&) = delete;

 private:
  int device_;
};

void check_lora_step_replays(int dev) {
  DropoutStepReset reset(dev);
  LoraLayer eager(dev), graphed(dev);
  Buffer scalars = zeros(dev, JSW_F32, 8);
  std::vector<float> a_initial = download(graphed.a32, JSW_F32, LoraLayer::kRank * LoraLayer::kIn);
  // Step 1 eagerly for both: the warm-up that fills the allocator's cache with every block the step needs.
  JSW_CHECK(jsw_set_dropout_step(dev, 1));
  eager.forward_backward();
  eager.adamw(lr_at(1), 1);
  graphed.forward_backward();
  write_scalars(dev, scalars, 1);
  graphed.adamw_dev(scalars.as<float>());
  // Capture the steady-state step once; nothing runs during the capture.
  int64_t stats_before[4];
  void* graph = nullptr;
  {
    Capture capture(dev);  // (the first begin also sets cuBLAS's fixed workspace, before capturing)
    JSW_CHECK(jsw_memory_stats(dev, stats_before));
    graphed.forward_backward();
    graphed.adamw_dev(scalars.as<float>());
    JSW_CHECK(capture.end(&graph));
  }
  JSW_EXPECT(graph != nullptr, "no graph handle");
  int64_t stats_after[4];
  JSW_CHECK(jsw_memory_stats(dev, stats_after));
  if (dev != JSW_CPU)  // (the CPU allocates as it records; its replays allocate nothing either)
    JSW_EXPECT(stats_after[3] == stats_before[3], "the capture made %lld cudaMalloc calls",
               (long long)(stats_after[3] - stats_before[3]));
  for (int64_t step = 2; step <= 6; step++) {
    // Each step's dropout mask: the step is set in memory before the eager ops and before the replay alike.
    JSW_CHECK(jsw_set_dropout_step(dev, step));
    eager.forward_backward();
    eager.adamw(lr_at(step), step);
    write_scalars(dev, scalars, step);
    JSW_CHECK(jsw_graph_launch(graph));
  }
  JSW_CHECK(jsw_synchronize(dev));
  const int64_t na = LoraLayer::kRank * LoraLayer::kIn, nb = LoraLayer::kOut * LoraLayer::kRank;
  // Tolerance: none. The replay runs the same kernels with the same arguments and scalars on the same data in
  // the same order (cuBLAS with the same fixed workspace), so every bit must agree.
  expect_bits("A (fp32 master)", download(graphed.a32, JSW_F32, na), download(eager.a32, JSW_F32, na));
  expect_bits("B (fp32 master)", download(graphed.b32, JSW_F32, nb), download(eager.b32, JSW_F32, nb));
  expect_bits("A bf16 copy", download(graphed.a16, JSW_BF16, na), download(eager.a16, JSW_BF16, na));
  expect_bits("exp_avg(A)", download(graphed.ma, JSW_F32, na), download(eager.ma, JSW_F32, na));
  expect_bits("exp_avg_sq(B)", download(graphed.vb, JSW_F32, nb), download(eager.vb, JSW_F32, nb));
  expect_bits("y of step 6", download(graphed.y, JSW_BF16, LoraLayer::kTokens * LoraLayer::kOut),
              download(eager.y, JSW_BF16, LoraLayer::kTokens * LoraLayer::kOut));
  expect_bits("grad norm of step 6", download(graphed.norm, JSW_F32, 1), download(eager.norm, JSW_F32, 1));
  // The replays did train: A moved away from its initial values at every element that had a gradient.
  std::vector<float> a_now = download(graphed.a32, JSW_F32, na);
  int64_t moved = 0;
  for (int64_t i = 0; i < na; i++) moved += a_now[size_t(i)] != a_initial[size_t(i)];
  JSW_EXPECT(moved > na * 9 / 10, "only %lld of %lld elements of A changed", (long long)moved, (long long)na);
  JSW_CHECK(jsw_graph_destroy(graph));
}

}  // namespace

JSW_TEST(graph_replays_a_lora_training_step_bit_for_bit_cpu) { check_lora_step_replays(JSW_CPU); }

JSW_CUDA_TEST(graph_replays_a_lora_training_step_bit_for_bit_cuda) {
  cuda_only_behaviour("CUDA graphs");
  check_lora_step_replays(cuda_device());
}

namespace {

void check_cache_miss_refused(int dev);

void check_refusals(int dev) {
  Buffer t = zeros(dev, JSW_F32, 16);
  // 1. synchronizing: refused at once, reported again by jsw_graph_end, and the stream is fine afterwards
  void* g = reinterpret_cast<void*>(1);
  {
    Capture capture(dev);
    JSW_CHECK(jsw_fill(dev, JSW_F32, t.get(), 1.0f, 16));
    JSW_EXPECT(jsw_synchronize(dev) == JSW_ERR_UNSUPPORTED, "synchronize during capture: %s", jsw_last_error());
    JSW_EXPECT(message_has("graph capture"), "message: %s", jsw_last_error());
    JSW_EXPECT(capture.end(&g) == JSW_ERR_UNSUPPORTED, "end of a broken capture: %s", jsw_last_error());
    JSW_EXPECT(g == nullptr, "a broken capture gives no graph");
    JSW_EXPECT(message_has("jsw_synchronize"), "end names the first failure: %s", jsw_last_error());
  }
  JSW_CHECK(jsw_fill(dev, JSW_F32, t.get(), 2.0f, 16));  // eager work after the failed capture runs normally...
  JSW_CHECK(jsw_synchronize(dev));
  std::vector<float> v = download(t, JSW_F32, 16);
  JSW_EXPECT(v[0] == 2.0f && v[15] == 2.0f, "eager fill after the capture: %g", double(v[0]));
  // 2. a host copy
  {
    Capture capture(dev);
    float host[16] = {};
    JSW_EXPECT(jsw_memcpy(host, JSW_CPU, t.get(), dev, 64) == JSW_ERR_UNSUPPORTED, "memcpy: %s", jsw_last_error());
    JSW_EXPECT(message_has("jsw_memcpy"), "message: %s", jsw_last_error());
    JSW_EXPECT(capture.end(&g) == JSW_ERR_UNSUPPORTED, "end: %s", jsw_last_error());
  }
  if (dev == JSW_CPU) {
    // 2b. the CPU's host memory is any memory jsw_malloc did not hand out
    std::vector<float> host(16, 1.0f);
    Capture capture(dev);
    JSW_EXPECT(jsw_memcpy(t.get(), dev, host.data(), JSW_CPU, 64) == JSW_ERR_UNSUPPORTED, "upload: %s",
               jsw_last_error());
    JSW_EXPECT(message_has("host memory"), "message: %s", jsw_last_error());
    JSW_EXPECT(capture.end(&g) == JSW_ERR_UNSUPPORTED, "end: %s", jsw_last_error());
  } else {
    check_cache_miss_refused(dev);
  }
  // 4. misuse of begin / end
  JSW_EXPECT(jsw_graph_end(dev, &g) == JSW_ERR_INVALID_ARGUMENT, "end without begin: %s", jsw_last_error());
  {
    Capture capture(dev);
    JSW_EXPECT(jsw_graph_begin(dev) == JSW_ERR_INVALID_ARGUMENT, "nested begin: %s", jsw_last_error());
    JSW_EXPECT(message_has("already"), "message: %s", jsw_last_error());
    JSW_CHECK(jsw_fill(dev, JSW_F32, t.get(), 3.0f, 16));
    JSW_CHECK(capture.end(&g));  // the first capture is intact
  }
  JSW_CHECK(jsw_graph_launch(g));
  JSW_CHECK(jsw_synchronize(dev));
  JSW_EXPECT(download(t, JSW_F32, 16)[7] == 3.0f, "the replayed fill wrote 3");
  JSW_CHECK(jsw_graph_destroy(g));
}

// 3. an allocation the cache cannot serve (a size no earlier test used): refused, not cudaMalloc'ed
void check_cache_miss_refused(int dev) {
  void* g = nullptr;
  const int64_t odd = 1000 * 512 + 1;
  int64_t before[4], after[4];
  void* p = reinterpret_cast<void*>(1);
  {
    Capture capture(dev);
    JSW_CHECK(jsw_memory_stats(dev, before));
    JSW_EXPECT(jsw_malloc(dev, odd, &p) == JSW_ERR_UNSUPPORTED, "cache miss during capture: %s", jsw_last_error());
    JSW_EXPECT(p == nullptr, "no pointer from a refused allocation");
    JSW_EXPECT(message_has("no cached block"), "message: %s", jsw_last_error());
    JSW_EXPECT(capture.end(&g) == JSW_ERR_UNSUPPORTED, "end: %s", jsw_last_error());
    JSW_EXPECT(message_has("run the captured sequence once eagerly first"), "message: %s", jsw_last_error());
  }
  JSW_CHECK(jsw_memory_stats(dev, after));
  JSW_EXPECT(after[3] == before[3], "the refused capture made %lld cudaMalloc calls",
             (long long)(after[3] - before[3]));
  JSW_CHECK(jsw_malloc(dev, odd, &p));  // eagerly it is an ordinary allocation
  JSW_CHECK(jsw_free(dev, p));
}

}  // namespace

JSW_TEST(graph_capture_refuses_what_cannot_be_captured_cpu) { check_refusals(JSW_CPU); }

JSW_CUDA_TEST(graph_capture_refuses_what_cannot_be_captured_cuda) {
  cuda_only_behaviour("CUDA graphs");
  check_refusals(cuda_device());
}

namespace {

void check_freed_blocks_kept(int dev) {
  const bool cuda = dev != JSW_CPU;
  const int64_t bytes = 777 * 512;  // a size class of its own in this test program
  void* warm = nullptr;
  JSW_CHECK(jsw_malloc(dev, bytes, &warm));
  JSW_CHECK(jsw_free(dev, warm));  // cached (CUDA)
  Buffer out = zeros(dev, JSW_F32, 1);
  void* tmp = nullptr;
  void* g = nullptr;
  {
    Capture capture(dev);
    JSW_CHECK(jsw_malloc(dev, bytes, &tmp));
    if (cuda) JSW_EXPECT(tmp == warm, "the capture's allocation comes from the cache");
    JSW_CHECK(jsw_fill(dev, JSW_F32, tmp, 5.0f, 4));
    JSW_CHECK(jsw_sumsq(dev, JSW_F32, tmp, 4, out.as<float>()));
    JSW_CHECK(jsw_free(dev, tmp));
    JSW_CHECK(capture.end(&g));
  }
  // While the graph lives, its temporary is not handed out again: eager code gets another block.
  void* other = nullptr;
  JSW_CHECK(jsw_malloc(dev, bytes, &other));
  JSW_EXPECT(other != tmp, "a block the graph writes on replay was handed to eager code");
  JSW_CHECK(jsw_fill(dev, JSW_F32, other, -1.0f, 4));
  JSW_CHECK(jsw_memset(dev, out.get(), 0, 4));
  JSW_CHECK(jsw_graph_launch(g));
  JSW_CHECK(jsw_graph_launch(g));
  JSW_CHECK(jsw_synchronize(dev));
  JSW_EXPECT(download(out, JSW_F32, 1)[0] == 200.0f, "two replays of sum(5^2 x 4): %g",
             double(download(out, JSW_F32, 1)[0]));
  float host[4] = {};
  JSW_CHECK(jsw_memcpy(host, JSW_CPU, other, dev, sizeof host));
  JSW_EXPECT(host[0] == -1.0f && host[3] == -1.0f, "the replays wrote into eager code's block: %g", double(host[0]));
  JSW_CHECK(jsw_free(dev, other));
  JSW_CHECK(jsw_graph_destroy(g));
  if (!cuda) return;  // the CPU frees the graph's blocks (no cache to return them to)
  // Destroyed: both blocks are back in the cache (two allocations of that size need no cudaMalloc).
  int64_t before[4], after[4];
  JSW_CHECK(jsw_memory_stats(dev, before));
  void* p1 = nullptr;
  void* p2 = nullptr;
  JSW_CHECK(jsw_malloc(dev, bytes, &p1));
  JSW_CHECK(jsw_malloc(dev, bytes, &p2));
  JSW_CHECK(jsw_memory_stats(dev, after));
  JSW_EXPECT(after[3] == before[3], "allocations after destroy needed cudaMalloc");
  JSW_EXPECT((std::set<void*>{p1, p2} == std::set<void*>{tmp, other}), "the graph's block came back");
  JSW_CHECK(jsw_free(dev, p1));
  JSW_CHECK(jsw_free(dev, p2));
}

}  // namespace

JSW_TEST(graph_keeps_the_blocks_it_freed_until_destroyed_cpu) { check_freed_blocks_kept(JSW_CPU); }

JSW_CUDA_TEST(graph_keeps_the_blocks_it_freed_until_destroyed_cuda) {
  cuda_only_behaviour("CUDA graphs");
  check_freed_blocks_kept(cuda_device());
}

namespace {

// A copy within the device is stream-ordered, not a host wait: it is captured, and each replay copies what the
// source holds at that replay.
void check_copy_captured(int dev) {
  Buffer src = upload(dev, JSW_F32, std::vector<float>{1, 2, 3, 4}), dst = poisoned(dev, JSW_F32, 4);
  void* g = nullptr;
  {
    Capture capture(dev);
    JSW_CHECK(jsw_memcpy(dst.get(), dev, src.get(), dev, 16));
    JSW_CHECK(capture.end(&g));
  }
  JSW_EXPECT(g != nullptr, "a graph");
  for (float base : {10.0f, 20.0f}) {
    const std::vector<float> now{base, base + 1, base + 2, base + 3};
    JSW_CHECK(jsw_memcpy(src.get(), dev, now.data(), JSW_CPU, 16));
    JSW_CHECK(jsw_graph_launch(g));
    expect_bits("replayed copy", download(dst, JSW_F32, 4), now);
  }
  JSW_CHECK(jsw_graph_destroy(g));
}

}  // namespace

JSW_TEST(graph_captures_a_copy_within_the_device_cpu) { check_copy_captured(JSW_CPU); }

JSW_CUDA_TEST(graph_captures_a_copy_within_the_device_cuda) {
  cuda_only_behaviour("CUDA graphs");
  check_copy_captured(cuda_device());
}

// The dropout step lives in device memory: one capture of a dropout replays with the mask of whichever step was
// set before each launch (the eager op's mask at that step), and masks differ from step to step.
namespace {

void check_dropout_step(int dev) {
  DropoutStepReset reset(dev);
  const int64_t n = 4096;
  const float p = 0.3f;
  const uint64_t seed = 99;
  Buffer x = upload(dev, JSW_F32, randn(n, 7)), y = zeros(dev, JSW_F32, n), eager = zeros(dev, JSW_F32, n);
  JSW_CHECK(jsw_set_dropout_step(dev, 0));
  JSW_CHECK(jsw_dropout(dev, JSW_F32, x.get(), n, p, seed, eager.get()));
  std::vector<float> step0 = download(eager, JSW_F32, n);
  int64_t kept = 0;
  for (float v : step0) kept += v != 0.0f;
  JSW_EXPECT(kept > n / 2 && kept < n * 9 / 10, "kept %lld of %lld at p = 0.3", (long long)kept, (long long)n);
  void* g = nullptr;
  {
    Capture capture(dev);
    JSW_CHECK(jsw_dropout(dev, JSW_F32, x.get(), n, p, seed, y.get()));
    JSW_CHECK(capture.end(&g));
  }
  std::vector<float> previous = step0;
  for (int64_t step : {1, 2, 1000003}) {
    JSW_CHECK(jsw_set_dropout_step(dev, step));
    JSW_CHECK(jsw_graph_launch(g));
    JSW_CHECK(jsw_dropout(dev, JSW_F32, x.get(), n, p, seed, eager.get()));
    std::vector<float> replayed = download(y, JSW_F32, n);
    expect_bits("replay at step " + std::to_string(step), replayed, download(eager, JSW_F32, n));
    int64_t differ = 0;
    for (int64_t i = 0; i < n; i++) differ += (replayed[size_t(i)] == 0.0f) != (previous[size_t(i)] == 0.0f);
    JSW_EXPECT(differ > n / 10, "step %lld drops nearly the elements the step before dropped (%lld differ)",
               (long long)step, (long long)differ);
    previous = replayed;
  }
  JSW_CHECK(jsw_graph_destroy(g));
  JSW_EXPECT(jsw_set_dropout_step(-2, 1) == JSW_ERR_INVALID_ARGUMENT, "device -2: %s", jsw_last_error());
}

}  // namespace

JSW_TEST(graph_replays_dropout_with_the_step_set_before_each_launch_cpu) { check_dropout_step(JSW_CPU); }

JSW_CUDA_TEST(graph_replays_dropout_with_the_step_set_before_each_launch_cuda) {
  cuda_only_behaviour("CUDA graphs");
  check_dropout_step(cuda_device());
}

// A big NF4 product runs as a pipeline on CUDA (qmatmul.cu: panels dequantized on a side stream while the previous
// panel's GEMM runs on the device stream, joined by events). A capture takes the side stream in by
// those events: the replays of a captured forward and backward give bit for bit the eager ops' results, for new
// inputs at each replay.
namespace {

void check_pipelined_nf4_matmul(int dev) {
  // On CUDA 4096 tokens x 2048 outputs (kernels/qmatmul.h's pipeline_panels: 8 Mi outputs of 2 Mi each): 4 panels
  // of the pipeline each way (forward: row panels of 512; backward: column panels of 512 in a 1 Mi-value budget),
  // so the capture takes in the side stream's wait for the GEMM of panel i - 2 (i >= 2) too; the CPU, which has
  // no pipeline, checks the calls small
  const int64_t out = 2048, in = 2048, rows = dev == JSW_CPU ? 64 : 4096, n = out * in;
  Buffer w = upload(dev, JSW_F32, randn(n, 21, 0.05f));
  Buffer packed(dev, n / 2), absmax(dev, n / 64 * 4);
  JSW_CHECK(jsw_nf4_quantize(dev, JSW_F32, w.get(), n, 64, packed.as<uint8_t>(), absmax.as<float>()));
  Buffer x = zeros(dev, JSW_BF16, rows * in), dy = zeros(dev, JSW_BF16, rows * out);
  Buffer y = zeros(dev, JSW_BF16, rows * out), dx = zeros(dev, JSW_BF16, rows * in);
  Buffer y_eager = zeros(dev, JSW_BF16, rows * out), dx_eager = zeros(dev, JSW_BF16, rows * in);
  auto product = [&](const Buffer& in_buf, int trans, const Buffer& out_buf) {
    JSW_CHECK(jsw_nf4_matmul(dev, JSW_BF16, in_buf.get(), rows, trans, packed.as<uint8_t>(), absmax.as<float>(),
                             nullptr, nullptr, nullptr, 0.0f, out, in, 64, 0.0f, out_buf.get()));
  };
  auto set = [&](const Buffer& b, int64_t count, uint64_t seed) {
    const std::vector<float> v = round_to(randn(count, seed), JSW_BF16);
    Buffer tmp = upload(dev, JSW_BF16, v);
    JSW_CHECK(jsw_memcpy(b.get(), dev, tmp.get(), dev, count * 2));
  };
  set(x, rows * in, 1);
  set(dy, rows * out, 2);
  product(x, 0, y_eager);  // eager first: a graph's warm-up (the pipeline's stream and events are made outside)
  product(dy, 1, dx_eager);
  void* g = nullptr;
  {
    Capture capture(dev);
    product(x, 0, y);
    product(dy, 1, dx);
    JSW_CHECK(capture.end(&g));
  }
  for (uint64_t seed : {3, 5}) {
    set(x, rows * in, seed);
    set(dy, rows * out, seed + 1);
    JSW_CHECK(jsw_graph_launch(g));
    product(x, 0, y_eager);
    product(dy, 1, dx_eager);
    expect_bits("replayed forward", download(y, JSW_BF16, rows * out), download(y_eager, JSW_BF16, rows * out));
    expect_bits("replayed backward", download(dx, JSW_BF16, rows * in), download(dx_eager, JSW_BF16, rows * in));
  }
  JSW_CHECK(jsw_graph_destroy(g));
}

}  // namespace

JSW_TEST(graph_replays_a_pipelined_nf4_matmul_cpu) { check_pipelined_nf4_matmul(JSW_CPU); }

JSW_CUDA_TEST(graph_replays_a_pipelined_nf4_matmul_cuda) {
  cuda_only_behaviour("CUDA graphs");
  check_pipelined_nf4_matmul(cuda_device());
}
