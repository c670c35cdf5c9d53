// NF4 on CUDA, the twin of native/src/cpu/nf4.cpp. The codes come from the same encoders (kernels/nf4_codes.h)
// applied to the same fp32 values, with every rounding step spelled as an _rn intrinsic so no compiler flag
// (fast math, FMA contraction) can change a code: CPU and GPU codes are bit-identical.
//  - quantize: one block per quantization block for the absmax (a block max is exact, so order-free), then one
//    thread per packed byte;
//  - dequantize: one thread per packed byte, the 16 levels in shared memory (a constant-memory lookup would
//    serialise the 16 distinct addresses of a warp);
//  - double quantization: fp64 group sums and their fp64 total in the CPU twin's order (one thread each), so
//    the offset, and with it every 8-bit code, matches the CPU bit for bit.
#include "common.cuh"
#include "kernels/nf4.h"
#include "kernels/nf4_codes.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxGrid = 1u << 20;  // grid-stride loops cover the rest

__constant__ float kNf4[16] = {JSW_NF4_CODEBOOK};

struct DynamicMap {
  float v[256];
};

unsigned grid_for(int64_t items, int threads) {
  unsigned g = blocks_for(items, threads);
  return g < kMaxGrid ? g : kMaxGrid;
}

template <class T>
__global__ void absmax_kernel(const T* __restrict__ x, int64_t n, int64_t blocksize, float* __restrict__ absmax) {
  __shared__ float scratch[32];
  int64_t blocks = (n + blocksize - 1) / blocksize;
  for (int64_t b = blockIdx.x; b < blocks; b += gridDim.x) {
    int64_t lo = b * blocksize, hi = min(n, lo + blocksize);
    float m = 0.0f;
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) m = fmaxf(m, fabsf(to_f(x[i])));
    m = block_max(m, scratch);
    if (threadIdx.x == 0) absmax[b] = m;
  }
}

template <class T>
__global__ void nf4_encode_kernel(const T* __restrict__ x, int64_t n, int64_t blocksize,
                                  const float* __restrict__ absmax, uint8_t* __restrict__ packed) {
  int64_t bytes = (n + 1) / 2;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < bytes; k += int64_t(gridDim.x) * blockDim.x) {
    int64_t i = 2 * k;
    float inv = __fdiv_rn(1.0f, absmax[i / blocksize]);
    int hi = nf4::encode_nf4(__fmul_rn(to_f(x[i]), inv));
    float second = 0.0f;  // the pad of an odd n: a zero of the last element's block, as bitsandbytes loads it
    if (i + 1 < n) {
      second = to_f(x[i + 1]);
      inv = __fdiv_rn(1.0f, absmax[(i + 1) / blocksize]);
    }
    packed[k] = uint8_t((hi << 4) | nf4::encode_nf4(__fmul_rn(second, inv)));
  }
}

template <class T>
__global__ void nf4_decode_kernel(const uint8_t* __restrict__ packed, const float* __restrict__ absmax, int64_t n,
                                  int64_t blocksize, T* __restrict__ out) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4[threadIdx.x];
  __syncthreads();
  int64_t bytes = (n + 1) / 2;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < bytes; k += int64_t(gridDim.x) * blockDim.x) {
    uint8_t byte = packed[k];
    int64_t i = 2 * k;
    out[i] = from_f<T>(__fmul_rn(lut[byte >> 4], absmax[i / blocksize]));
    if (i + 1 < n) out[i + 1] = from_f<T>(__fmul_rn(lut[byte & 15], absmax[(i + 1) / blocksize]));
  }
}

// Recovered absmax = code[q] * nested + offset, rounded after the product and after the sum (no FMA), as
// bitsandbytes computes it and as the CPU twin does.
__global__ void nested_decode_kernel(const uint8_t* __restrict__ q, const float* __restrict__ nested,
                                     const float* __restrict__ code256, float offset, int64_t blocks,
                                     float* __restrict__ absmax) {
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += int64_t(gridDim.x) * blockDim.x)
    absmax[b] = __fadd_rn(__fmul_rn(code256[q[b]], nested[b / nf4::kNestedBlock]), offset);
}

__global__ void group_sum_kernel(const float* __restrict__ a, int64_t n, int64_t groups, double* __restrict__ partial) {
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += int64_t(gridDim.x) * blockDim.x) {
    double s = 0.0;
    int64_t hi = min(n, (g + 1) * nf4::kNestedBlock);
    for (int64_t i = g * nf4::kNestedBlock; i < hi; i++) s = __dadd_rn(s, double(a[i]));
    partial[g] = s;
  }
}

// One thread, in order: a few thousand additions for the largest layers.
__global__ void mean_kernel(const double* __restrict__ partial, int64_t groups, int64_t n, float* __restrict__ offset) {
  double total = 0.0;
  for (int64_t g = 0; g < groups; g++) total = __dadd_rn(total, partial[g]);
  *offset = __double2float_rn(__ddiv_rn(total, double(n)));
}

// One block of 256 threads per group of 256 absmax values.
__global__ void absmax_8bit_kernel(const float* __restrict__ a, int64_t n, const float* __restrict__ offset,
                                   DynamicMap map, uint8_t* __restrict__ q, float* __restrict__ nested) {
  __shared__ float code[256];
  __shared__ float scratch[32];
  code[threadIdx.x] = map.v[threadIdx.x];
  __syncthreads();
  float off = *offset;
  int64_t i = int64_t(blockIdx.x) * nf4::kNestedBlock + threadIdx.x;
  float v = i < n ? __fsub_rn(a[i], off) : 0.0f;
  float m = block_max(fabsf(v), scratch);
  if (threadIdx.x == 0) nested[blockIdx.x] = m;
  float inv = __fdiv_rn(1.0f, m);
  if (i < n) q[i] = nf4::encode_dynamic(code, __fmul_rn(v, inv));
}

}  // namespace

