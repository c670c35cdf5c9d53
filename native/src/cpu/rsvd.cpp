// CPU twin of the randomized SVD: the shared driver (kernels/rsvd.h) over host memory, its GEMMs through
// jsw::cpu::sgemm (OpenBLAS, or the builtin loop) and the sketch drawn in parallel from the counter-based hash.
#include <cstring>

#include "core/memory.h"
#include "kernels/gemm.h"
#include "kernels/rsvd.h"

namespace jsw {
namespace cpu {

namespace {

struct HostOps {
  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  void gaussian(float* x, int64_t count, uint64_t key, uint64_t offset) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; i++) x[i] = gaussian_at(key, offset + uint64_t(i));
  }
  void copy(float* dst, const float* src, int64_t count) { std::memcpy(dst, src, size_t(count) * sizeof(float)); }
  void to_host(float* dst, const float* src, int64_t count) { copy(dst, src, count); }
  void from_host(float* dst, const float* src, int64_t count) { copy(dst, src, count); }
};

}  // namespace

void randomized_svd(const float* a, int64_t m, int64_t n, int64_t rank, int64_t oversample, int64_t power_iters,
                    uint64_t seed, float* u, float* s, float* vt) {
  int64_t k = rsvd::sketch_width(m, n, rank, oversample);
  Scratch work(rsvd::workspace_floats(m, n, k) * int64_t(sizeof(float)));
  HostOps ops;
  rsvd::randomized_svd(ops, a, m, n, rank, k, power_iters, seed, u, s, vt, work.as<float>(), "jsw_linalg_rsvd_f32");
}

}  // namespace cpu
}  // namespace jsw
