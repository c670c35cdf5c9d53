// Randomized SVD: against matrices built with a known spectrum (a = U0 diag(sigma) V0^T from random orthonormal
// U0, V0), so the exact top-r subspace is known without a reference SVD. Checked in double precision: the
// singular values, orthonormality of u and vt, and the distance of span(u) / span(vt^T) from span(U0[:, :r]) /
// span(V0[:, :r]) as ||sin Theta||_F = sqrt(r - ||U0r^T u||_F^2) over the principal angles Theta.
// CUDA: the twin against the CPU twin on the same inputs (same seed, hence the same sketch).
#include <algorithm>
#include <cmath>

#include "test.h"

using namespace jsw_test;

namespace {

// Random [rows, cols] matrix with orthonormal columns (modified Gram-Schmidt twice, double), row-major.
std::vector<double> random_orthonormal(int64_t rows, int64_t cols, uint64_t seed) {
  auto g = randn(rows * cols, seed);
  std::vector<double> q(g.begin(), g.end());
  for (int pass = 0; pass < 2; pass++)
    for (int64_t j = 0; j < cols; j++) {
      for (int64_t i = 0; i < j; i++) {
        double dot = 0;
        for (int64_t r = 0; r < rows; r++) dot += q[r * cols + i] * q[r * cols + j];
        for (int64_t r = 0; r < rows; r++) q[r * cols + j] -= dot * q[r * cols + i];
      }
      double nn = 0;
      for (int64_t r = 0; r < rows; r++) nn += q[r * cols + j] * q[r * cols + j];
      for (int64_t r = 0; r < rows; r++) q[r * cols + j] /= std::sqrt(nn);
    }
  return q;
}

struct Known {
  int64_t m, n, k;                // k = min(m, n)
  std::vector<double> u0, v0;     // [m, k], [n, k]
  std::vector<double> sigma;      // [k]
  std::vector<float> a;           // [m, n]
};

Known build(int64_t m, int64_t n, const std::vector<double>& sigma, uint64_t seed) {
  Known kn{m, n, std::min(m, n), random_orthonormal(m, std::min(m, n), seed),
           random_orthonormal(n, std::min(m, n), seed + 1), sigma, {}};
  kn.a.resize(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double acc = 0;
      for (int64_t p = 0; p < kn.k; p++) acc += kn.u0[i * kn.k + p] * sigma[p] * kn.v0[j * kn.k + p];
      kn.a[i * n + j] = float(acc);
    }
  return kn;
}

// sigma_i falls from 1 to ~0.5 over the top r, then a 10x gap and a geometric tail: the top-r subspace is well
// separated (sigma_{r+1} / sigma_r = 0.1), as a test of the subspace needs.
std::vector<double> gapped_spectrum(int64_t k, int64_t r) {
  std::vector<double> s(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; i++) s[i] = i < r ? 1.0 - 0.5 * double(i) / double(r) : 0.05 * std::pow(0.97, double(i - r));
  return s;
}

struct Rsvd {
  std::vector<float> u, s, vt;
};

Rsvd run(int device, const std::vector<float>& a, int64_t m, int64_t n, int64_t r, int64_t p, int64_t q,
         uint64_t seed) {
  Buffer ba = upload(device, JSW_F32, a), u = poisoned(device, JSW_F32, m * r), s = poisoned(device, JSW_F32, r),
         vt = poisoned(device, JSW_F32, r * n);
  JSW_CHECK(jsw_linalg_rsvd_f32(device, ba.as<float>(), m, n, r, p, q, seed, u.as<float>(), s.as<float>(),
                                vt.as<float>()));
  return {download(u, JSW_F32, m * r), download(s, JSW_F32, r), download(vt, JSW_F32, r * n)};
}

// max |x^T x - I| over the `cols` columns of x; `col_major` reads x as [cols, rows] (vt's rows).
double orthonormality_error(const std::vector<float>& x, int64_t rows, int64_t cols, bool transposed) {
  auto at = [&](int64_t r, int64_t c) { return double(transposed ? x[c * rows + r] : x[r * cols + c]); };
  double worst = 0;
  for (int64_t i = 0; i < cols; i++)
    for (int64_t j = 0; j <= i; j++) {
      double d = 0;
      for (int64_t r = 0; r < rows; r++) d += at(r, i) * at(r, j);
      worst = std::max(worst, std::abs(d - (i == j ? 1.0 : 0.0)));
    }
  return worst;
}

// ||sin Theta||_F between span(ref[:, :r]) (ref [rows, ref_cols], double) and span(x) (x [rows, r] or, with
// transposed, [r, rows]), as ||x - R R^T x||_F: linear in the error (unlike sqrt(r - ||R^T x||_F^2), whose
// rounding floor is the square root of x's orthonormality error).
double subspace_distance(const std::vector<double>& ref, int64_t ref_cols, const std::vector<float>& x, int64_t rows,
                         int64_t r, bool transposed) {
  double f2 = 0;
  std::vector<double> col(static_cast<size_t>(rows));
  for (int64_t j = 0; j < r; j++) {
    for (int64_t row = 0; row < rows; row++) col[row] = transposed ? x[j * rows + row] : x[row * r + j];
    for (int64_t i = 0; i < r; i++) {
      double d = 0;
      for (int64_t row = 0; row < rows; row++) d += ref[row * ref_cols + i] * double(transposed ? x[j * rows + row] : x[row * r + j]);
      for (int64_t row = 0; row < rows; row++) col[row] -= d * ref[row * ref_cols + i];
    }
    for (int64_t row = 0; row < rows; row++) f2 += col[row] * col[row];
  }
  return std::sqrt(f2);
}

// Same, between two float bases of the same layout.
double subspace_distance(const std::vector<float>& x, const std::vector<float>& y, int64_t rows, int64_t r,
                         bool transposed) {
  std::vector<double> xd(static_cast<size_t>(rows * r));
  for (int64_t row = 0; row < rows; row++)
    for (int64_t j = 0; j < r; j++) xd[row * r + j] = transposed ? x[j * rows + row] : x[row * r + j];
  return subspace_distance(xd, r, y, rows, r, transposed);
}

struct Case {
  int64_t m, n, r;
};
// Tall, wide, square, odd sizes, r = 1, and min(m, n) = 1 (the sketch is then the whole space).
const Case kCases[] = {{200, 120, 10}, {90, 257, 7}, {128, 128, 16}, {65, 47, 1}, {33, 1, 1}, {1, 40, 1}};

}  // namespace

