// Pointwise activations (contract: jsw_activation_fwd / jsw_activation_bwd in jswift.h) and their derivatives,
// written once for both twins: the CPU loop and the CUDA kernel call the same inline functions, in fp32.
#pragma once

#include <cmath>
#include <cstdint>

#include "jswift/jswift.h"

#if defined(__CUDACC__)
#define JSW_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define JSW_HOST_DEVICE inline
#endif

namespace jsw {

inline bool valid_activation(int kind) { return kind >= JSW_ACT_GELU && kind <= JSW_ACT_SIGMOID; }

namespace act {

constexpr float kSqrtHalf = 0.70710678118654752f;      // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;    // 1 / sqrt(2 pi)
constexpr float kSqrt2OverPi = 0.79788456080286536f;   // sqrt(2 / pi)
constexpr float kTanhCubic = 0.044715f;
constexpr float kQuickGelu = 1.702f;

JSW_HOST_DEVICE float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

JSW_HOST_DEVICE float forward(int kind, float x) {
  switch (kind) {
    case JSW_ACT_GELU: return 0.5f * x * (1.0f + erff(x * kSqrtHalf));
    case JSW_ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + kTanhCubic * x * x * x)));
    case JSW_ACT_RELU: return x > 0.0f ? x : (x == x ? 0.0f : x);  // NaN stays NaN
    case JSW_ACT_SILU: return x * sigmoid(x);
    case JSW_ACT_QUICK_GELU: return x * sigmoid(kQuickGelu * x);
    case JSW_ACT_TANH: return tanhf(x);
    default: return sigmoid(x);
  }
}

// d act / dx at x.
JSW_HOST_DEVICE float derivative(int kind, float x) {
  switch (kind) {
    case JSW_ACT_GELU:  // Phi(x) + x phi(x)
      return 0.5f * (1.0f + erff(x * kSqrtHalf)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
    case JSW_ACT_GELU_TANH: {
      float t = tanhf(kSqrt2OverPi * (x + kTanhCubic * x * x * x));
      return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kTanhCubic * x * x);
    }
    case JSW_ACT_RELU: return x > 0.0f ? 1.0f : (x == x ? 0.0f : x);
    case JSW_ACT_SILU: {
      float s = sigmoid(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case JSW_ACT_QUICK_GELU: {
      float s = sigmoid(kQuickGelu * x);
      return s + kQuickGelu * x * s * (1.0f - s);
    }
    case JSW_ACT_TANH: {
      float t = tanhf(x);
      return 1.0f - t * t;
    }
    default: {
      float s = sigmoid(x);
      return s * (1.0f - s);
    }
  }
}

}  // namespace act

namespace cpu {
void activation_fwd(int dtype, int kind, const void* x, int64_t n, void* y);
void activation_bwd(int dtype, int kind, const void* x, const void* dy, int64_t n, void* dx);
}  // namespace cpu
namespace cuda {
void activation_fwd(int device, int dtype, int kind, const void* x, int64_t n, void* y);
void activation_bwd(int device, int dtype, int kind, const void* x, const void* dy, int64_t n, void* dx);
}  // namespace cuda
}  // namespace jsw
