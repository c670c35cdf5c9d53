// Optimizer kernels: sum of squares and clipping coefficient against fp64, several AdamW steps against an fp64
// loop of torch::optim::AdamW's formula, and the CUDA twins against the CPU kernels.
#include "test.h"

using namespace jsw_test;

namespace {

struct AdamState {
  std::vector<float> p, m, v, copy;
};

struct AdamCase {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, wd = 0.01f;
};

// `steps` AdamW steps on `device`; grad for step s is grads[s]; grad_scale (nullptr = none) is a device scalar.
AdamState run_adamw(int device, const std::vector<float>& p0, const std::vector<std::vector<float>>& grads,
                    const AdamCase& c, const float* scale_host, int copy_dtype) {
  int64_t n = int64_t(p0.size());
  Buffer p = upload(device, JSW_F32, p0), m = zeros(device, JSW_F32, n), v = zeros(device, JSW_F32, n);
  Buffer copy = poisoned(device, copy_dtype, n);
  Buffer scale = upload(device, JSW_F32, {scale_host != nullptr ? *scale_host : 1.0f});
  for (size_t s = 0; s < grads.size(); s++) {
    Buffer g = upload(device, JSW_F32, grads[s]);
    JSW_CHECK(jsw_adamw_step(device, p.as<float>(), g.as<float>(), m.as<float>(), v.as<float>(), n, c.lr, c.beta1,
                             c.beta2, c.eps, c.wd, int64_t(s) + 1, scale_host != nullptr ? scale.as<float>() : nullptr,
                             copy_dtype, copy.get()));
  }
  return {download(p, JSW_F32, n), download(m, JSW_F32, n), download(v, JSW_F32, n), download(copy, copy_dtype, n)};
}

AdamState reference_adamw(const std::vector<float>& p0, const std::vector<std::vector<float>>& grads,
                          const AdamCase& c, float scale) {
  size_t n = p0.size();
  std::vector<double> p(p0.begin(), p0.end()), m(n, 0.0), v(n, 0.0);
  for (size_t s = 0; s < grads.size(); s++) {
    double step = double(s + 1);
    double bc1 = 1 - std::pow(double(c.beta1), step), bc2 = 1 - std::pow(double(c.beta2), step);
    for (size_t i = 0; i < n; i++) {
      double g = double(grads[s][i]) * scale;
      p[i] *= 1 - double(c.lr) * c.wd;
      m[i] = c.beta1 * m[i] + (1 - double(c.beta1)) * g;
      v[i] = c.beta2 * v[i] + (1 - double(c.beta2)) * g * g;
      p[i] -= double(c.lr) / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + c.eps);
    }
  }
  AdamState r;
  for (size_t i = 0; i < n; i++) {
    r.p.push_back(float(p[i]));
    r.m.push_back(float(m[i]));
    r.v.push_back(float(v[i]));
  }
  return r;
}

std::vector<std::vector<float>> make_grads(int64_t n, int steps, uint64_t seed) {
  std::vector<std::vector<float>> g;
  for (int s = 0; s < steps; s++) g.push_back(randn(n, seed + uint64_t(s), 0.5f));
  return g;
}

}  // namespace

JSW_TEST(optim_sumsq_and_clip_coef) {
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    for (int64_t n : {1, 17, 4096, 100003}) {
      std::vector<float> x = round_to(randn(n, uint64_t(n)), dtype);
      double want = 2.5;  // the accumulator starts non-zero: sums over several tensors add up
      for (float v : x) want += double(v) * v;
      Buffer bx = upload(JSW_CPU, dtype, x), acc = upload(JSW_CPU, JSW_F32, {2.5f});
      JSW_CHECK(jsw_sumsq(JSW_CPU, dtype, bx.get(), n, acc.as<float>()));
      float got = download(acc, JSW_F32, 1)[0];
      // fp32 lanes in blocks of 4096, blocks in fp64: a few fp32 roundings of the total.
      JSW_EXPECT(std::fabs(got - want) <= 2e-6 * want, "dtype %d n %lld: %.9g vs %.9g", dtype, (long long)n,
                 double(got), want);
    }
  }
  struct Clip {
    float sumsq, max_norm, norm, coef;
  };
  for (Clip c : {Clip{16.0f, 1.0f, 4.0f, 1.0f / (4.0f + 1e-6f)}, Clip{16.0f, 10.0f, 4.0f, 1.0f},
                 Clip{16.0f, 0.0f, 4.0f, 1.0f}, Clip{0.0f, 1.0f, 0.0f, 1.0f}}) {
    Buffer s = upload(JSW_CPU, JSW_F32, {c.sumsq});
    Buffer norm = poisoned(JSW_CPU, JSW_F32, 1), coef = poisoned(JSW_CPU, JSW_F32, 1);
    JSW_CHECK(jsw_clip_coef(JSW_CPU, s.as<float>(), c.max_norm, norm.as<float>(), coef.as<float>()));
    float gn = download(norm, JSW_F32, 1)[0], gc = download(coef, JSW_F32, 1)[0];
    JSW_EXPECT(gn == c.norm && gc == c.coef, "sumsq %g max %g: norm %g coef %.9g, want %g %.9g", double(c.sumsq),
               double(c.max_norm), double(gn), double(gc), double(c.norm), double(c.coef));
  }
}

