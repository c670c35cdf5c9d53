// Embedding twins (contract: jsw_embedding_fwd / jsw_embedding_bwd in jswift.h).
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {
// Both validate every id before writing anything and throw on an id outside [0, vocab).
void embedding_fwd(int dtype, const int32_t* ids, int64_t tokens, const void* table, int64_t vocab, int64_t dim,
                   void* out);
void embedding_bwd(int dtype, const int32_t* ids, int64_t tokens, const void* dout, int64_t vocab, int64_t dim,
                   float* dtable);
}  // namespace cpu
namespace cuda {
// Ids live on the device, so they are checked by the kernels: a bad id gives a zero row (forward) or no update
// (backward) and raises kErrEmbeddingId, which jsw_synchronize reports.
void embedding_fwd(int device, int dtype, const int32_t* ids, int64_t tokens, const void* table, int64_t vocab,
                   int64_t dim, void* out);
void embedding_bwd(int device, int dtype, const int32_t* ids, int64_t tokens, const void* dout, int64_t vocab,
                   int64_t dim, float* dtable);
}  // namespace cuda
}  // namespace jsw
