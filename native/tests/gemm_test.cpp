// GEMM: CPU against a double loop for all transpose combinations and batching; CUDA (cuBLAS) against CPU.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "test.h"

using namespace jsw_test;

namespace {

std::vector<float> ref_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                            const std::vector<float>& a, int64_t lda, const std::vector<float>& b, int64_t ldb,
                            float beta, const std::vector<float>& c0, int64_t ldc) {
  std::vector<float> c = c0;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t p = 0; p < k; p++) s += double(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * ldc + j] = float(alpha * s + beta * c0[i * ldc + j]);
    }
  return c;
}

void run_case(int device, int dtype, int c_dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float tol) {
  int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
  int64_t a_rows = ta ? k : m, b_rows = tb ? n : k;
  auto a = round_to(randn(a_rows * lda, 21), dtype), b = round_to(randn(b_rows * ldb, 22), dtype);
  auto c0 = round_to(randn(m * ldc, 23), c_dtype);
  auto want = ref_gemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 2.0f, c0, ldc);
  Buffer ba = upload(device, dtype, a), bb = upload(device, dtype, b), bc = upload(device, c_dtype, c0);
  JSW_CHECK(jsw_gemm(device, dtype, c_dtype, ta, tb, m, n, k, 0.5f, ba.get(), lda, bb.get(), ldb, 2.0f, bc.get(), ldc,
                     1, 0, 0, 0));
  JSW_CHECK(jsw_synchronize(device));
  auto got = download(bc, c_dtype, m * ldc);
  expect_rel_norm("gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " dtype=" + std::to_string(dtype),
                  got, want, tol);
}

}  // namespace

JSW_TEST(gemm_cpu_all_transposes) {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      run_case(JSW_CPU, JSW_F32, JSW_F32, ta, tb, 17, 33, 29, 1e-6);
      run_case(JSW_CPU, JSW_F32, JSW_F32, ta, tb, 1, 33, 29, 1e-6);   // one row: the GEMV path (strided x when ta)
      run_case(JSW_CPU, JSW_BF16, JSW_BF16, ta, tb, 1, 40, 70, 8e-3);
      run_case(JSW_CPU, JSW_BF16, JSW_F32, ta, tb, 8, 5, 70, 1e-6);
      run_case(JSW_CPU, JSW_BF16, JSW_BF16, ta, tb, 8, 5, 70, 8e-3);
      // large enough to split over the threads: by rows, by columns, a GEMV by columns
      run_case(JSW_CPU, JSW_F32, JSW_F32, ta, tb, 97, 33, 41, 1e-6);
      run_case(JSW_CPU, JSW_F32, JSW_F32, ta, tb, 13, 150, 40, 1e-6);
      run_case(JSW_CPU, JSW_F32, JSW_F32, ta, tb, 1, 5001, 64, 1e-6);
    }
}

