// NF4 dequant-GEMV on the CPU: OpenMP over output rows; each row's weight is decoded 64 values at a time into a
// stack buffer of codebook levels (one absmax block or less, so the scale is one multiply per chunk), and every
// input row takes a vectorised fp32 dot product with it. The packed weight is streamed once per call whatever
// the number of input rows, which is what makes decode (1..few rows) memory-bound rather than compute-bound.
#include <algorithm>
#include <vector>

#include <omp.h>

#include "core/dtype.h"
#include "kernels/nf4.h"
#include "kernels/nf4_codes.h"
#include "kernels/nf4_gemv.h"

namespace jsw {
namespace cpu {

namespace {

constexpr float kNf4[16] = {JSW_NF4_CODEBOOK};
constexpr int64_t kChunk = 64;

template <class T>
void gemv(const T* x, int64_t rows, int64_t in, const uint8_t* packed, const float* absmax, int64_t out_features,
          int64_t blocksize, const T* bias, T* y) {
  // The input is tiny next to the weight (rows * in values): convert it to fp32 once.
  std::vector<float> xf(size_t(rows * in));
  for (int64_t i = 0; i < rows * in; i++) xf[size_t(i)] = to_float(x[i]);
  const float* xs = xf.data();
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < out_features; o++) {
    float acc[nf4::kGemvMaxRows] = {};
    float w[kChunk];
    const int64_t e0 = o * in;  // flat index of this row's first weight element
    for (int64_t i = 0; i < in;) {
      int64_t e = e0 + i, b = e / blocksize;
      int64_t len = std::min({in - i, kChunk, (b + 1) * blocksize - e});  // stays inside block b
      if (e % 2 == 0) {
        const uint8_t* p = packed + e / 2;
#pragma omp simd
        for (int64_t j = 0; j < len; j++) w[j] = kNf4[(p[j >> 1] >> ((1 - (j & 1)) * 4)) & 15];
      } else {
        // The row (or chunk) starts on a low nibble: odd `in` puts every other row there.
#pragma omp simd
        for (int64_t j = 0; j < len; j++) {
          int64_t k = e + j;
          w[j] = kNf4[(packed[k >> 1] >> ((1 - (k & 1)) * 4)) & 15];
        }
      }
      const float s = absmax[b];
      for (int64_t r = 0; r < rows; r++) {
        const float* xr = xs + r * in + i;
        float d = 0.0f;
#pragma omp simd reduction(+ : d)
        for (int64_t j = 0; j < len; j++) d += xr[j] * w[j];
        acc[r] += d * s;
      }
      i += len;
    }
    float bo = bias == nullptr ? 0.0f : to_float(bias[o]);
    for (int64_t r = 0; r < rows; r++) y[r * out_features + o] = from_float<T>(acc[r] + bo);
  }
}

}  // namespace

void nf4_decode_nested(const uint8_t* q, const float* nested, const float* code256, float offset, int64_t blocks,
                       float* absmax) {
  // volatile: keeps GCC from fusing the product and the sum into an FMA (bitsandbytes rounds both).
#pragma omp parallel for schedule(static) if (blocks > 65536)
  for (int64_t b = 0; b < blocks; b++) {
    volatile float scaled = code256[q[b]] * nested[b / nf4::kNestedBlock];
    absmax[b] = scaled + offset;
  }
}

void nf4_gemv(int dtype, const void* x, int64_t rows, int64_t in, const uint8_t* packed, const float* absmax,
              int64_t out_features, int64_t blocksize, const void* bias, void* y) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_nf4_gemv",
                     gemv(static_cast<const T*>(x), rows, in, packed, absmax, out_features, blocksize,
                          static_cast<const T*>(bias), static_cast<T*>(y)));
}

}  // namespace cpu
}  // namespace jsw
