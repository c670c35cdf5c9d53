// Embedding on the CPU. Ids are checked up front, so a bad id fails the call before any output is touched.
// Forward: one row copy per token (same storage type on both sides), tokens spread over threads.
// Backward: dtable rows can repeat across tokens, so threads split the columns instead of the tokens: each
// owns a slice of columns (a multiple of 16 floats, one cache line) and walks every token in order. No
// atomics, no per-thread copies of the table, and the sum order is the token order whatever the thread count.
#include <algorithm>
#include <cstring>

#include <omp.h>

#include "core/dtype.h"
#include "kernels/embedding.h"

namespace jsw {
namespace cpu {

namespace {

void check_ids(const char* op, const int32_t* ids, int64_t tokens, int64_t vocab) {
  for (int64_t t = 0; t < tokens; t++)
    if (ids[t] < 0 || ids[t] >= vocab)
      fail(JSW_ERR_INVALID_ARGUMENT, format("%s: ids[%lld] = %d is outside [0, vocab = %lld); nothing was written",
                                            op, (long long)t, ids[t], (long long)vocab));
}

template <class T>
void fwd(const int32_t* ids, int64_t tokens, const T* table, int64_t dim, T* out) {
  size_t row_bytes = size_t(dim) * sizeof(T);
#pragma omp parallel for schedule(static) if (tokens * dim > 65536)
  for (int64_t t = 0; t < tokens; t++) std::memcpy(out + t * dim, table + int64_t(ids[t]) * dim, row_bytes);
}

template <class T>
void bwd(const int32_t* ids, int64_t tokens, const T* dout, int64_t dim, float* dtable) {
  constexpr int64_t kLine = 16;  // floats per 64-byte cache line: slices share lines only at their edges
  int64_t threads = omp_get_max_threads();
  if (tokens * dim <= 65536) threads = 1;
  int64_t slice = std::max(kLine, (dim + threads - 1) / threads);
  slice = (slice + kLine - 1) / kLine * kLine;
  int64_t slices = (dim + slice - 1) / slice;
#pragma omp parallel for schedule(static) num_threads(int(std::min(threads, slices)))
  for (int64_t s = 0; s < slices; s++) {
    int64_t c0 = s * slice, c1 = std::min(dim, c0 + slice);
    for (int64_t t = 0; t < tokens; t++) {
      float* d = dtable + int64_t(ids[t]) * dim;
      const T* g = dout + t * dim;
#pragma omp simd
      for (int64_t c = c0; c < c1; c++) d[c] += to_float(g[c]);
    }
  }
}

}  // namespace

void embedding_fwd(int dtype, const int32_t* ids, int64_t tokens, const void* table, int64_t vocab, int64_t dim,
                   void* out) {
  check_ids("jsw_embedding_fwd", ids, tokens, vocab);
  JSW_DISPATCH_FLOAT(dtype, "jsw_embedding_fwd",
                     fwd(ids, tokens, static_cast<const T*>(table), dim, static_cast<T*>(out)));
}

void embedding_bwd(int dtype, const int32_t* ids, int64_t tokens, const void* dout, int64_t vocab, int64_t dim,
                   float* dtable) {
  check_ids("jsw_embedding_bwd", ids, tokens, vocab);
  JSW_DISPATCH_FLOAT(dtype, "jsw_embedding_bwd", bwd(ids, tokens, static_cast<const T*>(dout), dim, dtable));
}

namespace {
template <class T>
void gather(const T* x, int64_t rows, int64_t cols, const int32_t* idx, int64_t n, T* out) {
#pragma omp parallel for schedule(static) if (rows * n > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const T* xr = x + r * cols;
    T* o = out + r * n;
    for (int64_t j = 0; j < n; j++) o[j] = xr[idx[j]];
  }
}
}  // namespace

void gather_columns(int dtype, const void* x, int64_t rows, int64_t cols, const int32_t* idx, int64_t n, void* out) {
  check_ids("jsw_gather_columns", idx, n, cols);
  JSW_DISPATCH_FLOAT(dtype, "jsw_gather_columns",
                     gather(static_cast<const T*>(x), rows, cols, idx, n, static_cast<T*>(out)));
}

}  // namespace cpu
}  // namespace jsw
