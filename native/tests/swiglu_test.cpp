// SwiGLU: the CPU kernel (with its vectorised exp) against a double loop over a wide range of gate values,
// and the CUDA twin against the CPU kernel.
#include "test.h"

using namespace jsw_test;

namespace {

struct SwiOut {
  std::vector<float> out, dgate, dup;
};

SwiOut reference(const std::vector<float>& g, const std::vector<float>& u, const std::vector<float>& d) {
  SwiOut r{std::vector<float>(g.size()), std::vector<float>(g.size()), std::vector<float>(g.size())};
  for (size_t i = 0; i < g.size(); i++) {
    double s = 1.0 / (1.0 + std::exp(-double(g[i])));
    r.out[i] = float(g[i] * s * u[i]);
    r.dgate[i] = float(double(d[i]) * u[i] * s * (1.0 + g[i] * (1.0 - s)));
    r.dup[i] = float(double(d[i]) * g[i] * s);
  }
  return r;
}

SwiOut run(int device, int dtype, const std::vector<float>& g, const std::vector<float>& u,
           const std::vector<float>& d) {
  int64_t n = int64_t(g.size());
  Buffer bg = upload(device, dtype, g), bu = upload(device, dtype, u), bd = upload(device, dtype, d);
  Buffer bo = poisoned(device, dtype, n), bdg = poisoned(device, dtype, n), bdu = poisoned(device, dtype, n);
  JSW_CHECK(jsw_swiglu_fwd(device, dtype, bg.get(), bu.get(), n, bo.get()));
  JSW_CHECK(jsw_swiglu_bwd(device, dtype, bd.get(), bg.get(), bu.get(), n, bdg.get(), bdu.get()));
  JSW_CHECK(jsw_synchronize(device));
  return {download(bo, dtype, n), download(bdg, dtype, n), download(bdu, dtype, n)};
}

// Gates over the whole range the exp clamp touches (|g| up to ~100), plus exact edge values.
std::vector<float> gates(int64_t n, uint64_t seed) {
  auto g = randn(n, seed, 4.0f);
  const float edges[] = {0.0f, -0.0f, 1e-30f, -87.5f, 88.5f, -100.0f, 100.0f, 20.0f, -20.0f, 1e30f, -1e30f};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0] && int64_t(i) < n; i++) g[i] = edges[i];
  return g;
}

}  // namespace

JSW_TEST(swiglu_cpu_matches_double_reference) {
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(64), int64_t(1000), int64_t(100003)}) {
    auto g = gates(n, 1), u = randn(n, 2), d = randn(n, 3);
    SwiOut want = reference(g, u, d), got = run(JSW_CPU, JSW_F32, g, u, d);
    // vec_exp is within ~2 ulp of e^x and a few fp32 products follow: relative ~5e-7; the 1e-6 rtol leaves
    // room, the tiny atol covers results that underflow differently (e^-88 clamped vs 0). dgate crosses zero
    // at g ~ -1.28 where 1 + g (1 - s) cancels: there its error is absolute, ~1e-8 for |dout u| ~ 1.
    expect_close("out", got.out, want.out, 1e-30f, 1e-6f);
    expect_close("dgate", got.dgate, want.dgate, 1e-6f, 2e-6f);
    expect_close("dup", got.dup, want.dup, 1e-30f, 1e-6f);
  }
}

JSW_TEST(swiglu_cpu_half_storage_and_nan) {
  int64_t n = 513;
  for (int dtype : {JSW_BF16, JSW_F16}) {
    auto g = round_to(randn(n, 4, 3.0f), dtype), u = round_to(randn(n, 5), dtype), d = round_to(randn(n, 6), dtype);
    SwiOut want = reference(g, u, d), got = run(JSW_CPU, dtype, g, u, d);
    // one rounding of each output to the storage type: 2^-9 (bf16) / 2^-12 (f16) relative
    float tol = dtype == JSW_BF16 ? 4e-3f : 5e-4f;
    expect_close("out", got.out, want.out, 1e-4f, tol);
    expect_close("dgate", got.dgate, want.dgate, 1e-4f, tol);
    expect_close("dup", got.dup, want.dup, 1e-4f, tol);
  }
  std::vector<float> g = {NAN, 1.0f}, u = {1.0f, NAN}, d = {1.0f, 1.0f};
  SwiOut got = run(JSW_CPU, JSW_F32, g, u, d);
  JSW_EXPECT(std::isnan(got.out[0]) && std::isnan(got.out[1]), "NaN inputs give NaN outputs");
  JSW_EXPECT(std::isnan(got.dgate[0]) && std::isnan(got.dup[0]), "NaN gate gives NaN gradients");
}

JSW_TEST(swiglu_rejects_bad_arguments) {
  Buffer a(JSW_CPU, 64), b(JSW_CPU, 64), c(JSW_CPU, 64);
  JSW_EXPECT(jsw_swiglu_fwd(JSW_CPU, JSW_F32, a.get(), b.get(), -1, c.get()) == JSW_ERR_INVALID_ARGUMENT, "n < 0");
  JSW_EXPECT(jsw_swiglu_fwd(JSW_CPU, JSW_I32, a.get(), b.get(), 4, c.get()) == JSW_ERR_INVALID_ARGUMENT, "int dtype");
  JSW_EXPECT(jsw_swiglu_fwd(JSW_CPU, JSW_F32, a.get(), nullptr, 4, c.get()) == JSW_ERR_INVALID_ARGUMENT, "null up");
  JSW_EXPECT(std::string(jsw_last_error()).find("up is a null pointer") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(jsw_swiglu_bwd(JSW_CPU, JSW_F32, a.get(), b.get(), c.get(), 4, a.get(), nullptr) ==
                 JSW_ERR_INVALID_ARGUMENT, "null dup");
  int st = jsw_swiglu_fwd(jsw_cuda_device_count(), JSW_F32, a.get(), b.get(), 4, c.get());
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
}

JSW_CUDA_TEST(swiglu_cuda_matches_cpu) {
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(1000), int64_t(100003), (int64_t(1) << 24) + 5}) {
      auto g = round_to(gates(n, 11), dtype), u = round_to(randn(n, 12), dtype), d = round_to(randn(n, 13), dtype);
      SwiOut cpu = run(JSW_CPU, JSW_F32, g, u, d);
      SwiOut gpu = run(cuda_device(), dtype, g, u, d);
      // fp32: expf (<= 2 ulp) vs vec_exp (~2 ulp): ~1e-6 relative. 16-bit outputs: one rounding of the storage
      // type (bf16 2^-9, f16 2^-12 relative) on top of the fp32 CPU result.
      // The f32 atol covers dgate's cancellation near g ~ -1.28 (see the CPU test).
      float rtol = dtype == JSW_F32 ? 2e-6f : dtype == JSW_BF16 ? 4e-3f : 5e-4f;
      float atol = dtype == JSW_F32 ? 1e-6f : dtype == JSW_BF16 ? 1e-5f : 1e-4f;
      std::string tag = "dtype " + std::to_string(dtype) + " n " + std::to_string(n);
      expect_close(tag + " out", gpu.out, cpu.out, atol, rtol);
      expect_close(tag + " dgate", gpu.dgate, cpu.dgate, atol, rtol);
      expect_close(tag + " dup", gpu.dup, cpu.dup, atol, rtol);
    }
  }
}
