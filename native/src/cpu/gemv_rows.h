// A few input rows against a weight stored [n, k] (y = x W^T, a decode step of 1-8 sequences): see gemv_rows.cpp.
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {

// The most input rows gemv_rows takes.
constexpr int64_t kGemvMaxRows = 8;

// c[r * ldc + j] = alpha * sum_p a[r * lda + p] * b[j * ldb + p] + beta * c[r * ldc + j] for r < m, j < n,
// 1 <= m <= kGemvMaxRows; c is not read when beta == 0. Each output's sum runs in the same order whatever m, so a
// sequence decoded in a batch gets the bits it gets alone. Splits the n outputs over the OpenMP threads.
void gemv_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
               float beta, float* c, int64_t ldc);

}  // namespace cpu
}  // namespace jsw
