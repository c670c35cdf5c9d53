// Fused LoRA linear: the CPU kernel against double loops (bias, accumulation into non-zero dA / dB, odd sizes,
// dropout with the kernel's own mask), frozen-adapter calls with NULL gradients, argument checks, and the
// CUDA twin against the CPU kernel, including the dropout mask element for element.
#include <algorithm>
#include <tuple>

#include "test.h"

using namespace jsw_test;

namespace {

struct Shape {
  int64_t tokens, in, out, rank;
};

struct Inputs {
  std::vector<float> x, w, bias, a, b, dy, da0, db0;
};

Inputs inputs(const Shape& s, int dtype, uint64_t seed) {
  Inputs v;
  v.x = round_to(randn(s.tokens * s.in, seed), dtype);
  v.w = round_to(randn(s.out * s.in, seed + 1, 1.0f / std::sqrt(float(s.in))), dtype);
  v.bias = round_to(randn(s.out, seed + 2), dtype);
  v.a = round_to(randn(s.rank * s.in, seed + 3, 1.0f / std::sqrt(float(s.in))), dtype);
  v.b = round_to(randn(s.out * s.rank, seed + 4, 1.0f / std::sqrt(float(s.rank))), dtype);
  v.dy = round_to(randn(s.tokens * s.out, seed + 5), dtype);
  v.da0 = uniform(s.rank * s.in, seed + 6, -1, 1);  // gradients accumulate: start non-zero
  v.db0 = uniform(s.out * s.rank, seed + 7, -1, 1);
  return v;
}

struct LoraOut {
  std::vector<float> y, xa, dx, da, db;  // da / db: the increments (after - before)
};

LoraOut run(int device, int dtype, const Shape& s, const Inputs& v, bool with_bias, float scale, float p,
            uint64_t seed) {
  Buffer x = upload(device, dtype, v.x), w = upload(device, dtype, v.w), bias = upload(device, dtype, v.bias);
  Buffer a = upload(device, dtype, v.a), b = upload(device, dtype, v.b), dy = upload(device, dtype, v.dy);
  Buffer y = poisoned(device, dtype, s.tokens * s.out), xa = poisoned(device, dtype, s.tokens * s.rank);
  Buffer dx = poisoned(device, dtype, s.tokens * s.in);
  Buffer da = upload(device, JSW_F32, v.da0), db = upload(device, JSW_F32, v.db0);
  JSW_CHECK(jsw_lora_fwd(device, dtype, x.get(), w.get(), with_bias ? bias.get() : nullptr, a.get(), b.get(), s.tokens,
                         s.in, s.out, s.rank, scale, p, seed, y.get(), xa.get()));
  JSW_CHECK(jsw_lora_bwd(device, dtype, dy.get(), x.get(), w.get(), a.get(), b.get(), xa.get(), s.tokens, s.in, s.out,
                         s.rank, scale, p, seed, dx.get(), da.as<float>(), db.as<float>()));
  JSW_CHECK(jsw_synchronize(device));
  LoraOut o{download(y, dtype, s.tokens * s.out), download(xa, dtype, s.tokens * s.rank),
            download(dx, dtype, s.tokens * s.in), download(da, JSW_F32, s.rank * s.in),
            download(db, JSW_F32, s.out * s.rank)};
  for (size_t i = 0; i < o.da.size(); i++) o.da[i] -= v.da0[i];
  for (size_t i = 0; i < o.db.size(); i++) o.db[i] -= v.db0[i];
  return o;
}

// The kernel's dropout multiplier (0 or 1/(1-p)) for each element of a [tokens, in] input, recovered through
// the public op: with rank = out = in, A = B = I, W = 0 and x = 1, xa = drop(1) A^T is the multiplier itself.
std::vector<float> recover_mask(int device, int64_t tokens, int64_t in, float p, uint64_t seed) {
  std::vector<float> eye(size_t(in * in), 0.0f);
  for (int64_t i = 0; i < in; i++) eye[i * in + i] = 1.0f;
  Buffer x = upload(device, JSW_F32, std::vector<float>(size_t(tokens * in), 1.0f));
  Buffer w = zeros(device, JSW_F32, in * in), a = upload(device, JSW_F32, eye), b = upload(device, JSW_F32, eye);
  Buffer y = poisoned(device, JSW_F32, tokens * in), xa = poisoned(device, JSW_F32, tokens * in);
  JSW_CHECK(jsw_lora_fwd(device, JSW_F32, x.get(), w.get(), nullptr, a.get(), b.get(), tokens, in, in, in, 1.0f, p,
                         seed, y.get(), xa.get()));
  JSW_CHECK(jsw_synchronize(device));
  return download(xa, JSW_F32, tokens * in);
}

// Double-precision LoRA forward and backward given the dropout multipliers (empty = no dropout).
LoraOut reference(const Shape& s, const Inputs& v, bool with_bias, float scale, const std::vector<float>& mask) {
  auto X = [&](int64_t t, int64_t i) { return double(v.x[t * s.in + i]) * (mask.empty() ? 1.0 : mask[t * s.in + i]); };
  LoraOut r;
  std::vector<double> xa(size_t(s.tokens * s.rank), 0.0), g(size_t(s.tokens * s.rank), 0.0);
  r.y.resize(size_t(s.tokens * s.out));
  r.xa.resize(xa.size());
  r.dx.resize(size_t(s.tokens * s.in));
  r.da.assign(size_t(s.rank * s.in), 0.0f);
  r.db.assign(size_t(s.out * s.rank), 0.0f);
  for (int64_t t = 0; t < s.tokens; t++)
    for (int64_t q = 0; q < s.rank; q++) {
      for (int64_t i = 0; i < s.in; i++) xa[t * s.rank + q] += X(t, i) * v.a[q * s.in + i];
      for (int64_t j = 0; j < s.out; j++) g[t * s.rank + q] += double(v.dy[t * s.out + j]) * v.b[j * s.rank + q];
      r.xa[t * s.rank + q] = float(xa[t * s.rank + q]);
    }
  for (int64_t t = 0; t < s.tokens; t++)
    for (int64_t j = 0; j < s.out; j++) {
      double acc = with_bias ? v.bias[j] : 0.0;
      for (int64_t i = 0; i < s.in; i++) acc += double(v.x[t * s.in + i]) * v.w[j * s.in + i];
      for (int64_t q = 0; q < s.rank; q++) acc += scale * xa[t * s.rank + q] * v.b[j * s.rank + q];
      r.y[t * s.out + j] = float(acc);
    }
  for (int64_t t = 0; t < s.tokens; t++)
    for (int64_t i = 0; i < s.in; i++) {
      double base = 0.0, low = 0.0;
      for (int64_t j = 0; j < s.out; j++) base += double(v.dy[t * s.out + j]) * v.w[j * s.in + i];
      for (int64_t q = 0; q < s.rank; q++) low += g[t * s.rank + q] * v.a[q * s.in + i];
      r.dx[t * s.in + i] = float(base + scale * low * (mask.empty() ? 1.0 : mask[t * s.in + i]));
    }
  for (int64_t q = 0; q < s.rank; q++) {
    for (int64_t i = 0; i < s.in; i++) {
      double acc = 0.0;
      for (int64_t t = 0; t < s.tokens; t++) acc += g[t * s.rank + q] * X(t, i);
      r.da[q * s.in + i] = float(scale * acc);
    }
    for (int64_t j = 0; j < s.out; j++) {
      double acc = 0.0;
      for (int64_t t = 0; t < s.tokens; t++) acc += double(v.dy[t * s.out + j]) * xa[t * s.rank + q];
      r.db[j * s.rank + q] = float(scale * acc);
    }
  }
  return r;
}

void expect_all(const std::string& tag, const LoraOut& got, const LoraOut& want, double tol) {
  expect_rel_norm(tag + " y", got.y, want.y, tol);
  expect_rel_norm(tag + " xa", got.xa, want.xa, tol);
  expect_rel_norm(tag + " dx", got.dx, want.dx, tol);
  expect_rel_norm(tag + " dA", got.da, want.da, tol);
  expect_rel_norm(tag + " dB", got.db, want.db, tol);
}

const Shape kShapes[] = {{1, 16, 8, 1}, {7, 33, 21, 4}, {64, 96, 80, 16}, {5, 13, 7, 3}, {130, 200, 150, 8}};

}  // namespace

