// BOFT: the Cayley transform against a float64 reference (orthogonal, (I - S)(I + S)^-1, identity blocks), its
// backward against central differences of that reference, a butterfly factor and its gradient against the dense
// matrices P diag(q) P^T that PEFT multiplies, bad arguments refused; and the CUDA twins against the CPU.
#include <algorithm>
#include <numeric>

#include "test.h"

using namespace jsw_test;

namespace {

// (I - S)(I + S)^-1, S = (a - a^T) / 2, in float64 by Gauss-Jordan with partial pivoting (not the kernel's way).
std::vector<double> cayley_ref(const std::vector<double>& a, int64_t h) {
  std::vector<double> m(size_t(h * h)), inv(size_t(h * h), 0.0);
  for (int64_t i = 0; i < h; i++) {
    inv[size_t(i * h + i)] = 1.0;
    for (int64_t j = 0; j < h; j++) m[size_t(i * h + j)] = (i == j) + 0.5 * (a[size_t(i * h + j)] - a[size_t(j * h + i)]);
  }
  for (int64_t p = 0; p < h; p++) {
    int64_t best = p;
    for (int64_t r = p + 1; r < h; r++)
      if (std::fabs(m[size_t(r * h + p)]) > std::fabs(m[size_t(best * h + p)])) best = r;
    for (int64_t c = 0; c < h; c++) {
      std::swap(m[size_t(p * h + c)], m[size_t(best * h + c)]);
      std::swap(inv[size_t(p * h + c)], inv[size_t(best * h + c)]);
    }
    double piv = m[size_t(p * h + p)];
    for (int64_t c = 0; c < h; c++) {
      m[size_t(p * h + c)] /= piv;
      inv[size_t(p * h + c)] /= piv;
    }
    for (int64_t r = 0; r < h; r++) {
      if (r == p) continue;
      double f = m[size_t(r * h + p)];
      for (int64_t c = 0; c < h; c++) {
        m[size_t(r * h + c)] -= f * m[size_t(p * h + c)];
        inv[size_t(r * h + c)] -= f * inv[size_t(p * h + c)];
      }
    }
  }
  std::vector<double> q(size_t(h * h), 0.0);
  for (int64_t i = 0; i < h; i++)
    for (int64_t j = 0; j < h; j++)
      for (int64_t k = 0; k < h; k++) {
        double imk = (i == k) - 0.5 * (a[size_t(i * h + k)] - a[size_t(k * h + i)]);
        q[size_t(i * h + j)] += imk * inv[size_t(k * h + j)];
      }
  return q;
}

std::vector<float> to_floats(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

std::vector<int32_t> random_permutation(int64_t n, uint64_t seed) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(p.begin(), p.end(), rng);
  return p;
}

// x M (or x M^T) for M = P diag(q) P^T with P[i][perm[i]] = 1 and perm the inverse of perm_inv: dense, float64.
std::vector<float> rotate_ref(const std::vector<float>& x, int64_t rows, int64_t n, const std::vector<int32_t>& perm_inv,
                              const std::vector<float>& q, int64_t h, bool transpose) {
  std::vector<int32_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) perm[size_t(perm_inv[size_t(i)])] = int32_t(i);
  std::vector<double> bd(size_t(n * n), 0.0), m(size_t(n * n), 0.0);
  for (int64_t j = 0; j < n / h; j++)
    for (int64_t k = 0; k < h; k++)
      for (int64_t c = 0; c < h; c++) bd[size_t((j * h + k) * n + j * h + c)] = q[size_t((j * h + k) * h + c)];
  // M[a][b] = sum_{c,d} P[a][c] BD[c][d] P[b][d] = BD[perm[a]][perm[b]]
  for (int64_t a = 0; a < n; a++)
    for (int64_t b = 0; b < n; b++) m[size_t(a * n + b)] = bd[size_t(perm[size_t(a)] * n + perm[size_t(b)])];
  std::vector<float> y(size_t(rows * n));
  for (int64_t r = 0; r < rows; r++)
    for (int64_t b = 0; b < n; b++) {
      double acc = 0.0;
      for (int64_t a = 0; a < n; a++)
        acc += double(x[size_t(r * n + a)]) * (transpose ? m[size_t(b * n + a)] : m[size_t(a * n + b)]);
      y[size_t(r * n + b)] = float(acc);
    }
  return y;
}

}  // namespace

