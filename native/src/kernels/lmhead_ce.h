// Fused LM head + cross-entropy twins (contract: jsw_lmhead_ce_* in jswift.h).
#pragma once

#include <algorithm>
#include <cstdint>

namespace jsw {

// Everything a call needs; chunk_tokens is already resolved (> 0). Pointers a direction does not use are null.
struct LmHeadCe {
  int dtype;
  const void* hidden;  // [tokens, dim]
  const void* weight;  // [vocab, dim]
  const int32_t* labels;
  int64_t tokens, dim, vocab;
  int32_t ignore_index;
  int64_t chunk_tokens;
  // forward outputs
  float* loss = nullptr;
  float* lse = nullptr;
  int32_t* argmax = nullptr;
  // backward
  const float* lse_in = nullptr;  // the forward's lse, for the backward-only call
  const float* dloss = nullptr;
  void* dhidden = nullptr;
  float* dweight = nullptr;
};

// Rows per chunk when the caller passes 0. CPU: enough for ~64 MiB of fp32 logits, at least 256 rows so the
// chunk GEMMs (in particular dweight's, whose inner dimension is the chunk) stay efficient, at most 4096.
// CUDA: ~1 GiB, 512 to 16384 rows: every chunk's dweight GEMM reads and writes all of the fp32 dweight
// (2 GiB for a 128K x 4096 head), so few, large chunks are what keeps it off the memory-bandwidth floor
// (measured on an H100: 256-row chunks took 2.1x torch's unchunked time).
inline int64_t default_chunk_tokens(int64_t tokens, int64_t vocab, bool cuda = false) {
  int64_t budget = cuda ? (int64_t(1) << 30) : (int64_t(64) << 20);
  int64_t rows = budget / (4 * std::max<int64_t>(vocab, 1));
  rows = cuda ? std::min<int64_t>(std::max<int64_t>(rows, 512), 16384)
              : std::min<int64_t>(std::max<int64_t>(rows, 256), 4096);
  return std::max<int64_t>(std::min(rows, tokens), 1);
}

namespace cpu {
// Labels outside [0, vocab) that are not ignore_index: throws (with the row) before any output is written.
void lmhead_ce_check_labels(const LmHeadCe& a, const char* op);
void lmhead_ce_fwd(const LmHeadCe& a);
void lmhead_ce_bwd(const LmHeadCe& a);
void lmhead_ce_fwd_bwd(const LmHeadCe& a);
}  // namespace cpu

namespace cuda {
// Bad labels raise kErrLabel in the device error flag (reported by jsw_synchronize) and count as ignored.
void lmhead_ce_fwd(int device, const LmHeadCe& a);
void lmhead_ce_bwd(int device, const LmHeadCe& a);
void lmhead_ce_fwd_bwd(int device, const LmHeadCe& a);
}  // namespace cuda
}  // namespace jsw
