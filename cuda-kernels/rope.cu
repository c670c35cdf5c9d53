// RoPE on CUDA, the twin of native/src/cpu/rope.cpp (rotate-half; sign -1 is the backward's rotation by
// -angle). One block per token: its threads first fill a shared cos/sin table for the token's position (one
// sincosf per frequency, shared by all heads), then rotate every (head, i) pair of the token. sincosf is the
// precise libdevice routine (no fast-math intrinsics), so the tables match the CPU's cosf/sinf to an ulp or two.
// Both halves of a pair are read before they are written, so y may alias x.
#include "common.cuh"
#include "kernels/rope.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void rope_kernel(const T* x, const int32_t* __restrict__ positions, const float* __restrict__ inv_freq,
                            int64_t heads, int64_t half, float scaling, float sign, T* y) {
  extern __shared__ float table[];  // [0, half): cos, [half, 2 half): sin
  int64_t t = blockIdx.x;
  float pos = float(positions[t]);
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
    float s, c;
    sincosf(pos * inv_freq[i], &s, &c);
    table[i] = c * scaling;
    table[half + i] = sign * (s * scaling);
  }
  __syncthreads();
  int64_t head_dim = 2 * half;
  const T* xt = x + t * heads * head_dim;
  T* yt = y + t * heads * head_dim;
  // 32-bit index math: a token's pairs are few (checked by the launcher), and 64-bit division is slow.
  unsigned pairs = unsigned(heads * half), h32 = unsigned(half);
  for (unsigned p = threadIdx.x; p < pairs; p += blockDim.x) {
    unsigned h = p / h32, i = p - h * h32;
    const T* xr = xt + h * head_dim;
    T* yr = yt + h * head_dim;
    float a = to_f(xr[i]), b = to_f(xr[i + half]);
    float c = table[i], s = table[half + i];
    yr[i] = from_f<T>(a * c - b * s);
    yr[i + half] = from_f<T>(b * c + a * s);
  }
}

}  // namespace

void rope_rotate(int device, int dtype, const void* x, const int32_t* positions, const float* inv_freq,
                 int64_t tokens, int64_t heads, int64_t head_dim, float attention_scaling, float sin_sign, void* y) {
  cudaStream_t s = stream(device);
  int64_t half = head_dim / 2;
  int64_t pairs = heads * half;
  int threads = int(pairs < kThreads ? (pairs + 31) / 32 * 32 : kThreads);
  size_t shared = size_t(2 * half) * sizeof(float);
  if (shared > 48 * 1024 || pairs * 2 > INT32_MAX)
    fail(JSW_ERR_UNSUPPORTED, format("jsw_rope: %lld heads x head_dim %lld is too large for the CUDA kernel",
                                     (long long)heads, (long long)head_dim));
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_rope",
                          rope_kernel<T><<<unsigned(tokens), threads, shared, s>>>(
                              static_cast<const T*>(x), positions, inv_freq, heads, half, attention_scaling, sin_sign,
                              static_cast<T*>(y)));
  check_launch("rope_kernel");
}

}  // namespace cuda
}  // namespace jsw