JSW_TEST(lora_cpu_matches_double_reference) {
  for (const Shape& s : kShapes) {
    Inputs v = inputs(s, JSW_F32, 1);
    for (bool bias : {false, true}) {
      LoraOut got = run(JSW_CPU, JSW_F32, s, v, bias, 2.0f, 0.0f, 0);
      // fp32 GEMMs over at most 200 terms: relative error ~1e-6 in norm
      expect_all("f32 tokens " + std::to_string(s.tokens), got, reference(s, v, bias, 2.0f, {}), 1e-5);
    }
  }
}

JSW_TEST(lora_cpu_dropout_mask_and_gradients) {
  Shape s{41, 37, 23, 4};
  float p = 0.25f;
  std::vector<float> mask = recover_mask(JSW_CPU, s.tokens, s.in, p, 1234);
  int64_t dropped = 0;
  for (float m : mask) {
    JSW_EXPECT(m == 0.0f || m == 1.0f / (1.0f - p), "multiplier %g is neither 0 nor 1/(1-p)", double(m));
    dropped += m == 0.0f;
  }
  // 1517 Bernoulli(0.25) draws: standard deviation 0.011, so +-0.05 is > 4 sigma
  double frac = double(dropped) / double(mask.size());
  JSW_EXPECT(std::fabs(frac - p) < 0.05, "dropped fraction %.3f for p = %.2f", frac, double(p));
  JSW_EXPECT(recover_mask(JSW_CPU, s.tokens, s.in, p, 1234) == mask, "same seed, same mask");
  JSW_EXPECT(recover_mask(JSW_CPU, s.tokens, s.in, p, 1235) != mask, "another seed, another mask");

  Inputs v = inputs(s, JSW_F32, 2);
  LoraOut got = run(JSW_CPU, JSW_F32, s, v, true, 0.5f, p, 1234);
  expect_all("dropout", got, reference(s, v, true, 0.5f, mask), 1e-5);
  // The mask depends on the seed: a different seed must not reproduce these gradients.
  LoraOut other = run(JSW_CPU, JSW_F32, s, v, true, 0.5f, p, 99);
  double diff = 0;
  for (size_t i = 0; i < got.da.size(); i++) diff += std::fabs(got.da[i] - other.da[i]);
  JSW_EXPECT(diff > 1e-3, "dA does not depend on the seed");
}

