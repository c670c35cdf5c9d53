// Row primitives of the CPU cross-entropy. A row is swept once, in blocks of 1024 logits that stay in L1: each
// block's max and sum of e^(x - block max) (fp32 SIMD lanes), merged into the row's running max and fp64 sum as
// in an online softmax. The backward writes the gradient in place with one more sweep (it needs the row's final
// normaliser). Plain arithmetic that GCC vectorises inside `omp simd` loops (libm's expf does not vectorise
// without -ffast-math).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace jsw {
namespace cpu {
namespace softmax {

constexpr int64_t kBlock = 1024;

inline int64_t blocks_of(int64_t n) { return (n + kBlock - 1) / kBlock; }

// ln(FLT_MIN), the lower clamp of exp_small, read once before a loop. Hidden from the optimiser: with a literal,
// GCC threads the clamped case into a separate branch and then cannot vectorise the loop.
inline float exp_floor() {
  float lo = -87.33654f;
  asm("" : "+g"(lo));
  return lo;
}

// e^x for x <= 88, used on logits minus a max or the log-sum-exp (<= 0 up to rounding): Cody-Waite reduction
// x = n ln2 + r, |r| <= ln2/2, and the Cephes degree-6 polynomial; ~1.4 ulp. Below lo = exp_floor() it returns
// e^lo (FLT_MIN) instead of denormals, which changes a sum of at least 1 by nothing measurable.
__attribute__((always_inline)) inline float exp_small(float x, float lo) {
  x = x > lo ? x : lo;
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

struct RowStats {
  float max = -INFINITY;
  double sum = 0.0;  // sum of e^(x - max)
  int32_t argmax = 0;
  float lse() const { return max + float(std::log(sum)); }
};

// One sweep over a row: max, first index of the max (torch.argmax's tie rule) and the sum of exponentials.
// With `store`, x is overwritten by e^(x - block max) and block_max[b] keeps each block's max, for the
// backward's rescaling.
template <bool kStore>
inline RowStats sweep(float* x, int64_t n, float* block_max) {
  const float lo = exp_floor();
  RowStats st;
  for (int64_t j0 = 0, b = 0; j0 < n; j0 += kBlock, b++) {
    const int64_t j1 = j0 + kBlock < n ? j0 + kBlock : n;
    float bm = -INFINITY;
#pragma omp simd reduction(max : bm)
    for (int64_t j = j0; j < j1; j++) bm = x[j] > bm ? x[j] : bm;
    if (kStore) block_max[b] = bm;
    if (bm > st.max) {
      int64_t at = j0;
      while (at < j1 && !(x[at] == bm)) at++;
      st.argmax = int32_t(at);
    }
    if (bm == -INFINITY) {  // contributes nothing (and would give NaN below)
      if (kStore)
        for (int64_t j = j0; j < j1; j++) x[j] = 0.0f;
      continue;
    }
    float s = 0.0f;
    if (kStore) {
#pragma omp simd reduction(+ : s)
      for (int64_t j = j0; j < j1; j++) {
        float e = exp_small(x[j] - bm, lo);
        x[j] = e;
        s += e;
      }
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t j = j0; j < j1; j++) s += exp_small(x[j] - bm, lo);
    }
    if (bm > st.max) {
      st.sum = st.sum * std::exp(double(st.max) - double(bm)) + double(s);
      st.max = bm;
    } else {
      st.sum += double(s) * std::exp(double(bm) - double(st.max));
    }
  }
  return st;
}

// After sweep<true>: x_j <- g * softmax_j, block by block (x holds e^(x - block max)).
inline void scale_blocks(float* x, int64_t n, const float* block_max, const RowStats& st, float g) {
  for (int64_t j0 = 0, b = 0; j0 < n; j0 += kBlock, b++) {
    const int64_t j1 = j0 + kBlock < n ? j0 + kBlock : n;
    const float c = float(double(g) * std::exp(double(block_max[b]) - double(st.max)) / st.sum);
#pragma omp simd
    for (int64_t j = j0; j < j1; j++) x[j] *= c;
  }
}

// x_j <- g * e^(x_j - lse): the softmax times the upstream gradient, from the forward's log-sum-exp.
inline void scaled_softmax_in_place(float* x, int64_t n, float lse, float g) {
  const float lo = exp_floor();
#pragma omp simd
  for (int64_t j = 0; j < n; j++) x[j] = g * exp_small(x[j] - lse, lo);
}

}  // namespace softmax
}  // namespace cpu
}  // namespace jsw
