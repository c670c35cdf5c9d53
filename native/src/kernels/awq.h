// AWQ twins (contract: jsw_awq_* in jswift.h): the dequantization of AutoAWQ's "GEMM" layout and the fused
// dequant-GEMV, on the CPU and on CUDA. The interleave lives here once so both twins (and nothing else) decode it the same way.
#pragma once

#include <cstdint>

namespace jsw {
namespace awq {
// Outputs per int32 word (4-bit codes).
constexpr int kPerWord = 8;
// The nibble of output 8j + m inside word j: the inverse of AutoAWQ's pack order {0, 2, 4, 6, 1, 3, 5, 7}.
constexpr int kNibbleOf[8] = {0, 4, 1, 5, 2, 6, 3, 7};
// Most rows one GEMV call takes: the kernels keep 8 fp32 accumulators per row per word in registers.
constexpr int64_t kGemvMaxRows = 4;
}  // namespace awq

namespace cpu {
void awq_dequantize(int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales, int64_t in,
                    int64_t out, int64_t group_size, void* w);
void awq_gemv(int dtype, const void* x, int64_t rows, int64_t in, const int32_t* qweight, const int32_t* qzeros,
              const uint16_t* scales, int64_t out, int64_t group_size, const void* bias, void* y);
}  // namespace cpu

namespace cuda {
void awq_dequantize(int device, int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                    int64_t in, int64_t out, int64_t group_size, void* w);
void awq_gemv(int device, int dtype, const void* x, int64_t rows, int64_t in, const int32_t* qweight,
              const int32_t* qzeros, const uint16_t* scales, int64_t out, int64_t group_size, const void* bias,
              void* y);
}  // namespace cuda
}  // namespace jsw
