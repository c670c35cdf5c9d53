// Min-max group quantization on the CPU, the reference for the CUDA twin (the math is kernels/minmax_quant.h's,
// shared by both). Groups are spread over OpenMP threads; the min / max scan and the decode loop vectorise.
#include <algorithm>
#include <cmath>

#include <omp.h>

#include "core/dtype.h"
#include "kernels/minmax_quant.h"

namespace jsw {
namespace cpu {

namespace {

template <class T>
void quantize(const T* x, int64_t n, int64_t group_size, int bits, bool stochastic, uint64_t seed, uint8_t* codes,
              float* scales, float* zeros) {
  const int qmax = (1 << bits) - 1;
  const int64_t groups = (n + group_size - 1) / group_size;
  const uint64_t key = mmq::sr_key(seed);
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < groups; g++) {
    int64_t lo = g * group_size, hi = std::min(n, lo + group_size);
    float mn = INFINITY, mx = -INFINITY;
#pragma omp simd reduction(min : mn) reduction(max : mx)
    for (int64_t i = lo; i < hi; i++) {
      float v = to_float(x[i]);
      mn = std::fmin(mn, v);
      mx = std::fmax(mx, v);
    }
    float s, z;
    mmq::group_params(mn, mx, qmax, &s, &z);
    scales[g] = s;
    zeros[g] = z;
  }
  if (bits == 8) {
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < groups; g++) {
      int64_t lo = g * group_size, hi = std::min(n, lo + group_size);
      float s = scales[g], z = zeros[g];
      for (int64_t i = lo; i < hi; i++) codes[i] = mmq::encode(to_float(x[i]), s, z, qmax, stochastic, key, uint64_t(i));
    }
    return;
  }
  // 4 bits: one byte holds two values, which may belong to two groups when group_size is odd.
  const int64_t bytes = (n + 1) / 2;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < bytes; k++) {
    int64_t i = 2 * k;
    int64_t g = i / group_size;
    int high = mmq::encode(to_float(x[i]), scales[g], zeros[g], qmax, stochastic, key, uint64_t(i));
    int low = 0;
    if (i + 1 < n) {
      int64_t g1 = (i + 1) / group_size;
      low = mmq::encode(to_float(x[i + 1]), scales[g1], zeros[g1], qmax, stochastic, key, uint64_t(i + 1));
    }
    codes[k] = uint8_t((high << 4) | low);
  }
}

template <class T>
void dequantize(const uint8_t* codes, const float* scales, const float* zeros, int64_t n, int64_t group_size, int bits,
                T* out) {
  const int64_t groups = (n + group_size - 1) / group_size;
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < groups; g++) {
    int64_t lo = g * group_size, hi = std::min(n, lo + group_size);
    float s = scales[g], z = zeros[g];
    if (bits == 8) {
#pragma omp simd
      for (int64_t i = lo; i < hi; i++) out[i] = from_float<T>(mmq::decode(codes[i], s, z));
    } else {
      for (int64_t i = lo; i < hi; i++) {
        uint8_t b = codes[i / 2];
        out[i] = from_float<T>(mmq::decode(i % 2 == 0 ? b >> 4 : b & 15, s, z));
      }
    }
  }
}

}  // namespace

void minmax_quantize(int dtype, const void* x, int64_t n, int64_t group_size, int bits, bool stochastic,
                     uint64_t seed, uint8_t* codes, float* scales, float* zeros) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_minmax_quantize",
                     quantize(static_cast<const T*>(x), n, group_size, bits, stochastic, seed, codes, scales, zeros));
}

void minmax_dequantize(int dtype, const uint8_t* codes, const float* scales, const float* zeros, int64_t n,
                       int64_t group_size, int bits, void* out) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_minmax_dequantize",
                     dequantize(codes, scales, zeros, n, group_size, bits, static_cast<T*>(out)));
}

}  // namespace cpu
}  // namespace jsw