JSW_TEST(boft_cayley_cpu_is_the_orthogonal_cayley_transform) {
  for (int64_t h : {1, 2, 4, 8, 13, 32}) {
    const int64_t blocks = 5;
    auto a = randn(blocks * h * h, 100 + uint64_t(h), 0.7f);
    Buffer ba = upload(JSW_CPU, JSW_F32, a), bq = poisoned(JSW_CPU, JSW_F32, blocks * h * h);
    std::vector<int32_t> flags = {0, 1, 0, 0, 1};
    Buffer bf = upload_i32(JSW_CPU, flags);
    JSW_CHECK(jsw_boft_cayley(JSW_CPU, ba.as<float>(), blocks, h, bf.as<int32_t>(), bq.as<float>()));
    auto q = download(bq, JSW_F32, blocks * h * h);
    for (int64_t b = 0; b < blocks; b++) {
      std::vector<float> got(q.begin() + b * h * h, q.begin() + (b + 1) * h * h), want(size_t(h * h), 0.0f);
      if (flags[size_t(b)] != 0) {
        for (int64_t i = 0; i < h; i++) want[size_t(i * h + i)] = 1.0f;
        expect_close("identity block", got, want, 0, 0);
        continue;
      }
      std::vector<double> ab(a.begin() + b * h * h, a.begin() + (b + 1) * h * h);
      expect_close("cayley h=" + std::to_string(h), got, to_floats(cayley_ref(ab, h)), 2e-6f, 2e-5f);
      std::vector<float> qqt(size_t(h * h), 0.0f), eye(size_t(h * h), 0.0f);
      for (int64_t i = 0; i < h; i++) {
        eye[size_t(i * h + i)] = 1.0f;
        for (int64_t j = 0; j < h; j++)
          for (int64_t k = 0; k < h; k++) qqt[size_t(i * h + j)] += got[size_t(i * h + k)] * got[size_t(j * h + k)];
      }
      expect_close("q q^T = I", qqt, eye, 1e-5f, 0);
    }
  }
  // a = 0 (BOFT's initial R) is exactly the identity: the adapted layer starts as the base layer.
  std::vector<float> zero(4 * 16, 0.0f), eye(4 * 16, 0.0f);
  for (int b = 0; b < 4; b++)
    for (int i = 0; i < 4; i++) eye[size_t(b * 16 + i * 5)] = 1.0f;
  Buffer bz = upload(JSW_CPU, JSW_F32, zero), bq = poisoned(JSW_CPU, JSW_F32, 64);
  JSW_CHECK(jsw_boft_cayley(JSW_CPU, bz.as<float>(), 4, 4, nullptr, bq.as<float>()));
  expect_close("cayley(0) = I", download(bq, JSW_F32, 64), eye, 0, 0);
}

