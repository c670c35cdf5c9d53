// Randomized truncated SVD (contract: jsw_linalg_rsvd_f32 in jswift.h). Halko, Martinsson & Tropp's range finder
// with power iterations: Y = A Omega, Q = orth(Y), then q times Q = orth(A orth(A^T Q)); B = Q^T A is k x n with
// k = rank + oversample, and its SVD (through a k x k core, below) gives A's top singular triplets.
//
// The algorithm is written once, as a template over an `Ops` backend (GEMM, Gaussian fill, copies, host <->
// device transfers), so the CPU twin (cpu/rsvd.cpp) and the CUDA twin (cuda-kernels/rsvd.cu) run the same steps
// on the same counter-based sketch; only the big GEMMs and fills run on the device. The k x k pieces (Gram
// matrices, their Cholesky, the final small SVD) run on the host in double precision: O(k^2) bytes cross the bus
// per step, and k is ~ 100, so no cuSOLVER (not a dependency) and no LAPACK (absent from builtin-BLAS builds,
// which is how the GPU test machine builds) are needed.
//
// Every basis is stored as the ROWS of a row-major [k, len] matrix (Q^T, Z^T), so a basis vector is contiguous.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "kernels/gaussian_hash.h"

namespace jsw {
namespace rsvd {

// Sketch width: rank + oversample, at most min(m, n) (a wider sketch cannot span more).
inline int64_t sketch_width(int64_t m, int64_t n, int64_t rank, int64_t oversample) {
  return std::min(rank + oversample, std::min(m, n));
}

// Floats of device workspace the driver needs: three [k, n], two [k, m] and two [k, k] matrices.
inline int64_t workspace_floats(int64_t m, int64_t n, int64_t k) { return 3 * k * n + 2 * k * m + 2 * k * k; }

// Host side, double precision (rsvd_host.cpp).
// From the Gram matrix g = X X^T [k, k] of k rows X, the lower-triangular t with t X orthonormal on the rows that
// are independent of the rows before them (a Cholesky factor's inverse, i.e. one CholeskyQR step). A row whose
// Cholesky pivot is <= 1e-6 of its squared norm (dependent to fp32 precision: a rank-deficient A, or a sketch
// column that the power iteration has squashed) gets a zero row in t and bad[i] = 1: the caller refills it with
// fresh Gaussian values. Returns the number of such rows. Fails with JSW_ERR_INVALID_ARGUMENT on a non-finite g.
int orth_transform(const float* g, int64_t k, float* t, std::vector<char>& bad, const char* op);
// SVD of a small row-major [k, k] matrix l = ul diag(s) vl^T (ul, vl row-major [k, k] with orthonormal columns, s
// descending), by one-sided Jacobi in double precision. Columns for zero singular values are completed to an
// orthonormal set.
void small_svd(const float* l, int64_t k, float* ul, float* s, float* vl);

// Orthonormalises the k rows of x [k, len] in place (tmp: [k, len]; gram_d, t_d: [k, k] on the device): repeated
// CholeskyQR steps with dependent rows replaced by Gaussian rows, until two steps in a row replaced nothing (the
// second one is CholeskyQR2's "do it again", which brings orthogonality down to fp32 rounding).
template <class Ops>
void orthonormalize_rows(Ops& ops, float* x, int64_t k, int64_t len, float* tmp, float* gram_d, float* t_d,
                         uint64_t key, uint64_t& fills, const char* op) {
  constexpr int kMaxSteps = 8;  // each refill costs two more steps; eight is far more than one sketch needs
  std::vector<float> gram(static_cast<size_t>(k * k)), t(static_cast<size_t>(k * k));
  std::vector<char> bad;
  int clean = 0;
  for (int step = 0; step < kMaxSteps && clean < 2; step++) {
    ops.gemm(false, true, k, k, len, 1.0f, x, len, x, len, 0.0f, gram_d, k);  // X X^T
    ops.to_host(gram.data(), gram_d, k * k);
    int replaced = orth_transform(gram.data(), k, t.data(), bad, op);
    ops.from_host(t_d, t.data(), k * k);
    ops.gemm(false, false, k, len, k, 1.0f, t_d, k, x, len, 0.0f, tmp, len);  // T X
    for (int64_t i = 0; i < k; i++)
      if (bad[static_cast<size_t>(i)]) ops.gaussian(tmp + i * len, len, mix64(key + ++fills), 0);
    ops.copy(x, tmp, k * len);
    clean = replaced == 0 ? clean + 1 : 0;
  }
}

// a [m, n] -> u [m, rank], s [rank], vt [rank, n]; all pointers on the backend's device, work sized by
// workspace_floats(m, n, k).
template <class Ops>
void randomized_svd(Ops& ops, const float* a, int64_t m, int64_t n, int64_t rank, int64_t k, int64_t power_iters,
                    uint64_t seed, float* u, float* s, float* vt, float* work, const char* op) {
  float* bn1 = work;              // [k, n]: Omega^T, then Z^T, then B = Q^T A
  float* bn2 = bn1 + k * n;       // [k, n]: P^T, an orthonormal basis of B's rows
  float* bn3 = bn2 + k * n;       // [k, n]: scratch of the n-long orthonormalisations
  float* bm1 = bn3 + k * n;       // [k, m]: Y^T, then Q^T
  float* bm2 = bm1 + k * m;       // [k, m]: scratch of the m-long orthonormalisations
  float* small1 = bm2 + k * m;    // [k, k]
  float* small2 = small1 + k * k; // [k, k]
  uint64_t key = gaussian_key(seed), fills = 0;

  ops.gaussian(bn1, k * n, key, 0);                                   // Omega^T [k, n]
  ops.gemm(false, true, k, m, n, 1.0f, bn1, n, a, n, 0.0f, bm1, m);  // Y^T = Omega^T A^T
  orthonormalize_rows(ops, bm1, k, m, bm2, small1, small2, key, fills, op);
  for (int64_t it = 0; it < power_iters; it++) {
    // Orthonormalising between the two products (not only after A A^T) keeps small singular directions from
    // drowning in fp32 rounding: A A^T squares the spread of the spectrum.
    ops.gemm(false, false, k, n, m, 1.0f, bm1, m, a, n, 0.0f, bn1, n);  // Z^T = Q^T A
    orthonormalize_rows(ops, bn1, k, n, bn3, small1, small2, key, fills, op);
    ops.gemm(false, true, k, m, n, 1.0f, bn1, n, a, n, 0.0f, bm1, m);  // Y^T = Z^T A^T
    orthonormalize_rows(ops, bm1, k, m, bm2, small1, small2, key, fills, op);
  }
  // B = Q^T A [k, n] = L P^T with P^T = orth(B) and L = B P (k x k): A ~ Q B = (Q Ul) S (Vl^T P^T) for the
  // small SVD L = Ul S Vl^T. Going through L keeps the host problem k x k however long n is.
  ops.gemm(false, false, k, n, m, 1.0f, bm1, m, a, n, 0.0f, bn1, n);
  ops.copy(bn2, bn1, k * n);
  orthonormalize_rows(ops, bn2, k, n, bn3, small1, small2, key, fills, op);
  ops.gemm(false, true, k, k, n, 1.0f, bn1, n, bn2, n, 0.0f, small1, k);  // L = B P

  std::vector<float> l(static_cast<size_t>(k * k)), ul(l.size()), vl(l.size()), sv(static_cast<size_t>(k));
  ops.to_host(l.data(), small1, k * k);
  small_svd(l.data(), k, ul.data(), sv.data(), vl.data());
  ops.from_host(small1, ul.data(), k * k);
  ops.from_host(small2, vl.data(), k * k);
  ops.gemm(true, false, m, rank, k, 1.0f, bm1, m, small1, k, 0.0f, u, rank);  // U = Q Ul[:, :rank]
  ops.gemm(true, false, rank, n, k, 1.0f, small2, k, bn2, n, 0.0f, vt, n);   // Vt = Vl[:, :rank]^T P^T
  ops.from_host(s, sv.data(), rank);
}

}  // namespace rsvd

namespace cpu {
void randomized_svd(const float* a, int64_t m, int64_t n, int64_t rank, int64_t oversample, int64_t power_iters,
                    uint64_t seed, float* u, float* s, float* vt);
}  // namespace cpu

namespace cuda {
void randomized_svd(int device, const float* a, int64_t m, int64_t n, int64_t rank, int64_t oversample,
                    int64_t power_iters, uint64_t seed, float* u, float* s, float* vt);
}  // namespace cuda

}  // namespace jsw
