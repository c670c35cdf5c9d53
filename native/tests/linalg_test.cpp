// SVD / QR: the factors reconstruct the input, have orthonormal columns / rows, sorted singular values and a
// triangular R, checked in double precision; libtorch's values are checked from Java (LinalgTest).
#include <algorithm>
#include <cstring>

#include "test.h"

using namespace jsw_test;

namespace {

struct Shape {
  int64_t m, n;
};
const Shape kShapes[] = {{1, 1}, {5, 3}, {3, 5}, {64, 64}, {96, 40}, {17, 130}};

// max |(x^T x) - I| over the k columns of a row-major [rows, k] x.
double orthonormality_error(const std::vector<float>& x, int64_t rows, int64_t k) {
  double worst = 0;
  for (int64_t i = 0; i < k; i++)
    for (int64_t j = 0; j < k; j++) {
      double d = 0;
      for (int64_t r = 0; r < rows; r++) d += double(x[r * k + i]) * x[r * k + j];
      worst = std::max(worst, std::abs(d - (i == j ? 1.0 : 0.0)));
    }
  return worst;
}

std::vector<float> transpose(const std::vector<float>& x, int64_t rows, int64_t cols) {
  std::vector<float> t(x.size());
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) t[c * rows + r] = x[r * cols + c];
  return t;
}

// LAPACK comes with OpenBLAS; a build without it (the GPU script's, where the CPU twins only need the builtin
// GEMM) refuses SVD / QR with a clear error, which the last test below still checks.
void skip_without_lapack() {
  if (std::strstr(jsw_build_info(), "BLAS: OpenBLAS") == nullptr) throw Skip("built without OpenBLAS, so no LAPACK");
}

}  // namespace

JSW_TEST(linalg_svd_reconstructs_with_orthonormal_factors) {
  skip_without_lapack();
  for (Shape sh : kShapes) {
    int64_t m = sh.m, n = sh.n, k = std::min(m, n);
    auto a = randn(m * n, 101 + m);
    Buffer ba = upload(JSW_CPU, JSW_F32, a), u = poisoned(JSW_CPU, JSW_F32, m * k), s = poisoned(JSW_CPU, JSW_F32, k),
           vt = poisoned(JSW_CPU, JSW_F32, k * n);
    JSW_CHECK(jsw_linalg_svd_f32(JSW_CPU, ba.as<float>(), m, n, u.as<float>(), s.as<float>(), vt.as<float>()));
    auto hu = download(u, JSW_F32, m * k), hs = download(s, JSW_F32, k), hv = download(vt, JSW_F32, k * n);
    std::vector<float> rebuilt(static_cast<size_t>(m * n));
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double acc = 0;
        for (int64_t p = 0; p < k; p++) acc += double(hu[i * k + p]) * hs[p] * hv[p * n + j];
        rebuilt[i * n + j] = float(acc);
      }
    // fp32 LAPACK on N(0,1) matrices up to 130 wide: residuals ~1e-6 relative.
    expect_rel_norm("U S Vt", rebuilt, a, 1e-5);
    JSW_EXPECT(orthonormality_error(hu, m, k) < 1e-5, "U columns not orthonormal (%lldx%lld)", (long long)m,
               (long long)n);
    JSW_EXPECT(orthonormality_error(transpose(hv, k, n), n, k) < 1e-5, "Vt rows not orthonormal (%lldx%lld)",
               (long long)m, (long long)n);
    for (int64_t p = 0; p < k; p++) {
      JSW_EXPECT(hs[p] >= 0, "negative singular value %g", double(hs[p]));
      if (p > 0) JSW_EXPECT(hs[p] <= hs[p - 1], "singular values not descending at %lld", (long long)p);
    }
  }
}

JSW_TEST(linalg_qr_reconstructs_with_orthonormal_q_and_triangular_r) {
  skip_without_lapack();
  for (Shape sh : kShapes) {
    int64_t m = sh.m, n = sh.n, k = std::min(m, n);
    auto a = randn(m * n, 201 + n);
    Buffer ba = upload(JSW_CPU, JSW_F32, a), q = poisoned(JSW_CPU, JSW_F32, m * k), r = poisoned(JSW_CPU, JSW_F32, k * n);
    JSW_CHECK(jsw_linalg_qr_f32(JSW_CPU, ba.as<float>(), m, n, q.as<float>(), r.as<float>()));
    auto hq = download(q, JSW_F32, m * k), hr = download(r, JSW_F32, k * n);
    std::vector<float> rebuilt(static_cast<size_t>(m * n));
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double acc = 0;
        for (int64_t p = 0; p < k; p++) acc += double(hq[i * k + p]) * hr[p * n + j];
        rebuilt[i * n + j] = float(acc);
      }
    expect_rel_norm("Q R", rebuilt, a, 1e-5);
    JSW_EXPECT(orthonormality_error(hq, m, k) < 1e-5, "Q columns not orthonormal (%lldx%lld)", (long long)m,
               (long long)n);
    for (int64_t i = 0; i < k; i++)
      for (int64_t j = 0; j < i; j++) JSW_EXPECT(hr[i * n + j] == 0.0f, "R[%lld, %lld] below the diagonal is not 0",
                                                 (long long)i, (long long)j);
  }
}

JSW_TEST(linalg_refuses_non_cpu_devices_and_bad_sizes) {
  float a[4] = {1, 2, 3, 4}, u[4], s[2], vt[4];
  JSW_EXPECT(jsw_linalg_svd_f32(0, a, 2, 2, u, s, vt) != JSW_OK, "a CUDA device was accepted");
  JSW_EXPECT(jsw_linalg_svd_f32(JSW_CPU, a, 0, 2, u, s, vt) == JSW_ERR_INVALID_ARGUMENT, "m = 0 was accepted");
  JSW_EXPECT(jsw_linalg_qr_f32(JSW_CPU, a, 2, 2, nullptr, s) == JSW_ERR_INVALID_ARGUMENT, "a null q was accepted");
  float nan_a[4] = {NAN, 0, 0, 1};
  JSW_EXPECT(jsw_linalg_svd_f32(JSW_CPU, nan_a, 2, 2, u, s, vt) != JSW_OK || std::isnan(s[0]),
             "a NaN input gave finite singular values");
}
