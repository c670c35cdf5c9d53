// C ABI: the dequant-to-tile GEMM (jsw_nf4_matmul, jsw_gptq_matmul, jsw_awq_matmul) and the GPTQ dequant-GEMV (jsw_gptq_gemv).
// Each entry checks its format's arguments, builds the format's row dequantizer (or calls the GEMV) and hands it
// to the device's driver (kernels/qmatmul.h).
#include <cstdint>

#include "core/dispatch.h"
#include "kernels/awq.h"
#include "kernels/gptq.h"
#include "kernels/nf4_mma.h"
#include "kernels/qmatmul.h"

using namespace jsw;

namespace {

// What every format shares: device, dtype, sizes, the activations and the transpose flag.
void check_common(const char* op, int device, int dtype, const void* x, int64_t rows, int trans, int64_t out,
                  int64_t in, float beta, void* y) {
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(rows, op, "rows");
  require_positive(out, op, "out_features");
  require_positive(in, op, "in_features");
  require(trans == 0 || trans == 1, op, "trans must be 0 (y = x W^T) or 1 (y = x W), got %d", trans);
  // cuBLAS takes int dimensions; the CPU twin keeps the same limits so both devices accept the same calls.
  require(rows <= INT32_MAX && out <= INT32_MAX && in <= INT32_MAX, op, "dimensions above 2^31 are not supported");
  require(in <= INT64_MAX / out, op, "in_features * out_features overflows (%lld x %lld)", (long long)in,
          (long long)out);
  require(beta == beta, op, "beta is NaN");
  if (rows > 0) {
    require_ptr(x, op, "x");
    require_ptr(y, op, "y");
  }
}

// GPTQ's packed arguments (jsw_gptq_matmul and jsw_gptq_gemv take the same ones).
void check_gptq(const char* op, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                const int32_t* g_idx, int64_t out_features, int64_t in_features, int bits, int64_t groups) {
  require(bits == 2 || bits == 4 || bits == 8, op, "bits = %d is not supported (2, 4 or 8)", bits);
  require_positive(groups, op, "groups");
  const int p = gptq::per_word(bits);
  require(in_features % p == 0 && out_features % p == 0, op,
          "in_features (%lld) and out_features (%lld) must be multiples of %d (values per int32 word at %d bits)",
          (long long)in_features, (long long)out_features, p, bits);
  require_ptr(qweight, op, "qweight");
  require_ptr(qzeros, op, "qzeros");
  require_ptr(scales, op, "scales");
  require_ptr(g_idx, op, "g_idx");
}

// The CPU reads g_idx before any work and refuses a group outside [0, groups) (CUDA cannot: it writes NaN).
void check_g_idx(const char* op, const int32_t* g_idx, int64_t in_features, int64_t groups) {
  for (int64_t k = 0; k < in_features; k++)
    require(g_idx[k] >= 0 && g_idx[k] < groups, op,
            "g_idx[%lld] = %d is outside [0, %lld) (the number of groups of scales / qzeros)", (long long)k, g_idx[k],
            (long long)groups);
}

}  // namespace

extern "C" int jsw_nf4_matmul(int device, int dtype, const void* x, int64_t rows, int trans, const uint8_t* packed,
                              const float* absmax, const uint8_t* absmax_q, const float* nested_absmax,
                              const float* code256, float offset, int64_t out_features, int64_t in_features,
                              int64_t blocksize, float beta, void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_nf4_matmul";
  check_common(op, device, dtype, x, rows, trans, out_features, in_features, beta, y);
  require_positive(blocksize, op, "blocksize");
  require_ptr(packed, op, "packed");
  require((absmax == nullptr) != (absmax_q == nullptr), op,
          "give exactly one of absmax (plain scales) and absmax_q (double quantization)");
  if (absmax_q != nullptr) {
    require_ptr(nested_absmax, op, "nested_absmax");
    require_ptr(code256, op, "code256");
  }
  if (rows == 0) return JSW_OK;
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::Nf4Rows deq(packed, absmax, absmax_q, nested_absmax, code256, offset, in_features, blocksize);
                cpu::qmatmul(deq, dtype, x, rows, out_features, in_features, trans != 0, beta, y));
  } else {
    JSW_CUDA_ONLY({
      if (trans == 0 && cuda::nf4_mma_applies(dtype, rows, in_features, blocksize, x, packed)) {
        // a few rows (batched decode): decoded into the tensor cores' operands, no dequantized copy
        cuda::nf4_mma(device, dtype, x, rows, in_features, packed, absmax, absmax_q, nested_absmax, code256, offset,
                      out_features, blocksize, beta, y);
      } else {
        cuda::Nf4DeviceRows deq(packed, absmax, absmax_q, nested_absmax, code256, offset, in_features, blocksize);
        cuda::qmatmul(device, deq, dtype, x, rows, out_features, in_features, trans != 0, beta, y);
      }
    });
  }
  JSW_API_END
}

