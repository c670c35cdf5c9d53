// Fused LM head + cross-entropy on the CPU. Tokens are processed chunk_tokens rows at a time, so only one
// chunk's [rows, vocab] fp32 logits exist at once:
//   logits = h W^T                                     (sgemm)
//   per row, one blocked sweep: max, argmax, lse = max + log sum e^(x - max), loss = lse - x[label]
//   backward: dlogits = dloss * (softmax - onehot), in place over the logits (rows spread over OpenMP threads)
//   dh = dlogits W (sgemm, overwrites), dW += dlogits^T h (sgemm, beta = 1)
// fp32 weights feed sgemm directly; bf16/f16 ones are widened to fp32 a vocab slab at a time (16 MiB), so no
// fp32 copy of the whole weight is ever made. Hidden rows of a 16-bit chunk are widened once per chunk.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/memory.h"
#include "cpu/softmax_row.h"
#include "kernels/gemm.h"
#include "kernels/lmhead_ce.h"

namespace jsw {
namespace cpu {

namespace {

constexpr int64_t kSlabBytes = int64_t(16) << 20;

template <class T>
void widen(const T* src, int64_t n, float* dst) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) dst[i] = to_float(src[i]);
}

template <class T>
void narrow(const float* src, int64_t n, T* dst) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) dst[i] = from_float<T>(src[i]);
}

// The weight as fp32 GEMM operands, visited slab by slab: the weight itself (one slab) when it is fp32.
template <class T>
class WeightSlabs {
 public:
  static constexpr bool kF32 = std::is_same<T, float>::value;
  WeightSlabs(const T* w, int64_t vocab, int64_t dim)
      : w_(w), vocab_(vocab), dim_(dim),
        rows_(kF32 ? vocab : std::max<int64_t>(1, std::min(vocab, kSlabBytes / (4 * dim)))),
        slab_(kF32 ? 0 : rows_ * dim * 4) {}

  // f(first vocab row, rows, fp32 [rows, dim] operand)
  template <class F>
  void for_each(F&& f) {
    for (int64_t v0 = 0; v0 < vocab_; v0 += rows_) {
      int64_t rows = std::min(rows_, vocab_ - v0);
      if constexpr (kF32) {
        f(v0, rows, w_ + v0 * dim_);
      } else {
        // A weight that fits one slab is widened once per call, not once per chunk and pass.
        if (!(rows_ == vocab_ && widened_)) widen(w_ + v0 * dim_, rows * dim_, slab_.as<float>());
        widened_ = true;
        f(v0, rows, static_cast<const float*>(slab_.as<float>()));
      }
    }
  }

 private:
  const T* w_;
  int64_t vocab_, dim_, rows_;
  Scratch slab_;
  bool widened_ = false;
};

enum class Pass { kForward, kBackward, kBoth };

bool ignored(int32_t label, const LmHeadCe& a) { return label == a.ignore_index; }

// Statistics and (for the backward passes) the in-place gradient of rows [t0, t0 + rows) held in `logits`.
void rows_pass(const LmHeadCe& a, Pass pass, int64_t t0, int64_t rows, float* logits) {
  const int64_t V = a.vocab;
#pragma omp parallel
  {
    std::vector<float> block_max(pass == Pass::kBoth ? size_t(softmax::blocks_of(V)) : 0);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      const int64_t t = t0 + r;
      float* x = logits + r * V;
      const int32_t label = a.labels[t];
      const bool skip = ignored(label, a);
      const float g = skip || pass == Pass::kForward ? 0.0f : a.dloss[t];
      if (pass == Pass::kBackward) {
        if (g == 0.0f) {
          std::fill(x, x + V, 0.0f);
        } else {
          softmax::scaled_softmax_in_place(x, V, a.lse_in[t], g);
          x[label] -= g;
        }
        continue;
      }
      const float target = skip ? 0.0f : x[label];
      softmax::RowStats st = pass == Pass::kForward ? softmax::sweep<false>(x, V, nullptr)
                                                    : softmax::sweep<true>(x, V, block_max.data());
      const float lse = st.lse();
      a.lse[t] = lse;
      a.loss[t] = skip ? 0.0f : lse - target;
      if (a.argmax != nullptr) a.argmax[t] = st.argmax;
      if (pass == Pass::kForward) continue;
      if (g == 0.0f) {
        std::fill(x, x + V, 0.0f);
      } else {
        softmax::scale_blocks(x, V, block_max.data(), st, g);
        x[label] -= g;
      }
    }
  }
}

