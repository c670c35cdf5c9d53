// The low-rank halves of a LoRA linear with the dropout fused in, on CUDA: the twin of native/src/cpu/lora_rank.cpp
// (contracts: jsw_lora_down / jsw_lora_up_grad in jswift.h). They replace, per LoRA linear and step, jsw_dropout's
// passes (a masked copy of x written and re-read before each product, dx masked in a pass of its own) and the
// rank-r cuBLAS products, which are bound by the bytes of x and run far below them at n = rank.
//
// Both kernels stage drop(x) in shared memory as 64 x 64 tiles of T (the mask hashed as the tile is loaded, by
// 16-byte vectors), and multiply on tensor cores (mma.sync.m16n8k16, fp32 accumulation; mma.cuh):
//  - lora_down_kernel: a block owns 64 rows of x and one split of its columns; warp w computes rows 16 w .. + 15 of
//    xa = drop(x) A^T over the split. One split writes xa rounded; several write fp32 partials that
//    reduce_rows_kernel sums in a fixed order (deterministic, no atomics).
//  - lora_up_grad_kernel: a block owns 64 columns (its slice of A stays in shared memory) and one split of the rows.
//    Per 64-row tile: dA[:, cols] += g^T drop(x) (each warp 16 of the columns, kept in registers over the tiles),
//    and dx = drop'(scale g A) for the tile, masked with the keep bits recorded while staging x, written through
//    shared memory as 16-byte rows. Several row splits write fp32 partials of dA, summed by reduce_da_kernel.
// Ranks up to 64 in multiples of 8 with 16-bit storage, in % 8 == 0 and 16-byte aligned pointers take these
// kernels; fp32, other ranks and pointers run the unfused sequence (jsw_dropout + cuBLAS), as does every call
// under JSWIFT_LORA_RANK=unfused (the before / after switch of native/README.md).
#include "common.cuh"
#include "kernels/dora.h"
#include "kernels/dropout_hash.h"
#include "kernels/gemm.h"
#include "kernels/lora_rank.h"
#include "mma.cuh"

