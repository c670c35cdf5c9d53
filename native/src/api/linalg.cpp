// C ABI: dense factorisations (SVD, QR) for PiSSA / OLoRA adapter initialisation.
#include <algorithm>

#include "core/dispatch.h"
#include "kernels/linalg.h"

using namespace jsw;

namespace {
// LAPACK takes 32-bit sizes; a weight matrix is far below that.
void require_lapack_sizes(int device, int64_t m, int64_t n, const char* op) {
  if (device != JSW_CPU)
    fail(JSW_ERR_UNSUPPORTED, format("%s runs on the CPU only (device %d given): copy the matrix to the host", op,
                                     device));
  require_positive(m, op, "m");
  require_positive(n, op, "n");
  require(m <= INT32_MAX && n <= INT32_MAX && m * n <= INT32_MAX, op, "a [%lld, %lld] matrix is too large",
          static_cast<long long>(m), static_cast<long long>(n));
}
}  // namespace

extern "C" int jsw_linalg_svd_f32(int device, const float* a, int64_t m, int64_t n, float* u, float* s, float* vt) {
  JSW_API_BEGIN
  const char* op = "jsw_linalg_svd_f32";
  require_lapack_sizes(device, m, n, op);
  require_ptr(a, op, "a");
  require_ptr(u, op, "u");
  require_ptr(s, op, "s");
  require_ptr(vt, op, "vt");
  JSW_CPU_RUN(cpu::svd_f32(a, m, n, u, s, vt));
  JSW_API_END
}

extern "C" int jsw_linalg_qr_f32(int device, const float* a, int64_t m, int64_t n, float* q, float* r) {
  JSW_API_BEGIN
  const char* op = "jsw_linalg_qr_f32";
  require_lapack_sizes(device, m, n, op);
  require_ptr(a, op, "a");
  require_ptr(q, op, "q");
  require_ptr(r, op, "r");
  JSW_CPU_RUN(cpu::qr_f32(a, m, n, q, r));
  JSW_API_END
}
