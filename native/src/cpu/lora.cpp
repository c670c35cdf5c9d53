// Fused LoRA linear on the CPU, built from OpenBLAS sgemm on fp32 panels (bf16/f16 operands are widened once
// per call into scratch; for f32 the caller's buffers are used directly).
//   forward:  y = x W^T + scale * xa B^T + bias,  xa = drop(x) A^T
//   backward: g = dy B;  dB += scale dy^T xa;  dA += scale g^T drop(x);  dx = dy W + scale * drop'(g A)
// y and dx are accumulated in fp32 and rounded once. drop(x), xa and g feed later GEMMs, so they are rounded
// to the storage type exactly as the CUDA twin stores them: both twins then multiply the same numbers.
#include <type_traits>

#include "core/dropout_step.h"
#include "core/dtype.h"
#include "core/memory.h"
#include "kernels/dora.h"
#include "kernels/dropout_hash.h"
#include "kernels/gemm.h"
#include "kernels/lora.h"

namespace jsw {
namespace cpu {

namespace {

template <class T>
float round_through(float v) {
  return to_float(from_float<T>(v));
}

// An fp32 view of n values of T: the input itself for f32, else a widened copy in scratch.
template <class T>
class F32View {
 public:
  F32View(const T* src, int64_t n) : scratch_(std::is_same<T, float>::value ? 0 : n * 4) {
    if constexpr (std::is_same<T, float>::value) {
      ptr_ = src;
    } else {
      float* dst = scratch_.as<float>();
#pragma omp parallel for simd schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; i++) dst[i] = to_float(src[i]);
      ptr_ = dst;
    }
  }
  const float* get() const { return ptr_; }

 private:
  Scratch scratch_;
  const float* ptr_;
};

// fp32 output buffer of n values: T's buffer itself for f32, else scratch stored back by finish().
template <class T>
class F32Out {
 public:
  F32Out(T* dst, int64_t n) : dst_(dst), n_(n), scratch_(std::is_same<T, float>::value ? 0 : n * 4) {
    if constexpr (std::is_same<T, float>::value) ptr_ = dst;
    else ptr_ = scratch_.as<float>();
  }
  float* get() const { return ptr_; }
  void finish() {
    if constexpr (!std::is_same<T, float>::value) {
#pragma omp parallel for simd schedule(static) if (n_ > 65536)
      for (int64_t i = 0; i < n_; i++) dst_[i] = from_float<T>(ptr_[i]);
    }
  }

