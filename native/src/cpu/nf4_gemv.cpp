// NF4 dequant-GEMV on the CPU: OpenMP over output rows; each row's weight is decoded 32 values at a time in
// AVX-512 registers where the CPU has them, else 16 at a time in AVX2 ones (scalar fallback elsewhere), and every input row takes an fp32 FMA dot product with it. The packed weight is streamed once per call whatever
// the number of input rows, which is what makes decode (1..few rows) memory-bound rather than compute-bound.
#include <algorithm>
#include <cstring>
#include <vector>

#include <omp.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "core/dtype.h"
#include "cpu/isa.h"
#include "cpu/nf4_avx2.h"
#include "kernels/nf4.h"
#include "kernels/nf4_codes.h"
#include "kernels/nf4_gemv.h"

namespace jsw {
namespace cpu {

namespace {

constexpr float kNf4[16] = {JSW_NF4_CODEBOOK};

inline float level(const uint8_t* packed, int64_t e) {
  return kNf4[(packed[e >> 1] >> ((1 - (e & 1)) * 4)) & 15];
}

#if defined(__AVX2__) && defined(__FMA__)
// 16 weights from 8 packed bytes (high nibble first), times the block scale: the two nibbles of each byte are
// interleaved into 16 codes, and the 16-level table is looked up in registers (two 8-lane permutes, picked by
// bit 3 of the code), so the decode costs a handful of instructions per 16 values instead of 16 table loads.
struct Decoder {
  __m256 lo = _mm256_loadu_ps(kNf4), hi = _mm256_loadu_ps(kNf4 + 8);
  inline __m256 lookup(__m256i codes) const { return nf4_lookup8(lo, hi, codes); }
  inline void decode16(const uint8_t* p, __m256 scale, __m256& w0, __m256& w1) const {
    __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    __m128i mask = _mm_set1_epi8(15);
    __m128i codes = _mm_unpacklo_epi8(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask), _mm_and_si128(bytes, mask));
    w0 = _mm256_mul_ps(lookup(_mm256_cvtepu8_epi32(codes)), scale);
    w1 = _mm256_mul_ps(lookup(_mm256_cvtepu8_epi32(_mm_srli_si128(codes, 8))), scale);
  }
};

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

// One output row: sum_i x[r, i] * W[o, i] for r < rows into acc. Walks the row one absmax block (or the part of
// it inside the row) at a time; within a block, the 16-wide path runs from the first even element (a byte
// boundary) and single elements cover the ends.
template <int kMaxR>
void row_dot(const float* xs, int64_t rows, int64_t in, const uint8_t* packed, const float* absmax, int64_t o,
             int64_t blocksize, float* acc) {
  const int64_t e0 = o * in;
#if defined(__AVX2__) && defined(__FMA__)
  const Decoder dec;
  // Two accumulators per row (one per 8-value half) halve the FMA dependency chain, the loop's critical path.
  __m256 vacc[kMaxR][2];
  for (int r = 0; r < kMaxR; r++) vacc[r][0] = vacc[r][1] = _mm256_setzero_ps();
#endif
  // One division per row; then block b's part of the row is [i, end), b advancing by one (no division per block).
  for (int64_t i = 0, b = e0 / blocksize; i < in; b++) {
    const int64_t end = std::min(in, (b + 1) * blocksize - e0);
    const float s = absmax[b];
    int64_t j = i;
#if defined(__AVX2__) && defined(__FMA__)
    if (((e0 + j) & 1) != 0 && j < end) {
      float w = level(packed, e0 + j) * s;
      for (int64_t r = 0; r < rows; r++) acc[r] += xs[r * in + j] * w;
      j++;
    }
    const __m256 vs = _mm256_set1_ps(s);
    for (; j + 16 <= end; j += 16) {
      __m256 w0, w1;
      dec.decode16(packed + ((e0 + j) >> 1), vs, w0, w1);
      for (int r = 0; r < kMaxR; r++) {
        if (r >= rows) break;
        const float* xr = xs + r * in + j;
        vacc[r][0] = _mm256_fmadd_ps(_mm256_loadu_ps(xr), w0, vacc[r][0]);
        vacc[r][1] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + 8), w1, vacc[r][1]);
      }
    }
#endif
    for (; j < end; j++) {
      float w = level(packed, e0 + j) * s;
      for (int64_t r = 0; r < rows; r++) acc[r] += xs[r * in + j] * w;
    }
    i = end;
  }
#if defined(__AVX2__) && defined(__FMA__)
  for (int64_t r = 0; r < rows; r++) acc[r] += hsum(_mm256_add_ps(vacc[r][0], vacc[r][1]));
#endif
}