// A GEMM split over the OpenMP threads (one OpenBLAS call per slice) gives what one thread gives, up to the order
// of its sums: OpenBLAS's kernels for some cores (Zen) run a slice's edge tiles through micro-kernels that add the
// k products in another order than the whole GEMM's, so the last bits may differ (on SkylakeX they are equal).
// The bound is that of two fp32 dot products of the same terms in different orders; a slice at the wrong offset,
// with the wrong leading dimension or a lost beta is off by the size of the terms themselves.
JSW_TEST(gemm_cpu_split_over_threads_equals_one_thread) {
  const int threads = jsw_cpu_threads();
  if (threads < 2) throw Skip("one OpenMP thread: nothing is split");
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{301, 37, 45}, {7, 401, 33}, {1, 3001, 50}}) {
        const int64_t lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;
        auto a = randn((ta ? k : m) * lda, 41), b = randn((tb ? n : k) * ldb, 42), c0 = randn(m * ldc, 43);
        const float alpha = 0.75f, beta = 0.5f;
        std::vector<float> out[2];
        for (int t : {1, threads}) {
          JSW_CHECK(jsw_set_cpu_threads(t));
          Buffer ba = upload(JSW_CPU, JSW_F32, a), bb = upload(JSW_CPU, JSW_F32, b), bc = upload(JSW_CPU, JSW_F32, c0);
          JSW_CHECK(jsw_gemm(JSW_CPU, JSW_F32, JSW_F32, ta, tb, m, n, k, alpha, ba.get(), lda, bb.get(), ldb, beta,
                             bc.get(), ldc, 1, 0, 0, 0));
          out[t == 1 ? 0 : 1] = download(bc, JSW_F32, m * ldc);
        }
        JSW_CHECK(jsw_set_cpu_threads(threads));
        const std::string what = "split " + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) +
                                 " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb);
        const double eps = std::ldexp(1.0, -24);
        for (int64_t i = 0; i < m; i++)
          for (int64_t j = 0; j < ldc; j++) {
            const size_t e = size_t(i * ldc + j);
            double bound = 0;  // past the n columns (the ldc padding) nothing may change at all
            if (j < n) {
              double terms = std::fabs(beta * c0[e]);
              for (int64_t p = 0; p < k; p++)
                terms += std::fabs(alpha * double(ta ? a[p * lda + i] : a[i * lda + p]) *
                                   (tb ? b[j * ldb + p] : b[p * ldb + j]));
              bound = 2.0 * double(k + 2) * eps * terms;
            }
            JSW_EXPECT(std::fabs(double(out[1][e]) - out[0][e]) <= bound,
                       "%s: element (%lld, %lld) got %.9g with %d threads, %.9g with one (allowed %.3g)", what.c_str(),
                       (long long)i, (long long)j, out[1][e], threads, out[0][e], bound);
          }
      }
}

// 1-8 rows against a weight stored [n, k] (a decode step) take gemv_rows: each row's outputs are the bits one row
// alone gets (so a sequence decoded in a batch gets its own logits), within an fp32 dot product's rounding of a
// double reference, and c is not read when beta == 0 (NaN there must not leak). k covers the 8-wide body with and
// without a tail, n the J-output blocks with a remainder and the split over threads.
JSW_TEST(gemm_cpu_few_rows_equal_one_row_bit_for_bit) {
  const double eps = std::ldexp(1.0, -24);
  for (auto [n, k] : {std::tuple<int64_t, int64_t>{37, 45}, {5001, 64}, {131, 901}, {6, 3}})
    for (float beta : {0.0f, 0.5f}) {
      const int64_t lda = k + 3, ldb = k + 1, ldc = n + 2;
      auto a = randn(8 * lda, 51), b = randn(n * ldb, 52), c0 = randn(8 * ldc, 53);
      if (beta == 0.0f) std::fill(c0.begin(), c0.end(), std::nanf(""));
      const float alpha = 0.75f;
      Buffer bb = upload(JSW_CPU, JSW_F32, b);
      std::vector<float> alone(8 * ldc);
      for (int64_t r = 0; r < 8; r++) {  // each row by itself
        std::vector<float> row(a.begin() + r * lda, a.begin() + (r + 1) * lda), c(c0.begin() + r * ldc, c0.begin() + (r + 1) * ldc);
        Buffer ba = upload(JSW_CPU, JSW_F32, row), bc = upload(JSW_CPU, JSW_F32, c);
        JSW_CHECK(jsw_gemm(JSW_CPU, JSW_F32, JSW_F32, 0, 1, 1, n, k, alpha, ba.get(), lda, bb.get(), ldb, beta, bc.get(),
                           ldc, 1, 0, 0, 0));
        auto got = download(bc, JSW_F32, ldc);
        std::copy(got.begin(), got.end(), alone.begin() + r * ldc);
      }
      for (int64_t m = 1; m <= 8; m++) {
        Buffer ba = upload(JSW_CPU, JSW_F32, a), bc = upload(JSW_CPU, JSW_F32, c0);
        JSW_CHECK(jsw_gemm(JSW_CPU, JSW_F32, JSW_F32, 0, 1, m, n, k, alpha, ba.get(), lda, bb.get(), ldb, beta, bc.get(),
                           ldc, 1, 0, 0, 0));
        auto got = download(bc, JSW_F32, m * ldc);
        for (int64_t r = 0; r < m; r++)
          for (int64_t j = 0; j < n; j++) {
            const size_t e = size_t(r * ldc + j);
            JSW_EXPECT(std::memcmp(&got[e], &alone[e], 4) == 0, "n=%lld k=%lld m=%lld beta=%g: (%lld, %lld) is %.9g in the "
                       "batch, %.9g alone", (long long)n, (long long)k, (long long)m, beta, (long long)r, (long long)j,
                       got[e], alone[e]);
            double s = 0, terms = 0;
            for (int64_t p = 0; p < k; p++) {
              s += double(a[r * lda + p]) * b[j * ldb + p];
              terms += std::fabs(double(a[r * lda + p]) * b[j * ldb + p]);
            }
            const double want = alpha * s + (beta == 0.0f ? 0.0 : beta * double(c0[e]));
            const double bound = 2.0 * double(k + 2) * eps * (std::fabs(alpha) * terms + (beta == 0.0f ? 0.0 : std::fabs(beta * double(c0[e]))));
            JSW_EXPECT(std::fabs(got[e] - want) <= bound + 1e-30, "n=%lld k=%lld m=%lld: (%lld, %lld) is %.9g, want %.9g",
                       (long long)n, (long long)k, (long long)m, (long long)r, (long long)j, got[e], want);
          }
      }
    }
}

