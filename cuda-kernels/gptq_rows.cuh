// The GPTQ dequantization of output channels [r0, r1) into tile [r1 - r0, in] (row c - r0 holds channel c), the
// twin of jsw::cpu's: shared by the whole-weight dequantization (gptq.cu: r0 = 0, r1 = out) and the tile GEMM's
// panels (qmatmul.cu). One thread per packed word; consecutive threads take consecutive words of one channel, so
// a warp writes a contiguous run of a tile row. g_idx is read per input (act-order makes it non-monotone); an
// out-of-range group gives NaN.
#pragma once

#include <cstdint>

#include "common.cuh"

namespace jsw {
namespace cuda {

template <class T>
__global__ void gptq_rows_kernel(const int32_t* __restrict__ qweight, const int32_t* __restrict__ qzeros,
                                 const __half* __restrict__ scales, const int32_t* __restrict__ g_idx, int64_t in,
                                 int64_t out, int bits, int64_t groups, int64_t r0, int64_t r1,
                                 T* __restrict__ tile) {
  const int p = 32 / bits;
  const unsigned mask = (1u << bits) - 1u;
  const int64_t words_per_col = in / p, zero_words = out / p, total = words_per_col * (r1 - r0);
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = r0 + t / words_per_col, r = t % words_per_col;
    const unsigned word = unsigned(qweight[r * out + c]);
    const int zshift = int(c % p) * bits;
    T* row = tile + (c - r0) * in + r * p;
    for (int j = 0; j < p; j++) {
      const int64_t g = g_idx[r * p + j];
      float v;
      if (g < 0 || g >= groups) {
        v = __int_as_float(0x7fc00000);
      } else {
        const int q = int((word >> (bits * j)) & mask);
        const int z = int(((unsigned(qzeros[g * zero_words + c / p]) >> zshift) + 1u) & mask);
        v = __fmul_rn(__half2float(scales[g * out + c]), float(q - z));
      }
      row[j] = from_f<T>(v);
    }
  }
}

}  // namespace cuda
}  // namespace jsw
