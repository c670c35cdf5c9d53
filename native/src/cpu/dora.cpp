// DoRA helpers on the CPU: rows spread over OpenMP threads, vectorisable inner loops over columns, fp32 sums.
#include <cmath>

#include "core/dtype.h"
#include "kernels/dora.h"
#include "kernels/dropout_hash.h"

namespace jsw {
namespace cpu {

namespace {

template <class T>
void row_norm_typed(const T* x, int64_t rows, int64_t cols, float* norm, float* inv_norm) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const T* xr = x + r * cols;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < cols; c++) {
      float v = to_float(xr[c]);
      ss += v * v;
    }
    float n = std::sqrt(ss);
    if (norm != nullptr) norm[r] = n;
    if (inv_norm != nullptr) inv_norm[r] = 1.0f / n;
  }
}

// (x * row_scale) * col_scale in this order, as the CUDA twin computes it, so fp32 results agree bit for bit.
template <class T>
void scale_rows_cols_typed(const T* x, int64_t rows, int64_t cols, const float* row_scale, const float* col_scale,
                           T* y) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    float rs = row_scale != nullptr ? row_scale[r] : 1.0f;
    if (col_scale != nullptr) {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) yr[c] = from_float<T>(to_float(xr[c]) * rs * col_scale[c]);
    } else {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) yr[c] = from_float<T>(to_float(xr[c]) * rs);
    }
  }
}

// Threads own 64-column slices and run the rows in order, so the sums do not depend on the thread count.
template <class T>
void sum_rows_mul_typed(const T* a, const T* b, int64_t rows, int64_t cols, float* dv) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t c0 = 0; c0 < cols; c0 += 64) {
    int64_t c1 = c0 + 64 < cols ? c0 + 64 : cols;
    float acc[64] = {};
    for (int64_t r = 0; r < rows; r++) {
      const T* ar = a + r * cols;
      const T* br = b + r * cols;
#pragma omp simd
      for (int64_t c = c0; c < c1; c++) acc[c - c0] += to_float(ar[c]) * to_float(br[c]);
    }
    for (int64_t c = c0; c < c1; c++) dv[c] += acc[c - c0];
  }
}

// No restrict: y may equal x (the backward masks a gradient in place).
template <class T>
void dropout_typed(const T* x, int64_t n, float p, uint64_t seed, T* y) {
  uint64_t key = dropout_key(seed);
  float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++)
    y[i] = dropout_keep(key, uint64_t(i), p) ? from_float<T>(to_float(x[i]) * keep_scale) : from_float<T>(0.0f);
}

}  // namespace

void row_norm(int dtype, const void* x, int64_t rows, int64_t cols, float* norm, float* inv_norm) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_row_norm", row_norm_typed(static_cast<const T*>(x), rows, cols, norm, inv_norm));
}

void scale_rows_cols(int dtype, const void* x, int64_t rows, int64_t cols, const float* row_scale,
                     const float* col_scale, void* y) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_scale_rows_cols",
                     scale_rows_cols_typed(static_cast<const T*>(x), rows, cols, row_scale, col_scale,
                                           static_cast<T*>(y)));
}

void sum_rows_mul(int dtype, const void* a, const void* b, int64_t rows, int64_t cols, float* dv) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_sum_rows_mul",
                     sum_rows_mul_typed(static_cast<const T*>(a), static_cast<const T*>(b), rows, cols, dv));
}

void dropout(int dtype, const void* x, int64_t n, float p, uint64_t seed, void* y) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_dropout", dropout_typed(static_cast<const T*>(x), n, p, seed, static_cast<T*>(y)));
}

}  // namespace cpu
}  // namespace jsw
