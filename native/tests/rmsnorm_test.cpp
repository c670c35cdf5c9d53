// RMSNorm: the CPU kernel against a double-precision loop, and the CUDA twin against the CPU kernel.
#include "test.h"

using namespace jsw_test;

namespace {

struct RmsRef {
  std::vector<float> y, rstd, dx, dw;
};

RmsRef reference(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& dy,
                 int64_t rows, int64_t dim, float eps) {
  RmsRef r;
  r.y.resize(x.size());
  r.dx.resize(x.size());
  r.rstd.resize(size_t(rows));
  r.dw.assign(size_t(dim), 0.0f);
  std::vector<double> dw(size_t(dim), 0.0);
  for (int64_t i = 0; i < rows; i++) {
    double ss = 0;
    for (int64_t j = 0; j < dim; j++) ss += double(x[i * dim + j]) * x[i * dim + j];
    double inv = 1.0 / std::sqrt(ss / dim + eps);
    r.rstd[i] = float(inv);
    double dot = 0;
    for (int64_t j = 0; j < dim; j++) {
      r.y[i * dim + j] = float(w[j] * x[i * dim + j] * inv);
      dot += double(w[j]) * dy[i * dim + j] * x[i * dim + j];
      dw[j] += double(dy[i * dim + j]) * x[i * dim + j] * inv;
    }
    for (int64_t j = 0; j < dim; j++)
      r.dx[i * dim + j] = float(inv * w[j] * dy[i * dim + j] - x[i * dim + j] * dot * inv * inv * inv / dim);
  }
  for (int64_t j = 0; j < dim; j++) r.dw[j] = float(dw[j]);
  return r;
}

struct RmsOut {
  std::vector<float> y, rstd, dx, dw;
};

// x_offset: x is passed x_offset values into its buffer (so that a pointer is misaligned where x_offset values
// are not a multiple of 16 bytes).
RmsOut run(int device, int dtype, const std::vector<float>& x, const std::vector<float>& w,
           const std::vector<float>& dy, int64_t rows, int64_t dim, float eps, int64_t x_offset = 0) {
  std::vector<float> x_at(size_t(x_offset), 0.0f);
  x_at.insert(x_at.end(), x.begin(), x.end());
  Buffer bx = upload(device, dtype, x_at), bw = upload(device, dtype, w), bdy = upload(device, dtype, dy);
  const void* xp = static_cast<const char*>(bx.get()) + x_offset * dtype_bytes(dtype);
  Buffer by = poisoned(device, dtype, rows * dim), bdx = poisoned(device, dtype, rows * dim);
  Buffer brstd = poisoned(device, JSW_F32, rows);
  std::vector<float> dw0 = uniform(dim, 7, -1, 1);  // dweight accumulates: start from non-zero values
  Buffer bdw = upload(device, JSW_F32, dw0);
  JSW_CHECK(jsw_rmsnorm_fwd(device, dtype, xp, bw.get(), eps, rows, dim, by.get(), brstd.as<float>()));
  JSW_CHECK(jsw_rmsnorm_bwd(device, dtype, bdy.get(), xp, bw.get(), brstd.as<float>(), rows, dim, bdx.get(),
                            bdw.as<float>()));
  JSW_CHECK(jsw_synchronize(device));
  RmsOut o{download(by, dtype, rows * dim), download(brstd, JSW_F32, rows), download(bdx, dtype, rows * dim),
           download(bdw, JSW_F32, dim)};
  for (int64_t j = 0; j < dim; j++) o.dw[j] -= dw0[j];
  return o;
}

}  // namespace

JSW_TEST(rmsnorm_cpu_matches_double_reference) {
  for (auto [rows, dim] : {std::pair<int64_t, int64_t>{1, 64}, {7, 80}, {33, 128}, {5, 4096}, {3, 13}}) {
    auto x = randn(rows * dim, 1), w = randn(dim, 2), dy = randn(rows * dim, 3);
    for (auto& v : w) v += 1.0f;
    RmsRef ref = reference(x, w, dy, rows, dim, 1e-6f);
    RmsOut got = run(JSW_CPU, JSW_F32, x, w, dy, rows, dim, 1e-6f);
    expect_close("y", got.y, ref.y, 1e-5f, 1e-5f);
    expect_close("rstd", got.rstd, ref.rstd, 1e-6f, 1e-5f);
    expect_close("dx", got.dx, ref.dx, 1e-5f, 1e-4f);
    expect_close("dw", got.dw, ref.dw, 1e-4f, 1e-4f);
  }
}

JSW_TEST(rmsnorm_cpu_bf16_storage) {
  int64_t rows = 9, dim = 96;
  auto x = round_to(randn(rows * dim, 4), JSW_BF16), w = round_to(uniform(dim, 5, 0.5f, 1.5f), JSW_BF16);
  auto dy = round_to(randn(rows * dim, 6), JSW_BF16);
  RmsRef ref = reference(x, w, dy, rows, dim, 1e-5f);
  RmsOut got = run(JSW_CPU, JSW_BF16, x, w, dy, rows, dim, 1e-5f);
  expect_close("y", got.y, ref.y, 1e-2f, 1e-2f);  // one bf16 rounding of the output: rel 2^-8
  expect_close("dx", got.dx, ref.dx, 2e-2f, 1e-2f);
  expect_close("dw", got.dw, ref.dw, 1e-4f, 1e-4f);  // fp32 accumulation of exactly representable inputs
}