#if defined(__AVX2__) && defined(__FMA__)
// The fast path, for in % 16 == 0 and blocksize % 16 == 0 (every real layer): every 16-value group then starts
// on a byte and lies in one block, so a group costs one widening load, one shift and two register lookups:
//  - the block's scale is folded into the two 8-entry halves of the table once per block (level * s: the same
//    fp32 product as scaling each looked-up level, so the weights are bit-identical to the dequantization);
//  - the 8 bytes widen to 8 int32 lanes and are looked up twice, by (byte >> 4) for the even elements and by
//    the byte itself for the odd ones: the permutes read only the low 3 bits and the blend only bit 3 (moved to
//    the sign), so no masking or byte interleaving is needed;
//  - x comes pre-arranged per 16-group as [8 even elements, 8 odd elements] (once per call, see gemv), so the
//    even / odd weight vectors meet their inputs with plain loads;
//  - a software prefetch runs ahead of the packed stream.
template <int kMaxR>
void row_dot16(const float* xs, int64_t rows, int64_t in, const uint8_t* packed, const float* absmax, int64_t o,
               int64_t blocksize, float* acc) {
  const int64_t e0 = o * in;
  const __m256 lo = _mm256_loadu_ps(kNf4), hi = _mm256_loadu_ps(kNf4 + 8);
  __m256 vacc[kMaxR][2];
  for (int r = 0; r < kMaxR; r++) vacc[r][0] = vacc[r][1] = _mm256_setzero_ps();
  for (int64_t i = 0, b = e0 / blocksize; i < in; b++) {
    const int64_t end = std::min(in, (b + 1) * blocksize - e0);
    const __m256 s = _mm256_set1_ps(absmax[b]);
    const __m256 lo_s = _mm256_mul_ps(lo, s), hi_s = _mm256_mul_ps(hi, s);
    // 4 KiB ahead of the stream, once per block: measured on the 151936 x 896 LM head, this roughly halves the
    // time (the hardware prefetcher alone left the loop waiting on memory; prefetches never fault past the end).
    _mm_prefetch(reinterpret_cast<const char*>(packed + ((e0 + i) >> 1) + 4096), _MM_HINT_T0);
    for (int64_t j = i; j < end; j += 16) {
      const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed + ((e0 + j) >> 1)));
      const __m256i v = _mm256_cvtepu8_epi32(bytes);
      const __m256i h = _mm256_srli_epi32(v, 4);
      const __m256 we = nf4_lookup8(lo_s, hi_s, h), wo = nf4_lookup8(lo_s, hi_s, v);
      for (int r = 0; r < kMaxR; r++) {
        if (r >= rows) break;
        const float* xr = xs + r * in + j;
        vacc[r][0] = _mm256_fmadd_ps(_mm256_loadu_ps(xr), we, vacc[r][0]);
        vacc[r][1] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + 8), wo, vacc[r][1]);
      }
    }
    i = end;
  }
  for (int64_t r = 0; r < rows; r++) acc[r] += hsum(_mm256_add_ps(vacc[r][0], vacc[r][1]));
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
// One input row (decode at batch 1) with in % 32 == 0 and blocksize % 32 == 0, on AVX2: row_dot16 spends two
// lane-crossing permutes and a blend per 8 weights, which left this path compute-bound at ~0.7x of a memcpy on
// an AVX2-only CPU (AMD Zen 2). Here 16 packed bytes (32 weights) are looked up with in-lane byte shuffles:
// vpshufb reads the low 4 bits of each index byte, so each byte of the 16 fp32 levels is one 16-entry table (a
// "plane"); the even (high-nibble) codes go to the low lane and the odd ones to the high lane, four vpshufb give
// the four bytes of every level, and two rounds of unpacks put them back together as floats. Each 8-float result
// holds 4 even and 4 odd elements of an 8-element chunk, so x comes pre-arranged per 8-group as [4 even, 4 odd]
// (see gemv). The weight is level * s, the same fp32 product as everywhere (one multiply per 8 weights).
struct Nf4Planes {
  __m256i byte[4];
  Nf4Planes() {
    alignas(32) uint8_t t[4][32];
    for (int b = 0; b < 4; b++)
      for (int c = 0; c < 16; c++) {
        uint32_t bits;
        std::memcpy(&bits, &kNf4[c], 4);
        t[b][c] = t[b][c + 16] = uint8_t(bits >> (8 * b));
      }
    for (int b = 0; b < 4; b++) byte[b] = _mm256_load_si256(reinterpret_cast<const __m256i*>(t[b]));
  }
};

