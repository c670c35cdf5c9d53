// C ABI: NF4 quantization in the bitsandbytes layout, and the double quantization of its absmax vector.
#include <cstring>

#include "core/dispatch.h"
#include "kernels/nf4.h"
#include "kernels/nf4_codes.h"

using namespace jsw;

extern "C" int jsw_nf4_codebook(float* code16) {
  JSW_API_BEGIN
  require_ptr(code16, "jsw_nf4_codebook", "code16");
  static const float table[16] = {JSW_NF4_CODEBOOK};
  std::memcpy(code16, table, sizeof table);
  JSW_API_END
}

extern "C" int jsw_dynamic_map_signed(float* code256) {
  JSW_API_BEGIN
  require_ptr(code256, "jsw_dynamic_map_signed", "code256");
  nf4::dynamic_map_signed(code256);
  JSW_API_END
}

extern "C" int jsw_nf4_quantize(int device, int dtype, const void* x, int64_t n, int64_t blocksize, uint8_t* packed,
                                float* absmax) {
  JSW_API_BEGIN
  const char* op = "jsw_nf4_quantize";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(n, op, "n");
  require_positive(blocksize, op, "blocksize");
  if (n == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(packed, op, "packed");
  require_ptr(absmax, op, "absmax");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::nf4_quantize(dtype, x, n, blocksize, packed, absmax));
  } else {
    JSW_CUDA_ONLY(cuda::nf4_quantize(device, dtype, x, n, blocksize, packed, absmax));
  }
  JSW_API_END
}

extern "C" int jsw_nf4_dequantize(int device, int dtype, const uint8_t* packed, const float* absmax, int64_t n,
                                  int64_t blocksize, void* out) {
  JSW_API_BEGIN
  const char* op = "jsw_nf4_dequantize";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(n, op, "n");
  require_positive(blocksize, op, "blocksize");
  if (n == 0) return JSW_OK;
  require_ptr(packed, op, "packed");
  require_ptr(absmax, op, "absmax");
  require_ptr(out, op, "out");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::nf4_dequantize(dtype, packed, absmax, n, blocksize, out));
  } else {
    JSW_CUDA_ONLY(cuda::nf4_dequantize(device, dtype, packed, absmax, n, blocksize, out));
  }
  JSW_API_END
}

extern "C" int jsw_quantize_absmax_8bit(int device, const float* absmax, int64_t n, uint8_t* q, float* nested_absmax,
                                        float* offset) {
  JSW_API_BEGIN
  const char* op = "jsw_quantize_absmax_8bit";
  require_device(device, op);
  require_positive(n, op, "n (the number of absmax values)");
  require_ptr(absmax, op, "absmax");
  require_ptr(q, op, "q");
  require_ptr(nested_absmax, op, "nested_absmax");
  require_ptr(offset, op, "offset");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::quantize_absmax_8bit(absmax, n, q, nested_absmax, offset));
  } else {
    JSW_CUDA_ONLY(cuda::quantize_absmax_8bit(device, absmax, n, q, nested_absmax, offset));
  }
  JSW_API_END
}

extern "C" int jsw_nf4_dequantize_dq(int device, int dtype, const uint8_t* packed, const uint8_t* absmax_q,
                                     const float* nested_absmax, const float* code256, float offset, int64_t n,
                                     int64_t blocksize, void* out) {
  JSW_API_BEGIN
  const char* op = "jsw_nf4_dequantize_dq";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(n, op, "n");
  require_positive(blocksize, op, "blocksize");
  if (n == 0) return JSW_OK;
  require_ptr(packed, op, "packed");
  require_ptr(absmax_q, op, "absmax_q");
  require_ptr(nested_absmax, op, "nested_absmax");
  require_ptr(code256, op, "code256");
  require_ptr(out, op, "out");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::nf4_dequantize_dq(dtype, packed, absmax_q, nested_absmax, code256, offset, n, blocksize, out));
  } else {
    JSW_CUDA_ONLY(cuda::nf4_dequantize_dq(device, dtype, packed, absmax_q, nested_absmax, code256, offset, n,
                                          blocksize, out));
  }
  JSW_API_END
}
