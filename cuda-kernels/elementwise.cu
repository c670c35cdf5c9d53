// Elementwise helpers on CUDA, twins of native/src/cpu/elementwise.cpp.
#include "common.cuh"
#include "kernels/elementwise.h"

namespace jsw {
namespace cuda {

namespace {
constexpr int kThreads = 256;

template <class S, class D>
__global__ void cast_kernel(const S* __restrict__ src, D* __restrict__ dst, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = from_f<D>(to_f(src[i]));
}

template <class T>
__global__ void fill_kernel(T* __restrict__ x, float value, int64_t n) {
  T v = from_f<T>(value);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x[i] = v;
}

template <class T>
__global__ void axpby_kernel(int64_t n, float a, const T* __restrict__ x, float b, T* __restrict__ y) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float r = a * to_f(x[i]);
    if (b != 0.0f) r += b * to_f(y[i]);
    y[i] = from_f<T>(r);
  }
}

template <class T>
__global__ void add_bias_kernel(T* __restrict__ y, const T* __restrict__ bias, int64_t rows, int64_t cols) {
  int64_t n = rows * cols;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f<T>(to_f(y[i]) + to_f(bias[i % cols]));
}

// Thread = column (coalesced across a row), a slice of rows per blockIdx.y, one atomicAdd per column and slice.
template <class T>
__global__ void sum_rows_kernel(const T* __restrict__ dy, int64_t rows, int64_t cols, int64_t rows_per_block,
                                float* __restrict__ dbias) {
  int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  int64_t r0 = int64_t(blockIdx.y) * rows_per_block, r1 = min(rows, r0 + rows_per_block);
  float acc = 0.0f;
  for (int64_t r = r0; r < r1; r++) acc += to_f(dy[r * cols + c]);
  atomicAdd(dbias + c, acc);
}

unsigned grid_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  return unsigned(blocks < 65536 ? blocks : 65536);
}
}  // namespace

void cast(int device, int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n) {
  if (n == 0) return;
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(src_dtype, "jsw_cast", {
    using S = T;
    JSW_CUDA_DISPATCH_FLOAT(dst_dtype, "jsw_cast",
                            cast_kernel<S, T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const S*>(src),
                                                                               static_cast<T*>(dst), n));
  });
  check_launch("cast_kernel");
}

void fill(int device, int dtype, void* x, float value, int64_t n) {
  if (n == 0) return;
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_fill",
                          fill_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<T*>(x), value, n));
  check_launch("fill_kernel");
}

void axpby(int device, int dtype, int64_t n, float a, const void* x, float b, void* y) {
  if (n == 0) return;
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_axpby",
                          axpby_kernel<T><<<grid_for(n), kThreads, 0, s>>>(n, a, static_cast<const T*>(x), b,
                                                                           static_cast<T*>(y)));
  check_launch("axpby_kernel");
}

void add_bias(int device, int dtype, void* y, const void* bias, int64_t rows, int64_t cols) {
  if (rows * cols == 0) return;
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_add_bias",
                          add_bias_kernel<T><<<grid_for(rows * cols), kThreads, 0, s>>>(
                              static_cast<T*>(y), static_cast<const T*>(bias), rows, cols));
  check_launch("add_bias_kernel");
}

void sum_rows(int device, int dtype, const void* dy, int64_t rows, int64_t cols, float* dbias) {
  if (rows * cols == 0) return;
  cudaStream_t s = stream(device);
  int64_t rows_per_block = 256;
  dim3 grid(blocks_for(cols, kThreads), unsigned((rows + rows_per_block - 1) / rows_per_block));
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_sum_rows",
                          sum_rows_kernel<T><<<grid, kThreads, 0, s>>>(static_cast<const T*>(dy), rows, cols,
                                                                        rows_per_block, dbias));
  check_launch("sum_rows_kernel");
}

}  // namespace cuda
}  // namespace jsw