JSW_TEST(boft_cayley_backward_cpu_matches_central_differences) {
  for (int64_t h : {2, 4, 7}) {
    const int64_t blocks = 3, hh = h * h;
    auto a = randn(blocks * hh, 200 + uint64_t(h), 0.5f);
    auto dq = randn(blocks * hh, 300 + uint64_t(h));
    Buffer ba = upload(JSW_CPU, JSW_F32, a), bq = poisoned(JSW_CPU, JSW_F32, blocks * hh);
    Buffer bdq = upload(JSW_CPU, JSW_F32, dq);
    std::vector<float> start(size_t(blocks * hh), 0.25f);
    Buffer bda = upload(JSW_CPU, JSW_F32, start);
    std::vector<int32_t> flags = {0, 0, 1};
    Buffer bf = upload_i32(JSW_CPU, flags);
    JSW_CHECK(jsw_boft_cayley(JSW_CPU, ba.as<float>(), blocks, h, bf.as<int32_t>(), bq.as<float>()));
    JSW_CHECK(jsw_boft_cayley_backward(JSW_CPU, bq.as<float>(), bdq.as<float>(), blocks, h, bf.as<int32_t>(),
                                       bda.as<float>()));
    auto da = download(bda, JSW_F32, blocks * hh);
    std::vector<float> want(size_t(blocks * hh));
    for (int64_t b = 0; b < blocks; b++) {
      std::vector<double> ab(a.begin() + b * hh, a.begin() + (b + 1) * hh);
      for (int64_t e = 0; e < hh; e++) {
        if (flags[size_t(b)] != 0) {  // a dropped block: its gradient is not touched
          want[size_t(b * hh + e)] = 0.25f;
          continue;
        }
        const double eps = 1e-6;
        auto plus = ab, minus = ab;
        plus[size_t(e)] += eps;
        minus[size_t(e)] -= eps;
        auto qp = cayley_ref(plus, h), qm = cayley_ref(minus, h);
        double g = 0.0;
        for (int64_t f = 0; f < hh; f++) g += double(dq[size_t(b * hh + f)]) * (qp[size_t(f)] - qm[size_t(f)]) / (2 * eps);
        want[size_t(b * hh + e)] = float(0.25 + g);
      }
    }
    expect_close("cayley backward h=" + std::to_string(h), da, want, 2e-4f, 2e-4f);
  }
}

JSW_TEST(butterfly_rotate_cpu_matches_the_dense_factor) {
  const int64_t rows = 7;
  for (int64_t h : {1, 2, 4, 8}) {
    const int64_t n = 8 * h;
    auto q = randn(n * h, 400 + uint64_t(h));
    for (bool identity_perm : {true, false}) {
      std::vector<int32_t> perm_inv(static_cast<size_t>(n));
      std::iota(perm_inv.begin(), perm_inv.end(), 0);
      if (!identity_perm) perm_inv = random_permutation(n, 500 + uint64_t(h));
      Buffer bp = upload_i32(JSW_CPU, perm_inv), bq = upload(JSW_CPU, JSW_F32, q);
      for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
        auto x = round_to(randn(rows * n, 600 + uint64_t(h)), dtype);
        for (int transpose : {0, 1}) {
          Buffer bx = upload(JSW_CPU, dtype, x), by = poisoned(JSW_CPU, dtype, rows * n);
          JSW_CHECK(jsw_butterfly_rotate(JSW_CPU, dtype, bx.get(), rows, n, identity_perm ? nullptr : bp.as<int32_t>(),
                                         bq.as<float>(), h, transpose, by.get()));
          auto want = rotate_ref(x, rows, n, perm_inv, q, h, transpose != 0);
          float tol = dtype == JSW_F32 ? 1e-5f : 1e-2f;
          expect_close("rotate h=" + std::to_string(h) + " dtype " + std::to_string(dtype) + " transpose " +
                           std::to_string(transpose),
                       download(by, dtype, rows * n), round_to(want, dtype), tol, tol);
        }
      }
    }
  }
}

