// DoRA helpers: the CPU twins against double-precision loops (dropout: against the fused LoRA kernel's mask), and
// the CUDA twins against the CPU twins.
#include <cstring>
#include <limits>

#include "../src/kernels/dropout_hash.h"  // the mask's definition
#include "test.h"

using namespace jsw_test;

namespace {

struct Sizes {
  int64_t rows, cols;
};
// Odd sizes: a single element, widths that are not multiples of the 64-column slices or of a CUDA block.
const Sizes kSizes[] = {{1, 1}, {1, 64}, {7, 80}, {33, 131}, {5, 4096}, {3, 13}, {300, 7}};

std::vector<float> norms_ref(const std::vector<float>& x, int64_t rows, int64_t cols) {
  std::vector<float> n(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; r++) {
    double ss = 0;
    for (int64_t c = 0; c < cols; c++) ss += double(x[r * cols + c]) * x[r * cols + c];
    n[r] = float(std::sqrt(ss));
  }
  return n;
}

// The op's own fp32 formula, (x * rs) * cs rounded once to dtype: the CPU twin must match it exactly.
std::vector<float> scaled_ref(const std::vector<float>& x, int64_t rows, int64_t cols, const std::vector<float>* rs,
                              const std::vector<float>* cs, int dtype) {
  std::vector<float> y(x.size());
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      float v = x[r * cols + c];
      if (rs != nullptr) v *= (*rs)[r];
      if (cs != nullptr) v *= (*cs)[c];
      y[r * cols + c] = v;
    }
  return round_to(y, dtype);
}

std::vector<float> products_ref(const std::vector<float>& a, const std::vector<float>& b, int64_t rows, int64_t cols,
                                const std::vector<float>& start) {
  std::vector<float> dv(start);
  for (int64_t c = 0; c < cols; c++) {
    double s = 0;
    for (int64_t r = 0; r < rows; r++) s += double(a[r * cols + c]) * b[r * cols + c];
    dv[c] += float(s);
  }
  return dv;
}

}  // namespace

JSW_TEST(dora_row_norm_cpu_matches_double_reference) {
  for (Sizes s : kSizes) {
    for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
      auto x = round_to(randn(s.rows * s.cols, 11), dtype);  // the reference sees the stored values
      Buffer bx = upload(JSW_CPU, dtype, x);
      Buffer norm = poisoned(JSW_CPU, JSW_F32, s.rows), inv = poisoned(JSW_CPU, JSW_F32, s.rows);
      JSW_CHECK(jsw_row_norm(JSW_CPU, dtype, bx.get(), s.rows, s.cols, norm.as<float>(), inv.as<float>()));
      auto want = norms_ref(x, s.rows, s.cols);
      std::vector<float> want_inv(want.size());
      for (size_t i = 0; i < want.size(); i++) want_inv[i] = 1.0f / want[i];
      // fp32 sums of <= 4096 squares: relative error ~1e-6; the square root halves it.
      expect_close("norm", download(norm, JSW_F32, s.rows), want, 1e-6f, 1e-5f);
      expect_close("inv_norm", download(inv, JSW_F32, s.rows), want_inv, 1e-6f, 1e-5f);
      // Either output alone.
      Buffer only = poisoned(JSW_CPU, JSW_F32, s.rows);
      JSW_CHECK(jsw_row_norm(JSW_CPU, dtype, bx.get(), s.rows, s.cols, nullptr, only.as<float>()));
      expect_close("inv_norm alone", download(only, JSW_F32, s.rows), want_inv, 1e-6f, 1e-5f);
      JSW_CHECK(jsw_row_norm(JSW_CPU, dtype, bx.get(), s.rows, s.cols, only.as<float>(), nullptr));
      expect_close("norm alone", download(only, JSW_F32, s.rows), want, 1e-6f, 1e-5f);
    }
  }
}

