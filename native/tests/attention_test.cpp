// Flash attention: the CPU kernels against a naive double-precision attention (full softmax over the visible
// keys), both CPU instruction-set builds of the tile kernels, and the CUDA twin against the CPU kernels.
#include <cstdlib>
#include <limits>

#include "test.h"

using namespace jsw_test;

namespace {

struct Case {
  const char* name;
  int64_t batch, seq_len, heads, kv_heads, head_dim;
  bool causal;
  int64_t window;
  std::vector<int32_t> cu_seqlens;  // packed layout when not empty
  std::vector<int32_t> key_mask;    // padded layout, [batch, seq_len], when not empty
  float scale_value = NAN;          // NaN: 1 / sqrt(head_dim)

  int64_t tokens() const { return cu_seqlens.empty() ? batch * seq_len : cu_seqlens.back(); }
  int64_t start(int64_t b) const { return cu_seqlens.empty() ? b * seq_len : cu_seqlens[b]; }
  int64_t length(int64_t b) const { return cu_seqlens.empty() ? seq_len : cu_seqlens[b + 1] - cu_seqlens[b]; }
  float scale() const { return std::isnan(scale_value) ? 1.0f / std::sqrt(float(head_dim)) : scale_value; }
  bool visible(int64_t b, int64_t i, int64_t j) const {
    return (!causal || j <= i) && (window <= 0 || i - j < window) && (key_mask.empty() || key_mask[b * seq_len + j]);
  }
};

// Right padding: sequence b has lengths[b] real keys.
std::vector<int32_t> right_padding(int64_t seq_len, std::vector<int64_t> lengths) {
  std::vector<int32_t> m;
  for (int64_t len : lengths)
    for (int64_t j = 0; j < seq_len; j++) m.push_back(j < len ? 1 : 0);
  return m;
}

std::vector<Case> cases() {
  return {
      {"causal mha d64 T37 x2", 2, 37, 4, 4, 64, true, 0, {}, {}},
      {"full gqa2 d80 T70", 1, 70, 4, 2, 80, false, 0, {}, {}},
      {"causal gqa4 d128 T130", 1, 130, 8, 2, 128, true, 0, {}, {}},
      {"full mqa d40 T65", 2, 65, 3, 1, 40, false, 0, {}, {}},
      {"causal T1", 3, 1, 2, 1, 64, true, 0, {}, {}},
      {"full T1", 1, 1, 4, 2, 80, false, 0, {}, {}},
      {"causal window16 T150", 1, 150, 2, 1, 64, true, 16, {}, {}},
      {"full window10 gqa2 d40 T77", 1, 77, 4, 2, 40, false, 10, {}, {}},
      {"causal padded mask", 3, 50, 4, 2, 64, true, 0, {}, right_padding(50, {50, 23, 0})},
      {"full padded mask d80", 2, 66, 2, 2, 80, false, 0, {}, right_padding(66, {9, 66})},
      {"causal packed gqa2", 5, 70, 4, 2, 64, true, 0, {0, 37, 37, 101, 102, 172}, {}},
      {"full window packed d128", 3, 130, 2, 1, 128, false, 33, {0, 130, 131, 200}, {}},
      {"causal d256 T20", 1, 20, 2, 2, 256, true, 0, {}, {}},
      {"causal d33 T67", 1, 67, 2, 1, 33, true, 0, {}, {}},
      // Several query and key tiles of the CUDA tensor-core kernels (both double buffers wrap around), and a
      // negative scale, whose largest scaled score is the smallest raw one.
      {"causal gqa2 d64 T300", 1, 300, 4, 2, 64, true, 0, {}, {}},
      {"negative scale causal gqa2 d128 T150", 1, 150, 4, 2, 128, true, 0, {}, {}, -0.11f},
  };
}

struct Inputs {
  std::vector<float> q, k, v, dout;
};

Inputs inputs_for(const Case& c, int dtype, uint64_t seed) {
  int64_t t = c.tokens();
  return {round_to(randn(t * c.heads * c.head_dim, seed), dtype),
          round_to(randn(t * c.kv_heads * c.head_dim, seed + 1), dtype),
          round_to(randn(t * c.kv_heads * c.head_dim, seed + 2), dtype),
          round_to(randn(t * c.heads * c.head_dim, seed + 3), dtype)};
}

struct Result {
  std::vector<float> out, lse, dq, dk, dv;
};

// Naive attention in double: full softmax over the visible keys of each query, then the textbook backward
// (dP = dO V^T, D = rowsum(P dP), dS = P (dP - D)).
Result reference(const Case& c, const Inputs& in) {
  const int64_t T = c.tokens(), H = c.heads, KH = c.kv_heads, D = c.head_dim, G = H / KH;
  const double scale = c.scale();
  std::vector<double> out(T * H * D, 0.0), dq(T * H * D, 0.0), dk(T * KH * D, 0.0), dv(T * KH * D, 0.0);
  Result r;
  r.lse.assign(T * H, 0.0f);
  for (int64_t b = 0; b < c.batch; b++) {
    const int64_t s0 = c.start(b), len = c.length(b);
    for (int64_t h = 0; h < H; h++) {
      const int64_t kh = h / G;
      for (int64_t i = 0; i < len; i++) {
        const float* qi = &in.q[((s0 + i) * H + h) * D];
        const float* doi = &in.dout[((s0 + i) * H + h) * D];
        std::vector<double> p(len, 0.0);
        double mx = -INFINITY;
        for (int64_t j = 0; j < len; j++) {
          if (!c.visible(b, i, j)) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; d++) dot += double(qi[d]) * in.k[((s0 + j) * KH + kh) * D + d];
          p[j] = dot * scale;
          mx = std::max(mx, p[j]);
        }
        if (mx == -INFINITY) {
          r.lse[(s0 + i) * H + h] = -INFINITY;
          continue;
        }
        double sum = 0;
        for (int64_t j = 0; j < len; j++) sum += c.visible(b, i, j) ? std::exp(p[j] - mx) : 0.0;
        r.lse[(s0 + i) * H + h] = float(mx + std::log(sum));
        for (int64_t j = 0; j < len; j++) p[j] = c.visible(b, i, j) ? std::exp(p[j] - mx) / sum : 0.0;
        std::vector<double> dp(len, 0.0);
        double delta = 0;
        for (int64_t j = 0; j < len; j++) {
          if (p[j] == 0.0) continue;
          const float* vj = &in.v[((s0 + j) * KH + kh) * D];
          for (int64_t d = 0; d < D; d++) {
            out[((s0 + i) * H + h) * D + d] += p[j] * vj[d];
            dp[j] += double(doi[d]) * vj[d];
          }
          delta += p[j] * dp[j];
        }
        for (int64_t j = 0; j < len; j++) {
          if (p[j] == 0.0) continue;
          const double ds = p[j] * (dp[j] - delta);
          for (int64_t d = 0; d < D; d++) {
            dq[((s0 + i) * H + h) * D + d] += scale * ds * in.k[((s0 + j) * KH + kh) * D + d];
            dk[((s0 + j) * KH + kh) * D + d] += scale * ds * qi[d];
            dv[((s0 + j) * KH + kh) * D + d] += p[j] * doi[d];
          }
        }
      }
    }
  }
  auto to_f = [](const std::vector<double>& x) { return std::vector<float>(x.begin(), x.end()); };
  r.out = to_f(out);
  r.dq = to_f(dq);
  r.dk = to_f(dk);
  r.dv = to_f(dv);
  return r;
}

