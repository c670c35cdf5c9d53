// DoRA helpers on the CPU: rows spread over OpenMP threads, vectorisable inner loops over columns, fp32 sums.
#include <cmath>

#include "core/dropout_step.h"
#include "core/dtype.h"
#include "cpu/isa.h"
#include "kernels/dora.h"
#include "kernels/dropout_hash.h"

#ifdef JSW_CPU_AVX512
#include <immintrin.h>
#endif

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
  JSW_DISPATCH_FLOAT(dtype, "jsw_dropout",
                     dropout_typed(static_cast<const T*>(x), n, p, seed, static_cast<T*>(y), static_cast<T*>(z)));
}

void dropout(int dtype, const void* x, int64_t n, float p, uint64_t seed, void* y) {
  dropout_pair(dtype, x, n, p, seed, y, nullptr);
}

}  // namespace cpu
}  // namespace jsw
