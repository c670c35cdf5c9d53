// The low-rank halves of a LoRA linear with the dropout fused in (contracts: jsw_lora_down / jsw_lora_up_grad in
// jswift.h). The CPU twin builds drop(x) a panel at a time in cache and multiplies it with sgemm; the CUDA twin
// stages masked tiles in shared memory for mma.sync. Both round drop(x), scale g A and xa to the storage dtype
// where the unfused sequence (jsw_dropout, then GEMMs) stores them, so the twins multiply the same numbers.
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {
void lora_down(int dtype, const void* x, const void* a, int64_t rows, int64_t in, int64_t rank, float p,
               uint64_t seed, void* xa);
void lora_up_grad(int dtype, const void* g, const void* x, const void* a, int64_t rows, int64_t in, int64_t rank,
                  float scale, float p, uint64_t seed, void* dx, float* da);
}  // namespace cpu
namespace cuda {
void lora_down(int device, int dtype, const void* x, const void* a, int64_t rows, int64_t in, int64_t rank, float p,
               uint64_t seed, void* xa);
void lora_up_grad(int device, int dtype, const void* g, const void* x, const void* a, int64_t rows, int64_t in,
                  int64_t rank, float scale, float p, uint64_t seed, void* dx, float* da);
}  // namespace cuda
}  // namespace jsw
