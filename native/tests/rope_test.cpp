// RoPE: the frequencies (hand-checked values, the llama3 bands), the rotation against a double-precision
// loop (large and repeated positions, in place), the backward as the transpose, and CUDA against the CPU.
#include <cstring>
#include <tuple>

#include "test.h"

using namespace jsw_test;

namespace {

std::vector<float> inv_freq(int64_t head_dim, float theta, int type = JSW_ROPE_DEFAULT, float factor = 1.0f,
                            float low = 1.0f, float high = 4.0f, int64_t context = 8192) {
  std::vector<float> f(size_t(head_dim / 2), -1.0f);
  JSW_CHECK(jsw_rope_inv_freq(head_dim, theta, type, factor, low, high, context, f.data()));
  return f;
}

// y (sign +1) or dx (sign -1) in double from the fp32 angle the kernels use.
std::vector<float> reference(const std::vector<float>& x, const std::vector<int32_t>& pos,
                             const std::vector<float>& freq, int64_t heads, int64_t head_dim, float scaling,
                             double sign) {
  int64_t tokens = int64_t(pos.size()), half = head_dim / 2;
  std::vector<float> y(x.size());
  for (int64_t t = 0; t < tokens; t++)
    for (int64_t i = 0; i < half; i++) {
      float angle = float(pos[t]) * freq[i];
      double c = std::cos(double(angle)) * scaling, s = sign * std::sin(double(angle)) * scaling;
      for (int64_t h = 0; h < heads; h++) {
        int64_t o = (t * heads + h) * head_dim;
        double a = x[o + i], b = x[o + i + half];
        y[o + i] = float(a * c - b * s);
        y[o + i + half] = float(b * c + a * s);
      }
    }
  return y;
}

std::vector<int32_t> positions_for(int64_t tokens) {
  // Non-contiguous, repeated and large ids (packed sequences restart, long contexts reach 128k).
  std::vector<int32_t> pos(static_cast<size_t>(tokens));
  for (int64_t t = 0; t < tokens; t++) pos[t] = int32_t((t * 7919) % 131072);
  if (tokens > 3) pos[2] = 0, pos[3] = 0;
  if (tokens > 5) pos[5] = 131071;
  return pos;
}

struct RopeOut {
  std::vector<float> y, dx;
};

RopeOut run(int device, int dtype, const std::vector<float>& x, const std::vector<float>& dy,
            const std::vector<int32_t>& pos, const std::vector<float>& freq, int64_t heads, int64_t head_dim,
            float scaling, bool in_place) {
  int64_t tokens = int64_t(pos.size()), n = tokens * heads * head_dim;
  Buffer bx = upload(device, dtype, x), bdy = upload(device, dtype, dy), bpos = upload_i32(device, pos);
  Buffer bf = upload(device, JSW_F32, freq);
  Buffer by = poisoned(device, dtype, n), bdx = poisoned(device, dtype, n);
  void* y = in_place ? bx.get() : by.get();
  void* dx = in_place ? bdy.get() : bdx.get();
  JSW_CHECK(jsw_rope_fwd(device, dtype, bx.get(), bpos.as<int32_t>(), bf.as<float>(), tokens, heads, head_dim, scaling,
                         y));
  JSW_CHECK(jsw_rope_bwd(device, dtype, bdy.get(), bpos.as<int32_t>(), bf.as<float>(), tokens, heads, head_dim,
                         scaling, dx));
  JSW_CHECK(jsw_synchronize(device));
  return {download(in_place ? bx : by, dtype, n), download(in_place ? bdy : bdx, dtype, n)};
}

}  // namespace

JSW_TEST(rope_inv_freq_default_hand_checked) {
  auto f = inv_freq(4, 10000.0f);
  JSW_EXPECT(f[0] == 1.0f && f[1] == 0.01f, "theta 10000, dim 4: got %.9g %.9g", double(f[0]), double(f[1]));
  f = inv_freq(128, 10000.0f);
  // 10000^(-1/64) = exp(-ln(10000)/64) = 0.8659643233600653
  JSW_EXPECT(std::fabs(f[1] - 0.8659643233600653) < 1e-7, "f[1] = %.9g", double(f[1]));
  // three fp32 roundings (exponent exact, pow, reciprocal): within 2 ulp = 2.4e-7 relative
  JSW_EXPECT(std::fabs(f[63] / std::pow(10000.0, -126.0 / 128.0) - 1) < 2.4e-7, "f[63] = %.9g", double(f[63]));
  auto linear = inv_freq(128, 10000.0f, JSW_ROPE_LINEAR, 4.0f);
  for (size_t i = 0; i < f.size(); i++)
    JSW_EXPECT(linear[i] == f[i] / 4.0f, "linear scaling divides by the factor (i = %zu)", i);
}

