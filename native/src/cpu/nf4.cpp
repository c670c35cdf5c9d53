// NF4 on the CPU (bitsandbytes layout), the reference for the CUDA twin: the integer codes are bit-identical
// because both use the encoders of kernels/nf4_codes.h on the same fp32 values (x * (1 / absmax), as the
// bitsandbytes kernel scales). Work is spread over OpenMP threads by quantization block.
#include <algorithm>
#include <cmath>
#include <vector>

#include <omp.h>

#include "core/dtype.h"
#include "kernels/nf4.h"
#include "kernels/nf4_codes.h"

namespace jsw {
namespace cpu {

namespace {

constexpr float kNf4[16] = {JSW_NF4_CODEBOOK};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <class T>
void absmax_blocks(const T* x, int64_t n, int64_t blocksize, float* absmax) {
  int64_t blocks = ceil_div(n, blocksize);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; b++) {
    int64_t lo = b * blocksize, hi = std::min(n, lo + blocksize);
    float m = 0.0f;
#pragma omp simd reduction(max : m)
    for (int64_t i = lo; i < hi; i++) m = std::fmax(m, std::fabs(to_float(x[i])));
    absmax[b] = m;
  }
}

template <class T>
void quantize(const T* x, int64_t n, int64_t blocksize, uint8_t* packed, float* absmax) {
  absmax_blocks(x, n, blocksize, absmax);
  int64_t bytes = ceil_div(n, 2);
  // Bytes of 4096 values at a time; each value looks up its own block, so an odd blocksize (a byte straddling
  // two blocks) needs no special case. The pad value of an odd n belongs to the last element's block.
  const int64_t per_task = 2048;
#pragma omp parallel for schedule(static)
  for (int64_t k0 = 0; k0 < bytes; k0 += per_task) {
    int64_t k1 = std::min(bytes, k0 + per_task);
    int64_t b = (2 * k0) / blocksize, next = (b + 1) * blocksize;
    float inv = 1.0f / absmax[b];
    for (int64_t k = k0; k < k1; k++) {
      int64_t i = 2 * k;
      if (i >= next) {
        b = i / blocksize;
        next = (b + 1) * blocksize;
        inv = 1.0f / absmax[b];
      }
      int hi = nf4::encode_nf4(to_float(x[i]) * inv);
      float second = 0.0f;
      if (i + 1 < n) {
        if (i + 1 >= next) {
          b = (i + 1) / blocksize;
          next = (b + 1) * blocksize;
          inv = 1.0f / absmax[b];
        }
        second = to_float(x[i + 1]);
      }
      packed[k] = uint8_t((hi << 4) | nf4::encode_nf4(second * inv));
    }
  }
}

// Decodes every block scale once (blocks are few: n / 64) into a vector, so the per-element loop is one
// multiply. The product and the sum are rounded separately, as bitsandbytes computes them (a dequantize, then
// `+ offset`); the volatile keeps GCC from fusing them into an FMA (the build targets x86-64-v3).
std::vector<float> decode_nested(const uint8_t* q, const float* nested, const float* code256, float offset,
                                 int64_t blocks) {
  std::vector<float> out(static_cast<size_t>(blocks), 0.0f);
#pragma omp parallel for schedule(static) if (blocks > 65536)
  for (int64_t b = 0; b < blocks; b++) {
    volatile float scaled = code256[q[b]] * nested[b / nf4::kNestedBlock];
    out[size_t(b)] = scaled + offset;
  }
  return out;
}

template <class T>
void dequantize(const uint8_t* packed, const float* absmax, int64_t n, int64_t blocksize, T* out) {
  int64_t blocks = ceil_div(n, blocksize);
  if (blocksize % 2 == 0) {
    // Blocks own whole bytes: one block per iteration, no index division in the inner loop.
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
      float s = absmax[b];
      int64_t lo = b * blocksize, hi = std::min(n, lo + blocksize);
      const uint8_t* p = packed + lo / 2;
      T* o = out + lo;
      int64_t pairs = (hi - lo) / 2;
#pragma omp simd
      for (int64_t k = 0; k < pairs; k++) {
        o[2 * k] = from_float<T>(kNf4[p[k] >> 4] * s);
        o[2 * k + 1] = from_float<T>(kNf4[p[k] & 15] * s);
      }
      if ((hi - lo) % 2 != 0) o[hi - lo - 1] = from_float<T>(kNf4[p[pairs] >> 4] * s);
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    int nib = (i % 2 == 0) ? packed[i / 2] >> 4 : packed[i / 2] & 15;
    out[i] = from_float<T>(kNf4[nib] * absmax[i / blocksize]);
  }
}

}  // namespace

void nf4_quantize(int dtype, const void* x, int64_t n, int64_t blocksize, uint8_t* packed, float* absmax) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_nf4_quantize",
                     quantize(static_cast<const T*>(x), n, blocksize, packed, absmax));
}

void nf4_dequantize(int dtype, const uint8_t* packed, const float* absmax, int64_t n, int64_t blocksize, void* out) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_nf4_dequantize",
                     dequantize(packed, absmax, n, blocksize, static_cast<T*>(out)));
}

void quantize_absmax_8bit(const float* absmax, int64_t n, uint8_t* q, float* nested_absmax, float* offset) {
  const int64_t group = nf4::kNestedBlock;
  int64_t groups = ceil_div(n, group);
  // offset = mean(absmax): fp64 sums of each 256-group in order, then of the group sums in order. The CUDA twin
  // adds in exactly this order, so both get the same offset and therefore the same codes.
  std::vector<double> partial(static_cast<size_t>(groups), 0.0);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t g = 0; g < groups; g++) {
    double s = 0.0;
    for (int64_t i = g * group; i < std::min(n, (g + 1) * group); i++) s += double(absmax[i]);
    partial[size_t(g)] = s;
  }
  double total = 0.0;
  for (int64_t g = 0; g < groups; g++) total += partial[size_t(g)];
  const float off = float(total / double(n));
  *offset = off;

  float code[256];
  nf4::dynamic_map_signed(code);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t g = 0; g < groups; g++) {
    int64_t lo = g * group, hi = std::min(n, lo + group);
    float m = 0.0f;
    for (int64_t i = lo; i < hi; i++) m = std::fmax(m, std::fabs(absmax[i] - off));
    nested_absmax[g] = m;
    float inv = 1.0f / m;
    for (int64_t i = lo; i < hi; i++) q[i] = nf4::encode_dynamic(code, (absmax[i] - off) * inv);
  }
}

void nf4_dequantize_dq(int dtype, const uint8_t* packed, const uint8_t* absmax_q, const float* nested_absmax,
                       const float* code256, float offset, int64_t n, int64_t blocksize, void* out) {
  std::vector<float> absmax = decode_nested(absmax_q, nested_absmax, code256, offset, ceil_div(n, blocksize));
  JSW_DISPATCH_FLOAT(dtype, "jsw_nf4_dequantize_dq",
                     dequantize(packed, absmax.data(), n, blocksize, static_cast<T*>(out)));
}

}  // namespace cpu
}  // namespace jsw
