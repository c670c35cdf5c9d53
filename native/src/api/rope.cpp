// C ABI: RoPE frequencies (host) and the rotation forward/backward.
#include <cmath>

#include "core/dispatch.h"
#include "kernels/rope.h"

using namespace jsw;

extern "C" int jsw_rope_inv_freq(int64_t head_dim, float theta, int scaling_type, float factor,
                                 float low_freq_factor, float high_freq_factor, int64_t original_max_position,
                                 float* inv_freq) {
  JSW_API_BEGIN
  const char* op = "jsw_rope_inv_freq";
  require_positive(head_dim, op, "head_dim");
  require(head_dim % 2 == 0, op, "head_dim must be even, got %lld", (long long)head_dim);
  require(std::isfinite(theta) && theta > 0.0f, op, "theta must be > 0, got %g", double(theta));
  require(scaling_type == JSW_ROPE_DEFAULT || scaling_type == JSW_ROPE_LINEAR || scaling_type == JSW_ROPE_LLAMA3,
          op, "scaling_type must be JSW_ROPE_DEFAULT (0), JSW_ROPE_LINEAR (1) or JSW_ROPE_LLAMA3 (2), got %d",
          scaling_type);
  if (scaling_type != JSW_ROPE_DEFAULT)
    require(std::isfinite(factor) && factor > 0.0f, op, "factor must be > 0, got %g", double(factor));
  if (scaling_type == JSW_ROPE_LLAMA3) {
    require(std::isfinite(low_freq_factor) && low_freq_factor > 0.0f, op, "low_freq_factor must be > 0, got %g",
            double(low_freq_factor));
    require(std::isfinite(high_freq_factor) && high_freq_factor > low_freq_factor, op,
            "high_freq_factor (%g) must be greater than low_freq_factor (%g)", double(high_freq_factor),
            double(low_freq_factor));
    require_positive(original_max_position, op, "original_max_position");
  }
  require_ptr(inv_freq, op, "inv_freq");
  rope_inv_freq(head_dim, theta, scaling_type, factor, low_freq_factor, high_freq_factor, original_max_position,
                inv_freq);
  JSW_API_END
}

namespace {
int rotate(const char* op, int device, int dtype, const void* x, const int32_t* positions, const float* inv_freq,
           int64_t tokens, int64_t heads, int64_t head_dim, float attention_scaling, float sin_sign, void* y,
           const char* x_name, const char* y_name) {
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(tokens, op, "tokens");
  require_positive(heads, op, "heads");
  require_positive(head_dim, op, "head_dim");
  require(head_dim % 2 == 0, op, "head_dim must be even (rotate-half pairs i and i + head_dim/2), got %lld",
          (long long)head_dim);
  require(tokens <= INT32_MAX, op, "tokens above 2^31 are not supported");
  require(std::isfinite(attention_scaling), op, "attention_scaling must be finite, got %g", double(attention_scaling));
  if (tokens == 0) return JSW_OK;
  require_ptr(x, op, x_name);
  require_ptr(positions, op, "positions");
  require_ptr(inv_freq, op, "inv_freq");
  require_ptr(y, op, y_name);
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::rope_rotate(dtype, x, positions, inv_freq, tokens, heads, head_dim, attention_scaling,
                sin_sign, y));
  } else {
    JSW_CUDA_ONLY(cuda::rope_rotate(device, dtype, x, positions, inv_freq, tokens, heads, head_dim,
                                    attention_scaling, sin_sign, y));
  }
  return JSW_OK;
}
}  // namespace

extern "C" int jsw_rope_fwd(int device, int dtype, const void* x, const int32_t* positions, const float* inv_freq,
                            int64_t tokens, int64_t heads, int64_t head_dim, float attention_scaling, void* y) {
  JSW_API_BEGIN
  rotate("jsw_rope_fwd", device, dtype, x, positions, inv_freq, tokens, heads, head_dim, attention_scaling, 1.0f, y,
         "x", "y");
  JSW_API_END
}

extern "C" int jsw_rope_bwd(int device, int dtype, const void* dy, const int32_t* positions, const float* inv_freq,
                            int64_t tokens, int64_t heads, int64_t head_dim, float attention_scaling, void* dx) {
  JSW_API_BEGIN
  rotate("jsw_rope_bwd", device, dtype, dy, positions, inv_freq, tokens, heads, head_dim, attention_scaling, -1.0f,
         dx, "dy", "dx");
  JSW_API_END
}
