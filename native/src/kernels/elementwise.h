// Elementwise helper twins: cast, fill, axpby, bias add and its gradient (contracts in jswift.h).
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {
void cast(int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n);
void fill(int dtype, void* x, float value, int64_t n);
void axpby(int dtype, int64_t n, float a, const void* x, float b, void* y);
void add_bias(int dtype, void* y, const void* bias, int64_t rows, int64_t cols);
void sum_rows(int dtype, const void* dy, int64_t rows, int64_t cols, float* dbias);
}  // namespace cpu
namespace cuda {
void cast(int device, int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n);
void fill(int device, int dtype, void* x, float value, int64_t n);
void axpby(int device, int dtype, int64_t n, float a, const void* x, float b, void* y);
void add_bias(int device, int dtype, void* y, const void* bias, int64_t rows, int64_t cols);
void sum_rows(int device, int dtype, const void* dy, int64_t rows, int64_t cols, float* dbias);
}  // namespace cuda
}  // namespace jsw