Result run(int device, int dtype, const Case& c, const Inputs& in) {
  const int64_t T = c.tokens(), H = c.heads, KH = c.kv_heads, D = c.head_dim;
  Buffer q = upload(device, dtype, in.q), k = upload(device, dtype, in.k), v = upload(device, dtype, in.v);
  Buffer dout = upload(device, dtype, in.dout);
  Buffer out = poisoned(device, dtype, T * H * D), lse = poisoned(device, JSW_F32, T * H);
  Buffer dq = poisoned(device, dtype, T * H * D), dk = poisoned(device, dtype, T * KH * D);
  Buffer dv = poisoned(device, dtype, T * KH * D);
  Buffer cu = upload_i32(device, c.cu_seqlens.empty() ? std::vector<int32_t>{0} : c.cu_seqlens);
  Buffer mask = upload_i32(device, c.key_mask.empty() ? std::vector<int32_t>{0} : c.key_mask);
  const int32_t* cu_p = c.cu_seqlens.empty() ? nullptr : cu.as<int32_t>();
  const int32_t* mask_p = c.key_mask.empty() ? nullptr : mask.as<int32_t>();
  JSW_CHECK(jsw_attention_fwd(device, dtype, q.get(), k.get(), v.get(), c.batch, c.seq_len, H, KH, D, cu_p, mask_p,
                              c.causal, c.window, c.scale(), out.get(), lse.as<float>()));
  JSW_CHECK(jsw_attention_bwd(device, dtype, q.get(), k.get(), v.get(), out.get(), dout.get(), lse.as<float>(),
                              c.batch, c.seq_len, H, KH, D, cu_p, mask_p, c.causal, c.window, c.scale(), dq.get(),
                              dk.get(), dv.get()));
  JSW_CHECK(jsw_synchronize(device));
  return {download(out, dtype, T * H * D), download(lse, JSW_F32, T * H), download(dq, dtype, T * H * D),
          download(dk, dtype, T * KH * D), download(dv, dtype, T * KH * D)};
}

