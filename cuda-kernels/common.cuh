// Shared device helpers: storage-type conversion (fp32 math on bf16/f16/f32 storage), warp/block reductions,
// and the dtype dispatch used by every launcher.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <type_traits>

#include "cuda/runtime.h"

namespace jsw {
namespace cuda {

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }

template <class T>
__device__ __forceinline__ T from_f(float x);
template <>
__device__ __forceinline__ float from_f<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ __half from_f<__half>(float x) {
  return __float2half_rn(x);
}

// Eight consecutive values as floats, from one 16-byte load (two for fp32); p 16-byte aligned.
__device__ __forceinline__ void load8(const float* p, float (&v)[8]) {
  float4 a = *reinterpret_cast<const float4*>(p), b = *reinterpret_cast<const float4*>(p + 4);
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
__device__ __forceinline__ float2 to_f2(__nv_bfloat162 h) { return __bfloat1622float2(h); }
__device__ __forceinline__ float2 to_f2(__half2 h) { return __half22float2(h); }
// 16-bit storage: one 16-byte load holds the 8 values as 4 pairs (T2: bf16 / f16 pairs).
template <class T2, class T>
__device__ __forceinline__ void load8_pairs(const T* p, float (&v)[8]) {
  uint4 u = *reinterpret_cast<const uint4*>(p);
  const T2* h = reinterpret_cast<const T2*>(&u);
#pragma unroll
  for (int k = 0; k < 4; k++) {
    float2 f = to_f2(h[k]);
    v[2 * k] = f.x, v[2 * k + 1] = f.y;
  }
}
__device__ __forceinline__ void load8(const __nv_bfloat16* p, float (&v)[8]) { load8_pairs<__nv_bfloat162>(p, v); }
__device__ __forceinline__ void load8(const __half* p, float (&v)[8]) { load8_pairs<__half2>(p, v); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block; every thread gets the result. `scratch` holds 32 floats of shared memory.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  int nwarps = (blockDim.x + 31) >> 5;
  v = lane < nwarps ? scratch[lane] : 0.0f;
  return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  int nwarps = (blockDim.x + 31) >> 5;
  v = lane < nwarps ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

// N consecutive values of T in registers, loaded and stored as one 16-byte access when N * sizeof(T) == 16
// (the pointer then 16-byte aligned), else one access a value: an element-wise kernel written over Vec<T, N>
// serves its vector path (N = 16 / sizeof(T)) and its any-alignment path (N = 1) with one body.
template <class T, int N>
struct Vec {
  static constexpr bool kWide = N * sizeof(T) == 16;
  alignas(kWide ? 16 : alignof(T)) T v[N];
  __device__ __forceinline__ void load(const T* p) {
    if constexpr (kWide) {
      *reinterpret_cast<uint4*>(v) = *reinterpret_cast<const uint4*>(p);
    } else {
#pragma unroll
      for (int i = 0; i < N; i++) v[i] = p[i];
    }
  }
  __device__ __forceinline__ void store(T* p) const {
    if constexpr (kWide) {
      *reinterpret_cast<uint4*>(p) = *reinterpret_cast<const uint4*>(v);
    } else {
#pragma unroll
      for (int i = 0; i < N; i++) p[i] = v[i];
    }
  }
  __device__ __forceinline__ float operator[](int i) const { return to_f(v[i]); }
  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < N; i++) v[i] = from_f<T>(0.0f);
  }
};

// Whether every pointer is 16-byte aligned (the Vec<T, 16 / sizeof(T)> path applies).
inline bool aligned16(std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// A before / after switch of a kernel path (native/README.md, "Switches"): environment variable `name` equals
// `value`. Read at each call, so one process (a benchmark) can time both paths.
inline bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, value) == 0;
}

// Calls f(std::integral_constant<int, R>{}) with R = rows rounded up to a power of two, at most kMaxRows: the
// decode GEMVs hold one accumulator set per input row in registers, so the row count is a template parameter
// and a kernel is built for 1, 2, 4, ... kMaxRows rows (rows <= kMaxRows, checked by the C API).
template <int kMaxRows, class F>
void with_row_count(int64_t rows, F f) {
  static_assert(kMaxRows == 4 || kMaxRows == 8, "instances for 1, 2, 4 (and 8) rows");
  if (rows == 1) f(std::integral_constant<int, 1>{});
  else if (rows == 2) f(std::integral_constant<int, 2>{});
  else if (kMaxRows == 4 || rows <= 4) f(std::integral_constant<int, 4>{});
  else f(std::integral_constant<int, kMaxRows>{});
}

// log2(v) when v is a power of two (a block index is then a shift), else -1.
inline int log2_or_minus_one(int64_t v) {
  if (v <= 0 || (v & (v - 1)) != 0) return -1;
  int shift = 0;
  while ((int64_t(1) << shift) < v) shift++;
  return shift;
}

}  // namespace cuda
}  // namespace jsw

// Runs the statements with `T` bound to the CUDA storage type of `dtype`.
#define JSW_CUDA_DISPATCH_FLOAT(dtype, op, ...)                                        \
  switch (dtype) {                                                                     \
    case JSW_F32: { using T = float; __VA_ARGS__; break; }                             \
    case JSW_BF16: { using T = __nv_bfloat16; __VA_ARGS__; break; }                    \
    case JSW_F16: { using T = __half; __VA_ARGS__; break; }                            \
    default: ::jsw::require_float_dtype(dtype, op);                                    \
  }
