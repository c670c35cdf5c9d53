// GPTQ dequant-GEMV on the CPU (decode: 1..8 input rows). qweight [in / p, out] runs along the input dim, so one
// packed row holds consecutive output channels. One input row (decode proper, 4 or 8 bits) takes the kernels of
// cpu/gptq_decode.h (AVX2, or AVX-512 picked at run time: cpu/isa.h): they read the weight in memory order, a
// quant group (group_block) or, for act-order g_idx whose packed rows mix groups, a 16-row panel (act_block) at a
// time across a thread's 128-channel blocks, shared out by split_decode (cpu/decode_split.h). Several rows (and
// the channels past the last whole block) take the path below: a task takes 128 channels, walks the packed rows
// (512 contiguous bytes each), unpacks the p fields of 8 (16 with AVX-512) words at a time with vector shifts, and
// FMAs every input row into its accumulators. Each weight value there is the dequantization's single fp32 product
// s * (q - z), so the result is the dequantize-then-matmul one up to fp32 summation order (group_block factors the
// scale out of each group instead). The packed weight is streamed once per call whatever the number of rows.
#include <algorithm>
#include <vector>

#include <omp.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "core/dtype.h"
#include "cpu/decode_split.h"
#include "cpu/isa.h"
#include "kernels/gptq.h"
#include "kernels/qmatmul.h"

namespace jsw {
namespace cpu {

namespace {

constexpr int64_t kLanes = 8;    // channels per AVX2 vector
constexpr int64_t kBlock = 128;  // channels per task: a packed row's 512 contiguous bytes per visit

struct Dims {
  int64_t rows, out, in, groups;
  int bits, p;
  uint32_t mask;
};

// Scales and zeros of channels [c0, c0 + width) for every group, [group][channel - c0]: the f16 decode and the
// zero field's shift then happen once per (group, channel) instead of once per weight value.
// zm_tab (when not null) holds 2^23 + z as fp32 for the AVX-512 path's exact integer decode.
void channel_tables(const Dims& d, const int32_t* qzeros, const uint16_t* scales, int64_t c0, int64_t width,
                    float* s_tab, int32_t* z_tab, float* zm_tab) {
  const int64_t zero_words = d.out / d.p;
  for (int64_t g = 0; g < d.groups; g++)
    for (int64_t l = 0; l < width; l++) {
      const int64_t c = c0 + l;
      s_tab[g * kBlock + l] = to_float(f16{scales[g * d.out + c]});
      z_tab[g * kBlock + l] =
          int32_t(((uint32_t(qzeros[g * zero_words + c / d.p]) >> (int(c % d.p) * d.bits)) + 1u) & d.mask);
      if (zm_tab != nullptr) zm_tab[g * kBlock + l] = 8388608.0f + float(z_tab[g * kBlock + l]);
    }
}

// Channels [c0 + l0, c0 + l1), one at a time (the 4-channel tail of out % 8 at 8 bits, and builds without
// AVX2); acc is [rows][kBlock].
void scalar_channels(const Dims& d, const float* xs, const int32_t* qweight, const int32_t* g_idx, int64_t c0,
                     int64_t l0, int64_t l1, const float* s_tab, const int32_t* z_tab, float* acc) {
  for (int64_t l = l0; l < l1; l++) {
    const int64_t c = c0 + l;
    for (int64_t r = 0; r < d.in / d.p; r++) {
      const uint32_t word = uint32_t(qweight[r * d.out + c]);
      for (int j = 0; j < d.p; j++) {
        const int64_t k = r * d.p + j;
        const int32_t g = g_idx[k];
        const float w = s_tab[g * kBlock + l] * float(int32_t((word >> (d.bits * j)) & d.mask) - z_tab[g * kBlock + l]);
        for (int64_t row = 0; row < d.rows; row++) acc[row * kBlock + l] += xs[row * d.in + k] * w;
      }
    }
  }
}

#if defined(__AVX2__) && defined(__FMA__)
// The first `vecs` 8-channel vectors of a block. The packed rows are the outer loop, so each visit of a row reads
// its kBlock channels contiguously (qweight rows are out * 4 bytes apart: walking one 8-channel column at a time
// touched a new page per 32 bytes, which the measurement showed bound by TLB misses). The accumulators live in
// acc ([rows][kBlock], L1-resident) and in registers across the p fields of a word.
template <int kMaxR>
void vector_channels(const Dims& d, const float* xs, const int32_t* qweight, const int32_t* g_idx, int64_t c0,
                     int64_t vecs, const float* s_tab, const int32_t* z_tab, float* acc) {
  const __m256i mask = _mm256_set1_epi32(int(d.mask));
  const __m128i shift = _mm_cvtsi32_si128(d.bits);
  const int64_t words_per_col = d.in / d.p;
  for (int64_t r = 0; r < words_per_col; r++) {
    const int32_t* row = qweight + r * d.out + c0;
    // The next packed rows are a page or more away, beyond the hardware prefetcher's reach.
    if (r + 4 < words_per_col)
      for (int64_t v = 0; v < vecs; v += 2)
        _mm_prefetch(reinterpret_cast<const char*>(row + 4 * d.out + v * kLanes), _MM_HINT_T0);
    const int32_t* gi = g_idx + r * d.p;
    const float* xk = xs + r * d.p;
    for (int64_t v = 0; v < vecs; v++) {
      __m256i words = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + v * kLanes));
      __m256 a[kMaxR];
      for (int i = 0; i < kMaxR; i++)
        a[i] = i < d.rows ? _mm256_loadu_ps(acc + i * kBlock + v * kLanes) : _mm256_setzero_ps();
      for (int j = 0; j < d.p; j++) {
        const int32_t g = gi[j];
        const __m256i q = _mm256_and_si256(words, mask);
        words = _mm256_srl_epi32(words, shift);
        const __m256i qz = _mm256_sub_epi32(
            q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(z_tab + g * kBlock + v * kLanes)));
        const __m256 w = _mm256_mul_ps(_mm256_loadu_ps(s_tab + g * kBlock + v * kLanes), _mm256_cvtepi32_ps(qz));
        for (int i = 0; i < kMaxR; i++) {
          if (i >= d.rows) break;
          a[i] = _mm256_fmadd_ps(_mm256_set1_ps(xk[i * d.in + j]), w, a[i]);
        }
      }
      for (int i = 0; i < kMaxR; i++) {
        if (i >= d.rows) break;
        _mm256_storeu_ps(acc + i * kBlock + v * kLanes, a[i]);
      }
    }
  }
}
#endif

