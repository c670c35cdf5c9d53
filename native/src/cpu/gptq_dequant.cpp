// GPTQ dequantization on the CPU, the reference of the CUDA twin. The packed words run along the input dim
// (qweight [in / p, out]) while the dense weight is [out, in]: each task takes 16 output channels, so a packed
// row's 16 words are one cache line and every output row is written front to back.
#include <algorithm>
#include <vector>

#include <omp.h>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/gptq.h"

namespace jsw {
namespace cpu {

namespace {

constexpr int64_t kChannels = 16;

template <class T>
void dequantize(const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales, const int32_t* g_idx,
                int64_t in, int64_t out, int bits, int64_t groups, T* w) {
  const int p = gptq::per_word(bits);
  const uint32_t mask = gptq::field_mask(bits);
  const int64_t words_per_col = in / p, zero_words = out / p;
#pragma omp parallel
  {
    // The task's scales and zeros for every group, [group][channel - c0]: the f16 decode and the zero field's
    // shift once per (group, channel) rather than once per value (they dominated the loop).
    std::vector<float> s_tab(size_t(groups * kChannels));
    std::vector<int32_t> z_tab(size_t(groups * kChannels));
#pragma omp for schedule(static)
    for (int64_t c0 = 0; c0 < out; c0 += kChannels) {
      int64_t c1 = std::min(out, c0 + kChannels);
      for (int64_t g = 0; g < groups; g++)
        for (int64_t c = c0; c < c1; c++) {
          s_tab[size_t(g * kChannels + c - c0)] = to_float(f16{scales[g * out + c]});
          z_tab[size_t(g * kChannels + c - c0)] =
              int32_t(((uint32_t(qzeros[g * zero_words + c / p]) >> (int(c % p) * bits)) + 1u) & mask);
        }
      for (int64_t r = 0; r < words_per_col; r++) {
        const int32_t* gi = g_idx + r * p;
        for (int64_t c = c0; c < c1; c++) {
          uint32_t word = uint32_t(qweight[r * out + c]);
          T* row = w + c * in + r * p;
          const float* sc = s_tab.data() + (c - c0);
          const int32_t* zc = z_tab.data() + (c - c0);
          for (int j = 0; j < p; j++) {
            const int64_t g = gi[j];
            int q = int((word >> (bits * j)) & mask);
            row[j] = from_float<T>(sc[g * kChannels] * float(q - zc[g * kChannels]));
          }
        }
      }
    }
  }
}

}  // namespace

void gptq_dequantize(int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                     const int32_t* g_idx, int64_t in, int64_t out, int bits, int64_t groups, void* w) {
  for (int64_t k = 0; k < in; k++)
    require(g_idx[k] >= 0 && g_idx[k] < groups, "jsw_gptq_dequantize",
            "g_idx[%lld] = %d is outside [0, %lld) (the number of groups of scales / qzeros)", (long long)k,
            g_idx[k], (long long)groups);
  JSW_DISPATCH_FLOAT(dtype, "jsw_gptq_dequantize",
                     dequantize<T>(qweight, qzeros, scales, g_idx, in, out, bits, groups, static_cast<T*>(w)));
}

}  // namespace cpu
}  // namespace jsw
