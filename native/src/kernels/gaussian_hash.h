// Standard normal values as a pure function of (key, index), shared by the CPU and CUDA twins of the randomized
// SVD so both draw the same Gaussian sketch without a stateful generator. The splitmix64 finaliser of
// dropout_hash.h hashes a Weyl step over the index; Box-Muller turns the two halves of the 64-bit hash into one
// N(0, 1) value (the cosine branch only: a second stream per index buys nothing here). Double precision on both
// sides keeps the host and device draws equal after rounding to float, up to the last-ulp differences of the
// two libm's.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/dropout_hash.h"

namespace jsw {

JSW_HOST_DEVICE uint64_t gaussian_key(uint64_t seed) { return mix64(seed ^ 0xBB67AE8584CAA73Bull); }

JSW_HOST_DEVICE float gaussian_at(uint64_t key, uint64_t index) {
  uint64_t h = mix64(key + (index + 1) * 0x9E3779B97F4A7C15ull);
  double u1 = (double(h >> 40) + 0.5) * (1.0 / 16777216.0);  // (0, 1): log(u1) stays finite
  double u2 = double(h & 0xFFFFFFull) * (1.0 / 16777216.0);  // [0, 1)
  return float(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

}  // namespace jsw