JSW_TEST(dora_row_norm_of_a_zero_row_is_zero_with_infinite_inverse) {
  std::vector<float> x = {0, 0, 0, 3, 4, 0};
  Buffer bx = upload(JSW_CPU, JSW_F32, x), norm = poisoned(JSW_CPU, JSW_F32, 2), inv = poisoned(JSW_CPU, JSW_F32, 2);
  JSW_CHECK(jsw_row_norm(JSW_CPU, JSW_F32, bx.get(), 2, 3, norm.as<float>(), inv.as<float>()));
  auto n = download(norm, JSW_F32, 2), i = download(inv, JSW_F32, 2);
  JSW_EXPECT(n[0] == 0.0f && std::isinf(i[0]) && i[0] > 0, "zero row: norm %g, inv %g", double(n[0]), double(i[0]));
  JSW_EXPECT(n[1] == 5.0f && i[1] == 0.2f, "3-4-5 row: norm %g, inv %g", double(n[1]), double(i[1]));
}

JSW_TEST(dora_scale_rows_cols_cpu_is_exact) {
  for (Sizes s : kSizes) {
    for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
      auto x = round_to(randn(s.rows * s.cols, 21), dtype);
      auto rs = uniform(s.rows, 22, 0.5f, 2.0f), cs = uniform(s.cols, 23, -2.0f, 2.0f);
      Buffer bx = upload(JSW_CPU, dtype, x), brs = upload(JSW_CPU, JSW_F32, rs), bcs = upload(JSW_CPU, JSW_F32, cs);
      for (int mode = 0; mode < 4; mode++) {
        bool use_r = mode & 1, use_c = mode & 2;
        Buffer y = poisoned(JSW_CPU, dtype, s.rows * s.cols);
        JSW_CHECK(jsw_scale_rows_cols(JSW_CPU, dtype, bx.get(), s.rows, s.cols, use_r ? brs.as<float>() : nullptr,
                                      use_c ? bcs.as<float>() : nullptr, y.get()));
        auto want = scaled_ref(x, s.rows, s.cols, use_r ? &rs : nullptr, use_c ? &cs : nullptr, dtype);
        expect_close("scale mode " + std::to_string(mode), download(y, dtype, s.rows * s.cols), want, 0, 0);
      }
      // In place.
      Buffer xy = upload(JSW_CPU, dtype, x);
      JSW_CHECK(jsw_scale_rows_cols(JSW_CPU, dtype, xy.get(), s.rows, s.cols, brs.as<float>(), bcs.as<float>(),
                                    xy.get()));
      expect_close("scale in place", download(xy, dtype, s.rows * s.cols),
                   scaled_ref(x, s.rows, s.cols, &rs, &cs, dtype), 0, 0);
    }
  }
}

JSW_TEST(dora_sum_rows_mul_cpu_accumulates) {
  for (Sizes s : kSizes) {
    for (int dtype : {JSW_F32, JSW_BF16}) {
      auto a = round_to(randn(s.rows * s.cols, 31), dtype), b = round_to(randn(s.rows * s.cols, 32), dtype);
      auto start = randn(s.cols, 33);  // dv accumulates: start from non-zero values
      Buffer ba = upload(JSW_CPU, dtype, a), bb = upload(JSW_CPU, dtype, b), dv = upload(JSW_CPU, JSW_F32, start);
      JSW_CHECK(jsw_sum_rows_mul(JSW_CPU, dtype, ba.get(), bb.get(), s.rows, s.cols, dv.as<float>()));
      // fp32 sums of <= 300 products of N(0,1) values (|sum| ~ 17): a few ulps of the largest partial sums.
      expect_close("sum_rows_mul", download(dv, JSW_F32, s.cols), products_ref(a, b, s.rows, s.cols, start), 1e-5f,
                   1e-5f);
    }
  }
}

