// RoPE inverse frequencies exactly as transformers' modeling_rope_utils computes them in float32
// (_compute_default_rope_parameters, the linear rule `inv_freq /= factor`, _compute_llama3_parameters).
// Every tensor op there rounds to fp32 once, so each step below is one rounded fp32 operation in the same
// order. The helpers compute in double and round to float: for + - * / that double rounding gives exactly
// the fp32 result (53 >= 2*24 + 2 bits), and the rounding between steps also keeps the compiler from fusing a
// multiply and an add into an FMA, which would change the last bit. Python's `a / tensor` is
// `tensor.reciprocal() * a` in torch, hence the reciprocals. The one step without a bit-exact twin is pow:
// torch uses a vectorised powf (within 1 ulp), here it is correctly rounded.
#include <cmath>

#include "jswift/jswift.h"
#include "kernels/rope.h"

namespace jsw {

namespace {
float mul(float a, float b) { return float(double(a) * double(b)); }
float divide(float a, float b) { return float(double(a) / double(b)); }
float add(float a, float b) { return float(double(a) + double(b)); }
float sub(float a, float b) { return float(double(a) - double(b)); }
float recip(float a) { return divide(1.0f, a); }
}  // namespace

void rope_inv_freq(int64_t head_dim, float theta, int scaling_type, float factor, float low_freq_factor,
                   float high_freq_factor, int64_t original_max_position, float* inv_freq) {
  int64_t half = head_dim / 2;
  // 1.0 / (base ** (arange(0, dim, 2).float() / dim))
  for (int64_t i = 0; i < half; i++) {
    float exponent = divide(float(2 * i), float(head_dim));
    float power = float(std::pow(double(theta), double(exponent)));
    inv_freq[i] = recip(power);
  }
  if (scaling_type == JSW_ROPE_LINEAR) {
    for (int64_t i = 0; i < half; i++) inv_freq[i] = divide(inv_freq[i], factor);
  } else if (scaling_type == JSW_ROPE_LLAMA3) {
    // Python-side scalars are doubles; torch casts them to fp32 where they meet a float32 tensor.
    double context = double(original_max_position);
    float low_freq_wavelen = float(context / double(low_freq_factor));
    float high_freq_wavelen = float(context / double(high_freq_factor));
    float two_pi = float(2.0 * M_PI);
    float band = float(double(high_freq_factor) - double(low_freq_factor));
    for (int64_t i = 0; i < half; i++) {
      float f = inv_freq[i];
      float wavelen = mul(recip(f), two_pi);
      // long wavelengths (low frequencies) are divided by factor, short ones kept
      float llama = wavelen > low_freq_wavelen ? divide(f, factor) : f;
      float smooth = divide(sub(mul(recip(wavelen), float(context)), low_freq_factor), band);
      float smoothed = add(divide(mul(sub(1.0f, smooth), llama), factor), mul(smooth, llama));
      bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
      inv_freq[i] = medium ? smoothed : llama;
    }
  }
}

}  // namespace jsw
