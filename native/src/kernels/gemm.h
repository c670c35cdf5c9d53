// GEMM twins (see jsw_gemm in jswift.h for the contract). Row-major; lda/ldb/ldc are row strides as stored.
#pragma once

#include <cstdint>

namespace jsw {

struct GemmArgs {
  int dtype, c_dtype;
  bool trans_a, trans_b;
  int64_t m, n, k;
  float alpha;
  const void* a;
  int64_t lda;
  const void* b;
  int64_t ldb;
  float beta;
  void* c;
  int64_t ldc;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
};

// One row-major product C [m, n] = alpha op(A) op(B) + beta C with the leading dimensions given.
inline GemmArgs gemm_args(int dtype, int c_dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                          float alpha, const void* a, int64_t lda, const void* b, int64_t ldb, float beta, void* c,
                          int64_t ldc) {
  GemmArgs g{};
  g.dtype = dtype;
  g.c_dtype = c_dtype;
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.m = m;
  g.n = n;
  g.k = k;
  g.alpha = alpha;
  g.a = a;
  g.lda = lda;
  g.b = b;
  g.ldb = ldb;
  g.beta = beta;
  g.c = c;
  g.ldc = ldc;
  return g;
}

// The same with dense operands: each leading dimension is its stored row's length.
inline GemmArgs dense_gemm_args(int dtype, int c_dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                                float alpha, const void* a, const void* b, float beta, void* c) {
  return gemm_args(dtype, c_dtype, trans_a, trans_b, m, n, k, alpha, a, trans_a ? m : k, b, trans_b ? k : n, beta, c,
                   n);
}

namespace cpu {
void gemm(const GemmArgs& g);
// fp32 sgemm on host pointers, the building block of the fused CPU kernels.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void set_blas_threads(int threads);
}  // namespace cpu

namespace cuda {
void gemm(int device, const GemmArgs& g);
}  // namespace cuda

}  // namespace jsw
