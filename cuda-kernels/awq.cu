// AWQ dequantization on CUDA, the twin of native/src/cpu/awq_dequant.cpp: the same fp32 product (f16 scale times
// the integer q - zero) rounded once to the output dtype, so the twins agree bit for bit. One thread per packed
// word [k, j] (8 outputs of input k); consecutive threads take consecutive inputs k of one word column, so each
// of the 8 stores of a warp is one contiguous run of a dense [out, in] row (the stores are 8x the loads' words).
#include <algorithm>

#include "common.cuh"
#include "kernels/awq.h"
#include "split_sum.cuh"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxGrid = 1u << 20;  // grid-stride loops cover the rest

template <class T>
__global__ void awq_dequant_kernel(const int32_t* __restrict__ qweight, const int32_t* __restrict__ qzeros,
                                   const __half* __restrict__ scales, int64_t in, int64_t out, int64_t group_size,
                                   T* __restrict__ w) {
  const int64_t words = out / 8, total = words * in;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = t / in, k = t % in, g = k / group_size;
    const unsigned word = unsigned(qweight[k * words + j]), zword = unsigned(qzeros[g * words + j]);
    const __half* s = scales + g * out + j * 8;
#pragma unroll
    for (int m = 0; m < 8; m++) {
      // nibble of output 8j + m: the inverse of AutoAWQ's pack order {0, 2, 4, 6, 1, 3, 5, 7}
      const int shift = 4 * ((m >> 1) + 4 * (m & 1));
      const int q = int((word >> shift) & 15u), z = int((zword >> shift) & 15u);
      w[(j * 8 + m) * in + k] = from_f<T>(__fmul_rn(__half2float(s[m]), float(q - z)));
    }
  }
}

}  // namespace

void awq_dequantize(int device, int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                    int64_t in, int64_t out, int64_t group_size, void* w) {
  cudaStream_t s = stream(device);
  unsigned grid = blocks_for((out / 8) * in, kThreads);
  if (grid > kMaxGrid) grid = kMaxGrid;
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_awq_dequantize",
                          awq_dequant_kernel<T><<<grid, kThreads, 0, s>>>(
                              qweight, qzeros, reinterpret_cast<const __half*>(scales), in, out, group_size,
                              static_cast<T*>(w)));
  check_launch("awq_dequant_kernel");
}

}  // namespace cuda
}  // namespace jsw

// ---- fused dequant-GEMV (decode: 1..4 input rows) ----
// A block is kCols consecutive words (8 outputs each) x kSlices slices of the inputs: thread (tx, ty) walks
// inputs ty, ty + kSlices, ... of word column j, so the 32 threads of a warp read 32 consecutive words of one
// input row (128 coalesced bytes) and their scales (512 bytes). Each thread keeps 8 accumulators per input row in
// registers; the slices are summed through shared memory in a fixed order and the bias added once. The weight
// values are jsw_awq_dequantize's; only the summation order differs from the CPU twin.

