// NF4 dequant-GEMV on CUDA, the twin of native/src/cpu/nf4_gemv.cpp: one warp per output row, 8 warps per
// block. A decode GEMV is bound by the weight read, so the warp's lanes read consecutive packed bytes, decode them
// against a shared copy of the 16 levels, and accumulate x . w for every input row in fp32 registers; a warp
// shuffle reduces the lanes. x (rows * in values, a few KB) is re-read by every warp and stays in L1/L2.
//
// The paths, fastest first:
//  - gemv32s, streamed (in and blocksize multiples of 32, 16-byte aligned packed and x): gemv32 below as a
//    persistent grid in which each warp streams through several rows with the next words' loads in flight while
//    it decodes (see the kernel). The default; JSWIFT_NF4_GEMV=v2 takes gemv32 instead, for the benchmark's
//    before / after.
//  - gemv32 (the same preconditions): each lane loads kUnroll 16-byte words (32 values each) before it decodes
//    any, so a warp keeps 2 KB of weights in flight; x comes in 16-byte vectors and absmax once per 32 values,
//    found by a shift when blocksize is a power of two. The first H200 run measured the 16-value path at 0.26x of
//    a copy of the same bytes: one 8-byte load in flight per lane, 16 scalar loads of x and a 64-bit division per
//    16 weights; the second measured gemv32 at 0.52x (then with 96 registers, 16 warps an SM). The input-row count
//    is a template parameter (1, 2, 4, 8), so decoding one row holds one accumulator, and double-quantized scales
//    are recovered in the kernel (the other paths first decode them into a scale vector: one more kernel, a
//    write and a re-read of 1/16 of the weight's bytes).
//  - gemv16 (multiples of 16): 8 bytes a lane a step.
//  - the general path: anything else.
// JSWIFT_NF4_GEMV=v1 keeps the 32-value paths off.
#include <algorithm>
#include <atomic>

#include "common.cuh"
#include "nf4_decode.cuh"
#include "kernels/nf4_gemv.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kRows = int(nf4::kGemvMaxRows);

// Writes lane sums of warp w's row: reduce each row's accumulator, lane 0 adds the bias and stores. R: the
// accumulators held (rows <= R are live).
template <class T, int R>
__device__ __forceinline__ void finish_row(float (&acc)[R], int rows, int64_t o, int64_t out_features,
                                           const T* __restrict__ bias, T* __restrict__ y) {
#pragma unroll
  for (int r = 0; r < R; r++) {
    if (R == 1 || r < rows) {
      float v = warp_sum(acc[r]);
      if ((threadIdx.x & 31) == 0) y[int64_t(r) * out_features + o] = from_f<T>(v + (bias ? to_f(bias[o]) : 0.0f));
    }
  }
}

// Fast path: in % 16 == 0 and blocksize % 16 == 0, packed 8-byte aligned, so a row starts on a uint2 and every
// 16-value group lies in one absmax block.
template <class T>
__global__ void gemv16_kernel(const T* __restrict__ x, int rows, int64_t in, const uint2* __restrict__ packed,
                              const float* __restrict__ absmax, int64_t out_features, int64_t blocksize,
                              const T* __restrict__ bias, T* __restrict__ y) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Levels[threadIdx.x];
  __syncthreads();
  int64_t o = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (o >= out_features) return;  // after the barrier: whole warps leave together
  int lane = threadIdx.x & 31;
  int64_t groups = in / 16;
  const uint2* row = packed + o * groups;
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; r++) acc[r] = 0.0f;
  for (int64_t g = lane; g < groups; g += 32) {
    uint2 q = row[g];
    float s = absmax[(o * in + g * 16) / blocksize];
    float w[16];
#pragma unroll
    for (int j = 0; j < 8; j++) {
      unsigned byte = ((j < 4 ? q.x : q.y) >> (8 * (j & 3))) & 0xffu;
      w[2 * j] = lut[byte >> 4] * s;
      w[2 * j + 1] = lut[byte & 15u] * s;
    }
#pragma unroll
    for (int r = 0; r < kRows; r++) {
      if (r < rows) {
        const T* xr = x + int64_t(r) * in + g * 16;
        float d = 0.0f;
#pragma unroll
        for (int j = 0; j < 16; j++) d = fmaf(to_f(xr[j]), w[j], d);
        acc[r] += d;
      }
    }
  }
  finish_row<T, kRows>(acc, rows, o, out_features, bias, y);
}

constexpr int kUnroll = 4;

