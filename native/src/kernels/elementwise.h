// Elementwise helper twins: cast, fill, axpby (contracts in jswift.h).
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {
void cast(int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n);
void fill(int dtype, void* x, float value, int64_t n);
void axpby(int dtype, int64_t n, float a, const void* x, float b, void* y);
}  // namespace cpu
namespace cuda {
void cast(int device, int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n);
void fill(int device, int dtype, void* x, float value, int64_t n);
void axpby(int device, int dtype, int64_t n, float a, const void* x, float b, void* y);
}  // namespace cuda
}  // namespace jsw
