// C ABI: RMSNorm forward/backward.
#include "core/dispatch.h"
#include "kernels/rmsnorm.h"

using namespace jsw;

extern "C" int jsw_rmsnorm_fwd(int device, int dtype, const void* x, const void* weight, float eps, int64_t rows,
                               int64_t dim, void* y, float* rstd) {
  JSW_API_BEGIN
  const char* op = "jsw_rmsnorm_fwd";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(rows, op, "rows");
  require_positive(dim, op, "dim");
  require(rows <= INT32_MAX, op, "rows above 2^31 are not supported");
  require(eps >= 0.0f, op, "eps must be >= 0, got %g", double(eps));
  if (rows == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(weight, op, "weight");
  require_ptr(y, op, "y");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::rmsnorm_fwd(dtype, x, weight, eps, rows, dim, y, rstd));
  } else {
    JSW_CUDA_ONLY(cuda::rmsnorm_fwd(device, dtype, x, weight, eps, rows, dim, y, rstd));
  }
  JSW_API_END
}

extern "C" int jsw_rmsnorm_bwd(int device, int dtype, const void* dy, const void* x, const void* weight,
                               const float* rstd, int64_t rows, int64_t dim, void* dx, float* dweight) {
  JSW_API_BEGIN
  const char* op = "jsw_rmsnorm_bwd";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(rows, op, "rows");
  require_positive(dim, op, "dim");
  require(rows <= INT32_MAX, op, "rows above 2^31 are not supported");
  if (rows == 0) return JSW_OK;
  require_ptr(dy, op, "dy");
  require_ptr(x, op, "x");
  require_ptr(weight, op, "weight");
  require_ptr(rstd, op, "rstd (from the forward)");
  require_ptr(dx, op, "dx");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::rmsnorm_bwd(dtype, dy, x, weight, rstd, rows, dim, dx, dweight));
  } else {
    JSW_CUDA_ONLY(cuda::rmsnorm_bwd(device, dtype, dy, x, weight, rstd, rows, dim, dx, dweight));
  }
  JSW_API_END
}
