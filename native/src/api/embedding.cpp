// C ABI: embedding lookup forward/backward, and its column form (jsw_gather_columns).
#include "core/dispatch.h"
#include "kernels/embedding.h"

using namespace jsw;

namespace {
void check_common(const char* op, int device, int dtype, const int32_t* ids, int64_t tokens, int64_t vocab,
                  int64_t dim) {
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(tokens, op, "tokens");
  require_positive(vocab, op, "vocab");
  require_positive(dim, op, "dim");
  // Ids are int32, so a larger vocabulary could never be addressed.
  require(vocab <= INT32_MAX, op, "vocab %lld does not fit int32 ids", (long long)vocab);
  require(tokens <= INT32_MAX, op, "tokens above 2^31 are not supported");
  if (tokens > 0) require_ptr(ids, op, "ids");
}
}  // namespace

extern "C" int jsw_embedding_fwd(int device, int dtype, const int32_t* ids, int64_t tokens, const void* table,
                                 int64_t vocab, int64_t dim, void* out) {
  JSW_API_BEGIN
  const char* op = "jsw_embedding_fwd";
  check_common(op, device, dtype, ids, tokens, vocab, dim);
  if (tokens == 0) return JSW_OK;
  require_ptr(table, op, "table");
  require_ptr(out, op, "out");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::embedding_fwd(dtype, ids, tokens, table, vocab, dim, out));
  } else {
    JSW_CUDA_ONLY(cuda::embedding_fwd(device, dtype, ids, tokens, table, vocab, dim, out));
  }
  JSW_API_END
}

extern "C" int jsw_embedding_bwd(int device, int dtype, const int32_t* ids, int64_t tokens, const void* dout,
                                 int64_t vocab, int64_t dim, float* dtable) {
  JSW_API_BEGIN
  const char* op = "jsw_embedding_bwd";
  check_common(op, device, dtype, ids, tokens, vocab, dim);
  if (tokens == 0) return JSW_OK;
  require_ptr(dout, op, "dout");
  require_ptr(dtable, op, "dtable");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::embedding_bwd(dtype, ids, tokens, dout, vocab, dim, dtable));
  } else {
    JSW_CUDA_ONLY(cuda::embedding_bwd(device, dtype, ids, tokens, dout, vocab, dim, dtable));
  }
  JSW_API_END
}

extern "C" int jsw_gather_columns(int device, int dtype, const void* x, int64_t rows, int64_t cols, const int32_t* idx,
                                  int64_t n, void* out) {
  JSW_API_BEGIN
  const char* op = "jsw_gather_columns";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(rows, op, "rows");
  require_positive(cols, op, "cols");
  require_non_negative(n, op, "n");
  require(cols <= INT32_MAX, op, "cols %lld does not fit int32 indices", (long long)cols);
  if (rows == 0 || n == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(idx, op, "idx");
  require_ptr(out, op, "out");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::gather_columns(dtype, x, rows, cols, idx, n, out));
  } else {
    JSW_CUDA_ONLY(cuda::gather_columns(device, dtype, x, rows, cols, idx, n, out));
  }
  JSW_API_END
}