extern "C" int jsw_gptq_matmul(int device, int dtype, const void* x, int64_t rows, int trans, const int32_t* qweight,
                               const int32_t* qzeros, const uint16_t* scales, const int32_t* g_idx,
                               int64_t out_features, int64_t in_features, int bits, int64_t groups, float beta,
                               void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_gptq_matmul";
  check_common(op, device, dtype, x, rows, trans, out_features, in_features, beta, y);
  check_gptq(op, qweight, qzeros, scales, g_idx, out_features, in_features, bits, groups);
  if (rows == 0) return JSW_OK;
  if (device == JSW_CPU) {
    check_g_idx(op, g_idx, in_features, groups);
    JSW_CPU_RUN(cpu::GptqRows deq(qweight, qzeros, scales, g_idx, in_features, out_features, bits, groups);
                cpu::qmatmul(deq, dtype, x, rows, out_features, in_features, trans != 0, beta, y));
  } else {
    JSW_CUDA_ONLY({
      cuda::GptqDeviceRows deq(qweight, qzeros, scales, g_idx, in_features, out_features, bits, groups);
      cuda::qmatmul(device, deq, dtype, x, rows, out_features, in_features, trans != 0, beta, y);
    });
  }
  JSW_API_END
}

extern "C" int jsw_gptq_gemv(int device, int dtype, const void* x, int64_t rows, const int32_t* qweight,
                             const int32_t* qzeros, const uint16_t* scales, const int32_t* g_idx,
                             int64_t out_features, int64_t in_features, int bits, int64_t groups, const void* bias,
                             void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_gptq_gemv";
  check_common(op, device, dtype, x, rows, 0, out_features, in_features, 0.0f, y);
  require(rows >= 1 && rows <= qmatmul::kGptqGemvMaxRows, op,
          "rows = %lld, but the GEMV takes 1..%lld rows (use jsw_gptq_matmul)", (long long)rows,
          (long long)qmatmul::kGptqGemvMaxRows);
  check_gptq(op, qweight, qzeros, scales, g_idx, out_features, in_features, bits, groups);
  if (device == JSW_CPU) {
    check_g_idx(op, g_idx, in_features, groups);
    JSW_CPU_RUN(cpu::gptq_gemv(dtype, x, rows, qweight, qzeros, scales, g_idx, out_features, in_features, bits,
                groups, bias, y));
  } else {
    JSW_CUDA_ONLY(cuda::gptq_gemv(device, dtype, x, rows, qweight, qzeros, scales, g_idx, out_features, in_features,
                                  bits, groups, bias, y));
  }
  JSW_API_END
}

extern "C" int jsw_awq_matmul(int device, int dtype, const void* x, int64_t rows, int trans, const int32_t* qweight,
                              const int32_t* qzeros, const uint16_t* scales, int64_t out_features,
                              int64_t in_features, int64_t group_size, float beta, void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_awq_matmul";
  check_common(op, device, dtype, x, rows, trans, out_features, in_features, beta, y);
  require_positive(group_size, op, "group_size");
  require(in_features % group_size == 0, op, "in_features = %lld is not a multiple of group_size = %lld",
          (long long)in_features, (long long)group_size);
  require(out_features % awq::kPerWord == 0, op,
          "out_features = %lld is not a multiple of 8 (4-bit outputs per int32 word)", (long long)out_features);
  require_ptr(qweight, op, "qweight");
  require_ptr(qzeros, op, "qzeros");
  require_ptr(scales, op, "scales");
  if (rows == 0) return JSW_OK;
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::AwqRows deq(qweight, qzeros, scales, in_features, out_features, group_size);
                cpu::qmatmul(deq, dtype, x, rows, out_features, in_features, trans != 0, beta, y));
  } else {
    JSW_CUDA_ONLY({
      cuda::AwqDeviceRows deq(qweight, qzeros, scales, in_features, out_features, group_size);
      cuda::qmatmul(device, deq, dtype, x, rows, out_features, in_features, trans != 0, beta, y);
    });
  }
  JSW_API_END
}