#ifdef JSW_CPU_AVX512
JSW_AVX512_BEGIN
// vector_channels at 16 lanes, with a cheaper decode: one ternary-logic op ORs the masked field into the mantissa
// of 2^23 (the fp32 bits of 2^23 + q), and subtracting the table's 2^23 + z leaves q - z exactly, so a weight is
// shift, ternlog, subtract, multiply (the same single fp32 product s * (q - z) as the dequantization) and FMA.
template <int kMaxR>
void vector_channels16(const Dims& d, const float* xs, const int32_t* qweight, const int32_t* g_idx, int64_t c0,
                       int64_t vecs, const float* s_tab, const float* zm_tab, float* acc) {
  constexpr int64_t kWide = 16;
  const __m512i mask = _mm512_set1_epi32(int(d.mask)), magic = _mm512_set1_epi32(0x4B000000);
  const __m128i shift = _mm_cvtsi32_si128(d.bits);
  const int64_t words_per_col = d.in / d.p;
  for (int64_t r = 0; r < words_per_col; r++) {
    const int32_t* row = qweight + r * d.out + c0;
    if (r + 4 < words_per_col)
      for (int64_t v = 0; v < vecs; v++)
        _mm_prefetch(reinterpret_cast<const char*>(row + 4 * d.out + v * kWide), _MM_HINT_T0);
    const int32_t* gi = g_idx + r * d.p;
    const float* xk = xs + r * d.p;
    for (int64_t v = 0; v < vecs; v++) {
      __m512i words = _mm512_loadu_si512(row + v * kWide);
      __m512 a[kMaxR];
      for (int i = 0; i < kMaxR; i++)
        a[i] = i < d.rows ? _mm512_loadu_ps(acc + i * kBlock + v * kWide) : _mm512_setzero_ps();
      for (int j = 0; j < d.p; j++) {
        const int64_t t = int64_t(gi[j]) * kBlock + v * kWide;
        // (words & mask) | magic: 0xEA is the truth table of (A & B) | C.
        const __m512 q = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(words, mask, magic, 0xEA));
        words = _mm512_srl_epi32(words, shift);
        const __m512 w = _mm512_mul_ps(_mm512_loadu_ps(s_tab + t), _mm512_sub_ps(q, _mm512_loadu_ps(zm_tab + t)));
        for (int i = 0; i < kMaxR; i++) {
          if (i >= d.rows) break;
          a[i] = _mm512_fmadd_ps(_mm512_set1_ps(xk[i * d.in + j]), w, a[i]);
        }
      }
      for (int i = 0; i < kMaxR; i++) {
        if (i >= d.rows) break;
        _mm512_storeu_ps(acc + i * kBlock + v * kWide, a[i]);
      }
    }
  }
}

