// AWQ dequantization on CUDA, the twin of native/src/cpu/awq_dequant.cpp: the same fp32 product (f16 scale times
// the integer q - zero) rounded once to the output dtype, so the twins agree bit for bit. One thread per packed
// word [k, j] (8 outputs of input k); consecutive threads take consecutive inputs k of one word column, so each
// of the 8 stores of a warp is one contiguous run of a dense [out, in] row (the stores are 8x the loads' words).
#include "common.cuh"
#include "kernels/awq.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxGrid = 1u << 20;  // grid-stride loops cover the rest

template <class T>
__global__ void awq_dequant_kernel(const int32_t* __restrict__ qweight, const int32_t* __restrict__ qzeros,
                                   const __half* __restrict__ scales, int64_t in, int64_t out, int64_t group_size,
                                   T* __restrict__ w) {
  const int64_t words = out / 8, total = words * in;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = t / in, k = t % in, g = k / group_size;
    const unsigned word = unsigned(qweight[k * words + j]), zword = unsigned(qzeros[g * words + j]);
    const __half* s = scales + g * out + j * 8;
#pragma unroll
    for (int m = 0; m < 8; m++) {
      // nibble of output 8j + m: the inverse of AutoAWQ's pack order {0, 2, 4, 6, 1, 3, 5, 7}
      const int shift = 4 * ((m >> 1) + 4 * (m & 1));
      const int q = int((word >> shift) & 15u), z = int((zword >> shift) & 15u);
      w[(j * 8 + m) * in + k] = from_f<T>(__fmul_rn(__half2float(s[m]), float(q - z)));
    }
  }
}

}  // namespace

void awq_dequantize(int device, int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                    int64_t in, int64_t out, int64_t group_size, void* w) {
  cudaStream_t s = stream(device);
  unsigned grid = blocks_for((out / 8) * in, kThreads);
  if (grid > kMaxGrid) grid = kMaxGrid;
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_awq_dequantize",
                          awq_dequant_kernel<T><<<grid, kThreads, 0, s>>>(
                              qweight, qzeros, reinterpret_cast<const __half*>(scales), in, out, group_size,
                              static_cast<T*>(w)));
  check_launch("awq_dequant_kernel");
}

}  // namespace cuda
}  // namespace jsw
