// C ABI: jsw_gemm.
#include "core/dispatch.h"
#include "kernels/gemm.h"

using namespace jsw;

extern "C" int jsw_gemm(int device, int dtype, int c_dtype, int trans_a, int trans_b, int64_t m, int64_t n,
                        int64_t k, float alpha, const void* a, int64_t lda, const void* b, int64_t ldb, float beta,
                        void* c, int64_t ldc, int64_t batch, int64_t stride_a, int64_t stride_b, int64_t stride_c) {
  JSW_API_BEGIN
  const char* op = "jsw_gemm";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require(c_dtype == dtype || c_dtype == JSW_F32, op, "c_dtype must equal dtype or be f32, got %d", c_dtype);
  require_non_negative(m, op, "m");
  require_non_negative(n, op, "n");
  require_non_negative(k, op, "k");
  require_positive(batch, op, "batch");
  require(m <= INT32_MAX && n <= INT32_MAX && k <= INT32_MAX, op, "dimensions above 2^31 are not supported");
  int64_t a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
  require(lda >= (a_cols > 0 ? a_cols : 1), op, "lda=%lld is smaller than the row length %lld of A", (long long)lda,
          (long long)a_cols);
  require(ldb >= (b_cols > 0 ? b_cols : 1), op, "ldb=%lld is smaller than the row length %lld of B", (long long)ldb,
          (long long)b_cols);
  require(ldc >= (n > 0 ? n : 1), op, "ldc=%lld is smaller than n=%lld", (long long)ldc, (long long)n);
  require(stride_a >= 0 && stride_b >= 0 && stride_c >= 0, op, "strides must be >= 0");
  if (m > 0 && n > 0) {
    require_ptr(c, op, "c");
    if (k > 0) {
      require_ptr(a, op, "a");
      require_ptr(b, op, "b");
    }
  }
  GemmArgs g{dtype, c_dtype, trans_a != 0, trans_b != 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
             batch, stride_a, stride_b, stride_c};
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::gemm(g));
  } else {
    JSW_CUDA_ONLY(cuda::gemm(device, g));
  }
  JSW_API_END
}
