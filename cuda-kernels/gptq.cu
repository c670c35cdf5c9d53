// GPTQ dequantization on CUDA, the twin of native/src/cpu/gptq_dequant.cpp: same fp32 product (f16 scale times
// the integer q - ((stored zero + 1) & mask)), rounded once to the output dtype, so the twins agree bit for bit. One thread per
// packed word; consecutive threads take consecutive words of one output channel, so each warp writes one
// contiguous run of the dense [out, in] row (the stores are p times the loads' bytes, so they get coalescing).
// g_idx is read per input (act-order makes it non-monotone); an out-of-range group writes NaN.
#include "common.cuh"
#include "kernels/gptq.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxGrid = 1u << 20;  // grid-stride loops cover the rest

template <class T>
__global__ void gptq_dequant_kernel(const int32_t* __restrict__ qweight, const int32_t* __restrict__ qzeros,
                                    const __half* __restrict__ scales, const int32_t* __restrict__ g_idx,
                                    int64_t in, int64_t out, int bits, int64_t groups, T* __restrict__ w) {
  const int p = 32 / bits;
  const unsigned mask = (1u << bits) - 1u;
  const int64_t words_per_col = in / p, zero_words = out / p, total = words_per_col * out;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = t / words_per_col, r = t % words_per_col;
    const unsigned word = unsigned(qweight[r * out + c]);
    const int zshift = int(c % p) * bits;
    T* row = w + c * in + r * p;
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

}  // namespace

void gptq_dequantize(int device, int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                     const int32_t* g_idx, int64_t in, int64_t out, int bits, int64_t groups, void* w) {
  cudaStream_t s = stream(device);
  int64_t words = (in / (32 / bits)) * out;
  unsigned grid = blocks_for(words, kThreads);
  if (grid > kMaxGrid) grid = kMaxGrid;
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_gptq_dequantize",
                          gptq_dequant_kernel<T><<<grid, kThreads, 0, s>>>(
                              qweight, qzeros, reinterpret_cast<const __half*>(scales), g_idx, in, out, bits,
                              groups, static_cast<T*>(w)));
  check_launch("gptq_dequant_kernel");
}

}  // namespace cuda
}  // namespace jsw