namespace jsw {
namespace cuda {

namespace {

constexpr int kCols = 32, kSlices = 8, kRows = int(awq::kGemvMaxRows);

template <class T>
__global__ void awq_gemv_kernel(const T* __restrict__ x, int rows, int64_t in, const int32_t* __restrict__ qweight,
                                const int32_t* __restrict__ qzeros, const __half* __restrict__ scales, int64_t out,
                                int64_t group_size, const T* __restrict__ bias, T* __restrict__ y) {
  __shared__ float part[kSlices][kRows * 8][kCols];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t words = out / 8, j = int64_t(blockIdx.x) * kCols + tx;
  float acc[kRows][8];
#pragma unroll
  for (int r = 0; r < kRows; r++)
#pragma unroll
    for (int m = 0; m < 8; m++) acc[r][m] = 0.0f;
  if (j < words) {
    for (int64_t k = ty; k < in; k += kSlices) {
      const int64_t g = k / group_size;
      const unsigned word = unsigned(qweight[k * words + j]), zword = unsigned(qzeros[g * words + j]);
      const __half* s = scales + g * out + j * 8;
      float xv[kRows];
#pragma unroll
      for (int r = 0; r < kRows; r++) xv[r] = r < rows ? to_f(x[r * in + k]) : 0.0f;
#pragma unroll
      for (int m = 0; m < 8; m++) {
        const int shift = 4 * ((m >> 1) + 4 * (m & 1));  // the nibble of output 8j + m
        const int q = int((word >> shift) & 15u), z = int((zword >> shift) & 15u);
        const float w = __fmul_rn(__half2float(s[m]), float(q - z));
#pragma unroll
        for (int r = 0; r < kRows; r++) acc[r][m] = fmaf(xv[r], w, acc[r][m]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; r++)
#pragma unroll
    for (int m = 0; m < 8; m++) part[ty][r * 8 + m][tx] = acc[r][m];
  __syncthreads();
  // kCols * 8 = 256 outputs per block and 256 threads: thread t sums output (word t / 8, slot t % 8) of each row.
  const int t = ty * kCols + tx, w = t / 8, m = t % 8;
  const int64_t jj = int64_t(blockIdx.x) * kCols + w;
  if (jj >= words) return;
  const int64_t o = jj * 8 + m;
  const float b = bias == nullptr ? 0.0f : to_f(bias[o]);
  for (int r = 0; r < rows; r++) {
    float sum = 0.0f;
    for (int sl = 0; sl < kSlices; sl++) sum += part[sl][r * 8 + m][w];
    y[r * out + o] = from_f<T>(sum + b);
  }
}

// Split path (group_size a multiple of 16, in a multiple of group_size, x and scales 16-byte aligned): the
// awq_gemv_kernel above fills one block per 32 words, 56 blocks for a 14336-wide layer on a 132-SM GPU, each
// thread with one 4-byte load in flight. Here a thread owns one word column j (8 outputs) over a split of whole
// quant groups (grid.y), reads each group's 8 scales and zero word once, and loads kU consecutive inputs' words
// before it decodes any; sum_splits adds the splits' fp32 partial sums [split, rows, out] in split order
// (deterministic). Each weight is awq_gemv_kernel's (and jsw_awq_dequantize's) product; JSWIFT_AWQ_GEMV=v1
// keeps the kernel above.
constexpr int kSplitThreads = 128, kU = 16;

template <class T, int R>
__global__ void __launch_bounds__(kSplitThreads)
    awq_gemv_split_kernel(const T* __restrict__ x, int rows, int64_t in, const int32_t* __restrict__ qweight,
                          const int32_t* __restrict__ qzeros, const __half* __restrict__ scales, int64_t out,
                          int64_t group_size, int64_t groups_per_split, float* __restrict__ partial) {
  const int64_t words = out / 8, j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= words) return;  // no barrier below
  const int64_t k_begin = int64_t(blockIdx.y) * groups_per_split * group_size;
  const int64_t k_end = k_begin + groups_per_split * group_size < in ? k_begin + groups_per_split * group_size : in;
  float acc[R][8];
#pragma unroll
  for (int r = 0; r < R; r++)
#pragma unroll
    for (int m = 0; m < 8; m++) acc[r][m] = 0.0f;
  float s[8];
  unsigned zword = 0;
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kU) {  // kU divides group_size: a step lies in one group
    if (k0 % group_size == 0) {
      const int64_t g = k0 / group_size;
      const uint4 sv = __ldg(reinterpret_cast<const uint4*>(scales + g * out + j * 8));
      const __half* sh = reinterpret_cast<const __half*>(&sv);
#pragma unroll
      for (int m = 0; m < 8; m++) s[m] = __half2float(sh[m]);
      zword = unsigned(__ldg(qzeros + g * words + j));
    }
    unsigned word[kU];
#pragma unroll
    for (int u = 0; u < kU; u++) word[u] = unsigned(__ldcs(qweight + (k0 + u) * words + j));
#pragma unroll
    for (int h = 0; h < kU / 8; h++) {
      float xv[R][8];
#pragma unroll
      for (int r = 0; r < R; r++)
        if (R == 1 || r < rows) load8(x + int64_t(r) * in + k0 + 8 * h, xv[r]);
#pragma unroll
      for (int i = 0; i < 8; i++) {
#pragma unroll
        for (int m = 0; m < 8; m++) {
          const int shift = 4 * ((m >> 1) + 4 * (m & 1));  // the nibble of output 8j + m, as awq_gemv_kernel
          const int q = int((word[8 * h + i] >> shift) & 15u), z = int((zword >> shift) & 15u);
          const float w = __fmul_rn(s[m], float(q - z));
#pragma unroll
          for (int r = 0; r < R; r++)
            if (R == 1 || r < rows) acc[r][m] = fmaf(xv[r][i], w, acc[r][m]);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < R; r++)
    if (R == 1 || r < rows) {
      float4* p = reinterpret_cast<float4*>(partial + (int64_t(blockIdx.y) * rows + r) * out + j * 8);
      p[0] = make_float4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
      p[1] = make_float4(acc[r][4], acc[r][5], acc[r][6], acc[r][7]);
    }
}

template <class T>
void launch_split(dim3 grid, cudaStream_t s, const T* x, int rows, int64_t in, const int32_t* qweight,
                  const int32_t* qzeros, const __half* scales, int64_t out, int64_t group_size,
                  int64_t groups_per_split, float* partial) {
  with_row_count<kRows>(rows, [&](auto r) {
    awq_gemv_split_kernel<T, decltype(r)::value><<<grid, kSplitThreads, 0, s>>>(
        x, rows, in, qweight, qzeros, scales, out, group_size, groups_per_split, partial);
  });
}

}  // namespace

void awq_gemv(int device, int dtype, const void* x, int64_t rows, int64_t in, const int32_t* qweight,
              const int32_t* qzeros, const uint16_t* scales, int64_t out, int64_t group_size, const void* bias,
              void* y) {
  static_assert(kCols * kSlices == kCols * 8, "one reducing thread per output of the block");
  cudaStream_t s = stream(device);
  const int64_t words = out / 8, groups = in / group_size;
  if (group_size % kU == 0 && in % group_size == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
      reinterpret_cast<uintptr_t>(scales) % 16 == 0 && !env_is("JSWIFT_AWQ_GEMV", "v1")) {
    // About 512 thread blocks (each thread has kU 4-byte loads in flight: 3.7 MB in all), whole groups a split.
    const int64_t grid_x = (words + kSplitThreads - 1) / kSplitThreads;
    require(grid_x <= int64_t(INT32_MAX), "jsw_awq_gemv", "out = %lld is too large", (long long)out);
    const int64_t want = std::max<int64_t>(1, std::min<int64_t>(std::min<int64_t>(512 / grid_x, groups), 65535));
    const int64_t groups_per_split = (groups + want - 1) / want, splits = (groups + groups_per_split - 1) /
                                                                          groups_per_split;
    Scratch partial(device, splits * rows * out * int64_t(sizeof(float)));
    const dim3 grid(static_cast<unsigned>(grid_x), static_cast<unsigned>(splits));
    JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_awq_gemv", {
      launch_split<T>(grid, s, static_cast<const T*>(x), int(rows), in, qweight, qzeros,
                      reinterpret_cast<const __half*>(scales), out, group_size, groups_per_split,
                      partial.as<float>());
      check_launch("awq_gemv_split_kernel");
      sum_splits<T>(s, partial.as<float>(), splits, rows, out, static_cast<const T*>(bias), static_cast<T*>(y));
    });
    return;
  }
  const unsigned grid = unsigned((words + kCols - 1) / kCols);
  const dim3 block(kCols, kSlices);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_awq_gemv",
                          awq_gemv_kernel<T><<<grid, block, 0, s>>>(
                              static_cast<const T*>(x), int(rows), in, qweight, qzeros,
                              reinterpret_cast<const __half*>(scales), out, group_size,
                              static_cast<const T*>(bias), static_cast<T*>(y)));
  check_launch("awq_gemv_kernel");
}

}  // namespace cuda
}  // namespace jsw
