// Row dequantizers of the dequant-to-tile GEMM (kernels/qmatmul.h): rows [r0, r1) of a packed W [out, in] into
// an fp32 tile, with exactly the arithmetic of the format's whole-weight dequantization (one fp32 product per
// value), so a tile product equals the dequantize-then-GEMM product up to the GEMM's summation order.
#include <algorithm>
#include <vector>

#include <omp.h>

#include "cpu/isa.h"
#include "cpu/nf4_avx2.h"
#if defined(JSW_CPU_AVX512) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "core/dtype.h"
#include "cpu/awq_block.h"
#include "kernels/awq.h"
#include "kernels/gptq.h"
#include "kernels/nf4.h"
#include "kernels/nf4_codes.h"
#include "kernels/qmatmul.h"

namespace jsw {
namespace cpu {

namespace {
constexpr float kNf4[16] = {JSW_NF4_CODEBOOK};
}  // namespace

#ifdef JSW_CPU_AVX512
JSW_AVX512_BEGIN
namespace {
// t[0, 2 * pairs) from packed bytes p[0, pairs) of one block (pairs % 16 == 0): each 16 bytes widen to 16 int32
// lanes and look the 16-level table, scaled once (t = level * s, the scalar loop's one product), up by the high
// nibble (even elements) and by the byte itself (odd ones: vpermps reads the low 4 bits), then interleave.
void nf4_pairs_avx512(const uint8_t* p, int64_t pairs, float s, float* t) {
  const __m512 table = _mm512_mul_ps(_mm512_loadu_ps(kNf4), _mm512_set1_ps(s));
  const __m512i first = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i second = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  for (int64_t k = 0; k < pairs; k += 16) {
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k)));
    const __m512 even = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);
    const __m512 odd = _mm512_permutexvar_ps(v, table);
    _mm512_storeu_ps(t + 2 * k, _mm512_permutex2var_ps(even, first, odd));
    _mm512_storeu_ps(t + 2 * k + 16, _mm512_permutex2var_ps(even, second, odd));
  }
}
}  // namespace
JSW_AVX512_END
#endif

#if defined(__AVX2__)
namespace {
// The baseline (AVX2) build of nf4_pairs_avx512, 8 bytes at a time (pairs % 8 == 0): the table's two scaled
// halves looked up (nf4_lookup8) by the high nibbles (even elements) and by the bytes (odd ones), then interleaved
// back into element order. Each value is level * s, the same fp32 product as the scalar loop's.
void nf4_pairs_avx2(const uint8_t* p, int64_t pairs, float s, float* t) {
  const __m256 scale = _mm256_set1_ps(s);
  const __m256 lo = _mm256_mul_ps(_mm256_loadu_ps(kNf4), scale), hi = _mm256_mul_ps(_mm256_loadu_ps(kNf4 + 8), scale);

  for (int64_t k = 0; k < pairs; k += 8) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + k)));
    const __m256 even = nf4_lookup8(lo, hi, _mm256_srli_epi32(v, 4)), odd = nf4_lookup8(lo, hi, v);
    const __m256 a = _mm256_unpacklo_ps(even, odd), b = _mm256_unpackhi_ps(even, odd);  // pairs 0,1,4,5 / 2,3,6,7
    _mm256_storeu_ps(t + 2 * k, _mm256_permute2f128_ps(a, b, 0x20));
    _mm256_storeu_ps(t + 2 * k + 8, _mm256_permute2f128_ps(a, b, 0x31));
  }
}
}  // namespace
#endif

