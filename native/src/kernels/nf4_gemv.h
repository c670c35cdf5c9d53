// NF4 dequant-GEMV twins (contract: jsw_nf4_gemv in jswift.h). The CPU twin takes the fp32 scale vector (the C ABI
// layer decodes double-quantized statistics into it first, cpu::nf4_decode_nested); the CUDA twin takes either
// form and decodes nested scales inside its 32-value kernel (else with a decode kernel before the 16-value one).
#pragma once

#include <cstdint>

namespace jsw {
namespace nf4 {
// Most rows one GEMV call takes: the kernels keep one fp32 accumulator per row in registers.
constexpr int64_t kGemvMaxRows = 8;
}  // namespace nf4

namespace cpu {
void nf4_gemv(int dtype, const void* x, int64_t rows, int64_t in, const uint8_t* packed, const float* absmax,
              int64_t out_features, int64_t blocksize, const void* bias, void* y);
// absmax[b] = code256[q[b]] * nested[b / 256] + offset for b < blocks (product and sum rounded separately).
void nf4_decode_nested(const uint8_t* q, const float* nested, const float* code256, float offset, int64_t blocks,
                       float* absmax);
}  // namespace cpu

namespace cuda {
void nf4_gemv(int device, int dtype, const void* x, int64_t rows, int64_t in, const uint8_t* packed,
              const float* absmax, const uint8_t* absmax_q, const float* nested_absmax, const float* code256,
              float offset, int64_t out_features, int64_t blocksize, const void* bias, void* y);
}  // namespace cuda
}  // namespace jsw
