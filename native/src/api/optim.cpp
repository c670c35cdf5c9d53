// C ABI: gradient norm, clipping coefficient, fused AdamW.
#include <cmath>
#include <cstring>

#include "core/dispatch.h"
#include "kernels/optim.h"

using namespace jsw;

namespace {
// The hyperparameter checks of jsw_adamw_step and jsw_adamw_scalars, then the step's scalars.
AdamWScalars checked_scalars(const char* op, float lr, float beta1, float beta2, float eps, float weight_decay,
                             int64_t step) {
  require(step >= 1, op, "step counts from 1, got %lld", (long long)step);
  require(std::isfinite(lr) && lr >= 0.0f, op, "lr must be finite and >= 0, got %g", double(lr));
  require(beta1 >= 0.0f && beta1 < 1.0f, op, "beta1 must be in [0, 1), got %g", double(beta1));
  require(beta2 >= 0.0f && beta2 < 1.0f, op, "beta2 must be in [0, 1), got %g", double(beta2));
  require(std::isfinite(eps) && eps >= 0.0f, op, "eps must be finite and >= 0, got %g", double(eps));
  require(std::isfinite(weight_decay) && weight_decay >= 0.0f, op, "weight_decay must be finite and >= 0, got %g",
          double(weight_decay));
  return AdamWScalars::make(lr, beta1, beta2, eps, weight_decay, step);
}

// The four arrays every AdamW step updates or reads.
void require_adamw_arrays(const char* op, const float* param, const float* grad, const float* m, const float* v) {
  require_ptr(param, op, "param");
  require_ptr(grad, op, "grad");
  require_ptr(m, op, "m");
  require_ptr(v, op, "v");
}
}  // namespace

extern "C" int jsw_sumsq(int device, int dtype, const void* x, int64_t n, float* acc) {
  JSW_API_BEGIN
  const char* op = "jsw_sumsq";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(n, op, "n");
  require_ptr(acc, op, "acc");
  if (n == 0) return JSW_OK;
  require_ptr(x, op, "x");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::sumsq(dtype, x, n, acc));
  } else {
    JSW_CUDA_ONLY(cuda::sumsq(device, dtype, x, n, acc));
  }
  JSW_API_END
}

extern "C" int jsw_clip_coef(int device, const float* sumsq, float max_norm, float* norm, float* coef) {
  JSW_API_BEGIN
  const char* op = "jsw_clip_coef";
  require_device(device, op);
  require_ptr(sumsq, op, "sumsq");
  require_ptr(norm, op, "norm");
  require_ptr(coef, op, "coef");
  require(!std::isnan(max_norm), op, "max_norm is NaN");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::clip_coef(sumsq, max_norm, norm, coef));
  } else {
    JSW_CUDA_ONLY(cuda::clip_coef(device, sumsq, max_norm, norm, coef));
  }
  JSW_API_END
}

extern "C" int jsw_adamw_step(int device, float* param, const float* grad, float* m, float* v, int64_t n, float lr,
                              float beta1, float beta2, float eps, float weight_decay, int64_t step,
                              const float* grad_scale, int copy_dtype, void* param_copy) {
  JSW_API_BEGIN
  const char* op = "jsw_adamw_step";
  require_device(device, op);
  require_non_negative(n, op, "n");
  AdamWScalars k = checked_scalars(op, lr, beta1, beta2, eps, weight_decay, step);
  if (param_copy != nullptr) require_float_dtype(copy_dtype, op);
  if (n == 0) return JSW_OK;
  require_adamw_arrays(op, param, grad, m, v);
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::adamw_step(param, grad, m, v, n, k, grad_scale, copy_dtype, param_copy));
  } else {
    JSW_CUDA_ONLY(cuda::adamw_step(device, param, grad, m, v, n, k, grad_scale, copy_dtype, param_copy));
  }
  JSW_API_END
}

// --- device-resident scalars (CUDA graphs: a replayed kernel's arguments are fixed, its memory is not) ---
static_assert(sizeof(AdamWScalars) == 8 * sizeof(float), "jsw_adamw_scalars writes exactly 8 floats");

extern "C" int jsw_adamw_scalars(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step,
                                 float* out8) {
  JSW_API_BEGIN
  const char* op = "jsw_adamw_scalars";
  require_ptr(out8, op, "out8");
  AdamWScalars k = checked_scalars(op, lr, beta1, beta2, eps, weight_decay, step);
  std::memcpy(out8, &k, sizeof k);
  JSW_API_END
}

extern "C" int jsw_adamw_step_dev(int device, float* param, const float* grad, float* m, float* v, int64_t n,
                                  const float* scalars, const float* grad_scale, int copy_dtype, void* param_copy) {
  JSW_API_BEGIN
  const char* op = "jsw_adamw_step_dev";
  require_device(device, op);
  require_non_negative(n, op, "n");
  require_ptr(scalars, op, "scalars");
  if (param_copy != nullptr) require_float_dtype(copy_dtype, op);
  if (n == 0) return JSW_OK;
  require_adamw_arrays(op, param, grad, m, v);
  if (device == JSW_CPU) {
    // The scalars are read when the step runs: a graph's replays take each step's.
    JSW_CPU_RUN({
      AdamWScalars k;
      std::memcpy(&k, scalars, sizeof k);
      cpu::adamw_step(param, grad, m, v, n, k, grad_scale, copy_dtype, param_copy);
    });
  } else {
    JSW_CUDA_ONLY(cuda::adamw_step_dev(device, param, grad, m, v, n, reinterpret_cast<const AdamWScalars*>(scalars),
                                       grad_scale, copy_dtype, param_copy));
  }
  JSW_API_END
}
