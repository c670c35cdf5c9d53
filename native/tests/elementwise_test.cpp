// Cast / fill / axpby, and the bf16 / f16 rounding the whole engine relies on.
#include <cstring>

#include "test.h"

using namespace jsw_test;

JSW_TEST(cast_rounds_to_nearest_even) {
  // 1 + 2^-8 is halfway between two bf16 values: ties go to the even mantissa (1.0); 1 + 3*2^-8 rounds up.
  std::vector<float> x = {1.0f + 1.0f / 256, 1.0f + 3.0f / 256, -2.5f, 65504.0f, 1e-8f, 3.14159265f};
  auto bf = round_to(x, JSW_BF16);
  JSW_EXPECT(bf[0] == 1.0f && bf[1] == 1.0f + 4.0f / 256, "bf16 ties: %g %g", double(bf[0]), double(bf[1]));
  JSW_EXPECT(bf[2] == -2.5f, "exact value kept");
  auto h = round_to(x, JSW_F16);
  JSW_EXPECT(h[3] == 65504.0f, "f16 max");
  JSW_EXPECT(h[4] == 0.0f, "1e-8 underflows in f16 (smallest subnormal 6e-8), got %g", double(h[4]));
  JSW_EXPECT(std::fabs(h[5] - 3.140625f) < 1e-7f, "f16 pi = 3.140625, got %.8f", double(h[5]));
}

JSW_TEST(axpby_and_fill_cpu) {
  auto x = randn(1000, 41), y = randn(1000, 42);
  Buffer bx = upload(JSW_CPU, JSW_F32, x), by = upload(JSW_CPU, JSW_F32, y);
  JSW_CHECK(jsw_axpby(JSW_CPU, JSW_F32, 1000, 2.0f, bx.get(), -0.5f, by.get()));
  auto got = download(by, JSW_F32, 1000);
  std::vector<float> want(1000);
  for (int i = 0; i < 1000; i++) want[i] = 2.0f * x[i] - 0.5f * y[i];
  expect_close("axpby", got, want, 1e-6f, 1e-6f);
  JSW_CHECK(jsw_fill(JSW_CPU, JSW_F32, by.get(), 1.5f, 1000));
  got = download(by, JSW_F32, 1000);
  expect_close("fill", got, std::vector<float>(1000, 1.5f), 0, 0);
}

JSW_CUDA_TEST(elementwise_cuda_matches_cpu) {
  int dev = cuda_device();
  auto x = randn(100003, 43), y = randn(100003, 44);
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    auto cpu = round_to(x, dtype);
    Buffer bx = upload(dev, JSW_F32, x), out = poisoned(dev, dtype, 100003);
    JSW_CHECK(jsw_cast(dev, JSW_F32, bx.get(), dtype, out.get(), 100003));
    expect_close("cast to " + std::to_string(dtype), download(out, dtype, 100003), cpu, 0, 0);
    Buffer gx = upload(dev, dtype, x), gy = upload(dev, dtype, y);
    Buffer cx = upload(JSW_CPU, dtype, x), cy = upload(JSW_CPU, dtype, y);
    JSW_CHECK(jsw_axpby(dev, dtype, 100003, 0.3f, gx.get(), 1.7f, gy.get()));
    JSW_CHECK(jsw_axpby(JSW_CPU, dtype, 100003, 0.3f, cx.get(), 1.7f, cy.get()));
    float tol = dtype == JSW_F32 ? 1e-6f : 1e-2f;  // FMA contraction may differ by one rounding
    expect_close("axpby", download(gy, dtype, 100003), download(cy, dtype, 100003), tol, tol);
  }
}

JSW_TEST(bias_add_and_row_sums_cpu) {
  int64_t rows = 37, cols = 131;  // cols spans three 64-column slices
  auto y = randn(rows * cols, 45), b = randn(cols, 46), dy = randn(rows * cols, 47);
  Buffer by = upload(JSW_CPU, JSW_F32, y), bb = upload(JSW_CPU, JSW_F32, b), bdy = upload(JSW_CPU, JSW_F32, dy);
  JSW_CHECK(jsw_add_bias(JSW_CPU, JSW_F32, by.get(), bb.get(), rows, cols));
  std::vector<float> want(y);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) want[r * cols + c] += b[c];
  expect_close("add_bias", download(by, JSW_F32, rows * cols), want, 0, 0);
  auto start = randn(cols, 48);
  Buffer bd = upload(JSW_CPU, JSW_F32, start);
  JSW_CHECK(jsw_sum_rows(JSW_CPU, JSW_F32, bdy.get(), rows, cols, bd.as<float>()));
  std::vector<float> sums(start);
  for (int64_t c = 0; c < cols; c++) {
    double s = 0;
    for (int64_t r = 0; r < rows; r++) s += dy[r * cols + c];
    sums[c] += float(s);
  }
  expect_close("sum_rows accumulates", download(bd, JSW_F32, cols), sums, 1e-5f, 1e-5f);
  JSW_EXPECT(jsw_add_bias(JSW_CPU, JSW_F32, by.get(), nullptr, rows, cols) == JSW_ERR_INVALID_ARGUMENT, "null bias");
  JSW_EXPECT(jsw_sum_rows(JSW_CPU, JSW_F32, bdy.get(), rows, 0, bd.as<float>()) == JSW_ERR_INVALID_ARGUMENT, "cols 0");
}

JSW_CUDA_TEST(bias_add_and_row_sums_cuda_match_cpu) {
  int dev = cuda_device();
  int64_t rows = 1000, cols = 333;
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    auto y = round_to(randn(rows * cols, 51), dtype), b = round_to(randn(cols, 52), dtype);
    Buffer gy = upload(dev, dtype, y), gb = upload(dev, dtype, b), cy = upload(JSW_CPU, dtype, y),
           cb = upload(JSW_CPU, dtype, b);
    JSW_CHECK(jsw_add_bias(dev, dtype, gy.get(), gb.get(), rows, cols));
    JSW_CHECK(jsw_add_bias(JSW_CPU, dtype, cy.get(), cb.get(), rows, cols));
    expect_close("add_bias", download(gy, dtype, rows * cols), download(cy, dtype, rows * cols), 0, 0);
    Buffer gd = zeros(dev, JSW_F32, cols), cd = zeros(JSW_CPU, JSW_F32, cols);
    JSW_CHECK(jsw_sum_rows(dev, dtype, gy.get(), rows, cols, gd.as<float>()));
    JSW_CHECK(jsw_sum_rows(JSW_CPU, dtype, cy.get(), rows, cols, cd.as<float>()));
    expect_close("sum_rows", download(gd, JSW_F32, cols), download(cd, JSW_F32, cols), 1e-4f, 1e-5f);
  }
}
