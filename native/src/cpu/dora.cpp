// DoRA helpers on the CPU: rows spread over OpenMP threads, vectorisable inner loops over columns, fp32 sums.
#include <cmath>

#include "core/dropout_step.h"
#include "core/dtype.h"
#include "cpu/isa.h"
#include "kernels/dora.h"
#include "kernels/dropout_hash.h"

#if defined(JSW_CPU_AVX512) || defined(__AVX2__)
#include <immintrin.h>
#endif
#include <omp.h>

#include <algorithm>

namespace jsw {
namespace cpu {

namespace {

template <class T>
void row_norm_typed(const T* x, int64_t rows, int64_t cols, float* norm, float* inv_norm) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const T* xr = x + r * cols;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < cols; c++) {
      float v = to_float(xr[c]);
      ss += v * v;
    }
    float n = std::sqrt(ss);
    if (norm != nullptr) norm[r] = n;
    if (inv_norm != nullptr) inv_norm[r] = 1.0f / n;
  }
}

// (x * row_scale) * col_scale in this order, as the CUDA twin computes it, so fp32 results agree bit for bit.
template <class T>
void scale_rows_cols_typed(const T* x, int64_t rows, int64_t cols, const float* row_scale, const float* col_scale,
                           T* y) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    float rs = row_scale != nullptr ? row_scale[r] : 1.0f;
    if (col_scale != nullptr) {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) yr[c] = from_float<T>(to_float(xr[c]) * rs * col_scale[c]);
    } else {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) yr[c] = from_float<T>(to_float(xr[c]) * rs);
    }
  }
}

// Threads own 64-column slices and run the rows in order, so the sums do not depend on the thread count.
template <class T>
void sum_rows_mul_typed(const T* a, const T* b, int64_t rows, int64_t cols, float* dv) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t c0 = 0; c0 < cols; c0 += 64) {
    int64_t c1 = c0 + 64 < cols ? c0 + 64 : cols;
    float acc[64] = {};
    for (int64_t r = 0; r < rows; r++) {
      const T* ar = a + r * cols;
      const T* br = b + r * cols;
#pragma omp simd
      for (int64_t c = c0; c < c1; c++) acc[c - c0] += to_float(ar[c]) * to_float(br[c]);
    }
    for (int64_t c = c0; c < c1; c++) dv[c] += acc[c - c0];
  }
}

// No restrict: y may equal x (the backward masks a gradient in place). z (or null): masked in place too.
template <class T>
void dropout_typed(const T* x, int64_t n, float p, uint64_t seed, T* y, T* z) {
  uint64_t key = dropout_key(seed, dropout_step());
  float keep_scale = 1.0f / (1.0f - p);
  if (z == nullptr) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
      y[i] = dropout_keep(key, uint64_t(i), p) ? from_float<T>(to_float(x[i]) * keep_scale) : from_float<T>(0.0f);
    return;
  }
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    const bool keep = dropout_keep(key, uint64_t(i), p);
    y[i] = keep ? from_float<T>(to_float(x[i]) * keep_scale) : from_float<T>(0.0f);
    z[i] = keep ? from_float<T>(to_float(z[i]) * keep_scale) : from_float<T>(0.0f);
  }
}

#if defined(__AVX2__)
// fp32 dropout for the baseline build (AVX2 has no 64-bit multiply; a CPU without AVX512DQ, e.g. AMD Zen 2/3,
// ran dropout_typed's vectorised loop at ~10 cycles an element): the same mask and products, bit for bit, with
// less arithmetic per element:
//  - the Weyl input key + (i + 1) C advances by a constant per step (additions, no product of the index);
//  - each remaining 64-bit product by a constant is three 32 x 32 -> 64-bit ones (vpmuludq);
//  - mix64's last xor-shift leaves the top 24 bits unchanged (z >> 31 has none), so it is skipped;
//  - u >= p on u = k 2^-24 (k < 2^24, exact) is the integer test k >= ceil(p 2^24) (p 2^24 is exact too).
namespace {

inline __m256i mul64_const(__m256i x, uint64_t c) {
  const __m256i c_lo = _mm256_set1_epi64x(int64_t(c & 0xFFFFFFFFull)), c_hi = _mm256_set1_epi64x(int64_t(c >> 32));
  const __m256i lo = _mm256_mul_epu32(x, c_lo);
  const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(x, 32), c_lo), _mm256_mul_epu32(x, c_hi));
  return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

