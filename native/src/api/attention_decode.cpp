// C ABI: attention of new queries against a KV cache, and the append of new keys/values to it.
#include <cmath>

#include "core/dispatch.h"
#include "kernels/attention_decode.h"

using namespace jsw;

namespace {

constexpr int64_t kMaxHeadDim = 256;

// Checks the sizes shared by both calls; returns false when there is nothing to do (no sequence or no new token).
bool check_cache_shape(const char* op, int device, int dtype, int64_t batch, int64_t q_len, int64_t capacity,
                       int64_t kv_heads, int64_t head_dim) {
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(batch, op, "batch");
  require_non_negative(q_len, op, "q_len");
  require_non_negative(capacity, op, "capacity");
  require_positive(kv_heads, op, "kv_heads");
  require_positive(head_dim, op, "head_dim");
  require(kv_heads <= INT32_MAX, op, "kv_heads must be below 2^31");
  require(head_dim <= kMaxHeadDim, op, "head_dim %lld is above the supported %lld", (long long)head_dim,
          (long long)kMaxHeadDim);
  // kv_len is int32 and must lie in [q_len, capacity]
  require(capacity <= INT32_MAX, op, "capacity %lld must be below 2^31", (long long)capacity);
  require(q_len <= capacity, op, "q_len (%lld) must be <= capacity (%lld): the new tokens live in the cache",
          (long long)q_len, (long long)capacity);
  require(batch <= INT32_MAX, op, "batch must be below 2^31");
  require(batch == 0 || capacity <= INT64_MAX / batch / (kv_heads * head_dim), op,
          "batch * capacity * kv_heads * head_dim overflows int64");
  return batch > 0 && q_len > 0;
}

// Host lengths (the CPU's) are checked before any work, when the op runs (a graph's replays see new ones); the
// CUDA kernels check device ones and raise the device error flag.
void check_host_lengths(const char* op, const int32_t* kv_len, int64_t batch, int64_t q_len, int64_t capacity) {
  for (int64_t b = 0; b < batch; b++)
    require(kv_len[b] >= q_len && kv_len[b] <= capacity, op,
            "kv_len[%lld] = %d is outside [q_len = %lld, capacity = %lld]", (long long)b, kv_len[b],
            (long long)q_len, (long long)capacity);
}

}  // namespace

extern "C" int jsw_attention_decode(int device, int dtype, const void* q, const void* k_cache, const void* v_cache,
                                    const int32_t* kv_len, const int32_t* key_mask, int64_t batch, int64_t q_len,
                                    int64_t capacity, int64_t heads, int64_t kv_heads, int64_t head_dim,
                                    int64_t window, float softmax_scale, void* out, float* lse) {
  JSW_API_BEGIN
  const char* op = "jsw_attention_decode";
  require_positive(heads, op, "heads");
  require(heads <= INT32_MAX, op, "heads must be below 2^31");
  if (!check_cache_shape(op, device, dtype, batch, q_len, capacity, kv_heads, head_dim)) return JSW_OK;
  require(heads % kv_heads == 0, op, "heads (%lld) must be a multiple of kv_heads (%lld)", (long long)heads,
          (long long)kv_heads);
  require(std::isfinite(softmax_scale), op, "softmax_scale must be finite, got %g", double(softmax_scale));
  require(q_len <= INT64_MAX / batch / (heads * head_dim), op, "batch * q_len * heads * head_dim overflows int64");
  require_ptr(q, op, "q");
  require_ptr(k_cache, op, "k_cache");
  require_ptr(v_cache, op, "v_cache");
  require_ptr(kv_len, op, "kv_len");
  require_ptr(out, op, "out");
  DecodeShape s{batch, q_len, capacity, heads, kv_heads, head_dim, kv_len, key_mask, window, softmax_scale};
  if (device == JSW_CPU) {
    JSW_CPU_RUN(check_host_lengths(op, kv_len, batch, q_len, capacity);
                cpu::attention_decode(dtype, s, q, k_cache, v_cache, out, lse));
  } else {
    JSW_CUDA_ONLY(cuda::attention_decode(device, dtype, s, q, k_cache, v_cache, out, lse));
  }
  JSW_API_END
}

extern "C" int jsw_kv_cache_append(int device, int dtype, const void* k_new, const void* v_new, void* k_cache,
                                   void* v_cache, const int32_t* kv_len, int64_t batch, int64_t q_len,
                                   int64_t capacity, int64_t kv_heads, int64_t head_dim) {
  JSW_API_BEGIN
  const char* op = "jsw_kv_cache_append";
  if (!check_cache_shape(op, device, dtype, batch, q_len, capacity, kv_heads, head_dim)) return JSW_OK;
  require_ptr(k_new, op, "k_new");
  require_ptr(v_new, op, "v_new");
  require_ptr(k_cache, op, "k_cache");
  require_ptr(v_cache, op, "v_cache");
  require_ptr(kv_len, op, "kv_len");
  DecodeShape s{batch, q_len, capacity, kv_heads, kv_heads, head_dim, kv_len, nullptr, 0, 1.0f};
  if (device == JSW_CPU) {
    JSW_CPU_RUN(check_host_lengths(op, kv_len, batch, q_len, capacity);
                cpu::kv_cache_append(dtype, s, k_new, v_new, k_cache, v_cache));
  } else {
    JSW_CUDA_ONLY(cuda::kv_cache_append(device, dtype, s, k_new, v_new, k_cache, v_cache));
  }
  JSW_API_END
}
