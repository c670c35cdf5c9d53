// Building blocks of the tensor-core flash attention for bf16 / f16 (attention_fwd_tc.cu, attention_bwd_tc.cu),
// for sm_80 and sm_90 with mma.sync.m16n8k16:
//  - tile copies global -> shared by cp.async (16-byte chunks, zero fill past the valid rows and columns), so
//    the next tile lands while the current one is multiplied;
//  - fragment loads with ldmatrix: .x4 fills a whole A operand (16 x 16) or the B operands of two n-tiles, and
//    .trans serves the operands stored k-major (V, dO, Q, K and dS rows where the product runs along them);
//  - shared rows padded by one 16-byte chunk, which keeps every ldmatrix free of bank conflicts.
//
// Operand addressing, used throughout (lane = 8 j + r: ldmatrix takes the 8 row addresses of matrix j from
// lanes 8 j .. 8 j + 7):
//   A (16 x 16), rows = m:               row m0 + (lane & 15),                    column k0 + 8 (lane >> 4)
//   A (16 x 16), rows = k, .trans:       row k0 + (lane & 7) + 8 (lane >> 4),       column m0 + 8 ((lane >> 3) & 1)
//   B (two n-tiles, k 16), rows = n:     row n0 + (lane & 7) + 8 (lane >> 4),       column k0 + 8 ((lane >> 3) & 1)
//   B (two n-tiles, k 16), rows = k, .trans: row k0 + (lane & 7) + 8 ((lane >> 3) & 1), column n0 + 8 (lane >> 4)
// giving {a0, a1, a2, a3} and {b0, b1} of n-tile n0, {b0, b1} of n-tile n0 + 8, in the register order of
// mma.sync.m16n8k16 (PTX ISA, "Matrix Fragments for mma.m16n8k16").
#pragma once

#include <climits>
#include <cstdint>

#include "attention_common.cuh"

namespace jsw {
namespace cuda {
namespace attn {

// ---- asynchronous copies ------------------------------------------------------------------------------------

// 16 bytes global -> shared; bytes = 0 writes 16 zeros and reads nothing (g must still be a valid address).
__device__ __forceinline__ void cp_async16(uint32_t s, const void* g, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(g), "r"(bytes));
}

// 4 bytes global -> shared, with the same zero fill.
__device__ __forceinline__ void cp_async4(uint32_t s, const void* g, int bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(g), "r"(bytes));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Rows [0, valid) of a global [*, D] matrix (row stride gld elements) into a [kRows, kDp] shared tile of row
// stride tc_ld<kDp>(), by cp.async 16-byte chunks (so D % 8 == 0 and rows are 16-byte aligned: the
// launchers send other calls to the generic kernels); rows >= valid and columns [D, kDp) become 0, so they add
// nothing to a product. The tile is readable by the whole block after cp_async_wait and a __syncthreads.
// Row 0 is always valid (tiles start inside their sequence): the zero-fill copies point there.
template <class T, int kRows, int kDp, int kThreads>
__device__ __forceinline__ void tile_load(T* s, const T* g, int64_t gld, int valid, int D) {
  constexpr int kLd = tc_ld<kDp>(), kChunks = kDp / 8, kTotal = kRows * kChunks;
  if constexpr (kThreads % kChunks == 0 && kRows % (kThreads / kChunks) == 0) {
    // Each thread keeps one column and steps down the rows: one address, advanced by a constant.
    constexpr int kStep = kThreads / kChunks;
    const int r0 = int(threadIdx.x) / kChunks, c = (int(threadIdx.x) - r0 * kChunks) * 8;
    const T* src = g + r0 * gld + c;
    const uint32_t dst = smem_addr(s + r0 * kLd + c);
#pragma unroll
    for (int i = 0; i < kRows / kStep; i++) {
      const bool ok = r0 + i * kStep < valid && c < D;
      cp_async16(dst + i * kStep * kLd * 2, ok ? src : g, ok ? 16 : 0);
      src += kStep * gld;
    }
  } else {
#pragma unroll
    for (int i = 0; i < (kTotal + kThreads - 1) / kThreads; i++) {
      const int idx = int(threadIdx.x) + i * kThreads;
      if (kTotal % kThreads == 0 || idx < kTotal) {
        const int r = idx / kChunks, c = (idx - r * kChunks) * 8;
        const bool ok = r < valid && c < D;
        cp_async16(smem_addr(s + r * kLd + c), ok ? g + r * gld + c : g, ok ? 16 : 0);
      }
    }
  }
}

// ---- visibility ----------------------------------------------------------------------------------------

// The visibility rule of one sequence (visible() in attention_common.cuh) in 32-bit arithmetic: the window is
// clamped to len + 1, past which it hides nothing, and 0 stands for none.
struct Visibility {
  int len, causal, window;
};

__device__ __forceinline__ Visibility visibility(const Params& p, int len) {
  return {len, p.causal, p.window > 0 ? int(min(p.window, int64_t(len) + 1)) : 0};
}

// The keys [x, y] that query i sees by causality and the window (the sequence end and the key mask aside).
__device__ __forceinline__ int2 keys_seen(const Visibility& v, int i) {
  return make_int2(v.window != 0 ? i - v.window + 1 : INT_MIN, v.causal ? i : INT_MAX);
}

// The queries [x, y] that see key j by causality and the window.
__device__ __forceinline__ int2 queries_seeing(const Visibility& v, int j) {
  return make_int2(v.causal ? j : INT_MIN,
                   v.window != 0 ? int(min(int64_t(j) + v.window - 1, int64_t(INT_MAX))) : INT_MAX);
}

// Bit 2 nt + c: key j0 + 8 nt + c lies in the sequence and is not padding (the columns of one lane's
// accumulator n-tiles). Computed once per key tile, shared by the lane's rows.
template <int NT>
__device__ __forceinline__ uint32_t key_bits(const Visibility& v, int j0, const int32_t* mask) {
  static_assert(NT <= 16, "one bit per column");
  uint32_t bits = 0;
  if (mask == nullptr) {
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int c = 0; c < 2; c++) bits |= uint32_t(j0 + 8 * nt + c < v.len) << (2 * nt + c);
  } else {
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int j = j0 + 8 * nt + c;
        if (j < v.len && mask[j] != 0) bits |= 1u << (2 * nt + c);
      }
  }
  return bits;
}

