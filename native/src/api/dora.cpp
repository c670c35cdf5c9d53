// C ABI: the DoRA helpers (row norms, diagonal scaling, product column sums, dropout) and the dropout step.
#include "core/dispatch.h"
#include "core/dropout_step.h"
#include "kernels/dora.h"

using namespace jsw;

extern "C" int jsw_row_norm(int device, int dtype, const void* x, int64_t rows, int64_t cols, float* norm,
                            float* inv_norm) {
  JSW_API_BEGIN
  const char* op = "jsw_row_norm";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(rows, op, "rows");
  require_positive(cols, op, "cols");
  require(rows <= INT32_MAX, op, "rows above 2^31 are not supported");
  require(norm != nullptr || inv_norm != nullptr, op, "norm and inv_norm are both NULL: nothing to compute");
  if (rows == 0) return JSW_OK;
  require_ptr(x, op, "x");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::row_norm(dtype, x, rows, cols, norm, inv_norm));
  } else {
    JSW_CUDA_ONLY(cuda::row_norm(device, dtype, x, rows, cols, norm, inv_norm));
  }
  JSW_API_END
}

extern "C" int jsw_scale_rows_cols(int device, int dtype, const void* x, int64_t rows, int64_t cols,
                                   const float* row_scale, const float* col_scale, void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_scale_rows_cols";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(rows, op, "rows");
  require_positive(cols, op, "cols");
  if (rows == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(y, op, "y");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::scale_rows_cols(dtype, x, rows, cols, row_scale, col_scale, y));
  } else {
    JSW_CUDA_ONLY(cuda::scale_rows_cols(device, dtype, x, rows, cols, row_scale, col_scale, y));
  }
  JSW_API_END
}

extern "C" int jsw_sum_rows_mul(int device, int dtype, const void* a, const void* b, int64_t rows, int64_t cols,
                                float* dv) {
  JSW_API_BEGIN
  const char* op = "jsw_sum_rows_mul";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(rows, op, "rows");
  require_positive(cols, op, "cols");
  if (rows == 0) return JSW_OK;
  require_ptr(a, op, "a");
  require_ptr(b, op, "b");
  require_ptr(dv, op, "dv");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::sum_rows_mul(dtype, a, b, rows, cols, dv));
  } else {
    JSW_CUDA_ONLY(cuda::sum_rows_mul(device, dtype, a, b, rows, cols, dv));
  }
  JSW_API_END
}

extern "C" int jsw_dropout(int device, int dtype, const void* x, int64_t n, float p, uint64_t seed, void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_dropout";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(n, op, "n");
  require(p >= 0.0f && p < 1.0f, op, "p must be in [0, 1), got %g", double(p));
  if (n == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(y, op, "y");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::dropout(dtype, x, n, p, seed, y));
  } else {
    JSW_CUDA_ONLY(cuda::dropout(device, dtype, x, n, p, seed, y));
  }
  JSW_API_END
}

extern "C" int jsw_add_uniform_noise(int device, int dtype, void* x, int64_t n, float magnitude, uint64_t seed) {
  JSW_API_BEGIN
  const char* op = "jsw_add_uniform_noise";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(n, op, "n");
  require(magnitude >= 0.0f && magnitude < 1e30f, op, "magnitude must be finite and >= 0, got %g", double(magnitude));
  if (n == 0) return JSW_OK;
  require_ptr(x, op, "x");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::add_uniform_noise(dtype, x, n, magnitude, seed));
  } else {
    JSW_CUDA_ONLY(cuda::add_uniform_noise(device, dtype, x, n, magnitude, seed));
  }
  JSW_API_END
}

extern "C" int jsw_set_dropout_step(int device, int64_t step) {
  JSW_API_BEGIN
  require_device(device, "jsw_set_dropout_step");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::set_dropout_step(uint64_t(step)));
  } else {
    JSW_CUDA_ONLY(cuda::set_dropout_step(device, uint64_t(step)));
  }
  JSW_API_END
}