JSW_AVX512_END
#endif

// The one-row decode kernels (cpu/gptq_decode.h), one table per instruction set; [0] for 4 bits, [1] for 8.
struct DecodeKernels {
  void (*group_block[2])(const Dims&, const float*, const int32_t*, const int32_t*, const uint16_t*, int64_t, int64_t,
                         int64_t, int64_t, float*);
  void (*group_tables[2])(const Dims&, const int32_t*, const uint16_t*, int64_t, int64_t, float*, float*);
  void (*act_block[2])(const Dims&, const float*, const int32_t*, const int32_t*, int64_t, int64_t, int64_t,
                       const float*, const float*, int64_t, float*);
};

#define JSW_SIMD_KERNELS "cpu/gptq_decode.h"
#include "cpu/simd_instantiate.h"

template <class T>
void gemv(const T* x, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales, const int32_t* g_idx,
          const Dims& d, const T* bias, T* y) {
  // The input is tiny next to the weight (rows * in values): convert it to fp32 once.
  std::vector<float> xf(size_t(d.rows * d.in));
  for (int64_t i = 0; i < d.rows * d.in; i++) xf[size_t(i)] = to_float(x[i]);
  const float* xs = xf.data();
  const int64_t blocks = (d.out + kBlock - 1) / kBlock;
  const bool wide = use_avx512();
  // uniform[r]: packed row r's p inputs all sit in one quant group (for all rows: group_block's runs apply).
  const int64_t packed_rows = d.in / d.p;
  std::vector<uint8_t> uniform(static_cast<size_t>(packed_rows));
  for (int64_t r = 0; r < packed_rows; r++)
    uniform[size_t(r)] = uint8_t(std::all_of(g_idx + r * d.p, g_idx + (r + 1) * d.p,
                                             [&](int32_t g) { return g == g_idx[r * d.p]; }));
  int64_t first_block = 0;  // blocks before it are done by the one-row decode paths
#ifdef JSW_SIMD_BASELINE
#ifdef JSW_CPU_AVX512
  const DecodeKernels& k = wide ? avx512::decode_kernels() : baseline::decode_kernels();
#else
  const DecodeKernels& k = baseline::decode_kernels();
#endif
  const int kb = d.bits == 4 ? 0 : 1;
  const bool one_row = d.rows == 1 && (d.bits == 4 || d.bits == 8) && d.out >= kBlock;
  if (one_row && !std::all_of(uniform.begin(), uniform.end(), [](uint8_t u) { return u != 0; })) {
    // Act-order: panels of 16 packed rows instead of group runs, and per-field table lookups.
    constexpr int64_t kPanel = 16;
    first_block = d.out / kBlock;
    split_decode(
        (packed_rows + kPanel - 1) / kPanel, first_block, kBlock,
        [&](int64_t p0, int64_t p1, int64_t b0, int64_t b1, float* acc) {
          // Two blocks at a time, so their tables ([groups][256]: 64 KiB at 32 groups) stay near L1 while every
          // field looks up its own group (measured: 1, 4, 8 and all of a thread's blocks were no faster).
          for (int64_t cb0 = b0; cb0 < b1; cb0 += 2) {
            const int64_t cb1 = std::min(b1, cb0 + 2), n = (cb1 - cb0) * kBlock;
            std::vector<float> s_tab(size_t(d.groups * n)), zm_tab(size_t(d.groups * n));
            k.group_tables[kb](d, qzeros, scales, cb0 * kBlock, n, s_tab.data(), zm_tab.data());
            for (int64_t p = p0; p < p1; p++)
              for (int64_t b = cb0; b < cb1; b++)
                k.act_block[kb](d, xs, qweight, g_idx, p * kPanel, std::min(packed_rows, (p + 1) * kPanel),
                                b * kBlock, s_tab.data() + (b - cb0) * kBlock, zm_tab.data() + (b - cb0) * kBlock, n,
                                acc + (b - b0) * kBlock);
          }
        },
        [&](int64_t b0, int64_t b1, const float* acc) {
          for (int64_t c = b0 * kBlock; c < b1 * kBlock; c++)
            y[c] = from_float<T>(acc[c - b0 * kBlock] + (bias == nullptr ? 0.0f : to_float(bias[c])));
        });
  } else if (one_row) {
    // Runs of consecutive packed rows in one group: [run_start[i], run_start[i + 1]).
    std::vector<int64_t> run_start;
    for (int64_t r = 0; r < packed_rows; r++)
      if (r == 0 || g_idx[r * d.p] != g_idx[(r - 1) * d.p]) run_start.push_back(r);
    run_start.push_back(packed_rows);
    first_block = d.out / kBlock;
    split_decode(
        int64_t(run_start.size()) - 1, first_block, kBlock,
        [&](int64_t i0, int64_t i1, int64_t b0, int64_t b1, float* acc) {
          for (int64_t i = i0; i < i1; i++) {
            const int64_t r0 = run_start[size_t(i)], r1 = run_start[size_t(i) + 1], g = g_idx[r0 * d.p];
            for (int64_t b = b0; b < b1; b++)
              k.group_block[kb](d, xs, qweight, qzeros, scales, g, r0, r1, b * kBlock, acc + (b - b0) * kBlock);
          }
        },
        [&](int64_t b0, int64_t b1, const float* acc) {
          for (int64_t c = b0 * kBlock; c < b1 * kBlock; c++)
            y[c] = from_float<T>(acc[c - b0 * kBlock] + (bias == nullptr ? 0.0f : to_float(bias[c])));
        });
  }
#endif
#pragma omp parallel if (blocks > first_block)
  {
    std::vector<float> s_tab(size_t(d.groups * kBlock));
    std::vector<int32_t> z_tab(size_t(d.groups * kBlock));
    std::vector<float> zm_tab(wide ? size_t(d.groups * kBlock) : 0);
    std::vector<float> acc(size_t(d.rows * kBlock));
#pragma omp for schedule(static)
    for (int64_t b = first_block; b < blocks; b++) {
      const int64_t c0 = b * kBlock, width = std::min(kBlock, d.out - c0);
      channel_tables(d, qzeros, scales, c0, width, s_tab.data(), z_tab.data(), wide ? zm_tab.data() : nullptr);
      std::fill(acc.begin(), acc.end(), 0.0f);
      int64_t vector_width = 0;
#ifdef JSW_CPU_AVX512
      // 16-lane vectors first; the 8-lane and scalar paths below take what is left of the block.
      if (wide) {
        vector_width = width / 16 * 16;
        if (d.rows == 1) {
          vector_channels16<1>(d, xs, qweight, g_idx, c0, vector_width / 16, s_tab.data(), zm_tab.data(),
                               acc.data());
        } else {
          vector_channels16<int(qmatmul::kGptqGemvMaxRows)>(d, xs, qweight, g_idx, c0, vector_width / 16,
                                                             s_tab.data(), zm_tab.data(), acc.data());
        }
      }
#endif
#if defined(__AVX2__) && defined(__FMA__)
      {
        // The 8-lane vectors of channels [c0 + done, c0 + vector_width): tables and acc are [..][kBlock] with the
        // block's lane l at offset l, so shifting their base pointers by `done` starts the walk there.
        const int64_t done = vector_width;
        vector_width = width / kLanes * kLanes;
        const int64_t vecs = (vector_width - done) / kLanes;
        if (vecs == 0) {
        } else if (d.rows == 1) {
          vector_channels<1>(d, xs, qweight, g_idx, c0 + done, vecs, s_tab.data() + done, z_tab.data() + done,
                             acc.data() + done);
        } else {
          vector_channels<int(qmatmul::kGptqGemvMaxRows)>(d, xs, qweight, g_idx, c0 + done, vecs,
                                                           s_tab.data() + done, z_tab.data() + done,
                                                           acc.data() + done);
        }
      }
#endif
      scalar_channels(d, xs, qweight, g_idx, c0, vector_width, width, s_tab.data(), z_tab.data(), acc.data());
      for (int64_t r = 0; r < d.rows; r++)
        for (int64_t l = 0; l < width; l++) {
          const float bo = bias == nullptr ? 0.0f : to_float(bias[c0 + l]);
          y[r * d.out + c0 + l] = from_float<T>(acc[size_t(r * kBlock + l)] + bo);
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
