// C ABI: fused LM head + cross-entropy (forward, backward, both in one pass over the logits).
#include "core/dispatch.h"
#include "kernels/lmhead_ce.h"

using namespace jsw;

namespace {

// Shared checks; returns false when there is nothing to do (tokens == 0).
bool prepare(LmHeadCe& a, int device, const char* op) {
  require_device(device, op);
  require_float_dtype(a.dtype, op);
  require_non_negative(a.tokens, op, "tokens");
  require_positive(a.dim, op, "dim");
  require_positive(a.vocab, op, "vocab");
  require(a.vocab <= INT32_MAX, op, "vocab %lld does not fit the int32 labels", (long long)a.vocab);
  require(a.tokens <= INT32_MAX, op, "tokens above 2^31 are not supported");
  require_non_negative(a.chunk_tokens, op, "chunk_tokens");
  if (a.tokens == 0) return false;
  require_ptr(a.hidden, op, "hidden");
  require_ptr(a.weight, op, "weight");
  require_ptr(a.labels, op, "labels");
  a.chunk_tokens = a.chunk_tokens == 0 ? default_chunk_tokens(a.tokens, a.vocab, device != JSW_CPU) : std::min(a.chunk_tokens, a.tokens);
  return true;
}

}  // namespace

extern "C" int jsw_lmhead_ce_fwd(int device, int dtype, const void* hidden, const void* weight, const int32_t* labels,
                                 int64_t tokens, int64_t dim, int64_t vocab, int32_t ignore_index,
                                 int64_t chunk_tokens, float* loss, float* lse, int32_t* argmax) {
  JSW_API_BEGIN
  const char* op = "jsw_lmhead_ce_fwd";
  LmHeadCe a{dtype, hidden, weight, labels, tokens, dim, vocab, ignore_index, chunk_tokens};
  if (!prepare(a, device, op)) return JSW_OK;
  require_ptr(loss, op, "loss");
  require_ptr(lse, op, "lse");
  a.loss = loss;
  a.lse = lse;
  a.argmax = argmax;
  if (device == JSW_CPU) {
    // The labels are checked when the op runs (a graph's replays see new ones).
    JSW_CPU_RUN(cpu::lmhead_ce_check_labels(a, op); cpu::lmhead_ce_fwd(a));
  } else {
    JSW_CUDA_ONLY(cuda::lmhead_ce_fwd(device, a));
  }
  JSW_API_END
}

extern "C" int jsw_lmhead_ce_bwd(int device, int dtype, const void* hidden, const void* weight, const int32_t* labels,
                                 const float* lse, const float* dloss, int64_t tokens, int64_t dim, int64_t vocab,
                                 int32_t ignore_index, int64_t chunk_tokens, void* dhidden, float* dweight) {
  JSW_API_BEGIN
  const char* op = "jsw_lmhead_ce_bwd";
  LmHeadCe a{dtype, hidden, weight, labels, tokens, dim, vocab, ignore_index, chunk_tokens};
  if (!prepare(a, device, op)) return JSW_OK;
  require_ptr(lse, op, "lse (from the forward)");
  require_ptr(dloss, op, "dloss");
  require_ptr(dhidden, op, "dhidden");
  a.lse_in = lse;
  a.dloss = dloss;
  a.dhidden = dhidden;
  a.dweight = dweight;
  if (device == JSW_CPU) {
    // The labels are checked when the op runs (a graph's replays see new ones).
    JSW_CPU_RUN(cpu::lmhead_ce_check_labels(a, op); cpu::lmhead_ce_bwd(a));
  } else {
    JSW_CUDA_ONLY(cuda::lmhead_ce_bwd(device, a));
  }
  JSW_API_END
}

extern "C" int jsw_lmhead_ce_fwd_bwd(int device, int dtype, const void* hidden, const void* weight,
                                     const int32_t* labels, const float* dloss, int64_t tokens, int64_t dim,
                                     int64_t vocab, int32_t ignore_index, int64_t chunk_tokens, float* loss, float* lse,
                                     int32_t* argmax, void* dhidden, float* dweight) {
  JSW_API_BEGIN
  const char* op = "jsw_lmhead_ce_fwd_bwd";
  LmHeadCe a{dtype, hidden, weight, labels, tokens, dim, vocab, ignore_index, chunk_tokens};
  if (!prepare(a, device, op)) return JSW_OK;
  require_ptr(dloss, op, "dloss");
  require_ptr(loss, op, "loss");
  require_ptr(lse, op, "lse");
  require_ptr(dhidden, op, "dhidden");
  a.loss = loss;
  a.lse = lse;
  a.argmax = argmax;
  a.dloss = dloss;
  a.dhidden = dhidden;
  a.dweight = dweight;
  if (device == JSW_CPU) {
    // The labels are checked when the op runs (a graph's replays see new ones).
    JSW_CPU_RUN(cpu::lmhead_ce_check_labels(a, op); cpu::lmhead_ce_fwd_bwd(a));
  } else {
    JSW_CUDA_ONLY(cuda::lmhead_ce_fwd_bwd(device, a));
  }
  JSW_API_END
}
