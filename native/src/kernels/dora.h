// DoRA helper twins: row norms, diagonal scaling, product column sums, dropout, NEFTune noise (contracts in jswift.h).
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {
void row_norm(int dtype, const void* x, int64_t rows, int64_t cols, float* norm, float* inv_norm);
void scale_rows_cols(int dtype, const void* x, int64_t rows, int64_t cols, const float* row_scale,
                     const float* col_scale, void* y);
void sum_rows_mul(int dtype, const void* a, const void* b, int64_t rows, int64_t cols, float* dv);
void dropout(int dtype, const void* x, int64_t n, float p, uint64_t seed, void* y);
// y = drop(x) and, with the same mask (hashed once), z = drop(z) in place; y and z may not overlap.
void dropout_pair(int dtype, const void* x, int64_t n, float p, uint64_t seed, void* y, void* z);
void add_uniform_noise(int dtype, void* x, int64_t n, float magnitude, uint64_t seed);
}  // namespace cpu
namespace cuda {
void row_norm(int device, int dtype, const void* x, int64_t rows, int64_t cols, float* norm, float* inv_norm);
void scale_rows_cols(int device, int dtype, const void* x, int64_t rows, int64_t cols, const float* row_scale,
                     const float* col_scale, void* y);
void sum_rows_mul(int device, int dtype, const void* a, const void* b, int64_t rows, int64_t cols, float* dv);
void dropout(int device, int dtype, const void* x, int64_t n, float p, uint64_t seed, void* y);
void add_uniform_noise(int device, int dtype, void* x, int64_t n, float magnitude, uint64_t seed);
// jsw_set_dropout_step on a CUDA device (queued on its stream).
void set_dropout_step(int device, uint64_t step);
}  // namespace cuda
}  // namespace jsw