// The fused LoRA kernel's dropout multipliers for a [tokens, in] input, read through its public ABI: with
// W = 0, A = B = I (rank = out = in) and x = 1, xa = drop(1) A^T is the multiplier itself (0 or 1/(1-p)).
static std::vector<float> lora_mask(int64_t tokens, int64_t in, float p, uint64_t seed) {
  std::vector<float> eye(size_t(in * in), 0.0f), ones(size_t(tokens * in), 1.0f);
  for (int64_t i = 0; i < in; i++) eye[i * in + i] = 1.0f;
  Buffer x = upload(JSW_CPU, JSW_F32, ones), w = zeros(JSW_CPU, JSW_F32, in * in), a = upload(JSW_CPU, JSW_F32, eye);
  Buffer y = poisoned(JSW_CPU, JSW_F32, tokens * in), xa = poisoned(JSW_CPU, JSW_F32, tokens * in);
  JSW_CHECK(jsw_lora_fwd(JSW_CPU, JSW_F32, x.get(), w.get(), nullptr, a.get(), a.get(), tokens, in, in, in, 1.0f, p,
                         seed, y.get(), xa.get()));
  return download(xa, JSW_F32, tokens * in);
}

JSW_TEST(dora_dropout_cpu_drops_what_the_lora_kernel_drops) {
  int64_t tokens = 41, in = 37, n = tokens * in;
  float p = 0.3f;
  uint64_t seed = 20240607;
  auto mask = lora_mask(tokens, in, p, seed);
  int64_t dropped = 0;
  for (float m : mask) dropped += m == 0.0f;
  // 1517 Bernoulli(0.3) draws: standard deviation 0.0118, so +-0.055 is over 4.5 sigma.
  JSW_EXPECT(std::fabs(double(dropped) / double(n) - p) < 0.055, "dropped fraction %g", double(dropped) / double(n));
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    auto x = round_to(randn(n, 51), dtype);
    std::vector<float> want(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; i++) want[i] = x[i] * mask[i];  // mask is 0 or the same fp32 1/(1-p)
    want = round_to(want, dtype);
    Buffer bx = upload(JSW_CPU, dtype, x), y = poisoned(JSW_CPU, dtype, n);
    JSW_CHECK(jsw_dropout(JSW_CPU, dtype, bx.get(), n, p, seed, y.get()));
    expect_close("dropout dtype " + std::to_string(dtype), download(y, dtype, n), want, 0, 0);
    JSW_CHECK(jsw_dropout(JSW_CPU, dtype, bx.get(), n, p, seed, bx.get()));  // in place
    expect_close("dropout in place", download(bx, dtype, n), want, 0, 0);
  }
  auto x = randn(n, 52);
  Buffer bx = upload(JSW_CPU, JSW_F32, x), y = poisoned(JSW_CPU, JSW_F32, n);
  JSW_CHECK(jsw_dropout(JSW_CPU, JSW_F32, bx.get(), n, 0.0f, seed, y.get()));
  expect_close("p = 0 copies", download(y, JSW_F32, n), x, 0, 0);
  JSW_CHECK(jsw_dropout(JSW_CPU, JSW_F32, bx.get(), n, p, seed + 1, y.get()));
  auto other = download(y, JSW_F32, n);
  int64_t differ = 0;
  for (int64_t i = 0; i < n; i++) differ += (other[i] == 0.0f) != (mask[i] == 0.0f);
  JSW_EXPECT(differ > n / 10, "another seed drops other elements (%lld differ)", (long long)differ);

  // Long inputs (threads, 16-element vectors and a tail): the AVX-512 build (where the CPU has it) and the
  // baseline build give the same bits, and drop ~p of the elements.
  int64_t big = 200003;
  auto xb = randn(big, 53);
  Buffer bbig = upload(JSW_CPU, JSW_F32, xb), ybig = poisoned(JSW_CPU, JSW_F32, big);
  JSW_CHECK(jsw_dropout(JSW_CPU, JSW_F32, bbig.get(), big, p, seed, ybig.get()));
  auto fast = download(ybig, JSW_F32, big);
  with_baseline_isa([&] { JSW_CHECK(jsw_dropout(JSW_CPU, JSW_F32, bbig.get(), big, p, seed, ybig.get())); });
  auto base = download(ybig, JSW_F32, big);
  JSW_EXPECT(std::memcmp(fast.data(), base.data(), size_t(big) * 4) == 0, "the two ISA builds' masks differ");
  // Both against the mask's definition (kernels/dropout_hash.h) evaluated here one element at a time, at a step
  // other than 0: the vector builds derive the hash's inputs and its keep test differently (see cpu/dora.cpp).
  JSW_CHECK(jsw_set_dropout_step(JSW_CPU, 12345));
  for (bool baseline : {false, true}) {
    auto call = [&] { JSW_CHECK(jsw_dropout(JSW_CPU, JSW_F32, bbig.get(), big, p, seed, ybig.get())); };
    if (baseline) with_baseline_isa(call); else call();
    auto got = download(ybig, JSW_F32, big);
    const uint64_t key = jsw::dropout_key(seed, 12345);
    const float keep_scale = 1.0f / (1.0f - p);
    int64_t wrong = 0, first = -1;
    for (int64_t i = 0; i < big; i++) {
      const float want = jsw::dropout_keep(key, uint64_t(i), p) ? xb[size_t(i)] * keep_scale : 0.0f;
      if (std::memcmp(&want, &got[size_t(i)], 4) != 0 && wrong++ == 0) first = i;
    }
    JSW_EXPECT(wrong == 0, "%s build: %lld elements differ from the mask's definition, the first at %lld",
               baseline ? "baseline" : "default", (long long)wrong, (long long)first);
  }
  // The keep test at its edge: p = k / 2^24 for the k that element j hashes to keeps element j (u = p), which
  // a comparison off by one would drop.
  {
    const uint64_t key = jsw::dropout_key(seed, 12345);
    const int64_t n64 = 64;
    int64_t j = 0;
    uint32_t k = 0;
    for (; j < n64; j++) {
      k = uint32_t(jsw::mix64(key + uint64_t(j + 1) * 0x9E3779B97F4A7C15ull) >> 40);
      if (k > (1u << 20) && k < (1u << 23)) break;
    }
    JSW_EXPECT(j < n64, "no element with a usable hash");
    const float pe = float(k) / 16777216.0f;
    auto x64 = randn(n64, 54);
    Buffer bx64 = upload(JSW_CPU, JSW_F32, x64), y64 = poisoned(JSW_CPU, JSW_F32, n64);
    for (bool baseline : {false, true}) {
      auto call = [&] { JSW_CHECK(jsw_dropout(JSW_CPU, JSW_F32, bx64.get(), n64, pe, seed, y64.get())); };
      if (baseline) with_baseline_isa(call); else call();
      const float got = download(y64, JSW_F32, n64)[size_t(j)];
      JSW_EXPECT(got == x64[size_t(j)] * (1.0f / (1.0f - pe)), "%s build: element %lld, whose u equals p, dropped",
                 baseline ? "baseline" : "default", (long long)j);
    }
  }
  JSW_CHECK(jsw_set_dropout_step(JSW_CPU, 0));
  int64_t zero = 0;
  for (float v : base) zero += v == 0.0f;
  JSW_EXPECT(std::fabs(double(zero) / double(big) - p) < 0.01, "dropped fraction %g", double(zero) / double(big));
}