// ---- NF4 ----------------------------------------------------------------------------------------------------
// Rows [r0, r1) are the contiguous elements [r0 * in, r1 * in) of the flattened weight: each row walks its
// blocks (a row may start mid-block and mid-byte when in is odd or not a multiple of the blocksize).
void Nf4Rows::rows(int64_t r0, int64_t r1, float* tile) const {
  const int64_t in = in_, bs = blocksize_;
  const int64_t b0 = r0 * in / bs, b1 = (r1 * in - 1) / bs + 1;
  // Double quantization: the panel's scales only (a vector 1/bs of the tile), rounded after the product and
  // after the sum as bitsandbytes does (volatile: no FMA contraction), as nf4_dequantize_dq.
  std::vector<float> decoded(absmax_ == nullptr ? size_t(b1 - b0) : 0);
  for (int64_t b = b0; b < b1 && absmax_ == nullptr; b++) {
    volatile float scaled = code256_[absmax_q_[b]] * nested_[b / nf4::kNestedBlock];
    decoded[size_t(b - b0)] = scaled + offset_;
  }
  const float* scales = absmax_ != nullptr ? absmax_ + b0 : decoded.data();
  const uint8_t* packed = packed_;
  [[maybe_unused]] const bool wide = use_avx512();
#pragma omp parallel for schedule(static)
  for (int64_t r = r0; r < r1; r++) {
    float* t = tile + (r - r0) * in;
    const int64_t e0 = r * in;
    for (int64_t i = 0, b = e0 / bs; i < in; b++) {
      const int64_t end = std::min(in, (b + 1) * bs - e0);
      const float s = scales[b - b0];
      int64_t j = i;
      if (((e0 + j) & 1) != 0) {  // a low nibble first: the row or the block starts mid-byte
        t[j] = kNf4[packed[(e0 + j) >> 1] & 15] * s;
        j++;
      }
      const uint8_t* p = packed + ((e0 + j) >> 1);
      const int64_t pairs = (end - j) / 2;
      int64_t k = 0;
#ifdef JSW_CPU_AVX512
      if (wide && pairs >= 16) {
        nf4_pairs_avx512(p, pairs / 16 * 16, s, t + j);
        k = pairs / 16 * 16;
      }
#endif
#if defined(__AVX2__)
      if (pairs - k >= 8) {  // the AVX2 build, or what the AVX-512 one left
        const int64_t n8 = (pairs - k) / 8 * 8;
        nf4_pairs_avx2(p + k, n8, s, t + j + 2 * k);
        k += n8;
      }
#endif
      for (; k < pairs; k++) {
        t[j + 2 * k] = kNf4[p[k] >> 4] * s;
        t[j + 2 * k + 1] = kNf4[p[k] & 15] * s;
      }
      j += 2 * pairs;
      if (j < end) t[j] = kNf4[p[pairs] >> 4] * s;  // a high nibble last
      i = end;
    }
  }
}

