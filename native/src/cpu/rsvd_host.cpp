// The k x k host steps of the randomized SVD (kernels/rsvd.h), in double precision: the Cholesky transform of
// one CholeskyQR step and the one-sided Jacobi SVD of the final core. k is the sketch width (~100), so these
// are O(k^3) flops on data the GEMMs have already shrunk; doubles make them exact to well below fp32 rounding.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/rsvd.h"

namespace jsw {
namespace rsvd {

int orth_transform(const float* g, int64_t k, float* t, std::vector<char>& bad, const char* op) {
  // A pivot below kDependent x the row's squared norm means the row is, to fp32 accuracy (the Gram matrix
  // itself carries ~sqrt(len) * 2^-24 relative error), a combination of the rows before it.
  constexpr double kDependent = 1e-6;
  size_t kk = static_cast<size_t>(k);
  std::vector<double> l(kk * kk, 0.0), inv(kk * kk, 0.0);
  bad.assign(kk, 0);
  double max_diag = 0;
  for (size_t i = 0; i < kk; i++) {
    double d = g[i * kk + i];
    if (!std::isfinite(d))
      fail(JSW_ERR_INVALID_ARGUMENT, format("%s: the matrix holds a NaN or an infinity (its sketch is not finite)",
                                            op));
    max_diag = std::max(max_diag, d);
  }
  int replaced = 0;
  for (size_t i = 0; i < kk; i++) {
    for (size_t j = 0; j < i; j++) {
      if (bad[j]) continue;  // a dropped row takes no part: l[i][j] stays 0
      double acc = g[i * kk + j];
      for (size_t p = 0; p < j; p++) acc -= l[i * kk + p] * l[j * kk + p];
      l[i * kk + j] = acc / l[j * kk + j];
    }
    double wii = g[i * kk + i], d = wii;
    for (size_t p = 0; p < i; p++) d -= l[i * kk + p] * l[i * kk + p];
    if (!(d > kDependent * wii) || wii <= 1e-30 * max_diag || wii <= 0) {
      bad[i] = 1;
      replaced++;
      std::fill(l.begin() + i * kk, l.begin() + (i + 1) * kk, 0.0);
      l[i * kk + i] = 1.0;  // keeps the substitution below well defined; its row of t is zeroed
    } else {
      l[i * kk + i] = std::sqrt(d);
    }
  }
  // t = l^-1 by forward substitution, restricted to the kept rows (a dropped row's column of l is zero, so the
  // kept rows never mix it in).
  for (size_t j = 0; j < kk; j++) {
    if (bad[j]) continue;
    inv[j * kk + j] = 1.0 / l[j * kk + j];
    for (size_t i = j + 1; i < kk; i++) {
      if (bad[i]) continue;
      double acc = 0;
      for (size_t p = j; p < i; p++) acc += l[i * kk + p] * inv[p * kk + j];
      inv[i * kk + j] = -acc / l[i * kk + i];
    }
  }
  for (size_t i = 0; i < kk * kk; i++) t[i] = float(inv[i]);
  return replaced;
}

void small_svd(const float* lf, int64_t k, float* ul, float* s, float* vl) {
  size_t kk = static_cast<size_t>(k);
  // One-sided (Hestenes) Jacobi: rotate column pairs of A = l until all columns are orthogonal; then A = U S and
  // the accumulated rotations are V. Columns are stored contiguously (a[c * k + r] = A[r][c]) so each rotation
  // streams two vectors.
  std::vector<double> a(kk * kk), v(kk * kk, 0.0);
  for (size_t r = 0; r < kk; r++)
    for (size_t c = 0; c < kk; c++) a[c * kk + r] = lf[r * kk + c];
  for (size_t c = 0; c < kk; c++) v[c * kk + c] = 1.0;
  constexpr double kTol = 1e-15;  // off-diagonal cosine below which a pair counts as orthogonal
  for (int sweep = 0; sweep < 60; sweep++) {
    bool rotated = false;
    for (size_t p = 0; p + 1 < kk; p++) {
      double* ap = &a[p * kk];
      double* vp = &v[p * kk];
      for (size_t q = p + 1; q < kk; q++) {
        double* aq = &a[q * kk];
        double* vq = &v[q * kk];
        double alpha = 0, beta = 0, gamma = 0;
        for (size_t r = 0; r < kk; r++) {
          alpha += ap[r] * ap[r];
          beta += aq[r] * aq[r];
          gamma += ap[r] * aq[r];
        }
        if (alpha == 0 || beta == 0 || std::abs(gamma) <= kTol * std::sqrt(alpha * beta)) continue;
        rotated = true;
        double zeta = (beta - alpha) / (2 * gamma);
        double tn = (zeta >= 0 ? 1.0 : -1.0) / (std::abs(zeta) + std::sqrt(1 + zeta * zeta));
        double cs = 1 / std::sqrt(1 + tn * tn), sn = cs * tn;
        for (size_t r = 0; r < kk; r++) {
          double x = ap[r], y = aq[r];
          ap[r] = cs * x - sn * y;
          aq[r] = sn * x + cs * y;
          x = vp[r];
          y = vq[r];
          vp[r] = cs * x - sn * y;
          vq[r] = sn * x + cs * y;
        }
      }
    }
    if (!rotated) break;
  }
  std::vector<double> norm(kk);
  for (size_t c = 0; c < kk; c++) {
    double acc = 0;
    for (size_t r = 0; r < kk; r++) acc += a[c * kk + r] * a[c * kk + r];
    norm[c] = std::sqrt(acc);
  }
  std::vector<size_t> order(kk);
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return norm[x] > norm[y]; });
  double smax = kk > 0 ? norm[order[0]] : 0;
  std::vector<double> ucols(kk * kk, 0.0);  // U's columns, contiguous
  for (size_t j = 0; j < kk; j++) {
    size_t c = order[j];
    double* uj = &ucols[j * kk];
    s[j] = float(norm[c]);
    if (norm[c] > 1e-13 * smax && norm[c] > 0) {
      for (size_t r = 0; r < kk; r++) uj[r] = a[c * kk + r] / norm[c];
    } else {
      // A (numerically) zero singular value: its left vector is any unit vector orthogonal to the others. Take
      // the unit vector e_t farthest from their span (residual 1 - sum_i u_i[t]^2 >= (k - j) / k > 0) and
      // Gram-Schmidt it against them, twice.
      size_t best = 0;
      double best_res = -1;
      for (size_t t = 0; t < kk; t++) {
        double res = 1;
        for (size_t i = 0; i < j; i++) res -= ucols[i * kk + t] * ucols[i * kk + t];
        if (res > best_res) best_res = res, best = t;
      }
      uj[best] = 1.0;
      for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < j; i++) {
          double dot = 0;
          for (size_t r = 0; r < kk; r++) dot += ucols[i * kk + r] * uj[r];
          for (size_t r = 0; r < kk; r++) uj[r] -= dot * ucols[i * kk + r];
        }
      double nn = 0;
      for (size_t r = 0; r < kk; r++) nn += uj[r] * uj[r];
      for (size_t r = 0; r < kk; r++) uj[r] /= std::sqrt(nn);
    }
    for (size_t r = 0; r < kk; r++) {
      ul[r * kk + j] = float(uj[r]);
      vl[r * kk + j] = float(v[c * kk + r]);
    }
  }
}

}  // namespace rsvd
}  // namespace jsw