JSW_TEST(lora_cpu_half_storage) {
  Shape s{9, 40, 24, 4};
  for (int dtype : {JSW_BF16, JSW_F16}) {
    Inputs v = inputs(s, dtype, 3);
    LoraOut got = run(JSW_CPU, dtype, s, v, true, 2.0f, 0.0f, 0);
    // inputs are exactly representable; xa and g are rounded to the storage type (2^-9 bf16, 2^-12 f16
    // relative) before the GEMMs that read them, and outputs once more: 1e-2 / 2e-3 in norm
    double tol = dtype == JSW_BF16 ? 1e-2 : 2e-3;
    expect_all("dtype " + std::to_string(dtype), got, reference(s, v, true, 2.0f, {}), tol);
  }
}

JSW_TEST(lora_cpu_frozen_gradients_may_be_null) {
  Shape s{6, 20, 12, 2};
  Inputs v = inputs(s, JSW_F32, 4);
  LoraOut full = run(JSW_CPU, JSW_F32, s, v, false, 1.5f, 0.1f, 7);
  Buffer x = upload(JSW_CPU, JSW_F32, v.x), w = upload(JSW_CPU, JSW_F32, v.w), a = upload(JSW_CPU, JSW_F32, v.a);
  Buffer b = upload(JSW_CPU, JSW_F32, v.b), dy = upload(JSW_CPU, JSW_F32, v.dy);
  Buffer y = poisoned(JSW_CPU, JSW_F32, s.tokens * s.out), dx = poisoned(JSW_CPU, JSW_F32, s.tokens * s.in);
  // Inference: no xa buffer.
  JSW_CHECK(jsw_lora_fwd(JSW_CPU, JSW_F32, x.get(), w.get(), nullptr, a.get(), b.get(), s.tokens, s.in, s.out, s.rank,
                         1.5f, 0.1f, 7, y.get(), nullptr));
  expect_close("y without xa", download(y, JSW_F32, s.tokens * s.out), full.y, 0.0f, 0.0f);
  // dx only (frozen adapter inside a trainable stack): x and xa are not read.
  JSW_CHECK(jsw_lora_bwd(JSW_CPU, JSW_F32, dy.get(), nullptr, w.get(), a.get(), b.get(), nullptr, s.tokens, s.in, s.out,
                         s.rank, 1.5f, 0.1f, 7, dx.get(), nullptr, nullptr));
  expect_close("dx alone", download(dx, JSW_F32, s.tokens * s.in), full.dx, 0.0f, 0.0f);
  // dA only: w and lora_a are not read.
  Buffer da = zeros(JSW_CPU, JSW_F32, s.rank * s.in), xa = upload(JSW_CPU, JSW_F32, full.xa);
  JSW_CHECK(jsw_lora_bwd(JSW_CPU, JSW_F32, dy.get(), x.get(), nullptr, nullptr, b.get(), xa.get(), s.tokens, s.in, s.out,
                         s.rank, 1.5f, 0.1f, 7, nullptr, da.as<float>(), nullptr));
  expect_close("dA alone", download(da, JSW_F32, s.rank * s.in), full.da, 1e-6f, 1e-5f);
}