JSW_TEST(butterfly_rotate_grad_cpu_matches_the_dense_factor) {
  const int64_t rows = 9, h = 4, n = 6 * h;
  auto perm_inv = random_permutation(n, 700);
  auto x = randn(rows * n, 701), dy = randn(rows * n, 702);
  std::vector<int32_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) perm[size_t(perm_inv[size_t(i)])] = int32_t(i);
  // y = x P BD P^T: dBD = (x P)^T (dy P) on the blocks, with (v P)[c] = v[perm^-1[c]] = v[perm_inv[c]].
  std::vector<float> want(size_t(n * h), 0.5f);
  for (int64_t j = 0; j < n / h; j++)
    for (int64_t k = 0; k < h; k++)
      for (int64_t c = 0; c < h; c++) {
        double acc = 0.0;
        for (int64_t r = 0; r < rows; r++) {
          double xp = 0.0, gp = 0.0;
          for (int64_t a = 0; a < n; a++) {  // (x P)[j h + k] = sum_a x[a] P[a][j h + k]
            if (perm[size_t(a)] == j * h + k) xp = x[size_t(r * n + a)];
            if (perm[size_t(a)] == j * h + c) gp = dy[size_t(r * n + a)];
          }
          acc += xp * gp;
        }
        want[size_t((j * h + k) * h + c)] += float(acc);
      }
  Buffer bp = upload_i32(JSW_CPU, perm_inv), bx = upload(JSW_CPU, JSW_F32, x), bg = upload(JSW_CPU, JSW_F32, dy);
  std::vector<float> start(size_t(n * h), 0.5f);
  Buffer bdq = upload(JSW_CPU, JSW_F32, start);
  JSW_CHECK(jsw_butterfly_rotate_grad(JSW_CPU, JSW_F32, bx.get(), bg.get(), rows, n, bp.as<int32_t>(), h,
                                      bdq.as<float>()));
  expect_close("rotate grad", download(bdq, JSW_F32, n * h), want, 1e-5f, 1e-5f);
}