namespace jsw {
namespace cuda {

namespace {

constexpr int kWarps = 4, kThreads = 32 * kWarps;
constexpr int kTile = 64;               // rows and columns of a staged tile of x
constexpr int kLd = tc_ld<kTile>();     // its shared row stride (elements)
constexpr int kChunks = kTile / 8;      // 16-byte chunks in a tile row
constexpr int kMaxRank = 64;

// The tile of drop(x) at rows [r0, r0 + 64) and columns [c0, c0 + 64) into xs (row stride kLd), as T: elements
// past `rows` or `c_end` are 0. keep (optional, [64][kChunks] bytes) receives the mask, bit j of chunk c of row r
// for column 8 c + j. With load_x false only the mask is computed (dx without dA needs no x).
template <class T>
__device__ __forceinline__ void stage_dropped(T* xs, uint8_t* keep, const T* __restrict__ x, int64_t rows, int64_t in,
                                              int64_t r0, int64_t c0, int64_t c_end, uint64_t key, float p,
                                              float keep_scale, bool load_x) {
#pragma unroll
  for (int i = 0; i < kTile * kChunks / kThreads; i++) {
    const int idx = int(threadIdx.x) + i * kThreads, r = idx / kChunks, c = (idx % kChunks) * 8;
    const int64_t gr = r0 + r, gc = c0 + c;
    Vec<T, 8> out;
    uint32_t bits = 0;
    if (gr < rows && gc < c_end) {  // in % 8 == 0: a chunk is wholly inside or outside
      const int64_t first = gr * in + gc;
      Vec<T, 8> v;
      if (load_x) v.load(x + first);
#pragma unroll
      for (int j = 0; j < 8; j++) {
        const bool kept = p == 0.0f || dropout_keep(key, uint64_t(first + j), p);
        bits |= uint32_t(kept) << j;
        if (load_x) out.v[j] = p == 0.0f ? v.v[j] : kept ? from_f<T>(v[j] * keep_scale) : from_f<T>(0.0f);
      }
    } else {
      out.zero();
    }
    if (load_x) out.store(xs + r * kLd + c);
    if (keep != nullptr) keep[r * kChunks + c / 8] = uint8_t(bits);
  }
}

// Rows [0, kR) x columns [c0, c0 + 64) of a row-major [rank, in] matrix into s (row stride kLd); rows >= rank and
// columns >= c_end are 0.
template <class T, int kR>
__device__ __forceinline__ void stage_a(T* s, const T* __restrict__ a, int rank, int64_t in, int64_t c0,
                                        int64_t c_end) {
  for (int idx = int(threadIdx.x); idx < kR * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = (idx % kChunks) * 8;
    Vec<T, 8> v;
    if (r < rank && c0 + c < c_end) {
      v.load(a + int64_t(r) * in + c0 + c);
    } else {
      v.zero();
    }
    v.store(s + r * kLd + c);
  }
}

// Rows [r0, r0 + 64) of g [rows, rank] into gs (row stride tc_ld<kR>()); rows past `r_end` and columns >= rank
// are 0.
template <class T, int kR>
__device__ __forceinline__ void stage_g(T* gs, const T* __restrict__ g, int rank, int64_t r0, int64_t r_end) {
  constexpr int kLdG = tc_ld<kR>(), kRowChunks = kR / 8;
  for (int idx = int(threadIdx.x); idx < kTile * kRowChunks; idx += kThreads) {
    const int r = idx / kRowChunks, c = (idx % kRowChunks) * 8;
    Vec<T, 8> v;
    if (r0 + r < r_end && c < rank) {
      v.load(g + (r0 + r) * rank + c);
    } else {
      v.zero();
    }
    v.store(gs + r * kLdG + c);
  }
}

// xa (or its fp32 partial for split blockIdx.y) = drop(x) A^T over rows [64 blockIdx.x, + 64) and the split's
// columns. kR: the rank rounded up to 16 (rows of the staged A past the rank are 0).
template <class T, int kR>
__global__ void __launch_bounds__(kThreads) lora_down_kernel(const T* __restrict__ x, const T* __restrict__ a,
                                                             int64_t rows, int64_t in, int rank, int64_t split_cols,
                                                             const uint64_t* step, uint64_t seed, float p,
                                                             float keep_scale, float* __restrict__ partial,
                                                             T* __restrict__ xa) {
  __shared__ __align__(16) T xs[kTile * kLd];
  __shared__ __align__(16) T as[kR * kLd];
  constexpr int kNt = kR / 8;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t r0 = int64_t(blockIdx.x) * kTile;
  const int64_t c_begin = int64_t(blockIdx.y) * split_cols, c_end = min(in, c_begin + split_cols);
  const uint64_t key = dropout_key(seed, *step);

  float acc[kNt][4];
#pragma unroll
  for (int nt = 0; nt < kNt; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
  // ldmatrix row addresses: A operand = drop(x) rows (m) x columns (k); B operand = A rows (n = rank) x columns (k).
  const uint32_t x_lane = smem_addr(xs + (16 * warp + (lane & 15)) * kLd + 8 * (lane >> 4));
  const uint32_t a_lane = smem_addr(as + ((lane & 7) + 8 * (lane >> 4)) * kLd + 8 * ((lane >> 3) & 1));

  for (int64_t c0 = c_begin; c0 < c_end; c0 += kTile) {
    __syncthreads();  // every warp is done with the previous tiles
    stage_dropped<T>(xs, nullptr, x, rows, in, r0, c0, c_end, key, p, keep_scale, true);
    stage_a<T, kR>(as, a, rank, in, c0, c_end);
    __syncthreads();
#pragma unroll
    for (int ks = 0; ks < kTile / 16; ks++) {
      uint32_t af[4];
      ldsm_x4(af, x_lane + ks * 32);
#pragma unroll
      for (int np = 0; np < kNt / 2; np++) {
        uint32_t bf[4];
        ldsm_x4(bf, a_lane + ks * 32 + np * 16 * kLd * 2);
        mma16816<T>(acc[2 * np], af, {bf[0], bf[1]});
        mma16816<T>(acc[2 * np + 1], af, {bf[2], bf[3]});
      }
    }
  }
  // Lane (g, t) holds rows g and g + 8 of the warp's strip, ranks 8 nt + 2 t and + 1.
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int64_t row = r0 + 16 * warp + g + 8 * half;
    if (row >= rows) continue;
#pragma unroll
    for (int nt = 0; nt < kNt; nt++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const int j = 8 * nt + 2 * t + e;
        if (j >= rank) continue;
        const float v = acc[nt][2 * half + e];
        if (partial != nullptr) partial[(int64_t(blockIdx.y) * rows + row) * rank + j] = v;
        else xa[row * rank + j] = from_f<T>(v);
      }
  }
}

// xa[i] = T(sum over the splits of partial[s][i]), in split order.
template <class T>
__global__ void reduce_rows_kernel(const float* __restrict__ partial, int64_t n, int splits, T* __restrict__ xa) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.0f;
    for (int k = 0; k < splits; k++) s += partial[k * n + i];
    xa[i] = from_f<T>(s);
  }
}

// Columns [64 blockIdx.x, + 64) over the rows of split blockIdx.y: dx = drop'(scale g A) (when dx is not null) and
// dA += scale g^T drop(x) (when da or da_partial is not null: into da directly for one split, else the split's
// fp32 partial [rank, in]).
template <class T, int kR>
__global__ void __launch_bounds__(kThreads) lora_up_grad_kernel(
    const T* __restrict__ g, const T* __restrict__ x, const T* __restrict__ a, int64_t rows, int64_t in, int rank,
    int64_t split_rows, const uint64_t* step, uint64_t seed, float p, float keep_scale, float scale,
    T* __restrict__ dx, float* __restrict__ da, float* __restrict__ da_partial) {
  constexpr int kLdG = tc_ld<kR>(), kMt = kR / 16;
  __shared__ __align__(16) T xs[kTile * kLd];  // drop(x) tile, then the dx tile on its way out
  __shared__ __align__(16) T as[kR * kLd];     // A[:, columns]
  __shared__ __align__(16) T gs[kTile * kLdG]; // g rows of the tile
  __shared__ uint8_t keep[kTile * kChunks];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gq = lane >> 2, t = lane & 3;
  const int64_t c0 = int64_t(blockIdx.x) * kTile;
  const int64_t r_begin = int64_t(blockIdx.y) * split_rows, r_end = min(rows, r_begin + split_rows);
  const bool want_da = da != nullptr || da_partial != nullptr, want_dx = dx != nullptr;
  const uint64_t key = dropout_key(seed, *step);
  if (want_dx) stage_a<T, kR>(as, a, rank, in, c0, in);

  // dA accumulators: rank rows (kMt strips of 16) x this warp's 16 columns (2 n-tiles).
  float acc_da[kMt][2][4];
#pragma unroll
  for (int mt = 0; mt < kMt; mt++)
#pragma unroll
    for (int nt = 0; nt < 2; nt++) acc_da[mt][nt][0] = acc_da[mt][nt][1] = acc_da[mt][nt][2] = acc_da[mt][nt][3] = 0.0f;

  // ldmatrix row addresses.
  // dA: A operand = g^T (m = rank, k = rows) from gs [rows][rank] by .trans; B operand = drop(x) (k = rows,
  // n = columns) from xs by .trans, this warp's columns 16 warp .. + 15.
  const uint32_t gt_lane = smem_addr(gs + ((lane & 7) + 8 * (lane >> 4)) * kLdG + 8 * ((lane >> 3) & 1));
  const uint32_t xd_lane = smem_addr(xs + ((lane & 7) + 8 * ((lane >> 3) & 1)) * kLd + 16 * warp + 8 * (lane >> 4));
  // dx: A operand = g (m = this warp's 16 rows, k = rank) from gs; B operand = A (k = rank, n = columns) by .trans.
  const uint32_t g_lane = smem_addr(gs + (16 * warp + (lane & 15)) * kLdG + 8 * (lane >> 4));
  const uint32_t at_lane = smem_addr(as + ((lane & 7) + 8 * ((lane >> 3) & 1)) * kLd + 8 * (lane >> 4));

  for (int64_t r0 = r_begin; r0 < r_end; r0 += kTile) {
    __syncthreads();  // the previous tile's dx left xs; every warp is done with gs
    stage_g<T, kR>(gs, g, rank, r0, r_end);
    stage_dropped<T>(xs, keep, x, r_end, in, r0, c0, in, key, p, keep_scale, want_da);
    __syncthreads();
    if (want_da) {
#pragma unroll
      for (int ks = 0; ks < kTile / 16; ks++) {
        uint32_t bf[4];
        ldsm_x4_t(bf, xd_lane + ks * 16 * kLd * 2);
#pragma unroll
        for (int mt = 0; mt < kMt; mt++) {
          uint32_t af[4];
          ldsm_x4_t(af, gt_lane + ks * 16 * kLdG * 2 + mt * 32);
          mma16816<T>(acc_da[mt][0], af, {bf[0], bf[1]});
          mma16816<T>(acc_da[mt][1], af, {bf[2], bf[3]});
        }
      }
    }
    if (!want_dx) continue;
    float acc[kTile / 8][4];
#pragma unroll
    for (int nt = 0; nt < kTile / 8; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kMt; kk++) {
      uint32_t af[4];
      ldsm_x4(af, g_lane + kk * 32);
#pragma unroll
      for (int np = 0; np < kTile / 16; np++) {
        uint32_t bf[4];
        ldsm_x4_t(bf, at_lane + kk * 16 * kLd * 2 + np * 32);
        mma16816<T>(acc[2 * np], af, {bf[0], bf[1]});
        mma16816<T>(acc[2 * np + 1], af, {bf[2], bf[3]});
      }
    }
    __syncthreads();  // every warp has read its drop(x) fragments: xs takes the dx tile
    // scale g A is rounded to T (the GEMM's output), then masked and rescaled and rounded (jsw_dropout's).
#pragma unroll
    for (int nt = 0; nt < kTile / 8; nt++)
#pragma unroll
      for (int half = 0; half < 2; half++) {
        const int r = 16 * warp + gq + 8 * half, c = 8 * nt + 2 * t;
        const uint32_t bits = keep[r * kChunks + nt];
        float v[2];
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const float low = to_f(from_f<T>(scale * acc[nt][2 * half + e]));
          v[e] = p == 0.0f ? low : ((bits >> (2 * t + e)) & 1u) ? low * keep_scale : 0.0f;
        }
        *reinterpret_cast<uint32_t*>(xs + r * kLd + c) = pack_floats<T>(v[0], v[1]);
      }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kTile * kChunks / kThreads; i++) {
      const int idx = int(threadIdx.x) + i * kThreads, r = idx / kChunks, c = (idx % kChunks) * 8;
      if (r0 + r < r_end && c0 + c < in)
        *reinterpret_cast<uint4*>(dx + (r0 + r) * in + c0 + c) = *reinterpret_cast<const uint4*>(xs + r * kLd + c);
    }
  }
  if (!want_da) return;
  // Lane (gq, t) holds ranks 16 mt + gq (+ 8) and columns 16 warp + 8 nt + 2 t (+ 1).