JSW_TEST(lora_rejects_bad_arguments) {
  Buffer m(JSW_CPU, 4096);
  void* p = m.get();
  auto fwd = [&](int device, int dtype, const void* x, int64_t tokens, int64_t in, int64_t rank, float drop) {
    return jsw_lora_fwd(device, dtype, x, p, nullptr, p, p, tokens, in, 8, rank, 1.0f, drop, 0, p, p);
  };
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, p, 2, 0, 2, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "in 0");
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, p, 2, 8, 0, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "rank 0");
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, p, -1, 8, 2, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "tokens < 0");
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, p, 2, 8, 2, 1.0f) == JSW_ERR_INVALID_ARGUMENT, "dropout 1");
  JSW_EXPECT(std::string(jsw_last_error()).find("dropout_p must be in [0, 1)") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, p, 2, 8, 2, NAN) == JSW_ERR_INVALID_ARGUMENT, "dropout NaN");
  JSW_EXPECT(fwd(JSW_CPU, JSW_U8, p, 2, 8, 2, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "u8 dtype");
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, nullptr, 2, 8, 2, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "null x");
  JSW_EXPECT(fwd(JSW_CPU, JSW_F32, p, int64_t(1) << 31, 8, 2, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "tokens 2^31");
  JSW_EXPECT(jsw_lora_bwd(JSW_CPU, JSW_F32, p, p, p, p, p, nullptr, 2, 8, 8, 2, 1.0f, 0.0f, 0, p, nullptr,
                          static_cast<float*>(p)) == JSW_ERR_INVALID_ARGUMENT, "dB without xa");
  JSW_EXPECT(std::string(jsw_last_error()).find("xa (from the forward) is a null pointer") != std::string::npos,
             "message: %s", jsw_last_error());
  JSW_EXPECT(jsw_lora_bwd(JSW_CPU, JSW_F32, p, nullptr, p, p, p, p, 2, 8, 8, 2, 1.0f, 0.0f, 0, p,
                          static_cast<float*>(p), nullptr) == JSW_ERR_INVALID_ARGUMENT, "dA without x");
  int st = fwd(jsw_cuda_device_count(), JSW_F32, p, 2, 8, 2, 0.0f);
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
}

