// C ABI: the fused NF4 dequant-GEMV for decode-shaped inputs.
#include <cstdint>
#include <vector>

#include "core/dispatch.h"
#include "kernels/nf4_gemv.h"

using namespace jsw;

extern "C" int jsw_nf4_gemv(int device, int dtype, const void* x, int64_t rows, int64_t in, const uint8_t* packed,
                            const float* absmax, const uint8_t* absmax_q, const float* nested_absmax,
                            const float* code256, float offset, int64_t out_features, int64_t blocksize,
                            const void* bias, void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_nf4_gemv";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_positive(rows, op, "rows");
  require(rows <= nf4::kGemvMaxRows, op, "rows = %lld, but the GEMV takes at most %lld rows (use the dense GEMM)",
          (long long)rows, (long long)nf4::kGemvMaxRows);
  require_positive(in, op, "in");
  require_positive(out_features, op, "out_features");
  require_positive(blocksize, op, "blocksize");
  require(in <= INT64_MAX / out_features, op, "in * out_features overflows (%lld x %lld)", (long long)in,
          (long long)out_features);
  require_ptr(x, op, "x");
  require_ptr(packed, op, "packed");
  require_ptr(y, op, "y");
  require((absmax == nullptr) != (absmax_q == nullptr), op,
          "give exactly one of absmax (plain scales) and absmax_q (double quantization)");
  if (absmax_q != nullptr) {
    require_ptr(nested_absmax, op, "nested_absmax");
    require_ptr(code256, op, "code256");
  }
  if (device == JSW_CPU) {
    if (absmax_q == nullptr) {
      JSW_CPU_RUN(cpu::nf4_gemv(dtype, x, rows, in, packed, absmax, out_features, blocksize, bias, y));
    } else {
      // The nested scales are decoded when the op runs (a graph replays it with whatever they hold then).
      JSW_CPU_RUN({
        int64_t blocks = (in * out_features + blocksize - 1) / blocksize;
        std::vector<float> scales(static_cast<size_t>(blocks));
        cpu::nf4_decode_nested(absmax_q, nested_absmax, code256, offset, blocks, scales.data());
        cpu::nf4_gemv(dtype, x, rows, in, packed, scales.data(), out_features, blocksize, bias, y);
      });
    }
  } else {
    JSW_CUDA_ONLY(cuda::nf4_gemv(device, dtype, x, rows, in, packed, absmax, absmax_q, nested_absmax, code256, offset,
                                 out_features, blocksize, bias, y));
  }
  JSW_API_END
}