// ---- GPTQ ---------------------------------------------------------------------------------------------------
// W[c, k] = scale[g, c] * (q[k, c] - zero[g, c]), g = g_idx[k]. qweight runs along the input dim ([in / p, out]),
// so a packed row r holds the panel's channels contiguously, and each word holds p consecutive inputs of one
// channel. The panel's scales and zeros are unpacked first into [channel, group] tables (the
// f16 conversion and the zero-field shift then happen once per (group, channel), not once per value).
void GptqRows::rows(int64_t r0, int64_t r1, float* tile) const {
  const int bits = bits_, p = gptq::per_word(bits);
  const uint32_t mask = gptq::field_mask(bits);
  const int64_t in = in_, out = out_, n = r1 - r0, words_per_col = in / p, zero_words = out / p;
  const int64_t groups = groups_;
  std::vector<float> s_tab(size_t(n * groups));
  std::vector<int32_t> z_tab(size_t(n * groups));
#pragma omp parallel for schedule(static) if (n * groups > 16384)
  for (int64_t c = r0; c < r1; c++) {
    const int zshift = int(c % p) * bits;
    for (int64_t g = 0; g < groups; g++) {
      s_tab[size_t((c - r0) * groups + g)] = to_float(f16{scales_[g * out + c]});
      z_tab[size_t((c - r0) * groups + g)] =
          int32_t(((uint32_t(qzeros_[g * zero_words + c / p]) >> zshift) + 1u) & mask);
    }
  }
  const int32_t* qweight = qweight_;
  const int32_t* g_idx = g_idx_;
  // The group a word's p inputs share, or -1 where they straddle two groups or act-order scrambled them.
  std::vector<int32_t> word_group(static_cast<size_t>(words_per_col));
  for (int64_t r = 0; r < words_per_col; r++) {
    const int32_t* gi = g_idx + r * p;
    word_group[size_t(r)] = std::all_of(gi + 1, gi + p, [&](int32_t g) { return g == gi[0]; }) ? gi[0] : -1;
  }
  // Blocks of kC channels x kR packed rows: the block's words (kR rows of kC contiguous int32) stay in L1 while
  // each channel's kR * p values are written as one contiguous run of its tile row. (Walking one packed row across
  // every channel instead wrote 32 bytes into each of thousands of tile rows per step.)
  constexpr int64_t kC = 64, kR = 16;
  const int64_t c_blocks = (n + kC - 1) / kC, r_blocks = (words_per_col + kR - 1) / kR;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t cb = 0; cb < c_blocks; cb++) {
    for (int64_t rb = 0; rb < r_blocks; rb++) {
      const int64_t c_end = std::min(r1, r0 + (cb + 1) * kC), r_end = std::min(words_per_col, (rb + 1) * kR);
      for (int64_t c = r0 + cb * kC; c < c_end; c++) {
        const float* sc = s_tab.data() + (c - r0) * groups;
        const int32_t* zc = z_tab.data() + (c - r0) * groups;
        float* row = tile + (c - r0) * in;
        for (int64_t r = rb * kR; r < r_end; r++) {
          const uint32_t word = uint32_t(qweight[r * out + c]);
          const int32_t wg = word_group[size_t(r)];
#ifdef __AVX2__
          // 4 bits, one group for the word's 8 inputs (any g_idx in group order, which is how GptqWeight stores
          // act-order checkpoints too): the 8 fields decode as one vector, the same products as the loop below.
          if (bits == 4 && wg >= 0) {
            const __m256i q = _mm256_and_si256(
                _mm256_srlv_epi32(_mm256_set1_epi32(int32_t(word)), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                _mm256_set1_epi32(15));
            const __m256i d = _mm256_sub_epi32(q, _mm256_set1_epi32(zc[wg]));
            _mm256_storeu_ps(row + r * p, _mm256_mul_ps(_mm256_set1_ps(sc[wg]), _mm256_cvtepi32_ps(d)));
            continue;
          }
#endif
          const int32_t* gi = g_idx + r * p;
          for (int j = 0; j < p; j++) {
            const int32_t g = gi[j];
            row[r * p + j] = sc[g] * float(int32_t((word >> (bits * j)) & mask) - zc[g]);
          }
        }
      }
    }
  }
}

// ---- AWQ ----------------------------------------------------------------------------------------------------
// W[c, k] = scale[g, c] * (q[k, c] - zero[g, c]), g = k / group_size, as awq_dequant.cpp. The tile rows are the
// outputs, the packed words run along them: each task takes one word column and a run of kAwqTile inputs,
// decodes it into a small [8, kAwqTile] buffer (awq_decode_block, shared with awq_dequant.cpp) and copies the outputs
// that lie in [r0, r1) (all 8 except at a panel edge inside a word) into contiguous tile row segments.
void AwqRows::rows(int64_t r0, int64_t r1, float* tile) const {
  constexpr int64_t kAwqTile = kAwqBlock;
  const int64_t in = in_, out = out_, gs = group_size_;
  const int64_t j0 = r0 / awq::kPerWord, j1 = (r1 - 1) / awq::kPerWord + 1, tiles = (in + kAwqTile - 1) / kAwqTile;
  const int32_t *qweight = qweight_, *qzeros = qzeros_;
  const uint16_t* scales = scales_;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t j = j0; j < j1; j++) {
    for (int64_t t = 0; t < tiles; t++) {
      const int64_t k0 = t * kAwqTile, k1 = std::min(in, k0 + kAwqTile);
      float buf[awq::kPerWord][kAwqTile];
      awq_decode_block(qweight, qzeros, scales, out, gs, j, k0, k1, buf);
      const int64_t c0 = std::max(r0, j * awq::kPerWord), c1 = std::min(r1, (j + 1) * awq::kPerWord);
      for (int64_t c = c0; c < c1; c++) {
        const float* src = buf[c - j * awq::kPerWord];
        std::copy(src, src + (k1 - k0), tile + (c - r0) * in + k0);
      }
    }
  }
}

}  // namespace cpu
}  // namespace jsw
