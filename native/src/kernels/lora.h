// Fused LoRA linear twins (contract: jsw_lora_fwd / jsw_lora_bwd in jswift.h). Both twins build the op from
// GEMMs plus small elementwise steps, in the same order, and round the intermediates that feed later GEMMs
// (drop(x), xa, dy B) to the storage type, so their GEMM inputs are identical.
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {
void lora_fwd(int dtype, const void* x, const void* w, const void* bias, const void* lora_a, const void* lora_b,
              int64_t tokens, int64_t in_features, int64_t out_features, int64_t rank, float scale, float dropout_p,
              uint64_t seed, void* y, void* xa);
void lora_bwd(int dtype, const void* dy, const void* x, const void* w, const void* lora_a, const void* lora_b,
              const void* xa, int64_t tokens, int64_t in_features, int64_t out_features, int64_t rank, float scale,
              float dropout_p, uint64_t seed, void* dx, float* da, float* db);
void lora_delta(int dtype, const void* x, int64_t rows, int64_t in, const void* a, int64_t rank, const void* b,
                int64_t out, float scale, void* y);
}  // namespace cpu
namespace cuda {
void lora_fwd(int device, int dtype, const void* x, const void* w, const void* bias, const void* lora_a,
              const void* lora_b, int64_t tokens, int64_t in_features, int64_t out_features, int64_t rank,
              float scale, float dropout_p, uint64_t seed, void* y, void* xa);
void lora_bwd(int device, int dtype, const void* dy, const void* x, const void* w, const void* lora_a,
              const void* lora_b, const void* xa, int64_t tokens, int64_t in_features, int64_t out_features,
              int64_t rank, float scale, float dropout_p, uint64_t seed, void* dx, float* da, float* db);
void lora_delta(int device, int dtype, const void* x, int64_t rows, int64_t in, const void* a, int64_t rank,
                const void* b, int64_t out, float scale, void* y);
}  // namespace cuda
}  // namespace jsw