// k = the top 24 bits of mix64(w) for 4 Weyl inputs w.
inline __m256i top24(__m256i z) {
  z = mul64_const(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), 0xBF58476D1CE4E5B9ull);
  z = mul64_const(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), 0x94D049BB133111EBull);
  return _mm256_srli_epi64(z, 40);
}

void dropout_f32_avx2(const float* x, int64_t n, float p, uint64_t seed, float* y, float* z) {
  const uint64_t key = dropout_key(seed, dropout_step());
  constexpr uint64_t kWeyl = 0x9E3779B97F4A7C15ull;
  // keep iff k > ceil(p 2^24) - 1; p < 1, so the bound fits and k >= 0 compares right as a signed int64
  const __m256i bound = _mm256_set1_epi64x(int64_t(std::ceil(double(p) * 16777216.0)) - 1);
  const __m256 scale = _mm256_set1_ps(1.0f / (1.0f - p));
  const __m256i evens = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);  // the low halves of 4 int64 lanes first
  const int64_t whole = n / 8;
#pragma omp parallel if (n > 65536)
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t per = (whole + threads - 1) / threads, b0 = std::min(whole, t * per), b1 = std::min(whole, b0 + per);
    const uint64_t i0 = uint64_t(b0 * 8);
    __m256i w_lo = _mm256_setr_epi64x(int64_t(key + (i0 + 1) * kWeyl), int64_t(key + (i0 + 2) * kWeyl),
                                      int64_t(key + (i0 + 3) * kWeyl), int64_t(key + (i0 + 4) * kWeyl));
    __m256i w_hi = _mm256_add_epi64(w_lo, _mm256_set1_epi64x(int64_t(4 * kWeyl)));
    const __m256i step = _mm256_set1_epi64x(int64_t(8 * kWeyl));
    for (int64_t b = b0; b < b1; b++) {
      const int64_t i = b * 8;
      const __m256i keep_lo = _mm256_cmpgt_epi64(top24(w_lo), bound), keep_hi = _mm256_cmpgt_epi64(top24(w_hi), bound);
      // each 64-bit mask is two equal 32-bit halves: gather one half of each into 8 lanes in element order
      const __m256 keep = _mm256_castsi256_ps(_mm256_permute2x128_si256(
          _mm256_permutevar8x32_epi32(keep_lo, evens), _mm256_permutevar8x32_epi32(keep_hi, evens), 0x20));
      _mm256_storeu_ps(y + i, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_loadu_ps(x + i), scale)));
      if (z != nullptr) _mm256_storeu_ps(z + i, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_loadu_ps(z + i), scale)));
      w_lo = _mm256_add_epi64(w_lo, step);
      w_hi = _mm256_add_epi64(w_hi, step);
    }
  }
  const float keep_scale = 1.0f / (1.0f - p);
  for (int64_t i = whole * 8; i < n; i++) {
    const bool keep = dropout_keep(key, uint64_t(i), p);
    y[i] = keep ? x[i] * keep_scale : 0.0f;
    if (z != nullptr) z[i] = keep ? z[i] * keep_scale : 0.0f;
  }
}

}  // namespace
#endif

#ifdef JSW_CPU_AVX512
// fp32 dropout with the mask hashed 8 indices at a time: the two 64-bit multiplies of each mix64 round are one
// vpmullq each (AVX512DQ), where the baseline build emulates every 64-bit product with three 32-bit ones (the
// QLoRA profile of the quick start had jsw_dropout at 17% of a CPU step, bound by that hash). Same mask, same
// products as dropout_typed<float>, bit for bit.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's intrinsics: see JSW_AVX512_BEGIN in isa.h

// mix64's input for elements i .. i + 7, hashed: the top 24 bits of each, as floats in [0, 2^24) (exact).
inline __m256 hash8(__m512i key, int64_t i) {
  const __m512i lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  __m512i idx = _mm512_add_epi64(_mm512_set1_epi64(i + 1), lanes);
  __m512i z = _mm512_add_epi64(key, _mm512_mullo_epi64(idx, _mm512_set1_epi64(int64_t(0x9E3779B97F4A7C15ull))));
  z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 30));
  z = _mm512_mullo_epi64(z, _mm512_set1_epi64(int64_t(0xBF58476D1CE4E5B9ull)));
  z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 27));
  z = _mm512_mullo_epi64(z, _mm512_set1_epi64(int64_t(0x94D049BB133111EBull)));
  z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
  return _mm512_cvtepi64_ps(_mm512_srli_epi64(z, 40));
}

