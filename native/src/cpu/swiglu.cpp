// SwiGLU on the CPU: out = silu(g) u with silu(g) = g sigmoid(g). Backward, with s = sigmoid(g):
//   dup = dout silu(g),   dgate = dout u s (1 + g (1 - s)).
// One fp32 pass per element; vec_exp keeps the loops SIMD.
#include "core/dtype.h"
#include "cpu/vec_exp.h"
#include "kernels/swiglu.h"

namespace jsw {
namespace cpu {

namespace {

template <class T>
void fwd(const T* gate, const T* up, int64_t n, T* out) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) {
    float g = to_float(gate[i]);
    float s = 1.0f / (1.0f + vec_exp(-g));
    out[i] = from_float<T>(g * s * to_float(up[i]));
  }
}

template <class T>
void bwd(const T* dout, const T* gate, const T* up, int64_t n, T* dgate, T* dup) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) {
    float g = to_float(gate[i]), u = to_float(up[i]), d = to_float(dout[i]);
    float s = 1.0f / (1.0f + vec_exp(-g));
    float silu = g * s;
    dgate[i] = from_float<T>(d * u * (s * (1.0f + g * (1.0f - s))));
    dup[i] = from_float<T>(d * silu);
  }
}

}  // namespace

void swiglu_fwd(int dtype, const void* gate, const void* up, int64_t n, void* out) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_swiglu_fwd",
                     fwd(static_cast<const T*>(gate), static_cast<const T*>(up), n, static_cast<T*>(out)));
}

void swiglu_bwd(int dtype, const void* dout, const void* gate, const void* up, int64_t n, void* dgate, void* dup) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_swiglu_bwd",
                     bwd(static_cast<const T*>(dout), static_cast<const T*>(gate), static_cast<const T*>(up), n,
                         static_cast<T*>(dgate), static_cast<T*>(dup)));
}

}  // namespace cpu
}  // namespace jsw