template <int kMaxR>
void row_dot32_avx2(const float* xs, int64_t rows, int64_t in, const uint8_t* packed, const float* absmax, int64_t o,
                    int64_t blocksize, float* acc) {
  static const Nf4Planes planes;
  const __m256i p0 = planes.byte[0], p1 = planes.byte[1], p2 = planes.byte[2], p3 = planes.byte[3];
  const __m128i low4 = _mm_set1_epi8(15);
  const int64_t e0 = o * in;
  // Independent accumulators a row (kPer): consecutive FMAs into one register wait for each other, so one row
  // spreads a step's four 8-float chunks over four, up to four rows over two each; more rows have enough in flight
  // with one each. The step's chunks are decoded once for all rows.
  constexpr int kPer = kMaxR == 1 ? 4 : kMaxR <= 4 ? 2 : 1;
  __m256 a[kMaxR][kPer];
  for (int r = 0; r < kMaxR; r++)
    for (int k = 0; k < kPer; k++) a[r][k] = _mm256_setzero_ps();
  for (int64_t i = 0, b = e0 / blocksize; i < in; b++) {
    const int64_t end = std::min(in, (b + 1) * blocksize - e0);
    const __m256 s = _mm256_set1_ps(absmax[b]);
    _mm_prefetch(reinterpret_cast<const char*>(packed + ((e0 + i) >> 1) + 4096), _MM_HINT_T0);
    for (int64_t j = i; j < end; j += 32) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed + ((e0 + j) >> 1)));
      const __m256i codes = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_and_si128(_mm_srli_epi16(v, 4), low4)), _mm_and_si128(v, low4), 1);
      const __m256i b0 = _mm256_shuffle_epi8(p0, codes), b1 = _mm256_shuffle_epi8(p1, codes);
      const __m256i b2 = _mm256_shuffle_epi8(p2, codes), b3 = _mm256_shuffle_epi8(p3, codes);
      const __m256i lo01 = _mm256_unpacklo_epi8(b0, b1), hi01 = _mm256_unpackhi_epi8(b0, b1);
      const __m256i lo23 = _mm256_unpacklo_epi8(b2, b3), hi23 = _mm256_unpackhi_epi8(b2, b3);
      const __m256 w[4] = {_mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(lo01, lo23)), s),
                           _mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(lo01, lo23)), s),
                           _mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(hi01, hi23)), s),
                           _mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(hi01, hi23)), s)};
      for (int r = 0; r < kMaxR; r++) {
        if (r >= rows) break;
        const float* xr = xs + r * in + j;
        for (int k = 0; k < 4; k++) a[r][k % kPer] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + 8 * k), w[k], a[r][k % kPer]);
      }
    }
    i = end;
  }
  for (int64_t r = 0; r < rows; r++) {
    __m256 sum = a[r][0];
    for (int k = 1; k < kPer; k++) sum = _mm256_add_ps(sum, a[r][k]);
    acc[r] += hsum(sum);
  }
}
#endif

