// C ABI: pointwise activations (a bottleneck adapter's act_layer).
#include "core/dispatch.h"
#include "kernels/activation.h"

using namespace jsw;

namespace {

void require_kind(int kind, const char* op) {
  require(valid_activation(kind), op,
          "kind must be one of JSW_ACT_GELU (0) .. JSW_ACT_SIGMOID (6), got %d", kind);
}

}  // namespace

extern "C" int jsw_activation_fwd(int device, int dtype, int kind, const void* x, int64_t n, void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_activation_fwd";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_kind(kind, op);
  require_non_negative(n, op, "n");
  if (n == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(y, op, "y");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::activation_fwd(dtype, kind, x, n, y));
  } else {
    JSW_CUDA_ONLY(cuda::activation_fwd(device, dtype, kind, x, n, y));
  }
  JSW_API_END
}

extern "C" int jsw_activation_bwd(int device, int dtype, int kind, const void* x, const void* dy, int64_t n,
                                  void* dx) {
  JSW_API_BEGIN
  const char* op = "jsw_activation_bwd";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_kind(kind, op);
  require_non_negative(n, op, "n");
  if (n == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(dy, op, "dy");
  require_ptr(dx, op, "dx");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::activation_bwd(dtype, kind, x, dy, n, dx));
  } else {
    JSW_CUDA_ONLY(cuda::activation_bwd(device, dtype, kind, x, dy, n, dx));
  }
  JSW_API_END
}
