// exp(x) for fp32 in a form that vectorises: glibc's expf is an opaque scalar call, so loops that need it
// (sigmoid, softmax) would not use SIMD. Cody-Waite range reduction x = n ln2 + r with |r| <= ln2/2, a
// degree-7 Taylor polynomial for e^r (truncation < 1e-8 relative, below fp32's 6e-8 unit roundoff), and
// 2^n built in the exponent bits: ~2 ulp. Results below e^-87 (~1.6e-38, the bottom of the normal range)
// flush to 0 and above e^88 (~1.7e38) become inf; -inf gives 0, inf gives inf, NaN stays NaN.
// Only arithmetic, integer compares and bit moves: no calls or tables, so GCC emits AVX2 code for the loops.
#pragma once

#include <cstdint>
#include <cstring>

namespace jsw {
namespace cpu {

inline float vec_exp(float x) {
  // Range handling is integer arithmetic on the bit pattern (sign, magnitude), with masks instead of
  // selects: given a float compare or a select of a constant result, GCC folds or sinks the polynomial into a
  // branch, and a branch of float operations stops the loop from vectorising.
  constexpr uint32_t kLow = 0x42AE0000u, kHigh = 0x42B00000u, kInf = 0x7f800000u;  // 87.0f, 88.0f
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  uint32_t negative = bits >> 31, magnitude = bits & 0x7fffffffu;
  uint32_t limit = kHigh - negative * (kHigh - kLow);
  uint32_t is_number = 0u - uint32_t(magnitude <= kInf);  // all ones unless NaN
  uint32_t underflow = (0u - (negative & uint32_t(magnitude > kLow))) & is_number;
  uint32_t overflow = (0u - ((negative ^ 1u) & uint32_t(magnitude > kHigh))) & is_number;
  uint32_t clamped = magnitude < limit ? magnitude : limit;  // an integer min
  clamped = (clamped & is_number) | (magnitude & ~is_number) | (bits & 0x80000000u);
  std::memcpy(&x, &clamped, sizeof x);

  // Adding 1.5 * 2^23 rounds to an integer (to nearest) and leaves n in the low mantissa bits.
  constexpr float kRound = 12582912.0f;
  float shifted = x * 1.44269504088896341f + kRound;
  float n = shifted - kRound;
  uint32_t shifted_bits;
  std::memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
  uint32_t scale_bits = (shifted_bits - 0x4B400000u + 127u) << 23;
  float scale;
  std::memcpy(&scale, &scale_bits, sizeof scale);
  // ln 2 = 0.693359375 (9 bits, so n * hi is exact) - 2.12194440e-4
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  float result = p * scale;

  uint32_t out;
  std::memcpy(&out, &result, sizeof out);
  out = (out & ~underflow & ~overflow) | (kInf & overflow);
  std::memcpy(&result, &out, sizeof result);
  return result;
}

}  // namespace cpu
}  // namespace jsw
