// C ABI: AWQ dequantization and the fused dequant-GEMV (AutoAWQ "GEMM" layout).
#include "core/dispatch.h"
#include "kernels/awq.h"

using namespace jsw;

namespace {

// The packed weight's shape and pointers, as both entries take them.
void check_layout(const char* op, int64_t in, int64_t out, int64_t group_size, const int32_t* qweight,
                  const int32_t* qzeros, const uint16_t* scales) {
  require_positive(in, op, "in");
  require_positive(out, op, "out");
  require_positive(group_size, op, "group_size");
  require(in % group_size == 0, op, "in = %lld is not a multiple of group_size = %lld", (long long)in,
          (long long)group_size);
  require(out % awq::kPerWord == 0, op, "out = %lld is not a multiple of 8 (4-bit outputs per int32 word)",
          (long long)out);
  require_ptr(qweight, op, "qweight");
  require_ptr(qzeros, op, "qzeros");
  require_ptr(scales, op, "scales");
}

}  // namespace

extern "C" int jsw_awq_dequantize(int device, int dtype, const int32_t* qweight, const int32_t* qzeros,
                                  const uint16_t* scales, int64_t in, int64_t out, int64_t group_size, void* w) {
  JSW_API_BEGIN
  const char* op = "jsw_awq_dequantize";
  require_device(device, op);
  require_float_dtype(dtype, op);
  check_layout(op, in, out, group_size, qweight, qzeros, scales);
  require_ptr(w, op, "w");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::awq_dequantize(dtype, qweight, qzeros, scales, in, out, group_size, w));
  } else {
    JSW_CUDA_ONLY(cuda::awq_dequantize(device, dtype, qweight, qzeros, scales, in, out, group_size, w));
  }
  JSW_API_END
}

extern "C" int jsw_awq_gemv(int device, int dtype, const void* x, int64_t rows, int64_t in, const int32_t* qweight,
                            const int32_t* qzeros, const uint16_t* scales, int64_t out, int64_t group_size,
                            const void* bias, void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_awq_gemv";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_positive(rows, op, "rows");
  require(rows <= awq::kGemvMaxRows, op, "rows = %lld, but the GEMV takes at most %lld rows (dequantize and use "
          "the GEMM)", (long long)rows, (long long)awq::kGemvMaxRows);
  check_layout(op, in, out, group_size, qweight, qzeros, scales);
  require_ptr(x, op, "x");
  require_ptr(y, op, "y");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::awq_gemv(dtype, x, rows, in, qweight, qzeros, scales, out, group_size, bias, y));
  } else {
    JSW_CUDA_ONLY(cuda::awq_gemv(device, dtype, x, rows, in, qweight, qzeros, scales, out, group_size, bias, y));
  }
  JSW_API_END
}
