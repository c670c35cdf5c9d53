// Embedding twins (contract: jsw_embedding_fwd / jsw_embedding_bwd / jsw_gather_columns in jswift.h).
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {
// Both validate every id before writing anything and throw on an id outside [0, vocab).
void embedding_fwd(int dtype, const int32_t* ids, int64_t tokens, const void* table, int64_t vocab, int64_t dim,
                   void* out);
void embedding_bwd(int dtype, const int32_t* ids, int64_t tokens, const void* dout, int64_t vocab, int64_t dim,
                   float* dtable);
// out[r, j] = x[r, idx[j]]; every idx is checked first (a bad one throws before anything is written).
void gather_columns(int dtype, const void* x, int64_t rows, int64_t cols, const int32_t* idx, int64_t n, void* out);
}  // namespace cpu
namespace cuda {
// Ids live on the device, so they are checked by the kernels: a bad id gives a zero row (forward) or no update
// (backward) and raises kErrEmbeddingId, which jsw_synchronize reports.
void embedding_fwd(int device, int dtype, const int32_t* ids, int64_t tokens, const void* table, int64_t vocab,
                   int64_t dim, void* out);
void embedding_bwd(int device, int dtype, const int32_t* ids, int64_t tokens, const void* dout, int64_t vocab,
                   int64_t dim, float* dtable);
// idx lives on the device: an index outside [0, cols) gives a zero and raises kErrGatherIndex.
void gather_columns(int device, int dtype, const void* x, int64_t rows, int64_t cols, const int32_t* idx, int64_t n,
                    void* out);
}  // namespace cuda
}  // namespace jsw