#pragma unroll
  for (int mt = 0; mt < kMt; mt++)
#pragma unroll
    for (int nt = 0; nt < 2; nt++)
#pragma unroll
      for (int half = 0; half < 2; half++) {
        const int j = 16 * mt + gq + 8 * half;
        if (j >= rank) continue;
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const int64_t col = c0 + 16 * warp + 8 * nt + 2 * t + e;
          if (col >= in) continue;
          const float v = acc_da[mt][nt][2 * half + e];
          if (da_partial != nullptr) da_partial[(int64_t(blockIdx.y) * rank + j) * in + col] = v;
          else da[j * in + col] += scale * v;
        }
      }
}

// da[i] += scale * (sum over the splits of partial[s][i]), in split order.
__global__ void reduce_da_kernel(const float* __restrict__ partial, int64_t n, int splits, float scale,
                                 float* __restrict__ da) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.0f;
    for (int k = 0; k < splits; k++) s += partial[k * n + i];
    da[i] += scale * s;
  }
}

unsigned reduce_grid(int64_t n) {
  const int64_t blocks = (n + 255) / 256;
  return unsigned(blocks < 4096 ? blocks : 4096);
}

// Whether a call takes the fused kernels (bf16 / f16 only: the launchers instantiate those two; else the unfused
// sequence).
bool fused(int dtype, int64_t in, int64_t rank, std::initializer_list<const void*> ptrs) {
  return (dtype == JSW_BF16 || dtype == JSW_F16) && rank % 8 == 0 && rank <= kMaxRank && in % 8 == 0 &&
         aligned16(ptrs) && !env_is("JSWIFT_LORA_RANK", "unfused");
}