// Keep bits of elements i .. i + 15: bit k set iff dropout_keep(key, i + k, p) (u = hash * 2^-24, exact).
inline __mmask16 keep16(__m512i key, int64_t i, __m512 p) {
  __m512 u = _mm512_insertf32x8(_mm512_castps256_ps512(hash8(key, i)), hash8(key, i + 8), 1);
  return _mm512_cmp_ps_mask(_mm512_mul_ps(u, _mm512_set1_ps(1.0f / 16777216.0f)), p, _CMP_GE_OQ);
}

void dropout_f32_avx512(const float* x, int64_t n, float p, uint64_t seed, float* y, float* z) {
  const uint64_t k = dropout_key(seed, dropout_step());
  const __m512i key = _mm512_set1_epi64(int64_t(k));
  const __m512 pv = _mm512_set1_ps(p), scale = _mm512_set1_ps(1.0f / (1.0f - p));
  const int64_t whole = n / 16;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t b = 0; b < whole; b++) {
    const int64_t i = b * 16;
    const __mmask16 keep = keep16(key, i, pv);
    _mm512_storeu_ps(y + i, _mm512_maskz_mul_ps(keep, _mm512_loadu_ps(x + i), scale));
    if (z != nullptr) _mm512_storeu_ps(z + i, _mm512_maskz_mul_ps(keep, _mm512_loadu_ps(z + i), scale));
  }
  const float keep_scale = 1.0f / (1.0f - p);
  for (int64_t i = whole * 16; i < n; i++) {
    const bool keep = dropout_keep(k, uint64_t(i), p);
    y[i] = keep ? x[i] * keep_scale : 0.0f;
    if (z != nullptr) z[i] = keep ? z[i] * keep_scale : 0.0f;
  }
}

#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

}  // namespace

void row_norm(int dtype, const void* x, int64_t rows, int64_t cols, float* norm, float* inv_norm) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_row_norm", row_norm_typed(static_cast<const T*>(x), rows, cols, norm, inv_norm));
}

void scale_rows_cols(int dtype, const void* x, int64_t rows, int64_t cols, const float* row_scale,
                     const float* col_scale, void* y) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_scale_rows_cols",
                     scale_rows_cols_typed(static_cast<const T*>(x), rows, cols, row_scale, col_scale,
                                           static_cast<T*>(y)));
}

void sum_rows_mul(int dtype, const void* a, const void* b, int64_t rows, int64_t cols, float* dv) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_sum_rows_mul",
                     sum_rows_mul_typed(static_cast<const T*>(a), static_cast<const T*>(b), rows, cols, dv));
}

void dropout_pair(int dtype, const void* x, int64_t n, float p, uint64_t seed, void* y, void* z) {
#ifdef JSW_CPU_AVX512
  if (dtype == JSW_F32 && use_avx512dq()) {
    dropout_f32_avx512(static_cast<const float*>(x), n, p, seed, static_cast<float*>(y), static_cast<float*>(z));
    return;
  }
#endif
#if defined(__AVX2__)
  if (dtype == JSW_F32) {
    dropout_f32_avx2(static_cast<const float*>(x), n, p, seed, static_cast<float*>(y), static_cast<float*>(z));
    return;
  }
#endif
  JSW_DISPATCH_FLOAT(dtype, "jsw_dropout",
                     dropout_typed(static_cast<const T*>(x), n, p, seed, static_cast<T*>(y), static_cast<T*>(z)));
}

void dropout(int dtype, const void* x, int64_t n, float p, uint64_t seed, void* y) {
  dropout_pair(dtype, x, n, p, seed, y, nullptr);
}

namespace {
template <class T>
void add_uniform_noise_typed(T* x, int64_t n, float magnitude, uint64_t seed) {
  const uint64_t key = dropout_key(seed, dropout_step());
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) x[i] = from_float<T>(to_float(x[i]) + uniform_noise(key, uint64_t(i), magnitude));
}
}  // namespace

void add_uniform_noise(int dtype, void* x, int64_t n, float magnitude, uint64_t seed) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_add_uniform_noise",
                     add_uniform_noise_typed(static_cast<T*>(x), n, magnitude, seed));
}

}  // namespace cpu
}  // namespace jsw
