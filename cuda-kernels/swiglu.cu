// SwiGLU on CUDA, the twin of native/src/cpu/swiglu.cpp: a grid-stride elementwise pass, fp32 math with the
// precise expf (not __expf), so it agrees with the CPU to a few ulp.
#include "common.cuh"
#include "kernels/swiglu.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

template <class T>
__global__ void swiglu_fwd_kernel(const T* gate, const T* up, int64_t n, T* out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float g = to_f(gate[i]);
    out[i] = from_f<T>(g * sigmoid(g) * to_f(up[i]));
  }
}

template <class T>
__global__ void swiglu_bwd_kernel(const T* dout, const T* gate, const T* up, int64_t n, T* dgate, T* dup) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float g = to_f(gate[i]), u = to_f(up[i]), d = to_f(dout[i]);
    float s = sigmoid(g);
    float silu = g * s;
    dgate[i] = from_f<T>(d * u * (s * (1.0f + g * (1.0f - s))));
    dup[i] = from_f<T>(d * silu);
  }
}

unsigned grid_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  return unsigned(blocks < 65536 ? blocks : 65536);
}

}  // namespace

void swiglu_fwd(int device, int dtype, const void* gate, const void* up, int64_t n, void* out) {
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_swiglu_fwd",
                          swiglu_fwd_kernel<T><<<grid_for(n), kThreads, 0, s>>>(
                              static_cast<const T*>(gate), static_cast<const T*>(up), n, static_cast<T*>(out)));
  check_launch("swiglu_fwd_kernel");
}

void swiglu_bwd(int device, int dtype, const void* dout, const void* gate, const void* up, int64_t n, void* dgate,
                void* dup) {
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_swiglu_bwd",
                          swiglu_bwd_kernel<T><<<grid_for(n), kThreads, 0, s>>>(
                              static_cast<const T*>(dout), static_cast<const T*>(gate), static_cast<const T*>(up), n,
                              static_cast<T*>(dgate), static_cast<T*>(dup)));
  check_launch("swiglu_bwd_kernel");
}

}  // namespace cuda
}  // namespace jsw