// Sets to -inf the scores of a 16-row strip (accumulator n-tiles; rows i and i + 8, column j0 + 8 nt + c for
// elements c and 2 + c) whose key the row does not see; keys from key_bits. Branch-free: bitwise tests and
// selects.
template <int NT>
__device__ __forceinline__ void mask_tile(float (&s)[NT][4], const Visibility& v, int i, int j0, uint32_t keys) {
  const int2 r0 = keys_seen(v, i), r1 = keys_seen(v, i + 8);
#pragma unroll
  for (int nt = 0; nt < NT; nt++) {
#pragma unroll
    for (int c = 0; c < 2; c++) {
      const int j = j0 + 8 * nt + c;
      const bool key = (keys >> (2 * nt + c)) & 1u;
      if (!(key & (j >= r0.x) & (j <= r0.y))) s[nt][c] = -INFINITY;
      if (!(key & (j >= r1.x) & (j <= r1.y))) s[nt][2 + c] = -INFINITY;
    }
  }
}

// ---- arithmetic -------------------------------------------------------------------------------------------

// c += A B with B given as its two registers.
template <class T>
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  const uint32_t b[2] = {b0, b1};
  mma16816<T>(c, a, b);
}

// 2^x by the special-function unit (relative error ~2^-22; 2^-inf = +0, which masking relies on).
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// The A operand (16 x 16) of a product whose left factor is held as two 16 x 8 accumulator n-tiles
// (columns 0..7 and 8..15), rounded to T: FA2's reuse of S / P / dS registers without a trip through memory.
template <class T>
__device__ __forceinline__ void acc_to_a(uint32_t (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
  a[0] = pack_floats<T>(lo[0], lo[1]);
  a[1] = pack_floats<T>(lo[2], lo[3]);
  a[2] = pack_floats<T>(hi[0], hi[1]);
  a[3] = pack_floats<T>(hi[2], hi[3]);
}

// dst[0], dst[1] += a, b in global memory: one 8-byte vector reduction on sm_90, two on earlier GPUs.
__device__ __forceinline__ void atomic_add2(float* dst, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(dst), make_float2(a, b));
#else
  atomicAdd(dst, a);
  atomicAdd(dst + 1, b);
#endif
}

}  // namespace attn
}  // namespace cuda
}  // namespace jsw
