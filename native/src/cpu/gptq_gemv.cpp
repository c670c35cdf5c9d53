// GPTQ dequant-GEMV on the CPU (decode: 1..8 input rows). qweight [in / p, out] runs along the input dim, so one
// packed row holds consecutive output channels: a task takes 8 channels (one AVX2 vector), walks the packed rows
// (a 32-byte load each), unpacks the p fields of the 8 words with vector shifts, and FMAs every input row into
// its own 8-lane accumulator. Each weight value is the dequantization's single fp32 product s * (q - z), so the
// result is the dequantize-then-matmul one up to fp32 summation order. The packed weight is streamed once per
// call whatever the number of rows: decode is bound by that read, not by the arithmetic.
#include <algorithm>
#include <vector>

#include <omp.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "core/dtype.h"
#include "kernels/gptq.h"
#include "kernels/qmatmul.h"

namespace jsw {
namespace cpu {

namespace {

constexpr int64_t kLanes = 8;

struct Dims {
  int64_t rows, out, in, groups;
  int bits, p;
  uint32_t mask;
};

// Scales and zeros of channels [c0, c0 + width) for every group, [group][lane]: the f16 decode and the zero
// field's shift then happen once per (group, channel) instead of once per weight value.
void channel_tables(const Dims& d, const int32_t* qzeros, const uint16_t* scales, int64_t c0, int64_t width,
                    float* s_tab, int32_t* z_tab) {
  const int64_t zero_words = d.out / d.p;
  for (int64_t g = 0; g < d.groups; g++)
    for (int64_t l = 0; l < width; l++) {
      const int64_t c = c0 + l;
      s_tab[g * kLanes + l] = to_float(f16{scales[g * d.out + c]});
      z_tab[g * kLanes + l] =
          int32_t(((uint32_t(qzeros[g * zero_words + c / d.p]) >> (int(c % d.p) * d.bits)) + 1u) & d.mask);
    }
}

// Channels [c0, c0 + width), one at a time (the tail of out % 8, and builds without AVX2).
void scalar_block(const Dims& d, const float* xs, const int32_t* qweight, const int32_t* g_idx, int64_t c0,
                  int64_t width, const float* s_tab, const int32_t* z_tab, float* acc /* [rows][kLanes] */) {
  for (int64_t l = 0; l < width; l++) {
    const int64_t c = c0 + l;
    for (int64_t r = 0; r < d.in / d.p; r++) {
      const uint32_t word = uint32_t(qweight[r * d.out + c]);
      for (int j = 0; j < d.p; j++) {
        const int64_t k = r * d.p + j;
        const int32_t g = g_idx[k];
        const float w = s_tab[g * kLanes + l] * float(int32_t((word >> (d.bits * j)) & d.mask) - z_tab[g * kLanes + l]);
        for (int64_t row = 0; row < d.rows; row++) acc[row * kLanes + l] += xs[row * d.in + k] * w;
      }
    }
  }
}

#if defined(__AVX2__) && defined(__FMA__)
template <int kMaxR>
void vector_block(const Dims& d, const float* xs, const int32_t* qweight, const int32_t* g_idx, int64_t c0,
                  const float* s_tab, const int32_t* z_tab, float* acc) {
  __m256 vacc[kMaxR];
  for (int r = 0; r < kMaxR; r++) vacc[r] = _mm256_setzero_ps();
  const __m256i mask = _mm256_set1_epi32(int(d.mask));
  const __m128i shift = _mm_cvtsi32_si128(d.bits);
  const int64_t words_per_col = d.in / d.p;
  for (int64_t r = 0; r < words_per_col; r++) {
    __m256i words = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qweight + r * d.out + c0));
    const int32_t* gi = g_idx + r * d.p;
    for (int j = 0; j < d.p; j++) {
      const int64_t k = r * d.p + j;
      const int32_t g = gi[j];
      const __m256i q = _mm256_and_si256(words, mask);
      words = _mm256_srl_epi32(words, shift);
      const __m256i qz = _mm256_sub_epi32(q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(z_tab + g * kLanes)));
      const __m256 w = _mm256_mul_ps(_mm256_loadu_ps(s_tab + g * kLanes), _mm256_cvtepi32_ps(qz));
      for (int r2 = 0; r2 < kMaxR; r2++) {
        if (r2 >= d.rows) break;
        vacc[r2] = _mm256_fmadd_ps(_mm256_set1_ps(xs[r2 * d.in + k]), w, vacc[r2]);
      }
    }
  }
  for (int64_t r2 = 0; r2 < d.rows; r2++) _mm256_storeu_ps(acc + r2 * kLanes, vacc[r2]);
}
#endif

template <class T>
void gemv(const T* x, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales, const int32_t* g_idx,
          const Dims& d, const T* bias, T* y) {
  // The input is tiny next to the weight (rows * in values): convert it to fp32 once.
  std::vector<float> xf(size_t(d.rows * d.in));
  for (int64_t i = 0; i < d.rows * d.in; i++) xf[size_t(i)] = to_float(x[i]);
  const float* xs = xf.data();
  const int64_t blocks = (d.out + kLanes - 1) / kLanes;
#pragma omp parallel
  {
    std::vector<float> s_tab(size_t(d.groups * kLanes));
    std::vector<int32_t> z_tab(size_t(d.groups * kLanes));
    float acc[qmatmul::kGptqGemvMaxRows * kLanes];
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
      const int64_t c0 = b * kLanes, width = std::min(kLanes, d.out - c0);
      channel_tables(d, qzeros, scales, c0, width, s_tab.data(), z_tab.data());
      std::fill(acc, acc + d.rows * kLanes, 0.0f);
#if defined(__AVX2__) && defined(__FMA__)
      if (width == kLanes) {
        if (d.rows == 1) {
          vector_block<1>(d, xs, qweight, g_idx, c0, s_tab.data(), z_tab.data(), acc);
        } else {
          vector_block<int(qmatmul::kGptqGemvMaxRows)>(d, xs, qweight, g_idx, c0, s_tab.data(), z_tab.data(), acc);
        }
      } else {
        scalar_block(d, xs, qweight, g_idx, c0, width, s_tab.data(), z_tab.data(), acc);
      }
#else
      scalar_block(d, xs, qweight, g_idx, c0, width, s_tab.data(), z_tab.data(), acc);
#endif
      for (int64_t r = 0; r < d.rows; r++)
        for (int64_t l = 0; l < width; l++) {
          const float bo = bias == nullptr ? 0.0f : to_float(bias[c0 + l]);
          y[r * d.out + c0 + l] = from_float<T>(acc[r * kLanes + l] + bo);
        }
    }
  }
}

}  // namespace

void gptq_gemv(int dtype, const void* x, int64_t rows, const int32_t* qweight, const int32_t* qzeros,
               const uint16_t* scales, const int32_t* g_idx, int64_t out, int64_t in, int bits, int64_t groups,
               const void* bias, void* y) {
  const Dims d{rows, out, in, groups, bits, gptq::per_word(bits), gptq::field_mask(bits)};
  JSW_DISPATCH_FLOAT(dtype, "jsw_gptq_gemv",
                     gemv(static_cast<const T*>(x), qweight, qzeros, scales, g_idx, d, static_cast<const T*>(bias),
                          static_cast<T*>(y)));
}

}  // namespace cpu
}  // namespace jsw
