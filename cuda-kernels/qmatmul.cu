// The dequant-to-tile GEMM on CUDA, the twin of native/src/cpu/qmatmul.cpp + qmatmul_formats.cpp: a workspace
// tile of one panel of W's rows in the storage dtype (what the dense path's dequantized weight is, so cuBLAS
// runs the same tensor-core GEMM), filled by the format's tile kernel and multiplied by cuBLAS on the same
// stream. Forward panels write disjoint columns of y; the backward's panels all add into y, so with more than
// one panel they accumulate in an fp32 workspace [rows, in] (activation-sized) and y is written once.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "common.cuh"
#include "gptq_rows.cuh"
#include "kernels/awq.h"
#include "kernels/gemm.h"
#include "kernels/gptq.h"
#include "kernels/nf4_codes.h"
#include "kernels/qmatmul.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxGrid = 1u << 20;  // grid-stride loops cover the rest

__constant__ float kNf4Levels[16] = {JSW_NF4_CODEBOOK};

unsigned grid_for(int64_t items) {
  unsigned g = blocks_for(items, kThreads);
  return g < kMaxGrid ? g : kMaxGrid;
}

// One thread per tile value: element e = r0 * in + t of the flattened weight. The scale is the plain absmax or
// the double-quantized one recovered as nf4_dequantize_dq does (product and sum rounded separately).
template <class T>
__global__ void nf4_tile_kernel(const uint8_t* __restrict__ packed, const float* __restrict__ absmax,
                                const uint8_t* __restrict__ absmax_q, const float* __restrict__ nested,
                                const float* __restrict__ code256, float offset, int64_t e0, int64_t count,
                                int64_t blocksize, T* __restrict__ tile) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Levels[threadIdx.x];
  __syncthreads();
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < count; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = e0 + t, b = e / blocksize;
    const unsigned byte = packed[e >> 1];
    const float s = absmax != nullptr ? absmax[b]
                                      : __fadd_rn(__fmul_rn(code256[absmax_q[b]], nested[b / nf4::kNestedBlock]),
                                                  offset);
    tile[t] = from_f<T>(__fmul_rn(lut[(e & 1) ? (byte & 15u) : (byte >> 4)], s));
  }
}

// Sixteen values a thread (the panel's start, its length, in and blocksize multiples of 16): one 8-byte load of
// codes, one scale, and the outputs stored as 16-byte vectors; the same products as nf4_tile_kernel, bit for bit.
// shift = log2(blocksize), or -1 when it is no power of two. JSWIFT_NF4_TILE=v1 keeps it off (the benchmark's
// before / after).
// The 16 values of W from flattened element e (a multiple of 16, inside one absmax block) to dst (16-byte aligned).
template <class T>
__device__ __forceinline__ void nf4_decode16(const uint2* __restrict__ packed, const float* __restrict__ absmax,
                                             const uint8_t* __restrict__ absmax_q, const float* __restrict__ nested,
                                             const float* __restrict__ code256, float offset, int64_t e,
                                             int64_t blocksize, int shift, const float* lut, T* __restrict__ dst) {
  const int64_t b = shift >= 0 ? e >> shift : e / blocksize;
  const uint2 q = __ldcs(packed + (e >> 4));
  const float s = absmax != nullptr ? absmax[b]
                                    : __fadd_rn(__fmul_rn(code256[absmax_q[b]], nested[b / nf4::kNestedBlock]),
                                                offset);
  alignas(16) T v[16];
#pragma unroll
  for (int j = 0; j < 8; j++) {
    const unsigned byte = ((j < 4 ? q.x : q.y) >> (8 * (j & 3))) & 0xffu;
    v[2 * j] = from_f<T>(__fmul_rn(lut[byte >> 4], s));
    v[2 * j + 1] = from_f<T>(__fmul_rn(lut[byte & 15u], s));
  }
  uint4* d = reinterpret_cast<uint4*>(dst);
  const uint4* src = reinterpret_cast<const uint4*>(v);
#pragma unroll
  for (int k = 0; k < int(16 * sizeof(T) / 16); k++) d[k] = src[k];
}

