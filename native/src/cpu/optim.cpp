// Optimizer kernels on the CPU: the global gradient norm (sum of squares, clipping coefficient) and one fused
// AdamW step, in the operation order of torch::optim::AdamW on fp32 tensors (see AdamWScalars).
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "kernels/optim.h"

namespace jsw {
namespace cpu {

namespace {

// fp32 sums within a chunk, chunks combined in fp64 in chunk order: accurate for any n and cheap, and the same
// bits on every run (an OpenMP reduction combines the threads' partials in whatever order they finish, which made
// clipped training steps differ in the last bits from run to run). f32/bf16 chunks vectorise (8 lanes, 512 adds
// each); GCC keeps f16's branchy widening scalar, so its sequential chunk is kept short.
template <class T>
void sumsq_typed(const T* x, int64_t n, float* acc) {
  const int64_t chunk = std::is_same<T, f16>::value ? 256 : 4096;
  int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(size_t(std::max<int64_t>(chunks, 1)), 0.0);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; c++) {
    int64_t lo = c * chunk, hi = std::min(n, lo + chunk);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = lo; i < hi; i++) {
      float v = to_float(x[i]);
      s += v * v;
    }
    partial[size_t(c)] = double(s);
  }
  double total = 0.0;
  for (int64_t c = 0; c < chunks; c++) total += partial[size_t(c)];
  *acc = float(double(*acc) + total);
}

template <class C>
void adamw_typed(float* p, const float* grad, float* m, float* v, int64_t n, AdamWScalars k, float scale, C* copy) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float g = grad[i] * scale;
    float pi = p[i] * k.decay;
    float mi = m[i] * k.beta1 + k.one_minus_beta1 * g;
    float vi = v[i] * k.beta2 + (k.one_minus_beta2 * g) * g;
    float denom = std::sqrt(vi) / k.bias2_sqrt + k.eps;
    pi = pi + (-k.step_size * mi) / denom;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi;
    if (copy != nullptr) copy[i] = from_float<C>(pi);
  }
}

}  // namespace

void sumsq(int dtype, const void* x, int64_t n, float* acc) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_sumsq", sumsq_typed(static_cast<const T*>(x), n, acc));
}

void clip_coef(const float* sumsq, float max_norm, float* norm, float* coef) {
  float nrm = std::sqrt(*sumsq);
  float c = 1.0f;
  if (max_norm > 0.0f) {
    c = max_norm / (nrm + 1e-6f);
    c = c > 1.0f ? 1.0f : c;  // torch.clamp(max=1): a NaN norm stays NaN, as in clip_grad_norm_
  }
  *norm = nrm;
  *coef = c;
}

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWScalars& k,
                const float* grad_scale, int copy_dtype, void* param_copy) {
  float scale = grad_scale != nullptr ? *grad_scale : 1.0f;
  if (param_copy == nullptr) {
    adamw_typed<float>(param, grad, m, v, n, k, scale, nullptr);
    return;
  }
  JSW_DISPATCH_FLOAT(copy_dtype, "jsw_adamw_step",
                     adamw_typed(param, grad, m, v, n, k, scale, static_cast<T*>(param_copy)));
}

}  // namespace cpu
}  // namespace jsw
