// RMSNorm twins (contract: jsw_rmsnorm_fwd / jsw_rmsnorm_bwd in jswift.h).
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {
void rmsnorm_fwd(int dtype, const void* x, const void* weight, float eps, int64_t rows, int64_t dim, void* y,
                 float* rstd);
void rmsnorm_bwd(int dtype, const void* dy, const void* x, const void* weight, const float* rstd, int64_t rows,
                 int64_t dim, void* dx, float* dweight);
}  // namespace cpu
namespace cuda {
void rmsnorm_fwd(int device, int dtype, const void* x, const void* weight, float eps, int64_t rows, int64_t dim,
                 void* y, float* rstd);
void rmsnorm_bwd(int device, int dtype, const void* dy, const void* x, const void* weight, const float* rstd,
                 int64_t rows, int64_t dim, void* dx, float* dweight);
}  // namespace cuda
}  // namespace jsw