// lse may be -inf (a query that sees no key): the -inf pattern must match exactly, the rest be close.
void expect_lse(const std::string& what, std::vector<float> got, std::vector<float> want, float atol) {
  for (size_t i = 0; i < want.size() && i < got.size(); i++) {
    const bool gi = got[i] == -INFINITY, wi = want[i] == -INFINITY;
    JSW_EXPECT(gi == wi, "%s: element %zu got %g want %g", what.c_str(), i, double(got[i]), double(want[i]));
    if (gi) got[i] = want[i] = 0.0f;
  }
  expect_close(what, got, want, atol, 0.0f);
}

// ||got - want|| <= tol ||want|| + atol sqrt(n): the relative-norm criterion with an absolute floor, for
// gradients that vanish (a query with a single visible key has dS = 0 exactly, so its dq and that key's dk are
// rounding noise of ~1e-6, which a pure relative norm would compare with itself).
void expect_norm_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                       double tol, double atol) {
  JSW_EXPECT(got.size() == want.size(), "%s: size %zu != %zu", what.c_str(), got.size(), want.size());
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < got.size(); i++) {
    JSW_EXPECT(!std::isnan(got[i]), "%s: NaN at element %zu", what.c_str(), i);
    const double d = double(got[i]) - double(want[i]);
    num += d * d;
    den += double(want[i]) * double(want[i]);
  }
  const double bound = tol * std::sqrt(den) + atol * std::sqrt(double(got.size()));
  JSW_EXPECT(std::sqrt(num) <= bound, "%s: ||got - want|| = %.3e > %.3e (||want|| = %.3e)", what.c_str(),
             std::sqrt(num), bound, std::sqrt(den));
}

// fp32 CPU vs double: scores and softmax in fp32 with a ~1 ulp exp, so out and lse carry ~1e-6 relative
// error; gradients sum up to T products of O(1) terms, so a few 1e-6 relative, plus cancellation in
// dS = P (dP - D) where dP ~ D, hence the looser absolute bounds.
void expect_f32_matches(const std::string& tag, const Result& got, const Result& want) {
  expect_close(tag + " out", got.out, want.out, 2e-5f, 1e-4f);
  expect_lse(tag + " lse", got.lse, want.lse, 2e-5f);
  expect_close(tag + " dq", got.dq, want.dq, 1e-4f, 1e-3f);
  expect_close(tag + " dk", got.dk, want.dk, 1e-4f, 1e-3f);
  expect_close(tag + " dv", got.dv, want.dv, 1e-4f, 1e-3f);
}

void cpu_against_reference() {
  uint64_t seed = 100;
  for (const Case& c : cases()) {
    Inputs in = inputs_for(c, JSW_F32, seed += 10);
    expect_f32_matches(c.name, run(JSW_CPU, JSW_F32, c, in), reference(c, in));
  }
}

}  // namespace

JSW_TEST(attention_cpu_matches_double_reference) { cpu_against_reference(); }

// The same cases on the baseline (AVX2) tile kernels, which an AVX-512 machine would otherwise never run.
JSW_TEST(attention_cpu_baseline_isa_matches_double_reference) { with_baseline_isa(cpu_against_reference); }