// x[0..32) . w as one fp32 fma chain, x read in 16-byte vectors.
template <class T>
__device__ __forceinline__ float dot32(const T* xr, const float (&w)[32]) {
  float d = 0.0f;
#pragma unroll
  for (int k = 0; k < 4; k++) {
    float xv[8];
    load8(xr + 8 * k, xv);
#pragma unroll
    for (int j = 0; j < 8; j++) d = fmaf(xv[j], w[8 * k + j], d);
  }
  return d;
}

// 32-value path: see the top of the file. R: input rows rounded up to a power of two (a compile-time count keeps
// the accumulators and the unrolled row loops in registers: one row, the decode case, needs 1 accumulator, not
// kRows); rows <= R are live. shift = log2(blocksize), or -1 when it is no power of two.
template <class T, int R, class Scales>
__global__ void gemv32_kernel(const T* __restrict__ x, int rows, int64_t in, const uint4* __restrict__ packed,
                              Scales scale, int64_t out_features, int64_t blocksize, int shift,
                              const T* __restrict__ bias, T* __restrict__ y) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Levels[threadIdx.x];
  __syncthreads();
  int64_t o = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (o >= out_features) return;  // after the barrier: whole warps leave together
  int lane = threadIdx.x & 31;
  int64_t chunks = in / 32, first = o * in;
  const uint4* row = packed + o * chunks;
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; r++) acc[r] = 0.0f;
  for (int64_t c0 = lane; c0 < chunks; c0 += 32 * kUnroll) {
    // every load of this step first: the weights stream through once (__ldcs), so they are not kept in L1
    uint4 q[kUnroll];
    float s[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; u++) {
      int64_t c = c0 + 32 * u;
      if (c < chunks) {
        q[u] = __ldcs(row + c);
        int64_t e = first + c * 32;
        s[u] = scale(shift >= 0 ? (e >> shift) : (e / blocksize));
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; u++) {
      int64_t c = c0 + 32 * u;
      if (c >= chunks) break;
      float w[32];
      decode_word(q[u], lut, w);
#pragma unroll
      for (int j = 0; j < 32; j++) w[j] *= s[u];
#pragma unroll
      for (int r = 0; r < R; r++)
        if (R == 1 || r < rows) acc[r] += dot32(x + int64_t(r) * in + c * 32, w);
    }
  }
  finish_row<T, R>(acc, rows, o, out_features, bias, y);
}

// Streamed 32-value path (the default; the same preconditions as gemv32): a persistent grid, as many blocks as
// are resident on the GPU at once, in which warp w takes rows w, w + warps, ... as one stream of 16-byte words
// (row by row, a lane taking every 32nd word) and loads the next kUnroll words of its stream before it decodes
// the ones it holds. gemv32's warp loaded its row, waited, decoded and left, holding no load in flight while it
// decoded, and a short row (in = 896: one word a lane) gave it one load to wait on; here every warp keeps up to
// 2 x kUnroll words a lane in flight from its first row to its last. A word's 32 values share an absmax block,
// so its scale multiplies the 32-term dot product once rather than each weight. Registers are held to 3 blocks
// an SM for one input row (80: decode; left alone, double-quantized scales took 94, 2 blocks) and 2 for more
// (128, from up to 142); ptxas: no spills for bf16 / f16, a few bytes in two fp32 instances.
template <class T, int R, class Scales>
__global__ void __launch_bounds__(kWarps * 32, R == 1 ? 3 : 2)
    gemv32s_kernel(const T* __restrict__ x, int rows, int64_t in, const uint4* __restrict__ packed, Scales scale,
                   int64_t out_features, int64_t blocksize, int shift, const T* __restrict__ bias, T* __restrict__ y) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Levels[threadIdx.x];
  __syncthreads();
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * kWarps, words = in / 32, steps = (words + 31) / 32;
  // Two cursors over the warp's stream, (row, step): `lo, ls` the next word to load, `co, cs` the next to decode.
  // Both are warp-uniform; a lane's word in step s is s * 32 + lane, live when below `words`.
  int64_t lo = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32, ls = 0, co = lo, cs = 0;
  auto advance = [&](int64_t& o, int64_t& step) {
    if (++step == steps) step = 0, o += warps;
  };
  using Raw = typename Scales::Raw;
  // The next kUnroll words of the stream (none past the last row) and their scales' loads into q / s.
  auto load = [&](uint4(&q)[kUnroll], Raw(&s)[kUnroll]) {
#pragma unroll
    for (int u = 0; u < kUnroll; u++) {
      if (lo < out_features) {
        const int64_t c = ls * 32 + lane;
        if (c < words) {
          q[u] = __ldcs(packed + lo * words + c);
          const int64_t e = lo * in + c * 32;
          s[u] = scale.load(shift >= 0 ? (e >> shift) : (e / blocksize));
        }
        advance(lo, ls);
      }
    }
  };
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; r++) acc[r] = 0.0f;
  // Decodes the words load() gave q / s, finishing each row at its last step.
  auto consume = [&](const uint4(&q)[kUnroll], const Raw(&s)[kUnroll]) {
#pragma unroll
    for (int u = 0; u < kUnroll; u++) {
      if (co >= out_features) break;
      const int64_t c = cs * 32 + lane;
      if (c < words) {
        const float scale_u = scale.value(s[u]);
        float lv[32];
        decode_word(q[u], lut, lv);
#pragma unroll
        for (int r = 0; r < R; r++)
          if (R == 1 || r < rows) acc[r] = fmaf(dot32(x + int64_t(r) * in + c * 32, lv), scale_u, acc[r]);
      }
      if (cs == steps - 1) {
        finish_row<T, R>(acc, rows, co, out_features, bias, y);
#pragma unroll
        for (int r = 0; r < R; r++) acc[r] = 0.0f;
      }
      advance(co, cs);
    }
  };
  // Two register sets in turn: one is decoded while the other's loads are in flight.
  uint4 qa[kUnroll], qb[kUnroll];
  Raw sa[kUnroll], sb[kUnroll];
  load(qa, sa);
  while (co < out_features) {
    load(qb, sb);
    consume(qa, sa);
    if (co >= out_features) break;
    load(qa, sa);
    consume(qb, sb);
  }
}