JSW_TEST(boft_kernels_refuse_bad_arguments) {
  const int64_t n = 8, h = 4;
  std::vector<float> v(size_t(n * h), 0.0f);
  Buffer bx = upload(JSW_CPU, JSW_F32, v), by = upload(JSW_CPU, JSW_F32, v), bq = upload(JSW_CPU, JSW_F32, v);
  std::vector<int32_t> dup = {0, 1, 2, 3, 4, 5, 6, 6}, big = {0, 1, 2, 3, 4, 5, 6, 8};
  Buffer bdup = upload_i32(JSW_CPU, dup), bbig = upload_i32(JSW_CPU, big);
  float* q = bq.as<float>();
  JSW_EXPECT(jsw_butterfly_rotate(JSW_CPU, JSW_F32, bx.get(), 1, n, bdup.as<int32_t>(), q, h, 0, by.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "a repeated index");
  JSW_EXPECT(jsw_butterfly_rotate(JSW_CPU, JSW_F32, bx.get(), 1, n, bbig.as<int32_t>(), q, h, 0, by.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "an index out of range");
  JSW_EXPECT(jsw_butterfly_rotate_grad(JSW_CPU, JSW_F32, bx.get(), by.get(), 1, n, bbig.as<int32_t>(), h, q) ==
                 JSW_ERR_INVALID_ARGUMENT, "an index out of range (grad)");
  JSW_EXPECT(jsw_butterfly_rotate(JSW_CPU, JSW_F32, bx.get(), 1, n, nullptr, q, 3, 0, by.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "n not a multiple of h");
  JSW_EXPECT(jsw_butterfly_rotate(JSW_CPU, JSW_F32, bx.get(), 1, n, nullptr, q, h, 0, bx.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "in place");
  JSW_EXPECT(jsw_butterfly_rotate(JSW_CPU, JSW_I32, bx.get(), 1, n, nullptr, q, h, 0, by.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "int dtype");
  JSW_EXPECT(jsw_boft_cayley(JSW_CPU, bx.as<float>(), 2, 0, nullptr, by.as<float>()) == JSW_ERR_INVALID_ARGUMENT,
             "h = 0");
  JSW_EXPECT(jsw_boft_cayley(JSW_CPU, nullptr, 2, 4, nullptr, by.as<float>()) == JSW_ERR_INVALID_ARGUMENT, "null a");
  JSW_EXPECT(jsw_boft_cayley_backward(JSW_CPU, q, q, 2, 4, nullptr, nullptr) == JSW_ERR_INVALID_ARGUMENT, "null da");
}

JSW_CUDA_TEST(boft_kernels_cuda_match_cpu) {
  int dev = cuda_device();
  for (int64_t h : {1, 4, 8, 32, 100}) {
    const int64_t blocks = 6, hh = h * h;
    auto a = randn(blocks * hh, 800 + uint64_t(h), 0.3f), dq = randn(blocks * hh, 801 + uint64_t(h));
    std::vector<int32_t> flags = {0, 0, 1, 0, 0, 0};
    std::vector<float> q_cpu, da_cpu;
    for (int d : {JSW_CPU, dev}) {
      Buffer ba = upload(d, JSW_F32, a), bq = poisoned(d, JSW_F32, blocks * hh), bdq = upload(d, JSW_F32, dq);
      Buffer bda = zeros(d, JSW_F32, blocks * hh), bf = upload_i32(d, flags);
      JSW_CHECK(jsw_boft_cayley(d, ba.as<float>(), blocks, h, bf.as<int32_t>(), bq.as<float>()));
      JSW_CHECK(jsw_boft_cayley_backward(d, bq.as<float>(), bdq.as<float>(), blocks, h, bf.as<int32_t>(),
                                         bda.as<float>()));
      JSW_CHECK(jsw_synchronize(d));
      auto q = download(bq, JSW_F32, blocks * hh), da = download(bda, JSW_F32, blocks * hh);
      if (d == JSW_CPU) {
        q_cpu = q;
        da_cpu = da;
      } else {
        expect_close("cayley h=" + std::to_string(h), q, q_cpu, 1e-5f, 1e-4f);
        expect_close("cayley backward h=" + std::to_string(h), da, da_cpu, 1e-4f, 1e-3f);
      }
    }
  }
  for (int64_t h : {2, 4, 16}) {
    const int64_t rows = 300, n = 64 * h;
    auto perm_inv = random_permutation(n, 900 + uint64_t(h));
    auto q = randn(n * h, 901 + uint64_t(h), 0.5f);
    for (int dtype : {JSW_F32, JSW_BF16}) {
      auto x = round_to(randn(rows * n, 902 + uint64_t(h)), dtype), g = round_to(randn(rows * n, 903), dtype);
      std::vector<float> y_cpu[2], dq_cpu;
      for (int d : {JSW_CPU, dev}) {
        Buffer bp = upload_i32(d, perm_inv), bq = upload(d, JSW_F32, q), bx = upload(d, dtype, x);
        Buffer bg = upload(d, dtype, g), bdq = zeros(d, JSW_F32, n * h);
        std::vector<float> ys[2];
        for (int transpose : {0, 1}) {
          Buffer by = poisoned(d, dtype, rows * n);
          JSW_CHECK(jsw_butterfly_rotate(d, dtype, bx.get(), rows, n, bp.as<int32_t>(), bq.as<float>(), h, transpose,
                                         by.get()));
          JSW_CHECK(jsw_synchronize(d));
          ys[transpose] = download(by, dtype, rows * n);
        }
        JSW_CHECK(jsw_butterfly_rotate_grad(d, dtype, bx.get(), bg.get(), rows, n, bp.as<int32_t>(), h,
                                            bdq.as<float>()));
        JSW_CHECK(jsw_synchronize(d));
        auto dqs = download(bdq, JSW_F32, n * h);
        if (d == JSW_CPU) {
          y_cpu[0] = ys[0];
          y_cpu[1] = ys[1];
          dq_cpu = dqs;
        } else {
          float tol = dtype == JSW_F32 ? 1e-5f : 1e-2f;
          expect_close("rotate", ys[0], y_cpu[0], tol, tol);
          expect_close("rotate transposed", ys[1], y_cpu[1], tol, tol);
          expect_close("rotate grad", dqs, dq_cpu, 1e-3f, 1e-4f);  // atomics: another summation order
        }
      }
    }
  }
}