JSW_TEST(attention_cpu_16bit_storage) {
  for (int dtype : {JSW_BF16, JSW_F16}) {
    for (const Case& c : {cases()[2], cases()[8], cases()[10]}) {
      Inputs in = inputs_for(c, dtype, 7);
      Result want = reference(c, in), got = run(JSW_CPU, dtype, c, in);
      // fp32 math on exactly representable inputs; only the stores round (bf16: 2^-9 relative, f16: 2^-12).
      const double tol = dtype == JSW_BF16 ? 8e-3 : 1e-3;
      std::string tag = std::string(c.name) + (dtype == JSW_BF16 ? " bf16" : " f16");
      expect_rel_norm(tag + " out", got.out, want.out, tol);
      expect_lse(tag + " lse", got.lse, want.lse, 1e-4f);
      expect_rel_norm(tag + " dq", got.dq, want.dq, tol);
      expect_rel_norm(tag + " dk", got.dk, want.dk, tol);
      expect_rel_norm(tag + " dv", got.dv, want.dv, tol);
    }
  }
}

JSW_TEST(attention_no_visible_key_gives_zeros) {
  // Every key of sequence 1 is padding: its queries see nothing, so out = 0, lse = -inf and no gradient
  // flows to or from them (and its keys get dk = dv = 0).
  Case c{"all padding", 2, 9, 2, 1, 16, false, 0, {}, right_padding(9, {9, 0})};
  Inputs in = inputs_for(c, JSW_F32, 3);
  Result got = run(JSW_CPU, JSW_F32, c, in);
  for (int64_t r = 9 * 2; r < 18 * 2; r++) {
    JSW_EXPECT(got.lse[r] == -INFINITY, "lse row %lld = %g", (long long)r, double(got.lse[r]));
    for (int64_t d = 0; d < 16; d++) {
      JSW_EXPECT(got.out[r * 16 + d] == 0.0f, "out row %lld", (long long)r);
      JSW_EXPECT(got.dq[r * 16 + d] == 0.0f, "dq row %lld", (long long)r);
    }
  }
  for (int64_t r = 9; r < 18; r++)
    for (int64_t d = 0; d < 16; d++)
      JSW_EXPECT(got.dk[r * 16 + d] == 0.0f && got.dv[r * 16 + d] == 0.0f, "dk/dv row %lld", (long long)r);
}

