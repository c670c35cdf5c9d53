// BOFT on the CPU. The Cayley transform inverts each h x h block by in-place Gauss-Jordan (blocks spread over
// threads); a butterfly factor gathers a row's h inputs of a block through perm_inv, multiplies them by the
// block and scatters the h outputs back (rows spread over threads); its gradient gives each thread whole blocks,
// summed over the rows in order, so results do not depend on the thread count.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/boft.h"

namespace jsw {
namespace cpu {

namespace {

// m := m^-1 in place (row-major h x h), Gauss-Jordan without pivoting: for m = I + S with S skew-symmetric every
// pivot is >= 1 (the Schur complements keep a symmetric part >= I), so no row exchange is ever needed.
void invert_in_place(float* m, int64_t h) {
  for (int64_t p = 0; p < h; p++) {
    float* mp = m + p * h;
    const float piv = 1.0f / mp[p];
    mp[p] = 1.0f;
    for (int64_t c = 0; c < h; c++) mp[c] *= piv;
    for (int64_t r = 0; r < h; r++) {
      if (r == p) continue;
      float* mr = m + r * h;
      const float f = mr[p];
      mr[p] = 0.0f;
      for (int64_t c = 0; c < h; c++) mr[c] -= f * mp[c];
    }
  }
}

template <class T>
void rotate_typed(const T* x, int64_t rows, int64_t n, const int32_t* perm_inv, const float* q, int64_t h,
                  bool transpose, T* y) {
  const int64_t blocks = n / h;
#pragma omp parallel if (rows * n * h > 65536)
  {
    std::vector<float> in(static_cast<size_t>(h)), out(static_cast<size_t>(h));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      for (int64_t j = 0; j < blocks; j++) {
        const int32_t* idx = perm_inv != nullptr ? perm_inv + j * h : nullptr;
        for (int64_t k = 0; k < h; k++) in[size_t(k)] = to_float(xr[idx != nullptr ? idx[k] : j * h + k]);
        const float* qj = q + j * h * h;
        if (transpose) {  // out[c] = sum_k in[k] q[c][k]: a dot product over a row of the block
          for (int64_t c = 0; c < h; c++) {
            const float* qc = qj + c * h;
            float acc = 0.0f;
            for (int64_t k = 0; k < h; k++) acc += in[size_t(k)] * qc[k];
            out[size_t(c)] = acc;
          }
        } else {  // out[c] = sum_k in[k] q[k][c]: rows of the block added in order
          std::fill(out.begin(), out.end(), 0.0f);
          for (int64_t k = 0; k < h; k++) {
            const float v = in[size_t(k)];
            const float* qk = qj + k * h;
            for (int64_t c = 0; c < h; c++) out[size_t(c)] += v * qk[c];
          }
        }
        for (int64_t c = 0; c < h; c++) yr[idx != nullptr ? idx[c] : j * h + c] = from_float<T>(out[size_t(c)]);
      }
    }
  }
}

template <class T>
void rotate_grad_typed(const T* x, const T* dy, int64_t rows, int64_t n, const int32_t* perm_inv, int64_t h,
                       float* dq) {
  const int64_t blocks = n / h;
#pragma omp parallel if (rows * n * h > 65536)
  {
    std::vector<float> xin(static_cast<size_t>(h)), gin(static_cast<size_t>(h)),
        acc(static_cast<size_t>(h * h));
#pragma omp for schedule(static)
    for (int64_t j = 0; j < blocks; j++) {
      const int32_t* idx = perm_inv != nullptr ? perm_inv + j * h : nullptr;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t r = 0; r < rows; r++) {
        const T* xr = x + r * n;
        const T* gr = dy + r * n;
        for (int64_t k = 0; k < h; k++) {
          const int64_t i = idx != nullptr ? idx[k] : j * h + k;
          xin[size_t(k)] = to_float(xr[i]);
          gin[size_t(k)] = to_float(gr[i]);
        }
        for (int64_t k = 0; k < h; k++) {
          const float v = xin[size_t(k)];
          float* ak = acc.data() + k * h;
          for (int64_t c = 0; c < h; c++) ak[c] += v * gin[size_t(c)];
        }
      }
      float* dqj = dq + j * h * h;
      for (int64_t e = 0; e < h * h; e++) dqj[e] += acc[size_t(e)];
    }
  }
}

// An index out of range would read or write outside the rows: refuse anything but a permutation of 0 .. n-1.
void require_permutation(const int32_t* perm_inv, int64_t n, const char* op) {
  if (perm_inv == nullptr) return;
  std::vector<char> seen(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; i++) {
    const int32_t v = perm_inv[i];
    require(v >= 0 && v < n && !seen[size_t(v)], op, "perm_inv is not a permutation of 0..%lld: entry %lld is %d",
            (long long)(n - 1), (long long)i, v);
    seen[size_t(v)] = 1;
  }
}

}  // namespace

