// Pointwise activations on the CPU: one fp32 pass per element with the formulas of kernels/activation.h (the
// CUDA twin evaluates the same functions).
#include "core/dtype.h"
#include "kernels/activation.h"

namespace jsw {
namespace cpu {

namespace {

template <class T>
void fwd(int kind, const T* x, int64_t n, T* y) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) y[i] = from_float<T>(act::forward(kind, to_float(x[i])));
}

template <class T>
void bwd(int kind, const T* x, const T* dy, int64_t n, T* dx) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) dx[i] = from_float<T>(to_float(dy[i]) * act::derivative(kind, to_float(x[i])));
}

}  // namespace

void activation_fwd(int dtype, int kind, const void* x, int64_t n, void* y) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_activation_fwd", fwd(kind, static_cast<const T*>(x), n, static_cast<T*>(y)));
}

void activation_bwd(int dtype, int kind, const void* x, const void* dy, int64_t n, void* dx) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_activation_bwd",
                     bwd(kind, static_cast<const T*>(x), static_cast<const T*>(dy), n, static_cast<T*>(dx)));
}

}  // namespace cpu
}  // namespace jsw
