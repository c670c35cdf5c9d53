// SVD and QR through OpenBLAS's LAPACKE (the routines torch's CPU linalg calls too, so the factors agree with
// libtorch's up to rounding and, for the SVD, a sign per singular pair). A build without OpenBLAS has no LAPACK
// and reports the ops as unsupported rather than carrying a slow hand-written SVD.
#include <algorithm>
#include <vector>

#include "core/error.h"
#include "kernels/linalg.h"

#ifdef JSWIFT_WITH_OPENBLAS
#include <lapacke.h>
#endif

namespace jsw {
namespace cpu {

#ifdef JSWIFT_WITH_OPENBLAS

void svd_f32(const float* a, int64_t m, int64_t n, float* u, float* s, float* vt) {
  int64_t k = std::min(m, n);
  std::vector<float> work(a, a + m * n);  // sgesdd destroys its input
  lapack_int info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'S', lapack_int(m), lapack_int(n), work.data(), lapack_int(n),
                                   s, u, lapack_int(k), vt, lapack_int(n));
  if (info > 0) fail(JSW_ERR_INTERNAL, format("jsw_linalg_svd_f32: sgesdd did not converge (%d superdiagonals), "
                                              "is the matrix finite?", int(info)));
  if (info < 0) fail(JSW_ERR_INTERNAL, format("jsw_linalg_svd_f32: sgesdd rejected argument %d", int(-info)));
}

void qr_f32(const float* a, int64_t m, int64_t n, float* q, float* r) {
  int64_t k = std::min(m, n);
  std::vector<float> work(a, a + m * n);
  std::vector<float> tau(static_cast<size_t>(k));
  lapack_int info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, lapack_int(m), lapack_int(n), work.data(), lapack_int(n),
                                   tau.data());
  if (info != 0) fail(JSW_ERR_INTERNAL, format("jsw_linalg_qr_f32: sgeqrf failed (info %d)", int(info)));
  // R: the upper triangle of the first k rows.
  for (int64_t i = 0; i < k; i++)
    for (int64_t j = 0; j < n; j++) r[i * n + j] = j >= i ? work[i * n + j] : 0.0f;
  // Q: the first k columns, formed from the reflectors in place (the leading dimension stays n >= k).
  info = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, lapack_int(m), lapack_int(k), lapack_int(k), work.data(), lapack_int(n),
                        tau.data());
  if (info != 0) fail(JSW_ERR_INTERNAL, format("jsw_linalg_qr_f32: sorgqr failed (info %d)", int(info)));
  for (int64_t i = 0; i < m; i++) std::copy(work.data() + i * n, work.data() + i * n + k, q + i * k);
}

#else

void svd_f32(const float*, int64_t, int64_t, float*, float*, float*) {
  fail(JSW_ERR_UNSUPPORTED, "jsw_linalg_svd_f32: this libjswift was built without OpenBLAS, so it has no LAPACK");
}

void qr_f32(const float*, int64_t, int64_t, float*, float*) {
  fail(JSW_ERR_UNSUPPORTED, "jsw_linalg_qr_f32: this libjswift was built without OpenBLAS, so it has no LAPACK");
}

#endif

}  // namespace cpu
}  // namespace jsw
