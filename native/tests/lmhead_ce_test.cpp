// Fused LM head + cross-entropy: the CPU kernel against a double-precision loop (forward, backward, fused,
// several chunk sizes), its label checks, and the CUDA twin against the CPU kernel.
#include <algorithm>
#include <cstring>

#include "test.h"

using namespace jsw_test;

namespace {

constexpr int32_t kIgnore = -100;

struct Problem {
  int64_t tokens, dim, vocab;
  std::vector<float> h, w, dloss, dw0;
  std::vector<int32_t> labels;
};

// Random hidden states and weight, labels with ~1/5 ignored, per-token dloss of both signs (a negative one is a
// log-prob gradient) and one zero, and a non-zero dweight to accumulate onto.
Problem make_problem(int64_t tokens, int64_t dim, int64_t vocab, uint64_t seed, int dtype) {
  Problem p{tokens, dim, vocab};
  p.h = round_to(randn(tokens * dim, seed), dtype);
  p.w = round_to(randn(vocab * dim, seed + 1, 0.3f), dtype);
  p.dloss = uniform(tokens, seed + 2, -1.0f, 1.0f);
  if (tokens > 2) p.dloss[1] = 0.0f;
  p.dw0 = uniform(vocab * dim, seed + 3, -1.0f, 1.0f);
  std::vector<float> u = uniform(tokens, seed + 4, 0.0f, 1.0f);
  for (int64_t t = 0; t < tokens; t++)
    p.labels.push_back(u[t] < 0.2f && t > 0 ? kIgnore : int32_t(float(vocab) * (u[t] - 0.2f) / 0.8f) % int32_t(vocab));
  for (auto& l : p.labels)
    if (l < 0 && l != kIgnore) l = 0;
  return p;
}

struct Result {
  std::vector<float> loss, lse, dh, dw;
  std::vector<int32_t> argmax;
};

Result reference(const Problem& p) {
  const int64_t T = p.tokens, D = p.dim, V = p.vocab;
  Result r;
  r.loss.assign(T, 0.0f);
  r.lse.assign(T, 0.0f);
  r.argmax.assign(T, 0);
  r.dh.assign(T * D, 0.0f);
  std::vector<double> dw(static_cast<size_t>(V * D), 0.0), logit(static_cast<size_t>(V), 0.0);
  for (int64_t t = 0; t < T; t++) {
    double m = -INFINITY;
    for (int64_t v = 0; v < V; v++) {
      double s = 0;
      for (int64_t k = 0; k < D; k++) s += double(p.h[t * D + k]) * p.w[v * D + k];
      logit[v] = s;
      if (s > m) {
        m = s;
        r.argmax[t] = int32_t(v);
      }
    }
    double se = 0;
    for (int64_t v = 0; v < V; v++) se += std::exp(logit[v] - m);
    double lse = m + std::log(se);
    r.lse[t] = float(lse);
    int32_t label = p.labels[t];
    if (label == kIgnore) continue;
    r.loss[t] = float(lse - logit[label]);
    for (int64_t v = 0; v < V; v++) {
      double g = p.dloss[t] * (std::exp(logit[v] - lse) - (v == label ? 1.0 : 0.0));
      for (int64_t k = 0; k < D; k++) {
        r.dh[t * D + k] = float(r.dh[t * D + k] + g * p.w[v * D + k]);
        dw[v * D + k] += g * p.h[t * D + k];
      }
    }
  }
  r.dw.resize(size_t(V * D));
  for (size_t i = 0; i < dw.size(); i++) r.dw[i] = float(dw[i]);
  return r;
}

enum class Call { kSeparate, kFused };

// Runs the op on `device` with poisoned outputs; dw is returned as the increment over the starting dweight.
Result run(const Problem& p, int device, int dtype, int64_t chunk, Call call) {
  const int64_t T = p.tokens, D = p.dim, V = p.vocab;
  Buffer h = upload(device, dtype, p.h), w = upload(device, dtype, p.w), dloss = upload(device, JSW_F32, p.dloss);
  Buffer labels = upload_i32(device, p.labels), dw = upload(device, JSW_F32, p.dw0);
  Buffer loss = poisoned(device, JSW_F32, T), lse = poisoned(device, JSW_F32, T), dh = poisoned(device, dtype, T * D);
  Buffer argmax(device, T * 4);
  JSW_CHECK(jsw_memset(device, argmax.get(), 0xff, T * 4));
  if (call == Call::kSeparate) {
    JSW_CHECK(jsw_lmhead_ce_fwd(device, dtype, h.get(), w.get(), labels.as<int32_t>(), T, D, V, kIgnore, chunk,
                                loss.as<float>(), lse.as<float>(), argmax.as<int32_t>()));
    JSW_CHECK(jsw_lmhead_ce_bwd(device, dtype, h.get(), w.get(), labels.as<int32_t>(), lse.as<float>(),
                                dloss.as<float>(), T, D, V, kIgnore, chunk, dh.get(), dw.as<float>()));
  } else {
    JSW_CHECK(jsw_lmhead_ce_fwd_bwd(device, dtype, h.get(), w.get(), labels.as<int32_t>(), dloss.as<float>(), T, D, V,
                                    kIgnore, chunk, loss.as<float>(), lse.as<float>(), argmax.as<int32_t>(), dh.get(),
                                    dw.as<float>()));
  }
  JSW_CHECK(jsw_synchronize(device));
  Result r{download(loss, JSW_F32, T), download(lse, JSW_F32, T), download(dh, dtype, T * D),
           download(dw, JSW_F32, V * D), download_i32(argmax, T)};
  for (int64_t i = 0; i < V * D; i++) r.dw[i] -= p.dw0[i];
  return r;
}

void expect_argmax(const std::string& what, const std::vector<int32_t>& got, const std::vector<int32_t>& want) {
  for (size_t t = 0; t < want.size(); t++)
    JSW_EXPECT(got[t] == want[t], "%s: row %zu got %d want %d", what.c_str(), t, got[t], want[t]);
}

struct Shape {
  int64_t tokens, dim, vocab, chunk;
};

}  // namespace

