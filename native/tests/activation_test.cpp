// Pointwise activations: each kind and its derivative on the CPU against a double-precision reference (and the
// derivative against central differences of that reference, so a wrong formula cannot hide behind a matching
// wrong reference), half storage, bad arguments, and the CUDA twin against the CPU.
#include <cmath>

#include "test.h"

using namespace jsw_test;

namespace {

double act_ref(int kind, double x) {
  switch (kind) {
    case JSW_ACT_GELU: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case JSW_ACT_GELU_TANH:
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case JSW_ACT_RELU: return x > 0 ? x : 0.0;
    case JSW_ACT_SILU: return x / (1.0 + std::exp(-x));
    case JSW_ACT_QUICK_GELU: return x / (1.0 + std::exp(-1.702 * x));
    case JSW_ACT_TANH: return std::tanh(x);
    default: return 1.0 / (1.0 + std::exp(-x));
  }
}

double derivative_ref(int kind, double x) {  // central differences of the reference, step 1e-5
  double h = 1e-5;
  if (kind == JSW_ACT_RELU) return x > 0 ? 1.0 : 0.0;
  return (act_ref(kind, x + h) - act_ref(kind, x - h)) / (2 * h);
}

struct ActOut {
  std::vector<float> y, dx;
};

ActOut run(int device, int dtype, int kind, const std::vector<float>& x, const std::vector<float>& dy) {
  int64_t n = int64_t(x.size());
  Buffer bx = upload(device, dtype, x), bdy = upload(device, dtype, dy);
  Buffer by = poisoned(device, dtype, n), bdx = poisoned(device, dtype, n);
  JSW_CHECK(jsw_activation_fwd(device, dtype, kind, bx.get(), n, by.get()));
  JSW_CHECK(jsw_activation_bwd(device, dtype, kind, bx.get(), bdy.get(), n, bdx.get()));
  JSW_CHECK(jsw_synchronize(device));
  return {download(by, dtype, n), download(bdx, dtype, n)};
}

std::vector<float> inputs(int64_t n, uint64_t seed) {
  auto x = randn(n, seed, 3.0f);
  const float edges[] = {0.0f, 1e-30f, -1e-30f, 10.0f, -10.0f, 30.0f, -30.0f, 0.5f};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0] && int64_t(i) < n; i++) x[i] = edges[i];
  return x;
}

const int kKinds[] = {JSW_ACT_GELU, JSW_ACT_GELU_TANH, JSW_ACT_RELU, JSW_ACT_SILU, JSW_ACT_QUICK_GELU, JSW_ACT_TANH,
                      JSW_ACT_SIGMOID};

}  // namespace

JSW_TEST(activation_cpu_matches_double_reference) {
  for (int kind : kKinds) {
    for (int64_t n : {int64_t(1), int64_t(9), int64_t(1000), int64_t(70001)}) {
      auto x = inputs(n, 1 + kind), dy = randn(n, 20 + kind);
      ActOut got = run(JSW_CPU, JSW_F32, kind, x, dy);
      std::vector<float> want_y(n), want_dx(n);
      for (int64_t i = 0; i < n; i++) {
        want_y[i] = float(act_ref(kind, x[i]));
        want_dx[i] = float(dy[i] * derivative_ref(kind, x[i]));
      }
      std::string tag = "kind " + std::to_string(kind) + " n " + std::to_string(n);
      // fp32 evaluation of erf / tanh / exp: a few ulp; the derivative's reference is a finite difference
      // (truncation ~1e-10, cancellation ~1e-11 / 1e-5): 1e-5 absolute covers both
      expect_close(tag + " y", got.y, want_y, 1e-6f, 2e-6f);
      expect_close(tag + " dx", got.dx, want_dx, 2e-5f, 2e-5f);
    }
  }
}

