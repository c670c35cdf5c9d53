// GPTQ twins (contract: jsw_gptq_* in jswift.h): dequantization, Hessian accumulation and quantization each have
// a CPU and a CUDA twin (the CUDA quantizer factors the Hessian on the host with the CPU twin's code).
#pragma once

#include <cstdint>

namespace jsw {
namespace gptq {
// Values per int32 word, and the field mask, for a supported bit width (2, 4, 8).
inline int per_word(int bits) { return 32 / bits; }
inline uint32_t field_mask(int bits) { return (1u << bits) - 1u; }
}  // namespace gptq

namespace cpu {
void gptq_dequantize(int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                     const int32_t* g_idx, int64_t in, int64_t out, int bits, int64_t groups, void* w);
void gptq_hessian_add(const float* x, int64_t rows, int64_t in, float* h, int64_t seen);
void gptq_quantize(float* w, float* h, int64_t out, int64_t in, int bits, int64_t group_size, bool sym,
                   bool desc_act, float percdamp, int64_t block, int32_t* codes, float* scales, int32_t* zeros,
                   int32_t* g_idx, double* loss);
// The upper Cholesky factor U of a^-1 (a^-1 = U^T U), in place in the upper triangle of the row-major [n, n]
// matrix a (the strict lower triangle is zeroed). Returns false when a is not positive definite.
bool inverse_cholesky_upper(float* a, int64_t n);
}  // namespace cpu

namespace cuda {
void gptq_dequantize(int device, int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                     const int32_t* g_idx, int64_t in, int64_t out, int bits, int64_t groups, void* w);
void gptq_hessian_add(int device, const float* x, int64_t rows, int64_t in, float* h, int64_t seen);
// block <= 128 (a lazy batch lives in one warp's registers).
void gptq_quantize(int device, float* w, float* h, int64_t out, int64_t in, int bits, int64_t group_size, bool sym,
                   bool desc_act, float percdamp, int64_t block, int32_t* codes, float* scales, int32_t* zeros,
                   int32_t* g_idx, double* loss);
}  // namespace cuda
}  // namespace jsw
