// Elementwise helpers on the CPU.
#include "core/dtype.h"
#include "kernels/elementwise.h"

namespace jsw {
namespace cpu {

namespace {
template <class S, class D>
void cast_typed(const S* src, D* dst, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) dst[i] = from_float<D>(to_float(src[i]));
}

template <class S>
void cast_from(const S* src, int dst_dtype, void* dst, int64_t n) {
  JSW_DISPATCH_FLOAT(dst_dtype, "jsw_cast", cast_typed(src, static_cast<T*>(dst), n));
}

template <class T>
void fill_typed(T* p, float value, int64_t n) {
  T v = from_float<T>(value);
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) p[i] = v;
}

template <class T>
void axpby_typed(int64_t n, float a, const T* x, float b, T* y) {
  if (b == 0.0f) {  // y may hold garbage (even NaN) when b == 0, as in BLAS
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] = from_float<T>(a * to_float(x[i]));
  } else {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] = from_float<T>(a * to_float(x[i]) + b * to_float(y[i]));
  }
}
template <class T>
void add_bias_typed(T* y, const T* bias, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++) {
    T* yr = y + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) yr[c] = from_float<T>(to_float(yr[c]) + to_float(bias[c]));
  }
}

// Column sums: threads own column ranges, rows run in order, so the result does not depend on the thread count.
template <class T>
void sum_rows_typed(const T* dy, int64_t rows, int64_t cols, float* dbias) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t c0 = 0; c0 < cols; c0 += 64) {
    int64_t c1 = c0 + 64 < cols ? c0 + 64 : cols;
    float acc[64] = {};
    for (int64_t r = 0; r < rows; r++) {
      const T* row = dy + r * cols;
#pragma omp simd
      for (int64_t c = c0; c < c1; c++) acc[c - c0] += to_float(row[c]);
    }
    for (int64_t c = c0; c < c1; c++) dbias[c] += acc[c - c0];
  }
}
}  // namespace

void add_bias(int dtype, void* y, const void* bias, int64_t rows, int64_t cols) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_add_bias",
                     add_bias_typed(static_cast<T*>(y), static_cast<const T*>(bias), rows, cols));
}

void sum_rows(int dtype, const void* dy, int64_t rows, int64_t cols, float* dbias) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_sum_rows", sum_rows_typed(static_cast<const T*>(dy), rows, cols, dbias));
}

void cast(int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n) {
  JSW_DISPATCH_FLOAT(src_dtype, "jsw_cast", cast_from(static_cast<const T*>(src), dst_dtype, dst, n));
}

void fill(int dtype, void* x, float value, int64_t n) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_fill", fill_typed(static_cast<T*>(x), value, n));
}

void axpby(int dtype, int64_t n, float a, const void* x, float b, void* y) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_axpby", axpby_typed(n, a, static_cast<const T*>(x), b, static_cast<T*>(y)));
}

}  // namespace cpu
}  // namespace jsw