template <class T>
void run(const LmHeadCe& a, Pass pass) {
  constexpr bool kF32 = std::is_same<T, float>::value;
  const T* hidden = static_cast<const T*>(a.hidden);
  const int64_t D = a.dim, V = a.vocab, C = a.chunk_tokens;
  const bool backward = pass != Pass::kForward;
  T* dhidden = static_cast<T*>(a.dhidden);
  WeightSlabs<T> weight(static_cast<const T*>(a.weight), V, D);
  Scratch logits(C * V * 4);
  Scratch hidden_f32(kF32 ? 0 : C * D * 4);
  Scratch dhidden_f32(kF32 || !backward ? 0 : C * D * 4);
  float* L = logits.as<float>();
  for (int64_t t0 = 0; t0 < a.tokens; t0 += C) {
    const int64_t rows = std::min(C, a.tokens - t0);
    const float* h;
    if constexpr (kF32) {
      h = hidden + t0 * D;
    } else {
      widen(hidden + t0 * D, rows * D, hidden_f32.as<float>());
      h = hidden_f32.as<float>();
    }
    weight.for_each([&](int64_t v0, int64_t n, const float* w) {
      sgemm(false, true, rows, n, D, 1.0f, h, D, w, D, 0.0f, L + v0, V);
    });
    rows_pass(a, pass, t0, rows, L);
    if (!backward) continue;
    float* dh;
    if constexpr (kF32) {
      dh = dhidden + t0 * D;
    } else {
      dh = dhidden_f32.as<float>();
    }
    weight.for_each([&](int64_t v0, int64_t n, const float* w) {
      sgemm(false, false, rows, D, n, 1.0f, L + v0, V, w, D, v0 == 0 ? 0.0f : 1.0f, dh, D);
      if (a.dweight != nullptr) sgemm(true, false, n, D, rows, 1.0f, L + v0, V, h, D, 1.0f, a.dweight + v0 * D, D);
    });
    if constexpr (!kF32) narrow(dh, rows * D, dhidden + t0 * D);
  }
}

void dispatch(const LmHeadCe& a, Pass pass, const char* op) {
  JSW_DISPATCH_FLOAT(a.dtype, op, run<T>(a, pass));
}

}  // namespace

void lmhead_ce_check_labels(const LmHeadCe& a, const char* op) {
  for (int64_t t = 0; t < a.tokens; t++) {
    int32_t label = a.labels[t];
    if (label != a.ignore_index && (label < 0 || int64_t(label) >= a.vocab))
      fail(JSW_ERR_INVALID_ARGUMENT,
           format("%s: labels[%lld] = %d is outside [0, %lld) and is not ignore_index (%d)", op, (long long)t,
                  int(label), (long long)a.vocab, int(a.ignore_index)));
  }
}

void lmhead_ce_fwd(const LmHeadCe& a) { dispatch(a, Pass::kForward, "jsw_lmhead_ce_fwd"); }
void lmhead_ce_bwd(const LmHeadCe& a) { dispatch(a, Pass::kBackward, "jsw_lmhead_ce_bwd"); }
void lmhead_ce_fwd_bwd(const LmHeadCe& a) { dispatch(a, Pass::kBoth, "jsw_lmhead_ce_fwd_bwd"); }

}  // namespace cpu
}  // namespace jsw
