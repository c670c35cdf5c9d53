// A few input rows (1-8: a decode step of that many sequences) against a weight stored [n, k]. OpenBLAS's sgemm
// packs the whole weight before multiplying, which for a handful of rows costs several times a read of it: a
// 0.5B model decoded 4 sequences at a time ran at 0.8x the tokens/s of one at a time. Here each weight row is read
// once and dotted with every input row while it is in registers, so m rows cost about what one costs (the read
// of the weight), and m sequences decode about m times faster than one.
//
// Every output (r, j) has its own 8-lane accumulator over k, reduced in a fixed order, then the k % 8 tail, so
// its bits do not depend on m or on which outputs are computed together: a sequence decoded in a batch gets the
// logits it gets alone.
#include "cpu/gemv_rows.h"

#include <omp.h>

#include <algorithm>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace jsw {
namespace cpu {

namespace {

#if defined(__AVX2__) && defined(__FMA__)
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Outputs j0 .. j0 + J - 1 of M input rows.
template <int M, int J>
inline void block(int64_t j0, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float beta, float* c, int64_t ldc) {
  __m256 acc[M][J];
  for (int r = 0; r < M; r++)
    for (int j = 0; j < J; j++) acc[r][j] = _mm256_setzero_ps();
  const int64_t k8 = k & ~int64_t(7);
  for (int64_t p = 0; p < k8; p += 8) {
    __m256 w[J];
    for (int j = 0; j < J; j++) w[j] = _mm256_loadu_ps(b + (j0 + j) * ldb + p);
    for (int r = 0; r < M; r++) {
      const __m256 x = _mm256_loadu_ps(a + r * lda + p);
      for (int j = 0; j < J; j++) acc[r][j] = _mm256_fmadd_ps(x, w[j], acc[r][j]);
    }
  }
  for (int r = 0; r < M; r++)
    for (int j = 0; j < J; j++) {
      float s = hsum(acc[r][j]);
      const float* wj = b + (j0 + j) * ldb;
      for (int64_t p = k8; p < k; p++) s += a[r * lda + p] * wj[p];
      float& out = c[r * ldc + j0 + j];
      out = beta == 0.0f ? alpha * s : alpha * s + beta * out;
    }
}
#else
template <int M, int J>
inline void block(int64_t j0, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float beta, float* c, int64_t ldc) {
  for (int r = 0; r < M; r++)
    for (int j = 0; j < J; j++) {
      float lanes[8] = {};
      const float* wj = b + (j0 + j) * ldb;
      const int64_t k8 = k & ~int64_t(7);
      for (int64_t p = 0; p < k8; p += 8)
        for (int l = 0; l < 8; l++) lanes[l] += a[r * lda + p + l] * wj[p + l];
      float s = ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
      for (int64_t p = k8; p < k; p++) s += a[r * lda + p] * wj[p];
      float& out = c[r * ldc + j0 + j];
      out = beta == 0.0f ? alpha * s : alpha * s + beta * out;
    }
}
#endif

// J outputs at a time (enough independent accumulators to keep the FMA units busy), the last n % J one by one.
template <int M, int J>
void rows(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
          float* c, int64_t ldc) {
  const int64_t blocks = n / J;
  const bool parallel = n * k >= (int64_t(1) << 16) && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t i = 0; i < blocks; i++) block<M, J>(i * J, k, alpha, a, lda, b, ldb, beta, c, ldc);
  for (int64_t j = blocks * J; j < n; j++) block<M, 1>(j, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

void gemv_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
               float beta, float* c, int64_t ldc) {
  switch (m) {
    case 1: return rows<1, 4>(n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 2: return rows<2, 2>(n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 3: return rows<3, 2>(n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 4: return rows<4, 2>(n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 5: return rows<5, 1>(n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 6: return rows<6, 1>(n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case 7: return rows<7, 1>(n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    default: return rows<8, 1>(n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace cpu
}  // namespace jsw
