// NF4 twins (contract: jsw_nf4_* / jsw_quantize_absmax_8bit / jsw_nf4_dequantize_dq in jswift.h).
// Layout: element 2k in the high nibble of packed[k], 2k+1 in the low nibble; an odd n pads the last low nibble
// with the code of 0 scaled like the rest of the last block (bitsandbytes loads 0 there).
#pragma once

#include <cstdint>

namespace jsw {
namespace nf4 {
// bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), host memory (dynamic_map.cpp).
void dynamic_map_signed(float* code256);
}  // namespace nf4

namespace cpu {
void nf4_quantize(int dtype, const void* x, int64_t n, int64_t blocksize, uint8_t* packed, float* absmax);
void nf4_dequantize(int dtype, const uint8_t* packed, const float* absmax, int64_t n, int64_t blocksize, void* out);
void quantize_absmax_8bit(const float* absmax, int64_t n, uint8_t* q, float* nested_absmax, float* offset);
void nf4_dequantize_dq(int dtype, const uint8_t* packed, const uint8_t* absmax_q, const float* nested_absmax,
                       const float* code256, float offset, int64_t n, int64_t blocksize, void* out);
}  // namespace cpu

namespace cuda {
void nf4_quantize(int device, int dtype, const void* x, int64_t n, int64_t blocksize, uint8_t* packed,
                  float* absmax);
void nf4_dequantize(int device, int dtype, const uint8_t* packed, const float* absmax, int64_t n, int64_t blocksize,
                    void* out);
void quantize_absmax_8bit(int device, const float* absmax, int64_t n, uint8_t* q, float* nested_absmax,
                          float* offset);
void nf4_dequantize_dq(int device, int dtype, const uint8_t* packed, const uint8_t* absmax_q,
                       const float* nested_absmax, const float* code256, float offset, int64_t n, int64_t blocksize,
                       void* out);
}  // namespace cuda
}  // namespace jsw