template <class T>
__global__ void nf4_tile16_kernel(const uint2* __restrict__ packed, const float* __restrict__ absmax,
                                  const uint8_t* __restrict__ absmax_q, const float* __restrict__ nested,
                                  const float* __restrict__ code256, float offset, int64_t e0, int64_t count16,
                                  int64_t blocksize, int shift, T* __restrict__ tile) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Levels[threadIdx.x];
  __syncthreads();
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < count16; t += int64_t(gridDim.x) * blockDim.x)
    nf4_decode16(packed, absmax, absmax_q, nested, code256, offset, e0 + t * 16, blocksize, shift, lut,
                 tile + t * 16);
}

// The column panel W[:, c0 : c0 + 16 * width16] as tile [out, 16 * width16], sixteen values a thread as
// nf4_tile16_kernel (c0, in and blocksize multiples of 16; the tile has fewer than 2^31 groups of 16).
template <class T>
__global__ void nf4_cols16_kernel(const uint2* __restrict__ packed, const float* __restrict__ absmax,
                                  const uint8_t* __restrict__ absmax_q, const float* __restrict__ nested,
                                  const float* __restrict__ code256, float offset, int64_t in, int64_t c0,
                                  unsigned width16, unsigned count16, int64_t blocksize, int shift,
                                  T* __restrict__ tile) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Levels[threadIdx.x];
  __syncthreads();
  for (unsigned t = blockIdx.x * blockDim.x + threadIdx.x; t < count16; t += gridDim.x * blockDim.x) {
    const unsigned r = t / width16, j = t - r * width16;
    nf4_decode16(packed, absmax, absmax_q, nested, code256, offset, int64_t(r) * in + c0 + 16 * int64_t(j),
                 blocksize, shift, lut, tile + int64_t(t) * 16);
  }
}

// One thread per packed word [k, j] of the panel's word columns j0..j1 - 1; consecutive threads take consecutive
// inputs k of one word column, so each of the 8 stores of a warp is a contiguous run of a tile row (as
// awq_dequant_kernel, whose fp32 product this is). Outputs of an edge word outside [r0, r1) are skipped.
template <class T>
__global__ void awq_tile_kernel(const int32_t* __restrict__ qweight, const int32_t* __restrict__ qzeros,
                                const __half* __restrict__ scales, int64_t in, int64_t out, int64_t group_size,
                                int64_t r0, int64_t r1, T* __restrict__ tile) {
  const int64_t words = out / 8, j0 = r0 / 8, total = ((r1 - 1) / 8 + 1 - j0) * in;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = j0 + t / in, k = t % in, g = k / group_size;
    const unsigned word = unsigned(qweight[k * words + j]), zword = unsigned(qzeros[g * words + j]);
    const __half* s = scales + g * out + j * 8;
#pragma unroll
    for (int m = 0; m < 8; m++) {
      const int64_t c = j * 8 + m;
      if (c < r0 || c >= r1) continue;
      // nibble of output 8j + m (awq::kNibbleOf, as arithmetic: a host constexpr table is not device memory)
      const int shift = 4 * ((m >> 1) + 4 * (m & 1));
      const int q = int((word >> shift) & 15u), z = int((zword >> shift) & 15u);
      tile[(c - r0) * in + k] = from_f<T>(__fmul_rn(__half2float(s[m]), float(q - z)));
    }
  }
}

// y = acc + beta * y (beta = 0: y's old contents, possibly NaN, are not read).
template <class T>
__global__ void finish_kernel(const float* __restrict__ acc, int64_t n, float beta, T* __restrict__ y) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f<T>(beta == 0.0f ? acc[i] : acc[i] + beta * to_f(y[i]));
}

void gemm_rm(int device, int dtype, int c_dtype, bool tb, int64_t m, int64_t n, int64_t k, const void* a,
             int64_t lda, const void* b, int64_t ldb, float beta, void* c, int64_t ldc) {
  ::jsw::cuda::gemm(device, gemm_args(dtype, c_dtype, false, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc));
}

}  // namespace

bool Nf4DeviceRows::by16() const {
  return in_ % 16 == 0 && blocksize_ % 16 == 0 && reinterpret_cast<uintptr_t>(packed_) % 8 == 0 &&
         !env_is("JSWIFT_NF4_TILE", "v1");
}