JSW_TEST(dora_ops_reject_bad_arguments) {
  std::vector<float> x(12, 1.0f);
  Buffer bx = upload(JSW_CPU, JSW_F32, x), out = zeros(JSW_CPU, JSW_F32, 12);
  float* o = out.as<float>();
  JSW_EXPECT(jsw_row_norm(JSW_CPU, JSW_F32, bx.get(), 3, 4, nullptr, nullptr) == JSW_ERR_INVALID_ARGUMENT,
             "no output");
  JSW_EXPECT(jsw_row_norm(JSW_CPU, JSW_F32, nullptr, 3, 4, o, nullptr) == JSW_ERR_INVALID_ARGUMENT, "null x");
  JSW_EXPECT(jsw_row_norm(JSW_CPU, JSW_F32, bx.get(), 3, 0, o, nullptr) == JSW_ERR_INVALID_ARGUMENT, "cols 0");
  JSW_EXPECT(jsw_row_norm(JSW_CPU, JSW_I32, bx.get(), 3, 4, o, nullptr) == JSW_ERR_INVALID_ARGUMENT, "int dtype");
  JSW_EXPECT(std::string(jsw_last_error()).find("jsw_row_norm") != std::string::npos, "message names the op: %s",
             jsw_last_error());
  JSW_EXPECT(jsw_scale_rows_cols(JSW_CPU, JSW_F32, bx.get(), -1, 4, nullptr, nullptr, o) == JSW_ERR_INVALID_ARGUMENT,
             "negative rows");
  JSW_EXPECT(jsw_scale_rows_cols(JSW_CPU, JSW_F32, bx.get(), 3, 4, nullptr, nullptr, nullptr) ==
                 JSW_ERR_INVALID_ARGUMENT,
             "null y");
  JSW_EXPECT(jsw_sum_rows_mul(JSW_CPU, JSW_F32, bx.get(), nullptr, 3, 4, o) == JSW_ERR_INVALID_ARGUMENT, "null b");
  JSW_EXPECT(jsw_sum_rows_mul(JSW_CPU, JSW_F32, bx.get(), bx.get(), 3, 4, nullptr) == JSW_ERR_INVALID_ARGUMENT,
             "null dv");
  JSW_EXPECT(jsw_sum_rows_mul(JSW_CPU, JSW_F16 + 7, bx.get(), bx.get(), 3, 4, o) == JSW_ERR_INVALID_ARGUMENT,
             "unknown dtype");
  JSW_EXPECT(jsw_dropout(JSW_CPU, JSW_F32, bx.get(), 12, 1.0f, 0, o) == JSW_ERR_INVALID_ARGUMENT, "p = 1");
  JSW_EXPECT(jsw_dropout(JSW_CPU, JSW_F32, bx.get(), 12, -0.1f, 0, o) == JSW_ERR_INVALID_ARGUMENT, "p < 0");
  JSW_EXPECT(jsw_dropout(JSW_CPU, JSW_F32, bx.get(), 12, 0.5f, 0, nullptr) == JSW_ERR_INVALID_ARGUMENT, "null y");
  // rows == 0 is a valid no-op (an empty batch), even with null buffers.
  JSW_CHECK(jsw_sum_rows_mul(JSW_CPU, JSW_F32, nullptr, nullptr, 0, 4, nullptr));
}

