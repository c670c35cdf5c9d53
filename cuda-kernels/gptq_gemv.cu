// GPTQ dequant-GEMV on CUDA, the twin of native/src/cpu/gptq_gemv.cpp. qweight [in / p, out] has consecutive
// output channels side by side, so one thread per channel makes every packed-row read a coalesced warp load;
// x (rows * in values, a few KB) is read at the same address by a whole warp (a broadcast). A decode GEMV has
// few channels per thread block to spread, so the input dim is split too (grid.y): each split writes fp32
// partial sums [split, rows, out] and a second kernel adds them in split order with the bias: deterministic.
#include <algorithm>

#include "common.cuh"
#include "kernels/gptq.h"
#include "kernels/qmatmul.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kRows = int(qmatmul::kGptqGemvMaxRows);

template <class T>
__global__ void gptq_gemv_partial_kernel(const T* __restrict__ x, int rows, const int32_t* __restrict__ qweight,
                                         const int32_t* __restrict__ qzeros, const __half* __restrict__ scales,
                                         const int32_t* __restrict__ g_idx, int64_t out, int64_t in, int bits,
                                         int64_t groups, int64_t words_per_split, float* __restrict__ partial) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= out) return;  // no barrier below
  const int p = 32 / bits;
  const unsigned mask = (1u << bits) - 1u;
  const int64_t words_per_col = in / p, zero_words = out / p;
  const int64_t r0 = int64_t(blockIdx.y) * words_per_split;
  const int64_t r1 = r0 + words_per_split < words_per_col ? r0 + words_per_split : words_per_col;
  const int zshift = int(c % p) * bits;
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; r++) acc[r] = 0.0f;
  for (int64_t r = r0; r < r1; r++) {
    const unsigned word = unsigned(qweight[r * out + c]);
    for (int j = 0; j < p; j++) {
      const int64_t k = r * p + j;
      const int64_t g = g_idx[k];
      float w;
      if (g < 0 || g >= groups) {
        w = __int_as_float(0x7fc00000);  // as the dequantization: a bad group poisons, it cannot be reported
      } else {
        const int z = int(((unsigned(qzeros[g * zero_words + c / p]) >> zshift) + 1u) & mask);
        w = __fmul_rn(__half2float(scales[g * out + c]), float(int((word >> (bits * j)) & mask) - z));
      }
#pragma unroll
      for (int r2 = 0; r2 < kRows; r2++)
        if (r2 < rows) acc[r2] = fmaf(to_f(x[int64_t(r2) * in + k]), w, acc[r2]);
    }
  }
  for (int r2 = 0; r2 < rows; r2++) partial[(int64_t(blockIdx.y) * rows + r2) * out + c] = acc[r2];
}

template <class T>
__global__ void gptq_gemv_finish_kernel(const float* __restrict__ partial, int splits, int rows, int64_t out,
                                        const T* __restrict__ bias, T* __restrict__ y) {
  const int64_t n = int64_t(rows) * out;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float v = 0.0f;
    for (int s = 0; s < splits; s++) v += partial[int64_t(s) * n + i];
    y[i] = from_f<T>(v + (bias != nullptr ? to_f(bias[i % out]) : 0.0f));
  }
}

}  // namespace

void gptq_gemv(int device, int dtype, const void* x, int64_t rows, const int32_t* qweight, const int32_t* qzeros,
               const uint16_t* scales, const int32_t* g_idx, int64_t out, int64_t in, int bits, int64_t groups,
               const void* bias, void* y) {
  cudaStream_t s = stream(device);
  const int64_t words_per_col = in / (32 / bits);
  const int64_t grid_x = (out + kThreads - 1) / kThreads;
  require(grid_x <= int64_t(INT32_MAX), "jsw_gptq_gemv", "out_features = %lld is too large", (long long)out);
  // About 1024 thread blocks in all (several waves on 132 SMs), each split at least 8 packed rows long.
  int64_t splits = std::max<int64_t>(1, std::min<int64_t>(1024 / grid_x, words_per_col / 8));
  splits = std::min<int64_t>(splits, 65535);
  const int64_t words_per_split = (words_per_col + splits - 1) / splits;
  splits = (words_per_col + words_per_split - 1) / words_per_split;  // no empty split
  Scratch partial(device, splits * rows * out * int64_t(sizeof(float)));
  const dim3 grid(static_cast<unsigned>(grid_x), static_cast<unsigned>(splits));
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_gptq_gemv", {
    gptq_gemv_partial_kernel<T><<<grid, kThreads, 0, s>>>(
        static_cast<const T*>(x), int(rows), qweight, qzeros, reinterpret_cast<const __half*>(scales), g_idx, out, in,
        bits, groups, words_per_split, partial.as<float>());
    check_launch("gptq_gemv_partial_kernel");
    unsigned fgrid = blocks_for(rows * out, 256);
    gptq_gemv_finish_kernel<T><<<fgrid < 65535u ? fgrid : 65535u, 256, 0, s>>>(
        partial.as<float>(), int(splits), int(rows), out, static_cast<const T*>(bias), static_cast<T*>(y));
    check_launch("gptq_gemv_finish_kernel");
  });
}

}  // namespace cuda
}  // namespace jsw