JSW_TEST(activation_half_storage_nan_and_aliasing) {
  int64_t n = 777;
  for (int dtype : {JSW_BF16, JSW_F16}) {
    for (int kind : kKinds) {
      auto x = round_to(inputs(n, 5), dtype), dy = round_to(randn(n, 6), dtype);
      ActOut half = run(JSW_CPU, dtype, kind, x, dy), full = run(JSW_CPU, JSW_F32, kind, x, dy);
      float tol = dtype == JSW_BF16 ? 8e-3f : 1e-3f;  // one rounding of the output to the storage type
      expect_close("half y", half.y, full.y, 1e-4f, tol);
      expect_close("half dx", half.dx, full.dx, 1e-4f, tol);
    }
  }
  for (int kind : kKinds) {
    ActOut got = run(JSW_CPU, JSW_F32, kind, {NAN}, {1.0f});
    JSW_EXPECT(std::isnan(got.y[0]) && std::isnan(got.dx[0]), "kind %d: NaN in, NaN out", kind);
  }
  // dx may overwrite dy
  std::vector<float> x = inputs(64, 7), dy = randn(64, 8);
  ActOut want = run(JSW_CPU, JSW_F32, JSW_ACT_GELU, x, dy);
  Buffer bx = upload(JSW_CPU, JSW_F32, x), bdy = upload(JSW_CPU, JSW_F32, dy);
  JSW_CHECK(jsw_activation_bwd(JSW_CPU, JSW_F32, JSW_ACT_GELU, bx.get(), bdy.get(), 64, bdy.get()));
  expect_close("dx aliasing dy", download(bdy, JSW_F32, 64), want.dx, 0.0f, 0.0f);
}

JSW_TEST(activation_rejects_bad_arguments) {
  Buffer a(JSW_CPU, 64), b(JSW_CPU, 64), c(JSW_CPU, 64);
  JSW_EXPECT(jsw_activation_fwd(JSW_CPU, JSW_F32, 7, a.get(), 4, b.get()) == JSW_ERR_INVALID_ARGUMENT, "kind 7");
  JSW_EXPECT(std::string(jsw_last_error()).find("kind must be one of") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(jsw_activation_fwd(JSW_CPU, JSW_F32, -1, a.get(), 4, b.get()) == JSW_ERR_INVALID_ARGUMENT, "kind -1");
  JSW_EXPECT(jsw_activation_fwd(JSW_CPU, JSW_I32, 0, a.get(), 4, b.get()) == JSW_ERR_INVALID_ARGUMENT, "int dtype");
  JSW_EXPECT(jsw_activation_fwd(JSW_CPU, JSW_F32, 0, a.get(), -1, b.get()) == JSW_ERR_INVALID_ARGUMENT, "n < 0");
  JSW_EXPECT(jsw_activation_bwd(JSW_CPU, JSW_F32, 0, a.get(), nullptr, 4, c.get()) == JSW_ERR_INVALID_ARGUMENT,
             "null dy");
  JSW_EXPECT(jsw_activation_fwd(JSW_CPU, JSW_F32, 0, nullptr, 0, nullptr) == JSW_OK, "n = 0 touches nothing");
  int st = jsw_activation_fwd(jsw_cuda_device_count(), JSW_F32, 0, a.get(), 4, b.get());
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
}

JSW_CUDA_TEST(activation_cuda_matches_cpu) {
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    for (int kind : kKinds) {
      for (int64_t n : {int64_t(1), int64_t(1000), int64_t(100003), (int64_t(1) << 20) + 3}) {
        auto x = round_to(inputs(n, 30 + kind), dtype), dy = round_to(randn(n, 40 + kind), dtype);
        ActOut cpu = run(JSW_CPU, dtype, kind, x, dy), gpu = run(cuda_device(), dtype, kind, x, dy);
        // the same fp32 formulas; erff / tanhf / expf of the device and the host libm differ by an ulp or two,
        // which a 16-bit output rounds away except at a rounding boundary (one storage ulp)
        float rtol = dtype == JSW_F32 ? 4e-6f : dtype == JSW_BF16 ? 8e-3f : 1e-3f;
        float atol = dtype == JSW_F32 ? 1e-6f : 1e-5f;
        std::string tag = "dtype " + std::to_string(dtype) + " kind " + std::to_string(kind) + " n " +
                          std::to_string(n);
        expect_close(tag + " y", gpu.y, cpu.y, atol, rtol);
        expect_close(tag + " dx", gpu.dx, cpu.dx, atol, rtol);
      }
    }
  }
}
