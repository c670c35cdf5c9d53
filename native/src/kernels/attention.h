// Flash-attention twins (contract: jsw_attention_fwd / jsw_attention_bwd in jswift.h). The C layer has
// validated every argument (and, on the CPU, the cu_seqlens offsets) before these run.
#pragma once

#include <cstdint>

namespace jsw {

// The geometry and masking of one attention call, shared by both directions and both twins.
struct AttentionShape {
  int64_t batch, seq_len, heads, kv_heads, head_dim;
  const int32_t* cu_seqlens;  // packed layout, [batch + 1], or nullptr (padded layout)
  const int32_t* key_mask;    // padded layout only, [batch, seq_len], 0 = padding key; may be nullptr
  bool causal;
  int64_t window;  // <= 0: no window
  float scale;
};

namespace cpu {
void attention_fwd(int dtype, const AttentionShape& s, const void* q, const void* k, const void* v, void* out,
                   float* lse);
void attention_bwd(int dtype, const AttentionShape& s, const void* q, const void* k, const void* v, const void* out,
                   const void* dout, const float* lse, void* dq, void* dk, void* dv);
}  // namespace cpu

namespace cuda {
void attention_fwd(int device, int dtype, const AttentionShape& s, const void* q, const void* k, const void* v,
                   void* out, float* lse);
void attention_bwd(int device, int dtype, const AttentionShape& s, const void* q, const void* k, const void* v,
                   const void* out, const void* dout, const float* lse, void* dq, void* dk, void* dv);
}  // namespace cuda

}  // namespace jsw
