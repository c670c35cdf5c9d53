// y = x W^T + beta y for a few input rows (up to 16: a batch of decode tokens, a short prompt chunk) against an
// NF4 weight, on the tensor cores: each 16-byte word of codes is decoded in registers straight into mma.sync's B
// operand, so the weight is read once, at 4 bits. The tile GEMM it replaces for such inputs (qmatmul.cu)
// dequantizes the whole weight to a bf16 workspace and has cuBLAS read that back: 4.5 bytes written and read
// per weight for 16 rows of products (the H200 run 2 measured 606 tokens/s decoding a batch of 16, 26 ms a step,
// of which those dequantized copies are an estimated ~10 ms). The GEMVs (nf4_gemv.cu) stay the path for 1-4
// rows: on CUDA cores their fp32 products cost 1 FMA a weight a row, which 16 rows would turn compute-bound.
//
// The weights are the tile GEMM's, bit for bit: level * absmax in fp32, rounded to bf16 / f16 (the B fragment);
// the products accumulate in fp32. Only the order of the sums differs.
//
// Layout of one warp's work (lane = 4 g + t, as in mma.cuh): the warp owns kTiles n-tiles of 8 output channels.
// In each step it covers 128 inputs: lane (g, t) loads the 16-byte word of channel n0 + 8 i + g that holds inputs
// 32 t .. 32 t + 31 of the step, for each tile i. mma.m16n8k16 wants lane (g, t) to hold, of its 16 k indices,
// k = 2t, 2t+1, 2t+8, 2t+9; since a dot product may sum its terms in any order, the kernel maps the k of mma j
// (j = 0..7) to the inputs 32 t' + 4 j + {0, 1, 2, 3} of lane t': the lane's word then feeds all 8 mmas of the
// step with its own 32 values, and the A fragment (x) needs from row g (and g + 8) exactly the same 32 inputs,
// contiguous: pairs 2j and 2j + 1 of them for mma j. No lane needs another lane's codes.
//
// x for the block's slice of inputs is staged in shared memory (rows past the input's filled with zeros), in
// 16-byte units ordered [step][quarter][row][t], so that the eight LDS.128 of a step's A fragments each read 512
// contiguous bytes across the warp (no bank conflicts). Long inputs are split across blocks (grid.y; at most
// kMaxSliceSteps steps a block, and enough splits for a full wave of blocks): each split writes fp32 partial sums
// that sum_splits adds in split order (deterministic).
#include <algorithm>
#include <atomic>

#include "common.cuh"
#include "kernels/nf4_mma.h"
#include "mma.cuh"
#include "nf4_decode.cuh"
#include "split_sum.cuh"

