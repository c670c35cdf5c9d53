// Row primitives of the CPU cross-entropy: max/argmax, sum of exponentials, in-place softmax gradient. Plain
// arithmetic that GCC vectorises inside `omp simd` loops (libm's expf does not vectorise without -ffast-math),
// and sums kept accurate for 150k-entry rows by adding fp32 lane sums of 1024 values into an fp64 total.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace jsw {
namespace cpu {
namespace softmax {

constexpr int64_t kSumBlock = 1024;

// e^x for x <= 88, used on logits minus their row max or log-sum-exp (<= 0 up to rounding): Cody-Waite
// reduction x = n ln2 + r, |r| <= ln2/2, and the Cephes degree-6 polynomial; ~1.4 ulp. Below ln(FLT_MIN) it
// returns FLT_MIN-sized values instead of denormals, which changes a sum of at least 1 by nothing measurable.
inline float exp_small(float x) {
  x = x > -87.33654f ? x : -87.33654f;
  float k = x * 1.44269504088896341f + 12582912.0f;  // adding 1.5 * 2^23 rounds to an integer
  float n = k - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n, n >= -126
  float scale;
  std::memcpy(&scale, &bits, 4);
  return y * scale;
}

// Largest value and the first index holding it (torch.argmax's tie rule).
inline void max_argmax(const float* x, int64_t n, float& max_out, int32_t& argmax_out) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
  int64_t at = 0;
  while (at < n && !(x[at] == m)) at++;
  max_out = m;
  argmax_out = int32_t(at < n ? at : 0);
}

inline float row_max(const float* x, int64_t n) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

// sum_j e^(x_j - m)
inline double sum_exp(const float* x, int64_t n, float m) {
  double total = 0.0;
  for (int64_t j0 = 0; j0 < n; j0 += kSumBlock) {
    int64_t j1 = j0 + kSumBlock < n ? j0 + kSumBlock : n;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = j0; j < j1; j++) s += exp_small(x[j] - m);
    total += double(s);
  }
  return total;
}

// x_j <- e^(x_j - m); returns their sum.
inline double exp_in_place(float* x, int64_t n, float m) {
  double total = 0.0;
  for (int64_t j0 = 0; j0 < n; j0 += kSumBlock) {
    int64_t j1 = j0 + kSumBlock < n ? j0 + kSumBlock : n;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = j0; j < j1; j++) {
      float e = exp_small(x[j] - m);
      x[j] = e;
      s += e;
    }
    total += double(s);
  }
  return total;
}

inline void scale_in_place(float* x, int64_t n, float s) {
#pragma omp simd
  for (int64_t j = 0; j < n; j++) x[j] *= s;
}

// x_j <- g * e^(x_j - lse): the softmax times the upstream gradient, from the forward's log-sum-exp.
inline void scaled_softmax_in_place(float* x, int64_t n, float lse, float g) {
#pragma omp simd
  for (int64_t j = 0; j < n; j++) x[j] = g * exp_small(x[j] - lse);
}

}  // namespace softmax
}  // namespace cpu
}  // namespace jsw
