// Optimizer kernels on CUDA, the twins of native/src/cpu/optim.cpp.
//  - sumsq: grid-stride fp32 partials per thread, a block sum, one atomicAdd per block onto the device scalar
//    (so the global norm over many tensors accumulates on the device without a host sync);
//  - clip_coef: one thread (two scalars);
//  - adamw: one thread per element, the same operation order and host-computed scalars as the CPU twin.
#include "common.cuh"
#include "kernels/optim.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void sumsq_kernel(const T* __restrict__ x, int64_t n, float* __restrict__ acc) {
  __shared__ float scratch[32];
  float s = 0.0f;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float v = to_f(x[i]);
    s += v * v;
  }
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) atomicAdd(acc, s);
}

__global__ void clip_coef_kernel(const float* __restrict__ sumsq, float max_norm, float* __restrict__ norm,
                                 float* __restrict__ coef) {
  float nrm = sqrtf(*sumsq);
  float c = 1.0f;
  if (max_norm > 0.0f) {
    c = max_norm / (nrm + 1e-6f);
    c = c > 1.0f ? 1.0f : c;
  }
  *norm = nrm;
  *coef = c;
}

template <class C>
__global__ void adamw_kernel(float* __restrict__ p, const float* __restrict__ grad, float* __restrict__ m,
                             float* __restrict__ v, int64_t n, AdamWScalars k, const float* __restrict__ grad_scale,
                             C* __restrict__ copy, const AdamWScalars* __restrict__ k_dev = nullptr) {
  if (k_dev != nullptr) k = *k_dev;  // jsw_adamw_step_dev: this step's scalars, written before a graph replay
  float scale = grad_scale != nullptr ? *grad_scale : 1.0f;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float g = grad[i] * scale;
    float pi = p[i] * k.decay;
    float mi = m[i] * k.beta1 + k.one_minus_beta1 * g;
    float vi = v[i] * k.beta2 + (k.one_minus_beta2 * g) * g;
    float denom = sqrtf(vi) / k.bias2_sqrt + k.eps;
    pi = pi + (-k.step_size * mi) / denom;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi;
    if (copy != nullptr) copy[i] = from_f<C>(pi);
  }
}

unsigned grid_for(int64_t n) {
  unsigned g = blocks_for(n, kThreads);
  return g < 4096u ? (g > 0 ? g : 1u) : 4096u;
}

}  // namespace

void sumsq(int device, int dtype, const void* x, int64_t n, float* acc) {
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_sumsq",
                          sumsq_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(x), n, acc));
  check_launch("sumsq_kernel");
}

void clip_coef(int device, const float* sumsq, float max_norm, float* norm, float* coef) {
  clip_coef_kernel<<<1, 1, 0, stream(device)>>>(sumsq, max_norm, norm, coef);
  check_launch("clip_coef_kernel");
}

void adamw_step(int device, float* param, const float* grad, float* m, float* v, int64_t n, const AdamWScalars& k,
                const float* grad_scale, int copy_dtype, void* param_copy) {
  cudaStream_t s = stream(device);
  if (param_copy == nullptr) {
    adamw_kernel<float><<<grid_for(n), kThreads, 0, s>>>(param, grad, m, v, n, k, grad_scale, nullptr);
  } else {
    JSW_CUDA_DISPATCH_FLOAT(copy_dtype, "jsw_adamw_step",
                            adamw_kernel<T><<<grid_for(n), kThreads, 0, s>>>(param, grad, m, v, n, k, grad_scale,
                                                                             static_cast<T*>(param_copy)));
  }
  check_launch("adamw_kernel");
}

void adamw_step_dev(int device, float* param, const float* grad, float* m, float* v, int64_t n,
                    const AdamWScalars* scalars, const float* grad_scale, int copy_dtype, void* param_copy) {
  cudaStream_t s = stream(device);
  AdamWScalars unused{};  // replaced by *scalars in the kernel
  if (param_copy == nullptr) {
    adamw_kernel<float><<<grid_for(n), kThreads, 0, s>>>(param, grad, m, v, n, unused, grad_scale, nullptr, scalars);
  } else {
    JSW_CUDA_DISPATCH_FLOAT(copy_dtype, "jsw_adamw_step_dev",
                            adamw_kernel<T><<<grid_for(n), kThreads, 0, s>>>(param, grad, m, v, n, unused, grad_scale,
                                                                             static_cast<T*>(param_copy), scalars));
  }
  check_launch("adamw_kernel");
}

}  // namespace cuda
}  // namespace jsw