JSW_TEST(rope_inv_freq_llama3_bands) {
  // Llama 3.1: theta 500000, factor 8, low 1, high 4, original context 8192.
  auto base = inv_freq(128, 500000.0f);
  auto f = inv_freq(128, 500000.0f, JSW_ROPE_LLAMA3, 8.0f, 1.0f, 4.0f, 8192);
  int high = 0, low = 0, medium = 0;
  for (size_t i = 0; i < f.size(); i++) {
    double wavelen = 2 * M_PI / base[i];
    if (wavelen < 2048) {
      JSW_EXPECT(f[i] == base[i], "short wavelengths are kept (i = %zu)", i);
      high++;
    } else if (wavelen > 8192) {
      JSW_EXPECT(f[i] == base[i] / 8.0f, "long wavelengths are divided by the factor (i = %zu)", i);
      low++;
    } else {
      double smooth = (8192 / wavelen - 1.0) / 3.0;
      double want = (1 - smooth) * base[i] / 8 + smooth * base[i];
      JSW_EXPECT(std::fabs(f[i] - want) <= 1e-6 * want, "medium band blends (i = %zu): %.9g vs %.9g", i, double(f[i]),
                 want);
      medium++;
    }
  }
  JSW_EXPECT(high > 0 && low > 0 && medium > 0, "all three bands occur: %d %d %d", high, low, medium);
}

JSW_TEST(rope_cpu_matches_double_reference) {
  for (auto [tokens, heads, head_dim] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 2}, {7, 3, 80}, {33, 8, 128},
                                         {5, 2, 64}, {12, 5, 6}}) {
    auto pos = positions_for(tokens);
    auto freq = inv_freq(head_dim, 10000.0f);
    int64_t n = tokens * heads * head_dim;
    auto x = randn(n, 1), dy = randn(n, 2);
    for (float scaling : {1.0f, 1.25f}) {
      auto want_y = reference(x, pos, freq, heads, head_dim, scaling, 1.0);
      auto want_dx = reference(dy, pos, freq, heads, head_dim, scaling, -1.0);
      for (bool in_place : {false, true}) {
        RopeOut got = run(JSW_CPU, JSW_F32, x, dy, pos, freq, heads, head_dim, scaling, in_place);
        // fp32 products of |x| ~ 1 with cos/sin within an ulp: errors ~1e-7; 1e-5 leaves room for tails
        expect_close("y", got.y, want_y, 1e-5f, 1e-5f);
        expect_close("dx", got.dx, want_dx, 1e-5f, 1e-5f);
      }
    }
  }
}

JSW_TEST(rope_backward_is_the_transpose) {
  // <R x, dy> == <x, R^T dy> for the same positions and scaling.
  int64_t tokens = 9, heads = 4, head_dim = 80, n = tokens * heads * head_dim;
  auto pos = positions_for(tokens);
  auto freq = inv_freq(head_dim, 1000000.0f, JSW_ROPE_LLAMA3, 8.0f, 1.0f, 4.0f, 8192);
  auto x = randn(n, 3), dy = randn(n, 4);
  RopeOut got = run(JSW_CPU, JSW_F32, x, dy, pos, freq, heads, head_dim, 0.7f, false);
  double lhs = 0, rhs = 0, norm = 0;
  for (int64_t i = 0; i < n; i++) {
    lhs += double(got.y[i]) * dy[i];
    rhs += double(x[i]) * got.dx[i];
    norm += std::fabs(double(x[i]) * dy[i]);
  }
  JSW_EXPECT(std::fabs(lhs - rhs) <= 1e-6 * norm, "<Rx, dy> = %.9g, <x, R^T dy> = %.9g", lhs, rhs);
}

JSW_TEST(rope_cpu_bf16_storage) {
  int64_t tokens = 11, heads = 3, head_dim = 128, n = tokens * heads * head_dim;
  auto pos = positions_for(tokens);
  auto freq = inv_freq(head_dim, 500000.0f);
  auto x = round_to(randn(n, 5), JSW_BF16), dy = round_to(randn(n, 6), JSW_BF16);
  RopeOut got = run(JSW_CPU, JSW_BF16, x, dy, pos, freq, heads, head_dim, 1.0f, false);
  // one bf16 rounding of each output: relative 2^-9, plus atol for values near zero
  expect_close("y", got.y, reference(x, pos, freq, heads, head_dim, 1.0f, 1.0), 1e-2f, 8e-3f);
  expect_close("dx", got.dx, reference(dy, pos, freq, heads, head_dim, 1.0f, -1.0), 1e-2f, 8e-3f);
}

