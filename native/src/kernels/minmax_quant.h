// Min-max group quantization twins (contract: jsw_minmax_* in jswift.h), Q-GaLore's asymmetric INT4 / INT8.
// The per-group parameters and the per-value code are the inline functions below, shared by the CPU and CUDA
// twins: each is a short chain of single IEEE operations (subtract, divide, round, add; never a product followed
// by a sum, so no FMA contraction can change a result), which is why both twins produce the same bytes.
// Stochastic rounding draws u = k / 2^24 from the splitmix64 hash of (seed, element index) (kernels/dropout_hash.h's
// mixer), so a draw never depends on the thread layout and a resumed run redraws exactly the same numbers.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/dropout_hash.h"

namespace jsw {
namespace mmq {

#ifdef __CUDACC__
JSW_HOST_DEVICE float round_even(float q) { return rintf(q); }
JSW_HOST_DEVICE float floor_f(float q) { return floorf(q); }
#else
inline float round_even(float q) { return std::nearbyint(q); }  // default rounding mode: half to even
inline float floor_f(float q) { return std::floor(q); }
#endif

// scale = max(hi - lo, 1e-5) / qmax; zero = clamp(round(-lo / scale), 0, qmax) (Q-GaLore's _quantize).
JSW_HOST_DEVICE void group_params(float lo, float hi, int qmax, float* scale, float* zero) {
  float range = hi - lo;
  float s = (range > 1e-5f ? range : 1e-5f) / float(qmax);
  float z = round_even(-lo / s);
  *scale = s;
  *zero = z < 0.0f ? 0.0f : (z > float(qmax) ? float(qmax) : z);
}

JSW_HOST_DEVICE uint64_t sr_key(uint64_t seed) { return mix64(seed ^ 0xBB67AE8584CAA73Bull); }

// A uniform draw in [0, 1) (24 bits) for element `index`.
JSW_HOST_DEVICE float sr_uniform(uint64_t key, uint64_t index) {
  uint64_t h = mix64(key + (index + 1) * 0x9E3779B97F4A7C15ull);
  return float(uint32_t(h >> 40)) * (1.0f / 16777216.0f);
}

// The code of x in a group (scale, zero): round(x / scale) + zero clamped to [0, qmax]; with `stochastic`, the
// rounding goes up with probability equal to the fraction (q - floor q is exact in fp32 for |q| < 2^23).
JSW_HOST_DEVICE uint8_t encode(float x, float scale, float zero, int qmax, bool stochastic, uint64_t key,
                               uint64_t index) {
  float q = x / scale;
  float r;
  if (stochastic) {
    float f = floor_f(q);
    r = sr_uniform(key, index) < q - f ? f + 1.0f : f;
  } else {
    r = round_even(q);
  }
  float c = r + zero;
  c = c < 0.0f ? 0.0f : (c > float(qmax) ? float(qmax) : c);
  return uint8_t(c);   // NaN input: Q-GaLore refuses it; here it clamps through to an unspecified code
}

JSW_HOST_DEVICE float decode(int code, float scale, float zero) { return (float(code) - zero) * scale; }

}  // namespace mmq

namespace cpu {
void minmax_quantize(int dtype, const void* x, int64_t n, int64_t group_size, int bits, bool stochastic,
                     uint64_t seed, uint8_t* codes, float* scales, float* zeros);
void minmax_dequantize(int dtype, const uint8_t* codes, const float* scales, const float* zeros, int64_t n,
                       int64_t group_size, int bits, void* out);
}  // namespace cpu

namespace cuda {
void minmax_quantize(int device, int dtype, const void* x, int64_t n, int64_t group_size, int bits, bool stochastic,
                     uint64_t seed, uint8_t* codes, float* scales, float* zeros);
void minmax_dequantize(int device, int dtype, const uint8_t* codes, const float* scales, const float* zeros,
                       int64_t n, int64_t group_size, int bits, void* out);
}  // namespace cuda
}  // namespace jsw
