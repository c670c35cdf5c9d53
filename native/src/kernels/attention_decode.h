// KV-cache decode attention twins (contract: jsw_attention_decode / jsw_kv_cache_append in jswift.h). The C layer
// has validated every argument, and on the CPU every kv_len, before these run.
#pragma once

#include <cstdint>

namespace jsw {

// The geometry of one call over a KV cache.
struct DecodeShape {
  int64_t batch, q_len, capacity, heads, kv_heads, head_dim;
  const int32_t* kv_len;    // [batch], valid slots per sequence (after the new tokens were appended)
  const int32_t* key_mask;  // [batch, capacity], 0 = padding key; may be nullptr
  int64_t window;           // <= 0: no window
  float scale;
};

namespace cpu {
void attention_decode(int dtype, const DecodeShape& s, const void* q, const void* k_cache, const void* v_cache,
                      void* out, float* lse);
void kv_cache_append(int dtype, const DecodeShape& s, const void* k_new, const void* v_new, void* k_cache,
                     void* v_cache);
}  // namespace cpu

namespace cuda {
void attention_decode(int device, int dtype, const DecodeShape& s, const void* q, const void* k_cache,
                      const void* v_cache, void* out, float* lse);
void kv_cache_append(int device, int dtype, const DecodeShape& s, const void* k_new, const void* v_new,
                     void* k_cache, void* v_cache);
}  // namespace cuda

}  // namespace jsw