JSW_TEST(lmhead_ce_cpu_matches_double_reference) {
  // Chunks that do not divide tokens, a single token, a vocab of 1, and the default chunk (0).
  for (Shape s : {Shape{1, 16, 7, 0}, Shape{37, 64, 1000, 10}, Shape{64, 32, 5003, 0}, Shape{13, 48, 257, 5},
                  Shape{9, 8, 1, 4}, Shape{300, 24, 97, 0}}) {
    Problem p = make_problem(s.tokens, s.dim, s.vocab, 11, JSW_F32);
    Result want = reference(p);
    for (Call call : {Call::kSeparate, Call::kFused}) {
      Result got = run(p, JSW_CPU, JSW_F32, s.chunk, call);
      std::string tag = "T" + std::to_string(s.tokens) + " V" + std::to_string(s.vocab) + " chunk " +
                        std::to_string(s.chunk) + (call == Call::kFused ? " fused" : " separate");
      // fp32 GEMMs over dim <= 64 terms and fp32 softmax sums: ~1e-6 relative, so 1e-5 with an absolute floor.
      expect_close(tag + " loss", got.loss, want.loss, 2e-5f, 1e-5f);
      expect_close(tag + " lse", got.lse, want.lse, 2e-5f, 1e-5f);
      expect_close(tag + " dhidden", got.dh, want.dh, 2e-5f, 1e-4f);
      expect_close(tag + " dweight", got.dw, want.dw, 2e-5f, 1e-4f);
      expect_argmax(tag + " argmax", got.argmax, want.argmax);
    }
  }
}