int64_t Nf4DeviceRows::column_quantum() const {
  return by16() && !env_is("JSWIFT_NF4_BWD", "acc") ? 16 : 0;
}

void Nf4DeviceRows::columns(int dtype, int64_t out, int64_t c0, int64_t c1, void* tile, cudaStream_t s) const {
  const int64_t width16 = (c1 - c0) / 16, count16 = out * width16;
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_nf4_matmul",
                          nf4_cols16_kernel<T><<<grid_for(count16), kThreads, 0, s>>>(
                              reinterpret_cast<const uint2*>(packed_), absmax_, absmax_q_, nested_, code256_,
                              offset_, in_, c0, unsigned(width16), unsigned(count16), blocksize_,
                              log2_or_minus_one(blocksize_), static_cast<T*>(tile)));
  check_launch("nf4_cols16_kernel");
}

void Nf4DeviceRows::rows(int dtype, int64_t r0, int64_t r1, void* tile, cudaStream_t s) const {
  const int64_t count = (r1 - r0) * in_;
  if (by16() && reinterpret_cast<uintptr_t>(tile) % 16 == 0) {
    const int shift = log2_or_minus_one(blocksize_);
    JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_nf4_matmul",
                            nf4_tile16_kernel<T><<<grid_for(count / 16), kThreads, 0, s>>>(
                                reinterpret_cast<const uint2*>(packed_), absmax_, absmax_q_, nested_, code256_,
                                offset_, r0 * in_, count / 16, blocksize_, shift, static_cast<T*>(tile)));
    check_launch("nf4_tile16_kernel");
    return;
  }
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_nf4_matmul",
                          nf4_tile_kernel<T><<<grid_for(count), kThreads, 0, s>>>(
                              packed_, absmax_, absmax_q_, nested_, code256_, offset_, r0 * in_, count, blocksize_,
                              static_cast<T*>(tile)));
  check_launch("nf4_tile_kernel");
}

void GptqDeviceRows::rows(int dtype, int64_t r0, int64_t r1, void* tile, cudaStream_t s) const {
  const int64_t words = (in_ / (32 / bits_)) * (r1 - r0);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_gptq_matmul",
                          gptq_rows_kernel<T><<<grid_for(words), kThreads, 0, s>>>(
                              qweight_, qzeros_, reinterpret_cast<const __half*>(scales_), g_idx_, in_, out_, bits_,
                              groups_, r0, r1, static_cast<T*>(tile)));
  check_launch("gptq_rows_kernel");
}

void AwqDeviceRows::rows(int dtype, int64_t r0, int64_t r1, void* tile, cudaStream_t s) const {
  const int64_t j0 = r0 / awq::kPerWord, j1 = (r1 - 1) / awq::kPerWord + 1;
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_awq_matmul",
                          awq_tile_kernel<T><<<grid_for((j1 - j0) * in_), kThreads, 0, s>>>(
                              qweight_, qzeros_, reinterpret_cast<const __half*>(scales_), in_, out_, group_size_, r0,
                              r1, static_cast<T*>(tile)));
  check_launch("awq_tile_kernel");
}

