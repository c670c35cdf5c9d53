// GPTQ's inverse Hessian factor: Cholesky of H, inverse from that factor, Cholesky of the inverse (torch's
// cholesky -> cholesky_inverse -> cholesky(upper=True) in the reference). With OpenBLAS this is LAPACK's
// spotrf / spotri / spotrf in fp32, as the reference runs; the builtin fallback (a build without OpenBLAS) does
// the same three steps in fp64.
#include <cmath>
#include <vector>

#include "kernels/gptq.h"

#ifdef JSWIFT_WITH_OPENBLAS
#include <lapacke.h>
#endif

namespace jsw {
namespace cpu {

namespace {

#ifndef JSWIFT_WITH_OPENBLAS
// Lower Cholesky factor of the symmetric row-major a (n x n), in place in the lower triangle.
bool cholesky_lower(std::vector<double>& a, int64_t n) {
  for (int64_t j = 0; j < n; j++) {
    double d = a[size_t(j * n + j)];
    for (int64_t k = 0; k < j; k++) d -= a[size_t(j * n + k)] * a[size_t(j * n + k)];
    if (!(d > 0.0)) return false;
    d = std::sqrt(d);
    a[size_t(j * n + j)] = d;
    for (int64_t i = j + 1; i < n; i++) {
      double s = a[size_t(i * n + j)];
      for (int64_t k = 0; k < j; k++) s -= a[size_t(i * n + k)] * a[size_t(j * n + k)];
      a[size_t(i * n + j)] = s / d;
    }
  }
  return true;
}
#endif

}  // namespace

bool inverse_cholesky_upper(float* a, int64_t n) {
#ifdef JSWIFT_WITH_OPENBLAS
  // The row-major matrix read column-major is its transpose, the same symmetric matrix: factor its 'L' triangle,
  // invert, factor again. The column-major lower factor L of a^-1 is, read row-major, U = L^T in the upper
  // triangle, with a^-1 = L L^T = U^T U.
  lapack_int m = lapack_int(n);
  if (LAPACKE_spotrf(LAPACK_COL_MAJOR, 'L', m, a, m) != 0) return false;
  if (LAPACKE_spotri(LAPACK_COL_MAJOR, 'L', m, a, m) != 0) return false;
  if (LAPACKE_spotrf(LAPACK_COL_MAJOR, 'L', m, a, m) != 0) return false;
#else
  std::vector<double> l(size_t(n * n));
  for (int64_t i = 0; i < n * n; i++) l[size_t(i)] = a[i];
  if (!cholesky_lower(l, n)) return false;
  // inv(L) by forward substitution, then a^-1 = inv(L)^T inv(L) (lower triangle is enough: it is symmetric).
  std::vector<double> li(size_t(n * n), 0.0);
  for (int64_t j = 0; j < n; j++) {
    li[size_t(j * n + j)] = 1.0 / l[size_t(j * n + j)];
    for (int64_t i = j + 1; i < n; i++) {
      double s = 0.0;
      for (int64_t k = j; k < i; k++) s += l[size_t(i * n + k)] * li[size_t(k * n + j)];
      li[size_t(i * n + j)] = -s / l[size_t(i * n + i)];
    }
  }
  std::vector<double> inv(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j <= i; j++) {
      double s = 0.0;
      for (int64_t k = i; k < n; k++) s += li[size_t(k * n + i)] * li[size_t(k * n + j)];
      inv[size_t(i * n + j)] = s;
      inv[size_t(j * n + i)] = s;
    }
  if (!cholesky_lower(inv, n)) return false;
  // Row-major upper factor U = L^T.
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) a[i * n + j] = j >= i ? float(inv[size_t(j * n + i)]) : 0.0f;
#endif
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < i; j++) a[i * n + j] = 0.0f;
  return true;
}

}  // namespace cpu
}  // namespace jsw