JSW_TEST(rope_rejects_bad_arguments) {
  Buffer x(JSW_CPU, 1024), y(JSW_CPU, 1024), pos(JSW_CPU, 64), f(JSW_CPU, 256);
  float freq[4];
  JSW_EXPECT(jsw_rope_inv_freq(7, 10000.0f, JSW_ROPE_DEFAULT, 1, 1, 4, 8192, freq) == JSW_ERR_INVALID_ARGUMENT,
             "odd head_dim");
  JSW_EXPECT(jsw_rope_inv_freq(8, 0.0f, JSW_ROPE_DEFAULT, 1, 1, 4, 8192, freq) == JSW_ERR_INVALID_ARGUMENT, "theta 0");
  JSW_EXPECT(jsw_rope_inv_freq(8, 1e4f, 3, 1, 1, 4, 8192, freq) == JSW_ERR_INVALID_ARGUMENT, "unknown scaling");
  JSW_EXPECT(jsw_rope_inv_freq(8, 1e4f, JSW_ROPE_LLAMA3, 8, 4, 4, 8192, freq) == JSW_ERR_INVALID_ARGUMENT,
             "llama3 with high == low");
  JSW_EXPECT(std::string(jsw_last_error()).find("high_freq_factor") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(jsw_rope_inv_freq(8, 1e4f, JSW_ROPE_LINEAR, 0, 1, 4, 8192, freq) == JSW_ERR_INVALID_ARGUMENT,
             "linear factor 0");
  JSW_EXPECT(jsw_rope_inv_freq(8, 1e4f, JSW_ROPE_DEFAULT, 1, 1, 4, 8192, nullptr) == JSW_ERR_INVALID_ARGUMENT,
             "null inv_freq");
  JSW_EXPECT(jsw_rope_fwd(JSW_CPU, JSW_F32, x.get(), pos.as<int32_t>(), f.as<float>(), 2, 2, 7, 1.0f, y.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "odd head_dim");
  JSW_EXPECT(jsw_rope_fwd(JSW_CPU, JSW_F32, x.get(), nullptr, f.as<float>(), 2, 2, 8, 1.0f, y.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "null positions");
  JSW_EXPECT(std::string(jsw_last_error()).find("positions is a null pointer") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(jsw_rope_bwd(JSW_CPU, JSW_I8, x.get(), pos.as<int32_t>(), f.as<float>(), 2, 2, 8, 1.0f, y.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "int8 dtype");
  JSW_EXPECT(jsw_rope_bwd(JSW_CPU, JSW_F32, x.get(), pos.as<int32_t>(), f.as<float>(), 2, 0, 8, 1.0f, y.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "heads 0");
  int st = jsw_rope_fwd(jsw_cuda_device_count(), JSW_F32, x.get(), pos.as<int32_t>(), f.as<float>(), 2, 2, 8, 1.0f,
                        y.get());
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
}

JSW_CUDA_TEST(rope_cuda_matches_cpu) {
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    for (auto [tokens, heads, head_dim] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 2}, {7, 3, 80},
                                           {300, 8, 128}, {33, 40, 128}, {12, 5, 6}, {4, 2, 256}}) {
      auto pos = positions_for(tokens);
      auto freq = inv_freq(head_dim, 500000.0f, JSW_ROPE_LLAMA3, 8.0f, 1.0f, 4.0f, 8192);
      int64_t n = tokens * heads * head_dim;
      auto x = round_to(randn(n, 11), dtype), dy = round_to(randn(n, 12), dtype);
      RopeOut cpu = run(JSW_CPU, dtype, x, dy, pos, freq, heads, head_dim, 1.1f, false);
      std::string tag = "dtype " + std::to_string(dtype) + " heads " + std::to_string(heads) + " head_dim " +
                        std::to_string(head_dim);
      for (bool in_place : {false, true}) {
        RopeOut gpu = run(cuda_device(), dtype, x, dy, pos, freq, heads, head_dim, 1.1f, in_place);
        // same fp32 angle; sin/cos agree to ~2 ulp and FMA contraction may differ: 1e-5 in fp32. A 16-bit output
        // may round the other way from a 1-ulp fp32 difference: one ulp of bf16 (2^-8) or f16 (2^-11).
        float tol = dtype == JSW_F32 ? 1e-5f : dtype == JSW_BF16 ? 8e-3f : 1e-3f;
        expect_close(tag + " y", gpu.y, cpu.y, tol, tol);
        expect_close(tag + " dx", gpu.dx, cpu.dx, tol, tol);
      }
    }
  }
}