JSW_TEST(linalg_rsvd_finds_the_top_subspace_of_a_known_spectrum) {
  for (Case c : kCases) {
    int64_t k = std::min(c.m, c.n);
    Known kn = build(c.m, c.n, gapped_spectrum(k, c.r), 7 + c.m);
    Rsvd out = run(JSW_CPU, kn.a, c.m, c.n, c.r, 8, 2, 42);
    char tag[64];
    std::snprintf(tag, sizeof tag, "%lldx%lld r=%lld", (long long)c.m, (long long)c.n, (long long)c.r);
    // fp32 orthonormalisation (CholeskyQR2) and fp32 GEMMs: ~1e-6; 1e-5 leaves room for rounding over 257-long rows.
    JSW_EXPECT(orthonormality_error(out.u, c.m, c.r, false) < 1e-5, "%s: u not orthonormal", tag);
    JSW_EXPECT(orthonormality_error(out.vt, c.n, c.r, true) < 1e-5, "%s: vt not orthonormal", tag);
    // With a gap sigma_{r+1} / sigma_r = 0.1 and two power iterations the range finder's error is ~0.1^5 times a
    // modest constant (Halko et al. thm 10.8 / cor. 10.10), comparable to fp32 rounding: measured 2e-8 .. 5e-6
    // here. 1e-4 on ||sin Theta||_F and on the singular values keeps a 20x margin and still fails a subspace that
    // misses any direction (a one-vector swap with the tail moves it by ~1).
    double du = subspace_distance(kn.u0, kn.k, out.u, c.m, c.r, false);
    double dv = subspace_distance(kn.v0, kn.k, out.vt, c.n, c.r, true);
    JSW_EXPECT(du < 1e-4, "%s: left subspace off by %g", tag, du);
    JSW_EXPECT(dv < 1e-4, "%s: right subspace off by %g", tag, dv);
    for (int64_t i = 0; i < c.r; i++)
      JSW_EXPECT(std::abs(out.s[i] - kn.sigma[i]) < 1e-4 * kn.sigma[0], "%s: s[%lld] = %g, want %g", tag,
                 (long long)i, double(out.s[i]), kn.sigma[i]);
  }
}