namespace {

// The side stream and events of one device's dequantize / multiply pipeline, made on first use (outside a
// capture: a graph's warm-up makes them) and kept for the process. The mutex keeps two host threads enqueuing
// on one device from interleaving their use of the events.
struct Overlap {
  std::mutex mutex;
  cudaStream_t side = nullptr;
  cudaEvent_t fork = nullptr, filled[2] = {nullptr, nullptr}, used[2] = {nullptr, nullptr};
};

Overlap* overlap_for(int device) {
  static std::mutex made_mutex;
  static std::map<int, Overlap*> made;
  std::lock_guard<std::mutex> lock(made_mutex);
  auto it = made.find(device);
  if (it != made.end()) return it->second;
  if (capturing(device)) return nullptr;  // first use inside a capture: no overlap this time
  // Streams and events belong to the device current when they are made: make `device` current (stream() sets
  // it) before making any, so that on a multi-GPU machine the side stream is not made on another device.
  stream(device);
  // Made into an Overlap the cache does not hold yet, all destroyed again if one fails (a CUDA error, or no memory
  // for the cache's node); cached, for the process like the device's stream, only once all of them are made.
  auto ov = std::make_unique<Overlap>();
  cudaEvent_t* events[] = {&ov->fork, &ov->filled[0], &ov->filled[1], &ov->used[0], &ov->used[1]};
  try {
    JSW_CUDA_CHECK(cudaStreamCreateWithFlags(&ov->side, cudaStreamNonBlocking));
    for (cudaEvent_t* e : events) JSW_CUDA_CHECK(cudaEventCreateWithFlags(e, cudaEventDisableTiming));
    made.emplace(device, ov.get());
  } catch (...) {
    for (cudaEvent_t* e : events)
      if (*e != nullptr) cudaEventDestroy(*e);
    if (ov->side != nullptr) cudaStreamDestroy(ov->side);
    throw;
  }
  return ov.release();
}

// The pipeline for a product of `panels` (pipeline_panels) panels, or null: one panel, or JSWIFT_QMATMUL_OVERLAP=0.
Overlap* pipeline(int device, int64_t panels) {
  return panels >= 2 && !env_is("JSWIFT_QMATMUL_OVERLAP", "0") ? overlap_for(device) : nullptr;
}

// Runs `panels` panels: fill(i, tile, stream) dequantizes panel i into a tile on `stream`, use(i, tile) multiplies
// it on the device stream. With an Overlap, two tiles alternate and the side stream fills panel i + 1 while the
// device stream multiplies panel i (a memory-bound kernel beside a compute-bound GEMM), each tile refilled once
// the GEMM that read it is done; the device stream waits for each fill, so after the loop every side-stream op is
// ordered before whatever the device stream runs next (the tiles' release included).
template <class Fill, class Use>
void run_panels(int device, Overlap* ov, int64_t panels, int64_t tile_bytes, const Fill& fill, const Use& use) {
  cudaStream_t s0 = stream(device);
  if (ov == nullptr || panels < 2) {
    Scratch tile(device, tile_bytes);
    for (int64_t i = 0; i < panels; i++) {
      fill(i, tile.as<void>(), s0);
      use(i, tile.as<void>());
    }
    return;
  }
  Scratch t0(device, tile_bytes), t1(device, tile_bytes);
  void* tiles[2] = {t0.as<void>(), t1.as<void>()};
  std::lock_guard<std::mutex> lock(ov->mutex);
  JSW_CUDA_CHECK(cudaEventRecord(ov->fork, s0));  // the side stream starts after all queued work
  JSW_CUDA_CHECK(cudaStreamWaitEvent(ov->side, ov->fork, 0));
  try {
    for (int64_t i = 0; i < panels; i++) {
      const int b = int(i & 1);
      if (i >= 2) JSW_CUDA_CHECK(cudaStreamWaitEvent(ov->side, ov->used[b], 0));  // panel i - 2's GEMM read it
      fill(i, tiles[b], ov->side);
      JSW_CUDA_CHECK(cudaEventRecord(ov->filled[b], ov->side));
      JSW_CUDA_CHECK(cudaStreamWaitEvent(s0, ov->filled[b], 0));
      use(i, tiles[b]);
      JSW_CUDA_CHECK(cudaEventRecord(ov->used[b], s0));
    }
  } catch (...) {
    // join before the tiles go back to the cache, so no later op reuses a block the side stream still writes
    if (cudaEventRecord(ov->fork, ov->side) == cudaSuccess) cudaStreamWaitEvent(s0, ov->fork, 0);
    throw;
  }
}

}  // namespace

