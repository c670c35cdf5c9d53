// C ABI: Q-GaLore's min-max group quantization (INT4 projectors, INT8 weights with stochastic rounding).
#include "core/dispatch.h"
#include "kernels/minmax_quant.h"

using namespace jsw;

namespace {
void check_common(const char* op, int device, int dtype, int64_t n, int64_t group_size, int bits) {
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(n, op, "n");
  require_positive(group_size, op, "group_size");
  require(bits == 4 || bits == 8, op, "bits must be 4 or 8, got %d", bits);
}
}  // namespace

extern "C" int jsw_minmax_quantize(int device, int dtype, const void* x, int64_t n, int64_t group_size, int bits,
                                   int stochastic, uint64_t seed, uint8_t* codes, float* scales, float* zeros) {
  JSW_API_BEGIN
  const char* op = "jsw_minmax_quantize";
  check_common(op, device, dtype, n, group_size, bits);
  if (n == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(codes, op, "codes");
  require_ptr(scales, op, "scales");
  require_ptr(zeros, op, "zeros");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::minmax_quantize(dtype, x, n, group_size, bits, stochastic != 0, seed, codes, scales, zeros));
  } else {
    JSW_CUDA_ONLY(cuda::minmax_quantize(device, dtype, x, n, group_size, bits, stochastic != 0, seed, codes, scales,
                                        zeros));
  }
  JSW_API_END
}

extern "C" int jsw_minmax_dequantize(int device, int dtype, const uint8_t* codes, const float* scales,
                                     const float* zeros, int64_t n, int64_t group_size, int bits, void* out) {
  JSW_API_BEGIN
  const char* op = "jsw_minmax_dequantize";
  check_common(op, device, dtype, n, group_size, bits);
  if (n == 0) return JSW_OK;
  require_ptr(codes, op, "codes");
  require_ptr(scales, op, "scales");
  require_ptr(zeros, op, "zeros");
  require_ptr(out, op, "out");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::minmax_dequantize(dtype, codes, scales, zeros, n, group_size, bits, out));
  } else {
    JSW_CUDA_ONLY(cuda::minmax_dequantize(device, dtype, codes, scales, zeros, n, group_size, bits, out));
  }
  JSW_API_END
}
