// Fused LM head + cross-entropy on the CPU. Tokens are processed chunk_tokens rows at a time, so only one
// chunk's [rows, vocab] fp32 logits exist at once:
//   logits = h W^T                                     (sgemm)
//   per row, one blocked sweep: max, argmax, lse = max + log sum e^(x - max), loss = lse - x[label]
//   backward: dlogits = dloss * (softmax - onehot), in place over the logits (rows spread over OpenMP threads)
//   dh = dlogits W (sgemm, overwrites), dW += dlogits^T h (sgemm, beta = 1)
// fp32 weights feed sgemm directly; bf16/f16 ones are widened to fp32 a vocab slab at a time (16 MiB), so no
// fp32 copy of the whole weight is ever made. Hidden rows of a 16-bit chunk are widened once per chunk. Rows
// without gradient (ignored labels, dloss 0) are left out of the backward GEMMs (and, in the backward-only
// call, out of the logits GEMM too); their dhidden is zero.
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

// A row whose dlogits are all zero (ignored label, or dloss 0) adds nothing to the backward GEMMs.
bool has_gradient(const LmHeadCe& a, int64_t t) { return !ignored(a.labels[t], a) && a.dloss[t] != 0.0f; }

// Statistics and (for the backward passes) the in-place gradient of the rows held in `logits`: row r is token
// tok[r].
void rows_pass(const LmHeadCe& a, Pass pass, const int64_t* tok, int64_t rows, float* logits) {
  const int64_t V = a.vocab;
#pragma omp parallel
  {
    std::vector<float> block_max(pass == Pass::kBoth ? size_t(softmax::blocks_of(V)) : 0);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      const int64_t t = tok[r];
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

// Copies hidden rows tok[0..n) into dst as fp32.
template <class T>
void gather_rows(const T* hidden, const int64_t* tok, int64_t n, int64_t dim, float* dst) {
#pragma omp parallel for schedule(static) if (n * dim > 65536)
  for (int64_t k = 0; k < n; k++) {
    const T* src = hidden + tok[k] * dim;
    float* out = dst + k * dim;
#pragma omp simd
    for (int64_t i = 0; i < dim; i++) out[i] = to_float(src[i]);
  }
}

// Drops rows without gradient from the chunk's dlogits (moving the kept rows to the front, in order) and from
// tok; returns the number kept. SFT batches mask prompt tokens, often a third or more of the rows: they then
// cost nothing in the two backward GEMMs.
int64_t keep_rows_with_gradient(const LmHeadCe& a, int64_t* tok, int64_t rows, float* logits) {
  int64_t kept = 0;
  for (int64_t r = 0; r < rows; r++) {
    if (!has_gradient(a, tok[r])) continue;
    if (kept != r) std::copy(logits + r * a.vocab, logits + (r + 1) * a.vocab, logits + kept * a.vocab);
    tok[kept++] = tok[r];
  }
  return kept;
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
  Scratch hidden_rows(C * D * 4);                  // widened and/or gathered rows, unless fp32 rows can be used
  Scratch dhidden_rows(backward ? C * D * 4 : 0);  // dh of the kept rows, unless it can go straight to dhidden
  std::vector<int64_t> tok(static_cast<size_t>(C), 0);
  float* L = logits.as<float>();
  for (int64_t t0 = 0; t0 < a.tokens; t0 += C) {
    const int64_t rows = std::min(C, a.tokens - t0);
    // The rows that take part: all of them, except that the backward-only pass skips rows without gradient
    // before even recomputing their logits (the forward needs every row's lse and argmax).
    int64_t n = 0;
    for (int64_t r = 0; r < rows; r++)
      if (pass != Pass::kBackward || has_gradient(a, t0 + r)) tok[size_t(n++)] = t0 + r;
    const float* h = nullptr;
    auto hidden_of_kept_rows = [&]() {
      if (kF32 && n == rows) return reinterpret_cast<const float*>(hidden + t0 * D);
      gather_rows(hidden, tok.data(), n, D, hidden_rows.as<float>());
      return static_cast<const float*>(hidden_rows.as<float>());
    };
    if (n > 0) {
      h = hidden_of_kept_rows();
      weight.for_each([&](int64_t v0, int64_t cols, const float* w) {
        sgemm(false, true, n, cols, D, 1.0f, h, D, w, D, 0.0f, L + v0, V);
      });
      rows_pass(a, pass, tok.data(), n, L);
    }
    if (!backward) continue;
    if (pass == Pass::kBoth) {
      int64_t kept = keep_rows_with_gradient(a, tok.data(), n, L);
      if (kept != n) {
        n = kept;
        if (n > 0) h = hidden_of_kept_rows();
      }
    }
    const bool direct = kF32 && n == rows;  // dh rows are exactly the chunk's dhidden rows
    float* dh = direct ? reinterpret_cast<float*>(dhidden + t0 * D) : dhidden_rows.as<float>();
    if (n > 0) {
      weight.for_each([&](int64_t v0, int64_t cols, const float* w) {
        sgemm(false, false, n, D, cols, 1.0f, L + v0, V, w, D, v0 == 0 ? 0.0f : 1.0f, dh, D);
        if (a.dweight != nullptr) sgemm(true, false, cols, D, n, 1.0f, L + v0, V, h, D, 1.0f, a.dweight + v0 * D, D);
      });
    }
    if (direct) continue;
    // Scatter: kept rows from dh, every other row of the chunk gets a zero gradient.
    std::fill(dhidden + t0 * D, dhidden + (t0 + rows) * D, from_float<T>(0.0f));
#pragma omp parallel for schedule(static) if (n * D > 65536)
    for (int64_t k = 0; k < n; k++) {
      T* out = dhidden + tok[size_t(k)] * D;
      const float* src = dh + k * D;
#pragma omp simd
      for (int64_t i = 0; i < D; i++) out[i] = from_float<T>(src[i]);
    }
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