JSW_CUDA_TEST(dora_ops_cuda_match_cpu) {
  int dev = cuda_device();
  const Sizes sizes[] = {{1, 1}, {7, 80}, {33, 131}, {5, 4096}, {1000, 333}, {3, 13}};
  for (Sizes s : sizes) {
    int64_t n = s.rows * s.cols;
    for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
      auto x = round_to(randn(n, 41), dtype), b = round_to(randn(n, 42), dtype);
      auto rs = uniform(s.rows, 43, 0.5f, 2.0f), cs = uniform(s.cols, 44, -2.0f, 2.0f);
      Buffer gx = upload(dev, dtype, x), cx = upload(JSW_CPU, dtype, x);
      Buffer gb = upload(dev, dtype, b), cb = upload(JSW_CPU, dtype, b);
      Buffer grs = upload(dev, JSW_F32, rs), crs = upload(JSW_CPU, JSW_F32, rs);
      Buffer gcs = upload(dev, JSW_F32, cs), ccs = upload(JSW_CPU, JSW_F32, cs);

      Buffer gn = poisoned(dev, JSW_F32, s.rows), gi = poisoned(dev, JSW_F32, s.rows);
      Buffer cn = poisoned(JSW_CPU, JSW_F32, s.rows), ci = poisoned(JSW_CPU, JSW_F32, s.rows);
      JSW_CHECK(jsw_row_norm(dev, dtype, gx.get(), s.rows, s.cols, gn.as<float>(), gi.as<float>()));
      JSW_CHECK(jsw_row_norm(JSW_CPU, dtype, cx.get(), s.rows, s.cols, cn.as<float>(), ci.as<float>()));
      JSW_CHECK(jsw_synchronize(dev));
      // Both sum in fp32 in different orders: ~1e-6 relative.
      expect_close("row_norm", download(gn, JSW_F32, s.rows), download(cn, JSW_F32, s.rows), 1e-6f, 1e-5f);
      expect_close("inv_norm", download(gi, JSW_F32, s.rows), download(ci, JSW_F32, s.rows), 1e-6f, 1e-5f);

      for (int mode = 0; mode < 4; mode++) {
        bool use_r = mode & 1, use_c = mode & 2;
        Buffer gy = poisoned(dev, dtype, n), cy = poisoned(JSW_CPU, dtype, n);
        JSW_CHECK(jsw_scale_rows_cols(dev, dtype, gx.get(), s.rows, s.cols, use_r ? grs.as<float>() : nullptr,
                                      use_c ? gcs.as<float>() : nullptr, gy.get()));
        JSW_CHECK(jsw_scale_rows_cols(JSW_CPU, dtype, cx.get(), s.rows, s.cols, use_r ? crs.as<float>() : nullptr,
                                      use_c ? ccs.as<float>() : nullptr, cy.get()));
        JSW_CHECK(jsw_synchronize(dev));
        // The same two fp32 products in the same order and one rounding: bit-identical.
        expect_close("scale mode " + std::to_string(mode), download(gy, dtype, n), download(cy, dtype, n), 0, 0);
      }
      Buffer gxy = upload(dev, dtype, x), cxy = upload(JSW_CPU, dtype, x);
      JSW_CHECK(jsw_scale_rows_cols(dev, dtype, gxy.get(), s.rows, s.cols, grs.as<float>(), gcs.as<float>(),
                                    gxy.get()));
      JSW_CHECK(jsw_scale_rows_cols(JSW_CPU, dtype, cxy.get(), s.rows, s.cols, crs.as<float>(), ccs.as<float>(),
                                    cxy.get()));
      JSW_CHECK(jsw_synchronize(dev));
      expect_close("scale in place", download(gxy, dtype, n), download(cxy, dtype, n), 0, 0);

      auto start = randn(s.cols, 45);
      Buffer gd = upload(dev, JSW_F32, start), cd = upload(JSW_CPU, JSW_F32, start);
      JSW_CHECK(jsw_sum_rows_mul(dev, dtype, gx.get(), gb.get(), s.rows, s.cols, gd.as<float>()));
      JSW_CHECK(jsw_sum_rows_mul(JSW_CPU, dtype, cx.get(), cb.get(), s.rows, s.cols, cd.as<float>()));
      JSW_CHECK(jsw_synchronize(dev));
      // fp32 sums of up to 1000 products (|sum| ~ 30) in different orders (slices of 256 rows + atomics).
      expect_close("sum_rows_mul", download(gd, JSW_F32, s.cols), download(cd, JSW_F32, s.cols), 1e-4f, 1e-5f);
    }
  }
}