#ifdef JSW_CPU_AVX512
JSW_AVX512_BEGIN
// The AVX-512 fast path, for in % 32 == 0 and blocksize % 32 == 0: row_dot16's scheme at twice the width, with
// one register lookup per 16 values instead of two permutes and a blend. vpermps on a zmm reads only the low 4
// bits of each index, so the whole 16-level table (scaled once per block) is one register: 16 packed bytes widen
// to 16 int32 lanes, `byte >> 4` looks up the even elements and the byte itself the odd ones. x comes
// pre-arranged per 32-group as [16 even elements, 16 odd elements]. One row keeps two accumulator pairs used
// by alternate 32-value steps, so consecutive FMAs into one register are a step apart (the latency chain).

// One 32-value step: 16 packed bytes widen to 16 int32 lanes, looked up by `byte >> 4` (even elements) and by
// the byte itself (odd ones), FMAed into accumulator pair kSet of every row.
template <int kMaxR, int kSet, int kSets>
inline void step32(const float* xs, int64_t rows, int64_t in, const uint8_t* bytes, int64_t j, __m512 t,
                   __m512 (&vacc)[kMaxR][2 * kSets]) {
  const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)));
  const __m512 we = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), t);
  const __m512 wo = _mm512_permutexvar_ps(v, t);
  for (int r = 0; r < kMaxR; r++) {
    if (r >= rows) break;
    const float* xr = xs + r * in + j;
    vacc[r][2 * kSet] = _mm512_fmadd_ps(_mm512_loadu_ps(xr), we, vacc[r][2 * kSet]);
    vacc[r][2 * kSet + 1] = _mm512_fmadd_ps(_mm512_loadu_ps(xr + 16), wo, vacc[r][2 * kSet + 1]);
  }
}

template <int kMaxR>
void row_dot32(const float* xs, int64_t rows, int64_t in, const uint8_t* packed, const float* absmax, int64_t o,
               int64_t blocksize, float* acc) {
  constexpr int kSets = kMaxR == 1 ? 2 : 1;
  const int64_t e0 = o * in;
  const __m512 table = _mm512_loadu_ps(kNf4);
  __m512 vacc[kMaxR][2 * kSets];
  for (int r = 0; r < kMaxR; r++)
    for (int a = 0; a < 2 * kSets; a++) vacc[r][a] = _mm512_setzero_ps();
  for (int64_t i = 0, b = e0 / blocksize; i < in; b++) {
    const int64_t end = std::min(in, (b + 1) * blocksize - e0);
    const __m512 t = _mm512_mul_ps(table, _mm512_set1_ps(absmax[b]));
    _mm_prefetch(reinterpret_cast<const char*>(packed + ((e0 + i) >> 1) + 4096), _MM_HINT_T0);
    int64_t j = i;
    if (kSets == 2)
      for (; j + 64 <= end; j += 64) {
        step32<kMaxR, 0, kSets>(xs, rows, in, packed + ((e0 + j) >> 1), j, t, vacc);
        step32<kMaxR, kSets - 1, kSets>(xs, rows, in, packed + ((e0 + j + 32) >> 1), j + 32, t, vacc);
      }
    for (; j < end; j += 32) step32<kMaxR, 0, kSets>(xs, rows, in, packed + ((e0 + j) >> 1), j, t, vacc);
    i = end;
  }
  for (int64_t r = 0; r < rows; r++) {
    __m512 sum = vacc[r][0];
    for (int a = 1; a < 2 * kSets; a++) sum = _mm512_add_ps(sum, vacc[r][a]);
    acc[r] += _mm512_reduce_add_ps(sum);
  }
}
JSW_AVX512_END
#endif