// Launches gemv32_kernel, or the streamed gemv32s_kernel, with R = rows rounded up to a power of two (rows <=
// kRows = 8).
template <class T, int R, class Scales>
void launch_gemv32_rows(bool streamed, int device, cudaStream_t s, const T* x, int rows, int64_t in,
                        const uint4* packed, Scales scale, int64_t out_features, int64_t blocksize, int shift,
                        const T* bias, T* y) {
  const unsigned threads = kWarps * 32;
  const int64_t needed = (out_features + kWarps - 1) / kWarps;
  if (!streamed) {
    gemv32_kernel<T, R, Scales><<<unsigned(needed), threads, 0, s>>>(x, rows, in, packed, scale, out_features,
                                                                     blocksize, shift, bias, y);
    return;
  }
  // Resident blocks an SM holds, cached per device (the occupancy query costs more than a decode GEMV's launch).
  constexpr int kCached = 64;
  static std::atomic<int> per_sm[kCached];
  int n = device >= 0 && device < kCached ? per_sm[device].load(std::memory_order_relaxed) : 0;
  if (n == 0) {
    JSW_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, gemv32s_kernel<T, R, Scales>, int(threads), 0));
    n = n > 0 ? n : 1;
    if (device >= 0 && device < kCached) per_sm[device].store(n, std::memory_order_relaxed);
  }
  const int64_t grid = std::min(needed, int64_t(n) * sm_count(device));
  gemv32s_kernel<T, R, Scales><<<unsigned(grid), threads, 0, s>>>(x, rows, in, packed, scale, out_features,
                                                                  blocksize, shift, bias, y);
}

template <class T, class Scales>
void launch_gemv32(bool streamed, int device, cudaStream_t s, const T* x, int rows, int64_t in, const uint4* packed,
                   Scales scale, int64_t out_features, int64_t blocksize, int shift, const T* bias, T* y) {
  with_row_count<kRows>(rows, [&](auto r) {
    launch_gemv32_rows<T, decltype(r)::value>(streamed, device, s, x, rows, in, packed, scale, out_features,
                                              blocksize, shift, bias, y);
  });
}

// General path: any in / blocksize / alignment; lane-strided elements (consecutive lanes read the same or
// neighbouring bytes, still coalesced).
template <class T>
__global__ void gemv_kernel(const T* __restrict__ x, int rows, int64_t in, const uint8_t* __restrict__ packed,
                            const float* __restrict__ absmax, int64_t out_features, int64_t blocksize,
                            const T* __restrict__ bias, T* __restrict__ y) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Levels[threadIdx.x];
  __syncthreads();
  int64_t o = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (o >= out_features) return;
  int lane = threadIdx.x & 31;
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; r++) acc[r] = 0.0f;
  for (int64_t i = lane; i < in; i += 32) {
    int64_t e = o * in + i;
    unsigned byte = packed[e >> 1];
    float w = lut[(e & 1) ? (byte & 15u) : (byte >> 4)] * absmax[e / blocksize];
#pragma unroll
    for (int r = 0; r < kRows; r++)
      if (r < rows) acc[r] = fmaf(to_f(x[int64_t(r) * in + i]), w, acc[r]);
  }
  finish_row<T, kRows>(acc, rows, o, out_features, bias, y);
}