JSW_CUDA_TEST(lora_cuda_dropout_mask_matches_cpu) {
  for (auto [tokens, in, p] : {std::tuple<int64_t, int64_t, float>{3, 40, 0.1f}, {77, 129, 0.5f}, {300, 64, 0.05f}}) {
    auto cpu = recover_mask(JSW_CPU, tokens, in, p, 42);
    auto gpu = recover_mask(cuda_device(), tokens, in, p, 42);
    expect_close("mask in " + std::to_string(in), gpu, cpu, 0.0f, 0.0f);  // exact: the same hash decides
  }
}

JSW_CUDA_TEST(lora_cuda_matches_cpu) {
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    for (const Shape& s : kShapes) {
      for (auto [bias, p] : {std::pair<bool, float>{false, 0.0f}, {true, 0.0f}, {true, 0.3f}}) {
        Inputs v = inputs(s, dtype, 11);
        LoraOut cpu = run(JSW_CPU, dtype, s, v, bias, 2.0f, p, 5);
        LoraOut gpu = run(cuda_device(), dtype, s, v, bias, 2.0f, p, 5);
        std::string tag = "dtype " + std::to_string(dtype) + " tokens " + std::to_string(s.tokens) + " bias " +
                          std::to_string(bias) + " p " + std::to_string(p);
        // f32: same inputs and mask, fp32 GEMMs (cuBLAS pedantic, no TF32) that differ only in summation order.
        // 16-bit: both twins feed the same rounded drop(x), xa and g to their GEMMs, but the CUDA twin also
        // rounds y / dx after each partial GEMM (about 2 extra roundings of the storage type: 2^-8 bf16,
        // 2^-11 f16), and an fp32 difference can flip the rounding of xa or g by one ulp.
        double out_tol = dtype == JSW_F32 ? 1e-5 : dtype == JSW_BF16 ? 1e-2 : 2e-3;
        double grad_tol = dtype == JSW_F32 ? 1e-5 : dtype == JSW_BF16 ? 5e-3 : 1e-3;
        expect_rel_norm(tag + " y", gpu.y, cpu.y, out_tol);
        expect_rel_norm(tag + " xa", gpu.xa, cpu.xa, out_tol);
        expect_rel_norm(tag + " dx", gpu.dx, cpu.dx, out_tol);
        expect_rel_norm(tag + " dA", gpu.da, cpu.da, grad_tol);
        expect_rel_norm(tag + " dB", gpu.db, cpu.db, grad_tol);
      }
    }
  }
}

namespace {

// jsw_lora_delta on a device: y0 + scale * round_T(x A^T) B^T.
std::vector<float> lora_delta_on(int device, int dtype, const std::vector<float>& x, const std::vector<float>& a,
                                 const std::vector<float>& b, const std::vector<float>& y0, int64_t rows, int64_t in,
                                 int64_t rank, int64_t out, float scale) {
  Buffer bx = upload(device, dtype, x), ba = upload(device, dtype, a), bb = upload(device, dtype, b),
         by = upload(device, dtype, y0);
  JSW_CHECK(jsw_lora_delta(device, dtype, bx.get(), rows, in, ba.get(), rank, bb.get(), out, scale, by.get()));
  return download(by, dtype, rows * out);
}

}  // namespace

JSW_TEST(lora_delta_cpu_matches_double_reference) {
  const int64_t rows = 3, in = 67, rank = 5, out = 41;
  const float scale = 1.5f;
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    std::vector<float> x = round_to(randn(rows * in, 61), dtype), a = round_to(randn(rank * in, 62, 0.2f), dtype),
                       b = round_to(randn(out * rank, 63, 0.2f), dtype), y0 = round_to(randn(rows * out, 64), dtype);
    std::vector<float> got = lora_delta_on(JSW_CPU, dtype, x, a, b, y0, rows, in, rank, out, scale);
    // xa in double, rounded to the storage type as the op stores it; then the second product in double.
    std::vector<float> xa(size_t(rows * rank));
    for (int64_t r = 0; r < rows; r++)
      for (int64_t k = 0; k < rank; k++) {
        double s = 0;
        for (int64_t i = 0; i < in; i++) s += double(x[size_t(r * in + i)]) * a[size_t(k * in + i)];
        xa[size_t(r * rank + k)] = float(s);
      }
    xa = round_to(xa, dtype);
    std::vector<float> want(size_t(rows * out));
    for (int64_t r = 0; r < rows; r++)
      for (int64_t o = 0; o < out; o++) {
        double s = 0;
        for (int64_t k = 0; k < rank; k++) s += double(xa[size_t(r * rank + k)]) * b[size_t(o * rank + k)];
        want[size_t(r * out + o)] = float(y0[size_t(r * out + o)] + scale * s);
      }
    // fp32 sums of 67 terms (and the one-ulp flip of a rounded xa element): 1e-5 / storage rounding of y.
    float tol = dtype == JSW_F32 ? 1e-5f : dtype == JSW_BF16 ? 1e-2f : 2e-3f;
    expect_close("lora_delta dtype " + std::to_string(dtype), got, round_to(want, dtype), tol, tol);
  }
}

