// C ABI: GPTQ dequantization (AutoGPTQ "gptq" v1 layout), Hessian accumulation and quantization.
#include "core/dispatch.h"
#include "kernels/gptq.h"

using namespace jsw;

namespace {

void require_bits(int bits, const char* op, bool any_width) {
  bool ok = any_width ? (bits >= 2 && bits <= 8) : (bits == 2 || bits == 4 || bits == 8);
  require(ok, op, "bits = %d is not supported (%s)", bits, any_width ? "2..8" : "2, 4 or 8");
}

}  // namespace

extern "C" int jsw_gptq_dequantize(int device, int dtype, const int32_t* qweight, const int32_t* qzeros,
                                   const uint16_t* scales, const int32_t* g_idx, int64_t in, int64_t out, int bits,
                                   int64_t groups, void* w) {
  JSW_API_BEGIN
  const char* op = "jsw_gptq_dequantize";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_bits(bits, op, false);
  require_positive(in, op, "in");
  require_positive(out, op, "out");
  require_positive(groups, op, "groups");
  int p = gptq::per_word(bits);
  require(in % p == 0, op, "in = %lld is not a multiple of %d (values per int32 word at %d bits)", (long long)in, p,
          bits);
  require(out % p == 0, op, "out = %lld is not a multiple of %d (values per int32 word at %d bits)", (long long)out,
          p, bits);
  require_ptr(qweight, op, "qweight");
  require_ptr(qzeros, op, "qzeros");
  require_ptr(scales, op, "scales");
  require_ptr(g_idx, op, "g_idx");
  require_ptr(w, op, "w");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::gptq_dequantize(dtype, qweight, qzeros, scales, g_idx, in, out, bits, groups, w));
  } else {
    JSW_CUDA_ONLY(cuda::gptq_dequantize(device, dtype, qweight, qzeros, scales, g_idx, in, out, bits, groups, w));
  }
  JSW_API_END
}

extern "C" int jsw_gptq_hessian_add(int device, const float* x, int64_t rows, int64_t in, float* h, int64_t seen) {
  JSW_API_BEGIN
  const char* op = "jsw_gptq_hessian_add";
  require_device(device, op);
  require_positive(in, op, "in");
  require_non_negative(rows, op, "rows");
  require_non_negative(seen, op, "seen");
  if (rows == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(h, op, "h");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::gptq_hessian_add(x, rows, in, h, seen));
  } else {
    JSW_CUDA_ONLY(cuda::gptq_hessian_add(device, x, rows, in, h, seen));
  }
  JSW_API_END
}

extern "C" int jsw_gptq_quantize(int device, float* w, float* h, int64_t out, int64_t in, int bits,
                                 int64_t group_size, int sym, int desc_act, float percdamp, int64_t block,
                                 int32_t* codes, float* scales, int32_t* zeros, int32_t* g_idx, double* loss) {
  JSW_API_BEGIN
  const char* op = "jsw_gptq_quantize";
  require_device(device, op);
  require_bits(bits, op, true);
  require_positive(out, op, "out");
  require_positive(in, op, "in");
  require(group_size == -1 || group_size > 0, op, "group_size must be > 0 or -1 (one group), got %lld",
          (long long)group_size);
  require_positive(block, op, "block");
  require(percdamp >= 0.0f, op, "damp_percent must be >= 0, got %g", double(percdamp));
  require_ptr(w, op, "w");
  require_ptr(codes, op, "codes");
  require_ptr(scales, op, "scales");
  require_ptr(zeros, op, "zeros");
  require_ptr(g_idx, op, "g_idx");
  require_ptr(loss, op, "loss");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::gptq_quantize(w, h, out, in, bits, group_size, sym != 0, desc_act != 0, percdamp, block, codes,
                scales, zeros, g_idx, loss));
  } else {
    require(block <= 128, op, "block = %lld: the CUDA twin takes lazy batches of at most 128 columns",
            (long long)block);
    JSW_CUDA_ONLY(cuda::gptq_quantize(device, w, h, out, in, bits, group_size, sym != 0, desc_act != 0, percdamp,
                                      block, codes, scales, zeros, g_idx, loss));
  }
  JSW_API_END
}