JSW_CUDA_TEST(dora_dropout_cuda_matches_cpu) {
  int dev = cuda_device();
  int64_t n = 100003;
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    auto x = round_to(randn(n, 61), dtype);
    Buffer gx = upload(dev, dtype, x), cx = upload(JSW_CPU, dtype, x);
    Buffer gy = poisoned(dev, dtype, n), cy = poisoned(JSW_CPU, dtype, n);
    JSW_CHECK(jsw_dropout(dev, dtype, gx.get(), n, 0.25f, 77, gy.get()));
    JSW_CHECK(jsw_dropout(JSW_CPU, dtype, cx.get(), n, 0.25f, 77, cy.get()));
    JSW_CHECK(jsw_dropout(dev, dtype, gx.get(), n, 0.25f, 78, gx.get()));  // in place, another seed
    JSW_CHECK(jsw_dropout(JSW_CPU, dtype, cx.get(), n, 0.25f, 78, cx.get()));
    JSW_CHECK(jsw_synchronize(dev));
    // One shared hash and one product per element: bit-identical.
    expect_close("dropout", download(gy, dtype, n), download(cy, dtype, n), 0, 0);
    expect_close("dropout in place", download(gx, dtype, n), download(cx, dtype, n), 0, 0);
    // Misaligned by one element (the element-wise kernel), and the vector kernel's tail on its own (n < one
    // vector; n = 2 vectors + 3).
    const int64_t es = dtype == JSW_F32 ? 4 : 2;
    JSW_CHECK(jsw_dropout(dev, dtype, static_cast<char*>(gx.get()) + es, n - 1, 0.4f, 79,
                          static_cast<char*>(gy.get()) + es));
    JSW_CHECK(jsw_dropout(JSW_CPU, dtype, static_cast<char*>(cx.get()) + es, n - 1, 0.4f, 79,
                          static_cast<char*>(cy.get()) + es));
    for (int64_t small : {int64_t(3), 2 * 16 / es + 3}) {
      JSW_CHECK(jsw_dropout(dev, dtype, gx.get(), small, 0.5f, 80, gx.get()));
      JSW_CHECK(jsw_dropout(JSW_CPU, dtype, cx.get(), small, 0.5f, 80, cx.get()));
    }
    JSW_CHECK(jsw_synchronize(dev));
    expect_close("dropout misaligned", download(gy, dtype, n), download(cy, dtype, n), 0, 0);
    expect_close("dropout of a few elements", download(gx, dtype, n), download(cx, dtype, n), 0, 0);
  }
}