template <class T>
void gemv(const T* x, int64_t rows, int64_t in, const uint8_t* packed, const float* absmax, int64_t out_features,
          int64_t blocksize, const T* bias, T* y) {
  // The input is tiny next to the weight (rows * in values): convert it to fp32 once.
  std::vector<float> xf(size_t(rows * in));
#if defined(__AVX2__) && defined(__FMA__)
  const bool fast = in % 16 == 0 && blocksize % 16 == 0;
#else
  const bool fast = false;
#endif
  const bool wide = fast && in % 32 == 0 && blocksize % 32 == 0 && use_avx512();
  const bool shuffled = fast && !wide && in % 32 == 0 && blocksize % 32 == 0;  // row_dot32_avx2
  // The fast paths read each group of 2h values (h = 8 with AVX2, 16 with AVX-512, 4 for row_dot32_avx2) as its
  // h even elements, then its h odd ones.
  const int64_t group = wide ? 32 : shuffled ? 8 : 16, half = group / 2;
  for (int64_t i = 0; i < rows * in; i++) {
    const int64_t k = i % group, at = fast ? i - k + (k < half ? 2 * k : 2 * (k - half) + 1) : i;
    xf[size_t(i)] = to_float(x[at]);
  }
  const float* xs = xf.data();
  // The row kernel, picked once: fewer vector accumulators for the common decode case (one row) keep them in
  // registers.
  using RowDot = void (*)(const float*, int64_t, int64_t, const uint8_t*, const float*, int64_t, int64_t, float*);
  constexpr int kMax = int(nf4::kGemvMaxRows);
  RowDot row_kernel = rows == 1 ? row_dot<1> : row_dot<kMax>;
#if defined(__AVX2__) && defined(__FMA__)
  if (shuffled)
    row_kernel = rows == 1 ? row_dot32_avx2<1> : rows == 2 ? row_dot32_avx2<2> : rows <= 4 ? row_dot32_avx2<4>
                                                                                           : row_dot32_avx2<kMax>;
  else if (fast)
    row_kernel = rows == 1 ? row_dot16<1> : row_dot16<kMax>;
#endif
#ifdef JSW_CPU_AVX512
  if (wide) row_kernel = rows == 1 ? row_dot32<1> : row_dot32<kMax>;
#endif
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < out_features; o++) {
    float acc[nf4::kGemvMaxRows] = {};
    row_kernel(xs, rows, in, packed, absmax, o, blocksize, acc);
    float bo = bias == nullptr ? 0.0f : to_float(bias[o]);
    for (int64_t r = 0; r < rows; r++) y[r * out_features + o] = from_float<T>(acc[r] + bo);
  }
}

}  // namespace

void nf4_decode_nested(const uint8_t* q, const float* nested, const float* code256, float offset, int64_t blocks,
                       float* absmax) {
  // volatile: keeps GCC from fusing the product and the sum into an FMA (bitsandbytes rounds both).
#pragma omp parallel for schedule(static) if (blocks > 65536)
  for (int64_t b = 0; b < blocks; b++) {
    volatile float scaled = code256[q[b]] * nested[b / nf4::kNestedBlock];
    absmax[b] = scaled + offset;
  }
}

void nf4_gemv(int dtype, const void* x, int64_t rows, int64_t in, const uint8_t* packed, const float* absmax,
              int64_t out_features, int64_t blocksize, const void* bias, void* y) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_nf4_gemv",
                     gemv(static_cast<const T*>(x), rows, in, packed, absmax, out_features, blocksize,
                          static_cast<const T*>(bias), static_cast<T*>(y)));
}

}  // namespace cpu
}  // namespace jsw