JSW_TEST(rmsnorm_rejects_bad_arguments) {
  Buffer x(JSW_CPU, 64), w(JSW_CPU, 64), y(JSW_CPU, 64);
  JSW_EXPECT(jsw_rmsnorm_fwd(JSW_CPU, JSW_F32, x.get(), w.get(), 1e-6f, 2, 0, y.get(), nullptr) ==
                 JSW_ERR_INVALID_ARGUMENT, "dim 0");
  JSW_EXPECT(jsw_rmsnorm_fwd(JSW_CPU, JSW_I32, x.get(), w.get(), 1e-6f, 2, 8, y.get(), nullptr) ==
                 JSW_ERR_INVALID_ARGUMENT, "int dtype");
  JSW_EXPECT(jsw_rmsnorm_fwd(JSW_CPU, JSW_F32, nullptr, w.get(), 1e-6f, 2, 8, y.get(), nullptr) ==
                 JSW_ERR_INVALID_ARGUMENT, "null x");
  JSW_EXPECT(std::string(jsw_last_error()).find("x is a null pointer") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(jsw_rmsnorm_fwd(-7, JSW_F32, x.get(), w.get(), 1e-6f, 2, 8, y.get(), nullptr) ==
                 JSW_ERR_INVALID_ARGUMENT, "device -7");
  int st = jsw_rmsnorm_fwd(jsw_cuda_device_count(), JSW_F32, x.get(), w.get(), 1e-6f, 2, 8, y.get(), nullptr);
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
}

JSW_CUDA_TEST(rmsnorm_cuda_matches_cpu) {
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    // 16-byte vectors where dim allows (13: never; 12: fp32 only), 128: a Qwen3 per-head q/k norm
    for (auto [rows, dim] :
         {std::pair<int64_t, int64_t>{1, 64}, {37, 80}, {300, 128}, {17, 4096}, {3, 13}, {5, 12}}) {
      auto x = round_to(randn(rows * dim, 11), dtype), w = round_to(uniform(dim, 12, 0.5f, 1.5f), dtype);
      auto dy = round_to(randn(rows * dim, 13), dtype);
      RmsOut cpu = run(JSW_CPU, JSW_F32, x, w, dy, rows, dim, 1e-6f);
      RmsOut gpu = run(cuda_device(), dtype, x, w, dy, rows, dim, 1e-6f);
      float tol = dtype == JSW_F32 ? 1e-5f : dtype == JSW_BF16 ? 1e-2f : 2e-3f;
      std::string tag = "dtype " + std::to_string(dtype) + " rows " + std::to_string(rows) + " dim " + std::to_string(dim);
      expect_close(tag + " y", gpu.y, cpu.y, tol, tol);
      expect_close(tag + " rstd", gpu.rstd, cpu.rstd, 1e-6f, 1e-5f);
      expect_close(tag + " dx", gpu.dx, cpu.dx, 2 * tol, 2 * tol);
      expect_close(tag + " dw", gpu.dw, cpu.dw, 1e-3f, 1e-4f);
    }
  }
}

// dim 64 allows 16-byte vectors, but x starts 8 bytes past a 16-byte boundary (4 bf16 / f16 values, 2 fp32), so
// every row of x is misaligned: the forward and the backward take the scalar kernels (rmsnorm.cu's vectorizable).
JSW_CUDA_TEST(rmsnorm_cuda_misaligned_x_matches_cpu) {
  const int64_t rows = 5, dim = 64;
  for (int dtype : {JSW_BF16, JSW_F16, JSW_F32}) {
    const int64_t offset = 8 / dtype_bytes(dtype);
    auto x = round_to(randn(rows * dim, 21), dtype), w = round_to(uniform(dim, 22, 0.5f, 1.5f), dtype);
    auto dy = round_to(randn(rows * dim, 23), dtype);
    RmsOut cpu = run(JSW_CPU, JSW_F32, x, w, dy, rows, dim, 1e-6f);
    RmsOut gpu = run(cuda_device(), dtype, x, w, dy, rows, dim, 1e-6f, offset);
    float tol = dtype == JSW_F32 ? 1e-5f : dtype == JSW_BF16 ? 1e-2f : 2e-3f;
    std::string tag = "dtype " + std::to_string(dtype) + " x offset " + std::to_string(offset);
    expect_close(tag + " y", gpu.y, cpu.y, tol, tol);
    expect_close(tag + " rstd", gpu.rstd, cpu.rstd, 1e-6f, 1e-5f);
    expect_close(tag + " dx", gpu.dx, cpu.dx, 2 * tol, 2 * tol);
    expect_close(tag + " dw", gpu.dw, cpu.dw, 1e-3f, 1e-4f);
  }
}