JSW_TEST(lmhead_ce_cpu_half_precision_storage) {
  for (int dtype : {JSW_BF16, JSW_F16}) {
    Problem p = make_problem(21, 40, 300, 5, dtype);
    Result want = reference(p);  // on the same rounded inputs
    for (Call call : {Call::kSeparate, Call::kFused}) {
      Result got = run(p, JSW_CPU, dtype, 8, call);
      std::string tag = std::string(dtype == JSW_BF16 ? "bf16" : "f16") + (call == Call::kFused ? " fused" : "");
      // Inputs are exact in fp32 and the math is fp32, so only dhidden's final rounding to the storage type
      // (2^-9 bf16, 2^-12 f16 relative) differs from fp32 accuracy.
      expect_close(tag + " loss", got.loss, want.loss, 2e-5f, 1e-5f);
      expect_close(tag + " dweight", got.dw, want.dw, 2e-5f, 1e-4f);
      expect_close(tag + " dhidden", got.dh, want.dh, 1e-4f, dtype == JSW_BF16 ? 8e-3f : 1e-3f);
    }
  }
}

JSW_TEST(lmhead_ce_cpu_chunking_does_not_change_results) {
  Problem p = make_problem(50, 32, 411, 3, JSW_F32);
  Result whole = run(p, JSW_CPU, JSW_F32, 50, Call::kFused);
  for (int64_t chunk : {1, 7, 49, 1000}) {
    Result got = run(p, JSW_CPU, JSW_F32, chunk, Call::kFused);
    // Row results do not depend on the chunk beyond sgemm's blocking; dweight sums chunk by chunk in fp32.
    expect_close("loss chunk " + std::to_string(chunk), got.loss, whole.loss, 1e-6f, 1e-6f);
    expect_close("dhidden chunk " + std::to_string(chunk), got.dh, whole.dh, 1e-6f, 1e-5f);
    expect_close("dweight chunk " + std::to_string(chunk), got.dw, whole.dw, 1e-5f, 1e-5f);
  }
}

JSW_TEST(lmhead_ce_cpu_rows_without_gradient) {
  // Chunks of 3 where every row of the middle chunk is ignored and dloss is 0 on others: those rows are left
  // out of the backward GEMMs, yet must come back with zero dhidden (over the poison) and leave dweight alone.
  Problem p = make_problem(9, 16, 33, 4, JSW_F32);
  for (int t = 3; t < 6; t++) p.labels[size_t(t)] = kIgnore;
  p.dloss[0] = 0.0f;
  p.dloss[7] = 0.0f;
  Result want = reference(p);
  for (Call call : {Call::kSeparate, Call::kFused}) {
    Result got = run(p, JSW_CPU, JSW_F32, 3, call);
    expect_close("loss", got.loss, want.loss, 2e-5f, 1e-5f);
    expect_close("lse", got.lse, want.lse, 2e-5f, 1e-5f);
    expect_close("dhidden", got.dh, want.dh, 2e-5f, 1e-4f);
    expect_close("dweight", got.dw, want.dw, 2e-5f, 1e-4f);
    for (int64_t i = 3 * 16; i < 6 * 16; i++)
      JSW_EXPECT(got.dh[size_t(i)] == 0.0f, "dhidden[%lld] of an ignored row", (long long)i);
  }
  // Every row ignored: nothing to differentiate at all.
  for (auto& l : p.labels) l = kIgnore;
  Result none = run(p, JSW_CPU, JSW_F32, 4, Call::kFused);
  for (float v : none.dh) JSW_EXPECT(v == 0.0f, "dhidden %g with every row ignored", double(v));
  for (float v : none.dw) JSW_EXPECT(v == 0.0f, "dweight moved by %g with every row ignored", double(v));
  for (float v : none.loss) JSW_EXPECT(v == 0.0f, "loss %g with every row ignored", double(v));
}