void nf4_quantize(int device, int dtype, const void* x, int64_t n, int64_t blocksize, uint8_t* packed,
                  float* absmax) {
  cudaStream_t s = stream(device);
  int64_t blocks = (n + blocksize - 1) / blocksize;
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_nf4_quantize", {
    absmax_kernel<T><<<grid_for(blocks, 1), kThreads, 0, s>>>(static_cast<const T*>(x), n, blocksize, absmax);
    check_launch("absmax_kernel");
    nf4_encode_kernel<T><<<grid_for((n + 1) / 2, kThreads), kThreads, 0, s>>>(static_cast<const T*>(x), n,
                                                                              blocksize, absmax, packed);
    check_launch("nf4_encode_kernel");
  });
}

// The memory-bound fast path: each thread turns 8 packed bytes (one 8-byte load) into 16 values written with
// 16-byte stores, all 16 in one absmax block (blocksize is a multiple of 16). Same fp32 products as
// nf4_decode_kernel, so the results are bit-identical; the byte-per-thread kernel reached 30% of the copy
// bandwidth on an H100, this one is meant to run at the copy rate.
template <class T>
__global__ void nf4_decode16_kernel(const uint2* __restrict__ packed, const float* __restrict__ absmax, int64_t groups,
                                    int64_t blocksize, T* __restrict__ out) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4[threadIdx.x];
  __syncthreads();
  constexpr int kVecs = int(sizeof(T));  // 16 values of T = sizeof(T) 16-byte vectors
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += int64_t(gridDim.x) * blockDim.x) {
    uint2 w = packed[g];
    float scale = absmax[(g * 16) / blocksize];
    union {
      T v[16];
      uint4 q[kVecs];
    } vals;
#pragma unroll
    for (int j = 0; j < 8; j++) {
      unsigned byte = ((j < 4 ? w.x : w.y) >> (8 * (j & 3))) & 0xffu;
      vals.v[2 * j] = from_f<T>(__fmul_rn(lut[byte >> 4], scale));
      vals.v[2 * j + 1] = from_f<T>(__fmul_rn(lut[byte & 15u], scale));
    }
    uint4* dst = reinterpret_cast<uint4*>(out + g * 16);
#pragma unroll
    for (int k = 0; k < kVecs; k++) dst[k] = vals.q[k];
  }
}

void nf4_dequantize(int device, int dtype, const uint8_t* packed, const float* absmax, int64_t n, int64_t blocksize,
                    void* out) {
  cudaStream_t s = stream(device);
  bool vectorized = n % 16 == 0 && blocksize % 16 == 0 && reinterpret_cast<uintptr_t>(packed) % 8 == 0 &&
                    reinterpret_cast<uintptr_t>(out) % 16 == 0;
  if (vectorized) {
    JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_nf4_dequantize",
                            nf4_decode16_kernel<T><<<grid_for(n / 16, kThreads), kThreads, 0, s>>>(
                                reinterpret_cast<const uint2*>(packed), absmax, n / 16, blocksize,
                                static_cast<T*>(out)));
    check_launch("nf4_decode16_kernel");
    return;
  }
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_nf4_dequantize",
                          nf4_decode_kernel<T><<<grid_for((n + 1) / 2, kThreads), kThreads, 0, s>>>(
                              packed, absmax, n, blocksize, static_cast<T*>(out)));
  check_launch("nf4_decode_kernel");
}

void quantize_absmax_8bit(int device, const float* absmax, int64_t n, uint8_t* q, float* nested_absmax,
                          float* offset) {
  cudaStream_t s = stream(device);
  int64_t groups = (n + nf4::kNestedBlock - 1) / nf4::kNestedBlock;
  require(groups <= int64_t(INT32_MAX), "jsw_quantize_absmax_8bit", "too many absmax values (%lld)", (long long)n);
  DynamicMap map;
  nf4::dynamic_map_signed(map.v);
  Scratch partial(device, groups * int64_t(sizeof(double)));
  group_sum_kernel<<<grid_for(groups, kThreads), kThreads, 0, s>>>(absmax, n, groups, partial.as<double>());
  check_launch("group_sum_kernel");
  mean_kernel<<<1, 1, 0, s>>>(partial.as<double>(), groups, n, offset);
  check_launch("mean_kernel");
  absmax_8bit_kernel<<<unsigned(groups), int(nf4::kNestedBlock), 0, s>>>(absmax, n, offset, map, q, nested_absmax);
  check_launch("absmax_8bit_kernel");
}

void nf4_dequantize_dq(int device, int dtype, const uint8_t* packed, const uint8_t* absmax_q,
                       const float* nested_absmax, const float* code256, float offset, int64_t n, int64_t blocksize,
                       void* out) {
  cudaStream_t s = stream(device);
  int64_t blocks = (n + blocksize - 1) / blocksize;
  Scratch absmax(device, blocks * int64_t(sizeof(float)));
  nested_decode_kernel<<<grid_for(blocks, kThreads), kThreads, 0, s>>>(absmax_q, nested_absmax, code256, offset,
                                                                       blocks, absmax.as<float>());
  check_launch("nested_decode_kernel");
  nf4_dequantize(device, dtype, packed, absmax.as<float>(), n, blocksize, out);
}

}  // namespace cuda
}  // namespace jsw
