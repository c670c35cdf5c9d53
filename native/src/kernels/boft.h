// BOFT twins: the Cayley transform of small blocks and its backward, and one butterfly factor applied to rows
// with its gradient (contracts in jswift.h).
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {
void boft_cayley(const float* a, int64_t blocks, int64_t h, const int32_t* identity, float* q);
void boft_cayley_backward(const float* q, const float* dq, int64_t blocks, int64_t h, const int32_t* identity,
                          float* da);
void butterfly_rotate(int dtype, const void* x, int64_t rows, int64_t n, const int32_t* perm_inv, const float* q,
                      int64_t h, bool transpose, void* y);
void butterfly_rotate_grad(int dtype, const void* x, const void* dy, int64_t rows, int64_t n,
                           const int32_t* perm_inv, int64_t h, float* dq);
}  // namespace cpu
namespace cuda {
void boft_cayley(int device, const float* a, int64_t blocks, int64_t h, const int32_t* identity, float* q);
void boft_cayley_backward(int device, const float* q, const float* dq, int64_t blocks, int64_t h,
                          const int32_t* identity, float* da);
void butterfly_rotate(int device, int dtype, const void* x, int64_t rows, int64_t n, const int32_t* perm_inv,
                      const float* q, int64_t h, bool transpose, void* y);
void butterfly_rotate_grad(int device, int dtype, const void* x, const void* dy, int64_t rows, int64_t n,
                           const int32_t* perm_inv, int64_t h, float* dq);
}  // namespace cuda
}  // namespace jsw
