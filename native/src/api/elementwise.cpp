// C ABI: cast, fill, axpby.
#include "core/dispatch.h"
#include "kernels/elementwise.h"

using namespace jsw;

extern "C" int jsw_cast(int device, int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n) {
  JSW_API_BEGIN
  const char* op = "jsw_cast";
  require_device(device, op);
  require_float_dtype(src_dtype, op);
  require_float_dtype(dst_dtype, op);
  require_non_negative(n, op, "n");
  if (n == 0) return JSW_OK;
  require_ptr(src, op, "src");
  require_ptr(dst, op, "dst");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::cast(src_dtype, src, dst_dtype, dst, n));
  } else {
    JSW_CUDA_ONLY(cuda::cast(device, src_dtype, src, dst_dtype, dst, n));
  }
  JSW_API_END
}

extern "C" int jsw_fill(int device, int dtype, void* x, float value, int64_t n) {
  JSW_API_BEGIN
  const char* op = "jsw_fill";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(n, op, "n");
  if (n == 0) return JSW_OK;
  require_ptr(x, op, "x");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::fill(dtype, x, value, n));
  } else {
    JSW_CUDA_ONLY(cuda::fill(device, dtype, x, value, n));
  }
  JSW_API_END
}

extern "C" int jsw_axpby(int device, int dtype, int64_t n, float a, const void* x, float b, void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_axpby";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(n, op, "n");
  if (n == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(y, op, "y");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::axpby(dtype, n, a, x, b, y));
  } else {
    JSW_CUDA_ONLY(cuda::axpby(device, dtype, n, a, x, b, y));
  }
  JSW_API_END
}

extern "C" int jsw_add_bias(int device, int dtype, void* y, const void* bias, int64_t rows, int64_t cols) {
  JSW_API_BEGIN
  const char* op = "jsw_add_bias";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(rows, op, "rows");
  require_positive(cols, op, "cols");
  if (rows == 0) return JSW_OK;
  require_ptr(y, op, "y");
  require_ptr(bias, op, "bias");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::add_bias(dtype, y, bias, rows, cols));
  } else {
    JSW_CUDA_ONLY(cuda::add_bias(device, dtype, y, bias, rows, cols));
  }
  JSW_API_END
}

extern "C" int jsw_sum_rows(int device, int dtype, const void* dy, int64_t rows, int64_t cols, float* dbias) {
  JSW_API_BEGIN
  const char* op = "jsw_sum_rows";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(rows, op, "rows");
  require_positive(cols, op, "cols");
  if (rows == 0) return JSW_OK;
  require_ptr(dy, op, "dy");
  require_ptr(dbias, op, "dbias");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::sum_rows(dtype, dy, rows, cols, dbias));
  } else {
    JSW_CUDA_ONLY(cuda::sum_rows(device, dtype, dy, rows, cols, dbias));
  }
  JSW_API_END
}
