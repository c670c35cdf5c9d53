// GEMM: CPU against a double loop for all transpose combinations and batching; CUDA (cuBLAS) against CPU.
#include <cmath>
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