// Splits of a reduction of `length` (in 64-wide tiles) that give at least four blocks a multiprocessor when
// `blocks` blocks cover the other dimension (a block loads its tiles without prefetching: the other blocks of its
// multiprocessor hide that latency); returns the split's length, a multiple of 64.
int64_t split_length(int device, int64_t blocks, int64_t length) {
  const int64_t tiles = (length + kTile - 1) / kTile;
  int64_t splits = (4 * int64_t(sm_count(device)) + blocks - 1) / blocks;
  splits = std::max<int64_t>(1, std::min(splits, tiles));
  return (tiles + splits - 1) / splits * kTile;
}

// The kernel instance for a rank (rounded up to 16).
template <template <class, int> class Launch, class T, class... Args>
void by_rank(int64_t rank, Args&&... args) {
  if (rank <= 16) Launch<T, 16>::run(args...);
  else if (rank <= 32) Launch<T, 32>::run(args...);
  else if (rank <= 48) Launch<T, 48>::run(args...);
  else Launch<T, 64>::run(args...);
}

template <class T, int kR>
struct Down {
  static void run(cudaStream_t s, dim3 grid, const void* x, const void* a, int64_t rows, int64_t in, int64_t rank,
                  int64_t split_cols, const uint64_t* step, uint64_t seed, float p, float keep_scale, float* partial,
                  void* xa) {
    lora_down_kernel<T, kR><<<grid, kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(a), rows, in,
                                                      int(rank), split_cols, step, seed, p, keep_scale, partial,
                                                      static_cast<T*>(xa));
  }
};

