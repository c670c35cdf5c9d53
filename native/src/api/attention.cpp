// C ABI: flash attention forward/backward.
#include <cmath>

#include "core/dispatch.h"
#include "kernels/attention.h"

using namespace jsw;

namespace {

constexpr int64_t kMaxHeadDim = 256;

// Checks everything but the data pointers; returns false when there is no work (no tokens).
bool check_shape(const char* op, int device, int dtype, int64_t batch, int64_t seq_len, int64_t heads,
                 int64_t kv_heads, int64_t head_dim, const int32_t* cu_seqlens, const int32_t* key_mask,
                 float softmax_scale) {
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(batch, op, "batch");
  require_non_negative(seq_len, op, "seq_len");
  require_positive(heads, op, "heads");
  require_positive(kv_heads, op, "kv_heads");
  require_positive(head_dim, op, "head_dim");
  require(heads % kv_heads == 0, op, "heads (%lld) must be a multiple of kv_heads (%lld)", (long long)heads,
          (long long)kv_heads);
  require(head_dim <= kMaxHeadDim, op, "head_dim %lld is above the supported %lld", (long long)head_dim,
          (long long)kMaxHeadDim);
  require(std::isfinite(softmax_scale), op, "softmax_scale must be finite, got %g", double(softmax_scale));
  require(cu_seqlens == nullptr || key_mask == nullptr, op,
          "key_mask is for the padded layout and must be NULL when cu_seqlens is given");
  require(batch <= INT32_MAX && seq_len <= INT32_MAX, op, "batch and seq_len must be below 2^31");
  require(batch * seq_len <= INT64_MAX / (heads * head_dim), op, "tokens * heads * head_dim overflows int64");
  if (batch == 0 || seq_len == 0) return false;
  return true;
}

// Packed offsets in host memory (the CPU's), checked when the op runs: a graph's replays see new ones. The CUDA
// kernels check device offsets and raise the device error flag.
void check_host_cu_seqlens(const char* op, const int32_t* cu_seqlens, int64_t batch, int64_t seq_len) {
  if (cu_seqlens == nullptr) return;
  require(cu_seqlens[0] == 0, op, "cu_seqlens[0] must be 0, got %d", cu_seqlens[0]);
  for (int64_t b = 0; b < batch; b++) {
    int64_t len = int64_t(cu_seqlens[b + 1]) - cu_seqlens[b];
    require(len >= 0 && len <= seq_len, op,
            "sequence %lld has length %lld (cu_seqlens[%lld] = %d, cu_seqlens[%lld] = %d); lengths must be in "
            "[0, seq_len = %lld]",
            (long long)b, (long long)len, (long long)b, cu_seqlens[b], (long long)(b + 1), cu_seqlens[b + 1],
            (long long)seq_len);
  }
}

AttentionShape shape_of(int64_t batch, int64_t seq_len, int64_t heads, int64_t kv_heads, int64_t head_dim,
                        const int32_t* cu_seqlens, const int32_t* key_mask, int causal, int64_t window,
                        float softmax_scale) {
  return AttentionShape{batch,      seq_len,  heads,      kv_heads, head_dim,
                        cu_seqlens, key_mask, causal != 0, window,  softmax_scale};
}

}  // namespace

extern "C" int jsw_attention_fwd(int device, int dtype, const void* q, const void* k, const void* v, int64_t batch,
                                 int64_t seq_len, int64_t heads, int64_t kv_heads, int64_t head_dim,
                                 const int32_t* cu_seqlens, const int32_t* key_mask, int causal, int64_t window,
                                 float softmax_scale, void* out, float* lse) {
  JSW_API_BEGIN
  const char* op = "jsw_attention_fwd";
  if (!check_shape(op, device, dtype, batch, seq_len, heads, kv_heads, head_dim, cu_seqlens, key_mask,
                   softmax_scale))
    return JSW_OK;
  require_ptr(q, op, "q");
  require_ptr(k, op, "k");
  require_ptr(v, op, "v");
  require_ptr(out, op, "out");
  require_ptr(lse, op, "lse");
  AttentionShape s = shape_of(batch, seq_len, heads, kv_heads, head_dim, cu_seqlens, key_mask, causal, window,
                              softmax_scale);
  if (device == JSW_CPU) {
    JSW_CPU_RUN(check_host_cu_seqlens(op, cu_seqlens, batch, seq_len);
                cpu::attention_fwd(dtype, s, q, k, v, out, lse));
  } else {
    JSW_CUDA_ONLY(cuda::attention_fwd(device, dtype, s, q, k, v, out, lse));
  }
  JSW_API_END
}

extern "C" int jsw_attention_bwd(int device, int dtype, const void* q, const void* k, const void* v, const void* out,
                                 const void* dout, const float* lse, int64_t batch, int64_t seq_len, int64_t heads,
                                 int64_t kv_heads, int64_t head_dim, const int32_t* cu_seqlens,
                                 const int32_t* key_mask, int causal, int64_t window, float softmax_scale, void* dq,
                                 void* dk, void* dv) {
  JSW_API_BEGIN
  const char* op = "jsw_attention_bwd";
  if (!check_shape(op, device, dtype, batch, seq_len, heads, kv_heads, head_dim, cu_seqlens, key_mask,
                   softmax_scale))
    return JSW_OK;
  require_ptr(q, op, "q");
  require_ptr(k, op, "k");
  require_ptr(v, op, "v");
  require_ptr(out, op, "out (from the forward)");
  require_ptr(dout, op, "dout");
  require_ptr(lse, op, "lse (from the forward)");
  require_ptr(dq, op, "dq");
  require_ptr(dk, op, "dk");
  require_ptr(dv, op, "dv");
  AttentionShape s = shape_of(batch, seq_len, heads, kv_heads, head_dim, cu_seqlens, key_mask, causal, window,
                              softmax_scale);
  if (device == JSW_CPU) {
    JSW_CPU_RUN(check_host_cu_seqlens(op, cu_seqlens, batch, seq_len);
                cpu::attention_bwd(dtype, s, q, k, v, out, dout, lse, dq, dk, dv));
  } else {
    JSW_CUDA_ONLY(cuda::attention_bwd(device, dtype, s, q, k, v, out, dout, lse, dq, dk, dv));
  }
  JSW_API_END
}