 private:
  T* dst_;
  int64_t n_;
  Scratch scratch_;
  float* ptr_;
};

// drop(x) in fp32, element t*in + i kept with probability 1 - p and scaled by 1/(1-p), rounded to T as the
// CUDA twin stores it.
template <class T>
void dropout(const T* x, int64_t n, float p, uint64_t seed, float* out) {
  if constexpr (std::is_same_v<T, float>) {  // jsw_dropout's kernel: the same mask, hashed with AVX-512 where present
    ::jsw::cpu::dropout(JSW_F32, x, n, p, seed, out);
    return;
  }
  uint64_t key = dropout_key(seed, dropout_step());
  float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++)
    out[i] = dropout_keep(key, uint64_t(i), p) ? round_through<T>(to_float(x[i]) * keep_scale) : 0.0f;
}

template <class T>
void fwd(const T* x, const T* w, const T* bias, const T* a, const T* b, int64_t tokens, int64_t in, int64_t out,
         int64_t rank, float scale, float p, uint64_t seed, T* y, T* xa) {
  F32View<T> xf(x, tokens * in), wf(w, out * in), af(a, rank * in), bf(b, out * rank);
  Scratch dropped(p > 0.0f ? tokens * in * 4 : 0);
  const float* xd = xf.get();
  if (p > 0.0f) {
    dropout(x, tokens * in, p, seed, dropped.as<float>());
    xd = dropped.as<float>();
  }
  // xa = drop(x) A^T, kept in fp32 scratch (rounded to T) and stored to the caller's xa.
  Scratch xa_scratch(tokens * rank * 4);
  float* xa32 = xa_scratch.as<float>();
  sgemm(false, true, tokens, rank, in, 1.0f, xd, in, af.get(), in, 0.0f, xa32, rank);
  for (int64_t i = 0; i < tokens * rank; i++) {
    T v = from_float<T>(xa32[i]);
    if (xa != nullptr) xa[i] = v;
    xa32[i] = to_float(v);
  }
  F32Out<T> yf(y, tokens * out);
  sgemm(false, true, tokens, out, in, 1.0f, xf.get(), in, wf.get(), in, 0.0f, yf.get(), out);
  sgemm(false, true, tokens, out, rank, scale, xa32, rank, bf.get(), rank, 1.0f, yf.get(), out);
  if (bias != nullptr) {
    float* yp = yf.get();
#pragma omp parallel for schedule(static) if (tokens * out > 65536)
    for (int64_t t = 0; t < tokens; t++) {
#pragma omp simd
      for (int64_t j = 0; j < out; j++) yp[t * out + j] += to_float(bias[j]);
    }
  }
  yf.finish();
}

template <class T>
void bwd(const T* dy, const T* x, const T* w, const T* a, const T* b, const T* xa, int64_t tokens, int64_t in,
         int64_t out, int64_t rank, float scale, float p, uint64_t seed, T* dx, float* da, float* db) {
  F32View<T> dyf(dy, tokens * out);
  if (db != nullptr) {
    F32View<T> xaf(xa, tokens * rank);
    sgemm(true, false, out, rank, tokens, scale, dyf.get(), out, xaf.get(), rank, 1.0f, db, rank);
  }
  if (dx == nullptr && da == nullptr) return;
  // g = dy B, rounded to T (the CUDA twin stores it as T for the next GEMMs).
  F32View<T> bf(b, out * rank);
  Scratch g_scratch(tokens * rank * 4);
  float* g = g_scratch.as<float>();
  sgemm(false, false, tokens, rank, out, 1.0f, dyf.get(), out, bf.get(), rank, 0.0f, g, rank);
  if (!std::is_same<T, float>::value)
    for (int64_t i = 0; i < tokens * rank; i++) g[i] = round_through<T>(g[i]);
  if (da != nullptr) {
    F32View<T> xf(x, p > 0.0f ? 0 : tokens * in);  // with dropout only the masked copy is read
    Scratch dropped(p > 0.0f ? tokens * in * 4 : 0);
    const float* xd = xf.get();
    if (p > 0.0f) {
      dropout(x, tokens * in, p, seed, dropped.as<float>());
      xd = dropped.as<float>();
    }
    sgemm(true, false, rank, in, tokens, scale, g, rank, xd, in, 1.0f, da, in);
  }
  if (dx != nullptr) {
    F32View<T> wf(w, out * in), af(a, rank * in);
    F32Out<T> dxf(dx, tokens * in);
    float* d = dxf.get();
    sgemm(false, false, tokens, in, rank, scale, g, rank, af.get(), in, 0.0f, d, in);
    if (p > 0.0f) {
      // drop'(v): the forward's mask and 1/(1-p) scale applied to the gradient
      uint64_t key = dropout_key(seed, dropout_step());
      float keep_scale = 1.0f / (1.0f - p);
      int64_t n = tokens * in;
#pragma omp parallel for simd schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; i++) d[i] = dropout_keep(key, uint64_t(i), p) ? d[i] * keep_scale : 0.0f;
    }
    sgemm(false, false, tokens, in, out, 1.0f, dyf.get(), out, wf.get(), in, 1.0f, d, in);
    dxf.finish();
  }
}

}  // namespace

void lora_fwd(int dtype, const void* x, const void* w, const void* bias, const void* lora_a, const void* lora_b,
              int64_t tokens, int64_t in_features, int64_t out_features, int64_t rank, float scale, float dropout_p,
              uint64_t seed, void* y, void* xa) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_lora_fwd",
                     fwd(static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
                         static_cast<const T*>(lora_a), static_cast<const T*>(lora_b), tokens, in_features,
                         out_features, rank, scale, dropout_p, seed, static_cast<T*>(y), static_cast<T*>(xa)));
}

void lora_bwd(int dtype, const void* dy, const void* x, const void* w, const void* lora_a, const void* lora_b,
              const void* xa, int64_t tokens, int64_t in_features, int64_t out_features, int64_t rank, float scale,
              float dropout_p, uint64_t seed, void* dx, float* da, float* db) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_lora_bwd",
                     bwd(static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const T*>(w),
                         static_cast<const T*>(lora_a), static_cast<const T*>(lora_b), static_cast<const T*>(xa),
                         tokens, in_features, out_features, rank, scale, dropout_p, seed, static_cast<T*>(dx), da,
                         db));
}

}  // namespace cpu
}  // namespace jsw