template <class T, int kR>
struct UpGrad {
  static void run(cudaStream_t s, dim3 grid, const void* g, const void* x, const void* a, int64_t rows, int64_t in,
                  int64_t rank, int64_t split_rows, const uint64_t* step, uint64_t seed, float p, float keep_scale,
                  float scale, void* dx, float* da, float* da_partial) {
    lora_up_grad_kernel<T, kR><<<grid, kThreads, 0, s>>>(
        static_cast<const T*>(g), static_cast<const T*>(x), static_cast<const T*>(a), rows, in, int(rank), split_rows,
        step, seed, p, keep_scale, scale, static_cast<T*>(dx), da, da_partial);
  }
};

// drop(x) as jsw_dropout stores it, for the unfused sequence: x itself when p = 0, else a masked copy.
class Dropped {
 public:
  Dropped(int device, int dtype, const void* x, int64_t n, float p, uint64_t seed)
      : copy_(device, p > 0.0f ? n * (dtype == JSW_F32 ? 4 : 2) : 0), ptr_(p > 0.0f ? copy_.as<void>() : x) {
    if (p > 0.0f) dropout(device, dtype, x, n, p, seed, copy_.as<void>());
  }
  const void* get() const { return ptr_; }

 private:
  Scratch copy_;
  const void* ptr_;
};

}  // namespace