JSW_TEST(linalg_rsvd_power_iterations_sharpen_a_flat_spectrum) {
  // A slowly decaying spectrum with a gap of only 0.8 at r: without power iterations the sketch mixes in the
  // tail; each iteration shrinks the error (by ~0.8^2 per iteration, from Halko et al.'s bound). The check is the
  // ordering, the property GaLore relies on when it picks power_iters.
  int64_t m = 150, n = 110, r = 6, k = std::min(m, n);
  std::vector<double> sigma(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; i++) sigma[i] = i < r ? 1.0 : 0.8 * std::pow(0.995, double(i - r));
  Known kn = build(m, n, sigma, 99);
  double d0 = subspace_distance(kn.u0, k, run(JSW_CPU, kn.a, m, n, r, 4, 0, 5).u, m, r, false);
  double d3 = subspace_distance(kn.u0, k, run(JSW_CPU, kn.a, m, n, r, 4, 3, 5).u, m, r, false);
  double d8 = subspace_distance(kn.u0, k, run(JSW_CPU, kn.a, m, n, r, 4, 8, 5).u, m, r, false);
  JSW_EXPECT(d3 < 0.5 * d0 && d8 < 0.5 * d3, "errors by power_iters 0/3/8: %g %g %g", d0, d3, d8);
}

JSW_TEST(linalg_rsvd_low_rank_and_zero_inputs_give_orthonormal_factors) {
  // rank(a) = 3 < rank = 5 < k: the sketch's extra columns are dependent and get refilled; the result must stay
  // orthonormal, reproduce a exactly and report zero for the missing singular values.
  int64_t m = 70, n = 45, r = 5;
  std::vector<double> sigma(45, 0.0);
  sigma[0] = 3, sigma[1] = 2, sigma[2] = 1;
  Known kn = build(m, n, sigma, 3);
  for (const std::vector<float>& a : {kn.a, std::vector<float>(size_t(m * n), 0.0f)}) {
    bool zero = a[0] == 0.0f;
    Rsvd out = run(JSW_CPU, a, m, n, r, 6, 1, 11);
    JSW_EXPECT(orthonormality_error(out.u, m, r, false) < 1e-5, "u not orthonormal (zero input: %d)", int(zero));
    JSW_EXPECT(orthonormality_error(out.vt, n, r, true) < 1e-5, "vt not orthonormal (zero input: %d)", int(zero));
    for (int64_t i = 0; i < r; i++) {
      double want = zero ? 0.0 : sigma[i];
      JSW_EXPECT(std::abs(out.s[i] - want) < 1e-5, "s[%lld] = %g, want %g", (long long)i, double(out.s[i]), want);
    }
    std::vector<float> rebuilt(size_t(m * n));
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double acc = 0;
        for (int64_t p = 0; p < r; p++) acc += double(out.u[i * r + p]) * out.s[p] * out.vt[p * n + j];
        rebuilt[i * n + j] = float(acc);
      }
    if (zero) {
      for (float x : rebuilt) JSW_EXPECT(x == 0.0f, "zero input rebuilt as %g", double(x));
    } else {
      expect_rel_norm("rank-3 reconstruction", rebuilt, a, 1e-5);
    }
  }
}

JSW_TEST(linalg_rsvd_is_deterministic_in_the_seed) {
  Known kn = build(60, 80, gapped_spectrum(60, 4), 21);
  Rsvd x = run(JSW_CPU, kn.a, 60, 80, 4, 5, 1, 1234), y = run(JSW_CPU, kn.a, 60, 80, 4, 5, 1, 1234);
  JSW_EXPECT(x.u == y.u && x.s == y.s && x.vt == y.vt, "two runs with one seed differ");
  Rsvd z = run(JSW_CPU, kn.a, 60, 80, 4, 5, 0, 999);
  JSW_EXPECT(z.u != x.u, "another seed drew the same sketch");
}