JSW_CUDA_TEST(dora_sum_rows_mul_cuda_more_row_slices_than_grid_y_allows) {
  // 2^24 + 5 rows of 2 columns: 256-row slices would need 65537 > 65535 blocks along y, so slices grow.
  int dev = cuda_device();
  int64_t rows = (int64_t(1) << 24) + 5, cols = 2;
  std::vector<float> a(size_t(rows * cols)), b(size_t(rows * cols));
  for (int64_t i = 0; i < rows * cols; i++) {
    a[i] = (i % 2 == 0) ? 1.0f : 0.5f;
    b[i] = (i / 2) % 3 == 0 ? 1.0f : 0.0f;  // every third row counts
  }
  Buffer ga = upload(dev, JSW_F32, a), gb = upload(dev, JSW_F32, b), gd = zeros(dev, JSW_F32, cols);
  JSW_CHECK(jsw_sum_rows_mul(dev, JSW_F32, ga.get(), gb.get(), rows, cols, gd.as<float>()));
  JSW_CHECK(jsw_synchronize(dev));
  auto got = download(gd, JSW_F32, cols);
  // (rows + 2) / 3 rows count. Every partial and total is an integer or half-integer below 2^23: exact in fp32,
  // so any row left out or counted twice shows.
  double counted = double((rows + 2) / 3);
  expect_close("every row reached", got, {float(counted), float(counted * 0.5)}, 0, 0);
}