void lora_down(int device, int dtype, const void* x, const void* a, int64_t rows, int64_t in, int64_t rank, float p,
               uint64_t seed, void* xa) {
  if (!fused(dtype, in, rank, {x, a, xa})) {
    Dropped xd(device, dtype, x, rows * in, p, seed);
    gemm(device, dense_gemm_args(dtype, dtype, false, true, rows, rank, in, 1.0f, xd.get(), a, 0.0f, xa));
    return;
  }
  cudaStream_t s = stream(device);
  const int64_t row_blocks = (rows + kTile - 1) / kTile;
  const int64_t split_cols = split_length(device, row_blocks, in);
  const int64_t splits = (in + split_cols - 1) / split_cols;
  Scratch partial(device, splits > 1 ? splits * rows * rank * int64_t(sizeof(float)) : 0);
  const dim3 grid(static_cast<unsigned>(row_blocks), static_cast<unsigned>(splits));
  const float keep_scale = 1.0f / (1.0f - p);
  auto launch = [&](auto type_tag) {
    using T = decltype(type_tag);
    by_rank<Down, T>(rank, s, grid, x, a, rows, in, rank, split_cols, dropout_step(device), seed, p, keep_scale,
                     splits > 1 ? partial.as<float>() : nullptr, xa);
    check_launch("lora_down_kernel");
    if (splits > 1) {
      reduce_rows_kernel<T><<<reduce_grid(rows * rank), 256, 0, s>>>(partial.as<float>(), rows * rank, int(splits),
                                                                    static_cast<T*>(xa));
      check_launch("lora_down reduce_rows_kernel");
    }
  };
  if (dtype == JSW_BF16) launch(__nv_bfloat16{});
  else launch(__half{});
}

void lora_up_grad(int device, int dtype, const void* g, const void* x, const void* a, int64_t rows, int64_t in,
                  int64_t rank, float scale, float p, uint64_t seed, void* dx, float* da) {
  if (!fused(dtype, in, rank, {g, x, a, dx})) {
    if (da != nullptr) {
      Dropped xd(device, dtype, x, rows * in, p, seed);
      gemm(device, dense_gemm_args(dtype, JSW_F32, true, false, rank, in, rows, scale, g, xd.get(), 1.0f, da));
    }
    if (dx != nullptr) {
      gemm(device, dense_gemm_args(dtype, dtype, false, false, rows, in, rank, scale, g, a, 0.0f, dx));
      if (p > 0.0f) dropout(device, dtype, dx, rows * in, p, seed, dx);
    }
    return;
  }
  cudaStream_t s = stream(device);
  const int64_t col_blocks = (in + kTile - 1) / kTile;
  const int64_t split_rows = split_length(device, col_blocks, rows);  // dx alone needs no reduction: any split
  const int64_t splits = (rows + split_rows - 1) / split_rows;
  Scratch partial(device, da != nullptr && splits > 1 ? splits * rank * in * int64_t(sizeof(float)) : 0);
  float* da_partial = da != nullptr && splits > 1 ? partial.as<float>() : nullptr;
  const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(splits));
  const float keep_scale = 1.0f / (1.0f - p);
  auto launch = [&](auto type_tag) {
    using T = decltype(type_tag);
    by_rank<UpGrad, T>(rank, s, grid, g, x, a, rows, in, rank, split_rows, dropout_step(device), seed, p, keep_scale,
                       scale, dx, da_partial == nullptr ? da : nullptr, da_partial);
    check_launch("lora_up_grad_kernel");
  };
  if (dtype == JSW_BF16) launch(__nv_bfloat16{});
  else launch(__half{});
  if (da_partial != nullptr) {
    reduce_da_kernel<<<reduce_grid(rank * in), 256, 0, s>>>(da_partial, rank * in, int(splits), scale, da);
    check_launch("lora_up_grad reduce_da_kernel");
  }
}

}  // namespace cuda
}  // namespace jsw
