// C ABI: randomized truncated SVD (GaLore's projector refresh), CPU and CUDA.
#include <algorithm>

#include "core/dispatch.h"
#include "kernels/rsvd.h"

using namespace jsw;

extern "C" int jsw_linalg_rsvd_f32(int device, const float* a, int64_t m, int64_t n, int64_t rank,
                                   int64_t oversample, int64_t power_iters, uint64_t seed, float* u, float* s,
                                   float* vt) {
  JSW_API_BEGIN
  const char* op = "jsw_linalg_rsvd_f32";
  require_device(device, op);
  require_positive(m, op, "m");
  require_positive(n, op, "n");
  // cuBLAS takes 32-bit sizes and leading dimensions.
  require(m <= INT32_MAX && n <= INT32_MAX, op, "a [%lld, %lld] matrix is too large", static_cast<long long>(m),
          static_cast<long long>(n));
  require(rank >= 1 && rank <= std::min(m, n), op, "rank must be in [1, min(m, n) = %lld], got %lld",
          static_cast<long long>(std::min(m, n)), static_cast<long long>(rank));
  require(oversample >= 0 && oversample <= INT32_MAX, op, "oversample must be in [0, 2^31), got %lld",
          static_cast<long long>(oversample));  // bounded so rank + oversample cannot overflow
  require(power_iters >= 0 && power_iters <= 64, op, "power_iters must be in [0, 64], got %lld",
          static_cast<long long>(power_iters));
  require_ptr(a, op, "a");
  require_ptr(u, op, "u");
  require_ptr(s, op, "s");
  require_ptr(vt, op, "vt");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::randomized_svd(a, m, n, rank, oversample, power_iters, seed, u, s, vt));
  } else {
    JSW_CUDA_ONLY(cuda::randomized_svd(device, a, m, n, rank, oversample, power_iters, seed, u, s, vt));
  }
  JSW_API_END
}
