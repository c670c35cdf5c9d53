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

}  // namespace cuda
}  // namespace jsw
