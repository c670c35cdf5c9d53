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