JSW_TEST(attention_rejects_bad_arguments) {
  Buffer x(JSW_CPU, 4096), lse(JSW_CPU, 4096);
  float* l = lse.as<float>();
  auto fwd = [&](int dtype, int64_t heads, int64_t kv_heads, int64_t head_dim, const int32_t* cu, const int32_t* mask) {
    return jsw_attention_fwd(JSW_CPU, dtype, x.get(), x.get(), x.get(), 1, 4, heads, kv_heads, head_dim, cu, mask, 1,
                             0, 0.125f, x.get(), l);
  };
  JSW_EXPECT(fwd(JSW_F32, 3, 2, 8, nullptr, nullptr) == JSW_ERR_INVALID_ARGUMENT, "heads not a multiple");
  JSW_EXPECT(std::string(jsw_last_error()).find("multiple of kv_heads") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(fwd(JSW_I32, 2, 2, 8, nullptr, nullptr) == JSW_ERR_INVALID_ARGUMENT, "int dtype");
  JSW_EXPECT(fwd(JSW_F32, 2, 2, 300, nullptr, nullptr) == JSW_ERR_INVALID_ARGUMENT, "head_dim 300");
  JSW_EXPECT(fwd(JSW_F32, 2, 0, 8, nullptr, nullptr) == JSW_ERR_INVALID_ARGUMENT, "kv_heads 0");
  int32_t cu[2] = {0, 4}, mask[4] = {1, 1, 1, 1};
  JSW_EXPECT(fwd(JSW_F32, 2, 2, 8, cu, mask) == JSW_ERR_INVALID_ARGUMENT, "cu_seqlens with key_mask");
  int32_t long_seq[2] = {0, 5};
  JSW_EXPECT(fwd(JSW_F32, 2, 2, 8, long_seq, nullptr) == JSW_ERR_INVALID_ARGUMENT, "sequence longer than seq_len");
  JSW_EXPECT(std::string(jsw_last_error()).find("sequence 0 has length 5") != std::string::npos, "message: %s",
             jsw_last_error());
  int32_t bad_start[2] = {1, 4};
  JSW_EXPECT(fwd(JSW_F32, 2, 2, 8, bad_start, nullptr) == JSW_ERR_INVALID_ARGUMENT, "cu_seqlens[0] != 0");
  JSW_EXPECT(jsw_attention_fwd(JSW_CPU, JSW_F32, x.get(), x.get(), x.get(), 1, 4, 2, 2, 8, nullptr, nullptr, 1, 0,
                               NAN, x.get(), l) == JSW_ERR_INVALID_ARGUMENT, "NaN scale");
  JSW_EXPECT(jsw_attention_fwd(JSW_CPU, JSW_F32, x.get(), x.get(), x.get(), 1, 4, 2, 2, 8, nullptr, nullptr, 1, 0,
                               0.1f, x.get(), nullptr) == JSW_ERR_INVALID_ARGUMENT, "null lse");
  JSW_EXPECT(jsw_attention_bwd(JSW_CPU, JSW_F32, x.get(), x.get(), x.get(), x.get(), x.get(), l, 1, 4, 2, 2, 8,
                               nullptr, nullptr, 1, 0, 0.1f, x.get(), nullptr, x.get()) == JSW_ERR_INVALID_ARGUMENT,
             "null dk");
  JSW_EXPECT(std::string(jsw_last_error()).find("dk is a null pointer") != std::string::npos, "message: %s",
             jsw_last_error());
  int st = jsw_attention_fwd(jsw_cuda_device_count(), JSW_F32, x.get(), x.get(), x.get(), 1, 4, 2, 2, 8, nullptr,
                             nullptr, 1, 0, 0.1f, x.get(), l);
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
  // No tokens: nothing to do, and no pointer is touched.
  JSW_CHECK(jsw_attention_fwd(JSW_CPU, JSW_F32, nullptr, nullptr, nullptr, 0, 4, 2, 2, 8, nullptr, nullptr, 1, 0,
                              0.1f, nullptr, nullptr));
}

JSW_CUDA_TEST(attention_cuda_matches_cpu) {
  uint64_t seed = 500;
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    for (const Case& c : cases()) {
      Inputs in = inputs_for(c, dtype, seed += 10);
      Result cpu = run(JSW_CPU, JSW_F32, c, in);
      Result gpu = run(cuda_device(), dtype, c, in);
      std::string tag = std::string(c.name) + " dtype " + std::to_string(dtype);
      if (dtype == JSW_F32) {
        // Same fp32 math, different summation order and exp: a few ulp of the CPU result.
        expect_close(tag + " out", gpu.out, cpu.out, 1e-5f, 1e-4f);
        expect_lse(tag + " lse", gpu.lse, cpu.lse, 1e-5f);
        expect_close(tag + " dq", gpu.dq, cpu.dq, 5e-5f, 5e-4f);
        expect_close(tag + " dk", gpu.dk, cpu.dk, 5e-5f, 5e-4f);
        expect_close(tag + " dv", gpu.dv, cpu.dv, 5e-5f, 5e-4f);
      } else {
        // Tensor cores round P and dS to the storage type before their products (as FA2 does) and the outputs
        // are stored rounded: relative 2^-9 (bf16) per value, ~3e-3 in norm; lse stays fp32.
        const double tol = 1e-2, atol = 1e-3;
        expect_norm_close(tag + " out", gpu.out, cpu.out, tol, atol);
        expect_lse(tag + " lse", gpu.lse, cpu.lse, 1e-3f);
        expect_norm_close(tag + " dq", gpu.dq, cpu.dq, tol, atol);
        expect_norm_close(tag + " dk", gpu.dk, cpu.dk, tol, atol);
        expect_norm_close(tag + " dv", gpu.dv, cpu.dv, tol, atol);
      }
    }
  }
}

JSW_CUDA_TEST(attention_cuda_rejects_bad_cu_seqlens) {
  cuda_only_behaviour("device sequence lengths flagged by the kernels");
  // Device offsets are checked by the kernels: a sequence longer than seq_len raises the device error flag,
  // reported by jsw_synchronize.
  const int dev = cuda_device();
  Buffer q = zeros(dev, JSW_BF16, 8 * 2 * 16), out = zeros(dev, JSW_BF16, 8 * 2 * 16), lse = zeros(dev, JSW_F32, 16);
  Buffer cu = upload_i32(dev, {0, 3, 8});
  JSW_CHECK(jsw_attention_fwd(dev, JSW_BF16, q.get(), q.get(), q.get(), 2, 4, 2, 2, 16, cu.as<int32_t>(), nullptr, 1,
                              0, 0.25f, out.get(), lse.as<float>()));
  int st = jsw_synchronize(dev);
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "bad cu_seqlens reported, got %d", st);
  JSW_EXPECT(std::string(jsw_last_error()).find("cu_seqlens") != std::string::npos, "message: %s", jsw_last_error());
  JSW_CHECK(jsw_synchronize(dev));  // the flag was cleared
}
