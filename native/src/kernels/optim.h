// Optimizer twins (contract: jsw_sumsq / jsw_clip_coef / jsw_adamw_step in jswift.h).
#pragma once

#include <cmath>
#include <cstdint>

namespace jsw {

// The per-step scalars of torch::optim::AdamW, computed once on the host in fp64 as torch does (its options are
// doubles) and rounded to fp32 where torch hands them to an fp32 tensor op. Both twins take these.
struct AdamWScalars {
  float decay;         // 1 - lr * weight_decay            (p.mul_)
  float beta1, beta2;  // m.mul_(beta1), v.mul_(beta2)
  float one_minus_beta1, one_minus_beta2;
  float step_size;     // lr / (1 - beta1^step)              (addcdiv's value, negated when applied)
  float bias2_sqrt;    // sqrt(1 - beta2^step)
  float eps;

  static AdamWScalars make(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step) {
    double b1 = beta1, b2 = beta2, s = double(step);
    AdamWScalars k;
    k.decay = float(1.0 - double(lr) * double(weight_decay));
    k.beta1 = beta1;
    k.beta2 = beta2;
    k.one_minus_beta1 = float(1.0 - b1);
    k.one_minus_beta2 = float(1.0 - b2);
    k.step_size = float(double(lr) / (1.0 - std::pow(b1, s)));
    k.bias2_sqrt = float(std::sqrt(1.0 - std::pow(b2, s)));
    k.eps = eps;
    return k;
  }
};

namespace cpu {
void sumsq(int dtype, const void* x, int64_t n, float* acc);
void clip_coef(const float* sumsq, float max_norm, float* norm, float* coef);
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWScalars& k,
                const float* grad_scale, int copy_dtype, void* param_copy);
}  // namespace cpu

namespace cuda {
void sumsq(int device, int dtype, const void* x, int64_t n, float* acc);
void clip_coef(int device, const float* sumsq, float max_norm, float* norm, float* coef);
void adamw_step(int device, float* param, const float* grad, float* m, float* v, int64_t n, const AdamWScalars& k,
                const float* grad_scale, int copy_dtype, void* param_copy);
// The same kernel reading its scalars from device memory when it runs (jsw_adamw_step_dev, for CUDA graphs).
void adamw_step_dev(int device, float* param, const float* grad, float* m, float* v, int64_t n,
                    const AdamWScalars* scalars, const float* grad_scale, int copy_dtype, void* param_copy);
}  // namespace cuda
}  // namespace jsw