namespace jsw {
namespace cuda {

namespace {

constexpr int kWarps = 4;                               // a block
constexpr int kThreads = kWarps * 32;
constexpr int kTiles = 4;                               // n-tiles of 8 channels a warp
constexpr int kBlockChannels = kWarps * kTiles * 8;     // 128
constexpr int kStep = 128;                              // inputs a step: 4 lanes x 32
constexpr int kStepUnits = kStep / 8 * 16;              // 16-byte units of x a step: 16 rows x 16
constexpr int kMaxSliceSteps = 16;                      // 64 KB of x in shared memory (16 rows x 2048 x 2 bytes)

// Stages x[:, s0 * 128 : (s0 + steps) * 128] into xs in the [step][quarter][row][t] order (see the top); rows
// >= `rows` are zeros. Reads go along x's rows (8 consecutive units of a row a quarter-warp).
template <class T>
__device__ __forceinline__ void stage_x(const T* __restrict__ x, int rows, int64_t in, int64_t s0, int steps,
                                        uint4* __restrict__ xs) {
  const int units = steps * kStepUnits;  // per row: steps * 16 units of 8 values
  for (int u = threadIdx.x; u < units; u += kThreads) {
    const int r = u / (steps * 16), k8 = u - r * steps * 16;  // row r, unit k8 along the slice
    const int step = k8 >> 4, t = (k8 >> 2) & 3, quarter = k8 & 3;  // inputs 32 t + 8 quarter of the step
    uint4 v = make_uint4(0u, 0u, 0u, 0u);
    if (r < rows) v = *reinterpret_cast<const uint4*>(x + int64_t(r) * in + s0 * kStep + 8 * k8);
    xs[((step * 4 + quarter) * 16 + r) * 4 + t] = v;
  }
}

// One block: channels [blockIdx.x * 128, + 128), steps [blockIdx.y * slice, + slice) of the inputs. splits > 1:
// the block's sums go to partial[blockIdx.y][rows][out]; otherwise y = sums + beta y. shift = log2(blocksize), or
// -1 when it is no power of two. 128 threads, dynamic shared memory: slice * 4 KB.
template <class T, class Scales>
__global__ void __launch_bounds__(kThreads, 4)
    nf4_mma_kernel(const T* __restrict__ x, int rows, int64_t in, const uint4* __restrict__ packed, Scales scale,
                   int64_t out, int64_t blocksize, int shift, int slice, float beta, float* __restrict__ partial,
                   T* __restrict__ y) {
  extern __shared__ uint4 xs[];
  __shared__ float lut[16];
  const int64_t s0 = int64_t(blockIdx.y) * slice;
  const int steps = int(std::min(int64_t(slice), in / kStep - s0));
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Levels[threadIdx.x];
  stage_x(x, rows, in, s0, steps, xs);
  __syncthreads();

  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t n0 = int64_t(blockIdx.x) * kBlockChannels + (threadIdx.x >> 5) * (kTiles * 8);
  if (n0 >= out) return;  // after the barrier: whole warps leave together
  const int64_t words = in / 32;  // 16-byte words a channel
  using Raw = typename Scales::Raw;

  // The words of step `step` (and their scales' loads) for the warp's tiles; a channel past `out` gets zeros
  // (its column of the products is never stored).
  auto load = [&](int step, uint4(&q)[kTiles], Raw(&s)[kTiles]) {
    const int64_t word = (s0 + step) * 4 + t;
#pragma unroll
    for (int i = 0; i < kTiles; i++) {
      const int64_t n = n0 + 8 * i + g;
      q[i] = make_uint4(0u, 0u, 0u, 0u);
      s[i] = Raw{};
      if (n < out) {
        q[i] = __ldcs(packed + n * words + word);
        const int64_t e = n * in + word * 32;
        s[i] = scale.load(shift >= 0 ? (e >> shift) : (e / blocksize));
      }
    }
  };
  float acc[kTiles][4];
#pragma unroll
  for (int i = 0; i < kTiles; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
  // The products of step `step`: A fragments from the staged x, B from each tile's decoded word.
  auto multiply = [&](int step, const uint4(&q)[kTiles], const Raw(&s)[kTiles]) {
    uint32_t lo[16], hi[16];  // rows g and g + 8: inputs 32 t .. 32 t + 31 of the step, as 16 pairs each
#pragma unroll
    for (int quarter = 0; quarter < 4; quarter++) {
      const uint4 a = xs[((step * 4 + quarter) * 16 + g) * 4 + t];
      const uint4 b = xs[((step * 4 + quarter) * 16 + g + 8) * 4 + t];
      lo[4 * quarter] = a.x, lo[4 * quarter + 1] = a.y, lo[4 * quarter + 2] = a.z, lo[4 * quarter + 3] = a.w;
      hi[4 * quarter] = b.x, hi[4 * quarter + 1] = b.y, hi[4 * quarter + 2] = b.z, hi[4 * quarter + 3] = b.w;
    }
#pragma unroll
    for (int i = 0; i < kTiles; i++) {
      const float sc = scale.value(s[i]);
      float lv[32];
      decode_word(q[i], lut, lv);
#pragma unroll
      for (int j = 0; j < 8; j++) {
        // the tile GEMM's weights: level * absmax rounded once to T
        const uint32_t b[2] = {pack_floats<T>(__fmul_rn(lv[4 * j], sc), __fmul_rn(lv[4 * j + 1], sc)),
                               pack_floats<T>(__fmul_rn(lv[4 * j + 2], sc), __fmul_rn(lv[4 * j + 3], sc))};
        const uint32_t a[4] = {lo[2 * j], hi[2 * j], lo[2 * j + 1], hi[2 * j + 1]};
        mma16816<T>(acc[i], a, b);
      }
    }
  };
  // Two register sets in turn: the next step's words are in flight while this step's are multiplied.
  uint4 qa[kTiles], qb[kTiles];
  Raw sa[kTiles], sb[kTiles];
  load(0, qa, sa);
  for (int step = 0; step < steps; step += 2) {
    if (step + 1 < steps) load(step + 1, qb, sb);
    multiply(step, qa, sa);
    if (step + 1 >= steps) break;
    if (step + 2 < steps) load(step + 2, qa, sa);
    multiply(step + 1, qb, sb);
  }

  // acc[i] = {(row g, channel 2t), (g, 2t + 1), (g + 8, 2t), (g + 8, 2t + 1)} of tile i
#pragma unroll
  for (int i = 0; i < kTiles; i++) {
#pragma unroll
    for (int e = 0; e < 4; e++) {
      const int r = g + 8 * (e >> 1);
      const int64_t n = n0 + 8 * i + 2 * t + (e & 1);
      if (r >= rows || n >= out) continue;
      const int64_t at = int64_t(r) * out + n;
      if (gridDim.y > 1) {
        partial[int64_t(blockIdx.y) * rows * out + at] = acc[i][e];
      } else {
        y[at] = from_f<T>(beta == 0.0f ? acc[i][e] : acc[i][e] + beta * to_f(y[at]));
      }
    }
  }
}

// Blocks of one instance resident on an SM at once, cached per device (the occupancy query costs more than a
// small product's launch). The kernel's dynamic shared memory limit is raised once per process.
template <class T, class Scales>
int resident_blocks(int device) {
  constexpr int kCached = 64;
  static std::atomic<int> per_sm[kCached];
  int n = device >= 0 && device < kCached ? per_sm[device].load(std::memory_order_relaxed) : 0;
  if (n > 0) return n;
  const int smem = kMaxSliceSteps * kStepUnits * 16;
  JSW_CUDA_CHECK(cudaFuncSetAttribute(nf4_mma_kernel<T, Scales>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  JSW_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, nf4_mma_kernel<T, Scales>, kThreads, smem));
  n = n > 0 ? n : 1;
  if (device >= 0 && device < kCached) per_sm[device].store(n, std::memory_order_relaxed);
  return n;
}

template <class T, class Scales>
void launch(int device, const T* x, int rows, int64_t in, const uint4* packed, Scales scale, int64_t out,
            int64_t blocksize, float beta, T* y) {
  cudaStream_t s = stream(device);
  const int64_t steps = in / kStep, columns = (out + kBlockChannels - 1) / kBlockChannels;
  require(columns <= int64_t(INT32_MAX), "jsw_nf4_matmul", "out_features = %lld is too large", (long long)out);
  const int64_t wave = int64_t(resident_blocks<T, Scales>(device)) * sm_count(device);
  const int64_t splits = nf4::mma_splits(steps, columns, wave, kMaxSliceSteps);
  const int slice = int((steps + splits - 1) / splits);
  const int64_t used = (steps + slice - 1) / slice;  // splits after rounding the slice up
  const dim3 grid{unsigned(columns), unsigned(used)};
  const size_t smem = size_t(slice) * kStepUnits * 16;
  const int shift = log2_or_minus_one(blocksize);
  if (used == 1) {
    nf4_mma_kernel<T, Scales><<<grid, kThreads, smem, s>>>(x, rows, in, packed, scale, out, blocksize, shift, slice,
                                                           beta, nullptr, y);
    check_launch("nf4_mma_kernel");
    return;
  }
  Scratch partial(device, used * rows * out * int64_t(sizeof(float)));
  nf4_mma_kernel<T, Scales><<<grid, kThreads, smem, s>>>(x, rows, in, packed, scale, out, blocksize, shift, slice,
                                                         beta, partial.as<float>(), y);
  check_launch("nf4_mma_kernel");
  sum_splits<T>(s, partial.as<float>(), used, rows, out, nullptr, y, beta);
}

}  // namespace

bool nf4_mma_applies(int dtype, int64_t rows, int64_t in, int64_t blocksize, const void* x, const uint8_t* packed) {
  return (dtype == JSW_BF16 || dtype == JSW_F16) && rows >= 1 && rows <= nf4::kMmaMaxRows && in % kStep == 0 &&
         blocksize % 32 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(packed) % 16 == 0 && !env_is("JSWIFT_NF4_MMA", "off");
}

void nf4_mma(int device, int dtype, const void* x, int64_t rows, int64_t in, const uint8_t* packed,
             const float* absmax, const uint8_t* absmax_q, const float* nested_absmax, const float* code256,
             float offset, int64_t out, int64_t blocksize, float beta, void* y) {
  const uint4* p4 = reinterpret_cast<const uint4*>(packed);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    T* yt = static_cast<T*>(y);
    if (absmax_q != nullptr)
      launch<T>(device, xt, int(rows), in, p4, NestedScales{absmax_q, nested_absmax, code256, offset}, out,
                blocksize, beta, yt);
    else
      launch<T>(device, xt, int(rows), in, p4, PlainScales{absmax}, out, blocksize, beta, yt);
  };
  if (dtype == JSW_BF16) run(__nv_bfloat16{});
  else run(__half{});
}

}  // namespace cuda
}  // namespace jsw