JSW_TEST(lora_delta_rejects_bad_arguments) {
  std::vector<float> v(64, 1.0f);
  float* p = v.data();
  JSW_EXPECT(jsw_lora_delta(JSW_CPU, JSW_F32, p, -1, 4, p, 2, p, 4, 1.0f, p) == JSW_ERR_INVALID_ARGUMENT, "rows < 0");
  JSW_EXPECT(jsw_lora_delta(JSW_CPU, JSW_F32, p, 1, 4, p, 0, p, 4, 1.0f, p) == JSW_ERR_INVALID_ARGUMENT, "rank 0");
  JSW_EXPECT(jsw_lora_delta(JSW_CPU, JSW_F32, nullptr, 1, 4, p, 2, p, 4, 1.0f, p) == JSW_ERR_INVALID_ARGUMENT, "null x");
  JSW_EXPECT(jsw_lora_delta(JSW_CPU, JSW_F32, p, 1, 4, p, 2, nullptr, 4, 1.0f, p) == JSW_ERR_INVALID_ARGUMENT, "null b");
  JSW_EXPECT(jsw_lora_delta(JSW_CPU, JSW_I32, p, 1, 4, p, 2, p, 4, 1.0f, p) == JSW_ERR_INVALID_ARGUMENT, "int dtype");
  JSW_EXPECT(jsw_lora_delta(JSW_CPU, JSW_F32, p, 1, 4, p, 2, p, 4, NAN, p) == JSW_ERR_INVALID_ARGUMENT, "NaN scale");
  JSW_EXPECT(jsw_lora_delta(JSW_CPU, JSW_F32, nullptr, 0, 4, nullptr, 2, nullptr, 4, 1.0f, nullptr) == JSW_OK,
             "no rows: nothing to do");
}

JSW_CUDA_TEST(lora_delta_cuda_matches_cpu) {
  const int dev = cuda_device();
  struct Shape {
    int64_t rows, in, rank, out;
  };
  // A decode step of a Llama-3-8B MLP projection (rank 16), and odd sizes (not multiples of a warp or block).
  for (Shape s : {Shape{1, 4096, 16, 14336}, Shape{4, 14336, 16, 4096}, Shape{3, 67, 5, 41}}) {
    for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
      std::vector<float> x = round_to(randn(s.rows * s.in, 71), dtype),
                         a = round_to(randn(s.rank * s.in, 72, 0.02f), dtype),
                         b = round_to(randn(s.out * s.rank, 73, 0.2f), dtype),
                         y0 = round_to(randn(s.rows * s.out, 74), dtype);
      std::vector<float> cpu = lora_delta_on(JSW_CPU, dtype, x, a, b, y0, s.rows, s.in, s.rank, s.out, 2.0f);
      std::vector<float> gpu = lora_delta_on(dev, dtype, x, a, b, y0, s.rows, s.in, s.rank, s.out, 2.0f);
      // Two summation orders of `in` products, then one rounding of xa and of y (a flipped rounding of xa moves
      // y by up to an ulp of xa times |B| * rank).
      float tol = dtype == JSW_F32 ? 1e-4f : dtype == JSW_BF16 ? 2e-2f : 4e-3f;
      expect_close("lora_delta cuda in " + std::to_string(s.in) + " dtype " + std::to_string(dtype), gpu, cpu, tol,
                   tol);
    }
  }
}