JSW_TEST(linalg_rsvd_rejects_bad_arguments) {
  std::vector<float> a(12, 1.0f), u(12), s(3), vt(12);
  auto call = [&](int64_t m, int64_t n, int64_t r, int64_t p, int64_t q, const float* ap, float* up) {
    return jsw_linalg_rsvd_f32(JSW_CPU, ap, m, n, r, p, q, 0, up, s.data(), vt.data());
  };
  JSW_EXPECT(call(3, 4, 0, 2, 1, a.data(), u.data()) == JSW_ERR_INVALID_ARGUMENT, "rank 0 accepted");
  JSW_EXPECT(call(3, 4, 4, 2, 1, a.data(), u.data()) == JSW_ERR_INVALID_ARGUMENT, "rank > min(m, n) accepted");
  JSW_EXPECT(call(3, 4, 2, -1, 1, a.data(), u.data()) == JSW_ERR_INVALID_ARGUMENT, "negative oversample accepted");
  JSW_EXPECT(call(3, 4, 2, 2, 65, a.data(), u.data()) == JSW_ERR_INVALID_ARGUMENT, "65 power iterations accepted");
  JSW_EXPECT(call(3, 4, 2, INT64_MAX, 1, a.data(), u.data()) == JSW_ERR_INVALID_ARGUMENT,
             "an oversample that overflows rank + oversample accepted");
  JSW_EXPECT(call(0, 4, 1, 2, 1, a.data(), u.data()) == JSW_ERR_INVALID_ARGUMENT, "m = 0 accepted");
  JSW_EXPECT(call(3, 4, 2, 2, 1, nullptr, u.data()) == JSW_ERR_INVALID_ARGUMENT, "null a accepted");
  JSW_EXPECT(call(3, 4, 2, 2, 1, a.data(), nullptr) == JSW_ERR_INVALID_ARGUMENT, "null u accepted");
  JSW_EXPECT(jsw_linalg_rsvd_f32(-7, a.data(), 3, 4, 2, 2, 1, 0, u.data(), s.data(), vt.data()) != JSW_OK,
             "device -7 accepted");
  a[5] = NAN;
  JSW_EXPECT(call(3, 4, 2, 2, 1, a.data(), u.data()) == JSW_ERR_INVALID_ARGUMENT, "a NaN input accepted");
  JSW_EXPECT(std::string(jsw_last_error()).find("NaN") != std::string::npos, "NaN error says: %s", jsw_last_error());
}

JSW_CUDA_TEST(linalg_rsvd_cuda_matches_cpu) {
  // Same seed, so the same sketch: the twins differ only by GEMM rounding (cuBLAS fp32, no TF32), which the
  // orthonormalisation keeps at the fp32 level; 1e-4 on the subspace distance and on the singular values
  // (relative to sigma_1) leaves two orders of magnitude above that and stays far below a real divergence.
  for (Case c : kCases) {
    int64_t k = std::min(c.m, c.n);
    Known kn = build(c.m, c.n, gapped_spectrum(k, c.r), 17 + c.n);
    Rsvd cpu = run(JSW_CPU, kn.a, c.m, c.n, c.r, 8, 2, 77);
    Rsvd gpu = run(cuda_device(), kn.a, c.m, c.n, c.r, 8, 2, 77);
    char tag[64];
    std::snprintf(tag, sizeof tag, "%lldx%lld r=%lld", (long long)c.m, (long long)c.n, (long long)c.r);
    JSW_EXPECT(orthonormality_error(gpu.u, c.m, c.r, false) < 1e-5, "%s: CUDA u not orthonormal", tag);
    JSW_EXPECT(orthonormality_error(gpu.vt, c.n, c.r, true) < 1e-5, "%s: CUDA vt not orthonormal", tag);
    double du = subspace_distance(cpu.u, gpu.u, c.m, c.r, false), dv = subspace_distance(cpu.vt, gpu.vt, c.n, c.r, true);
    JSW_EXPECT(du < 1e-4 && dv < 1e-4, "%s: CUDA subspaces differ from the CPU twin's by %g / %g", tag, du, dv);
    expect_close(std::string(tag) + " s", gpu.s, cpu.s, 1e-4f * cpu.s[0], 0.0f);
  }
  // A rank-deficient input exercises the refill path on the device.
  std::vector<double> sigma(45, 0.0);
  sigma[0] = 3, sigma[1] = 2, sigma[2] = 1;
  Known kn = build(70, 45, sigma, 3);
  Rsvd gpu = run(cuda_device(), kn.a, 70, 45, 5, 6, 1, 11);
  JSW_EXPECT(orthonormality_error(gpu.u, 70, 5, false) < 1e-5, "rank-deficient: CUDA u not orthonormal");
  JSW_EXPECT(orthonormality_error(gpu.vt, 45, 5, true) < 1e-5, "rank-deficient: CUDA vt not orthonormal");
  for (int i = 0; i < 5; i++)
    JSW_EXPECT(std::abs(gpu.s[i] - sigma[i]) < 1e-5, "rank-deficient: CUDA s[%d] = %g", i, double(gpu.s[i]));
}
