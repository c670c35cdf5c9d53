// bitsandbytes' signed 8-bit dynamic map, create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8),
// rebuilt with the same fp32 operations PyTorch performs for it, so the 256 values match bit for bit:
//  - for i in 0..6: boundaries = torch.linspace(0.1, 1, 2^i + 1) in fp32, means = (b[k] + b[k+1]) / 2, and the
//    values (10^(i-6)) * means and -(10^(i-6)) * means (the Python scale rounded to fp32, one fp32 multiply);
//  - plus 0 and 1.0, sorted ascending: 127 negatives, 0 at index 127, 127 positives, 1.0 at index 255.
// torch.linspace's CPU kernel computes start + step*k below the halfway index and end - step*(steps-1-k) above
// it; PyTorch's x86 builds (AVX2/AVX512 kernels) contract those into fused multiply-adds, which is what the
// maps saved by bitsandbytes on x86 contain, so std::fma reproduces them here on any host.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/nf4.h"

namespace jsw {
namespace nf4 {

namespace {

std::vector<float> torch_linspace_f32(float start, float end, int64_t steps) {
  std::vector<float> out(static_cast<size_t>(steps), 0.0f);
  float step = (end - start) / float(steps - 1);
  int64_t halfway = steps / 2;
  for (int64_t k = 0; k < steps; k++)
    out[size_t(k)] = k < halfway ? std::fma(step, float(k), start) : std::fma(-step, float(steps - k - 1), end);
  return out;
}

std::vector<float> build() {
  const int max_exponent_bits = 7;
  std::vector<float> data;
  for (int i = 0; i < max_exponent_bits; i++) {
    std::vector<float> b = torch_linspace_f32(0.1f, 1.0f, (int64_t(1) << i) + 1);
    float scale = float(std::pow(10.0, double(i - (max_exponent_bits - 1))));
    for (size_t k = 0; k + 1 < b.size(); k++) {
      float mean = (b[k] + b[k + 1]) / 2.0f;
      data.push_back(scale * mean);
      data.push_back(-scale * mean);
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  return data;
}

}  // namespace

void dynamic_map_signed(float* code256) {
  static const std::vector<float> table = build();  // thread-safe one-time init
  std::copy(table.begin(), table.end(), code256);
}

}  // namespace nf4
}  // namespace jsw
