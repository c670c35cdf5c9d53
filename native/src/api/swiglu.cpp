// C ABI: SwiGLU forward/backward.
#include "core/dispatch.h"
#include "kernels/swiglu.h"

using namespace jsw;

extern "C" int jsw_swiglu_fwd(int device, int dtype, const void* gate, const void* up, int64_t n, void* out) {
  JSW_API_BEGIN
  const char* op = "jsw_swiglu_fwd";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(n, op, "n");
  if (n == 0) return JSW_OK;
  require_ptr(gate, op, "gate");
  require_ptr(up, op, "up");
  require_ptr(out, op, "out");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::swiglu_fwd(dtype, gate, up, n, out));
  } else {
    JSW_CUDA_ONLY(cuda::swiglu_fwd(device, dtype, gate, up, n, out));
  }
  JSW_API_END
}

extern "C" int jsw_swiglu_bwd(int device, int dtype, const void* dout, const void* gate, const void* up, int64_t n,
                              void* dgate, void* dup) {
  JSW_API_BEGIN
  const char* op = "jsw_swiglu_bwd";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(n, op, "n");
  if (n == 0) return JSW_OK;
  require_ptr(dout, op, "dout");
  require_ptr(gate, op, "gate");
  require_ptr(up, op, "up");
  require_ptr(dgate, op, "dgate");
  require_ptr(dup, op, "dup");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::swiglu_bwd(dtype, dout, gate, up, n, dgate, dup));
  } else {
    JSW_CUDA_ONLY(cuda::swiglu_bwd(device, dtype, dout, gate, up, n, dgate, dup));
  }
  JSW_API_END
}