JSW_TEST(lmhead_ce_cpu_rejects_bad_labels_before_writing) {
  Problem p = make_problem(12, 8, 50, 9, JSW_F32);
  p.labels[7] = 50;  // == vocab
  Buffer h = upload(JSW_CPU, JSW_F32, p.h), w = upload(JSW_CPU, JSW_F32, p.w);
  Buffer labels = upload_i32(JSW_CPU, p.labels), dloss = upload(JSW_CPU, JSW_F32, p.dloss);
  Buffer loss = poisoned(JSW_CPU, JSW_F32, 12), lse = poisoned(JSW_CPU, JSW_F32, 12);
  Buffer dh = poisoned(JSW_CPU, JSW_F32, 12 * 8), dw = zeros(JSW_CPU, JSW_F32, 50 * 8);
  int st = jsw_lmhead_ce_fwd_bwd(JSW_CPU, JSW_F32, h.get(), w.get(), labels.as<int32_t>(), dloss.as<float>(), 12, 8, 50,
                                 kIgnore, 0, loss.as<float>(), lse.as<float>(), nullptr, dh.get(), dw.as<float>());
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "status %d", st);
  JSW_EXPECT(std::string(jsw_last_error()).find("labels[7] = 50 is outside [0, 50)") != std::string::npos,
             "message: %s", jsw_last_error());
  std::vector<float> l = download(loss, JSW_F32, 12), g = download(dw, JSW_F32, 50 * 8);
  for (float v : l) JSW_EXPECT(std::isnan(v), "loss was written before the label check");
  for (float v : g) JSW_EXPECT(v == 0.0f, "dweight was written before the label check");
  p.labels[7] = -1;  // negative and not the ignore index
  Buffer labels2 = upload_i32(JSW_CPU, p.labels);
  st = jsw_lmhead_ce_fwd(JSW_CPU, JSW_F32, h.get(), w.get(), labels2.as<int32_t>(), 12, 8, 50, kIgnore, 0,
                         loss.as<float>(), lse.as<float>(), nullptr);
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT &&
                 std::string(jsw_last_error()).find("labels[7] = -1") != std::string::npos,
             "status %d: %s", st, jsw_last_error());
}

JSW_TEST(lmhead_ce_rejects_bad_arguments) {
  Buffer b(JSW_CPU, 4096);
  int32_t labels[2] = {0, 1};
  float* f = b.as<float>();
  auto fwd = [&](int device, int dtype, int64_t tokens, int64_t dim, int64_t vocab, int64_t chunk, float* loss) {
    return jsw_lmhead_ce_fwd(device, dtype, f, f, labels, tokens, dim, vocab, kIgnore, chunk, loss, f, nullptr);
  };
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, 2, 0, 4, 0, f) == JSW_ERR_INVALID_ARGUMENT, "dim 0");
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, 2, 4, 0, 0, f) == JSW_ERR_INVALID_ARGUMENT, "vocab 0");
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, -1, 4, 4, 0, f) == JSW_ERR_INVALID_ARGUMENT, "negative tokens");
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, 2, 4, 4, -3, f) == JSW_ERR_INVALID_ARGUMENT, "negative chunk");
  JSW_EXPECT(fwd(JSW_CPU, JSW_I32, 2, 4, 4, 0, f) == JSW_ERR_INVALID_ARGUMENT, "int dtype");
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, 2, 4, 4, 0, nullptr) == JSW_ERR_INVALID_ARGUMENT, "null loss");
  JSW_EXPECT(std::string(jsw_last_error()).find("loss is a null pointer") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, 0, 4, 4, 0, nullptr) == JSW_OK, "no tokens is a no-op");
  JSW_EXPECT(jsw_lmhead_ce_bwd(JSW_CPU, JSW_F32, f, f, labels, nullptr, f, 2, 4, 4, kIgnore, 0, f, nullptr) ==
                 JSW_ERR_INVALID_ARGUMENT, "null lse");
  int st = fwd(jsw_cuda_device_count(), JSW_F32, 2, 4, 4, 0, f);
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
}