JSW_TEST(optim_adamw_matches_fp64_formula) {
  int64_t n = 1003;
  std::vector<float> p0 = randn(n, 1);
  auto grads = make_grads(n, 5, 100);
  for (float scale : {1.0f, 0.25f}) {
    for (AdamCase c :
         {AdamCase{}, AdamCase{3e-2f, 0.8f, 0.95f, 1e-6f, 0.1f}, AdamCase{1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f}}) {
      AdamState got = run_adamw(JSW_CPU, p0, grads, c, scale == 1.0f ? nullptr : &scale, JSW_BF16);
      AdamState want = reference_adamw(p0, grads, c, scale);
      // fp32 state through 5 steps: moments to ~1e-6 relative; a parameter moves by ~lr per step, its update
      // m / (sqrt(v) + eps) is accurate to ~1e-6 relative, so |p error| stays far below 1e-6 + 1e-6 |p|.
      expect_close("m", got.m, want.m, 1e-7f, 1e-5f);
      expect_close("v", got.v, want.v, 1e-8f, 1e-5f);
      expect_close("param", got.p, want.p, 1e-6f, 1e-6f);
      std::vector<float> rounded = round_to(got.p, JSW_BF16);
      JSW_EXPECT(got.copy == rounded, "the bf16 copy is the updated fp32 param rounded once");
    }
  }
}

JSW_TEST(optim_rejects_bad_arguments) {
  Buffer b(JSW_CPU, 64);
  float* f = b.as<float>();
  auto step = [&](float lr, float beta1, float beta2, int64_t s, int copy_dtype, void* copy) {
    return jsw_adamw_step(JSW_CPU, f, f, f, f, 4, lr, beta1, beta2, 1e-8f, 0.0f, s, nullptr, copy_dtype, copy);
  };
  JSW_EXPECT(step(1e-3f, 0.9f, 0.999f, 0, 0, nullptr) == JSW_ERR_INVALID_ARGUMENT, "step 0");
  JSW_EXPECT(std::string(jsw_last_error()).find("step counts from 1") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(step(-1.0f, 0.9f, 0.999f, 1, 0, nullptr) == JSW_ERR_INVALID_ARGUMENT, "negative lr");
  JSW_EXPECT(step(1e-3f, 1.0f, 0.999f, 1, 0, nullptr) == JSW_ERR_INVALID_ARGUMENT, "beta1 = 1");
  JSW_EXPECT(step(1e-3f, 0.9f, 0.999f, 1, JSW_I8, f) == JSW_ERR_INVALID_ARGUMENT, "int8 param copy");
  JSW_EXPECT(jsw_sumsq(JSW_CPU, JSW_F32, f, 4, nullptr) == JSW_ERR_INVALID_ARGUMENT, "null acc");
  JSW_EXPECT(jsw_clip_coef(JSW_CPU, f, 1.0f, nullptr, f) == JSW_ERR_INVALID_ARGUMENT, "null norm");
  int st = jsw_sumsq(jsw_cuda_device_count(), JSW_F32, f, 4, f);
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
}

JSW_CUDA_TEST(optim_cuda_matches_cpu) {
  int d = cuda_device();
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    for (int64_t n : {1, 1000, 1 << 20}) {
      std::vector<float> x = round_to(randn(n, uint64_t(n) + 3), dtype);
      float sums[2];
      for (int k = 0; k < 2; k++) {
        int dev = k == 0 ? JSW_CPU : d;
        Buffer bx = upload(dev, dtype, x), acc = upload(dev, JSW_F32, {1.0f});
        JSW_CHECK(jsw_sumsq(dev, dtype, bx.get(), n, acc.as<float>()));
        JSW_CHECK(jsw_sumsq(dev, dtype, bx.get(), n, acc.as<float>()));  // accumulates
        sums[k] = download(acc, JSW_F32, 1)[0];
      }
      // fp32 partial sums in a different order (threads, atomics): ~1e-6 relative for n = 2^20.
      JSW_EXPECT(std::fabs(sums[1] - sums[0]) <= 1e-5f * sums[0], "sumsq n %lld: %.9g vs %.9g", (long long)n,
                 double(sums[1]), double(sums[0]));
    }
  }
  for (float max_norm : {0.5f, 100.0f, 0.0f}) {
    float out[2][2];
    for (int k = 0; k < 2; k++) {
      int dev = k == 0 ? JSW_CPU : d;
      Buffer s = upload(dev, JSW_F32, {9.0f}), norm = poisoned(dev, JSW_F32, 1), coef = poisoned(dev, JSW_F32, 1);
      JSW_CHECK(jsw_clip_coef(dev, s.as<float>(), max_norm, norm.as<float>(), coef.as<float>()));
      out[k][0] = download(norm, JSW_F32, 1)[0];
      out[k][1] = download(coef, JSW_F32, 1)[0];
    }
    JSW_EXPECT(out[0][0] == out[1][0] && out[0][1] == out[1][1], "clip max_norm %g: %g %g vs %g %g", double(max_norm),
               double(out[1][0]), double(out[1][1]), double(out[0][0]), double(out[0][1]));
  }
  int64_t n = 100003;
  std::vector<float> p0 = randn(n, 2);
  auto grads = make_grads(n, 4, 50);
  float scale = 0.5f;
  for (int copy_dtype : {JSW_BF16, JSW_F16, JSW_F32}) {
    AdamCase c{2e-3f, 0.9f, 0.99f, 1e-8f, 0.05f};
    AdamState cpu = run_adamw(JSW_CPU, p0, grads, c, &scale, copy_dtype);
    AdamState gpu = run_adamw(d, p0, grads, c, &scale, copy_dtype);
    // Same scalars and operation order; only FMA contraction differs: a few fp32 ulps after 4 steps.
    expect_close("adamw param", gpu.p, cpu.p, 1e-6f, 1e-6f);
    expect_close("adamw m", gpu.m, cpu.m, 1e-7f, 1e-5f);
    expect_close("adamw v", gpu.v, cpu.v, 1e-9f, 1e-5f);
    JSW_EXPECT(gpu.copy == round_to(gpu.p, copy_dtype), "dtype %d: the copy is the GPU's param rounded once",
               copy_dtype);
  }
}