// Recovered absmax, rounded after the product and after the sum as bitsandbytes (and the CPU twin).
__global__ void decode_nested_kernel(const uint8_t* __restrict__ q, const float* __restrict__ nested,
                                     const float* __restrict__ code256, float offset, int64_t blocks,
                                     float* __restrict__ absmax) {
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += int64_t(gridDim.x) * blockDim.x)
    absmax[b] = __fadd_rn(__fmul_rn(code256[q[b]], nested[b / nf4::kNestedBlock]), offset);
}

}  // namespace

void nf4_gemv(int device, int dtype, const void* x, int64_t rows, int64_t in, const uint8_t* packed,
              const float* absmax, const uint8_t* absmax_q, const float* nested_absmax, const float* code256,
              float offset, int64_t out_features, int64_t blocksize, const void* bias, void* y) {
  cudaStream_t s = stream(device);
  int64_t grid = (out_features + kWarps - 1) / kWarps;
  require(grid <= int64_t(INT32_MAX), "jsw_nf4_gemv", "out_features = %lld is too large", (long long)out_features);
  bool fast = in % 16 == 0 && blocksize % 16 == 0 && reinterpret_cast<uintptr_t>(packed) % 8 == 0;
  // in > 0 (jsw_nf4_gemv checks it): the streamed kernel's warps advance a row after `steps` > 0 words
  bool fast32 = in > 0 && in % 32 == 0 && blocksize % 32 == 0 && reinterpret_cast<uintptr_t>(packed) % 16 == 0 &&
                reinterpret_cast<uintptr_t>(x) % 16 == 0 && !env_is("JSWIFT_NF4_GEMV", "v1");
  const bool streamed = !env_is("JSWIFT_NF4_GEMV", "v2");
  const int shift = log2_or_minus_one(blocksize);
  if (fast32) {
    // the 32-value path recovers double-quantized scales itself: no decode kernel, no scale vector
    JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_nf4_gemv", {
      const T* xt = static_cast<const T*>(x);
      const uint4* p4 = reinterpret_cast<const uint4*>(packed);
      if (absmax_q != nullptr)
        launch_gemv32<T>(streamed, device, s, xt, int(rows), in, p4,
                         NestedScales{absmax_q, nested_absmax, code256, offset}, out_features, blocksize, shift,
                         static_cast<const T*>(bias), static_cast<T*>(y));
      else
        launch_gemv32<T>(streamed, device, s, xt, int(rows), in, p4, PlainScales{absmax}, out_features, blocksize,
                         shift, static_cast<const T*>(bias), static_cast<T*>(y));
    });
    check_launch(streamed ? "nf4 gemv32s_kernel" : "nf4 gemv32_kernel");
    return;
  }
  int64_t blocks = (in * out_features + blocksize - 1) / blocksize;
  Scratch decoded(device, absmax_q == nullptr ? 0 : blocks * int64_t(sizeof(float)));
  if (absmax_q != nullptr) {
    unsigned grid = blocks_for(blocks, 256);
    decode_nested_kernel<<<grid < (1u << 20) ? grid : (1u << 20), 256, 0, s>>>(absmax_q, nested_absmax, code256,
                                                                              offset, blocks, decoded.as<float>());
    check_launch("nf4 gemv decode_nested_kernel");
    absmax = decoded.as<float>();
  }
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_nf4_gemv", {
    if (fast) {
      gemv16_kernel<T><<<unsigned(grid), kWarps * 32, 0, s>>>(
          static_cast<const T*>(x), int(rows), in, reinterpret_cast<const uint2*>(packed), absmax, out_features,
          blocksize, static_cast<const T*>(bias), static_cast<T*>(y));
    } else {
      gemv_kernel<T><<<unsigned(grid), kWarps * 32, 0, s>>>(static_cast<const T*>(x), int(rows), in, packed, absmax,
                                                            out_features, blocksize, static_cast<const T*>(bias),
                                                            static_cast<T*>(y));
    }
  });
  check_launch("nf4_gemv_kernel");
}

}  // namespace cuda
}  // namespace jsw
