// GPTQ dequantization on CUDA, the twin of native/src/cpu/gptq_dequant.cpp: same fp32 product (f16 scale times
// the integer q - ((stored zero + 1) & mask)), rounded once to the output dtype, so the twins agree bit for bit. One thread per
// packed word; consecutive threads take consecutive words of one output channel, so each warp writes one
// contiguous run of the dense [out, in] row (the stores are p times the loads' bytes, so they get coalescing).
// g_idx is read per input (act-order makes it non-monotone); an out-of-range group writes NaN.
#include "common.cuh"
#include "gptq_rows.cuh"
#include "kernels/gptq.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxGrid = 1u << 20;  // grid-stride loops cover the rest

}  // namespace

void gptq_dequantize(int device, int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                     const int32_t* g_idx, int64_t in, int64_t out, int bits, int64_t groups, void* w) {
  cudaStream_t s = stream(device);
  int64_t words = (in / (32 / bits)) * out;
  unsigned grid = blocks_for(words, kThreads);
  if (grid > kMaxGrid) grid = kMaxGrid;
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_gptq_dequantize",
                          gptq_rows_kernel<T><<<grid, kThreads, 0, s>>>(
                              qweight, qzeros, reinterpret_cast<const __half*>(scales), g_idx, in, out, bits,
                              groups, int64_t(0), out, static_cast<T*>(w)));
  check_launch("gptq_rows_kernel");
}

}  // namespace cuda
}  // namespace jsw
