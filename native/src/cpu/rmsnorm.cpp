// RMSNorm on the CPU: one row per iteration, rows spread over OpenMP threads, fp32 sums.
//   forward:  r = 1/sqrt(mean(x^2) + eps), y = w * x * r
//   backward: dx = r * (w*dy) - x * r^3 * mean(w*dy*x),  dw += sum_rows dy * x * r
#include <cmath>
#include <vector>

#include <omp.h>

#include "core/dtype.h"
#include "kernels/rmsnorm.h"

namespace jsw {
namespace cpu {

namespace {

template <class T>
void fwd(const T* x, const T* w, float eps, int64_t rows, int64_t dim, T* y, float* rstd) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const T* xr = x + r * dim;
    T* yr = y + r * dim;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < dim; i++) {
      float v = to_float(xr[i]);
      ss += v * v;
    }
    float inv = 1.0f / std::sqrt(ss / float(dim) + eps);
    if (rstd != nullptr) rstd[r] = inv;
#pragma omp simd
    for (int64_t i = 0; i < dim; i++) yr[i] = from_float<T>(to_float(w[i]) * (to_float(xr[i]) * inv));
  }
}

template <class T>
void bwd(const T* dy, const T* x, const T* w, const float* rstd, int64_t rows, int64_t dim, T* dx, float* dw) {
  int threads = omp_get_max_threads();
  // Per-thread dw partials, summed at the end: no atomics, deterministic for a fixed thread count.
  std::vector<float> partial(dw != nullptr ? size_t(threads) * size_t(dim) : 0, 0.0f);
#pragma omp parallel num_threads(threads)
  {
    float* mine = dw != nullptr ? partial.data() + size_t(omp_get_thread_num()) * size_t(dim) : nullptr;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      const T* xr = x + r * dim;
      const T* dyr = dy + r * dim;
      float inv = rstd[r];
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int64_t i = 0; i < dim; i++) dot += to_float(w[i]) * to_float(dyr[i]) * to_float(xr[i]);
      float c = dot * inv * inv * inv / float(dim);
      if (dx != nullptr) {
        T* dxr = dx + r * dim;
#pragma omp simd
        for (int64_t i = 0; i < dim; i++)
          dxr[i] = from_float<T>(inv * to_float(w[i]) * to_float(dyr[i]) - to_float(xr[i]) * c);
      }
      if (mine != nullptr) {
#pragma omp simd
        for (int64_t i = 0; i < dim; i++) mine[i] += to_float(dyr[i]) * to_float(xr[i]) * inv;
      }
    }
  }
  if (dw != nullptr)
    for (int t = 0; t < threads; t++)
      for (int64_t i = 0; i < dim; i++) dw[i] += partial[size_t(t) * size_t(dim) + size_t(i)];
}

}  // namespace

void rmsnorm_fwd(int dtype, const void* x, const void* weight, float eps, int64_t rows, int64_t dim, void* y,
                 float* rstd) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_rmsnorm_fwd",
                     fwd(static_cast<const T*>(x), static_cast<const T*>(weight), eps, rows, dim, static_cast<T*>(y),
                         rstd));
}

void rmsnorm_bwd(int dtype, const void* dy, const void* x, const void* weight, const float* rstd, int64_t rows,
                 int64_t dim, void* dx, float* dweight) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_rmsnorm_bwd",
                     bwd(static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const T*>(weight), rstd,
                         rows, dim, static_cast<T*>(dx), dweight));
}

}  // namespace cpu
}  // namespace jsw
