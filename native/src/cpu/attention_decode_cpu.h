// Pieces shared by the CPU decode-attention driver (attention_decode.cpp) and its per-ISA task kernels
// (attention_decode_tiles.h, compiled once per instruction set in attention_decode_isa.cpp).
//
// The queries of one (sequence b, kv head) are G = heads / kv_heads heads x q_len positions: "rows", numbered
// position-major (row = position * G + head in the group), so the query heads that share a kv head are
// consecutive and every key row read from the cache serves all of them. A tile is up to kRows consecutive rows
// of one (b, kv head); a task is a tile against one key range [k0, k1). A tile whose keys are split over several
// tasks (decoding a long cache with few tiles to go round the threads: flash-decoding on the CPU) gets one
// partial result per task, merged by a log-sum-exp combine.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/attention_decode.h"

namespace jsw {
namespace cpu {
namespace decode {

// 64 rows x 64 keys: a prefill tile product is long enough to amortise the K/V conversion, and the fp32
// operands (<= 64 x 256 floats each) stay in L2.
constexpr int64_t kRows = 64;
constexpr int64_t kBlockK = 64;

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

struct Tile {
  int64_t b, kvh, row0, rows;
};

struct Task {
  int64_t tile;    // index into the tile list
  int64_t k0, k1;  // keys of this task
  int64_t slot;    // partial-result slot, or -1: the task covers all the tile's keys and writes out / lse
};

// Where a task's partial result goes: o [kRows][head_dim] unnormalised, m and l [kRows] (running max and sum of
// exp(score - m), natural-log units).
struct Partials {
  float* o;
  float* m;
  float* l;
  int64_t head_dim;
  float* o_of(int64_t slot) const { return o + slot * kRows * head_dim; }
  float* m_of(int64_t slot) const { return m + slot * kRows; }
  float* l_of(int64_t slot) const { return l + slot * kRows; }
};

// The geometry of a call: row -> (position, head), and the key range a row or tile sees.
struct Geometry {
  const DecodeShape& s;

  int64_t group() const { return s.heads / s.kv_heads; }
  int64_t rows() const { return s.q_len * group(); }
  // Cache position of query position i of sequence b.
  int64_t position(int64_t b, int64_t i) const { return int64_t(s.kv_len[b]) - s.q_len + i; }
  // Keys [*lo, *hi) that some row of [row0, row0 + rows) may see (before the key mask).
  void keys_for(int64_t b, int64_t row0, int64_t rows, int64_t* lo, int64_t* hi) const {
    const int64_t first = position(b, row0 / group()), last = position(b, (row0 + rows - 1) / group());
    *lo = s.window > 0 ? std::max<int64_t>(0, first - s.window + 1) : 0;
    *hi = last + 1;
  }
};

// The task kernels of one instruction set, one per storage type (slot = JSW_F32, JSW_BF16, JSW_F16).
struct TaskKernels {
  const char* name;
  int64_t vec;  // floats per SIMD vector: fp32 rows in the workspace are padded to a multiple of it
  void (*run[3])(const DecodeShape& s, const void* q, const void* k_cache, const void* v_cache, void* out,
                 float* lse, const Tile& tile, const Task& task, const Partials& partials, float* ws);
};

// AVX-512 where the CPU has it, else the baseline (AVX2) build; JSWIFT_CPU_ISA=baseline forces the baseline, as
// for the training attention, so that tests cover both.
const TaskKernels& task_kernels();

inline int64_t workspace_floats(int64_t head_dim, int64_t vec) {
  const int64_t dp = round_up(head_dim, vec);
  // Q, O [kRows][dp]; K, V [kBlockK][dp]; S [kRows][kBlockK]; m, l [kRows]; key mask [kBlockK]
  return 2 * kRows * dp + 2 * kBlockK * dp + kRows * kBlockK + 2 * kRows + kBlockK + 16;
}

}  // namespace decode
}  // namespace cpu
}  // namespace jsw
