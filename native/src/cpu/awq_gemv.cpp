// AWQ dequant-GEMV on the CPU. The checkpoint is input-major ([in, out / 8] words, 8 outputs each), so the GEMV
// walks the inputs and updates 8 outputs per word: each task owns a tile of kTileWords consecutive words (128
// outputs: one 64-byte cache line per input row, so no line is fetched by two tasks) and keeps their fp32
// accumulators for every input row in L1. Per quant group the tile's zeros and scales are decoded once; per input
// each word is decoded into 8 fp32 weights (the same (q - z) * s as jsw_awq_dequantize) and every input row adds
// x[r, k] times them. With AVX2 one word is one vector: broadcast, variable shifts that undo AutoAWQ's nibble
// interleave (lane m gets output m), mask, convert; the scalar loop is the fallback and the reference order.
// One input row's decode has its own path (tiles_row1, cpu/awq_decode.h: AVX2, or AVX-512 picked at run time),
// which reads the weight row by row across the tiles; split_decode (cpu/decode_split.h) shares it between the
// threads.
#include <algorithm>
#include <vector>

#include <omp.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "core/dtype.h"
#include "cpu/decode_split.h"
#include "cpu/isa.h"
#include "kernels/awq.h"

namespace jsw {
namespace cpu {

namespace {

constexpr int64_t kTileWords = 16, kTile = kTileWords * awq::kPerWord;
constexpr int kShift[8] = {0, 16, 4, 20, 8, 24, 12, 28};  // 4 * kNibbleOf[m]

// The one-row decode (cpu/awq_decode.h), once per instruction set. Panels of 16 rows: measured on weights not in
// cache, 8-16 rows were fastest, whole 128-row groups 1.5x slower.
constexpr int64_t kPanel = 16;
#define JSW_SIMD_KERNELS "cpu/awq_decode.h"
#include "cpu/simd_instantiate.h"

template <class T>
void gemv(const T* x, int64_t rows, int64_t in, const int32_t* qweight, const int32_t* qzeros,
          const uint16_t* scales, int64_t out, int64_t gs, const T* bias, T* y) {
  std::vector<float> xf(size_t(rows * in));  // the input is tiny next to the weight: convert it once
  for (int64_t i = 0; i < rows * in; i++) xf[size_t(i)] = to_float(x[i]);
  const float* xs = xf.data();
  const int64_t words = out / awq::kPerWord, tiles = (words + kTileWords - 1) / kTileWords;
  int64_t first_tile = 0;  // tiles before it are done by the panel decode path
#ifdef JSW_SIMD_BASELINE
#ifdef JSW_CPU_AVX512
  auto* const tiles_row1 = use_avx512() ? avx512::tiles_row1 : baseline::tiles_row1;
#else
  auto* const tiles_row1 = baseline::tiles_row1;
#endif
  if (rows == 1 && words >= kTileWords) {
    first_tile = words / kTileWords;
    split_decode(
        in / gs, first_tile, kTile,
        [&](int64_t g0, int64_t g1, int64_t t0, int64_t t1, float* acc) {
          tiles_row1(xs, qweight, qzeros, scales, out, gs, g0, g1, t0, t1, acc);
        },
        [&](int64_t t0, int64_t t1, const float* acc) {
          for (int64_t t = t0; t < t1; t++)
            for (int m = 0; m < 8; m++)
              for (int w = 0; w < 16; w++) {
                const int64_t o = (t * kTileWords + w) * awq::kPerWord + m;
                const float b = bias == nullptr ? 0.0f : to_float(bias[o]);
                y[o] = from_float<T>(acc[(t - t0) * kTile + m * 16 + w] + b);
              }
        });
  }
#endif
#pragma omp parallel for schedule(static) if (tiles > first_tile)
  for (int64_t t = first_tile; t < tiles; t++) {
    const int64_t j0 = t * kTileWords, nw = std::min(kTileWords, words - j0), n = nw * awq::kPerWord;
    alignas(32) float acc[awq::kGemvMaxRows][kTile] = {};
    alignas(32) float zero[kTile], scale[kTile];
    for (int64_t g = 0; g < in / gs; g++) {
      for (int64_t v = 0; v < nw; v++) {
        const uint32_t zw = uint32_t(qzeros[g * words + j0 + v]);
        for (int m = 0; m < 8; m++) {
          zero[v * 8 + m] = float(int((zw >> kShift[m]) & 15u));
          scale[v * 8 + m] = to_float(f16{scales[g * out + (j0 + v) * 8 + m]});
        }
      }
      for (int64_t k = g * gs; k < (g + 1) * gs; k++) {
        const int32_t* q = qweight + k * words + j0;
#if defined(__AVX2__) && defined(__FMA__)
        const __m256i shifts = _mm256_setr_epi32(0, 16, 4, 20, 8, 24, 12, 28), mask = _mm256_set1_epi32(15);
        for (int64_t v = 0; v < nw; v++) {
          const __m256i codes = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(q[v]), shifts), mask);
          const __m256 wv = _mm256_mul_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(codes), _mm256_load_ps(zero + v * 8)),
                                          _mm256_load_ps(scale + v * 8));
          for (int64_t r = 0; r < rows; r++) {
            float* a = acc[r] + v * 8;
            _mm256_store_ps(a, _mm256_fmadd_ps(_mm256_set1_ps(xs[r * in + k]), wv, _mm256_load_ps(a)));
          }
        }
#else
        alignas(32) float w[kTile];
        for (int64_t v = 0; v < nw; v++) {
          const uint32_t word = uint32_t(q[v]);
          for (int m = 0; m < 8; m++)
            w[v * 8 + m] = (float(int((word >> kShift[m]) & 15u)) - zero[v * 8 + m]) * scale[v * 8 + m];
        }
        for (int64_t r = 0; r < rows; r++) {
          const float xv = xs[r * in + k];
          float* a = acc[r];
          for (int64_t i = 0; i < n; i++) a[i] += xv * w[i];
        }
#endif
      }
    }
    for (int64_t r = 0; r < rows; r++)
      for (int64_t i = 0; i < n; i++) {
        const int64_t o = j0 * awq::kPerWord + i;
        y[r * out + o] = from_float<T>(acc[r][i] + (bias == nullptr ? 0.0f : to_float(bias[o])));
      }
  }
}

}  // namespace

void awq_gemv(int dtype, const void* x, int64_t rows, int64_t in, const int32_t* qweight, const int32_t* qzeros,
              const uint16_t* scales, int64_t out, int64_t group_size, const void* bias, void* y) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_awq_gemv",
                     gemv(static_cast<const T*>(x), rows, in, qweight, qzeros, scales, out, group_size,
                          static_cast<const T*>(bias), static_cast<T*>(y)));
}

}  // namespace cpu
}  // namespace jsw
