// Pointwise activations on CUDA, the twin of native/src/cpu/activation.cpp: a grid-stride pass evaluating the
// same functions (kernels/activation.h) in fp32 with the precise erff / tanhf / expf.
#include "common.cuh"
#include "kernels/activation.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void activation_fwd_kernel(int kind, const T* x, int64_t n, T* y) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f<T>(act::forward(kind, to_f(x[i])));
}

template <class T>
__global__ void activation_bwd_kernel(int kind, const T* x, const T* dy, int64_t n, T* dx) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = from_f<T>(to_f(dy[i]) * act::derivative(kind, to_f(x[i])));
}

unsigned grid_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  return unsigned(blocks < 65536 ? blocks : 65536);
}

}  // namespace

void activation_fwd(int device, int dtype, int kind, const void* x, int64_t n, void* y) {
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_activation_fwd",
                          activation_fwd_kernel<T><<<grid_for(n), kThreads, 0, s>>>(
                              kind, static_cast<const T*>(x), n, static_cast<T*>(y)));
  check_launch("activation_fwd_kernel");
}

void activation_bwd(int device, int dtype, int kind, const void* x, const void* dy, int64_t n, void* dx) {
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_activation_bwd",
                          activation_bwd_kernel<T><<<grid_for(n), kThreads, 0, s>>>(
                              kind, static_cast<const T*>(x), static_cast<const T*>(dy), n, static_cast<T*>(dx)));
  check_launch("activation_bwd_kernel");
}

}  // namespace cuda
}  // namespace jsw
