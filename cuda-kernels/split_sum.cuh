// The second pass of a GEMV split along its inputs (gptq_gemv.cu, awq.cu, nf4_mma.cu): each split wrote fp32
// partial sums [split, rows, out]; y = their sum in split order (deterministic, whatever the scheduling) + bias
// + beta y, rounded to T (beta = 0: y's old contents, possibly NaN, are not read).
#pragma once

#include "common.cuh"

namespace jsw {
namespace cuda {
namespace {

template <class T>
__global__ void sum_splits_kernel(const float* __restrict__ partial, int splits, int rows, int64_t out,
                                  const T* __restrict__ bias, float beta, T* __restrict__ y) {
  const int64_t n = int64_t(rows) * out;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float v = 0.0f;
    for (int s = 0; s < splits; s++) v += partial[int64_t(s) * n + i];
    v += bias != nullptr ? to_f(bias[i % out]) : 0.0f;
    y[i] = from_f<T>(beta == 0.0f ? v : v + beta * to_f(y[i]));
  }
}

template <class T>
void sum_splits(cudaStream_t s, const float* partial, int64_t splits, int64_t rows, int64_t out, const T* bias,
                T* y, float beta = 0.0f) {
  const unsigned grid = blocks_for(rows * out, 256);
  sum_splits_kernel<T><<<grid < 65535u ? grid : 65535u, 256, 0, s>>>(partial, int(splits), int(rows), out, bias, beta,
                                                                            y);
  check_launch("sum_splits_kernel");
}

}  // namespace
}  // namespace cuda
}  // namespace jsw
