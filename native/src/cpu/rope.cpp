// RoPE on the CPU (rotate-half convention): for i < half = head_dim/2, with c = cos(angle_i) * scaling and
// s = sign * sin(angle_i) * scaling, angle_i = position * inv_freq[i] in fp32,
//   y[i] = x[i] c - x[i+half] s,   y[i+half] = x[i+half] c + x[i] s.
// Tokens are spread over threads; a token's cos/sin table is computed once and reused by all its heads.
// Each step reads both halves of a pair before writing them, so y may alias x.
#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "kernels/rope.h"

namespace jsw {
namespace cpu {

namespace {

template <class T>
void rotate(const T* x, const int32_t* positions, const float* inv_freq, int64_t tokens, int64_t heads,
            int64_t head_dim, float scaling, float sign, T* y) {
  int64_t half = head_dim / 2;
#pragma omp parallel if (tokens * heads * head_dim > 32768)
  {
    std::vector<float> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tokens; t++) {
      float pos = float(positions[t]);
      for (int64_t i = 0; i < half; i++) {
        float angle = pos * inv_freq[i];
        cos_t[i] = std::cos(angle) * scaling;
        sin_t[i] = sign * (std::sin(angle) * scaling);
      }
      const float* c = cos_t.data();
      const float* s = sin_t.data();
      for (int64_t h = 0; h < heads; h++) {
        const T* xr = x + (t * heads + h) * head_dim;
        T* yr = y + (t * heads + h) * head_dim;
#pragma omp simd
        for (int64_t i = 0; i < half; i++) {
          float a = to_float(xr[i]), b = to_float(xr[i + half]);
          yr[i] = from_float<T>(a * c[i] - b * s[i]);
          yr[i + half] = from_float<T>(b * c[i] + a * s[i]);
        }
      }
    }
  }
}

}  // namespace

void rope_rotate(int dtype, const void* x, const int32_t* positions, const float* inv_freq, int64_t tokens,
                 int64_t heads, int64_t head_dim, float attention_scaling, float sin_sign, void* y) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_rope",
                     rotate(static_cast<const T*>(x), positions, inv_freq, tokens, heads, head_dim, attention_scaling,
                            sin_sign, static_cast<T*>(y)));
}

}  // namespace cpu
}  // namespace jsw
