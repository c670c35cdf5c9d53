// Pieces shared by the CPU flash-attention drivers (attention_fwd.cpp, attention_bwd.cpp) and their per-ISA
// tile kernels (attention_tiles.h, compiled once per instruction set in attention_isa.cpp).
//
// Work is cut into tiles of kBlockQ queries x kBlockK keys. Every tile product runs on fp32 tile buffers in a
// per-thread workspace, so memory is O(tile) per thread: a T x T score matrix never exists.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/attention.h"

namespace jsw {
namespace cpu {
namespace attn {

// 64 x 64 tiles keep each GEMM operand panel (<= 64 x 256 floats) in L1/L2 while a tile product is long
// enough (64 x 64 x head_dim) to amortise loading and transposing the operands.
constexpr int64_t kBlockQ = 64;
constexpr int64_t kBlockK = 64;

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Sequence geometry and the visibility rule: query i sees key j (positions inside one sequence) iff
// (!causal || j <= i) && (window <= 0 || i - j < window) && key_mask[j].
struct Geometry {
  const AttentionShape& s;

  int64_t group() const { return s.heads / s.kv_heads; }
  int64_t start(int64_t b) const { return s.cu_seqlens ? s.cu_seqlens[b] : b * s.seq_len; }
  int64_t length(int64_t b) const { return s.cu_seqlens ? s.cu_seqlens[b + 1] - s.cu_seqlens[b] : s.seq_len; }
  int64_t tokens() const { return s.cu_seqlens ? s.cu_seqlens[s.batch] : s.batch * s.seq_len; }
  const int32_t* mask(int64_t b) const { return s.key_mask ? s.key_mask + b * s.seq_len : nullptr; }

  // Keys [*lo, *hi) that some query of [q0, q1) may see (before the key mask): the key blocks outside are
  // skipped whole.
  void keys_for(int64_t q0, int64_t q1, int64_t len, int64_t* lo, int64_t* hi) const {
    *lo = s.window > 0 ? std::max<int64_t>(0, q0 - s.window + 1) : 0;
    *hi = s.causal ? std::min(len, q1) : len;
  }
  // Queries [*lo, *hi) that may see some key of [k0, k1).
  void queries_for(int64_t k0, int64_t k1, int64_t len, int64_t* lo, int64_t* hi) const {
    *lo = s.causal ? k0 : 0;
    *hi = s.window > 0 ? std::min(len, k1 - 1 + s.window) : len;
  }
  // Keys of [k0, k1) that query i sees before the key mask: [*lo, *hi), possibly empty.
  void row_keys(int64_t i, int64_t k0, int64_t k1, int64_t* lo, int64_t* hi) const {
    *lo = s.window > 0 ? std::max(k0, i - s.window + 1) : k0;
    *hi = s.causal ? std::min(k1, i + 1) : k1;
  }
  // Every (query in [q0, q1), key in [k0, k1)) pair is visible: the tile needs no masking pass.
  bool tile_full(int64_t q0, int64_t q1, int64_t k0, int64_t k1) const {
    return s.key_mask == nullptr && (!s.causal || k1 - 1 <= q0) && (s.window <= 0 || q1 - 1 - k0 < s.window);
  }
};

// The tile kernels of one instruction set. `vec` is its vector width in floats: the column count of every
// tile buffer that is a GEMM output or right-hand operand is padded to a multiple of it.
struct TileKernels {
  const char* name;
  int64_t vec;
  // One (sequence b, query head h, query block at q0) of the forward; ws holds fwd_workspace() floats.
  void (*fwd[3])(const AttentionShape& s, const void* q, const void* k, const void* v, void* out, float* lse,
                 int64_t b, int64_t h, int64_t q0, float* ws);
  // The backward of (sequence b, query heads [h0, h1), which share one kv head) over all its key blocks.
  // dq_acc (fp32 [tokens, heads, head_dim]) receives += the dQ of those heads; dK/dV of each key block are
  // written to dk/dv ([tokens, kv_heads, head_dim], storage dtype) when kv_out, else to the fp32 per-query-head
  // partials dk/dv ([tokens, heads, head_dim], head h0). delta is rowsum(dout * out), fp32 [tokens, heads].
  void (*bwd[3])(const AttentionShape& s, const void* q, const void* k, const void* v, const void* dout,
                 const float* lse, const float* delta, float* dq_acc, void* dk, void* dv, bool kv_out, int64_t b,
                 int64_t h0, int64_t h1, float* ws);
};

// The fastest kernels this CPU runs (AVX-512 where present, else the baseline build), unless the environment
// variable JSWIFT_CPU_ISA=baseline asks for the baseline (so tests cover both).
const TileKernels& tile_kernels();

inline int64_t fwd_workspace(int64_t head_dim, int64_t vec) {
  int64_t dv = round_up(head_dim, vec);
  // Qt [d][Bq], K [Bk][d], V [Bk][dv], S^T [Bk][Bq], O [Bq][dv], 4 row vectors [Bq]
  return head_dim * kBlockQ + kBlockK * head_dim + kBlockK * dv + kBlockK * kBlockQ + kBlockQ * dv + 4 * kBlockQ +
         16;
}

inline int64_t bwd_workspace(int64_t head_dim, int64_t vec) {
  int64_t dv = round_up(head_dim, vec);
  // Kt, Vt [d][Bk]; K, dK, dV [Bk][dv]; Q, dO, dQ [Bq][dv]; P, dS [Bq][Bk]; lse, delta [Bq]; key mask [Bk]
  return 2 * head_dim * kBlockK + 3 * kBlockK * dv + 3 * kBlockQ * dv + 2 * kBlockQ * kBlockK + 2 * kBlockQ +
         kBlockK + 16;
}

inline int dtype_slot(int dtype) { return dtype; }  // JSW_F32 = 0, JSW_BF16 = 1, JSW_F16 = 2

}  // namespace attn
}  // namespace cpu
}  // namespace jsw