JSW_CUDA_TEST(lmhead_ce_cuda_matches_cpu) {
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    for (Shape s : {Shape{1, 64, 7, 0}, Shape{37, 64, 1000, 10}, Shape{200, 128, 5003, 0}, Shape{33, 96, 32000, 16}}) {
      Problem p = make_problem(s.tokens, s.dim, s.vocab, 21, dtype);
      Result cpu = run(p, JSW_CPU, JSW_F32, s.chunk, Call::kSeparate);  // fp32 reference on the rounded inputs
      std::string tag = "dtype " + std::to_string(dtype) + " T" + std::to_string(s.tokens) + " V" +
                        std::to_string(s.vocab);
      for (Call call : {Call::kSeparate, Call::kFused}) {
        Result gpu = run(p, cuda_device(), dtype, s.chunk, call);
        std::string t = tag + (call == Call::kFused ? " fused" : " separate");
        // Logits are fp32 on both sides (bf16 products are exact in fp32), so loss/lse agree to fp32 summation
        // order. The GPU rounds dlogits to bf16/f16 before the backward GEMMs (cuBLAS takes one input type), so
        // the gradients carry that rounding: relative-norm 1e-2 (bf16) / 2e-3 (f16); fp32 stays tight.
        expect_close(t + " loss", gpu.loss, cpu.loss, 1e-4f, 1e-5f);
        expect_close(t + " lse", gpu.lse, cpu.lse, 1e-4f, 1e-5f);
        double tol = dtype == JSW_F32 ? 1e-5 : dtype == JSW_BF16 ? 1e-2 : 2e-3;
        expect_rel_norm(t + " dhidden", gpu.dh, cpu.dh, tol);
        expect_rel_norm(t + " dweight", gpu.dw, cpu.dw, tol);
        // Near-ties can flip between fp32 summation orders; demand agreement on all but a rare row.
        int64_t differ = 0;
        for (int64_t i = 0; i < s.tokens; i++) differ += gpu.argmax[i] != cpu.argmax[i];
        JSW_EXPECT(differ <= s.tokens / 50, "%s argmax differs on %lld rows", t.c_str(), (long long)differ);
      }
    }
  }
}

JSW_CUDA_TEST(lmhead_ce_cuda_flags_bad_labels) {
  cuda_only_behaviour("bad labels flagged by the kernel");
  Problem p = make_problem(6, 16, 40, 2, JSW_F32);
  p.labels[2] = 5;
  p.labels[3] = 40;
  int d = cuda_device();
  Buffer h = upload(d, JSW_F32, p.h), w = upload(d, JSW_F32, p.w), labels = upload_i32(d, p.labels);
  Buffer dloss = upload(d, JSW_F32, p.dloss), loss = poisoned(d, JSW_F32, 6), lse = poisoned(d, JSW_F32, 6);
  Buffer dh = poisoned(d, JSW_F32, 6 * 16), dw = zeros(d, JSW_F32, 40 * 16);
  JSW_CHECK(jsw_lmhead_ce_fwd_bwd(d, JSW_F32, h.get(), w.get(), labels.as<int32_t>(), dloss.as<float>(), 6, 16, 40,
                                  kIgnore, 0, loss.as<float>(), lse.as<float>(), nullptr, dh.get(), dw.as<float>()));
  int st = jsw_synchronize(d);
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "synchronize status %d", st);
  JSW_EXPECT(std::string(jsw_last_error()).find("label") != std::string::npos, "message: %s", jsw_last_error());
  JSW_CHECK(jsw_synchronize(d));  // the flag was cleared by the report
  std::vector<float> l = download(loss, JSW_F32, 6), g = download(dh, JSW_F32, 6 * 16);
  JSW_EXPECT(l[3] == 0.0f, "bad row's loss %g", double(l[3]));
  for (int k = 0; k < 16; k++)
    JSW_EXPECT(g[3 * 16 + k] == 0.0f, "bad row's dhidden[%d] = %g", k, double(g[3 * 16 + k]));
  JSW_EXPECT(!std::isnan(l[2]) && l[2] > 0.0f, "a good row still has its loss");
}
