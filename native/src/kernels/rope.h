// RoPE twins (contract: jsw_rope_inv_freq / jsw_rope_fwd / jsw_rope_bwd in jswift.h).
// The backward is the forward with the angle negated, so both directions share one kernel that takes the sign
// of the sine: +1 rotates by +angle (forward), -1 by -angle (the transpose, backward).
#pragma once

#include <cstdint>

namespace jsw {

// Host-side frequencies, fp32 step by step as transformers computes them. Arguments already validated.
void rope_inv_freq(int64_t head_dim, float theta, int scaling_type, float factor, float low_freq_factor,
                   float high_freq_factor, int64_t original_max_position, float* inv_freq);

namespace cpu {
void rope_rotate(int dtype, const void* x, const int32_t* positions, const float* inv_freq, int64_t tokens,
                 int64_t heads, int64_t head_dim, float attention_scaling, float sin_sign, void* y);
}  // namespace cpu
namespace cuda {
void rope_rotate(int device, int dtype, const void* x, const int32_t* positions, const float* inv_freq,
                 int64_t tokens, int64_t heads, int64_t head_dim, float attention_scaling, float sin_sign, void* y);
}  // namespace cuda
}  // namespace jsw