void qmatmul(int device, const DeviceRowDequant& deq, int dtype, const void* x, int64_t rows, int64_t out,
             int64_t in, bool trans, float beta, void* y) {
  if (rows == 0) return;
  const int64_t esize = dtype == JSW_F32 ? 4 : 2;
  const char* xb = static_cast<const char*>(x);
  char* yb = static_cast<char*>(y);
  // The pipeline cuts the weight into panels along the output's columns (out forward, in backward), at least as
  // many as it wants, each at most the tile budget. JSWIFT_QMATMUL_TILE=whole (the benchmark's variant) takes the
  // whole weight as one tile instead: one dequantization, then one GEMM, nothing overlapped.
  const bool whole = env_is("JSWIFT_QMATMUL_TILE", "whole");
  const int64_t tile_values = whole ? out * in : qmatmul::kCudaTileValues;
  const int64_t want = whole ? 1 : qmatmul::pipeline_panels(rows * (trans ? in : out));
  Overlap* ov = pipeline(device, want);
  const int64_t budget = std::min(tile_values, out * in / want);
  // Row panels of `panel` rows: fills for run_panels.
  auto row_fill = [&](int64_t panel) {
    return [&deq, dtype, out, panel](int64_t i, void* tile, cudaStream_t s) {
      deq.rows(dtype, i * panel, std::min(out, (i + 1) * panel), tile, s);
    };
  };
  if (!trans) {
    // balanced panels: ceil(out / want) rows rounded up to 16, within the tile budget
    const int64_t m = qmatmul::kMinPanel, balanced = ((out + want - 1) / want + m - 1) / m * m;
    const int64_t panel = std::min(qmatmul::panel_rows(out, in, tile_values), balanced);
    run_panels(device, ov, (out + panel - 1) / panel, panel * in * esize, row_fill(panel),
               [&](int64_t i, void* tile) {
                 const int64_t o0 = i * panel, n = std::min(out, o0 + panel) - o0;
                 // y[:, o0:o0+n] = x tile^T + beta y[:, o0:o0+n]
                 gemm_rm(device, dtype, dtype, true, rows, n, in, x, in, tile, in, beta, yb + o0 * esize, out);
               });
    return;
  }
  // The backward: row panels at the full budget first (a forced split would add passes over the accumulator).
  const int64_t panel = qmatmul::panel_rows(out, in, tile_values), row_panels = (out + panel - 1) / panel;
  const int64_t quantum = deq.column_quantum();
  if (quantum > 0 && (row_panels > 1 || ov != nullptr)) {
    // Column panels W[:, c0:c1] (balanced widths, multiples of the format's quantum): each owns its columns of
    // y, one GEMM over all of out each, so no fp32 accumulator is read and written once per row panel.
    // JSWIFT_NF4_BWD=acc keeps the row panels (the benchmark's before / after).
    const int64_t width = qmatmul::panel_columns(out, in, budget, quantum), col_panels = (in + width - 1) / width;
    run_panels(
        device, ov, col_panels, out * width * esize,
        [&](int64_t i, void* tile, cudaStream_t s) {
          deq.columns(dtype, out, i * width, std::min(in, (i + 1) * width), tile, s);
        },
        [&](int64_t i, void* tile) {
          const int64_t c0 = i * width, n = std::min(in, c0 + width) - c0;
          // y[:, c0:c0+n] = x tile + beta y[:, c0:c0+n]
          gemm_rm(device, dtype, dtype, false, rows, n, out, x, out, tile, n, beta, yb + c0 * esize, in);
        });
    return;
  }
  if (row_panels == 1) {  // one panel: straight into y
    run_panels(device, nullptr, 1, out * in * esize, row_fill(out), [&](int64_t, void* tile) {
      gemm_rm(device, dtype, dtype, false, rows, in, out, x, out, tile, in, beta, y, in);
    });
    return;
  }
  Scratch acc(device, rows * in * 4);
  run_panels(device, ov, row_panels, panel * in * esize, row_fill(panel), [&](int64_t i, void* tile) {
    const int64_t o0 = i * panel, n = std::min(out, o0 + panel) - o0;
    // acc += x[:, o0:o0+n] tile (fp32 C: the panels' partial sums are not rounded to dtype in between)
    gemm_rm(device, dtype, JSW_F32, false, rows, in, n, xb + o0 * esize, out, tile, in, i == 0 ? 0.0f : 1.0f,
            acc.as<void>(), in);
  });
  JSW_CUDA_DISPATCH_FLOAT(dtype, "qmatmul",
                          finish_kernel<T><<<grid_for(rows * in), kThreads, 0, stream(device)>>>(
                              acc.as<float>(), rows * in, beta, static_cast<T*>(y)));
  check_launch("qmatmul finish_kernel");
}

}  // namespace cuda
}  // namespace jsw