// NEFTune's noise: x + magnitude (2u - 1) with u from the dropout hash, evaluated here one element at a time; in
// range, centred, new at another dropout step, and bad arguments refused.
JSW_TEST(uniform_noise_cpu_adds_the_hashed_noise) {
  const int64_t n = 50001;
  const float magnitude = 0.25f;
  const uint64_t seed = 91;
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    auto x = round_to(randn(n, 62), dtype);
    Buffer bx = upload(JSW_CPU, dtype, x);
    JSW_CHECK(jsw_set_dropout_step(JSW_CPU, 7));
    JSW_CHECK(jsw_add_uniform_noise(JSW_CPU, dtype, bx.get(), n, magnitude, seed));
    const uint64_t key = jsw::dropout_key(seed, 7);
    std::vector<float> want(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; i++) want[size_t(i)] = x[size_t(i)] + jsw::uniform_noise(key, uint64_t(i), magnitude);
    expect_close("noise dtype " + std::to_string(dtype), download(bx, dtype, n), round_to(want, dtype), 0, 0);
  }
  std::vector<float> zero(size_t(n), 0.0f);
  Buffer a = upload(JSW_CPU, JSW_F32, zero), b = upload(JSW_CPU, JSW_F32, zero);
  JSW_CHECK(jsw_add_uniform_noise(JSW_CPU, JSW_F32, a.get(), n, magnitude, seed));
  JSW_CHECK(jsw_set_dropout_step(JSW_CPU, 8));
  JSW_CHECK(jsw_add_uniform_noise(JSW_CPU, JSW_F32, b.get(), n, magnitude, seed));
  JSW_CHECK(jsw_set_dropout_step(JSW_CPU, 0));
  auto va = download(a, JSW_F32, n), vb = download(b, JSW_F32, n);
  double sum = 0, sq = 0;
  int same = 0;
  for (int64_t i = 0; i < n; i++) {
    float v = va[size_t(i)];
    JSW_EXPECT(v >= -magnitude && v < magnitude, "noise %g outside [-%g, %g)", double(v), double(magnitude),
               double(magnitude));
    sum += v;
    sq += double(v) * v;
    if (v == vb[size_t(i)]) same++;
  }
  // Uniform on [-m, m): mean 0 (sd of the mean m / sqrt(3 n) ~ 6e-4), variance m^2 / 3.
  JSW_EXPECT(std::fabs(sum / n) < 4e-3, "mean %g", sum / n);
  JSW_EXPECT(std::fabs(sq / n - magnitude * magnitude / 3) < 2e-3, "variance %g", sq / n);
  JSW_EXPECT(same < 10, "another dropout step draws other noise (%d equal)", same);
  Buffer bad = upload(JSW_CPU, JSW_F32, zero);
  JSW_EXPECT(jsw_add_uniform_noise(JSW_CPU, JSW_F32, bad.get(), n, -1.0f, seed) == JSW_ERR_INVALID_ARGUMENT,
             "negative magnitude");
  JSW_EXPECT(jsw_add_uniform_noise(JSW_CPU, JSW_F32, nullptr, n, 1.0f, seed) == JSW_ERR_INVALID_ARGUMENT, "null x");
  JSW_EXPECT(jsw_add_uniform_noise(JSW_CPU, JSW_I32, bad.get(), n, 1.0f, seed) == JSW_ERR_INVALID_ARGUMENT,
             "int dtype");
}

JSW_CUDA_TEST(uniform_noise_cuda_matches_cpu) {
  int dev = cuda_device();
  const int64_t n = 100003;
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    auto x = round_to(randn(n, 63), dtype);
    Buffer gx = upload(dev, dtype, x), cx = upload(JSW_CPU, dtype, x);
    JSW_CHECK(jsw_set_dropout_step(dev, 3));
    JSW_CHECK(jsw_set_dropout_step(JSW_CPU, 3));
    JSW_CHECK(jsw_add_uniform_noise(dev, dtype, gx.get(), n, 0.5f, 5));
    JSW_CHECK(jsw_add_uniform_noise(JSW_CPU, dtype, cx.get(), n, 0.5f, 5));
    JSW_CHECK(jsw_set_dropout_step(dev, 0));
    JSW_CHECK(jsw_set_dropout_step(JSW_CPU, 0));
    JSW_CHECK(jsw_synchronize(dev));
    // One shared hash and one fp32 sum per element: bit-identical.
    expect_close("uniform noise", download(gx, dtype, n), download(cx, dtype, n), 0, 0);
  }
}