void boft_cayley(const float* a, int64_t blocks, int64_t h, const int32_t* identity, float* q) {
#pragma omp parallel for schedule(static) if (blocks * h * h * h > 65536)
  for (int64_t b = 0; b < blocks; b++) {
    const float* ab = a + b * h * h;
    float* qb = q + b * h * h;
    if (identity != nullptr && identity[b] != 0) {
      for (int64_t i = 0; i < h; i++)
        for (int64_t j = 0; j < h; j++) qb[i * h + j] = i == j ? 1.0f : 0.0f;
      continue;
    }
    for (int64_t i = 0; i < h; i++)
      for (int64_t j = 0; j < h; j++) qb[i * h + j] = (i == j ? 1.0f : 0.0f) + 0.5f * (ab[i * h + j] - ab[j * h + i]);
    invert_in_place(qb, h);  // (I + S)^-1
    for (int64_t i = 0; i < h; i++)
      for (int64_t j = 0; j < h; j++) qb[i * h + j] = 2.0f * qb[i * h + j] - (i == j ? 1.0f : 0.0f);
  }
}

void boft_cayley_backward(const float* q, const float* dq, int64_t blocks, int64_t h, const int32_t* identity,
                          float* da) {
#pragma omp parallel if (blocks * h * h * h > 65536)
  {
    std::vector<float> g(static_cast<size_t>(h * h)), t(static_cast<size_t>(h * h)), ds(static_cast<size_t>(h * h));
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
      if (identity != nullptr && identity[b] != 0) continue;
      const float* qb = q + b * h * h;
      const float* gb = dq + b * h * h;
      for (int64_t i = 0; i < h; i++)  // g = (I + q)^T
        for (int64_t j = 0; j < h; j++) g[size_t(i * h + j)] = (i == j ? 1.0f : 0.0f) + qb[j * h + i];
      for (int64_t i = 0; i < h; i++)  // t = dq g
        for (int64_t j = 0; j < h; j++) {
          float acc = 0.0f;
          for (int64_t k = 0; k < h; k++) acc += gb[i * h + k] * g[size_t(k * h + j)];
          t[size_t(i * h + j)] = acc;
        }
      for (int64_t i = 0; i < h; i++)  // dS = -(g t) / 2
        for (int64_t j = 0; j < h; j++) {
          float acc = 0.0f;
          for (int64_t k = 0; k < h; k++) acc += g[size_t(i * h + k)] * t[size_t(k * h + j)];
          ds[size_t(i * h + j)] = -0.5f * acc;
        }
      float* db = da + b * h * h;
      for (int64_t i = 0; i < h; i++)
        for (int64_t j = 0; j < h; j++) db[i * h + j] += 0.5f * (ds[size_t(i * h + j)] - ds[size_t(j * h + i)]);
    }
  }
}

void butterfly_rotate(int dtype, const void* x, int64_t rows, int64_t n, const int32_t* perm_inv, const float* q,
                      int64_t h, bool transpose, void* y) {
  require_permutation(perm_inv, n, "jsw_butterfly_rotate");
  JSW_DISPATCH_FLOAT(dtype, "jsw_butterfly_rotate",
                     rotate_typed(static_cast<const T*>(x), rows, n, perm_inv, q, h, transpose, static_cast<T*>(y)));
}

void butterfly_rotate_grad(int dtype, const void* x, const void* dy, int64_t rows, int64_t n,
                           const int32_t* perm_inv, int64_t h, float* dq) {
  require_permutation(perm_inv, n, "jsw_butterfly_rotate_grad");
  JSW_DISPATCH_FLOAT(dtype, "jsw_butterfly_rotate_grad",
                     rotate_grad_typed(static_cast<const T*>(x), static_cast<const T*>(dy), rows, n, perm_inv, h,
                                       dq));
}

}  // namespace cpu
}  // namespace jsw