JSW_TEST(gemm_cpu_batched) {
  int64_t batch = 3, m = 4, n = 6, k = 5;
  auto a = randn(batch * m * k, 31), b = randn(batch * k * n, 32);
  std::vector<float> c0(size_t(batch * m * n), 0.0f);
  Buffer ba = upload(JSW_CPU, JSW_F32, a), bb = upload(JSW_CPU, JSW_F32, b), bc = upload(JSW_CPU, JSW_F32, c0);
  JSW_CHECK(jsw_gemm(JSW_CPU, JSW_F32, JSW_F32, 0, 0, m, n, k, 1.0f, ba.get(), k, bb.get(), n, 0.0f, bc.get(), n, batch,
                     m * k, k * n, m * n));
  auto got = download(bc, JSW_F32, batch * m * n);
  for (int64_t i = 0; i < batch; i++) {
    std::vector<float> ai(a.begin() + i * m * k, a.begin() + (i + 1) * m * k);
    std::vector<float> bi(b.begin() + i * k * n, b.begin() + (i + 1) * k * n);
    std::vector<float> ci(size_t(m * n), 0.0f);
    auto want = ref_gemm(false, false, m, n, k, 1.0f, ai, k, bi, n, 0.0f, ci, n);
    std::vector<float> gi(got.begin() + i * m * n, got.begin() + (i + 1) * m * n);
    expect_close("batch " + std::to_string(i), gi, want, 1e-5f, 1e-5f);
  }
}

JSW_TEST(gemm_rejects_bad_leading_dimension) {
  Buffer a(JSW_CPU, 256), b(JSW_CPU, 256), c(JSW_CPU, 256);
  int st = jsw_gemm(JSW_CPU, JSW_F32, JSW_F32, 0, 0, 4, 4, 4, 1.0f, a.get(), 3, b.get(), 4, 0.0f, c.get(), 4, 1, 0, 0, 0);
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "lda < k must be refused, got %d", st);
  JSW_EXPECT(std::string(jsw_last_error()).find("lda") != std::string::npos, "message names lda: %s", jsw_last_error());
}

JSW_CUDA_TEST(gemm_cuda_matches_cpu) {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      run_case(cuda_device(), JSW_F32, JSW_F32, ta, tb, 67, 129, 45, 1e-6);
      run_case(cuda_device(), JSW_BF16, JSW_F32, ta, tb, 64, 96, 200, 1e-5);  // bf16 products are exact in fp32
      run_case(cuda_device(), JSW_BF16, JSW_BF16, ta, tb, 64, 96, 200, 8e-3);
      run_case(cuda_device(), JSW_F16, JSW_F16, ta, tb, 33, 40, 31, 2e-3);
    }
}
